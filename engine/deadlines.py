"""Deadlines of a task: its due times and the ladder of actions around them. Pure: no clock, no I/O.

A task step may say `due: 3 working days` (one limit) or `due: {soft: 24h, hard: 36h}` (the time staff
are asked to finish by, and the latest acceptable). Its `deadlines` ladder names what happens around
those times: remind before the due time, notify, escalate (add roles), reassign (replace roles) or take a
named transition. The core records, on the task, the moment each rung falls due and which have fired,
so a rung is applied once however often `tick` runs; a paused task (held in a named state such as
"waiting for the owner") fires nothing, and on resuming its times move on by the time it was paused.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from typing import TYPE_CHECKING, Any

from .durations import Duration, parse_duration
from .errors import Invalid
from .workcalendar import BusinessCalendar

if TYPE_CHECKING:
    from .expressions import Expression

ACTIONS = ("remind", "notify", "escalate", "reassign", "goto")


@dataclass(frozen=True)
class Due:
    soft: Duration
    hard: Duration | None = None
    origin: str | None = None  # counted from: None (the task opening), "started" or a date / date-time field
    origin_expr: Expression | None = None  # ... or the moment an expression gives (`add_months(start_date, 3)`)


def as_moment(value: Any, tz) -> datetime | None:
    """A date, a date-time or ISO text as an aware moment (a date: its local midnight; a naive time: local);
    None when it is none of these."""
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, date):
        moment = datetime.combine(value, time())
    else:
        try:
            moment = datetime.fromisoformat(str(value))
        except ValueError:
            return None
    return moment.replace(tzinfo=tz) if moment.tzinfo is None else moment


def origin_time(due: Due, state: dict, opened: datetime, tz) -> datetime:
    """The moment a task's limits count from: when it opened, when the instance started, or the time in a
    date / date-time field (a date counts from its local midnight); the opening when the field is empty."""
    if due.origin is None:
        return opened
    text = state["started_at"] if due.origin == "started" else state["data"].get(due.origin)
    return as_moment(text, tz) or opened


@dataclass(frozen=True)
class Rung:
    """One step of the ladder: when (relative to the due or hard time) and what."""

    anchor: str  # "due" | "hard"
    offset: Duration | None  # None: at the anchor itself
    backward: bool  # `before:` the anchor
    action: str  # one of ACTIONS
    roles: tuple[str, ...] = ()  # remind: () means the task's own roles
    target: str | None = None  # goto
    message: str | None = None

    def describe(self) -> str:
        when = ("at the due time" if self.anchor == "due" else "at the hard limit") if self.offset is None else (
            f"{self.offset.text} {'before' if self.backward else 'after'} the "
            f"{'due time' if self.anchor == 'due' else 'hard limit'}")
        what = f"goto {self.target}" if self.action == "goto" else f"{self.action} {', '.join(self.roles) or 'task'}"
        return f"{when}: {what}"


def iso(moment: datetime) -> str:
    return moment.isoformat(timespec="seconds")


def due_times(calendar: BusinessCalendar, opened: datetime, due: Due) -> dict[str, str]:
    """`due_at` and, when there is a hard limit, `hard_at` of a task whose limits count from `opened`."""
    out = {"due_at": iso(calendar.add(opened, due.soft))}
    if due.hard is not None:
        out["hard_at"] = iso(calendar.add(opened, due.hard))
    return out


def ladder_times(calendar: BusinessCalendar, ladder: tuple[Rung, ...], task: dict) -> list[str | None]:
    """The moment each rung falls due, from the task's `due_at` / `hard_at` (None: its anchor is missing)."""
    out: list[str | None] = []
    for rung in ladder:
        anchor = task.get("due_at" if rung.anchor == "due" else "hard_at")
        if anchor is None:
            out.append(None)
            continue
        moment = datetime.fromisoformat(anchor)
        if rung.offset is not None:
            moment = calendar.add(moment, rung.offset, backward=rung.backward)
        out.append(iso(moment))
    return out


def due_rungs(task: dict, at: str) -> list[int]:
    """Indexes of the rungs due at `at` and not yet fired, earliest first; none while the task is paused."""
    if task.get("paused"):
        return []
    fired = set(task.get("fired", ()))
    times = task.get("ladder", [])
    return sorted((i for i, t in enumerate(times) if t is not None and t <= at and i not in fired),
                  key=lambda i: (times[i], i))


def next_wake(task: dict) -> str | None:
    """When this task next needs the ticker: its earliest unfired rung (None when paused or done)."""
    if task.get("paused"):
        return None
    fired = set(task.get("fired", ()))
    return min((t for i, t in enumerate(task.get("ladder", [])) if t is not None and i not in fired), default=None)


def shift(calendar: BusinessCalendar, due: Due, task: dict, paused_at: datetime, resumed_at: datetime) -> None:
    """Move the task's due times on by the time it was paused: the time left when it was held is the time
    left when it resumes, counted in working time when its limit is in working units."""
    for key, limit in (("due_at", due.soft), ("hard_at", due.hard)):
        if limit is None or key not in task:
            continue
        old = datetime.fromisoformat(task[key])
        if limit.business:
            left = calendar.working_minutes(paused_at, old)
            task[key] = iso(calendar.add_working_minutes(resumed_at, left))
        else:
            task[key] = iso(resumed_at + (old - paused_at))


def due_report(calendar: BusinessCalendar, start: datetime, duration: str) -> dict:
    """When something started at `start` with limit `duration` is due (for `goldkey calendar due`)."""
    try:
        limit = parse_duration(duration)
    except ValueError as exc:
        raise Invalid(str(exc)) from None
    due = calendar.add(start, limit).astimezone(calendar.tz)
    return {"start": iso(start.astimezone(calendar.tz)), "duration": duration, "unit": limit.unit,
            "amount": limit.amount, "due": iso(due), "due_utc": iso(due.astimezone(UTC)),
            "estimated": calendar.estimated(start.astimezone(calendar.tz).year) or calendar.estimated(due.year)}
