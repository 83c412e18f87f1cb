"""The definition types: a loaded workflow, its ledgers, schedules and targets, the site and the registry.

A leaf of the engine: built by `definitions`, read by everything else. The steps themselves are the classes
of `engine.steps` (one module per kind).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from . import words
from .errors import NotFound
from .expressions import Expression
from .forms import Form
from .hints import did_you_mean
from .workcalendar import BusinessCalendar

if TYPE_CHECKING:
    from .records import RecordType
    from .reports import Report
    from .spans import Span
    from .steps.base import Step


@dataclass
class Post:
    ledger: str
    entry: str
    amount: Expression
    when: Expression | None = None
    memo: str | None = None


@dataclass(frozen=True)
class Carry:
    """A field of a new instance taken from the previous instance of its workflow (at its site): a table's rows for
    which `when` holds (each row's fields are the names), or a value, when `when` holds of the previous data."""

    field: str
    source: str
    when: Expression | None = None
    rows: bool = False


@dataclass
class Update:
    """A step's `update:` of a record, applied as the step completes, in its transaction: the record of type
    `record` whose key is the value of `key`, its fields in `set` given the values of their expressions, moved to
    `state` (checked against the type's moves); only `when` the condition holds."""

    record: str
    key: Expression
    set: dict[str, Expression]
    state: str | None = None
    when: Expression | None = None
    field: str | None = None  # the form field holding the key, where `key` is one


@dataclass
class Ledger:
    id: str
    title: str
    floor: int  # fen
    entries: dict[str, str]  # entry -> "in" | "out"
    entry_titles: dict[str, str] = field(default_factory=dict)  # entry -> its title, where the YAML gives one

    def entry_title(self, entry: str) -> str:
        return self.entry_titles.get(entry) or words.entry(entry, self.entries.get(entry))


@dataclass(frozen=True)
class Schedule:
    """Start the workflow on a cron schedule (site time zone) with fixed data; `{run:%Y-%m}` in a text
    value becomes the run's local time."""

    id: str
    cron: str
    title: str
    data: dict
    sample: Sample | None = None


@dataclass(frozen=True)
class Sample:
    """A sampling plan (回訪計劃): at each run, of the instances of `workflow` completed in the `period` (day, week or
    month) before the run, at least `share` of them, chosen reproducibly (all at 100%), each start an instance of this
    workflow with `data` taken from it ({field: its field, or `number`})."""

    workflow: str
    period: str
    share: float
    data: dict[str, str]


@dataclass(frozen=True)
class Target:
    """A rate the company must reach: the share of ended instances in which `step` was completed (of those
    that passed `among`, when given), overall or on each day (`per: day`)."""

    id: str
    title: str
    step: str
    target: float
    among: str | None = None
    per: str | None = None


@dataclass
class Workflow:
    id: str
    title: str
    form: Form
    start: Step
    steps: dict[str, Step]
    ledgers: dict[str, Ledger]
    area: str | None = None
    description: str | None = None
    path: str = ""
    files: dict[str, str] = field(default_factory=dict)  # relative path -> YAML text of this version
    version: str = ""
    schedules: list[Schedule] = field(default_factory=list)
    targets: list[Target] = field(default_factory=list)
    calendar: BusinessCalendar = field(default_factory=BusinessCalendar)  # the site's
    site_roles: dict[str, str] = field(default_factory=dict)  # the site's roles and their titles
    seed: dict | None = None  # start `seed:` {report, params: {param: field}, values: {field: "table[.column]"}}
    carry: list[Carry] = field(default_factory=list)  # what the previous instance left open, into the next
    deadlines: list[Span] = field(default_factory=list)  # limits over several steps (engine/spans.py)

    def role_titles(self, roles) -> str:
        """Roles in words, as staff read them."""
        return "、".join(self.site_roles.get(r, "（未知職務）") for r in roles)

    @property
    def roles(self) -> list[str]:
        found = dict.fromkeys(self.start.roles)
        for step in self.steps.values():
            found.update(dict.fromkeys(step.roles))
        return list(found)

    @property
    def viewer_roles(self) -> set[str]:
        """Roles that may see its instances, print them and read its register: its own, those a deadline may
        hand a task to, and the form's confidential readers."""
        ladder = {r for s in self.steps.values() if s.is_task for rung in s.ladder for r in rung.roles}
        return set(self.roles) | ladder | set(self.form.confidential.get("roles", ()))

    def end_outcomes(self) -> list[str]:
        return sorted({s.ends_with for s in self.steps.values() if s.ends_with})

    def outcome_title(self, outcome: str | None) -> str:
        """An instance's outcome in words: the title of the end step that gives it."""
        if not outcome:
            return ""
        titles = [s.title for s in self.steps.values() if s.ends_with == outcome]
        return titles[0] if titles else "取消" if outcome == "cancelled" else "結案"

    def step_title(self, step_id: str | None) -> str:
        step = self.steps.get(step_id or "") or (self.start if step_id == "start" else None)
        return step.title if step else "（已刪除的步驟）"

    def printouts_at(self, printout: str) -> list[Step]:
        """The steps that issue `printout` (a printout named by a step may be printed only once it is reached)."""
        return [s for s in self.steps.values() if s.prints == printout]


@dataclass
class Site:
    name: str = "goldkey"
    timezone: str = "Asia/Shanghai"
    roles: dict[str, str] = field(default_factory=dict)  # id -> title
    calendar: BusinessCalendar = field(default_factory=BusinessCalendar)
    verify_url: str = "http://localhost:8000/verify"  # printed under the QR code, with the code appended
    admin_roles: tuple[str, ...] = ()  # who may open the admin page, check and reload definitions

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def role_title(self, role: str) -> str:
        return self.roles.get(role, "（未知職務）")

    def role_titles(self, roles) -> str:
        return "、".join(self.role_title(r) for r in roles)


@dataclass
class Registry:
    """Everything loaded from a definitions folder."""

    root: Path
    site: Site
    forms: dict[str, Form]
    workflows: dict[str, Workflow]
    problems: list
    warnings: list = field(default_factory=list)  # things to fix that do not stop the engine
    records: dict[str, RecordType] = field(default_factory=dict)  # record types (master data), by id
    record_files: dict[str, str] = field(default_factory=dict)  # records/*.yaml: relative path -> text
    reports: dict[str, Report] = field(default_factory=dict)  # reports/*.yaml, by id

    def report(self, report_id: str) -> Report:
        return _titled(self.reports, report_id, "報表")

    def record(self, record_id: str) -> RecordType:
        return _titled(self.records, record_id, "資料類別")

    def workflow(self, workflow_id: str) -> Workflow:
        try:
            return self.workflows[workflow_id]
        except KeyError:
            known = "、".join(sorted(self.workflows)) or "無"
            raise NotFound(f"沒有流程「{workflow_id}」{did_you_mean(workflow_id, self.workflows)}"
                           f"（已載入：{known}）") from None


def _titled(found: dict, key: str, what: str):
    """`found[key]`, or NotFound naming what there is by title (a report, a record type)."""
    try:
        return found[key]
    except KeyError:
        known = "、".join(v.title for v in found.values()) or "無"
        raise NotFound(f"沒有{what}「{key}」{did_you_mean(key, found)}（已定義：{known}）") from None
