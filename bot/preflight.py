"""Checks before `sre-agent serve` starts: a wrong token stops it with one line naming the variable."""

from __future__ import annotations

import asyncio

import aiohttp
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.config.settings import Settings
from bot.errors import ConfigError, OpsGenieError, PagerDutyError
from bot.pagers import build_pager


async def preflight(settings: Settings) -> None:
    await asyncio.gather(
        _slack(settings), _pagerduty(settings) if settings.pager == "pagerduty" else _opsgenie(settings)
    )


async def _slack(settings: Settings) -> None:
    client = AsyncWebClient(token=settings.slack_bot_token.get_secret_value(), base_url=settings.slack_api_url)
    try:
        await client.auth_test()
    except SlackApiError as exc:
        error = exc.response.get("error") if exc.response is not None else "unknown"
        raise ConfigError(f"SLACK_BOT_TOKEN is invalid: Slack said {error}") from exc
    except (aiohttp.ClientError, OSError, TimeoutError) as exc:
        raise ConfigError(f"SLACK_API_URL {settings.slack_api_url} cannot be reached: {exc}") from exc


async def _pagerduty(settings: Settings) -> None:
    pagerduty = build_pager(settings)
    assert settings.pagerduty_from_email is not None  # the settings require it with SRE_PAGER=pagerduty
    try:
        if not await pagerduty.user_exists(settings.pagerduty_from_email):
            raise ConfigError(
                f"PAGERDUTY_FROM_EMAIL {settings.pagerduty_from_email} is not a PagerDuty user "
                "(PagerDuty needs a real user's e-mail for incident changes)"
            )
    except PagerDutyError as exc:
        raise ConfigError(f"PAGERDUTY_API_TOKEN or PAGERDUTY_API_URL is not usable: {exc}") from exc
    finally:
        await pagerduty.close()


async def _opsgenie(settings: Settings) -> None:
    """The key can read the alert API: a request for an alert that cannot exist answers 404 with it, 401/403
    without (OpsGenie has no call that tells a key's own identity)."""
    pager = build_pager(settings)
    try:
        await pager.status("sre-agent-preflight")
    except OpsGenieError as exc:
        if "(404)" not in str(exc):
            raise ConfigError(f"OPSGENIE_API_KEY or OPSGENIE_API_URL is not usable: {exc}") from exc
    finally:
        await pager.close()
