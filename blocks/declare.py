"""The declare form (`/incident` alone, or `/incident declare`): title, service, severity, description."""

from __future__ import annotations

from slack_sdk.models.blocks import (
    InputBlock,
    Option,
    PlainTextInputElement,
    PlainTextObject,
    StaticSelectElement,
)
from slack_sdk.models.views import View

from blocks.ids import ActionId, BlockId, CallbackId
from blocks.text import truncate
from bot.domain.catalog import Catalog
from bot.domain.severity import Severity

SEVERITY_HINTS = {
    Severity.P1: "critical: many users cannot use the product",
    Severity.P2: "major: a key feature is broken or badly degraded",
    Severity.P3: "minor: some users affected, workaround exists",
    Severity.P4: "low: little or no user impact",
    Severity.P5: "informational",
}
MAX_SELECT_OPTIONS = 100  # Slack's limit for a static select


def _severity_option(severity: Severity) -> Option:
    return Option(value=str(severity), text=truncate(f"{severity} · {SEVERITY_HINTS[severity]}", 75))


def declare_modal(catalog: Catalog, *, title: str = "", severity: Severity = Severity.P3) -> View:
    service_element: StaticSelectElement | PlainTextInputElement
    names = catalog.names()[:MAX_SELECT_OPTIONS]
    if names:
        service_element = StaticSelectElement(
            action_id=ActionId.DECLARE_VALUE,
            placeholder="Which service?",
            options=[Option(value=name, text=name) for name in names],
        )
    else:  # no catalog configured: let people type it
        service_element = PlainTextInputElement(action_id=ActionId.DECLARE_VALUE, placeholder="e.g. checkout-service")
    return View(
        type="modal",
        callback_id=CallbackId.DECLARE,
        title=PlainTextObject(text="Declare an incident"),
        submit=PlainTextObject(text="Declare"),
        close=PlainTextObject(text="Cancel"),
        blocks=[
            InputBlock(
                block_id=BlockId.DECLARE_TITLE,
                label="What is wrong?",
                element=PlainTextInputElement(
                    action_id=ActionId.DECLARE_VALUE,
                    initial_value=truncate(title, 150) or None,
                    max_length=150,
                    placeholder="e.g. Checkout returns 500s for card payments",
                ),
            ),
            InputBlock(block_id=BlockId.DECLARE_SERVICE, label="Service", element=service_element),
            InputBlock(
                block_id=BlockId.DECLARE_SEVERITY,
                label="Severity",
                element=StaticSelectElement(
                    action_id=ActionId.DECLARE_VALUE,
                    options=[_severity_option(s) for s in Severity],
                    initial_option=_severity_option(severity),
                ),
            ),
            InputBlock(
                block_id=BlockId.DECLARE_DESCRIPTION,
                label="What do you know so far?",
                optional=True,
                element=PlainTextInputElement(action_id=ActionId.DECLARE_VALUE, multiline=True, max_length=2900),
            ),
        ],
    )
