"""Postmortems: the first draft written from an incident's timeline (bot.domain.postmortem), rendered with the
shipped template or a team's own (blocks.postmortem)."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from blocks import postmortem as words
from blocks.postmortem import as_json, render
from bot.adapters.slack.gateway import SlackGateway
from bot.domain.incident import Incident
from bot.domain.postmortem import Postmortem, write
from bot.domain.runbooks import Runbook
from bot.domain.timeline import TimelineEvent
from bot.errors import SlackError, SreAgentError
from bot.ports.clock import Clock, SystemClock
from bot.store import Store, Timer

__all__ = ["POSTMORTEM", "Postmortems", "Written"]

POSTMORTEM = "postmortem"  # the durable timer that writes and shares an incident's postmortem once it closed

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
        clock: Clock | None = None,
    ) -> None:
        self.slack = slack
        self.clock = clock or SystemClock()
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

    async def publish(self, incident: Incident) -> str:
        """Write the postmortem, keep it, and share it in the incident's channel (a summary message with the whole
        document as a Markdown file) unless the same version was shared already; what was done, in words.

        Shared once even across a crash: the file Slack issues for a version is kept before it is shared, and a
        later run for the same version first asks Slack whether that file reached the channel."""
        assert incident.id is not None
        written = await self.of(incident)
        digest = hashlib.sha256(written.markdown.encode()).hexdigest()
        stored = await self.store.postmortem(incident.id)
        if stored is not None and stored.posted_digest == digest:
            return words.unchanged(incident, stored.permalink)
        await self.store.save_postmortem(
            incident.id, digest=digest, markdown=written.markdown, data=written.json(), now=self.clock.now()
        )
        if not incident.channel_id or self.slack is None:
            return words.kept(incident)
        channel_id, incident_id = incident.channel_id, incident.id
        if stored is not None and stored.sharing_digest == digest and stored.sharing_file_id:
            file_id = stored.sharing_file_id
            try:
                shared, permalink = await self.slack.file_shared(file_id, channel_id)
            except SlackError as exc:  # better twice than never
                log.warning("could not ask Slack whether %s's postmortem was shared: %s", incident.key, exc)
                shared = False
            if shared:
                await self.store.postmortem_posted(incident_id, digest=digest, file_id=file_id, permalink=permalink)
                return words.posted(incident, permalink)

        async def begun(file_id: str) -> None:
            await self.store.postmortem_sharing(incident_id, digest=digest, file_id=file_id)

        file_id, permalink = await self.slack.upload(
            channel_id,
            f"{incident.label}-postmortem.md",
            written.markdown,
            title=f"Postmortem draft: {incident.label}",
            comment=words.shared(written.postmortem, again=stored is not None and stored.posted_digest is not None),
            begun=begun,
        )
        await self.store.postmortem_posted(incident_id, digest=digest, file_id=file_id, permalink=permalink)
        return words.posted(incident, permalink)

    async def on_timer(self, timer: Timer) -> None:
        """The incident closed: its postmortem, once (a version shared already is not shared again)."""
        incident = await self.store.incident(timer.incident_id) if timer.incident_id is not None else None
        if incident is None:
            return
        try:
            await self.publish(incident)
        except SreAgentError as exc:
            log.warning("the postmortem of %s could not be shared: %s", incident.key, exc)

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
