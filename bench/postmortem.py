"""Postmortem benchmark: how long writing and rendering the postmortem of an incident with a long timeline takes
(2,000 events by default: notes, pinned messages, phase changes, proposals decided, carried out and verified).

    python bench/postmortem.py [--events 2000]

seconds         writing it from the timeline and rendering the Markdown, together (the best of three)
first_seconds   the same, the first time (the template compiled too)
write_seconds   of which writing (bot.domain.postmortem)
render_seconds  of which rendering the shipped template
bytes           the document's size (a check that it was rendered, not skipped)
"""

from __future__ import annotations

import argparse
import json
import time
from datetime import UTC, datetime, timedelta

from blocks.postmortem import render
from bot.config.runbooks import load_runbooks
from bot.domain.events import (
    Checked,
    Decision,
    Declared,
    Diagnosed,
    Executed,
    Hypothesis,
    PhaseChange,
    Plain,
    Proposed,
    SlackMessage,
    record,
)
from bot.domain.postmortem import write
from bot.domain.timeline import EventKind, TimelineEvent


def timeline(n: int) -> list[TimelineEvent]:
    start = datetime(2026, 11, 25, 3, 2, tzinfo=UTC)
    at = [start + timedelta(seconds=i * 7) for i in range(n)]
    events = [
        record(Declared(True, "checkout-service", "P2"), at=at[0], actor="pagerduty", text="error rate 8.5%"),
        record(
            Diagnosed("error_rate", (Hypothesis("OOMKilled pods", 0.85, ("k8s: OOMKilled",), ("Raise memory.",)),)),
            at=at[1],
            actor="sre-agent",
            text="OOMKilled pods",
        ),
    ]
    proposal = 0
    for i in range(2, n):
        k = i % 8
        if k == 0:
            proposal += 1
            plan = {"action": f"Increase memory limit (try {proposal})"}
            events.append(record(Proposed(proposal, "memory-pressure", "h" * 64, plan), at=at[i], actor="sre-agent"))
        elif k == 1:
            decision = Decision(proposal, "memory-pressure", "h" * 64, "h" * 64, True, "", ("U0DANA",), "approved")
            events.append(record(decision, kind=EventKind.PROPOSAL_APPROVED, at=at[i], actor="slack:U0DANA"))
        elif k == 2:
            events.append(record(Executed(proposal, "h" * 64, "k8s"), at=at[i], actor="sre-agent", text="done"))
        elif k == 3:
            events.append(record(Checked(proposal, "h" * 64), at=at[i], actor="sre-agent", text="error rate 0.3%"))
        elif k in (4, 5):
            events.append(
                record(Plain(), kind=EventKind.NOTE, at=at[i], actor="slack:U0SAM", text=f"looked at pod {i} | ok")
            )
        elif k == 6:
            events.append(record(SlackMessage(str(i), "pin"), at=at[i], actor="slack:U0DANA", text=f"graph {i}"))
        else:
            events.append(record(PhaseChange("remediating", "verifying"), at=at[i], actor="sre-agent"))
    return events


def main(n: int) -> dict[str, object]:
    events = timeline(n)
    follow_ups = {rb.name: rb.follow_up for rb in load_runbooks()}
    best: tuple[float, float, int] | None = None
    first = None
    for _ in range(3):
        started = time.perf_counter()
        pm = write(
            label="INC-4211",
            title="checkout-service: error rate 8.5%",
            service="checkout-service",
            severity="P2",
            commander="slack:U0DANA",
            resolution=None,
            events=events,
            follow_ups=follow_ups,
        )
        written = time.perf_counter()
        document = render(pm, zone="Europe/Berlin", names={"U0DANA": "dana", "U0SAM": "sam"})
        done = time.perf_counter()
        first = first if first is not None else done - started
        if best is None or done - started < best[0] + best[1]:
            best = (written - started, done - written, len(document.encode()))
    assert best is not None
    return {
        "events": len(events),
        "seconds": round(best[0] + best[1], 3),
        "first_seconds": round(first or 0.0, 3),
        "write_seconds": round(best[0], 3),
        "render_seconds": round(best[1], 3),
        "bytes": best[2],
    }


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=2000)
    print(json.dumps(main(parser.parse_args().events)))
