"""Dates from the data: a wait until the moment an expression gives, a task's due time counted from an expression,
and a deadline over several steps (from the event to the completion of a later step, whatever lies between):
pure core, lint with its place, simulate, the work instruction, and the store with the ticker on both backends."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from engine import core, definitions
from engine.errors import Invalid
from engine.simulate import simulate

from .conftest import CoreRun, docx_text, toy_engine, toy_texts

FORM = """\
id: lease
title: 租用單
number: "L-{year}-{seq:04}"
schema:
  type: object
  properties:
    subject: {type: string, title: 主旨}
    start_date: {type: string, format: date, title: 起租日期}
    months: {type: integer, title: 租期（月）, minimum: 1}
    occurred_at: {type: string, format: date-time, title: 發生時間}
    note: {type: string, title: 備註}
"""

TERM = """\
id: term
title: 租期屆滿
form: lease
start: {roles: [clerk], fields: [subject, start_date, months], next: term}
steps:
  term:
    kind: wait
    title: 租期
    until: "add_months(start_date, months)"
    next: return_key
  return_key:
    kind: form
    title: 交還
    roles: [clerk]
    fields: [note]
    due: {from: "add_days(add_months(start_date, months), 3)", soft: 0h}
    next: done
  done: {kind: end, title: 完成, outcome: done}
"""

REPORT = """\
id: report
title: 事件呈報
form: lease
deadlines:
  - id: written
    title: 書面報告送達公司
    from: occurred_at
    until: received
    soft: 24h
    hard: 36h
    actions:
      - {before: 2h, remind: [boss]}
      - {at: hard, notify: [boss, sec]}
start: {roles: [clerk], fields: [subject, occurred_at], next: write}
steps:
  write:
    kind: form
    title: 撰寫報告
    roles: [sec]
    fields: [note]
    next: sign
  sign:
    kind: approval
    title: 經理審閱
    roles: [boss]
    outcomes: {approve: {to: received, title: 同意}}
  received:
    kind: form
    title: 公司簽收
    roles: [clerk]
    fields: [note]
    next: done
  done: {kind: end, title: 完成, outcome: done}
"""


def texts(**workflows: str) -> dict[str, str]:
    out = toy_texts()
    out["forms/lease.yaml"] = FORM
    out.update({f"workflows/{wid}.yaml": text for wid, text in {"term": TERM, "report": REPORT, **workflows}.items()})
    return out


@pytest.fixture(scope="module")
def reg() -> definitions.Registry:
    out = definitions.load_texts(texts())
    assert not out.problems, out.problems
    return out


def fire(r: CoreRun, at: str) -> None:
    """The ticker at `at` (stored UTC text)."""
    r.now = datetime.fromisoformat(at)
    r._apply(core.fire_due(r.wf, r.state, r.now))


def shanghai(*args) -> str:
    """A Shanghai wall time as the stored UTC text."""
    return (datetime(*args, tzinfo=UTC) - timedelta(hours=8)).isoformat(timespec="seconds")


def test_a_wait_until_the_end_of_the_term(reg):
    r = CoreRun(reg, "term")
    r.start({"subject": "車位 B-12", "start_date": "2026-11-15", "months": 3}, user="amy", roles={"clerk"})
    token = next(iter(r.state["tokens"].values()))
    assert token["until"] == shanghai(2027, 2, 15) == r.state["wake_at"]
    fire(r, shanghai(2027, 2, 14, 23, 59))
    assert r.open_steps() == []
    fire(r, shanghai(2027, 2, 15))
    task = r.state["tasks"][r.task_id("return_key")]
    assert task["due_at"] == shanghai(2027, 2, 18)  # counted from the expression, not the opening


def test_a_wait_whose_moment_has_passed_goes_straight_on(reg):
    r = CoreRun(reg, "term")
    r.start({"subject": "x", "start_date": "2026-01-01", "months": 1}, user="amy", roles={"clerk"})
    assert r.open_steps() == ["return_key"]


def test_a_wait_on_an_empty_date_is_refused_in_words(reg):
    r = CoreRun(reg, "term")
    with pytest.raises(Invalid, match="「租期」的等待期限無法判斷"):
        r.start({"subject": "x", "months": 1}, user="amy", roles={"clerk"})


def test_a_deadline_over_several_steps_runs_from_the_event(reg):
    r = CoreRun(reg, "report")
    r.start({"subject": "電梯困人", "occurred_at": "2026-11-02T08:00:00+08:00"}, user="amy", roles={"clerk"})
    span = r.state["spans"]["written"]
    assert (span["due_at"], span["hard_at"]) == (shanghai(2026, 11, 3, 8), shanghai(2026, 11, 3, 20))
    assert r.state["wake_at"] == shanghai(2026, 11, 3, 6)  # the reminder two hours before
    r.act("write", data={"note": "經過"}, user="sam", roles={"sec"})
    fire(r, shanghai(2026, 11, 3, 6))
    reminder = [e for e in r.events if e["type"] == "deadline_reminder"][-1]["payload"]
    assert reminder["notify"] == ["boss"] and "書面報告送達公司」將於 2026-11-03 08:00 到期" in reminder["message"]
    fire(r, shanghai(2026, 11, 3, 20))
    notice = [e for e in r.events if e["type"] == "deadline_notice"][-1]["payload"]
    assert notice["notify"] == ["boss", "sec"] and "已過最後期限" in notice["message"]
    fire(r, shanghai(2026, 11, 4))  # each action once
    assert len([e for e in r.events if e["type"] in ("deadline_reminder", "deadline_notice")]) == 2
    r.act("sign", "approve", user="bo", roles={"boss"})
    r.act("received", data={"note": "已簽收"}, user="amy", roles={"clerk"})
    met = [e for e in r.events if e["type"] == "deadline_met"][0]["payload"]
    assert met["deadline"] == "written" and met["on_time"] is False and met["in_hard"] is False


def test_a_deadline_met_in_time_and_armed_once_its_field_is_filled(reg):
    r = CoreRun(reg, "report")
    r.start({"subject": "水浸"}, user="amy", roles={"clerk"})
    assert "written" not in r.state.get("spans", {})  # the event's time is not known yet
    assert r.state["wake_at"] is None
    r.state["data"]["occurred_at"] = "2026-11-02T08:00:00+08:00"  # (as a later step would write it)
    r.act("write", data={"note": "經過"}, user="sam", roles={"sec"})
    assert r.state["spans"]["written"]["due_at"] == shanghai(2026, 11, 3, 8)
    r.act("sign", "approve", user="bo", roles={"boss"})
    r.act("received", data={"note": "簽收"}, user="amy", roles={"clerk"})
    met = [e for e in r.events if e["type"] == "deadline_met"][0]["payload"]
    assert met["on_time"] is True


@pytest.mark.parametrize(("workflow", "old", "new", "message"), [
    ("term", 'until: "add_months(start_date, months)"', "until: \"add_months(start_dat, months)\"",
     "term.yaml:9:12: moment 'add_months(start_dat, months)' names unknown field 'start_dat'"),
    ("term", 'until: "add_months(start_date, months)"', "duration: 3d\n    until: start_date",
     "term.yaml:7:5: give a wait exactly one of `duration: 7d` or `until:"),
    ("term", 'from: "add_days(add_months(start_date, months), 3)"', "from: months",
     "term.yaml:16:17: `from: months` must be `started` or a date or date-time field"),
    ("report", "until: received", "until: recieved",
     "report.yaml:8:12: unknown step 'recieved'; did you mean 'received'?"),
    ("report", "until: received", "until: done", "report.yaml:8:12: step 'done' is a end: nobody completes it"),
    ("report", "{at: hard, notify: [boss, sec]}", "{at: hard, escalate: [boss]}",
     "report.yaml:13:20: a deadline over several steps can only remind or notify (not escalate)"),
    ("report", "remind: [boss]", "remind: [bos]", "report.yaml:12:31: unknown role 'bos'; did you mean 'boss'?"),
    ("report", "hard: 36h", "hard: 12h", "report.yaml:10:11: the hard limit 12h is earlier than the due time 24h"),
])
def test_lint_of_dates(workflow, old, new, message):
    source = {"term": TERM, "report": REPORT}[workflow]
    assert old in source
    found = [str(p) for p in definitions.load_texts(texts(**{workflow: source.replace(old, new)})).problems]
    assert any(message in p for p in found), found


def test_simulate_walks_date_based_waits_and_deadlines(reg):
    for wid in ("term", "report"):
        result = simulate(reg.workflow(wid), reg)
        assert result["stuck"] == [] and result["ends"] == {"done": 1}, result


def test_describe_lists_the_deadlines_over_several_steps(reg):
    from engine.views import describe

    (one,) = describe(reg.workflow("report"), reg)["deadlines"]
    assert (one["from"], one["until"], one["soft"], one["hard"]) == ("occurred_at", "received", "24h", "36h")
    assert one["actions"] == ["2h before the due time: remind boss", "at the hard limit: notify boss, sec"]
    assert [s["until"] for s in describe(reg.workflow("term"), reg)["steps"] if s["kind"] == "wait"] == [
        "add_months(start_date, months)"]


def test_the_work_instruction_states_the_dates(reg, tmp_path):
    from engine.manual import write_manual

    write_manual(reg.workflow("term"), reg, tmp_path / "t.docx")
    text = docx_text((tmp_path / "t.docx").read_bytes())
    assert "等待至 " in text and "起租日期" in text
    write_manual(reg.workflow("report"), reg, tmp_path / "r.docx")
    text = docx_text((tmp_path / "r.docx").read_bytes())
    assert ("「書面報告送達公司」：自發生時間〔occurred_at〕起 24h（24小時）內（最遲 36h（36小時））"
            "完成 4.4「公司簽收」") in text
    assert "到期前 2h（2小時）：提醒經理；最後期限時：通知經理、保安部" in text


def test_the_store_fires_and_records_a_deadline(new_db, tmp_path, clock):
    eng = toy_engine(new_db("d.db"), tmp_path / "defs",
                     texts(), {"amy": ["clerk"], "sam": ["sec"], "bo": ["boss"]}, clock)
    inst = eng.start("report", "amy", {"subject": "電梯困人", "occurred_at": "2026-11-02T08:00:00+08:00"})
    assert inst["deadlines"][0]["due_at"] == shanghai(2026, 11, 3, 8)
    clock.now = datetime.fromisoformat(shanghai(2026, 11, 3, 6, 1))
    eng.tick()
    assert any("書面報告送達公司" in n["message"] for n in eng.notifications("bo"))
    assert not any("書面報告送達公司" in n["message"] for n in eng.notifications("sam"))
    eng.complete(eng.tasks("sam")[0]["id"], "sam", data={"note": "經過"})
    eng.complete(eng.tasks("bo")[0]["id"], "bo", "approve")
    eng.complete(eng.tasks("amy")[0]["id"], "amy", data={"note": "簽收"})
    view = eng.show(inst["id"])
    assert view["deadlines"][0]["met_at"] == clock.now.isoformat(timespec="seconds")
    assert [e["payload"]["on_time"] for e in view["history"] if e["type"] == "deadline_met"] == [True]
    eng.close()
