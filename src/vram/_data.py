"""Strict loading of JSON data into frozen dataclasses: unknown keys, missing keys and wrong types
are errors. Used for the bundled presets; kept free of third-party imports so the CLI starts fast."""

from __future__ import annotations

import dataclasses
import functools
import types
import typing
from typing import Any, TypeVar, Union

T = TypeVar("T")


class DataError(ValueError):
    """Data that does not fit its dataclass; the message names the path of the bad value."""


def _convert(tp: Any, value: Any, where: str) -> Any:
    origin = typing.get_origin(tp)
    if tp is Any:
        return value
    if origin in (Union, types.UnionType):
        args = typing.get_args(tp)
        if value is None and type(None) in args:
            return None
        errors = []
        for arg in args:
            if arg is type(None):
                continue
            try:
                return _convert(arg, value, where)
            except DataError as exc:
                errors.append(str(exc))
        raise DataError(errors[0] if errors else f"{where}: unexpected value {value!r}")
    if origin is typing.Literal:
        if value not in typing.get_args(tp):
            raise DataError(f"{where}: must be one of {typing.get_args(tp)}, got {value!r}")
        return value
    if origin is tuple:
        item = typing.get_args(tp)[0]
        if not isinstance(value, list):
            raise DataError(f"{where}: expected a list, got {type(value).__name__}")
        return tuple(_convert(item, v, f"{where}[{i}]") for i, v in enumerate(value))
    if origin is dict:
        if not isinstance(value, dict):
            raise DataError(f"{where}: expected an object, got {type(value).__name__}")
        return dict(value)
    if dataclasses.is_dataclass(tp):
        return from_dict(tp, value, where)  # type: ignore[arg-type]
    if tp is bool:
        if not isinstance(value, bool):
            raise DataError(f"{where}: expected true or false, got {value!r}")
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise DataError(f"{where}: expected an integer, got {value!r}")
        return value
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise DataError(f"{where}: expected a number, got {value!r}")
        return float(value)
    if tp is str:
        if not isinstance(value, str):
            raise DataError(f"{where}: expected a string, got {value!r}")
        return value
    raise DataError(f"{where}: unsupported field type {tp!r}")  # pragma: no cover - a bug in a dataclass


@functools.cache
def _schema(cls: type[Any]) -> tuple[dict[str, Any], dict[str, dataclasses.Field[Any]]]:
    return typing.get_type_hints(cls), {f.name: f for f in dataclasses.fields(cls)}


def from_dict(cls: type[T], data: Any, where: str = "") -> T:
    """Build ``cls`` from a JSON object, rejecting unknown, missing and mistyped fields."""
    if not isinstance(data, dict):
        raise DataError(f"{where or cls.__name__}: expected an object, got {type(data).__name__}")
    hints, fields = _schema(cls)  # type: ignore[arg-type]  # classes are hashable
    unknown = sorted(set(data) - set(fields))
    if unknown:
        raise DataError(f"{where or cls.__name__}: unknown field {unknown[0]!r}")
    kwargs: dict[str, Any] = {}
    for name, f in fields.items():
        path = f"{where}.{name}" if where else name
        if name not in data:
            if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
                raise DataError(f"{path}: missing")
            continue
        kwargs[name] = _convert(hints[name], data[name], path)
    try:
        return cls(**kwargs)
    except (TypeError, ValueError) as exc:
        raise DataError(f"{where or cls.__name__}: {exc}") from exc


def check_positive(obj: object, *names: str, allow_zero: bool = False) -> None:
    """Raise ValueError when one of the named int fields is not positive (or negative, with allow_zero)."""
    for name in names:
        value = getattr(obj, name)
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValueError(f"{name} must be an integer, got {value!r}")
        if value < 0 or (value == 0 and not allow_zero):
            raise ValueError(f"{name} must be {'>= 0' if allow_zero else '> 0'}, got {value}")
