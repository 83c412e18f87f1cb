"""`state`: a named state a long-lived case rests in (a key kept for months: 保管中), not an inbox task; any holder
of its roles takes its actions (借出, 歸還, 領取); the register filters by it; simulate, the work instruction, lint,
and the store on both backends."""

from __future__ import annotations

import pytest

from engine import core, definitions
from engine.core import Actor
from engine.errors import Conflict, Forbidden, Invalid
from engine.simulate import simulate

from ..conftest import T0, CoreRun, docx_text, toy_engine, toy_texts

FORM = """\
id: key_keep
title: 鑰匙留存單
number: "YS-{year}-{seq:04}"
schema:
  type: object
  properties:
    key_no: {type: string, title: 鑰匙編號}
    borrower: {type: string, title: 借用人}
    note: {type: string, title: 備註}
"""

KEEP = """\
id: key_keep
title: 鑰匙留存
form: key_keep
start: {roles: [clerk], fields: [key_no], next: kept}
steps:
  kept:
    kind: state
    title: 保管中
    roles: [clerk, sec]
    actions:
      lend: {to: lent, title: 借出, fields: [borrower, note], required: [borrower]}
      collect: {to: done, title: 業主領取}
  lent:
    kind: state
    title: 借出中
    roles: [clerk, sec]
    actions:
      back: {to: kept, title: 歸還}
  done: {kind: end, title: 已領取, outcome: collected}
"""


def texts(keep: str = KEEP) -> dict[str, str]:
    out = toy_texts()
    out.update({"forms/key_keep.yaml": FORM, "workflows/key_keep.yaml": keep})
    return out


@pytest.fixture(scope="module")
def reg():
    out = definitions.load_texts(texts())
    assert not out.problems, out.problems
    return out


def act(r: CoreRun, step: str, action: str, data: dict | None = None, roles=("sec",), user: str = "sam") -> None:
    r._apply(core.act(r.wf, r.state, step, action, Actor(user, frozenset(roles)), data, None, T0))


def test_a_key_rests_kept_lent_and_back_until_collected(reg):
    r = CoreRun(reg, "key_keep")
    r.start({"key_no": "K-101"}, user="amy", roles={"clerk"})
    assert r.state["tasks"] == {} and r.state["resting"] == ["kept"]  # not an inbox task
    act(r, "kept", "lend", {"borrower": "裝修工 王"})
    assert r.state["resting"] == ["lent"] and r.state["data"]["borrower"] == "裝修工 王"
    event = [e for e in r.events if e["type"] == "state_action"][-1]
    assert (event["payload"]["by"], event["payload"]["role"], event["payload"]["title"]) == ("sam", "sec", "借出")
    act(r, "lent", "back", roles=("clerk",), user="amy")
    act(r, "kept", "collect")
    assert (r.state["status"], r.state["outcome"], r.state["resting"]) == ("completed", "collected", [])


def test_actions_are_refused_in_words_and_change_nothing(reg):
    r = CoreRun(reg, "key_keep")
    r.start({"key_no": "K-101"}, user="amy", roles={"clerk"})
    before = r.state
    with pytest.raises(Invalid, match="「借用人」為必填"):
        act(r, "kept", "lend", {})
    with pytest.raises(Invalid, match="「保管中」沒有這個操作；可用：借出、業主領取"):
        act(r, "kept", "steal")
    with pytest.raises(Forbidden, match="需要角色：文員、保安部"):
        act(r, "kept", "collect", roles=("eng",), user="ed")
    with pytest.raises(Conflict, match="案件目前不在「借出中」狀態（目前：保管中）"):
        act(r, "lent", "back")
    assert r.state is before


def test_simulate_walks_the_actions(reg):
    result = simulate(reg.workflow("key_keep"), reg)
    assert result["stuck"] == [] and result["ends"] == {"collected": 1}


def test_the_work_instruction_lists_the_actions(reg, tmp_path):
    from engine.manual import write_manual

    write_manual(reg.workflow("key_keep"), reg, tmp_path / "m.docx")
    text = docx_text((tmp_path / "m.docx").read_bytes())
    assert "案件停留於「保管中」狀態（不列入待辦事項），文員、保安部可隨時在案件頁面或臺帳中執行以下操作" in text
    assert "「借出」，填寫借用人、備註，轉" in text


@pytest.mark.parametrize(("old", "new", "message"), [
    ("{to: lent, title: 借出,", "{to: lnt, title: 借出,",
     "key_keep.yaml:11:18: step 'kept' goes to 'lnt', which is not a step"),
    ("fields: [borrower, note]", "fields: [borower, note]", "key_keep.yaml:11:44: unknown field 'borower'"),
    ("required: [borrower]", "required: [key_no]",
     "key_keep.yaml:11:71: required field 'key_no' is not among the action's `fields`"),
    ("roles: [clerk, sec]\n    actions:\n      lend", "roles: [clerk, secu]\n    actions:\n      lend",
     "key_keep.yaml:9:20: unknown role 'secu'"),
])
def test_lint_of_states(old, new, message):
    assert old in KEEP
    found = [str(p) for p in definitions.load_texts(texts(KEEP.replace(old, new))).problems]
    assert any(message in p for p in found), found


def test_the_store_the_inbox_and_the_register_by_state(new_db, tmp_path, clock):
    eng = toy_engine(new_db("s.db"), tmp_path / "defs",
                     texts(), {"amy": ["clerk"], "sam": ["sec"], "ed": ["eng"]}, clock)
    one = eng.start("key_keep", "amy", {"key_no": "K-101"})
    two = eng.start("key_keep", "amy", {"key_no": "K-102"})
    assert one["resting"][0]["title"] == "保管中" and [a["title"] for a in one["resting"][0]["actions"]] == [
        "借出", "業主領取"]
    assert eng.tasks("amy") == [] and eng.tasks("sam") == []
    eng.act(two["id"], "sam", "kept", "lend", {"borrower": "王師傅"})
    with pytest.raises(Forbidden):
        eng.act(one["id"], "ed", "kept", "collect")
    kept = eng.register("key_keep", "amy", state="kept")["rows"]
    lent = eng.register("key_keep", "amy", state="lent")["rows"]
    assert [r["number"] for r in kept] == [one["number"]] and [r["number"] for r in lent] == [two["number"]]
    assert lent[0]["resting"] == ["lent"]
    history = eng.show(two["id"])["history"]
    assert [e["payload"]["title"] for e in history if e["type"] == "state_action"] == ["借出"]
    assert eng.audit()["ok"] is True
    eng.close()
