"""Build the Word template of every printout the forms declare (forms/*.yaml `printouts:`), then check them.

    .venv/bin/python printouts/build.py                     # write every template, then check them all
    .venv/bin/python printouts/build.py repair_order.docx   # write only these, then check them all
    .venv/bin/python printouts/build.py --check             # only check the templates as they are now

The templates follow docs/printouts.md: the body sits in `{%p for copy in copies %}`, every Jinja tag is one
run, the fonts are set for Chinese (SimSun / SimHei, East Asian language tag) and each copy ends with the
verification block (a placeholder picture whose alternative text is `goldkey:qr`). Administrators edit the
written .docx files in Word afterwards: writing a template again overwrites those edits, so once one has been
edited by hand name only the others (or none), and use `--check` to test the edited file.

The check renders each template with plain docxtpl in Jinja's sandbox (autoescape on) with sample data made
from the form schema, then reads the result back; it also checks that every variable is one of the context
(docs/printouts.md) and every `d.x`, `cap.x`, `signed.step`, ... names a field, step or ledger that exists.
"""

from __future__ import annotations

import datetime as dt
import io
import re
import struct
import sys
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path

import docx
import jinja2
import yaml
from docx.enum.section import WD_ORIENT
from docx.enum.table import WD_CELL_VERTICAL_ALIGNMENT, WD_ROW_HEIGHT_RULE
from docx.enum.text import WD_ALIGN_PARAGRAPH, WD_BREAK, WD_LINE_SPACING, WD_TAB_ALIGNMENT
from docx.opc.constants import RELATIONSHIP_TYPE as RT
from docx.oxml import OxmlElement
from docx.oxml.ns import qn
from docx.shared import Cm, Mm, Pt, RGBColor
from docxtpl import DocxTemplate
from jinja2 import nodes
from jinja2.sandbox import ImmutableSandboxedEnvironment

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "printouts"

BODY_FONT = ("Times New Roman", "SimSun")  # (Latin, East Asian): 宋體 for the text
TITLE_FONT = ("Arial", "SimHei")  # 黑體 for titles and headings
EAST_ASIAN_LANG = "zh-TW"  # the wording is in traditional characters
TEXT_WIDTH = 17.0  # cm: A4 less 2 cm margins
GRID = "Table Grid"
SHADE = "E7E6E6"
QR_DESCR = "goldkey:qr"
BUILT = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)  # fixed, so an unchanged template is byte for byte the same

# the context of docs/printouts.md
CONTEXT = set("""title form number site workflow status outcome started_by started_at d cap raw label fields
    approvals signed checks ledger balances signatures copies copy_mark printed_at printed_by verify_code
    verify_url""".split())
SIGNED_KEYS = ["step", "step_title", "role", "role_title", "by", "name", "acting_for", "at", "outcome",
               "outcome_title", "comment"]
TAG = re.compile(r"({{.*?}}|{%.*?%})")


# --- the definitions ------------------------------------------------------------------------------------------
@dataclass
class Spec:
    """One printout to build: the form, the printout's declaration and the workflows that use the form."""

    name: str
    form: dict
    printout: dict
    workflows: list[dict]

    @property
    def template(self) -> str:
        return self.printout["template"]

    @property
    def props(self) -> dict:
        return self.form["schema"]["properties"]

    def title(self, field: str) -> str:
        return self.props[field].get("title", field)

    def money(self) -> list[str]:
        return [k for k, v in self.props.items() if v.get("format") == "money"]

    def steps(self, *kinds: str) -> dict[str, dict]:
        return {sid: s for wf in self.workflows for sid, s in wf["steps"].items() if s["kind"] in kinds}

    def ledgers(self) -> dict[str, dict]:
        return {lid: led for wf in self.workflows for lid, led in (wf.get("ledgers") or {}).items()}


def load_specs() -> list[Spec]:
    forms = [yaml.safe_load(p.read_text(encoding="utf-8")) for p in sorted((ROOT / "forms").glob("*.yaml"))]
    flows = [yaml.safe_load(p.read_text(encoding="utf-8")) for p in sorted((ROOT / "workflows").glob("*.yaml"))]
    return [Spec(name, form, printout, [wf for wf in flows if wf["form"] == form["id"]])
            for form in forms for name, printout in (form.get("printouts") or {}).items()]


# --- fonts, styles, page ----------------------------------------------------------------------------------------
def set_fonts(rpr, fonts: tuple[str, str], lang: bool = True) -> None:
    """Explicit Latin and East Asian fonts on a run-properties element, instead of theme fonts (a theme font
    wins over an explicit one), and the East Asian language tag."""
    rfonts = rpr.get_or_add_rFonts()
    for attr in ("w:asciiTheme", "w:hAnsiTheme", "w:eastAsiaTheme", "w:cstheme"):
        rfonts.attrib.pop(qn(attr), None)
    latin, east_asian = fonts
    for attr, value in (("w:ascii", latin), ("w:hAnsi", latin), ("w:eastAsia", east_asian), ("w:cs", latin),
                        ("w:hint", "eastAsia")):
        rfonts.set(qn(attr), value)
    if lang:
        lang_tag = rpr.find(qn("w:lang"))
        if lang_tag is None:
            lang_tag = OxmlElement("w:lang")
            later = [e for e in (rpr.find(qn(t)) for t in ("w:eastAsianLayout", "w:specVanish", "w:oMath"))
                     if e is not None]
            if later:
                later[0].addprevious(lang_tag)
            else:
                rpr.append(lang_tag)
        lang_tag.set(qn("w:val"), "en-US")
        lang_tag.set(qn("w:eastAsia"), EAST_ASIAN_LANG)
        lang_tag.set(qn("w:bidi"), "ar-SA")


def setup_document(spec: Spec) -> docx.document.Document:
    """A new A4 document whose styles print Chinese: docDefaults, Normal, Title, headings and the table style
    carry SimSun / SimHei as East Asian fonts and the language tag; no theme font is left in any style."""
    doc = docx.Document()
    styles = doc.styles.element
    set_fonts(styles.find(qn("w:docDefaults")).find(qn("w:rPrDefault")).find(qn("w:rPr")), BODY_FONT)
    for rfonts in styles.iter(qn("w:rFonts")):  # every other style: explicit fonts, no theme fonts
        style = rfonts.getparent().getparent()
        titled = style.get(qn("w:styleId"), "").startswith(("Title", "Heading", "Subtitle"))
        set_fonts(rfonts.getparent(), TITLE_FONT if titled else BODY_FONT, lang=False)

    normal = doc.styles["Normal"]
    set_fonts(normal.element.get_or_add_rPr(), BODY_FONT)
    normal.font.size = Pt(10.5)  # 五號
    normal.paragraph_format.space_after = Pt(0)
    normal.paragraph_format.line_spacing = 1.15
    grid = doc.styles[GRID]
    set_fonts(grid.element.get_or_add_rPr(), BODY_FONT)

    for name, size, before, after in (("Title", 18, 6, 6), ("Heading 1", 14, 12, 6), ("Heading 2", 12, 10, 4)):
        style = doc.styles[name]
        set_fonts(style.element.get_or_add_rPr(), TITLE_FONT)
        style.font.size = Pt(size)
        complex_size = style.element.rPr.find(qn("w:szCs"))
        if complex_size is not None:
            complex_size.set(qn("w:val"), str(size * 2))
        style.font.bold = True
        style.font.color.rgb = RGBColor(0, 0, 0)
        ppr = style.element.get_or_add_pPr()
        for border in ppr.findall(qn("w:pBdr")):  # the Title's blue rule
            ppr.remove(border)
        fmt = style.paragraph_format
        fmt.space_before, fmt.space_after = Pt(before), Pt(after)
        if name == "Title":
            fmt.alignment = WD_ALIGN_PARAGRAPH.CENTER
            spacing = style.element.rPr.find(qn("w:spacing"))
            if spacing is not None:
                style.element.rPr.remove(spacing)

    settings = doc.settings.element
    theme_lang = settings.find(qn("w:themeFontLang"))
    if theme_lang is not None:
        theme_lang.set(qn("w:eastAsia"), EAST_ASIAN_LANG)
    preview = settings.find(qn("w:savePreviewPicture"))
    if preview is not None:
        settings.remove(preview)
    drop_stale_parts(doc)

    section = doc.sections[0]
    section.orientation = WD_ORIENT.PORTRAIT
    section.page_width, section.page_height = Mm(210), Mm(297)
    section.top_margin = section.bottom_margin = Mm(18)
    section.left_margin = section.right_margin = Mm(20)
    section.header_distance = section.footer_distance = Mm(10)

    props = doc.core_properties
    props.title = spec.printout.get("title") or spec.form["title"]
    props.subject = spec.form["title"]
    props.author = props.last_modified_by = "goldkey"
    props.comments = f"goldkey 列印範本（printouts/{spec.template}），見 docs/printouts.md"
    props.keywords = "goldkey"
    props.category = ""
    props.revision = 1
    props.created = props.modified = BUILT
    return doc


def drop_stale_parts(doc) -> None:
    """python-docx's default package carries a thumbnail of another document and a Word 2010 copy of the
    styles (stylesWithEffects) with theme fonts; the font table lists Japanese fonts. A template has neither:
    drop the two parts and list the fonts the styles use."""
    package_rels = doc.part.package.rels
    for rid, rel in list(package_rels.items()):
        if rel.reltype == RT.THUMBNAIL:
            del package_rels[rid]
    for rid, rel in list(doc.part.rels.items()):
        if rel.reltype.endswith("/stylesWithEffects"):
            del doc.part.rels[rid]
        elif rel.reltype == RT.FONT_TABLE:
            rel.target_part._blob = FONT_TABLE.encode("utf-8")


FONT_TABLE = """<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<w:fonts xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main">\
<w:font w:name="Times New Roman"><w:panose1 w:val="02020603050405020304"/><w:charset w:val="00"/>\
<w:family w:val="roman"/><w:pitch w:val="variable"/></w:font>\
<w:font w:name="Arial"><w:panose1 w:val="020B0604020202020204"/><w:charset w:val="00"/>\
<w:family w:val="swiss"/><w:pitch w:val="variable"/></w:font>\
<w:font w:name="SimSun"><w:altName w:val="宋体"/><w:panose1 w:val="02010600030101010101"/><w:charset w:val="86"/>\
<w:family w:val="auto"/><w:pitch w:val="variable"/></w:font>\
<w:font w:name="SimHei"><w:altName w:val="黑体"/><w:panose1 w:val="02010609060101010101"/><w:charset w:val="86"/>\
<w:family w:val="modern"/><w:pitch w:val="fixed"/></w:font>\
</w:fonts>"""


def save(doc, path: Path) -> None:
    """Save with fixed zip times, so building an unchanged template again gives the same bytes."""
    raw = io.BytesIO()
    doc.save(raw)
    out = io.BytesIO()
    with zipfile.ZipFile(raw) as zin, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zout:
        for info in zin.infolist():
            entry = zipfile.ZipInfo(info.filename, date_time=(1980, 1, 1, 0, 0, 0))
            entry.external_attr = 0o644 << 16
            zout.writestr(entry, zin.read(info.filename), zipfile.ZIP_DEFLATED)
    path.write_bytes(out.getvalue())


# --- text and paragraphs --------------------------------------------------------------------------------------
def put(par, text: str, bold: bool = False, size: float | None = None, color: RGBColor | None = None):
    """Add `text` to a paragraph, each Jinja tag as a run of its own (so Word keeps a tag in one piece)."""
    for piece in TAG.split(text):
        if piece:
            run = par.add_run(piece)
            run.bold = bold or None
            if size:
                run.font.size = Pt(size)
            if color is not None:
                run.font.color.rgb = color
    return par


def para(doc, text: str = "", align=None, size: float | None = None, bold: bool = False, before: float = 0,
         after: float = 0):
    p = put(doc.add_paragraph(), text, bold=bold, size=size)
    p.alignment = align
    p.paragraph_format.space_before, p.paragraph_format.space_after = Pt(before), Pt(after)
    return p


def tag(doc, text: str):
    """A paragraph that holds only a `{%p ... %}` tag (docxtpl removes the paragraph when rendering)."""
    p = doc.add_paragraph()
    p.add_run(text)
    return p


def heading(doc, text: str):
    return put(doc.add_paragraph(style="Heading 2"), text)


def notes(doc, title: str, lines: list[str]) -> None:
    para(doc, title, bold=True, before=6)
    for i, line in enumerate(lines, 1):
        p = para(doc, f"{i}. {line}", size=9.5)
        p.paragraph_format.left_indent = Cm(0.5)
        p.paragraph_format.first_line_indent = Cm(-0.5)


def title_block(doc, number_label: str = "編號", right: str = "日期：{{ started_at }}") -> None:
    """The copy label and 副本 mark top right, the site, the title, and the document number."""
    p = para(doc, "{{ copy }}", align=WD_ALIGN_PARAGRAPH.RIGHT, bold=True)
    p.add_run("　")
    put(p, "{{ copy_mark }}", bold=True, color=RGBColor(0xC0, 0, 0))
    para(doc, "{{ site }}", align=WD_ALIGN_PARAGRAPH.CENTER, size=12)
    put(doc.add_paragraph(style="Title"), "{{ title }}")
    p = para(doc, f"{number_label}：{{{{ number }}}}\t{right}", after=4)
    p.paragraph_format.tab_stops.add_tab_stop(Cm(TEXT_WIDTH), WD_TAB_ALIGNMENT.RIGHT)


# --- tables ---------------------------------------------------------------------------------------------------
@dataclass
class Section:
    """A full-width shaded row naming a part of the form."""

    text: str


@dataclass
class Tr:
    """A row holding one `{%tr ... %}` tag, e.g. Tr("if raw.nature == '有償'") ... Tr("endif")."""

    code: str


@dataclass
class Tall:
    """A full-width field row at least `cm` high (room for long text, or for writing by hand)."""

    item: str | tuple[str, str]
    cm: float = 1.6


def table(doc, widths: list[float], style: str | None = GRID):
    t = doc.add_table(rows=0, cols=len(widths))
    if style:
        t.style = doc.styles[style]
    t.autofit = False
    for col, width in zip(t.columns, widths, strict=True):
        col.width = Cm(width)
    return t


def cell_text(cell, text: str, bold: bool = False, size: float | None = None, align=None) -> None:
    """Write `text` into a cell, one paragraph per line."""
    for i, line in enumerate(text.split("\n")):
        p = cell.paragraphs[0] if i == 0 else cell.add_paragraph()
        put(p, line, bold=bold, size=size)
        p.alignment = align


def row(t, texts: list[str], bold: bool = False, shade: bool = False, height: float | None = None,
        size: float | None = None):
    """A row of cells; `texts` shorter than the table's columns: the last text spans the rest."""
    r = t.add_row()
    cells = r.cells
    for cell, column in zip(cells, t.columns, strict=True):
        cell.width = column.width
    if len(texts) < len(cells):
        cells[len(texts) - 1].merge(cells[-1])
        cells = r.cells
    seen = []
    for cell, text in zip(cells, texts, strict=False):
        if any(cell._tc is s for s in seen):
            continue
        seen.append(cell._tc)
        cell_text(cell, text, bold=bold, size=size)
        cell.vertical_alignment = WD_CELL_VERTICAL_ALIGNMENT.CENTER
        if shade:
            shading(cell)
    if height:
        r.height, r.height_rule = Cm(height), WD_ROW_HEIGHT_RULE.AT_LEAST
    return r


def shading(cell, fill: str = SHADE) -> None:
    shd = OxmlElement("w:shd")
    for attr, value in (("w:val", "clear"), ("w:color", "auto"), ("w:fill", fill)):
        shd.set(qn(attr), value)
    tcpr = cell._tc.get_or_add_tcPr()
    later = [e for e in tcpr if e.tag in TCPR_AFTER_SHD]  # keep the schema's order: shd before vAlign
    if later:
        later[0].addprevious(shd)
    else:
        tcpr.append(shd)


TCPR_AFTER_SHD = {qn(t) for t in ("w:noWrap", "w:tcMar", "w:textDirection", "w:tcFitText", "w:vAlign", "w:hideMark",
                                  "w:headers", "w:cellIns", "w:cellDel", "w:cellMerge", "w:tcPrChange")}


def pair(spec: Spec, item: str | tuple[str, str]) -> tuple[str, str]:
    """A (label, value) pair: a field name prints its schema title and `{{ d.<field> }}`."""
    if isinstance(item, tuple):
        return item
    if item not in spec.props:
        raise KeyError(f"{spec.template}: form '{spec.form['id']}' has no field '{item}'")
    return spec.title(item), f"{{{{ d.{item} }}}}"


def field_table(doc, spec: Spec, rows: list, widths: tuple[float, ...] = (3.2, 5.3, 3.2, 5.3)):
    """The form's data as a paper form: label / value pairs, two to a row or one across the row; Section and
    Tr rows; Tall rows for long text."""
    t = table(doc, list(widths))
    for spec_row in rows:
        if isinstance(spec_row, Section):
            row(t, [spec_row.text], bold=True, shade=True)
        elif isinstance(spec_row, Tr):
            row(t, [f"{{%tr {spec_row.code} %}}"])
        elif isinstance(spec_row, Tall):
            label, value = pair(spec, spec_row.item)
            r = row(t, [label, value], height=spec_row.cm)
            r.cells[1].vertical_alignment = WD_CELL_VERTICAL_ALIGNMENT.TOP
            shading(r.cells[0])
        else:
            items = spec_row if isinstance(spec_row, list) else [spec_row]
            texts = [text for item in items for text in pair(spec, item)]
            r = row(t, texts)
            for i in range(0, len(texts), 2):
                shading(r.cells[i])
    return t


def checkbox(test: str) -> str:
    return f"{{% if {test} %}}☑{{% else %}}☐{{% endif %}}"


def choices(field: str, values: list[str], sep: str = "　") -> str:
    """An enum as the paper form's tick boxes: ☑ before the chosen value."""
    return sep.join(f"{checkbox(f'raw.{field} == {v!r}')} {v}" for v in values)


def ledger_table(doc, spec: Spec, ledger_id: str) -> None:
    """This instance's entries of a ledger (收入 / 支出 by the ledger's entry kinds) and its balance."""
    ledger = spec.ledgers()[ledger_id]
    ins = [k for k, v in ledger["entries"].items() if v == "in"]
    outs = [k for k, v in ledger["entries"].items() if v == "out"]
    heading(doc, ledger["title"])
    widths = [3.6, 4.6, 2.4, 2.4, 2.4, 1.6]
    t = table(doc, widths)
    row(t, ["日期", "摘要", "收入", "支出", "結餘", "經手人"], bold=True, shade=True, size=9.5)
    row(t, [f"{{%tr for e in ledger if e.ledger == {ledger_id!r} %}}"])
    row(t, ["{{ e.at }}", "{{ e.memo }}", f"{{% if e.entry in {ins!r} %}}{{{{ e.amount }}}}{{% endif %}}",
            f"{{% if e.entry in {outs!r} %}}{{{{ e.amount }}}}{{% endif %}}", "{{ e.balance }}", "{{ e.name }}"],
        size=9.5)
    row(t, ["{%tr endfor %}"])
    r = row(t, ["本單結餘", "", "", "", f"{{{{ balances.{ledger_id} }}}}"], bold=True)
    r.cells[0].merge(r.cells[3])


def approvals_table(doc) -> None:
    heading(doc, "審批及簽署")
    t = table(doc, [4.4, 3.0, 2.0, 4.4, 3.2])
    row(t, ["步驟", "簽署人", "決定", "意見", "時間"], bold=True, shade=True, size=9.5)
    row(t, ["{%tr for a in approvals %}"])
    row(t, ["{{ a.step_title }}", "{{ a.name }}{% if a.acting_for %}（代{{ a.acting_for }}）{% endif %}",
            "{{ a.outcome_title }}", "{{ a.comment }}", "{{ a.at }}"], size=9.5)
    row(t, ["{%tr endfor %}"])


def checklist_table(doc, spec: Spec, step_ids: list[str], title: str = "檢查項目") -> None:
    """Checklist items of the named steps: ☑ / ☐, who ticked it and when."""
    steps = spec.steps("checklist")
    heading(doc, title)
    t = table(doc, [10.2, 2.8, 4.0])
    row(t, ["項目", "完成人", "時間"], bold=True, shade=True, size=9.5)
    for sid in step_ids:
        row(t, [steps[sid]["title"]], bold=True, size=9.5)
        row(t, [f"{{%tr for c in checks.{sid} %}}"])
        row(t, [f"{checkbox('c.checked')} {{{{ c.title }}}}", "{{ c.name }}", "{{ c.at }}"], size=9.5)
        row(t, ["{%tr endfor %}"])


def rows_table(doc, spec: Spec, field: str, columns: list[str] | None = None) -> None:
    """A list-of-rows field (e.g. 欠費清單) as a table from `raw.<field>`: one row per item."""
    items = spec.props[field]["items"]["properties"]
    columns = columns or list(items)
    heading(doc, spec.title(field))
    width = (TEXT_WIDTH - 1.2) / len(columns)
    t = table(doc, [1.2] + [width] * len(columns))
    row(t, ["序號"] + [items[c].get("title", c) for c in columns], bold=True, shade=True, size=9.5)
    row(t, [f"{{%tr for r in raw.{field} or [] %}}"])
    row(t, ["{{ loop.index }}"] + [f"{{{{ r.{c} }}}}" for c in columns], size=9.5)
    row(t, ["{%tr endfor %}"])


def signature_lines(doc) -> None:
    """One empty signature line for each of the printout's `signatures` labels."""
    tag(doc, "{%p for s in signatures %}")
    para(doc, "{{ s }}：＿＿＿＿＿＿＿＿＿＿　日期：＿＿＿＿年＿＿月＿＿日", before=14)
    tag(doc, "{%p endfor %}")


def placeholder_png(size: int = 200, border: int = 6) -> bytes:
    """A white square with a grey border: the picture goldkey replaces with the QR code when printing."""
    grey, white = b"\x99\x99\x99", b"\xff\xff\xff"
    edge = grey * size
    middle = grey * border + white * (size - 2 * border) + grey * border
    raw = b"".join(b"\x00" + (edge if y < border or y >= size - border else middle) for y in range(size))

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", size, size, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b"")


def qr_block(doc) -> None:
    """The verification block: the QR placeholder (alternative text `goldkey:qr`) with the code, the address
    and who printed it beside it."""
    t = table(doc, [3.0, TEXT_WIDTH - 3.0], style=None)
    r = t.add_row()
    left, right = r.cells
    left.width, right.width = Cm(3.0), Cm(TEXT_WIDTH - 3.0)
    shape = left.paragraphs[0].add_run().add_picture(io.BytesIO(placeholder_png()), width=Cm(2.5))
    shape._inline.docPr.set("descr", QR_DESCR)
    cell_text(right, "驗證碼：{{ verify_code }}\n{{ verify_url }}\n列印：{{ printed_by }}　{{ printed_at }}", size=9.5)
    right.vertical_alignment = WD_CELL_VERTICAL_ALIGNMENT.CENTER
    para(doc, "掃描二維碼或在上述網址輸入驗證碼，可核對本文件是否真實及是否為最新列印。", size=8)


# --- the copies loop --------------------------------------------------------------------------------------------
def build(spec: Spec) -> Path:
    """Write one template: the copies loop around the printout's body, signature lines and the verification
    block, a page break between copies."""
    doc = setup_document(spec)
    tag(doc, "{%p for copy in copies %}")
    BUILDERS.get(spec.template, generic)(doc, spec)
    signature_lines(doc)
    qr_block(doc)
    tag(doc, "{%p if not loop.last %}")
    brk = doc.add_paragraph()
    brk.add_run().add_break(WD_BREAK.PAGE)
    brk.paragraph_format.line_spacing_rule = WD_LINE_SPACING.EXACTLY
    brk.paragraph_format.line_spacing = Pt(1)
    tag(doc, "{%p endif %}")
    tag(doc, "{%p endfor %}")
    path = OUT / spec.template
    save(doc, path)
    return path


# --- the tailored templates -----------------------------------------------------------------------------------
def golden_key_slip(doc, spec: Spec) -> None:
    """金鑰匙服務單 (一式兩聯): the registered request; for a paid service the prepayment in both notations."""
    title_block(doc, "服務單號", "登記時間：{{ started_at }}")
    field_table(doc, spec, [
        Section("服務需求登記"),
        ["owner", "unit"],
        ["phone", "category"],
        Tall("request", 2.0),
        ["nature", ("完成方式", "{{ d.route }}")],
        Tr("if raw.nature == '有償'"),
        [("預付金額（小寫）", "{{ d.prepaid }}"), ("費用預算", "{{ d.estimate }}")],
        ("預付金額（大寫）", "{{ cap.prepaid }}"),
        Tr("endif"),
        Section("服務安排及結果"),
        ["departments", "partner"],
        Tall("result", 1.4),
        ["cost", "expense_note"],
    ])
    notes(doc, "注意事項", [
        "本單一式兩聯，存根聯由樓宇客服留存，業主聯交業主保存。",
        "請業主妥善保存本服務單，服務完成後憑本單換取此次服務產生的相關物品及材料；兌現時核對服務單及兌現人身份。",
        "有償服務的預付金記入《金鑰匙服務預付金使用臺帳》，結餘憑《金鑰匙服務預付金退還憑證》退還，"
        "不足時由業主決定是否加付。",
    ])


def voucher_head(spec: Spec) -> list:
    """The slip a voucher belongs to: its number (the title line's 服務單號) and what it is for."""
    return [Section("《金鑰匙服務單》"), ["owner", "unit"], ["phone", "category"], ("服務需求", "{{ d.request }}")]


def prepaid_top_up_voucher(doc, spec: Spec) -> None:
    """金鑰匙服務預付金加付憑證: the slip it belongs to, the top-up in figures and capitals, the ledger."""
    title_block(doc, "服務單號", "開具日期：{{ printed_at }}")
    field_table(doc, spec, [
        *voucher_head(spec),
        Section("預付金加付"),
        [("原預付金額", "{{ d.prepaid }}"), ("費用預算", "{{ d.estimate }}")],
        ("加付金額（小寫）", "{{ d.top_up }}"),
        ("加付金額（大寫）", "{{ cap.top_up }}"),
        ("加付後預付金結餘", "{{ balances.prepaid }}"),
        "owner_reply",
    ])
    ledger_table(doc, spec, "prepaid")
    notes(doc, "說明", [
        "預付金不足以支付此次服務的正常費用及有償服務費，經告知業主，業主決定加付預付金並繼續此項服務。",
        "本憑證的「服務單號」為《金鑰匙服務單》的單號；加付已登記於《金鑰匙服務預付金使用臺帳》。",
    ])


def prepaid_refund_voucher(doc, spec: Spec) -> None:
    """金鑰匙服務預付金退還憑證: the slip it belongs to, the amounts paid and spent, each refund in figures and
    capitals (from the ledger: the refund leaves the balance at zero), the ledger."""
    title_block(doc, "服務單號", "開具日期：{{ printed_at }}")
    field_table(doc, spec, [
        *voucher_head(spec),
        Section("預付金結算"),
        [("預付金額", "{{ d.prepaid }}"), ("加付金額", "{{ d.top_up }}")],
        [("實際費用", "{{ d.cost }}"), ("支出說明", "{{ d.expense_note }}")],
        Tr("for e in ledger if e.entry == 'refund'"),
        [("退還事由", "{{ e.memo }}"), ("退還日期", "{{ e.at }}")],
        ("退還金額（小寫）", "{{ e.amount }}"),
        ("退還金額（大寫）", "{{ e.amount_cap }}"),
        Tr("endfor"),
        ("退還後預付金結餘", "{{ balances.prepaid }}"),
    ])
    ledger_table(doc, spec, "prepaid")
    notes(doc, "說明", [
        "預付金除正常支出與有償服務費用外的結餘，憑本憑證退還業主，並已在《金鑰匙服務預付金使用臺帳》登記。",
        "業主決定不繼續此項服務的，退還預付金時同時收回之前開具的《金鑰匙服務單》，並做好註銷記錄。",
    ])


def renovation_application(doc, spec: Spec) -> None:
    """裝潢施工申請呈評核書: applicant, contractor, works and period, then the three signature boxes (工程部
    審核, 物業主任簽字, 物業經理審批) from the approval steps, empty for wet signatures until signed."""
    title_block(doc, "申請編號", "申請日期：{{ started_at }}")
    field_table(doc, spec, [
        Section("申請人"),
        [("申請人身份", choices("applicant_type", spec.props["applicant_type"]["enum"])), "applicant"],
        ["unit", "phone"],
        Section("施工單位"),
        ["contractor", "contractor_licence"],
        ["contractor_contact", "contractor_phone"],
        Section("裝修內容"),
        Tall("scope", 2.2),
        Tall("design", 1.6),
        Tall("plan", 1.6),
        ["structural_change", "hot_work"],
        ["workers", ("施工期限", "{{ d.start_date }} 至 {{ d.end_date }}")],
        [("裝修押金", "{{ d.deposit }}"), ("押金（大寫）", "{{ cap.deposit }}")],
    ])
    heading(doc, "審核及審批")
    boxes = [("工程部審核意見", "engineering_review", "{{ d.review_opinion }}"),
             ("物業主任簽字確認", "supervisor_sign", ""),
             ("物業經理審批", "manager_approval", "{{ d.manager_note }}")]
    steps = spec.steps("approval")
    t = table(doc, [TEXT_WIDTH / 3] * 3)
    row(t, [label for label, _, _ in boxes], bold=True, shade=True)
    r = row(t, [f"{opinion}\n{{{{ signed.{sid}.comment }}}}" if opinion else f"{{{{ signed.{sid}.comment }}}}"
                for _, sid, opinion in boxes], height=3.0)
    for cell in r.cells:
        cell.vertical_alignment = WD_CELL_VERTICAL_ALIGNMENT.TOP
    signer = ("結論：{{{{ signed.{0}.outcome_title }}}}\n簽名：{{% if signed.{0}.name %}}{{{{ signed.{0}.name }}}}"
              "{{% else %}}＿＿＿＿＿＿{{% endif %}}\n日期：{{{{ signed.{0}.at }}}}")
    row(t, [signer.format(sid) for _, sid, _ in boxes])
    assert all(sid in steps for _, sid, _ in boxes), "renovation approval steps renamed"
    notes(doc, "辦理須知", [
        "申請時提交：業主及裝修負責人的身份證原件及複印件；施工單位《營業執照》及《資質證書》複印件（加蓋公章）；"
        "裝修平面設計圖、水電佈置圖及文字說明；結構改動施工圖（如有結構改動）。",
        "裝修申請在三個工作日內審批完畢；違反相關規定的，由工程部負責人向業主或使用人解釋拒絕批覆的理由。",
        "審批後繳納裝修押金，辦理《裝修施工許可證》、材料進出許可證及施工人員臨時出入證，並簽訂《裝修服務協議》。",
    ])


def renovation_permit(doc, spec: Spec) -> None:
    """裝修施工許可證: posted at the works (張貼聯): who, where, what, the period, the approval."""
    title_block(doc, "許可證號", "批准日期：{{ signed.manager_approval.at }}")
    field_table(doc, spec, [
        ["unit", "applicant"],
        ["contractor", "contractor_contact"],
        ["workers", "deposit_receipt"],
        ("施工期限", "自 {{ d.start_date }} 至 {{ d.end_date }}"),
        Tall("scope", 2.6),
        ["structural_change", "hot_work"],
        [("物業經理批准", "{{ signed.manager_approval.name }}"), ("物業主任", "{{ signed.supervisor_sign.name }}")],
    ])
    notes(doc, "注意事項", [
        "本證須張貼於施工現場醒目位置，以備工程部、保安部巡查。",
        "須按照批準的裝修申請方案施工，不得違章裝修、搭建，不得亂拉亂接或損壞公共設施設備和消防設施。",
        "施工現場須配備消防滅火設備；動火作業前必須告知物業管理處。",
        "施工人員須辦理《施工人員臨時出入證》；裝修材料進出須辦理許可，大宗易燃易爆和有毒物品不得進入小區，"
        "搬出建材須有業主確認。",
        "裝修垃圾須及時清理，不得亂扔。",
        "裝修完畢，向物業管理處申請驗收；驗收合格後憑物業經理簽字辦理押金退還。",
    ])


def renovation_refund_voucher(doc, spec: Spec) -> None:
    """裝修押金退還憑證: the deposit, any deduction with its reason, the refund in figures and capitals (from
    the ledger), the acceptance signatures, and the deposit ledger."""
    title_block(doc, "申請編號", "開具日期：{{ printed_at }}")
    field_table(doc, spec, [
        ["applicant", "unit"],
        ["contractor", "deposit_receipt"],
        [("裝修押金", "{{ d.deposit }}"), ("押金（大寫）", "{{ cap.deposit }}")],
        Tr("if raw.deduction"),
        [("押金扣除金額", "{{ d.deduction }}"), ("扣除（大寫）", "{{ cap.deduction }}")],
        "deduction_reason",
        Tr("endif"),
        Tr("for e in ledger if e.entry == 'refund'"),
        ("退還金額（小寫）", "{{ e.amount }}"),
        ("退還金額（大寫）", "{{ e.amount_cap }}"),
        Tr("endfor"),
        Section("驗收"),
        ["completed_on", ("工程部驗收", "{{ signed.final_acceptance.name }}　{{ signed.final_acceptance.at }}")],
        "acceptance_notes",
        ("物業經理簽字確認驗收", "{{ signed.manager_acceptance.name }}　{{ signed.manager_acceptance.at }}"),
    ])
    ledger_table(doc, spec, "deposit")


def repair_order(doc, spec: Spec) -> None:
    """工程維修單 (客服存根, 維修聯, 回單聯): the report, the visit, dispatch, price, repair, sign-off with
    materials and hours, and the return visit."""
    title_block(doc, "維修單號", "報修時間：{{ started_at }}")
    field_table(doc, spec, [
        Section("報修登記"),
        [("報修來源", choices("source", spec.props["source"]["enum"])), "reporter"],
        ["phone", "unit"],
        ["location", "emergency"],
        Tall("description", 1.8),
        Section("上門安排"),
        ["someone_home", "spare_key"],
        ["use_spare_key", "appointment"],
        Section("派工及維修"),
        ["technician", "arrived_at"],
        "parts",
        [("維修費用", "{{ d.price }}"), ("費用（大寫）", "{{ cap.price }}")],
        Tall("work_done", 1.4),
        "temporary_measures",
        Section("驗收（用戶簽字）"),
        [("材料名稱", "數量")],
        Tr("for m in raw.materials or []"),
        [("{{ m.name }}", "{{ m.quantity }}")],
        Tr("endfor"),
        ["hours", "signed_by"],
        Section("回訪記錄"),
        ("滿意程度", choices("satisfaction", spec.props["satisfaction"]["enum"])),
        Tall("visit_notes", 1.4),
    ])
    notes(doc, "說明", [
        "維修前先向用戶說明本次維修的費用，客戶認可後才進行維修；免費維修費用填 0。",
        "維修結束後請用戶在本單簽字驗收（包括消耗材料、修理時間）；公共部位或非用戶報修，由報修人或客服人員簽字認可。",
        "一時無法解決的，維修人員採取臨時措施，向用戶解釋並記入《維修日報表》。",
    ])


def special_incident_report(doc, spec: Spec) -> None:
    """特別事件報告: the kind of incident as the paper form's tick list, the report up, the written report
    (time, place, course of events, result), lateness, the 物業經理's signature and where it was sent."""
    title_block(doc, "報告編號", "發生時間：{{ d.occurred_at }}")
    categories = spec.props["category"]["enum"]
    field_table(doc, spec, [
        Section("事件報告"),
        ("特別事件類別", "\n".join(choices("category", [c]) for c in categories)),
        ("事件性質", choices("nature", spec.props["nature"]["enum"])),
        ["occurred_at", "location"],
        ["reported_by", "on_site"],
        Tall("description", 1.8),
        Section("逐級上報"),
        Tall("measures", 1.6),
        "advisor_support",
        Section("書面報告"),
        Tall("process", 3.0),
        Tall("handling", 2.0),
        "losses",
        Tr("for p in raw.photos or []"),
        [("照片 {{ loop.index }}", "{{ p.caption }}")],
        Tr("endfor"),
        Tr("if raw.late_reason"),
        Section("逾時說明"),
        "phoned_at",
        "late_reason",
        Tr("endif"),
        Section("物業經理審核"),
        [("審核結論", "{{ signed.manager_sign.outcome_title }}"), ("簽名", "{{ signed.manager_sign.name }}")],
        [("意見", "{{ signed.manager_sign.comment }}"), ("日期", "{{ signed.manager_sign.at }}")],
    ])
    checklist_table(doc, spec, ["send_report"], "上報及存檔")
    notes(doc, "說明", [
        "書面報告寫清時間、地點、事件經過及處理結果，不得遺漏、誇大或隱瞞。",
        "從事件發生至公司收到書面報告不得超過24小時，特殊情況先電話匯報，最遲36小時內送達。",
        "特別事件報告及時上報公司，報告管理處留存，每月存檔一次。",
    ])


def pet_registration(doc, spec: Spec) -> None:
    """寵物登記表: the keeper, the pet, for a dog its papers, the undertaking, the 物業助理's review, and for
    a dog the rules told to the owner."""
    title_block(doc, "登記編號", "登記日期：{{ started_at }}")
    field_table(doc, spec, [
        Section("飼養人"),
        ["owner", "unit"],
        "phone",
        Section("寵物"),
        ["pet_name", ("寵物種類", choices("species", spec.props["species"]["enum"]))],
        ["breed", ("體型", choices("size", spec.props["size"]["enum"]))],
        ["colour", "dangerous"],
        Tr("if raw.species == '犬'"),
        Section("證件"),
        ["dog_licence", "immunity_cert"],
        ["vaccinated_on", "tag_no"],
        Tr("endif"),
        Section("承諾"),
        ("業主承諾", f"{checkbox('raw.accepts_rules')} 本人已知悉並承諾遵守《寵物管理規定》"),
        Section("審核"),
        [("物業助理審核", "{{ signed.review.outcome_title }}"), ("審核人", "{{ signed.review.name }}")],
        ["review_notes"],
        ("審核日期", "{{ signed.review.at }}"),
    ])
    tag(doc, "{%p if raw.species == '犬' %}")
    notes(doc, "養犬須知（《寵物管理規定》）", [
        "養犬須持有市城管部門核發的《養犬許可證》和市獸醫防疫部門發放的《犬類免疫證》；不得飼養烈性犬和大型犬。",
        "攜犬到戶外活動，須為犬只佩帶市城管部門制作發放的號牌，佩帶束犬鏈並由成年人牽領、看管。",
        "隨身攜帶清潔用具，隨時清理犬只排泄物；未能清理者即刻交納清潔費。",
        "禁止攜帶犬只出入休閒俱樂部各娛樂場所、兒童遊樂園、休閒廣場。",
        "養犬不得妨害他人；犬聲影響他人正常工作和休息時，應當採取有效措施予以制止。",
        "犬只咬傷他人，飼養人應立即帶傷者到衛生防疫機構或醫院治療及注射狂犬疫苗，並將犬只送市獸醫防疫部門留驗觀察，"
        "有關費用由飼養人承擔。",
    ])
    tag(doc, "{%p endif %}")


# --- the generic layout -----------------------------------------------------------------------------------------
def generic(doc, spec: Spec, *, rows: list | None = None, tables: tuple[str, ...] | None = None,
            checklists: list[str] | None = None, approvals: bool | None = None, intro: str = "",
            clauses: list[str] = (), meta: bool = True) -> None:
    """Title and number, the workflow and status (`meta`), an optional opening text, the form's data (`rows`,
    or every filled field from `fields`), list-of-rows fields as tables, numbered clauses, the approvals (when
    the workflow has approval steps, or `approvals`) and checklist items (`checklists`: step ids, default all)."""
    title_block(doc)
    if meta:
        para(doc, "流程：{{ workflow }}　狀態：{{ status }}　登記：{{ started_by }}", size=9, after=4)
    if intro:
        para(doc, intro, after=6)
    if tables is None:
        tables = tuple(k for k, v in spec.props.items()
                       if v.get("type") == "array" and v.get("items", {}).get("type") == "object")
    if rows is None:
        heading(doc, spec.form["title"])
        t = table(doc, [4.6, TEXT_WIDTH - 4.6])
        loop = "for f in fields" + (f" if f.name not in {list(tables)!r}" if tables else "")
        row(t, [f"{{%tr {loop} %}}"])
        r = row(t, ["{{ f.label }}", "{{ f.value }}"])
        shading(r.cells[0])
        row(t, ["{%tr endfor %}"])
    else:
        field_table(doc, spec, rows)
    for name in tables:
        rows_table(doc, spec, name)
    if clauses:
        notes(doc, "約定事項", clauses)
    if approvals is None:
        approvals = bool(spec.steps("approval"))
    if approvals:
        approvals_table(doc)
    checklists = list(spec.steps("checklist")) if checklists is None else checklists
    if checklists:
        checklist_table(doc, spec, checklists)


def renovation_agreement(doc, spec: Spec) -> None:
    """裝修服務協議 (管理處, 裝修企業, 業主 each keep one): the approved works and the undertakings of the
    procedure (裝修管理流程 4.6–4.12)."""
    rows = [
        ["applicant", "unit"],
        ["contractor", "contractor_licence"],
        ["contractor_contact", "workers"],
        ("施工期限", "自 {{ d.start_date }} 至 {{ d.end_date }}"),
        Tall("scope", 2.0),
        ["structural_change", "hot_work"],
        [("裝修押金", "{{ d.deposit }}"), ("押金收據號碼", "{{ d.deposit_receipt }}")],
    ]
    clauses = [
        "裝修企業按照批準的裝修申請方案施工，接受工程部巡檢；違章裝修經制止後須立即整改。",
        "不得亂拉亂接、破壞公共設施設備和消防設施；損壞公共設施或違章裝修的，從裝修押金中扣除相應費用。",
        "施工現場配備消防滅火設備，動火作業前告知物業管理處；施工人員辦理臨時出入證件，接受保安部檢查。",
        "不得將大宗易燃易爆和有毒物品帶入小區；搬出小區的建材須有業主確認。",
        "裝修垃圾及時清理，不得亂扔。",
        "嚴重違反小區裝修管理規定的，由管理處向政府相關部門匯報，並由保安部收回施工人員出入證、請施工人員離開小區。",
        "裝修完畢經工程部驗收合格、物業經理簽字確認後，退還裝修押金。",
    ]
    intro = "{{ site }}（管理處）與施工單位{{ d.contractor }}就{{ d.unit }}的裝修事宜，依小區《裝修管理規定》約定如下："
    generic(doc, spec, rows=rows, checklists=[], approvals=False, meta=False, intro=intro, clauses=clauses)


def fire_incident_report(doc, spec: Spec) -> None:
    """火警事件書面報告: the data, photos, the 物業經理's signature and the emergency checklists."""
    generic(doc, spec, checklists=["extinguish", "alarm", "cut_supplies", "evacuate", "recover"])


def fee_payment_list(doc, spec: Spec) -> None:
    """繳費清單（付款通知單）: handed to the shops on the 1st (the amounts come from the billing system)."""
    generic(doc, spec, rows=[["period", "area"]], tables=(), checklists=[], meta=False,
            intro="尊敬的商戶：所屬月份 {{ d.period }} 的各項費用已出帳，請核對後按時到客服中心前臺繳納。")


def fee_arrears_notice(doc, spec: Spec) -> None:
    """欠費清單及催款通知書: handed to the shops in arrears on the 20th."""
    generic(doc, spec, rows=[["period", "area"], [("欠費總額", "{{ d.arrears_total }}"),
                                                  ("總額（大寫）", "{{ cap.arrears_total }}")]],
            tables=("arrears",), checklists=[], meta=False,
            intro="尊敬的商戶：所屬月份 {{ d.period }} 的下列費用尚未繳納，請於收到本通知後儘快到客服中心前臺繳清。"
                  "如已繳納，請忽略本通知。")


BUILDERS = {
    "golden_key_slip.docx": golden_key_slip,
    "prepaid_top_up_voucher.docx": prepaid_top_up_voucher,
    "prepaid_refund_voucher.docx": prepaid_refund_voucher,
    "renovation_application.docx": renovation_application,
    "renovation_permit.docx": renovation_permit,
    "renovation_agreement.docx": renovation_agreement,
    "renovation_refund_voucher.docx": renovation_refund_voucher,
    "repair_order.docx": repair_order,
    "special_incident_report.docx": special_incident_report,
    "pet_registration.docx": pet_registration,
    "fire_incident_report.docx": fire_incident_report,
    "fee_payment_list.docx": fee_payment_list,
    "fee_arrears_notice.docx": fee_arrears_notice,
}


# --- the check ----------------------------------------------------------------------------------------------------
NASTY = '甲&乙 <丙> "丁"'


def sample(spec: Spec, full: bool = True, copy_mark: str = "") -> dict:
    """A context as docs/printouts.md describes it, with sample values from the form schema (`full`), or as
    for a fresh instance: nothing filled, signed or posted."""
    d, cap, raw = {}, {}, {}
    for i, (name, prop) in enumerate(spec.props.items()):
        raw[name], d[name] = sample_value(name, prop, i) if full else (None, "")
        if prop.get("format") == "money":
            cap[name] = "人民幣壹仟貳佰叁拾肆元伍角整" if full else ""
    signs = {sid: {k: f"{sid}-{k}" for k in SIGNED_KEYS} | {"step": sid, "step_title": s["title"]}
             for sid, s in spec.steps("approval").items()} if full else {}
    ledgers = spec.ledgers()
    entries = [{"ledger": lid, "entry": entry, "amount": "¥100.00", "amount_cap": "人民幣壹佰元整",
                "balance": "¥0.00", "at": "2026年11月3日 10:00", "memo": f"{entry}摘要", "name": "王小明"}
               for lid, led in ledgers.items() for entry in led["entries"]] if full else []
    checks = {sid: [{"id": i["id"], "title": i["title"], "checked": n % 2 == 0, "name": "王小明" if n % 2 == 0 else "",
                     "at": "2026年11月3日 10:00" if n % 2 == 0 else ""} for n, i in enumerate(s["items"])]
              for sid, s in spec.steps("checklist").items()} if full else {}
    printout = spec.printout
    return {
        "title": printout.get("title") or spec.form["title"], "form": spec.form["title"], "number": "SAMPLE-2026-00042",
        "site": "意林小鎮管理處", "workflow": spec.workflows[0]["title"] if spec.workflows else "",
        "status": "進行中", "outcome": "", "started_by": "王小明", "started_at": "2026年11月2日 09:30",
        "d": d, "cap": cap, "raw": raw, "label": {k: spec.title(k) for k in spec.props},
        "fields": [{"name": k, "label": spec.title(k), "value": v} for k, v in d.items() if v],
        "approvals": list(signs.values()),
        # docs/printouts.md: "empty when not signed": each approval step is there, empty, until it is signed
        "signed": signs or {sid: {} for sid in spec.steps("approval")},
        "checks": checks, "ledger": entries,
        "balances": {lid: "¥0.00" for lid in ledgers},
        "signatures": printout.get("signatures") or [], "copies": printout.get("copies") or [""],
        "copy_mark": copy_mark, "printed_at": "2026年11月4日 08:00", "printed_by": "李列印",
        "verify_code": "K7QX-M2PD-9A", "verify_url": "http://localhost:8000/verify/K7QX-M2PD-9A",
    }


def sample_value(name: str, prop: dict, i: int):
    """(raw, printed) sample values for one field."""
    if "enum" in prop:
        return prop["enum"][0], prop["enum"][0]
    kind, fmt = prop.get("type"), prop.get("format")
    if kind == "boolean":
        return True, "是"
    if kind in ("integer", "number"):
        return 3 + i, str(3 + i)
    if kind == "array":
        items = prop.get("items", {})
        if items.get("type") == "object":
            rows = [{k: sample_value(f"{name}.{k}", p, n)[0] for k, p in items["properties"].items()}
                    for n in range(2)]
            return rows, "、".join("，".join(f"{k}：{v}" for k, v in r.items()) for r in rows)
        values = items.get("enum", ["甲", "乙"])[:2]
        return values, "、".join(values)
    if fmt == "money":
        return f"{1000 + i}.50", f"¥{1000 + i:,}.50"
    if fmt == "date":
        return "2026-11-02", "2026年11月2日"
    if fmt == "date-time":
        return "2026-11-02T09:30:00+08:00", "2026年11月2日 09:30"
    value = f"{name}：{NASTY}\n第二行"
    return value, value


def env(undefined=jinja2.Undefined) -> ImmutableSandboxedEnvironment:
    return ImmutableSandboxedEnvironment(autoescape=True, undefined=undefined)


KEYED = {"d": "field", "raw": "field", "label": "field", "cap": "money field", "signed": "approval step",
         "checks": "checklist step", "balances": "ledger"}


def keyed_names(spec: Spec) -> dict[str, set[str]]:
    fields = set(spec.props)
    return {"d": fields, "raw": fields, "label": fields, "cap": set(spec.money()),
            "signed": set(spec.steps("approval")), "checks": set(spec.steps("checklist")),
            "balances": set(spec.ledgers())}


def chain(node) -> list[str] | None:
    """`signed.x.name` as ['signed', 'x', 'name'], or None when it does not start with a plain name."""
    names = []
    while isinstance(node, nodes.Getattr | nodes.Getitem):
        if isinstance(node, nodes.Getattr):
            names.append(node.attr)
        elif isinstance(node.arg, nodes.Const) and isinstance(node.arg.value, str):
            names.append(node.arg.value)
        else:
            return None
        node = node.node
    if not isinstance(node, nodes.Name):
        return None
    return [node.name, *reversed(names)]


def template_problems(spec: Spec, path: Path) -> list[str]:
    """The template itself: valid Word file, tags each in one run, the copies loop around the body, the QR
    picture, fonts, and only context names and real fields, steps and ledgers."""
    problems = []
    document = docx.Document(str(path))
    body = document.element.body
    for t in body.iter(qn("w:t")):
        text = t.text or ""
        if text.count("{{") != text.count("}}") or text.count("{%") != text.count("%}"):
            problems.append(f"a tag split across runs: {text!r}")
    pars = [p for p in body.iter(qn("w:p"))]
    first, last = ("".join(t.text or "" for t in p.iter(qn("w:t"))) for p in (pars[0], pars[-1]))
    if first != "{%p for copy in copies %}" or last != "{%p endfor %}":
        problems.append(f"the body is not in the copies loop: first {first!r}, last {last!r}")
    if sum(1 for e in body.iter(qn("wp:docPr")) if e.get("descr") == QR_DESCR) != 1:
        problems.append(f"not exactly one picture with alternative text {QR_DESCR!r}")
    for name in ("Normal", "Title", GRID):
        rpr = document.styles[name].element.rPr
        fonts = rpr.find(qn("w:rFonts")) if rpr is not None else None
        if fonts is None or not fonts.get(qn("w:eastAsia")) or fonts.get(qn("w:eastAsiaTheme")):
            problems.append(f"style {name!r} has no East Asian font")

    tpl = DocxTemplate(str(path))
    sandbox = env()
    undeclared = tpl.get_undeclared_template_variables(jinja_env=sandbox)
    if undeclared - CONTEXT:
        problems.append(f"variables not in docs/printouts.md: {sorted(undeclared - CONTEXT)}")
    tpl.init_docx()
    tree = sandbox.parse(tpl.patch_xml(tpl.get_xml()))
    keys = keyed_names(spec)
    found = []
    for node in tree.find_all((nodes.Getattr, nodes.Getitem)):
        names = chain(node)
        if not names:
            continue
        if any(n.startswith("_") for n in names):
            found.append(f"reaches for Python internals: {'.'.join(names)}")
        if names[0] in keys and len(names) > 1 and names[1] not in keys[names[0]]:
            found.append(f"{names[0]}.{names[1]}: no {KEYED[names[0]]} '{names[1]}' (form '{spec.form['id']}' "
                         "and its workflows)")
        if names[0] == "signed" and len(names) > 2 and names[2] not in SIGNED_KEYS:
            found.append(f"{'.'.join(names[:3])}: a signature has no '{names[2]}'")
    return problems + list(dict.fromkeys(found))


def used_fields(path: Path) -> dict[str, set[str]]:
    """The `d.x` and `cap.x` a template prints."""
    tpl = DocxTemplate(str(path))
    tpl.init_docx()
    used: dict[str, set[str]] = {"d": set(), "cap": set()}
    for node in env().parse(tpl.patch_xml(tpl.get_xml())).find_all(nodes.Getattr):
        names = chain(node)
        if names and len(names) == 2 and names[0] in used:
            used[names[0]].add(names[1])
    return used


def render(path: Path, context: dict, undefined=jinja2.Undefined) -> tuple[str, bytes]:
    """Render with plain docxtpl in the sandbox; the text (one line per paragraph) and the document XML."""
    tpl = DocxTemplate(str(path))
    tpl.render(context, jinja_env=env(undefined))
    out = io.BytesIO()
    tpl.save(out)
    result = docx.Document(io.BytesIO(out.getvalue()))
    body = result.element.body
    text = "\n".join("".join(t.text or "" for t in p.iter(qn("w:t"))) for p in body.iter(qn("w:p")))
    return text, zipfile.ZipFile(io.BytesIO(out.getvalue())).read("word/document.xml")


def render_problems(spec: Spec, path: Path) -> list[str]:
    problems = []
    full = sample(spec)
    text, xml = render(path, full)
    copies = len(full["copies"])
    for what, value in (("title", full["title"]), ("number", full["number"]), ("site", full["site"]),
                        ("verification code", full["verify_code"])):
        if text.count(value) < copies:
            problems.append(f"the {what} {value!r} is not in each of the {copies} copies")
    for label in full["copies"]:
        if label and label not in text:
            problems.append(f"the copy label {label!r} is missing")
    used = used_fields(path)
    for field in sorted(used["d"]):
        shown = full["d"][field].split("\n")[0]
        if shown and shown not in text:
            problems.append(f"d.{field} ({shown!r}) is not in the rendered text")
    if used["cap"] and full["cap"][sorted(used["cap"])[0]] not in text:
        problems.append("the amounts in capitals are not in the rendered text")
    if used["d"] and NASTY not in text:
        problems.append("& < > \" in the data do not come out as typed")
    for label in full["signatures"]:
        if text.count(f"{label}：＿") != copies:
            problems.append(f"the signature line {label!r} is not once in each copy")
    if "{{" in text or "{%" in text:
        problems.append("a tag is left in the rendered text")
    breaks = xml.count(b'w:type="page"')
    if breaks != copies - 1:
        problems.append(f"{breaks} page breaks for {copies} copies")
    if xml.count(f'descr="{QR_DESCR}"'.encode()) != copies:
        problems.append("not one QR picture per copy")
    if b"<w:br/>" not in xml and any(v.get("type") == "string" and not v.get("format") and "enum" not in v
                                      for v in spec.props.values()):
        problems.append("a newline in the data did not become a line break")

    reprint, _ = render(path, sample(spec, copy_mark="副本"))
    if reprint.count("副本") < copies:
        problems.append("a reprint is not marked 副本 on each copy")
    for undefined in (jinja2.Undefined, jinja2.ChainableUndefined):  # nothing filled, signed or posted yet
        empty = sample(spec, full=False)
        if undefined is jinja2.ChainableUndefined:
            empty["signed"] = {}  # signed steps only
        try:
            text, _ = render(path, empty, undefined)
        except jinja2.TemplateError as exc:
            problems.append(f"a fresh instance ({undefined.__name__}) does not render: {exc}")
            continue
        if full["title"] not in text or full["number"] not in text:
            problems.append("a fresh instance has no title or number")
    return problems


def check(specs: list[Spec]) -> int:
    failed = 0
    for spec in specs:
        path = OUT / spec.template
        if not path.is_file():
            print(f"printouts/{spec.template}: missing (form {spec.form['id']}, printout {spec.name})")
            failed += 1
            continue
        problems = []
        for test in (template_problems, render_problems):
            try:
                problems += test(spec, path)
            except Exception as exc:  # a broken file or tag: report it and go on
                problems.append(f"{type(exc).__name__}: {exc}")
        for problem in problems:
            print(f"printouts/{spec.template}: {problem}")
        failed += bool(problems)
        if not problems:
            print(f"printouts/{spec.template}: ok ({spec.form['id']}.{spec.name}, "
                  f"{len(spec.printout.get('copies') or [''])} copies)")
    return failed


def main(argv: list[str]) -> int:
    specs = load_specs()
    names = [a for a in argv if not a.startswith("-")]
    unknown = set(names) - {s.template for s in specs}
    if unknown:
        print(f"no printout uses {sorted(unknown)}; the forms declare {sorted(s.template for s in specs)}")
        return 2
    if "--check" not in argv:
        for spec in specs:
            if not names or spec.template in names:
                build(spec)
                print(f"wrote printouts/{spec.template}")
    failed = check(specs)
    print("ok" if not failed else f"{failed} template(s) with problems")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
