"""Run settings as sections of dataclass fields: read from JSON or TOML with checks that name the key,
written back as TOML. One source of truth: every default is its dataclass field's default.

A run's settings are the sections that its ``config.json`` holds (``[model]``, ``[train]``, …);
``--config run.toml`` reads the same sections, and ``--print-config`` writes them::

    task = "lm"

    [train]
    steps = 2000
    lr = 0.003

A key no field has, a value of the wrong type and a missing required field are errors that name
``[section] key``; range checks are the dataclasses' own (``__post_init__``), named the same way.
TOML has no null: a field left at None is left out of the file, and reads back as its default,
which for such fields is None.
"""

from __future__ import annotations

import dataclasses
import sys
import types
import typing
from pathlib import Path
from typing import Any, TypeVar

if sys.version_info >= (3, 11):
    import tomllib
else:                                    # pragma: no cover - Python 3.10
    import tomli as tomllib

T = TypeVar("T")


class SettingsError(ValueError):
    """A settings file or section that does not fit its schema; the message names the key."""


def from_record(cls: type[T], record: Any, section: str, exclude: tuple[str, ...] = (), complete: bool = False,
                **fixed: Any) -> T:
    """``cls(**record)`` after checking keys and types; ``fixed`` values are not read from ``record``.

    Fields in ``exclude`` must not appear in ``record`` (they are derived, not settable). With
    ``complete`` every field must be there (a run's config.json records them all: a missing one
    means the file was damaged, not that the default was meant).
    """
    if not isinstance(record, dict):
        raise SettingsError(f"[{section}] must be a table of settings, got {type(record).__name__}")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    settable = [name for name in fields if name not in exclude and name not in fixed]
    unknown = sorted(set(record) - set(settable))
    if unknown:
        derived = [name for name in unknown if name in fields]
        if derived:
            raise SettingsError(f"[{section}] {derived[0]} is not a setting: it is derived from the data")
        raise SettingsError(f"[{section}] unknown key {unknown[0]!r}; known keys: {', '.join(settable)}")
    values = {}
    for name in settable:
        field = fields[name]
        if name not in record:
            if complete or (field.default is dataclasses.MISSING and field.default_factory is dataclasses.MISSING):
                raise SettingsError(f"[{section}] {name} is missing (required)")
            continue
        values[name] = _convert(record[name], hints[name], f"[{section}] {name}")
    try:
        return cls(**values, **fixed)
    except (ValueError, TypeError) as error:
        raise SettingsError(f"[{section}] {error}") from None


def to_record(instance: Any, exclude: tuple[str, ...] = ()) -> dict:
    """The fields of a dataclass instance as JSON-ready values (tuples as lists)."""
    record = {}
    for field in dataclasses.fields(instance):
        if field.name not in exclude:
            value = getattr(instance, field.name)
            record[field.name] = list(value) if isinstance(value, tuple) else value
    return record


def load_toml(path: str | Path) -> dict:
    """A TOML file's tables, with errors that name the file."""
    path = Path(path)
    try:
        with open(path, "rb") as handle:
            return tomllib.load(handle)
    except FileNotFoundError:
        raise SettingsError(f"config file {path} does not exist") from None
    except IsADirectoryError:
        raise SettingsError(f"config file {path} is a directory, not a TOML file") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as error:
        raise SettingsError(f"{path} is not valid TOML: {error}") from None


def dump_toml(sections: dict) -> str:
    """Settings as TOML (None values left out: TOML has no null)."""
    import tomli_w

    def clean(value: Any) -> Any:
        if isinstance(value, dict):
            return {key: clean(item) for key, item in value.items() if item is not None}
        return value

    return tomli_w.dumps(clean(sections), multiline_strings=False)


def _convert(value: Any, hint: Any, where: str) -> Any:
    """``value`` as the type ``hint`` says (ints for floats, lists for tuples), or an error naming ``where``."""
    options = typing.get_args(hint) if _is_union(hint) else (hint,)
    for option in options:
        ok, converted = _try(value, option)
        if ok:
            return converted
    raise SettingsError(f"{where} must be {_describe(hint)}, got {value!r} ({type(value).__name__})")


def _is_union(hint: Any) -> bool:
    return typing.get_origin(hint) in (typing.Union, types.UnionType)


def _try(value: Any, option: Any) -> tuple[bool, Any]:
    if option is type(None):
        return value is None, None
    if option is bool:
        return isinstance(value, bool), value
    if option is int:
        return isinstance(value, int) and not isinstance(value, bool), value
    if option is float:
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
        return ok, float(value) if ok else None
    if option is str:
        return isinstance(value, str), value
    if typing.get_origin(option) is tuple:
        (item,) = typing.get_args(option)[:1]
        if not isinstance(value, (list, tuple)):
            return False, None
        converted = []
        for element in value:
            ok, element = _try(element, item)
            if not ok:
                return False, None
            converted.append(element)
        return True, tuple(converted)
    return isinstance(value, option), value


def _describe(hint: Any) -> str:
    if _is_union(hint):
        return " or ".join(_describe(option) for option in typing.get_args(hint))
    if hint is type(None):
        return "absent (none)"
    if typing.get_origin(hint) is tuple:
        return f"a list of {_describe(typing.get_args(hint)[0])}s"
    return {bool: "true or false", int: "a whole number", float: "a number", str: "a string"}.get(hint, str(hint))
