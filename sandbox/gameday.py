"""Game days: a finished incident recorded as a scenario, and a scenario replayed against today's code and runbooks.

`record` reads an incident from sre-agent's store and writes the scenario that plays it again (format 1,
docs/scenarios.md): the page that opened it, what each agent answered (before and after the fix: its words and the
figures sre-agent read from them), how an approved change turned out, and what each person did and when, each step
waiting for what the person had seen (a proposal, a status page post) and then as long as they took. The people are
known by their Slack ids (the store keeps no names). What happened is kept beside the script (`original`).

`replay` plays such a file with the sandbox and the real app on the virtual clock, optionally with other runbooks,
and sets what happens now beside what happened then: the proposals, the approvals they needed, how the incident
ended and how long it took to mitigate and resolve.
"""

from __future__ import annotations

import copy
import hashlib
import json
import re
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import yaml

from blocks.ids import ActionId
from bot.adapters.slack.bodies import parse_body
from bot.budgets.standing import USUAL_DAYS
from bot.config.catalog import parse_catalog
from bot.config.slos import parse_slos
from bot.domain.catalog import Catalog
from bot.domain.events import Checked, CommanderChange, Decision, Escalated, Paged, RespondersInvited, payload_of
from bot.domain.incident import Incident
from bot.domain.intent import Intent, read
from bot.domain.offers import Offer
from bot.domain.signals import as_data
from bot.domain.slo import Counts
from bot.domain.timeline import EventKind, TimelineEvent
from bot.errors import ConfigError, InvalidEvent
from bot.lifecycle.postmortems import Postmortems
from bot.store import Store
from bot.store.slos import Snapshot
from sandbox.demo import play
from sandbox.scenario import FORMAT_VERSION, Scenario
from sandbox.world import BOT_PERSON, DEFAULT_WORLD

__all__ = ["RecordError", "compare", "outcome", "record", "replay", "side_by_side"]

SLACK = "slack:"
PAGERS = ("pagerduty", "opsgenie")
MIN_TIMEOUT_S = 120  # a wait for what the person had seen gives the bot at least this long (virtual)
OFFER_APPROVE = str(ActionId.OFFER_APPROVE)  # an error budget offer's Approve
DAY_S = 86400
ASKED_WITHIN = timedelta(minutes=10)  # the question an offer answers was asked this long before it, at most
MENTION = re.compile(r"^\s*(<@[A-Z0-9]+>\s*)+")  # the @sre (and any other mention) a question begins with


class RecordError(ValueError):
    """An incident that cannot be recorded as a scenario, and why."""


async def outcome(store: Store, incident: Incident) -> dict[str, Any]:
    """How an incident went, in the terms a replay compares: its phase and severity, each proposal (runbook, action,
    what became of it, the approvals it needed and got), what each agent's answer was, and the four times."""
    assert incident.id is not None
    written = await Postmortems(store=store, runbooks={}).of(incident)
    m = written.postmortem.metrics
    events = await store.timeline(incident.id)
    verified = {e.data.get("proposal") for e in events if e.kind is EventKind.VERIFIED}
    return {
        "incident": incident.label,
        "phase": str(incident.phase),
        "severity": str(incident.severity),
        "proposals": [
            {
                "runbook": p.plan.runbook,
                "action": p.plan.action,
                "status": str(p.status),
                "approvals_needed": p.needed,
                "approvals": len(p.approvers),
                "verified": p.id in verified,
            }
            for p in await store.proposals(incident.id)
        ],
        "evidence": [{"agent": e["agent"], "outcome": e["outcome"]} for e in await store.evidence(incident.id)],
        "time_to_acknowledge_s": m.time_to_acknowledge_s,
        "time_to_mitigate_s": m.time_to_mitigate_s,
        "time_to_resolve_s": m.time_to_resolve_s,
    }


async def record(
    store: Store,
    incident: Incident,
    *,
    catalog: Mapping[str, Any] | None = None,
    slos: Sequence[Mapping[str, Any]] | None = None,
    notes: list[str] | None = None,
) -> dict[str, Any]:
    """The scenario that plays `incident` again (a mapping to write as YAML). `catalog` is the service catalog
    sre-agent ran with (the catalog file's shape): its entry for the service names the pager's ids the world uses.
    `slos` are the OpenSLO documents it ran with (SRE_SLOS_PATH): an incident opened from an error budget offer is
    recorded with its service's SLOs, what was stored of them before, and the question that led to the offer.
    Raises RecordError for an incident no scenario step can open again: one opened by sre-agent itself, or from an
    offer when `slos` are not given. What could not be recorded as it was, and was written otherwise, is added to
    `notes` (for the person recording it)."""
    assert incident.id is not None
    notes = notes if notes is not None else []
    events = await store.timeline(incident.id)
    opening = next((e for e in events if e.kind is EventKind.TRIGGERED), None)
    if opening is None:
        raise RecordError(f"{incident.label} has no trigger on its timeline: nothing to start a replay from")
    offer = next((o for o in await store.offers() if o.incident_id == incident.id), None)
    budget = await _budget(store, incident, offer, slos, catalog, notes) if offer is not None else None
    entry = _catalog_entry(catalog, incident.service)
    people = _people(events, also=[offer.asked_by] if offer is not None else [])
    world = _world(incident, entry, people, events)
    script: list[dict[str, Any]] = [{"say": f"Recorded from {incident.label}: {incident.title}"}]
    opened = payload_of(opening)
    paged = not opening.actor.startswith(SLACK)
    carried = None  # the approval an offer's was carried over to (no click of its own)
    if budget is not None:  # asked about the budget, offered a plan, approved it: the incident opens for it
        script += budget.steps
        carried = budget.carried
    elif not paged:  # declared by a person: asked of @sre in the incidents channel, the service named
        service = getattr(opened, "service", "") or incident.service
        said = incident.title if service in incident.title else f"{incident.title} ({service})"
        script.append({"mention": {"user": _key(opening.actor), "text": said, "in": "incidents"}})
    elif incident.source in PAGERS:
        page: dict[str, Any] = {"service": incident.service, "title": incident.title}
        if isinstance(opened, Paged) and opened.severity:  # as it was paged, not as it ended
            page["priority"] = opened.severity
        if isinstance(opened, Paged) and opened.urgency and incident.source == "pagerduty":
            page["urgency"] = opened.urgency
        script.append({"page": page})
    else:
        raise RecordError(
            f"{incident.label} was opened by {opening.actor} (not a page nor a person): recording it is not supported"
        )
    script.append({"wait": {"until": "channel", "timeout": "5m"}})  # what people did, they did in it
    ordinals = {p.id: n for n, p in enumerate(sorted(await store.proposals(incident.id), key=lambda p: p.id), 1)}
    script += _human_steps(events, incident, opening.at, ordinals, paged=paged, carried=carried)
    if incident.resolved_at is not None:
        script.append({"wait": {"until": "resolved", "timeout": "5m"}})
    scenario: dict[str, Any] = {
        "version": FORMAT_VERSION,
        "name": f"recorded-{incident.label.lower()}",
        "title": f"{incident.label}: {incident.title}",
        "description": (
            f"{incident.label} ({incident.service}, {incident.severity}) as it happened on "
            f"{opening.at:%Y-%m-%d %H:%M} UTC, recorded by sre-agent: the page, the agents' answers and what each "
            "person did and when."
        ),
        "speed": 60,
        "pager": incident.source if incident.source == "opsgenie" else "pagerduty",
        "world": world,
        "agents": await _agents(store, incident, events),
        "script": script,
        "original": await outcome(store, incident),
    }
    if budget is not None:
        scenario["slos"] = budget.slos
        scenario["history"] = budget.history
        _with_slis(scenario["agents"], budget)
        scenario["description"] = scenario["description"].replace(
            "recorded by sre-agent: the page,",
            "recorded by sre-agent: the question about its error budget and the plan approved in the answer, the "
            "SLOs and what was stored of them before,",
        )
    if catalog is not None:
        scenario["catalog"] = dict(catalog)
    return scenario


# ---- the world -----------------------------------------------------------------------------------------------------


def _key(actor: str) -> str:
    """A person's key in the recorded world: their Slack id, lowercased."""
    return actor.removeprefix(SLACK).lower()


def _people(events: Sequence[TimelineEvent], *, also: Sequence[str] = ()) -> list[str]:
    """The Slack ids of the people in the incident: those who acted, approved or were invited, in order (and
    `also`: those who took part before it was opened)."""
    found: dict[str, None] = dict.fromkeys(also)
    for event in events:
        if event.actor.startswith(SLACK):
            found[event.actor.removeprefix(SLACK)] = None
        payload = payload_of(event)
        if isinstance(payload, Decision):
            found.update(dict.fromkeys(payload.approvers))
        elif isinstance(payload, RespondersInvited):
            found.update(dict.fromkeys(u for u in payload.users if u.startswith("U")))
        elif isinstance(payload, CommanderChange) and payload.to:
            found[payload.to] = None
    return list(found)


def _pager_person(actor: str) -> str | None:
    """The name of a person who acted in the paging service (`pagerduty:Dana Ortiz`), None for anyone else."""
    source, _, name = actor.partition(":")
    return name if source in PAGERS and name and name != "sre-agent" else None


def _slug(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-") or "someone"


def _named(events: Sequence[TimelineEvent]) -> list[str]:
    """The names of the people who acted in the paging service or were paged by an escalation, in order."""
    found: dict[str, None] = {}
    for event in events:
        name = _pager_person(event.actor)
        if name:
            found[name] = None
        payload = payload_of(event)
        if isinstance(payload, Escalated):
            found.update(dict.fromkeys(payload.paged))
    return list(found)


def _catalog_entry(catalog: Mapping[str, Any] | None, service: str) -> Mapping[str, Any]:
    for entry in (catalog or {}).get("services") or []:
        if isinstance(entry, Mapping) and entry.get("name") == service:
            return entry
    return {}


def _made_up(prefix: str, seed: str, length: int) -> str:
    return prefix + hashlib.sha256(seed.encode()).hexdigest().upper()[: length - len(prefix)]


def _world(
    incident: Incident, entry: Mapping[str, Any], people: Sequence[str], events: Sequence[TimelineEvent]
) -> dict[str, Any]:
    """The incident's service and people, in the sandbox's default team, bot and incidents channel. The pager's ids
    are the catalog's where it names them (so that the catalog still points at this world), else made up. Those
    who acted in Slack are on call at the first level; those an escalation paged, at the level it reached. People
    known only by the name the pager gave are in the world without a Slack account."""
    default = copy.deepcopy(DEFAULT_WORLD)
    pd = entry.get("pagerduty") or {}
    og = entry.get("opsgenie") or {}
    policy_id = str(pd.get("escalation_policy") or incident.escalation_policy_id or _made_up("P", incident.service, 7))
    policy_name = str(og.get("escalation") or f"{incident.service} on-call")
    keys = [p.lower() for p in people] or [default["people"][0]["key"]]
    persons = [
        {
            "key": p.lower(),
            "name": p,
            "email": f"{p.lower()}@example.com",
            "slack": {"id": p, "name": p.lower()},
            "pagerduty": {"id": _made_up("P", p, 7)},
        }
        for p in people
    ]
    if not persons:
        persons = [default["people"][0]]
    named = [n for n in _named(events) if _slug(n) not in {p["key"] for p in persons}]
    persons += [
        {"key": _slug(n), "name": n, "email": f"{_slug(n)}@example.com", "pagerduty": {"id": _made_up("P", n, 7)}}
        for n in named
    ]
    levels = [keys]
    for event in events:
        payload = payload_of(event)
        if isinstance(payload, Escalated) and payload.to > 1 and payload.paged:
            while len(levels) < payload.to:
                levels.append([])
            levels[payload.to - 1] += [_slug(n) for n in payload.paged if _slug(n) not in levels[payload.to - 1]]
    levels = [level for level in levels if level]
    bot = next((p for p in default["people"] if p["key"] == BOT_PERSON), None)
    return {
        **{k: default[k] for k in ("team", "bot", "incidents_channel")},
        # the same incident number: INC-4211 is replayed as INC-4211
        "pagerduty": {**default["pagerduty"], **({"next_incident_number": incident.number} if incident.number else {})},
        "people": [*persons, *([bot] if bot else [])],
        "services": [
            {
                "name": incident.service,
                "pagerduty": {
                    "id": str(pd.get("service") or _made_up("P", "service:" + incident.service, 7)),
                    "routing_key": _made_up("R", "routing:" + incident.service, 32),
                    "escalation_policy": policy_id,
                },
            }
        ],
        # everyone who acted is on call at the first level: each may approve again as they did
        "escalation_policies": [{"id": policy_id, "name": policy_name, "levels": levels}],
    }


# ---- the agents ----------------------------------------------------------------------------------------------------


async def _agents(store: Store, incident: Incident, events: Sequence[TimelineEvent]) -> list[dict[str, Any]]:
    """Each agent sre-agent asked: its answer about the service before the fix (its words, and the figures sre-agent
    read from them), after the fix (its answer then, or the readings the verification took), and how a change it
    carried out turned out."""
    assert incident.id is not None
    started = next((e.at for e in events if e.kind is EventKind.EXECUTION_STARTED), None)
    agents: dict[str, dict[str, Any]] = {}
    for row in await store.evidence(incident.id):
        agent = agents.setdefault(row["agent"], {"name": row["agent"], "role": row["role"]})
        answer = {"text": row["answer"] or f"{row['agent']} did not answer ({row['outcome']})"}
        signals = as_data(row["signals"]) if isinstance(row["signals"], dict) else {}
        if signals:
            answer["data"] = signals
        after = started is not None and row["asked_at"] >= started
        agent.setdefault("after_change" if after else "answers", {})[incident.service] = answer
    for event in events:
        name = str(event.data.get("agent") or "")
        if event.kind in (EventKind.EXECUTED, EventKind.EXECUTION_FAILED) and name:
            agent = agents.setdefault(name, {"name": name, "role": "kubernetes"})
            ended = "done" if event.kind is EventKind.EXECUTED else "fail"
            agent.setdefault("changes", {})[incident.service] = {"outcome": ended, "text": event.text or ended}
    _after_from_readings(agents, events, incident.service)
    return list(agents.values())


def _after_from_readings(agents: dict[str, dict[str, Any]], events: Sequence[TimelineEvent], service: str) -> None:
    """The agents that reported the signals a fix was verified on, and were not asked again after the fix on the
    record, answer after it with the last reading the verification took of each (their other figures as before)."""
    checked = next((e for e in events if e.kind in (EventKind.VERIFIED, EventKind.VERIFICATION_FAILED)), None)
    verifying = next((e for e in events if e.kind is EventKind.VERIFYING), None)
    if verifying is None or checked is None:
        return
    readings = [r for r in checked.data.get("readings") or [] if isinstance(r, Mapping) and "value" in r]
    signal = str(verifying.data.get("signal") or "")
    if not readings or not signal:
        return
    last = readings[-1]
    also = last.get("also")
    values = {signal: last["value"], **(also if isinstance(also, Mapping) else {})}
    for agent in agents.values():
        before = ((agent.get("answers") or {}).get(service) or {}).get("data") or {}
        read = {name: value for name, value in values.items() if name in before and value is not None}
        if read and service not in (agent.get("after_change") or {}):
            agent.setdefault("after_change", {})[service] = {
                "text": f"{service}: " + ", ".join(f"{name} {value}" for name, value in read.items()),
                "data": {**before, **read},
            }


# ---- an incident opened from an error budget offer -------------------------------------------------------------------


@dataclass(frozen=True)
class _Budget:
    """What a recording of an incident opened from an error budget offer adds: the steps that lead to it (the SLOs
    read, the question, the offer, its approval), the approval it was carried over to, the service's SLOs,
    what was stored of them before the question (`history`), and the counts the monitoring agent gave (`slis` when
    the question was asked, `slis_after` the last after the change)."""

    steps: list[dict[str, Any]]
    carried: tuple[int, datetime] | None
    service: str
    slos: list[dict[str, Any]]
    history: list[dict[str, Any]]
    slis: dict[str, dict[str, dict[str, float]]]
    slis_after: dict[str, dict[str, dict[str, float]]]


async def _budget(
    store: Store,
    incident: Incident,
    offer: Offer,
    slos: Sequence[Mapping[str, Any]] | None,
    catalog: Mapping[str, Any] | None,
    notes: list[str],
) -> _Budget:
    assert incident.id is not None
    if slos is None:
        raise RecordError(
            f"{incident.label} was opened from an error budget offer (approved by {offer.decided_by}): record it "
            "with the SLOs sre-agent ran with (SRE_SLOS_PATH), which the question about the budget was answered from"
        )
    documents = [
        dict(d) for d in slos if d.get("kind") != "SLO" or (d.get("spec") or {}).get("service") == offer.service
    ]
    try:
        names = [d.slo.name for d in parse_slos([("slos", yaml.safe_dump_all(documents, sort_keys=False))])]
    except ConfigError as exc:
        raise RecordError(f"the SLOs given cannot be read: {exc}") from None
    if not names:
        given = sorted({str((d.get("spec") or {}).get("service")) for d in slos if d.get("kind") == "SLO"})
        raise RecordError(
            f"{incident.label} was opened from an error budget offer about {offer.service}, but none of the SLOs "
            f"given (SRE_SLOS_PATH) is of {offer.service} (they are of: {', '.join(given) or 'no service'})"
        )
    asked = offer.created_at
    # what the answer read before: each day's snapshot for the usual burn, and the one before each deploy it named
    moments = [asked - timedelta(days=day) for day in range(1, USUAL_DAYS + 1)]
    moments += [
        asked - timedelta(seconds=d.ago_s) for e in offer.evidence for d in e.signals.deploys if d.ago_s is not None
    ]
    kept: dict[tuple[str, datetime], Snapshot] = {}
    for moment in moments:
        for snapshot in (await store.latest_snapshots(before=moment, names=names)).values():
            kept[(snapshot.slo, snapshot.taken_at)] = snapshot
    history = _history(sorted(kept.values(), key=lambda snap: (snap.slo, snap.taken_at)), asked)
    now = await store.latest_snapshots(before=asked, names=names)
    slis = {name: _counts(snap.counts) for name, snap in now.items() if _counts(snap.counts)}
    events = await store.timeline(incident.id)
    changed = next((e.at for e in events if e.kind is EventKind.EXECUTED), None)
    slis_after = {}
    if changed is not None:
        last = await store.latest_snapshots(before=incident.resolved_at or events[-1].at, names=names)
        slis_after = {
            n: _counts(snap.counts) for n, snap in last.items() if snap.taken_at >= changed and _counts(snap.counts)
        }
    opening = next(e for e in events if e.kind is EventKind.TRIGGERED)
    found = parse_catalog(catalog, "catalog") if catalog is not None else Catalog()
    question, clicked = await _asked(store, offer, opening.at, found, notes)
    steps: list[dict[str, Any]] = [
        {"wait": {"until": "measured", "timeout": "5m"}},  # the SLOs read today before anyone asks
        {"mention": {"user": _key(offer.asked_by), "text": question, "in": "incidents"}},
        {"wait": {"until": "offered", "timeout": f"{MIN_TIMEOUT_S}s"}},
    ]
    took = _seconds(_shown_at(offer), clicked)  # from when the answer was posted, as the replay waits for it
    if took > 0:
        steps.append({"wait": f"{took}s"})
    steps.append(
        {"click": {"user": _key(offer.decided_by or offer.asked_by), "action": OFFER_APPROVE, "in": "incidents"}}
    )
    return _Budget(steps, _carried(events, offer), offer.service, documents, history, slis, slis_after)


def _shown_at(offer: Offer) -> datetime:
    """When the offer was posted (its message's Slack timestamp), else when it was made (before the agents were
    asked for it)."""
    try:
        return datetime.fromtimestamp(float(offer.message_ts or ""), UTC)
    except ValueError:
        return offer.created_at


def _carried(events: Sequence[TimelineEvent], offer: Offer) -> tuple[int, datetime] | None:
    """The approval the offer's Approve was carried over to (its proposal, when): the approver's approval of the
    offer's plan that sre-agent made as it opened the incident, before anyone had done anything in it."""
    for event in events:
        if event.kind is EventKind.TRIGGERED:
            continue
        if event.actor.startswith(SLACK):
            carried = (
                event.kind is EventKind.PROPOSAL_APPROVED
                and event.actor == f"{SLACK}{offer.decided_by}"
                and event.data.get("plan_hash") == offer.plan_hash
            )
            return (int(event.data.get("proposal") or 0), event.at) if carried else None
    return None


def _history(snapshots: Sequence[Snapshot], asked: datetime) -> list[dict[str, Any]]:
    """The snapshots (by SLO, oldest first) as a scenario's `history`, `ago` before the question: a run of them a
    day apart with the same counts is one entry with `days`."""
    out: list[dict[str, Any]] = []
    for snap in snapshots:
        counts = _counts(snap.counts)  # {} for a snapshot with no data: read as such (no burn that day)
        ago = _seconds(snap.taken_at, asked)
        last = out[-1] if out else None
        if last is not None and last["slo"] == snap.slo and last["counts"] == counts and last["ago"] - ago == DAY_S:
            last["ago"], last["days"] = ago, last.get("days", 1) + 1
            continue
        out.append({"slo": snap.slo, "ago": ago, "counts": counts})
    return [{**entry, "ago": f"{entry['ago']}s"} for entry in out]


async def _asked(
    store: Store, offer: Offer, opened: datetime, catalog: Catalog, notes: list[str]
) -> tuple[str, datetime]:
    """What the person asked @sre that the offer answered (their newest mention in the minutes before it that reads
    as a question about the budget of its service, or of every service), and when the offer was approved (the click
    on its Approve; else when the incident was opened). Where either is no longer stored, `notes` says what was
    written instead."""
    question = None
    for event in await store.inbound_between(
        "slack", "app_mention", since=offer.created_at - ASKED_WITHIN, until=offer.created_at
    ):
        said = _stored_slack(event.body).get("event")
        if not isinstance(said, Mapping) or said.get("user") != offer.asked_by:
            continue
        text = MENTION.sub("", str(said.get("text") or "")).strip()
        reading = read(text, catalog)
        if reading.intent is Intent.BUDGET and reading.service in (None, offer.service):
            question = text
    if question is None:
        question = f"How's the {offer.service} error budget looking?"
        notes.append(f"the question {offer.asked_by} asked is not stored: the recording asks {question!r}")
    for event in await store.inbound_between("slack", "block_actions", since=offer.created_at, until=opened):
        payload = _stored_slack(event.body)
        user = payload.get("user")
        if not isinstance(user, Mapping) or user.get("id") != offer.decided_by:
            continue
        for action in payload.get("actions") or []:
            if not isinstance(action, Mapping) or action.get("action_id") != OFFER_APPROVE:
                continue
            if str(action.get("value") or "").partition(":")[0] == str(offer.id):
                return question, event.received_at
    notes.append(
        f"the click that approved the offer is not stored: {offer.decided_by} approves it as the incident opened"
    )
    return question, opened


def _stored_slack(stored: str) -> Mapping[str, Any]:
    """A stored Slack request's body as Slack sent it (bot.adapters.slack.inbox): an Events API callback, or an
    interaction's payload; over HTTP or Socket Mode. {} for anything else."""
    try:
        data = json.loads(stored)
        if "payload" in data:  # from Socket Mode: the envelope's payload as it came
            body = data["payload"]
        else:  # over HTTP: read as the bot's listeners read it
            headers = {str(name).lower(): str(value) for name, value in data["headers"].items()}
            _, body = parse_body(str(data["body"]), headers.get("content-type", "").split(";")[0])
    except (ValueError, KeyError, TypeError, AttributeError, InvalidEvent):
        return {}
    return body if isinstance(body, Mapping) else {}


def _counts(counts: Mapping[str, Counts | None]) -> dict[str, dict[str, float]]:
    """A snapshot's counts as a scenario writes them (`{window: {total, bad}}`), the windows without data left out."""
    return {
        window: {"total": c.total, "bad": c.bad}
        if c.scale == 1
        else {"total": c.total / c.scale, "bad": c.bad / c.scale}
        for window, c in counts.items()
        if c is not None
    }


def _with_slis(agents: list[dict[str, Any]], budget: _Budget) -> None:
    """The monitoring agent (the one sre-agent asked, else one named so) answers for the SLOs what it did then."""
    monitoring = next((a for a in agents if a.get("role") == "monitoring"), None)
    if monitoring is None:
        monitoring = {"name": "monitoring", "role": "monitoring"}
        agents.append(monitoring)
    monitoring["slis"] = budget.slis
    if budget.slis_after:
        monitoring["slis_after_change"] = {budget.service: budget.slis_after}


# ---- what people did ------------------------------------------------------------------------------------------------

# a person's act on the timeline: what they saw first (a `wait: {until: ...}`), and the step that does it again
_SEEN = {
    EventKind.PROPOSAL_APPROVED: ("proposed", "proposal.approve"),
    EventKind.PROPOSAL_REJECTED: ("proposed", "proposal.reject"),
    EventKind.TASK_DONE: ("proposed", "proposal.done"),
    EventKind.PUBLIC_POST_APPROVED: ("public_post", "public_post.approve"),
    EventKind.PUBLIC_POST_REJECTED: ("public_post", "public_post.reject"),
}
_SHOWN = {"proposed": EventKind.PROPOSED, "public_post": EventKind.PUBLIC_POST_PROPOSED}


def _human_steps(
    events: Sequence[TimelineEvent],
    incident: Incident,
    began: datetime,
    ordinals: Mapping[int, int],
    *,
    paged: bool,
    carried: tuple[int, datetime] | None = None,
) -> list[dict[str, Any]]:
    """Each thing a person did in Slack (and, for a paged incident, in the pager's app), in order: waiting first
    for what they had seen, then as long as they took. `ordinals` numbers the incident's proposals in the order they
    were made (a click names its proposal; the first one's wait starts when it was shown, a later one's when the
    step before it was done, since `until: proposed` already holds for the first). `carried`: the approval (its
    proposal, when) that was an error budget offer's, carried over (sre-agent makes it again, nobody clicks)."""
    steps: list[dict[str, Any]] = []
    last = began
    done = {(e.data.get("proposal"), e.at) for e in events if e.kind is EventKind.TASK_DONE}
    for event in events:
        pager_person = _pager_person(event.actor) if paged else None  # a declared incident was never paged
        if event.kind is EventKind.TRIGGERED or not (event.actor.startswith(SLACK) or pager_person):
            continue
        if event.kind is EventKind.PROPOSAL_APPROVED and (event.data.get("proposal"), event.at) in done:
            continue  # marking a manual task done records its approval too: one click
        if event.kind is EventKind.PROPOSAL_APPROVED and (event.data.get("proposal"), event.at) == carried:
            last = event.at  # the offer's approval, carried over: sre-agent makes it again
            continue
        if pager_person:
            act = _pager_act(event, incident.source, _slug(pager_person))
        else:
            act = _act(event, _key(event.actor))
        if act is None:
            continue
        original = int(event.data.get("proposal") or 0)
        proposal = ordinals.get(original) if "click" in act else None
        if proposal is not None:
            act["click"]["proposal"] = proposal
        seen = _SEEN.get(event.kind)
        since = last
        checks = [e.at for e in events if e.kind in Checked.KINDS and last <= e.at <= event.at]
        if checks:  # done after a fix's check had ended: not before it now (`checked`: the latest fix's check)
            steps.append({"wait": {"until": "checked", "timeout": f"{_seconds(last, event.at) + MIN_TIMEOUT_S}s"}})
            since = checks[-1]
        if seen is not None:
            if proposal is not None:  # when that proposal was shown
                shown = [e.at for e in events if e.kind is EventKind.PROPOSED and e.data.get("proposal") == original]
            else:
                shown = [e.at for e in events if e.kind is _SHOWN[seen[0]] and e.at <= event.at]
            steps.append({"wait": {"until": seen[0], "timeout": f"{max(MIN_TIMEOUT_S, _seconds(last, event.at))}s"}})
            if proposal is None or proposal == 1:
                since = max(since, shown[-1]) if shown else since
        took = _seconds(since, event.at)
        if took > 0:
            steps.append({"wait": f"{took}s"})
        steps.append(act)
        last = event.at
    return steps


def _seconds(start: datetime, end: datetime) -> int:
    return max(0, round((end - start).total_seconds()))


def _act(event: TimelineEvent, user: str) -> dict[str, Any] | None:
    """The script step that does again what a person did in Slack; None for what is not theirs to repeat."""
    seen = _SEEN.get(event.kind)
    if seen is not None:
        return {"click": {"user": user, "action": seen[1]}}
    if event.kind is EventKind.RESOLVED:
        said = f" {event.text}" if event.text else ""  # what they said then (a later resolve may say more)
        return {"command": {"user": user, "text": f"/incident resolve{said}"}}
    if event.kind is EventKind.REOPENED:
        return {"command": {"user": user, "text": "/incident reopen"}}
    if event.kind is EventKind.COMMANDER_CHANGED and event.data.get("to"):
        return {"command": {"user": user, "text": f"/incident commander <@{event.data['to']}>"}}
    if event.kind is EventKind.NOTE and event.text:
        return {"command": {"user": user, "text": f"/incident note {event.text}"}}
    if event.kind is EventKind.SEVERITY_CHANGED and event.data.get("to"):
        return {"command": {"user": user, "text": f"/incident sev {event.data['to']}"}}
    if event.kind is EventKind.RESPONDED:
        return {"command": {"user": user, "text": "/incident ack"}}
    payload = payload_of(event)
    if isinstance(payload, Escalated):
        reason = f" {payload.reason}" if payload.reason else ""
        return {"command": {"user": user, "text": f"/incident escalate{reason}"}}
    return None


def _pager_act(event: TimelineEvent, source: str, user: str) -> dict[str, Any] | None:
    """The script step that does again what a person did in the paging service's own app."""
    actions = {
        EventKind.ACKNOWLEDGED: "acknowledge",
        EventKind.RESOLVED: "resolve" if source == "pagerduty" else "close",
        EventKind.NOTE: "note",
    }
    if source == "pagerduty":
        actions[EventKind.REOPENED] = "reopen"
    action = actions.get(event.kind)
    if action is None or source not in PAGERS:
        return None
    if action == "note" and (event.ref or "").startswith(f"{source}-event:"):
        return None  # not a note: a pager event sre-agent only put on the timeline (a reassignment, ...)
    step: dict[str, Any] = {"user": user, "action": action}
    if action == "note":
        step["text"] = event.text or "a note"
    return {source: step}


# ---- replay --------------------------------------------------------------------------------------------------------


def compare(original: Mapping[str, Any] | None, now: Mapping[str, Any]) -> dict[str, Any]:
    """What happens now beside what happened then. `same` is whether the outcome is the same: how the incident
    ended, and each proposal's runbook, action and end (carried out, and whether the fix verified). The times and
    the agents are shown, not judged."""

    def decided(o: Mapping[str, Any]) -> list[tuple[str, str, str]]:
        return [
            (p["runbook"], p["action"], p["status"] + (", verified" if p.get("verified") else ""))
            for p in o.get("proposals") or []
        ]

    if original is None:
        return {"same": None, "now": dict(now), "original": None, "differences": []}
    differences = []
    if original.get("phase") != now.get("phase"):
        differences.append(f"it ended {now.get('phase')}, not {original.get('phase')}")
    was, is_ = decided(original), decided(now)
    for i in range(max(len(was), len(is_))):
        then = _said(was[i]) if i < len(was) else "none"
        later = _said(is_[i]) if i < len(is_) else "none"
        if then != later:
            differences.append(f"proposal {i + 1}: {later} now (then: {then})")
    return {"same": not differences, "differences": differences, "original": dict(original), "now": dict(now)}


def _said(proposal: tuple[str, str, str]) -> str:
    runbook, action, status = proposal
    return f"{action} from {runbook}, {status}"


async def replay(scenario: Scenario, *, runbooks: Path | None = None, speed: float | None = None) -> dict[str, Any]:
    """Play `scenario` (with the runbooks in `runbooks`, else the shipped ones) and compare how its incident went
    with the `original` the file keeps. The script's own failure (a wait that timed out: nothing to approve) is
    part of the answer, not an error."""
    with tempfile.TemporaryDirectory(prefix="sre-agent-replay-") as tmp:
        database = Path(tmp) / "replay.db"
        summary = await play(scenario, speed=speed, database=database, runbooks=runbooks)
        store = await Store.open(f"sqlite:///{database}")
        try:
            incidents = await store.incidents()
            now = await outcome(store, incidents[0]) if incidents else {"phase": None, "proposals": []}
        finally:
            await store.close()
    result = compare(scenario.original, now)
    result.update(scenario=scenario.name, script_ok=summary["ok"], script_error=summary.get("error"))
    return result


def side_by_side(result: Mapping[str, Any]) -> str:
    """The comparison for a terminal: then and now, row by row, and the verdict."""
    then, now = result.get("original"), result["now"]
    rows: list[tuple[str, str, str]] = [("", "then", "now")]

    def ended(o: Mapping[str, Any] | None) -> str:
        return str(o.get("phase")) if o else "(not recorded)"

    def minutes(o: Mapping[str, Any] | None, key: str) -> str:
        value = o.get(key) if o else None
        return f"{value / 60:.1f} min" if isinstance(value, int | float) else "-"

    def proposal(o: Mapping[str, Any] | None, i: int) -> tuple[str, str, str]:
        proposals = (o or {}).get("proposals") or []
        if i >= len(proposals):
            return "-", "", ""
        p = proposals[i]
        verified = ", verified" if p.get("verified") else ""
        return f"{p['runbook']}: {p['status']}{verified}", p["action"], f"{p['approvals']} of {p['approvals_needed']}"

    rows.append(("ended", ended(then), ended(now)))
    for i in range(max(len((then or {}).get("proposals") or []), len(now.get("proposals") or []))):
        before, after = proposal(then, i), proposal(now, i)
        rows.append((f"proposal {i + 1}", before[0], after[0]))
        rows.append(("  action", before[1], after[1]))
        rows.append(("  approvals", before[2], after[2]))
    for key, label in (
        ("time_to_acknowledge_s", "acknowledged"),
        ("time_to_mitigate_s", "mitigated"),
        ("time_to_resolve_s", "resolved"),
    ):
        rows.append((f"{label} after", minutes(then, key), minutes(now, key)))
    first, width = max(len(r[0]) for r in rows), max(len(r[1]) for r in rows)
    lines = [f"{label:<{first}}  {a:<{width}}  {b}" for label, a, b in rows]
    if result.get("script_error"):
        lines.append(f"The script stopped: {result['script_error']}")
    if result["same"] is None:
        lines.append("Nothing was recorded to compare with (no `original` in the file).")
    elif result["same"]:
        lines.append("Same outcome as recorded.")
    else:
        lines.append("Different from what was recorded:")
        lines += [f"  - {d}" for d in result["differences"]]
    return "\n".join(lines)
