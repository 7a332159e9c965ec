"""Postmortems written from the timeline: the three shipped scenarios against golden files (times, ids and
durations masked, every other word and figure as written), every figure checked against the timeline it came from,
an honest draft for an incident nobody diagnosed, a person's root cause winning, and the same timeline giving the
same document."""

from __future__ import annotations

import asyncio
import os
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from blocks.postmortem import as_json, render
from bot.config.runbooks import load_runbooks
from bot.domain.events import BudgetSpent, Declared, Diagnosed, Hypothesis, PhaseChange, Plain, record
from bot.domain.postmortem import write
from bot.domain.timeline import EventKind, TimelineEvent
from sandbox.demo import play
from sandbox.scenario import load_scenario

GOLDEN = Path(__file__).resolve().parent / "golden"
UPDATE = os.environ.get("SRE_UPDATE_GOLDEN") == "1"  # write the golden files anew (then read the diff)
SECTIONS = [
    "## Summary",
    "## Impact",
    "## Timeline",
    "## Root cause",
    "## Remediation",
    "## Action items",
    "## Metrics",
]
FOLLOW_UPS = {rb.name: rb.follow_up for rb in load_runbooks()}
T0 = datetime(2026, 11, 25, 3, 2, tzinfo=UTC)


def masked(text: str) -> str:
    """The document without what differs from run to run: times, durations, Slack and PagerDuty ids, and the order
    of the timeline's rows (steps that run at once, such as posting the card and inviting the on-call, finish in
    either order; the order of each run's own timeline is checked against it apart)."""
    text = re.sub(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(?: [A-Z]{2,5})?", "<time>", text)
    text = re.sub(r"\b\d+(?:\.\d+)? (?:s|min|h|days)\b", "<duration>", text)
    text = re.sub(r"\bC[0-9A-Z]{8,}\b", "<channel>", text)
    text = re.sub(r"\bQ[0-9A-Z]{10,}\b", "<pagerduty-id>", text)
    head, rest = text.split("## Timeline", 1)
    table, tail = rest.split("## Root cause", 1)
    lines = table.splitlines(keepends=True)
    at = [i for i, line in enumerate(lines) if line.startswith("| <time>")]
    if at:
        lines = lines[: at[0]] + sorted(lines[at[0] : at[-1] + 1]) + lines[at[-1] + 1 :]
    return f"{head}## Timeline{''.join(lines)}## Root cause{tail}"


def _seconds(text: str) -> float | None:
    """A duration as the document says it ("6.5 min"), in seconds; None for "unknown"."""
    if text == "unknown":
        return None
    value, unit = text.split(" ")[:2]
    return float(value) * {"s": 1, "min": 60, "h": 3600, "days": 86400}[unit]


def _metric(document: str, name: str) -> str:
    [row] = [line for line in document.splitlines() if line.startswith(f"| {name} |")]
    return row.split("|")[2].strip().split(" (")[0]


@pytest.mark.parametrize("name", ["checkout-crash-storm", "payments-timeout", "checkout-budget"])
async def test_each_shipped_scenario_gets_its_postmortem_with_every_figure_from_its_timeline(name: str) -> None:
    summary = await play(load_scenario(name), speed=300)
    assert summary["ok"], summary.get("error")
    document = await asyncio.to_thread(Path(summary["postmortem"]["path"]).read_text, encoding="utf-8")
    golden = GOLDEN / f"{name}.md"
    if UPDATE:
        golden.write_text(masked(document), encoding="utf-8")
    assert masked(document) == golden.read_text(encoding="utf-8")
    assert [line for line in document.splitlines() if line in SECTIONS] == SECTIONS  # every section, in order
    # the timeline: one row per event, in order, at the event's time
    rows = [
        line for line in document.split("## Timeline")[1].split("## Root cause")[0].splitlines() if line[:3] == "| 2"
    ]
    assert len(rows) == len(summary["timeline"])
    for row, event in zip(rows, summary["timeline"], strict=True):
        assert row.split("|")[1].strip() == datetime.fromisoformat(event["at"]).strftime("%Y-%m-%d %H:%M:%S")
    # the metrics: as the summary measured them from the same timeline, to the document's rounding
    metrics = summary["metrics"]
    for label, key in [
        ("Time to detect", "time_to_detect_s"),
        ("Time to acknowledge", "time_to_acknowledge_s"),
        ("Time to mitigate", "time_to_mitigate_s"),
        ("Time to resolve", "time_to_resolve_s"),
    ]:
        said = _seconds(_metric(document, label))
        if metrics[key] is None:
            assert said is None, label
        else:
            assert said == pytest.approx(metrics[key], rel=0.06, abs=1), label
    triggered = datetime.fromisoformat(summary["timeline"][0]["at"])
    resolved = datetime.fromisoformat([e for e in summary["timeline"] if e["kind"] == "resolved"][-1]["at"])
    assert metrics["time_to_resolve_s"] == pytest.approx((resolved - triggered).total_seconds(), abs=0.01)
    # remediation: each proposal as it ended
    for proposal in summary["proposals"]:
        assert f"**{proposal['action']}** (runbook `{proposal['runbook']}`)" in document


def _event(kind: EventKind, minutes: float, actor: str, text: str = "", payload: Any = None) -> TimelineEvent:
    at = T0 + timedelta(minutes=minutes)
    if payload is not None:
        return record(payload, kind=kind, at=at, actor=actor, text=text)
    return record(Plain(), kind=kind, at=at, actor=actor, text=text)


def test_an_incident_nobody_diagnosed_gets_an_honest_draft_that_says_what_is_unknown() -> None:
    events = [
        _event(EventKind.TRIGGERED, 0, "slack:U0DANA", "the admin API is down", Declared(True, "admin-api", "P3")),
        _event(EventKind.ACKNOWLEDGED, 0, "slack:U0DANA", payload=PhaseChange("triggered", "acknowledged")),
        _event(EventKind.NOTE, 12, "slack:U0DANA", "restarted admin-api-7 by hand"),
        _event(
            EventKind.RESOLVED, 20, "slack:U0DANA", "back after the restart", PhaseChange("acknowledged", "resolved")
        ),
    ]
    pm = write(
        label="INC-7",
        title="the admin API is down",
        service="admin-api",
        severity="P3",
        commander="slack:U0DANA",
        resolution="back after the restart",
        events=events,
        follow_ups=FOLLOW_UPS,
    )
    assert pm.cause is None and pm.hypotheses == () and pm.remediation == () and pm.action_items == ()
    assert pm.metrics.time_to_acknowledge_s == 0 and pm.metrics.time_to_resolve_s == 20 * 60
    assert pm.metrics.time_to_detect_s is None and pm.metrics.time_to_mitigate_s is None
    document = render(pm, names={"U0DANA": "dana"})
    assert "Unknown: no agent named a cause and nobody wrote one down." in document
    assert "The blast radius is unknown: `admin-api` is not in the service catalog." in document
    assert "Error budget spent: unknown" in document and "No runbook plan was proposed." in document
    assert "- <time> @dana: restarted admin-api-7 by hand".replace("<time>", "2026-11-25 03:14:00") in document
    assert "| Time to detect | unknown |" in document and "| Time to resolve | 20.0 min |" in document
    for said in ("the root cause", "time to mitigate: no fix was verified", "when it began"):
        assert any(said in u for u in pm.unknown), said
    assert "None found on the timeline; add your own." in document


def test_a_persons_root_cause_wins_and_a_costly_incident_gets_a_p0() -> None:
    hypothesis = Hypothesis("The database db-payments-prod is saturated.", 0.85, ("aws: CPU 95%",), ("Add an index.",))
    events = [
        _event(EventKind.TRIGGERED, 0, "pagerduty", "payments timing out", Declared(True, "payments-api", "P2")),
        _event(EventKind.DIAGNOSED, 2, "sre-agent", hypothesis.text, Diagnosed("latency", (hypothesis,))),
        _event(EventKind.NOTE, 30, "slack:U0SAM", "Root cause: a batch job locked the transactions table"),
        _event(EventKind.RESOLVED, 40, "slack:U0SAM", "", PhaseChange("acknowledged", "resolved")),
        _event(
            EventKind.BUDGET_SPENT,
            40,
            "sre-agent",
            "payments-latency: 34.00% of its 28d budget",
            BudgetSpent("payments-latency", "28d", 0.34, 3400),
        ),
    ]
    pm = write(
        label="INC-8",
        title="payments timing out",
        service="payments-api",
        severity="P2",
        commander=None,
        resolution=None,
        events=events,
    )
    assert pm.cause is not None and pm.cause.by == "slack:U0SAM"
    assert pm.cause.text == "a batch job locked the transactions table"
    assert [h.text for h in pm.hypotheses] == [hypothesis.text]  # the bot's view is kept, below the person's
    assert (
        pm.action_items[0].priority == "P0"
        and "34.0% of payments-latency's 28d error budget" in pm.action_items[0].text
    )
    assert [(a.priority, a.text) for a in pm.action_items[1:]] == [("P1", "Add an index.")]
    document = render(pm, names={"U0SAM": "sam"})
    assert "a batch job locked the transactions table _(as @sam put it" in document
    # the same timeline, the same document: twice, and as JSON
    assert render(pm, names={"U0SAM": "sam"}) == document
    again = write(
        label="INC-8",
        title="payments timing out",
        service="payments-api",
        severity="P2",
        commander=None,
        resolution=None,
        events=list(events),
    )
    assert render(again, names={"U0SAM": "sam"}) == document and as_json(again) == as_json(pm)


def test_a_team_template_replaces_the_shipped_one(tmp_path: Path) -> None:
    template = tmp_path / "ours.md.j2"
    template.write_text("{{ pm.label }}: {{ pm.summary }} ({{ span(pm.metrics.time_to_resolve_s) }})\n")
    events = [
        _event(EventKind.TRIGGERED, 0, "pagerduty", "x", Declared(True, "svc", "P3")),
        _event(EventKind.RESOLVED, 3, "slack:U1", "", PhaseChange("acknowledged", "resolved")),
    ]
    pm = write(label="INC-9", title="x", service="svc", severity="P3", commander=None, resolution=None, events=events)
    assert render(pm, template=template) == "INC-9: svc: x. Resolved after 3.0 min. (3.0 min)\n"
