"""Reports for the Engine: who may run which (the report's `roles`, at the sites where they hold one; a company role
sees every site), its parameters read and checked, each table's query run (engine/reportsql.py) and its values
put in words staff read (a status, a step, a person's name); a confidential field shows as 「（保密）」 to whoever may
not read it."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from . import words
from .access import HIDDEN
from .core import Actor, iso
from .errors import Forbidden, Invalid
from .model import Registry
from .reports import Report, Table, period
from .reportsql import Query, read

TASK_STATUS = {"open": "待辦", "done": "已完成", "cancelled": "已取消", "expired": "逾時轉出"}


class Reports:
    """Reports, for the Engine (which provides `store`, `registry`, `clock`, actors and sites)."""

    registry: Registry
    store: object
    clock: Callable[[], datetime]

    def reports(self, user: str) -> list[dict]:
        """The reports `user` may run: [{id, title, description, params}]."""
        return [{"id": r.id, "title": r.title, "description": r.description,
                 "params": [{"id": p.id, "title": p.title, "type": p.kind, "default": p.default,
                             "choices": list(p.choices)} for p in r.params.values()]}
                for r in sorted(self.registry.reports.values(), key=lambda r: r.id) if self._report_sites(user, r)]

    def report_def(self, report_id: str) -> Report:
        return self.registry.report(report_id)

    def _report_sites(self, user: str, report: Report) -> dict[str, Actor]:
        return {s: a for s, a in self.actors_by_site(user).items() if a.every_role & set(report.roles)}

    def run_report(self, report_id: str, user: str | None, params: dict[str, str] | None = None,
                   site: str | None = None) -> dict:
        """Run a report as `user` with `params` (their defaults where not given), over `site` (None: every site the
        user may run it at): its tables of rows, charts and grids, every value in words. `user` None: as the
        command line runs it, over every site, every field shown."""
        report = self.registry.report(report_id)
        if user is None:
            every = Actor("", frozenset(self.registry.site.roles) | set(report.roles))
            allowed = {s: every for s in self.site_titles()}
        else:
            allowed = self._report_sites(user, report)
        if not allowed:
            raise Forbidden(f"使用者「{user}」不能查看「{report.title}」"
                            f"（需要角色：{self.registry.site.role_titles(report.roles)}）")
        titles = self.site_titles()
        if site:
            if site not in titles:
                raise Invalid(f"沒有管理處「{site}」", [{"field": "site", "message": "沒有這個管理處"}])
            if site not in allowed:
                raise Forbidden(f"使用者「{user}」不能查看管理處「{titles[site]}」的「{report.title}」")
            sites: list[str] | None = [site]
        else:
            sites = None if set(allowed) >= set(titles) else sorted(allowed)
        tz = self.registry.site.tz
        today = self.clock().astimezone(tz).date()
        given = params or {}
        unknown = sorted(set(given) - set(report.params))
        if unknown:
            raise Invalid(f"「{report.title}」沒有參數：{'、'.join(unknown)}",
                          [{"field": p, "message": "沒有這個參數"} for p in unknown])
        values = {pid: p.value(given.get(pid), today) for pid, p in report.params.items()}
        roles = frozenset().union(*(a.every_role for a in allowed.values()))
        tables = [self._table(t, values, sites, tz, roles) for t in report.tables]
        shown = sorted({c.field for t in report.tables for c in t.columns if c.field and not c.agg
                        and c.field in self._secret(t) - self._report_hidden(t, roles)})
        self.log_reads(user, [("report", report.id, report.title, shown)], "report")
        return {"id": report.id, "title": report.title, "description": report.description,
                "params": {pid: {"title": p.title, "value": values[pid]} for pid, p in report.params.items()},
                "site": titles.get(site, "") if site else ("" if sites is None or len(titles) == 1 else
                                                           "、".join(titles[s] for s in sites)),
                "generated_at": iso(self.clock()), "tables": tables}

    def _secret(self, table: Table) -> set[str]:
        """The confidential fields of a table's form or record type."""
        if table.source == "records":
            form = self.registry.records[table.record].form
            return set(form.confidential.get("fields", ())) if form.confidential else set()
        return {f for w in table.workflows for f in self.registry.workflows[w].form.confidential.get("fields", ())}

    def seeded(self, wf, data: dict, site: str) -> dict:
        """The fields the workflow's `seed:` fills from its report (run at `site`, with its parameters from the
        start data) that the data does not give: a table's rows into a table field, a column of its first row into
        another field."""
        seed = wf.seed
        params = {p: str(data[name]) for p, name in seed.get("params", {}).items() if data.get(name) not in (None, "")}
        result = self.run_report(seed["report"], None, params, site)
        tables = {t["id"]: t for t in result["tables"]}
        out: dict = {}
        for name, path in seed["values"].items():
            if data.get(name) not in (None, "", []):
                continue
            table_id, _, column = path.partition(".")
            table = tables[table_id]
            ids = [c["id"] for c in table["columns"]]
            if column:
                value = table["rows"][0][ids.index(column)] if table["rows"] else None
            else:
                value = [{k: v for k, v in zip(ids, row, strict=True) if v is not None} for row in table["rows"]]
            if value not in (None, "", []):
                out[name] = value
        return out

    def _table(self, table: Table, values: dict, sites, tz, roles: frozenset[str]) -> dict:
        value = values.get(table.period_param or "")
        bounds = period(value) if value else None
        query = Query(self.store, table, values, sites, tz, bounds)
        raw = self.store.conn.execute(query.sql, query.args).fetchall()
        hidden = self._report_hidden(table, roles)
        if table.grid:
            return dict(self._grid(table, raw, hidden), id=table.id, title=table.title)
        columns = [{"id": c.id, "title": c.title, "kind": c.kind} for c in table.columns]
        names = self.store.display_names() if any(c.kind == "person" for c in table.columns) else {}
        rows = []
        for r in raw:
            cells = []
            for column, how, cell in zip(table.columns, query.reads, r, strict=True):
                cell = read(how, cell)
                if not column.agg and column.field in hidden and cell not in (None, ""):
                    cell = HIDDEN
                cells.append(self._word(table, column.kind, cell, names))
            rows.append(cells)
        return {"id": table.id, "title": table.title, "columns": columns, "rows": rows, "chart": table.chart}

    def _report_hidden(self, table: Table, roles: frozenset[str]) -> set[str]:
        if table.source == "records":
            return self.registry.records[table.record].form.hidden_from(roles)
        return set().union(*(self.registry.workflows[w].form.hidden_from(roles) for w in table.workflows))

    def _grid(self, table: Table, raw: list, hidden: set[str]) -> dict:
        g = table.grid
        rows: list[str] = []
        cols: list[str] = []
        cells: dict[tuple[str, str], str] = {}
        for r, c, colour in raw:
            r, c = str(r or ""), str(c or "")
            rows += [] if r in rows else [r]
            cols += [] if c in cols else [c]
            cells[(r, c)] = HIDDEN if g["colour"] in hidden else colour
        cols.sort(key=lambda c: (len(c), c))
        counts: dict[str, int] = {}
        for value in cells.values():
            counts[value] = counts.get(value, 0) + 1
        legend = [{"value": v, "colour": g.get("colours", {}).get(v, "#dddddd"), "count": counts.get(v, 0)}
                  for v in dict.fromkeys([*g.get("colours", {}), *sorted(counts)])]
        return {"grid": {"rows": rows, "cols": cols, "cells": [[cells.get((r, c)) for c in cols] for r in rows],
                         "legend": legend, "row_title": _title(self, table, g["rows"]),
                         "col_title": _title(self, table, g["cols"])},
                "columns": [], "rows": [], "chart": None}

    def _word(self, table: Table, kind: str, value, names: dict[str, str]):
        """A stored id as the words staff read (statuses, steps, outcomes, ledger entries, names, sites)."""
        if value is None or value == HIDDEN:
            return value
        wfs = [self.registry.workflows[w] for w in table.workflows if w in self.registry.workflows]
        if kind == "status":
            return words.status(value)
        if kind == "task_status":
            return TASK_STATUS.get(value, value)
        if kind == "workflow":
            wf = self.registry.workflows.get(value)
            return wf.title if wf else value
        if kind == "step":
            return next((wf.step_title(value) for wf in wfs if value in wf.steps or value == "start"), value)
        if kind == "outcome":
            return next((wf.outcome_title(value) for wf in wfs), value)
        if kind == "entry":
            return next((lg.entry_title(value) for wf in wfs for lg in wf.ledgers.values() if value in lg.entries),
                        value)
        if kind == "ledger":
            return next((wf.ledgers[value].title for wf in wfs if value in wf.ledgers), value)
        if kind == "person":
            return names.get(value, value)
        if kind == "site":
            return self.site_titles().get(value, value)
        return value


def _title(engine, table: Table, name: str) -> str:
    """A field's title in a table's source."""
    if table.source == "records":
        return engine.registry.records[table.record].form.title_of(name)
    for wid in table.workflows:
        form = engine.registry.workflows[wid].form
        if name in form.properties:
            return form.title_of(name)
    return name


FILES = {"csv": "text/csv; charset=utf-8", "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
         "docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document"}


def report_file(engine, result: dict, kind: str) -> tuple[bytes, str]:
    """A report run as a file of `kind` (csv, xlsx, docx): its bytes and its name."""
    from . import reportout

    tz = engine.registry.site.tz
    if kind == "csv":
        body = reportout.to_csv(result, tz)
    elif kind == "xlsx":
        body = reportout.to_xlsx(result, tz)
    elif kind == "docx":
        body = _docx(engine, result, tz)
    else:
        raise Invalid(f"報表可匯出為 .csv、.xlsx 或 .docx，沒有 .{kind}",
                      [{"field": "format", "message": "格式不正確"}])
    stamp = "_".join(p["value"] for p in result["params"].values() if p["value"])
    return body, f"{result['title']}{'_' + stamp if stamp else ''}.{kind}"


def _docx(engine, result: dict, tz) -> bytes:
    """Through the report's own template (printouts/, the printout engine and its sandbox), else a plain document."""
    from . import printouts, reportout

    report = engine.registry.report(result["id"])
    site = result.get("site") or engine.registry.site.name
    if not report.template:
        return reportout.to_docx(result, tz, site)
    try:
        template = printouts.load(engine.registry.root / "printouts" / report.template)
        tables = {}
        for table in result["tables"]:
            header, rows = reportout._plain_table(table, tz)
            ids = [c["id"] for c in table["columns"]]
            tables[table["id"]] = {"title": table["title"], "header": header, "rows": rows,
                                   "records": [dict(zip(ids, row, strict=False)) for row in rows]}
        context = {"title": result["title"], "site": site, "tables": tables,
                   "params": {k: p["value"] or "" for k, p in result["params"].items()},
                   "generated_at": reportout.cell_text("date-time", result["generated_at"], tz)}
        return printouts.render(template, context)
    except (OSError, printouts.TemplateProblem) as exc:
        import logging

        logging.getLogger("goldkey.engine").warning("report template %s cannot be used: %s", report.template, exc)
        raise Invalid(f"報表範本 printouts/{report.template} 無法使用，請通知管理人員修正範本") from None
