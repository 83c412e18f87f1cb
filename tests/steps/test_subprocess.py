"""`subprocess`: a child instance with data from the parent, followed by its outcome; started later or not
waited for; its lint."""

from __future__ import annotations

import pytest

from engine import definitions

from ..conftest import CoreRun
from ..test_definitions import TOY, copy_defs, edit


def test_subprocess_waits_for_the_child_and_follows_its_outcome(toy_registry):
    r = CoreRun(toy_registry, "parent")
    r.start({"subject": "大修", "count": 3}, user="amy", roles={"clerk"})
    [(child_id, child)] = r.children.items()
    assert child.state["data"] == {"subject": "大修"}
    assert [t["child"] for t in r.state["tokens"].values()] == [child_id]
    child.act("vote", "reject", comment="太貴", user="bo", roles={"boss"})
    r.finish_child(child_id)
    assert r.state["outcome"] == "bad"


def test_a_child_not_waited_for_and_started_later(toy_registry):
    r = CoreRun(toy_registry, "followup")
    r.start({"subject": "回訪"}, user="amy", roles={"clerk"})
    r.act("close", user="ed", roles={"eng"})
    assert r.state["status"] == "completed"  # the parent went on at once
    [(child_id, child)] = r.children.items()
    assert child.state["status"] == "active" and child.open_steps() == []  # its first step comes 7 days later
    child.tick(days=7)
    assert child.open_steps() != []


@pytest.mark.parametrize("old, new, message", [
    ("workflow: quorum", "workflow: quorun", "workflows/parent.yaml:8:15: unknown workflow 'quorun'; did you mean "
                                             "'quorum'?"),
    ("approved: good", "accepted: good", "workflows/parent.yaml:10:16: workflow 'quorum' never ends with outcome "
                                         "'accepted' (its outcomes: approved, rejected)"),
])
def test_its_lint(tmp_path, old, new, message):
    root = copy_defs(TOY, tmp_path)
    edit(root / "workflows/parent.yaml", old, new)
    assert [str(p) for p in definitions.load(root, display_root="").problems] == [message]
