"""Records to and from sheets: a .csv or .xlsx file read into rows of field values (its header row names the fields by
their titles, as an export writes them, or by their ids), and records written out as such a sheet. Cells become
the values the schema asks for (a number, a date, 是/否); what cannot be read is kept as text for the record's
validation to report at its row."""

from __future__ import annotations

import csv
import io
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from .errors import Invalid
from .records import RecordType

MAX_ROWS = 100_000
STATE_COLUMN = "狀態"
SITE_COLUMN = "管理處"
_TRUE = {"是", "有", "true", "yes", "y", "1", "√", "✓"}
_FALSE = {"否", "無", "false", "no", "n", "0"}


def read_sheet(rt: RecordType, body: bytes, name: str) -> list[dict]:
    """The rows of a .csv or .xlsx file as {field: value} (and `state`), empty cells left out."""
    suffix = name.rsplit(".", 1)[-1].lower() if "." in name else ""
    if suffix == "csv":
        table = _csv_rows(body)
    elif suffix == "xlsx":
        table = _xlsx_rows(body)
    else:
        raise Invalid("只能匯入 .csv 或 .xlsx 檔案", [{"field": "file", "message": "請選擇 .csv 或 .xlsx 檔案"}])
    header = next(table, None)
    if header is None:
        raise Invalid("檔案是空的：第一行應是欄位名稱", [{"field": "file", "message": "檔案是空的"}])
    columns = _columns(rt, header)
    rows = []
    for cells in table:
        if len(rows) >= MAX_ROWS:
            raise Invalid(f"一次最多匯入 {MAX_ROWS} 行，請分成幾個檔案", [{"field": "file", "message": "行數過多"}])
        row: dict = {}
        for field, cell in zip(columns, cells, strict=False):
            if field is None or cell is None or (isinstance(cell, str) and not cell.strip()):
                continue
            row[field] = cell.strip() if field == "state" else value(rt.properties[field], cell)
        rows.append(row)
    while rows and not rows[-1]:  # (a sheet's blank rows at the end)
        rows.pop()
    return rows


def _columns(rt: RecordType, header: list) -> list[str | None]:
    """The field each column holds, by its title or id; a column of no field is refused (nothing is read)."""
    names: dict[str, str] = {}
    for field, schema in rt.properties.items():
        names[field] = field
        names.setdefault(str(schema.get("title") or field), field)
    if rt.states:
        names.update({STATE_COLUMN: "state", "state": "state"})
    out: list[str | None] = []
    unknown = []
    for cell in header:
        text = "" if cell is None else str(cell).strip()
        if not text or text == SITE_COLUMN:
            out.append(None)
        elif text in names:
            out.append(names[text])
        else:
            unknown.append(text)
    if unknown:
        known = "、".join(str(s.get("title") or f) for f, s in rt.properties.items())
        raise Invalid(f"第 1 行的欄位「{'」「'.join(unknown)}」不是{rt.title}的欄位（可用：{known}"
                      f"{'、' + STATE_COLUMN if rt.states else ''}）", [{"field": "file", "message": "欄位名稱不正確"}])
    missing = [f for f in rt.key if f not in out]
    if missing:
        raise Invalid(f"檔案缺少欄位「{'」「'.join(rt.form.title_of(f) for f in missing)}」：每一行都要有它",
                      [{"field": "file", "message": "缺少關鍵欄位"}])
    return out


def value(schema: dict, cell: Any) -> Any:
    """A cell as the value the field's schema asks for; as text when it cannot be read so."""
    kind = schema.get("type")
    if isinstance(cell, datetime):
        return cell.date().isoformat() if schema.get("format") == "date" else cell.isoformat()
    if isinstance(cell, date):
        return cell.isoformat()
    if kind == "boolean":
        text = str(cell).strip().lower()
        return True if text in _TRUE else False if text in _FALSE else str(cell)
    if kind in ("number", "integer"):
        if isinstance(cell, bool):
            return str(cell)
        try:
            number = Decimal(str(cell).strip().replace(",", ""))
        except InvalidOperation:
            return str(cell).strip()
        if number == number.to_integral_value():
            return int(number)
        return float(number) if kind == "number" else str(cell)
    if isinstance(cell, float) and cell.is_integer():
        return str(int(cell))  # (a unit number Excel keeps as 1203.0)
    return str(cell).strip()


def _csv_rows(body: bytes):
    for encoding in ("utf-8-sig", "gb18030"):  # (Excel in Chinese saves CSV as GB18030 unless told otherwise)
        try:
            text = body.decode(encoding)
            break
        except UnicodeDecodeError:
            continue
    else:
        raise Invalid("檔案不是 UTF-8 或 GB18030 編碼的文字", [{"field": "file", "message": "無法讀取檔案"}])
    return iter(csv.reader(io.StringIO(text)))


def _xlsx_rows(body: bytes):
    from zipfile import BadZipFile

    from openpyxl import load_workbook

    try:
        book = load_workbook(io.BytesIO(body), read_only=True, data_only=True)
    except (BadZipFile, KeyError, OSError, ValueError):
        raise Invalid("檔案不是有效的 .xlsx 活頁簿", [{"field": "file", "message": "無法讀取檔案"}]) from None
    sheet = book.worksheets[0]
    return (list(row) for row in sheet.iter_rows(values_only=True))


def table(rt: RecordType, rows: list[dict], sites: dict[str, str] | None = None,
          hidden: set[str] = frozenset()) -> tuple[list[str], list[list[str]]]:
    """Header and cells of records as a sheet an import reads back: the fields by title (without those hidden from
    the reader), the state, (with `sites`) the site."""
    fields = [f for f in rt.properties if f not in hidden]
    header = [rt.form.title_of(f) for f in fields] + ([STATE_COLUMN] if rt.states else [])
    header += [SITE_COLUMN] if sites else []
    out = []
    for row in rows:
        cells = ["" if row["data"].get(f) is None else _text(row["data"][f]) for f in fields]
        cells += [row["state"] or ""] if rt.states else []
        cells += [sites.get(row["site"], "")] if sites else []
        out.append(cells)
    return header, out


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "是" if value else "否"
    return str(value)
