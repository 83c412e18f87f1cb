"""Reports (reports/*.yaml): parameters, and tables of rows drawn from instances, tasks, ledger entries or records —
filtered, grouped, counted, summed, averaged, as rates — with a bar or line chart, or a colour grid of records.
Built from YAML here with every problem at its place; run by engine/reportsql.py (the SQL both databases run) and
engine/reportservice.py (who may run which, at which sites); written out by engine/reportout.py."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from . import exprtypes
from .errors import Invalid
from .hints import did_you_mean
from .yamlsrc import Problem, Source

SOURCES = ("instances", "tasks", "ledger", "records")
AGGREGATES = ("count", "sum", "avg", "min", "max", "rate")
# the columns each source has of its own (beside the data fields of its form or record type), and their kinds
BASE: dict[str, dict[str, str]] = {
    "instances": {"number": "text", "workflow": "workflow", "status": "status", "outcome": "outcome",
                  "started_at": "date-time", "ended_at": "date-time", "started_by": "person", "site": "site"},
    "tasks": {"number": "text", "workflow": "workflow", "step": "step", "status": "task_status", "outcome": "outcome",
              "opened_at": "date-time", "closed_at": "date-time", "due_at": "date-time", "closed_by": "person",
              "minutes": "number", "on_time": "boolean", "site": "site"},
    "ledger": {"number": "text", "workflow": "workflow", "ledger": "ledger", "entry": "entry", "amount": "money",
               "balance": "money", "at": "date-time", "actor": "person", "memo": "text", "step": "step",
               "site": "site"},
    "records": {"key": "text", "state": "text", "created_at": "date-time", "updated_at": "date-time",
                "updated_by": "person", "site": "site"},
}
# the values a condition may compare a column of these kinds with
CHOICES = {"status": ("active", "completed", "cancelled"), "task_status": ("open", "done", "cancelled", "expired")}
TIMES = {"instances": "started_at", "tasks": "closed_at", "ledger": "at", "records": None}
_GROUP = re.compile(r"^(?:(day|week|month):)?([a-z][a-z0-9_]*)$")
PARAM_KINDS = ("date", "month", "text")
DEFAULTS = ("today", "yesterday", "this_month", "last_month")


@dataclass(frozen=True)
class Param:
    id: str
    title: str
    kind: str  # date | month | text
    default: str | None = None
    choices: tuple[str, ...] = ()

    def value(self, given: str | None, today: date) -> str | None:
        """The parameter's value: as given (checked), or its default."""
        text = (given or "").strip()
        if not text:
            return _default(self.default, today) if self.default in DEFAULTS else self.default
        if self.kind == "date":
            try:
                day = date.fromisoformat(text)
            except ValueError:
                day = None
            if day is None or not 1900 <= day.year <= 9998:
                raise Invalid(f"「{self.title}」不是日期，例如 2026-12-01", [{"field": self.id, "message": "日期格式"
                                                                                        " YYYY-MM-DD"}])
            return day.isoformat()
        if self.kind == "month":
            if not re.fullmatch(r"[0-9]{4}-(0[1-9]|1[0-2])", text) or not 1900 <= int(text[:4]) <= 9998:
                raise Invalid(f"「{self.title}」不是月份，例如 2026-12",
                              [{"field": self.id, "message": "月份格式 YYYY-MM"}])
            return text
        if self.choices and text not in self.choices:
            raise Invalid(f"「{self.title}」只能是：{'、'.join(self.choices)}",
                          [{"field": self.id, "message": "選項不正確"}])
        return text[:100]


def _default(name: str, today: date) -> str:
    if name == "today":
        return today.isoformat()
    if name == "yesterday":
        return (today - timedelta(days=1)).isoformat()
    first = today.replace(day=1)
    return (first if name == "this_month" else first - timedelta(days=1)).strftime("%Y-%m")


def period(value: str) -> tuple[date, date]:
    """A date or month parameter as the local days [first, after last)."""
    if len(value) == 7:
        first = date.fromisoformat(value + "-01")
        after = (first.replace(day=28) + timedelta(days=4)).replace(day=1)
        return first, after
    day = date.fromisoformat(value)
    return day, day + timedelta(days=1)


@dataclass(frozen=True)
class Condition:
    """`field: value` (equal), `field: [a, b]` (one of), or `field: {not, gt, ge, lt, le, filled}`."""

    field: str
    op: str  # eq in not gt ge lt le filled
    value: Any


@dataclass(frozen=True)
class Column:
    id: str
    title: str
    field: str | None = None  # the field shown, or that the aggregate reads
    agg: str | None = None  # count sum avg min max rate
    where: tuple[Condition, ...] = ()  # (count and rate: which rows count)
    kind: str = "text"  # how to show it: text number money date date-time percent boolean person site


@dataclass(frozen=True)
class Group:
    field: str
    by: str | None = None  # day | week | month of a time field


@dataclass
class Table:
    id: str
    title: str
    source: str
    workflows: tuple[str, ...] = ()
    record: str | None = None
    period: str | None = None  # the time field the period parameter filters on
    period_param: str | None = None
    where: tuple[Condition, ...] = ()
    group: tuple[Group, ...] = ()
    columns: tuple[Column, ...] = ()
    sort: tuple[tuple[str, bool], ...] = ()  # (column id, descending)
    limit: int = 500
    chart: dict | None = None  # {kind: bar|line, x: column, y: [columns]}
    grid: dict | None = None  # {rows: field, cols: field, colour: field, colours: {value: "#rrggbb"}}
    kinds: dict[str, str] = field(default_factory=dict)  # every field the table may name -> its kind

    @property
    def aggregated(self) -> bool:
        return any(c.agg for c in self.columns)


@dataclass
class Report:
    id: str
    title: str
    roles: tuple[str, ...]
    params: dict[str, Param]
    tables: list[Table]
    description: str | None = None
    template: str | None = None
    path: str = ""


def field_kind(schema: dict) -> str:
    """What a form's or a record type's field holds, as a report reads it (exprtypes.kind; a table or list as text)."""
    kind = exprtypes.kind(schema)
    return "text" if kind in ("", "list", "table") else kind


def build_report(source: Source, site, forms_of: dict[str, dict], records: dict, problems: list[Problem],
                 broken: set[str] = frozenset()) -> Report:
    """The report of a file (meta-schema valid). `forms_of`: workflow id -> its form's properties; `broken`: the
    definitions reported broken in their own files (a table of one is left out without a second message)."""
    data = source.data
    for i, role in enumerate(data.get("roles", [])):
        if site.roles and role not in site.roles:
            problems.append(source.problem(("roles", i), f"unknown role '{role}'{did_you_mean(role, site.roles)}; "
                                                         "roles are declared in goldkey.yaml"))
    params = {}
    for pid, spec in data.get("params", {}).items():
        default = spec.get("default")
        if default is not None and spec["type"] in ("date", "month") and default not in DEFAULTS:
            problems.append(source.problem(("params", pid, "default"), f"default '{default}' of a {spec['type']} is "
                                                                       f"one of {', '.join(DEFAULTS)}"))
        params[pid] = Param(pid, spec.get("title", pid), spec["type"], default, tuple(spec.get("choices", ())))
    tables = [t for i, spec in enumerate(data["tables"])
              if (t := _table(source, ("tables", i), spec, params, forms_of, records, problems, broken)) is not None]
    seen: set[str] = set()
    for i, table in enumerate(tables):
        if table.id in seen:
            problems.append(source.problem(("tables", i, "id"), f"duplicate table id '{table.id}'"))
        seen.add(table.id)
    return Report(data["id"], data["title"], tuple(data.get("roles", ())), params, tables, data.get("description"),
                  data.get("template"), source.path)


def _table(source: Source, kp, spec: dict, params: dict[str, Param], forms_of: dict, records: dict,
           problems: list[Problem], broken: set[str]) -> Table | None:
    def problem(where, message: str, key: bool = False) -> None:
        problems.append(source.problem(kp + where, message, key))

    src = spec["from"]
    kinds = dict(BASE[src])
    workflows = tuple([spec["workflow"]] if isinstance(spec.get("workflow"), str) else spec.get("workflow", ()))
    record = spec.get("record")
    if src == "records":
        rt = records.get(record or "")
        if rt is None and record in broken:
            return None
        if rt is None:
            problem(("record",) if record else (), f"unknown record type '{record}'{did_you_mean(record, records)}"
                    if record else "a table from records needs `record:` naming a record type")
            return None
        kinds.update({k: field_kind(v) for k, v in rt.properties.items()})
    else:
        if record:
            problem(("record",), f"`record` belongs to a table `from: records`, not `from: {src}`", key=True)
        for i, wid in enumerate(workflows):
            if wid not in forms_of and wid in broken:
                return None
            if wid not in forms_of:
                problem(("workflow",) + ((i,) if isinstance(spec.get("workflow"), list) else ()),
                        f"unknown workflow '{wid}'{did_you_mean(wid, forms_of)}")
                return None
            kinds.update({k: field_kind(v) for k, v in forms_of[wid].items() if k not in kinds})
    period_field, period_param = None, None
    if "period" in spec:
        period_field, period_param = spec["period"].get("field", TIMES[src]), spec["period"]["param"]
        if period_param not in params or params[period_param].kind not in ("date", "month"):
            problem(("period", "param"), f"`period: {{param: {period_param}}}` must name a date or month parameter "
                                         f"({', '.join(p for p, v in params.items() if v.kind != 'text') or 'none'})")
        if period_field not in kinds or kinds[period_field] not in ("date-time", "date"):
            times = [k for k, v in kinds.items() if v in ("date", "date-time")]
            problem(("period", "field"), f"'{period_field}' is not a time of this table"
                                         f"{did_you_mean(period_field, times)} (one of: {', '.join(times)})")
    where = _conditions(source, kp + ("where",), spec.get("where", {}), kinds, params, problems)
    groups = []
    for i, text in enumerate(spec.get("group", [])):
        match = _GROUP.match(text)
        if not match or match.group(2) not in kinds:
            name = match.group(2) if match else text
            hint = did_you_mean(name, kinds)
            if hint:  # (checked on as if spelled as meant: its column is not reported again)
                groups.append(Group(hint.split("'")[1], match.group(1) if match else None))
            problem(("group", i), f"cannot group by '{text}': '{name}' is not a field of this table"
                                  f"{did_you_mean(name, kinds)}; write a field, or day:, week:, month: and a time "
                                  "field")
            continue
        if match.group(1) and kinds[match.group(2)] not in ("date", "date-time"):
            problem(("group", i), f"'{match.group(2)}' is not a time: group it without `{match.group(1)}:`")
        groups.append(Group(match.group(2), match.group(1)))
    columns = []
    broken: set[str] = set()
    for cid, cspec in spec.get("columns", {}).items():
        column = _column(source, kp + ("columns", cid), cid, cspec or {}, kinds, params, problems)
        if column is not None:
            columns.append(column)
        else:
            broken.add(cid)
    aggregated = any(c.agg for c in columns)
    if aggregated or groups:
        grouped = {g.field for g in groups}
        for column in columns:
            if not column.agg and column.field not in grouped:
                problem(("columns", column.id), f"column '{column.id}' is neither grouped by nor counted: add "
                                                f"'{column.field}' to `group`, or give it count/sum/avg/min/max/rate",
                        key=True)
    sort = []
    for i, text in enumerate(spec.get("sort", [])):
        name = text.lstrip("-")
        if name not in {c.id for c in columns}:
            problem(("sort", i), f"sort by '{name}': not a column of the table"
                                 f"{did_you_mean(name, [c.id for c in columns])}")
        sort.append((name, text.startswith("-")))
    table = Table(spec["id"], spec.get("title", spec["id"]), src, workflows, record, period_field, period_param,
                  where, tuple(groups), tuple(columns), tuple(sort), int(spec.get("limit", 500)), spec.get("chart"),
                  spec.get("grid"), kinds)
    _check_chart(source, kp, table, problems, broken)
    return table


def _column(source: Source, kp, cid: str, spec: dict, kinds: dict, params, problems) -> Column | None:
    aggs = [a for a in AGGREGATES if a in spec]
    if len(aggs) > 1:
        problems.append(source.problem(kp, f"column '{cid}' has {' and '.join(aggs)}: give it one", key=True))
        return None
    agg = aggs[0] if aggs else None
    title = spec.get("title", cid)
    if agg in ("count", "rate"):
        value = spec[agg]
        where = () if value is True else _conditions(source, kp + (agg,), value if isinstance(value, dict) else {},
                                                       kinds, params, problems)
        return Column(cid, title, None, agg, where, "percent" if agg == "rate" else "number")
    name = spec[agg] if agg else spec.get("field", cid)
    if name not in kinds:
        problems.append(source.problem(kp + ((agg,) if agg else ("field",) if "field" in spec else ()),
                                       f"no field '{name}' in this table{did_you_mean(name, kinds)}",
                                       key=not agg and "field" not in spec))
        return None
    kind = kinds[name]
    if agg in ("sum", "avg") and kind not in ("number", "money"):
        problems.append(source.problem(kp + (agg,), f"cannot {agg} '{name}': it is not a number or an amount"))
        return None
    return Column(cid, title, name, agg, (), "number" if agg == "avg" and kind == "number" else kind)


def _conditions(source: Source, kp, spec: dict, kinds: dict, params, problems) -> tuple[Condition, ...]:
    out = []
    for name, value in spec.items():
        if name not in kinds:
            problems.append(source.problem(kp + (name,), f"no field '{name}' in this table{did_you_mean(name, kinds)}",
                                           key=True))
            continue
        if isinstance(value, list):
            out.append(Condition(name, "in", tuple(value)))
        elif isinstance(value, dict):
            for op, operand in value.items():
                if op not in ("not", "gt", "ge", "lt", "le", "filled"):
                    problems.append(source.problem(kp + (name, op), f"unknown comparison '{op}'; use not, gt, ge, lt, "
                                                                    "le or filled", key=True))
                    continue
                out.append(Condition(name, op, operand))
        else:
            out.append(Condition(name, "eq", value))
    for condition in out:
        values = condition.value if isinstance(condition.value, tuple) else (condition.value,)
        for value in values:
            where = kp + (condition.field,)
            if isinstance(value, str) and value.startswith("$"):
                if value[1:] not in params:
                    problems.append(source.problem(where, f"'{value}' names no parameter of the report"
                                                          f"{did_you_mean(value[1:], params)}"))
            elif kinds.get(condition.field) in CHOICES and value not in CHOICES[kinds[condition.field]] \
                    and condition.op in ("eq", "in", "not"):
                allowed = CHOICES[kinds[condition.field]]
                problems.append(source.problem(where, f"'{condition.field}' is never '{value}'"
                                                      f"{did_you_mean(str(value), allowed)} (it is one of: "
                                                      f"{', '.join(allowed)})"))
    return tuple(out)


def _check_chart(source: Source, kp, table: Table, problems: list[Problem], broken: set[str]) -> None:
    ids = [c.id for c in table.columns]
    if table.chart:
        names = [table.chart["x"], *([table.chart["y"]] if isinstance(table.chart["y"], str) else table.chart["y"])]
        for name in names:
            if name not in ids and name not in broken:  # (a column reported already is not reported again)
                problems.append(source.problem(kp + ("chart",), f"the chart names '{name}', not a column of the table"
                                                                f"{did_you_mean(name, ids)}"))
    if table.grid:
        for part in ("rows", "cols", "colour"):
            name = table.grid[part]
            if name not in table.kinds:
                problems.append(source.problem(kp + ("grid", part), f"no field '{name}' in this table"
                                                                    f"{did_you_mean(name, table.kinds)}"))
