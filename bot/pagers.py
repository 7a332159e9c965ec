"""The pager in use (SRE_PAGER): its adapter behind the Pager port, and how its stored webhook bodies are read."""

from __future__ import annotations

from functools import partial

from bot.adapters.opsgenie.client import OpsGenie
from bot.adapters.opsgenie.events import read_opsgenie_event
from bot.adapters.pagerduty.client import PagerDuty
from bot.adapters.pagerduty.events import read_pagerduty_event
from bot.config.settings import Settings
from bot.domain.catalog import Catalog
from bot.ports.pager import Pager, Reader

__all__ = ["build_pager", "pager_reader"]


def build_pager(settings: Settings) -> Pager:
    """The adapter for the configured paging service (the settings checked its credentials are there)."""
    if settings.pager == "opsgenie":
        assert settings.opsgenie_api_key is not None
        return OpsGenie(
            api_url=settings.opsgenie_api_url,
            api_key=settings.opsgenie_api_key.get_secret_value(),
            user=settings.opsgenie_user,
            api_user=settings.opsgenie_api_user,
            confirm_seconds=settings.opsgenie_confirm_seconds,
            app_url=settings.opsgenie_app_url,
            retries=settings.opsgenie_retries,
        )
    assert settings.pagerduty_api_token is not None and settings.pagerduty_from_email is not None
    return PagerDuty(
        api_url=settings.pagerduty_api_url,
        token=settings.pagerduty_api_token.get_secret_value(),
        from_email=settings.pagerduty_from_email,
        rate_limit_retries=settings.pagerduty_rate_limit_retries,
    )


def pager_reader(settings: Settings, catalog: Catalog) -> Reader:
    """How the pager's webhook bodies are read. OpsGenie's do not name an escalation: the catalog's service does."""
    if settings.pager == "opsgenie":

        def escalation_of(name: str) -> str | None:
            service = catalog.get(name)
            return service.escalation_policy_id if service is not None else None

        return partial(read_opsgenie_event, escalation_of=escalation_of, app_url=settings.opsgenie_app_url)
    return read_pagerduty_event
