"""What `create_app` builds, held on the aiohttp application under one key."""

from __future__ import annotations

from dataclasses import dataclass

from aiohttp import web
from slack_bolt.async_app import AsyncApp
from slack_sdk.web.async_client import AsyncWebClient

from bot.actions import IncidentActions
from bot.background import Background
from bot.clock import Clock
from bot.commander import Commander
from bot.conversation import Conversation
from bot.declaring import Declarer
from bot.domain.catalog import Catalog
from bot.intake import Intake
from bot.pager import Pager
from bot.remediation import Remediator
from bot.scheduler import Scheduler
from bot.settings import Settings
from bot.slack_gateway import SlackGateway
from bot.slack_inbox import SlackInbox
from bot.store import Store


@dataclass
class Services:
    settings: Settings
    clock: Clock
    store: Store
    slack_client: AsyncWebClient
    slack: SlackGateway
    pager: Pager
    commander: Commander
    actions: IncidentActions
    catalog: Catalog
    declarer: Declarer
    conversation: Conversation
    intake: Intake
    scheduler: Scheduler
    bolt: AsyncApp
    background: Background
    slack_inbox: SlackInbox
    remediator: Remediator


SERVICES = web.AppKey("services", Services)
