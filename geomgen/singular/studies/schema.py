r"""Check plain mappings (read from YAML) against typed classes with jsonargparse.

:func:`check` validates the entries of a mapping against the type hints of a dataclass (or
of a class's constructor) and returns them, with the defaults, as plain Python values. A
:class:`SchemaError` names the offending key as a dotted path (``estimators.mle.max_steps``,
``noise[1]``) and says what is allowed: the known keys, or the expected type in words
(``one of ['mc', 'iw']``, ``int restricted to be >0``).
"""

from __future__ import annotations

import json
import re
import reprlib
from collections.abc import Sequence
from dataclasses import is_dataclass
from types import UnionType
from typing import Any, Literal, Union, get_args, get_origin, get_type_hints

from jsonargparse import ArgumentError, ArgumentParser

__all__ = ["SchemaError", "check", "short"]

_REPR = reprlib.Repr()
_REPR.maxlevel, _REPR.maxdict, _REPR.maxlist, _REPR.maxtuple, _REPR.maxset = 3, 6, 8, 8, 8
_REPR.maxstring, _REPR.maxother, _REPR.maxlong = 60, 60, 40


def short(value: Any, limit: int = 120) -> str:
    """``repr(value)`` cut to at most ``limit`` characters (``...`` marks the cuts): a message echoes
    what it was given, never a whole document. Costs O(limit), whatever the size of ``value``."""
    text = _REPR.repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


class SchemaError(ValueError):
    """A mapping that does not fit its schema; the message starts with the dotted key."""


def check(schema: type, raw: Any, where: str = "", skip: tuple[str, ...] = ()) -> dict[str, Any]:
    """The entries of ``raw`` checked against the type hints of ``schema``, with its defaults.

    A single value stands for a list of one where the hint is a list.

    Args:
        schema (type): a dataclass, or a class whose constructor arguments are typed.
        raw (dict): the entries.
        where (str, optional): dotted prefix of the keys in messages, e.g. ``"evaluation."``
            (default ``""``, the top level).
        skip (tuple of str, optional): keys of ``schema`` checked elsewhere; left out of the
            result (default none).

    Returns:
        dict: field -> value, as plain ``int``/``float``/``str``/``list``/``dict`` values.

    Raises:
        SchemaError: ``raw`` is not a mapping, has an unknown key (the message lists the known
            ones), lacks a required one, or has a value of the wrong type (the message gives the
            expected type and, in a list, the index).
    """
    hints = get_type_hints(schema if is_dataclass(schema) else schema.__init__)
    hints.pop("return", None)
    if not isinstance(raw, dict):
        raise SchemaError(f"{where[:-1] or 'top level'}: expected a mapping with keys among {list(hints)}, got {short(raw)}")
    for k in raw:
        if k not in hints:
            raise SchemaError(f"{where}{k}: unknown key; allowed: {list(hints)}")
    if not set(hints) - set(skip):  # nothing to parse (a schema without options)
        return {}
    raw = {k: [v] if _item(hints[k]) and not isinstance(v, (list, tuple, type(None))) else v
           for k, v in raw.items() if k not in skip}
    parser = ArgumentParser(exit_on_error=False)
    parser.add_class_arguments(schema, "c", skip=set(skip))
    try:
        parsed = parser.parse_object({"c": raw})
    except ArgumentError as e:
        if missing := re.search(r"required: c\.(\w+)", str(e)):
            raise SchemaError(f"{where}{missing.group(1)}: missing") from None
        if not (bad := re.search(r'Parser key "c\.(\w+)"', str(e))):
            raise SchemaError(f"{where[:-1] or 'top level'}: {e}") from None
        key, item = bad.group(1), _item(hints[bad.group(1)])
        for i, v in enumerate(raw[key] if item and isinstance(raw[key], list) else []):
            if not _accepts(item, v):
                raise SchemaError(f"{where}{key}[{i}]: expected {describe(item)}, got {short(v)}") from None
        raise SchemaError(f"{where}{key}: expected {describe(hints[key])}, got {short(raw[key])}") from None
    return json.loads(json.dumps(parsed.c.as_dict()))  # plain values, not jsonargparse's int and float subclasses


def describe(hint: Any) -> str:
    """A type hint in words: ``Literal["mc", "iw"]`` -> "one of ['mc', 'iw']", ``int | None`` -> 'an int or null'."""
    if get_origin(hint) is Literal:
        return f"one of {list(get_args(hint))}"
    if get_origin(hint) in (Union, UnionType):
        return " or ".join(describe(h) for h in get_args(hint))
    if _item(hint) or hint is Sequence:
        return f"a list of {describe(_item(hint))}" if _item(hint) else "a list"
    words = {type(None): "null", bool: "true or false", int: "an int", float: "a number", str: "a string"}
    if hint in words:
        return words[hint]
    restricted = isinstance(hint, type) and issubclass(hint, (int, float)) and hint.__doc__  # e.g. PositiveInt
    return restricted or getattr(hint, "__name__", str(hint))


def _item(hint: Any) -> Any:
    """The item type of a list hint (``list[X]``, ``Sequence[X]``, either ``| None``), else ``None``."""
    for h in (hint, *get_args(hint)):
        if get_origin(h) in (list, Sequence) and get_args(h):
            return get_args(h)[0]
    return None


def _accepts(hint: Any, value: Any) -> bool:
    parser = ArgumentParser(exit_on_error=False)
    parser.add_argument("--v", type=hint)
    try:
        parser.parse_object({"v": value})
    except ArgumentError:
        return False
    return True
