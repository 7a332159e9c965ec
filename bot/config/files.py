"""What the YAML config files (catalog, agents) share: reading a file, and one line for the first problem in it,
naming the file, the place in it and the problem (``catalog.yml: services[1].tier: ... got 7``)."""

from __future__ import annotations

import codecs
import math
import re
from collections.abc import Mapping
from datetime import date
from pathlib import Path
from typing import Annotated, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from pydantic import AfterValidator, ValidationError

from bot.errors import ConfigError

__all__ = ["PlainData", "describe", "load_yaml", "path_of", "plain", "read_text", "read_yaml", "shown", "time_zone"]


# pydantic names the model's class: "Input should be a valid dictionary or instance of _Runbook"
_OF_MODEL = re.compile(r" or instance of _?\w+")
_KEY = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,99}$")


def path_of(loc: tuple[Any, ...]) -> str:
    """`services[1].tier`; a key that is not a plain word is quoted (`labels['a b']`), so that none can break the
    line or pass for another place."""
    out = ""
    for part in loc:
        if isinstance(part, int) and not isinstance(part, bool):
            out += f"[{part}]"
        elif isinstance(part, str) and _KEY.match(part):
            out += f".{part}" if out else part
        else:
            out += f"[{shown(part, 60)}]"
    return out or "(top)"


def describe(exc: ValidationError, origin: str, within: tuple[int | str, ...] = (), data: Any = None) -> str:
    """One line for the first problem: the origin, the place (under `within`) and what is wrong. Given the `data`
    that was validated, the place is the keys of the file only (not a union member's type, `p99_above.str`)."""
    first = exc.errors()[0]
    message = _OF_MODEL.sub("", str(first["msg"]).removeprefix("Value error, "))
    if first["type"] == "missing":
        message = "required"
    elif first["type"] == "extra_forbidden":
        message = "unknown key"
    elif not isinstance(first.get("input"), dict | list) and f"got {shown(first.get('input'))}" not in message:
        message = f"{message}, got {shown(first.get('input'))}"  # (a whole section is not worth repeating back)
    loc = (*within, *_in_file(tuple(first["loc"]), data, keep_last=first["type"] == "missing"))
    return f"{origin}: {path_of(loc)}: {message}" if loc else f"{origin}: {message}"


def _in_file(loc: tuple[Any, ...], data: Any, *, keep_last: bool) -> tuple[Any, ...]:
    """The parts of a pydantic error's place that are keys and indexes of `data`; the last one too when it names a
    missing key. Without the data, only the private models' names (`_Pods`) are left out."""
    if data is None:
        return tuple(part for part in loc if not str(part).startswith("_"))
    out = []
    node = data
    for n, part in enumerate(loc):
        index = isinstance(part, int) and not isinstance(part, bool)
        if (isinstance(node, Mapping) and _has(node, part)) or (
            isinstance(node, list) and index and 0 <= part < len(node)
        ):
            out.append(part)
            node = node[part]
        elif keep_last and n == len(loc) - 1:
            out.append(part)
    return tuple(out)


def _has(node: Mapping[Any, Any], key: Any) -> bool:
    try:
        return key in node
    except TypeError:  # an unhashable key cannot be in it
        return False


def shown(value: Any, limit: int = 100) -> str:
    """A value from a YAML file as the file would write it, for a message: 'text', 7, 2024-01-01 (not
    ``datetime.date(2024, 1, 1)``), cut at `limit` characters."""
    if isinstance(value, date):  # YAML reads an unquoted 2024-01-01 as a date
        text = value.isoformat()
    elif isinstance(value, bytes | bytearray):  # !!binary
        text = f"binary data of {len(value)} bytes"
    elif isinstance(value, set | frozenset):  # !!set
        text = f"a set of {len(value)}"
    elif isinstance(value, str) and len(value) > limit:
        text = repr(value[:limit]) + "…"  # cut inside the quotes
    else:
        text = repr(value)
    return text if len(text) <= limit + 20 else text[:limit] + "…"


# Byte-order marks YAML allows (UTF-8, UTF-16 and UTF-32), the longest first: UTF-32-LE's begins with UTF-16-LE's
_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
    (codecs.BOM_UTF8, "utf-8-sig"),
)


def read_text(path: Path, origin: str | None = None) -> str:
    """The file's text: UTF-8, or UTF-16 or UTF-32 with a byte-order mark. ConfigError naming the file (as
    `origin`, else its path) when it cannot be read or does not decode, with the first bad byte."""
    origin = origin or str(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"{origin}: cannot be read: {exc.strerror or exc}") from None
    encoding = next((name for bom, name in _BOMS if data.startswith(bom)), "utf-8")
    try:
        return data.decode(encoding)
    except UnicodeDecodeError as exc:
        shown_as = {"utf-8-sig": "UTF-8"}.get(encoding, encoding.upper())
        raise ConfigError(f"{origin}: not {shown_as} text (byte {exc.start + 1}: {exc.reason})") from None


class _Loader(yaml.SafeLoader):
    """PyYAML's safe loader, whose constructors raise ValueError, IndexError or AttributeError (not a YAMLError) for
    a tagged value they cannot read (`!!int abc`, `!!float` alone, `!!timestamp 2024-01-0130d`): here a YAMLError
    that says where."""

    def construct_object(self, node: yaml.Node, deep: bool = False) -> Any:
        try:
            return super().construct_object(node, deep)
        except (ValueError, TypeError, IndexError, AttributeError, OverflowError) as exc:
            value = node.value if isinstance(node, yaml.ScalarNode) else ""
            raise yaml.constructor.ConstructorError(
                None, None, f"{shown(value, 40)} is not a valid {node.tag.rpartition(':')[2]}", node.start_mark
            ) from exc


def _yaml_problem(exc: yaml.YAMLError) -> str:
    """What PyYAML found and where, in one line (its own message runs over several, with the text quoted)."""
    if isinstance(exc, yaml.MarkedYAMLError) and exc.problem:
        mark = exc.problem_mark or exc.context_mark
        where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark is not None else ""
        return f"{exc.context + ', ' if exc.context else ''}{exc.problem}{where}"
    return str(exc).splitlines()[0] if str(exc) else type(exc).__name__


def load_yaml(text: str, origin: str, *, documents: bool = False) -> Any:
    """Parsed YAML (a list of the documents when `documents`); ConfigError naming `origin` and the line when it is
    not valid YAML, and when it nests too deeply for the parser."""
    try:
        if documents:
            return list(yaml.load_all(text, Loader=_Loader))  # a safe loader
        return yaml.load(text, Loader=_Loader)  # a safe loader
    except yaml.YAMLError as exc:
        raise ConfigError(f"{origin}: not valid YAML: {_yaml_problem(exc)}") from exc
    except RecursionError:  # PyYAML's parser recurses once per level of nesting
        raise ConfigError(f"{origin}: not valid YAML: nested too deeply") from None


def read_yaml(path: Path, origin: str | None = None) -> Any:
    """The parsed file; ConfigError naming the file when it cannot be read, is not text, or is not valid YAML."""
    return load_yaml(read_text(path, origin), origin or str(path))


_SCALARS = (str, int, float, bool, type(None))


def plain(value: Any, *, also: tuple[type, ...] = ()) -> Any:
    """`value` when it is plain data, what JSON carries (text, finite numbers, true and false, null, lists, and
    mappings with text keys), and the types in `also`; else ValueError naming the first place that is not: a date,
    binary data or a set where text was meant, a key that is no text, a value that contains itself through a YAML
    alias. What a file gives as free-form data (a runbook's parameters, an SLO's queries) is hashed, stored and sent
    as JSON: refused here, it cannot fail there."""

    def walk(node: Any, where: tuple[Any, ...], within: frozenset[int]) -> None:
        at = f"{path_of(where)}: " if where else ""
        if isinstance(node, float) and not math.isfinite(node):
            raise ValueError(f"{at}expected a finite number, got {node}")
        if isinstance(node, _SCALARS + also):
            return
        if not isinstance(node, dict | list):
            raise ValueError(f"{at}expected text, a number, true or false, a list or a mapping, got {shown(node)}")
        if id(node) in within:
            raise ValueError(f"{at}contains itself (through a YAML alias)")
        inside = within | {id(node)}
        for key, item in node.items() if isinstance(node, dict) else enumerate(node):
            if isinstance(node, dict) and not isinstance(key, str):
                raise ValueError(f"{at}expected keys that are text (quote it), got the key {shown(key)}")
            walk(item, (*where, key), inside)

    walk(value, (), frozenset())
    return value


PlainData = Annotated[Any, AfterValidator(plain)]  # a pydantic field of plain data


def time_zone(value: str) -> str:
    """`value` if it names a time zone (Europe/Berlin, UTC); else ValueError saying what was expected."""
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"not a time zone name (such as Europe/Berlin): {value!r}") from None
    return value
