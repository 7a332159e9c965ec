"""`/incident` and its subcommands. The listener acks at once; this module does the work after the ack and answers
through `respond` (privately) or through messages in the incident channel (for everyone)."""

from __future__ import annotations

import re
from typing import Any

from blocks import incident as incident_blocks
from blocks.declare import declare_modal
from blocks.listing import incident_list
from blocks.messages import declared
from bot.domain.intent import find_service
from bot.domain.severity import Severity
from bot.errors import DomainError
from bot.lifecycle.declaring import Declaration, suggest_severity
from bot.services import Services
from handlers.respond import Respond

HELP = (
    "*/incident* commands:\n"
    "• `/incident declare <title>`: declare an incident now (`/incident` alone opens a form)\n"
    "• `/incident status`: this incident's card (in an incident channel), or all open incidents\n"
    "• `/incident list`: all open incidents\n"
    "• `/incident ack`: say you are on it (so sre-agent does not escalate the page as unacknowledged)\n"
    "• `/incident sev <P1..P5>`: change the severity, here and on PagerDuty\n"
    "• `/incident commander @someone` (or `me`): name the incident commander\n"
    "• `/incident note <text>`: add a note to the timeline\n"
    "• `/incident escalate [why]`: page the next level of the escalation policy, saying why\n"
    "• `/incident resolve [summary]`: resolve, here and on PagerDuty\n"
    "• `/incident reopen`: reopen a resolved incident\n"
    "• `/incident postmortem`: the postmortem's draft from the timeline, shared here as a file\n"
    "• `/incident help`: this help\n"
    "The ones that act on an incident work in its channel."
)

RESOLVING = ":hourglass_flowing_sand: Resolving this incident…"

_USER = re.compile(r"^<@([UW][A-Z0-9]+)(?:\|[^>]*)?>$")
ALIASES = {"acknowledge": "ack", "severity": "sev", "ic": "commander", "close": "resolve", "ls": "list", "?": "help"}


def split(text: str) -> tuple[str, str]:
    """``"sev  P1"`` -> ``("sev", "P1")``; the subcommand lower-cased and its aliases resolved."""
    sub, _, rest = (text or "").strip().partition(" ")
    sub = sub.lower()
    return ALIASES.get(sub, sub), rest.strip()


async def _ephemeral(respond: Respond, text: str, blocks: list[Any] | None = None) -> None:
    await respond(text, blocks)


async def run(services: Services, command: dict[str, Any], respond: Respond) -> None:
    """Carry out one `/incident` command (already acknowledged)."""
    sub, rest = split(command.get("text") or "")
    user_id = str(command["user_id"])
    channel_id = str(command["channel_id"])
    actions = services.actions
    now = services.clock.now()

    if sub in ("", "declare"):
        await _declare(services, command, rest, respond)
        return
    if sub == "help":
        await _ephemeral(respond, HELP)
        return
    if sub == "list":
        text, blocks = incident_list(await actions.open_incidents(), now)
        await _ephemeral(respond, text, blocks)
        return
    if sub == "status":
        incident = await services.store.incident_by_channel(channel_id)
        if incident is None:
            text, blocks = incident_list(await actions.open_incidents(), now)
        else:
            text, blocks = incident_blocks.card_text(incident), incident_blocks.incident_card(incident)
        await _ephemeral(respond, text, blocks)
        return
    if sub not in _IN_CHANNEL:
        await _ephemeral(respond, f"I don't know `/incident {sub}`.\n{HELP}" if sub else HELP)
        return

    incident = await services.channel.incident_for(channel_id)
    assert incident.id is not None
    await _IN_CHANNEL[sub](services, incident.id, rest, user_id, respond)


async def _declare(services: Services, command: dict[str, Any], title: str, respond: Respond) -> None:
    """`/incident declare <title>` declares at once when the title names a service; otherwise (and for `/incident`
    alone) the form opens, with what was typed already in it."""
    service = find_service(title, services.catalog) if title else None
    if service is None:
        severity = suggest_severity(title, None, services.catalog)
        await services.slack.open_view(
            str(command["trigger_id"]), declare_modal(services.catalog, title=title, severity=severity)
        )
        return
    user_id = str(command["user_id"])
    incident = await services.declarer.declare(
        Declaration(
            title=title, service=service, severity=suggest_severity(title, service, services.catalog), user_id=user_id
        )
    )
    paged_by = services.pager.name if incident.source == services.pager.source else None
    await _ephemeral(respond, declared(incident, paged_by=paged_by))


async def _sev(services: Services, incident_id: int, rest: str, user_id: str, _r: Respond) -> None:
    severity = Severity.parse(rest)
    if severity is None:
        raise DomainError(f"bad severity {rest!r}", user_message="Give a severity from P1 to P5: `/incident sev P2`.")
    await services.actions.set_severity(incident_id, severity, user_id=user_id)


async def _commander(services: Services, incident_id: int, rest: str, user_id: str, _r: Respond) -> None:
    match = _USER.match(rest)
    if rest.lower() == "me":
        target = user_id
    elif match:
        target = match.group(1)
    else:
        raise DomainError(
            f"bad commander {rest!r}",
            user_message="Name a person: `/incident commander @someone`, or `/incident commander me`.",
        )
    await services.actions.set_commander(incident_id, target, user_id=user_id)


async def _note(services: Services, incident_id: int, rest: str, user_id: str, _r: Respond) -> None:
    await services.actions.add_note(incident_id, rest, user_id=user_id)


async def _ack(services: Services, incident_id: int, _rest: str, user_id: str, _r: Respond) -> None:
    await services.actions.respond(incident_id, user_id=user_id)


async def _escalate(services: Services, incident_id: int, rest: str, user_id: str, _r: Respond) -> None:
    await services.actions.escalate(incident_id, user_id=user_id, reason=rest.strip())


async def _resolve(services: Services, incident_id: int, rest: str, user_id: str, respond: Respond) -> None:
    await _ephemeral(respond, RESOLVING)  # PagerDuty comes first and may take a moment
    await services.resolver.resolve(incident_id, user_id=user_id, summary=rest)


async def _reopen(services: Services, incident_id: int, _rest: str, user_id: str, _r: Respond) -> None:
    await services.actions.reopen(incident_id, user_id=user_id)


async def _postmortem(services: Services, incident_id: int, _rest: str, _u: str, respond: Respond) -> None:
    """The draft written now from the timeline and shared in the channel (again only if the timeline changed)."""
    incident = await services.store.incident(incident_id)
    if incident is None:
        raise DomainError(f"no incident {incident_id}", user_message="That incident no longer exists.")
    await _ephemeral(respond, await services.postmortems.publish(incident))


_IN_CHANNEL = {
    "sev": _sev,
    "commander": _commander,
    "note": _note,
    "escalate": _escalate,
    "ack": _ack,
    "resolve": _resolve,
    "reopen": _reopen,
    "postmortem": _postmortem,
}
