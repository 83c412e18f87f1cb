"""投訴處理: registered, reported to the 物業主任, analysed and agreed with the owner, resolved (a repair handed to
the 維修部 as its own repair order), confirmed, visited back within three days and signed by the owner, reviewed
by the 管理處經理 and filed; a visit not made lapses after a week; the 100% return-visit rate via the CLI."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from engine.errors import Forbidden, Invalid
from engine.service import Engine

from ..conftest import Cli, Clock, StoreRun

COMPLAINT = {"complainant": "陳女士", "unit": "6-1202", "phone": "13800001111", "channel": "來電",
             "department": "保安部", "importance": "一般投訴", "content": "夜間巡邏保安在樓下大聲喧嘩，影響休息"}
ANALYSIS = {"cause": "夜班保安交接時在6號樓下聊天", "measures": "對當班保安批評教育，交接班地點改到崗亭",
            "promised_by": "2026-11-03T18:00:00+08:00", "owner_agreed": True}
VISIT = {"visit_method": "個別拜訪", "satisfaction": "滿意", "visit_notes": "已無喧嘩，建議夜間巡邏放輕腳步",
         "owner_signed": True}
DESK, SUPERVISOR, MANAGER, SECURITY_LEAD = ["concierge"], ["supervisor"], ["manager"], ["security_lead"]


def handle(core_run, analysis=ANALYSIS):
    """Registered, reported, analysed, resolved and confirmed: the return visit is open."""
    run = core_run("complaint")
    run.start(COMPLAINT, user="desk", roles=DESK)
    assert run.open_steps() == ["report_supervisor"]
    run.act("report_supervisor", data={"supervisor_note": "責成保安部整改"}, user="zhu", roles=SUPERVISOR)
    run.act("analyse", data=analysis, user="desk", roles=DESK)
    assert run.open_steps() == ["resolve"]
    run.act("resolve", data={"resolution": "已對當班保安批評教育，交接班改在崗亭"}, user="desk", roles=DESK)
    run.act("confirm", outcome="resolved", data={"confirmation": "業主確認夜間已安靜"}, user="desk", roles=DESK)
    assert run.open_steps() == ["return_visit"]
    return run


def test_a_complaint_is_resolved_visited_within_three_days_reviewed_and_filed(core_run):
    run = handle(core_run)
    task = run.state["tasks"][run.task_id("return_visit")]
    opened = datetime.fromisoformat(task["opened_at"])
    assert datetime.fromisoformat(task["due_at"]) - opened == timedelta(days=3)
    assert datetime.fromisoformat(task["hard_at"]) - opened == timedelta(days=7)
    run.tick(days=1, hours=23, minutes=59)
    assert [e for e in run.events if e["type"] == "deadline_reminder"] == []
    run.tick(minutes=1)  # a day before the three days are up
    assert [e["step"] for e in run.events if e["type"] == "deadline_reminder"] == ["return_visit"]
    with pytest.raises(Forbidden):  # the head of the department complained about, or the manager, visits
        run.act("return_visit", data=VISIT, user="desk", roles=DESK)
    with pytest.raises(Invalid) as err:
        run.act("return_visit", data=dict(VISIT, owner_signed=False), user="ma", roles=SECURITY_LEAD)
    assert err.value.details == [{"field": "owner_signed", "message": "除電話回訪外，須請住戶對回訪記錄簽名確認"}]
    run.act("return_visit", data=dict(VISIT, owner_signed=False, visit_method="電話"), user="ma", roles=SECURITY_LEAD)
    assert run.open_steps() == ["manager_review"]
    run.act("manager_review", outcome="qualified", data={"manager_opinion": "處理及時，存檔"}, user="jing",
            roles=MANAGER)
    task = run.state["tasks"][run.task_id("file_records")]
    assert datetime.fromisoformat(task["due_at"]) - datetime.fromisoformat(task["opened_at"]) == timedelta(hours=24)
    run.act("file_records", data={"checked": ["visit_record", "complaint_report"]}, user="xiao", roles=["assistant"])
    assert (run.state["status"], run.state["outcome"]) == ("completed", "resolved")
    assert [e["type"] for e in run.events if e["type"] in ("deadline_notice", "task_expired")] == []


def test_the_owner_must_agree_and_an_unresolved_complaint_goes_back(core_run):
    run = core_run("complaint")
    run.start(COMPLAINT, user="desk", roles=DESK)
    with pytest.raises(Forbidden):
        run.act("report_supervisor", user="desk", roles=DESK)
    run.act("report_supervisor", user="zhu", roles=SUPERVISOR)
    with pytest.raises(Invalid) as err:
        run.act("analyse", data=dict(ANALYSIS, owner_agreed=False), user="desk", roles=DESK)
    assert err.value.details == [{"field": "owner_agreed", "message": "須把將要採取的措施告訴業主並征得業主同意"}]
    run.act("analyse", data=ANALYSIS, user="desk", roles=DESK)
    run.act("resolve", data={"resolution": "口頭提醒保安"}, user="desk", roles=DESK)
    with pytest.raises(Invalid):
        run.act("confirm", outcome="not_resolved", data={"confirmation": "業主反映仍有喧嘩"}, user="desk", roles=DESK)
    run.act("confirm", outcome="not_resolved", data={"confirmation": "業主反映仍有喧嘩"}, comment="昨晚又吵",
            user="desk", roles=DESK)
    assert run.open_steps() == ["resolve"]
    run.act("resolve", data={"resolution": "調整交接班地點"}, user="kf", roles=["service_centre"])
    run.act("confirm", outcome="resolved", data={"confirmation": "業主確認已安靜"}, user="kf", roles=["service_centre"])
    run.act("return_visit", data=VISIT, user="jing", roles=MANAGER)
    run.act("manager_review", outcome="unqualified", data={"manager_opinion": "業主仍不滿意"}, comment="限期一週整改",
            user="jing", roles=MANAGER)
    assert run.open_steps() == ["resolve"]  # put right, confirmed and visited again


def test_a_repair_is_handed_to_the_repair_order_and_the_complaint_goes_on(core_run):
    run = core_run("complaint")
    run.start(dict(COMPLAINT, department="工程部", content="報修三天仍無人上門，陽台水管漏水"), user="desk", roles=DESK)
    run.act("report_supervisor", user="zhu", roles=SUPERVISOR)
    repair = dict(ANALYSIS, cause="維修單遺漏派工", measures="重新開單，今天下午上門更換陽台水管")
    with pytest.raises(Invalid) as err:
        run.act("analyse", data=dict(repair, needs_repair=True), user="desk", roles=DESK)
    assert err.value.details == [{"field": "repair_location", "message": "開維修單須註明報修部位"},
                                 {"field": "someone_home", "message": "開維修單須註明家中是否有人"}]
    run.act("analyse", data=dict(repair, needs_repair=True, repair_location="陽台水管", someone_home=True),
            user="desk", roles=DESK)
    assert run.open_steps() == ["resolve"]  # the complaint does not wait for the repair's own return visit
    if isinstance(run, StoreRun):
        child = run.engine.store.instance_row(run.iid + 1)
        assert child["parent_id"] == run.iid
        state = child["state"]
        assert state["workflow"] == "repair_order" and state["number"].startswith("WX-")
        steps = [t["step"] for t in state["tasks"].values()]
    else:
        (child,) = run.children.values()
        state = child.state
        steps = child.open_steps()
    assert steps == ["open_order"]
    assert {k: state["data"][k] for k in ("source", "reporter", "unit", "location", "someone_home", "emergency")} == {
        "source": "業主報修", "reporter": "陳女士", "unit": "6-1202", "location": "陽台水管", "someone_home": True,
        "emergency": False}
    assert state["data"]["description"] == "重新開單，今天下午上門更換陽台水管"


def test_a_visit_not_made_within_a_week_lapses_and_the_manager_says_why(core_run):
    run = handle(core_run)
    run.tick(days=3)
    notices = [e for e in run.events if e["type"] == "deadline_notice"]
    assert [(e["step"], e["payload"]["notify"]) for e in notices] == [("return_visit", ["manager"])]
    run.tick(days=3, hours=23)
    assert run.open_steps() == ["return_visit"]
    run.tick(hours=1)
    run.tick(hours=1)
    assert [e["payload"]["to"] for e in run.events if e["type"] == "task_expired"] == ["visit_missed"]
    assert run.open_steps() == ["visit_missed"]
    with pytest.raises(Invalid):
        run.act("visit_missed", user="jing", roles=MANAGER)
    run.act("visit_missed", data={"missed_reason": "業主出國，電話無法接通；責成保安主管回國後補訪"}, user="jing",
            roles=MANAGER)
    assert (run.state["status"], run.state["outcome"]) == ("completed", "not_visited")


# --- the return-visit rate through the CLI ------------------------------------------------------------------------

def at(local: str) -> datetime:
    return datetime.fromisoformat(local + "+08:00").astimezone(UTC)


def test_cli_sla_reports_the_complaint_visit_rate_against_100_percent(new_db, tmp_path, registry):
    clock = Clock(at("2026-11-02T09:30:00"))
    engine = Engine(new_db("c.db"), registry, clock=clock)
    for user, role in (("desk", "concierge"), ("zhu", "supervisor"), ("jing", "manager"), ("ma", "security_lead"),
                       ("xiao", "assistant")):
        engine.add_user(user, [role])
    cli = Cli(new_db("c.db"))

    def handled() -> dict:
        inst = engine.start("complaint", "desk", COMPLAINT)
        inst = engine.complete(inst["tasks"][0]["id"], "zhu")
        inst = engine.complete(inst["tasks"][0]["id"], "desk", data=ANALYSIS)
        inst = engine.complete(inst["tasks"][0]["id"], "desk", data={"resolution": "已整改"})
        inst = engine.complete(inst["tasks"][0]["id"], "desk", outcome="resolved", data={"confirmation": "業主確認"})
        assert [t["step"] for t in inst["tasks"]] == ["return_visit"]
        return inst

    visited, missed = handled(), handled()
    clock.now = at("2026-11-04T10:00:00")  # two days later: one is visited, reviewed and filed
    inst = engine.complete(visited["tasks"][0]["id"], "ma", data=VISIT)
    inst = engine.complete(inst["tasks"][0]["id"], "jing", outcome="qualified", data={"manager_opinion": "合格"})
    inst = engine.complete(inst["tasks"][0]["id"], "xiao", data={"checked": ["visit_record", "complaint_report"]})
    assert inst["outcome"] == "resolved"
    report = cli.json("sla", "--workflow", "complaint", "--from", "2026-11-01", "--to", "2026-11-30")
    (rate,) = report["rates"]
    assert (rate["id"], rate["target"], rate["count"], rate["done"], rate["rate"], rate["pass"]) == (
        "visits", 1.0, 1, 1, 1.0, True)
    assert cli.json("tick", "--now", at("2026-11-09T09:30:00").isoformat())["actions"] == {
        "expired": 1, "notified": 1, "reminded": 1}
    clock.now = at("2026-11-09T11:00:00")
    shown = cli.json("show", str(missed["id"]))
    (task,) = shown["tasks"]
    assert task["step"] == "visit_missed"
    engine.complete(task["id"], "jing", data={"missed_reason": "業主電話無法接通"})
    report = cli.json("sla", "--workflow", "complaint", "--from", "2026-11-01", "--to", "2026-11-30")
    (rate,) = report["rates"]
    assert (rate["count"], rate["done"], rate["rate"], rate["pass"]) == (2, 1, 0.5, False)
    (visits,) = [s for s in report["steps"] if s["step"] == "return_visit"]
    assert (visits["count"], visits["on_time"], visits["overdue"]) == (2, 1, 1)
    engine.close()
