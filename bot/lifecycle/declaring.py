"""Declaring an incident from Slack (`/incident declare`, the form, `@sre ... is down`).

A declared incident runs the same lifecycle as a paged one. When the service is on PagerDuty (the catalog names its
PagerDuty service), the incident is opened there first through the REST API, so the on-call is paged as people
expect and the channel carries PagerDuty's number; PagerDuty's own webhook for it is then recognised, not doubled.
(The REST API answers with the incident's id and number at once; an Events API trigger would only return a dedup key
and the incident would have to be matched up later.) A service that is not on PagerDuty gets a Slack-only incident.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from datetime import datetime

from bot.adapters.slack.gateway import SlackGateway
from bot.domain.catalog import Catalog, Service
from bot.domain.events import Declared, record
from bot.domain.incident import Incident, SetupStep, transition
from bot.domain.intent import explicit_severity, read
from bot.domain.pager import DECLARED_KEY_PREFIX, PagedIncident, declaration_lock
from bot.domain.phase import Phase
from bot.domain.severity import Severity
from bot.domain.timeline import ACTOR_BOT, slack_actor
from bot.domain.triage import blast_radius, signals_from_title
from bot.errors import DomainError, DuplicateIncident, SreAgentError
from bot.lifecycle.delegation import Findings
from bot.lifecycle.opening import Opener
from bot.ports.clock import Clock
from bot.ports.pager import Pager

__all__ = ["SOURCE_BURN", "SOURCE_SLACK", "BurnPage", "Declaration", "Declarer", "suggest_severity"]

log = logging.getLogger(__name__)

SOURCE_SLACK = "slack"
SOURCE_BURN = "burn-rate"  # an incident sre-agent opened itself: an SLO burns its error budget at a page tier
TITLE_LIMIT = 150  # also the form's limit; PagerDuty allows more, Slack headers do not


@dataclass(frozen=True)
class BurnPage:
    """An SLO's page tier fired: what sre-agent declares. `key` is the same for the same firing (the SLO, the tier
    and when it started), so opening it twice opens one incident."""

    key: str
    title: str
    service: str
    description: str
    began_at: datetime | None = None  # when the tier began to fire: the first alert


@dataclass(frozen=True)
class Declaration:
    title: str
    service: str
    severity: Severity
    user_id: str
    description: str = ""
    # what the agents said already (a budget offer that was approved): the incident starts from it instead of
    # asking them again, so its proposal is the plan that was approved
    findings: Findings | None = None
    # the same key declares one incident however often it is declared (a retry after a restart): the pager's dedup
    # key, and a Slack-only incident's id
    key: str | None = None


def suggest_severity(title: str, service: str | None, catalog: Catalog) -> Severity:
    """What the words say (``sev1``, "down for everyone") first; else what the blast radius suggests (the tiers of
    the service and of what depends on it, and whether and how many users see it); P3 for a service not in the
    catalog."""
    named = explicit_severity(title)
    if named is not None:
        return named
    if read(title, catalog).severity is Severity.P1:
        return Severity.P1
    if service is None:
        return Severity.P3
    return blast_radius(service, catalog, signals_from_title(title)).suggested


class Declarer:
    def __init__(self, *, opener: Opener, pager: Pager, slack: SlackGateway, clock: Clock, catalog: Catalog) -> None:
        self.opener = opener
        self.pager = pager
        self.slack = slack
        self.clock = clock
        self.catalog = catalog

    async def declare(self, declaration: Declaration) -> Incident:
        title = declaration.title.strip()
        if not title:
            raise DomainError(
                "no title", user_message="An incident needs a title: `/incident declare <what is wrong>`."
            )
        if len(title) > TITLE_LIMIT:
            raise DomainError("title too long", user_message=f"Keep the title within {TITLE_LIMIT} characters.")
        service = self.catalog.get(declaration.service)
        if service is None or not service.pager_service_id:
            incident = Incident(
                source=SOURCE_SLACK,
                external_id=declaration.key or uuid.uuid4().hex,
                escalation_policy_id=service.escalation_policy_id if service else None,
                title=title,
                service=declaration.service,
                severity=declaration.severity,
                phase=Phase.TRIGGERED,
                triggered_at=self.clock.now(),
                commander=declaration.user_id,
            )
            return await self._declared(incident, declaration, title)
        incident_key = f"{DECLARED_KEY_PREFIX}{declaration.key or uuid.uuid4().hex}"
        # the pager's webhook for it waits for this (bot/lifecycle/pager_sync.py)
        async with self.opener.locks.hold(declaration_lock(incident_key)):
            created = await self.pager.create_incident(
                title=title,
                service_id=service.pager_service_id,
                urgency="high" if declaration.severity.rank <= 2 else "low",
                priority=str(declaration.severity),
                details=declaration.description,
                incident_key=incident_key,
            )
            incident = self._paged(created, service, declaration.service, title, declaration.severity, self.clock.now())
            incident.commander = declaration.user_id
            return await self._declared(incident, declaration, title)

    async def _declared(self, incident: Incident, declaration: Declaration, title: str) -> Incident:
        """Store and open `incident`, declared as `declaration` says; the person who declared it in its channel."""
        now = self.clock.now()
        actor = slack_actor(declaration.user_id)
        incident.steps.add(SetupStep.ACKNOWLEDGE)  # never auto-acknowledge what a person declared
        events = [
            record(
                Declared(True, declaration.service, str(declaration.severity), declaration.description),
                at=now,
                actor=actor,
                text=title,
            )
        ]
        if incident.source == SOURCE_SLACK:  # the person who declared it is on it
            events += transition(incident, Phase.ACKNOWLEDGED, at=now, actor=actor)
        incident = await self.opener.open_declared(incident, events, findings=declaration.findings)
        if incident.channel_id:
            await self.slack.invite(incident.channel_id, [declaration.user_id])
        return incident

    async def declare_burn(self, burn: BurnPage) -> Incident | None:
        """Open an incident for a burning SLO, once per firing, with the same lifecycle as a page. A service on the
        pager is paged there (with the firing's key as the pager's dedup key: a second try is refused by the pager,
        and the pager's webhook for the first opens the incident); any other gets a Slack-only incident."""
        service = self.catalog.get(burn.service)
        severity = suggest_severity(burn.title, burn.service, self.catalog)
        if service is None or not service.pager_service_id:
            return await self._burn_declared(burn, severity, service)
        incident_key = f"{DECLARED_KEY_PREFIX}{burn.key}"
        # the pager's webhook for it waits for this (bot/lifecycle/pager_sync.py)
        async with self.opener.locks.hold(declaration_lock(incident_key)):
            try:
                created = await self.pager.create_incident(
                    title=burn.title,
                    service_id=service.pager_service_id,
                    urgency="high" if severity.rank <= 2 else "low",
                    priority=str(severity),
                    details=burn.description,
                    incident_key=incident_key,
                )
            except DuplicateIncident:  # opened by an earlier try of this firing: the pager's webhook opens it here
                log.info("%s: the pager has this firing's incident already", burn.key)
                return None
            except SreAgentError as exc:
                log.warning("%s: the pager did not open the incident (%s): opening it in Slack only", burn.key, exc)
                return await self._burn_declared(burn, severity, service)
            paged = self._paged(created, service, burn.service, burn.title, severity, self.clock.now())
            return await self._burn_declared(burn, severity, service, paged)

    async def _burn_declared(
        self, burn: BurnPage, severity: Severity, service: Service | None, incident: Incident | None = None
    ) -> Incident:
        """Store and open the incident of a burning SLO: `incident` as the pager opened it, or (None) in Slack only."""
        now = self.clock.now()
        if incident is None:
            incident = Incident(
                source=SOURCE_BURN,
                external_id=burn.key,
                escalation_policy_id=service.escalation_policy_id if service else None,
                title=burn.title,
                service=burn.service,
                severity=severity,
                phase=Phase.TRIGGERED,  # nobody is on it yet: a person acknowledges it
                triggered_at=now,
            )
        incident.steps.add(SetupStep.ACKNOWLEDGE)
        began = burn.began_at.isoformat() if burn.began_at else ""
        events = [
            record(
                Declared(True, burn.service, str(severity), burn.description, began),
                at=now,
                actor=ACTOR_BOT,
                text=burn.title,
            )
        ]
        return await self.opener.open_declared(incident, events)

    def _paged(
        self, created: PagedIncident, service: Service, name: str, title: str, severity: Severity, now: datetime
    ) -> Incident:
        """The incident the pager opened for a declaration: the pager is paging the on-call, and their
        acknowledgement comes from there."""
        return Incident(
            source=self.pager.source,
            external_id=created.id,
            number=created.number,
            html_url=created.html_url,
            urgency=created.urgency,
            escalation_policy_id=created.escalation_policy_id or service.escalation_policy_id,
            title=title,
            service=name,
            severity=severity,
            phase=Phase.TRIGGERED,
            triggered_at=now,
        )
