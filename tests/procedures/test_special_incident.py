"""特別事件報告: reported up at once (the 物業經理 after 15 minutes), the written report within 24 hours with a
reminder before, the 物業經理 called in past 24 hours, the lapse at 36 hours to the late report (each exactly
once), a report filed at 30 hours that ends normally, the reports by kind of incident, and the CLI."""

from __future__ import annotations

import json
from datetime import datetime, timedelta

import pytest

from engine.errors import Forbidden, Invalid

THEFT = {"category": "嚴重影響業主日常生活的事件（如盜竊、搶劫）", "nature": "治安安全事故",
         "occurred_at": "2026-11-02T09:10:00+08:00", "location": "5號樓地下車庫", "reported_by": "保安小吳",
         "description": "業主電動車被盜，監控拍到兩名可疑男子"}
LEAK = dict(THEFT, category="小區公共設施突遭嚴重損壞", nature="工程事故", location="2號樓水泵房",
            description="供水主管爆裂，2號樓停水")
MEASURES = {"measures": "封鎖出入口，調取監控，已撥打110報警", "on_site": True}
WRITTEN = {"process": "09:10業主發現電動車被盜，保安調取監控，09:30報警，10:05派出所民警到場",
           "handling": "已報案立案，加強車庫巡邏", "losses": "3200"}
SUPERVISOR, MANAGER, LEAD = ["supervisor"], ["manager"], ["security_lead"]
LADDER = ("deadline_reminder", "task_escalated", "deadline_notice", "task_expired")


def start(core_run, data=THEFT):
    run = core_run("special_incident")
    run.start(data, user="wu", roles=["security"])
    assert run.open_steps() == ["report_up"]
    return run


def report_up(run, data=MEASURES) -> None:
    run.act("report_up", data=data, user="zhu", roles=SUPERVISOR)
    assert run.open_steps() == ["written_report"]


def ladder(run) -> list[tuple[str, str]]:
    return [(e["type"], e["step"]) for e in run.events if e["type"] in LADDER]


def opened(run, step: str) -> datetime:
    return datetime.fromisoformat(run.state["tasks"][run.task_id(step)]["opened_at"])


def test_the_written_report_is_reminded_escalated_and_lapses_each_exactly_once(core_run):
    run = start(core_run)
    report_up(run)
    task = run.state["tasks"][run.task_id("written_report")]
    begin = datetime.fromisoformat(THEFT["occurred_at"])  # counted from the incident, not from the task
    assert begin < opened(run, "written_report")
    assert datetime.fromisoformat(task["due_at"]) - begin == timedelta(hours=24)
    assert datetime.fromisoformat(task["hard_at"]) - begin == timedelta(hours=36)
    run.tick(seconds=(begin + timedelta(hours=19, minutes=59) - run.now).total_seconds())
    assert ladder(run) == []
    for _ in range(3):
        run.tick(minutes=1)  # 20h: four hours before the due time, once
    assert ladder(run) == [("deadline_reminder", "written_report")]
    run.tick(hours=4)  # 24h and more: the manager is called in, once
    run.tick(minutes=1)
    run.tick(hours=6)
    assert ladder(run) == [("deadline_reminder", "written_report"), ("task_escalated", "written_report")]
    escalated = [e for e in run.events if e["type"] == "task_escalated"][0]
    assert escalated["payload"]["added"] == ["manager"] and "先電話匯報公司" in escalated["payload"]["message"]
    assert run.state["tasks"][run.task_id("written_report")]["roles"] == ["supervisor", "security_lead",
                                                                          "engineering_lead", "manager"]
    assert run.open_steps() == ["written_report"]
    run.tick(hours=6)  # 36h: the task lapses and the manager must say why
    for _ in range(3):
        run.tick(hours=1)
    assert ladder(run) == [("deadline_reminder", "written_report"), ("task_escalated", "written_report"),
                           ("task_expired", "written_report")]
    assert [e["payload"]["to"] for e in run.events if e["type"] == "task_expired"] == ["late_report"]
    assert run.open_steps() == ["late_report"]
    with pytest.raises(Forbidden):
        run.act("late_report", data=dict(WRITTEN, late_reason="x"), user="zhu", roles=SUPERVISOR)
    with pytest.raises(Invalid) as err:
        run.act("late_report", data=WRITTEN, user="jing", roles=MANAGER)
    assert err.value.details == [{"field": "late_reason", "message": "「書面報告逾時原因」為必填"}]
    late = dict(WRITTEN, late_reason="物業主任休假，報告無人跟進", phoned_at="2026-11-03T09:40:00+08:00")
    run.act("late_report", data=late, user="jing", roles=MANAGER)
    assert run.open_steps() == ["send_report"]
    run.act("send_report", data={"checked": ["company", "operations", "archive"]}, user="jing", roles=MANAGER)
    assert (run.state["status"], run.state["outcome"]) == ("completed", "reported_late")


def test_a_report_filed_at_30_hours_is_late_but_ends_normally(core_run):
    run = start(core_run)
    report_up(run)
    run.tick(hours=30)
    assert ladder(run) == [("deadline_reminder", "written_report"), ("task_escalated", "written_report")]
    run.act("written_report", data=WRITTEN, user="ma", roles=LEAD)
    assert run.open_steps() == ["manager_sign"]
    run.act("manager_sign", outcome="approve", user="jing", roles=MANAGER)
    assert run.open_steps() == ["send_report"]
    run.act("send_report", data={"checked": ["company", "archive"]}, user="jing", roles=MANAGER)
    assert run.open_steps() == ["send_report"]  # a 治安安全事故 also goes to the 營運負責人
    run.act("send_report", data={"checked": ["operations"]}, user="ma", roles=LEAD)
    assert (run.state["status"], run.state["outcome"]) == ("completed", "reported")
    run.tick(days=3)
    assert ladder(run) == [("deadline_reminder", "written_report"), ("task_escalated", "written_report")]
    assert run.state["data"]["losses"] == "3200.00"


def test_an_unanswered_report_goes_to_the_manager_after_15_minutes(core_run):
    run = start(core_run)
    with pytest.raises(Forbidden):
        run.act("report_up", data=MEASURES, user="jing", roles=MANAGER)
    run.tick(minutes=14)
    assert ladder(run) == []
    run.tick(minutes=1)
    run.tick(minutes=1)
    assert ladder(run) == [("task_escalated", "report_up")]
    run.act("report_up", data=MEASURES, user="jing", roles=MANAGER)
    assert run.open_steps() == ["written_report"]


def test_an_engineering_incident_is_also_reported_to_the_engineering_adviser(core_run):
    run = start(core_run, LEAK)
    report_up(run, {"measures": "關閉2號樓進水總閥，通知停水", "advisor_support": "公司工程顧問王工電話指導搶修方案"})
    run.act("written_report", data=dict(WRITTEN, process="06:50供水主管爆裂，07:10關閉總閥，12:00搶修完畢恢復供水",
                                        handling="更換爆裂管段"), user="gcb", roles=["engineering_lead"])
    run.act("manager_sign", outcome="rework", comment="補充停水影響戶數", user="jing", roles=MANAGER)
    assert run.open_steps() == ["written_report"]
    run.act("written_report", data={"handling": "更換爆裂管段，影響2號樓64戶停水5小時"}, user="gcb",
            roles=["engineering_lead"])
    run.act("manager_sign", outcome="approve", user="jing", roles=MANAGER)
    run.act("send_report", data={"checked": ["company", "archive"]}, user="jing", roles=MANAGER)
    assert run.open_steps() == ["send_report"]  # the 工程顧問 still needs the written report
    run.act("send_report", data={"checked": ["engineering_advisor"]}, user="gcb", roles=["engineering_lead"])
    assert run.state["outcome"] == "reported"


def test_a_poor_quality_home_is_reported_to_the_developer(core_run):
    run = start(core_run, dict(THEFT, category="業主房屋質量極差需報開發商", nature="其他",
                               description="8-301外牆大面積滲水，天花板脫落"))
    report_up(run, {"measures": "拍照取證，通知開發商工程部"})
    run.act("written_report", data=WRITTEN, user="zhu", roles=SUPERVISOR)
    run.act("manager_sign", outcome="approve", user="jing", roles=MANAGER)
    run.act("send_report", data={"checked": ["company", "archive"]}, user="jing", roles=MANAGER)
    assert run.open_steps() == ["send_report"]
    run.act("send_report", data={"checked": ["developer"]}, user="zhu", roles=SUPERVISOR)
    assert run.state["outcome"] == "reported"


def test_the_report_needs_its_facts(core_run):
    run = core_run("special_incident")
    with pytest.raises(Invalid) as err:
        run.start({k: v for k, v in THEFT.items() if k not in ("occurred_at", "location")}, user="wu",
                  roles=["security"])
    assert err.value.details == [{"field": "location", "message": "「發生地點」為必填"},
                                 {"field": "occurred_at", "message": "「發生時間」為必填"}]
    run = start(core_run)
    report_up(run)
    with pytest.raises(Invalid) as err:
        run.act("written_report", data={"process": "經過"}, user="ma", roles=LEAD)
    assert err.value.details == [{"field": "handling", "message": "「處理結果」為必填"}]


# --- the CLI ------------------------------------------------------------------------------------------------------

def test_cli_a_report_past_36_hours_lapses_once_and_the_manager_hears_of_it(cli):
    for user, role in (("wu", "security"), ("zhu", "supervisor"), ("jing", "manager")):
        cli.run("users", "add", user, "--role", role)
    inst = cli.json("start", "special_incident", "--as", "wu", "--data", json.dumps(THEFT, ensure_ascii=False))
    assert inst["number"].startswith("TB-")
    inst = cli.json("complete", cli.task(inst, "report_up"), "--as", "zhu", "--data",
                    json.dumps(MEASURES, ensure_ascii=False))
    (task,) = inst["tasks"]
    hard = datetime.fromisoformat(task["hard_at"])
    assert hard - datetime.fromisoformat(THEFT["occurred_at"]) == timedelta(hours=36)
    assert cli.json("tick", "--now", hard.isoformat())["actions"] == {"escalated": 1, "expired": 1, "reminded": 1}
    assert cli.json("tick", "--now", (hard + timedelta(hours=1)).isoformat())["actions"] == {}
    shown = cli.json("show", str(inst["id"]))
    assert [t["step"] for t in shown["tasks"]] == ["late_report"]
    assert [e["type"] for e in shown["history"] if e["type"] in LADDER] == [
        "deadline_reminder", "task_escalated", "task_expired"]
    notes = cli.json("notifications", "--as", "jing")  # newest first: the lapse, then the escalation
    assert [n["type"] for n in notes] == ["task_expired", "task_escalated"]
    assert notes[0]["roles"] == ["manager"] and "已過最後期限" in notes[0]["message"]
    assert [t["step"] for t in cli.json("tasks", "--as", "jing")] == ["late_report"]
