"""Every check of the printout templates, in one place (`goldkey check` runs them; nothing else does).

A template is read as the renderer reads it, linted (variables, fields, steps and ledgers it names, Python
internals, the QR picture, the copies loop, a signature's keys, the field each signature picture names), then
rehearsed: printed with the real renderer from sample data of its form (every field filled, with text that needs
escaping) and as a fresh instance (nothing filled or signed), and each part it fills read back as XML. The styles
it uses must name an East Asian font (a warning: Word would fall back to the theme's, often a Japanese one).
Problems point at `printouts/x.docx:P:1`, P the paragraph (docxtpl puts each paragraph on a line of its own).
"""

from __future__ import annotations

import html
import re
from datetime import UTC, datetime
from pathlib import Path

from jinja2 import nodes
from lxml import etree

from . import samples
from .definitions import read_text
from .hints import did_you_mean
from .printouts import (
    CONTEXT,
    QR_DESCR,
    PrintInfo,
    Template,
    TemplateProblem,
    context,
    fill,
    load,
    paragraph_of,
)
from .signatures import DESCR
from .steps import KINDS
from .yamlsrc import Problem, parse

_KEYED = {"d": "field", "raw": "field", "label": "field", "cap": "money field", "signed": "approval step",
          "checks": "checklist step", "balances": "ledger", "signed_at": "signature field"}
_JINJA = frozenset({"loop", "range", "namespace"})  # Jinja's own names a template may use
SIGNATURE_KEYS = ("step", "step_title", "role", "role_title", "by", "name", "acting_for", "at", "outcome",
                  "outcome_title", "comment")
_W = "{http://schemas.openxmlformats.org/wordprocessingml/2006/main}"
_STYLE_REFS = re.compile(rb'<w:(?:pStyle|tblStyle|rStyle) w:val="([^"]+)"')


def lint_printouts(registry, root: Path, prefix: str) -> tuple[list[Problem], list[Problem]]:
    """(problems, warnings) of every printout template the forms declare: a missing file, a tag that cannot
    be read, an unknown variable or field, a reach for internals, no QR picture, a document that does not
    print; as warnings (it still prints), copies not repeated and styles without a Chinese font."""
    problems: list[Problem] = []
    warnings: list[Problem] = []
    shown = (lambda rel: rel) if prefix in ("", ".") else (lambda rel: f"{prefix.rstrip('/')}/{rel}")
    for form in registry.forms.values():
        users = [wf for wf in registry.workflows.values() if wf.form.id == form.id]
        for name, spec in form.printouts.items():
            rel = f"printouts/{spec['template']}"
            path = root / rel
            if not path.is_file():
                form_rel = f"forms/{form.id}.yaml"
                text = read_text(root / form_rel) if (root / form_rel).is_file() else ""
                source, _ = parse(shown(form_rel), text)
                problems.append(source.problem(("printouts", name, "template"), f"printout '{name}': template "
                                                                                 f"{rel} does not exist"))
                continue
            try:
                template = load(path)
            except TemplateProblem as exc:
                problems.append(Problem(shown(rel), exc.paragraph, 1, exc.message))
                continue
            found = lint(template, context_keys(form, users))
            if not found and users:
                found += rehearse(template, users[0], registry.site, name, spec)
            problems += [Problem(shown(rel), paragraph, 1, message) for paragraph, message in found]
            notes = list(font_warnings(template))
            if len(spec.get("copies") or []) > 1 and not _loops_over_copies(template):
                notes.append(f"printout '{name}' is printed in {len(spec['copies'])} copies "
                             f"({'、'.join(spec['copies'])}) but the template prints its body once: put the body "
                             "between {%p for copy in copies %} and {%p endfor %}")
            warnings += [Problem(shown(rel), 1, 1, f"warning: {message}") for message in notes]
    return problems, sorted(set(warnings))


def lint(template: Template, keys: dict[str, set[str]]) -> list[tuple[int, str]]:
    """(paragraph, message) for every variable the context does not have, every reach for an attribute
    starting with `_` (Python internals: the sandbox would refuse it when printing), a signature key that does
    not exist and a missing QR picture. `keys`: the ids `d`, `cap`, `signed`, ... accept."""
    problems: list[tuple[int, str]] = []
    if template.qr_part is None:
        problems.append((1, f"no QR picture: put a picture in the template and set its alternative text to "
                            f"'{QR_DESCR}'"))
    signed = keys.get("signature", set())
    for name, paragraph in template.placeholders:  # a picture `goldkey:signature:<field>`
        if name not in signed:
            fields = (": " + ", ".join(sorted(signed)) if signed else "; the form has none: declare one as "
                      "`{type: string, format: signature, title: 業主簽名}`")
            problems.append((paragraph, f"picture '{DESCR}{name}': no signature field '{name}'"
                                        f"{did_you_mean(name, signed)} (its alternative text is '{DESCR}' and the "
                                        f"name of a field with `format: signature`{fields})"
                                        + _near(template, paragraph)))
    allowed = CONTEXT | {cls.printed_as for cls in KINDS.values() if cls.printed_as}
    for name, source in template.sources.items():
        tree = template.trees[name]
        internals: set[int] = set()
        declared = {n.name for n in tree.find_all(nodes.Name) if n.ctx in ("store", "param")}

        def add(node, message: str, part: str = name, source: str = source) -> None:
            """A problem at the node's paragraph, quoting the paragraph's text (of the document's body)."""
            paragraph = paragraph_of(source, node.lineno)
            near = _near(template, paragraph) if part == "word/document.xml" else ""
            problems.append((paragraph, message + near))

        for node in tree.find_all(nodes.Name):
            if node.ctx == "load" and node.name not in allowed | _JINJA and node.name not in declared:
                add(node, f"unknown variable '{node.name}'{did_you_mean(node.name, allowed)} ({name}); see "
                          "docs/printouts.md for what a template may use")
        for node in tree.find_all((nodes.Getattr, nodes.Getitem)):
            attr = _attr(node)
            if isinstance(attr, str) and attr.startswith("_"):
                if node.lineno not in internals:  # one message for `x.__class__.__mro__`
                    internals.add(node.lineno)
                    add(node, f"'{attr}' reaches for Python internals, which templates may not use")
                continue
            base = node.node
            if isinstance(base, nodes.Name) and base.name in _KEYED and isinstance(attr, str) \
                    and base.name not in declared and attr not in keys.get(base.name, set()):
                known = keys.get(base.name, set())
                add(node, f"'{base.name}.{attr}': no {_KEYED[base.name]} '{attr}'{did_you_mean(attr, known)} ({name})")
            inner = base if isinstance(base, nodes.Getattr | nodes.Getitem) else None
            if inner is not None and isinstance(inner.node, nodes.Name) and inner.node.name == "signed" \
                    and "signed" not in declared and isinstance(attr, str) and attr not in SIGNATURE_KEYS:
                add(node, f"'signed.{_attr(inner)}.{attr}': a signature has no '{attr}'"
                          f"{did_you_mean(attr, SIGNATURE_KEYS)} (it has {', '.join(SIGNATURE_KEYS)})")
        for node in tree.find_all(nodes.Compare):  # `e.entry == 'refund'`: an entry one of the ledgers has
            operands = [node.expr, *(o.expr for o in node.ops)]
            entry = any(isinstance(o, nodes.Getattr | nodes.Getitem) and _attr(o) == "entry" for o in operands)
            listed = [i for o in operands if isinstance(o, nodes.List | nodes.Tuple) for i in o.items]
            for const in (o for o in operands + listed if entry and isinstance(o, nodes.Const)
                          and isinstance(o.value, str)):
                known = keys.get("entries", set())
                if const.value not in known:
                    add(node, f"no ledger has an entry '{const.value}'{did_you_mean(const.value, known)} ({name}); "
                              f"the entries are {', '.join(sorted(known)) or 'none (no ledgers)'}")
        for node in tree.find_all(tuple(_ELSEWHERE)):
            add(node, f"{{% {_ELSEWHERE[type(node)]} %}} is not available in printout templates: put the text in "
                      "this template")
        for node in tree.find_all(nodes.For):
            if node.recursive:
                add(node, "a `recursive` loop may call itself without end; write the levels as loops of their own")
    return sorted(set(problems))


_ELSEWHERE = {nodes.Include: "include", nodes.Extends: "extends", nodes.Import: "import",
              nodes.FromImport: "from … import"}  # (they read other templates: a printout has none to read)
_TAGS = re.compile(r"<[^>]+>")


def _near(template: Template, paragraph: int) -> str:
    """` (near “…”)`: the text of the paragraph a problem is in, as Word shows it (shortened)."""
    source = template.sources.get("word/document.xml", "")
    starts = [i for i, line in enumerate(source.split("\n")) if line.startswith("<w:p")]
    if not 0 < paragraph <= len(starts):
        return ""
    lines = source.split("\n")
    end = starts[paragraph] if paragraph < len(starts) else len(lines)
    text = html.unescape(_TAGS.sub("", "".join(lines[starts[paragraph - 1]:end]))).strip()
    return f" (near “{text[:57] + '…' if len(text) > 60 else text}”)" if text else ""


def context_keys(form, workflows) -> dict[str, set[str]]:
    """The ids each keyed mapping of the context accepts, for the linter (workflows: those using `form`)."""
    fields = set(form.properties)
    keys = {"d": fields, "raw": fields, "label": fields, "signed": set(), "checks": set(),
            "cap": {k for k, v in form.properties.items() if v.get("format") == "money"},
            "signature": set(form.signatures), "signed_at": set(form.signatures),
            "balances": {lid for wf in workflows for lid in wf.ledgers},
            "entries": {e for wf in workflows for lg in wf.ledgers.values() for e in lg.entries}}
    for step in (s for wf in workflows for s in wf.steps.values() if s.printed_as):
        keys.setdefault(step.printed_as, set()).add(step.id)
    return keys


def rehearse(template: Template, wf, site, name: str, spec: dict) -> list[tuple[int, str]]:
    """Print the template with the real renderer from sample data (every field filled, text with & < > and
    line breaks, every approval signed) and as a fresh instance; each part it fills must be well-formed XML."""
    now = datetime(2026, 12, 1, 1, 0, tzinfo=UTC).isoformat()
    copies = list(spec.get("copies") or [])
    info = PrintInfo(name, spec.get("title") or wf.form.title, copies, list(spec.get("signatures") or []),
                     "sample", now, "K7QX-M2PD-9A", f"{site.verify_url.rstrip('/')}/K7QX-M2PD-9A", False)
    full = {"number": "SAMPLE-2026-00001", "status": "active", "outcome": None, "started_by": "sample",
            "started_at": now, "data": samples.data(wf.form, rough=True), "tasks": {}, "balances": {},
            "approvals": [{"step": s.id, "role": s.roles[0] if s.roles else "", "by": "sample", "acting_for": None,
                           "at": now, "outcome": next(iter(s.outcomes), None), "comment": samples.ROUGH}
                          for s in wf.steps.values() if s.printed_as == "signed"]}
    fresh = dict(full, data={}, approvals=[])
    found: list[tuple[int, str]] = []
    for what, state in (("sample data", full), ("a fresh instance (nothing filled or signed yet)", fresh)):
        try:
            for xml in fill(template, context(wf, site, state, [], {}, info)).values():  # the parts that change
                etree.fromstring(xml)
        except TemplateProblem as exc:
            return [(1, f"does not print with {what}: {exc.message}")]  # (one message: the other would echo it)
        except etree.XMLSyntaxError as exc:
            return [(1, f"printed with {what}, the result is not a Word document ({exc}); a `|safe` or a raw tag "
                        "in the template can break it")]
    return found


def font_warnings(template: Template) -> list[str]:
    """A message for each style the document uses (and the defaults) that names no East Asian font, or takes
    it from the theme (once per version of the file: several printouts may share a template)."""
    if template.digest not in _FONTS:
        _FONTS[template.digest] = _font_warnings(template)
    return _FONTS[template.digest]


_FONTS: dict[str, list[str]] = {}


def _font_warnings(template: Template) -> list[str]:
    parts = {info.filename: data for info, data in template.entries}
    styles = parts.get("word/styles.xml")
    if styles is None:
        return []
    root = etree.fromstring(styles)
    by_id = {s.get(f"{_W}styleId"): s for s in root.iter(f"{_W}style")}
    used = {m.decode() for m in _STYLE_REFS.findall(parts.get("word/document.xml", b""))}
    used |= {sid for sid, s in by_id.items() if s.get(f"{_W}default") == "1" and s.get(f"{_W}type") == "paragraph"}
    defaults = root.find(f"{_W}docDefaults/{_W}rPrDefault/{_W}rPr")
    out = []
    for sid in sorted(used):
        font = _east_asian(by_id, sid, defaults)
        name = by_id[sid].find(f"{_W}name").get(f"{_W}val") if sid in by_id and by_id[sid].find(
            f"{_W}name") is not None else sid
        if font is None:
            out.append(f"style '{name}' names no East Asian font: Chinese text in it would print in Word's fallback "
                       "font; choose a Chinese font (e.g. SimSun) for the style's Asian text")
        elif font == "theme":
            out.append(f"style '{name}' takes its East Asian font from the theme (often a Japanese font): choose a "
                       "Chinese font (e.g. SimSun) for the style's Asian text")
    return out


def _east_asian(by_id: dict, sid: str, defaults) -> str | None:
    """The East Asian font a style resolves to along its `basedOn` chain, then the document defaults; "theme"
    when it comes from the theme; None when nothing names one."""
    seen = set()
    while sid in by_id and sid not in seen:
        seen.add(sid)
        fonts = by_id[sid].find(f"{_W}rPr/{_W}rFonts")
        if fonts is not None and fonts.get(f"{_W}eastAsiaTheme"):
            return "theme"
        if fonts is not None and fonts.get(f"{_W}eastAsia"):
            return fonts.get(f"{_W}eastAsia")
        based = by_id[sid].find(f"{_W}basedOn")
        sid = based.get(f"{_W}val") if based is not None else None
    fonts = defaults.find(f"{_W}rFonts") if defaults is not None else None
    if fonts is not None and fonts.get(f"{_W}eastAsiaTheme"):
        return "theme"
    return fonts.get(f"{_W}eastAsia") if fonts is not None else None


def _loops_over_copies(template: Template) -> bool:
    """Does some part repeat its content for each of the printout's copies (`for ... in copies`)?"""
    for tree in template.trees.values():
        for loop in tree.find_all(nodes.For):
            if isinstance(loop.iter, nodes.Name) and loop.iter.name == "copies":
                return True
    return False


def _attr(node) -> str | None:
    if isinstance(node, nodes.Getattr):
        return node.attr
    return node.arg.value if isinstance(node.arg, nodes.Const) else None
