"""Typed config sections: a YAML mapping checked against a dataclass's field types, key by key.

`merge_mapping` lays one source (a YAML file, one command-line override) over a plain dict of a
section's values: every key must be a field of the section's dataclass and every value must fit
the field's type (int, float, bool, str, a `Literal` choice, a fixed-length tuple, a list,
`Optional`, or a nested section). Each error names the dotted key, the source and what was
expected. `build_section` turns the merged dict into the dataclasses.
"""
from __future__ import annotations

import dataclasses
import re
import types
import typing
from typing import Any, Literal, Union

from twgtm.errors import ConfigError

NUMBER = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$")  # YAML 1.1 reads 1e-4 as a string


def field_types(cls) -> dict[str, Any]:
    """The resolved type of every field of dataclass `cls`."""
    return typing.get_type_hints(cls)


def describe(hint) -> str:
    """What a value of type `hint` looks like, for error messages."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (Union, types.UnionType):
        named = [describe(a) for a in args if a is not type(None)]
        return " or ".join(named) + (" or null" if type(None) in args else "")
    if origin is Literal:
        return "one of " + " | ".join(str(a) for a in args)
    if origin is tuple:
        return f"a list of {len(args)} {describe(args[0]).removeprefix('an ').removeprefix('a ')}s"
    if origin is list:
        return f"a list of {describe(args[0]).removeprefix('an ').removeprefix('a ')}s"
    if dataclasses.is_dataclass(hint):
        return "a mapping of keys"
    return {bool: "true or false", int: "an integer", float: "a number", str: "a string"}.get(hint, str(hint))


def _wrong(key: str, source: str, hint, value) -> ConfigError:
    return ConfigError(f"training config key {key} (in {source}) must be {describe(hint)}; got {value!r}. "
                       f"Fix it there (the defaults and their meaning are in training/config.py)")


def check_value(value, hint, key: str, source: str):
    """`value` as a value of type `hint` (ints widen to floats), or a ConfigError naming `key` and `source`."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        inner = [a for a in args if a is not type(None)]
        if len(inner) == 1:
            try:
                return check_value(value, inner[0], key, source)
            except ConfigError:
                raise _wrong(key, source, hint, value) from None
        raise TypeError(f"unsupported union {hint} for {key}")
    if origin is Literal:
        if value in args and not isinstance(value, bool):
            return value
        raise _wrong(key, source, hint, value)
    if origin in (tuple, list):
        if not isinstance(value, (list, tuple)) or (origin is tuple and len(value) != len(args)):
            raise _wrong(key, source, hint, value)
        items = args if origin is tuple else args * len(value)
        checked = [check_value(v, h, f"{key}[{i}]", source) for i, (v, h) in enumerate(zip(value, items))]
        return tuple(checked) if origin is tuple else checked
    if hint is bool:
        if isinstance(value, bool):
            return value
    elif hint is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    elif hint is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        if isinstance(value, str) and NUMBER.match(value.strip()):
            return float(value)
    elif hint is str:
        if isinstance(value, str):
            return value
    else:
        raise TypeError(f"unsupported config type {hint} for {key}")
    raise _wrong(key, source, hint, value)


def merge_mapping(cls, current: dict, update, where: str, source: str, sources: dict[str, str]) -> dict:
    """`current` (the values of section `cls`) with `update` from `source` laid over it, each value checked.

    `where` is the dotted prefix of the section ("" or "train."); `sources` records, per dotted key,
    where its value came from (for the messages of later range checks).
    """
    section = where.rstrip(".") or "the top level"
    if not isinstance(update, dict):
        raise ConfigError(f"training config {section} (in {source}) must be a mapping of keys; got {update!r}")
    hints = field_types(cls)
    out = dict(current)
    for key, value in update.items():
        if key not in hints:
            raise ConfigError(f"unknown training config key {where}{key!r} (in {source}); known keys here: "
                              f"{sorted(hints)}")
        hint, dotted = hints[key], f"{where}{key}"
        if dataclasses.is_dataclass(hint):
            if not isinstance(value, dict):
                raise ConfigError(f"training config key {dotted} (in {source}) must be a mapping of keys, "
                                  f"e.g. {dotted}: {{{next(iter(field_types(hint)))}: ...}}; got {value!r}")
            out[key] = merge_mapping(hint, current[key], value, f"{dotted}.", source, sources)
        else:
            out[key] = check_value(value, hint, dotted, source)
            sources[dotted] = source
    return out


def build_section(cls, values: dict):
    """The dataclass `cls` built from a merged dict of its values (nested sections too)."""
    hints = field_types(cls)
    kwargs = {}
    for key, value in values.items():
        kwargs[key] = build_section(hints[key], value) if dataclasses.is_dataclass(hints[key]) else value
    return cls(**kwargs)


def section_fields(section) -> dict:
    """A section as a nested dict of its fields' values (the starting point of `merge_mapping`)."""
    return {f.name: section_fields(getattr(section, f.name)) if dataclasses.is_dataclass(getattr(section, f.name))
            else getattr(section, f.name) for f in dataclasses.fields(section)}


def section_values(section) -> dict:
    """A section as a plain dict of plain values (tuples as lists), as YAML or JSON would hold it."""
    def plain(value):
        if dataclasses.is_dataclass(value):
            return {f.name: plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
        if isinstance(value, (list, tuple)):
            return [plain(v) for v in value]
        return value

    return plain(section)
