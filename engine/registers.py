"""Registers (臺帳): a form's records as rows, searched, filtered, sorted and paged; CSV and Excel exports."""

from __future__ import annotations

import csv
import io
from datetime import UTC, date, datetime, time, timedelta

from . import words
from .access import HIDDEN

PER_PAGE = 50


def bounds(first: date | None, last: date | None, tz) -> tuple[str | None, str | None]:
    """Local dates (inclusive) as the UTC start times a register is filtered on: [from, to); a date at the edge of
    the calendar (0001-01-01, 9999-12-31) bounds nothing."""
    return (_utc(first, tz) if first else None), (_utc(last, tz, 1) if last else None)


def _utc(day: date, tz, after: int = 0) -> str | None:
    """The start of a local day (or of the day `after` it) as stored (UTC); None past the calendar's ends."""
    try:
        return datetime.combine(day + timedelta(after), time(), tz).astimezone(UTC).isoformat(timespec="seconds")
    except OverflowError:
        return None


def table(form, rows: list[dict], hidden: set[str], titles: dict[str, str],
          sites: dict[str, str] | None = None) -> tuple[list[str], list[list[str]]]:
    """Header and cells of a register: number, procedure, (with `sites`, id -> title: the site,) status, started,
    starter, then every form field (hidden ones as 保密); values as text."""
    fields = list(form.properties)
    header = ["編號", "流程", *(["管理處"] if sites else []), "狀態", "開始時間", "經辦人"]
    header += [form.title_of(f) for f in fields]
    out = []
    for row in rows:
        cells = [row["number"] or "", titles.get(row["workflow"], row["workflow"]),
                 *([sites.get(row["site"], "")] if sites else []),
                 words.status(row["status"]), row["started_at"], row["started_by"]]
        for name in fields:
            value = row["data"].get(name)
            cells.append(HIDDEN if name in hidden and value not in (None, "") else _text(value, form.properties[name]))
        out.append(cells)
    return header, out


def _text(value, schema: dict) -> str:
    """A value as a cell: yes/no in words, lists joined, a table's rows with their columns' titles."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "是" if value else "否"
    if schema.get("format") == "signature":  # (the picture's id is for the system, not for a sheet)
        return "已簽名" if value else ""
    if isinstance(value, list):
        items = schema.get("items") if isinstance(schema.get("items"), dict) else {}
        return "、".join(_text(v, items) for v in value)
    if isinstance(value, dict):
        props = schema.get("properties", {})
        return "，".join(f"{props.get(k, {}).get('title') or k}：{_text(v, props.get(k, {}))}"
                        for k, v in value.items())
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
