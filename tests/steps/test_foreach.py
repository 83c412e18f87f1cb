"""`foreach`: one instance per row of a table field, in parallel or in sequence, with a join rule (all, any, N);
the rest cancelled once the rule is met; simulate, the work instruction, lint, and the store on both backends."""

from __future__ import annotations

import pytest

from engine import definitions
from engine.simulate import simulate

from ..conftest import CoreRun, docx_text, toy_engine, toy_texts

FORM = """\
id: dunning
title: 催繳單
number: "CJ-{year}-{seq:04}"
schema:
  type: object
  properties:
    period: {type: string, title: 期間}
    shops:
      type: array
      title: 欠費商戶
      items:
        type: object
        properties:
          shop: {type: string, title: 商戶}
          amount: {type: number, title: 欠費金額}
    remark: {type: string, title: 備註}
"""

CHASE = """\
id: chase
title: 逐戶催繳
form: dunning
start: {roles: [clerk], fields: [period, shops], next: each}
steps:
  each:
    kind: foreach
    title: 每戶催繳
    over: shops
    when: "row['amount'] > 0"
    workflow: call
    data: {subject: "row['shop']", note: "period"}
    next: summary
  summary: {kind: form, title: 匯總, roles: [boss], fields: [remark], next: done}
  done: {kind: end, title: 完成, outcome: done}
"""

CALL = """\
id: call
title: 電話催繳
form: memo
start: {roles: [clerk], fields: [subject, note], next: ring}
steps:
  ring:
    kind: form
    title: 致電
    roles: [clerk]
    fields: [note]
    outcomes: {paid: {to: paid, title: 已繳}, unpaid: {to: unpaid, title: 未繳}}
  paid: {kind: end, title: 已繳清, outcome: paid}
  unpaid: {kind: end, title: 未繳清, outcome: unpaid}
"""

SHOPS = [{"shop": f"商戶{i}", "amount": 100 * i} for i in range(1, 6)]


def texts(**extra: str) -> dict[str, str]:
    out = toy_texts()
    out["forms/dunning.yaml"] = FORM
    out.update({f"workflows/{w}.yaml": t for w, t in {"chase": CHASE, "call": CALL, **extra}.items()})
    return out


def registry(**extra: str) -> definitions.Registry:
    return definitions.load_texts(texts(**extra))


def variant(**keys: str) -> definitions.Registry:
    text = CHASE
    for key, value in keys.items():
        text = text.replace("    next: summary", f"    {key}: {value}\n    next: summary")
    out = registry(chase=text)
    assert not out.problems, out.problems
    return out


def end_child(r: CoreRun, child_id: int, outcome: str) -> None:
    child = r.children[child_id]
    child.act("ring", outcome, data={"note": "已致電"}, user="amy", roles={"clerk"})
    r.finish_child(child_id)


def test_five_rows_five_instances_in_parallel_and_all_must_end():
    r = CoreRun(variant(), "chase")
    r.start({"period": "2026-11", "shops": SHOPS}, user="amy", roles={"clerk"})
    assert len(r.children) == 5
    assert [c.state["data"] for c in r.children.values()][0] == {"subject": "商戶1", "note": "2026-11"}
    ids = sorted(r.children)
    for child_id in ids[:4]:
        end_child(r, child_id, "paid")
        assert r.open_steps() == []
    end_child(r, ids[4], "unpaid")
    assert r.open_steps() == ["summary"]
    joined = [e for e in r.events if e["type"] == "foreach_joined"][0]["payload"]
    assert joined == {"ended": 5, "rows": 5, "outcomes": {"paid": 4, "unpaid": 1}}


def test_rows_the_condition_leaves_out_get_no_instance():
    r = CoreRun(variant(), "chase")
    shops = SHOPS[:2] + [{"shop": "已繳商戶", "amount": 0}]
    r.start({"period": "2026-11", "shops": shops}, user="amy", roles={"clerk"})
    assert sorted(c.state["data"]["subject"] for c in r.children.values()) == ["商戶1", "商戶2"]


def test_no_rows_goes_straight_on():
    r = CoreRun(variant(), "chase")
    r.start({"period": "2026-11", "shops": []}, user="amy", roles={"clerk"})
    assert r.open_steps() == ["summary"] and r.children == {}


def test_in_sequence_the_next_row_starts_when_the_previous_has_ended():
    r = CoreRun(variant(order="sequence"), "chase")
    r.start({"period": "2026-11", "shops": SHOPS[:3]}, user="amy", roles={"clerk"})
    assert len(r.children) == 1
    end_child(r, sorted(r.children)[0], "unpaid")
    assert len(r.children) == 2 and r.children[sorted(r.children)[1]].state["data"]["subject"] == "商戶2"
    end_child(r, sorted(r.children)[1], "paid")
    end_child(r, sorted(r.children)[2], "paid")
    assert r.open_steps() == ["summary"]


@pytest.mark.parametrize(("join", "needed"), [("any", 1), ("2", 2)])
def test_a_join_rule_goes_on_early_and_cancels_the_rest(join, needed):
    r = CoreRun(variant(join=join), "chase")
    r.start({"period": "2026-11", "shops": SHOPS}, user="amy", roles={"clerk"})
    ids = sorted(r.children)
    for child_id in ids[:needed - 1]:
        end_child(r, child_id, "paid")
    child = r.children[ids[needed - 1]]
    child.act("ring", "paid", data={"note": "已繳"}, user="amy", roles={"clerk"})
    from engine import core

    result = core.child_done(r.wf, r.state, ids[needed - 1], "paid", r.now)
    assert sorted(e["child"] for e in result.effects if e["type"] == "cancel_child") == ids[needed:]
    r._apply(result)
    assert r.open_steps() == ["summary"]


def test_ending_the_instance_cancels_the_rows_still_running():
    from engine import core

    r = CoreRun(variant(), "chase")
    r.start({"period": "2026-11", "shops": SHOPS[:2]}, user="amy", roles={"clerk"})
    end_child(r, sorted(r.children)[0], "paid")
    result = core.cancel(r.wf, r.state, r.now, "撤銷")
    assert [e["child"] for e in result.effects if e["type"] == "cancel_child"] == [sorted(r.children)[1]]


def test_simulate_walks_through_the_rows():
    result = simulate(variant().workflow("chase"), variant())
    assert result["stuck"] == [] and result["ends"] == {"done": 1}


def test_the_work_instruction_says_what_each_row_gets(tmp_path):
    from engine.manual import write_manual

    reg = variant(join="any")
    write_manual(reg.workflow("chase"), reg, tmp_path / "m.docx")
    text = docx_text((tmp_path / "m.docx").read_bytes())
    assert "「欠費商戶」的每一列同時發起一件《電話催繳》" in text and "任一件結束後轉" in text
    assert "其餘仍在辦理的予以取消" in text


@pytest.mark.parametrize(("old", "new", "message"), [
    ("over: shops", "over: shop", "chase.yaml:9:11: unknown field 'shop'; did you mean 'shops'?"),
    ("over: shops", "over: period", "chase.yaml:9:11: field 'period' is not a table"),
    ("workflow: call", "workflow: cal", "chase.yaml:11:15: unknown workflow 'cal'; did you mean 'call'?"),
    ("{subject: \"row['shop']\",", "{subjct: \"row['shop']\",",
     "chase.yaml:12:12: form 'memo' of workflow 'call' has no field 'subjct'"),
    ("note: \"period\"", "note: \"perod\"", "chase.yaml:12:42: value 'perod' names unknown field 'perod'"),
])
def test_lint_of_foreach(old, new, message):
    found = [str(p) for p in registry(chase=CHASE.replace(old, new)).problems]
    assert any(message in p for p in found), found


def test_the_store_runs_five_rows_as_linked_instances(new_db, tmp_path, clock):
    eng = toy_engine(new_db("f.db"), tmp_path / "defs", texts(), {"amy": ["clerk"], "bo": ["boss"]}, clock)
    inst = eng.start("chase", "amy", {"period": "2026-11", "shops": SHOPS})
    children = [c["instance"] for c in eng.show(inst["id"])["children"]]
    assert len(children) == 5 and all(eng.show(c)["parent"] == inst["id"] for c in children)
    rows = [e["payload"]["row"] for e in eng.show(inst["id"])["history"] if e["type"] == "child_started"]
    assert rows == [0, 1, 2, 3, 4]
    for task in eng.tasks("amy"):
        eng.complete(task["id"], "amy", "paid", {"note": "已繳"})
    assert [t["title"] for t in eng.tasks("bo")] == ["匯總"]
    assert eng.audit()["ok"] is True
    eng.close()
