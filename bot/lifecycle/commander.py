"""The commander: drives an incident's lifecycle. Handlers call it; it calls the ports (Slack, PagerDuty, store).

Events about one incident are handled under that incident's lock, in arrival order; different incidents run in
parallel. Opening an incident is a set of steps (acknowledge, channel, topic, invite, card, announce, note), each
recorded when done, so a retry or a restart finishes what is missing and repeats nothing.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, TypeVar

from blocks import findings as findings_blocks
from blocks import incident as incident_blocks
from blocks import messages
from blocks import triage as triage_blocks
from bot.adapters.slack.gateway import SlackGateway
from bot.domain.approval import Status as ProposalStatus
from bot.domain.catalog import Catalog
from bot.domain.events import (
    Asked,
    ChannelCreated,
    Diagnosed,
    Hypothesis,
    Paged,
    Plain,
    ResponderNotFound,
    RespondersInvited,
    Triaged,
    record,
)
from bot.domain.incident import Incident, SetupStep, change_severity, transition
from bot.domain.naming import channel_name
from bot.domain.pager import PagedIncident, PagerEvent, PagerEventKind
from bot.domain.phase import Phase
from bot.domain.severity import severity_from_pagerduty
from bot.domain.timeline import EventKind, TimelineEvent
from bot.domain.triage import blast_radius, signals_from_title
from bot.errors import DomainError, NotAnIncidentChannel, SlackError
from bot.lifecycle.delegation import Delegator
from bot.lifecycle.posting import Poster
from bot.ports.clock import Clock
from bot.ports.pager import Pager
from bot.runtime.locks import KeyedLocks
from bot.store import Store
from bot.store.store import InboundEvent

if TYPE_CHECKING:
    from bot.remediation import Remediator

log = logging.getLogger(__name__)
T = TypeVar("T")

ACTOR_BOT = "sre-agent"
CARD = "card"
ANNOUNCEMENT = "announcement"
TRIAGE = "triage"
FINDINGS = "findings"
OPENING = frozenset(SetupStep)  # marked begun in an incident's first write: no write of their own before each stage


@dataclass(frozen=True)
class CommanderConfig:
    incidents_channel: str
    auto_acknowledge: bool = True
    channel_prefix: str = "inc"


class Outcome:
    HANDLED = "handled"
    IGNORED = "ignored"




class Commander:
    def __init__(
        self,
        *,
        store: Store,
        slack: SlackGateway,
        pager: Pager,
        clock: Clock,
        config: CommanderConfig,
        catalog: Catalog | None = None,
        delegator: Delegator | None = None,
    ) -> None:
        self.store = store
        self.slack = slack
        self.pager = pager
        self.clock = clock
        self.config = config
        self.catalog = catalog or Catalog()
        self.delegator = delegator
        self.remediator: Remediator | None = None  # set by create_app: it needs the commander itself
        self.locks = KeyedLocks()
        self.poster = Poster(store, slack, clock)

    # PagerDuty -> Slack ------------------------------------------------------------------------------

    def _actor(self, event: PagerEvent) -> str:
        """Who did it, for the timeline: `pagerduty:Dana Ortiz`, or the service alone."""
        return f"{self.pager.source}:{event.agent_name}" if event.agent_name else self.pager.source

    async def handle_page(self, event: PagerEvent) -> str:
        """Apply one event from the paging service. Returns Outcome.HANDLED or Outcome.IGNORED."""
        if not event.known or event.incident_id is None:
            return Outcome.IGNORED
        source = self.pager.source
        async with self.locks.hold(f"{source}:{event.incident_id}"):
            incident = await self.store.incident_by_external(source, event.incident_id)
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
                    await self._open(incident, begun_now=fresh)
            elif kind is PagerEventKind.ACKNOWLEDGED:
                await self._acknowledged_in_pager(incident, event, begun_now=fresh)
            elif kind is PagerEventKind.RESOLVED:
                await self._resolved_in_pager(incident, event)
            elif kind is PagerEventKind.REOPENED:
                await self._reopened_in_pager(incident, event)
            elif kind is PagerEventKind.ANNOTATED:
                await self._annotated_in_pager(incident, event)
            elif kind is PagerEventKind.PRIORITY_CHANGED and event.incident is not None:
                await self._priority_in_pager(incident, event, event.incident)
            elif kind in (PagerEventKind.ESCALATED, PagerEventKind.REASSIGNED, PagerEventKind.UNACKNOWLEDGED):
                await self._record_only(incident, event)
            return Outcome.HANDLED

    async def _create(self, event: PagerEvent, data: PagedIncident) -> tuple[Incident, bool]:
        """The incident as stored, and whether this call stored it (with its first stage marked begun)."""
        now = self.clock.now()
        incident = Incident(
            source=self.pager.source,
            external_id=data.id,
            number=data.number,
            title=data.title,
            service=data.service_name,
            severity=severity_from_pagerduty(data.priority, data.urgency),
            phase=Phase.TRIGGERED,
            urgency=data.urgency,
            html_url=data.html_url,
            escalation_policy_id=data.escalation_policy_id,
            triggered_at=data.created_at or event.occurred_at,
            begun=set(OPENING),
        )
        events = [
            record(Paged(data.service_name, str(incident.severity), data.urgency), at=incident.triggered_at,
                   actor=self.pager.source, text=data.title, ref=f"{self.pager.source}-event:{event.id}")
        ]
        if event.kind is PagerEventKind.ACKNOWLEDGED:
            incident.steps.add(SetupStep.ACKNOWLEDGE)
            events += transition(incident, Phase.ACKNOWLEDGED, at=event.occurred_at, actor=self._actor(event))
        if not await self.store.create_incident(incident, events, now=now):
            existing = await self.store.incident_by_external(self.pager.source, data.id)
            assert existing is not None
            return existing, False
        return incident, True

    async def _open(self, incident: Incident, *, begun_now: frozenset[SetupStep] = frozenset()) -> None:
        """Do the opening steps not done yet, stage by stage; save what succeeded even when one fails, then re-raise.

        Every step is on record as begun before it runs (a new incident's first write marks them all; an older
        row's are saved before their stage): a step begun before this attempt may have been carried out by a
        process that died before recording it, so it first looks whether it was (the channel, the message, the
        acknowledgement, the note) and adopts what it finds. `begun_now`: steps marked begun by this attempt itself
        (with the incident's first write), not before it."""
        events: list[TimelineEvent] = []
        marked = set(begun_now)
        errors: list[BaseException] = []
        if incident.source != self.pager.source:  # declared in Slack, not paged: nothing to acknowledge there
            incident.steps |= {SetupStep.ACKNOWLEDGE, SetupStep.NOTE}
        first: dict[SetupStep, Callable[[bool], Awaitable[None]]] = {}
        if (
            SetupStep.ACKNOWLEDGE not in incident.steps
            and self.config.auto_acknowledge
            and incident.phase is Phase.TRIGGERED
        ):
            first[SetupStep.ACKNOWLEDGE] = lambda again: self._acknowledge(incident, events, again)
        if SetupStep.CHANNEL not in incident.steps:
            first[SetupStep.CHANNEL] = lambda again: self._channel(incident, events, again)
        errors += await self._stage(incident, events, marked, first)
        if incident.channel_id is not None:
            missing: list[str] = []
            second: dict[SetupStep, Callable[[bool], Awaitable[None]]] = {
                SetupStep.CARD: lambda again: self._post_card(incident, events, again),
                SetupStep.TOPIC: lambda again: self._set_topic(incident),
                SetupStep.INVITE: lambda again: self._invite(incident, events, missing),
                SetupStep.ANNOUNCE: lambda again: self._announce(incident, events, again),
                SetupStep.NOTE: lambda again: self._note(incident, events, again),
            }
            errors += await self._stage(incident, events, marked, second)
            if events:  # the channel and the card on record before the agents are asked (that takes a while)
                await self.store.save_incident(incident, events, now=self.clock.now())
                events.clear()
            if SetupStep.CARD in incident.steps:
                errors += await self._stage(incident, events, marked, {
                    SetupStep.TRIAGE: lambda again: self._triage(incident, events, again)})
            if SetupStep.TRIAGE in incident.steps:
                errors += await self._stage(incident, events, marked, {
                    SetupStep.DIAGNOSE: lambda again: self._diagnose(incident, events, again)})
            if SetupStep.DIAGNOSE in incident.steps:
                errors += await self._stage(incident, events, marked, {
                    SetupStep.PROPOSE: lambda again: self._propose(incident, events, again)})
            if missing:
                errors += await _gather([self.say(incident, messages.not_found(missing))])
        await self.store.save_incident(incident, events, now=self.clock.now())
        if errors:
            raise errors[0]

    async def resume_opening(self) -> None:
        """At start: finish opening every open incident whose opening a stop cut short (a page's event is taken up
        again by the intake too; a declared incident has only this), each under its lock, whatever step it was."""
        for listed in await self.store.incidents(open_only=True):
            if SetupStep.PROPOSE in listed.steps:
                continue
            async with self.locks.hold(listed.key):
                incident = await self.store.incident(listed.id) if listed.id is not None else None
                if incident is None or not incident.is_open or SetupStep.PROPOSE in incident.steps:
                    continue
                try:
                    await self._open(incident)
                except Exception as exc:  # noqa: BLE001 - one incident's trouble must not keep the others waiting
                    log.warning("could not finish opening %s: %s", incident.key, exc)

    async def _stage(
        self,
        incident: Incident,
        events: list[TimelineEvent],
        marked: set[SetupStep],
        steps: dict[SetupStep, Callable[[bool], Awaitable[None]]],
    ) -> list[BaseException]:
        """Run the steps of one stage that are not done, at once: saved as begun first (with `events` so far).
        `marked`: the steps this attempt marked begun itself; a step begun before it is done `again`."""
        todo = {step: run for step, run in steps.items() if step not in incident.steps}
        if not todo:
            return []
        again = {step: step in incident.begun and step not in marked for step in todo}
        if not todo.keys() <= incident.begun:
            incident.begun |= todo.keys()
            await self.store.save_incident(incident, events, now=self.clock.now())
            events.clear()
        marked |= todo.keys()
        return await _gather([run(again[step]) for step, run in todo.items()])

    async def _acknowledge(self, incident: Incident, events: list[TimelineEvent], again: bool) -> None:
        if not again or await self.pager.status(incident.external_id) == "triggered":
            await self.pager.acknowledge(incident.external_id)
        incident.steps.add(SetupStep.ACKNOWLEDGE)
        if incident.phase is Phase.TRIGGERED:
            events.extend(transition(incident, Phase.ACKNOWLEDGED, at=self.clock.now(), actor=ACTOR_BOT))

    async def _channel(self, incident: Incident, events: list[TimelineEvent], again: bool) -> None:
        number = incident.number if incident.number is not None else incident.id
        wanted = channel_name(number, incident.service, prefix=self.config.channel_prefix)
        incident.channel_id, incident.channel_name = await self.slack.create_channel(
            wanted, adoptable=self._unclaimed_channel if again else None
        )
        incident.steps.add(SetupStep.CHANNEL)
        events.append(record(ChannelCreated(incident.channel_id), at=self.clock.now(), actor=ACTOR_BOT,
                             text=f"#{incident.channel_name}"))

    async def _unclaimed_channel(self, channel_id: str) -> bool:
        """A channel the bot made that no incident has: the one a crash kept from being recorded."""
        return await self.store.incident_by_channel(channel_id) is None

    async def _post_card(self, incident: Incident, events: list[TimelineEvent], again: bool) -> None:
        assert incident.channel_id
        ts = await self.poster.post_once(
            incident, CARD, incident.channel_id, incident_blocks.card_text(incident),
            incident_blocks.incident_card(incident), again=again,
        )
        incident.steps.add(SetupStep.CARD)
        events.append(record(Plain(), kind=EventKind.CARD_POSTED, at=self.clock.now(), actor=ACTOR_BOT, ref=ts))

    async def _triage(self, incident: Incident, events: list[TimelineEvent], again: bool) -> None:
        """The blast radius, said in the channel under the card."""
        assert incident.channel_id
        radius = blast_radius(incident.service, self.catalog, signals_from_title(incident.title))
        text = triage_blocks.triage_text(incident, radius)
        ts = await self.poster.post_once(
            incident, TRIAGE, incident.channel_id, text, triage_blocks.triage_blocks(incident, radius), again=again
        )
        incident.steps.add(SetupStep.TRIAGE)
        triaged = Triaged(tuple(radius.dependents), tuple(radius.user_facing), radius.users, str(radius.suggested),
                          tuple(radius.reasons), radius.slo, radius.known)
        events.append(record(triaged, at=self.clock.now(), actor=ACTOR_BOT, text=f"suggested {radius.suggested}",
                             ref=ts))

    async def _diagnose(self, incident: Incident, events: list[TimelineEvent], again: bool) -> None:
        """Ask the agents, post the findings, and list every question and answer in the thread under them."""
        assert incident.channel_id
        if self.delegator is None or not self.delegator.configured:
            incident.steps.add(SetupStep.DIAGNOSE)  # nobody to ask: triage from the catalog is all there is
            return
        found = await self.delegator.diagnose(incident)
        text = findings_blocks.findings_text(incident.service, found.evidence, found.hypotheses)
        ts = await self.poster.post_once(
            incident, FINDINGS, incident.channel_id, text,
            findings_blocks.findings_blocks(incident.service, found.evidence, found.hypotheses), again=again,
        )
        for n, item in enumerate(found.evidence, start=1):
            await self.poster.post_once(
                incident, f"{FINDINGS}.{n}", incident.channel_id, findings_blocks.exchange_text(item),
                thread_ts=ts, again=again,
            )
        incident.steps.add(SetupStep.DIAGNOSE)
        diagnosed = Diagnosed(
            str(found.symptom),
            tuple(Hypothesis(h.text, h.confidence, tuple(h.cites), tuple(h.recommendations)) for h in found.hypotheses),
            tuple(Asked(e.agent, str(e.role), str(e.outcome), e.duration_ms, e.reason) for e in found.evidence),
        )
        events.append(record(diagnosed, at=self.clock.now(), actor=ACTOR_BOT, ref=ts,
                             text=found.hypotheses[0].text if found.hypotheses else "no cause found"))

    async def _propose(self, incident: Incident, events: list[TimelineEvent], again: bool) -> None:
        """The first proposal from the runbooks, or a plain request for help when none applies. Only where agents
        were asked: without them there is nothing to match. After a crash, a proposal made and not yet shown (or
        shown and not recorded) is the one finished."""
        assert incident.id is not None
        asked = self.delegator is not None and self.delegator.configured
        if asked and self.remediator is not None and incident.is_open:
            proposals = await self.store.proposals(incident.id)
            if not proposals or (again and any(p.status is ProposalStatus.PROPOSED for p in proposals)):
                phase = incident.phase
                await self.remediator.propose_next(incident, events, again=again)
                if incident.phase is not phase:
                    await self.refresh(incident)
        incident.steps.add(SetupStep.PROPOSE)

    async def _set_topic(self, incident: Incident) -> None:
        assert incident.channel_id
        await self.slack.set_topic(incident.channel_id, incident_blocks.topic(incident))
        incident.steps.add(SetupStep.TOPIC)

    async def _invite(self, incident: Incident, events: list[TimelineEvent], missing: list[str]) -> None:
        assert incident.channel_id
        if not incident.escalation_policy_id:
            incident.steps.add(SetupStep.INVITE)
            return
        people = await self.pager.oncalls(incident.escalation_policy_id, level=1)
        found = await self.slack.lookup_users([p.email for p in people])
        invited = [user for user in found if user]
        await self.slack.invite(incident.channel_id, invited)
        now = self.clock.now()
        if invited:
            events.append(record(RespondersInvited(tuple(invited)), at=now, actor=ACTOR_BOT,
                                 text=", ".join(p.name for p, u in zip(people, found, strict=True) if u)))
        for person, user in zip(people, found, strict=True):
            if not user:
                label = f"{person.name} ({person.email or 'no e-mail in PagerDuty'}), on call at level {person.level}"
                missing.append(label)
                events.append(record(ResponderNotFound(person.email, person.user_id), at=now, actor=ACTOR_BOT,
                                     text=label))
        incident.steps.add(SetupStep.INVITE)

    async def _announce(self, incident: Incident, events: list[TimelineEvent], again: bool) -> None:
        assert incident.channel_id and incident.id is not None
        text, blocks = incident_blocks.announcement(incident)
        try:
            ts = await self.poster.post_once(
                incident, ANNOUNCEMENT, self.config.incidents_channel, text, blocks, again=again
            )
        except SlackError as exc:
            # A misconfigured incidents channel must not hold the incident up: say so where people are.
            await self.slack.post(incident.channel_id, messages.announce_failed(self.config.incidents_channel, exc))
            incident.steps.add(SetupStep.ANNOUNCE)
            return
        incident.steps.add(SetupStep.ANNOUNCE)
        events.append(record(Plain(), kind=EventKind.ANNOUNCED, at=self.clock.now(), actor=ACTOR_BOT, ref=ts))

    async def _note(self, incident: Incident, events: list[TimelineEvent], again: bool) -> None:
        content = messages.pagerduty_channel_note(incident)
        note_id = await self.pager.note_with(incident.external_id, content) if again else None
        if note_id is None:
            note_id = await self.pager.add_note(incident.external_id, content)
        incident.steps.add(SetupStep.NOTE)
        events.append(record(Plain(), kind=EventKind.PAGERDUTY_NOTE, at=self.clock.now(), actor=ACTOR_BOT,
                             text=content, ref=f"{self.pager.source}-note:{note_id}"))

    async def _acknowledged_in_pager(
        self, incident: Incident, event: PagerEvent, *, begun_now: frozenset[SetupStep] = frozenset()
    ) -> None:
        if incident.phase is not Phase.TRIGGERED:
            return  # our own acknowledgement coming back, or an incident already past it
        events = transition(incident, Phase.ACKNOWLEDGED, at=event.occurred_at, actor=self._actor(event))
        incident.steps.add(SetupStep.ACKNOWLEDGE)
        await self.store.save_incident(incident, events, now=self.clock.now())
        await self._open(incident, begun_now=begun_now)  # an incident first seen acknowledged still gets its channel
        await self.refresh(incident)
        await self.say(incident, messages.acknowledged_in_pagerduty(event.agent_name))

    async def _resolved_in_pager(self, incident: Incident, event: PagerEvent) -> None:
        if not incident.is_open:
            return  # the echo of a resolution made from Slack
        events = transition(
            incident, Phase.RESOLVED, at=event.occurred_at, actor=self._actor(event),
            reason=f"Resolved in {self.pager.name}",
        )
        await self.store.save_incident(incident, events, now=self.clock.now())
        await self._withdraw_proposals(incident)
        await self.refresh(incident)
        await self.say(incident, messages.resolved_in_pagerduty(event.agent_name))

    async def _reopened_in_pager(self, incident: Incident, event: PagerEvent) -> None:
        if incident.is_open:
            return
        events = transition(
            incident, Phase.TRIGGERED, at=event.occurred_at, actor=self._actor(event),
            reason=f"Reopened in {self.pager.name}",
        )
        incident.steps.discard(SetupStep.ACKNOWLEDGE)
        await self.store.save_incident(incident, events, now=self.clock.now())
        await self.say(incident, messages.reopened_in_pagerduty(event.agent_name))
        await self._open(incident)
        await self.refresh(incident)

    async def _annotated_in_pager(self, incident: Incident, event: PagerEvent) -> None:
        assert incident.id is not None
        ref = f"{self.pager.source}-note:{event.note_id}"
        if await self.store.has_ref(incident.id, ref):
            return  # a note the bot wrote itself
        content = event.note_content or ""
        await self.store.append_events(
            incident,
            [record(Plain(), kind=EventKind.NOTE, at=event.occurred_at, actor=self._actor(event), text=content,
                    ref=ref)],
        )
        await self.say(incident, messages.note_from_pagerduty(event.agent_name, content))

    async def _priority_in_pager(self, incident: Incident, event: PagerEvent, data: PagedIncident) -> None:
        severity = severity_from_pagerduty(data.priority, data.urgency)
        events = change_severity(incident, severity, at=event.occurred_at, actor=self._actor(event))
        if not events:
            return
        await self.store.save_incident(incident, events, now=self.clock.now())
        await self.refresh(incident)
        await self.say(incident, messages.severity_changed(severity, event.agent_name))

    async def _record_only(self, incident: Incident, event: PagerEvent) -> None:
        kind = EventKind.ESCALATED if event.kind is PagerEventKind.ESCALATED else EventKind.NOTE
        await self.store.append_events(
            incident,
            [record(Plain(), kind=kind, at=event.occurred_at, actor=self._actor(event), text=event.event_type,
                    ref=f"{self.pager.source}-event:{event.id}")],
        )

    # Slack -> PagerDuty ------------------------------------------------------------------------------

    async def open_declared(self, incident: Incident, events: list[TimelineEvent]) -> Incident:
        """Store an incident a person declared and open it like a paged one (channel, invites, card, announcement).
        If PagerDuty's webhook for the same incident got here first, that incident is the one opened."""
        async with self.locks.hold(incident.key):
            incident.begun |= OPENING
            begun_now = OPENING
            if not await self.store.create_incident(incident, events, now=self.clock.now()):
                begun_now = frozenset()
                existing = await self.store.incident_by_external(incident.source, incident.external_id)
                assert existing is not None
                existing.commander = existing.commander or incident.commander
                existing.steps.add(SetupStep.ACKNOWLEDGE)  # whoever declares it wants the on-call paged, not acked
                severity = change_severity(existing, incident.severity, at=self.clock.now(), actor=events[0].actor)
                await self.store.save_incident(existing, severity, now=self.clock.now())
                incident = existing
            await self._open(incident, begun_now=begun_now)
            return incident

    async def incident_for_channel(self, channel_id: str) -> Incident:
        incident = await self.store.incident_by_channel(channel_id)
        if incident is None:
            raise NotAnIncidentChannel(
                f"channel {channel_id} is not an incident channel",
                user_message="This works in an incident channel, and this channel is not one.",
            )
        return incident

    async def resolve(self, incident_id: int, *, user_id: str | None, summary: str) -> Incident:
        """Resolve from Slack: PagerDuty first (so nothing changes here if it refuses), then the store and Slack."""
        incident = await self.store.incident(incident_id)
        if incident is None:
            raise DomainError(f"no incident {incident_id}", user_message="That incident no longer exists.")
        async with self.locks.hold(incident.key):
            incident = await self.store.incident(incident_id)
            assert incident is not None
            if not incident.is_open:
                raise DomainError(
                    f"{incident.key} is {incident.phase}",
                    user_message=f"{incident.label} is already {incident.phase.label.lower()}.",
                )
            actor = f"slack:{user_id}" if user_id else ACTOR_BOT
            events = transition(incident, Phase.RESOLVED, at=self.clock.now(), actor=actor, reason=summary)
            if incident.source == self.pager.source:
                await self.pager.resolve(incident.external_id, summary or None)
            await self.store.save_incident(incident, events, now=self.clock.now())
            await self._withdraw_proposals(incident)
            await self.refresh(incident)
            await self.say(incident, messages.resolved_by(user_id, summary))
            return incident

    async def _withdraw_proposals(self, incident: Incident) -> None:
        """A resolved incident's open proposals stop counting, and their messages say so at once."""
        if self.remediator is not None:
            await self.remediator.withdraw(incident)

    # Slack output --------------------------------------------------------------------------------------

    async def refresh(self, incident: Incident) -> None:
        """Redraw the card and the announcement so they show the incident as it is now."""
        assert incident.id is not None
        card = await self.store.message_ref(incident.id, CARD)
        if card:
            await self.slack.update(
                card[0], card[1], incident_blocks.card_text(incident), incident_blocks.incident_card(incident)
            )
        announced = await self.store.message_ref(incident.id, ANNOUNCEMENT)
        if announced:
            text, blocks = incident_blocks.announcement(incident)
            try:
                await self.slack.update(announced[0], announced[1], text, blocks)
            except SlackError as exc:
                log.warning("could not update the announcement of %s: %s", incident.key, exc.error)

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
        await self.slack.post(self.config.incidents_channel, text)

    async def say(self, incident: Incident, text: str) -> None:
        if incident.channel_id:
            await self.slack.post(incident.channel_id, text)


async def _gather(steps: list[Awaitable[None]]) -> list[BaseException]:
    results = await asyncio.gather(*steps, return_exceptions=True)
    failures = [r for r in results if isinstance(r, BaseException)]
    for failure in failures:
        log.warning("incident step failed: %s", failure)
    return failures
