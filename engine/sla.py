"""SLA figures from closed tasks and ended instances: per step timeliness, per workflow target rates."""

from __future__ import annotations

import statistics
from collections import defaultdict
from datetime import datetime, tzinfo

from .definitions import Target


def step_figures(rows: list[tuple], open_overdue: list[tuple]) -> list[dict]:
    """Per (workflow, step): tasks closed, how many had a due time, on time, overdue (closed late or lapsed),
    median and 90th percentile minutes from opening to closing, and open tasks overdue now.

    `rows`: (workflow, step, opened_at, closed_at, due_at, status) as the store gives them."""
    groups: dict[tuple[str, str], list[tuple]] = defaultdict(list)
    for row in rows:
        groups[(row[0], row[1])].append(row)
    still: dict[tuple[str, str], int] = defaultdict(int)
    for key in open_overdue:
        still[tuple(key)] += 1
    out = []
    for key in sorted(groups.keys() | still.keys()):
        tasks = groups.get(key, [])
        minutes = sorted((datetime.fromisoformat(c) - datetime.fromisoformat(o)).total_seconds() / 60
                         for _, _, o, c, _, _ in tasks)
        timed = [t for t in tasks if t[4]]
        late = sum(1 for t in timed if t[3] > t[4] or t[5] == "expired")
        out.append({"workflow": key[0], "step": key[1], "count": len(tasks), "with_due": len(timed),
                    "on_time": len(timed) - late, "overdue": late, "open_overdue": still.get(key, 0),
                    "median_minutes": _round(statistics.median(minutes)) if minutes else None,
                    "p90_minutes": _round(_percentile(minutes, 0.9)) if minutes else None})
    return out


def rate_figures(target: Target, rows: list[tuple[int, str, str | None]], tz: tzinfo) -> dict:
    """The share of ended instances in which `target.step` was completed (among those that passed
    `target.among`), against the target; with `per: day`, every local day must reach it.

    `rows`: (instance, ended_at, completed steps separated by spaces)."""
    days: dict[str, list[bool]] = defaultdict(list)
    for _, ended_at, steps in rows:
        done = set((steps or "").split())
        if target.among and target.among not in done:
            continue
        days[datetime.fromisoformat(ended_at).astimezone(tz).date().isoformat()].append(target.step in done)
    hits = [hit for day in days.values() for hit in day]
    rate = sum(hits) / len(hits) if hits else None
    out = {"id": target.id, "title": target.title, "step": target.step, "target": target.target,
           "count": len(hits), "done": sum(hits), "rate": _round(rate, 4), "pass": None}
    if target.per == "day":
        daily = {day: sum(v) / len(v) for day, v in sorted(days.items())}
        failing = [day for day, r in daily.items() if r < target.target]
        worst = min(daily.values(), default=None)
        out.update(per="day", days=len(daily), failing_days=failing, worst_day=_round(worst, 4),
                   **{"pass": not failing if daily else None})
    elif rate is not None:
        out["pass"] = rate >= target.target
    return out


def _percentile(values: list[float], q: float) -> float:
    """Linear-interpolated percentile of sorted values (one value: itself)."""
    if len(values) == 1:
        return values[0]
    pos = (len(values) - 1) * q
    low = int(pos)
    high = min(low + 1, len(values) - 1)
    return values[low] + (values[high] - values[low]) * (pos - low)


def _round(value: float | None, digits: int = 1) -> float | None:
    return None if value is None else round(value, digits)


def previous_period(local: datetime, period: str) -> tuple[datetime, datetime]:
    """The day, week (Monday to Sunday) or month before the local moment `local`, as local [start, end)."""
    from datetime import timedelta

    day = local.replace(hour=0, minute=0, second=0, microsecond=0)
    if period == "day":
        return day - timedelta(days=1), day
    if period == "week":
        monday = day - timedelta(days=day.weekday())
        return monday - timedelta(days=7), monday
    first = day.replace(day=1)
    return (first - timedelta(days=1)).replace(day=1), first
