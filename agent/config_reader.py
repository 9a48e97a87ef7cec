"""Reading typed values from one INI section, naming the key in every error."""

from __future__ import annotations

import configparser
from typing import Callable, TypeVar

from .errors import ConfigError

T = TypeVar("T")


class Section:
    """Reads typed values from one INI section and remembers which keys were used."""

    def __init__(self, parser: configparser.ConfigParser, name: str) -> None:
        self.name = name
        self._values = dict(parser[name]) if parser.has_section(name) else {}
        self._used: set[str] = set()

    def _get(self, key: str, default: T, convert: Callable[[str], T]) -> T:
        self._used.add(key)
        raw = self._values.get(key)
        if raw is None or raw.strip() == "":
            return default
        try:
            return convert(raw.strip())
        except (ValueError, TypeError) as exc:
            raise ConfigError(f"{self.name}.{key}", f"invalid value {raw.strip()!r}: {exc}") from None

    def text(self, key: str, default: str = "") -> str:
        return self._get(key, default, str)

    def integer(self, key: str, default: int, *, minimum: int | None = None) -> int:
        value = self._get(key, default, int)
        self._check_min(key, value, minimum)
        return value

    def number(self, key: str, default: float, *, minimum: float | None = None) -> float:
        value = self._get(key, default, float)
        self._check_min(key, value, minimum)
        return value

    def flag(self, key: str, default: bool) -> bool:
        return self._get(key, default, _to_bool)

    def choice(self, key: str, default: str, choices: tuple[str, ...]) -> str:
        value = self._get(key, default, str)
        if value not in choices:
            raise ConfigError(f"{self.name}.{key}", f"must be one of {', '.join(choices)}, not {value!r}")
        return value

    def items(self, key: str, default: tuple[str, ...] = ()) -> tuple[str, ...]:
        return self._get(key, default, lambda raw: tuple(p.strip() for p in raw.split(",") if p.strip()))

    def entries(self) -> dict[str, str]:
        """Every key of the section (lower-cased) with its value, for sections whose
        keys are data (e.g. ``[templates]``); they all count as used."""
        self._used.update(self._values)
        return {key: value.strip() for key, value in self._values.items()}

    def required(self, key: str) -> str:
        value = self.text(key)
        if not value:
            raise ConfigError(f"{self.name}.{key}", "is required")
        return value

    def _check_min(self, key: str, value: float, minimum: float | None) -> None:
        if minimum is not None and value < minimum:
            raise ConfigError(f"{self.name}.{key}", f"must be >= {minimum}, not {value}")

    def check_unknown(self) -> None:
        unknown = sorted(set(self._values) - self._used)
        if unknown:
            raise ConfigError(f"{self.name}.{unknown[0]}", "unknown key (a typo?)")


def _to_bool(raw: str) -> bool:
    value = raw.lower()
    if value in ("1", "yes", "true", "on"):
        return True
    if value in ("0", "no", "false", "off"):
        return False
    raise ValueError("expected yes/no")
