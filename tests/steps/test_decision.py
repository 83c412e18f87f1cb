"""`decision`: the first branch whose condition holds, else `default`; the graph labels branches in words."""

from __future__ import annotations

import pytest

from engine import graph
from engine.errors import Invalid

from ..conftest import CoreRun, kinds
from . import toy_with

ROUTE = """id: route
title: 分派
form: memo
start: {roles: [clerk], fields: [subject, count], next: big}
steps:
  big:
    kind: decision
    title: 數量多不多
    branches:
      - {when: "count >= 10", to: many}
      - {when: "count == 0", to: none, title: 沒有}
    default: few
  many: {kind: end, title: 大宗, outcome: many}
  none: {kind: end, title: 無, outcome: none}
  few: {kind: end, title: 少量, outcome: few}
"""


@pytest.fixture(scope="module")
def route():
    registry = toy_with(route=ROUTE)
    assert registry.problems == []
    return registry


@pytest.mark.parametrize("count, outcome", [(12, "many"), (0, "none"), (3, "few")])
def test_the_first_branch_that_holds_wins(route, count, outcome):
    r = CoreRun(route, "route")
    r.start({"subject": "x", "count": count}, user="amy", roles={"clerk"})
    assert r.state["outcome"] == outcome
    assert kinds(r.events)[1] == ("decision_taken", "big")


def test_an_undecidable_condition_is_a_clear_refusal(route):
    with pytest.raises(Invalid, match="「數量多不多」的條件「count >= 10」無法判斷"):
        CoreRun(route, "route").start({"subject": "x"}, user="amy", roles={"clerk"})


def test_the_graph_labels_branches_in_words(route):
    svg = graph.svg(route.workflow("route"))
    assert "數量大於或等於10" in svg and ">沒有<" in svg and ">其他<" in svg and "count" not in svg.split("<g ")[0]
