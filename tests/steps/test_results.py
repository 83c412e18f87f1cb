"""Checklist results (engine/steps/results.py): each item records a result, a note and photos instead of a tick;
a failed one needs a note and starts a follow-up instance linked to the source; views, printouts, simulate, the
work instruction and lint."""

from __future__ import annotations

import pytest

from engine import definitions
from engine.errors import Invalid
from engine.simulate import simulate

from ..conftest import CoreRun, docx_text, toy_engine, toy_texts

FORM = """\
id: round
title: 巡查表
number: "XC-{year}-{seq:04}"
schema:
  type: object
  properties:
    location: {type: string, title: 巡查區域}
    remark: {type: string, title: 備註}
"""

PATROL = """\
id: round
title: 公共區域巡查
form: round
start: {roles: [clerk], fields: [location], next: walk}
steps:
  walk:
    kind: checklist
    title: 巡查
    roles: [sec]
    results: [合格, 不合格, 不適用]
    follow_up:
      workflow: mend
      data: {subject: "item['title']", note: "location + '：' + item['note']"}
    items:
      - {id: lights, title: 照明}
      - {id: door, title: 消防門, results: [關閉, 未關閉, 損壞], failed: [未關閉, 損壞]}
      - {id: litter, title: 垃圾, optional: true}
    next: done
  done: {kind: end, title: 完成, outcome: done}
"""

MEND = """\
id: mend
title: 維修
form: memo
start: {roles: [clerk], fields: [subject, note], next: fix}
steps:
  fix: {kind: form, title: 維修, roles: [eng], fields: [note], next: done}
  done: {kind: end, title: 完成, outcome: done}
"""

PHOTO = "a" * 64


def registry(**extra: str) -> definitions.Registry:
    texts = toy_texts()
    texts["forms/round.yaml"] = FORM
    texts.update({f"workflows/{w}.yaml": t for w, t in {"round": PATROL, "mend": MEND, **extra}.items()})
    return definitions.load_texts(texts)


@pytest.fixture(scope="module")
def reg():
    out = registry()
    assert not out.problems, out.problems
    return out


def test_each_item_records_a_result_and_a_failure_starts_a_follow_up(reg):
    r = CoreRun(reg, "round")
    r.start({"location": "B1 車庫"}, user="amy", roles={"clerk"})
    r.act("walk", data={"results": {"lights": "合格"}}, user="sam", roles={"sec"})
    assert r.children == {}
    task = r.state["tasks"][r.task_id("walk")]
    assert task["checked"]["lights"]["result"] == "合格" and task["checked"]["lights"]["by"] == "sam"
    r.act("walk", data={"results": {"door": {"result": "損壞", "note": "閉門器脫落", "photos": [PHOTO]}}},
          user="sam", roles={"sec"})
    assert r.open_steps() == []  # the optional item may stay open
    assert r.state["status"] == "completed"
    (child,) = r.children.values()
    assert child.wf.id == "mend" and child.state["data"] == {"subject": "消防門", "note": "B1 車庫：閉門器脫落"}
    recorded = [e for e in r.events if e["type"] == "items_checked"][-1]["payload"]["results"]
    assert recorded == {"door": {"result": "損壞", "note": "閉門器脫落", "photos": [PHOTO], "failed": True}}


@pytest.mark.parametrize(("results", "message"), [
    ({"lights": "壞了"}, "「照明」的結果須為：合格、不合格、不適用"),
    ({"door": "未關閉"}, "「消防門」為「未關閉」，請寫明情況"),
    ({"door": {"result": "關閉", "photos": ["../etc/passwd"]}}, "「消防門」的照片無效"),
    ({"gate": "合格"}, "清單「巡查」沒有項目：gate"),
    ({"lights": 1}, "請為「照明」選擇結果"),
    ({}, "沒有新記錄的項目"),
])
def test_bad_results_are_refused_in_words_and_change_nothing(reg, results, message):
    r = CoreRun(reg, "round")
    r.start({"location": "大堂"}, user="amy", roles={"clerk"})
    before = r.state
    with pytest.raises(Invalid, match=message):
        r.act("walk", data={"results": results}, user="sam", roles={"sec"})
    assert r.state is before


def test_ticks_are_refused_where_results_are_asked_and_a_result_is_final(reg):
    r = CoreRun(reg, "round")
    r.start({"location": "大堂"}, user="amy", roles={"clerk"})
    with pytest.raises(Invalid, match="須為每一項選擇結果（合格、不合格、不適用），不是勾選"):
        r.act("walk", data={"checked": ["lights"]}, user="sam", roles={"sec"})
    r.act("walk", data={"results": {"lights": "合格"}}, user="sam", roles={"sec"})
    with pytest.raises(Invalid, match="「照明」已記錄過結果"):
        r.act("walk", data={"results": {"lights": "不合格"}}, user="sam", roles={"sec"})


def test_the_task_view_printout_and_describe_carry_the_results(reg):
    from engine.views import describe, task_view

    r = CoreRun(reg, "round")
    r.start({"location": "大堂"}, user="amy", roles={"clerk"})
    view = task_view(r.wf, r.task_id("walk"), r.state["tasks"][r.task_id("walk")], r.state["data"])
    assert view["results"] is True and view["submit"] == "送出結果"
    door = [i for i in view["items"] if i["id"] == "door"][0]
    assert door["results"] == ["關閉", "未關閉", "損壞"] and door["failed"] == ["未關閉", "損壞"]
    steps = {s["id"]: s for s in describe(r.wf, reg)["steps"]}
    assert steps["walk"]["follow_up"]["workflow"] == "mend" and steps["walk"]["failed"] == ["不合格"]


def test_simulate_tries_a_pass_and_a_failure(reg):
    result = simulate(reg.workflow("round"), reg)
    assert result["stuck"] == [] and result["ends"] == {"done": 1}


def test_the_work_instruction_says_what_to_record(reg, tmp_path):
    from engine.manual import write_manual

    write_manual(reg.workflow("round"), reg, tmp_path / "m.docx")
    text = docx_text((tmp_path / "m.docx").read_bytes())
    assert "逐項檢查並在系統中記錄結果（可附說明及照片）" in text and "「不合格」須寫明情況" in text
    assert "（結果：關閉、未關閉、損壞）" in text and "系統即自動發起《維修》流程跟進" in text


@pytest.mark.parametrize(("old", "new", "message"), [
    ("workflow: mend", "workflow: mnd", "round.yaml:12:17: unknown workflow 'mnd'; did you mean 'mend'?"),
    ("{subject: \"item['title']\",", "{subjct: \"item['title']\",",
     "round.yaml:13:14: form 'memo' of workflow 'mend' has no field 'subjct'; did you mean 'subject'?"),
    ("failed: [未關閉, 損壞]", "failed: [未關, 損壞]", "round.yaml:16:65: '未關' is not one of the results"),
    ("location + '", "locaton + '", "round.yaml:13:46: value 'locaton + '：' + item['note']' names unknown field"),
])
def test_lint_of_results(old, new, message):
    assert old in PATROL
    found = [str(p) for p in registry(round=PATROL.replace(old, new)).problems]
    assert any(message in p for p in found), found


def test_a_follow_up_needs_a_result_that_fails():
    text = PATROL.replace("results: [合格, 不合格, 不適用]", "results: [正常, 異常]").replace(
        ", results: [關閉, 未關閉, 損壞], failed: [未關閉, 損壞]", "")
    found = [str(p) for p in registry(round=text).problems]
    assert any("round.yaml:12:7: no result is a failure: say which with `failed: [不合格]`" in p for p in found), found


def test_the_store_starts_the_follow_up_linked_to_its_source(new_db, tmp_path, clock):
    eng = toy_engine(new_db("r.db"), tmp_path / "defs",
                     {"forms/round.yaml": FORM, "workflows/round.yaml": PATROL, "workflows/mend.yaml": MEND},
                     {"amy": ["clerk"], "sam": ["sec"], "ed": ["eng"]}, clock)
    inst = eng.start("round", "amy", {"location": "B1 車庫"})
    photo = eng.attach("sam", b"\x89PNG\r\n\x1a\n" + b"0" * 64, "door.png")["id"]
    eng.complete(inst["tasks"][0]["id"], "sam", data={"results": {
        "lights": "合格", "door": {"result": "未關閉", "note": "門被雜物卡住", "photos": [photo]}}})
    view = eng.show(inst["id"])
    started = [e for e in view["history"] if e["type"] == "child_started"]
    assert len(started) == 1 and started[0]["payload"]["workflow"] == "mend"
    child = eng.show(started[0]["payload"]["child"])
    assert child["parent"] == inst["id"] and child["data"]["note"] == "B1 車庫：門被雜物卡住"
    assert [t["title"] for t in eng.tasks("ed")] == ["維修"]
    meta, body = eng.attachment(photo, "amy")  # whoever may see the source may open its photo
    assert body.startswith(b"\x89PNG")
    eng.close()
