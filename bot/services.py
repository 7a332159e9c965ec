"""What `create_app` builds, held on the aiohttp application under one key."""

from __future__ import annotations

from dataclasses import dataclass

from aiohttp import web
from slack_bolt.async_app import AsyncApp

from bot.adapters.prometheus import Prometheus
from bot.adapters.slack.gateway import SlackGateway
from bot.adapters.slack.inbox import SlackInbox
from bot.budgets.standing import Standing
from bot.budgets.tracking import BudgetTracker
from bot.config.settings import Settings
from bot.domain.catalog import Catalog
from bot.lifecycle.actions import IncidentActions
from bot.lifecycle.channel import IncidentChannel
from bot.lifecycle.conversation import Conversation
from bot.lifecycle.declaring import Declarer
from bot.lifecycle.delegation import Delegator
from bot.lifecycle.pager_sync import PagerSync
from bot.lifecycle.postmortems import Postmortems
from bot.lifecycle.public_status import PublicStatus
from bot.lifecycle.resolving import Resolver
from bot.ports.clock import Clock
from bot.ports.pager import Pager
from bot.remediation.approvers import Approvers
from bot.remediation.deciding import Decider
from bot.remediation.offering import BudgetOffers
from bot.runtime.background import Background
from bot.runtime.intake import Intake
from bot.runtime.scheduler import Scheduler
from bot.store import Store


@dataclass
class Services:
    """What the handlers reach: each service on its own (none reaches through another)."""

    settings: Settings
    clock: Clock
    store: Store
    slack: SlackGateway
    pager: Pager
    channel: IncidentChannel
    pager_sync: PagerSync
    resolver: Resolver
    actions: IncidentActions
    catalog: Catalog
    declarer: Declarer
    conversation: Conversation
    delegator: Delegator
    approvers: Approvers
    decider: Decider
    postmortems: Postmortems
    offers: BudgetOffers
    public: PublicStatus
    budgets: BudgetTracker
    standing: Standing
    intake: Intake
    scheduler: Scheduler
    bolt: AsyncApp
    background: Background
    slack_inbox: SlackInbox
    metrics: Prometheus


SERVICES = web.AppKey("services", Services)
