"""客戶報修: normal and emergency dispatch, price declined, cannot fix now, unsatisfied return visit, the rules,
and the main and emergency/declined paths via the CLI."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from engine.errors import Forbidden, Invalid

REPORT = {"source": "業主報修", "reporter": "周先生", "phone": "13511112222", "unit": "7棟 602",
          "location": "廚房水槽", "description": "水槽下水管漏水", "someone_home": False, "spare_key": True,
          "use_spare_key": True, "emergency": False}
BURST = dict(REPORT, location="衛生間進水總閥", description="水管爆裂，水漫到客廳", someone_home=True,
             emergency=True)
del BURST["spare_key"], BURST["use_spare_key"]
DESK, FOREMAN, TECH = ["concierge"], ["repair_foreman"], ["repair_tech"]
SIGN_OFF = {"signed_by": "周先生", "hours": 1.5,
            "materials": [{"name": "下水管", "quantity": 1}, {"name": "生料帶", "quantity": 0.5}]}


def due_minutes(run, step: str) -> float:
    task = run.state["tasks"][run.task_id(step)]
    return (datetime.fromisoformat(task["due_at"]) - datetime.fromisoformat(task["opened_at"])).total_seconds() / 60


def start(core_run, data=REPORT):
    run = core_run("repair_order")
    run.start(data, user="desk", roles=DESK)
    return run


def dispatch_normally(run) -> None:
    assert run.open_steps() == ["open_order"]
    assert due_minutes(run, "open_order") == 5
    run.act("open_order", user="desk", roles=DESK)
    assert run.open_steps() == ["assign"]
    run.act("assign", data={"technician": "小張", "parts": "下水管、生料帶、扳手"}, user="ban", roles=FOREMAN)
    assert run.open_steps() == ["quote"]


def sign_and_wait(run) -> None:
    run.act("sign_off", data=SIGN_OFF, user="zhang", roles=TECH)
    assert run.open_steps() == [] and run.state["status"] == "active"
    waiting = [t for t in run.state["tokens"].values() if t.get("until")]
    assert [t["step"] for t in waiting] == ["week_later"]
    run.tick(days=6, hours=23)
    assert run.open_steps() == []  # the return visit is one week after the work
    run.tick(hours=1)
    assert run.open_steps() == ["return_visit"]
    assert due_minutes(run, "return_visit") == 24 * 60


# --- every path of the graph -------------------------------------------------------------------------

def test_normal_report_is_dispatched_fixed_signed_and_visited_a_week_later(core_run):
    run = start(core_run)
    dispatch_normally(run)
    run.act("quote", outcome="agree", data={"price": "80"}, user="zhang", roles=TECH)
    assert run.open_steps() == ["repair"]
    run.act("repair", outcome="fixed", data={"work_done": "更換下水管"}, user="zhang", roles=TECH)
    assert run.open_steps() == ["sign_off"]
    sign_and_wait(run)
    run.act("return_visit", data={"satisfaction": "滿意", "visit_notes": "已不漏水"}, user="desk", roles=DESK)
    assert run.open_steps() == []
    assert (run.state["status"], run.state["outcome"]) == ("completed", "completed")
    data = run.state["data"]
    assert (data["technician"], data["price"], data["hours"], data["materials"][1]["quantity"]) == (
        "小張", "80.00", 1.5, 0.5)
    decisions = [(e["step"], e["payload"]["to"]) for e in run.events if e["type"] == "decision_taken"]
    assert decisions == [("triage", "open_order"), ("visit_result", "done")]


def test_emergency_goes_straight_to_the_technicians_within_15_minutes(core_run):
    run = start(core_run, BURST)
    assert run.open_steps() == ["urgent_dispatch"]
    assert due_minutes(run, "urgent_dispatch") == 15
    assert run.state["tasks"][run.task_id("urgent_dispatch")]["roles"] == ["repair_tech", "repair_foreman"]
    with pytest.raises(Invalid) as err:
        run.act("urgent_dispatch", data={"technician": "小李"}, user="li", roles=TECH)
    assert err.value.details == [{"field": "arrived_at", "message": "「到場時間」為必填"}]
    run.act("urgent_dispatch", data={"technician": "小李", "arrived_at": "2026-11-02T09:42:00+08:00"}, user="li",
            roles=TECH)
    assert run.open_steps() == ["quote"]
    run.act("quote", outcome="agree", data={"price": "0"}, user="li", roles=TECH)
    run.act("repair", outcome="fixed", data={"work_done": "關閉總閥，更換爆裂水管"}, user="li", roles=TECH)
    sign_and_wait(run)
    run.act("return_visit", data={"satisfaction": "非常滿意"}, user="desk", roles=DESK)
    assert run.state["outcome"] == "completed"
    assert [e["step"] for e in run.events if e["type"] == "task_opened"] == [
        "urgent_dispatch", "quote", "repair", "sign_off", "return_visit"]


def test_customer_declining_the_price_ends_the_order(core_run):
    run = start(core_run)
    dispatch_normally(run)
    with pytest.raises(Invalid) as err:
        run.act("quote", outcome="agree", user="zhang", roles=TECH)
    assert err.value.details == [{"field": "price", "message": "「維修費用」為必填"}]
    with pytest.raises(Invalid, match="請選擇結果"):
        run.act("quote", data={"price": "260"}, user="zhang", roles=TECH)
    with pytest.raises(Invalid) as err:  # a declined price is recorded with the customer's reason
        run.act("quote", outcome="decline", data={"price": "260"}, user="zhang", roles=TECH)
    assert err.value.details == [{"field": "comment", "message": "請填寫意見（原因）"}]
    run.act("quote", outcome="decline", data={"price": "260"}, comment="業主嫌貴，自行找人維修", user="zhang",
            roles=TECH)
    assert run.open_steps() == []
    assert (run.state["status"], run.state["outcome"]) == ("completed", "declined")
    assert run.state["data"]["price"] == "260.00"


def test_what_cannot_be_fixed_now_gets_temporary_measures_and_a_new_appointment(core_run):
    run = start(core_run)
    dispatch_normally(run)
    run.act("quote", outcome="agree", data={"price": "150"}, user="zhang", roles=TECH)
    run.act("repair", outcome="cannot_fix_now", data={"work_done": "需更換整段下水管，配件缺貨"}, user="zhang",
            roles=TECH)
    assert run.open_steps() == ["temporary_measures"]
    with pytest.raises(Invalid):
        run.act("temporary_measures", user="zhang", roles=TECH)
    run.act("temporary_measures", data={"temporary_measures": "用防水膠帶包紮，放置接水盆"}, user="zhang", roles=TECH)
    assert run.open_steps() == ["reschedule"]
    assert due_minutes(run, "reschedule") == 24 * 60
    with pytest.raises(Invalid) as err:
        run.act("reschedule", user="desk", roles=DESK)
    assert err.value.details == [{"field": "appointment", "message": "「預約上門時間」為必填"}]
    run.act("reschedule", data={"appointment": "2026-11-04T14:00:00+08:00"}, user="desk", roles=DESK)
    assert run.open_steps() == ["repair"]
    run.act("repair", outcome="fixed", data={"work_done": "更換整段下水管"}, user="zhang", roles=TECH)
    sign_and_wait(run)
    run.act("return_visit", data={"satisfaction": "滿意"}, user="desk", roles=DESK)
    assert run.state["outcome"] == "completed"
    assert run.state["data"]["temporary_measures"] == "用防水膠帶包紮，放置接水盆"


def test_an_unsatisfied_return_visit_sends_the_technicians_back(core_run):
    run = start(core_run)
    dispatch_normally(run)
    run.act("quote", outcome="agree", data={"price": "80"}, user="zhang", roles=TECH)
    run.act("repair", outcome="fixed", user="zhang", roles=TECH)
    sign_and_wait(run)
    run.act("return_visit", data={"satisfaction": "不滿意", "visit_notes": "仍有滲水"}, user="desk", roles=DESK)
    assert run.open_steps() == ["reschedule"] and run.state["status"] == "active"
    run.act("reschedule", data={"appointment": "2026-11-10T10:00:00+08:00"}, user="desk", roles=DESK)
    run.act("repair", outcome="fixed", data={"work_done": "重新密封接口"}, user="zhang", roles=TECH)
    sign_and_wait(run)
    run.act("return_visit", data={"satisfaction": "滿意", "visit_notes": "已修好"}, user="desk", roles=DESK)
    assert (run.state["status"], run.state["outcome"]) == ("completed", "completed")
    assert [e["payload"]["to"] for e in run.events if e["step"] == "visit_result"] == ["reschedule", "done"]


# --- roles and rules -----------------------------------------------------------------------------------

def test_each_step_belongs_to_its_people(core_run):
    run = start(core_run)
    with pytest.raises(Forbidden):
        start(core_run).act("open_order", user="zhang", roles=TECH)
    run.act("open_order", user="desk", roles=DESK)
    with pytest.raises(Forbidden):
        run.act("assign", data={"technician": "小張"}, user="desk", roles=DESK)
    with pytest.raises(Forbidden):
        core_run("repair_order").start(REPORT, user="zhang", roles=TECH)


def test_an_empty_home_needs_a_spare_key_or_an_appointment(core_run):
    run = core_run("repair_order")
    away = {k: v for k, v in REPORT.items() if k not in ("spare_key", "use_spare_key")}
    with pytest.raises(Invalid) as err:
        run.start(away, user="desk", roles=DESK)
    assert err.value.details == [
        {"field": "appointment", "message": "家中無人時，須註明可用備用鑰匙入戶或預約上門時間"}]
    with pytest.raises(Invalid) as err:
        run.start(dict(away, use_spare_key=True), user="desk", roles=DESK)
    assert err.value.details == [{"field": "use_spare_key", "message": "業主未留備用鑰匙，不能用備用鑰匙入戶"}]
    run.start(dict(away, appointment="2026-11-03T18:30:00+08:00"), user="desk", roles=DESK)
    assert run.open_steps() == ["open_order"]


def test_sign_off_records_who_signed_materials_and_hours(core_run):
    run = start(core_run)
    dispatch_normally(run)
    run.act("quote", outcome="agree", data={"price": "80"}, user="zhang", roles=TECH)
    run.act("repair", outcome="fixed", user="zhang", roles=TECH)
    with pytest.raises(Invalid) as err:
        run.act("sign_off", data={"materials": [{"name": "下水管", "quantity": 0}]}, user="zhang", roles=TECH)
    assert err.value.details == [
        {"field": "hours", "message": "「修理時間（小時）」為必填"},
        {"field": "materials.0.quantity", "message": "「消耗材料 第1行 數量」必須大於 0"},
        {"field": "signed_by", "message": "「驗收簽字人」為必填"}]
    assert run.open_steps() == ["sign_off"]


# --- the CLI on a real SQLite file -----------------------------------------------------------------------

def users(cli) -> None:
    cli.run("users", "add", "desk", "--role", "concierge")
    cli.run("users", "add", "ban", "--role", "repair_foreman")
    cli.run("users", "add", "zhang", "--role", "repair_tech")


def minutes_to_due(task: dict) -> float:
    return (datetime.fromisoformat(task["due_at"]) - datetime.fromisoformat(task["opened_at"])).total_seconds() / 60


def test_cli_walks_a_normal_repair_to_the_return_visit(cli):
    users(cli)
    inst = cli.json("start", "repair_order", "--as", "desk", "--data", json.dumps(REPORT, ensure_ascii=False))
    assert inst["number"].startswith("WX-") and [t["step"] for t in inst["tasks"]] == ["open_order"]
    assert minutes_to_due(inst["tasks"][0]) == 5 and inst["tasks"][0]["printout"] == "order"
    cli.render(inst["id"], "order", "desk")
    inst = cli.json("complete", cli.task(inst, "open_order"), "--as", "desk")
    inst = cli.json("complete", cli.task(inst, "assign"), "--as", "ban", "--data",
                    '{"technician": "小張", "parts": "下水管"}')
    inst = cli.json("complete", cli.task(inst, "quote"), "--as", "zhang", "--outcome", "agree", "--data",
                    '{"price": 80.5}', "--comment", "業主同意")
    assert inst["data"]["price"] == "80.50"
    inst = cli.json("complete", cli.task(inst, "repair"), "--as", "zhang", "--outcome", "fixed", "--data",
                    '{"work_done": "更換下水管"}')
    inst = cli.json("complete", cli.task(inst, "sign_off"), "--as", "zhang", "--data",
                    json.dumps(SIGN_OFF, ensure_ascii=False))
    assert inst["tasks"] == [] and [w["step"] for w in inst["waiting"]] == ["week_later"]
    until = datetime.fromisoformat(inst["waiting"][0]["until"])
    assert timedelta(days=7) - timedelta(minutes=5) < until - datetime.now(UTC) <= timedelta(days=7)
    assert cli.json("tick", "--now", (until - timedelta(minutes=1)).isoformat())["timers_fired"] == 0
    assert cli.json("tick", "--now", until.isoformat())["timers_fired"] == 1
    inst = cli.json("show", str(inst["id"]))
    assert [t["step"] for t in inst["tasks"]] == ["return_visit"] and inst["waiting"] == []
    inst = cli.json("complete", cli.task(inst, "return_visit"), "--as", "desk", "--data",
                    '{"satisfaction": "滿意", "visit_notes": "已不漏水"}')
    assert (inst["status"], inst["outcome"]) == ("completed", "completed")
    assert inst["data"]["satisfaction"] == "滿意" and inst["data"]["hours"] == 1.5
    shown = cli.json("show", str(inst["id"]))
    assert shown["status"] == "completed" and shown["data"] == inst["data"]


def test_cli_emergency_dispatch_then_the_price_is_declined(cli):
    users(cli)
    inst = cli.json("start", "repair_order", "--as", "desk", "--data", json.dumps(BURST, ensure_ascii=False))
    task = inst["tasks"][0]
    assert task["step"] == "urgent_dispatch" and minutes_to_due(task) == 15
    assert [t["id"] for t in cli.json("tasks", "--as", "zhang")] == [task["id"]]
    assert cli.json("tasks", "--as", "desk") == []
    refused = cli.run("complete", task["id"], "--as", "desk", "--data", '{"technician": "小張"}', ok=False)
    assert refused.returncode == 3
    inst = cli.json("complete", task["id"], "--as", "zhang", "--data",
                    '{"technician": "小張", "arrived_at": "2026-11-02T09:40:00+08:00"}')
    inst = cli.json("complete", cli.task(inst, "quote"), "--as", "zhang", "--outcome", "decline", "--data",
                    '{"price": 300}', "--comment", "業主不接受報價")
    assert (inst["status"], inst["outcome"], inst["tasks"]) == ("completed", "declined", [])
    assert inst["data"]["price"] == "300.00"
