"""`end`: the instance ends with the step's outcome, shown by the step's title; other branches are cancelled."""

from __future__ import annotations

from ..conftest import CoreRun


def test_an_end_closes_every_open_branch_and_names_the_outcome_in_words(toy_registry):
    r = CoreRun(toy_registry, "race")
    r.start({"subject": "x"}, user="amy", roles={"clerk"})
    assert r.open_steps() == ["quick"] and r.children  # the subprocess branch waits for its child
    r.act("quick", "stop", user="amy", roles={"clerk"})
    assert (r.state["status"], r.state["outcome"]) == ("cancelled", "stopped")
    assert r.state["tasks"] == {} and r.state["tokens"] == {}
    wf = toy_registry.workflow("race")
    assert wf.outcome_title("stopped") == "stopped" and wf.outcome_title("done") == "done"  # (untitled: warned)
    assert wf.end_outcomes() == ["done", "stopped"]
