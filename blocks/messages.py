"""Short lifecycle messages (mrkdwn). Every piece of untrusted text is escaped here."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from blocks.text import channel, escape, link, sentence, truncate, user, when
from bot.domain.diagnosis import Hypothesis
from bot.domain.incident import Incident
from bot.domain.severity import Severity
from bot.errors import SlackError, SreAgentError, UpstreamError


def _who(name: str | None) -> str:
    return escape(name) if name else "someone"


def not_found(people: list[str], pager: str) -> str:
    lines = "\n".join(f"• {escape(p)}" for p in people)
    return (
        ":warning: I could not find these on-call people in Slack, so they are not in this channel. "
        f"Reach them through {pager}:\n{lines}"
    )


def not_found_label(name: str, email: str | None, level: int, pager: str) -> str:
    """One on-call person the pager names and Slack does not know (plain text: not_found escapes it)."""
    return f"{name} ({email or f'no e-mail in {pager}'}), on call at level {level}"


def escalation_failed(reason: str, error: SreAgentError) -> str:
    return f":warning: I meant to escalate this incident because {escape(reason)}, but: {escape(error.user_message)}"


def pager_findings(incident: Incident, hypotheses: Sequence[Hypothesis], asked: Sequence[str]) -> str:
    """The findings as a status update on the pager (plain text: the pager shows it as it is)."""
    if hypotheses:
        top = hypotheses[0]
        text = f"sre-agent's findings: likely cause: {top.text} ({top.confidence:.0%})."
        if top.recommendations:
            text += " What to do: " + "; ".join(top.recommendations)
            text += "" if text.endswith(".") else "."
    else:
        text = "sre-agent's findings: no likely cause yet."
    if asked:
        text += f" Asked: {', '.join(asked)}."
    where = f"#{incident.channel_name}" if incident.channel_name else "its Slack channel"
    return truncate(f"{text} Details in Slack: {where}.", 25_000)


def pager_remediation(action: str, outcome: str) -> str:
    """A fix's progress as a status update on the pager (plain text)."""
    return truncate(f"sre-agent's remediation: {action}: {outcome}.", 25_000)


def on_it(user_id: str) -> str:
    return f":raised_hand: {user(user_id)} is on it."


def acknowledge_failed(error: UpstreamError, pager: str) -> str:
    return (
        f":warning: {escape(sentence(error.user_message))} I'll try again; until it is acknowledged there, {pager} "
        "goes on paging the on-call."
    )


def announce_failed(incidents_channel: str, error: SlackError) -> str:
    return (
        f":warning: I could not announce this incident in {escape(incidents_channel)} "
        f"(Slack said `{escape(error.error)}`). Invite me there with `/invite @sre`."
    )


_CHANNEL_NOTE, _CHANNEL_LINK = "Slack channel: #", "(https://slack.com/app_redirect?channel="


def pager_channel_note(incident: Incident) -> str:
    """Plain text for the pager (not Slack): where the incident is being worked."""
    return f"{_CHANNEL_NOTE}{incident.channel_name} {_CHANNEL_LINK}{incident.channel_id})"


def is_pager_channel_note(content: str) -> bool:
    """Whether a note on the pager is one `pager_channel_note` wrote."""
    return content.startswith(_CHANNEL_NOTE) and _CHANNEL_LINK in content


def acknowledged_in_pager(agent: str | None, pager: str) -> str:
    return f":eyes: {_who(agent)} acknowledged this incident in {pager}."


def resolved_in_pager(agent: str | None, pager: str) -> str:
    return f":white_check_mark: {_who(agent)} resolved this incident in {pager}."


def reopened_in_pager(agent: str | None, pager: str) -> str:
    return f":repeat: {_who(agent)} reopened this incident in {pager}."


def note_from_pager(agent: str | None, content: str, pager: str) -> str:
    return f":memo: Note from {_who(agent)} in {pager}:\n>{escape(truncate(content, 2500))}"


def severity_changed(severity: Severity, agent: str | None, pager: str) -> str:
    return f"{severity.emoji} {_who(agent)} changed the severity to *{severity}* in {pager}."


def resolved_by(user_id: str | None, summary: str) -> str:
    text = f":white_check_mark: {user(user_id) if user_id else 'sre-agent'} resolved this incident"
    return text + (f": {escape(truncate(summary, 2500))}" if summary else ".")


def incident_channel_link(incident: Incident) -> str:
    return channel(incident.channel_id, incident.channel_name)


def severity_set_by(user_id: str, severity: Severity, *, in_pager: bool | None, pager: str) -> str:
    """`in_pager`: whether the pager took the priority too (None: the incident is not the pager's)."""
    text = f"{severity.emoji} {user(user_id)} set the severity to *{severity}*"
    if in_pager is False:
        return text + f" (here only: {pager} has no priority named {severity} in this account)."
    return text + (f", here and on {pager}." if in_pager else ".")


def commander_set_by(user_id: str, commander_id: str) -> str:
    if user_id == commander_id:
        return f":large_green_circle: {user(commander_id)} is now the incident commander."
    return f":large_green_circle: {user(user_id)} made {user(commander_id)} the incident commander."


def noted_by(user_id: str, text: str) -> str:
    return f":memo: {user(user_id)} noted:\n>{escape(truncate(text, 2500))}"


def escalated_by(
    user_id: str | None, level: int, invited: list[str], missing: list[str], reason: str = "", *, pager: str
) -> str:
    who = user(user_id) if user_id else "sre-agent"
    text = f":arrow_double_up: {who} escalated this incident to level {level} on {pager}"
    text += f" because {escape(reason)}." if reason else "."
    if invited:
        text += " Invited " + ", ".join(user(u) for u in invited) + "."
    if missing:
        text += f" Not in Slack, reach them through {pager}: " + ", ".join(escape(m) for m in missing) + "."
    if not invited and not missing:
        text += " Nobody is on call at that level right now."
    return text


def reopened_by(user_id: str, *, pager: str | None) -> str:
    """`pager`: the name of the pager the incident came from, None for one declared in Slack only."""
    text = f":repeat: {user(user_id)} reopened this incident."
    if pager:
        text += (
            f" {pager}'s API cannot reopen a resolved incident: reopen it in {pager} too if people"
            " should be paged, or use `/incident escalate` once it is open there."
        )
    return text


def declared(incident: Incident, *, paged_by: str | None) -> str:
    """`paged_by`: the pager that pages the on-call for it (None: declared in Slack only)."""
    where = channel(incident.channel_id, incident.channel_name)
    paged = f" {paged_by} is paging the on-call." if paged_by else ""
    return (
        f"{incident.severity.emoji} Declared *{incident.severity} {incident.label}* · {escape(incident.service)}: "
        f"{escape(truncate(incident.title, 300))}. Join {where}.{paged}"
    )


def page_not_handled(
    *, source: str, event_type: str, attempts: int, error: str, url: str | None, what: str | None, inbound_id: int
) -> str:
    """Said in the incidents channel when an accepted page failed every attempt: nobody else would know of it."""
    subject = f"a {escape(source)} `{escape(event_type)}` event"
    if what:
        subject += f" for {link(url, what)}"
    return (
        f":rotating_light: *A page could not be handled.* I received {subject} and gave up after {attempts} "
        f"attempts: `{escape(truncate(error, 500))}`. Please handle it in {escape(source)} by hand. "
        f"(Inbound event {inbound_id}, marked failed.)"
    )


def _calls(waiting: dict[str, int]) -> str:
    total = sum(waiting.values())
    by_method = ", ".join(f"`{escape(method)}` {count}" for method, count in sorted(waiting.items()))
    return f"{total} Slack call{'s' if total != 1 else ''} {'are' if total != 1 else 'is'} waiting ({by_method})"


def slack_slowing(methods: Sequence[str], waiting: dict[str, int]) -> str:
    """Said in the incidents channel when Slack starts answering the bot 429 (rate-limited)."""
    limited = ", ".join(f"`{escape(m)}`" for m in methods)
    now = _calls(waiting) if waiting else "No call is waiting yet"
    return (
        f":hourglass_flowing_sand: *Slack is rate-limiting sre-agent* ({limited}), so incidents are set up more "
        f"slowly. {now}; they go one at a time as Slack allows, the most severe incidents first, and none is "
        "dropped. I will update this message when Slack lets up."
    )


def slack_slowed(
    methods: Sequence[str],
    *,
    began: datetime,
    ended: datetime,
    waited: int,
    longest: str,
    gave_up: int,
    stopped: bool = False,
) -> str:
    """The same message once Slack has let up for a while (or once sre-agent stopped while it had not)."""
    limited = ", ".join(f"`{escape(m)}`" for m in methods)
    if stopped:
        return (
            f":double_vertical_bar: *Slack was rate-limiting sre-agent* from {when(began)} ({limited}) until this "
            f"sre-agent stopped at {when(ended)}: {waited} call{'s' if waited != 1 else ''} had waited their turn, "
            f"the longest {longest}. What was still waiting is taken up again when sre-agent runs again (or by "
            "another replica)."
        )
    text = (
        f":white_check_mark: *Slack rate-limited sre-agent* from {when(began)} to {when(ended)} ({limited}): "
        f"{waited} call{'s' if waited != 1 else ''} waited their turn, the longest {longest}."
    )
    if gave_up:
        return text + (f" {gave_up} waited longer than allowed and failed; the work they were part of is tried again.")
    return text + " Every one of them has gone through."
