"""Reading what an agent shows rather than says: A2UI messages in A2A data parts (`metadata.mimeType` or
`mediaType` = `application/json+a2ui`), as TalkOps K8s Autopilot sends its tool cards, thoughts and approval cards.

One data part carries one A2UI message (`{"version": "v0.9", "createSurface" | "updateComponents" |
"updateDataModel": {...}}`; v0.8's `beginRendering`, `surfaceUpdate` and `dataModelUpdate` are read alike). The
messages are folded by surface into its component types and its data model; a surface's human text is the strings of
its data model (and any literal text of its components), so a reply whose plain text is empty still says what the
agent said. Pure: no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = ["A2UI_MIME", "Surface", "is_a2ui", "surfaces_of", "text_of"]

A2UI_MIME = "application/json+a2ui"
_OPS = ("createSurface", "updateComponents", "updateDataModel", "beginRendering", "surfaceUpdate", "dataModelUpdate")
# keys of a card's data model that steer the card rather than say something
_QUIET = frozenset(
    {"options", "onDecisionActionId", "onAnswerActionId", "phaseId", "surfaceId", "catalogId", "id", "status"}
    | {"environment", "riskLevel", "durationMs", "severity"}
)


@dataclass
class Surface:
    """One A2UI surface as the messages so far left it."""

    id: str
    catalog: str = ""
    components: list[str] = field(default_factory=list)  # component types, in order: hitlApprovalCard, Text...
    model: dict[str, Any] = field(default_factory=dict)
    literals: list[str] = field(default_factory=list)  # literal text written into the components

    @property
    def kind(self) -> str:
        """The surface's main component type (the root's, or the first)."""
        return self.components[0] if self.components else ""

    def text(self) -> str:
        return "\n".join(s for s in [*self.literals, *_strings(self.model)] if s.strip())


def is_a2ui(part: dict[str, Any]) -> bool:
    meta = part.get("metadata") if isinstance(part.get("metadata"), dict) else {}
    mime = str((meta or {}).get("mimeType") or part.get("mediaType") or part.get("mimeType") or "")
    return mime.split(";")[0].strip().lower() == A2UI_MIME or (
        isinstance(part.get("data"), dict) and any(op in part["data"] for op in _OPS)
    )


def surfaces_of(messages: list[dict[str, Any]]) -> list[Surface]:
    """The surfaces the A2UI messages build, in the order they were first named."""
    found: dict[str, Surface] = {}
    for message in messages:
        for op in _OPS:
            body = message.get(op)
            if not isinstance(body, dict):
                continue
            sid = str(body.get("surfaceId") or "")
            surface = found.setdefault(sid, Surface(sid))
            if op in ("createSurface", "beginRendering"):
                surface.catalog = str(body.get("catalogId") or surface.catalog)
            elif op in ("updateComponents", "surfaceUpdate"):
                _components(surface, body.get("components"))
            else:
                _model(surface, body)
    return list(found.values())


def text_of(surfaces: list[Surface]) -> list[str]:
    return [t for t in (s.text() for s in surfaces) if t]


def _components(surface: Surface, components: Any) -> None:
    for item in components if isinstance(components, list) else []:
        if not isinstance(item, dict):
            continue
        inner = item.get("component")
        if isinstance(inner, dict) and len(inner) == 1:  # v0.8 nesting: {"component": {"Type": {props}}}
            kind, props = next(iter(inner.items()))
        else:  # v0.9: {"id", "component": "Type", props...}
            kind, props = str(inner or ""), item
        if kind and kind not in surface.components:
            surface.components.append(str(kind))
        if isinstance(props, dict):
            for key in ("text", "label", "title"):
                literal = _literal(props.get(key))
                if literal:
                    surface.literals.append(literal)


def _literal(value: Any) -> str | None:
    if isinstance(value, str):
        return value
    if isinstance(value, dict):
        for key in ("literalString", "literal", "valueString"):
            if isinstance(value.get(key), str):
                return str(value[key])
    return None


def _model(surface: Surface, body: dict[str, Any]) -> None:
    path = str(body.get("path") or "/").strip("/")
    value = body.get("value", body.get("contents"))
    if isinstance(value, list) and all(isinstance(v, dict) and "key" in v for v in value):  # v0.8 key/value list
        value = {str(v["key"]): _entry(v) for v in value}
    if not path:
        if isinstance(value, dict):
            surface.model.update(value)
        return
    here = surface.model
    *parents, last = path.split("/")
    for key in parents:
        here = here.setdefault(key, {}) if isinstance(here.get(key, {}), dict) else {}
    here[last] = value


def _entry(item: dict[str, Any]) -> Any:
    for key in ("valueString", "valueNumber", "valueBoolean", "valueMap", "value"):
        if key in item:
            return item[key]
    return None


def _strings(value: Any, key: str = "") -> list[str]:
    """The human text in a data model: its strings, `key: value` for short scalar fields of a list of parameters."""
    if key in _QUIET:
        return []
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        if set(value) >= {"key", "value"} and isinstance(value["key"], str):
            return [f"{value['key']}: {value['value']}"]
        return [s for k, v in value.items() for s in _strings(v, str(k))]
    if isinstance(value, list):
        return [s for v in value for s in _strings(v)]
    return []
