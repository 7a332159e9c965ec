"""Opening an incident: the setup steps (bot/lifecycle/setup.py) in stages, each step recorded when done, so that a
retry or a restart finishes what is missing and repeats nothing.

Events about one incident are handled under that incident's lock, in arrival order; different incidents run in
parallel. Every step is on record as begun before it runs (a new incident's first write marks them all; an older
row's are saved before their stage): a step begun before this attempt may have been carried out by a process that
died before recording it, so it first looks whether it was (the channel, the message, the acknowledgement, the
note) and adopts what it finds.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Protocol

from blocks import messages
from bot.adapters.slack.pacing import urgency
from bot.domain.incident import Incident, SetupStep, change_severity
from bot.domain.phase import Phase
from bot.domain.timeline import TimelineEvent
from bot.errors import UpstreamError
from bot.lifecycle.channel import IncidentChannel
from bot.lifecycle.delegation import Findings
from bot.lifecycle.setup import Invitations, SetupSteps
from bot.ports.clock import Clock
from bot.ports.pager import Pager
from bot.runtime.locks import KeyedLocks
from bot.store import Store

__all__ = ["OPENING", "Opener"]

log = logging.getLogger(__name__)

ACK_FAILED = "acknowledge-failed"  # the purpose of the message that says the pager would not acknowledge
OPENING = frozenset(SetupStep)  # marked begun in an incident's first write: no write of their own before each stage
Step = Callable[[bool], Awaitable[None]]  # run a step; True: it was begun before (look for what it did)


class Watch(Protocol):
    async def arm(self, incident: Incident) -> None: ...


class Opener:
    def __init__(
        self,
        *,
        store: Store,
        pager: Pager,
        clock: Clock,
        locks: KeyedLocks,
        channel: IncidentChannel,
        steps: SetupSteps,
    ) -> None:
        self.store = store
        self.pager = pager
        self.clock = clock
        self.locks = locks
        self.channel = channel
        self.steps = steps
        self.watch: Watch | None = None  # sets the timer that escalates a page nobody takes (wired after)

    @property
    def acknowledges(self) -> bool:
        """Whether the opening acknowledges the page on the pager by itself."""
        return self.steps.config.auto_acknowledge

    async def open(
        self, incident: Incident, *, begun_now: frozenset[SetupStep] = frozenset(), findings: Findings | None = None
    ) -> None:
        """Do the opening steps not done yet, stage by stage; save what succeeded even when one fails, then re-raise.
        The caller holds the incident's lock. `begun_now`: steps marked begun by this attempt itself (with the
        incident's first write), not before it. `findings`: what the agents said already (else they are asked).
        While Slack rate-limits the bot, the most severe incident's calls go first."""
        with urgency(incident.severity.rank):
            await self._open(incident, begun_now, findings)

    async def _open(self, incident: Incident, begun_now: frozenset[SetupStep], findings: Findings | None) -> None:
        events: list[TimelineEvent] = []
        marked = set(begun_now)
        errors: list[BaseException] = []
        steps = self.steps
        if self.watch is not None:
            await self.watch.arm(incident)
        if incident.source != self.pager.source:  # declared in Slack, not paged: nothing to acknowledge there
            incident.steps |= {SetupStep.ACKNOWLEDGE, SetupStep.NOTE}
        first: dict[SetupStep, Step] = {}
        refused: list[UpstreamError] = []  # the pager's refusal to acknowledge, said in the channel once it is there

        async def acknowledge(again: bool) -> None:
            try:
                await steps.acknowledge(incident, events, again)
            except UpstreamError as exc:
                refused.append(exc)
                raise

        if SetupStep.ACKNOWLEDGE not in incident.steps and self.acknowledges and incident.phase is Phase.TRIGGERED:
            first[SetupStep.ACKNOWLEDGE] = acknowledge
        if SetupStep.CHANNEL not in incident.steps:
            first[SetupStep.CHANNEL] = lambda again: steps.create_channel(incident, events, again)
        errors += await self._stage(incident, events, marked, first)
        if incident.channel_id is not None:
            invitations = Invitations()
            second: dict[SetupStep, Step] = {
                SetupStep.CARD: lambda again: steps.post_card(incident, events, again),
                SetupStep.TOPIC: lambda again: steps.set_topic(incident),
                SetupStep.INVITE: lambda again: steps.invite(incident, invitations, again),
                SetupStep.ANNOUNCE: lambda again: steps.announce(incident, events, again),
                SetupStep.NOTE: lambda again: steps.note(incident, events, again),
            }
            errors += await self._stage(incident, events, marked, second)
            errors += await _gather([steps.invited(incident, invitations, events)])
            if events:  # the channel and the card on record before the agents are asked (that takes a while)
                await self.store.save_incident(incident, events, now=self.clock.now())
                events.clear()
            if SetupStep.CARD in incident.steps:
                errors += await self._stage(
                    incident, events, marked, {SetupStep.TRIAGE: lambda again: steps.triage(incident, events, again)}
                )
            if SetupStep.TRIAGE in incident.steps:
                errors += await self._stage(
                    incident,
                    events,
                    marked,
                    {SetupStep.DIAGNOSE: lambda again: steps.diagnose(incident, events, again, findings)},
                )
            if SetupStep.DIAGNOSE in incident.steps:
                errors += await self._stage(
                    incident, events, marked, {SetupStep.PROPOSE: lambda again: steps.propose(incident, events, again)}
                )
            if refused:  # once for the incident, however often the event is tried again
                text = messages.acknowledge_failed(refused[0], self.pager.name)
                errors += await _gather(
                    [steps.poster.post_once(incident, ACK_FAILED, incident.channel_id, text, again=True)]
                )
        await self.store.save_incident(incident, events, now=self.clock.now())
        if errors:
            raise errors[0]

    async def resume(self) -> None:
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
                    await self.open(incident)
                except Exception as exc:  # noqa: BLE001 - one incident's trouble must not keep the others waiting
                    log.warning("could not finish opening %s: %s", incident.key, exc)

    async def open_declared(
        self, incident: Incident, events: list[TimelineEvent], *, findings: Findings | None = None
    ) -> Incident:
        """Store an incident a person declared and open it like a paged one (channel, invites, card, announcement).
        If the pager's webhook for the same incident got here first, that incident is the one opened."""
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
            await self.open(incident, begun_now=begun_now, findings=findings)
            return incident

    async def _stage(
        self,
        incident: Incident,
        events: list[TimelineEvent],
        marked: set[SetupStep],
        steps: dict[SetupStep, Step],
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


async def _gather(steps: list[Awaitable[object]]) -> list[BaseException]:
    results = await asyncio.gather(*steps, return_exceptions=True)
    failures = [r for r in results if isinstance(r, BaseException)]
    for failure in failures:
        log.warning("incident step failed: %s", failure)
    return failures
