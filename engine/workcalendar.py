"""The business calendar: which days are working days, and how a duration is counted from a moment.

Pure (no clock, no I/O). Every datetime in and out is timezone-aware; arithmetic is done on the local
wall clock of the calendar's timezone (Asia/Shanghai by default) and results are returned in UTC.
Seconds in a start time are kept as given.

What an administrator is told each unit means (engine/durations.py reads the text):

- minutes (`15m`, `24h`, `PT1H30M`): elapsed clock time, working or not.
- days (`7d`, `1w`): the same local time of day N calendar days later.
- months (`1 month`): the same local day and time N months later, clamped to the last day of a shorter
  month (Jan 31 + 1 month = Feb 28, or Feb 29 in a leap year).
- working minutes (`4 working hours`, `30 working minutes`): only time inside the working periods of
  working days counts (with 09:00-12:00 and 13:30-18:00 the lunch break does not). A start outside
  working time counts from the next working moment. When the time runs out exactly at the end of a
  period the result is that end (12:00 or 18:00), never the next opening. Zero working minutes from a
  moment outside working time gives the next working moment (a period's end such as 12:00 is outside:
  0 working minutes from 12:00 is 13:30).
- working days (`3 working days`): the start is first moved forward to working time (a start in the
  lunch break moves to 13:30; after closing, or on a day off, to the next working day's opening; a start
  exactly at 12:00 or 13:30 stays), then moved N working days on, keeping the time of day. A result
  exactly at a working day's opening is given as the closing time of the working day before, which is
  the same moment in working time: Fri 20:00 + 1 working day = Mon 18:00 (not Tue 09:00); Fri 10:00 +
  3 working days = Wed 10:00. Every working day is assumed to have the same working hours.
- `before:` (backward) is the mirror image: plain units subtract; working minutes count back through
  working time (a result exactly at a period's start stays there; zero working minutes back from outside
  working time gives the previous period's end); working days move the start back to working time (a
  start at or before the opening goes to the previous working day's closing), N working days back, and
  a result exactly at a closing is given as the next working day's opening. So going N working days or
  minutes forward and then N back returns to the start as moved to working time.

Which days are working days, first rule that applies:

1. a date in the calendar's `workdays` is a working day (e.g. a make-up day for a year the package lacks);
2. a date in the calendar's `holidays` is not;
3. with public_holidays "china", a make-up working day (調休上班) of the State Council's notice, as listed
   by the `holidays` package, is a working day, even on a weekend;
4. a Chinese public holiday (holidays.China, public category only: no half-day observances such as
   Women's day) is not;
5. otherwise the weekday decides (`working_days`, Monday to Friday by default).

The package has the official notice only for years up to the one just announced (`official(year)`);
for a later year it estimates the holidays from the lunar calendar and knows no make-up days, so
`estimated(year)` warns until an administrator lists that year in `confirmed_years` (after adding the
notice's dates to `holidays` and `workdays`).
"""

from __future__ import annotations

import calendar as _calendar
import difflib
import functools
import re
from collections.abc import Iterable, Mapping
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from .durations import Duration

WEEKDAY_NAMES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_FULL_NAMES = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
_ZERO = timedelta(0)
_DAY = timedelta(days=1)
_SEARCH_DAYS = 3 * 366  # no working moment within three years: the calendar is broken, not the duration
_MAX_WORKING_DAYS = 100 * 366  # keeps a typo such as 3000000 working days from looping for minutes
_NO_WORKING_DAY = "the calendar has no working day within three years; check working_days and holidays"
_TIME = re.compile(r"(\d{1,2}):(\d{2})")


@functools.cache
def _official_years() -> frozenset[int]:
    """Years for which holidays.China has the State Council's notice (the years it lists special days for).

    In holidays 0.109 these are the keys of ChinaStaticHolidays.special_public_holidays; if that moves, an
    empty set makes `official` fall back to looking for make-up working days in the year. Imported on first
    use: the package and its China module take ~0.1 s to import, which `goldkey check` need not pay."""
    try:
        from holidays.countries.china import ChinaStaticHolidays
    except ImportError:  # pragma: no cover - depends on the package's layout
        return frozenset()
    special = getattr(ChinaStaticHolidays, "special_public_holidays", None)
    return frozenset(year for year in special if isinstance(year, int)) if isinstance(special, dict) else frozenset()


class BusinessCalendar:
    """Working days and hours of one site, and duration arithmetic over them (see the module docstring)."""

    def __init__(self, timezone: str = "Asia/Shanghai",
                 working_days: Iterable[str] = ("mon", "tue", "wed", "thu", "fri"),
                 working_hours: Iterable[tuple[str, str]] = (("09:00", "12:00"), ("13:30", "18:00")),
                 public_holidays: str = "china",
                 holidays: Mapping[date, str] | None = None,
                 workdays: Mapping[date, str] | None = None,
                 confirmed_years: Iterable[int] = ()) -> None:
        self.timezone = timezone
        self.tz = _zone(timezone)
        self.working_days = _weekdays(working_days)
        self._weekdays = frozenset(WEEKDAY_NAMES.index(name) for name in self.working_days)
        self.working_hours, self._periods = _periods(working_hours)
        self._opening = self._periods[0][0]
        self._closing = self._periods[-1][1]
        if public_holidays not in ("china", "none"):
            raise ValueError(f"public_holidays must be 'china' or 'none', not {public_holidays!r}")
        self.public_holidays = public_holidays
        self.holidays = _dated(holidays, "holidays", "休假")
        self.workdays = _dated(workdays, "workdays", "上班")
        both = sorted(self.holidays.keys() & self.workdays.keys())
        if both:
            raise ValueError(f"{both[0]} is listed both in holidays and in workdays; keep it in one of them")
        self.confirmed_years = _years(confirmed_years)
        self._days: dict[date, tuple[bool, str | None]] = {}

    def __repr__(self) -> str:
        hours = ", ".join(f"{a}-{b}" for a, b in self.working_hours)
        return (f"BusinessCalendar({self.timezone!r}, {'/'.join(self.working_days)}, {hours}, "
                f"public_holidays={self.public_holidays!r}, {len(self.holidays)} holidays, "
                f"{len(self.workdays)} workdays, confirmed={sorted(self.confirmed_years)})")

    def _key(self) -> tuple:
        return (self.timezone, self.working_days, self.working_hours, self.public_holidays,
                tuple(sorted(self.holidays.items())), tuple(sorted(self.workdays.items())),
                tuple(sorted(self.confirmed_years)))

    def __eq__(self, other: object) -> bool:
        return isinstance(other, BusinessCalendar) and self._key() == other._key()

    def __hash__(self) -> int:
        return hash(self._key())

    # --- days -------------------------------------------------------------------------------------------

    def day(self, d: date) -> tuple[bool, str | None]:
        """(is a working day, why): the holiday's or override's name, "調休上班", "週末", or None."""
        try:
            return self._days[d]
        except KeyError:
            pass
        answer = self._decide(d)
        self._days[d] = answer
        return answer

    def is_working_day(self, d: date) -> bool:
        return self.day(d)[0]

    def official(self, year: int) -> bool:
        """The holidays package has the State Council's notice for `year` (not an estimate)."""
        official = _official_years()
        if official:
            return year in official
        return any(d.year == year for d in _china_year(year)[1])  # pragma: no cover - package changed

    def estimated(self, year: int) -> bool:
        """The Chinese holidays of `year` are the package's guess and nobody has confirmed them here."""
        return self.public_holidays == "china" and not self.official(year) and year not in self.confirmed_years

    def _decide(self, d: date) -> tuple[bool, str | None]:
        name = self.workdays.get(d)
        if name is not None:
            return True, name
        name = self.holidays.get(d)
        if name is not None:
            return False, name
        if self.public_holidays == "china":
            names, makeup = _china_year(d.year)
            if d in makeup:
                return True, "調休上班"
            name = names.get(d)
            if name is not None:
                return False, name
        weekday = d.weekday()
        if weekday in self._weekdays:
            return True, None
        return False, "週末" if weekday >= 5 else "休息日"

    def _next_working_day(self, d: date) -> date:
        for _ in range(_SEARCH_DAYS):
            d += _DAY
            if self.is_working_day(d):
                return d
        raise ValueError(_NO_WORKING_DAY)

    def _previous_working_day(self, d: date) -> date:
        for _ in range(_SEARCH_DAYS):
            d -= _DAY
            if self.is_working_day(d):
                return d
        raise ValueError(_NO_WORKING_DAY)

    # --- moments ----------------------------------------------------------------------------------------

    def add(self, start: datetime, duration: Duration, backward: bool = False) -> datetime:
        """`start` plus (or, backward, minus) `duration`, in UTC; see the module docstring for each unit."""
        unit, amount = duration.unit, duration.amount
        if unit == "minutes":
            _aware(start)
            delta = timedelta(minutes=amount)
            utc = start.astimezone(UTC)
            try:
                return utc - delta if backward else utc + delta
            except OverflowError:
                raise ValueError(f"'{duration.text}' from {start.isoformat()} is beyond the year 9999") from None
        if unit == "working_minutes":
            return self._add_working(start, amount, backward)
        if unit == "working_days":
            return self._add_working_days(start, amount, backward)
        d, t = self._local(start)
        try:
            if unit == "days":
                d = d - timedelta(days=amount) if backward else d + timedelta(days=amount)
            else:
                d = _add_months(d, -amount if backward else amount)
        except (OverflowError, ValueError):
            raise ValueError(f"'{duration.text}' from {start.isoformat()} is beyond the year 9999") from None
        return self._utc(d, t)

    def working_minutes(self, a: datetime, b: datetime) -> int:
        """Working time from `a` to `b` in whole minutes (seconds dropped), negative if `b` is before `a`."""
        _aware(a)
        _aware(b)
        if b < a:
            return -self.working_minutes(b, a)
        day, lo = self._local(a)
        last, end = self._local(b)
        total = _ZERO
        while day <= last:
            if self.is_working_day(day):
                hi = end if day == last else _DAY
                for ps, pe in self._periods:
                    s = ps if ps > lo else lo
                    e = pe if pe < hi else hi
                    if e > s:
                        total += e - s
            day += _DAY
            lo = _ZERO
        return total // timedelta(minutes=1)

    def add_working_minutes(self, start: datetime, minutes: int) -> datetime:
        """`start` plus `minutes` of working time (negative: back through working time), in UTC. Zero moves a
        moment outside working time to the next working moment."""
        return self._add_working(start, minutes, minutes < 0)

    def _add_working(self, start: datetime, minutes: int, backward: bool) -> datetime:
        """Working-minute arithmetic; backward=True with zero minutes snaps back to the previous working end."""
        if abs(minutes) > _MAX_WORKING_DAYS * 1440:
            raise ValueError(f"{minutes} working minutes reach more than a century away")
        d, t = self._local(start)
        if backward:
            return self._utc(*self._back(d, t, timedelta(minutes=abs(minutes))))
        return self._utc(*self._forward(d, t, timedelta(minutes=minutes)))

    def _forward(self, d: date, t: timedelta, left: timedelta) -> tuple[date, timedelta]:
        idle = 0
        while True:
            if self.is_working_day(d):
                idle = 0
                for ps, pe in self._periods:
                    if t < pe:
                        s = ps if t < ps else t
                        if left <= pe - s:
                            return d, s + left
                        left -= pe - s
                        t = pe
            else:
                idle += 1
                if idle > _SEARCH_DAYS:
                    raise ValueError(_NO_WORKING_DAY)
            d += _DAY
            t = _ZERO

    def _back(self, d: date, t: timedelta, left: timedelta) -> tuple[date, timedelta]:
        idle = 0
        while True:
            if self.is_working_day(d):
                idle = 0
                for ps, pe in reversed(self._periods):
                    if t > ps:
                        e = pe if t > pe else t
                        if left <= e - ps:
                            return d, e - left
                        left -= e - ps
                        t = ps
            else:
                idle += 1
                if idle > _SEARCH_DAYS:
                    raise ValueError(_NO_WORKING_DAY)
            d -= _DAY
            t = _DAY

    def _add_working_days(self, start: datetime, days: int, backward: bool) -> datetime:
        if days > _MAX_WORKING_DAYS:
            raise ValueError(f"{days} working days reach more than a century away")
        d, t = self._local(start)
        if not backward:
            d, t = self._to_working_time(d, t)
            for _ in range(days):
                d = self._next_working_day(d)
            if days and t == self._opening:  # same working moment as the previous working day's closing
                d, t = self._previous_working_day(d), self._closing
        else:
            d, t = self._back_to_working_time(d, t)
            for _ in range(days):
                d = self._previous_working_day(d)
            if days and t == self._closing:  # same working moment as the next working day's opening
                d, t = self._next_working_day(d), self._opening
        return self._utc(d, t)

    def _to_working_time(self, d: date, t: timedelta) -> tuple[date, timedelta]:
        """Forward to a time of a working day in [opening, closing), outside any break (its edges stay)."""
        if t < self._closing and self.is_working_day(d):
            for ps, pe in self._periods:
                if t <= pe:
                    return d, (t if t >= ps else ps)
        return self._next_working_day(d), self._opening

    def _back_to_working_time(self, d: date, t: timedelta) -> tuple[date, timedelta]:
        """Backward to a time of a working day in (opening, closing], outside any break (its edges stay)."""
        if t > self._opening and self.is_working_day(d):
            for ps, pe in reversed(self._periods):
                if t >= ps:
                    return d, (t if t <= pe else pe)
        return self._previous_working_day(d), self._closing

    def _local(self, moment: datetime) -> tuple[date, timedelta]:
        """The local date and time of day (as a timedelta since midnight) of an aware moment."""
        _aware(moment)
        local = moment.astimezone(self.tz)
        return local.date(), timedelta(hours=local.hour, minutes=local.minute, seconds=local.second,
                                       microseconds=local.microsecond)

    def _utc(self, d: date, t: timedelta) -> datetime:
        return (datetime.combine(d, time()) + t).replace(tzinfo=self.tz).astimezone(UTC)


@functools.cache
def _china_year(year: int) -> tuple[dict[date, str], frozenset[date]]:
    """One year's Chinese public holidays (names in Traditional Chinese) and make-up working days, built once
    per process and shared by every calendar (~1 ms a year; the first ~0.1 s, importing the package).

    Only the make-up days dated in `year` are kept: the package adds a few cross-year ones (2001-12-29 ...)
    to every year's set."""
    import holidays

    china = holidays.China(years=year, language="zh_TW")
    return dict(china.items()), frozenset(d for d in china.weekend_workdays if d.year == year)


def _aware(moment: datetime) -> None:
    if not isinstance(moment, datetime) or moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"{moment!r} has no timezone; the calendar needs aware datetimes")


def _add_months(d: date, months: int) -> date:
    year, month = divmod(d.year * 12 + d.month - 1 + months, 12)
    return date(year, month + 1, min(d.day, _calendar.monthrange(year, month + 1)[1]))


def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (KeyError, ValueError, TypeError, OSError):  # ZoneInfoNotFoundError is a KeyError
        raise ValueError(f"unknown timezone {name!r}; use an IANA name such as Asia/Shanghai") from None


def _weekdays(names: Iterable[str]) -> tuple[str, ...]:
    if isinstance(names, str) or not isinstance(names, Iterable):
        raise ValueError(f"working_days must be a list of weekday names such as [mon, tue, wed, thu, fri], "
                         f"not {names!r}")
    out: list[str] = []
    for name in names:
        key = name.strip().lower() if isinstance(name, str) else name
        if key in _FULL_NAMES:
            key = WEEKDAY_NAMES[_FULL_NAMES.index(key)]
        if key not in WEEKDAY_NAMES:
            match = difflib.get_close_matches(str(key), WEEKDAY_NAMES + _FULL_NAMES, n=1, cutoff=0.6)
            hint = f"; did you mean '{match[0][:3]}'?" if match else ""
            raise ValueError(f"unknown weekday {name!r} in working_days{hint} (use {', '.join(WEEKDAY_NAMES)})")
        if key in out:
            raise ValueError(f"weekday '{key}' is listed twice in working_days")
        out.append(key)
    return tuple(sorted(out, key=WEEKDAY_NAMES.index))


def _time_of_day(text: object, end: bool) -> timedelta:
    m = _TIME.fullmatch(text.strip()) if isinstance(text, str) else None
    if m:
        hours, minutes = int(m.group(1)), int(m.group(2))
        if (hours < 24 and minutes < 60) or (end and hours == 24 and minutes == 0):
            return timedelta(hours=hours, minutes=minutes)
    hint = ""
    if isinstance(text, int) and not isinstance(text, bool) and 0 <= text < 1440:
        hint = (f" (YAML reads an unquoted {text // 60}:{text % 60:02d} as the number {text}; quote it: "
                f"\"{text // 60:02d}:{text % 60:02d}\")")
    raise ValueError(f"{text!r} is not a time of day in working_hours; write HH:MM between 00:00 and "
                     f"{'24:00' if end else '23:59'}, e.g. 09:00{hint}")


def _periods(hours: Iterable[tuple[str, str]]) -> tuple[tuple[tuple[str, str], ...],
                                                           tuple[tuple[timedelta, timedelta], ...]]:
    """Validated working periods: as written (HH:MM) and as offsets from midnight, morning to evening."""
    if isinstance(hours, str) or not isinstance(hours, Iterable):
        raise ValueError(f"working_hours must be a list of periods such as [09:00-12:00, 13:30-18:00], not {hours!r}")
    written: list[tuple[str, str]] = []
    spans: list[tuple[timedelta, timedelta]] = []
    for period in hours:
        parts = period.split("-") if isinstance(period, str) else period
        try:
            first, last = parts
        except (TypeError, ValueError):
            raise ValueError(f"working period {period!r} must be a start and an end, e.g. 09:00-12:00") from None
        start, end = _time_of_day(first, end=False), _time_of_day(last, end=True)
        label = f"{first.strip()}-{last.strip()}"
        if end <= start:
            raise ValueError(f"working period {label} ends before it starts; write start-end within one day, "
                             "e.g. 09:00-12:00")
        if spans and start < spans[-1][1]:
            previous = "-".join(written[-1])
            if spans[-1][0] < end:
                raise ValueError(f"working periods {previous} and {label} overlap")
            raise ValueError(f"working periods {previous} and {label} are out of order; list them from "
                             "morning to evening")
        written.append((_hhmm(start), _hhmm(end)))
        spans.append((start, end))
    if not spans:
        raise ValueError("working_hours is empty; list at least one period, e.g. [09:00-12:00, 13:30-18:00]")
    return tuple(written), tuple(spans)


def _hhmm(t: timedelta) -> str:
    minutes = t // timedelta(minutes=1)
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


def _dated(days: Mapping[date, str] | None, what: str, default: str) -> dict[date, str]:
    if days is None:
        return {}
    if not isinstance(days, Mapping):
        raise ValueError(f"{what} must map dates to names, e.g. {{2027-10-08: 國慶調休}}, not {days!r}")
    out: dict[date, str] = {}
    for d, name in days.items():
        if isinstance(d, datetime) or not isinstance(d, date):
            raise ValueError(f"{d!r} in {what} is not a date; write YYYY-MM-DD, e.g. 2027-10-01")
        out[d] = str(name) if name not in (None, "") else default
    return out


def _years(years: Iterable[int]) -> frozenset[int]:
    if isinstance(years, str) or not isinstance(years, Iterable):
        raise ValueError(f"confirmed_years must be a list of years such as [2027], not {years!r}")
    years = list(years)
    for year in years:
        if isinstance(year, bool) or not isinstance(year, int) or not 1 <= year <= 9999:
            raise ValueError(f"{year!r} in confirmed_years is not a year; write e.g. 2027")
    return frozenset(years)
