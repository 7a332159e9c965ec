"""What `create_app` builds, held on the aiohttp application under one key."""

from __future__ import annotations

from dataclasses import dataclass

from aiohttp import web
from slack_bolt.async_app import AsyncApp
from slack_sdk.web.async_client import AsyncWebClient

from bot.adapters.slack.gateway import SlackGateway
from bot.adapters.slack.inbox import SlackInbox
from bot.config.settings import Settings
from bot.domain.catalog import Catalog
from bot.lifecycle.actions import IncidentActions
from bot.lifecycle.commander import Commander
from bot.lifecycle.conversation import Conversation
from bot.lifecycle.declaring import Declarer
from bot.ports.clock import Clock
from bot.ports.pager import Pager
from bot.remediation import Remediator
from bot.runtime.background import Background
from bot.runtime.intake import Intake
from bot.runtime.scheduler import Scheduler
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
