"""`include`: a shared fragment of steps (fragments/*.yaml) taken into workflows with parameters; problems in it
reported in its own file; a change to it is a new version of each workflow using it; simulate, the work
instruction, and an instance on the old version still runs."""

from __future__ import annotations

import pytest

from engine import definitions
from engine.simulate import simulate

from ..conftest import CoreRun, docx_text, toy_engine, toy_texts

FRAGMENT = """\
id: principles
title: 突發事件處理原則
params: {lead: 負責處理的職務, then: 處理原則之後的步驟}
start: report_up
steps:
  report_up:
    kind: form
    title: 向上匯報
    roles: ["${lead}"]
    fields: [note]
    next: protect
  protect:
    kind: checklist
    title: 保護現場
    roles: ["${lead}"]
    items:
      - {id: cordon, title: 封鎖現場}
      - {id: witnesses, title: 尋找目擊者}
    next: "${then}"
"""

FIRE = """\
id: fire
title: 火警處置
form: memo
start: {roles: [clerk], fields: [subject], next: principles}
steps:
  principles: {kind: include, fragment: principles, with: {lead: sec, then: fight}}
  fight: {kind: form, title: 滅火, roles: [sec], fields: [count], next: done}
  done: {kind: end, title: 完成, outcome: done}
"""

THEFT = """\
id: theft
title: 盜竊處置
form: memo
start: {roles: [clerk], fields: [subject], next: principles}
steps:
  principles: {kind: include, fragment: principles, with: {lead: boss, then: police}}
  police: {kind: form, title: 報警, roles: [boss], fields: [count], next: done}
  done: {kind: end, title: 完成, outcome: done}
"""


def texts(fragment: str = FRAGMENT, **workflows: str) -> dict[str, str]:
    out = toy_texts()
    out["fragments/principles.yaml"] = fragment
    out.update({f"workflows/{w}.yaml": t for w, t in {"fire": FIRE, "theft": THEFT, **workflows}.items()})
    return out


def problems(fragment: str = FRAGMENT, **kwargs) -> list[str]:
    return [str(p) for p in definitions.load_texts(texts(fragment, **kwargs)).problems]


@pytest.fixture(scope="module")
def reg():
    out = definitions.load_texts(texts())
    assert not out.problems, out.problems
    return out


@pytest.mark.parametrize(("workflow", "role", "then"), [("fire", "sec", "fight"), ("theft", "boss", "police")])
def test_each_workflow_runs_the_shared_steps_with_its_parameters(reg, workflow, role, then):
    r = CoreRun(reg, workflow)
    r.start({"subject": "事件"}, user="amy", roles={"clerk"})
    assert r.open_steps() == ["report_up"] and r.state["tasks"][r.task_id("report_up")]["roles"] == [role]
    r.act("report_up", data={"note": "已報告經理"}, user="x", roles={role})
    r.act("protect", data={"checked": ["cordon", "witnesses"]}, user="x", roles={role})
    assert r.open_steps() == [then]


def test_the_fragment_is_part_of_each_version(reg):
    assert "fragments/principles.yaml" in reg.workflow("fire").files
    changed = definitions.load_texts(texts(FRAGMENT.replace("title: 封鎖現場", "title: 封鎖並看守現場")))
    assert changed.workflow("fire").version != reg.workflow("fire").version


@pytest.mark.parametrize(("fragment", "fire", "message"), [
    (FRAGMENT.replace("fields: [note]", "fields: [nte]"), FIRE,
     "fragments/principles.yaml:10:14: unknown field 'nte'; did you mean 'note'?; form 'memo' has no such field "
     "(included by workflows/fire.yaml)"),
    (FRAGMENT, FIRE.replace("fragment: principles,", "fragment: principle,"),
     "workflows/fire.yaml:6:41: unknown fragment 'principle'; did you mean 'principles'?"),
    (FRAGMENT, FIRE.replace("with: {lead: sec, then: fight}", "with: {lead: sec}"),
     "workflows/fire.yaml:6:59: fragment 'principles' needs parameter 'then' (處理原則之後的步驟)"),
    (FRAGMENT, FIRE.replace("then: fight}", "then: fight, boss: x}"),
     "workflows/fire.yaml:6:90: fragment 'principles' has no parameter 'boss'"),
    (FRAGMENT.replace('roles: ["${lead}"]\n    fields', 'roles: ["${leader}"]\n    fields'), FIRE,
     "fragments/principles.yaml:9:13: '${leader}' is not a parameter of fragment 'principles'"),
    (FRAGMENT, FIRE.replace("  fight: {kind: form, title: 滅火", "  protect: {kind: form, title: 重複, roles: [sec], "
                            "fields: [count], next: fight}\n  fight: {kind: form, title: 滅火"),
     "fragment 'principles' brings step 'protect', which the workflow has already"),
    (FRAGMENT.replace("start: report_up", "start: report"), FIRE,
     "fragments/principles.yaml:4:8: `start: report` is not one of the fragment's steps; did you mean 'report_up'?"),
])
def test_lint_of_includes(fragment, fire, message):
    found = problems(fragment, fire=fire)
    assert any(message in p for p in found), found


def test_simulate_and_the_work_instruction(reg, tmp_path):
    from engine.manual import write_manual

    assert simulate(reg.workflow("fire"), reg)["stuck"] == []
    write_manual(reg.workflow("fire"), reg, tmp_path / "m.docx")
    text = docx_text((tmp_path / "m.docx").read_bytes())
    assert "以下按共用程序《突發事件處理原則》辦理" in text and "保護現場" in text and "封鎖現場" in text


def test_an_instance_on_the_old_version_runs_on_after_the_fragment_changes(new_db, tmp_path, clock):
    eng = toy_engine(new_db("i.db"), tmp_path / "defs", texts(), {"amy": ["clerk"], "sam": ["sec"]}, clock)
    root = tmp_path / "defs"
    old = eng.start("fire", "amy", {"subject": "起火"})
    (root / "fragments/principles.yaml").write_text(FRAGMENT.replace("      - {id: witnesses, title: 尋找目擊者}\n",
                                                                     ""), encoding="utf-8")
    eng.reload()
    new = eng.start("fire", "amy", {"subject": "再起火"})
    assert new["version"] != old["version"]
    eng.complete(eng.show(old["id"])["tasks"][0]["id"], "sam", data={"note": "已報告"})
    view = eng.show(old["id"])
    assert [i["id"] for i in view["tasks"][0]["items"]] == ["cordon", "witnesses"]  # the version it started on
    eng.close()
