"""Word printouts: docxtpl templates rendered in a Jinja2 sandbox, fast, and linted at load.

A template is prepared once per file version: its XML parts with Jinja tags are repaired by docxtpl's own
`patch_xml` (tags Word split across runs, `{%p %}` / `{%tr %}` paragraph and row tags) and compiled in the
bounded sandbox of engine/sandbox.py, autoescape on (docxtpl's default environment is neither: `&` in the
data breaks the file and template code can reach Python internals; and nothing bounds what it builds).
A render is then the compiled templates' output, docxtpl's listing fix-up (newlines become line breaks) and
a zip of the parts, with the picture whose alternative text is `goldkey:qr` replaced by the QR code of the
verification address, and each picture whose alternative text is `goldkey:signature:<field>` by the signature
drawn in that field (each such field given a picture part of its own when the template is prepared, so two
placeholders made from one picture, or from the QR's, still print their own signatures).
"""

from __future__ import annotations

import hashlib
import html
import io
import itertools
import re
import zipfile
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import segno
from docxtpl import DocxTemplate
from jinja2 import TemplateError, TemplateSyntaxError, nodes

from . import money, words
from .sandbox import budget, environment, render_text
from .signatures import BLANK_PNG, DESCR, SIGNATURE_FORMAT
from .signatures import STATE as SIGNED
from .steps import ChoiceStep

QR_DESCR = "goldkey:qr"
# the context every template gets (docs/printouts.md); the mappings are keyed by field, step or ledger id
CONTEXT = frozenset("""title form number site workflow status outcome started_by started_at d cap raw label fields
    approvals signed checks ledger balances signatures signed_at copies copy_mark printed_at printed_by verify_code
    verify_url parent""".split())
_PARTS = re.compile(r"^word/(document|header\d*|footer\d*)\.xml$")
_DOCPR_ID = re.compile(r'(<wp:docPr\b[^>]*?\bid=")(\d+)(")')
_TOOL = DocxTemplate.__new__(DocxTemplate)  # for docxtpl's patch_xml / resolve_listing, which use no state


SANDBOX = environment()


class TemplateProblem(Exception):
    """A template that cannot be prepared; `paragraph` is where (docxtpl puts each paragraph on a line)."""

    def __init__(self, message: str, paragraph: int = 1) -> None:
        super().__init__(message)
        self.message, self.paragraph = message, paragraph


@dataclass
class Template:
    """A prepared .docx template: its raw parts, the compiled Jinja parts and the QR picture's part."""

    path: Path
    digest: str  # SHA-256 of the file: recorded with every print
    entries: list[tuple[zipfile.ZipInfo, bytes]]
    sources: dict[str, str]  # part name -> patched XML (for the linter)
    compiled: dict[str, Any] = field(default_factory=dict)
    trees: dict[str, Any] = field(default_factory=dict)  # part name -> its Jinja syntax tree (for the linter)
    qr_part: str | None = None
    shown: list[str] | None = None  # the form fields it prints (None: all, e.g. through `fields`)
    signature_parts: dict[str, str] = field(default_factory=dict)  # media part -> the signature field it shows
    placeholders: list[tuple[str, int]] = field(default_factory=list)  # (field, paragraph) of each signature picture


_CACHE: dict[tuple[str, int, int], Template] = {}


def load(path: Path) -> Template:
    """The prepared template at `path`, from the cache while the file is unchanged."""
    stat = path.stat()
    key = (str(path), stat.st_mtime_ns, stat.st_size)
    template = _CACHE.get(key)
    if template is None:
        template = _CACHE[key] = _prepare(path)
    return template


def _prepare(path: Path) -> Template:
    raw = path.read_bytes()
    try:
        archive = zipfile.ZipFile(io.BytesIO(raw))
        entries = [(info, archive.read(info)) for info in archive.infolist()]
    except (zipfile.BadZipFile, OSError) as exc:
        raise TemplateProblem(f"not a Word .docx file: {exc}") from None
    entries, parts = _signature_parts(entries)
    template = Template(path, hashlib.sha256(raw).hexdigest(), entries, {}, signature_parts=parts)
    for info, data in entries:
        if _PARTS.match(info.filename):
            xml = data.decode("utf-8")
            if "{" in xml:
                template.sources[info.filename] = re.sub(r"<w:p([ >])", r"\n<w:p\1", _TOOL.patch_xml(xml))
    template.qr_part = _qr_part(dict((i.filename, d) for i, d in entries))
    for name, source in template.sources.items():
        try:
            template.trees[name] = SANDBOX.parse(source)
            template.compiled[name] = SANDBOX.from_string(source)
        except TemplateSyntaxError as exc:
            raise TemplateProblem(f"a tag docxtpl cannot read: {exc.message} (retype the tag in one go, so Word "
                                  "keeps it in one run)", paragraph_of(source, exc.lineno or 1)) from None
    template.shown = _shown(template.trees.values())
    if template.shown is not None and parts:  # (a signature it prints is data it shows)
        template.shown = sorted(set(template.shown) | set(parts.values()))
    document = dict((i.filename, d) for i, d in entries).get("word/document.xml", b"").decode("utf-8")
    source = template.sources.get("word/document.xml") or re.sub(r"<w:p([ >])", r"\n<w:p\1", document)
    template.placeholders = [(html.unescape(m.group(1)), paragraph_of(source, source.count("\n", 0, m.start()) + 1))
                             for m in _DESCR.finditer(source)]
    return template


_DESCR = re.compile(r'<wp:docPr\b[^>]*\bdescr="' + DESCR + r'([^"]*)"')
_SIGNATURE_PICTURE = re.compile(_DESCR.pattern + r'[^>]*>(?:(?!<wp:docPr\b).)*?<a:blip\b[^>]*\br:embed="([^"]+)"',
                                re.DOTALL)


def _signature_parts(entries: list) -> tuple[list, dict[str, str]]:
    """The template's parts with each signature field's placeholder pictures pointing at a media part of its own
    (a transparent PNG until printed), and {media part: field}."""
    files = {info.filename: data for info, data in entries}
    document = files.get("word/document.xml", b"").decode("utf-8")
    found = list(_SIGNATURE_PICTURE.finditer(document))
    if not found:
        return entries, {}
    ids: dict[str, str] = {}
    pieces, last = [], 0
    for match in found:
        name = html.unescape(match.group(1))
        ids.setdefault(name, f"rIdGoldkeySignature{len(ids) + 1}")
        pieces += [document[last:match.start(2)], ids[name]]
        last = match.end(2)
    changed = {"word/document.xml": ("".join(pieces) + document[last:]).encode("utf-8")}
    rels = files.get("word/_rels/document.xml.rels", b"").decode("utf-8")
    links = "".join(f'<Relationship Id="{rid}" Type="http://schemas.openxmlformats.org/officeDocument/2006/'
                    f'relationships/image" Target="media/goldkey-signature-{n}.png"/>'
                    for n, rid in enumerate(ids.values(), 1))
    changed["word/_rels/document.xml.rels"] = rels.replace("</Relationships>", links + "</Relationships>").encode()
    types = files.get("[Content_Types].xml", b"").decode("utf-8")
    if not re.search(r'<Default\b[^>]*\bExtension="png"', types, re.IGNORECASE):
        types = types.replace("</Types>", '<Default Extension="png" ContentType="image/png"/></Types>')
    changed["[Content_Types].xml"] = types.encode("utf-8")
    out = [(info, changed.get(info.filename, data)) for info, data in entries]
    parts = {}
    for n, name in enumerate(ids, 1):
        part = f"word/media/goldkey-signature-{n}.png"
        out.append((zipfile.ZipInfo(part, (1980, 1, 1, 0, 0, 0)), BLANK_PNG))
        parts[part] = name
    return out, parts


def _shown(trees) -> list[str] | None:
    """The fields a template prints, from `d.x`, `cap.x`, `raw.x`, `label.x`; None if it prints them all
    (`fields`, or a whole mapping such as `{% for k in d %}`)."""
    names: set[str] = set()
    for tree in trees:
        keyed = {"d", "cap", "raw"}
        for node in tree.find_all(nodes.Name):
            if node.name == "fields":
                return None
        for node in tree.find_all(nodes.Getattr):
            if isinstance(node.node, nodes.Name) and node.node.name in keyed:
                names.add(node.attr)
        for node in tree.find_all(nodes.Getitem):
            if isinstance(node.node, nodes.Name) and node.node.name in keyed:
                if not isinstance(node.arg, nodes.Const):
                    return None
                names.add(str(node.arg.value))
        uses = sum(1 for n in tree.find_all(nodes.Name) if n.name in keyed)
        direct = sum(1 for n in tree.find_all((nodes.Getattr, nodes.Getitem))
                     if isinstance(n.node, nodes.Name) and n.node.name in keyed)
        if uses > direct:  # a mapping used whole
            return None
    return sorted(names)


def paragraph_of(source: str, lineno: int) -> int:
    """The paragraph a line of a prepared part is in (each paragraph starts a line of its own)."""
    return max(1, sum(1 for line in source.split("\n", lineno)[:lineno] if line.startswith("<w:p")))


def _qr_part(files: dict[str, bytes]) -> str | None:
    """The media part of the picture whose alternative text is `goldkey:qr`, if the template has one."""
    document = files.get("word/document.xml", b"").decode("utf-8")
    found = re.search(r'<wp:docPr\b[^>]*\bdescr="' + QR_DESCR + r'"[^>]*/?>.*?<a:blip\b[^>]*\br:embed="([^"]+)"',
                      document, re.DOTALL)
    if not found:
        return None
    rels = files.get("word/_rels/document.xml.rels", b"").decode("utf-8")
    target = re.search(r'<Relationship\b[^>]*\bId="' + re.escape(found.group(1)) + r'"[^>]*\bTarget="([^"]+)"', rels)
    if target is None:
        target = re.search(r'<Relationship\b[^>]*\bTarget="([^"]+)"[^>]*\bId="' + re.escape(found.group(1)) + '"',
                           rels)
    return "word/" + target.group(1).lstrip("/").removeprefix("word/") if target else None


def render(template: Template, context: dict, qr_url: str | None = None,
           signatures: dict[str, bytes] | None = None) -> bytes:
    """The filled .docx: every templated part rendered with `context`, the QR picture replaced, and each signature
    picture by the PNG of its field in `signatures` (a transparent one where there is none: an empty signature)."""
    replaced = fill(template, context)
    if template.qr_part and qr_url:
        replaced[template.qr_part] = qr_png(qr_url)
    for part, name in template.signature_parts.items():
        replaced[part] = (signatures or {}).get(name) or BLANK_PNG
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        for info, data in template.entries:
            body = replaced.get(info.filename, data)
            kind = zipfile.ZIP_STORED if info.filename.startswith("word/media/") else zipfile.ZIP_DEFLATED
            archive.writestr(zipfile.ZipInfo(info.filename, info.date_time), body, kind, 1 if kind else None)
    return out.getvalue()


def fill(template: Template, context: dict) -> dict[str, bytes]:
    """The templated parts rendered with `context` (part name -> XML), as they go into the .docx."""
    replaced: dict[str, bytes] = {}
    for name, compiled in template.compiled.items():
        try:
            with budget():
                xml = render_text(compiled, context)
        except TemplateError as exc:  # the sandbox refused something, a limit was reached, or a filter failed
            raise TemplateProblem(f"{template.path.name}: {_short(str(exc))}") from None
        except (TypeError, ValueError, ArithmeticError, LookupError) as exc:  # e.g. a number added to a text
            raise TemplateProblem(f"{template.path.name}: {type(exc).__name__}: {_short(str(exc))}") from None
        except (RecursionError, MemoryError):  # a loop calling itself, a macro recursing
            raise TemplateProblem(f"{template.path.name}: the template calls itself without end") from None
        xml = re.sub(r"\n<w:p([ >])", r"<w:p\1", xml)
        xml = xml.replace("{_{", "{{").replace("}_}", "}}").replace("{_%", "{%").replace("%_}", "%}")
        xml = _TOOL.resolve_listing(xml)
        if name == "word/document.xml":  # a picture repeated by a loop needs its own id each time
            xml = _renumber(xml)
        replaced[name] = xml.encode("utf-8")
    return replaced


def _short(text: str, length: int = 200) -> str:
    return text if len(text) <= length else text[:length - 1] + "…"


def _renumber(xml: str) -> str:
    ids = itertools.count(1)
    return _DOCPR_ID.sub(lambda m: f"{m.group(1)}{next(ids)}{m.group(3)}", xml)


def qr_png(url: str) -> bytes:
    out = io.BytesIO()
    segno.make(url, error="m", micro=False).save(out, kind="png", scale=4, border=2)
    return out.getvalue()


# --- formatting ---------------------------------------------------------------------------------------------
def chinese_date(text: str, tz, with_time: bool) -> str:
    """An ISO date or time as printed: 2026年11月2日 (09:30)."""
    try:
        moment = datetime.fromisoformat(text)
    except (TypeError, ValueError):
        return str(text)
    if with_time and moment.tzinfo is not None:
        moment = moment.astimezone(tz)
    day = f"{moment.year}年{moment.month}月{moment.day}日"
    return f"{day} {moment:%H:%M}" if with_time else day


@dataclass
class PrintInfo:
    """What this print is: its copies and signature lines, who prints it and how to verify it."""

    printout: str
    title: str
    copies: list[str]
    signatures: list[str]
    printed_by: str
    printed_at: str
    code: str
    url: str
    reprint: bool


def context(wf, site, state: dict, ledger: list[dict], names: dict[str, str], info: PrintInfo,
            hidden: set[str] = frozenset()) -> dict:
    """Everything a template may use (docs/printouts.md), formatted for paper; `hidden` fields (customer data
    the printing user may not see) print as 保密."""
    form, tz = wf.form, site.tz
    name = lambda user: names.get(user) or user or ""  # noqa: E731 - a display name, or the login
    data = {k: _clean(v) for k, v in state["data"].items() if k not in hidden}
    marks = state.get(SIGNED, {})  # (the signatures drawn on screen: when, by whom, over which data)
    d, cap = {}, {}
    for key, schema in form.properties.items():
        d[key] = "（保密）" if key in hidden and state["data"].get(key) not in (None, "") else _display(
            schema, data.get(key), tz)
        if schema.get("format") == "money" and data.get(key) not in (None, ""):
            cap[key] = money.capitals(data[key])
    approvals = [_signature(wf, site, sig, name, tz) for sig in state.get("approvals", [])]
    paper = Paper(state, approvals, name, lambda at: chinese_date(at, tz, True))
    steps: dict[str, dict] = {"signed": {}, "checks": {}}
    for step in wf.steps.values():
        value = step.print_value(paper) if step.printed_as else None
        if value is not None:
            steps.setdefault(step.printed_as, {})[step.id] = value
    return {
        "title": info.title, "form": form.title, "number": state.get("number") or "", "site": site.name,
        "workflow": wf.title, "status": words.status(state["status"]),
        "outcome": wf.outcome_title(state.get("outcome")), "started_by": name(state["started_by"]),
        "started_at": chinese_date(state["started_at"], tz, True),
        "d": d, "cap": cap,
        "raw": {k: data.get(k, [] if s.get("type") == "array" else None) for k, s in form.properties.items()},
        "label": {k: form.title_of(k) for k in form.properties},
        "fields": [{"name": k, "label": form.title_of(k), "value": d[k]} for k in form.properties if d[k]],
        "approvals": approvals, **steps,
        "ledger": [{"ledger": e["ledger"], "entry": e["entry"], "amount": money.yuan_label(e["amount"]),
                    "direction": wf.ledgers[e["ledger"]].entries.get(e["entry"], "") if e["ledger"] in wf.ledgers
                    else "",
                    "entry_title": wf.ledgers[e["ledger"]].entry_title(e["entry"]) if e["ledger"] in wf.ledgers
                    else words.entry(e["entry"]),
                    "amount_cap": money.capitals(money.from_fen(e["amount"])),
                    "balance": money.yuan_label(e["balance"]), "at": chinese_date(e["at"], tz, True),
                    "memo": e.get("memo") or "", "name": name(e.get("actor"))} for e in ledger],
        "balances": {lid: money.yuan_label(state.get("balances", {}).get(lid, 0)) for lid in wf.ledgers},
        "signatures": info.signatures, "copies": info.copies or [""], "copy_mark": "副本" if info.reprint else "",
        "signed_at": {f: chinese_date(marks[f]["at"], tz, True) if f in data and f in marks else ""
                      for f in form.signatures},  # when each signature was drawn on screen
        "printed_at": chinese_date(info.printed_at, tz, True), "printed_by": name(info.printed_by),
        "verify_code": info.code, "verify_url": info.url,
        "parent": {"number": (state.get("parent") or {}).get("number") or "",
                   "title": (state.get("parent") or {}).get("title") or ""},  # the case that started this one
    }


_CONTROL = re.compile(r"[\x00-\x09\x0b-\x1f\x7f]")  # all but the newline: invalid in XML, or breaks in docxtpl


def _clean(value):
    """Data as it may go into the document: control characters other than newlines removed."""
    if isinstance(value, str):
        return _CONTROL.sub("", value)
    if isinstance(value, list):
        return [_clean(v) for v in value]
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    return value


def _display(schema: dict, value, tz) -> str:
    if value is None or value == "":
        return ""
    kind = schema.get("format")
    if kind == "money":
        return money.yuan_label(money.to_fen(value))
    if kind == SIGNATURE_FORMAT:  # (the picture prints where the template has its placeholder)
        return "已簽名"
    if kind in ("date", "date-time"):
        return chinese_date(value, tz, kind == "date-time")
    if isinstance(value, bool):
        return "是" if value else "否"
    if isinstance(value, list):
        items = schema.get("items") if isinstance(schema.get("items"), dict) else {}
        return "、".join(_display(items, v, tz) for v in value)
    if isinstance(value, dict):  # a table's row: each value with its column's title
        props = schema.get("properties", {})
        return "，".join(f"{props.get(k, {}).get('title') or k}：{_display(props.get(k, {}), x, tz)}"
                        for k, x in value.items())
    return str(value)


@dataclass
class Paper:
    """What a step kind formats its part of a printout from (`Step.print_value`)."""

    state: dict
    approvals: list[dict]  # every signature, formatted
    name: Any  # a login -> the name printed
    when: Any  # a stored time -> as printed

    def ticked(self, step_id: str) -> dict:
        """Checklist ticks of a step, from the open task or from the history kept in `checklists`."""
        for task in self.state.get("tasks", {}).values():
            if task["step"] == step_id:
                return task.get("checked", {})
        return self.state.get("checklists", {}).get(step_id, {})


def _signature(wf, site, sig: dict, name, tz) -> dict:
    step = wf.steps.get(sig["step"])
    outcome = sig.get("outcome")
    outcome_title = step.outcome_title(outcome) if outcome and isinstance(step, ChoiceStep) else \
        words.OUTCOMES.get(outcome or "", "")
    return {"step": sig["step"], "step_title": step.title if step else "", "role": sig["role"],
            "role_title": site.roles.get(sig["role"], sig["role"]), "by": sig["by"], "name": name(sig["by"]),
            "acting_for": name(sig.get("acting_for")) if sig.get("acting_for") else "",
            "at": chinese_date(sig["at"], tz, True), "outcome": outcome or "",
            "outcome_title": outcome_title, "comment": sig.get("comment") or ""}
