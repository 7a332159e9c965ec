"""Verifying a fix: the runbook's signal (and any it is verified with) is asked again on its interval (a chain of
durable timers, each carrying the readings so far) until it holds below the threshold for the whole window, or can no
longer. It is asked of the agents that can see it: those that reported it when the incident was diagnosed, then, for
what they cannot say, the agent that made the change and the role that usually reports it. Held: said in the channel,
and the incident resolved (or a Resolve button offered). Not held: a failure (bot/remediation/failing.py). Never read
by anyone: unknown, said as such, and the people on call decide.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from blocks import messages
from blocks import proposals as proposal_blocks
from blocks import remediation as words
from bot.adapters.slack.gateway import SlackGateway
from bot.domain.approval import Proposal
from bot.domain.events import Checked, payload_of, record
from bot.domain.incident import Incident
from bot.domain.runbooks import Runbook, Verification
from bot.domain.signals import merge
from bot.domain.status_page import PublicPhase
from bot.domain.timeline import ACTOR_BOT, EventKind, TimelineEvent
from bot.domain.verification import Progress, Verdict, check, reading, shown_value
from bot.errors import SreAgentError
from bot.lifecycle.delegation import Delegator
from bot.lifecycle.resolving import Resolver
from bot.lifecycle.updates import StakeholderUpdates
from bot.ports.clock import Clock
from bot.ports.status_page import PublicPhases
from bot.remediation.board import shown
from bot.remediation.config import VERIFY, RemediationConfig
from bot.remediation.failing import Failures
from bot.remediation.proposing import Stances
from bot.runtime.locks import KeyedLocks
from bot.runtime.scheduler import Scheduler
from bot.store import Store, Timer

__all__ = ["Verifier", "checked"]

log = logging.getLogger(__name__)

MAX_READINGS = 40


def checked(timeline: list[TimelineEvent], proposal_id: int) -> bool:
    """Whether the verification of this proposal has ended (the fix held, or it did not)."""
    return any(
        e.kind in Checked.KINDS and isinstance(p := payload_of(e), Checked) and p.proposal == proposal_id
        for e in timeline
    )


class Verifier:
    def __init__(
        self,
        *,
        store: Store,
        slack: SlackGateway,
        clock: Clock,
        locks: KeyedLocks,
        delegator: Delegator,
        scheduler: Scheduler,
        runbooks: Mapping[str, Runbook],
        failures: Failures,
        resolver: Resolver,
        config: RemediationConfig,
        budgets: Stances,
        updates: StakeholderUpdates | None = None,
        public: PublicPhases | None = None,
    ) -> None:
        self.public = public
        self.updates = updates
        self.budgets = budgets
        self.store = store
        self.slack = slack
        self.clock = clock
        self.locks = locks
        self.delegator = delegator
        self.scheduler = scheduler
        self.runbooks = runbooks
        self.failures = failures
        self.resolver = resolver
        self.config = config

    async def check_after(
        self,
        incident: Incident,
        proposal_id: int,
        interval_s: float,
        now: datetime,
        payload: dict[str, Any] | None = None,
    ) -> None:
        """Arm the next verification check (a durable timer), once: a check fired again (its process died while it
        ran) finds its successor armed by the same key. The first: the public page may hear a fix is being watched."""
        if payload is None and self.public is not None:
            await self.public.moved(incident, PublicPhase.MONITORING)
        payload = payload or {
            "proposal": proposal_id,
            "started_at": now.isoformat(),
            "good_since": None,
            "checks": 0,
            "readings": [],
        }
        key = f"verify:{proposal_id}:{payload['started_at']}:{payload['checks']}"
        await self.scheduler.at(
            VERIFY, now + timedelta(seconds=interval_s), incident_id=incident.id, payload=payload, key=key
        )

    async def on_timer(self, timer: Timer) -> None:
        try:
            await self.verify(timer)
        except SreAgentError as exc:
            log.warning("%s timer %s: %s", timer.kind, timer.id, exc)

    async def verify(self, timer: Timer) -> None:
        """One check of a fix: read the runbook's signal again and decide whether it held, failed or needs time."""
        proposal = await self.store.proposal(int(timer.payload["proposal"]))
        if proposal is None:
            return
        incident = await self.store.incident(proposal.incident_id)
        runbook = self.runbooks.get(proposal.plan.runbook)
        if incident is None or not incident.is_open or runbook is None or runbook.verification is None:
            return
        if checked(await self.store.timeline(proposal.incident_id), proposal.id):
            return  # this check was fired again after its verdict was written
        v = runbook.verification
        wanted = (v.signal, *(name for name, _ in v.also))
        delegate = self.delegator.agent_for(runbook.delegate) if runbook.delegate else None
        first, then = await self.delegator.who_can_see(incident, wanted, [delegate] if delegate else [])
        said = " and ".join(w.replace("_", " ") for w in wanted)
        instruction = f"Is {said} of {incident.service} back to normal? Report the current values."
        agents = list(first)
        try:
            signals = await self.delegator.read(incident, first, instruction, wanted) if first else None
            missing = tuple(w for w in wanted if signals is None or reading(signals, w) is None)
            if missing and then:  # what those who reported it cannot say now, asked of the others who may
                agents += then
                more = await self.delegator.read(incident, then, instruction, missing)
                signals = merge([s for s in (signals, more) if s is not None]) if more is not None else signals
        except Exception:  # a check that cannot read counts as unknown; the chain of checks goes on
            log.exception("verification check of proposal %s could not read %s", proposal.id, said)
            signals = None
        value = reading(signals, v.signal) if signals is not None else None
        also = tuple(reading(signals, name) if signals is not None else None for name, _ in v.also)
        payload = timer.payload
        progress = Progress(
            datetime.fromisoformat(payload["started_at"]),
            datetime.fromisoformat(payload["good_since"]) if payload.get("good_since") else None,
            checks=int(payload.get("checks", 0)),
            known=int(payload.get("known", payload.get("checks", 0))),
        )
        now = self.clock.now()
        verdict, progress = check(v, progress, value, now, also=also)
        shown_reading: dict[str, Any] = {"at": now.isoformat(), "value": value}
        if v.also:
            shown_reading["also"] = dict(zip([n for n, _ in v.also], also, strict=True))
        readings = [*payload.get("readings", []), shown_reading][-MAX_READINGS:]
        if verdict is Verdict.WAITING:
            await self.check_after(
                incident,
                proposal.id,
                v.interval_s,
                now,
                {
                    **payload,
                    "good_since": progress.good_since.isoformat() if progress.good_since else None,
                    "checks": progress.checks,
                    "known": progress.known,
                    "readings": readings,
                },
            )
            return
        current = await self.store.incident(incident.id) if incident.id is not None else None
        if current is None or not current.is_open:
            return  # resolved while the agent was asked: nothing more to say about the fix
        if verdict is Verdict.HOLDS:
            await self._verified(incident, proposal, v, value, readings)
        elif verdict is Verdict.UNKNOWN:
            await self._unknown(incident, proposal, v, [a.name for a in agents], readings)
        else:
            what = f"{v.signal} is {shown_value(v.signal, value)}, not below {shown_value(v.signal, v.below)}"
            await self._checked(
                incident, proposal, EventKind.VERIFICATION_FAILED, readings, f"{what} for {v.window_s:g} s"
            )
            if self.updates is not None:
                outcome = f"not verified: {what} for {v.window_s:g} s"
                await self.updates.publish(incident, messages.pager_remediation(proposal.plan.action, outcome))
            await self.failures.failed(incident, words.not_fixed(proposal.plan.action, v, value))

    async def _checked(
        self, incident: Incident, proposal: Proposal, kind: EventKind, readings: list[dict[str, Any]], text: str
    ) -> None:
        """The verification's end, on the timeline (under the incident's lock)."""
        async with self.locks.hold(incident.key):
            event = record(
                Checked(proposal.id, proposal.plan_hash, tuple(readings)),
                kind=kind,
                at=self.clock.now(),
                actor=ACTOR_BOT,
                text=text,
            )
            await self.store.append_events(incident, [event])

    async def _unknown(
        self, incident: Incident, proposal: Proposal, v: Verification, asked: list[str], readings: list[dict[str, Any]]
    ) -> None:
        """No agent could report the signal at any check: not a failed fix, and not a verified one. Said as such;
        the people on call decide (a Resolve button)."""
        assert incident.channel_id
        names = ", ".join(asked) or "no agent"
        what = f"no agent could report {v.signal.replace('_', ' ')} (asked: {names})"
        await self._checked(incident, proposal, EventKind.VERIFICATION_UNKNOWN, readings, what)
        text = words.unknown(proposal.plan.action, what)
        await shown(self.slack.post(incident.channel_id, text, proposal_blocks.verified_blocks(incident, text)))

    async def _verified(
        self,
        incident: Incident,
        proposal: Proposal,
        v: Verification,
        value: float | None,
        readings: list[dict[str, Any]],
    ) -> None:
        assert incident.channel_id
        said = words.verified(v.signal, value, v.below, v.window_s, proposal.plan.action)
        reading_text = f"{v.signal} {shown_value(v.signal, value)}"
        if self.updates is not None:
            outcome = f"carried out and verified, {reading_text} (below {shown_value(v.signal, v.below)})"
            await self.updates.publish(incident, messages.pager_remediation(proposal.plan.action, outcome))
        async with self.locks.hold(incident.key):
            now = self.clock.now()
            await self.store.append_events(
                incident,
                [
                    record(
                        Checked(proposal.id, proposal.plan_hash, tuple(readings)),
                        kind=EventKind.VERIFIED,
                        at=now,
                        actor=ACTOR_BOT,
                        text=reading_text,
                    )
                ],
            )
            if not self.config.auto_resolve or not (await self.budgets.stance(incident.service)).auto_resolve:
                await shown(
                    self.slack.post(
                        incident.channel_id,
                        said + " Resolve the incident when you agree.",
                        proposal_blocks.verified_blocks(incident, said + " Resolve it when you agree."),
                    )
                )
                return
            await shown(self.slack.post(incident.channel_id, said))
        assert incident.id is not None
        try:
            await self.resolver.resolve(incident.id, user_id=None, summary=f"verified: {reading_text}")
        except SreAgentError as exc:  # e.g. the pager refused: a person resolves it
            log.warning("could not resolve %s after the fix was verified: %s", incident.key, exc)
            text = words.not_resolved(exc.user_message)
            await shown(self.slack.post(incident.channel_id, text, proposal_blocks.verified_blocks(incident, text)))
