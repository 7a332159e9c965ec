"""The JSON the gateway sends for Block Kit objects (bot/adapters/slack/plain.py) is what slack_sdk's `to_dict()`
makes of them, for every kind of message and view the bot builds, in their different states."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from slack_sdk.models.blocks import (
    ActionsBlock,
    Block,
    ButtonElement,
    ContextBlock,
    DividerBlock,
    Option,
    RichTextBlock,
    RichTextListElement,
    RichTextSectionElement,
    SectionBlock,
    StaticSelectElement,
)
from slack_sdk.models.views import View

from blocks import findings, incident, proposals, status_page, triage
from bot.adapters.slack.plain import as_json
from bot.config.catalog import load_catalog
from bot.config.runbooks import load_runbooks
from bot.domain.approval import DEFAULT_EXPIRY, Proposal, Status, approvals_needed
from bot.domain.diagnosis import Evidence, Hypothesis, Outcome, Role
from bot.domain.incident import Incident
from bot.domain.phase import Phase
from bot.domain.runbooks import match
from bot.domain.severity import Severity
from bot.domain.signals import from_text
from bot.domain.status_page import PostStatus, PublicPhase, PublicPost, draft, post_hash
from bot.domain.triage import blast_radius, signals_from_title

NOW = datetime(2026, 12, 6, 3, 0, tzinfo=UTC)
CATALOG = load_catalog(Path(__file__).parents[1] / "examples" / "catalog.yml", required=True)
[PLAN, *_] = match(load_runbooks(), from_text("3 pods OOMKilled"), {"service": "checkout-service"})


def _incident(phase: Phase, **changes: Any) -> Incident:
    base = Incident(
        source="pagerduty",
        external_id="PT4KHLK",
        title="checkout-service: error rate 8.5% <!channel> & *bold*",
        service="checkout-service",
        severity=Severity.P2,
        phase=phase,
        triggered_at=NOW,
        number=4211,
        html_url="https://acme.pagerduty.com/incidents/PT4KHLK",
        escalation_policy_id="PXPGF42",
        channel_id="C0INC4211",
        channel_name="inc-4211-checkout-service",
        id=7,
    )
    return dataclasses.replace(base, **changes)


INCIDENTS = [
    _incident(Phase.TRIGGERED),
    _incident(Phase.ACKNOWLEDGED, commander="U0DANA", acknowledged_at=NOW + timedelta(minutes=1)),
    _incident(Phase.AWAITING_APPROVAL, commander="U0DANA", severity=Severity.P1),
    _incident(Phase.VERIFYING, severity=Severity.P4),
    _incident(Phase.RESOLVED, resolved_at=NOW + timedelta(minutes=30), resolution="rolled back v2.14.1"),
    _incident(Phase.TRIGGERED, number=None, html_url=None, source="slack", channel_id=None, channel_name=None),
]


def _post(phase: PublicPhase, status: PostStatus, *, updates: bool) -> PublicPost:
    name, body, components = draft(phase, ["Checkout"], ["ckt4mz8q1r0w"], Severity.P2)
    digest = post_hash(phase, name, body, components, updates=updates)
    return PublicPost(1, 7, phase, name, body, components, updates, digest, status, NOW)


EVIDENCE = (
    Evidence("monitoring", Role.MONITORING, "What do the metrics say?", Outcome.ANSWERED, "p99 latency 2.3 s"),
    Evidence("k8s", Role.KUBERNETES, "Any pod restarts?", Outcome.UNAVAILABLE, reason="timed out after 10 s"),
)
HYPOTHESES = (Hypothesis("3 pods OOMKilled after deploy v2.14.1", 0.8, ("k8s: OOMKilled",), ("roll back",)),)


def _made() -> list[tuple[str, list[Block] | View]]:
    made: list[tuple[str, list[Block] | View]] = []
    for i, each in enumerate(INCIDENTS):
        made.append((f"card {i}", incident.incident_card(each)))
        made.append((f"announcement {i}", incident.announcement(each)[1]))
        radius = blast_radius(each.service, CATALOG, signals_from_title(each.title))
        made.append((f"triage {i}", triage.triage_blocks(each, radius)))
    made.append(("findings", findings.findings_blocks("checkout-service", EVIDENCE, HYPOTHESES)))
    made.append(("no findings", findings.findings_blocks("checkout-service", (), ())))
    base = Proposal(1, 7, PLAN, PLAN.hash, Status.PROPOSED, NOW, NOW + DEFAULT_EXPIRY, approvals_needed(PLAN))
    for status in Status:
        proposal = dataclasses.replace(base, status=status, approvers=("U0DANA",), reason="not now", outcome="done")
        made.append((f"proposal {status}", proposals.proposal_blocks(proposal, "Roll back checkout-service")))
    made.append(("reject modal", proposals.reject_modal(base, "C0INC4211")))
    made.append(("verified", proposals.verified_blocks(INCIDENTS[1], "error rate back under 1%")))
    for phase in PublicPhase:
        for post_status in PostStatus:
            post = _post(phase, post_status, updates=phase is not PublicPhase.INVESTIGATING)
            made.append((f"post {phase} {post_status}", status_page.post_blocks(post, {"ckt4mz8q1r0w": "Checkout"})))
    editing = _post(PublicPhase.IDENTIFIED, PostStatus.PROPOSED, updates=True)
    made.append(("edit modal", status_page.edit_modal(editing, "C0INC4211")))
    # kinds slack_sdk writes out in its own way: options of a select, rich text (allowed empty), a divider
    options = [Option(text="P1", value="P1"), Option(text="P2", value="P2")]
    select = StaticSelectElement(action_id="pick", options=options)
    empty = [RichTextSectionElement(elements=[]), RichTextListElement(style="bullet", elements=[])]
    made.append(
        (
            "others",
            [
                ActionsBlock(elements=[select, ButtonElement(text="Go", action_id="go")]),
                RichTextBlock(elements=empty),
                DividerBlock(),
                ContextBlock(elements=[]),
                SectionBlock(text="x", fields=[]),
            ],
        )
    )
    return made


MADE = _made()


@pytest.mark.parametrize(("name", "built"), MADE, ids=[name for name, _ in MADE])
def test_the_json_sent_is_slack_sdks(name: str, built: list[Block] | View) -> None:
    if isinstance(built, View):
        assert as_json(built) == built.to_dict()
    else:
        assert as_json(built) == [block.to_dict() for block in built]
