"""`checklist`: items ticked over several calls (who and when), items that apply only `when` the data says so,
required fields before it is done; its view, printout value and lint."""

from __future__ import annotations

import pytest

from engine.errors import Invalid
from engine.views import task_view

from ..conftest import CoreRun
from . import toy_with

ROUND = """id: round
title: 巡查
form: memo
start: {roles: [sec], fields: [subject, count], next: walk}
steps:
  walk:
    kind: checklist
    title: 巡查各處
    roles: [sec]
    fields: [note]
    required: [note]
    items:
      - {id: gate, title: 大門}
      - {id: roof, title: 天台, when: "count > 2"}
      - {id: extra, title: 其他, optional: true}
    next: done
  done: {kind: end, title: 巡查完畢, outcome: done}
"""


@pytest.fixture(scope="module")
def rounds():
    registry = toy_with(round=ROUND)
    assert registry.problems == []
    return registry


def view_of(r: CoreRun) -> dict:
    tid = r.task_id("walk")
    return task_view(r.wf, tid, r.state["tasks"][tid], r.state["data"])


def test_items_apply_by_the_data_and_each_tick_records_who(rounds):
    r = CoreRun(rounds, "round")
    r.start({"subject": "夜巡", "count": 1}, user="amy", roles={"sec"})
    view = view_of(r)
    assert [(i["id"], i["required"]) for i in view["items"]] == [("gate", True), ("roof", False), ("extra", False)]
    assert (view["submit"], view["comment"], view["outcomes"]) == ("送出勾選", False, [])
    r.act("walk", data={"checked": ["extra"]}, user="sam", roles={"sec"})
    assert view_of(r)["items"][2]["checked"]["by"] == "sam" and r.open_steps() == ["walk"]
    with pytest.raises(Invalid, match="^這些項目都已勾選過"):
        r.act("walk", data={"checked": ["extra"]}, user="sam", roles={"sec"})
    with pytest.raises(Invalid, match="^完成清單前請填寫：備註$"):  # every item that applies is ticked: the fields
        r.act("walk", data={"checked": ["gate"]}, user="tom", roles={"sec"})
    assert view_of(r)["items"][0]["checked"] is None  # (refused: nothing was ticked)
    r.act("walk", data={"checked": ["gate"], "note": "正常"}, user="tom", roles={"sec"})
    assert r.state["status"] == "completed"
    assert {k: v["by"] for k, v in r.state["checklists"]["walk"].items()} == {"extra": "sam", "gate": "tom"}


def test_an_item_whose_condition_holds_must_be_ticked(rounds):
    r = CoreRun(rounds, "round")
    r.start({"subject": "夜巡", "count": 5}, user="amy", roles={"sec"})
    r.act("walk", data={"checked": ["gate"], "note": "天台未上"}, user="sam", roles={"sec"})
    assert r.open_steps() == ["walk"]  # the roof applies now
    with pytest.raises(Invalid, match="沒有項目：lift"):
        r.act("walk", data={"checked": ["lift"]}, user="sam", roles={"sec"})
    r.act("walk", data={"checked": ["roof"]}, user="sam", roles={"sec"})
    assert r.state["status"] == "completed"


def test_its_printout_value_lists_every_item(rounds):
    from engine.printouts import Paper

    step = rounds.workflow("round").steps["walk"]
    state = {"tasks": {}, "checklists": {"walk": {"gate": {"by": "sam", "at": "2026-11-02T01:30:00+00:00"}}}}
    paper = Paper(state, [], lambda user: {"sam": "沈保安"}.get(user, ""), lambda at: "11月2日")
    assert step.printed_as == "checks" and step.print_value(paper) == [
        {"id": "gate", "title": "大門", "checked": True, "name": "沈保安", "at": "11月2日"},
        {"id": "roof", "title": "天台", "checked": False, "name": "", "at": ""},
        {"id": "extra", "title": "其他", "checked": False, "name": "", "at": ""}]


@pytest.mark.parametrize("old, new, message", [
    ("- {id: extra, title: 其他, optional: true}", "- {id: gate, title: 其他, optional: true}",
     "workflows/round.yaml:15:14: duplicate checklist item id 'gate'"),
    ('- {id: roof, title: 天台, when: "count > 2"}', '- {id: roof, title: 天台, when: "cnt > 2"}',
     "workflows/round.yaml:14:37: condition 'cnt > 2' names unknown field 'cnt'; did you mean 'count'?; it must be "
     "a field of the form"),
])
def test_its_lint(old, new, message):
    assert [str(p) for p in toy_with(round=ROUND.replace(old, new)).problems] == [message]
