"""火警處置: verification, four parallel checklists and their join, recovery, the written report with photos and
the manager's signature (and rework); false alarm; the main and false-alarm paths via the CLI."""

from __future__ import annotations

import json

import pytest

from engine.errors import Forbidden, Invalid

FIRE = {"location": "3號樓地下車庫B區", "discovered_at": "2026-11-02T09:20:00+08:00", "reported_by": "保安小吳",
        "description": "一輛電動車充電時冒煙起火"}
BRANCHES = ["alarm", "cut_supplies", "evacuate", "extinguish"]
EXTINGUISH = ["nearby_extinguishers", "staff_fight_fire", "assist_brigade"]
ALARM = ["call_fire_brigade", "notify_leaders"]
RECOVER = ["clear_scene", "restore_power", "post_notice", "find_cause"]
REPORT = {"process": "09:20發現起火，保安使用就近滅火器撲救，09:31消防隊到場，09:40明火撲滅",
          "handling": "明火撲滅，無人員傷亡，車庫B區已清理並恢復供電", "cause": "電動車電池故障",
          "injured": 0, "losses": "8000", "photos": [{"caption": "起火車輛", "file": "IMG_0012.jpg"},
                                                      {"caption": "清理後的車庫B區"}]}
SECURITY, LEAD, ENGINEERING, CLEANING = ["security"], ["security_lead"], ["engineering"], ["cleaning"]
MANAGER = ["manager"]


def start(core_run, user="wu", roles=SECURITY):
    run = core_run("fire_emergency")
    run.start(FIRE, user=user, roles=roles)
    assert run.open_steps() == ["verify"]
    return run


def confirm(run) -> None:
    run.act("verify", outcome="confirmed", data={"verify_notes": "核實起火", "commander": "保安主管老馬"},
            user="ma", roles=LEAD)
    assert run.open_steps() == BRANCHES  # all four at once


def respond(run) -> None:
    run.act("extinguish", data={"checked": EXTINGUISH[:2]}, user="wu", roles=SECURITY)
    run.act("alarm", data={"checked": ["call_fire_brigade"]}, user="ma", roles=LEAD)
    assert run.open_steps() == BRANCHES  # partial ticks keep every task open
    run.act("extinguish", data={"checked": EXTINGUISH[2:]}, user="jie", roles=CLEANING)
    run.act("alarm", data={"checked": ["notify_leaders"]}, user="ma", roles=LEAD)
    assert run.open_steps() == ["cut_supplies", "evacuate"]
    run.act("cut_supplies", data={"checked": ["cut_power", "cut_gas"]}, user="gcb", roles=ENGINEERING)
    assert run.open_steps() == ["evacuate"]  # the join waits for the last branch
    run.act("evacuate", data={"checked": ["rescue", "fire_lanes", "isolate_scene"]}, user="wu", roles=SECURITY)
    assert run.open_steps() == ["recover"]


def recover(run) -> None:
    run.act("recover", data={"checked": ["clear_scene"]}, user="jie", roles=CLEANING)
    run.act("recover", data={"checked": ["restore_power", "restore_lifts"]}, user="gcb", roles=ENGINEERING)
    assert run.open_steps() == ["recover"]
    run.act("recover", data={"checked": ["post_notice", "find_cause"]}, user="ma", roles=LEAD)
    assert run.open_steps() == ["report"]


# --- every path of the graph -------------------------------------------------------------------------

def test_confirmed_fire_is_fought_recovered_reported_and_signed(core_run):
    run = start(core_run)
    confirm(run)
    respond(run)
    recover(run)
    task = run.state["tasks"][run.task_id("report")]
    # the written report is due 24 hours after the fire was found (09:20), not after the task opened
    assert (task["opened_at"], task["due_at"]) == ("2026-11-02T01:30:00+00:00", "2026-11-03T01:20:00+00:00")
    run.act("report", data=REPORT, user="ma", roles=LEAD)
    assert run.open_steps() == ["manager_sign"]
    run.act("manager_sign", outcome="approve", comment="同意上報", user="jing", roles=MANAGER)
    assert run.open_steps() == ["send_report"]
    run.act("send_report", user="jing", roles=MANAGER)
    assert run.open_steps() == []
    assert (run.state["status"], run.state["outcome"]) == ("completed", "reported")
    assert run.state["data"]["commander"] == "保安主管老馬" and len(run.state["data"]["photos"]) == 2
    done = {e["step"]: e["payload"]["checked"] for e in run.events if e["type"] == "task_completed"
            and "checked" in e["payload"]}
    assert {item: who["by"] for item, who in done["extinguish"].items()} == {
        "nearby_extinguishers": "wu", "staff_fight_fire": "wu", "assist_brigade": "jie"}
    assert sorted(done["cut_supplies"]) == ["cut_gas", "cut_power"]  # no non-fire lift to park
    assert [e["step"] for e in run.events if e["type"] == "joined"] == ["controlled"]


def test_optional_items_may_be_ticked_when_they_apply(core_run):
    run = start(core_run)
    confirm(run)
    run.act("cut_supplies", data={"checked": ["cut_power", "cut_gas", "park_lifts"]}, user="gcb",
            roles=ENGINEERING)
    run.act("evacuate", data={"checked": ["rescue", "fire_lanes", "injured_to_hospital", "isolate_scene"]},
            user="wu", roles=SECURITY)
    run.act("extinguish", data={"checked": EXTINGUISH}, user="wu", roles=SECURITY)
    assert run.open_steps() == ["alarm"]
    with pytest.raises(Invalid, match="沒有項目"):
        run.act("alarm", data={"checked": ["cut_power"]}, user="ma", roles=LEAD)
    run.act("alarm", data={"checked": ALARM}, user="ma", roles=LEAD)
    run.act("recover", data={"checked": RECOVER}, user="ma", roles=LEAD)
    assert run.open_steps() == ["report"]
    with pytest.raises(Invalid) as err:
        run.act("report", data=dict(REPORT, injured=2), user="ma", roles=LEAD)
    assert err.value.details == [{"field": "hospital", "message": "有人員受傷時須註明傷者送往的醫院"}]
    run.act("report", data=dict(REPORT, injured=2, hospital="市第一人民醫院"), user="ma", roles=LEAD)
    assert run.open_steps() == ["manager_sign"]


def test_false_alarm_ends_at_verification(core_run):
    run = start(core_run)
    run.act("verify", outcome="false_alarm", data={"verify_notes": "燒烤油煙觸發煙感，無火情", "commander": "老馬"},
            user="ma", roles=LEAD)
    assert run.open_steps() == []
    assert (run.state["status"], run.state["outcome"]) == ("completed", "false_alarm")


def test_manager_sends_the_report_back_for_rework(core_run):
    run = start(core_run)
    confirm(run)
    respond(run)
    recover(run)
    run.act("report", data=REPORT, user="ma", roles=LEAD)
    with pytest.raises(Invalid):
        run.act("manager_sign", outcome="rework", user="jing", roles=MANAGER)
    run.act("manager_sign", outcome="rework", comment="補充消防隊到場時間及損失明細", user="jing", roles=MANAGER)
    assert run.open_steps() == ["report"]
    run.act("report", data={"losses": "8500"}, user="zhu", roles=["supervisor"])
    run.act("manager_sign", outcome="approve", user="jing", roles=MANAGER)
    run.act("send_report", user="zhu", roles=["supervisor"])
    assert run.state["outcome"] == "reported" and run.state["data"]["losses"] == "8500.00"
    assert [(a["outcome"], a["comment"]) for a in run.state["approvals"]] == [
        ("rework", "補充消防隊到場時間及損失明細"), ("approve", None)]


def test_a_manager_who_reported_the_fire_still_signs_the_report(core_run):
    run = start(core_run, user="jing", roles=MANAGER)
    confirm(run)
    respond(run)
    recover(run)
    run.act("report", data=REPORT, user="ma", roles=LEAD)
    run.act("manager_sign", outcome="approve", user="jing", roles=MANAGER)
    assert run.open_steps() == ["send_report"]


# --- who may act, and what the report needs ----------------------------------------------------------------

def test_each_branch_belongs_to_its_department(core_run):
    run = start(core_run)
    with pytest.raises(Forbidden):
        run.act("verify", outcome="confirmed", data={"commander": "小周"}, user="jie", roles=CLEANING)
    confirm(run)
    with pytest.raises(Forbidden):
        run.act("cut_supplies", data={"checked": ["cut_power"]}, user="wu", roles=SECURITY)
    with pytest.raises(Forbidden):
        run.act("evacuate", data={"checked": ["rescue"]}, user="jie", roles=CLEANING)
    run.act("extinguish", data={"checked": ["staff_fight_fire"]}, user="jie", roles=CLEANING)
    with pytest.raises(Invalid, match="沒有新的勾選"):
        run.act("extinguish", data={"checked": ["staff_fight_fire"]}, user="wu", roles=SECURITY)
    assert run.open_steps() == BRANCHES


def test_anyone_on_duty_may_report_but_not_the_cashier(core_run):
    for roles in (["cleaning"], ["concierge"], ["engineering"]):
        start(core_run, user="x", roles=roles)
    with pytest.raises(Forbidden):
        core_run("fire_emergency").start(FIRE, user="chu", roles=["cashier"])


def test_report_and_verification_need_their_facts(core_run):
    run = core_run("fire_emergency")
    with pytest.raises(Invalid) as err:
        run.start({"location": "1號樓"}, user="wu", roles=SECURITY)
    assert err.value.details == [{"field": "discovered_at", "message": "「發現時間」為必填"},
                                 {"field": "reported_by", "message": "「報告人」為必填"}]
    run = start(core_run)
    with pytest.raises(Invalid) as err:
        run.act("verify", outcome="confirmed", user="ma", roles=LEAD)
    assert err.value.details == [{"field": "commander", "message": "「現場第一責任人」為必填"}]
    confirm(run)
    respond(run)
    recover(run)
    with pytest.raises(Invalid) as err:
        run.act("report", data={k: v for k, v in REPORT.items() if k != "photos"}, user="ma", roles=LEAD)
    assert err.value.details == [{"field": "photos", "message": "「現場照片」為必填"}]
    with pytest.raises(Invalid) as err:
        run.act("report", data=dict(REPORT, photos=[]), user="ma", roles=LEAD)
    assert err.value.details == [{"field": "photos", "message": "「現場照片」至少要有 1 行"}]


# --- the CLI on a real SQLite file -----------------------------------------------------------------------

STAFF = {"wu": "security", "ma": "security_lead", "gcb": "engineering", "jie": "cleaning", "jing": "manager"}


def users(cli) -> None:
    for name, role in STAFF.items():
        cli.run("users", "add", name, "--role", role)


def steps(inst: dict) -> list[str]:
    return sorted(t["step"] for t in inst["tasks"])


def tick(cli, inst: dict, step: str, user: str, items: list[str]) -> dict:
    return cli.json("complete", cli.task(inst, step), "--as", user, "--data", json.dumps({"checked": items}))


def test_cli_walks_a_fire_from_report_to_the_signed_report(cli):
    users(cli)
    inst = cli.json("start", "fire_emergency", "--as", "wu", "--data", json.dumps(FIRE, ensure_ascii=False))
    assert inst["number"].startswith("HJ-") and steps(inst) == ["verify"]
    inst = cli.json("complete", cli.task(inst, "verify"), "--as", "ma", "--outcome", "confirmed", "--data",
                    '{"commander": "老馬"}')
    assert steps(inst) == BRANCHES
    inst = tick(cli, inst, "extinguish", "jie", EXTINGUISH)
    inst = tick(cli, inst, "alarm", "ma", ALARM)
    inst = tick(cli, inst, "cut_supplies", "gcb", ["cut_power"])
    assert steps(inst) == ["cut_supplies", "evacuate"]
    items = {t["step"]: t["items"] for t in inst["tasks"]}["cut_supplies"]
    assert [(i["id"], i["optional"], bool(i["checked"])) for i in items] == [
        ("cut_power", False, True), ("cut_gas", False, False), ("park_lifts", True, False)]
    inst = tick(cli, inst, "cut_supplies", "gcb", ["cut_gas"])
    inst = tick(cli, inst, "evacuate", "wu", ["rescue", "fire_lanes", "isolate_scene"])
    assert steps(inst) == ["recover"]
    inst = tick(cli, inst, "recover", "gcb", ["restore_power", "clear_scene"])
    inst = tick(cli, inst, "recover", "ma", ["post_notice", "find_cause"])
    assert steps(inst) == ["report"]
    inst = cli.json("complete", cli.task(inst, "report"), "--as", "ma", "--data",
                    json.dumps(REPORT, ensure_ascii=False))
    refused = cli.run("complete", cli.task(inst, "manager_sign"), "--as", "ma", "--outcome", "approve", ok=False)
    assert refused.returncode == 3
    inst = cli.json("complete", cli.task(inst, "manager_sign"), "--as", "jing", "--outcome", "approve")
    cli.render(inst["id"], "report", "jing")
    inst = cli.json("complete", cli.task(inst, "send_report"), "--as", "jing")
    assert (inst["status"], inst["outcome"], inst["tasks"]) == ("completed", "reported", [])
    assert inst["data"]["photos"] == REPORT["photos"] and inst["data"]["losses"] == "8000.00"
    shown = cli.json("show", str(inst["id"]))
    assert [(a["step"], a["by"], a["outcome"]) for a in shown["approvals"]] == [("manager_sign", "jing", "approve")]


def test_cli_records_a_false_alarm(cli):
    users(cli)
    inst = cli.json("start", "fire_emergency", "--as", "jie", "--data", json.dumps(FIRE, ensure_ascii=False))
    refused = cli.run("complete", cli.task(inst, "verify"), "--as", "jie", "--outcome", "false_alarm", "--data",
                      '{"commander": "小周"}', ok=False)
    assert refused.returncode == 3  # cleaning staff report, security verifies
    inst = cli.json("complete", cli.task(inst, "verify"), "--as", "wu", "--outcome", "false_alarm", "--data",
                    '{"commander": "小吳", "verify_notes": "煙感誤報"}')
    assert (inst["status"], inst["outcome"], inst["tasks"]) == ("completed", "false_alarm", [])
    assert cli.json("show", str(inst["id"]))["data"]["verify_notes"] == "煙感誤報"
