"""The pure step semantics: given a state, when a command, then exactly these events and this state."""

from __future__ import annotations

import copy
from decimal import Decimal

import pytest

from engine import core, definitions
from engine.core import Actor
from engine.errors import Conflict, Forbidden, Invalid

from .conftest import T0, CoreRun
from .test_definitions import TOY


@pytest.fixture(scope="module")
def toy():
    return definitions.load_strict(TOY)


def run(toy, workflow: str) -> CoreRun:
    return CoreRun(toy, workflow)


def kinds(events: list[dict]) -> list[tuple[str, str | None]]:
    return [(e["type"], e["step"]) for e in events]


def test_start_emits_exactly_these_events(toy):
    wf = toy.workflow("quorum")
    result = core.start(wf, 7, "T-2026-0001", Actor("amy", frozenset({"clerk"})), {"subject": "買燈泡"}, T0)
    assert kinds(result.events) == [("instance_started", None), ("task_opened", "vote")]
    assert result.events[1]["task"] == "7-2"
    assert result.events[1]["payload"] == {"kind": "approval", "roles": ["eng", "sec", "boss"], "due_at": None,
                                         "hard_at": None}
    assert result.state["data"] == {"subject": "買燈泡"} and result.state["number"] == "T-2026-0001"
    assert result.effects == []


def test_the_input_state_is_never_modified(toy):
    r = run(toy, "quorum")
    r.start({"subject": "x"}, user="amy", roles={"clerk"})
    before = copy.deepcopy(r.state)
    core.complete(r.wf, r.state, r.task_id("vote"), Actor("bo", frozenset({"boss"})), "approve", {}, None, T0)
    assert r.state == before


def test_wrong_role_is_forbidden_and_starting_needs_the_start_role(toy):
    r = run(toy, "quorum")
    with pytest.raises(Forbidden, match="沒有啟動"):
        r.start({"subject": "x"}, user="eve", roles={"eng"})
    r.start({"subject": "x"}, user="amy", roles={"clerk"})
    with pytest.raises(Forbidden, match="需要角色"):
        r.act("vote", "approve", user="amy", roles={"clerk"})












def test_unknown_outcome_and_fields_outside_the_step(toy):
    r = run(toy, "approve_all")
    r.start({"subject": "x"}, user="amy", roles={"clerk"})
    with pytest.raises(Invalid) as err:
        r.act("sign", "maybe", user="ed", roles={"eng"})
    assert err.value.details == [{"field": "outcome", "message": "結果「maybe」無效，可選：同意、不同意、退回修改"}]
    with pytest.raises(Invalid) as err:
        r.act("sign", "approve", data={"subject": "改"}, user="ed", roles={"eng"})
    assert err.value.details == [{"field": "subject", "message": "「主旨」不能在「sign」這一步填寫"}]






def test_a_finished_task_is_a_conflict(toy):
    r = run(toy, "quorum")
    r.start({"subject": "x"}, user="amy", roles={"clerk"})
    task = r.task_id("vote")
    old = r.state
    r.act("vote", "reject", comment="no", user="bo", roles={"boss"})
    with pytest.raises(Conflict):
        core.complete(r.wf, r.state, task, Actor("ed", frozenset({"eng"})), "approve", {}, None, T0)
    with pytest.raises(Conflict):  # the same task again on the old state is the store's revision check
        core.complete(r.wf, r.state, "1-99", Actor("ed", frozenset({"eng"})), "approve", {}, None, T0)
    assert old["tasks"]




def test_validation_errors_name_fields_in_chinese(toy):
    r = run(toy, "approve_all")
    with pytest.raises(Invalid) as err:
        r.start({"subject": "x" * 21, "amount": "12.345"}, user="amy", roles={"clerk"})
    assert err.value.details == [
        {"field": "amount", "message": "「金額」應為金額（元，最多兩位小數），例如 1234.50"},
        {"field": "subject", "message": "「主旨」最多 20 個字"}]
    with pytest.raises(Invalid) as err:
        r.start({"amount": Decimal("12.5")}, user="amy", roles={"clerk"})
    assert err.value.details == [{"field": "subject", "message": "「主旨」為必填"}]
    with pytest.raises(Invalid) as err:  # a float never becomes money, not even 12.5
        r.start({"subject": "x", "amount": 12.5}, user="amy", roles={"clerk"})
    assert err.value.details[0]["field"] == "amount"
    state = r.start({"subject": "x", "amount": Decimal("12.5")}, user="amy", roles={"clerk"})
    assert state["data"]["amount"] == "12.50"
