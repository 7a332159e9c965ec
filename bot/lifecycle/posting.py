"""Messages the bot posts once per incident and purpose (the card, the announcement, the findings, a proposal...),
even across a crash: each carries its purpose as Slack message metadata, and a step that was begun before (the
process may have died after Slack took the message and before its ts was stored) first looks for it in the channel
and adopts it instead of posting a second one."""

from __future__ import annotations

import logging
from collections.abc import Sequence

from slack_sdk.models.blocks import Block

from bot.adapters.slack.gateway import SlackGateway
from bot.domain.incident import Incident
from bot.errors import SlackError
from bot.ports.clock import Clock
from bot.store import Store

log = logging.getLogger(__name__)


class Poster:
    def __init__(self, store: Store, slack: SlackGateway, clock: Clock) -> None:
        self.store = store
        self.slack = slack
        self.clock = clock

    async def post_once(
        self,
        incident: Incident,
        purpose: str,
        channel: str,
        text: str,
        blocks: Sequence[Block] | None = None,
        *,
        thread_ts: str | None = None,
        again: bool,
    ) -> str:
        """The ts of this incident's message for `purpose`. `again` (the step was begun before): the one recorded,
        else the one found in the channel; else, and always when not `again`, a new one. Recorded before it
        returns."""
        assert incident.id is not None
        tag = _tag(incident, purpose)
        found = None
        if again:
            ref = await self.store.message_ref(incident.id, purpose)
            if ref is not None:
                return ref[1]
            found = await self._posted(incident, purpose, channel, thread_ts)
        if found is not None:
            channel, ts = found
        else:  # (the channel as Slack names it: one given by name cannot be updated by that name)
            channel, ts = await self.slack.post_message(channel, text, blocks, thread_ts=thread_ts, tag=tag)
        await self.store.save_message_ref(incident.id, purpose, channel, ts, now=self.clock.now())
        return ts

    async def say_once(self, incident: Incident, purpose: str, channel: str, text: str, *, again: bool) -> None:
        """A message posted once for `purpose` whose caller's step records that it was said (nothing is stored
        here: it is never updated). `again` (the step was begun before): first looked for in the channel."""
        if again and await self._posted(incident, purpose, channel, None) is not None:
            return
        await self.slack.post_message(channel, text, tag=_tag(incident, purpose))

    async def _posted(
        self, incident: Incident, purpose: str, channel: str, thread_ts: str | None
    ) -> tuple[str, str] | None:
        """The channel's id and the ts of the incident's message for `purpose` found in `channel`, if any."""
        try:
            channel_id = await self.slack.channel_id(channel)
            ts = await self.slack.find_tagged(channel_id, _tag(incident, purpose), thread_ts=thread_ts)
        except SlackError as exc:  # e.g. not a member of the incidents channel: better twice than never
            log.warning("could not look for %s's %s message in %s: %s", incident.key, purpose, channel, exc)
            return None
        return (channel_id, ts) if ts is not None else None


def _tag(incident: Incident, purpose: str) -> dict[str, str]:
    return {"incident": incident.key, "purpose": purpose}
