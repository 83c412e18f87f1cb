"""`form`: fields filled at a step, outcomes with titles (their words on buttons and in messages), its lint."""

from __future__ import annotations

import pytest

from engine.errors import Invalid
from engine.views import task_view

from ..conftest import CoreRun
from . import toy_with

DOOR = """id: door
title: 門禁報修
form: memo
start: {roles: [clerk], fields: [subject], next: look}
steps:
  look:
    kind: form
    title: 查看門禁
    roles: [eng]
    fields: [note, count]
    required: [note]
    outcomes: {fixed: {to: done, title: 已修復}, later: {to: again, title: 改日再修}, gone: nowhere}
    comment_required: [later]
  again: {kind: form, title: 預約再修, roles: [clerk], fields: [day], next: look}
  nowhere: {kind: end, title: 無法處理, outcome: gone}
  done: {kind: end, title: 修好, outcome: fixed}
"""


@pytest.fixture(scope="module")
def door():
    registry = toy_with(door=DOOR)
    assert registry.problems == []
    return registry


def test_outcomes_carry_their_words_into_the_task_and_describe(door):
    step = door.workflow("door").steps["look"]
    assert [step.outcome_title(o) for o in step.outcomes] == ["已修復", "改日再修", "轉「無法處理」"]
    r = CoreRun(door, "door")
    r.start({"subject": "大門"}, user="amy", roles={"clerk"})
    view = task_view(r.wf, r.task_id("look"), r.state["tasks"][r.task_id("look")], r.state["data"])
    assert view["outcomes"] == ["fixed", "later", "gone"]
    assert view["outcome_titles"] == {"fixed": "已修復", "later": "改日再修", "gone": "轉「無法處理」"}
    assert view["choices"][1] == {"id": "later", "title": "改日再修", "to": "預約再修", "comment": True}
    assert (view["kind_title"], view["required"], view["submit"]) == ("填寫", ["note"], "完成")
    assert step.describe()["outcome_titles"] == view["outcome_titles"]


def test_messages_name_outcomes_by_their_words(door):
    r = CoreRun(door, "door")
    r.start({"subject": "大門"}, user="amy", roles={"clerk"})
    with pytest.raises(Invalid, match="^請選擇結果：已修復、改日再修、轉「無法處理」$"):
        r.act("look", None, {"note": "x"}, user="ed", roles={"eng"})
    with pytest.raises(Invalid, match="^選擇「改日再修」時必須填寫意見（原因）$"):
        r.act("look", "later", {"note": "x"}, user="ed", roles={"eng"})
    with pytest.raises(Invalid) as err:
        r.act("look", "fixed", {"day": "2026-12-01"}, user="ed", roles={"eng"})
    assert err.value.details == [{"field": "day", "message": "「日期」不能在「查看門禁」這一步填寫"}]
    r.act("look", "later", {"note": "缺零件"}, comment="等零件", user="ed", roles={"eng"})
    assert r.open_steps() == ["again"]


@pytest.mark.parametrize("old, new, message", [
    ("    outcomes: {fixed:", "    next: done\n    outcomes: {fixed:",
     "workflows/door.yaml:13:15: give either `next` or `outcomes`, not both"),
    ("  again: {kind: form, title: 預約再修, roles: [clerk], fields: [day], next: look}",
     "  again: {kind: form, title: 預約再修, roles: [clerk], fields: [day]}",
     "workflows/door.yaml:14:10: a form step needs `next` (or `outcomes`) to say where to go"),
    ("fields: [note, count]", "fields: [note, cont]",
     "workflows/door.yaml:10:20: unknown field 'cont'; did you mean 'count'?; form 'memo' has no such field"),
])
def test_its_lint(old, new, message):
    assert message in [str(p) for p in toy_with(door=DOOR.replace(old, new)).problems]
