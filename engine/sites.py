"""What a site (管理處) is named by: an id for commands and URLs, the title staff read, the prefix of its numbers."""

from __future__ import annotations

import re
from datetime import date
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from .errors import Invalid
from .store import DEFAULT_SITE
from .workcalendar import BusinessCalendar


def series(site: str, form_id: str) -> str:
    """The counter of a form's numbers at a site (the default site's is the form's own, as before sites)."""
    return form_id if site == DEFAULT_SITE else f"{site}:{form_id}"


def schedule_key(site: str, key: str) -> str:
    """Which runs of a schedule ("workflow:schedule") a site has started (the default site's is the bare key)."""
    return key if site == DEFAULT_SITE or "/" in key else f"{site}/{key}"


def check(site: str, title: str | None, number_prefix: str | None) -> None:
    """Refuse an id, title or prefix staff or commands could not use, with the fix in the message."""
    if not re.fullmatch(r"[a-z0-9][a-z0-9_-]{0,31}", site or ""):
        raise Invalid("管理處代號只能用小寫英文字母、數字、- 與 _（最多 32 個字元），例如 yilin")
    if not (title or "").strip():
        raise Invalid("請填寫管理處名稱，例如 意林小鎮管理處")
    if number_prefix is not None and not re.fullmatch(r"[A-Z0-9]{1,8}", number_prefix):
        raise Invalid("編號前綴只能用大寫英文字母與數字（最多 8 個字元），例如 YL")


def check_days(days: dict[str, str], what: str) -> dict[str, str]:
    """`{YYYY-MM-DD: name}` of days a site adds to its calendar; a bad date is refused with an example."""
    for text in days:
        try:
            date.fromisoformat(text)
        except ValueError:
            raise Invalid(f"{what}「{text}」不是日期，請寫成 YYYY-MM-DD，例如 2027-03-05") from None
    return dict(sorted(days.items()))


def check_timezone(timezone: str) -> str:
    try:
        ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise Invalid(f"沒有時區「{timezone}」；請用 IANA 名稱，例如 Asia/Shanghai、Asia/Hong_Kong") from None
    return timezone


def calendar(base: BusinessCalendar, timezone: str | None, days: dict) -> BusinessCalendar:
    """goldkey.yaml's calendar as one site keeps it: in its own time zone, with its own holidays and make-up
    working days added (the site's word wins over goldkey.yaml's for the same day)."""
    holidays = {date.fromisoformat(d): n for d, n in days.get("holidays", {}).items()}
    workdays = {date.fromisoformat(d): n for d, n in days.get("workdays", {}).items()}
    return BusinessCalendar(
        timezone=timezone or base.timezone, working_days=base.working_days, working_hours=base.working_hours,
        public_holidays=base.public_holidays, confirmed_years=base.confirmed_years,
        holidays={d: n for d, n in base.holidays.items() if d not in workdays} | holidays,
        workdays={d: n for d, n in base.workdays.items() if d not in holidays} | workdays)
