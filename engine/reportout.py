"""A report run written out: cells as staff read them, a chart as SVG, and the whole as CSV, .xlsx (typed cells,
column widths, frozen header, filters, the colour grid filled) or .docx (a template of printouts/ through the
printout engine, or a plain document of its tables)."""

from __future__ import annotations

import csv
import io
from datetime import date, datetime
from decimal import Decimal
from html import escape
from typing import Any

from .registers import _safe_cell

MONEY_FORMAT = "#,##0.00"


def cell_text(kind: str, value: Any, tz) -> str:
    """A cell as staff read it on a page, in a CSV and in a Word table."""
    if value is None:
        return ""
    if kind == "percent" and isinstance(value, int | float):
        return f"{value * 100:.1f}%"
    if kind == "boolean" or isinstance(value, bool):
        return "是" if value in (True, 1) else "否"
    if kind == "date-time" and isinstance(value, str):
        try:
            return datetime.fromisoformat(value).astimezone(tz).strftime("%Y-%m-%d %H:%M")
        except ValueError:
            return value
    if isinstance(value, float):
        return f"{value:,.2f}".rstrip("0").rstrip(".") if not value.is_integer() else f"{int(value):,}"
    if kind == "money":
        try:
            return f"{Decimal(str(value)):,.2f}"
        except ArithmeticError:
            return str(value)
    return str(value)


def to_csv(result: dict, tz) -> bytes:
    """Each table after the other: its title, its header, its rows (a grid as its rows of states)."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow([result["title"], *_param_line(result)])
    for table in result["tables"]:
        writer.writerow([])
        writer.writerow([table["title"]])
        header, rows = _plain_table(table, tz)
        writer.writerow(header)
        writer.writerows([[_safe_cell(c) for c in row] for row in rows])
    return ("\ufeff" + out.getvalue()).encode("utf-8")


def _param_line(result: dict) -> list[str]:
    line = [f"{p['title']}：{p['value']}" for p in result["params"].values() if p["value"]]
    return line + ([f"管理處：{result['site']}"] if result.get("site") else [])


def _plain_table(table: dict, tz) -> tuple[list[str], list[list[str]]]:
    if table.get("grid"):
        g = table["grid"]
        return [f"{g['row_title']}＼{g['col_title']}", *g["cols"]], [
            [r, *[(c or "") for c in cells]] for r, cells in zip(g["rows"], g["cells"], strict=True)]
    kinds = [c["kind"] for c in table["columns"]]
    return [c["title"] for c in table["columns"]], [[cell_text(k, v, tz) for k, v in zip(kinds, row, strict=True)]
                                                    for row in table["rows"]]


def to_xlsx(result: dict, tz) -> bytes:
    """One sheet per table: numbers as numbers (money with two places, rates as percentages), times as times,
    the header frozen with filters and columns as wide as their text; a grid's cells filled with their colours."""
    from openpyxl import Workbook
    from openpyxl.styles import Font, PatternFill
    from openpyxl.utils import get_column_letter

    book = Workbook()
    book.remove(book.active)
    used: set[str] = set()
    for table in result["tables"]:
        name = _sheet_name(table["title"], used)
        sheet = book.create_sheet(title=name)
        if table.get("grid"):
            header, rows = _plain_table(table, tz)
            sheet.append(header)
            fills = {item["value"]: item["colour"].lstrip("#") for item in table["grid"]["legend"]}
            for row in rows:
                sheet.append([_safe_cell(str(c)) for c in row])
                for cell in sheet[sheet.max_row][1:]:
                    if cell.value in fills:
                        cell.fill = PatternFill("solid", fgColor=fills[cell.value])
            widths = [max(len(str(c)) for c in col) for col in zip(header, *rows, strict=False)] if rows else []
        else:
            header = [c["title"] for c in table["columns"]]
            sheet.append(header)
            kinds = [c["kind"] for c in table["columns"]]
            for row in table["rows"]:
                sheet.append([_typed(k, v, tz) for k, v in zip(kinds, row, strict=True)])
                for cell, kind in zip(sheet[sheet.max_row], kinds, strict=True):
                    if kind == "money":
                        cell.number_format = MONEY_FORMAT
                    elif kind == "percent":
                        cell.number_format = "0.0%"
                    elif kind == "date-time":
                        cell.number_format = "yyyy-mm-dd hh:mm"
                    elif kind == "date":
                        cell.number_format = "yyyy-mm-dd"
            widths = [max([_width(h)] + [_width(cell_text(k, r[i], tz)) for r in table["rows"]])
                      for i, (h, k) in enumerate(zip(header, kinds, strict=True))]
        for cell in sheet[1]:
            cell.font = Font(bold=True)
        sheet.freeze_panes = "A2" if not table.get("grid") else "B2"
        if sheet.max_row > 1 and sheet.max_column:
            sheet.auto_filter.ref = f"A1:{get_column_letter(sheet.max_column)}{sheet.max_row}"
        for i, width in enumerate(widths, start=1):
            sheet.column_dimensions[get_column_letter(i)].width = min(max(width + 2, 6), 60)
    if not book.worksheets:
        book.create_sheet(title=result["title"][:31])
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def _sheet_name(title: str, used: set[str]) -> str:
    base = "".join(c for c in title if c not in "[]:*?/\\")[:28] or "表"
    name, n = base, 2
    while name in used:
        name, n = f"{base}{n}", n + 1
    used.add(name)
    return name


def _width(text: str) -> int:
    """Columns of a spreadsheet a text takes (a Chinese character two)."""
    return sum(2 if ord(c) > 0x2E80 else 1 for c in str(text))


def _typed(kind: str, value: Any, tz) -> Any:
    if value is None:
        return None
    if kind == "money":
        try:
            return Decimal(str(value))
        except ArithmeticError:
            return _safe_cell(str(value))
    if kind in ("number", "percent") and isinstance(value, int | float):
        return value
    if kind == "date-time" and isinstance(value, str):
        try:
            return datetime.fromisoformat(value).astimezone(tz).replace(tzinfo=None)
        except ValueError:
            return _safe_cell(value)
    if kind == "date" and isinstance(value, str):
        try:
            return date.fromisoformat(value)
        except ValueError:
            return _safe_cell(value)
    if isinstance(value, bool):
        return "是" if value else "否"
    return _safe_cell(str(value)) if isinstance(value, str) else value


def to_docx(result: dict, tz, site_name: str) -> bytes:
    """A plain Word document of the report: its title, parameters and each table (a grid with its colours)."""
    import docx
    from docx.enum.text import WD_ALIGN_PARAGRAPH
    from docx.oxml import OxmlElement
    from docx.oxml.ns import qn
    from docx.shared import Pt

    document = docx.Document()
    style = document.styles["Normal"]
    style.font.size = Pt(10.5)
    style.element.get_or_add_rPr().get_or_add_rFonts().set(qn("w:eastAsia"), "SimSun")
    heading = document.add_heading(result["title"], level=1)
    heading.alignment = WD_ALIGN_PARAGRAPH.CENTER
    document.add_paragraph("　".join([site_name, *_param_line(result)]))
    colours = {}
    for table in result["tables"]:
        document.add_heading(table["title"], level=2)
        header, rows = _plain_table(table, tz)
        if table.get("grid"):
            colours = {i["value"]: i["colour"].lstrip("#") for i in table["grid"]["legend"]}
        grid = document.add_table(rows=1 + len(rows), cols=len(header))
        grid.style = "Table Grid"
        for i, title in enumerate(header):
            grid.rows[0].cells[i].text = str(title)
        for r, row in enumerate(rows, start=1):
            for i, value in enumerate(row):
                cell = grid.rows[r].cells[i]
                cell.text = str(value)
                if table.get("grid") and value in colours:
                    shading = OxmlElement("w:shd")
                    shading.set(qn("w:val"), "clear")
                    shading.set(qn("w:fill"), colours[value])
                    cell._tc.get_or_add_tcPr().append(shading)
        if not rows:
            document.add_paragraph("（無資料）")
    document.add_paragraph(f"製表時間：{cell_text('date-time', result['generated_at'], tz)}")
    document.add_paragraph("製表人：＿＿＿＿＿＿　　審核：＿＿＿＿＿＿")
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


def chart_svg(table: dict, width: int = 640, height: int = 260) -> str:
    """A table's bar or line chart as SVG (x: a column's values, y: one or more counted columns)."""
    chart = table.get("chart") or {}
    ids = [c["id"] for c in table["columns"]]
    if not chart or chart.get("x") not in ids:
        return ""
    ys = [chart["y"]] if isinstance(chart["y"], str) else list(chart["y"])
    xi = ids.index(chart["x"])
    series = [(table["columns"][ids.index(y)]["title"], [r[ids.index(y)] or 0 for r in table["rows"]])
              for y in ys if y in ids]
    labels = [str(r[xi] if r[xi] is not None else "") for r in table["rows"]]
    if not labels or not series:
        return ""
    top = max([float(v) for _, values in series for v in values] + [1])
    left, bottom, plot_w, plot_h = 48, 34, width - 60, height - 70
    colours = ["#1f5fa8", "#e07b00", "#1b7f3b", "#b3261e"]
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" role="img" '
             f'aria-label="{escape(table["title"])}" class="chart">',
             f'<line x1="{left}" y1="{height - bottom}" x2="{left + plot_w}" y2="{height - bottom}" stroke="#888"/>']
    for step in range(5):
        value = top * step / 4
        y = height - bottom - plot_h * step / 4
        parts.append(f'<text x="{left - 6}" y="{y + 4:.1f}" font-size="11" text-anchor="end" fill="#555">'
                     f'{value:,.0f}</text><line x1="{left}" y1="{y:.1f}" x2="{left + plot_w}" y2="{y:.1f}" '
                     'stroke="#eee"/>')
    slot = plot_w / len(labels)
    for s, (_, values) in enumerate(series):
        colour = colours[s % len(colours)]
        if chart.get("kind", "bar") == "line":
            points = " ".join(f"{left + slot * (i + .5):.1f},{height - bottom - plot_h * float(v) / top:.1f}"
                              for i, v in enumerate(values))
            parts.append(f'<polyline points="{points}" fill="none" stroke="{colour}" stroke-width="2"/>')
        else:
            bar = slot * .8 / len(series)
            for i, v in enumerate(values):
                h = plot_h * float(v) / top
                x = left + slot * i + slot * .1 + bar * s
                parts.append(f'<rect x="{x:.1f}" y="{height - bottom - h:.1f}" width="{bar:.1f}" height="{h:.1f}" '
                             f'fill="{colour}"><title>{escape(labels[i])}：{v}</title></rect>')
    for i, label in enumerate(labels):
        parts.append(f'<text x="{left + slot * (i + .5):.1f}" y="{height - bottom + 16}" font-size="11" '
                     f'text-anchor="middle" fill="#333">{escape(label[:10])}</text>')
    for s, (title, _) in enumerate(series):
        parts.append(f'<rect x="{left + s * 130}" y="{height - 14}" width="10" height="10" '
                     f'fill="{colours[s % len(colours)]}"/><text x="{left + s * 130 + 14}" y="{height - 5}" '
                     f'font-size="11">{escape(title)}</text>')
    parts.append("</svg>")
    return "".join(parts)
