"""What sre-agent says about SLOs and error budgets (mrkdwn): a tier that fires, is updated and clears, a budget that
runs low or recovers, an SLO without data, and the figures themselves. An undefined figure is said in words
("no traffic", "no data"), never as an infinity, a NaN or a silent zero."""

from __future__ import annotations

from datetime import datetime

from blocks.text import escape, truncate
from bot.domain.budget_policy import Stance
from bot.domain.events import BudgetSpent
from bot.domain.slo import Alert, BudgetAnswer, BudgetState, SloStatus, by_budget

TIER_WORDS = {
    "page-fast": "fast burn (1 h and 5 m)",
    "page-slow": "sustained burn (6 h and 30 m)",
    "ticket-fast": "slow burn (1 d and 2 h)",
    "ticket-slow": "slow burn (3 d and 6 h)",
}


def percent(value: float | None) -> str:
    if value is None:
        return "unknown"
    shown = f"{value * 100:.1f}"
    return f"{'0.0' if shown == '-0.0' else shown}%"


def burn(value: float | None) -> str:
    return "no traffic" if value is None else f"{value:.2f}x"


def duration_h(hours: float | None) -> str:
    if hours is None:
        return "not being spent"
    if hours == 0:
        return "spent"
    if hours >= 48:
        return f"~{hours / 24:.1f} days"
    if hours >= 1:
        return f"~{hours:.1f} h"
    return f"~{max(1, round(hours * 60))} min"


def name(status: SloStatus) -> str:
    slo = status.slo
    return f"*{escape(slo.display_name or slo.name)}* ({escape(slo.service)})"


def budget_line(status: SloStatus) -> str:
    """The brief's sentence: remaining (with the window), burn now (and against normal), the forecast."""
    slo = status.slo
    if status.remaining is None:
        return f"{name(status)}: no data for the {escape(slo.period_name)} window, so its error budget is unknown."
    kind = "rolling" if slo.rolling else "calendar"
    text = f"{name(status)} error budget is at {percent(status.remaining)} remaining ({slo.period_name} {kind} window)."
    if status.burn_now is None:
        return text + " No traffic in the last hour."
    text += f" Current burn rate: {burn(status.burn_now)} of the budget's rate"
    if status.against_usual is not None:
        text += f", {status.against_usual:.1f}x normal"
    text += "."
    if status.budget is BudgetState.EXHAUSTED:
        return text + " The budget is spent."
    if status.exhausts_in_hours is not None:
        text += f" At this rate, the budget exhausts in {duration_h(status.exhausts_in_hours)}."
    return text


def _tier(alert: Alert) -> str:
    long, short = alert.burns
    return (
        f"{TIER_WORDS.get(alert.tier, alert.tier)}: {long:.1f}x and {short:.1f}x the budget's rate, "
        f"above {alert.factor:g}x"
    )


def tier_fired(status: SloStatus, alert: Alert) -> str:
    icon = ":rotating_light:" if alert.severity == "page" else ":ticket:"
    return f"{icon} {name(status)} is burning its error budget: {_tier(alert)}.\n{budget_line(status)}"


def tier_firing(status: SloStatus, alert: Alert) -> str:
    return tier_fired(status, alert) + "\n_Still burning; updated each evaluation._"


def tier_cleared(status: SloStatus, tier: str) -> str:
    return (
        f":white_check_mark: {name(status)}: the {TIER_WORDS.get(tier, tier)} alert cleared; "
        f"burn now {burn(status.burn_now)}. {percent(status.remaining)} of the budget remains."
    )


def budget_low(status: SloStatus, *, cautious: bool, approvers: int = 2) -> str:
    """A budget that crossed into warning or exhausted; `cautious`: the policy is cautious from now (with the
    approvers it asks for every change): the change-freeze notice."""
    if status.budget is BudgetState.EXHAUSTED:
        head = f":no_entry: {name(status)} has spent its error budget ({percent(status.remaining)} remaining)."
    else:
        head = f":warning: {budget_line(status)}"
    if not cautious:
        return head
    return (
        f"{head} sre-agent is cautious now: {approvers} approvers for every change, reversible actions first, and "
        "no automatic resolve. Hold risky deploys until the budget recovers."
    )


def budget_recovered(status: SloStatus) -> str:
    return f":seedling: {name(status)}: the error budget is back to {status.budget} ({percent(status.remaining)})."


def no_data(status: SloStatus) -> str:
    return (
        f":grey_question: {name(status)}: the monitoring delegate returned no counts for it, so its error budget "
        "is unknown. Check the delegate and the SLO's queries."
    )


def policy_note(stance: Stance) -> str:
    """The error budget policy as a proposal shows it."""
    status = stance.deciding
    if status is None:
        return ""
    approvers = "one approver" if stance.approvers == 1 else f"{stance.approvers} approvers"
    budget = f"{name(status)}: {percent(status.remaining)} of the error budget left ({status.budget})"
    if stance.cautious:
        why = "The budget is spent" if status.budget is BudgetState.EXHAUSTED else "The budget runs low"
        return (
            f":no_entry: {budget}. {why}, so sre-agent is cautious: {approvers} for every change, "
            "reversible actions first, no automatic resolve."
        )
    icon = ":warning:" if status.budget is BudgetState.WARNING else ":large_green_circle:"
    return f"{icon} {budget}: move fast, {approvers}."


_ICON = {
    BudgetState.HEALTHY: ":large_green_circle:",
    BudgetState.WARNING: ":warning:",
    BudgetState.EXHAUSTED: ":no_entry:",
    BudgetState.UNKNOWN: ":grey_question:",
}


def answer(found: BudgetAnswer, service: str | None) -> str:
    """The reply to "how's the checkout error budget looking?": one paragraph an SLO."""
    statuses = found.statuses
    if not statuses:
        return (
            f":bar_chart: No SLO is defined for `{escape(service or '?')}`, so I have no error budget to report for it."
        )
    lines = []
    for s in statuses:
        line = f"{_ICON[s.budget]} {budget_line(s)}"
        if s.slo.name in found.maintenance:
            line += f" ({percent(found.maintenance[s.slo.name])} of the budget went in maintenance windows.)"
        lines.append(line)
    if any(s.against_usual is None and s.burn_now is not None for s in statuses):
        lines.append("_“x normal” appears once sre-agent has three days of this SLO's history._")
    return "\n".join(lines)


def home_line(status: SloStatus) -> str:
    """One SLO on App Home: the budget left, the burn now, the forecast, what fires."""
    firing = ", ".join(a.tier for a in status.firing)
    parts = [
        f"{_ICON[status.budget]} {name(status)}: {percent(status.remaining)} left of {escape(status.slo.period_name)}",
        f"burn {burn(status.burn_now)}",
    ]
    if status.remaining is not None and status.exhausts_in_hours is not None and status.exhausts_in_hours > 0:
        parts.append(f"exhausts in {duration_h(status.exhausts_in_hours)}")
    if firing:
        parts.append(f"firing: {firing}")
    return " · ".join(parts)


MAX_LEDGER = 10


def digest(
    statuses: list[SloStatus],
    day_before: dict[str, float | None],
    at: datetime,
    ledger: list[tuple[str, BudgetSpent]] | None = None,
) -> str:
    """Every SLO, least budget left first: remaining and its move over the last day, burn, forecast, what fires;
    then the incidents that spent budget (`ledger`: an incident's label with what it spent), the most first."""
    lines = [f":bar_chart: *Error budgets* ({at:%Y-%m-%d %H:%M} UTC), the least left first"]
    for status in by_budget(statuses):
        line = home_line(status)
        before = day_before.get(status.slo.name)
        if status.remaining is not None and before is not None:
            moved = (status.remaining - before) * 100
            line += f" · {'+' if moved >= 0 else '−'}{abs(moved):.1f} pts in a day"
        lines.append(line)
    if ledger:
        lines.append("*Spent by incidents*")
        ranked = sorted(ledger, key=lambda item: -item[1].share)
        lines += [f"• {escape(label)}: {spent_line(spent)}" for label, spent in ranked[:MAX_LEDGER]]
        if len(ranked) > MAX_LEDGER:
            lines.append(f"…and {len(ranked) - MAX_LEDGER} more.")
    spent = [s for s in statuses if s.budget is BudgetState.EXHAUSTED]
    if spent:
        lines.append(f"_{len(spent)} spent: sre-agent asks two approvers for every change to these services._")
    return truncate("\n".join(lines), 3900)


def spent_line(spent: BudgetSpent) -> str:
    """One line of an incident's budget ledger."""
    return f"{escape(spent.slo)}: {spent.share * 100:.2f}% of its {escape(spent.period)} error budget"


def could_not_post(channel: str, error: str) -> str:
    return f"(said here: sre-agent could not post in {escape(channel)}: {escape(error)})"
