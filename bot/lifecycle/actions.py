"""What people do to an incident from Slack: severity, commander, notes, escalation, reopening.

Each action runs under the incident's lock, changes PagerDuty first where PagerDuty is involved (so nothing changes
here when it refuses), then the store, then redraws the card and tells the channel. Refusals are DomainErrors whose
`user_message` is what the person is told.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any

from blocks import messages
from bot.adapters.slack.gateway import SlackGateway
from bot.domain.events import CommanderChange, Escalated, Plain, SlackMessage, pager_note, record
from bot.domain.incident import Incident, SetupStep, change_severity, transition
from bot.domain.oncall import OnCall
from bot.domain.phase import Phase
from bot.domain.severity import Severity
from bot.domain.timeline import ACTOR_BOT, EventKind, TimelineEvent, slack_actor
from bot.errors import DomainError, SreAgentError
from bot.lifecycle.channel import IncidentChannel
from bot.ports.clock import Clock
from bot.ports.pager import Pager
from bot.runtime.locks import KeyedLocks
from bot.store import Store

__all__ = ["IncidentActions", "current_level"]

log = logging.getLogger(__name__)


CAPTURE_LIMIT = 4000
CAPTURED_REACTION = "memo"  # the bot's mark on a message that is on the timeline


def current_level(assigned: set[str], oncall: list[OnCall]) -> int:
    """The escalation level an incident is at: PagerDuty's incident has no such field, but it is assigned to the people
    on call at that level. The highest level whose people are all assigned; 1 when none fits."""
    by_level: dict[int, set[str]] = {}
    for person in oncall:
        by_level.setdefault(person.level, set()).add(person.user_id)
    fitting = [level for level, people in by_level.items() if people and people <= assigned]
    return max(fitting, default=1)


class IncidentActions:
    def __init__(
        self,
        *,
        store: Store,
        slack: SlackGateway,
        pager: Pager,
        clock: Clock,
        locks: KeyedLocks,
        channel: IncidentChannel,
    ) -> None:
        self.store = store
        self.slack = slack
        self.pager = pager
        self.clock = clock
        self.locks = locks
        self.channel = channel

    @asynccontextmanager
    async def _held(self, incident_id: int) -> AsyncIterator[Incident]:
        """The incident, read again under its lock."""
        incident = await self.store.incident(incident_id)
        if incident is None:
            raise DomainError(f"no incident {incident_id}", user_message="That incident no longer exists.")
        async with self.locks.hold(incident.key):
            fresh = await self.store.incident(incident_id)
            assert fresh is not None
            yield fresh

    @staticmethod
    def _must_be_open(incident: Incident, doing: str) -> None:
        if not incident.is_open:
            raise DomainError(
                f"{incident.key} is {incident.phase}",
                user_message=f"{incident.label} is {incident.phase.label.lower()}; reopen it before you {doing}.",
            )

    async def set_severity(self, incident_id: int, severity: Severity, *, user_id: str) -> Incident:
        async with self._held(incident_id) as incident:
            if incident.severity == severity:
                raise DomainError("same severity", user_message=f"{incident.label} is already {severity}.")
            in_pager: bool | None = None  # None: not the pager's incident
            if incident.source == self.pager.source:
                in_pager = await self.pager.set_priority(incident.external_id, str(severity))
            events = change_severity(incident, severity, at=self.clock.now(), actor=slack_actor(user_id))
            await self.store.save_incident(incident, events, now=self.clock.now())
            await self.channel.refresh(incident)
            await self.channel.say(
                incident, messages.severity_set_by(user_id, severity, in_pager=in_pager, pager=self.pager.name)
            )
            return incident

    async def respond(self, incident_id: int, *, user_id: str) -> Incident:
        """A person takes the page (`/incident ack`): on the timeline, so sre-agent does not escalate it as
        unacknowledged, and said in the channel."""
        async with self._held(incident_id) as incident:
            self._must_be_open(incident, "acknowledge it")
            event = record(
                Plain(), kind=EventKind.RESPONDED, at=self.clock.now(), actor=slack_actor(user_id), text="on it"
            )
            await self.store.append_events(incident, [event])
            await self.channel.say(incident, messages.on_it(user_id))
            return incident

    async def set_commander(self, incident_id: int, commander_id: str, *, user_id: str) -> Incident:
        async with self._held(incident_id) as incident:
            if incident.commander == commander_id:
                raise DomainError("same commander", user_message="They are the incident commander already.")
            previous = incident.commander
            incident.commander = commander_id
            event = record(
                CommanderChange(previous, commander_id),
                at=self.clock.now(),
                actor=slack_actor(user_id),
                text=commander_id,
            )
            if incident.channel_id:
                await self.slack.invite(incident.channel_id, [commander_id])
            await self.store.save_incident(incident, [event], now=self.clock.now())
            await self.channel.refresh(incident)
            await self.channel.say(incident, messages.commander_set_by(user_id, commander_id))
            return incident

    async def add_note(self, incident_id: int, text: str, *, user_id: str) -> Incident:
        if not text.strip():
            raise DomainError("empty note", user_message="Say what to note: `/incident note <text>`.")
        async with self._held(incident_id) as incident:
            event = record(
                Plain(), kind=EventKind.NOTE, at=self.clock.now(), actor=slack_actor(user_id), text=text.strip()
            )
            await self.store.append_events(incident, [event])
            await self.channel.say(incident, messages.noted_by(user_id, text.strip()))
            return incident

    async def escalate(self, incident_id: int, *, user_id: str | None, reason: str = "") -> Incident:
        """Page the next level of the escalation policy and bring its people into the channel. `user_id` None:
        sre-agent escalates by itself (an action failed), saying why in the channel and in a PagerDuty note."""
        async with self._held(incident_id) as incident:
            self._must_be_open(incident, "escalate it")
            if incident.source != self.pager.source or not incident.escalation_policy_id:
                raise DomainError(
                    f"{incident.key} has no escalation policy",
                    user_message=f"{incident.label} has no {self.pager.name} escalation policy to escalate along.",
                )
            assigned = await self.pager.assignees(incident.external_id)
            everyone = await self.pager.oncalls(incident.escalation_policy_id, level=None)
            level = current_level(assigned, everyone)
            await self.pager.escalate(incident.external_id, level + 1, policy_id=incident.escalation_policy_id)
            people = [p for p in everyone if p.level == level + 1]
            actor = slack_actor(user_id) if user_id else ACTOR_BOT
            events = [
                record(
                    Escalated(level, level + 1, tuple(p.name for p in people), reason),
                    at=self.clock.now(),
                    actor=actor,
                    text=f"level {level} -> {level + 1}" + (f": {reason}" if reason else ""),
                )
            ]
            await self.store.save_incident(incident, events, now=self.clock.now())  # PagerDuty escalated: record it
            notes: list[TimelineEvent] = []
            if reason or user_id:  # every escalation says why on the pager too: the reason, or whose call it was
                if reason:
                    content = f"sre-agent escalated to level {level + 1}: {reason}"
                else:
                    assert user_id is not None
                    names = await self.slack.user_names([user_id])
                    content = f"Escalated to level {level + 1} by {names.get(user_id, user_id)} in Slack"
                try:
                    note_id = await self.pager.add_note(incident.external_id, content)
                except SreAgentError as exc:  # escalated all the same
                    log.warning("escalated %s but could not add the note: %s", incident.key, exc)
                else:
                    notes.append(pager_note(content, source=self.pager.source, note_id=note_id, at=self.clock.now()))
            found: list[str | None] = [None] * len(people)
            try:
                found = await self.slack.lookup_users([p.email for p in people])
                if incident.channel_id:
                    await self.slack.invite(incident.channel_id, [u for u in found if u])
            except SreAgentError as exc:  # paged all the same; the channel hears of it below
                log.warning("escalated %s but could not invite the next on-call: %s", incident.key, exc)
            await self.store.append_events(incident, notes)
            missing = [p.name for p, u in zip(people, found, strict=True) if not u]
            try:
                await self.channel.say(
                    incident,
                    messages.escalated_by(
                        user_id, level + 1, [u for u in found if u], missing, reason, pager=self.pager.name
                    ),
                )
            except SreAgentError as exc:  # escalated and recorded: only the words are missing
                log.warning("escalated %s but could not say so in Slack: %s", incident.key, exc)
            return incident

    async def reopen(self, incident_id: int, *, user_id: str) -> Incident:
        async with self._held(incident_id) as incident:
            if incident.is_open:
                raise DomainError("already open", user_message=f"{incident.label} is open already.")
            events = transition(incident, Phase.TRIGGERED, at=self.clock.now(), actor=slack_actor(user_id))
            incident.steps.discard(SetupStep.ACKNOWLEDGE)
            await self.store.save_incident(incident, events, now=self.clock.now())
            await self.channel.refresh(incident)
            paged = incident.source == self.pager.source
            await self.channel.say(incident, messages.reopened_by(user_id, pager=self.pager.name if paged else None))
            return incident

    async def capture(
        self, channel_id: str, ts: str, *, by_user: str, via: str, message: dict[str, Any] | None = None
    ) -> bool:
        """Put a message of an incident channel on the timeline, at the time it was posted; once per message, however
        often it is pinned or marked. False when the channel is not an incident's or the message was captured before."""
        incident = await self.store.incident_by_channel(channel_id)
        if incident is None or incident.id is None:
            return False
        ref = f"slack-message:{channel_id}:{ts}"
        async with self._held(incident.id) as held:
            if await self.store.has_ref(incident.id, ref):
                return False
            if message is None:
                message = await self.slack.message(channel_id, ts)
            text = str((message or {}).get("text") or "")
            author = str((message or {}).get("user") or (message or {}).get("bot_id") or by_user)
            event = record(
                SlackMessage(ts, via, by_user, message is not None),
                at=datetime.fromtimestamp(float(ts), UTC),
                actor=slack_actor(author),
                text=text[:CAPTURE_LIMIT],
                ref=ref,
            )
            await self.store.append_events(held, [event])
        await self.slack.react(channel_id, ts, CAPTURED_REACTION)
        return True

    async def open_incidents(self) -> list[Incident]:
        """Open incidents, most severe first, then oldest first."""
        incidents = await self.store.incidents(open_only=True)
        return sorted(incidents, key=lambda i: (i.severity.rank, i.triggered_at))
