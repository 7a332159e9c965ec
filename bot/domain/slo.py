"""SLOs and error budgets: the math, pure and exact.

An SLO's error budget B is 1 - objective (0.001 for 99.9%). From good and total counts summed over a window (never
averaged ratios): the error ratio is bad / total, the burn rate is error ratio / B (1.0 spends exactly the budget
over the period), the budget consumed over the period is bad / (total x B), and the remaining budget 1 - consumed
(it may go negative). At the current burn b the remaining budget r lasts r x period / b.

Everything that decides (a tier firing, a budget crossing its warning level, too little traffic) is compared
exactly: the objective is taken as written (0.999 is 999/1000, not the float nearest to it), the counts are whole
numbers (or exact ratios of them), and each comparison is one of integers, so a burn of exactly 14.4 at 99.9% is
not above 14.4, every time. The figures reported (burn rates, the remaining share) are the exact quotients rounded
once to a float.

Multi-window, multi-burn-rate alerts: a tier fires when the burn is strictly above its factor in both its long and
its short window. The factors are the share of the budget a tier would see spent in its long window, scaled to the
period: page-fast 2% in 1 h, page-slow 5% in 6 h, ticket-fast 10% in 1 d, ticket-slow 10% in 3 d (14.4 / 6 / 3 / 1
over 30 days, 13.44 / 5.6 / 2.8 / 0.933 over 28).

What the counts say is never hidden: `ok`; `no_traffic` (total 0: no budget spent, burn undefined); `no_data` (the
delegate returned nothing: unknown); `low_traffic` (total x B < 1: one bad event would be more than the window's
budget, so pages from that window are suppressed and the reason is given).
"""

from __future__ import annotations

import gc
import math
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal
from enum import StrEnum
from fractions import Fraction

__all__ = [
    "ALERT_WINDOWS",
    "TIERS",
    "Alert",
    "BudgetAnswer",
    "BudgetState",
    "Counts",
    "DataState",
    "Slo",
    "SloStatus",
    "Tier",
    "WindowStatus",
    "budget_spent",
    "by_budget",
    "collector_paused",
    "evaluate",
    "evaluate_all",
    "exact",
    "spent_between",
    "usual_burn",
    "window_name",
]


def exact(value: float | int | str | Decimal | Fraction) -> Fraction:
    """A number as written: 0.999 is 999/1000 (its shortest decimal form), not the binary float nearest to it."""
    if isinstance(value, bool):
        raise TypeError("a number was expected, got a boolean")
    if isinstance(value, Fraction | int):
        return Fraction(value)
    return Fraction(Decimal(str(value)))


class DataState(StrEnum):
    OK = "ok"
    NO_TRAFFIC = "no_traffic"  # total 0: nothing was served, no budget was spent, the burn is undefined
    NO_DATA = "no_data"  # the delegate returned nothing for the window: unknown
    LOW_TRAFFIC = "low_traffic"  # total x budget < 1: a single bad event is more than the window's budget


class BudgetState(StrEnum):
    HEALTHY = "healthy"
    WARNING = "warning"  # at or below the warning level (20% remaining by default)
    EXHAUSTED = "exhausted"  # at or below 0
    UNKNOWN = "unknown"  # no data for the period


def window_name(span: timedelta) -> str:
    """The shortest name of a span: 5m, 1h, 1d, 30d (weeks are said in days)."""
    seconds = int(span.total_seconds())
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds % size == 0 and seconds >= size:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


ALERT_WINDOWS: tuple[tuple[str, timedelta], ...] = (
    ("5m", timedelta(minutes=5)),
    ("30m", timedelta(minutes=30)),
    ("1h", timedelta(hours=1)),
    ("2h", timedelta(hours=2)),
    ("6h", timedelta(hours=6)),
    ("1d", timedelta(days=1)),
    ("3d", timedelta(days=3)),
)
_SPANS = dict(ALERT_WINDOWS)
CURRENT = "1h"  # the window whose burn is "now": the forecast and "burn now" use it


@dataclass(frozen=True)
class Tier:
    name: str
    severity: str  # "page" or "ticket"
    long: str
    short: str
    share: Fraction  # the share of the period's budget that the factor would see spent in the long window

    def factor(self, period: timedelta) -> Fraction:
        """The burn rate above which this tier fires, for an SLO over `period` (14.4 for page-fast over 30 days)."""
        return self.share * Fraction(int(period.total_seconds()), int(_SPANS[self.long].total_seconds()))


TIERS: tuple[Tier, ...] = (
    Tier("page-fast", "page", "1h", "5m", Fraction(2, 100)),
    Tier("page-slow", "page", "6h", "30m", Fraction(5, 100)),
    Tier("ticket-fast", "ticket", "1d", "2h", Fraction(10, 100)),
    Tier("ticket-slow", "ticket", "3d", "6h", Fraction(10, 100)),
)


@dataclass(frozen=True, slots=True)
class Counts:
    """Good and total events (or time slices) in one window, as exact numbers: `bad` / `scale` of `total` / `scale`
    (`scale` is 1 for whole counts; a delegate's fractional counts keep their exact value through it)."""

    bad: int
    total: int
    scale: int = 1

    def __post_init__(self) -> None:
        if self.total < 0 or self.bad < 0:
            raise ValueError("counts cannot be negative")
        if self.bad > self.total:
            raise ValueError(f"more bad events ({self.bad}) than events in all ({self.total})")
        if self.scale <= 0:
            raise ValueError("the scale of counts must be positive")

    @classmethod
    def of(
        cls, *, total: float | int | str, good: float | int | str | None = None, bad: float | int | str | None = None
    ) -> Counts:
        """From a total and either good or bad events (whole or fractional, taken exactly as given)."""
        if (good is None) == (bad is None):
            raise ValueError("give either good or bad events with the total, not both or neither")
        t = exact(total)
        b = t - exact(good) if good is not None else exact(bad)  # type: ignore[arg-type]
        if b < 0:
            raise ValueError(f"more good events than events in all ({good} of {total})")
        scale = math.lcm(t.denominator, b.denominator)
        return cls(int(b * scale), int(t * scale), scale)

    def __add__(self, other: Counts) -> Counts:
        scale = math.lcm(self.scale, other.scale)
        a, b = scale // self.scale, scale // other.scale
        return Counts(self.bad * a + other.bad * b, self.total * a + other.total * b, scale)


@dataclass(frozen=True)
class Slo:
    """One objective of one service over a period (the domain's view of an OpenSLO SLO)."""

    name: str
    service: str
    objective: Fraction  # 999/1000 for 99.9%
    period: timedelta
    rolling: bool = True
    budgeting: str = "Occurrences"  # or "Timeslices": then the counts are of good and total time slices
    warning: Fraction = Fraction(1, 5)  # the budget is in warning at or below this share remaining
    display_name: str = ""
    period_name: str = ""  # as written (30d, 4w, 1M); the period's window is named so

    def __post_init__(self) -> None:
        if not 0 <= self.objective < 1:
            raise ValueError(
                f"{self.name}: an objective must be at least 0 and below 100% "
                f"(an objective of 100% leaves no error budget at all), got {float(self.objective):.6g}"
            )
        if self.period < _SPANS["3d"]:
            raise ValueError(f"{self.name}: the period must be at least 3 days (the longest alert window)")
        if not 0 <= self.warning < 1:
            raise ValueError(f"{self.name}: the budget warning level must be at least 0 and below 100%")
        if not self.period_name:
            object.__setattr__(self, "period_name", window_name(self.period))
        budget = 1 - self.objective
        # computed once: what every evaluation uses, as integers
        object.__setattr__(self, "_budget", (budget.numerator, budget.denominator))
        object.__setattr__(self, "_windows", tuple(dict.fromkeys((*_SPANS, self.period_name))))
        object.__setattr__(
            self, "_tiers", tuple((tier, ratio.numerator, ratio.denominator) for tier, ratio in self.thresholds())
        )

    @property
    def budget(self) -> Fraction:
        """The share of events allowed to be bad: 1 - objective."""
        return 1 - self.objective

    def windows(self) -> tuple[str, ...]:
        """The windows whose counts this SLO needs: the alert windows and its period."""
        return self._windows  # type: ignore[attr-defined, no-any-return]

    def thresholds(self) -> tuple[tuple[Tier, Fraction], ...]:
        """Each tier with the error ratio above which it fires (its factor x the budget), computed once."""
        return tuple((tier, tier.factor(self.period) * self.budget) for tier in TIERS)


@dataclass(frozen=True, slots=True)
class WindowStatus:
    name: str
    data: DataState
    burn: float | None  # against the budget; None where undefined (no traffic, no data)
    error_ratio: float | None


@dataclass(frozen=True)
class Alert:
    tier: str
    severity: str
    factor: float
    burns: tuple[float, float]  # long window, short window
    suppressed: str | None = None  # why it does not page although both windows burn (too little traffic)


@dataclass(frozen=True)
class SloStatus:
    slo: Slo
    data: DataState  # of the period's window: what the budget figures rest on
    budget: BudgetState
    remaining: float | None  # share of the period's budget left; negative when overspent; None when unknown
    consumed: float | None
    windows: Mapping[str, WindowStatus]
    alerts: tuple[Alert, ...]  # the tiers that fire (suppressed ones included, with the reason)
    burn_now: float | None  # the current window's burn against the budget
    against_usual: float | None  # burn now / the service's usual burn ("3.2x normal")
    exhausts_in_hours: float | None  # at the current burn; 0 when exhausted; None when it is not being spent
    notes: tuple[str, ...] = field(default=())

    @property
    def firing(self) -> tuple[Alert, ...]:
        """The alerts that are raised (not suppressed)."""
        return tuple(a for a in self.alerts if a.suppressed is None)

    @property
    def budget_warning(self) -> bool:
        return self.budget in (BudgetState.WARNING, BudgetState.EXHAUSTED)


def budget_spent(burn: Fraction | float, span: timedelta, period: timedelta) -> Fraction:
    """The share of the period's budget that burning at `burn` for `span` spends (burn x span / period)."""
    return Fraction(burn) * Fraction(int(span.total_seconds()), int(period.total_seconds()))


def spent_between(before: Counts, after: Counts, budget: Fraction) -> tuple[Fraction, Fraction]:
    """The share of the period's budget spent between two readings of the period's counts, and the bad events
    between them: (after.bad - before.bad) / (after.total x budget), never below 0 (in a rolling period old events
    also leave the window, so this is what was spent at least)."""
    bad = max(Fraction(0), Fraction(after.bad, after.scale) - Fraction(before.bad, before.scale))
    total = Fraction(after.total, after.scale)
    if total == 0 or budget == 0:
        return Fraction(0), bad
    return bad / (total * budget), bad


def usual_burn(history: list[float]) -> float | None:
    """The service's usual burn: the median of its past burns (one a day, say); None with fewer than three."""
    if len(history) < 3:
        return None
    ordered = sorted(history)
    middle = len(ordered) // 2
    return ordered[middle] if len(ordered) % 2 else (ordered[middle - 1] + ordered[middle]) / 2


@contextmanager
def collector_paused() -> Iterator[None]:
    """The cyclic garbage collector paused while a batch of acyclic values is built (a tick's ten thousand SLOs:
    collecting meanwhile doubles the time); enabled again after, if it was."""
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()


def evaluate_all(items: Iterable[tuple[Slo, Mapping[str, Counts | None]]]) -> list[SloStatus]:
    """`evaluate` for many SLOs at once (a tick's thousands)."""
    with collector_paused():
        return [evaluate(slo, counts) for slo, counts in items]


def evaluate(slo: Slo, counts: Mapping[str, Counts | None], *, usual: float | None = None) -> SloStatus:
    """An SLO's status from its counts by window name (a window missing or None: no data). `usual`: the service's
    usual burn, for "x normal". Every decision is a comparison of integers; each figure one division, rounded once."""
    bn, bd = slo._budget  # type: ignore[attr-defined]  # B = bn / bd
    windows: dict[str, WindowStatus] = {}
    missing: list[str] = []
    for name in slo._windows:  # type: ignore[attr-defined]
        c = counts.get(name)
        if c is None:
            windows[name] = WindowStatus(name, DataState.NO_DATA, None, None)
            if name != slo.period_name:
                missing.append(name)
        elif c.total == 0:
            windows[name] = WindowStatus(name, DataState.NO_TRAFFIC, None, None)
        else:
            low = c.total * bn < c.scale * bd  # total x B < 1
            windows[name] = WindowStatus(
                name,
                DataState.LOW_TRAFFIC if low else DataState.OK,
                (c.bad * bd) / (c.total * bn),  # (bad / total) / B
                c.bad / c.total,
            )
    notes: list[str] = []
    period = counts.get(slo.period_name)
    remaining: tuple[int, int] | None = None  # as a fraction: numerator, denominator (> 0)
    if period is None:
        notes.append(f"no data for the {slo.period_name} period: the budget is unknown")
    elif period.total == 0:
        remaining = (1, 1)
        notes.append(f"no traffic over the {slo.period_name} period: no budget spent")
    else:  # 1 - bad / (total x B)
        remaining = (period.total * bn - period.bad * bd, period.total * bn)
    if missing:
        notes.append(f"no data for the {', '.join(missing)} window{'s' if len(missing) > 1 else ''}")
    alerts: list[Alert] = []
    for tier, rn, rd in slo._tiers:  # type: ignore[attr-defined]  # fires above rn / rd in both windows
        long, short = counts.get(tier.long), counts.get(tier.short)
        if long is None or short is None or long.total == 0 or short.total == 0:
            continue  # unknown or idle: nothing burns (no data is reported as such, apart)
        if not (long.bad * rd > rn * long.total and short.bad * rd > rn * short.total):
            continue
        low_windows = [w for w in (tier.long, tier.short) if windows[w].data is DataState.LOW_TRAFFIC]
        suppressed = None
        if low_windows and tier.severity == "page":
            suppressed = (
                f"too little traffic in {' and '.join(low_windows)} to page on (one bad event is more than its budget)"
            )
        alerts.append(
            Alert(
                tier.name,
                tier.severity,
                (rn * bd) / (rd * bn),
                (windows[tier.long].burn or 0.0, windows[tier.short].burn or 0.0),
                suppressed,
            )
        )
    current = counts.get(CURRENT)
    exhausts = None
    state = BudgetState.UNKNOWN
    if remaining is not None:
        num, den = remaining
        wn, wd = slo.warning.numerator, slo.warning.denominator
        if num <= 0:
            state, exhausts = BudgetState.EXHAUSTED, 0.0
        else:
            state = BudgetState.WARNING if num * wd <= wn * den else BudgetState.HEALTHY
            if current is not None and current.bad > 0:
                # remaining x period (h) / burn, burn = bad x bd / (total x bn)
                seconds = int(slo.period.total_seconds())
                exhausts = (num * seconds * current.total * bn) / (den * 3600 * current.bad * bd)
    now = windows[CURRENT].burn
    return SloStatus(
        slo=slo,
        data=windows[slo.period_name].data,
        budget=state,
        remaining=None if remaining is None else remaining[0] / remaining[1],
        consumed=None if remaining is None else (remaining[1] - remaining[0]) / remaining[1],
        windows=windows,
        alerts=tuple(alerts),
        burn_now=now,
        against_usual=now / usual if now is not None and usual else None,
        exhausts_in_hours=exhausts,
        notes=tuple(notes),
    )


@dataclass(frozen=True)
class BudgetAnswer:
    """What "how's the budget looking?" is answered from."""

    statuses: list[SloStatus]
    any_slo: bool  # whether any SLO is defined at all
    maintenance: Mapping[str, float] = field(default_factory=dict)  # by SLO: budget share spent in maintenance


def by_budget(statuses: Sequence[SloStatus]) -> list[SloStatus]:
    """The unknown first, then from the least budget remaining to the most."""
    return sorted(statuses, key=lambda s: (s.remaining is not None, s.remaining or 0.0, s.slo.name))


def _float(value: Fraction) -> float:
    return value.numerator / value.denominator
