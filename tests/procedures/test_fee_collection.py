"""催費: the schedules (payment list on the 1st, arrears list on the 20th) start one instance per run with its
stage and month, catch up missed runs once, count a run on a holiday from the next working day; the arrears
path with its three calls and two visits, and the months without arrears."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from engine.errors import Forbidden, Invalid

from ..conftest import query


def utc(local: str) -> str:
    return datetime.fromisoformat(local + "+08:00").astimezone(UTC).isoformat(timespec="seconds")


def tick(cli, local: str) -> dict:
    """A tick at a local time; `started`: the fee collections it started (other workflows run schedules too)."""
    out = cli.json("tick", "--now", utc(local))
    return dict(out, started=out["started_by"].get("fee_collection", 0))


def fees(cli) -> list[dict]:
    """The fee collections started so far, in order (other workflows' schedules start instances too)."""
    ids = query(cli.db, "SELECT id FROM instances WHERE workflow = 'fee_collection' ORDER BY id")
    return [cli.json("show", str(i)) for (i,) in ids]


def test_schedules_start_one_instance_per_run_and_catch_up_missed_runs_once(cli):
    assert tick(cli, "2026-11-27T10:00:00")["started"] == 0  # first sight: nothing owed for the time before
    assert tick(cli, "2026-12-01T08:59:00")["started"] == 0
    assert tick(cli, "2026-12-01T09:00:00")["started"] == 1
    assert tick(cli, "2026-12-01T09:30:00")["started"] == 0
    (bills,) = fees(cli)
    assert (bills["workflow"], bills["data"], bills["started_by"]) == (
        "fee_collection", {"stage": "出帳", "period": "2026-12"}, "schedule:bills")
    assert bills["number"] == "CF-2026-00001"
    (task,) = bills["tasks"]
    assert task["step"] == "print_payment_list"
    assert task["due_at"] == utc("2026-12-01T18:00:00")  # the same working day
    assert tick(cli, "2026-12-19T23:59:00")["started"] == 0
    assert tick(cli, "2026-12-20T09:00:00")["started"] == 1
    arrears = fees(cli)[1]
    assert arrears["data"] == {"stage": "欠費催繳", "period": "2026-12"} and arrears["started_by"] == "schedule:arrears"
    assert [t["step"] for t in arrears["tasks"]] == ["list_arrears"]
    assert tick(cli, "2026-12-20T10:00:00")["started"] == 0
    # nothing ticks for two months: the four runs missed start on the next tick, each once
    assert tick(cli, "2027-02-21T09:00:00")["started"] == 4
    assert tick(cli, "2027-02-21T09:05:00")["started"] == 0
    assert tick(cli, "2027-02-28T09:00:00")["started"] == 0
    started = fees(cli)[2:]
    assert sorted((s["data"]["period"], s["data"]["stage"], s["started_by"]) for s in started) == [
        ("2027-01", "出帳", "schedule:bills"), ("2027-01", "欠費催繳", "schedule:arrears"),
        ("2027-02", "出帳", "schedule:bills"), ("2027-02", "欠費催繳", "schedule:arrears")]
    assert len(started) == 4
    runs = [(key, run_at, json.loads(state)["data"]["stage"], json.loads(state)["data"]["period"])
            for key, run_at, state in query(cli.db, "SELECT r.key, r.run_at, i.state FROM schedule_runs r JOIN "
                                                    "instances i ON i.id = r.instance_id WHERE r.key LIKE "
                                                    "'fee_collection:%' ORDER BY r.key, r.run_at")]
    months = ("2026-12", "2027-01", "2027-02")
    assert runs == [("fee_collection:arrears", utc(f"{m}-20T09:00:00"), "欠費催繳", m) for m in months] + [
        ("fee_collection:bills", utc(f"{m}-01T09:00:00"), "出帳", m) for m in months]


def test_a_payment_list_due_on_national_day_is_due_on_the_first_working_day(cli):
    for user, role in (("chu", "cashier"), ("desk", "concierge"), ("sup", "cs_supervisor")):
        cli.run("users", "add", user, "--role", role)
    tick(cli, "2026-09-30T12:00:00")
    assert tick(cli, "2026-10-01T09:00:00")["started"] == 1
    inst = cli.json("show", "1")
    (task,) = inst["tasks"]
    # 10-01..10-07 are off: one working day from 10-08's opening, shown as the close of 10-08
    assert (task["step"], task["due_at"]) == ("print_payment_list", utc("2026-10-08T18:00:00"))
    assert tick(cli, "2026-10-08T17:59:00")["actions"] == {}
    assert tick(cli, "2026-10-08T18:00:00")["actions"] == {"notified": 1}
    assert [n["type"] for n in cli.json("notifications", "--as", "sup")] == ["deadline_notice"]
    assert cli.run("complete", task["id"], "--as", "desk", ok=False).returncode == 3
    cli.render(inst["id"], task["printout"], "chu")
    inst = cli.json("complete", task["id"], "--as", "chu")
    (task,) = inst["tasks"]
    assert task["step"] == "hand_out_payment_list"
    opened = datetime.fromisoformat(task["opened_at"])
    assert datetime.fromisoformat(task["due_at"]) > opened + timedelta(hours=7)  # one working day
    refused = cli.run("complete", task["id"], "--as", "desk", "--data", "{}", ok=False)
    assert refused.returncode == 1 and "已派發商戶數" in refused.stderr
    inst = cli.json("complete", task["id"], "--as", "desk", "--data", json.dumps({"shops": 42}))
    assert (inst["status"], inst["outcome"], inst["data"]["shops"]) == ("completed", "billed", 42)


ARREARS = {"arrears": [{"shop": "好運來便利店", "unit": "A-12", "amount": "3600"},
                       {"shop": "阿香米線", "unit": "B-03", "amount": "1250.50"}], "arrears_total": "4850.50"}
CALLS = ["call_1", "call_2", "call_3"]
VISITS = ["visit_1", "visit_2"]


def arrears_run(core_run, data=ARREARS):
    run = core_run("fee_collection")
    run.start({"stage": "欠費催繳", "period": "2026-11", "area": "A區"}, user="sup", roles=["cs_supervisor"])
    assert run.open_steps() == ["list_arrears"]
    run.act("list_arrears", data=data, user="chu", roles=["cashier"])
    return run


def test_arrears_are_printed_handed_out_and_chased_three_calls_and_two_visits(core_run):
    run = arrears_run(core_run)
    assert run.open_steps() == ["print_arrears_list"]
    run.act("print_arrears_list", user="chu", roles=["cashier"])
    with pytest.raises(Forbidden):
        run.act("hand_out_arrears_list", data={"shops": 2}, user="chu", roles=["cashier"])
    run.act("hand_out_arrears_list", data={"shops": 2}, user="xiao", roles=["assistant"])
    assert run.open_steps() == ["chase"]
    task = run.state["tasks"][run.task_id("chase")]
    assert datetime.fromisoformat(task["due_at"]) - datetime.fromisoformat(task["opened_at"]) == timedelta(days=10)
    records = [{"shop": "好運來便利店", "method": "電話催繳", "result": "答應月底前繳清"}]
    run.act("chase", data={"checked": ["call_1"], "chase_records": records}, user="xiao", roles=["assistant"])
    run.tick(days=2)
    run.act("chase", data={"checked": CALLS[1:] + VISITS[:1]}, user="xiao", roles=["assistant"])
    assert run.open_steps() == ["chase"]  # the second visit is still to be made
    run.tick(days=5)  # three days before the end: a reminder
    assert [e["step"] for e in run.events if e["type"] == "deadline_reminder"] == ["chase"]
    run.act("chase", data={"checked": ["visit_2"], "collected": "3600"}, user="desk", roles=["concierge"])
    assert run.open_steps() == ["review"]
    ticks = [e for e in run.events if e["type"] == "items_checked"]
    assert [(e["payload"]["items"], e["payload"]["by"]) for e in ticks] == [
        (["call_1"], "xiao"), (CALLS[1:] + VISITS[:1], "xiao"), (["visit_2"], "desk")]
    run.act("review", data={"review_notes": "A區收回74%，達到當月考核標準"}, user="sup", roles=["cs_supervisor"])
    assert (run.state["status"], run.state["outcome"]) == ("completed", "chased")
    assert run.state["data"]["collected"] == "3600.00"


def test_once_every_arrear_is_paid_the_remaining_calls_are_not_needed(core_run):
    run = arrears_run(core_run)
    run.act("print_arrears_list", user="chu", roles=["cashier"])
    run.act("hand_out_arrears_list", data={"shops": 2}, user="xiao", roles=["assistant"])
    run.act("chase", data={"checked": ["call_1"]}, user="xiao", roles=["assistant"])
    assert run.open_steps() == ["chase"]
    run.act("chase", data={"arrears_cleared": True, "collected": "4850.50"}, user="xiao", roles=["assistant"])
    assert run.open_steps() == ["review"]


def test_a_month_without_arrears_ends_after_the_list(core_run):
    run = arrears_run(core_run, {"arrears": [], "arrears_total": "0"})
    assert (run.state["status"], run.state["outcome"]) == ("completed", "no_arrears")


def test_stage_and_month_are_checked(core_run):
    run = core_run("fee_collection")
    with pytest.raises(Invalid) as err:
        run.start({"stage": "出帳", "period": "2026-13"}, user="sup", roles=["cs_supervisor"])
    assert [d["field"] for d in err.value.details] == ["period"]
    with pytest.raises(Forbidden):
        run.start({"stage": "出帳", "period": "2026-12"}, user="desk", roles=["concierge"])
    run.start({"stage": "出帳", "period": "2026-12"}, user="chu", roles=["cashier"])
    assert run.open_steps() == ["print_payment_list"]
