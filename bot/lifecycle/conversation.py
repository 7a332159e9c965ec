"""Answering `@sre ...` in plain English. `bot.domain.intent` says what the message asks; this module does it with the
same services the slash commands use and returns the reply, which the handler posts in the message's thread.

Never silent: every message gets a reply, a refusal says why, and what the bot cannot read gets examples.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from slack_sdk.models.blocks import Block

from blocks import budgets as budget_words
from blocks import incident as incident_blocks
from blocks import replies
from blocks.listing import incident_list
from bot.adapters.slack.gateway import SlackGateway
from bot.domain.catalog import Catalog
from bot.domain.incident import Incident
from bot.domain.intent import Intent, Reading, read
from bot.domain.slo import BudgetAnswer
from bot.errors import SreAgentError
from bot.lifecycle.actions import IncidentActions
from bot.lifecycle.declaring import Declaration, Declarer
from bot.lifecycle.resolving import Resolver
from bot.lifecycle.setup import FINDINGS
from bot.ports.clock import Clock
from bot.ports.pager import Pager
from bot.store import Store

__all__ = ["Conversation", "Mention", "Reply"]


@dataclass(frozen=True)
class Mention:
    user_id: str
    channel_id: str
    text: str


@dataclass
class Reply:
    text: str
    blocks: list[Block] = field(default_factory=list)
    offer_id: int | None = None  # a budget offer it shows (told where it was posted)


class Budgets(Protocol):
    """Where the error budgets stand (see bot.budgets.standing)."""

    async def answer(self, service: str | None, now: datetime) -> BudgetAnswer: ...


class Offers(Protocol):
    """The cause of a burning budget and the plan for it (see bot.remediation.offering)."""

    async def offer(self, service: str, answer: BudgetAnswer, figures: str, asked_by: str) -> Reply | None: ...


class Conversation:
    def __init__(
        self,
        *,
        store: Store,
        clock: Clock,
        pager: Pager,
        resolver: Resolver,
        actions: IncidentActions,
        declarer: Declarer,
        catalog: Catalog,
        slack: SlackGateway,
        budgets: Budgets,
        offers: Offers | None = None,
    ) -> None:
        self.budgets = budgets
        self.offers = offers
        self.store = store
        self.clock = clock
        self.pager = pager
        self.resolver = resolver
        self.actions = actions
        self.declarer = declarer
        self.catalog = catalog
        self.slack = slack

    async def answer(self, mention: Mention) -> Reply:
        reading = read(mention.text, self.catalog)
        here = await self.store.incident_by_channel(mention.channel_id)
        try:
            return await self._answer(reading, mention, here)
        except SreAgentError as exc:
            return Reply(f":warning: {exc.user_message}")

    async def _answer(self, reading: Reading, mention: Mention, here: Incident | None) -> Reply:
        intent = reading.intent
        now = self.clock.now()
        if intent is Intent.HELP:
            return Reply(replies.HELP)
        if intent is Intent.UNKNOWN:
            return Reply(replies.UNKNOWN)
        if intent is Intent.LIST or (intent is Intent.STATUS and here is None):
            text, blocks = incident_list(await self.actions.open_incidents(), now)
            return Reply(text, blocks)
        if intent is Intent.STATUS and here is not None:
            return Reply(incident_blocks.card_text(here), incident_blocks.incident_card(here))
        if intent is Intent.BUDGET:
            answer = await self.budgets.answer(reading.service, now)
            if not answer.any_slo:
                return Reply(replies.no_slos(reading.service))
            figures = budget_words.answer(answer, reading.service)
            if reading.service is not None and answer.statuses and self.offers is not None:
                offered = await self.offers.offer(reading.service, answer, figures, mention.user_id)
                if offered is not None:
                    return offered
            return Reply(figures)
        if intent is Intent.ONCALL:
            return await self._oncall(reading.service or (here.service if here else None))
        if intent is Intent.INVESTIGATE:
            return await self._investigate(reading, mention, here)
        if here is None:
            return Reply(replies.needs_incident_channel(intent))
        assert here.id is not None
        if intent is Intent.SEVERITY and reading.severity is not None:
            await self.actions.set_severity(here.id, reading.severity, user_id=mention.user_id)
            return Reply(f"{reading.severity.emoji} Done: {here.label} is {reading.severity} now.")
        if intent is Intent.ESCALATE:
            await self.actions.escalate(here.id, user_id=mention.user_id)
            return Reply(":arrow_double_up: Escalated: the next level is being paged.")
        if intent is Intent.RESOLVE:
            await self.resolver.resolve(here.id, user_id=mention.user_id, summary="")
            return Reply(f":white_check_mark: Resolved {here.label}.")
        return Reply(replies.UNKNOWN)

    async def _investigate(self, reading: Reading, mention: Mention, here: Incident | None) -> Reply:
        if here is not None and here.is_open and (reading.service in (None, here.service)):
            return Reply(replies.already_here(here))
        if reading.service is None:
            return Reply(replies.WHICH_SERVICE.format(services=", ".join(f"`{n}`" for n in self.catalog.names())))
        for incident in await self.actions.open_incidents():
            if incident.service == reading.service:
                return Reply(replies.already_open(incident))
        assert reading.severity is not None
        incident = await self.declarer.declare(
            Declaration(
                title=mention_title(mention.text),
                service=reading.service,
                severity=reading.severity,
                user_id=mention.user_id,
            )
        )
        findings = incident.id is not None and await self.store.message_ref(incident.id, FINDINGS) is not None
        return Reply(replies.opened_for_you(incident, findings=findings))

    async def _oncall(self, service_name: str | None) -> Reply:
        services = [self.catalog.get(service_name)] if service_name else list(self.catalog)
        lines: list[str] = []
        for service in services:
            if service is None or not service.escalation_policy_id:
                continue
            people = await self.pager.oncalls(service.escalation_policy_id, level=None)
            slack_ids = await self.slack.lookup_users([p.email for p in people])
            lines.append(replies.oncall_line(service.name, list(zip(people, slack_ids, strict=True))))
        if not lines:
            return Reply(replies.no_oncall(service_name))
        return Reply("\n".join(lines))


def mention_title(text: str) -> str:
    """The incident title from a message: the text without the bot's mention, on one line, within 150 characters."""
    cleaned = " ".join(re.sub(r"<@[UW][A-Z0-9]+(?:\|[^>]*)?>", " ", text).split())
    return cleaned[:150] or "Reported in Slack"
