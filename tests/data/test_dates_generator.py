"""The dates generator of rnnkit.data.dates, checked by parsing its sources back with independent readers:
Python's datetime.strptime (English) and babel's own numeric parser parse_date (every locale)."""

from __future__ import annotations

import datetime
import re

import pytest

from rnnkit.data.dates import FIRST_DAY, HELD_OUT_EVERY, LAST_DAY, LOCALES, date_patterns, generate_dates

# strptime formats for the English CLDR patterns (Python's C locale has English month and day names).
STRPTIME = {"MMM d, y": "%b %d, %Y", "MMMM d, y": "%B %d, %Y", "EEEE, MMMM d, y": "%A, %B %d, %Y",
            "d MMM y": "%d %b %Y", "d MMMM y": "%d %B %Y", "EEEE, d MMMM y": "%A, %d %B %Y",
            "dd/MM/y": "%d/%m/%Y", "dd.MM.yy": "%d.%m.%y"}


@pytest.fixture(scope="module")
def pairs():
    return generate_dates(3000, seed=5)


def test_english_sources_parse_back_to_their_iso_date_with_strptime(pairs):
    checked = 0
    for pair in pairs:
        if pair.locale.startswith("en") and pair.pattern in STRPTIME:
            # strptime reads "Sept" as nothing; CLDR's en_GB abbreviates September so.
            text = pair.text.replace("Sept ", "Sep ")
            parsed = datetime.datetime.strptime(text, STRPTIME[pair.pattern]).date()
            _assert_same_date(parsed, pair)
            checked += 1
    assert checked > 200


def test_numeric_sources_of_every_locale_parse_back_with_babel(pairs):
    from babel.dates import parse_date

    checked = set()
    for pair in pairs:
        if re.fullmatch(r"[\d./-]+", pair.text):
            parsed = parse_date(pair.text, locale=pair.locale, format=pair.pattern)
            _assert_same_date(parsed, pair)
            checked.add(pair.locale)
    assert checked == set(LOCALES)


def _assert_same_date(parsed: datetime.date, pair) -> None:
    """The parsed date is the pair's ISO date; for a two-digit year (whose century the readers guess
    by their own rules: strptime's 1969-2068, babel's 20yy), only the year within its century."""
    expected = datetime.date.fromisoformat(pair.iso)
    assert (parsed.month, parsed.day) == (expected.month, expected.day), pair
    two_digit_year = re.search(r"(?<!y)yy(?!y)", pair.pattern) is not None
    if two_digit_year:
        assert parsed.year % 100 == expected.year % 100, pair
    else:
        assert parsed.year == expected.year, pair


def test_sources_are_in_the_locales_own_language(pairs):
    from babel.dates import get_month_names

    for pair in pairs:
        if "MMMM" in pair.pattern:
            month = datetime.date.fromisoformat(pair.iso).month
            names = {get_month_names("wide", context, locale=pair.locale)[month]
                     for context in ("format", "stand-alone")}
            assert any(name in pair.text for name in names), pair


def test_held_out_dates_never_occur_in_training():
    train = {p.iso for p in generate_dates(2000, seed=1)}
    held = {p.iso for p in generate_dates(500, seed=2, held_out=True)}
    assert not train & held
    assert all(datetime.date.fromisoformat(d).toordinal() % HELD_OUT_EVERY == 0 for d in held)
    # Every weekday is held out, so the day names of full formats are seen in training for all of them.
    assert {datetime.date.fromisoformat(d).weekday() for d in held} == set(range(7))


def test_every_date_lies_in_the_range_that_makes_two_digit_years_unambiguous(pairs):
    assert all(FIRST_DAY.isoformat() <= p.iso <= LAST_DAY.isoformat() for p in pairs)


def test_no_numeric_pattern_puts_the_month_before_the_day():
    for locale in LOCALES:
        for pattern in date_patterns(locale):
            if "MMM" not in pattern and not pattern.startswith("y"):
                assert pattern.find("d") < pattern.find("M"), (locale, pattern)


def test_the_generator_is_a_pure_function_of_its_seed():
    assert generate_dates(50, seed=3) == generate_dates(50, seed=3)
    assert generate_dates(50, seed=3) != generate_dates(50, seed=4)


def test_an_unknown_locale_is_named():
    with pytest.raises(ValueError, match="unknown locale 'xx_XX'"):
        generate_dates(5, seed=0, locales=("xx_XX",))
