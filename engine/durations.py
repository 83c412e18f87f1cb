"""Durations in definitions: how long a step may take, when to remind, how long to wait.

Administrators write them in English, Chinese or ISO 8601, and each normalises to one of five units so
the business calendar (engine/workcalendar.py) knows how to count it:

    minutes           5m, 15min, 1 minute, 24h, 2 hours, PT15M, PT1H30M, 15分鐘, 24小時
    days              7d, 7 days, 1w, 2 weeks, P3D, P1W, 7天, 7日, 1週
    months            1 month, 3 months, 1mo, 1 year, P1M, P1Y, 1個月, 1年
    working_minutes   30 working minutes, 4 working hours, 4工作小時, 4 個工作小時, 30工作分鐘
    working_days      3 working days, 1 business day, 3個工作日, 3 工作日

Hours become minutes and weeks become days (24h is 1440 minutes; 1w is 7 days); years become 12 months.
`m` is minutes; a capital `1M` is refused as ambiguous (ISO P1M is a month, PT1M a minute).
Wall-clock minutes, calendar days and calendar months are different things (a day is not always 1440
minutes for a person: 7d keeps the time of day), so an ISO duration that mixes them, such as P1DT2H, is
refused with a suggestion instead of being silently converted. Zero is allowed (`0m`: at the due time);
negative and fractional amounts are not, since a step cannot be due before it opens and the calendar
counts whole minutes.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass
from typing import NoReturn

UNITS = ("minutes", "days", "months", "working_minutes", "working_days")
_CENTURY = {"minutes": 36525 * 1440, "days": 36525, "months": 1200, "working_minutes": 36525 * 1440,
            "working_days": 36525}  # longer is a typo, and would make the calendar count for seconds
EXAMPLES = "15m, 24h, 7d, 1 month, 3 working days, 4 working hours or PT15M"


@dataclass(frozen=True)
class Duration:
    """A parsed duration: a whole non-negative amount of one unit, and the text as written for messages."""

    amount: int
    unit: str
    text: str

    def __post_init__(self) -> None:
        if self.unit not in UNITS:
            raise ValueError(f"unknown duration unit '{self.unit}' (expected one of: {', '.join(UNITS)})")
        if isinstance(self.amount, bool) or not isinstance(self.amount, int) or self.amount < 0:
            raise ValueError(f"a duration amount must be a whole number >= 0, not {self.amount!r}")

    @property
    def business(self) -> bool:
        """Counted in working time (the calendar's working hours and days) rather than on the clock."""
        return self.unit.startswith("working_")

    def __str__(self) -> str:
        return self.text


def _spellings() -> dict[str, tuple[str, int]]:
    """Every accepted unit spelling (lower case, single spaces) -> (unit, factor)."""
    table: dict[str, tuple[str, int]] = {}

    def add(unit: str, factor: int, *words: str) -> None:
        for word in words:
            table[word] = (unit, factor)

    add("minutes", 1, "m", "min", "mins", "minute", "minutes", "分鐘", "分钟", "分")
    add("minutes", 60, "h", "hr", "hrs", "hour", "hours", "小時", "小时", "個小時", "个小时", "鐘頭", "钟头",
        "個鐘頭", "个钟头")
    add("days", 1, "d", "day", "days", "天", "日")
    add("days", 7, "w", "wk", "wks", "week", "weeks", "週", "周", "星期", "個星期", "个星期", "個禮拜", "个礼拜")
    add("months", 1, "mo", "mos", "month", "months", "個月", "个月")
    add("months", 12, "y", "yr", "yrs", "year", "years", "年")
    for prefix in ("working ", "business "):
        add("working_minutes", 1, prefix + "minute", prefix + "minutes", prefix + "min", prefix + "mins")
        add("working_minutes", 60, prefix + "hour", prefix + "hours", prefix + "hr", prefix + "hrs")
        add("working_days", 1, prefix + "day", prefix + "days")
    add("working_days", 1, "workday", "workdays")
    for counter in ("", "個", "个"):
        add("working_minutes", 1, counter + "工作分鐘", counter + "工作分钟")
        add("working_minutes", 60, counter + "工作小時", counter + "工作小时")
        add("working_days", 1, counter + "工作日", counter + "工作天")
    return table


_UNIT_SPELLINGS = _spellings()
_PLAIN = re.compile(r"(\d+)\s*(\D.*)")
_ISO = re.compile(r"p(?:(\d+)y)?(?:(\d+)m)?(?:(\d+)w)?(?:(\d+)d)?(?:t(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?)?")
_NUMBERISH = re.compile(r"[-+\u2212]?\s*\d*[.,]?\d+\s*(.*)")


def parse_duration(text: str) -> Duration:
    """Read a duration as written in a definition; raise ValueError saying what is accepted."""
    if not isinstance(text, str):
        raise ValueError(f"{text!r} is not a duration; write a number with a unit, e.g. {EXAMPLES}")
    norm = " ".join(text.split()).lower()
    if not norm:
        raise ValueError(f"an empty duration is not allowed; write e.g. {EXAMPLES}")
    plain = _PLAIN.fullmatch(norm)
    if plain:
        amount, spelling = int(plain.group(1)), plain.group(2).strip()
        found = _UNIT_SPELLINGS.get(spelling) or _UNIT_SPELLINGS.get(spelling.replace(" ", ""))
        if found and text.strip().endswith("M") and spelling == "m":
            raise ValueError(f"'{text}' is ambiguous: write {amount}m for minutes or {amount} month for months")
        if found:
            return _checked(Duration(amount * found[1], found[0], text))
        closest = _closest(spelling, amount)
        _refuse(text, f"; did you mean '{amount} {closest}'?" if closest else "")
    if norm.startswith("p"):
        return _parse_iso(norm.replace(" ", ""), text)
    _refuse(text, "")


def _parse_iso(norm: str, written: str) -> Duration:
    """ISO 8601 PnYnMnWnDTnHnMnS, each duration normalised to a single unit."""
    m = _ISO.fullmatch(norm)
    if not m or norm.endswith("t") or not any(m.groups()):
        _refuse(written, "")
    years, months, weeks, days, hours, minutes, seconds = (None if g is None else int(g) for g in m.groups())
    calendar_months = years is not None or months is not None
    calendar_days = weeks is not None or days is not None
    clock = hours is not None or minutes is not None or seconds is not None
    if calendar_months and (calendar_days or clock):
        raise ValueError(f"'{written}' mixes months with days or hours, which do not add up to one unit; "
                         "write the months alone (P1M) or the days alone (P30D)")
    if calendar_days and clock:
        total = (weeks or 0) * 7 + (days or 0)
        raise ValueError(f"'{written}' mixes days and hours: a day keeps the time of day but hours run on the "
                         f"clock; write it in hours (e.g. PT{total * 24 + (hours or 0)}H) or in days (e.g. "
                         f"P{total}D)")
    if calendar_months:
        return _checked(Duration((years or 0) * 12 + (months or 0), "months", written))
    if calendar_days:
        return _checked(Duration((weeks or 0) * 7 + (days or 0), "days", written))
    if (seconds or 0) % 60:
        raise ValueError(f"'{written}' has seconds that are not whole minutes; durations count whole minutes, "
                         "e.g. PT15M")
    return _checked(Duration((hours or 0) * 60 + (minutes or 0) + (seconds or 0) // 60, "minutes", written))


def _checked(duration: Duration) -> Duration:
    if duration.amount > _CENTURY[duration.unit]:
        raise ValueError(f"'{duration.text}' is longer than a hundred years; write e.g. {EXAMPLES}")
    return duration


def _closest(spelling: str, amount: int) -> str | None:
    """The accepted unit spelling nearest a misspelt one, plural when the amount is not 1."""
    match = difflib.get_close_matches(spelling, _UNIT_SPELLINGS, n=1, cutoff=0.6)
    if not match:
        return None
    word = match[0]
    return word + "s" if amount != 1 and word + "s" in _UNIT_SPELLINGS else word


def _refuse(written: str, hint: str) -> NoReturn:
    """Raise the one message for a text that is not a duration, with the reason when it is obvious."""
    norm = " ".join(written.split()).lower()
    number = _NUMBERISH.fullmatch(norm)
    if number and norm[0] in "-\u2212":
        raise ValueError(f"'{written}' is negative; a duration is a whole number >= 0 with a unit (to count back "
                         f"from a time, use `before:`); write e.g. {EXAMPLES}")
    if number and any(c in norm.split()[0] for c in ".,"):
        raise ValueError(f"'{written}' is not a whole number; write 90m rather than 1.5h, 36h rather than 1.5d; "
                         f"accepted: {EXAMPLES}")
    if number and not number.group(1):
        raise ValueError(f"'{written}' has no unit; write e.g. {EXAMPLES}")
    raise ValueError(f"'{written}' is not a duration{hint}; write e.g. {EXAMPLES}")
