"""Date normalisation: human-readable dates in many languages and formats → ISO 8601 ``YYYY-MM-DD``.

The classic demonstration of attention: the answer is exactly known, and to write the year, the
month and the day the decoder must look at different parts of the source ("21 novembre 2026",
"Nov 21, 2026", "21.11.26", "vendredi 3 mars 1989", "7 de março de 1975", "пятница, 7 марта 1975 г.").
The sources come from babel's CLDR locale data (``babel.dates.format_date``): every locale of
:data:`LOCALES` in its own short, medium, long and full formats, plus ``d MMMM y`` and ``dd.MM.yy``.

Two rules keep every source unambiguous:

- years lie in [1950, 2049], so a two-digit year yy means 19yy for yy >= 50 and 20yy below;
- numeric formats that put the month before the day (en_US ``M/d/yy``) are left out: "5/11/26" is
  11 May there and 5 November in es_ES, and nothing in the string says which.

Held-out dates: a day d (its proleptic Gregorian ordinal) is a validation date when d mod 10 = 0 and a
training date otherwise, so no validation date appears in training in any language or format. (10 is
prime to 7: the held-out days fall on every weekday, which "vendredi 3 mars 1989" spells out.)
"""

from __future__ import annotations

import datetime
import random
from dataclasses import dataclass

LOCALES = ("en_US", "en_GB", "fr_FR", "de_DE", "es_ES", "it_IT", "pt_BR", "nl_NL", "sv_SE", "pl_PL", "ru_RU",
           "tr_TR")
NAMED_FORMATS = ("short", "medium", "long", "full")
EXTRA_PATTERNS = ("d MMMM y", "dd.MM.yy")
FIRST_DAY = datetime.date(1950, 1, 1)
LAST_DAY = datetime.date(2049, 12, 31)
HELD_OUT_EVERY = 10


@dataclass(frozen=True)
class DatePair:
    """One example: ``text`` (the date as ``locale`` writes it with ``pattern``) and its ISO form."""

    text: str
    iso: str
    locale: str
    pattern: str


def date_patterns(locale: str) -> list[str]:
    """The CLDR patterns used for ``locale``: its four named formats and the extras, month-first
    numeric ones left out (module docstring), each once."""
    from babel.dates import get_date_format

    patterns = [get_date_format(name, locale).pattern for name in NAMED_FORMATS] + list(EXTRA_PATTERNS)
    return [p for p in dict.fromkeys(patterns) if not _month_first_numeric(p)]


def _month_first_numeric(pattern: str) -> bool:
    letters = pattern.replace("'", "")
    numeric_month = "MMM" not in letters and "LLL" not in letters
    return numeric_month and not letters.lstrip().startswith("y") and letters.find("M") < letters.find("d")


def generate_dates(count: int, seed: int, held_out: bool = False, locales: tuple[str, ...] = LOCALES) -> list[DatePair]:
    """``count`` (text, ISO) pairs drawn uniformly over locales, their patterns and the training days
    (or with ``held_out`` the validation days) of [1950, 2049]; a pure function of the arguments."""
    from babel.dates import format_date

    if count < 1:
        raise ValueError(f"count must be a positive integer, got {count!r}")
    unknown = [name for name in locales if name not in LOCALES]
    if unknown:
        raise ValueError(f"unknown locale {unknown[0]!r}; the dates task has: {', '.join(LOCALES)}")
    rng = random.Random(seed)
    patterns = {locale: date_patterns(locale) for locale in locales}
    first, last = FIRST_DAY.toordinal(), LAST_DAY.toordinal()
    pairs = []
    while len(pairs) < count:
        ordinal = rng.randint(first, last)
        if (ordinal % HELD_OUT_EVERY == 0) != held_out:
            continue
        day = datetime.date.fromordinal(ordinal)
        locale = rng.choice(locales)
        pattern = rng.choice(patterns[locale])
        pairs.append(DatePair(format_date(day, pattern, locale=locale), day.isoformat(), locale, pattern))
    return pairs
