"""`sre-agent demo`: play a scenario against the sandbox peers with the real app, and print what Slack shows.

The sandbox and the bot share one virtual clock (`ScaledClock`), so a scenario's minutes pass in seconds while every
timestamp, in Slack, PagerDuty and the timeline, stays consistent.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import tempfile
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import yaml

from bot.budgets.reading import parse_window
from bot.domain.events import Checked
from bot.domain.incident import Incident
from bot.domain.phase import Phase
from bot.domain.timeline import EventKind
from bot.ports.clock import ScaledClock
from bot.store.slos import Snapshot
from sandbox.botapp import RunningBot, bot_settings_for, settle, start_bot
from sandbox.render import Printer, render_entry
from sandbox.scenario import (
    Click,
    Command,
    Mention,
    Message,
    OpsGenieAction,
    Page,
    PagerDutyAction,
    Say,
    Scenario,
    Step,
    WaitFor,
    WaitUntil,
)
from sandbox.server import Sandbox
from sandbox.slack_state import Message as SlackMessage

__all__ = ["DemoFailed", "play", "running", "scenario_files"]

APPROVE, REJECT = "proposal.approve", "proposal.reject"  # the proposal's buttons (blocks.ids.ActionId)
CLICK_WAIT_S = 5.0  # how long a click waits for its button to appear (real seconds)
MIN_REAL_WAIT_S = 15.0  # however fast the virtual clock runs, a `wait: {until: ...}` gives the bot this long


def _is_button(element: Any, action: str, value: str | None) -> bool:
    """A button with that action id (and, for a proposal's, a value that begins so: that proposal's)."""
    return (
        isinstance(element, dict)
        and element.get("action_id") == action
        and (value is None or str(element.get("value") or "").startswith(value))
    )


class DemoFailed(RuntimeError):
    """The script could not go on (a wait timed out, a person's action was refused)."""


@dataclass
class _Run:
    scenario: Scenario
    sandbox: Sandbox
    bot: RunningBot
    clock: ScaledClock
    out: Printer
    min_real_wait_s: float = MIN_REAL_WAIT_S
    interactive: bool = False
    pagerduty_incident: str | None = None  # the page's id on the scenario's pager (a PagerDuty incident, an alert)
    errors: list[str] = field(default_factory=list)
    began: datetime = field(init=False)  # when the script began (virtual): the history is stored before it

    def __post_init__(self) -> None:
        self.began = self.clock.now()

    # ---- the scenario's incident -------------------------------------------------------------------------------
    async def incident(self) -> Incident | None:
        """The incident the script paged for; else (declared in Slack) the newest one."""
        store = self.bot.services.store
        if self.pagerduty_incident is not None:
            return await store.incident_by_external(self.scenario.pager, self.pagerduty_incident)
        incidents = await store.incidents()
        return incidents[-1] if incidents else None

    async def holds(self, condition: str) -> bool:
        if condition == "offered":  # an answer about a budget shows a plan to approve
            slack = self.sandbox.slack
            return any(
                b.get("block_id") == "offer.actions"
                for c in slack.channels
                for m in slack.messages_in(c)
                for b in m.blocks or []
            )
        if condition == "measured":  # every SLO read at least once since the script began (not its history)
            names = [d.slo.name for d in self.bot.services.standing.definitions]
            latest = await self.bot.services.store.latest_snapshots(names=names)
            return len(latest) == len(names) and all(s.taken_at >= self.began for s in latest.values())
        incident = await self.incident()
        if incident is None or incident.id is None:
            return False
        if condition == "channel":
            return incident.channel_id is not None
        if condition == "public_post":  # a post for the public status page waits for a decision
            return incident.channel_id is not None and any(
                b.get("block_id") == "public_post.actions"
                for m in self.sandbox.slack.messages_in(incident.channel_id)
                for b in m.blocks or []
            )
        if condition == "acknowledged":
            return incident.acknowledged_at is not None and incident.phase is not Phase.TRIGGERED
        if condition == "resolved":
            return incident.phase is Phase.RESOLVED
        events = await self.bot.services.store.timeline(incident.id)
        if condition == "checked":  # the check of the latest fix carried out has ended (of the first, in a scenario
            # with more than one, before the second is carried out)
            kinds = [e.kind for e in events]
            checks = [i for i, kind in enumerate(kinds) if kind in Checked.KINDS]
            executed = [i for i, kind in enumerate(kinds) if kind is EventKind.EXECUTED]
            return bool(checks) and (not executed or checks[-1] > executed[-1])
        wanted = _CONDITION_EVENTS[condition]
        return any(e.kind is wanted for e in events)

    async def channel_id(self, ref: str) -> str:
        if ref == "incident":
            incident = await self.incident()
            if incident is None or incident.channel_id is None:
                raise DemoFailed(
                    "the script refers to the incident channel before there is one "
                    "(put `wait: {until: channel}` before this step)"
                )
            return incident.channel_id
        if ref == "incidents":
            return self.scenario.world.incidents_channel.id
        channel = self.sandbox.slack.channel(ref)
        if channel is None:
            raise DemoFailed(f"no Slack channel {ref!r}")
        return channel.id

    def channel_label(self, channel_id: str) -> str:
        channel = self.sandbox.slack.channel(channel_id)
        return f"#{channel.name}" if channel else channel_id

    # ---- steps ---------------------------------------------------------------------------------------------------
    async def step(self, step: Step) -> None:
        slack = self.sandbox.slack
        if isinstance(step, Say):
            self.out.line()
            self.out.line(f"» {step.text}")
        elif isinstance(step, Page):
            if self.scenario.pager == "opsgenie":
                alert = self.sandbox.opsgenie.page(step.service, step.title, priority=step.priority or "P3")
                self.pagerduty_incident = alert.id
            else:
                pd = self.sandbox.pagerduty.page(step.service, step.title, priority=step.priority, urgency=step.urgency)
                self.pagerduty_incident = pd.id
        elif isinstance(step, WaitFor):
            await self._pass_time(step.seconds)
        elif isinstance(step, WaitUntil):
            await self._wait_until(step)
        elif isinstance(step, Command):
            channel = await self.channel_id(step.channel)
            where = self.channel_label(channel)
            self.out.line(f"{self._now()}  {where}  {step.user} types: {step.command} {step.text}".rstrip())
            self._check(await slack.send_command(step.user, channel, step.command, step.text), "slash command")
        elif isinstance(step, Message | Mention):
            channel = await self.channel_id(step.channel)
            send = slack.send_message if isinstance(step, Message) else slack.send_mention
            self._check(await send(step.user, channel, step.text), "message")
        elif isinstance(step, Click):
            await self._click(step)
        elif isinstance(step, PagerDutyAction):
            await self._pagerduty(step)
        elif isinstance(step, OpsGenieAction):
            self._opsgenie(step)

    async def _click(self, step: Click) -> None:
        """Click the newest button with the step's action id in its channel. A button not there yet is waited for
        a little (CLICK_WAIT_S real seconds): a message that a wait saw may be being redrawn, its buttons gone, and
        the one to click about to be posted."""
        channel = await self.channel_id(step.channel)
        deadline = time.monotonic() + CLICK_WAIT_S
        while True:  # (the proposal too may be about to be made)
            value = await self._proposal_value(step.proposal) if step.proposal is not None else None
            message = self._newest_with(channel, step.action, value) if value != "" else None
            if message is not None or time.monotonic() > deadline:
                break
            await asyncio.sleep(0.05)
        if value == "":
            raise DemoFailed(f"no proposal {step.proposal}: the incident has fewer")
        if message is None:
            of = f" of proposal {step.proposal}" if step.proposal is not None else ""
            raise DemoFailed(f"no button {step.action!r}{of} in {self.channel_label(channel)}")
        action = step.action
        if self.interactive and action in (APPROVE, REJECT):
            action = await self._ask_person(step.user, message.text)
        label = next(
            (
                el.get("text", {}).get("text", action)
                for b in message.blocks or []
                for el in b.get("elements") or []
                if isinstance(el, dict) and el.get("action_id") == action
            ),
            action,
        )
        self.out.line(f"{self._now()}  {self.channel_label(channel)}  {step.user} clicks [ {label} ]")
        result = await self.sandbox.slack.send_action(step.user, channel, message.ts, action)
        self._check(result, "button click")
        if action == REJECT:
            await self._reject_reason(step.user)

    async def _proposal_value(self, nth: int) -> str:
        """What the buttons of the incident's Nth proposal begin with (its id), to tell them from another's; ""
        while it has fewer proposals."""
        incident = await self.incident()
        proposals = await self.bot.services.store.proposals(incident.id) if incident and incident.id else []
        if len(proposals) < nth:
            return ""
        return f"{sorted(proposals, key=lambda p: p.id)[nth - 1].id}:"

    def _newest_with(self, channel: str, action: str, value: str | None) -> SlackMessage | None:
        """The newest message in the channel with that button (`_is_button`), if any."""
        return next(
            (
                message
                for message in reversed(self.sandbox.slack.messages_in(channel))
                if any(
                    _is_button(el, action, value)
                    for block in message.blocks or []
                    for el in block.get("elements") or []
                )
            ),
            None,
        )

    async def _ask_person(self, user: str, text: str) -> str:
        """--interactive: the person at the terminal decides for the on-call user."""
        self.out.line()
        self.out.line(f"  You decide, as {user}: {text}")
        while True:
            answer = (await asyncio.to_thread(input, "  [a]pprove or [r]eject? ")).strip().lower()
            if answer in ("a", "approve"):
                return APPROVE
            if answer in ("r", "reject"):
                return REJECT

    async def _reject_reason(self, user: str) -> None:
        """After Reject the bot opens a modal for the reason: fill it in and submit it."""
        slack = self.sandbox.slack
        deadline = time.monotonic() + 5
        while not (
            views := [
                v
                for v in slack.views.values()
                if not v.closed and v.view.get("callback_id") == "proposal.reject_reason"
            ]
        ):
            if time.monotonic() > deadline:
                raise DemoFailed("the bot did not ask for a reason after Reject")
            await asyncio.sleep(0.02)
        reason = "rejected at the terminal"
        if self.interactive:
            reason = (await asyncio.to_thread(input, "  Why? ")).strip() or reason
        self._check(
            await slack.send_view_submission(user, views[-1].id, {"proposal.reject_reason": {"reason": reason}}),
            "reject form",
        )

    async def _pagerduty(self, step: PagerDutyAction) -> None:
        if self.pagerduty_incident is None:
            raise DemoFailed("a PagerDuty action before any page")
        pd = self.sandbox.pagerduty
        self.out.line(f"{self._now()}  {step.user} uses PagerDuty: {step.action} {step.text}".rstrip())
        if step.action == "acknowledge":
            pd.acknowledge(self.pagerduty_incident, step.user)
        elif step.action == "resolve":
            pd.resolve(self.pagerduty_incident, step.user)
        elif step.action == "reopen":
            pd.reopen(self.pagerduty_incident, step.user)
        else:
            pd.add_note(self.pagerduty_incident, step.user, step.text)

    def _opsgenie(self, step: OpsGenieAction) -> None:
        og = self.sandbox.opsgenie
        alert = og.get_alert(self.pagerduty_incident) if self.pagerduty_incident else None
        if alert is None:
            raise DemoFailed("an OpsGenie action before any alert (is the scenario's pager opsgenie?)")
        self.out.line(f"{self._now()}  {step.user} uses OpsGenie: {step.action} {step.text}".rstrip())
        by = self.scenario.world.person(step.user).email
        if step.action == "acknowledge":
            og.acknowledge(alert, by)
        elif step.action == "close":
            og.close(alert, by)
        else:
            og.add_note(alert, step.text, by)

    def _check(self, result: dict[str, Any], what: str) -> None:
        if result.get("status") != 200:
            raise DemoFailed(
                f"the bot answered the {what} with HTTP {result.get('status')}: "
                f"{result.get('error') or result.get('body')}"
            )

    async def _pass_time(self, seconds: float) -> None:
        self.out.progress(f"{_human_duration(seconds)} pass")
        end = time.monotonic() + seconds / self.clock.speed
        while (left := end - time.monotonic()) > 0:
            await asyncio.sleep(min(0.1, left))
            self.out.tick()
        self.out.progress(None)

    async def _wait_until(self, step: WaitUntil) -> None:
        self.out.progress(f"waiting until the incident is {_CONDITION_WORDS[step.condition]}")
        deadline = time.monotonic() + max(self.min_real_wait_s, step.timeout / self.clock.speed)
        try:
            while not await self.holds(step.condition):
                if time.monotonic() > deadline:
                    raise DemoFailed(
                        f"the incident was not {_CONDITION_WORDS[step.condition]} within "
                        f"{_human_duration(step.timeout)}"
                    )
                await asyncio.sleep(0.02)
                self.out.tick()
        finally:
            self.out.progress(None)

    def _now(self) -> str:
        return self.clock.now().strftime("%H:%M:%S")

    # ---- the feed, printed as it happens ------------------------------------------------------------------------
    async def tail(self) -> None:
        seq = 0
        slack = self.sandbox.slack
        while True:
            for entry in await self.sandbox.wait_feed(seq, timeout=0.1):
                seq = entry["seq"]
                lines = render_entry(entry, slack.user_name, self._channel_name)
                if lines:
                    self.out.lines(lines)
            self.out.tick()

    def _channel_name(self, channel_id: str) -> str:
        channel = self.sandbox.slack.channel(channel_id)
        return channel.name if channel else channel_id


_CONDITION_WORDS = {
    "channel": "in its channel",
    "card": "on its card",
    "diagnosed": "diagnosed",
    "acknowledged": "acknowledged",
    "resolved": "resolved",
    "proposed": "given a proposal",
    "executed": "remediated",
    "verified": "verified",
    "checked": "done verifying",
    "task_done": "given a manual task marked done",
    "escalated": "escalated",
    "help_requested": "handed to people",
    "offered": "offered a plan for its error budget",
    "public_post": "given a status page post to approve",
    "measured": "measured (every SLO read)",
}
_CONDITION_EVENTS = {
    "card": EventKind.CARD_POSTED,
    "diagnosed": EventKind.DIAGNOSED,
    "proposed": EventKind.PROPOSED,
    "executed": EventKind.EXECUTED,
    "verified": EventKind.VERIFIED,
    "task_done": EventKind.TASK_DONE,
    "escalated": EventKind.ESCALATED,
    "help_requested": EventKind.HELP_REQUESTED,
}


def _human_duration(seconds: float) -> str:
    if seconds >= 3600 and seconds % 3600 == 0:
        n, unit = int(seconds // 3600), "hour"
    elif seconds >= 60 and seconds % 60 == 0:
        n, unit = int(seconds // 60), "minute"
    else:
        return f"{seconds:g} seconds"
    return f"{n} {unit}{'s' if n != 1 else ''}"


async def _summary(run: _Run) -> dict[str, Any]:
    store = run.bot.services.store
    slack_name = run.sandbox.slack.user_name
    incident = await run.incident()
    summary: dict[str, Any] = {"scenario": run.scenario.name, "ok": not run.errors}
    if run.errors:
        summary["error"] = run.errors[0]
    if incident is not None and incident.id is not None:
        events = await store.timeline(incident.id)
        pd = run.sandbox.pagerduty.incidents.get(incident.external_id)
        alert = run.sandbox.opsgenie.get_alert(incident.external_id)
        summary["incident"] = {
            "id": incident.id,
            "number": incident.number,
            "title": incident.title,
            "service": incident.service,
            "severity": str(incident.severity),
            "phase": str(incident.phase),
            "channel": f"#{incident.channel_name}" if incident.channel_name else None,
        }
        if incident.source == "opsgenie":
            summary["incident"]["opsgenie"] = {
                "id": incident.external_id,
                "tiny_id": alert.tiny_id if alert else None,
                "status": alert.status if alert else None,
                "acknowledged": alert.acknowledged if alert else None,
                "url": incident.html_url,
                "notes": [n["note"] for n in alert.notes] if alert else [],
            }
        else:
            summary["incident"]["pagerduty"] = {
                "id": incident.external_id,
                "status": pd.status if pd else None,
                "url": incident.html_url,
                "status_updates": [u.message for u in pd.status_updates] if pd else [],
            }
        posts = await store.public_posts(incident.id)
        if posts:
            summary["incident"]["status_page"] = {
                "posts": [
                    {
                        "phase": str(p.phase),
                        "status": str(p.status),
                        "name": p.name,
                        "by": slack_name(p.decided_by) if p.decided_by else None,
                    }
                    for p in posts
                ],
                "public": [
                    {"name": i.name, "status": i.status, "updates": [u["status"] for u in i.updates]}
                    for i in run.sandbox.statuspage.incidents.values()
                ],
            }
        summary["timeline"] = [
            {"at": e.at.isoformat(), "kind": str(e.kind), "actor": e.actor, "text": e.text} for e in events
        ]
        summary["evidence"] = [
            {
                "agent": e["agent"],
                "role": e["role"],
                "outcome": e["outcome"],
                "duration_ms": e["duration_ms"],
                "signals": _signal_values(e["signals"]),
                "reason": e["reason"],
            }
            for e in await store.evidence(incident.id)
        ]
        diagnosed = [e for e in events if e.kind is EventKind.DIAGNOSED]
        summary["hypotheses"] = [
            {"text": h["text"], "confidence": h["confidence"], "recommendations": h["recommendations"]}
            for h in (diagnosed[-1].data.get("hypotheses", []) if diagnosed else [])
        ]
        summary["proposals"] = [
            {
                "runbook": p.plan.runbook,
                "action": p.plan.action,
                "plan_hash": p.plan_hash,
                "status": str(p.status),
                "approvers": [slack_name(u) for u in p.approvers],
                "needed": p.needed,
                "rejected_by": slack_name(p.rejected_by) if p.rejected_by else None,
                "reason": p.reason or None,
                "agent": p.agent,
                "outcome": p.outcome or None,
                "verified": any(e.kind is EventKind.VERIFIED and e.data.get("proposal") == p.id for e in events),
            }
            for p in await store.proposals(incident.id)
        ]
        written = await run.bot.services.postmortems.of(incident)
        folder = Path(tempfile.gettempdir()) / "sre-agent-demo"
        folder.mkdir(exist_ok=True)
        path = folder / f"{run.scenario.name}-{incident.label}-postmortem.md"
        path.write_text(written.markdown, encoding="utf-8")
        m = written.postmortem.metrics
        summary["postmortem"] = {"path": str(path)}
        summary["metrics"] = {
            "time_to_detect_s": m.time_to_detect_s,
            "time_to_acknowledge_s": m.time_to_acknowledge_s,
            "time_to_mitigate_s": m.time_to_mitigate_s,
            "time_to_resolve_s": m.time_to_resolve_s,
        }
    else:
        summary.update(
            incident=None,
            timeline=[],
            evidence=[],
            hypotheses=[],
            proposals=[],
            postmortem=None,
            metrics={
                "time_to_detect_s": None,
                "time_to_acknowledge_s": None,
                "time_to_mitigate_s": None,
                "time_to_resolve_s": None,
            },
        )
    summary["offers"] = [
        {
            "service": o.service,
            "runbook": o.plan.runbook,
            "action": o.plan.action,
            "plan_hash": o.plan_hash,
            "status": str(o.status),
            "decided_by": slack_name(o.decided_by) if o.decided_by else None,
            "incident": o.incident_id,
            "text": o.shown,
        }
        for o in await store.offers()
    ]
    slack = run.sandbox.slack
    summary["slack_messages"] = sum(len(slack.messages_in(c)) for c in slack.channels)
    summary["findings"] = _findings(run)
    return summary


def _findings(run: _Run) -> dict[str, Any] | None:
    """The findings message as Slack shows it, and the thread of questions and answers under it."""
    slack = run.sandbox.slack
    for channel in slack.channels:
        for message in slack.messages_in(channel):
            if any(b.get("block_id") == "findings" for b in message.blocks or []):
                thread = [m.text for m in slack.messages_in(channel) if m.thread_ts == message.ts != m.ts]
                return {"text": message.text, "thread": thread}
    return None


def _signal_values(signals: dict[str, Any]) -> dict[str, Any]:
    """The stored signals without their sources: {"error_rate": 0.085, "pods": {"CrashLoopBackOff": 3}, ...}."""
    out: dict[str, Any] = {}
    for key, value in signals.items():
        if isinstance(value, dict) and "value" in value:
            out[key] = value["value"]
    if signals.get("pods"):
        out["pods"] = {p["state"]: p["count"] for p in signals["pods"]}
    if signals.get("deploys"):
        out["deploys"] = [d[0] for d in signals["deploys"]]
    if signals.get("healthy"):
        out["healthy"] = True
    return out


async def play(
    scenario: Scenario,
    *,
    speed: float | None = None,
    out: Printer | None = None,
    min_real_wait_s: float = MIN_REAL_WAIT_S,
    interactive: bool = False,
    database: Path | None = None,
    runbooks: Path | None = None,
) -> dict[str, Any]:
    """Play ``scenario`` and return the JSON summary (``ok`` is false, with ``error``, when the script failed).

    A ``wait: {until: ...}`` fails after its virtual timeout, but never sooner than ``min_real_wait_s`` real seconds:
    the bot's work takes real time however fast the virtual clock runs."""
    out = out or Printer(quiet=True)
    async with running(scenario, speed=speed, database=database, runbooks=runbooks) as (sandbox, bot, clock):
        run = _Run(scenario, sandbox, bot, clock, out, min_real_wait_s, interactive)
        tail = asyncio.create_task(run.tail())
        try:
            for step in scenario.script:
                await run.step(step)
            await settle(sandbox, bot.services)
        except DemoFailed as exc:
            run.errors.append(str(exc))
        finally:
            await asyncio.sleep(0.2)  # let the feed catch up before the tail stops
            tail.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await tail
            summary = await _summary(run)
    return summary


@contextlib.asynccontextmanager
async def running(
    scenario: Scenario,
    *,
    speed: float | None = None,
    host: str = "127.0.0.1",
    port: int = 0,
    prepare: Callable[[Sandbox], None] | None = None,
    database: Path | None = None,
    runbooks: Path | None = None,
) -> AsyncIterator[tuple[Sandbox, RunningBot, ScaledClock]]:
    """The scenario's world served by the sandbox (on `host`:`port`; `prepare` may add routes to it first) and the
    real app beside it on a fresh SQLite file, both on one virtual clock at `speed` (default: the scenario's), its
    history stored; stopped and removed on the way out (the SQLite file is kept where `database` names one)."""
    clock = ScaledClock(speed or scenario.speed)
    sandbox = Sandbox(
        scenario.world,
        slack_signing_secret=secrets.token_hex(16),
        pagerduty_webhook_secrets=[secrets.token_hex(16)],
        clock=clock.now,
        agents=scenario.agents,
    )
    if prepare is not None:
        prepare(sandbox)
    await sandbox.start(host, port)
    try:
        with tempfile.TemporaryDirectory(prefix="sre-agent-demo-") as tmp:
            extra: dict[str, Any] = {"SRE_LOG_LEVEL": "WARNING", "SRE_PAGER": scenario.pager}
            if runbooks is not None:
                extra["SRE_RUNBOOKS_PATH"] = str(runbooks)
            extra.update(scenario_files(scenario, Path(tmp)))
            if scenario.agents:
                agents_path = Path(tmp) / "agents.yml"
                agents_path.write_text(yaml.safe_dump(sandbox.agents.agents_file()), encoding="utf-8")
                extra["SRE_AGENTS_PATH"] = str(agents_path)
            settings = bot_settings_for(sandbox, f"sqlite:///{database or Path(tmp) / 'demo.db'}", **extra)
            bot = await start_bot(settings, sandbox, clock=clock)
            try:
                await _record_history(scenario, bot, clock)
                yield sandbox, bot, clock
            finally:
                await bot.stop()
    finally:
        await sandbox.stop()


def scenario_files(scenario: Scenario, folder: Path) -> dict[str, str]:
    """The service catalog and the SLOs the bot runs with for `scenario` (those it has), written in `folder`: their
    paths by the setting that names them (SRE_CATALOG_PATH, SRE_SLOS_PATH)."""
    files: dict[str, str] = {}
    if scenario.catalog is not None:
        files["SRE_CATALOG_PATH"] = str(folder / "catalog.yml")
        Path(files["SRE_CATALOG_PATH"]).write_text(yaml.safe_dump(scenario.catalog), encoding="utf-8")
    if scenario.slos:
        files["SRE_SLOS_PATH"] = str(folder / "slos.yml")
        Path(files["SRE_SLOS_PATH"]).write_text(yaml.safe_dump_all(scenario.slos, sort_keys=False), encoding="utf-8")
    return files


async def _record_history(scenario: Scenario, bot: RunningBot, clock: ScaledClock) -> None:
    """The scenario's `history`: the snapshots sre-agent would have stored in the days before it starts."""
    if not scenario.history:
        return
    services = {d.slo.name: d.slo.service for d in bot.services.standing.definitions}
    now = clock.now()
    snapshots = [
        Snapshot(
            r.slo,
            services[r.slo],
            now - timedelta(seconds=r.ago) - timedelta(days=day),
            {window: parse_window(c) for window, c in r.counts.items()},
        )
        for r in scenario.history
        for day in range(r.days)
    ]
    await bot.services.store.add_snapshots(snapshots)


def quiet_logs() -> None:
    """The demo prints the conversation; the app's own logs only when something is wrong."""
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("aiohttp.access").setLevel(logging.ERROR)
