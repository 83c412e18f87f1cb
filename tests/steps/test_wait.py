"""`wait`: no task; the token goes on once the time has passed, whenever tick runs after that."""

from __future__ import annotations

from ..conftest import CoreRun, kinds
from . import toy_with

PAUSE = """id: pause
title: 冷靜期
form: memo
start: {roles: [clerk], fields: [subject], next: cool}
steps:
  cool: {kind: wait, title: 等三個工作日, duration: 3 working days, next: done}
  done: {kind: end, title: 期滿, outcome: done}
"""


def test_the_wait_counts_on_the_calendar_and_fires_once():
    registry = toy_with(pause=PAUSE)
    r = CoreRun(registry, "pause")  # Monday 09:30
    r.start({"subject": "x"}, user="amy", roles={"clerk"})
    assert r.state["wake_at"] == "2026-11-05T01:30:00+00:00"  # Thursday 09:30
    r.tick(days=2, hours=23)
    assert r.state["status"] == "active"
    r.tick(hours=1)
    assert r.state["status"] == "completed"
    assert kinds(r.events).count(("timer_fired", "cool")) == 1
    assert registry.workflow("pause").steps["cool"].describe()["duration"] == "3 working days"
