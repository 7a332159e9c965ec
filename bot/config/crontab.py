"""Crontabs as cron reads them. APScheduler 3's `CronTrigger.from_crontab` numbers the days of the week from Monday
(0 = Monday), while cron numbers them from Sunday (0 and 7 = Sunday), so `0 9 * * 1-5` would fire Tuesday to Saturday.
Here the day-of-week field is read as cron reads it (numbers, names, ranges, lists and steps) and handed to
APScheduler as the set of days it means. (Where both the day of the month and the day of the week are restricted, cron
fires on either and APScheduler on both; give one of them as `*`.)"""

from __future__ import annotations

from datetime import tzinfo

from apscheduler.triggers.cron import CronTrigger

__all__ = ["cron_trigger"]

_NAMES = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")


def _day(token: str) -> int:
    token = token.strip().lower()
    if token[:3] in _NAMES and token.isalpha():
        return _NAMES.index(token[:3])
    if not (token.isascii() and token.isdigit()) or not 0 <= int(token) <= 7:
        raise ValueError(f"day of week: expected 0-7 (0 and 7 are Sunday) or a name such as mon, got {token!r}")
    return int(token) % 7


def _days(field: str) -> set[int]:
    """The days (cron's numbers, 0 = Sunday) a day-of-week field names."""
    out: set[int] = set()
    for item in field.split(","):
        body, slash, step_text = item.partition("/")
        if slash and not (step_text.isascii() and step_text.isdigit() and int(step_text) >= 1):
            raise ValueError(f"day of week: bad step in {item!r}")
        step = int(step_text) if slash else 1
        if body == "*":
            first, last = 0, 6
        elif "-" in body:
            a, b = body.split("-", 1)
            first, last = _day(a), _day(b)
            if b.strip() == "7":
                last = 7  # 5-7: Friday to Sunday
            if last < first:
                raise ValueError(f"day of week: the range {body!r} runs backwards")
        else:
            first = last = _day(body)
            if step_text:
                last = 6
        out |= {d % 7 for d in range(first, last + 1, step)}
    return out


def cron_trigger(expr: str, timezone: tzinfo | str | None = None) -> CronTrigger:
    """A trigger for a standard five-field crontab (minute, hour, day of month, month, day of week)."""
    fields = expr.split()
    if len(fields) != 5:
        raise ValueError(f"expected five fields (minute hour day month weekday), got {len(fields)}")
    minute, hour, day, month, weekday = fields
    days = _days(weekday)
    # APScheduler's own numbers (0 = Monday), all days as "*"
    weekdays = "*" if len(days) == 7 else ",".join(str((d - 1) % 7) for d in sorted(days))
    return CronTrigger(minute=minute, hour=hour, day=day, month=month, day_of_week=weekdays, timezone=timezone)
