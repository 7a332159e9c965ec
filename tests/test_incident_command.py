"""`/incident` subcommands over real HTTP: signed slash commands from the sandbox's Slack, answers within Slack's
3 seconds, effects on PagerDuty, the store, the card and the channel."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from bot.domain.incident import Incident
from bot.domain.phase import Phase
from handlers.incident_command import HELP
from tests.harness import Harness, cards, eventually, texts


async def _incident(h: Harness, title: str = "checkout-service: error rate 8.5%") -> Incident:
    h.sandbox.pagerduty.page("checkout-service", title, priority="P2")
    await h.settle()
    [incident] = await h.services.store.incidents()
    assert incident.channel_id and incident.id is not None
    return incident


async def _command(h: Harness, user: str, channel: str, text: str) -> dict[str, Any]:
    result = await h.sandbox.slack.send_command(user, channel, "/incident", text)
    assert result["status"] == 200, result
    assert result["elapsed_ms"] < 3000  # Slack's limit for the ack
    return result


def _ephemerals(h: Harness, user: str) -> list[str]:
    return [e.text for e in h.sandbox.slack.ephemerals if e.user == user]


async def _said(h: Harness, channel: str, fragment: str) -> str:
    found: list[str] = []

    def check() -> bool:
        found[:] = [t for t in texts(h.sandbox, channel) if fragment in t]
        return bool(found)

    await eventually(check)
    return found[-1]


async def _reload(h: Harness, incident: Incident) -> Incident:
    assert incident.id is not None
    fresh = await h.services.store.incident(incident.id)
    assert fresh is not None
    return fresh


async def _timeline_kinds(h: Harness, incident: Incident) -> list[str]:
    assert incident.id is not None
    return [str(e.kind) for e in await h.services.store.timeline(incident.id)]


async def test_help_and_unknown_subcommands_answer_privately(h: Harness) -> None:
    await _command(h, "U0DANA", "C0INCIDENTS", "help")
    await eventually(lambda: HELP in _ephemerals(h, "U0DANA"))
    await _command(h, "U0DANA", "C0INCIDENTS", "frobnicate now")
    unknown = "I don't know `/incident frobnicate`."
    await eventually(lambda: any(t.startswith(unknown) for t in _ephemerals(h, "U0DANA")))


async def test_sev_changes_severity_here_and_on_pagerduty(h: Harness) -> None:
    incident = await _incident(h)
    assert incident.channel_id
    await _command(h, "U0DANA", incident.channel_id, "sev P1")
    said = await _said(h, incident.channel_id, "set the severity")
    assert said == ":red_circle: <@U0DANA> set the severity to *P1*, here and on PagerDuty."
    await h.settle()
    fresh = await _reload(h, incident)
    assert str(fresh.severity) == "P1"
    assert h.sandbox.pagerduty.incidents[incident.external_id].priority == "P1"
    [card] = cards(h.sandbox, incident.channel_id)
    assert "P1 · INC-4211" in json.dumps(card.blocks, ensure_ascii=False)
    # PagerDuty's priority_updated echo does not say it again
    assert len([t for t in texts(h.sandbox, incident.channel_id) if "the severity to" in t]) == 1
    assert (await _timeline_kinds(h, incident)).count("severity_changed") == 1


async def test_sev_with_a_bad_value_says_how(h: Harness) -> None:
    incident = await _incident(h)
    assert incident.channel_id
    await _command(h, "U0DANA", incident.channel_id, "sev critical")
    await eventually(lambda: any("P1 to P5" in t for t in _ephemerals(h, "U0DANA")))
    assert str((await _reload(h, incident)).severity) == "P2"


async def test_commander_by_mention_and_me(h: Harness) -> None:
    incident = await _incident(h)
    assert incident.channel_id
    await _command(h, "U0DANA", incident.channel_id, "commander <@U0SAM|sam>")
    said = await _said(h, incident.channel_id, "incident commander")
    assert said == ":large_green_circle: <@U0DANA> made <@U0SAM> the incident commander."
    assert "U0SAM" in h.sandbox.slack.channels[incident.channel_id].members  # brought into the channel
    assert (await _reload(h, incident)).commander == "U0SAM"
    [card] = cards(h.sandbox, incident.channel_id)
    assert "<@U0SAM>" in json.dumps(card.blocks, ensure_ascii=False)

    await _command(h, "U0DANA", incident.channel_id, "commander me")
    await _said(h, incident.channel_id, "<@U0DANA> is now the incident commander")
    assert (await _reload(h, incident)).commander == "U0DANA"
    assert (await _timeline_kinds(h, incident)).count("commander_changed") == 2


async def test_commander_without_a_person_says_how(h: Harness) -> None:
    incident = await _incident(h)
    assert incident.channel_id
    await _command(h, "U0DANA", incident.channel_id, "commander sam")
    await eventually(lambda: any("/incident commander @someone" in t for t in _ephemerals(h, "U0DANA")))


async def test_note_goes_on_the_timeline_escaped(h: Harness) -> None:
    incident = await _incident(h)
    assert incident.channel_id
    await _command(h, "U0DANA", incident.channel_id, "note rolled back to v1.4.1 <!channel>")
    said = await _said(h, incident.channel_id, "noted")
    assert said == ":memo: <@U0DANA> noted:\n>rolled back to v1.4.1 &lt;!channel&gt;"
    assert incident.id is not None
    notes = [e for e in await h.services.store.timeline(incident.id) if e.kind == "note"]
    assert [(n.actor, n.text) for n in notes] == [("slack:U0DANA", "rolled back to v1.4.1 <!channel>")]


async def test_an_empty_note_is_refused(h: Harness) -> None:
    incident = await _incident(h)
    assert incident.channel_id
    await _command(h, "U0DANA", incident.channel_id, "note")
    await eventually(lambda: any("/incident note <text>" in t for t in _ephemerals(h, "U0DANA")))


async def test_escalate_pages_the_next_level_and_invites_it(h: Harness) -> None:
    incident = await _incident(h)
    assert incident.channel_id
    assert "U0SAM" not in h.sandbox.slack.channels[incident.channel_id].members
    await _command(h, "U0DANA", incident.channel_id, "escalate")
    said = await _said(h, incident.channel_id, "escalated this incident")
    assert said == ":arrow_double_up: <@U0DANA> escalated this incident to level 2 on PagerDuty. Invited <@U0SAM>."
    pd = h.sandbox.pagerduty.incidents[incident.external_id]
    assert pd.escalation_level == 2 and pd.assignees == ["sam"]
    assert "U0SAM" in h.sandbox.slack.channels[incident.channel_id].members
    await h.settle()  # whose call it was, on PagerDuty too
    assert [n.content for n in pd.notes if "level 2" in n.content] == ["Escalated to level 2 by dana in Slack"]


async def test_escalate_past_the_last_level_says_what_pagerduty_said(h: Harness) -> None:
    incident = await _incident(h)
    assert incident.channel_id
    await _command(h, "U0DANA", incident.channel_id, "escalate")
    await _said(h, incident.channel_id, "level 2")
    await _command(h, "U0DANA", incident.channel_id, "escalate")
    await eventually(lambda: any("PagerDuty refused to escalate" in t for t in _ephemerals(h, "U0DANA")))
    assert h.sandbox.pagerduty.incidents[incident.external_id].escalation_level == 2


async def test_resolve_then_reopen(h: Harness) -> None:
    incident = await _incident(h)
    assert incident.channel_id
    await _command(h, "U0DANA", incident.channel_id, "resolve fixed")
    await _said(h, incident.channel_id, "resolved this incident")
    await _command(h, "U0DANA", incident.channel_id, "note too late")
    await _said(h, incident.channel_id, "too late")  # notes work on a resolved incident too
    await _command(h, "U0DANA", incident.channel_id, "reopen")
    said = await _said(h, incident.channel_id, "reopened this incident")
    assert said.startswith(":repeat: <@U0DANA> reopened this incident. PagerDuty's API cannot reopen")
    fresh = await _reload(h, incident)
    assert fresh.phase is Phase.TRIGGERED and fresh.resolved_at is None
    [card] = cards(h.sandbox, incident.channel_id)
    assert "Resolve this incident?" in json.dumps(card.blocks, ensure_ascii=False)  # the Resolve button is back
    await _command(h, "U0DANA", incident.channel_id, "reopen")
    await eventually(lambda: any("is open already" in t for t in _ephemerals(h, "U0DANA")))


async def test_status_in_channel_shows_the_fresh_card_and_elsewhere_the_list(h: Harness) -> None:
    incident = await _incident(h)
    assert incident.channel_id
    await _command(h, "U0DANA", incident.channel_id, "sev P1")
    await _said(h, incident.channel_id, "set the severity")
    await _command(h, "U0DANA", incident.channel_id, "status")

    def card_shown() -> bool:
        return any(
            e.blocks and "P1 · INC-4211" in json.dumps(e.blocks, ensure_ascii=False)
            for e in h.sandbox.slack.ephemerals
            if e.user == "U0DANA"
        )

    await eventually(card_shown)
    await _command(h, "U0SAM", "C0INCIDENTS", "status")
    await eventually(lambda: any(t.startswith("Open incidents: P1 INC-4211") for t in _ephemerals(h, "U0SAM")))


async def test_list_orders_by_severity_and_says_when_there_is_none(h: Harness) -> None:
    await _command(h, "U0SAM", "C0INCIDENTS", "list")
    await eventually(lambda: ":sunny: No open incidents." in _ephemerals(h, "U0SAM"))
    h.sandbox.pagerduty.page("checkout-service", "first, less severe", priority="P3")
    h.sandbox.pagerduty.page("checkout-service", "second, worse", priority="P1")
    await h.settle()
    await _command(h, "U0SAM", "C0INCIDENTS", "ls")
    await eventually(lambda: "Open incidents: P1 INC-4212, P3 INC-4211" in _ephemerals(h, "U0SAM"))


@pytest.mark.parametrize("sub", ["sev P1", "commander me", "note x", "escalate", "resolve", "reopen", "postmortem"])
async def test_channel_subcommands_elsewhere_say_so(h: Harness, sub: str) -> None:
    await _command(h, "U0DANA", "C0INCIDENTS", sub)
    await eventually(lambda: any("incident channel" in t for t in _ephemerals(h, "U0DANA")))


async def test_postmortem_shares_the_draft_as_a_file_and_again_only_when_the_timeline_changed(h: Harness) -> None:
    incident = await _incident(h)
    assert incident.channel_id

    def shared() -> list[Any]:
        return [m for m in h.sandbox.slack.messages_in(incident.channel_id) if m.files]

    await _command(h, "U0DANA", incident.channel_id, "postmortem")
    await eventually(lambda: len(shared()) == 1)
    [message] = shared()
    [file] = message.files
    assert file["name"] == f"{incident.label}-postmortem.md" and file["title"] == f"Postmortem draft: {incident.label}"
    assert message.text.startswith(":memo: *Postmortem draft* for INC-4211")
    document = h.sandbox.slack.files[file["id"]].content.decode()
    assert document.startswith(f"# Postmortem: {incident.label}") and "## Timeline" in document
    await eventually(lambda: any("is in its channel" in t for t in _ephemerals(h, "U0DANA")))
    # recorded once Slack's answer came back (the file shows in the channel a moment before)
    stored = await h.services.store.postmortem(incident.id)
    assert stored is not None and stored.markdown == document and stored.file_id == file["id"]
    await _command(h, "U0DANA", incident.channel_id, "postmortem")  # nothing new on the timeline
    await eventually(lambda: any("is up to date" in t for t in _ephemerals(h, "U0DANA")))
    assert len(shared()) == 1
    await _command(h, "U0DANA", incident.channel_id, "note restarted the payments pods by hand")

    async def noted() -> bool:
        return any("restarted the payments pods" in e.text for e in await h.services.store.timeline(incident.id))

    await eventually(noted)
    await _command(h, "U0DANA", incident.channel_id, "postmortem")
    await eventually(lambda: len(shared()) == 2)
    assert "written again" in shared()[-1].text
    again = h.sandbox.slack.files[shared()[-1].files[0]["id"]].content.decode()
    assert "restarted the payments pods by hand" in again


async def test_a_postmortem_whose_sharing_was_cut_off_after_slack_took_it_is_not_shared_again(h: Harness) -> None:
    """The process stops after Slack shared the file and before its answer came: started again, the postmortem's
    timer fires again, asks Slack whether the file it was sharing reached the channel, and keeps that one."""
    incident = await _incident(h)
    assert incident.channel_id and incident.id is not None

    def shared() -> list[Any]:
        return [m for m in h.sandbox.slack.messages_in(incident.channel_id) if m.files]

    sharing = h.sandbox.slack.hold("files.completeUploadExternal")
    await _command(h, "U0DANA", incident.channel_id, "resolve rolled back the config change")
    await asyncio.wait_for(sharing.reached.wait(), 10)  # shared in the channel; the answer is held back
    assert len(shared()) == 1
    await h.stop()
    sharing.release()
    await h.start()
    await h.settle()
    await asyncio.sleep(0.5)
    assert len(shared()) == 1
    [file] = shared()[0].files
    stored = await h.services.store.postmortem(incident.id)
    assert stored is not None and stored.file_id == file["id"] and stored.posted_digest == stored.digest
    assert stored.permalink == file["permalink"]


def test_current_level_is_read_from_the_assignments() -> None:
    from bot.domain.oncall import OnCall
    from bot.lifecycle.actions import current_level

    oncall = [OnCall("Dana", "d@x", 1, "PD"), OnCall("Jo", "j@x", 1, "PJ"), OnCall("Sam", "s@x", 2, "PS")]
    assert current_level({"PD", "PJ"}, oncall) == 1
    assert current_level({"PS"}, oncall) == 2
    assert current_level({"PD", "PJ", "PS"}, oncall) == 2
    assert current_level(set(), oncall) == 1  # nobody assigned (resolved, or assigned by hand): start from 1


async def test_resolving_shares_the_postmortem_once_even_across_a_restart(h: Harness) -> None:
    incident = await _incident(h)
    assert incident.channel_id

    def shared() -> list[Any]:
        return [m for m in h.sandbox.slack.messages_in(incident.channel_id) if m.files]

    await _command(h, "U0DANA", incident.channel_id, "resolve rolled back the config change")
    await eventually(lambda: len(shared()) == 1, within=10)
    document = h.sandbox.slack.files[shared()[0].files[0]["id"]].content.decode()
    assert "Resolution: rolled back the config change" in document and "| Status | resolved |" in document
    # no agent asked, no SLO: said to be unknown, nothing made up
    assert "Unknown: no agent named a cause and nobody wrote one down." in document
    assert "Error budget spent: unknown" in document and "No runbook plan was proposed." in document
    await h.restart()
    await h.settle()
    assert len(shared()) == 1  # its timer fired once; the version shared is on record
