"""What @sre says back to a plain-English message (mrkdwn; untrusted text escaped)."""

from __future__ import annotations

from blocks.text import channel, escape, user
from bot.domain.incident import PAGER_NAMES, Incident
from bot.domain.intent import Intent
from bot.domain.oncall import OnCall

EXAMPLES = (
    "• `@sre the payments API is timing out, figure out what's wrong`\n"
    "• `@sre who's on call for search?`\n"
    "• `@sre what incidents are open right now?`\n"
    "• `@sre how's the checkout error budget looking?`\n"
    "• in an incident channel: `@sre status`, `@sre sev1`, `@sre escalate`, `@sre we're good, resolve it`"
)

HELP = f":wave: I run incidents. Talk to me in plain words, for example:\n{EXAMPLES}\nOr use `/incident help`."

UNKNOWN = f"I'm not sure what you'd like me to do. Things I understand:\n{EXAMPLES}"

WHICH_SERVICE = (
    "Which service is it? Name it and I'll open an incident, e.g. `@sre checkout is throwing 500s`. "
    "Services I know: {services}."
)

_NEEDS_CHANNEL = {
    Intent.SEVERITY: "change the severity",
    Intent.ESCALATE: "escalate",
    Intent.RESOLVE: "resolve",
}


def needs_incident_channel(intent: Intent) -> str:
    doing = _NEEDS_CHANNEL.get(intent, "do that")
    return (
        f"I can {doing} in an incident's channel; this channel is not one. `@sre what incidents are open?` lists them."
    )


def no_slos(service: str | None) -> str:
    about = f" for `{escape(service)}`" if service else ""
    return (
        f":bar_chart: No SLOs are configured yet, so I have no error budget to report{about}. "
        "Once SLOs are set up I'll track budgets and burn rates here."
    )


def already_here(incident: Incident) -> str:
    return f"This is {incident.label}'s channel and it is open already: `@sre status` shows where it stands."


def already_open(incident: Incident) -> str:
    return (
        f"{incident.severity.emoji} {escape(incident.service)} already has an open incident: *{incident.severity} "
        f"{incident.label}*, {channel(incident.channel_id, incident.channel_name)}. I did not open another."
    )


def opened_for_you(incident: Incident, *, findings: bool = False) -> str:
    paged = f" {incident.pager_name} is paging the on-call." if incident.source in PAGER_NAMES else ""
    posted = " I've posted findings to the incident channel." if findings else ""
    return (
        f"{incident.severity.emoji} On it: I opened *{incident.severity} {incident.label}* for "
        f"`{escape(incident.service)}` in {channel(incident.channel_id, incident.channel_name)}.{paged}{posted}"
    )


def oncall_line(service: str, people: list[tuple[OnCall, str | None]]) -> str:
    if not people:
        return f"*{escape(service)}*: nobody is on call right now."
    by_level: dict[int, list[str]] = {}
    for person, slack_id in people:
        by_level.setdefault(person.level, []).append(user(slack_id) if slack_id else escape(person.name))
    levels = "; ".join(f"level {level}: {', '.join(names)}" for level, names in sorted(by_level.items()))
    return f":pager: *{escape(service)}*: {levels}"


def no_oncall(service: str | None) -> str:
    if service:
        return (
            f"I don't know who is on call for `{escape(service)}`: the catalog gives it no escalation policy on the "
            "pager."
        )
    return "No service in the catalog has an escalation policy on the pager, so I can't say who is on call."
