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


def test_quorum_needs_two_people_including_the_required_role(toy):
    r = run(toy, "quorum")
    r.start({"subject": "x"}, user="amy", roles={"clerk"})
    r.act("vote", "approve", user="ed", roles={"eng"})
    task = r.state["tasks"][r.task_id("vote")]
    assert task["roles"] == ["boss"]  # one slot left and the boss has not signed: only the boss now
    with pytest.raises(Forbidden):
        r.act("vote", "approve", user="sam", roles={"sec"})
    r.act("vote", "approve", user="bo", roles={"boss"})
    assert r.state["status"] == "completed" and r.state["outcome"] == "approved"
    signatures = [e for e in r.events if e["type"] == "task_completed"][0]["payload"]["signatures"]
    assert [(s["by"], s["role"]) for s in signatures] == [("ed", "eng"), ("bo", "boss")]
    assert all(len(s["data_hash"]) == 64 for s in signatures)


def test_a_person_signs_once_and_never_their_own_request(toy):
    r = run(toy, "quorum")
    r.start({"subject": "x"}, user="amy", roles={"clerk", "boss"})
    with pytest.raises(Forbidden, match="自己審批"):
        r.act("vote", "approve", user="amy", roles={"boss"})
    r.act("vote", "approve", user="ed", roles={"eng", "boss"})
    with pytest.raises(Forbidden, match="簽過名"):
        r.act("vote", "approve", user="ed", roles={"eng", "boss"})


def test_self_approval_when_the_yaml_allows_it(toy):
    r = run(toy, "self_ok")
    r.start({"subject": "x"}, user="bo", roles={"boss"})
    r.act("sign", "approve", user="bo", roles={"boss"})
    assert r.state["status"] == "completed"


def test_all_in_sequence_and_rework_loop(toy):
    r = run(toy, "approve_all")
    r.start({"subject": "修門", "amount": "120"}, user="amy", roles={"clerk"})
    assert r.state["tasks"][r.task_id("sign")]["roles"] == ["eng"]
    with pytest.raises(Forbidden):  # security signs second
        r.act("sign", "approve", user="sam", roles={"sec"})
    with pytest.raises(Invalid, match="意見"):  # rework needs a reason
        r.act("sign", "rework", user="ed", roles={"eng"})
    r.act("sign", "rework", comment="金額有誤", user="ed", roles={"eng"})
    assert r.open_steps() == ["fix"]
    r.act("fix", data={"amount": "100"}, user="amy", roles={"clerk"})
    r.act("sign", "approve", user="ed", roles={"eng"})
    assert r.state["tasks"][r.task_id("sign")]["roles"] == ["sec"]
    r.act("sign", "approve", user="sam", roles={"sec"})
    assert r.state["outcome"] == "approved"
    # every signature and decision is kept, with the data it signed
    assert [(a["by"], a["outcome"], a["comment"]) for a in r.state["approvals"]] == [
        ("ed", "rework", "金額有誤"), ("ed", "approve", None), ("sam", "approve", None)]
    assert r.state["approvals"][0]["data_hash"] != r.state["approvals"][1]["data_hash"]


def test_reject_decides_at_once(toy):
    r = run(toy, "approve_all")
    r.start({"subject": "x"}, user="amy", roles={"clerk"})
    r.act("sign", "reject", comment="不需要", user="ed", roles={"eng"})
    assert (r.state["status"], r.state["outcome"]) == ("completed", "rejected")


def test_unknown_outcome_and_fields_outside_the_step(toy):
    r = run(toy, "approve_all")
    r.start({"subject": "x"}, user="amy", roles={"clerk"})
    with pytest.raises(Invalid) as err:
        r.act("sign", "maybe", user="ed", roles={"eng"})
    assert err.value.details == [{"field": "outcome", "message": "結果「maybe」無效，可選：同意、不同意、退回修改"}]
    with pytest.raises(Invalid) as err:
        r.act("sign", "approve", data={"subject": "改"}, user="ed", roles={"eng"})
    assert err.value.details == [{"field": "subject", "message": "「主旨」不能在「sign」這一步填寫"}]


def test_parallel_checklist_ledger_wait_and_due(toy):
    r = run(toy, "split")
    r.start({"subject": "x", "amount": "50"}, user="amy", roles={"clerk"})
    assert r.open_steps() == ["left", "right"]
    assert r.ledger() == [("in", 5000, 5000)]
    r.act("left", data={"checked": ["b"]}, user="ed", roles={"eng"})
    assert r.open_steps() == ["left", "right"]  # the optional item alone does not finish it
    with pytest.raises(Invalid, match="沒有新的勾選"):
        r.act("left", data={"checked": ["b"]}, user="ed", roles={"eng"})
    r.act("left", data={"checked": ["a"]}, user="ed", roles={"eng"})
    assert r.open_steps() == ["right"]
    with pytest.raises(Invalid, match="餘額不足"):
        r.act("right", data={"spend": "50.01"}, user="sam", roles={"sec"})
    r.act("right", data={"spend": "20"}, user="sam", roles={"sec"})
    assert r.ledger() == [("in", 5000, 5000), ("out", 2000, 3000)]
    assert r.open_steps() == [] and [t.get("until") for t in r.state["tokens"].values()] == [
        "2026-11-09T01:30:00+00:00"]
    r.tick(days=6)
    assert r.open_steps() == []
    r.tick(days=1)
    assert r.open_steps() == ["visit"]
    assert r.state["tasks"][r.task_id("visit")]["due_at"] == "2026-11-12T01:30:00+00:00"
    r.act("visit", data={"note": "滿意"}, user="amy", roles={"clerk"})
    assert r.state["status"] == "completed"
    assert kinds(r.events).count(("joined", "meet")) == 1


def test_subprocess_waits_for_the_child_and_follows_its_outcome(toy):
    r = run(toy, "parent")
    r.start({"subject": "大修", "count": 3}, user="amy", roles={"clerk"})
    [(child_id, child)] = r.children.items()
    assert child.state["data"] == {"subject": "大修"}
    assert [t["child"] for t in r.state["tokens"].values()] == [child_id]
    child.act("vote", "reject", comment="太貴", user="bo", roles={"boss"})
    r.finish_child(child_id)
    assert r.state["outcome"] == "bad"


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


def test_deputy_acts_for_the_principal(toy):
    r = run(toy, "quorum")
    r.start({"subject": "x"}, user="amy", roles={"clerk"})
    deputy = Actor("dan", frozenset({"clerk"}), (("bo", frozenset({"boss"})),))
    result = core.complete(r.wf, r.state, r.task_id("vote"), deputy, "approve", {}, None, T0)
    signed = [e for e in result.events if e["type"] == "signed"][0]["payload"]
    assert (signed["by"], signed["role"], signed["acting_for"]) == ("dan", "boss", "bo")


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
