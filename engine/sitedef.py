"""goldkey.yaml: the site's name, time zone, roles, admin roles and business calendar."""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfoNotFoundError

from .hints import did_you_mean
from .model import Site
from .workcalendar import BusinessCalendar
from .yamlsrc import Problem, Source, parse

SITE_FILE = "goldkey.yaml"
LEGACY_ADMIN = "manager"  # (deprecated) who administered a site whose goldkey.yaml predates `admin_roles`


def calendar_warnings(site: Site, path: str, text: str | None, today: date | None = None) -> list[Problem]:
    """A warning for this year and next when the holiday dates are only estimated (no official notice in
    the holidays package yet, and the year not confirmed in goldkey.yaml)."""
    today = today or datetime.now(site.tz).date()
    years = [y for y in (today.year, today.year + 1) if site.calendar.estimated(y)]
    if not years:
        return []
    source, _ = parse(path, text or "calendar:")
    return [source.problem(("calendar",), f"warning: the public holidays of {y} are estimated (the holidays "
                                          f"package has no official notice for {y} yet): when the State Council "
                                          f"publishes them, add that year's days off under calendar.holidays and "
                                          f"make-up working days under calendar.workdays, then list {y} in "
                                          "calendar.confirmed_years", key=True) for y in years]


def build_site(source: Source | None, problems: list[Problem], warnings: list[Problem]) -> Site:
    """The site of goldkey.yaml (meta-schema valid); problems and warnings are appended."""
    if source is None:
        return Site()
    data = source.data
    site = Site(name=data.get("site", "goldkey"), timezone=data.get("timezone", "Asia/Shanghai"),
                roles={k: v["title"] for k, v in data.get("roles", {}).items()},
                admin_roles=tuple(data.get("admin_roles", ())))
    site.verify_url = data.get("verify_url", site.verify_url)
    for i, role in enumerate(site.admin_roles):
        if role not in site.roles:
            problems.append(source.problem(("admin_roles", i), f"unknown role '{role}'{did_you_mean(role, site.roles)}"
                                                               "; admin roles must be declared under `roles`"))
    if "admin_roles" not in data and LEGACY_ADMIN in site.roles:  # as before admin_roles existed
        site.admin_roles = (LEGACY_ADMIN,)
        warnings.append(source.problem((), f"warning: no `admin_roles`: the role '{LEGACY_ADMIN}' administers the "
                                           f"site, as before the key existed; say so with `admin_roles: "
                                           f"[{LEGACY_ADMIN}]` (this default will go)"))
    elif "admin_roles" not in data:
        warnings.append(source.problem((), "warning: no `admin_roles`: nobody may open the admin page or reload the "
                                           "definitions; add e.g. `admin_roles: [manager]`"))
    try:
        site.tz  # noqa: B018 - validates the name
    except (ZoneInfoNotFoundError, ValueError):
        problems.append(source.problem(("timezone",), f"unknown time zone '{site.timezone}'; "
                                                      "use an IANA name such as Asia/Shanghai"))
        site.timezone = "Asia/Shanghai"
    site.calendar = _build_calendar(source, site.timezone, data.get("calendar", {}), problems)
    return site


def _build_calendar(source: Source, timezone: str, spec: dict, problems: list[Problem]) -> BusinessCalendar:
    """The business calendar of `calendar:` in goldkey.yaml; a problem is reported at the value at fault."""
    kp = ("calendar",)
    dated: dict[str, dict[date, str]] = {}
    for key in ("holidays", "workdays"):
        dated[key] = {}
        for text, name in spec.get(key, {}).items():
            try:
                dated[key][date.fromisoformat(text)] = name
            except ValueError:
                problems.append(source.problem(kp + (key, text), f"'{text}' is not a date; write YYYY-MM-DD, "
                                                                 "e.g. 2027-10-01", key=True))
    for day in sorted(dated["holidays"].keys() & dated["workdays"].keys()):
        problems.append(source.problem(kp + ("workdays", day.isoformat()), f"{day} is listed both as a holiday "
                                                                           "and as a working day", key=True))
        del dated["workdays"][day]
    hours = [tuple(part.strip() for part in period.split("-"))
             for period in spec.get("working_hours", ["09:00-12:00", "13:30-18:00"])]
    args = dict(timezone=timezone, working_days=spec.get("working_days", ("mon", "tue", "wed", "thu", "fri")),
                public_holidays=spec.get("public_holidays", "china"), holidays=dated["holidays"],
                workdays=dated["workdays"], confirmed_years=spec.get("confirmed_years", ()))
    try:
        return BusinessCalendar(working_hours=hours, **args)
    except ValueError as exc:
        where = kp + ("working_hours",) if "working_hours" in spec else kp
        problems.append(source.problem(where, f"calendar: {exc}"))
    try:
        return BusinessCalendar(**args)
    except ValueError:
        return BusinessCalendar(timezone=timezone)
