"""寵物登記: every path through the pure core, the 寵物管理規定 rules, and the main and rejected paths via the CLI."""

from __future__ import annotations

import json

import pytest

from engine.errors import Forbidden, Invalid

DOG = {"owner": "陳太太", "unit": "5-803", "phone": "13912345678", "pet_name": "豆豆", "species": "犬",
       "breed": "柯基", "size": "小型", "colour": "黃白", "dangerous": False, "dog_licence": "YQ-2026-0815",
       "immunity_cert": "MY-338201", "vaccinated_on": "2026-09-01", "tag_no": "0815", "accepts_rules": True}
CAT = {"owner": "林先生", "unit": "2-1502", "phone": "13700001111", "pet_name": "咪咪", "species": "貓",
       "breed": "英國短毛貓", "size": "中型", "accepts_rules": True}
DOG_RULES = ["tag", "leash", "clean_up", "banned_places", "no_nuisance", "bites"]
DESK = ["concierge"]
ASSISTANT = ["assistant"]


def printed(run) -> list[str]:
    return [e["payload"]["printout"] for e in run.events
            if e["type"] == "task_completed" and "printout" in e["payload"]]


def start(core_run, data=DOG):
    run = core_run("pet_registration")
    run.start(data, user="desk", roles=DESK)
    assert run.open_steps() == ["review"]
    return run


# --- every path of the graph -------------------------------------------------------------------------

def test_dog_is_approved_printed_and_the_owner_told_the_dog_rules(core_run):
    run = start(core_run)
    run.act("review", outcome="approve", data={"review_notes": "證件齊全"}, user="li", roles=ASSISTANT)
    assert run.open_steps() == ["print_registration"]
    run.act("print_registration", user="desk", roles=DESK)
    assert run.open_steps() == ["dog_rules"]
    run.act("dog_rules", data={"checked": ["tag", "leash", "clean_up"]}, user="desk", roles=DESK)
    assert run.open_steps() == ["dog_rules"]  # partial ticks keep the task open
    assert run.state["status"] == "active"
    run.act("dog_rules", data={"checked": ["banned_places", "no_nuisance", "bites"]}, user="desk", roles=DESK)
    assert run.open_steps() == []
    assert (run.state["status"], run.state["outcome"]) == ("completed", "registered")
    assert run.state["data"]["review_notes"] == "證件齊全"
    assert printed(run) == ["registration"]
    signature = run.state["approvals"][0]
    assert (signature["by"], signature["role"], signature["outcome"]) == ("li", "assistant", "approve")


def test_cat_needs_no_dog_papers_and_skips_the_dog_rules(core_run):
    run = start(core_run, CAT)
    run.act("review", outcome="approve", user="li", roles=ASSISTANT)
    run.act("print_registration", user="li", roles=ASSISTANT)
    assert run.open_steps() == []
    assert (run.state["status"], run.state["outcome"]) == ("completed", "registered")
    assert [e["payload"]["to"] for e in run.events if e["type"] == "decision_taken"] == ["registered"]


def test_rework_goes_back_to_the_desk_and_returns_to_review(core_run):
    run = start(core_run)
    with pytest.raises(Invalid) as err:
        run.act("review", outcome="rework", user="li", roles=ASSISTANT)
    assert err.value.details == [{"field": "comment", "message": "請填寫意見（原因）"}]
    run.act("review", outcome="rework", comment="免疫證已過期，請補交新證", user="li", roles=ASSISTANT)
    assert run.open_steps() == ["correct"]
    run.act("correct", data={"immunity_cert": "MY-500001", "vaccinated_on": "2026-11-01"}, user="desk",
            roles=DESK)
    assert run.open_steps() == ["review"]
    assert run.state["data"]["immunity_cert"] == "MY-500001"
    run.act("review", outcome="approve", user="li", roles=ASSISTANT)
    run.act("print_registration", user="desk", roles=DESK)
    run.act("dog_rules", data={"checked": DOG_RULES}, user="desk", roles=DESK)
    assert run.state["outcome"] == "registered"
    assert [(a["outcome"], a["comment"]) for a in run.state["approvals"]] == [
        ("rework", "免疫證已過期，請補交新證"), ("approve", None)]


def test_rejection_needs_a_reason_and_ends_rejected(core_run):
    run = start(core_run)
    with pytest.raises(Invalid):
        run.act("review", outcome="reject", comment="  ", user="li", roles=ASSISTANT)
    run.act("review", outcome="reject", comment="經核實該犬屬烈性犬", user="li", roles=ASSISTANT)
    assert run.open_steps() == []
    assert (run.state["status"], run.state["outcome"]) == ("completed", "rejected")
    assert printed(run) == []


def test_only_an_assistant_other_than_the_registrar_reviews(core_run):
    run = core_run("pet_registration")
    run.start(DOG, user="li", roles=["concierge", "assistant"])
    with pytest.raises(Forbidden, match="不能由申請人"):
        run.act("review", outcome="approve", user="li", roles=["concierge", "assistant"])
    with pytest.raises(Forbidden):
        run.act("review", outcome="approve", user="desk", roles=DESK)
    run.act("review", outcome="approve", user="zhao", roles=ASSISTANT)
    assert run.open_steps() == ["print_registration"]


def test_registration_is_started_only_at_the_front_desk(core_run):
    run = core_run("pet_registration")
    with pytest.raises(Forbidden):
        run.start(DOG, user="cashier", roles=["cashier"])


# --- the rules of 寵物管理規定 --------------------------------------------------------------------------

@pytest.mark.parametrize("change, details", [
    ({"size": "大型"}, [{"field": "size", "message": "養犬居民不得飼養烈性犬和大型犬（此犬屬大型犬）"}]),
    ({"dangerous": True, "breed": "比特犬"},
     [{"field": "dangerous", "message": "養犬居民不得飼養烈性犬和大型犬（此犬屬烈性犬）"}]),
    ({"dangerous": True, "size": "大型", "breed": "藏獒"},
     [{"field": "dangerous", "message": "養犬居民不得飼養烈性犬和大型犬（此犬屬烈性犬）"},
      {"field": "size", "message": "養犬居民不得飼養烈性犬和大型犬（此犬屬大型犬）"}]),
    ({"dog_licence": None}, [{"field": "dog_licence", "message": "養犬須持有市城管部門核發的《養犬許可證》"}]),
    ({"immunity_cert": None},
     [{"field": "immunity_cert", "message": "養犬須持有市獸醫防疫部門發放的《犬類免疫證》"}]),
    ({"dog_licence": None, "immunity_cert": None},
     [{"field": "dog_licence", "message": "養犬須持有市城管部門核發的《養犬許可證》"},
      {"field": "immunity_cert", "message": "養犬須持有市獸醫防疫部門發放的《犬類免疫證》"}]),
    ({"dangerous": None}, [{"field": "dangerous", "message": "養犬須註明是否屬烈性犬"}]),
    ({"accepts_rules": False}, [{"field": "accepts_rules", "message": "須由業主確認知悉並承諾遵守《寵物管理規定》"}]),
])
def test_the_rules_refuse_the_registration(core_run, change, details):
    data = {k: v for k, v in dict(DOG, **change).items() if v is not None}
    run = core_run("pet_registration")
    with pytest.raises(Invalid) as err:
        run.start(data, user="desk", roles=DESK)
    assert err.value.details == details
    assert run.state == {}  # nothing was started


def test_a_large_cat_is_not_a_dog(core_run):
    run = start(core_run, dict(CAT, size="大型", breed="緬因貓"))
    assert run.state["data"]["size"] == "大型"


def test_schema_messages_name_the_fields(core_run):
    run = core_run("pet_registration")
    with pytest.raises(Invalid) as err:
        run.start(dict({k: v for k, v in DOG.items() if k != "owner"}, size="巨型"), user="desk", roles=DESK)
    assert err.value.details == [{"field": "owner", "message": "「飼養人（業主）」為必填"},
                                 {"field": "size", "message": "「體型」只能是：小型、中型、大型"}]


def test_the_rules_also_hold_when_the_desk_corrects_the_registration(core_run):
    run = start(core_run)
    run.act("review", outcome="rework", comment="請核對體型", user="li", roles=ASSISTANT)
    with pytest.raises(Invalid) as err:
        run.act("correct", data={"size": "大型"}, user="desk", roles=DESK)
    assert err.value.details == [{"field": "size", "message": "養犬居民不得飼養烈性犬和大型犬（此犬屬大型犬）"}]
    with pytest.raises(Invalid) as err:
        run.act("correct", data={"dog_licence": None}, user="desk", roles=DESK)  # clearing the licence
    assert err.value.details == [{"field": "dog_licence", "message": "養犬須持有市城管部門核發的《養犬許可證》"}]
    assert run.open_steps() == ["correct"] and run.state["data"]["size"] == "小型"


# --- the CLI on a real SQLite file -----------------------------------------------------------------------

def users(cli) -> None:
    cli.run("users", "add", "desk", "--role", "concierge")
    cli.run("users", "add", "li", "--role", "assistant")


def test_cli_registers_a_dog(cli):
    users(cli)
    inst = cli.json("start", "pet_registration", "--as", "desk", "--data", json.dumps(DOG, ensure_ascii=False))
    assert inst["number"].startswith("CW-") and inst["status"] == "active"
    assert [t["step"] for t in inst["tasks"]] == ["review"]
    assert inst["tasks"][0]["outcomes"] == ["approve", "rework", "reject"]
    inst = cli.json("complete", cli.task(inst, "review"), "--as", "li", "--outcome", "approve", "--data",
                    '{"review_notes": "證件齊全"}', "--comment", "同意登記")
    assert [t["step"] for t in inst["tasks"]] == ["print_registration"]
    assert inst["tasks"][0]["printout"] == "registration" and inst["tasks"][0]["printed"] is False
    cli.render(inst["id"], "registration", "desk")
    inst = cli.json("complete", cli.task(inst, "print_registration"), "--as", "desk")
    task = inst["tasks"][0]
    assert task["step"] == "dog_rules" and [i["id"] for i in task["items"]] == DOG_RULES
    inst = cli.json("complete", task["id"], "--as", "desk", "--data", '{"checked": ["tag", "leash"]}')
    assert [t["step"] for t in inst["tasks"]] == ["dog_rules"]
    assert [i["id"] for i in inst["tasks"][0]["items"] if i["checked"]] == ["tag", "leash"]
    inst = cli.json("complete", task["id"], "--as", "desk", "--data",
                    '{"checked": ["clean_up", "banned_places", "no_nuisance", "bites"]}')
    assert (inst["status"], inst["outcome"], inst["tasks"]) == ("completed", "registered", [])
    assert inst["data"] == dict(DOG, review_notes="證件齊全")
    assert [(a["by"], a["role"], a["outcome"], a["comment"]) for a in inst["approvals"]] == [
        ("li", "assistant", "approve", "同意登記")]
    shown = cli.json("show", str(inst["id"]))
    assert shown["status"] == "completed" and shown["number"] == inst["number"]


def test_cli_refuses_a_large_dog_and_records_a_rejection(cli):
    users(cli)
    refused = cli.run("start", "pet_registration", "--as", "desk", "--data",
                      json.dumps(dict(DOG, size="大型"), ensure_ascii=False), ok=False)
    assert refused.returncode == 1
    assert "養犬居民不得飼養烈性犬和大型犬（此犬屬大型犬）" in refused.stderr
    inst = cli.json("start", "pet_registration", "--as", "desk", "--data", json.dumps(DOG, ensure_ascii=False))
    refused = cli.run("complete", cli.task(inst, "review"), "--as", "li", "--outcome", "reject", ok=False)
    assert refused.returncode == 1 and "必須填寫意見" in refused.stderr
    inst = cli.json("complete", cli.task(inst, "review"), "--as", "li", "--outcome", "reject", "--comment",
                    "業主未能出示養犬許可證原件")
    assert (inst["status"], inst["outcome"], inst["tasks"]) == ("completed", "rejected", [])
    shown = cli.json("show", str(inst["id"]))
    assert shown["approvals"][0]["comment"] == "業主未能出示養犬許可證原件"
    assert shown["outcome"] == "rejected"
