"""The functions of expressions beyond arithmetic: dates (a date is its ISO text, `2026-12-01`; a date-time field
counts as its local date) and lists of rows (`sum(materials, 'quantity')`). Those that need the site's calendar or
the time now (`today()`, `add_working_days`) are bound per evaluation to a `Clock`; without one (a form's rule
checked outside a workflow) they answer in words that they cannot be used there."""

from __future__ import annotations

import calendar as months
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from .errors import ExpressionError

MAX_DAYS = 36_600  # a hundred years: the furthest any date arithmetic goes


@dataclass(frozen=True)
class Clock:
    """What the time functions read: the moment now and the business calendar (its time zone and working days)."""

    now: datetime
    calendar: Any  # engine.workcalendar.BusinessCalendar


def as_date(value: Any, tz=None) -> date:
    """A date from its ISO text, a date-time (its date where `tz` is, else its own) or a date."""
    if isinstance(value, datetime):
        return (value.astimezone(tz) if tz and value.tzinfo else value).date()
    if isinstance(value, date):
        return value
    if isinstance(value, str):
        text = value.strip()
        try:
            return date.fromisoformat(text) if len(text) == 10 else as_date(datetime.fromisoformat(text), tz)
        except ValueError:
            pass
    raise TypeError("not a date")


def _count(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int | Decimal) or value != int(value):
        raise TypeError("a whole number of days or months")
    if abs(value) > MAX_DAYS:
        raise ValueError("too far")
    return int(value)


def add_days(day: Any, days: Any) -> str:
    return (as_date(day) + timedelta(days=_count(days))).isoformat()


def add_months(day: Any, count: Any) -> str:
    """The same day `count` months later (the month's last day when it has no such day: 01-31 + 1 → 02-28)."""
    d, n = as_date(day), _count(count)
    index = d.year * 12 + d.month - 1 + n
    year, month = divmod(index, 12)
    if not 1 <= year <= 9999:
        raise ValueError("too far")
    return date(year, month + 1, min(d.day, months.monthrange(year, month + 1)[1])).isoformat()


def days_between(first: Any, last: Any) -> int:
    """Days from `first` to `last` (negative when `last` is earlier)."""
    return (as_date(last) - as_date(first)).days


def _field(row: Any, path: str) -> Any:
    value = row
    for part in str(path).split("."):
        value = value.get(part) if isinstance(value, dict) else None
    return value


def _rows(rows: Any) -> list:
    if rows is None:
        return []
    if not isinstance(rows, list | tuple):
        raise TypeError("a list of rows")
    return list(rows)


def _matches(row: Any, path: str | None, *value: Any) -> bool:
    found = row if path is None else _field(row, path)
    return found == value[0] if value else bool(found) and found != []


def rows_sum(values: Any, path: Any = None, start: Any = 0) -> Any:
    """`sum(numbers)`, or `sum(rows, 'field')`: the field's values over the rows, empty ones left out."""
    if isinstance(path, str):
        values = [v for v in (_field(r, path) for r in _rows(values)) if v is not None]
    elif path is not None:
        start = path
    from .money import parse_money

    items = [parse_money(v) if isinstance(v, str) else v for v in _rows(values)]
    if not all(isinstance(v, int | Decimal) and not isinstance(v, bool) for v in items) or not isinstance(
            start, int | Decimal):
        raise TypeError("sum() adds numbers only")
    return sum(items, start)


def rows_count(rows: Any, path: Any = None, *value: Any) -> int:
    """`count(rows)`; `count(rows, 'field')`: rows where it is filled and true; `count(rows, 'field', '不合格')`:
    rows where it equals the value."""
    return sum(1 for r in _rows(rows) if path is None or _matches(r, path, *value))


def rows_any(rows: Any, path: Any = None, *value: Any) -> bool:
    return any(_matches(r, path, *value) for r in _rows(rows))


def rows_all(rows: Any, path: Any = None, *value: Any) -> bool:
    return all(_matches(r, path, *value) for r in _rows(rows))


PURE: dict[str, Callable[..., Any]] = {
    "add_days": add_days, "add_months": add_months, "days_between": days_between,
    "count": rows_count, "any": rows_any, "all": rows_all,
}
TIMED = frozenset({"today", "add_working_days", "working_days_between"})


def _unavailable(*args: Any) -> Any:
    raise ExpressionError("今天的日期與工作日只能在流程的步驟中計算")


_UNAVAILABLE = dict.fromkeys(TIMED, _unavailable)


def timed(clock: Clock | None) -> dict[str, Callable[..., Any]]:
    """The functions that read the time now and the site's calendar, bound to `clock`."""
    if clock is None:
        return _UNAVAILABLE
    cal, tz = clock.calendar, clock.calendar.tz

    def today() -> str:
        return clock.now.astimezone(tz).date().isoformat()

    def add_working_days(day: Any, count: Any) -> str:
        d, n = as_date(day, tz), _count(count)
        step = 1 if n >= 0 else -1
        for _ in range(MAX_DAYS):
            if n == 0:
                return d.isoformat()
            d += timedelta(days=step)
            if cal.is_working_day(d):
                n -= step
        raise ValueError("too far")

    def working_days_between(first: Any, last: Any) -> int:
        """Working days after `first` up to and including `last` (negative when `last` is earlier)."""
        a, b = as_date(first, tz), as_date(last, tz)
        sign = 1 if b >= a else -1
        a, b = min(a, b), max(a, b)
        if (b - a).days > MAX_DAYS:
            raise ValueError("too far")
        return sign * sum(1 for i in range(1, (b - a).days + 1) if cal.is_working_day(a + timedelta(days=i)))

    return {"today": today, "add_working_days": add_working_days, "working_days_between": working_days_between}

