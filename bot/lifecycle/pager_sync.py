"""Following the pager: each event it sends (triggered, acknowledged, resolved, reopened, a note, a priority,
an escalation), read by its adapter into a `PagerEvent`, applied to the incident under its lock; the first one
about an incident stores it and opens it. An event that failed every attempt is told to the incidents channel."""

from __future__ import annotations

import contextlib
from dataclasses import replace

from blocks import messages
from bot.adapters.slack.gateway import SlackGateway
from bot.domain.events import Paged, Plain, note_ref, record
from bot.domain.incident import Incident, SetupStep, change_severity, transition
from bot.domain.pager import Outcome, PagedIncident, PagerEvent, PagerEventKind, declaration_lock, declared
from bot.domain.phase import Phase
from bot.domain.timeline import ACTOR_BOT, EventKind
from bot.lifecycle.channel import IncidentChannel
from bot.lifecycle.opening import OPENING, Opener
from bot.lifecycle.resolving import Resolver
from bot.ports.clock import Clock
from bot.ports.pager import Pager
from bot.runtime.locks import KeyedLocks
from bot.store import InboundEvent, Store

__all__ = ["PagerSync"]

# the pager's events that may be the opening's own steps coming back (a note: the opening's channel note)
_ECHOED = {PagerEventKind.ACKNOWLEDGED: SetupStep.ACKNOWLEDGE, PagerEventKind.ANNOTATED: SetupStep.NOTE}


class PagerSync:
    def __init__(
        self,
        *,
        store: Store,
        slack: SlackGateway,
        pager: Pager,
        clock: Clock,
        locks: KeyedLocks,
        channel: IncidentChannel,
        opener: Opener,
        resolver: Resolver,
        incidents_channel: str,
    ) -> None:
        self.store = store
        self.slack = slack
        self.pager = pager
        self.clock = clock
        self.locks = locks
        self.channel = channel
        self.opener = opener
        self.resolver = resolver
        self.incidents_channel = incidents_channel

    def _actor(self, event: PagerEvent) -> str:
        """Who did it, for the timeline: `pagerduty:Dana Ortiz`, or the service alone."""
        return f"{self.pager.source}:{event.agent_name}" if event.agent_name else self.pager.source

    async def handle_page(self, event: PagerEvent) -> str:
        """Apply one event from the paging service. Returns Outcome.HANDLED or Outcome.IGNORED."""
        incident_id = event.incident_id
        if not event.known or incident_id is None:
            return Outcome.IGNORED
        source = self.pager.source
        if await self._own_echo(event, incident_id):
            return Outcome.IGNORED
        if event.agent_id:  # the person's name as people know it (OpsGenie's events give a username)
            event = replace(event, agent_name=await self.pager.display_name(event.agent_id, event.agent_name))
        key = event.incident.incident_key if event.incident is not None else None
        async with (
            self.locks.hold(declaration_lock(key)) if key is not None and declared(key) else contextlib.nullcontext(),
            self.locks.hold(f"{source}:{incident_id}"),
        ):
            incident = await self.store.incident_by_external(source, incident_id)
            kind = event.kind
            created = False
            if incident is None:
                if kind in (PagerEventKind.TRIGGERED, PagerEventKind.ACKNOWLEDGED) and event.incident is not None:
                    incident, created = await self._create(event, event.incident)
                else:
                    return Outcome.IGNORED  # nothing to follow: a note or resolution for an incident never opened
            fresh = OPENING if created else frozenset()
            if kind is PagerEventKind.TRIGGERED:
                if incident.is_open:
                    await self.opener.open(incident, begun_now=fresh)
            elif kind is PagerEventKind.ACKNOWLEDGED:
                await self._acknowledged(incident, event, begun_now=fresh)
            elif kind is PagerEventKind.RESOLVED:
                await self._resolved(incident, event)
            elif kind is PagerEventKind.REOPENED:
                await self._reopened(incident, event)
            elif kind is PagerEventKind.ANNOTATED:
                await self._annotated(incident, event)
            elif kind is PagerEventKind.PRIORITY_CHANGED and event.incident is not None:
                await self._priority(incident, event, event.incident)
            elif kind in (PagerEventKind.ESCALATED, PagerEventKind.REASSIGNED, PagerEventKind.UNACKNOWLEDGED):
                await self._record_only(incident, event)
            return Outcome.HANDLED

    async def _own_echo(self, event: PagerEvent, incident_id: str) -> bool:
        """Whether `event` is the opening's own acknowledgement or channel note coming back: set aside without the
        incident's lock (which the opening holds while they come back; on PostgreSQL a wait, a take and a release
        in the database each). Its step records it: the step was marked begun before it called the pager, and one
        cut off after the call is done again, finds it done there, and records it then."""
        step = _ECHOED.get(event.kind)
        if step is None or (step is SetupStep.ACKNOWLEDGE and not self.opener.acknowledges):
            return False  # (not acknowledging by itself, its own user's acknowledgement is recorded as it comes)
        if event.agent_id is None or event.agent_id != await self.pager.own_user_id():
            return False
        seen = await self.store.incident_by_external(self.pager.source, incident_id)
        if seen is None or seen.id is None:
            return False
        if step in seen.begun:  # its step is under way: it records what came back
            return step is SetupStep.ACKNOWLEDGE or messages.is_pager_channel_note(event.note_content or "")
        if step not in seen.steps:
            return False
        if step is SetupStep.ACKNOWLEDGE:  # recorded already (unless the incident is still waiting for one)
            return seen.phase is not Phase.TRIGGERED
        # the opening's note, recorded already (the bot's other notes are said after the opening: the usual way)
        return await self.store.has_ref(seen.id, note_ref(self.pager.source, event.note_id))

    async def _made_by(self, incident: Incident, event: PagerEvent) -> bool:
        """Whether `event` is the one the incident was made from (its first timeline event names it)."""
        assert incident.id is not None
        return await self.store.has_ref(incident.id, self._event_ref(event))

    def _event_ref(self, event: PagerEvent) -> str:
        return f"{self.pager.source}-event:{event.id}"

    async def _create(self, event: PagerEvent, data: PagedIncident) -> tuple[Incident, bool]:
        """The incident as stored, and whether this call stored it (with its first stage marked begun)."""
        now = self.clock.now()
        incident = Incident(
            source=self.pager.source,
            external_id=data.id,
            number=data.number,
            title=data.title,
            service=data.service_name,
            severity=data.severity,
            phase=Phase.TRIGGERED,
            urgency=data.urgency,
            html_url=data.html_url,
            escalation_policy_id=data.escalation_policy_id,
            triggered_at=data.created_at or event.occurred_at,
            begun=set(OPENING),
        )
        events = [
            record(
                Paged(data.service_name, str(incident.severity), data.urgency),
                at=incident.triggered_at,
                actor=self.pager.source,
                text=data.title,
                ref=self._event_ref(event),
            )
        ]
        if event.kind is PagerEventKind.ACKNOWLEDGED:
            incident.steps.add(SetupStep.ACKNOWLEDGE)
            events += transition(incident, Phase.ACKNOWLEDGED, at=event.occurred_at, actor=self._actor(event))
        if not await self.store.create_incident(incident, events, now=now):
            existing = await self.store.incident_by_external(self.pager.source, data.id)
            assert existing is not None
            return existing, False
        return incident, True

    async def _acknowledged(
        self, incident: Incident, event: PagerEvent, *, begun_now: frozenset[SetupStep] = frozenset()
    ) -> None:
        if incident.phase is not Phase.TRIGGERED:
            # first seen acknowledged (its trigger held back or lost): made so now, or by an earlier try of this very
            # event that did not finish opening it (Slack failing a moment): opened all the same, from where it is
            if begun_now or (
                incident.is_open and SetupStep.PROPOSE not in incident.steps and await self._made_by(incident, event)
            ):
                await self.opener.open(incident, begun_now=begun_now)
            return  # our own acknowledgement coming back, or an incident already past it
        # sre-agent's own acknowledgement, back before it was recorded here (it stopped in between, say): recorded as
        # its own and not announced as someone else's
        own = event.agent_id is not None and event.agent_id == await self.pager.own_user_id()
        actor = ACTOR_BOT if own else self._actor(event)
        events = transition(incident, Phase.ACKNOWLEDGED, at=event.occurred_at, actor=actor)
        incident.steps.add(SetupStep.ACKNOWLEDGE)
        await self.store.save_incident(incident, events, now=self.clock.now())
        await self.opener.open(incident, begun_now=begun_now)  # one first seen acknowledged still gets its channel
        await self.channel.refresh(incident)
        if not own:
            await self.channel.say(incident, messages.acknowledged_in_pager(event.agent_name, self.pager.name))

    async def _resolved(self, incident: Incident, event: PagerEvent) -> None:
        if not incident.is_open:
            return  # the echo of a resolution made from Slack
        events = transition(
            incident,
            Phase.RESOLVED,
            at=event.occurred_at,
            actor=self._actor(event),
            reason=f"Resolved in {self.pager.name}",
        )
        await self.store.save_incident(incident, events, now=self.clock.now())
        await self.resolver.closed(incident)
        await self.channel.refresh(incident)
        await self.channel.say(incident, messages.resolved_in_pager(event.agent_name, self.pager.name))

    async def _reopened(self, incident: Incident, event: PagerEvent) -> None:
        if incident.is_open:
            return
        events = transition(
            incident,
            Phase.TRIGGERED,
            at=event.occurred_at,
            actor=self._actor(event),
            reason=f"Reopened in {self.pager.name}",
        )
        incident.steps.discard(SetupStep.ACKNOWLEDGE)
        await self.store.save_incident(incident, events, now=self.clock.now())
        await self.channel.say(incident, messages.reopened_in_pager(event.agent_name, self.pager.name))
        await self.opener.open(incident)
        await self.channel.refresh(incident)

    async def _annotated(self, incident: Incident, event: PagerEvent) -> None:
        assert incident.id is not None
        ref = note_ref(self.pager.source, event.note_id)
        if await self.store.has_ref(incident.id, ref):
            return  # a note the bot wrote itself
        content = event.note_content or ""
        await self.store.append_events(
            incident,
            [
                record(
                    Plain(), kind=EventKind.NOTE, at=event.occurred_at, actor=self._actor(event), text=content, ref=ref
                )
            ],
        )
        await self.channel.say(incident, messages.note_from_pager(event.agent_name, content, self.pager.name))

    async def _priority(self, incident: Incident, event: PagerEvent, data: PagedIncident) -> None:
        events = change_severity(incident, data.severity, at=event.occurred_at, actor=self._actor(event))
        if not events:
            return
        await self.store.save_incident(incident, events, now=self.clock.now())
        await self.channel.refresh(incident)
        await self.channel.say(incident, messages.severity_changed(data.severity, event.agent_name, self.pager.name))

    async def _record_only(self, incident: Incident, event: PagerEvent) -> None:
        kind = EventKind.ESCALATED if event.kind is PagerEventKind.ESCALATED else EventKind.NOTE
        await self.store.append_events(
            incident,
            [
                record(
                    Plain(),
                    kind=kind,
                    at=event.occurred_at,
                    actor=self._actor(event),
                    text=event.event_type,
                    ref=self._event_ref(event),
                )
            ],
        )

    async def report_unhandled(self, event: InboundEvent, parsed: PagerEvent | None) -> None:
        """Tell the incidents channel that an accepted event failed every attempt, with the link to it."""
        data = parsed.incident if parsed is not None else None
        text = messages.page_not_handled(
            source=self.pager.name if event.source == self.pager.source else event.source,
            event_type=event.event_type,
            attempts=event.attempts,
            error=event.last_error or "unknown error",
            url=data.html_url if data is not None else None,
            what=(f"#{data.number} {data.title}" if data.number is not None else data.title) if data else None,
            inbound_id=event.id,
        )
        await self.slack.post(self.incidents_channel, text)
