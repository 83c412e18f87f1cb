"""Each exemplar printout rendered from a real instance on SQLite and read back with python-docx: number, names,
amounts in figures and capitals, approvals, signature lines, the QR and its verification code."""

from __future__ import annotations

import io
import zipfile

import pytest

from engine import printouts
from engine.errors import Conflict

from ..conftest import StoreRun, docx_text
from . import test_golden_key as golden
from . import test_pet as pet
from . import test_renovation as renovation
from . import test_repair as repair
from . import test_special_incident as incident


@pytest.fixture
def sqlite_run(registry, new_db):
    runs: list[StoreRun] = []

    def make(workflow: str) -> StoreRun:
        run = StoreRun(registry, workflow, new_db(f"p{len(runs)}.db"))
        runs.append(run)
        return run

    yield make
    for run in runs:
        run.close()


def printed(run: StoreRun, printout: str, user: str = "printer") -> tuple[str, dict, bytes]:
    run.engine.set_roles(user, sorted(run.registry.site.roles))
    body, info = run.engine.render(run.iid, printout, user)
    return docx_text(body), info, body


def check_common(run: StoreRun, printout: str, text: str, info: dict, body: bytes) -> None:
    """What every printout carries: its copies with the number, its signature lines, the verification code and
    the QR that leads to it, which `verify` accepts."""
    spec = run.wf.form.printouts[printout]
    number = run.state["number"]
    for copy in spec["copies"]:
        assert copy in text
    assert text.count(number) >= len(spec["copies"]), f"the number {number} on every copy"
    for label in spec["signatures"]:
        assert text.count(label) >= len(spec["copies"]), f"signature line {label} on every copy"
    assert text.count(info["code"]) >= len(spec["copies"])
    with zipfile.ZipFile(io.BytesIO(body)) as z:
        assert printouts.qr_png(info["url"]) in [z.read(n) for n in z.namelist() if n.startswith("word/media/")]
    assert info["url"].endswith("/" + info["code"])
    verdict = run.engine.verify(info["code"])
    assert verdict["genuine"] and verdict["number"] == number


def test_golden_key_slip_and_vouchers(sqlite_run):
    run = golden.slip_issued(sqlite_run)
    text, info, body = printed(run, "slip")
    check_common(run, "slip", text, info, body)
    assert "李先生" in text and "3-1201" in text and "訂兩張火車票" in text
    assert "¥500.00" in text and "人民幣伍佰元整" in text
    run.act("plan", data={"route": "金鑰匙聯盟網絡", "estimate": "800", "partner": "金鑰匙24小時服務中心"})
    run.act("tell_owner", outcome="continue", data={"owner_reply": "同意加付"})
    run.act("top_up", data={"top_up": "300"})
    text, info, body = printed(run, "top_up_voucher")
    check_common(run, "top_up_voucher", text, info, body)
    assert "¥300.00" in text and "人民幣叁佰元整" in text and "¥800.00" in text  # the top-up and the balance
    run.act("print_top_up")
    run.act("network", data={"result": "已預訂", "cost": "780"})
    run.act("record_expense")
    run.act("refund_surplus")
    text, info, body = printed(run, "refund_voucher")
    check_common(run, "refund_voucher", text, info, body)
    assert "¥20.00" in text and "人民幣貳拾元整" in text  # the surplus refunded
    slip = run.engine.verify(run.engine.store.conn.execute(
        "SELECT code FROM prints WHERE printout='slip'").fetchone()[0])
    assert slip["genuine"] and not slip["current"] and "列印後資料已變更" in slip["message"]


def test_renovation_application_and_permit(sqlite_run):
    run = renovation.receive(sqlite_run)
    renovation.review(run, data={"review_opinion": "方案符合規定，注意衛生間防水"})
    renovation.sign(run)
    renovation.approve(run, comment="同意施工")
    text, info, body = printed(run, "application")
    check_common(run, "application", text, info, body)
    names = [a["by"] for a in run.state["approvals"]]
    assert names == ["gong", "zhu", "jing"] and all(n in text for n in names)  # the three signature boxes
    assert "方案符合規定，注意衛生間防水" in text and "同意施工" in text
    deposit = run.state["data"]["deposit"]
    assert printouts.money.yuan_label(printouts.money.to_fen(deposit)) in text
    assert printouts.money.capitals(deposit) in text
    renovation.issue_and_patrol(run)
    text, info, body = printed(run, "permit")
    check_common(run, "permit", text, info, body)
    assert run.state["data"]["unit"] in text and "jing" in text


def test_repair_order(sqlite_run):
    run = repair.start(sqlite_run)
    repair.dispatch_normally(run)
    run.act("quote", outcome="agree", data={"price": "85"}, user="zhang", roles=repair.TECH)
    text, info, body = printed(run, "order")
    check_common(run, "order", text, info, body)
    assert "周先生" in text and "廚房水槽" in text and "水槽下水管漏水" in text and "小張" in text
    assert "¥85.00" in text and "人民幣捌拾伍元整" in text


def test_special_incident_report(sqlite_run):
    run = incident.start(sqlite_run)
    incident.report_up(run)
    run.act("written_report", data=incident.WRITTEN, user="ma", roles=incident.LEAD)
    run.act("manager_sign", outcome="approve", comment="屬實，已上報", user="jing", roles=incident.MANAGER)
    text, info, body = printed(run, "report")
    check_common(run, "report", text, info, body)
    assert "5號樓地下車庫" in text and "已報案立案，加強車庫巡邏" in text
    assert "¥3,200.00" in text and "jing" in text and "屬實，已上報" in text


def test_pet_registration_only_once_approved(sqlite_run):
    run = pet.start(sqlite_run)
    run.engine.set_roles("printer", sorted(run.registry.site.roles))
    with pytest.raises(Conflict, match="這一步才能列印"):  # the form is not a registration before its review
        run.engine.render(run.iid, "registration", "printer")
    assert run.engine.store.conn.execute("SELECT count(*) FROM prints").fetchone() == (0,)
    run.act("review", outcome="approve", data={"review_notes": "證件齊全"}, user="li", roles=pet.ASSISTANT)
    text, info, body = printed(run, "registration")
    check_common(run, "registration", text, info, body)
    assert "陳太太" in text and "豆豆" in text and "柯基" in text and "YQ-2026-0815" in text and "li" in text


def test_a_cancelled_slip_is_reported_as_such(sqlite_run):
    run = golden.slip_issued(sqlite_run)
    _, slip, _ = printed(run, "slip")
    run.act("plan", data={"route": "樓宇管家獨立完成", "estimate": "800"})
    run.act("tell_owner", outcome="stop", data={"owner_reply": "不再需要"})
    run.act("refund_all")
    run.act("take_back", data={"checked": ["slip_returned", "register_cancelled"]})
    assert run.state["status"] == "cancelled"
    verdict = run.engine.verify(slip["code"])
    assert verdict["genuine"] and not verdict["current"] and "此單已取消" in verdict["message"]
