"""`approval`: signatures, N of M with required roles, all in sequence, self-approval, decisions that end it at
once, the signing rule in words; its lint."""

from __future__ import annotations

import pytest

from engine import core, definitions
from engine.core import Actor
from engine.errors import Forbidden, Invalid

from ..conftest import T0, CoreRun
from ..test_definitions import TOY, copy_defs, edit


def test_quorum_needs_two_people_including_the_required_role(toy_registry):
    r = CoreRun(toy_registry, "quorum")
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


def test_a_person_signs_once_and_never_their_own_request(toy_registry):
    r = CoreRun(toy_registry, "quorum")
    r.start({"subject": "x"}, user="amy", roles={"clerk", "boss"})
    with pytest.raises(Forbidden, match="自己審批"):
        r.act("vote", "approve", user="amy", roles={"boss"})
    r.act("vote", "approve", user="ed", roles={"eng", "boss"})
    with pytest.raises(Forbidden, match="簽過名"):
        r.act("vote", "approve", user="ed", roles={"eng", "boss"})


def test_self_approval_when_the_yaml_allows_it(toy_registry):
    r = CoreRun(toy_registry, "self_ok")
    r.start({"subject": "x"}, user="bo", roles={"boss"})
    r.act("sign", "approve", user="bo", roles={"boss"})
    assert r.state["status"] == "completed"


def test_all_in_sequence_and_rework_loop(toy_registry):
    r = CoreRun(toy_registry, "approve_all")
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


def test_reject_decides_at_once(toy_registry):
    r = CoreRun(toy_registry, "approve_all")
    r.start({"subject": "x"}, user="amy", roles={"clerk"})
    r.act("sign", "reject", comment="不需要", user="ed", roles={"eng"})
    assert (r.state["status"], r.state["outcome"]) == ("completed", "rejected")


def test_deputy_acts_for_the_principal(toy_registry):
    r = CoreRun(toy_registry, "quorum")
    r.start({"subject": "x"}, user="amy", roles={"clerk"})
    deputy = Actor("dan", frozenset({"clerk"}), (("bo", frozenset({"boss"})),))
    result = core.complete(r.wf, r.state, r.task_id("vote"), deputy, "approve", {}, None, T0)
    signed = [e for e in result.events if e["type"] == "signed"][0]["payload"]
    assert (signed["by"], signed["role"], signed["acting_for"]) == ("dan", "boss", "bo")


def test_the_task_view_shows_the_signatures_so_far_and_the_buttons_in_words(toy_registry):
    r = CoreRun(toy_registry, "quorum")
    r.start({"subject": "x"}, user="amy", roles={"clerk"})
    r.act("vote", "approve", user="ed", roles={"eng"})
    from engine.views import task_view

    view = task_view(r.wf, r.task_id("vote"), r.state["tasks"][r.task_id("vote")], r.state["data"])
    assert [s["by"] for s in view["signatures"]] == ["ed"] and view["approvals"] == 2
    assert view["choices"] == [{"id": "approve", "title": "同意", "to": "approved", "comment": False},
                               {"id": "reject", "title": "不同意", "to": "rejected", "comment": True}]
    assert view["comment_required"] == ["reject"] and view["kind_title"] == "審批"


def test_the_signing_rule_in_words(toy_registry):
    class Words:  # the work instruction's writer, as far as the rule needs it
        @staticmethod
        def role(r):
            return toy_registry.site.roles[r]

        def roles(self, rs):
            return "、".join(map(self.role, rs))

    assert toy_registry.workflow("quorum").steps["vote"].rule(Words()).startswith(
        "須 2 位不同人員（工程部、保安部、經理）簽署同意，其中須包括經理；同一人不得重複簽署；發起人不得審批")
    assert toy_registry.workflow("approve_all").steps["sign"].rule(Words()).startswith(
        "須依序由 工程部 → 保安部 各一人簽署同意")


@pytest.mark.parametrize("old, new, message", [
    ("required_roles: [boss]", "required_roles: [cleaner]",
     "workflows/quorum.yaml:10:22: required role 'cleaner' is not one of the step's roles; add it to `roles`"),
    ("outcomes: {approve: approved, reject: rejected}", "outcomes: {yes: approved, reject: rejected}",
     "workflows/quorum.yaml:11:15: an approval needing several signatures must have an 'approve' outcome"),
    ("    approvals: 2\n", "    approvals: 2\n    order: sequence\n",
     "workflows/quorum.yaml:10:12: order: sequence needs approvals: all (one signature per role, in the order of "
     "`roles`)"),
])
def test_its_lint(tmp_path, old, new, message):
    root = copy_defs(TOY, tmp_path)
    edit(root / "workflows/quorum.yaml", old, new)
    assert [str(p) for p in definitions.load(root, display_root="").problems] == [message]
