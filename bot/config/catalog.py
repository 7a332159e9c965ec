"""Reading the service catalog from YAML (SRE_CATALOG_PATH). A bad file stops the start with one line that names the
file, the path inside it and the problem, e.g.
``catalog.yml: services[1].tier: Input should be less than or equal to 4, got 7``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from bot.config.files import describe, read_yaml
from bot.domain.catalog import Catalog, CatalogError, Service
from bot.errors import ConfigError

__all__ = ["load_catalog", "parse_catalog"]


class _PagerDuty(BaseModel):
    model_config = ConfigDict(extra="forbid")
    service: str | None = None
    escalation_policy: str | None = None


class _Slack(BaseModel):
    model_config = ConfigDict(extra="forbid")
    channel: str | None = None
    usergroup: str | None = None


class _OpsGenie(BaseModel):
    model_config = ConfigDict(extra="forbid")
    escalation: str | None = None  # its name (or id): the escalation the service's alerts follow


class _Statuspage(BaseModel):
    model_config = ConfigDict(extra="forbid")
    component: str | None = Field(default=None, pattern=r"^[A-Za-z0-9]{1,64}$")  # the component's id on the page
    name: str | None = Field(default=None, min_length=1, max_length=100)  # what customers call the service


class _Kubernetes(BaseModel):
    model_config = ConfigDict(extra="forbid")
    namespace: str | None = None
    release: str | None = None


class _Service(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str
    aliases: list[str] = Field(default_factory=list)
    tier: int = Field(3, ge=1, le=4)
    team: str | None = None
    slack: _Slack = Field(default_factory=_Slack)
    pagerduty: _PagerDuty = Field(default_factory=_PagerDuty)
    opsgenie: _OpsGenie = Field(default_factory=_OpsGenie)
    kubernetes: _Kubernetes = Field(default_factory=_Kubernetes)
    statuspage: _Statuspage = Field(default_factory=_Statuspage)
    depends_on: list[str] = Field(default_factory=list)
    user_facing: bool = False
    users: int | None = Field(None, ge=0)


class _File(BaseModel):
    model_config = ConfigDict(extra="forbid")
    version: int = 1
    services: list[_Service] = Field(default_factory=list)


def _paging(s: _Service, pager: str) -> tuple[str | None, str | None]:
    """Where the pager in use pages for the service, and along which escalation (see Service.pager_service_id)."""
    if pager == "opsgenie":
        return (s.name if s.opsgenie.escalation else None), s.opsgenie.escalation
    return s.pagerduty.service, s.pagerduty.escalation_policy


def parse_catalog(data: Any, origin: str, *, pager: str = "pagerduty") -> Catalog:
    """A catalog from parsed YAML, for the pager in use (`pagerduty` or `opsgenie`); CatalogError names ``origin``
    and the path of the bad value."""
    if data is None:
        data = {}
    try:
        parsed = _File.model_validate(data)
    except ValidationError as exc:
        raise CatalogError(describe(exc, origin, data=data)) from None
    services = tuple(
        Service(
            name=s.name,
            aliases=tuple(s.aliases),
            tier=s.tier,
            team=s.team,
            slack_channel=s.slack.channel,
            slack_usergroup=s.slack.usergroup,
            pager_service_id=_paging(s, pager)[0],
            escalation_policy_id=_paging(s, pager)[1],
            depends_on=tuple(s.depends_on),
            user_facing=s.user_facing,
            users=s.users,
            namespace=s.kubernetes.namespace,
            release=s.kubernetes.release,
            status_component=s.statuspage.component,
            public_name=s.statuspage.name,
        )
        for s in parsed.services
    )
    try:
        return Catalog(services)
    except CatalogError as exc:
        raise CatalogError(f"{origin}: {exc}") from None


def load_catalog(path: Path | None, *, required: bool, pager: str = "pagerduty") -> Catalog:
    """The catalog at ``path``. A missing file is an empty catalog unless ``required`` (the path was set on purpose).
    Raises ConfigError with one line naming the file and the problem."""
    if path is None:
        return Catalog()
    if not path.is_file():
        if required:
            raise ConfigError(f"SRE_CATALOG_PATH: no file at {path}")
        return Catalog()
    data = read_yaml(path)
    try:
        return parse_catalog(data, str(path), pager=pager)
    except CatalogError as exc:
        raise ConfigError(str(exc)) from exc
