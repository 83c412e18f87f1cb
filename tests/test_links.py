"""Links between instances: a field holding another case's number (`format: instance`), checked against the cases
of the site and the workflows it allows; both instance pages list the link, with parents and children; a child's
printout can print its parent's number."""

from __future__ import annotations

import pytest

from engine import definitions
from engine.errors import Invalid

from .conftest import toy_engine, toy_texts

FORM = """\
id: followup_note
title: 跟進單
number: "GJ-{year}-{seq:04}"
schema:
  type: object
  properties:
    subject: {type: string, title: 主旨}
    source: {type: string, format: instance, workflow: approve_all, title: 來源案件}
"""

FOLLOW = """\
id: followup_note
title: 跟進
form: followup_note
start: {roles: [clerk], fields: [subject, source], next: act}
steps:
  act: {kind: form, title: 跟進處理, roles: [clerk], fields: [subject], next: done}
  done: {kind: end, title: 完成, outcome: done}
"""


def texts(form: str = FORM) -> dict[str, str]:
    out = toy_texts()
    out.update({"forms/followup_note.yaml": form, "workflows/followup_note.yaml": FOLLOW})
    return out


@pytest.fixture
def eng(new_db, tmp_path, clock):
    engine = toy_engine(new_db("l.db"), tmp_path / "defs", texts(), {"amy": ["clerk"], "ed": ["eng"]}, clock)
    yield engine
    engine.close()


def test_a_link_shows_on_both_cases(eng):
    source = eng.start("approve_all", "amy", {"subject": "修門", "amount": "100"})
    note = eng.start("followup_note", "amy", {"subject": "跟進修門", "source": f"  {source['number']} "})
    assert note["data"]["source"] == source["number"]  # trimmed
    out = eng.show(note["id"], "amy")["links"]["refers_to"]
    assert [(h["number"], h["label"], h["title"], h["may_view"]) for h in out] == [
        (source["number"], "來源案件", "全體會簽", True)]
    back = eng.show(source["id"], "amy")["links"]["referred_by"]
    assert [(h["number"], h["label"], h["title"]) for h in back] == [(note["number"], "來源案件", "跟進")]
    assert eng.show(source["id"], "ed")["links"]["referred_by"][0]["may_view"] is False  # (not one of its roles)


@pytest.mark.parametrize(("value", "message"), [
    ("T-2099-9999", "「來源案件」：找不到單號「T-2099-9999」的案件"),
    ("OTHER", "「來源案件」：單號「{other}」是《跟進》，此欄須為《全體會簽》"),
])
def test_a_wrong_number_is_refused_in_words_and_nothing_is_written(eng, value, message):
    other = eng.start("followup_note", "amy", {"subject": "先前的"})
    value = other["number"] if value == "OTHER" else value
    before = len(eng.store.conn.execute("SELECT id FROM instances").fetchall())
    with pytest.raises(Invalid, match=message.format(other=other["number"])):
        eng.start("followup_note", "amy", {"subject": "x", "source": value})
    assert len(eng.store.conn.execute("SELECT id FROM instances").fetchall()) == before


def test_children_and_parents_are_links_too(eng):
    parent = eng.start("parent", "amy", {"subject": "母案"})
    (child,) = eng.show(parent["id"], "amy")["links"]["children"]
    assert child["title"] == "三選二" and child["status_title"] == "進行中"
    assert eng.show(child["id"])["links"]["parent"][0]["id"] == parent["id"]


@pytest.mark.parametrize(("old", "new", "message"), [
    ("workflow: approve_all", "workflow: aprove_all",
     "followup_note.yaml:8:56: unknown workflow 'aprove_all'; did you mean 'approve_all'?"),
    ("format: instance, workflow", "workflow",
     "followup_note.yaml:8:28: `workflow` belongs to a link to another case: add `format: instance`"),
    ("{type: string, format: instance", "{type: integer, format: instance",
     "followup_note.yaml:8:20: link field 'source' holds another case's number: its type is string"),
])
def test_lint_of_links(old, new, message):
    found = [str(p) for p in definitions.load_texts(texts(FORM.replace(old, new))).problems]
    assert any(message in p for p in found), found


def test_a_child_prints_its_parents_number():
    from engine.printouts import CONTEXT, PrintInfo, context

    reg = definitions.load_texts(texts())
    state = {"data": {"subject": "x"}, "status": "active", "outcome": None, "started_by": "amy",
             "started_at": "2026-11-02T01:30:00+00:00", "number": "GJ-2026-0001", "approvals": [],
             "parent": {"number": "T-2026-0007", "title": "要兩人簽", "data": {}}}
    info = PrintInfo(printout="x", title="跟進單", copies=[], signatures=[], printed_by="amy",
                     printed_at="2026-11-02T01:30:00+00:00", code="C", url="u", reprint=False)
    ctx = context(reg.workflow("followup_note"), reg.site, state, [], {}, info)
    assert "parent" in CONTEXT and ctx["parent"] == {"number": "T-2026-0007", "title": "要兩人簽"}


def test_a_link_in_a_confidential_field_is_not_shown_to_those_who_may_not_read_it(new_db, tmp_path, clock):
    secret = FORM + "confidential: {fields: [source], roles: [boss]}\n"
    eng = toy_engine(new_db("c.db"), tmp_path / "defs", texts(secret), {"amy": ["clerk"], "bo": ["boss", "clerk"]},
                     clock)
    source = eng.start("approve_all", "amy", {"subject": "修門", "amount": "100"})
    note = eng.start("followup_note", "bo", {"subject": "跟進", "source": source["number"]})
    assert eng.show(note["id"], "amy")["links"]["refers_to"] == []
    assert eng.show(source["id"], "amy")["links"]["referred_by"] == []
    assert [h["number"] for h in eng.show(note["id"], "bo")["links"]["refers_to"]] == [source["number"]]
    eng.close()
