"""Postmortems: the first draft written from an incident's timeline (bot.domain.postmortem), rendered with the
shipped template or a team's own (blocks.postmortem)."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from blocks.postmortem import as_json, render
from bot.adapters.slack.gateway import SlackGateway
from bot.domain.incident import Incident
from bot.domain.postmortem import Postmortem, write
from bot.domain.runbooks import Runbook
from bot.domain.timeline import TimelineEvent
from bot.errors import SreAgentError
from bot.store import Store

__all__ = ["Postmortems", "Written"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Written:
    postmortem: Postmortem
    markdown: str

    def json(self) -> dict[str, Any]:
        return as_json(self.postmortem)


class Postmortems:
    def __init__(
        self,
        *,
        store: Store,
        runbooks: Mapping[str, Runbook],
        zone: str = "UTC",
        template: Path | None = None,
        slack: SlackGateway | None = None,
    ) -> None:
        self.slack = slack
        self.store = store
        self.follow_ups = {name: rb.follow_up for name, rb in runbooks.items()}
        self.zone = zone
        self.template = template

    async def of(self, incident: Incident) -> Written:
        """The incident's postmortem as its timeline stands now, people by their Slack names where Slack says."""
        assert incident.id is not None
        events = await self.store.timeline(incident.id)
        names: dict[str, str] = {}
        if self.slack is not None:
            people = [e.actor.removeprefix("slack:") for e in events if e.actor.startswith("slack:")]
            try:
                names = await self.slack.user_names([*people, *([incident.commander] if incident.commander else [])])
            except SreAgentError as exc:  # written with the ids
                log.info("names for %s's postmortem could not be read: %s", incident.key, exc)
        return self.written(incident, events, names)

    def written(
        self, incident: Incident, events: Sequence[TimelineEvent], names: Mapping[str, str] | None = None
    ) -> Written:
        pm = write(
            label=incident.label,
            title=incident.title,
            service=incident.service,
            severity=str(incident.severity),
            commander=f"slack:{incident.commander}" if incident.commander else None,
            resolution=incident.resolution,
            events=events,
            follow_ups=self.follow_ups,
        )
        return Written(pm, render(pm, zone=self.zone, template=self.template, names=names))
