"""What the YAML config files (catalog, agents) share: reading a file, and one line for the first problem in it,
naming the file, the place in it and the problem (``catalog.yml: services[1].tier: ... got 7``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from pydantic import ValidationError

from bot.errors import ConfigError

__all__ = ["describe", "read_yaml", "time_zone"]


def _where(loc: tuple[int | str, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(top)"


def describe(exc: ValidationError, origin: str, within: tuple[int | str, ...] = ()) -> str:
    """One line for the first problem: the origin, the place (under `within`) and what is wrong."""
    first = exc.errors()[0]
    message = str(first["msg"]).removeprefix("Value error, ")
    if first["type"] == "missing":
        message = "required"
    elif first["type"] == "extra_forbidden":
        message = "unknown key"
    elif not isinstance(first.get("input"), dict | list):  # a whole section is not worth repeating back
        message = f"{message}, got {first.get('input')!r}"
    loc = (*within, *(part for part in first["loc"] if not str(part).startswith("_")))  # not a union member's name
    return f"{origin}: {_where(loc)}: {message}" if loc else f"{origin}: {message}"


def read_yaml(path: Path) -> Any:
    """The parsed file; ConfigError naming the file when it is not valid YAML."""
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}".splitlines()[0]) from exc


def time_zone(value: str) -> str:
    """`value` if it names a time zone (Europe/Berlin, UTC); else ValueError saying what was expected."""
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"not a time zone name (such as Europe/Berlin): {value!r}") from None
    return value
