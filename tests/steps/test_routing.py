"""Who a task goes to, from the data (engine/steps/routing.py): a role picked by a field, one person named in a
field or who did an earlier step (theirs in the inbox, handed on by a supervisor), N of M approvals of distinct
roles, and a vote that a rejection decides only once the approvals can no longer be reached."""

from __future__ import annotations

import pytest

from engine import core, definitions
from engine.core import Actor
from engine.errors import Conflict, Forbidden, Invalid
from engine.service import Engine

from ..conftest import T0, CoreRun, toy_engine, toy_texts

FORM = """\
id: visit
title: 回訪單
schema:
  type: object
  properties:
    subject: {type: string, title: 主旨}
    department: {type: string, title: 被投訴部門, enum: [工程部, 保安部, 其他]}
    technician: {type: string, format: person, roles: [eng], title: 維修人員}
    note: {type: string, title: 備註}
"""

ROUTED = """\
id: routed
title: 回訪
form: visit
start: {roles: [clerk], fields: [subject, department, technician], next: visit}
steps:
  visit:
    kind: form
    title: 部門主管回訪
    roles: {from: department, map: {工程部: eng, 保安部: sec}, default: boss}
    fields: [note]
    next: fix
  fix:
    kind: form
    title: 維修
    roles: [eng]
    assign: {field: technician, reassign: [boss]}
    fields: [note]
    next: check
  check:
    kind: form
    title: 回訪確認
    roles: [eng, clerk]
    assign: {step: fix}
    fields: [note]
    next: done
  done: {kind: end, title: 完成, outcome: done}
"""

PANEL = """\
id: panel
title: 三方會簽
form: visit
start: {roles: [clerk], fields: [subject], next: sign}
steps:
  sign:
    kind: approval
    title: 會簽
    roles: [eng, sec, boss]
    approvals: 2
    distinct_roles: true
    vote: true
    outcomes: {approve: {to: approved, title: 同意}, reject: {to: rejected, title: 不同意}}
  approved: {kind: end, title: 通過, outcome: approved}
  rejected: {kind: end, title: 不通過, outcome: rejected}
"""


def registry(**extra: str) -> definitions.Registry:
    workflows = {f"workflows/{wid}.yaml": text for wid, text in {"routed": ROUTED, "panel": PANEL, **extra}.items()}
    return definitions.load_texts(toy_texts({"forms/visit.yaml": FORM, **workflows}))


def routed_engine(folder, users: dict[str, list[str]], titles: bool = False) -> Engine:
    """An Engine (SQLite in `folder`) on the toy definitions with the 回訪 form and workflow."""
    return toy_engine(folder / "g.db", folder / "defs", {"forms/visit.yaml": FORM, "workflows/routed.yaml": ROUTED},
                      users, titles=titles)


@pytest.fixture(scope="module")
def reg() -> definitions.Registry:
    out = registry()
    assert not out.problems, out.problems
    return out


@pytest.mark.parametrize(("department", "role"), [("工程部", "eng"), ("保安部", "sec"), ("其他", "boss")])
def test_the_role_is_picked_by_the_field(reg, department, role):
    r = CoreRun(reg, "routed")
    r.start({"subject": "噪音", "department": department}, user="amy", roles={"clerk"})
    task = r.state["tasks"][r.task_id("visit")]
    assert task["roles"] == [role]
    others = {"eng", "sec", "boss"} - {role}
    with pytest.raises(Forbidden):
        r.act("visit", user="x", roles=others)
    r.act("visit", user="y", roles={role})
    assert r.open_steps() == ["fix"]


def test_a_task_assigned_by_a_field_is_that_persons_alone(reg):
    r = CoreRun(reg, "routed")
    r.start({"subject": "漏水", "department": "工程部", "technician": "wang"}, user="amy", roles={"clerk"})
    r.act("visit", user="lead", roles={"eng"})
    task = r.state["tasks"][r.task_id("fix")]
    assert task["roles"] == ["@wang"] and task["assignee"] == "wang"
    opened = [e for e in r.events if e["type"] == "task_opened" and e["step"] == "fix"][0]["payload"]
    assert opened["notify"] == ["@wang"] and "已指派給您" in opened["message"]
    with pytest.raises(Forbidden, match="已指派給「wang」"):
        r.act("fix", user="li", roles={"eng"})  # holds the role, but it is not his
    deputy = Actor("zhao", frozenset(), (("wang", frozenset({"eng"})),))
    result = core.complete(r.wf, r.state, r.task_id("fix"), deputy, None, {}, None, T0)
    done = [e for e in result.events if e["type"] == "task_completed"][0]["payload"]
    assert (done["by"], done["role"], done["acting_for"]) == ("zhao", "eng", "wang")
    r._apply(result)
    # "the person who did step fix": wang, for whom zhao acted
    assert r.state["tasks"][r.task_id("check")]["assignee"] == "zhao"


def test_an_empty_field_leaves_the_task_to_the_role(reg):
    r = CoreRun(reg, "routed")
    r.start({"subject": "漏水", "department": "工程部"}, user="amy", roles={"clerk"})
    r.act("visit", user="lead", roles={"eng"})
    assert r.state["tasks"][r.task_id("fix")]["roles"] == ["eng"]
    r.act("fix", user="li", roles={"eng"})
    assert r.state["tasks"][r.task_id("check")]["assignee"] == "li"


def test_a_supervisor_hands_the_task_on(reg):
    r = CoreRun(reg, "routed")
    r.start({"subject": "漏水", "department": "工程部", "technician": "wang"}, user="amy", roles={"clerk"})
    r.act("visit", user="lead", roles={"eng"})
    tid = r.task_id("fix")
    with pytest.raises(Forbidden, match="不能改派"):
        core.assign(r.wf, r.state, tid, Actor("li", frozenset({"eng"})), "li", None, T0)
    result = core.assign(r.wf, r.state, tid, Actor("bo", frozenset({"boss"})), "li", "王師傅請假", T0)
    event = result.events[0]
    assert event["type"] == "task_assigned" and event["payload"]["previous"] == "wang"
    assert event["payload"]["notify"] == ["@li"]
    r._apply(result)
    with pytest.raises(Conflict, match="已經指派給「li」"):
        core.assign(r.wf, r.state, tid, Actor("bo", frozenset({"boss"})), "li", None, T0)
    with pytest.raises(Forbidden):
        r.act("fix", user="wang", roles={"eng"})
    r.act("fix", user="li", roles={"eng"})
    assert r.open_steps() == ["check"]


def test_two_of_three_of_distinct_roles(reg):
    r = CoreRun(reg, "panel")
    r.start({"subject": "加裝閘機"}, user="amy", roles={"clerk"})
    r.act("sign", "approve", user="s1", roles={"sec"})
    assert sorted(r.state["tasks"][r.task_id("sign")]["roles"]) == ["boss", "eng"]
    with pytest.raises(Forbidden):  # a second 保安主管 does not count
        r.act("sign", "approve", user="s2", roles={"sec"})
    r.act("sign", "approve", user="e1", roles={"eng"})
    assert r.state["outcome"] == "approved"


def test_a_vote_against_decides_only_when_the_approvals_cannot_be_reached(reg):
    r = CoreRun(reg, "panel")
    r.start({"subject": "加裝閘機"}, user="amy", roles={"clerk"})
    r.act("sign", "reject", comment="費用太高", user="s1", roles={"sec"})
    assert r.state["status"] == "active"  # two roles left, two approvals still possible
    signed = [e for e in r.events if e["type"] == "signed"][-1]["payload"]
    assert signed["against"] is True and sorted(signed["remaining"]) == ["boss", "eng"]
    r.act("sign", "approve", user="e1", roles={"eng"})
    assert r.state["status"] == "active"
    r.act("sign", "reject", comment="不同意", user="b1", roles={"boss"})
    assert (r.state["status"], r.state["outcome"]) == ("completed", "rejected")


def test_a_vote_is_won_despite_a_rejection(reg):
    r = CoreRun(reg, "panel")
    r.start({"subject": "加裝閘機"}, user="amy", roles={"clerk"})
    r.act("sign", "reject", comment="費用太高", user="s1", roles={"sec"})
    r.act("sign", "approve", user="e1", roles={"eng"})
    r.act("sign", "approve", user="b1", roles={"boss"})
    assert r.state["outcome"] == "approved"


def test_an_unmapped_value_without_a_default_is_refused_in_words():
    reg = registry(loose=ROUTED.replace("id: routed", "id: loose").replace(", default: boss", "")
                   .replace("enum: [工程部, 保安部, 其他]", ""))
    r = CoreRun(reg, "loose")
    with pytest.raises(Invalid, match="無法決定「部門主管回訪」由誰辦理：「其他」沒有對應的職務"):
        r.start({"subject": "x", "department": "其他"}, user="amy", roles={"clerk"})


@pytest.mark.parametrize(("old", "new", "message"), [
    ("map: {工程部: eng, 保安部: sec}, default: boss", "map: {工程部: eng, 保安部: sec}",
     "routed.yaml:9:36: choices 其他 of field 'department' go to no role: map them or add `default: <role>`"),
    ("map: {工程部: eng,", "map: {工程: eng,",
     "routed.yaml:9:37: '工程' is not one of the choices of field 'department' (工程部, 保安部, 其他); "
     "did you mean '工程部'?"),
    ("{from: department,", "{from: departmnt,",
     "routed.yaml:9:19: unknown field 'departmnt'; did you mean 'department'?"),
    ("保安部: sec}", "保安部: secu}", "routed.yaml:9:52: unknown role 'secu'; did you mean 'sec'?"),
    ("assign: {field: technician, reassign: [boss]}", "assign: {field: technican}",
     "routed.yaml:16:21: unknown field 'technican'; did you mean 'technician'?"),
    ("assign: {step: fix}", "assign: {step: fx}", "routed.yaml:23:20: unknown step 'fx'; did you mean 'fix'?"),
    ("assign: {step: fix}", "assign: {step: fix, field: technician}",
     "routed.yaml:23:13: give `assign` exactly one of `field: technician`"),
])
def test_lint_of_routing(old, new, message):
    assert old in ROUTED
    reg = registry(routed=ROUTED.replace(old, new))
    found = [str(p) for p in reg.problems]
    assert any(message in p for p in found), found


@pytest.mark.parametrize(("old", "new", "message"), [
    ("approvals: 2", "approvals: 4",
     "panel.yaml:10:16: 4 signatures of different roles cannot be reached with 3 roles"),
    ("    distinct_roles: true\n", "",
     "panel.yaml:11:11: a vote must know when the approvals can no longer be reached"),
    ("    vote: true\n", "    voters: 5\n", "panel.yaml:12:13: `voters` counts a vote"),
    ("    vote: true\n", "    vote: true\n    assign: {step: start}\n",
     "panel.yaml:13:13: an approval needing several signatures cannot go to one person"),
])
def test_lint_of_distinct_roles_and_votes(old, new, message):
    reg = registry(panel=PANEL.replace(old, new))
    found = [str(p) for p in reg.problems]
    assert any(message in p for p in found), found


def test_the_inbox_shows_an_assigned_task_to_its_person_only(tmp_path):
    eng = routed_engine(tmp_path, {"amy": ["clerk"], "lead": ["eng"], "wang": ["eng"], "li": ["eng"], "bo": ["boss"],
                                   "sam": ["sec"]})
    inst = eng.start("routed", "amy", {"subject": "漏水", "department": "工程部", "technician": "wang"})
    eng.complete(inst["tasks"][0]["id"], "lead")
    assert [t["title"] for t in eng.tasks("wang")] == ["維修"]
    assert eng.tasks("li") == [] and eng.tasks("lead") == []
    mine = eng.tasks("wang")[0]
    assert mine["assignee"] == "wang" and mine["role_titles"] == "工程部" and mine["reassign"] == ["boss"]
    assert any("已指派給您" in n["message"] for n in eng.notifications("wang"))
    with pytest.raises(Invalid, match="沒有「維修」所需的職務"):
        eng.assign(mine["id"], "bo", "sam")
    with pytest.raises(Invalid, match="沒有使用者「nobody」"):
        eng.assign(mine["id"], "bo", "nobody")
    with pytest.raises(Forbidden):
        eng.assign(mine["id"], "li", "li")
    eng.assign(mine["id"], "bo", "li", "改派")
    assert eng.tasks("wang") == [] and [t["title"] for t in eng.tasks("li")] == ["維修"]
    assert any("已改派給您" in n["message"] for n in eng.notifications("li"))
    eng.complete(mine["id"], "li")
    assert [t["title"] for t in eng.tasks("li")] == ["回訪確認"]
    history = eng.show(inst["id"])["history"]
    assert "task_assigned" in [e["type"] for e in history]


def test_simulate_walks_routed_and_assigned_steps(reg):
    from engine.simulate import simulate

    assert simulate(reg.workflow("routed"), reg)["stuck"] == []
    assert simulate(reg.workflow("panel"), reg)["ends"] == {"approved": 1, "rejected": 1}


def test_the_work_instruction_and_describe_say_who(reg, tmp_path):
    from engine.manual import write_manual
    from engine.views import describe

    from ..conftest import docx_text

    write_manual(reg.workflow("routed"), reg, tmp_path / "m.docx")
    text = docx_text((tmp_path / "m.docx").read_bytes())
    assert "依「被投訴部門」決定：工程部 → 工程部；保安部 → 保安部；其他 → 經理" in text
    assert "由「維修人員」所填的人員本人辦理（未填時由工程部辦理）；經理可改派給其他工程部人員" in text
    assert "由辦理" in text and "的同一人員辦理" in text
    write_manual(reg.workflow("panel"), reg, tmp_path / "p.docx")
    assert "且須分屬不同職務" in docx_text((tmp_path / "p.docx").read_bytes())
    assert "採表決（每一職務一票）" in docx_text((tmp_path / "p.docx").read_bytes())
    steps = {s["id"]: s for s in describe(reg.workflow("routed"), reg)["steps"]}
    assert steps["visit"]["roles_from"]["map"] == {"工程部": "eng", "保安部": "sec"}
    assert steps["fix"]["assign"] == {"field": "technician", "step": None, "reassign": ["boss"]}


def test_who_a_supervisor_may_hand_a_task_to(tmp_path):
    eng = routed_engine(tmp_path, {"amy": ["clerk"], "wang": ["eng"], "li": ["eng"], "bo": ["boss"]}, titles=True)
    inst = eng.start("routed", "amy", {"subject": "漏水", "department": "工程部", "technician": "wang"})
    eng.complete(inst["tasks"][0]["id"], "wang")
    fix = eng.tasks("wang")[0]["id"]
    assert eng.assignees(fix, "bo") == [{"name": "li", "title": "LI"}, {"name": "wang", "title": "WANG"}]
    assert eng.assignees(fix, "li") == []


def test_a_person_field_names_a_holder_of_its_roles(tmp_path):
    eng = routed_engine(tmp_path, {"amy": ["clerk"], "wang": ["eng"], "sam": ["sec"]}, titles=True)
    with pytest.raises(Invalid, match="「維修人員」：「sam」不是本處的工程部，請從名單中選擇"):
        eng.start("routed", "amy", {"subject": "漏水", "department": "工程部", "technician": "sam"})
    assert eng.holders(["eng"], "default") == [{"name": "wang", "title": "WANG"}]
    eng.start("routed", "amy", {"subject": "漏水", "department": "工程部", "technician": "wang"})


@pytest.mark.parametrize(("old", "new", "message"), [
    ("roles: [eng], title: 維修人員", "roles: [engg], title: 維修人員", "visit.yaml:8:56: unknown role 'engg'"),
    ("format: person, roles", "roles", "visit.yaml:8:32: `roles` belongs to a person field"),
])
def test_lint_of_person_fields(old, new, message):
    found = [str(p) for p in definitions.load_texts(toy_texts({"forms/visit.yaml": FORM.replace(old, new)})).problems]
    assert any(message in p for p in found), found
