"""Rehearsals (`goldkey start/complete --now`, engine/rehearsal.py): a three-month term walked in a minute through the
CLI on a scratch database, each event saying it was rehearsed and when it really ran; time never going backwards for
an instance; the audit chain intact."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from engine.errors import Invalid
from engine.service import Engine

from .conftest import Cli
from .test_definitions import TOY, copy_defs

TERM = """id: term
title: 短期租約
form: memo
start: {roles: [clerk], fields: [subject], next: sign}
steps:
  sign: {kind: form, title: 簽約, roles: [clerk], fields: [note], due: 3 working days, next: term}
  term: {kind: wait, title: 租期, duration: 3 months, next: leave}
  leave: {kind: form, title: 退租點交, roles: [clerk], fields: [note], next: done}
  done: {kind: end, title: 完成}
"""


@pytest.fixture
def defs(tmp_path) -> Path:
    (tmp_path / "defs").mkdir()
    root = copy_defs(TOY, tmp_path / "defs")
    (root / "workflows" / "term.yaml").write_text(TERM, encoding="utf-8")
    return root


def test_a_three_month_term_walked_with_now(new_db, defs):
    cli = Cli(new_db("rehearse.db"), defs)
    cli.run("users", "add", "amy", "--role", "clerk")
    inst = cli.json("start", "term", "--as", "amy", "--data", '{"subject": "三號鋪"}',
                    "--now", "2027-01-04T09:00:00+08:00")
    assert inst["started_at"] == "2027-01-04T01:00:00+00:00"
    assert inst["tasks"][0]["due_at"] == "2027-01-06T10:00:00+00:00"  # 3 working days on from the rehearsed time
    inst = cli.json("complete", cli.task(inst, "sign"), "--as", "amy", "--data", '{"note": "已簽"}',
                    "--now", "2027-01-04T10:00:00+08:00")
    until = inst["waiting"][0]["until"]
    assert until == "2027-04-04T02:00:00+00:00"  # three months on
    assert cli.json("tick", "--now", "2027-04-03T10:00:00+08:00")["timers_fired"] == 0
    assert cli.json("tick", "--now", until)["timers_fired"] == 1
    shown = cli.json("show", str(inst["id"]))
    task = cli.task(shown, "leave")
    before = shown["history"]
    back = cli.run("complete", task, "--as", "amy", "--data", '{"note": "點交"}', "--now", "2027-01-05T09:00:00+08:00",
                   ok=False)
    assert back.returncode == 1 and back.stdout == ""
    assert back.stderr == ("goldkey: 排演時間 2027-01-05 09:00 早於案件 1 最後一筆紀錄的時間 2027-04-04 10:00："
                           "同一案件的時間不能倒退，請用較晚的時間\n")
    assert cli.json("show", str(inst["id"]))["history"] == before  # refused: nothing written
    done = cli.json("complete", task, "--as", "amy", "--data", '{"note": "點交"}', "--now", "2027-04-06T09:00:00+08:00")
    assert done["status"] == "completed" and done["ended_at"] == "2027-04-06T01:00:00+00:00"
    history = done["history"]
    rehearsed = [e for e in history if e["payload"].get("rehearsed")]
    assert {e["type"] for e in rehearsed} >= {"instance_started", "task_opened", "task_completed", "instance_ended"}
    assert all(e["type"] in ("timer_fired", "task_opened") for e in history if e not in rehearsed)  # (tick's own)
    for event in rehearsed:  # the rehearsed time is the event's; the wall time beside it is today's
        wall = datetime.fromisoformat(event["payload"]["wall_time"])
        assert abs(wall - datetime.now(UTC)) < timedelta(minutes=10) and event["at"] >= "2027-01-04"
    assert cli.json("audit")["ok"]
    bad = cli.run("start", "term", "--as", "amy", "--data", '{"subject": "x"}', "--now", "soon", ok=False)
    assert bad.returncode == 1 and bad.stderr.startswith("goldkey: --now 'soon' is not an ISO time")


def test_the_engine_takes_now_and_refuses_going_back(new_db, defs, clock):
    eng = Engine(new_db("engine.db"), defs, clock=clock)
    try:
        eng.add_user("amy", ["clerk"])
        plain = eng.start("term", "amy", {"subject": "今天"})
        events = eng.show(plain["id"])["history"]
        assert not any("rehearsed" in e["payload"] for e in events)
        with pytest.raises(Invalid, match="同一案件的時間不能倒退"):
            eng.complete(plain["tasks"][0]["id"], "amy", data={"note": "x"}, now=clock.now - timedelta(days=1))
        later = eng.complete(plain["tasks"][0]["id"], "amy", data={"note": "x"}, now=clock.now + timedelta(days=2))
        assert later["waiting"][0]["until"].startswith("2027-02-04")
        last = eng.show(plain["id"])["history"][-1]
        assert last["payload"]["rehearsed"] is True and last["payload"]["wall_time"] == "2026-11-02T01:30:00+00:00"
        assert last["at"] == "2026-11-04T01:30:00+00:00"
        naive = eng.start("term", "amy", {"subject": "無時區"}, now=datetime(2027, 3, 1, 2, 0))
        assert naive["started_at"] == "2027-03-01T02:00:00+00:00"  # (a time without a zone is UTC, as tick reads it)
        assert eng.audit()["ok"]
        assert json.dumps(eng.show(naive["id"])["history"][0]["payload"]["wall_time"])
    finally:
        eng.close()
