"""An SLO's status as the CLI prints it (a table, or JSON) and a counts file read for it.

A counts file gives the counts by SLO and window instead of the delegate (for what-if, and for checking SLO files in
CI): ``{"<slo name>": {"<window>": {"total": N, "good": N}}}`` (or ``"bad"`` in place of ``"good"``). The windows are
5m, 30m, 1h, 2h, 6h, 1d, 3d and the SLO's period as its file writes it (``30d``; ``period`` says the same). A window
left out has no data."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bot.budgets.reading import parse_window
from bot.config.slos import SloDefinition
from bot.domain.slo import Counts, SloStatus
from bot.errors import ConfigError

__all__ = ["as_json", "read_counts", "table"]


def read_counts(path: Path, definitions: Sequence[SloDefinition]) -> dict[str, dict[str, Counts]]:
    """The counts in `path` by SLO name and window; ConfigError naming the place of the first problem."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"{path}: cannot be read: {exc.strerror}") from None
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{path}: not valid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected an object of SLO names")
    by_name = {d.slo.name: d for d in definitions}
    out: dict[str, dict[str, Counts]] = {}
    for name, windows in data.items():
        if name not in by_name:
            known = ", ".join(sorted(by_name)) or "none are defined"
            raise ConfigError(f"{path}: {name}: no SLO of that name (the SLOs: {known})")
        slo = by_name[name].slo
        if not isinstance(windows, dict):
            raise ConfigError(f"{path}: {name}: expected an object of windows")
        out[name] = {}
        for window, values in windows.items():
            key = slo.period_name if window == "period" else window
            if key not in slo.windows():
                raise ConfigError(
                    f"{path}: {name}.{window}: not a window of this SLO (its windows: {', '.join(slo.windows())})"
                )
            out[name][key] = _counts(values, f"{path}: {name}.{window}")
    return out


def _counts(values: Any, where: str) -> Counts:
    if isinstance(values, dict) and set(values) - {"total", "good", "bad"}:
        raise ConfigError(f"{where}: {sorted(set(values) - {'total', 'good', 'bad'})[0]}: unknown key")
    try:
        return parse_window(values)
    except ValueError as exc:
        raise ConfigError(f"{where}: {exc}") from None


def as_json(status: SloStatus) -> dict[str, Any]:
    """One SLO's status with null where a value is undefined."""
    slo = status.slo
    return {
        "name": slo.name,
        "service": slo.service,
        "objective": float(slo.objective),
        "period": slo.period_name,
        "data": str(status.data),
        "budget": str(status.budget),
        "remaining": status.remaining,
        "burn_rates": {name: w.burn for name, w in status.windows.items()},
        "windows": {name: str(w.data) for name, w in status.windows.items()},
        "alerts": [
            {"tier": a.tier, "severity": a.severity, **({"suppressed": a.suppressed} if a.suppressed else {})}
            for a in status.alerts
        ],
        "exhausts_in_hours": status.exhausts_in_hours,
        "budget_warning": status.budget_warning,
        "notes": list(status.notes),
    }


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value * 100:.1f}%"


def _burn(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}x"


def _hours(value: float | None) -> str:
    if value is None:
        return "-"
    if value == 0:
        return "now"
    return f"{value / 24:.1f} d" if value >= 48 else f"{value:.1f} h"


def table(statuses: Sequence[SloStatus]) -> str:
    """A plain table, one SLO a line."""
    head = (
        "SLO",
        "SERVICE",
        "OBJECTIVE",
        "PERIOD",
        "DATA",
        "BUDGET",
        "REMAINING",
        "BURN 1H",
        "BURN 6H",
        "EXHAUSTS IN",
        "ALERTS",
    )
    rows = [head]
    for s in statuses:
        alerts = ", ".join(a.tier + (" (suppressed: low traffic)" if a.suppressed else "") for a in s.alerts) or "-"
        rows.append(
            (
                s.slo.name,
                s.slo.service,
                f"{float(s.slo.objective) * 100:g}%",
                s.slo.period_name,
                str(s.data),
                str(s.budget),
                _pct(s.remaining),
                _burn(s.windows["1h"].burn),
                _burn(s.windows["6h"].burn),
                _hours(s.exhausts_in_hours),
                alerts,
            )
        )
    widths = [max(len(r[i]) for r in rows) for i in range(len(head))]
    return "\n".join("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip() for row in rows)
