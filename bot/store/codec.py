"""The value objects of bot.models as JSON and back, for what the store keeps (drafts, findings).

Generic over frozen dataclasses: nested dataclasses, tuples, dicts, optionals, StrEnums and aware
datetimes. Reading is forgiving in one direction only: a key the class no longer has is ignored and a
missing key takes the field's default, so incidents written by an older version still load. A value
of the wrong shape is a StoreError (the index or a folder was damaged), never a crash elsewhere.
"""

from __future__ import annotations

import dataclasses
import enum
import types
import typing
from datetime import datetime
from functools import cache
from typing import Any, TypeVar

from bot.errors import StoreError

T = TypeVar("T")


_PLAIN = frozenset({str, int, float, bool, type(None)})
_FIELDS: dict[type, tuple[str, ...] | None] = {}


def _field_names(cls: type) -> tuple[str, ...] | None:
    """The field names of a dataclass type, None for any other type (asked once per type)."""
    if cls not in _FIELDS:
        is_dc = dataclasses.is_dataclass(cls)
        _FIELDS[cls] = tuple(f.name for f in dataclasses.fields(cls)) if is_dc else None
    return _FIELDS[cls]


def to_data(value: Any) -> Any:
    """A dataclass (or anything made of them) as plain JSON data."""
    cls = type(value)
    if cls in _PLAIN:  # most of a draft's leaves: one set lookup, no isinstance chain
        return value
    names = _FIELDS[cls] if cls in _FIELDS else _field_names(cls)
    if names is not None:
        return {name: to_data(getattr(value, name)) for name in names}
    if cls is tuple or cls is list:
        return [to_data(v) for v in value]
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, str | int | float | bool):  # a subclass of one
        return value
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, tuple | list):
        return [to_data(v) for v in value]
    if isinstance(value, dict):
        return {str(k): to_data(v) for k, v in value.items()}
    return value


def from_data(cls: type[T], data: Any) -> T:
    """``cls`` rebuilt from what ``to_data`` wrote."""
    try:
        return typing.cast(T, _build(cls, data))
    except (TypeError, ValueError, KeyError, AttributeError) as exc:
        raise StoreError(f"stored {cls.__name__} is damaged: {exc}") from exc


@cache
def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def _build(tp: Any, data: Any) -> Any:
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if dataclasses.is_dataclass(tp) and isinstance(tp, type):
        if not isinstance(data, dict):
            raise TypeError(f"{tp.__name__}: expected an object")
        hints = _hints(tp)
        kwargs = {f.name: _build(hints[f.name], data[f.name]) for f in dataclasses.fields(tp)
                  if f.init and f.name in data}
        return tp(**kwargs)
    if origin in (typing.Union, types.UnionType):
        if data is None and type(None) in args:
            return None
        for arg in args:
            if arg is not type(None):
                return _build(arg, data)
    if origin is tuple:
        if not isinstance(data, list):
            raise TypeError("expected a list")
        return tuple(_build(args[0], v) for v in data)
    if origin is dict:
        if not isinstance(data, dict):
            raise TypeError("expected an object")
        return {k: _build(args[1], v) for k, v in data.items()}
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        return tp(data)
    if tp is datetime:
        if not isinstance(data, str):
            raise TypeError("expected a time")
        return datetime.fromisoformat(data)
    if tp is float and isinstance(data, int):
        return float(data)
    if tp in (str, int, bool, float) and not isinstance(data, tp):
        raise TypeError(f"expected {tp.__name__}, got {type(data).__name__}")
    return data
