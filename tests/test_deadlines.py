"""Deadlines, holds, relative starts, schedules and SLA figures, with time moved by hand (never slept)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from engine import definitions
from engine.errors import Conflict, Invalid, NotFound
from engine.service import Engine

from .conftest import BACKENDS, REPO, T0, Clock, CoreRun, Databases, StoreRun, query

TOY = REPO / "tests" / "fixtures" / "toy"
# T0 is Monday 2026-11-02 09:30 in Shanghai; working hours 09:00-12:00 and 13:30-18:00 (the default)


def at(local: str) -> datetime:
    """A Shanghai wall-clock time as an aware UTC datetime."""
    return datetime.fromisoformat(local + "+08:00").astimezone(UTC)


def utc(local: str) -> str:
    return at(local).isoformat(timespec="seconds")


@pytest.fixture(scope="module")
def toy() -> definitions.Registry:
    return definitions.load_strict(TOY)


@pytest.fixture(params=["core", *BACKENDS])
def run(request, toy, tmp_path):
    """The `timed` toy workflow through the pure core, then through the engine on each backend."""
    runs = []
    databases = Databases(request.param, tmp_path)

    def make(workflow: str = "timed"):
        r = CoreRun(toy, workflow) if request.param == "core" else StoreRun(toy, workflow, databases(f"t{len(runs)}"))
        runs.append(r)
        return r

    yield make
    for r in runs:
        if isinstance(r, StoreRun):
            r.close()
    databases.drop()


def fired(r, kind: str) -> list[dict]:
    return [e for e in r.events if e["type"] == kind]


def test_due_times_are_counted_in_working_time(run):
    r = run()
    r.start({"subject": "漏水"})
    task = r.state["tasks"][r.task_id("handle")]
    assert task["due_at"] == utc("2026-11-02T15:00:00")  # 4 working hours: 2.5 before lunch, 1.5 after
    assert task["hard_at"] == utc("2026-11-04T09:30:00")  # 2 working days
    assert r.state["wake_at"] == utc("2026-11-02T14:00:00")  # the reminder, 1h before the due time


def test_the_ladder_fires_each_rung_once_in_order(run):
    r = run()
    r.start({"subject": "漏水"})
    r.tick(hours=4, minutes=29)  # 13:59
    assert fired(r, "deadline_reminder") == []
    for _ in range(3):
        r.tick(minutes=1)  # 14:00, 14:01, 14:02: one reminder, however often tick runs
    assert [e["payload"]["notify"] for e in fired(r, "deadline_reminder")] == [["eng"]]
    r.tick(hours=3)  # 17:02: the notice (15:00) and the escalation (17:00) both, once each
    r.tick(minutes=1)
    assert [e["payload"]["message"] for e in fired(r, "deadline_notice")] == ["處理已逾時"]
    assert [e["payload"]["added"] for e in fired(r, "task_escalated")] == [["boss"]]
    assert r.state["tasks"][r.task_id("handle")]["roles"] == ["eng", "boss"]
    r.tick(days=2)  # past the hard limit: the task lapses and the named transition is taken
    assert [e["payload"]["to"] for e in fired(r, "task_expired")] == ["late"]
    assert r.open_steps() == ["late"]
    r.tick(days=1)
    assert len(fired(r, "task_expired")) == 1 and r.state["wake_at"] is None


def test_an_escalated_role_may_act(run):
    r = run()
    r.start({"subject": "漏水"})
    with pytest.raises(Exception, match="需要角色"):
        r.act("handle", data={"note": "經理處理"}, user="boss", roles=["boss"])
    r.tick(hours=8)
    r.act("handle", data={"note": "經理處理"}, user="boss", roles=["boss"])
    assert r.state["status"] == "completed"


def test_an_escalated_role_decides_an_approval_alone_and_a_reassignment_replaces_the_signers(run):
    r = run("late_sign")
    r.start({"subject": "申請"})
    r.tick(days=1, hours=1)  # past the due time (1 working day): boss added
    task = r.state["tasks"][r.task_id("sign")]
    assert task["roles"] == ["eng", "sec", "boss"]
    r.act("sign", outcome="approve", user="boss", roles=["boss"])
    assert r.state["outcome"] == "signed"
    r2 = run("late_sign")
    r2.start({"subject": "申請"})
    r2.tick(days=3)  # a working day later still: only the clerk may decide now
    assert r2.state["tasks"][r2.task_id("sign")]["roles"] == ["clerk"]
    with pytest.raises(Exception, match="需要角色"):
        r2.act("sign", outcome="approve", user="e", roles=["eng"])


def test_a_held_task_fires_nothing_and_its_due_time_moves_on_in_working_time(new_db, toy, tmp_path):
    clock = Clock(at("2026-11-02T10:30:00"))
    engine = Engine(new_db("h.db"), toy, clock=clock)
    for user, role in (("c", "clerk"), ("e", "eng")):
        engine.add_user(user, [role])
    inst = engine.start("timed", "c", {"subject": "漏水"})
    task = inst["tasks"][0]["id"]
    assert inst["tasks"][0]["due_at"] == utc("2026-11-02T16:00:00")  # 1.5h before lunch + 2.5h after
    held = engine.hold(task, "e", "owner", "業主出差")
    assert held["tasks"][0]["paused"]["state"] == "owner"
    with pytest.raises(Conflict):
        engine.hold(task, "e", "owner")
    with pytest.raises(NotFound):
        engine.hold(task + "9", "e", "owner")
    assert engine.tick(at("2026-11-03T09:00:00"))["actions"] == {}  # held: nothing fires
    clock.now = at("2026-11-03T10:30:00")  # a day later: the 4 working hours left are still left
    resumed = engine.resume(task, "e")
    assert resumed["tasks"][0]["due_at"] == utc("2026-11-03T16:00:00")
    assert resumed["tasks"][0]["paused"] is None
    row = engine.store.conn.execute("SELECT due_at FROM tasks WHERE id=?", (task,)).fetchone()
    assert row == (utc("2026-11-03T16:00:00"),)  # the inbox projection follows
    assert engine.tick(at("2026-11-03T14:59:00"))["actions"] == {}
    assert engine.tick(at("2026-11-03T15:00:00"))["actions"] == {"reminded": 1}
    engine.close()


def test_hold_refuses_unknown_states_and_outsiders(new_db, toy, tmp_path, clock):
    engine = Engine(new_db("h.db"), toy, clock=clock)
    for user, role in (("c", "clerk"), ("e", "eng"), ("s", "sec")):
        engine.add_user(user, [role])
    task = engine.start("timed", "c", {"subject": "x"})["tasks"][0]["id"]
    before = engine.store.conn.execute("SELECT revision FROM instances").fetchall()
    with pytest.raises(Invalid, match="可用：等待業主回覆$"):  # the states in words, not their ids
        engine.hold(task, "e", "lunch")
    with pytest.raises(Exception, match="需要角色"):
        engine.hold(task, "s", "owner")
    with pytest.raises(Conflict, match="沒有暫停"):
        engine.resume(task, "e")
    assert engine.store.conn.execute("SELECT revision FROM instances").fetchall() == before
    engine.close()


def test_a_relative_start_reaches_its_first_step_after_the_delay(run):
    r = run("followup")
    r.start({"subject": "報修 12"})
    r.act("close", data={"note": "修好"})
    assert r.state["status"] == "completed"  # the parent does not wait for its return visit
    if isinstance(r, StoreRun):
        child = r.engine.store.instance_row(r.iid + 1)
        assert child["parent_id"] == r.iid and child["state"]["tasks"] == {}
        assert child["wake_at"] == (T0 + timedelta(days=7)).isoformat()
        r.engine.tick(T0 + timedelta(days=7) - timedelta(seconds=1))
        assert r.engine.store.instance_row(r.iid + 1)["state"]["tasks"] == {}
        r.engine.tick(T0 + timedelta(days=7))
        tasks = r.engine.store.instance_row(r.iid + 1)["state"]["tasks"]
        assert [t["step"] for t in tasks.values()] == ["handle"]
        assert [t["opened_at"] for t in tasks.values()] == [(T0 + timedelta(days=7)).isoformat()]
    else:
        (child,) = r.children.values()
        assert child.state["tasks"] == {} and child.state["wake_at"] == (T0 + timedelta(days=7)).isoformat()
        child.tick(days=7)
        assert child.open_steps() == ["handle"]


def test_overdue_work_reaches_the_notification_lists(new_db, toy, tmp_path, clock):
    engine = Engine(new_db("n.db"), toy, clock=clock)
    for user, role in (("c", "clerk"), ("e", "eng"), ("b", "boss")):
        engine.add_user(user, [role])
    inst = engine.start("timed", "c", {"subject": "漏水"})
    engine.tick(T0 + timedelta(hours=4, minutes=30))
    engine.tick(T0 + timedelta(hours=8))
    boss = engine.notifications("b")
    assert [n["type"] for n in boss] == ["task_escalated", "deadline_notice"]  # newest first
    assert boss[1]["message"] == "處理已逾時" and boss[0]["instance"] == inst["id"]
    eng = engine.notifications("e")
    assert [n["type"] for n in eng] == ["deadline_reminder"]
    assert "將於 2026-11-02 15:00 到期" in eng[0]["message"]
    assert engine.notifications("c") == []
    engine.close()


def _tick_procs(db: Path, now: str, n: int = 2) -> list[dict]:
    cmd = [sys.executable, "-m", "engine.cli", "--db", str(db), "--defs", str(TOY), "tick", "--now", now]
    procs = [subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                              env={"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin",
                                   "GOLDKEY_CACHE": os.environ["GOLDKEY_CACHE"]}) for _ in range(n)]
    outs = []
    for proc in procs:
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
        outs.append(json.loads(out))
    return outs


def test_four_tick_processes_never_apply_an_action_twice(new_db, toy, tmp_path, clock):
    db = new_db("race.db")
    engine = Engine(db, toy, clock=clock, synchronous="OFF")
    for user, role in (("c", "clerk"), ("e", "eng")):
        engine.add_user(user, [role])
    for i in range(300):
        engine.start("timed", "c", {"subject": f"單 {i}"})
    engine.close()
    outs = _tick_procs(db, (T0 + timedelta(hours=8)).isoformat(), 4)
    counts = dict(query(db, "SELECT type, count(*) FROM events WHERE type IN ('deadline_reminder', "
                            "'deadline_notice', 'task_escalated') GROUP BY type"))
    assert counts == {"deadline_reminder": 300, "deadline_notice": 300, "task_escalated": 300}
    assert sum(sum(o["actions"].values()) for o in outs) == 900  # split between them somehow, never doubled
    assert query(db, "SELECT count(*) FROM notifications") == [(900,)]
    assert _tick_procs(db, (T0 + timedelta(hours=9)).isoformat(), 1)[0]["actions"] == {}


def test_a_schedule_missed_for_three_days_catches_up_once_per_run(new_db, toy, tmp_path):
    db = new_db("s.db")
    engine = Engine(db, toy, clock=Clock(at("2026-11-02T07:00:00")))
    first = engine.tick()  # first sight of the schedule: nothing is owed for the time before
    assert first["started"] == 0
    assert engine.tick(at("2026-11-02T08:00:00"))["started"] == 1
    engine.close()
    # the server is down from Tuesday to Thursday; two tickers start at once on Thursday 09:00
    outs = _tick_procs(db, utc("2026-11-05T09:00:00"))
    assert sum(o["started"] for o in outs) == 3
    rows = [(run_at, json.loads(state)["data"]["subject"], by) for run_at, state, by in query(
        db, "SELECT r.run_at, i.state, i.started_by FROM schedule_runs r JOIN instances i ON i.id = r.instance_id "
            "ORDER BY r.run_at")]
    assert rows == [(utc(f"2026-11-0{d}T08:00:00"), f"巡視 11-0{d}", "schedule:daily") for d in (2, 3, 4, 5)]
    assert _tick_procs(db, utc("2026-11-05T09:30:00"), 1)[0]["started"] == 0


def test_sla_figures_and_target_rates(new_db, toy, tmp_path):
    clock = Clock(at("2026-11-02T07:00:00"))
    engine = Engine(new_db("sla.db"), toy, clock=clock)
    engine.add_user("s", ["sec"])
    engine.tick()
    for day in range(2, 6):  # four daily patrols; three are walked, one on time by 2h, two late
        engine.tick(at(f"2026-11-0{day}T08:00:00"))
    tasks = engine.tasks("s")
    assert len(tasks) == 4
    for task, hours in zip(sorted(tasks, key=lambda t: t["opened_at"]), (2, 5, 6), strict=False):
        clock.now = datetime.fromisoformat(task["opened_at"]) + timedelta(hours=hours)
        engine.complete(task["id"], "s", data={"checked": ["gate", "lift"]})
    clock.now = at("2026-11-06T09:00:00")
    report = engine.sla(workflow="patrol")
    (walk,) = report["steps"]
    assert (walk["count"], walk["on_time"], walk["overdue"], walk["open_overdue"]) == (3, 1, 2, 1)
    assert walk["median_minutes"] == 300 and walk["p90_minutes"] == 348
    (rate,) = report["rates"]
    assert (rate["count"], rate["done"], rate["rate"], rate["pass"]) == (3, 3, 1.0, True)
    assert engine.sla(workflow="followup")["rates"][0]["pass"] is None  # nothing ended: no verdict
    with pytest.raises(Invalid):
        engine.sla(datetime(2026, 11, 5).date(), datetime(2026, 11, 1).date())
    engine.close()


@pytest.mark.parametrize("old, new, message", [
    ("due: {soft: 4 working hours, hard: 2 working days}", "due: 4 workin hours",
     "timed.yaml:10:10: '4 workin hours' is not a duration"),
    ("- {before: 1h, remind: true}", "- {before: 1h, after: 2h, remind: true}",
     "timed.yaml:13:9: give each deadline exactly one of"),
    ("- {at: hard, goto: late}", "- {at: hard, goto: lat}",
     "timed.yaml:16:26: step 'handle' goes to 'lat', which is not a step; did you mean 'late'?"),
    ("- {at: due, notify: [boss], message: 處理已逾時}", "- {at: due, notify: [bos]}",
     "timed.yaml:14:28: unknown role 'bos'; did you mean 'boss'?"),
    ("due: {soft: 4 working hours, hard: 2 working days}", "due: {soft: 4 working hours}",
     "timed.yaml:16:14: `at: hard` needs a hard limit"),
    ("hard: 2 working days}", "hard: 2 working days, from: subject}",
     "timed.yaml:10:62: `from: subject` must be `started` or a date or date-time field of the form"),
])
def test_bad_deadline_yaml_is_a_lint_error_with_its_place(tmp_path, old, new, message):
    import shutil

    shutil.copytree(TOY, tmp_path / "defs")
    path = tmp_path / "defs" / "workflows" / "timed.yaml"
    text = path.read_text(encoding="utf-8")
    assert old in text
    path.write_text(text.replace(old, new), encoding="utf-8")
    problems = [str(p) for p in definitions.load(tmp_path / "defs", display_root="").problems]
    assert len(problems) == 1 and problems[0].startswith("workflows/" + message), problems


@pytest.mark.parametrize("calendar, message", [
    ('calendar: {working_hours: ["09:00-12:00", "25:00-26:00"]}',
     "goldkey.yaml:7:27: calendar: '25:00' is not a time of day"),
    ('calendar: {working_days: [mon, tue, wed, thu, fry]}', "goldkey.yaml:7:47: calendar.working_days.4 'fry' is not"),
    ('calendar: {holidays: {"2027-02-30": 假}}', "goldkey.yaml:7:23: '2027-02-30' is not a date"),
    ('calendar: {public_holidays: japan}', "goldkey.yaml:7:29: calendar.public_holidays 'japan' is not allowed"),
])
def test_bad_calendar_yaml_is_a_lint_error_with_its_place(tmp_path, calendar, message):
    import shutil

    shutil.copytree(TOY, tmp_path / "defs")
    path = tmp_path / "defs" / "goldkey.yaml"
    path.write_text(path.read_text(encoding="utf-8") + calendar + "\n", encoding="utf-8")
    problems = [str(p) for p in definitions.load(tmp_path / "defs", display_root="").problems]
    assert any(p.startswith(message) for p in problems), problems


def test_limits_count_from_the_task_the_start_or_a_date_field():
    from engine.deadlines import Due, origin_time
    from engine.durations import parse_duration

    state = {"started_at": "2026-11-01T02:00:00+00:00", "data": {"day": "2026-10-30", "when": "2026-10-31T08:00:00Z"}}
    opened, tz = T0, ZoneInfo("Asia/Shanghai")
    limit = parse_duration("24h")
    assert origin_time(Due(limit), state, opened, tz) == opened
    assert origin_time(Due(limit, None, "started"), state, opened, tz) == at("2026-11-01T10:00:00")
    assert origin_time(Due(limit, None, "day"), state, opened, tz) == at("2026-10-30T00:00:00")  # local midnight
    assert origin_time(Due(limit, None, "when"), state, opened, tz) == at("2026-10-31T16:00:00")
    assert origin_time(Due(limit, None, "missing"), state, opened, tz) == opened  # an empty field: the opening


def test_an_estimated_year_is_a_warning_until_confirmed(tmp_path):
    import shutil

    shutil.copytree(TOY, tmp_path / "defs")
    reg = definitions.load(tmp_path / "defs", display_root="")
    site = reg.site
    warnings = definitions.calendar_warnings(site, "goldkey.yaml", None, datetime(2026, 11, 27).date())
    assert [w.message.split(" (")[0] for w in warnings] == ["warning: the public holidays of 2027 are estimated"]
    path = tmp_path / "defs" / "goldkey.yaml"
    path.write_text(path.read_text(encoding="utf-8") + "calendar: {confirmed_years: [2027, 2028]}\n",
                    encoding="utf-8")
    site = definitions.load(tmp_path / "defs", display_root="").site
    assert definitions.calendar_warnings(site, "goldkey.yaml", None, datetime(2026, 11, 27).date()) == []
