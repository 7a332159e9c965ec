"""Updates for the incident's stakeholders on the pager (the brief: "post triage findings and remediation progress
as incident notes"): a PagerDuty status update, an OpsGenie note. A courtesy: one that fails is logged, and the
incident goes on."""

from __future__ import annotations

import logging

from bot.domain.incident import Incident
from bot.errors import SreAgentError
from bot.ports.pager import Pager

log = logging.getLogger(__name__)


class StakeholderUpdates:
    def __init__(self, pager: Pager) -> None:
        self.pager = pager

    async def publish(self, incident: Incident, message: str) -> bool:
        """Publish `message` (plain text) on the incident's page; False where it is not paged or the pager
        refused."""
        if incident.source != self.pager.source:
            return False
        try:
            await self.pager.publish_update(incident.external_id, message)
        except SreAgentError as exc:
            log.warning("could not publish an update on %s: %s", incident.key, exc)
            return False
        return True
