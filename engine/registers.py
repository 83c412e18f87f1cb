"""Registers (臺帳): a form's records as rows, searched, filtered, sorted and paged; CSV and Excel exports."""

from __future__ import annotations

import csv
import io
from datetime import UTC, date, datetime, time, timedelta

from .jsontext import loads
from .money import fen_text

PER_PAGE = 50
SORTS = {"number": "i.number", "started": "i.started_at", "status": "i.status", "updated": "i.updated_at"}
STATUS_ZH = {"active": "進行中", "completed": "已完成", "cancelled": "已取消"}


def query(store, workflows: list[str], tz, search: str = "", status: str = "", first: date | None = None,
          last: date | None = None, unit: str = "", sort: str = "-started", page: int = 1,
          per_page: int = PER_PAGE) -> tuple[list[dict], int]:
    """(rows, total) of the instances of `workflows` (those on one form) matching the filters; each row has the
    instance's id, number, workflow, status, started_at/by and data."""
    where = [f"i.workflow IN ({','.join('?' * len(workflows))})"]
    args: list = list(workflows)
    if status:
        where.append("i.status = ?")
        args.append(status)
    for bound, op, day in (("started_at", ">=", first), ("started_at", "<", last + timedelta(1) if last else None)):
        if day:
            where.append(f"i.{bound} {op} ?")
            args.append(_utc(day, tz))
    if unit:
        where.append("json_extract(i.state, '$.data.unit') LIKE ?")
        args.append(f"%{_like(unit)}%")
    if search:
        where.append("(i.number LIKE ? ESCAPE '\\' OR json_extract(i.state, '$.data') LIKE ? ESCAPE '\\')")
        args += [f"%{_like(search)}%"] * 2
    column = SORTS.get(sort.lstrip("-"), "i.started_at")
    order = f"{column} {'DESC' if sort.startswith('-') else 'ASC'}, i.id DESC"
    sql_where = " AND ".join(where)
    total = store.conn.execute(f"SELECT count(*) FROM instances i WHERE {sql_where}", args).fetchone()[0]
    cur = store.conn.execute(
        f"SELECT i.id, i.number, i.workflow, i.status, i.outcome, i.started_at, i.started_by, i.ended_at, "
        f"json_extract(i.state, '$.data'), json_extract(i.state, '$.balances') FROM instances i WHERE {sql_where} "
        f"ORDER BY {order} LIMIT ? OFFSET ?", args + [per_page, max(page - 1, 0) * per_page])
    rows = [{"id": r[0], "number": r[1], "workflow": r[2], "status": r[3], "outcome": r[4], "started_at": r[5],
             "started_by": r[6], "ended_at": r[7], "data": loads(r[8] or "{}"),
             "balances": {k: fen_text(v) for k, v in loads(r[9] or "{}").items()}} for r in cur]
    return rows, total


def _utc(day: date, tz) -> str:
    """The start of a local day as stored (UTC)."""
    return datetime.combine(day, time(), tz).astimezone(UTC).isoformat(timespec="seconds")


def _like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def table(form, rows: list[dict], hidden: set[str], titles: dict[str, str]) -> tuple[list[str], list[list[str]]]:
    """Header and cells of a register: number, procedure, status, started, starter, then every form field
    (hidden ones as 保密); values as text."""
    fields = list(form.properties)
    header = ["編號", "流程", "狀態", "開始時間", "經辦人"] + [form.title_of(f) for f in fields]
    out = []
    for row in rows:
        cells = [row["number"] or "", titles.get(row["workflow"], row["workflow"]),
                 STATUS_ZH.get(row["status"], row["status"]), row["started_at"], row["started_by"]]
        for name in fields:
            value = row["data"].get(name)
            cells.append("（保密）" if name in hidden and value not in (None, "") else _text(value))
        out.append(cells)
    return header, out


def _text(value) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "是" if value else "否"
    if isinstance(value, list):
        return "、".join(_text(v) for v in value)
    if isinstance(value, dict):
        return "，".join(f"{k}：{_text(v)}" for k, v in value.items())
    return str(value)


def _safe_cell(text: str) -> str:
    """A cell a spreadsheet will not run as a formula (CSV injection): a leading = + - @ gets a quote."""
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def to_csv(header: list[str], cells: list[list[str]]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(header)
    writer.writerows([[_safe_cell(c) for c in row] for row in cells])
    return ("\ufeff" + out.getvalue()).encode("utf-8")  # the BOM: Excel opens UTF-8 CSV as UTF-8


def to_xlsx(title: str, header: list[str], cells: list[list[str]]) -> bytes:
    from openpyxl import Workbook

    book = Workbook(write_only=True)
    sheet = book.create_sheet(title=title[:31] or "臺帳")
    sheet.append(header)
    for row in cells:
        sheet.append([_safe_cell(c) for c in row])
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()
