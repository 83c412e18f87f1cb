"""Signatures drawn on screen (`format: signature`): the field and its lint, the picture checks, the binding of a
signature to the data it signed (state and audit log), the upload API, a printout that prints the picture (read
back with python-docx), verification stating the signature's hash, the template lint, the pages; on a small
definitions folder of its own (`consent`), and on the repository's 金鑰匙服務單."""

from __future__ import annotations

import io
import re
import struct
import zipfile
import zlib
from pathlib import Path

import docx
import pytest
from docx.shared import Cm
from starlette.testclient import TestClient

from engine import core, definitions, printouts, signatures
from engine.errors import Invalid
from engine.service import Engine
from server import forms_html
from server.app import create_app

from .conftest import REPO, Clock
from .procedures.test_golden_key import PAID

SITE = "site: 測試管理處\nroles:\n  clerk: {title: 文員}\n  guard: {title: 保安}\n"
FORM = """\
id: consent
title: 裝修同意書
number: "TY-{year}-{seq:04}"
schema:
  type: object
  required: [subject]
  properties:
    subject: {type: string, title: 主旨, maxLength: 100}
    amount: {type: string, format: money, title: 金額}
    note: {type: string, title: 備註, maxLength: 100}
    owner_sign: {type: string, format: signature, title: 業主簽名}
    staff_sign: {type: string, format: signature, title: 經手人簽名}
printouts:
  paper: {title: 裝修同意書, template: consent.docx, copies: [存根聯, 業主聯]}
"""
WORKFLOW = """\
id: consent
title: 簽署同意書
form: consent
start: {title: 登記, roles: [clerk], fields: [subject, amount, owner_sign], next: revise}
steps:
  revise: {kind: form, title: 補正及簽名, roles: [clerk], fields: [subject, note, owner_sign, staff_sign], next: done}
  done: {kind: end, title: 完成, outcome: done}
"""
PASSWORD = "secret-pass"


def png(width: int = 60, height: int = 24, seed: int = 0) -> bytes:
    """A real PNG (RGBA): a stroke across a transparent box; another `seed`, another picture."""
    rows = b"".join(b"\0" + b"".join(b"\x10\x20\x6b\xff" if abs((x * height // width + seed) % height - y) <= 1
                                     else b"\0\0\0\0" for x in range(width)) for y in range(height))

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 6, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b""))


def consent_docx(path: Path, names: tuple[str, ...] = ("owner_sign", "staff_sign")) -> None:
    """The printout: subject, a signature picture per name (made from one picture, as the QR: python-docx keeps
    one media part for the three) and when it was signed (a name that is no field: the owner's time), the QR, in
    both copies."""
    box = path.with_name("box.png")
    box.write_bytes(png(50, 20, seed=7))
    document = docx.Document()
    for line in ("{%p for copy in copies %}", "{{ title }} {{ copy }}", "主旨：{{ d.subject }}"):
        document.add_paragraph(line)
    for name in names:
        line = document.add_paragraph(f"簽名 {name}：")
        line.add_run().add_picture(str(box), width=Cm(5))._inline.docPr.set("descr", f"goldkey:signature:{name}")
        line.add_run(f" {{{{ signed_at.{name if name in ('owner_sign', 'staff_sign') else 'owner_sign'} }}}}")
    document.add_paragraph().add_run().add_picture(str(box), width=Cm(2))._inline.docPr.set("descr", "goldkey:qr")
    document.add_paragraph("{%p endfor %}")
    document.save(str(path))


def write_defs(root: Path, form: str = FORM, workflow: str = WORKFLOW) -> Path:
    for folder in ("forms", "workflows", "printouts"):
        (root / folder).mkdir(parents=True, exist_ok=True)
    (root / "goldkey.yaml").write_text(SITE, encoding="utf-8")
    (root / "forms" / "consent.yaml").write_text(form, encoding="utf-8")
    (root / "workflows" / "consent.yaml").write_text(workflow, encoding="utf-8")
    consent_docx(root / "printouts" / "consent.docx")
    return root


@pytest.fixture
def defs(tmp_path) -> Path:
    return write_defs(tmp_path / "defs")


@pytest.fixture
def engine(new_db, defs, clock):
    eng = Engine(new_db("sign.db"), definitions.load_strict(defs), clock=clock)
    eng.add_user("c", ["clerk"], "陳文員")
    eng.add_user("g", ["guard"], "郭保安")
    yield eng
    eng.close()


def pictures(body: bytes) -> list[tuple[str, bytes]]:
    """(alternative text, picture bytes) of every picture of a .docx, read back with python-docx."""
    document = docx.Document(io.BytesIO(body))
    out = []
    for shape in document.inline_shapes:
        inline = shape._inline
        rid = inline.graphic.graphicData.pic.blipFill.blip.embed
        out.append((inline.docPr.get("descr"), document.part.related_parts[rid].blob))
    return out


# --- the field ---------------------------------------------------------------------------------------------------

def test_a_signature_field_holds_the_id_of_a_picture(defs):
    form = definitions.load_strict(defs).forms["consent"]
    assert form.signatures == ("owner_sign", "staff_sign")
    assert form.properties["owner_sign"] == {"type": "string", "format": "signature", "title": "業主簽名",
                                             "pattern": "^[0-9a-f]{64}$"}
    digest = "ab" * 32
    assert form.validate({"subject": "x", "owner_sign": digest}) == []
    assert form.validate({"subject": "x", "owner_sign": "我簽過了"}) == [
        {"field": "owner_sign", "message": "「業主簽名」應為簽名板上的簽名，請重新簽名"}]
    field = forms_html.make_field("owner_sign", form.properties["owner_sign"], None, True)
    assert (field.control, field.input_name) == ("signature", "f.owner_sign")
    assert not forms_html.has_files([forms_html.Section(None, [field])])  # (a plain post: the pad uploads first)


def lint_lines(root: Path) -> list[str]:
    return [str(p) for p in definitions.load(root, "").problems]


def at(text: str, line_text: str, token: str) -> str:
    """`line:col` of `token` on the line of `text` that contains `line_text`."""
    for number, line in enumerate(text.splitlines(), 1):
        if line_text in line:
            return f"{number}:{line.index(token) + 1}"
    raise AssertionError(line_text)


ROWS = ("    rows:\n      type: array\n      title: 明細\n      items:\n        type: object\n        properties:\n"
        "          signed: {type: string, format: signature, title: 簽收}\n")
OTHER = "    other_sign: {type: string, format: signature, title: 見證人簽名}\n"


@pytest.mark.parametrize("form, line, token, message", [
    (FORM.replace("owner_sign: {type: string,", "owner_sign: {type: integer,"), "owner_sign: {type: integer",
     "integer", "signature field 'owner_sign' holds the id of the picture signed on screen: its type is string "
                "(write `type: string`, or leave `type` out)"),
    (FORM.replace("    staff_sign:", ROWS + "    staff_sign:"), "signed: {type: string", "signature",
     "a signature is a field of the form, not a column of a table: move 'signed' out of 'rows' into "
     "schema.properties"),
    (FORM.replace("    staff_sign:", OTHER + "    staff_sign:").replace(
        "printouts:\n", 'computed:\n  other_sign: "subject"\nprintouts:\n'), '  other_sign: "subject"', "other_sign",
     "signature field 'other_sign' is signed on screen, not computed: remove it from `computed`"),
])
def test_a_misused_signature_field_is_a_lint_problem_at_its_place(tmp_path, form, line, token, message):
    root = write_defs(tmp_path / "defs", form)
    assert lint_lines(root) == [f"forms/consent.yaml:{at(form, line, token)}: {message}"]


def test_a_signature_in_a_record_type_is_a_lint_problem(defs):
    record = ("id: tenant\ntitle: 商戶\nkey: [name]\nroles: [clerk]\nedit: [clerk]\nschema:\n  type: object\n"
              "  properties:\n    name: {type: string, title: 名稱}\n"
              "    sign: {type: string, format: signature, title: 簽名}\n")
    (defs / "records").mkdir()
    (defs / "records" / "tenant.yaml").write_text(record, encoding="utf-8")
    assert lint_lines(defs) == [f"records/tenant.yaml:{at(record, 'sign:', 'signature')}: signature field 'sign': a "
                                "record has no step to sign at; put the signature in the form of a workflow whose "
                                "step the signer is present at"]


# --- the picture -------------------------------------------------------------------------------------------------

def test_only_a_whole_png_of_a_sensible_size_is_a_signature():
    good = png()
    assert signatures.check_image(good) == (60, 24)
    header = good[:33]
    cases = {
        b"": "沒有簽名：請在框內簽名後再送出",
        b"\xff\xd8\xff\xe0" + b"\0" * 40: "簽名必須是 PNG 圖片（簽名板送出的圖檔）",
        good[:-8]: "簽名圖檔已損壞（不是完整的 PNG 圖片）",
        good[:40] + bytes([good[40] ^ 1]) + good[41:]: "簽名圖檔已損壞（PNG 區塊不完整）",
        good + b"\0" * signatures.MAX_BYTES: "簽名圖檔不可超過 512 KB",
        png(5000, 1): "簽名圖片的大小不合理（5000×1 像素；每邊最多 4096 像素）",
        header + good[33:37]: "簽名圖檔已損壞（不是完整的 PNG 圖片）",
    }
    for data, message in cases.items():
        with pytest.raises(Invalid) as caught:
            signatures.check_image(data)
        assert caught.value.message == message and caught.value.details[0]["field"] == "file"
    bomb = good[:33] + b"".join(  # an IDAT that inflates to more than 60×24 pixels can hold
        struct.pack(">I", len(body)) + b"IDAT" + body + struct.pack(">I", zlib.crc32(b"IDAT" + body))
        for body in [zlib.compress(b"\0" * 1_000_000)]) + good[-12:]
    with pytest.raises(Invalid, match="影像資料不完整"):
        signatures.check_image(bomb)


# --- bound to the data it signed -----------------------------------------------------------------------------------

def test_a_signature_is_bound_to_the_hash_of_the_data_as_it_stood(engine):
    first, second, third = (engine.attach("c", png(seed=s), "s.png")["id"] for s in (1, 2, 3))
    iid = engine.start("consent", "c", {"subject": "更換窗戶", "amount": "10", "owner_sign": first})["id"]
    state = engine.store.instance_row(iid)["state"]
    signed = {"subject": "更換窗戶", "amount": "10.00"}  # (as stored: money in its canonical form)
    assert state["data"] == dict(signed, owner_sign=first)
    assert state["signed_fields"] == {"owner_sign": {"data_hash": core.data_hash(signed), "fields": ["amount",
                                                                                                  "subject"],
                                                     "by": "c", "at": "2026-11-02T01:30:00+00:00"}}
    history = engine.show(iid)["history"]
    assert [e["type"] for e in history][:2] == ["instance_started", "signature_captured"]
    assert history[1]["payload"] == {"field": "owner_sign", "data": {"owner_sign": first},
                                     "data_hash": core.data_hash(signed), "fields": ["amount", "subject"], "by": "c"}
    assert history[1]["actor"] == "c" and signatures.intact(state, "owner_sign") is True

    task = engine.show(iid)["tasks"][0]["id"]  # both sign again after a correction, in one submission
    engine.complete(task, "c", data={"subject": "更換窗戶及紗窗", "note": "加紗窗", "owner_sign": second,
                                      "staff_sign": third})
    state = engine.store.instance_row(iid)["state"]
    now = {"subject": "更換窗戶及紗窗", "amount": "10.00", "note": "加紗窗"}  # (neither signature in the other's)
    assert {f: m["data_hash"] for f, m in state["signed_fields"].items()} == {
        "owner_sign": core.data_hash(now), "staff_sign": core.data_hash(now)}
    captured = [e["payload"]["data"] for e in engine.show(iid)["history"] if e["type"] == "signature_captured"]
    assert captured == [{"owner_sign": first}, {"owner_sign": second}, {"staff_sign": third}]
    assert engine.audit()["ok"]  # the bindings are in the hash-chained log


def test_a_change_to_the_signed_data_shows_and_clearing_unbinds(engine):
    mine = engine.attach("c", png(seed=4), "s.png")["id"]
    iid = engine.start("consent", "c", {"subject": "原文", "owner_sign": mine})["id"]
    engine.complete(engine.show(iid)["tasks"][0]["id"], "c", data={"subject": "改過"})  # signed, then changed
    state = engine.store.instance_row(iid)["state"]
    assert signatures.intact(state, "owner_sign") is False and state["data"]["owner_sign"] == mine

    other = engine.start("consent", "c", {"subject": "原文", "owner_sign": mine})["id"]
    engine.complete(engine.show(other)["tasks"][0]["id"], "c", data={"note": "補充", "owner_sign": None})
    state = engine.store.instance_row(other)["state"]
    assert "owner_sign" not in state["data"] and state["signed_fields"] == {}
    assert signatures.intact(state, "owner_sign") is None
    last = [e for e in engine.show(other)["history"] if e["type"].startswith("signature_")][-1]
    assert (last["type"], last["payload"]) == ("signature_cleared", {"field": "owner_sign", "by": "c"})


def test_a_signature_must_be_a_png_the_pad_uploaded(engine):
    jpeg = engine.attach("c", b"\xff\xd8\xff\xe0" + b"\0" * 40, "photo.jpg")["id"]
    for value in (jpeg, "0" * 64):  # another kind of file, or nothing stored under the id
        with pytest.raises(Invalid) as caught:
            engine.start("consent", "c", {"subject": "x", "owner_sign": value})
        assert caught.value.details == [{"field": "owner_sign",
                                         "message": "「業主簽名」不是簽名板上的簽名，請重新簽名"}]


# --- printouts and verification ----------------------------------------------------------------------------------

def test_a_printout_prints_each_signature_where_its_placeholder_is(engine, defs):
    template = printouts.load(defs / "printouts" / "consent.docx")
    assert template.shown == ["owner_sign", "staff_sign", "subject"]  # (a signature printed is data shown)
    assert sorted(template.signature_parts.values()) == ["owner_sign", "staff_sign"]
    drawn = png(seed=5)
    owner = engine.attach("c", drawn, "s.png")["id"]
    iid = engine.start("consent", "c", {"subject": "同意", "owner_sign": owner})["id"]
    body, info = engine.render(iid, "paper", "c")
    found = pictures(body)
    qr = printouts.qr_png(info["url"])
    # in each copy: the owner's signature, the staff's empty one (a transparent pixel), the QR: each its own
    # picture, though the template made all three from one
    assert found == [("goldkey:signature:owner_sign", drawn), ("goldkey:signature:staff_sign", signatures.BLANK_PNG),
                     ("goldkey:qr", qr)] * 2
    lines = [p.text for p in docx.Document(io.BytesIO(body)).paragraphs if p.text.startswith("簽名")]
    assert lines == ["簽名 owner_sign： 2026年11月2日 09:30", "簽名 staff_sign： "] * 2  # when signed, from the state
    with zipfile.ZipFile(io.BytesIO(body)) as z:  # what Word opens: a PNG part it knows the type of
        assert z.read("word/media/goldkey-signature-1.png") == drawn
        assert 'Extension="png"' in z.read("[Content_Types].xml").decode()
        ids = re.findall(r'<wp:docPr\b[^>]*\bid="(\d+)"', z.read("word/document.xml").decode())
    assert len(ids) == 6 == len(set(ids))


def test_verification_states_the_hash_of_each_signature_printed(engine):
    owner = engine.attach("c", png(seed=6), "s.png")["id"]
    iid = engine.start("consent", "c", {"subject": "同意", "owner_sign": owner})["id"]
    bound = engine.store.instance_row(iid)["state"]["signed_fields"]["owner_sign"]["data_hash"]
    code = engine.render(iid, "paper", "c")[1]["code"]
    checked = engine.verify(code)
    assert checked["current"] and checked["signatures"] == [
        {"field": "owner_sign", "title": "業主簽名", "hash": owner, "data_hash": bound}]
    assert [e["payload"]["signatures"] for e in engine.show(iid)["history"] if e["type"] == "printout_issued"] == [
        [{"field": "owner_sign", "hash": owner, "data_hash": bound}]]  # the print log says it too

    again = engine.attach("c", png(seed=8), "s.png")["id"]  # the owner signs again: the paper is not current
    engine.complete(engine.show(iid)["tasks"][0]["id"], "c", data={"owner_sign": again})
    old = engine.verify(code)
    assert not old["current"] and "列印後資料已變更" in old["message"]
    assert [s["hash"] for s in old["signatures"]] == [owner]  # what that paper shows, not what the case holds now
    fresh = engine.verify(engine.render(iid, "paper", "c")[1]["code"])
    assert [s["hash"] for s in fresh["signatures"]] == [again] and "列印後資料已變更" not in fresh["message"]


def test_a_placeholder_naming_no_signature_field_is_a_template_problem(tmp_path):
    root = write_defs(tmp_path / "defs")
    consent_docx(root / "printouts" / "consent.docx", ("owner_sign", "ownr_sign"))
    problems = [str(p) for p in definitions.load(root, "", templates=True).problems]
    assert problems == [
        "printouts/consent.docx:4:1: picture 'goldkey:signature:ownr_sign': no signature field 'ownr_sign'; did you "
        "mean 'owner_sign'? (its alternative text is 'goldkey:signature:' and the name of a field with `format: "
        "signature`: owner_sign, staff_sign) (near “簽名 ownr_sign： {{ signed_at.owner_sign }}”)"]
    none = write_defs(tmp_path / "none", FORM.replace("format: signature, title: 業主簽名", "title: 業主簽名").replace(
        "format: signature, title: 經手人簽名", "title: 經手人簽名"))
    problems = [str(p) for p in definitions.load(none, "", templates=True).problems]
    near = " (near “簽名 owner_sign： {{ signed_at.owner_sign }}”)"
    assert problems == [
        "printouts/consent.docx:3:1: 'signed_at.owner_sign': no signature field 'owner_sign' (word/document.xml)"
        + near,
        "printouts/consent.docx:3:1: picture 'goldkey:signature:owner_sign': no signature field 'owner_sign' (its "
        "alternative text is 'goldkey:signature:' and the name of a field with `format: signature`; the form has "
        "none: declare one as `{type: string, format: signature, title: 業主簽名}`)" + near,
        "printouts/consent.docx:4:1: 'signed_at.staff_sign': no signature field 'staff_sign' (word/document.xml) "
        "(near “簽名 staff_sign： {{ signed_at.staff_sign }}”)",
        "printouts/consent.docx:4:1: picture 'goldkey:signature:staff_sign': no signature field 'staff_sign' (its "
        "alternative text is 'goldkey:signature:' and the name of a field with `format: signature`; the form has "
        "none: declare one as `{type: string, format: signature, title: 業主簽名}`) (near “簽名 staff_sign： {{ "
        "signed_at.staff_sign }}”)"]


def test_printout_new_puts_a_picture_for_each_signature_field(defs, tmp_path):
    from .conftest import Cli

    cli = Cli(tmp_path / "new.db", defs)
    made = cli.json("printout", "new", "consent", "receipt", "--title", "收據")
    assert made["problems"] == []
    template = printouts.load(Path(made["file"]))
    assert [name for name, _ in template.placeholders] == ["owner_sign", "staff_sign"]


# --- the repository's 金鑰匙服務單 ------------------------------------------------------------------------------------

def test_the_golden_key_slip_prints_the_owners_signature_on_its_line(new_db, clock):
    for template, field in (("golden_key_slip", "owner_signature"), ("renovation_application", "applicant_signature")):
        assert [name for name, _ in printouts.load(REPO / "printouts" / f"{template}.docx").placeholders] == [field]
    engine = Engine(new_db("gk.db"), definitions.load_strict(REPO), clock=clock)
    try:
        engine.add_user("wang", ["concierge"], "王小明")
        drawn = png(seed=9)
        owner = engine.attach("wang", drawn, "s.png")["id"]
        signed = engine.start("golden_key_service", "wang", dict(PAID, owner_signature=owner))["id"]
        unsigned = engine.start("golden_key_service", "wang", PAID)["id"]
        body, info = engine.render(signed, "slip", "wang")
        assert pictures(body) == [("goldkey:signature:owner_signature", drawn), ("goldkey:qr",
                                                                                 printouts.qr_png(info["url"]))] * 2
        lines = [p.text for p in docx.Document(io.BytesIO(body)).paragraphs
                 if p.text.startswith(("業主簽名", "經手人"))]
        assert lines == ["業主簽名：\u3000日期：2026年11月2日 09:30",
                         "經手人：＿＿＿＿＿＿＿＿＿＿\u3000日期：＿＿＿＿年＿＿月＿＿日"] * 2
        body, _ = engine.render(unsigned, "slip", "wang")  # not signed on screen: the line to sign by hand
        assert [d for d, _ in pictures(body)] == ["goldkey:qr"] * 2
        assert "業主簽名：＿＿＿＿＿＿＿＿＿＿\u3000日期：＿＿＿＿年＿＿月＿＿日" in [
            p.text for p in docx.Document(io.BytesIO(body)).paragraphs]
    finally:
        engine.close()


# --- the API and the pages ---------------------------------------------------------------------------------------

@pytest.fixture
def site(new_db, defs):
    app = create_app(new_db("site.db"), definitions.load_strict(defs), tick_seconds=0, clock=Clock())
    engine = app.state.engine
    for name, role in (("c", "clerk"), ("g", "guard")):
        engine.add_user(name, [role], name.upper())
        engine.set_password(name, PASSWORD)
    with TestClient(app, raise_server_exceptions=False, follow_redirects=False) as client:
        client.engine = engine
        client.bearer = {name: {"authorization": f"Bearer {engine.new_token(name)}"} for name in ("c", "g")}
        yield client


def test_the_signature_upload_takes_a_png_and_refuses_anything_else_in_words(site):
    c = site.bearer["c"]
    drawn = png(seed=3)
    made = site.post("/api/signatures", headers=c, files={"file": ("signature.png", drawn, "image/png")})
    assert made.status_code == 201 and made.json()["type"] == "image/png" and made.json()["name"] == "簽名.png"
    assert site.get(f"/api/attachments/{made.json()['id']}", headers=c).content == drawn
    for body, words in ((b"GIF89a" + b"\0" * 30, "簽名必須是 PNG 圖片"), (drawn[:50], "簽名圖檔已損壞"),
                        (drawn + b"\0" * signatures.MAX_BYTES, "簽名圖檔不可超過 512 KB")):
        refused = site.post("/api/signatures", headers=c, files={"file": ("s.png", body, "image/png")})
        assert refused.status_code == 422 and words in refused.json()["message"]
        assert refused.json()["details"][0]["field"] == "file"
    assert site.post("/api/signatures", headers=c, data={"x": "1"}).status_code == 422
    assert site.post("/api/signatures", files={"file": ("s.png", drawn)}).status_code == 401
    jpeg = site.post("/api/attachments", headers=c, files={"file": ("p.jpg", b"\xff\xd8\xff" + b"\0" * 20)}).json()
    wrong = site.post("/api/instances", headers=c, json={"workflow": "consent",
                                                         "data": {"subject": "x", "owner_sign": jpeg["id"]}})
    assert wrong.status_code == 422 and wrong.json()["details"][0]["field"] == "owner_sign"


def login(site, name: str) -> str:
    page = site.get("/login").text
    token = re.search(r'name="csrf" value="([^"]+)"', page).group(1)
    assert site.post("/login", data={"name": name, "password": PASSWORD, "csrf": token}).status_code == 303
    return token


def test_the_form_has_a_pad_and_the_instance_page_shows_the_signature_to_those_who_may_see_it(site):
    login(site, "c")
    html = site.get("/start/consent").text
    assert '<canvas class="pad"' in html and "請在框內簽名" in html and ">清除</button>" in html
    assert '<input type="hidden" id="f-owner_sign" name="f.owner_sign" value="">' in html
    assert '<script src="/static/signature.js" defer></script>' in html and "multipart" not in html
    csrf = re.search(r'name="csrf" value="([^"]+)"', html).group(1)
    drawn = png(seed=11)
    uploaded = site.post("/api/signatures", headers={"x-csrf-token": csrf},
                         files={"file": ("signature.png", drawn, "image/png")})
    assert uploaded.status_code == 201  # (the pad's upload, with the session and its CSRF token)
    assert site.post("/api/signatures", files={"file": ("s.png", drawn)}).status_code == 403  # no token: refused
    digest = uploaded.json()["id"]
    missing = site.post("/start/consent", data={"csrf": csrf, "f.subject": "", "f.owner_sign": digest})
    assert missing.status_code == 422  # sent back with the signature kept, shown as signed
    assert f'name="f.owner_sign" value="{digest}"' in missing.text and f"/api/attachments/{digest}" in missing.text
    done = site.post("/start/consent", data={"csrf": csrf, "f.subject": "同意", "f.owner_sign": digest})
    assert done.status_code == 303
    iid = int(done.headers["location"].rsplit("/", 1)[1])
    page = site.get(f"/instances/{iid}").text
    assert f'<img src="/api/attachments/{digest}" alt="業主簽名（已簽名）"' in page and "錄入簽名" in page
    assert not re.search(r"\b[0-9a-f]{64}\b", re.sub(r'(src|value)="[^"]*"', "", page))  # no id in words
    code = site.post(f"/instances/{iid}/printouts/paper", data={"csrf": csrf}).headers["x-goldkey-code"]
    assert f"業主簽名雜湊值 {digest[:16]}…" in site.get(f"/instances/{iid}").text  # the print log
    verify = site.get(f"/verify/{code}").text
    assert "業主簽名" in verify and f'<code class="hash">{digest}</code>' in verify
    public = site.get(f"/api/verify/{code}").json()
    assert public["signatures"] == [{"title": "業主簽名", "hash": digest}]
    # someone who may not see the case: the picture's id alone opens nothing
    assert site.get(f"/api/attachments/{digest}", headers=site.bearer["g"]).status_code == 404
