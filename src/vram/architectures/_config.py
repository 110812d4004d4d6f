"""Typed, validating access to a config.json mapping.

Every accessor names the field it failed on, so a bad config becomes one clear line (exit 3).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from vram.errors import ConfigError

_MISSING: Any = object()

# The accessors below are named int, str and bool; these aliases keep the builtins nameable.
Int = int
Str = str
Bool = bool


class Cfg:
    """A read-only view of one (possibly nested) config dict that records the keys it reads."""

    def __init__(self, data: Mapping[Str, Any], where: Str = "config.json", used: set[Str] | None = None) -> None:
        if not isinstance(data, Mapping):
            raise ConfigError(f"{where}: expected a JSON object, got {type(data).__name__}")
        self._data = data
        self._where = where
        self.used: set[str] = used if used is not None else set()

    def _path(self, key: Str) -> Str:
        return f"{self._where}:{key}" if self._where != "config.json" else key

    def has(self, key: Str) -> Bool:
        return key in self._data and self._data[key] is not None

    def raw(self, key: Str, default: Any = None) -> Any:
        if key in self._data:
            self.used.add(self._path(key))
        return self._data.get(key, default)

    def _get(self, key: Str, default: Any) -> Any:
        value = self._data.get(key)
        if value is None:
            if default is _MISSING:
                raise ConfigError(f"config field '{self._path(key)}' is missing and is needed for this model")
            return default
        self.used.add(self._path(key))
        return value

    def int(self, key: Str, default: Any = _MISSING, *, minimum: Int = 1) -> Int:
        value = self._get(key, default)
        if value is None:
            return value  # type: ignore[return-value]  # only when the caller's default is None
        if isinstance(value, bool) or not isinstance(value, int):
            if isinstance(value, float) and value.is_integer():
                value = int(value)
            else:
                raise ConfigError(f"config field '{self._path(key)}' must be an integer, got {value!r}")
        if value < minimum:
            raise ConfigError(f"config field '{self._path(key)}' must be >= {minimum}, got {value}")
        return value

    def opt_int(self, key: Str, *, minimum: Int = 1) -> Int | None:
        value: int | None = self.int(key, None, minimum=minimum)
        return value

    def first_int(self, keys: tuple[Str, ...], default: Any = _MISSING, *, minimum: Int = 1) -> Int:
        for key in keys:
            if self.has(key):
                return self.int(key, minimum=minimum)
        if default is _MISSING:
            raise ConfigError(f"config field '{self._path(keys[0])}' is missing and is needed for this model")
        return default  # type: ignore[no-any-return]

    def bool(self, key: Str, default: Bool) -> Bool:
        value = self._get(key, default)
        if not isinstance(value, bool):
            raise ConfigError(f"config field '{self._path(key)}' must be true or false, got {value!r}")
        return value

    def str(self, key: Str, default: Any = _MISSING) -> Str:
        value = self._get(key, default)
        if value is not None and not isinstance(value, str):
            raise ConfigError(f"config field '{self._path(key)}' must be a string, got {value!r}")
        return value  # type: ignore[return-value]  # None only when the caller's default is None

    def int_list(self, key: Str, default: Any = _MISSING, *, minimum: Int = 0) -> list[Int]:
        value = self._get(key, default)
        if not isinstance(value, list) or not all(isinstance(v, int) and not isinstance(v, bool) for v in value):
            raise ConfigError(f"config field '{self._path(key)}' must be a list of integers, got {value!r}")
        if any(v < minimum for v in value):
            raise ConfigError(f"config field '{self._path(key)}' holds a value below {minimum}")
        return list(value)

    def str_list(self, key: Str) -> list[Str] | None:
        value = self._get(key, None)
        if value is None:
            return None
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise ConfigError(f"config field '{self._path(key)}' must be a list of strings, got {value!r}")
        return list(value)

    def sub(self, key: Str, *, required: Bool = False) -> Cfg:
        value = self._data.get(key)
        if value is None:
            if required:
                raise ConfigError(f"config field '{self._path(key)}' is missing and is needed for this model")
            value = {}
        elif not isinstance(value, Mapping):
            raise ConfigError(f"config field '{self._path(key)}' must be an object, got {type(value).__name__}")
        else:
            self.used.add(self._path(key))
        return Cfg(value, where=key if self._where == "config.json" else f"{self._where}.{key}", used=self.used)

    def divides(self, numerator_key: Str, numerator: Int, denominator_key: Str, denominator: Int) -> Int:
        if numerator % denominator:
            raise ConfigError(
                f"config field '{self._path(numerator_key)}' ({numerator}) is not divisible by "
                f"'{self._path(denominator_key)}' ({denominator})"
            )
        return numerator // denominator
