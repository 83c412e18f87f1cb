"""`parallel` and `join`: every branch at once, the join waiting for each; their lint (in test_definitions'
EXACT list too)."""

from __future__ import annotations

import pytest

from engine import definitions
from engine.errors import Invalid

from ..conftest import CoreRun, kinds
from ..test_definitions import TOY, copy_defs, edit


def test_parallel_checklist_ledger_wait_and_due(toy_registry):
    r = CoreRun(toy_registry, "split")
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


@pytest.mark.parametrize("old, new, message", [
    ("  meet: {kind: join, next: later}", "  meet: {kind: join, next: later}\n  extra: {kind: join, next: later}",
     "workflows/split.yaml:17:3: step 'extra' cannot be reached from the start; link to it from another step or "
     "remove it"),
    ("  right: {kind: form, roles: [sec], fields: [spend], required: [spend], next: check,",
     "  right: {kind: form, roles: [sec], fields: [spend], required: [spend], next: visit,",
     "workflows/split.yaml:8:43: branch 'right' of parallel 'fork' never reaches its join 'meet'"),
])
def test_its_lint(tmp_path, old, new, message):
    root = copy_defs(TOY, tmp_path)
    edit(root / "workflows/split.yaml", old, new)
    assert message in [str(p) for p in definitions.load(root, display_root="").problems]
