"""Printouts on the toy `memo` form: rendering, escaping, copies, QR and verification, the template linter."""

from __future__ import annotations

import io
import re
import shutil
import zipfile
from pathlib import Path

import docx
import pytest
from docx.shared import Cm

from engine import definitions, printouts
from engine.errors import Forbidden, Invalid, NotFound
from engine.money import capitals
from engine.service import Engine

from .conftest import REPO, Cli, docx_text

TOY = REPO / "tests" / "fixtures" / "toy"
NASTY = 'A&B <c> "q"\n第二行'


@pytest.fixture
def engine(new_db, tmp_path, clock):
    eng = Engine(new_db("p.db"), definitions.load_strict(TOY), clock=clock)
    for user, role, title in (("c", "clerk", "陳文員"), ("e", "eng", "鄭工"), ("s", "sec", "孫保安"),
                              ("b", "boss", "白經理")):
        eng.add_user(user, [role], title)
    yield eng
    eng.close()


def text_of(body: bytes) -> str:
    return "\n".join(p.text for p in docx.Document(io.BytesIO(body)).paragraphs)


def media(body: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(body)) as z:
        return {n: z.read(n) for n in z.namelist() if n.startswith("word/media/")}


def test_a_printout_has_both_copies_the_number_amounts_signatures_and_escaped_data(engine):
    inst = engine.start("approve_all", "c", {"subject": NASTY, "amount": "1234.5"})
    task = inst["tasks"][0]["id"]
    engine.complete(task, "e", "approve", comment="同意 & <好>")
    body, info = engine.render(inst["id"], "memo", "c")
    text = text_of(body)
    assert text.count("測試單 存根聯") == 1 and text.count("測試單 業主聯") == 1  # 一式兩聯 in one document
    assert text.count(f"編號：{inst['number']}") == 2
    assert "主旨：A&B <c> \"q\"\n第二" in text  # escaped in the XML, a newline becomes a line break
    assert "金額：¥1,234.50（人民幣壹仟貳佰叁拾肆元伍角整）" in text
    assert "鄭工（工程部）同意 同意 & <好>" in text
    assert text.count("經手人：＿＿＿＿＿＿") == 2 and text.count("業主：＿＿＿＿＿＿") == 2
    assert f"驗證碼：{info['code']} http://localhost:8000/verify/{info['code']}" in text
    assert "副本" not in text and info["print_no"] == 1
    (qr,) = media(body).values()  # the placeholder picture now holds the QR of the verification address
    assert qr == printouts.qr_png(info["url"])
    xml = zipfile.ZipFile(io.BytesIO(body)).read("word/document.xml").decode()
    ids = re.findall(r'<wp:docPr\b[^>]*\bid="(\d+)"', xml)
    assert len(ids) == 2 and len(set(ids)) == 2  # the QR of each copy has its own drawing id


def test_each_print_is_logged_and_a_reprint_is_a_copy(engine):
    inst = engine.start("approve_all", "c", {"subject": "影印"})
    first = engine.render(inst["id"], "memo", "c")[1]
    body, second = engine.render(inst["id"], "memo", "e")
    assert (second["print_no"], second["reprint"]) == (2, True)
    assert text_of(body).count("副本") == 2
    events = [e for e in engine.show(inst["id"])["history"] if e["type"] == "printout_issued"]
    assert [(e["actor"], e["payload"]["print_no"], e["payload"]["code"]) for e in events] == [
        ("c", 1, first["code"]), ("e", 2, second["code"])]
    assert events[0]["payload"]["template_hash"] == printouts.load(TOY / "printouts" / "memo.docx").digest
    assert engine.store.verify_chain()[0]
    old, new = engine.verify(first["code"]), engine.verify(second["code"])
    assert (old["genuine"], old["current"], new["genuine"], new["current"]) == (True, False, True, True)
    assert "之後已重印" in old["message"] and new["message"] == "真實文件：有效，為最新列印"


def test_verify_tells_forged_unknown_changed_and_cancelled_documents_apart(engine, new_db):
    inst = engine.start("approve_all", "c", {"subject": "憑證"})
    code = engine.render(inst["id"], "memo", "c")[1]["code"]
    assert engine.verify(code.lower().replace("-", " "))["genuine"]  # typed by hand
    tampered = code[:-1] + ("A" if code[-1] != "A" else "B")
    assert engine.verify(tampered) == {"code": tampered, "genuine": False, "current": False,
                                       "message": "驗證碼無效：不是本系統發出的驗證碼（可能輸入錯誤或被竄改）"}
    assert not engine.verify("hello")["genuine"]
    other = Engine(new_db("other.db"), engine.registry)  # a code from another site's secret
    other.add_user("c", ["clerk"])
    foreign = other.render(other.start("approve_all", "c", {"subject": "x"})["id"], "memo", "c")[1]["code"]
    other.close()
    assert not engine.verify(foreign)["genuine"]
    engine.complete(inst["tasks"][0]["id"], "e", "reject", comment="不合")  # the instance ends
    checked = engine.verify(code)
    assert checked["genuine"] and not checked["current"] and "此單已完成" in checked["message"]


def test_printing_needs_a_role_of_the_workflow_and_a_declared_printout(engine):
    inst = engine.start("approve_all", "c", {"subject": "權限"})
    engine.add_user("x", [])
    with pytest.raises(Forbidden):
        engine.render(inst["id"], "memo", "x")
    with pytest.raises(NotFound, match="沒有列印格式"):
        engine.render(inst["id"], "memoo", "c")
    assert [e["type"] for e in engine.show(inst["id"])["history"]].count("printout_issued") == 0


def test_the_cli_renders_and_verifies(new_db, tmp_path):
    cli = Cli(new_db("cli.db"), TOY)
    cli.run("users", "add", "c", "--role", "clerk")
    inst = cli.json("start", "approve_all", "--as", "c", "--data", '{"subject": "命令列"}')
    out = tmp_path / "memo.docx"
    info = cli.json("render", str(inst["id"]), "memo", "-o", str(out), "--as", "c")
    assert "主旨：命令列" in text_of(out.read_bytes())
    assert cli.json("verify", info["code"])["current"] is True
    bad = cli.run("verify", "0000-0000-00", ok=False)
    assert bad.returncode == 1 and '"genuine": false' in bad.stdout
    if shutil.which("soffice") is None:
        proc = cli.run("render", str(inst["id"]), "memo", "-o", str(out), "--as", "c", "--pdf", ok=False)
        assert proc.returncode == 1 and "LibreOffice" in proc.stderr
    else:  # pragma: no cover - only where LibreOffice is installed
        info = cli.json("render", str(inst["id"]), "memo", "-o", str(out), "--as", "c", "--pdf")
        assert Path(info["pdf"]).read_bytes().startswith(b"%PDF")


def test_capitals_as_vouchers_write_them():
    assert [capitals(v) for v in ("0.05", "10", "100010", "105000", "1000000.01", "20.07", "3.10")] == [
        "人民幣伍分", "人民幣壹拾元整", "人民幣壹拾萬零壹拾元整", "人民幣壹拾萬伍仟元整", "人民幣壹佰萬元零壹分",
        "人民幣貳拾元零柒分", "人民幣叁元壹角整"]


# --- the linter ------------------------------------------------------------------------------------------------
def make_template(path: Path, lines: list[str], qr: bool = True, copies: bool = True) -> None:
    """A template of these paragraphs (and, at the end, the loop that prints each copy's label)."""
    doc = docx.Document()
    for line in lines + (["{%p for copy in copies %}", "{{ copy }}", "{%p endfor %}"] if copies else []):
        doc.add_paragraph(line)
    if qr:
        png = path.with_suffix(".png")
        png.write_bytes(printouts.qr_png("x"))
        doc.add_paragraph().add_run().add_picture(str(png), width=Cm(2))._inline.docPr.set("descr", "goldkey:qr")
    doc.save(str(path))


@pytest.mark.parametrize("lines, qr, message", [
    (["{{ title }}", "{{ ownr }}"], True, "printouts/memo.docx:2:1: unknown variable 'ownr'"),
    (["{{ d.subjct }}"], True, "printouts/memo.docx:1:1: 'd.subjct': no field 'subjct'; did you mean 'subject'?"),
    (["{{ cap.subject }}"], True, "printouts/memo.docx:1:1: 'cap.subject': no money field 'subject'"),
    (["x", "{{ d.subject.__class__.__mro__ }}"], True, "printouts/memo.docx:2:1: '__mro__' reaches for Python"),
    (["{{ raw['_x'] }}"], True, "printouts/memo.docx:1:1: '_x' reaches for Python internals"),
    (["{{ title }}", "{% if number }}", "x"], None,
     "printouts/memo.docx:2:1: a tag docxtpl cannot read"),
    (["{{ title }}"], False, "printouts/memo.docx:1:1: no QR picture"),
    (["{{ title }}", "{{ signed.sign.nme }}"], True,
     "printouts/memo.docx:2:1: 'signed.sign.nme': a signature has no 'nme'; did you mean 'name'?"),
    (["{{ title }}", "{{ raw.count + '件' }}"], True,
     "printouts/memo.docx:1:1: does not print with sample data: memo.docx: TypeError"),
])
def test_a_bad_template_is_a_lint_error_naming_the_file_and_paragraph(tmp_path, lines, qr, message):
    """(qr None: a QR picture, and the lines as they are, without the copies loop added after them.)"""
    shutil.copytree(TOY, tmp_path / "defs")
    make_template(tmp_path / "defs" / "printouts" / "memo.docx", lines, qr is not False, copies=qr is not None)
    problems = [str(p) for p in definitions.load(tmp_path / "defs", "", templates=True).problems]
    assert len(problems) == 1 and problems[0].startswith(message), problems


def test_a_printout_in_two_copies_that_prints_its_body_once_is_a_warning(tmp_path):
    """(A warning, not an error: the document still prints, once; a template that passed check before still does.)"""
    shutil.copytree(TOY, tmp_path / "defs")
    make_template(tmp_path / "defs" / "printouts" / "memo.docx", ["{{ title }}", "{{ d.subject }}"], copies=False)
    registry = definitions.load(tmp_path / "defs", "", templates=True)
    assert registry.problems == []
    assert ("printouts/memo.docx:1:1: warning: printout 'memo' is printed in 2 copies (存根聯、業主聯) but the "
            "template prints its body once: put the body between {%p for copy in copies %} and {%p endfor %}"
            ) in map(str, registry.warnings)


def test_a_style_without_a_chinese_font_is_a_warning_of_check(tmp_path):
    """python-docx's default template takes the East Asian font from the theme (a Japanese one)."""
    registry = definitions.load(TOY, "", templates=True)
    assert registry.problems == []
    warning = ("printouts/memo.docx:1:1: warning: style 'Normal' takes its East Asian font from the theme (often a "
               "Japanese font): choose a Chinese font (e.g. SimSun) for the style's Asian text")
    assert warning in map(str, registry.warnings)
    assert not [w for w in definitions.load(REPO, "", templates=True).warnings if w.path.startswith("printouts/")]


def test_printout_new_writes_a_starting_template_that_checks_and_prints_and_never_overwrites(new_db, tmp_path):
    defs = shutil.copytree(TOY, tmp_path / "defs")
    cli = Cli(new_db("new.db"), defs)
    made = cli.json("printout", "new", "memo", "receipt", "--title", "收據")
    path = defs / "printouts" / "memo_receipt.docx"
    assert made["file"] == str(path) and made["problems"] == [] and "receipt: {title: 收據" in made["declare"]
    before = path.read_bytes()
    again = cli.run("printout", "new", "memo", "receipt", ok=False)
    assert again.returncode == 1 and "已存在" in again.stderr and path.read_bytes() == before
    form = defs / "forms" / "memo.yaml"
    form.write_text(form.read_text(encoding="utf-8").replace(
        "printouts:\n", "printouts:\n  receipt: {title: 收據, template: memo_receipt.docx, copies: [甲聯, 乙聯]}\n"),
        encoding="utf-8")
    check = cli.run("check")
    assert check.returncode == 0 and "memo_receipt.docx" not in check.stderr
    cli.run("users", "add", "c", "--role", "clerk")
    cli.run("users", "add", "e", "--role", "eng")
    inst = cli.json("start", "approve_all", "--as", "c", "--data", '{"subject": "新範本 & <測試>", "amount": "12.50"}')
    cli.run("complete", cli.task(inst, "sign"), "--as", "e", "--outcome", "approve")
    out = tmp_path / "receipt.docx"
    cli.json("render", str(inst["id"]), "receipt", "-o", str(out), "--as", "c")
    text = docx_text(out.read_bytes())
    assert text.count("收據") == 2 and "甲聯" in text and "乙聯" in text and "新範本 & <測試>" in text
    assert "¥12.50" in text and "全體會簽" in text  # the fields, and the approvals of its workflow
    missing = cli.run("printout", "new", "mem", "x", ok=False)
    assert missing.returncode == 4 and "did you mean 'memo'" in missing.stderr


def test_the_sandbox_refuses_internals_even_when_the_linter_is_skipped(tmp_path):
    path = tmp_path / "evil.docx"
    make_template(path, ["{{ d.subject.__class__.__base__.__subclasses__() }}"])
    with pytest.raises(printouts.TemplateProblem, match="unsafe"):  # refused, not run
        printouts.render(printouts.load(path), {"d": {"subject": "x"}})
    make_template(path, ["|{{ cycler.__init__ }}|", "{{ d.subject }}"])
    template = printouts.load(path)
    text = text_of(printouts.render(template, {"d": {"subject": "x"}}))
    assert text.split("\n")[:2] == ["||", "x"]  # what the sandbox refuses prints nothing: no object leaks out
    make_template(path, ["{{ d.subject }}"])  # a changed file is prepared again
    assert printouts.load(path) is not template


def test_a_missing_template_is_reported_at_the_form(tmp_path):
    shutil.copytree(TOY, tmp_path / "defs")
    (tmp_path / "defs" / "printouts" / "memo.docx").unlink()
    problems = [str(p) for p in definitions.load(tmp_path / "defs", "", templates=True).problems]
    assert problems == ["forms/memo.yaml:19:32: printout 'memo': template printouts/memo.docx does not exist"]


def test_a_broken_file_is_an_error_not_a_crash(new_db, engine, tmp_path):
    shutil.copytree(TOY, tmp_path / "defs")
    (tmp_path / "defs" / "printouts" / "memo.docx").write_bytes(b"not a zip")
    problems = [str(p) for p in definitions.load(tmp_path / "defs", "", templates=True).problems]
    assert problems == ["printouts/memo.docx:1:1: not a Word .docx file: File is not a zip file"]
    broken = Engine(new_db("b.db"), definitions.load_strict(tmp_path / "defs"))
    broken.add_user("c", ["clerk"])
    iid = broken.start("approve_all", "c", {"subject": "x"})["id"]
    with pytest.raises(Invalid, match="^列印範本 printouts/memo.docx 無法使用，請通知管理人員修正範本"):
        broken.render(iid, "memo", "c")
    assert broken.store.conn.execute("SELECT count(*) FROM prints").fetchone() == (0,)
    broken.close()


def test_verification_compares_only_the_fields_a_template_prints():
    from engine.core import shown_hash

    assert printouts.load(TOY / "printouts" / "memo.docx").shown == ["amount", "note", "subject"]
    before = {"subject": "甲", "amount": "10.00"}
    assert shown_hash(dict(before, count=3), ["amount", "note", "subject"]) == shown_hash(before, ["amount", "note",
                                                                                                   "subject"])
    assert shown_hash(dict(before, note="改"), ["amount", "note", "subject"]) != shown_hash(before, ["amount",
                                                                                                     "note", "subject"])
    assert shown_hash(dict(before, count=3), None) != shown_hash(before, None)  # `fields`: everything counts
