"""The business calendar and duration parsing: Chinese public holidays and make-up days, working hours with
a lunch break, working days, and the round-trip properties the deadline ladder relies on."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import chinese_calendar
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.durations import Duration, parse_duration
from engine.workcalendar import BusinessCalendar

SH = ZoneInfo("Asia/Shanghai")
CAL = BusinessCalendar()


def at(y: int, mo: int, d: int, h: int = 0, mi: int = 0, s: int = 0) -> datetime:
    """A moment on the Shanghai wall clock."""
    return datetime(y, mo, d, h, mi, s, tzinfo=SH)


def add(start: datetime, text: str, backward: bool = False, cal: BusinessCalendar = CAL) -> datetime:
    result = cal.add(start, parse_duration(text), backward=backward)
    assert result.tzinfo is UTC
    return result


# --- parse_duration ------------------------------------------------------------------------------------

ACCEPTED = [
    ("5m", 5, "minutes"), ("15min", 15, "minutes"), ("5 minutes", 5, "minutes"), ("1 minute", 1, "minutes"),
    ("0m", 0, "minutes"), ("24h", 1440, "minutes"), ("24 hours", 1440, "minutes"), ("2 Hours", 120, "minutes"),
    ("7d", 7, "days"), ("7 days", 7, "days"), ("1 day", 1, "days"), ("1w", 7, "days"), ("2 weeks", 14, "days"),
    ("1 month", 1, "months"), ("3 months", 3, "months"), ("1mo", 1, "months"), ("1 year", 12, "months"),
    ("PT15M", 15, "minutes"), ("pt15m", 15, "minutes"), ("PT1H30M", 90, "minutes"), ("PT2H", 120, "minutes"),
    ("PT120S", 2, "minutes"), ("P3D", 3, "days"), ("P1W", 7, "days"), ("P1W2D", 9, "days"), ("P1M", 1, "months"),
    ("P1Y2M", 14, "months"),
    ("3 working days", 3, "working_days"), ("1 working day", 1, "working_days"),
    ("3 Working  Days", 3, "working_days"), ("2 business days", 2, "working_days"),
    ("4 working hours", 240, "working_minutes"), ("1 working hour", 60, "working_minutes"),
    ("30 working minutes", 30, "working_minutes"), ("0 working minutes", 0, "working_minutes"),
    ("15分鐘", 15, "minutes"), ("15 分鐘", 15, "minutes"), ("15分钟", 15, "minutes"), ("１５分鐘", 15, "minutes"),
    ("24小時", 1440, "minutes"), ("24小时", 1440, "minutes"), ("2個小時", 120, "minutes"),
    ("7天", 7, "days"), ("7日", 7, "days"), ("2週", 14, "days"),
    ("1個月", 1, "months"), ("1个月", 1, "months"),
    ("3個工作日", 3, "working_days"), ("3 工作日", 3, "working_days"), ("3个工作日", 3, "working_days"),
    ("4工作小時", 240, "working_minutes"), ("4 個工作小時", 240, "working_minutes"),
    ("4工作小时", 240, "working_minutes"), ("30工作分鐘", 30, "working_minutes"),
]


@pytest.mark.parametrize("text, amount, unit", ACCEPTED)
def test_accepted_durations(text: str, amount: int, unit: str) -> None:
    assert parse_duration(text) == Duration(amount, unit, text)
    assert parse_duration(text).business == unit.startswith("working_")


EXAMPLES = "write e.g. 15m, 24h, 7d, 1 month, 3 working days, 4 working hours or PT15M"
REJECTED = [
    ("7 dayz", f"'7 dayz' is not a duration; did you mean '7 days'?; {EXAMPLES}"),
    ("3 wrking days", "did you mean '3 working days'?"),
    ("soon", f"'soon' is not a duration; {EXAMPLES}"),
    ("", "an empty duration is not allowed; write e.g. 15m"),
    ("   ", "an empty duration is not allowed"),
    ("15", "'15' has no unit; write e.g. 15m"),
    ("-1d", "'-1d' is negative"),
    ("1.5h", "'1.5h' is not a whole number; write 90m rather than 1.5h"),
    ("1M", "'1M' is ambiguous: write 1m for minutes or 1 month for months"),
    ("P1DT2H", "'P1DT2H' mixes days and hours: a day keeps the time of day but hours run on the clock; write it "
               "in hours (e.g. PT26H) or in days (e.g. P1D)"),
    ("P1MT1H", "'P1MT1H' mixes months with days or hours"),
    ("P1M3D", "'P1M3D' mixes months with days or hours"),
    ("PT30S", "'PT30S' has seconds that are not whole minutes"),
    ("P", f"'P' is not a duration; {EXAMPLES}"),
    ("PT", f"'PT' is not a duration; {EXAMPLES}"),
    ("P1D2H", f"'P1D2H' is not a duration; {EXAMPLES}"),
    ("36526 days", "'36526 days' is longer than a hundred years"),
    ("P9999999Y", "'P9999999Y' is longer than a hundred years"),
]


@pytest.mark.parametrize("text, message", REJECTED)
def test_rejected_durations(text: str, message: str) -> None:
    with pytest.raises(ValueError) as err:
        parse_duration(text)
    assert message in str(err.value)


@pytest.mark.parametrize("value", [None, 15, 1.5, True, ["15m"]])
def test_non_string_durations_are_rejected(value: object) -> None:
    with pytest.raises(ValueError, match="is not a duration; write a number with a unit, e.g. 15m"):
        parse_duration(value)  # type: ignore[arg-type]


def test_duration_checks_its_fields() -> None:
    with pytest.raises(ValueError, match="unknown duration unit 'hours'"):
        Duration(1, "hours", "1h")
    with pytest.raises(ValueError, match="whole number >= 0"):
        Duration(-1, "days", "-1d")


# --- which days are working days -----------------------------------------------------------------------

def test_matches_chinese_calendar_for_2025_and_2026() -> None:
    day = date(2025, 1, 1)
    wrong = []
    while day < date(2027, 1, 1):
        if CAL.is_working_day(day) != chinese_calendar.is_workday(day):
            wrong.append((day, CAL.day(day)))
        day += timedelta(days=1)
    assert wrong == []


def test_national_day_2026() -> None:
    assert [CAL.is_working_day(date(2026, 10, d)) for d in range(1, 12)] == [
        False, False, False, False, False, False, False,  # 10-01 (Thu) .. 10-07 off
        True, True,  # Thu 10-08, Fri 10-09
        True,  # Sat 10-10: make-up working day
        False,  # Sun 10-11
    ]
    assert CAL.day(date(2026, 9, 20)) == (True, "調休上班")  # Sunday, make-up for National Day
    assert CAL.day(date(2026, 10, 10)) == (True, "調休上班")
    assert CAL.day(date(2026, 2, 14)) == (True, "調休上班")  # Saturday, make-up for Spring Festival
    assert CAL.day(date(2026, 9, 25)) == (False, "中秋節")  # Friday
    assert CAL.day(date(2026, 10, 1)) == (False, "國慶節")
    assert CAL.day(date(2026, 11, 7)) == (False, "週末")
    assert CAL.day(date(2026, 11, 9)) == (True, None)


def test_half_day_observances_are_working_days() -> None:
    assert CAL.is_working_day(date(2024, 3, 8))  # a Friday: Women's day is a half day off, not a public holiday
    assert CAL.is_working_day(date(2027, 3, 8)) and CAL.is_working_day(date(2026, 6, 1))  # Children's day


def test_renovation_across_national_day_2026() -> None:
    # Tue 09-29 15:00 + 3 working days: Wed 09-30 is day 1, 10-01..10-07 off, Thu 10-08 day 2, Fri 10-09 day 3.
    assert add(at(2026, 9, 29, 15), "3 working days") == at(2026, 10, 9, 15)
    assert add(at(2026, 9, 29, 15), "3個工作日") == at(2026, 10, 9, 15)
    # Fri 09-18 10:00: Sat 09-19 off, Sun 09-20 make-up (day 1), Mon 09-21 (2), Tue 09-22 (3).
    assert add(at(2026, 9, 18, 10), "3 working days") == at(2026, 9, 22, 10)
    # Thu 09-24 10:00: Fri 09-25 Mid-Autumn, so Mon 09-28 is day 1.
    assert add(at(2026, 9, 24, 10), "1 working day") == at(2026, 9, 28, 10)
    # Fri 10-09 10:00 + 1: Sat 10-10 is a make-up day.
    assert add(at(2026, 10, 9, 10), "1 working day") == at(2026, 10, 10, 10)
    # Wed 09-30 16:00 + 4 working hours: 2h left that day, then 10-08 09:00 + 2h.
    assert add(at(2026, 9, 30, 16), "4 working hours") == at(2026, 10, 8, 11)
    # Back: 10-08 10:00 - 2 working hours = 09-30 17:00.
    assert add(at(2026, 10, 8, 10), "2 working hours", backward=True) == at(2026, 9, 30, 17)
    assert add(at(2026, 10, 9, 15), "3 working days", backward=True) == at(2026, 9, 29, 15)


def test_official_and_estimated_years() -> None:
    assert CAL.official(2025) and CAL.official(2026)
    assert not CAL.estimated(2026)
    assert not CAL.official(2027) and CAL.estimated(2027)
    assert not BusinessCalendar(confirmed_years=[2027]).estimated(2027)
    assert BusinessCalendar(confirmed_years=[2027]).estimated(2028)
    assert not BusinessCalendar(public_holidays="none").estimated(2027)


def test_overrides() -> None:
    cal = BusinessCalendar(holidays={date(2027, 10, 6): "國慶節（公告）", date(2026, 11, 9): "公司活動"},
                           workdays={date(2027, 9, 26): "國慶調休", date(2027, 2, 6): "值班",
                                     date(2026, 10, 1): "值班"})
    assert cal.day(date(2027, 10, 6)) == (False, "國慶節（公告）")  # a Wednesday
    assert cal.day(date(2026, 11, 9)) == (False, "公司活動")  # a plain Monday
    assert cal.day(date(2027, 9, 26)) == (True, "國慶調休")  # a Sunday
    assert cal.day(date(2027, 2, 6)) == (True, "值班")  # the package's (estimated) Spring Festival
    assert cal.day(date(2026, 10, 1)) == (True, "值班")  # the package's official National Day
    assert CAL.day(date(2027, 2, 6)) == (False, "春節")
    assert cal.add(at(2027, 9, 24, 10), parse_duration("1 working day")) == at(2027, 9, 26, 10)


def test_no_public_holidays_and_other_weekdays() -> None:
    cal = BusinessCalendar(public_holidays="none", working_days=["mon", "tue", "wed", "thu", "fri", "sat"])
    assert cal.is_working_day(date(2026, 10, 1)) and cal.is_working_day(date(2026, 10, 3))
    assert cal.day(date(2026, 10, 4)) == (False, "週末")
    assert not cal.is_working_day(date(2026, 9, 20))  # no make-up days without the Chinese holidays
    assert BusinessCalendar(working_days=("tue", "wed")).day(date(2026, 11, 2)) == (False, "休息日")


# --- working hours -------------------------------------------------------------------------------------

def test_working_hours_skip_the_lunch_break() -> None:
    assert add(at(2026, 11, 2, 11), "90 working minutes") == at(2026, 11, 2, 14)
    assert add(at(2026, 11, 2, 12, 30), "30 working minutes") == at(2026, 11, 2, 14)
    assert add(at(2026, 11, 2, 10, 0, 30), "15 working minutes") == at(2026, 11, 2, 10, 15, 30)  # seconds kept


def test_working_hours_land_at_the_end_of_a_period() -> None:
    assert add(at(2026, 11, 2, 10), "2 working hours") == at(2026, 11, 2, 12)  # not 13:30
    assert add(at(2026, 11, 2, 16), "2 working hours") == at(2026, 11, 2, 18)  # not Tue 09:00
    assert add(at(2026, 11, 6, 9), "450 working minutes") == at(2026, 11, 6, 18)  # a whole Friday
    assert add(at(2026, 11, 2, 16), "4 working hours") == at(2026, 11, 3, 11)


def test_working_hours_from_outside_working_time() -> None:
    assert add(at(2026, 11, 2, 20), "1 working hour") == at(2026, 11, 3, 10)  # after hours
    assert add(at(2026, 11, 3, 7, 15), "1 working hour") == at(2026, 11, 3, 10)  # before opening
    assert add(at(2026, 11, 7, 10), "1 working hour") == at(2026, 11, 9, 10)  # Saturday
    assert add(at(2026, 10, 1, 10), "1 working hour") == at(2026, 10, 8, 10)  # National Day
    assert add(at(2026, 11, 7, 10), "0 working minutes") == at(2026, 11, 9, 9)  # zero snaps forward
    assert add(at(2026, 11, 2, 12), "0 working minutes") == at(2026, 11, 2, 13, 30)
    assert add(at(2026, 11, 2, 10, 15, 30), "0 working minutes") == at(2026, 11, 2, 10, 15, 30)


def test_working_hours_backward() -> None:
    assert add(at(2026, 11, 9, 10), "2 working hours", backward=True) == at(2026, 11, 6, 17)  # Mon -> Fri
    assert add(at(2026, 11, 2, 14), "1 working hour", backward=True) == at(2026, 11, 2, 11, 30)
    assert add(at(2026, 11, 2, 14), "30 working minutes", backward=True) == at(2026, 11, 2, 13, 30)  # stays
    assert add(at(2026, 11, 2, 18), "4 working hours", backward=True) == at(2026, 11, 2, 14)
    assert add(at(2026, 11, 2, 18), "5 working hours", backward=True) == at(2026, 11, 2, 11, 30)
    assert add(at(2026, 11, 8, 12), "1 working hour", backward=True) == at(2026, 11, 6, 17)  # from Sunday
    assert add(at(2026, 11, 2, 12, 45), "0 working minutes", backward=True) == at(2026, 11, 2, 12)
    assert CAL.add_working_minutes(at(2026, 11, 9, 10), -120) == at(2026, 11, 6, 17)


def test_working_minutes_between() -> None:
    assert CAL.working_minutes(at(2026, 11, 2, 9), at(2026, 11, 2, 18)) == 450
    assert CAL.working_minutes(at(2026, 11, 6, 17), at(2026, 11, 9, 10)) == 120
    assert CAL.working_minutes(at(2026, 11, 9, 10), at(2026, 11, 6, 17)) == -120
    assert CAL.working_minutes(at(2026, 11, 2, 12), at(2026, 11, 2, 13, 30)) == 0
    assert CAL.working_minutes(at(2026, 9, 30, 9), at(2026, 10, 9, 0)) == 450 * 2  # 09-30 and 10-08
    assert CAL.working_minutes(at(2026, 11, 2, 9), at(2026, 11, 2, 9, 0, 59)) == 0  # whole minutes


# --- working days --------------------------------------------------------------------------------------

def test_working_days_keep_the_time_of_day() -> None:
    assert add(at(2026, 11, 6, 10), "3 working days") == at(2026, 11, 11, 10)  # Fri -> Wed
    assert add(at(2026, 11, 2, 12), "1 working day") == at(2026, 11, 3, 12)  # a break's edge stays
    assert add(at(2026, 11, 2, 12, 45), "1 working day") == at(2026, 11, 3, 13, 30)  # lunch -> 13:30
    assert add(at(2026, 11, 2, 7), "1 working day") == at(2026, 11, 2, 18)  # before opening: Mon 09:00 -> ...


def test_working_days_at_an_opening_end_the_day_before() -> None:
    assert add(at(2026, 11, 6, 20), "1 working day") == at(2026, 11, 9, 18)  # Fri 20:00 -> Mon 18:00
    assert add(at(2026, 11, 7, 10), "1 working day") == at(2026, 11, 9, 18)  # Saturday
    assert add(at(2026, 11, 2, 9), "2 working days") == at(2026, 11, 3, 18)
    assert add(at(2026, 9, 30, 18), "1 working day") == at(2026, 10, 8, 18)
    assert add(at(2026, 11, 6, 20), "0 working days") == at(2026, 11, 9, 9)  # zero only snaps


def test_working_days_backward() -> None:
    assert add(at(2026, 11, 11, 10), "3 working days", backward=True) == at(2026, 11, 6, 10)
    assert add(at(2026, 11, 11, 13, 30), "1 working day", backward=True) == at(2026, 11, 10, 13, 30)
    assert add(at(2026, 11, 9, 18), "1 working day", backward=True) == at(2026, 11, 9, 9)  # Fri 18:00 = Mon 09:00
    assert add(at(2026, 11, 10, 9), "1 working day", backward=True) == at(2026, 11, 9, 9)  # via Fri 18:00
    assert add(at(2026, 11, 8, 10), "0 working days", backward=True) == at(2026, 11, 6, 18)


# --- plain units ---------------------------------------------------------------------------------------

def test_plain_units() -> None:
    assert add(at(2026, 11, 7, 23, 50), "15m") == at(2026, 11, 8, 0, 5)
    assert add(at(2026, 11, 7, 23, 50), "15m", backward=True) == at(2026, 11, 7, 23, 35)
    assert add(at(2026, 11, 7, 10), "0m") == at(2026, 11, 7, 10)
    assert add(at(2026, 9, 30, 10), "7d") == at(2026, 10, 7, 10)  # calendar days: holidays count
    assert add(datetime(2026, 11, 2, 1, 30, tzinfo=UTC), "1d") == at(2026, 11, 3, 9, 30)
    assert add(at(2026, 11, 2, 10), "1w", backward=True) == at(2026, 10, 26, 10)


def test_days_keep_the_local_time_where_clocks_change() -> None:
    ny = ZoneInfo("America/New_York")
    cal = BusinessCalendar(timezone="America/New_York", public_holidays="none")
    start = datetime(2026, 3, 7, 10, tzinfo=ny)  # DST starts on 03-08
    assert cal.add(start, parse_duration("1d")) == datetime(2026, 3, 8, 10, tzinfo=ny)
    assert cal.add(start, parse_duration("24h")) == datetime(2026, 3, 8, 11, tzinfo=ny)


def test_months_are_clamped_to_the_month_end() -> None:
    assert add(at(2026, 1, 31, 10), "1 month") == at(2026, 2, 28, 10)
    assert add(at(2024, 1, 31, 10), "1 month") == at(2024, 2, 29, 10)
    assert add(at(2026, 3, 31, 10), "1 month", backward=True) == at(2026, 2, 28, 10)
    assert add(at(2026, 12, 15, 8), "1 month") == at(2027, 1, 15, 8)
    assert add(at(2026, 8, 31, 8), "P1Y2M") == at(2027, 10, 31, 8)
    assert add(at(2026, 5, 31, 8), "3 months", backward=True) == at(2026, 2, 28, 8)


def test_naive_datetimes_are_refused() -> None:
    with pytest.raises(ValueError, match="has no timezone"):
        CAL.add(datetime(2026, 11, 2, 10), parse_duration("15m"))
    with pytest.raises(ValueError, match="has no timezone"):
        CAL.add(datetime(2026, 11, 2, 10), parse_duration("1 working day"))


def test_a_calendar_without_working_days() -> None:
    cal = BusinessCalendar(working_days=(), public_holidays="none")
    message = "the calendar has no working day within three years; check working_days and holidays"
    for text in ("1 working day", "1 working hour", "0 working minutes"):
        with pytest.raises(ValueError, match=message):
            cal.add(at(2026, 11, 2, 10), parse_duration(text))
    with pytest.raises(ValueError, match=message):
        cal.add(at(2026, 11, 2, 10), parse_duration("1 working hour"), backward=True)
    assert cal.add(at(2026, 11, 2, 10), parse_duration("1d")) == at(2026, 11, 3, 10)


BAD_CALENDARS = [
    (dict(working_days=["mon", "tus"]), "unknown weekday 'tus' in working_days; did you mean 'tue'?"),
    (dict(working_days="mon-fri"), "working_days must be a list of weekday names"),
    (dict(working_days=["mon", "mon"]), "weekday 'mon' is listed twice in working_days"),
    (dict(working_hours=[("09:00", "25:00")]), "'25:00' is not a time of day in working_hours; write HH:MM"),
    (dict(working_hours=[("9h", "12:00")]), "'9h' is not a time of day in working_hours"),
    (dict(working_hours=[("09:00", 810)]), "(YAML reads an unquoted 13:30 as the number 810; quote it: \"13:30\")"),
    (dict(working_hours=[("24:00", "24:00")]), "'24:00' is not a time of day in working_hours"),
    (dict(working_hours=[("18:00", "09:00")]), "working period 18:00-09:00 ends before it starts"),
    (dict(working_hours=[("09:00", "09:00")]), "working period 09:00-09:00 ends before it starts"),
    (dict(working_hours=[("13:30", "18:00"), ("09:00", "12:00")]),
     "working periods 13:30-18:00 and 09:00-12:00 are out of order; list them from morning to evening"),
    (dict(working_hours=[("09:00", "12:30"), ("12:00", "18:00")]),
     "working periods 09:00-12:30 and 12:00-18:00 overlap"),
    (dict(working_hours=[("09:00", "12:00", "13:00")]), "must be a start and an end, e.g. 09:00-12:00"),
    (dict(working_hours=[]), "working_hours is empty"),
    (dict(public_holidays="hongkong"), "public_holidays must be 'china' or 'none', not 'hongkong'"),
    (dict(timezone="Asia/Shanghia"), "unknown timezone 'Asia/Shanghia'; use an IANA name such as Asia/Shanghai"),
    (dict(holidays={date(2027, 10, 8): "x"}, workdays={date(2027, 10, 8): "y"}),
     "2027-10-08 is listed both in holidays and in workdays"),
    (dict(holidays={"2027-10-08": "x"}), "'2027-10-08' in holidays is not a date; write YYYY-MM-DD"),
    (dict(confirmed_years=["2027"]), "'2027' in confirmed_years is not a year"),
]


@pytest.mark.parametrize("kwargs, message", BAD_CALENDARS)
def test_bad_calendars(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError) as err:
        BusinessCalendar(**kwargs)
    assert message in str(err.value)


def test_good_calendar_spellings() -> None:
    cal = BusinessCalendar(working_days=["Sat", "monday", "tue"], working_hours=["8:30-12:00", ("12:00", "24:00")],
                           confirmed_years=(y for y in [2027]))
    assert cal.working_days == ("mon", "tue", "sat")
    assert cal.working_hours == (("08:30", "12:00"), ("12:00", "24:00"))
    assert cal.confirmed_years == {2027}
    assert add(at(2026, 11, 2, 23), "2 working hours", cal=cal) == at(2026, 11, 3, 9, 30)
    assert cal == BusinessCalendar(working_days=["mon", "tue", "sat"],
                                   working_hours=[("08:30", "12:00"), ("12:00", "24:00")], confirmed_years=[2027])
    assert cal != CAL and CAL == BusinessCalendar()


# --- properties ----------------------------------------------------------------------------------------

CALENDARS = [
    CAL,
    BusinessCalendar(working_days=("mon", "tue", "wed", "thu", "fri", "sat"), public_holidays="none",
                     working_hours=(("08:30", "12:00"), ("13:00", "17:30"), ("18:00", "21:00"))),
    BusinessCalendar(timezone="Asia/Tokyo", working_hours=(("00:00", "24:00"),), public_holidays="none"),
]
STARTS = st.datetimes(min_value=datetime(2025, 1, 1), max_value=datetime(2027, 12, 1), allow_imaginary=False,
                      timezones=st.sampled_from([UTC, SH, ZoneInfo("America/New_York")]))


def working_moment(cal: BusinessCalendar, moment: datetime, closed: str) -> bool:
    """On a working day and inside a working period: (start, end] with closed='end', [start, end) 'start',
    [start, end] 'both'."""
    local = moment.astimezone(cal.tz)
    t = timedelta(hours=local.hour, minutes=local.minute, seconds=local.second, microseconds=local.microsecond)
    places = [(local.date(), t)]
    if t == timedelta(0) and closed != "start":  # also 24:00 of the day before
        places.append((local.date() - timedelta(days=1), timedelta(days=1)))
    return any(cal.is_working_day(day) and (ps < t <= pe if closed == "end" else ps <= t < pe if closed == "start"
                                            else ps <= t <= pe)
               for day, t in places for ps, pe in cal._periods)


@settings(deadline=None, max_examples=300)
@given(cal=st.sampled_from(CALENDARS), start=STARTS, n=st.integers(0, 3000), more=st.integers(1, 600))
def test_working_minutes_properties(cal: BusinessCalendar, start: datetime, n: int, more: int) -> None:
    end = cal.add_working_minutes(start, n)
    assert cal.working_minutes(start, end) == n
    assert cal.working_minutes(end, start) == -n
    assert end <= cal.add_working_minutes(start, n + more)  # monotone in n
    snapped = cal.add_working_minutes(start, 0)
    assert snapped >= start and working_moment(cal, snapped, closed="start")
    if n > 0:
        assert working_moment(cal, end, closed="end")
        assert cal.add_working_minutes(end, -n) == snapped
        assert cal.add(end, Duration(n, "working_minutes", f"{n} working minutes"), backward=True) == snapped
        back = cal.add_working_minutes(start, -n)
        assert working_moment(cal, back, closed="start") and cal.working_minutes(back, start) == n


@settings(deadline=None, max_examples=200)
@given(cal=st.sampled_from(CALENDARS), start=STARTS, n=st.integers(1, 40))
def test_working_days_properties(cal: BusinessCalendar, start: datetime, n: int) -> None:
    days = Duration(n, "working_days", f"{n} working days")
    snapped = cal.add(start, Duration(0, "working_days", "0 working days"))
    end = cal.add(start, days)
    assert end > snapped >= start
    assert working_moment(cal, end, closed="both")  # a break's edge (13:30) is kept as a time of day
    assert cal.add(end, days, backward=True) == snapped  # back to the start as moved to working time
    assert cal.add(start, Duration(n + 1, "working_days", "")) > end
    day_length = sum((pe - ps for ps, pe in cal._periods), timedelta(0)) // timedelta(minutes=1)
    assert cal.working_minutes(snapped, end) == n * day_length  # every working day has the same hours
