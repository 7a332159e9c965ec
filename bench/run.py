"""The whole benchmark on this machine, against the sandbox, the bot as its own process(es): one JSON object (--json)
or a short summary.

    python bench/run.py [--json] [--pages 500] [--rate 50] [--duplicates 5] [--clicks 200] [--open-incidents 1000]
                        [--postgres-url URL] [--parts bare,sqlite,postgresql,interactions,rss,capacity]
                        [--capacity-rate 80] [--capacity-pages 800] [--settle-timeout 180]

intake        per store: `sqlite` (one `sre-agent serve` on a fresh SQLite file) and `postgresql_2_replicas` (two
              serves on one fresh PostgreSQL database, behind the sandbox's round-robin balancer). `pages` pages of
              the sandbox's PagerDuty at `rate` a second, each signed `incident.triggered` webhook delivered
              `duplicates` times at once (the original, and the rest re-posted with the same X-Webhook-Id).
              rate_per_s: distinct pages accepted (a 2xx to any of its deliveries) over the sending time (the first
              delivery sent to the last answer read); webhook_ms: each delivery attempt's answer time as PagerDuty's
              side measures it (webhook_ms_original: the originals' first attempts alone); answers: what they were
              answered; page_to_card_ms as bench/intake.py has it. Once the bot has settled (no inbound event pending,
              retries included, or processing; no webhook in flight; the sandbox unchanged for 2 s): incidents (rows
              in the store), channels, cards, acknowledgements (PUTs to PagerDuty), distinct_pages, and per page:
              lost (a page without a row, a channel, a card or an acknowledgement; lost_pages says why, from the
              store) and duplicated (a page with two of one of them, or a message of the bot's posted twice:
              messages_posted_twice). bot_log: the bot's warnings and errors, by kind.
              cpu_ms_per_incident: the serves' CPU (user and system, from /proc) from the first page until settled,
              over the incidents set up. calls_per_incident: the calls made of Slack (by method) and PagerDuty (by
              verb and path) over the incidents set up: the work an incident costs its peers, counted.
bare          the same pages sent the same way to a bare aiohttp server in its own process that answers 202 at once.
ratio         each store's intake rate over the bare rate.
interactions  bench/interactions.py: `clicks` signed Slack requests (slash commands, button clicks) at once to one
              serve; ack_ms, and the sending side's own floor.
capacity      whether one serve (SQLite) keeps up with pages sent faster: the sqlite intake again at `capacity_rate`
              a second (`capacity_pages` pages, the same deliveries): kept_up when the sender's rate was sustained
              (95% of it or more), every page set up once (none lost, none duplicated, settled) and the card of the
              99th percentile came within CAPACITY_CARD_P99_MS of its page (the work did not fall behind). The
              CPU target (10 ms an incident) stands for this: one process setting up 80 incidents a second.
rss_mb        one serve (SQLite) holding `open_incidents` open incidents (paged at `rate`, no duplicates): VmRSS once
              all are opened and it has settled.
machine       CPUs, Python, and what else kept the machine busy meanwhile (cpu_s: it may be shared).

No A2A agents (SRE_AGENTS_PATH unset): the intake is measured, not diagnosis. The targets (printed, with whether each
was met): intake webhook p99 <= 25 ms and a rate >= 30% of the bare server's, per store; no page lost or
duplicated; interactions ack p99 <= 50 ms; RSS <= 250 MB with 1,000 open incidents; one SQLite process keeps up with
80 pages a second.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import re
import resource
import secrets
import sys
import time
from collections import Counter
from collections.abc import Coroutine
from dataclasses import dataclass, field
from importlib.metadata import version
from pathlib import Path
from typing import Any

# bench/ beside this script
from common import (
    DEFAULT_POSTGRES_URL,
    Setup,
    bare_server,
    postgres_database,
    rss_mb,
    sandbox_and_bot,
    summary,
)
from intake import measure as card_times
from interactions import run as run_interactions

from blocks.ids import BlockId
from sandbox.pagerduty_webhooks import Delivery
from sandbox.server import Sandbox
from sandbox.world import World

TARGETS = {
    "intake_webhook_p99_ms": 25.0,  # at most, per store
    "intake_rate_vs_bare": 0.30,  # at least, per store
    "lost": 0,
    "duplicated": 0,
    "interactions_ack_p99_ms": 50.0,  # at most
    "rss_mb": 250.0,  # at most, with 1,000 open incidents
    "capacity_rate_per_s": 80.0,  # at least: one SQLite serve keeps up with pages sent this fast
}
CAPACITY_CARD_P99_MS = 1000.0  # kept up: the cards at most this far behind their pages (the 99th percentile)
PARTS = ("bare", "sqlite", "postgresql", "interactions", "rss", "capacity")
SETTLE_QUIET_S = 2.0  # the sandbox's feed unchanged this long (and the bot's queue empty) counts as settled
_LEVEL = re.compile(r"\b(WARNING|ERROR|CRITICAL)\b")


@dataclass
class Sent:
    """The pages sent: each PagerDuty incident's id -> its incident.triggered delivery."""

    deliveries: dict[str, Delivery] = field(default_factory=dict)
    numbers: dict[int, str] = field(default_factory=dict)  # incident number -> id


async def send_pages(sandbox: Sandbox, pages: int, rate: float, duplicates: int) -> Sent:
    """`pages` pages of the sandbox's PagerDuty (each enqueues its signed incident.triggered webhook), one every
    1/rate s on absolute times; each delivery posted `duplicates - 1` more times at once, same X-Webhook-Id. Returns
    once every original has its answer (after PagerDuty's retries, if any) and every copy its own."""
    service = sandbox.world.services[0].name
    sent = Sent()
    copies: list[asyncio.Task[list[dict[str, Any]]]] = []
    start = time.monotonic()
    for i in range(pages):
        delay = start + i / rate - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        incident = sandbox.pagerduty.page(service, f"{service}: error rate spike #{i}")
        delivery = next(reversed(sandbox.pagerduty.deliveries.values()))  # page() has just enqueued it
        assert delivery.event_type == "incident.triggered" and delivery.event["data"]["id"] == incident.id
        sent.deliveries[incident.id] = delivery
        sent.numbers[incident.number] = incident.id
        if duplicates > 1:
            copies.append(asyncio.create_task(sandbox.pagerduty.redeliver(delivery.id, duplicates - 1)))
    await asyncio.gather(*copies)
    for _ in range(1200):  # up to a minute (PagerDuty's own retries take under 8 s plus 5 s a timeout)
        if not any(d.state in ("pending", "retrying") for d in sent.deliveries.values()):
            break
        await asyncio.sleep(0.05)
    return sent


def answer_times(sent: Sent) -> dict[str, Any]:
    """rate_per_s and webhook_ms, from the deliveries' attempts as the sandbox recorded them."""
    attempts = [a for d in sent.deliveries.values() for a in d.attempts]
    originals = [d.attempts[0]["elapsed_ms"] for d in sent.deliveries.values() if d.attempts]
    accepted = sum(
        1
        for d in sent.deliveries.values()
        if any(a["status"] is not None and 200 <= a["status"] < 300 for a in d.attempts)
    )
    began = min(a["at_monotonic"] for a in attempts)
    ended = max(a["at_monotonic"] + a["elapsed_ms"] / 1000 for a in attempts)
    answers = Counter(str(a["status"]) if a["status"] is not None else str(a["error"]) for a in attempts)
    return {
        "rate_per_s": round(accepted / (ended - began), 2) if ended > began else None,
        "webhook_ms": summary([a["elapsed_ms"] for a in attempts]),
        "webhook_ms_original": summary(originals),
        "sending_s": round(ended - began, 3),
        "accepted": accepted,
        "deliveries": len(attempts),
        "answers": dict(sorted(answers.items())),
        "retried_by_pagerduty": sum(1 for d in sent.deliveries.values() if any(a["retry"] for a in d.attempts)),
    }


async def tally(setup: Setup, sent: Sent) -> dict[str, Any]:
    """What each page became, in the store, in Slack and at PagerDuty; lost and duplicated pages."""
    sandbox = setup.sandbox
    per = {i: {"incident": 0, "channel": 0, "card": 0, "acknowledgement": 0} for i in sent.deliveries}
    for (external_id,) in await setup.store_rows("select external_id from incidents where source = 'pagerduty'"):
        if external_id in per:
            per[external_id]["incident"] += 1
    channels = [c for c in sandbox.slack.channels.values() if c.name.startswith("inc-")]
    for channel in channels:
        incident_id = sent.numbers.get(int(channel.name.split("-")[1]))
        if incident_id is None:
            continue
        per[incident_id]["channel"] += 1
        per[incident_id]["card"] += sum(
            1
            for m in sandbox.slack.messages_in(channel.id)
            if any(b.get("block_id") == BlockId.CARD_HEADER for b in m.blocks or [])
        )
    # the bot's messages that must be posted once (the card, the announcement, the triage...), tagged with their
    # incident and purpose in Slack message metadata: a tag seen twice is a message posted twice
    tags: Counter[tuple[str, str]] = Counter()
    for channel_id in sandbox.slack.channels:
        for m in sandbox.slack.messages_in(channel_id):
            tag = (m.metadata or {}).get("event_payload") if not m.deleted else None
            if isinstance(tag, dict) and str(tag.get("incident", "")).startswith("pagerduty:"):
                tags[(str(tag["incident"]).split(":", 1)[1], str(tag.get("purpose")))] += 1
    twice: dict[str, list[str]] = {incident_id: [] for incident_id in per}
    for (incident_id, purpose), n in tags.items():
        if n > 1 and incident_id in twice:
            twice[incident_id].append(purpose)
    acknowledgements = 0
    for call in sandbox.pagerduty.calls:
        if (
            call.method == "PUT"
            and call.status < 300
            and call.path.startswith("/incidents/")
            and isinstance(call.body, dict)
            and (call.body.get("incident") or {}).get("status") == "acknowledged"
        ):
            acknowledgements += 1
            incident_id = call.path.split("/")[2]
            if incident_id in per:
                per[incident_id]["acknowledgement"] += 1
    lost = [i for i, p in per.items() if min(p.values()) == 0]
    return {
        "distinct_pages": len(per),
        "incidents": await setup.incidents_in_store(),
        "channels": len(channels),
        "cards": sum(p["card"] for p in per.values()),
        "acknowledgements": acknowledgements,
        "opened": sum(1 for p in per.values() if min(p.values()) >= 1),
        "lost": len(lost),
        "duplicated": sum(1 for i, p in per.items() if max(p.values()) > 1 or twice[i]),
        "messages_posted_twice": dict(Counter(p for purposes in twice.values() for p in purposes)),
        "inbound_events": dict(await setup.store_rows("select status, count(*) from inbound_events group by status")),
        "lost_pages": [await _lost(setup, i, per[i]) for i in lost[:5]],
    }


def calls_per_incident(sandbox: Sandbox, incidents: int) -> dict[str, Any]:
    """The calls the bots made of Slack and PagerDuty over the run, by method (PagerDuty's by verb and path, its ids
    left out), an incident: the work an incident costs its peers, counted rather than timed (the same in every run
    of a build, where the CPU is not)."""
    if not incidents:
        return {}
    slack = Counter(call.method for call in sandbox.slack.calls)
    pagerduty = Counter(f"{call.method} {_PD_ID.sub('{id}', call.path)}" for call in sandbox.pagerduty.calls)

    def each(counted: Counter[str]) -> dict[str, float]:
        return {key: round(n / incidents, 2) for key, n in sorted(counted.items())}

    return {
        "slack": each(slack),
        "pagerduty": each(pagerduty),
        "slack_total": round(slack.total() / incidents, 2),
        "pagerduty_total": round(pagerduty.total() / incidents, 2),
    }


_PD_ID = re.compile(r"(?<=/)[A-Z0-9]{6,}(?=/|$)")  # an id in a PagerDuty path (/incidents/Q1ABC2DEF3/notes)


async def _lost(setup: Setup, incident_id: str, found: dict[str, int]) -> dict[str, Any]:
    """What is missing of a lost page, and what became of its inbound events in the store."""
    assert re.fullmatch(r"[A-Z0-9]+", incident_id)  # PagerDuty's ids: safe to write into the query
    rows = await setup.store_rows(
        "select event_type, status, attempts, claimed_by, last_error from inbound_events "
        f"where incident_ref = '{incident_id}' order by id"
    )
    return {
        "incident": incident_id,
        "missing": [k for k, n in found.items() if n == 0],
        "inbound": [
            {"event_type": t, "status": st, "attempts": n, "claimed_by": by, "last_error": (err or "")[:300] or None}
            for t, st, n, by, err in rows
        ],
    }


async def settle(setup: Setup, sent: Sent, timeout: float) -> dict[str, Any]:  # noqa: ASYNC109
    """Wait until the bot has nothing left to do: its queue of inbound events empty (none pending, retries
    included, or processing), no webhook in flight, and no change in the sandbox for SETTLE_QUIET_S; then count
    what each page became. A page that never opens is lost, not waited for."""
    sandbox = setup.sandbox
    began = time.monotonic()
    seen, quiet_since = len(sandbox.feed), time.monotonic()
    settled = False
    while time.monotonic() - began < timeout:
        await asyncio.sleep(0.25)
        if len(sandbox.feed) != seen:
            seen, quiet_since = len(sandbox.feed), time.monotonic()
            continue
        if time.monotonic() - quiet_since < SETTLE_QUIET_S or sandbox.pagerduty.webhooks.in_flight:
            continue
        if await setup.inbound_unfinished() == 0:
            settled = True
            break
    counts = await tally(setup, sent)
    return {
        **counts,
        "settled": settled,
        "settle_s": round(time.monotonic() - began, 2),
        "unfinished_inbound": await setup.inbound_unfinished(),
    }


_VARYING = re.compile(r"[0-9a-f]{8}-[0-9a-f-]{27}|\b[A-Z0-9]{14}\b|\d+(\.\d+)?")


def log_summary(setup: Setup) -> dict[str, Any]:
    """How many warnings and errors the bot logged, grouped by what they say (ids and numbers apart)."""
    kinds: Counter[str] = Counter()
    for line in setup.log_lines():
        try:
            record = json.loads(line)
        except ValueError:
            record = None
        if isinstance(record, dict):
            if record.get("level") not in ("WARNING", "ERROR", "CRITICAL"):
                continue
            said = f"{record.get('level')} {record.get('logger')}: {str(record.get('message', '')).splitlines()[0]}"
        elif _LEVEL.search(line):
            said = line
        else:
            continue
        kinds[_VARYING.sub("#", said)[:240]] += 1
    return {"warnings_and_errors": sum(kinds.values()), "kinds": dict(kinds.most_common(8))}


class LoopLag:
    """How late this process's event loop wakes up (a 5 ms sleep, over and over): the sender's own delay, which
    every answer time measured here includes."""

    def __init__(self) -> None:
        self.lags: list[float] = []
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._watch())

    async def _watch(self) -> None:
        while True:
            t0 = time.perf_counter()
            await asyncio.sleep(0.005)
            self.lags.append((time.perf_counter() - t0 - 0.005) * 1000)

    async def stop(self) -> dict[str, float | None]:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        return summary(self.lags)


def process_cpu_s(pid: int) -> float:
    """CPU seconds a live process has used (/proc/<pid>/stat: utime + stime)."""
    raw = Path(f"/proc/{pid}/stat").read_text()
    fields = raw[raw.rindex(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def self_cpu_s() -> float:
    own = resource.getrusage(resource.RUSAGE_SELF)
    return own.ru_utime + own.ru_stime


async def intake_run(args: argparse.Namespace, *, database_url: str | None = None, replicas: int = 1) -> dict[str, Any]:
    async with sandbox_and_bot(database_url, replicas=replicas, capture_logs=True) as setup:
        bots_before, sender_before, began = [process_cpu_s(p) for p in setup.pids], self_cpu_s(), time.monotonic()
        lag = LoopLag()
        lag.start()
        sent = await send_pages(setup.sandbox, args.pages, args.rate, args.duplicates)
        sender_lag = await lag.stop()
        sending_wall = time.monotonic() - began
        bots_sending = [process_cpu_s(p) - b for p, b in zip(setup.pids, bots_before, strict=True)]
        sender_sending = self_cpu_s() - sender_before
        times = answer_times(sent)
        counts = await settle(setup, sent, args.settle_timeout)
        # the bots' CPU from the first page until all was settled, over the incidents set up (the settling's quiet
        # 2 s included: an idle serve spends next to nothing)
        bots_total = sum(process_cpu_s(p) - b for p, b in zip(setup.pids, bots_before, strict=True))
        cards = card_times(setup.sandbox)  # bench/intake.py's page_to_card_ms, over the same deliveries
        result: dict[str, Any] = {
            **times,
            "page_to_card_ms": cards["page_to_card_ms"],
            **counts,
            "replicas": replicas,
            # while the pages were sent: how late the sender's own loop ran (its share of webhook_ms), and the
            # share of one CPU each process used (1.0: a whole core)
            "sender_loop_lag_ms": sender_lag,
            "cpu_share_while_sending": {
                "bots": [round(c / sending_wall, 2) for c in bots_sending],
                "sender": round(sender_sending / sending_wall, 2),
            },
            "cpu_ms_per_incident": round(bots_total * 1000 / counts["incidents"], 1) if counts["incidents"] else None,
            "calls_per_incident": calls_per_incident(setup.sandbox, counts["incidents"]),
            "rss_mb_after": [rss_mb(pid)["rss_mb"] for pid in setup.pids],
            "bot_log": log_summary(setup),
        }
        if setup.balancer is not None:
            result["requests_per_replica"] = list(setup.balancer.sent.values())
    return result


async def capacity_run(args: argparse.Namespace) -> dict[str, Any]:
    faster = argparse.Namespace(**{**vars(args), "pages": args.capacity_pages, "rate": args.capacity_rate})
    result = await intake_run(faster)
    cards_p99 = (result.get("page_to_card_ms") or {}).get("p99")
    kept_up = (
        result["rate_per_s"] >= 0.95 * args.capacity_rate
        and result["lost"] == 0
        and result["duplicated"] == 0
        and result["settled"]
        and cards_p99 is not None
        and cards_p99 <= CAPACITY_CARD_P99_MS
    )
    return {"asked_rate_per_s": args.capacity_rate, "pages": args.capacity_pages, "kept_up": kept_up, **result}


async def bare_run(args: argparse.Namespace) -> dict[str, Any]:
    async with bare_server() as (url, _pid):
        sandbox = Sandbox(
            World.default(),
            slack_signing_secret=secrets.token_hex(16),
            pagerduty_webhook_secrets=[secrets.token_hex(16)],
            bot_url=url,
        )
        await sandbox.start()
        try:
            sent = await send_pages(sandbox, args.pages, args.rate, args.duplicates)
        finally:
            await sandbox.stop()
    return answer_times(sent)


async def memory_run(args: argparse.Namespace) -> dict[str, Any]:
    async with sandbox_and_bot(capture_logs=True) as setup:
        sent = await send_pages(setup.sandbox, args.open_incidents, args.rate, 1)
        counts = await settle(setup, sent, args.settle_timeout)
        memory = rss_mb(setup.pids[0])
        rows = await setup.store_rows("select count(*) from incidents where phase not in ('resolved', 'postmortem')")
        return {
            **memory,
            "pages": args.open_incidents,
            "open_in_store": int(rows[0][0]),
            "opened": counts["opened"],
            "lost": counts["lost"],
            "duplicated": counts["duplicated"],
            "settled": counts["settled"],
            "bot_log": log_summary(setup),
        }


async def postgres_version(admin_url: str) -> str | None:
    import asyncpg  # type: ignore[import-untyped]

    conn = await asyncpg.connect(admin_url)
    try:
        return str(await conn.fetchval("show server_version"))
    finally:
        await conn.close()


def machine_cpu_s() -> float:
    """CPU seconds this machine has spent busy since boot (all CPUs: /proc/stat, idle and iowait apart)."""
    fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    return (sum(fields[:8]) - fields[3] - fields[4]) / os.sysconf("SC_CLK_TCK")


def postgres_cpu_s() -> float:
    """CPU seconds of the PostgreSQL server's processes on this machine (those that ended counted in the
    postmaster's children time); all its clients', not the benchmark's alone."""
    total = 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            raw = stat.read_text()
        except OSError:
            continue  # ended meanwhile
        comm, fields = raw[raw.index("(") + 1 : raw.rindex(")")], raw[raw.rindex(")") + 2 :].split()
        if comm != "postgres":
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime
        if comm != _comm_of(fields[1]):  # the postmaster (its parent is no postgres): its ended children too
            total += int(fields[13]) + int(fields[14])
    return total / os.sysconf("SC_CLK_TCK")


def _comm_of(pid: str) -> str:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return ""


def own_cpu_s() -> float:
    """CPU seconds of this process and of its children that have ended (the bots, the bare server)."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def verdicts(report: dict[str, Any]) -> dict[str, bool | None]:
    """Each target against what was measured (None: not measured)."""
    out: dict[str, bool | None] = {}
    for store, result in report["intake"].items():
        if "rate_per_s" not in result:  # failed, or skipped
            out[f"{store}.webhook_p99"] = out[f"{store}.rate_vs_bare"] = out[f"{store}.no_loss"] = None
            continue
        out[f"{store}.webhook_p99"] = result["webhook_ms"]["p99"] <= TARGETS["intake_webhook_p99_ms"]
        ratio = report["ratio"].get(store)
        out[f"{store}.rate_vs_bare"] = None if ratio is None else ratio >= TARGETS["intake_rate_vs_bare"]
        out[f"{store}.no_loss"] = result["lost"] == 0 and result["duplicated"] == 0 and result["settled"]
    interactions = report["interactions"]
    out["interactions.ack_p99"] = (
        interactions["ack_ms"]["p99"] <= TARGETS["interactions_ack_p99_ms"] if "ack_ms" in interactions else None
    )
    out["rss"] = None if report["rss_mb"] is None else report["rss_mb"] <= TARGETS["rss_mb"]
    capacity = report["capacity"]
    out["capacity"] = (
        capacity["kept_up"] and capacity["asked_rate_per_s"] >= TARGETS["capacity_rate_per_s"]
        if "kept_up" in capacity
        else None
    )
    return out


async def run(args: argparse.Namespace) -> dict[str, Any]:
    began = time.monotonic()
    load_before, machine_before, own_before, pg_before = os.getloadavg(), machine_cpu_s(), own_cpu_s(), postgres_cpu_s()
    phases: dict[str, float] = {}

    async def phase(name: str, work: Coroutine[Any, Any, dict[str, Any]]) -> dict[str, Any]:
        """One part of the benchmark, timed; one that fails is said in the report, and the others still run."""
        if name not in args.parts:
            work.close()
            return {"skipped": True}
        t = time.monotonic()
        try:
            return await work
        except (Exception, SystemExit) as exc:  # noqa: BLE001
            return {"error": f"{type(exc).__name__}: {exc}"}
        finally:
            phases[name] = round(time.monotonic() - t, 1)

    bare = await phase("bare", bare_run(args))
    intake: dict[str, Any] = {"sqlite": await phase("sqlite", intake_run(args))}
    pg_version: str | None = None
    try:
        pg_version = await postgres_version(args.postgres_url)
    except Exception as exc:  # noqa: BLE001 - no PostgreSQL: said in the report, the rest still runs
        intake["postgresql_2_replicas"] = {"error": f"PostgreSQL at {args.postgres_url}: {type(exc).__name__}: {exc}"}
    if "postgresql" not in args.parts:
        intake["postgresql_2_replicas"] = {"skipped": True}
    elif pg_version is not None:
        async with postgres_database(args.postgres_url) as url:
            intake["postgresql_2_replicas"] = await phase("postgresql", intake_run(args, database_url=url, replicas=2))
    interactions = await phase("interactions", run_interactions(args.clicks))
    memory = await phase("rss", memory_run(args))
    capacity = await phase("capacity", capacity_run(args))
    ratio = {
        store: round(result["rate_per_s"] / bare["rate_per_s"], 3)
        if result.get("rate_per_s") and bare.get("rate_per_s")
        else None
        for store, result in intake.items()
    }
    machine_busy, own, pg = machine_cpu_s() - machine_before, own_cpu_s() - own_before, postgres_cpu_s() - pg_before
    report: dict[str, Any] = {
        "machine": {
            "cpu_count": os.cpu_count(),
            "cpus_usable": len(os.sched_getaffinity(0)),
            "python": platform.python_version(),
            "implementation": platform.python_implementation(),
            "platform": platform.platform(),
            "aiohttp": version("aiohttp"),
            "postgresql": pg_version,
            # the machine may be shared: what else ran beside the benchmark while it ran (CPU seconds; the
            # machine has cpu_count * wall of them). benchmark: this process, the bots and the bare server;
            # postgresql: the server's, for all its clients; others: all else
            "loadavg_before": [round(x, 2) for x in load_before],
            "loadavg_after": [round(x, 2) for x in os.getloadavg()],
            "cpu_s": {
                "wall": round(time.monotonic() - began, 1),
                "machine_busy": round(machine_busy, 1),
                "benchmark": round(own, 1),
                "postgresql": round(pg, 1),
                "others": round(machine_busy - own - pg, 1),
            },
        },
        "settings": {
            "pages": args.pages,
            "rate_per_s": args.rate,
            "deliveries_per_page": args.duplicates,
            "clicks": args.clicks,
            "open_incidents": args.open_incidents,
            "postgres_url": args.postgres_url,
            "agents": None,
            "settle_quiet_s": SETTLE_QUIET_S,
            "settle_timeout_s": args.settle_timeout,
            "parts": args.parts,
            "capacity_rate_per_s": args.capacity_rate,
            "capacity_pages": args.capacity_pages,
        },
        "intake": intake,
        "bare": bare,
        "ratio": ratio,
        "interactions": interactions,
        "rss_mb": memory.get("rss_mb"),
        "rss": memory,
        "capacity": capacity,
        "targets": TARGETS,
    }
    report["meets_targets"] = verdicts(report)
    phases["total"] = round(time.monotonic() - began, 1)
    report["seconds"] = phases
    return report


def human(report: dict[str, Any]) -> str:
    def failed(name: str, part: dict[str, Any]) -> str | None:
        if "error" in part:
            return f"{name}: {part['error']}"
        return f"{name}: skipped" if part.get("skipped") else None

    m, st, cpu = report["machine"], report["settings"], report["machine"]["cpu_s"]
    lines = [
        f"machine: {m['cpu_count']} CPUs, Python {m['python']}, load {m['loadavg_before'][0]} -> "
        f"{m['loadavg_after'][0]}; CPU s over {cpu['wall']} s: benchmark {cpu['benchmark']}, PostgreSQL "
        f"{cpu['postgresql']}, others {cpu['others']}",
        f"{st['pages']} pages at {st['rate_per_s']:g}/s, each delivered {st['deliveries_per_page']} times",
    ]
    b = report["bare"]
    lines.append(
        failed("bare", b)
        or f"bare: {b['rate_per_s']} pages/s, webhook p50 {b['webhook_ms']['p50']} ms p99 {b['webhook_ms']['p99']} ms"
    )
    for store, r in report["intake"].items():
        ratio = report["ratio"].get(store)
        lines.append(
            failed(store, r)
            or f"{store}: {r['rate_per_s']} pages/s ({'-' if ratio is None else f'{ratio:.0%}'} of bare), webhook "
            f"p50 {r['webhook_ms']['p50']} ms p99 {r['webhook_ms']['p99']} ms; {r['distinct_pages']} pages -> "
            f"{r['incidents']} incidents, {r['channels']} channels, {r['acknowledgements']} acks; lost {r['lost']}, "
            f"duplicated {r['duplicated']}{'' if r['settled'] else ' (NOT settled)'}"
        )
    i = report["interactions"]
    lines.append(
        failed("interactions", i)
        or f"interactions: {i['requests']} at once, ack p50 {i['ack_ms']['p50']} ms p99 {i['ack_ms']['p99']} ms "
        f"(floor p99 {i['floor_ms']['p99']} ms)"
    )
    r = report["rss"]
    lines.append(failed("rss", r) or f"rss: {r['rss_mb']} MB with {r['open_in_store']} open incidents")
    c = report["capacity"]
    lines.append(
        failed("capacity", c)
        or f"capacity: {c['pages']} pages at {c['asked_rate_per_s']:g}/s to one SQLite serve: {c['rate_per_s']} "
        f"pages/s, cards p50 {c['page_to_card_ms']['p50']} ms p99 {c['page_to_card_ms']['p99']} ms, "
        f"{c['cpu_ms_per_incident']} ms of CPU an incident: {'kept up' if c['kept_up'] else 'did NOT keep up'}"
    )
    lines.append(f"targets: {json.dumps(report['targets'])}")
    lines.append(
        "met: "
        + ", ".join(f"{k} {'yes' if v else 'NO' if v is False else '-'}" for k, v in report["meets_targets"].items())
    )
    lines.append(f"took {report['seconds']['total']} s")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--pages", type=int, default=500)
    parser.add_argument("--rate", type=float, default=50.0, help="pages per second")
    parser.add_argument("--duplicates", type=int, default=5, help="deliveries of each webhook, the original included")
    parser.add_argument("--clicks", type=int, default=200, help="Slack requests at once (bench/interactions.py)")
    parser.add_argument("--open-incidents", type=int, default=1000, help="open incidents held when RSS is read")
    parser.add_argument("--postgres-url", default=DEFAULT_POSTGRES_URL, help="a server where bench_* may be created")
    parser.add_argument(
        "--parts",
        type=lambda v: [p.strip() for p in v.split(",") if p.strip()],
        default=list(PARTS),
        help=f"which parts to run, comma-separated (default: all of {','.join(PARTS)})",
    )
    parser.add_argument("--capacity-rate", type=float, default=80.0, help="pages per second for the capacity part")
    parser.add_argument("--capacity-pages", type=int, default=800, help="pages the capacity part sends")
    parser.add_argument("--settle-timeout", type=float, default=180.0, help="seconds to wait for the bot to settle")
    args = parser.parse_args()
    if set(args.parts) - set(PARTS):
        parser.error(f"--parts: unknown {sorted(set(args.parts) - set(PARTS))}; known: {','.join(PARTS)}")
    if (
        min(args.pages, args.duplicates, args.open_incidents, args.capacity_pages) < 1
        or min(args.rate, args.capacity_rate) <= 0
    ):
        parser.error("--pages, --rate, --duplicates, --open-incidents and the --capacity-* must be positive")
    report = asyncio.run(run(args))
    print(json.dumps(report) if args.json else human(report))
    sys.stdout.flush()


if __name__ == "__main__":
    main()
