"""A generic starting template for a printout (`goldkey printout new FORM NAME`), made from the form's fields.

The administrator owns the template: this writes a first version only, never over an existing file; from
then on the .docx is edited in Word and `goldkey check` checks it. The layout follows docs/printouts.md: the
body repeated for each copy (`{%p for copy in copies %}`, a page break between copies), the title and
document number, every filled field, the approvals and checklist items when the workflows have them, the
ledger entries, a picture for each signature field (alternative text `goldkey:signature:<field>`, replaced by
the signature drawn on screen), the empty signature lines and the verification block (a picture whose alternative
text is `goldkey:qr`, replaced by the QR code on each print). Every Jinja tag is one run, and the styles name
Chinese fonts (SimSun for text, SimHei for titles) with the East Asian language tag.
"""

from __future__ import annotations

import io
import re
import struct
import zlib
from datetime import UTC, datetime
from pathlib import Path

import docx
from docx.enum.table import WD_CELL_VERTICAL_ALIGNMENT
from docx.enum.text import WD_ALIGN_PARAGRAPH, WD_BREAK, WD_LINE_SPACING, WD_TAB_ALIGNMENT
from docx.opc.constants import RELATIONSHIP_TYPE as RT
from docx.oxml import OxmlElement
from docx.oxml.ns import qn
from docx.shared import Cm, Mm, Pt, RGBColor

from .errors import Invalid
from .printouts import QR_DESCR
from .signatures import DESCR as SIGNATURE_DESCR

BODY_FONT = ("Times New Roman", "SimSun")  # (Latin, East Asian): 宋體 for the text
TITLE_FONT = ("Arial", "SimHei")  # 黑體 for titles and headings
EAST_ASIAN_LANG = "zh-TW"  # the wording is in traditional characters
TEXT_WIDTH = 17.0  # cm: A4 less 2 cm margins
GRID = "Table Grid"
SHADE = "E7E6E6"
_TAG = re.compile(r"({{.*?}}|{%.*?%})")


def write(path: Path, form, workflows: list, name: str, spec: dict) -> None:
    """Write the starting template of printout `name` (declared as `spec`, or about to be) of `form`; refuses
    to write over a file that exists."""
    if path.exists():
        raise Invalid(f"{path} 已存在：goldkey printout new 不會覆蓋已有的範本（請在 Word 中修改它，或先移走再產生）")
    document = _document(spec.get("title") or form.title, form.title)
    _tag(document, "{%p for copy in copies %}")
    _body(document, form, workflows)
    for field in form.signatures:  # (signed on screen: the picture prints there, transparent while unsigned)
        line = _para(document, f"{{{{ label.{field} }}}}：", before=14)
        picture = line.add_run().add_picture(io.BytesIO(_placeholder_png(250, 4, 100)), width=Cm(5))
        picture._inline.docPr.set("descr", SIGNATURE_DESCR + field)
        _put(line, f"　{{{{ signed_at.{field} }}}}")
    _tag(document, "{%p for s in signatures %}")
    _para(document, "{{ s }}：＿＿＿＿＿＿＿＿＿＿　日期：＿＿＿＿年＿＿月＿＿日", before=14)
    _tag(document, "{%p endfor %}")
    _qr_block(document)
    _tag(document, "{%p if not loop.last %}")
    page = document.add_paragraph()
    page.add_run().add_break(WD_BREAK.PAGE)
    page.paragraph_format.line_spacing_rule = WD_LINE_SPACING.EXACTLY
    page.paragraph_format.line_spacing = Pt(1)
    _tag(document, "{%p endif %}")
    _tag(document, "{%p endfor %}")
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "xb") as file:  # exclusive: never over a file that appeared meanwhile
        document.save(file)


def _body(document, form, workflows: list) -> None:
    """The title block, every filled field (tables for list-of-rows fields), ledgers, approvals, checklists."""
    right = _para(document, "{{ copy }}", align=WD_ALIGN_PARAGRAPH.RIGHT, bold=True)
    right.add_run("　")
    _put(right, "{{ copy_mark }}", bold=True, color=RGBColor(0xC0, 0, 0))
    _para(document, "{{ site }}", align=WD_ALIGN_PARAGRAPH.CENTER, size=12)
    _put(document.add_paragraph(style="Title"), "{{ title }}")
    number = _para(document, "編號：{{ number }}\t日期：{{ started_at }}", after=4)
    number.paragraph_format.tab_stops.add_tab_stop(Cm(TEXT_WIDTH), WD_TAB_ALIGNMENT.RIGHT)
    _para(document, "流程：{{ workflow }}　狀態：{{ status }}　登記：{{ started_by }}", size=9, after=4)
    tables = [k for k, v in form.properties.items()
              if v.get("type") == "array" and isinstance(v.get("items"), dict) and v["items"].get("properties")]
    _heading(document, form.title)
    table = _table(document, [4.6, TEXT_WIDTH - 4.6])
    loop = "for f in fields" + (f" if f.name not in {tables!r}" if tables else "")
    _row(table, [f"{{%tr {loop} %}}"])
    _shade(_row(table, ["{{ f.label }}", "{{ f.value }}"]).cells[0])
    _row(table, ["{%tr endfor %}"])
    for field in tables:
        columns = form.properties[field]["items"]["properties"]
        _heading(document, form.title_of(field))
        width = (TEXT_WIDTH - 1.2) / len(columns)
        table = _table(document, [1.2] + [width] * len(columns))
        _row(table, ["序號"] + [str(c.get("title") or k) for k, c in columns.items()], bold=True, shade=True)
        _row(table, [f"{{%tr for r in raw.{field} or [] %}}"])
        _row(table, ["{{ loop.index }}"] + [f"{{{{ r.{k} }}}}" for k in columns])
        _row(table, ["{%tr endfor %}"])
    ledgers = {lid: ledger for wf in workflows for lid, ledger in wf.ledgers.items()}
    for lid, ledger in ledgers.items():
        _heading(document, ledger.title)
        table = _table(document, [3.6, 4.6, 2.4, 2.4, 2.4, 1.6])
        _row(table, ["日期", "摘要", "收入", "支出", "結餘", "經手人"], bold=True, shade=True)
        _row(table, [f"{{%tr for e in ledger if e.ledger == {lid!r} %}}"])
        _row(table, ["{{ e.at }}", "{{ e.memo or e.entry_title }}",
                     "{% if e.direction == 'in' %}{{ e.amount }}{% endif %}",
                     "{% if e.direction == 'out' %}{{ e.amount }}{% endif %}", "{{ e.balance }}", "{{ e.name }}"])
        _row(table, ["{%tr endfor %}"])
        _row(table, ["本單結餘", f"{{{{ balances.{lid} }}}}"], bold=True)
    steps = [s for wf in workflows for s in wf.steps.values()]
    if any(s.printed_as == "signed" for s in steps):
        _heading(document, "審批及簽署")
        table = _table(document, [4.4, 3.0, 2.0, 4.4, 3.2])
        _row(table, ["步驟", "簽署人", "決定", "意見", "時間"], bold=True, shade=True)
        _row(table, ["{%tr for a in approvals %}"])
        _row(table, ["{{ a.step_title }}", "{{ a.name }}{% if a.acting_for %}（代{{ a.acting_for }}）{% endif %}",
                     "{{ a.outcome_title }}", "{{ a.comment }}", "{{ a.at }}"])
        _row(table, ["{%tr endfor %}"])
    checklists = list(dict.fromkeys(s.id for s in steps if s.printed_as == "checks"))
    if checklists:
        titles = {s.id: s.title for s in steps}
        _heading(document, "檢查項目")
        table = _table(document, [10.2, 2.8, 4.0])
        _row(table, ["項目", "完成人", "時間"], bold=True, shade=True)
        for sid in checklists:
            _row(table, [titles[sid]], bold=True)
            _row(table, [f"{{%tr for c in checks.{sid} %}}"])
            _row(table, ["{% if c.checked %}☑{% else %}☐{% endif %} {{ c.title }}", "{{ c.name }}", "{{ c.at }}"])
            _row(table, ["{%tr endfor %}"])


# --- the document -------------------------------------------------------------------------------------------
def _document(title: str, subject: str):
    """A new A4 document whose styles print Chinese: the defaults, Normal, Title, headings and the table style
    name SimSun / SimHei as East Asian fonts with the language tag; no theme font is left in any style."""
    document = docx.Document()
    styles = document.styles.element
    _fonts(styles.find(qn("w:docDefaults")).find(qn("w:rPrDefault")).find(qn("w:rPr")), BODY_FONT)
    for fonts in styles.iter(qn("w:rFonts")):
        style_id = fonts.getparent().getparent().get(qn("w:styleId"), "")
        _fonts(fonts.getparent(), TITLE_FONT if style_id.startswith(("Title", "Heading", "Subtitle")) else BODY_FONT,
               lang=False)
    normal = document.styles["Normal"]
    _fonts(normal.element.get_or_add_rPr(), BODY_FONT)
    normal.font.size = Pt(10.5)  # 五號
    normal.paragraph_format.space_after = Pt(0)
    normal.paragraph_format.line_spacing = 1.15
    _fonts(document.styles[GRID].element.get_or_add_rPr(), BODY_FONT)
    for name, size in (("Title", 18), ("Heading 2", 12)):
        style = document.styles[name]
        _fonts(style.element.get_or_add_rPr(), TITLE_FONT)
        style.font.size, style.font.bold = Pt(size), True
        style.font.color.rgb = RGBColor(0, 0, 0)
        ppr = style.element.get_or_add_pPr()
        for border in ppr.findall(qn("w:pBdr")):  # the Title's blue rule
            ppr.remove(border)
        style.paragraph_format.space_before, style.paragraph_format.space_after = Pt(8), Pt(4)
        if name == "Title":
            style.paragraph_format.alignment = WD_ALIGN_PARAGRAPH.CENTER
    settings = document.settings.element
    theme_lang = settings.find(qn("w:themeFontLang"))
    if theme_lang is not None:
        theme_lang.set(qn("w:eastAsia"), EAST_ASIAN_LANG)
    for rid, rel in list(document.part.package.rels.items()):  # python-docx's thumbnail of another document
        if rel.reltype == RT.THUMBNAIL:
            del document.part.package.rels[rid]
    for rid, rel in list(document.part.rels.items()):  # a Word 2010 copy of the styles, with theme fonts
        if rel.reltype.endswith("/stylesWithEffects"):
            del document.part.rels[rid]
    section = document.sections[0]
    section.page_width, section.page_height = Mm(210), Mm(297)
    section.top_margin = section.bottom_margin = Mm(18)
    section.left_margin = section.right_margin = Mm(20)
    props = document.core_properties
    props.title, props.subject = title, subject
    props.author = props.last_modified_by = "goldkey"
    props.comments = "goldkey 列印範本，見 docs/printouts.md"
    props.created = props.modified = datetime.now(UTC).replace(microsecond=0)
    return document


def _fonts(rpr, fonts: tuple[str, str], lang: bool = True) -> None:
    """Explicit Latin and East Asian fonts on run properties instead of theme fonts (a theme font wins over an
    explicit one), and the East Asian language tag."""
    rfonts = rpr.get_or_add_rFonts()
    for attr in ("w:asciiTheme", "w:hAnsiTheme", "w:eastAsiaTheme", "w:cstheme"):
        rfonts.attrib.pop(qn(attr), None)
    latin, east_asian = fonts
    for attr, value in (("w:ascii", latin), ("w:hAnsi", latin), ("w:eastAsia", east_asian), ("w:cs", latin),
                        ("w:hint", "eastAsia")):
        rfonts.set(qn(attr), value)
    if lang:
        tag = rpr.find(qn("w:lang"))
        if tag is None:
            tag = OxmlElement("w:lang")
            rpr.insert_element_before(tag, "w:eastAsianLayout", "w:specVanish", "w:oMath")
        tag.set(qn("w:eastAsia"), EAST_ASIAN_LANG)


def _put(paragraph, text: str, bold: bool = False, size: float | None = None, color: RGBColor | None = None):
    """Add `text` to a paragraph, each Jinja tag as a run of its own (so Word keeps a tag in one piece)."""
    for piece in _TAG.split(text):
        if piece:
            run = paragraph.add_run(piece)
            run.bold = bold or None
            if size:
                run.font.size = Pt(size)
            if color is not None:
                run.font.color.rgb = color
    return paragraph


def _para(document, text: str = "", align=None, size: float | None = None, bold: bool = False, before: float = 0,
          after: float = 0):
    paragraph = _put(document.add_paragraph(), text, bold=bold, size=size)
    paragraph.alignment = align
    paragraph.paragraph_format.space_before, paragraph.paragraph_format.space_after = Pt(before), Pt(after)
    return paragraph


def _tag(document, text: str) -> None:
    """A paragraph holding only a `{%p ... %}` tag (docxtpl removes the paragraph when rendering)."""
    document.add_paragraph().add_run(text)


def _heading(document, text: str) -> None:
    _put(document.add_paragraph(style="Heading 2"), text)


def _table(document, widths: list[float], style: str | None = GRID):
    table = document.add_table(rows=0, cols=len(widths))
    if style:
        table.style = document.styles[style]
    table.autofit = False
    for column, width in zip(table.columns, widths, strict=True):
        column.width = Cm(width)
    return table


def _row(table, texts: list[str], bold: bool = False, shade: bool = False):
    """A row of cells; fewer texts than columns: the last text spans the rest."""
    row = table.add_row()
    cells = row.cells
    for cell, column in zip(cells, table.columns, strict=True):
        cell.width = column.width
    if len(texts) < len(cells):
        cells[len(texts) - 1].merge(cells[-1])
    for cell, text in zip(row.cells[:len(texts)], texts, strict=False):
        for i, line in enumerate(text.split("\n")):
            _put(cell.paragraphs[0] if i == 0 else cell.add_paragraph(), line, bold=bold)
        cell.vertical_alignment = WD_CELL_VERTICAL_ALIGNMENT.CENTER
        if shade:
            _shade(cell)
    return row


def _shade(cell, fill: str = SHADE) -> None:
    shading = OxmlElement("w:shd")
    for attr, value in (("w:val", "clear"), ("w:color", "auto"), ("w:fill", fill)):
        shading.set(qn(attr), value)
    cell._tc.get_or_add_tcPr().insert_element_before(
        shading, "w:noWrap", "w:tcMar", "w:textDirection", "w:tcFitText", "w:vAlign", "w:hideMark")


def _placeholder_png(size: int = 200, border: int = 6, height: int | None = None) -> bytes:
    """A white square (`height`: a box) with a grey border: the picture each print replaces with the QR code (or a
    signature)."""
    grey, white = b"\x99\x99\x99", b"\xff\xff\xff"
    rows = height or size
    middle = grey * border + white * (size - 2 * border) + grey * border
    raw = b"".join(b"\x00" + (grey * size if y < border or y >= rows - border else middle) for y in range(rows))

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", size, rows, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b"")


def _qr_block(document) -> None:
    """The verification block: the QR placeholder beside the code, the address and who printed it."""
    table = _table(document, [3.0, TEXT_WIDTH - 3.0], style=None)
    left, right = table.add_row().cells
    left.width, right.width = Cm(3.0), Cm(TEXT_WIDTH - 3.0)
    picture = left.paragraphs[0].add_run().add_picture(io.BytesIO(_placeholder_png()), width=Cm(2.5))
    picture._inline.docPr.set("descr", QR_DESCR)
    lines = ["驗證碼：{{ verify_code }}", "{{ verify_url }}", "列印：{{ printed_by }}　{{ printed_at }}"]
    for i, line in enumerate(lines):
        _put(right.paragraphs[0] if i == 0 else right.add_paragraph(), line, size=9.5)
    right.vertical_alignment = WD_CELL_VERTICAL_ALIGNMENT.CENTER
    _para(document, "掃描二維碼或在上述網址輸入驗證碼，可核對本文件是否真實及是否為最新列印。", size=8)
