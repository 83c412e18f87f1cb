"""`print`: a task confirming a printout was issued; the printout can be printed only once its step is reached."""

from __future__ import annotations

import pytest

from engine.errors import Conflict, Invalid
from engine.service import Engine

from . import toy_with

SLIP = """id: slip
title: 單據
form: memo
start: {roles: [clerk], fields: [subject, amount], next: check}
steps:
  check: {kind: form, title: 核對, roles: [clerk], fields: [note], next: hand_out}
  hand_out: {kind: print, title: 列印交付, roles: [clerk], printout: memo, copies: 2, next: done}
  done: {kind: end, title: 已交付, outcome: done}
"""


@pytest.fixture
def engine(new_db, tmp_path, clock):
    registry = toy_with(slip=SLIP)
    assert registry.problems == []
    from ..conftest import TOY

    registry.root = TOY  # the printout templates
    eng = Engine(new_db("p.db"), registry, clock=clock)
    eng.add_user("c", ["clerk"])
    yield eng
    eng.close()


def test_a_print_task_offers_its_printout_and_gates_it(engine):
    inst = engine.start("slip", "c", {"subject": "收據", "amount": "20"})
    with pytest.raises(Conflict, match="要到「列印交付」這一步才能列印"):
        engine.render(inst["id"], "memo", "c")
    view = engine.complete(inst["tasks"][0]["id"], "c", data={"note": "無誤"})
    task = view["tasks"][0]
    assert (task["printout"], task["copies"], task["submit"]) == ("memo", 2, "確認已列印交付")
    assert task["download"] == {"name": "memo", "title": "測試單", "copies": ["存根聯", "業主聯"]}
    with pytest.raises(Invalid, match="沒有可選的結果"):
        engine.complete(task["id"], "c", outcome="approve")
    body, info = engine.render(inst["id"], "memo", "c")
    assert body[:2] == b"PK" and info["print_no"] == 1
    done = engine.show(engine.complete(task["id"], "c")["id"])
    completed = [e for e in done["history"] if e["type"] == "task_completed" and e["step"] == "hand_out"]
    assert done["status"] == "completed" and completed[0]["payload"]["copies"] == 2


def test_its_lint():
    problems = [str(p) for p in toy_with(slip=SLIP.replace("printout: memo", "printout: mmo")).problems]
    assert problems == ["workflows/slip.yaml:7:66: form 'memo' has no printout 'mmo'; did you mean 'memo'?; "
                        "declare it under the form's `printouts`"]


def test_a_print_step_completes_only_once_printed_or_with_the_reason(engine):
    inst = engine.start("slip", "c", {"subject": "收據", "amount": "20"})
    task = engine.complete(inst["tasks"][0]["id"], "c", data={"note": "無誤"})["tasks"][0]
    assert task["printed"] is False
    before = engine.show(inst["id"])
    with pytest.raises(Invalid, match="《測試單》尚未列印：請先列印，或寫明未列印的原因"):
        engine.complete(task["id"], "c")
    assert engine.show(inst["id"])["history"] == before["history"]  # nothing written
    done = engine.show(engine.complete(task["id"], "c", comment="業主拒收")["id"])
    completed = [e for e in done["history"] if e["type"] == "task_completed" and e["step"] == "hand_out"][0]
    assert completed["payload"]["printed"] is False and completed["payload"]["comment"] == "業主拒收"


def test_a_print_made_at_the_task_counts_and_is_recorded(engine):
    inst = engine.start("slip", "c", {"subject": "收據", "amount": "20"})
    task = engine.complete(inst["tasks"][0]["id"], "c", data={"note": "無誤"})["tasks"][0]
    engine.render(inst["id"], "memo", "c")
    assert engine.show(inst["id"])["tasks"][0]["printed"] is True
    done = engine.show(engine.complete(task["id"], "c")["id"])
    completed = [e for e in done["history"] if e["type"] == "task_completed" and e["step"] == "hand_out"][0]
    assert completed["payload"]["printed"] is True
