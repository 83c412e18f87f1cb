"""A report table as one SQL query both databases run: its source joined to the instances it belongs to, filtered by
workflow or record type, site, period and `where`, grouped (by a field, or by the local day, week or month of a
time) and aggregated in the database, so a report over 100,000 instances costs about what the query costs. The
store supplies what the dialects write differently (JSON fields, local time, numbers)."""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from typing import Any

from .reports import BASE, Column, Condition, Table

_FROM = {
    "instances": "instances i",
    "tasks": "tasks t JOIN instances i ON i.id = t.instance_id",
    "ledger": "ledger_entries l JOIN instances i ON i.id = l.instance_id",
    "records": "records r",
}
_COLUMNS = {
    "instances": {"number": "i.number", "workflow": "i.workflow", "status": "i.status", "outcome": "i.outcome",
                  "started_at": "i.started_at", "ended_at": "i.ended_at", "started_by": "i.started_by",
                  "site": "i.site"},
    "tasks": {"number": "i.number", "workflow": "i.workflow", "step": "t.step", "status": "t.status",
              "outcome": "t.outcome", "opened_at": "t.opened_at", "closed_at": "t.closed_at", "due_at": "t.due_at",
              "closed_by": "t.closed_by", "site": "i.site"},
    "ledger": {"number": "l.number", "workflow": "l.workflow", "ledger": "l.ledger", "entry": "l.entry",
               "amount": "l.amount", "balance": "l.balance", "at": "l.at", "actor": "l.actor", "memo": "l.memo",
               "step": "l.step", "site": "i.site"},
    "records": {"key": "r.key", "state": "r.state", "created_at": "r.created_at", "updated_at": "r.updated_at",
                "updated_by": "r.updated_by", "site": "r.site"},
}
_FEN = {"ledger": {"amount", "balance"}}  # money columns kept in fen already


class Query:
    """The SQL of one table of a report run: `sql`, `args`, and how to read each column of a row."""

    def __init__(self, store, table: Table, params: dict[str, Any], sites: list[str] | None, tz,
                 bounds: tuple[date, date] | None) -> None:
        self.store, self.table, self.params, self.tz = store, table, params, tz
        self.args: list = []
        # SQLite has no time zones: the site's offset at the period (fixed for the zones of China)
        moment = datetime.combine(bounds[0] if bounds else date.today(), time(12), tz)
        self.offset = int(moment.utcoffset().total_seconds() // 60)
        where = self._scope(sites)
        if bounds and table.period:
            expr = self._utc(table.period)
            start, end = (datetime.combine(d, time(), tz).astimezone(UTC).isoformat(timespec="seconds")
                          for d in bounds)
            if table.kinds.get(table.period) == "date":
                start, end = bounds[0].isoformat(), bounds[1].isoformat()
            where.append(f"{expr} >= ? AND {expr} < ?")
            self.args += [start, end]
        where += [self._condition(c) for c in table.where if not self._skipped(c)]
        where_args, self.args = self.args, []  # (the SELECT's parameters come first in the statement)
        self.reads: list[str] = []  # per output column: how to read it (money_fen, number, value)
        if table.grid:
            g = table.grid
            select = [self._field(g["rows"]), self._field(g["cols"]), self._field(g["colour"])]
            self.sql = (f"SELECT {', '.join(select)} FROM {_FROM[table.source]} WHERE {' AND '.join(where)} "
                        f"ORDER BY 1, 2 LIMIT 20000")
            self.reads = ["value", "value", "value"]
            self.args += where_args
            return
        grouped = table.aggregated or table.group
        select, group_by = [], []
        keys = {g.field: self._group(g) for g in table.group}
        for column in table.columns:
            if column.agg:
                select.append(self._aggregate(column))
            elif grouped:
                select.append(keys[column.field])
                self.reads.append(self._read(column))
            else:
                select.append(self._field(column.field))
                self.reads.append(self._read(column))
        group_by = list(keys.values())
        sql = f"SELECT {', '.join(select)} FROM {_FROM[table.source]} WHERE {' AND '.join(where)}"
        if group_by:
            sql += f" GROUP BY {', '.join(group_by)}"
        ids = [c.id for c in table.columns]
        order = [f"{ids.index(name) + 1} {'DESC' if desc else 'ASC'}" for name, desc in table.sort if name in ids]
        if not order and group_by:
            order = [str(ids.index(g.field) + 1) for g in table.group if g.field in ids] or ["1"]
        if not order and not grouped and table.period:
            order = [f"{self._utc(table.period)} DESC"]
        sql += f" ORDER BY {', '.join(order)}" if order else ""
        self.sql = sql + f" LIMIT {int(table.limit)}"
        self.args += where_args

    # --- parts ------------------------------------------------------------------------------------------------
    def _scope(self, sites: list[str] | None) -> list[str]:
        table = self.table
        where = []
        if table.source == "records":
            where.append("r.type = ?")
            self.args.append(table.record)
        else:
            marks = ",".join("?" * len(table.workflows))
            where.append(f"{'l' if table.source == 'ledger' else 'i'}.workflow IN ({marks})")
            self.args += list(table.workflows)
        if sites is not None:
            alias = "r" if table.source == "records" else "i"
            where.append(f"{alias}.site IN ({','.join('?' * len(sites)) or 'NULL'})")
            self.args += sites
        return where

    def _field(self, name: str) -> str:
        """SQL for a field of a row: a column of the source, a task's minutes or on-time, or a data field."""
        source = self.table.source
        column = _COLUMNS[source].get(name)
        if column:
            return column
        if source == "tasks" and name == "minutes":
            return self.store.minutes_between("t.opened_at", "t.closed_at")
        if source == "tasks" and name == "on_time":
            return "(t.due_at IS NULL OR (t.closed_at IS NOT NULL AND t.closed_at <= t.due_at))"
        if source == "records":
            return self.store.json_at("r.data", name)
        return self.store.json_at("i.state", f"data.{name}")

    def _utc(self, name: str) -> str:
        """A time field as canonical UTC text (a form's date-time keeps the offset it was entered with)."""
        expr = self._field(name)
        if name in BASE[self.table.source] or self.table.kinds.get(name) != "date-time":
            return expr
        return self.store.utc_text(expr)

    def _number(self, name: str) -> str:
        expr = self._field(name)
        if name in _FEN.get(self.table.source, ()):
            return expr
        if self.table.kinds.get(name) == "money":
            return self.store.money_fen(expr)
        if self.table.kinds.get(name) == "boolean" and name not in BASE[self.table.source]:
            return f"(CASE WHEN {self.store.json_true(expr)} THEN 1 ELSE 0 END)"
        return self.store.as_number(expr)

    def _group(self, group) -> str:
        if group.by is None:
            if self.table.kinds.get(group.field) == "boolean" and group.field not in BASE[self.table.source]:
                return f"(CASE WHEN {self.store.json_true(self._field(group.field))} THEN 1 ELSE 0 END)"
            return self._field(group.field)
        return self.store.local_time(self._utc(group.field), self.tz.key, self.offset, group.by)

    def _aggregate(self, column: Column) -> str:
        agg = column.agg
        if agg in ("count", "rate"):
            self.reads.append("number" if agg == "count" else "rate")
            if not column.where:
                return "count(*)" if agg == "count" else "1.0"
            cond = " AND ".join(self._condition(c) for c in column.where if not self._skipped(c)) or "1=1"
            if agg == "count":
                return f"coalesce(sum(CASE WHEN {cond} THEN 1 ELSE 0 END), 0)"
            return f"avg(CASE WHEN {cond} THEN 1.0 ELSE 0.0 END)"
        kind = self.table.kinds.get(column.field)
        self.reads.append("money_fen" if kind == "money" else "number" if kind in ("number", "boolean") else "value")
        if kind in ("money", "number", "boolean"):
            return f"{agg}({self._number(column.field)})"
        return f"{agg}({self._field(column.field)})"

    def _read(self, column: Column) -> str:
        if column.field in _FEN.get(self.table.source, ()):
            return "money_fen"
        return "value"

    def _skipped(self, condition: Condition) -> bool:
        """A condition on a parameter left empty filters nothing."""
        value = condition.value
        return isinstance(value, str) and value.startswith("$") and not self.params.get(value[1:])

    def _condition(self, c: Condition) -> str:
        kind = self.table.kinds.get(c.field, "text")
        value = self.params.get(c.value[1:]) if isinstance(c.value, str) and c.value.startswith("$") else c.value
        json_bool = kind == "boolean" and c.field not in BASE[self.table.source]
        expr = self._field(c.field)
        if c.op == "filled":
            test = f"({expr} IS NOT NULL AND {expr} <> '')" if not json_bool and kind == "text" else \
                f"({expr} IS NOT NULL)"
            return test if value else f"NOT {test}"
        if kind == "boolean":
            truth = self.store.json_true(expr) if json_bool else expr
            want = bool(value) if c.op == "eq" else not bool(value)
            return truth if want else f"NOT {truth}"
        if value is None:
            return f"{expr} IS NULL" if c.op == "eq" else f"{expr} IS NOT NULL"
        numeric = kind in ("number", "money")
        target = self._number(c.field) if numeric else (self._utc(c.field) if kind == "date-time" else expr)

        def arg(v: Any) -> Any:
            return _fen(v) if kind == "money" else v  # (money is compared in fen)

        if c.op == "in":
            self.args += [arg(v) for v in value]
            return f"{target} IN ({','.join('?' * len(value))})"
        if c.op == "not":
            self.args.append(arg(value))
            return f"({target} IS NULL OR {target} <> ?)"
        self.args.append(arg(value))
        return f"{target} {dict(eq='=', gt='>', ge='>=', lt='<', le='<=')[c.op]} ?"


def _fen(value: Any) -> Any:
    from decimal import Decimal

    try:
        return int(Decimal(str(value)) * 100)
    except ArithmeticError:
        return value


def read(kind: str, value: Any) -> Any:
    """A value of a query's row as a report cell: fen to money text, rates and numbers plain."""
    if value is None:
        return None
    if kind == "money_fen":
        from .money import fen_text

        return fen_text(int(round(float(value))))
    if kind in ("number", "rate"):
        number = float(value)
        return int(number) if number.is_integer() and kind == "number" else round(number, 4)
    if isinstance(value, bytes):
        return value.decode()
    return value
