"""The exemplars' deadlines on the business calendar: the renovation approval within 3 working days across the
2026 National Day holiday (make-up Sunday and Saturday, Mid-Autumn), escalations that fire once however often
tick runs, the repair return-visit rates, and the fire's on-site and written-report limits. Time is moved by
hand: a Clock for the engine, `tick --now` for the CLI."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from engine.service import Engine

from ..conftest import Cli, Clock, add_units
from .test_renovation import APPLICATION, DOCUMENTS
from .test_repair import REPORT, SIGN_OFF


def at(local: str) -> datetime:
    """A Shanghai wall-clock time as an aware UTC datetime."""
    return datetime.fromisoformat(local + "+08:00").astimezone(UTC)


def utc(local: str) -> str:
    return at(local).isoformat(timespec="seconds")


def events(inst: dict, kind: str) -> list[dict]:
    return [e for e in inst["history"] if e["type"] == kind]


@pytest.fixture
def site(new_db, tmp_path, registry):
    """An engine on a SQLite file with a hand-moved clock, and the real CLI on the same file."""
    clock = Clock(at("2026-09-18T10:00:00"))
    add_units(new_db("site.db"))
    engine = Engine(new_db("site.db"), registry, clock=clock)
    for user, role in (("xiao", "assistant"), ("gong", "engineering_lead"), ("zhu", "supervisor"),
                       ("jing", "manager"), ("desk", "concierge"), ("ban", "repair_foreman"), ("zhang", "repair_tech"),
                       ("sup", "cs_supervisor"), ("kf", "service_centre")):
        engine.add_user(user, [role])
    yield engine, clock, Cli(new_db("site.db"))
    engine.close()


def receive_renovation(engine: Engine) -> dict:
    """The 物業助理 receives an application, checks the documents and hands it to the 工程部負責人 at once."""
    inst = engine.start("renovation", "xiao", APPLICATION)
    inst = engine.complete(inst["tasks"][0]["id"], "xiao", data={"checked": DOCUMENTS})
    engine.render(inst["id"], "application", "xiao")  # printed for the 工程部, then confirmed as handed on
    inst = engine.complete(inst["tasks"][0]["id"], "xiao")
    assert [t["step"] for t in inst["tasks"]] == ["engineering_review"]
    return inst


# --- the renovation approval: 3 working days on the business calendar -----------------------------------------

@pytest.mark.parametrize("received, due", [
    # Friday before the holiday week: Sun 09-20 is a make-up working day, so Fri -> Sun, Mon, Tue
    ("2026-09-18T10:00:00", "2026-09-22T10:00:00"),
    # Thursday before Mid-Autumn: Fri 09-25 is off, so Mon 09-28, Tue 09-29, Wed 09-30
    ("2026-09-24T10:00:00", "2026-09-30T10:00:00"),
    # Tuesday before National Day: Wed 09-30, then 10-01..10-07 off, Thu 10-08, Fri 10-09
    ("2026-09-29T10:00:00", "2026-10-09T10:00:00"),
    # received on Mid-Autumn itself (a Friday off): counted from Monday's opening; 3 working days end on
    # Thursday 10-08's opening, shown as the close of Wednesday 09-30
    ("2026-09-25T10:00:00", "2026-09-30T18:00:00"),
])
def test_renovation_review_is_due_three_working_days_later_across_the_holidays(site, received, due):
    engine, clock, cli = site
    clock.now = at(received)
    inst = receive_renovation(engine)
    shown = cli.json("show", str(inst["id"]))
    (task,) = shown["tasks"]
    assert (task["step"], task["opened_at"], task["due_at"]) == ("engineering_review", utc(received), utc(due))
    answer = cli.json("calendar", "due", received[:16], "3 working days")
    assert answer["due"] == due + "+08:00" and answer["estimated"] is False


def test_a_make_up_saturday_is_a_working_day_for_the_due_time_and_the_ladder(site):
    engine, clock, cli = site
    clock.now = at("2026-09-30T16:00:00")  # the last working afternoon before National Day
    inst = receive_renovation(engine)
    (task,) = inst["tasks"]
    # day 1 Thu 10-08, day 2 Fri 10-09, day 3 the make-up Saturday 10-10
    assert task["due_at"] == utc("2026-10-10T16:00:00")
    assert cli.json("calendar", "due", "2026-09-30T16:00", "3 working days")["due"] == "2026-10-10T16:00:00+08:00"
    iid = str(inst["id"])
    # the reminder comes 4 working hours before: Saturday 10:30 (16:00-13:30 and 10:30-12:00)
    assert cli.json("tick", "--now", utc("2026-10-10T10:29:00"))["actions"] == {}
    assert cli.json("tick", "--now", utc("2026-10-10T10:30:00"))["actions"] == {"reminded": 1}
    assert cli.json("tasks", "--as", "jing") == []  # not the manager's yet
    for moment in ("2026-10-10T16:00:00", "2026-10-10T16:01:00", "2026-10-12T09:00:00"):
        cli.json("tick", "--now", utc(moment))
    shown = cli.json("show", iid)
    assert len(events(shown, "deadline_reminder")) == 1
    escalated = events(shown, "task_escalated")
    assert [(e["at"], e["payload"]["added"]) for e in escalated] == [(utc("2026-10-10T16:00:00"), ["manager"])]
    assert [t["id"] for t in cli.json("tasks", "--as", "jing")] == [task["id"]]
    notes = cli.json("notifications", "--as", "jing")
    assert [n["type"] for n in notes] == ["task_escalated"]
    assert "三個工作日" in notes[0]["message"]
    # the escalated manager decides alone for the late 工程部; the application moves on to the 物業主任
    clock.now = at("2026-10-12T09:30:00")
    inst = engine.complete(task["id"], "jing", outcome="approve", comment="工程部逾時，經理代為審核")
    assert [t["step"] for t in inst["tasks"]] == ["supervisor_sign"]
    # the three working days count from the application: the 物業主任's signature opens already overdue,
    # and the next tick calls in the manager at once
    assert inst["tasks"][0]["due_at"] == utc("2026-10-10T16:00:00")
    assert cli.json("tick", "--now", utc("2026-10-12T09:31:00"))["actions"] == {"escalated": 1, "reminded": 1}


def test_the_reminder_comes_before_the_due_time_on_the_friday_case(site):
    engine, clock, cli = site
    inst = receive_renovation(engine)  # Friday 2026-09-18 10:00, due Tuesday 09-22 10:00
    iid = str(inst["id"])
    # 4 working hours before Tuesday 10:00: 1h on Tuesday morning and 3h on Monday afternoon, Monday 15:00
    assert cli.json("tick", "--now", utc("2026-09-21T14:59:00"))["actions"] == {}
    assert cli.json("tick", "--now", utc("2026-09-21T15:00:00"))["actions"] == {"reminded": 1}
    assert cli.json("tick", "--now", utc("2026-09-22T09:59:00"))["actions"] == {}
    assert cli.json("tick", "--now", utc("2026-09-22T10:00:00"))["actions"] == {"escalated": 1}
    gong = cli.json("notifications", "--as", "gong")
    assert [n["type"] for n in gong] == ["deadline_reminder"]
    assert len(events(cli.json("show", iid), "task_escalated")) == 1


# --- the repair order: escalations fire once -------------------------------------------------------------------

def test_an_overdue_repair_order_escalates_exactly_once_however_often_tick_runs(cli):
    for user, role in (("desk", "concierge"), ("sup", "cs_supervisor")):
        cli.run("users", "add", user, "--role", role)
    inst = cli.json("start", "repair_order", "--as", "desk", "--data", json.dumps(REPORT, ensure_ascii=False))
    (task,) = inst["tasks"]
    assert task["step"] == "open_order"
    due = datetime.fromisoformat(task["due_at"])
    assert due - datetime.fromisoformat(task["opened_at"]) == timedelta(minutes=5)
    assert cli.json("tasks", "--as", "sup") == []
    assert cli.json("tick", "--now", (due - timedelta(seconds=1)).isoformat())["actions"] == {}
    assert cli.json("tick", "--now", due.isoformat())["actions"] == {"reminded": 1}
    assert cli.json("tasks", "--as", "sup") == []  # only reminded so far
    ticks = [cli.json("tick", "--now", (due + timedelta(minutes=m)).isoformat())["actions"]
             for m in (4, 5, 5, 6, 30, 24 * 60)]
    assert ticks == [{}, {"escalated": 1}, {}, {}, {}, {}]
    shown = cli.json("show", str(inst["id"]))
    escalated = events(shown, "task_escalated")
    assert len(escalated) == 1 and escalated[0]["payload"]["added"] == ["cs_supervisor"]
    assert escalated[0]["at"] == (due + timedelta(minutes=5)).isoformat(timespec="seconds")
    assert len(events(shown, "deadline_reminder")) == 1
    assert [t["id"] for t in cli.json("tasks", "--as", "sup")] == [task["id"]]
    notes = cli.json("notifications", "--as", "sup")
    assert [(n["type"], n["instance"]) for n in notes] == [("task_escalated", inst["id"])]
    assert "客服主管" in notes[0]["message"]
    assert [n["type"] for n in cli.json("notifications", "--as", "desk")] == ["deadline_reminder"]
    # the 客服主管 may now issue the order himself
    cli.render(inst["id"], "order", "sup")
    inst = cli.json("complete", task["id"], "--as", "sup")
    assert [t["step"] for t in inst["tasks"]] == ["assign"]


def test_an_emergency_not_reached_in_15_minutes_calls_in_the_engineering_lead(core_run):
    from .test_repair import BURST
    run = core_run("repair_order")
    run.start(BURST, user="desk", roles=["concierge"])
    run.tick(minutes=9)
    assert [e["type"] for e in run.events if e["type"].startswith("deadline")] == []
    run.tick(minutes=1)  # 5 minutes before the 15
    assert [e["payload"]["notify"] for e in run.events if e["type"] == "deadline_reminder"] == [
        ["repair_tech", "repair_foreman"]]
    for _ in range(3):
        run.tick(minutes=5)
    assert [e["payload"]["added"] for e in run.events if e["type"] == "task_escalated"] == [["engineering_lead"]]
    assert [e["payload"]["notify"] for e in run.events if e["type"] == "deadline_notice"] == [["service_centre"]]
    task = run.state["tasks"][run.task_id("urgent_dispatch")]
    assert task["roles"] == ["repair_tech", "repair_foreman", "engineering_lead"]


# --- the repair return-visit rates ---------------------------------------------------------------------------------

def repair_to_sign_off(engine: Engine) -> dict:
    inst = engine.start("repair_order", "desk", REPORT)
    engine.render(inst["id"], "order", "desk")
    inst = engine.complete(inst["tasks"][0]["id"], "desk")
    inst = engine.complete(inst["tasks"][0]["id"], "ban", data={"technician": "小張"})
    inst = engine.complete(inst["tasks"][0]["id"], "zhang", outcome="agree", data={"price": "80"})
    inst = engine.complete(inst["tasks"][0]["id"], "zhang", outcome="fixed", data={"work_done": "更換下水管"})
    inst = engine.complete(inst["tasks"][0]["id"], "zhang", data=SIGN_OFF)
    assert inst["tasks"] == [] and [w["step"] for w in inst["waiting"]] == ["week_later"]
    return inst


def test_repair_return_visit_rates_against_60_percent_and_50_percent_a_day(site):
    engine, clock, cli = site
    clock.now = at("2026-11-02T09:30:00")
    orders = [repair_to_sign_off(engine) for _ in range(3)]
    declined = engine.start("repair_order", "desk", REPORT)  # no repair, no visit: not counted
    engine.render(declined["id"], "order", "desk")
    declined = engine.complete(declined["tasks"][0]["id"], "desk")
    declined = engine.complete(declined["tasks"][0]["id"], "ban", data={"technician": "小張"})
    declined = engine.complete(declined["tasks"][0]["id"], "zhang", outcome="decline", data={"price": "500"},
                               comment="業主嫌貴")
    assert declined["outcome"] == "declined"
    engine.tick(at("2026-11-09T09:30:00"))  # a week later every visit opens, due in 24h, lapsing after 3 days
    visits = {t["instance"]: t for t in engine.tasks("kf")}
    assert sorted(visits) == sorted(o["id"] for o in orders)
    for order in orders:
        task = visits[order["id"]]
        assert (task["due_at"], task["hard_at"]) == (utc("2026-11-10T09:30:00"), utc("2026-11-12T09:30:00"))
    clock.now = at("2026-11-09T15:00:00")
    for order in orders[:2]:  # two are visited on Monday
        engine.complete(visits[order["id"]]["id"], "kf", data={"satisfaction": "滿意", "visit_notes": "電話回訪"})
    for moment in ("2026-11-10T09:30:00", "2026-11-12T09:30:00", "2026-11-12T10:00:00"):
        engine.tick(at(moment))  # the third is not: the supervisor is told, then it lapses on Thursday
    lapsed = cli.json("show", str(orders[2]["id"]))
    assert (lapsed["status"], lapsed["outcome"]) == ("completed", "not_visited")
    assert [e["payload"]["to"] for e in events(lapsed, "task_expired")] == ["not_visited"]
    assert [n["type"] for n in cli.json("notifications", "--as", "sup")] == ["deadline_notice"]

    report = cli.json("sla", "--workflow", "repair_order", "--from", "2026-11-01", "--to", "2026-11-30")
    rates = {r["id"]: r for r in report["rates"]}
    overall, daily = rates["visits"], rates["daily_visits"]
    assert (overall["target"], overall["count"], overall["done"], overall["rate"], overall["pass"]) == (
        0.6, 3, 2, 0.6667, True)
    assert (daily["target"], daily["days"], daily["failing_days"], daily["worst_day"], daily["pass"]) == (
        0.5, 2, ["2026-11-12"], 0.0, False)
    thursday = cli.json("sla", "--workflow", "repair_order", "--from", "2026-11-12", "--to", "2026-11-12")
    rates = {r["id"]: r for r in thursday["rates"]}
    assert (rates["visits"]["count"], rates["visits"]["rate"], rates["visits"]["pass"]) == (1, 0.0, False)
    monday = cli.json("sla", "--workflow", "repair_order", "--from", "2026-11-09", "--to", "2026-11-09")
    rates = {r["id"]: r for r in monday["rates"]}
    assert (rates["visits"]["rate"], rates["visits"]["pass"], rates["daily_visits"]["pass"]) == (1.0, True, True)
    steps = {s["step"]: s for s in report["steps"]}
    assert (steps["return_visit"]["count"], steps["return_visit"]["on_time"], steps["return_visit"]["overdue"]) == (
        3, 2, 1)


# --- the fire: on site within 15 minutes, the written report within 24 hours, at the latest 36 ----------------------

def test_fire_verification_and_written_report_limits(core_run):
    from .test_fire import FIRE, REPORT, confirm, recover, respond
    run = core_run("fire_emergency")
    run.start(FIRE, user="wu", roles=["security"])
    run.tick(minutes=10)
    run.tick(minutes=5)
    run.tick(minutes=5)
    assert [e["payload"]["added"] for e in run.events if e["type"] == "task_escalated"] == [["supervisor", "manager"]]
    confirm(run)
    respond(run)
    recover(run)
    task = run.state["tasks"][run.task_id("report")]
    found = datetime.fromisoformat(FIRE["discovered_at"])  # the limits count from when the fire was found
    assert datetime.fromisoformat(task["hard_at"]) - found == timedelta(hours=36)
    for _ in range(2):
        run.tick(hours=20)  # 20h: the reminder; 40h: the escalation and the notice past 36h
        run.tick(minutes=1)
    kinds = [(e["step"], e["type"]) for e in run.events
             if e["type"] in ("deadline_reminder", "deadline_notice", "task_escalated")]
    assert kinds == [("verify", "deadline_reminder"), ("verify", "task_escalated"), ("report", "deadline_reminder"),
                     ("report", "task_escalated"), ("report", "deadline_notice")]
    assert run.state["tasks"][run.task_id("report")]["roles"] == ["security_lead", "supervisor", "manager"]
    run.act("report", data=REPORT, user="jing", roles=["manager"])  # late, but the report still goes on
    assert run.open_steps() == ["manager_sign"]
