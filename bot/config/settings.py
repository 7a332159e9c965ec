"""Settings from the environment (pydantic-settings). Read when `create_app` or the CLI asks, never at import."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Literal
from urllib.parse import unquote, urlsplit

from pydantic import AliasChoices, Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from bot.config.catalog import load_catalog
from bot.config.crontab import cron_trigger
from bot.config.files import time_zone
from bot.config.slos import SloDefinition, load_slos
from bot.domain.budget_policy import Policy
from bot.domain.catalog import Catalog
from bot.domain.severity import Severity
from bot.domain.slo import BudgetState
from bot.domain.unacknowledged import DEFAULT_POLICY, parse_policy
from bot.errors import ConfigError

DEFAULT_CATALOG = "catalog.yml"


def _env(name: str) -> AliasChoices:
    return AliasChoices(name)


class StoreSettings(BaseSettings):
    """Where the store lives; also usable alone (`sre-agent db upgrade` needs nothing else)."""

    model_config = SettingsConfigDict(extra="ignore", populate_by_name=True, env_ignore_empty=True)

    sqlite_path: Path = Field(Path("sre-agent.db"), validation_alias=_env("SRE_SQLITE_PATH"))
    database_url: str | None = Field(None, validation_alias=_env("SRE_DATABASE_URL"))

    @field_validator("database_url")
    @classmethod
    def _known_database(cls, value: str | None) -> str | None:
        if value is None:
            return None
        scheme = value.split("://", 1)[0].split("+", 1)[0] if "://" in value else ""
        if scheme not in ("sqlite", "postgresql", "postgres"):
            raise ValueError("expected sqlite:///PATH or postgresql://USER@HOST:PORT/DATABASE")
        return value

    @property
    def store_url(self) -> str:
        """SRE_DATABASE_URL when set, else the SQLite file at SRE_SQLITE_PATH."""
        return self.database_url or f"sqlite:///{self.sqlite_path}"


class CatalogSettings(BaseSettings):
    """Where the service catalog is; also usable alone (`sre-agent intent` needs nothing else)."""

    model_config = SettingsConfigDict(extra="ignore", populate_by_name=True, env_ignore_empty=True)

    catalog_path: Path | None = Field(None, validation_alias=_env("SRE_CATALOG_PATH"))
    # the paging service: PagerDuty, or OpsGenie (and JSM Operations, which speaks OpsGenie's alert API); the
    # catalog's services are paged on it
    pager: Literal["pagerduty", "opsgenie"] = Field("pagerduty", validation_alias=_env("SRE_PAGER"))

    def catalog(self) -> Catalog:
        """The catalog at SRE_CATALOG_PATH (an error if set and missing), else ./catalog.yml if there is one."""
        if self.catalog_path is not None:
            return load_catalog(self.catalog_path, required=True, pager=self.pager)
        return load_catalog(Path(DEFAULT_CATALOG), required=False, pager=self.pager)


class AgentSettings(BaseSettings):
    """Where the agents file is; also usable alone (`sre-agent slo status` asks the monitoring agents)."""

    model_config = SettingsConfigDict(extra="ignore", populate_by_name=True, env_ignore_empty=True)

    agents_path: Path | None = Field(None, validation_alias=_env("SRE_AGENTS_PATH"))


class SloSettings(BaseSettings):
    """Where the SLOs are (OpenSLO YAML) and when a budget is low; also usable alone (`sre-agent slo status`)."""

    model_config = SettingsConfigDict(extra="ignore", populate_by_name=True, env_ignore_empty=True)

    slos_path: Path | None = Field(None, validation_alias=_env("SRE_SLOS_PATH"))
    slo_budget_warning: float = Field(0.2, ge=0, lt=1, validation_alias=_env("SRE_SLO_BUDGET_WARNING"))
    slo_tick_minutes: int = Field(1, ge=1, le=60, validation_alias=_env("SRE_SLO_TICK_MINUTES"))
    slo_maintenance_path: Path | None = Field(None, validation_alias=_env("SRE_SLO_MAINTENANCE_PATH"))
    # what a page tier does: open an incident, or post to the service's channel
    slo_page: Literal["incident", "channel"] = Field("incident", validation_alias=_env("SRE_SLO_PAGE"))
    # the budget digest: when (a crontab, or "off"), in which time zone, to which channel (default: the incidents one)
    slo_digest: str = Field("0 9 * * 1-5", validation_alias=_env("SRE_SLO_DIGEST"))
    slo_digest_timezone: str = Field("UTC", validation_alias=_env("SRE_SLO_DIGEST_TIMEZONE"))
    slo_digest_channel: str | None = Field(None, validation_alias=_env("SRE_SLO_DIGEST_CHANNEL"))
    # the error budget policy: approvers while the budget lasts, and once sre-agent is cautious (from when)
    budget_policy_fast_approvers: int = Field(1, ge=1, le=5, validation_alias=_env("SRE_BUDGET_FAST_APPROVERS"))
    budget_policy_cautious_approvers: int = Field(2, ge=1, le=5, validation_alias=_env("SRE_BUDGET_CAUTIOUS_APPROVERS"))
    budget_policy_cautious_when: Literal["exhausted", "warning"] = Field(
        "exhausted", validation_alias=_env("SRE_BUDGET_CAUTIOUS_WHEN")
    )

    @model_validator(mode="after")
    def _approvers(self) -> SloSettings:
        if self.budget_policy_cautious_approvers < self.budget_policy_fast_approvers:
            raise ValueError(
                "SRE_BUDGET_CAUTIOUS_APPROVERS: no fewer approvers when cautious than SRE_BUDGET_FAST_APPROVERS"
            )
        return self

    def budget_policy(self) -> Policy:
        return Policy(
            self.budget_policy_fast_approvers,
            self.budget_policy_cautious_approvers,
            BudgetState(self.budget_policy_cautious_when),
        )

    @field_validator("slo_digest")
    @classmethod
    def _crontab(cls, value: str) -> str:
        if value.strip().lower() == "off":
            return "off"
        try:
            cron_trigger(value)
        except ValueError as exc:
            raise ValueError(f"expected a crontab such as '0 9 * * 1-5' (or off): {exc}") from None
        return value

    @field_validator("slo_digest_timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        return time_zone(value)

    def slos(self, path: Path | None = None) -> list[SloDefinition]:
        """The SLOs at `path` (or SRE_SLOS_PATH); none when neither is set."""
        where = path or self.slos_path
        return load_slos(where, warning=self.slo_budget_warning) if where is not None else []


class PostmortemSettings(BaseSettings):
    """How postmortems are written; also usable alone (`sre-agent postmortem`)."""

    model_config = SettingsConfigDict(extra="ignore", populate_by_name=True, env_ignore_empty=True)

    runbooks_path: Path | None = Field(None, validation_alias=_env("SRE_RUNBOOKS_PATH"))
    # the team's time zone: a postmortem shows its times in UTC and in it
    timezone: str = Field("UTC", validation_alias=_env("SRE_TIMEZONE"))
    # a Jinja2 template of the team's own for the postmortem (default: the shipped one)
    postmortem_template: Path | None = Field(None, validation_alias=_env("SRE_POSTMORTEM_TEMPLATE"))

    @field_validator("timezone")
    @classmethod
    def _team_zone(cls, value: str) -> str:
        return time_zone(value)

    @field_validator("postmortem_template")
    @classmethod
    def _template(cls, value: Path | None) -> Path | None:
        if value is not None and not value.is_file():
            raise ValueError(f"no template file at {value}")
        return value


class Settings(StoreSettings, CatalogSettings, SloSettings, AgentSettings, PostmortemSettings):
    """Every setting, its environment variable (the alias) and its default. The README's table mirrors this."""

    model_config = SettingsConfigDict(extra="ignore", populate_by_name=True, env_ignore_empty=True)

    # Slack
    slack_bot_token: SecretStr = Field(validation_alias=_env("SLACK_BOT_TOKEN"))
    slack_signing_secret: SecretStr | None = Field(None, validation_alias=_env("SLACK_SIGNING_SECRET"))
    slack_app_token: SecretStr | None = Field(None, validation_alias=_env("SLACK_APP_TOKEN"))
    slack_api_url: str = Field("https://slack.com/api/", validation_alias=_env("SLACK_API_URL"))
    slack_incidents_channel: str = Field("#incidents", validation_alias=_env("SLACK_INCIDENTS_CHANNEL"))
    # how long a Slack call may wait in all for its turn under Slack's rate limits before it fails (and the work it
    # is part of is tried again later); and how long without a 429 before the slowdown is said to be over
    slack_rate_limit_wait_s: float = Field(900.0, ge=0, le=3600, validation_alias=_env("SLACK_RATE_LIMIT_WAIT_S"))
    slack_slowdown_quiet_s: float = Field(30.0, gt=0, le=3600, validation_alias=_env("SLACK_SLOWDOWN_QUIET_S"))

    # PagerDuty (needed when SRE_PAGER is pagerduty)
    pagerduty_api_token: SecretStr | None = Field(None, validation_alias=_env("PAGERDUTY_API_TOKEN"))
    pagerduty_from_email: str | None = Field(None, validation_alias=_env("PAGERDUTY_FROM_EMAIL"))
    pagerduty_webhook_secrets: Annotated[list[SecretStr], NoDecode] = Field(
        default_factory=list, validation_alias=_env("PAGERDUTY_WEBHOOK_SECRETS")
    )
    pagerduty_api_url: str = Field("https://api.pagerduty.com", validation_alias=_env("PAGERDUTY_API_URL"))
    pagerduty_events_url: str = Field("https://events.pagerduty.com", validation_alias=_env("PAGERDUTY_EVENTS_URL"))
    pagerduty_auto_acknowledge: bool = Field(True, validation_alias=_env("PAGERDUTY_AUTO_ACKNOWLEDGE"))
    pagerduty_rate_limit_retries: int = Field(3, ge=0, le=10, validation_alias=_env("PAGERDUTY_RATE_LIMIT_RETRIES"))

    # OpsGenie / JSM Operations (needed when SRE_PAGER is opsgenie)
    opsgenie_api_key: SecretStr | None = Field(None, validation_alias=_env("OPSGENIE_API_KEY"))
    # the alert API's base, version included: https://api.opsgenie.com/v2, https://api.eu.opsgenie.com/v2, or JSM
    # Operations' https://api.atlassian.com/jsm/ops/api/<cloud id>/v1
    opsgenie_api_url: str = Field("https://api.opsgenie.com/v2", validation_alias=_env("OPSGENIE_API_URL"))
    # set: basic auth as this Atlassian account with OPSGENIE_API_KEY as its API token (JSM Operations' REST API);
    # unset: `Authorization: GenieKey <OPSGENIE_API_KEY>` (OpsGenie, and JSM's integration API)
    opsgenie_api_user: str | None = Field(None, validation_alias=_env("OPSGENIE_API_USER"))
    # the `user` sre-agent's requests are made as (OpsGenie shows it in the alert's log and its webhooks)
    opsgenie_user: str = Field("sre-agent", min_length=1, max_length=100, validation_alias=_env("OPSGENIE_USER"))
    opsgenie_webhook_secrets: Annotated[list[SecretStr], NoDecode] = Field(
        default_factory=list, validation_alias=_env("OPSGENIE_WEBHOOK_SECRETS")
    )
    # OpsGenie does not sign its webhooks: the integration sends a shared secret in this header (or as the password
    # of basic auth)
    opsgenie_webhook_header: str = Field(
        "X-SRE-Webhook-Secret", pattern=r"^[A-Za-z0-9-]{1,64}$", validation_alias=_env("OPSGENIE_WEBHOOK_HEADER")
    )
    # the web app's address (https://acme.app.opsgenie.com): cards and messages link to the alert there
    opsgenie_app_url: str | None = Field(None, validation_alias=_env("OPSGENIE_APP_URL"))
    opsgenie_auto_acknowledge: bool = Field(True, validation_alias=_env("OPSGENIE_AUTO_ACKNOWLEDGE"))
    # how long a write may take to be processed (OpsGenie's writes are asynchronous) before it counts as failed
    opsgenie_confirm_seconds: float = Field(10.0, gt=0, le=120, validation_alias=_env("OPSGENIE_CONFIRM_SECONDS"))
    opsgenie_retries: int = Field(3, ge=0, le=10, validation_alias=_env("OPSGENIE_RETRIES"))

    # the public status page (Atlassian Statuspage); unset: nothing is proposed for one
    statuspage_api_key: SecretStr | None = Field(None, validation_alias=_env("STATUSPAGE_API_KEY"))
    statuspage_page_id: str | None = Field(
        None, pattern=r"^[A-Za-z0-9]{1,64}$", validation_alias=_env("STATUSPAGE_PAGE_ID")
    )
    statuspage_api_url: str = Field("https://api.statuspage.io/v1", validation_alias=_env("STATUSPAGE_API_URL"))
    # whether the page's subscribers are notified of each post
    statuspage_notify: bool = Field(True, validation_alias=_env("STATUSPAGE_NOTIFY"))

    # sre-agent itself
    host: str = Field("0.0.0.0", validation_alias=_env("SRE_HOST"))
    port: int = Field(3000, ge=0, le=65535, validation_alias=_env("SRE_PORT"))
    # who this process is across its restarts: the leases a restarted instance held are void at once
    instance_name: str | None = Field(None, max_length=200, validation_alias=_env("SRE_INSTANCE_NAME"))
    max_body_bytes: int = Field(1_048_576, ge=1024, validation_alias=_env("SRE_MAX_BODY_BYTES"))
    webhook_max_age_hours: float = Field(72.0, gt=0, validation_alias=_env("SRE_WEBHOOK_MAX_AGE_HOURS"))
    channel_prefix: str = Field("inc", min_length=1, max_length=20, validation_alias=_env("SRE_CHANNEL_PREFIX"))
    log_level: str = Field("INFO", validation_alias=_env("SRE_LOG_LEVEL"))
    # json: one object a line (time, level, logger, message, incident), for a log pipeline; text: for a terminal
    log_format: Literal["json", "text"] = Field("json", validation_alias=_env("SRE_LOG_FORMAT"))
    # the event loop `serve` runs on: auto is uvloop where it is installed (bot/runtime/loops.py)
    event_loop: Literal["auto", "uvloop", "asyncio"] = Field("auto", validation_alias=_env("SRE_EVENT_LOOP"))
    approvers: Annotated[list[str], NoDecode] = Field(default_factory=list, validation_alias=_env("SRE_APPROVERS"))
    # minutes by severity after which a page no person has taken is escalated to the next on-call; "off" for none
    escalate_unacknowledged: str = Field(DEFAULT_POLICY, validation_alias=_env("SRE_ESCALATE_UNACKNOWLEDGED"))
    proposal_expiry_minutes: float = Field(15.0, gt=0, le=24 * 60, validation_alias=_env("SRE_PROPOSAL_EXPIRY_MINUTES"))
    auto_resolve: bool = Field(False, validation_alias=_env("SRE_AUTO_RESOLVE"))

    @field_validator("approvers", mode="before")
    @classmethod
    def _split_approvers(cls, value: object) -> object:
        """Slack user ids (U…/W…) and user group ids (S…), separated by commas."""
        if isinstance(value, str):
            value = [part.strip() for part in value.split(",") if part.strip()]
        if isinstance(value, list):
            bad = [v for v in value if not re.fullmatch(r"[UWS][A-Z0-9]{2,}", str(v))]
            if bad:
                raise ValueError(f"{bad[0]!r} is not a Slack user id (U…) or user group id (S…)")
        return value

    @field_validator("pagerduty_webhook_secrets", "opsgenie_webhook_secrets", mode="before")
    @classmethod
    def _split_secrets(cls, value: object) -> object:
        if isinstance(value, str):
            secrets = [part.strip() for part in value.split(",") if part.strip()]
            if not secrets:
                raise ValueError("at least one secret is needed")
            return secrets
        return value

    @model_validator(mode="after")
    def _http_mode_needs_signing_secret(self) -> Settings:
        """Over HTTP every Slack request is verified with the signing secret; Socket Mode needs none."""
        if self.slack_app_token is None and self.slack_signing_secret is None:
            raise ValueError("SLACK_SIGNING_SECRET is not set (or set SLACK_APP_TOKEN for Socket Mode)")
        return self

    @field_validator("escalate_unacknowledged")
    @classmethod
    def _escalation_policy(cls, value: str) -> str:
        parse_policy(value)  # a ValueError names the bad part
        return value

    @property
    def unacknowledged_policy(self) -> dict[Severity, float]:
        """Minutes after which a page of each severity that no person took is escalated."""
        return parse_policy(self.escalate_unacknowledged)

    @model_validator(mode="after")
    def _the_pager_is_configured(self) -> Settings:
        """The chosen paging service's credentials are there; the other's are not needed."""
        pagers: dict[str, dict[str, object]] = {
            "pagerduty": {
                "PAGERDUTY_API_TOKEN": self.pagerduty_api_token,
                "PAGERDUTY_FROM_EMAIL": self.pagerduty_from_email,
                "PAGERDUTY_WEBHOOK_SECRETS": self.pagerduty_webhook_secrets,
            },
            "opsgenie": {
                "OPSGENIE_API_KEY": self.opsgenie_api_key,
                "OPSGENIE_WEBHOOK_SECRETS": self.opsgenie_webhook_secrets,
            },
        }
        for name, value in pagers[self.pager].items():
            if not value:
                raise ValueError(f"{name} is not set (SRE_PAGER is {self.pager})")
        return self

    @model_validator(mode="after")
    def _status_page_whole(self) -> Settings:
        """A status page needs both its key and its page; one without the other is a mistake, said at start."""
        if (self.statuspage_api_key is None) != (self.statuspage_page_id is None):
            missing = "STATUSPAGE_PAGE_ID" if self.statuspage_page_id is None else "STATUSPAGE_API_KEY"
            raise ValueError(f"{missing} is not set (the status page needs STATUSPAGE_API_KEY and STATUSPAGE_PAGE_ID)")
        return self

    @property
    def auto_acknowledge(self) -> bool:
        """Whether sre-agent acknowledges a page on the paging service as it opens the incident."""
        return self.pagerduty_auto_acknowledge if self.pager == "pagerduty" else self.opsgenie_auto_acknowledge

    @property
    def socket_mode(self) -> bool:
        return self.slack_app_token is not None

    def secret_values(self) -> list[str]:
        """Every secret configured (tokens, keys, signing secrets, the database's password): never logged."""
        values: list[str] = []
        for name in type(self).model_fields:
            value = getattr(self, name)
            for item in value if isinstance(value, list) else [value]:
                if isinstance(item, SecretStr):
                    values.append(item.get_secret_value())
        if self.database_url and (password := urlsplit(self.database_url).password):
            values.append(unquote(password))
        return values

    @field_validator("slack_api_url")
    @classmethod
    def _trailing_slash(cls, value: str) -> str:
        return value if value.endswith("/") else value + "/"

    @field_validator(
        "pagerduty_api_url", "pagerduty_events_url", "opsgenie_api_url", "opsgenie_app_url", "statuspage_api_url"
    )
    @classmethod
    def _no_trailing_slash(cls, value: str | None) -> str | None:
        return value.rstrip("/") if value else None

    @classmethod
    def from_env(cls, **overrides: object) -> Settings:
        """Load from the environment; a missing or invalid variable raises ConfigError naming it."""
        try:
            return cls(**overrides)  # type: ignore[arg-type]
        except ValidationError as error:
            raise ConfigError(describe_validation_error(error)) from error


def env_name(field_name: str) -> str:
    alias = Settings.model_fields[field_name].validation_alias
    return alias.choices[0] if isinstance(alias, AliasChoices) else field_name.upper()  # type: ignore[return-value]


def describe_validation_error(error: ValidationError) -> str:
    first = error.errors()[0]
    if not first["loc"]:  # a check across settings: its message names the variables
        return str(first["msg"]).removeprefix("Value error, ")
    loc = str(first["loc"][0])
    name = env_name(loc) if loc in Settings.model_fields else loc
    if first["type"] == "missing":
        return f"{name} is not set"
    return f"{name} is invalid: {first['msg'].removeprefix('Value error, ')}"
