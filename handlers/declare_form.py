"""Reading the declare form's submission: values, or the errors Slack shows next to the fields."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from blocks.ids import ActionId, BlockId
from bot.domain.catalog import Catalog
from bot.domain.severity import Severity
from bot.lifecycle.declaring import TITLE_LIMIT, Declaration


@dataclass
class Form:
    title: str = ""
    service: str = ""
    severity: Severity = Severity.P3
    description: str = ""
    errors: dict[str, str] = field(default_factory=dict)

    def declaration(self, user_id: str) -> Declaration:
        return Declaration(
            title=self.title,
            service=self.service,
            severity=self.severity,
            user_id=user_id,
            description=self.description,
        )


def _value(values: dict[str, Any], block: BlockId) -> str:
    element = (values.get(block) or {}).get(ActionId.DECLARE_VALUE) or {}
    if isinstance(element.get("selected_option"), dict):
        return str(element["selected_option"].get("value") or "")
    return str(element.get("value") or "").strip()


def read(view: dict[str, Any], catalog: Catalog) -> Form:
    values = (view.get("state") or {}).get("values") or {}
    form = Form(
        title=_value(values, BlockId.DECLARE_TITLE),
        service=_value(values, BlockId.DECLARE_SERVICE),
        description=_value(values, BlockId.DECLARE_DESCRIPTION),
    )
    if not form.title:
        form.errors[BlockId.DECLARE_TITLE] = "Say in a few words what is wrong."
    elif len(form.title) > TITLE_LIMIT:
        form.errors[BlockId.DECLARE_TITLE] = f"Keep it within {TITLE_LIMIT} characters."
    if not form.service:
        form.errors[BlockId.DECLARE_SERVICE] = "Pick the service that is affected."
    elif len(catalog) and catalog.get(form.service) is None:
        form.errors[BlockId.DECLARE_SERVICE] = f"There is no service {form.service!r} in the catalog."
    severity = Severity.parse(_value(values, BlockId.DECLARE_SEVERITY))
    if severity is None:
        form.errors[BlockId.DECLARE_SEVERITY] = "Pick a severity from P1 to P5."
    else:
        form.severity = severity
    return form
