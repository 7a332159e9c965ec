"""What the YAML config files (catalog, agents) share: reading a file, and one line for the first problem in it,
naming the file, the place in it and the problem (``catalog.yml: services[1].tier: ... got 7``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from bot.errors import ConfigError

__all__ = ["describe", "read_yaml"]


def _where(loc: tuple[int | str, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(top)"


def describe(exc: ValidationError, origin: str) -> str:
    first = exc.errors()[0]
    message = str(first["msg"]).removeprefix("Value error, ")
    if first["type"] == "missing":
        message = "required"
    elif first["type"] == "extra_forbidden":
        message = "unknown key"
    elif not isinstance(first.get("input"), dict | list):  # a whole section is not worth repeating back
        message = f"{message}, got {first.get('input')!r}"
    where = _where(tuple(first["loc"]))
    return f"{origin}: {where}: {message}" if first["loc"] else f"{origin}: {message}"


def read_yaml(path: Path) -> Any:
    """The parsed file; ConfigError naming the file when it is not valid YAML."""
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}".splitlines()[0]) from exc
