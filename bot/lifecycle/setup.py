"""The steps that open an incident, each on its own: acknowledge, channel, card, topic, invite, announce, note,
triage, diagnose, propose. Each marks itself done on the incident and appends its timeline events; `again` says it
was begun before (by a process that may have died on the way), so it first looks for what it did then and adopts
it. `bot/lifecycle/opening.py` runs them in stages."""

from __future__ import annotations

import functools
from collections.abc import Collection
from dataclasses import dataclass, field
from typing import Protocol

from blocks import findings as findings_blocks
from blocks import incident as incident_blocks
from blocks import messages
from blocks import triage as triage_blocks
from bot.adapters.recent import Recent
from bot.adapters.slack.gateway import SlackGateway
from bot.domain.approval import Status as ProposalStatus
from bot.domain.catalog import Catalog
from bot.domain.events import (
    Asked,
    ChannelCreated,
    Diagnosed,
    Hypothesis,
    Plain,
    ResponderNotFound,
    RespondersInvited,
    Triaged,
    pager_note,
    record,
)
from bot.domain.incident import Incident, SetupStep, transition
from bot.domain.naming import channel_name
from bot.domain.oncall import OnCall
from bot.domain.phase import Phase
from bot.domain.slo import SloStatus
from bot.domain.status_page import PublicPhase
from bot.domain.timeline import ACTOR_BOT, EventKind, TimelineEvent
from bot.domain.triage import blast_radius, dependents, signals_from_title
from bot.errors import SlackError
from bot.lifecycle.channel import ANNOUNCEMENT, CARD, IncidentChannel
from bot.lifecycle.delegation import Delegator, Findings
from bot.lifecycle.posting import Poster
from bot.lifecycle.updates import StakeholderUpdates
from bot.ports.clock import Clock
from bot.ports.pager import Pager
from bot.ports.status_page import PublicPhases
from bot.store import Store

__all__ = ["FINDINGS", "TRIAGE", "OpeningConfig", "Proposing", "SetupSteps"]

TRIAGE = "triage"
RESPONDERS_TTL_S = 30.0  # who is on call at level 1 of a policy, kept this long for the invites of a storm of pages
FINDINGS = "findings"
ANNOUNCE_FAILED = "announcement-failed"  # the notice in the incident's channel that the announcement could not be made
NOT_FOUND = "responders-not-found"  # the notice in the incident's channel of the on-call people Slack does not know


@dataclass(frozen=True)
class OpeningConfig:
    incidents_channel: str
    auto_acknowledge: bool = True
    channel_prefix: str = "inc"


class Proposing(Protocol):
    async def propose_next(
        self, incident: Incident, events: list[TimelineEvent], *, after: str = "", again: bool = False
    ) -> None:
        """Post the best plan not yet proposed, or ask for a person (bot/remediation/proposing.py)."""


class Budgets(Protocol):
    """The error budgets as they stand (see bot.budgets.standing)."""

    async def of_services(self, services: Collection[str]) -> list[SloStatus]: ...


@dataclass
class Invitations:
    """What the invitations step leaves for the end of its stage (`SetupSteps.invited`): the on-call people Slack
    does not know, said in the channel after the stage's card; the step's events, on record once that is said."""

    ran: bool = False
    again: bool = False
    events: list[TimelineEvent] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)


class SetupSteps:
    def __init__(
        self,
        *,
        store: Store,
        slack: SlackGateway,
        pager: Pager,
        clock: Clock,
        poster: Poster,
        channel: IncidentChannel,
        config: OpeningConfig,
        catalog: Catalog,
        delegator: Delegator | None = None,
        proposer: Proposing | None = None,
        budgets: Budgets | None = None,
        public: PublicPhases | None = None,
    ) -> None:
        self.public = public
        self.budgets = budgets
        self.store = store
        self.slack = slack
        self.pager = pager
        self.updates = StakeholderUpdates(pager)
        self.clock = clock
        self.poster = poster
        self.channel = channel
        self.config = config
        self.catalog = catalog
        self.delegator = delegator
        self.proposer = proposer
        self._responders: Recent[str, list[OnCall]] = Recent(lambda _: RESPONDERS_TTL_S)  # by escalation policy

    async def acknowledge(self, incident: Incident, events: list[TimelineEvent], again: bool) -> None:
        if not again or await self.pager.status(incident.external_id) == "triggered":
            await self.pager.acknowledge(incident.external_id)
        incident.steps.add(SetupStep.ACKNOWLEDGE)
        if incident.phase is Phase.TRIGGERED:
            events.extend(transition(incident, Phase.ACKNOWLEDGED, at=self.clock.now(), actor=ACTOR_BOT))

    async def create_channel(self, incident: Incident, events: list[TimelineEvent], again: bool) -> None:
        number = incident.number if incident.number is not None else incident.id
        wanted = channel_name(number, incident.service, prefix=self.config.channel_prefix)
        incident.channel_id, incident.channel_name = await self.slack.create_channel(
            wanted, adoptable=self._unclaimed_channel if again else None
        )
        incident.steps.add(SetupStep.CHANNEL)
        events.append(
            record(
                ChannelCreated(incident.channel_id),
                at=self.clock.now(),
                actor=ACTOR_BOT,
                text=f"#{incident.channel_name}",
            )
        )

    async def _unclaimed_channel(self, channel_id: str) -> bool:
        """A channel the bot made that no incident has: the one a crash kept from being recorded."""
        return await self.store.incident_by_channel(channel_id) is None

    async def post_card(self, incident: Incident, events: list[TimelineEvent], again: bool) -> None:
        assert incident.channel_id
        ts = await self.poster.post_once(
            incident,
            CARD,
            incident.channel_id,
            incident_blocks.card_text(incident),
            incident_blocks.incident_card(incident),
            again=again,
        )
        incident.steps.add(SetupStep.CARD)
        events.append(record(Plain(), kind=EventKind.CARD_POSTED, at=self.clock.now(), actor=ACTOR_BOT, ref=ts))

    async def triage(self, incident: Incident, events: list[TimelineEvent], again: bool) -> None:
        """The blast radius, said in the channel under the card."""
        assert incident.channel_id
        affected = {incident.service, *dependents(incident.service, self.catalog)}
        budgets = await self.budgets.of_services(affected) if self.budgets is not None else []
        radius = blast_radius(incident.service, self.catalog, signals_from_title(incident.title), budgets)
        text = triage_blocks.triage_text(incident, radius)
        ts = await self.poster.post_once(
            incident, TRIAGE, incident.channel_id, text, triage_blocks.triage_blocks(incident, radius), again=again
        )
        incident.steps.add(SetupStep.TRIAGE)
        triaged = Triaged(
            tuple(radius.dependents),
            tuple(radius.user_facing),
            radius.users,
            str(radius.suggested),
            tuple(radius.reasons),
            radius.slo,
            radius.known,
        )
        events.append(
            record(triaged, at=self.clock.now(), actor=ACTOR_BOT, text=f"suggested {radius.suggested}", ref=ts)
        )
        if self.public is not None:  # customers may need to hear of it: a post is proposed (once)
            await self.public.moved(incident, PublicPhase.INVESTIGATING)

    async def diagnose(
        self, incident: Incident, events: list[TimelineEvent], again: bool, given: Findings | None = None
    ) -> None:
        """Ask the agents (or take what they said already, `given`), post the findings, and list every question and
        answer in the thread under them."""
        assert incident.channel_id and incident.id is not None
        if self.delegator is None or not self.delegator.configured:
            incident.steps.add(SetupStep.DIAGNOSE)  # nobody to ask: triage from the catalog is all there is
            return
        if given is not None and not again:
            found = given
            for item in given.evidence:  # the incident's own record of them, as if asked now
                await self.store.add_evidence(
                    incident.id, item, asked_at=self.clock.now(), context_id=None, task_id=None
                )
        else:
            found = await self.delegator.diagnose(incident)
        text = findings_blocks.findings_text(incident.service, found.evidence, found.hypotheses)
        ts = await self.poster.post_once(
            incident,
            FINDINGS,
            incident.channel_id,
            text,
            findings_blocks.findings_blocks(incident.service, found.evidence, found.hypotheses),
            again=again,
        )
        for n, item in enumerate(found.evidence, start=1):
            await self.poster.post_once(
                incident,
                f"{FINDINGS}.{n}",
                incident.channel_id,
                findings_blocks.exchange_text(item),
                thread_ts=ts,
                again=again,
            )
        incident.steps.add(SetupStep.DIAGNOSE)
        if found.hypotheses and self.public is not None:
            await self.public.moved(incident, PublicPhase.IDENTIFIED)
        if not again:  # the stakeholders on the pager hear the findings too (once: a redone step says nothing more)
            asked = [e.agent for e in found.evidence]
            await self.updates.publish(incident, messages.pager_findings(incident, found.hypotheses, asked))
        began = found.began_at
        diagnosed = Diagnosed(
            str(found.symptom),
            tuple(Hypothesis(h.text, h.confidence, tuple(h.cites), tuple(h.recommendations)) for h in found.hypotheses),
            tuple(Asked(e.agent, str(e.role), str(e.outcome), e.duration_ms, e.reason) for e in found.evidence),
            began.isoformat() if began is not None else "",
        )
        events.append(
            record(
                diagnosed,
                at=self.clock.now(),
                actor=ACTOR_BOT,
                ref=ts,
                text=found.hypotheses[0].text if found.hypotheses else "no cause found",
            )
        )

    async def propose(self, incident: Incident, events: list[TimelineEvent], again: bool) -> None:
        """The first proposal from the runbooks, or a plain request for help when none applies. Only where agents
        were asked: without them there is nothing to match. After a crash, a proposal made and not yet shown (or
        shown and not recorded) is the one finished."""
        assert incident.id is not None
        asked = self.delegator is not None and self.delegator.configured
        if asked and self.proposer is not None and incident.is_open:
            proposals = await self.store.proposals(incident.id)
            if not proposals or (again and any(p.status is ProposalStatus.PROPOSED for p in proposals)):
                phase = incident.phase
                await self.proposer.propose_next(incident, events, again=again)
                if incident.phase is not phase:
                    await self.channel.refresh(incident)
        incident.steps.add(SetupStep.PROPOSE)

    async def set_topic(self, incident: Incident) -> None:
        assert incident.channel_id
        await self.slack.set_topic(incident.channel_id, incident_blocks.topic(incident))
        incident.steps.add(SetupStep.TOPIC)

    async def _first_responders(self, policy: str) -> list[OnCall]:
        """Who to invite: level 1 of the policy. A storm pages one policy many times a second, and each ask is a
        call to the pager's API (and its rate limit): the answer is kept for RESPONDERS_TTL_S, and the first pages,
        which all ask before it is kept, wait for the one question in flight (bot/adapters/recent.py). Who may
        approve is always asked afresh (bot/remediation/approvers.py), never from here."""
        return await self._responders.get(policy, functools.partial(self.pager.oncalls, policy, level=1))

    async def invite(self, incident: Incident, invitations: Invitations, again: bool) -> None:
        assert incident.channel_id
        invitations.again = again
        if not incident.escalation_policy_id:
            invitations.ran = True
            return
        events, missing = invitations.events, invitations.missing
        people = await self._first_responders(incident.escalation_policy_id)
        found = await self.slack.lookup_users([p.email for p in people])
        invited = [user for user in found if user]
        await self.slack.invite(incident.channel_id, invited)
        now = self.clock.now()
        if invited:
            events.append(
                record(
                    RespondersInvited(tuple(invited)),
                    at=now,
                    actor=ACTOR_BOT,
                    text=", ".join(p.name for p, u in zip(people, found, strict=True) if u),
                )
            )
        for person, user in zip(people, found, strict=True):
            if not user:
                label = messages.not_found_label(person.name, person.email, person.level, self.pager.name)
                missing.append(label)
                events.append(
                    record(ResponderNotFound(person.email, person.user_id), at=now, actor=ACTOR_BOT, text=label)
                )
        invitations.ran = True

    async def invited(self, incident: Incident, invitations: Invitations, events: list[TimelineEvent]) -> None:
        """The invitations step done (after its stage): the people Slack does not know said in the channel, once
        (the step cut off after it said so is done again, and finds what it said), then the step on record."""
        if not invitations.ran:
            return
        if invitations.missing:
            assert incident.channel_id
            text = messages.not_found(invitations.missing, self.pager.name)
            await self.poster.say_once(incident, NOT_FOUND, incident.channel_id, text, again=invitations.again)
        events += invitations.events
        incident.steps.add(SetupStep.INVITE)

    async def announce(self, incident: Incident, events: list[TimelineEvent], again: bool) -> None:
        assert incident.channel_id and incident.id is not None
        text, blocks = incident_blocks.announcement(incident)
        try:
            ts = await self.poster.post_once(
                incident, ANNOUNCEMENT, self.config.incidents_channel, text, blocks, again=again
            )
        except SlackError as exc:
            if exc.passing:  # Slack busy or failing a moment: the step is tried again (and finds a post it made)
                raise
            # A misconfigured incidents channel must not hold the incident up: say so where people are.
            notice = messages.announce_failed(self.config.incidents_channel, exc)
            await self.poster.post_once(incident, ANNOUNCE_FAILED, incident.channel_id, notice, again=again)
            incident.steps.add(SetupStep.ANNOUNCE)
            return
        incident.steps.add(SetupStep.ANNOUNCE)
        events.append(record(Plain(), kind=EventKind.ANNOUNCED, at=self.clock.now(), actor=ACTOR_BOT, ref=ts))

    async def note(self, incident: Incident, events: list[TimelineEvent], again: bool) -> None:
        content = messages.pager_channel_note(incident)
        note_id = await self.pager.note_with(incident.external_id, content) if again else None
        if note_id is None:
            note_id = await self.pager.add_note(incident.external_id, content)
        incident.steps.add(SetupStep.NOTE)
        events.append(pager_note(content, source=self.pager.source, note_id=note_id, at=self.clock.now()))
