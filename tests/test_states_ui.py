"""The web UI of named states and of links between cases, over HTTP (Starlette's TestClient on the real app and a
real SQLite file): a kept key's instance page offers 保管中 and its actions to whoever holds the state's roles;
lending with a borrower moves it on (the history in words), lending without one is refused beside the field with
nothing written and what was typed kept, a non-holder and a post without the form's token are refused; the register
filters by state and offers a row's actions without fields as buttons; the 關聯案件 of a follow-up note on both
cases, and of a for-each's children with the rows they came from; a link field's input and its value as a link."""

from __future__ import annotations

import re
from html import unescape

import pytest
from starlette.testclient import TestClient

from engine import definitions
from server.app import create_app

from .conftest import TOY, Clock
from .steps.test_foreach import CALL, CHASE
from .steps.test_foreach import FORM as DUNNING_FORM
from .steps.test_state import FORM as KEY_FORM
from .steps.test_state import KEEP
from .test_definitions import copy_defs
from .test_links import FOLLOW
from .test_links import FORM as FOLLOW_FORM
from .test_web_ui import Page, Site

USERS = (("amy", ["clerk"], "王小明"), ("sam", ["sec"], "孫保安"), ("ed", ["eng"], "鄧師傅"))


def states_defs(root):
    """tests/fixtures/toy with the key of tests/steps/test_state.py (保管中, 借出中), the follow-up note of
    tests/test_links.py (a link field) and the arrears chase of tests/steps/test_foreach.py (a child per row)."""
    root.mkdir(parents=True, exist_ok=True)
    copy_defs(TOY, root)
    for rel, text in {"forms/key_keep.yaml": KEY_FORM, "workflows/key_keep.yaml": KEEP,
                      "forms/followup_note.yaml": FOLLOW_FORM, "workflows/followup_note.yaml": FOLLOW,
                      "forms/dunning.yaml": DUNNING_FORM, "workflows/chase.yaml": CHASE,
                      "workflows/call.yaml": CALL}.items():
        (root / rel).write_text(text, encoding="utf-8")
    return root


@pytest.fixture
def site(new_db, tmp_path):
    root = states_defs(tmp_path / "defs")
    clock = Clock()
    app = create_app(new_db("states.db"), definitions.load_strict(root), tick_seconds=0, clock=clock)
    with TestClient(app):
        s = Site(app, clock)
        for name, roles, title in USERS:
            s.user(name, roles, title)
        yield s


def _key(site: Site, key_no: str = "K-101") -> dict:
    return site.engine.start("key_keep", "amy", {"key_no": key_no})


def _act(site: Site, user: str, iid: int, step: str, action: str, fields: dict | None = None, **extra):
    """Post an action's form as its page has it (the page's CSRF token), `fields` as the inputs f.NAME."""
    client = site.as_(user)
    page = client.get(f"/instances/{iid}")
    assert page.status_code == 200, page.text
    data = {"csrf": Page(page.text).csrf(), "step": step, "action": action, **extra}
    data.update({f"f.{k}": v for k, v in (fields or {}).items()})
    return client.post(f"/instances/{iid}/act", data=data)


def _section(html: str, title: str) -> str:
    """The text of the card titled `title` (tags dropped, spaces squeezed)."""
    found = re.search(rf'<section[^>]*>\s*<h2>{title}</h2>(.*?)</section>', html, re.S)
    assert found, f"no section {title}"
    return _text(found.group(1))


def _text(html: str) -> str:
    return re.sub(r"\s+", " ", unescape(re.sub(r"<[^>]+>", " ", html))).strip()


def _history(html: str) -> list[str]:
    timeline = re.search(r'<ol class="timeline">(.*?)</ol>', html, re.S).group(1)
    return [_text(li) for li in re.findall(r"<li[^>]*>(.*?)</li>", timeline, re.S)]


def _forms(html: str) -> list[dict]:
    """Each action form of the page: {action, step, name, buttons}."""
    out = []
    for attrs, body in re.findall(r'<form method="post" action="(/instances/\d+/act)"[^>]*>(.*?)</form>', html, re.S):
        hidden = dict(re.findall(r'<input type="hidden" name="(\w+)" value="([^"]*)"', body))
        out.append({"url": attrs, "step": hidden.get("step"), "action": hidden.get("action"),
                    "back": unescape(hidden.get("back", "")),
                    "buttons": [_text(b) for b in re.findall(r"<button[^>]*>(.*?)</button>", body, re.S)]})
    return out


# --- the instance page --------------------------------------------------------------------------------------------

def test_a_kept_key_shows_its_state_and_actions_to_a_holder(site):
    key = _key(site)
    html = site.as_("amy").get(f"/instances/{key['id']}").text
    assert "保管中" in _section(html, "目前狀態")
    forms = _forms(html)
    assert [(f["step"], f["action"], f["buttons"]) for f in forms] == [
        ("kept", "lend", ["借出"]), ("kept", "collect", ["業主領取"])]
    page = Page(html)
    borrower = page.fields["borrower"]
    assert borrower["inputs"][0]["name"] == "f.borrower" and borrower["inputs"][0]["id"] == "act-kept-lend-borrower"
    assert 'title="必填"' in html.split('data-field="borrower"')[1].split("</div>")[0]  # (required by the action)
    assert "note" in page.fields and "key_no" not in page.fields  # only the action's fields are inputs
    guard = site.as_("sam").get(f"/instances/{key['id']}").text  # the other role of the state
    assert [f["action"] for f in _forms(guard)] == ["lend", "collect"]
    engineer = site.as_("ed").get(f"/instances/{key['id']}")  # not a role of the key's workflow: no page, no actions
    assert engineer.status_code == 403 and "借出" not in engineer.text and "/act" not in engineer.text


def test_lending_with_a_borrower_moves_the_key_on_and_the_history_says_so(site):
    key = _key(site)
    moved = _act(site, "sam", key["id"], "kept", "lend", {"borrower": "裝修工 王師傅", "note": "週末歸還"})
    assert moved.status_code == 303 and moved.headers["location"] == f"/instances/{key['id']}"
    view = site.engine.show(key["id"])
    assert view["resting"][0]["step"] == "lent" and view["data"]["borrower"] == "裝修工 王師傅"
    html = site.as_("amy").get(f"/instances/{key['id']}").text
    assert "借出中" in _section(html, "目前狀態") and "保管中" not in _section(html, "目前狀態")
    assert [(f["action"], f["buttons"]) for f in _forms(html)] == [("back", ["歸還"])]
    lines = _history(html)
    assert any(line.endswith("進入「保管中」") for line in lines), lines
    assert any("孫保安 執行「借出」 借用人：裝修工 王師傅；備註：週末歸還" in line for line in lines), lines
    assert any(line.endswith("進入「借出中」") for line in lines), lines
    assert "sam" not in " ".join(line for line in lines if "執行" in line)  # (the name staff read, not the login)


def test_lending_without_a_borrower_is_refused_beside_the_field_and_nothing_changes(site):
    key = _key(site)
    before = site.engine.show(key["id"])
    refused = _act(site, "amy", key["id"], "kept", "lend", {"borrower": "  ", "note": "先登記"})
    assert refused.status_code == 422
    page = Page(refused.text)
    assert page.fields["borrower"]["errors"] == ["「借用人」為必填"]
    assert "has-error" in page.fields["borrower"]["class"]
    assert page.value("f.note") == "先登記"  # what was typed is kept
    assert any("借用人" in e for e in page.form_errors)
    after = site.engine.show(key["id"])
    assert after["resting"] == before["resting"] and after["data"] == before["data"]
    assert len(after["history"]) == len(before["history"])


def test_a_non_holder_a_post_without_its_token_and_a_stale_action_are_refused(site):
    key = _key(site)
    count = len(site.engine.show(key["id"])["history"])
    token = Page(site.as_("ed").get("/").text).csrf()  # (the engineer's own session token)
    stranger = site.as_("ed").post(f"/instances/{key['id']}/act", data={"csrf": token, "step": "kept",
                                                                         "action": "collect"})
    assert stranger.status_code == 403 and "Traceback" not in stranger.text
    forged = site.as_("amy").post(f"/instances/{key['id']}/act", data={"step": "kept", "action": "collect"})
    assert forged.status_code == 403 and "CSRF" in forged.text
    stale = _act(site, "amy", key["id"], "lent", "back")  # (another tab: the key is not lent)
    assert stale.status_code == 409
    assert "案件目前不在「借出中」狀態（目前：保管中）" in " ".join(Page(stale.text).form_errors)
    unknown = _act(site, "amy", key["id"], "kept", "steal")
    assert unknown.status_code == 422 and "「保管中」沒有這個操作；可用：借出、業主領取" in unknown.text
    view = site.engine.show(key["id"])
    assert view["status"] == "active" and len(view["history"]) == count
    elsewhere = _act(site, "amy", key["id"], "kept", "collect", back="//evil.example/x")
    assert elsewhere.status_code == 303 and elsewhere.headers["location"] == "/"  # (only a path on this site)


# --- the register -------------------------------------------------------------------------------------------------

def test_the_register_filters_by_state_and_a_rows_action_without_fields_is_a_button(site):
    kept, lent = _key(site, "K-101"), _key(site, "K-102")
    site.engine.act(lent["id"], "sam", "kept", "lend", {"borrower": "王師傅"})
    client = site.as_("amy")
    html = client.get("/registers/key_keep").text
    page = Page(html)
    assert [i["name"] for i in page.fields["state"]["inputs"]] == ["state"]
    options = re.findall(r'<option value="(\w*)"[^>]*>([^<]+)</option>',
                         html.split('id="reg-state"')[1].split("</select>")[0])
    assert options == [("", "全部"), ("kept", "保管中"), ("lent", "借出中")]
    assert "案件狀態" in html and "目前狀態" in html

    only_kept = client.get("/registers/key_keep?state=kept").text
    assert kept["number"] in only_kept and lent["number"] not in only_kept
    assert re.search(r'<option value="kept" selected>', only_kept)
    row = only_kept.split(kept["number"])[1].split("</tr>")[0]
    assert "保管中" in row and f'href="/instances/{kept["id"]}#act-kept-lend"' in row and "借出…" in row
    (collect,) = _forms(only_kept)  # a field-less action only: 業主領取
    assert (collect["url"], collect["action"], collect["buttons"]) == (
        f"/instances/{kept['id']}/act", "collect", ["業主領取"])
    assert collect["back"] == "/registers/key_keep?state=kept&page=1"
    assert "/registers/key_keep.csv?state=kept" in Page(only_kept).links  # (the exports of what is shown)
    only_lent = client.get("/registers/key_keep?state=lent").text
    assert [(f["action"], f["buttons"]) for f in _forms(only_lent)] == [("back", ["歸還"])]
    assert "借出中" in only_lent.split(lent["number"])[1].split("</tr>")[0]

    done = client.post(collect["url"], data={"csrf": Page(only_kept).csrf(), "step": "kept", "action": "collect",
                                             "back": collect["back"]})
    assert done.status_code == 303 and done.headers["location"] == "/registers/key_keep?state=kept&page=1"
    view = site.engine.show(kept["id"])
    assert (view["status"], view["outcome"]) == ("completed", "collected")
    assert kept["number"] not in client.get(done.headers["location"]).text  # (no longer kept)
    shown = client.get(f"/instances/{kept['id']}").text
    assert "目前狀態" not in shown and any("王小明 執行「業主領取」" in line for line in _history(shown))


# --- links ----------------------------------------------------------------------------------------------------

def test_a_follow_up_note_and_its_source_list_each_other(site):
    source = site.engine.start("approve_all", "amy", {"subject": "修門", "amount": "100"})
    start = site.as_("amy").get("/start/followup_note").text
    (box,) = Page(start).fields["source"]["inputs"]
    assert (box["type"], box["inputmode"], box["placeholder"]) == ("text", "text", "輸入單號，例如 T-2026-0001")
    wrong = site.post_form("amy", "/start/followup_note", {"f.subject": "跟進", "f.source": "T-2099-9999"})
    assert wrong.status_code == 422 and Page(wrong.text).fields["source"]["errors"] == ["找不到單號「T-2099-9999」"]
    made = site.post_form("amy", "/start/followup_note", {"f.subject": "跟進修門", "f.source": source["number"]})
    assert made.status_code == 303, made.text
    note_id = int(made.headers["location"].rsplit("/", 1)[1])
    note = site.engine.show(note_id)

    html = site.as_("amy").get(f"/instances/{note_id}").text
    links = _section(html, "關聯案件")
    assert links == f"本案引用 來源案件 {source['number']} 《全體會簽》 進行中"
    assert f'<a href="/instances/{source["id"]}" class="case-link">' in html  # (the section and the field's value)
    field = html.split('<dt>來源案件</dt>')[1].split("</dd>")[0]
    assert f'href="/instances/{source["id"]}"' in field and source["number"] in field and "《全體會簽》進行中" in field
    back = site.as_("amy").get(f"/instances/{source['id']}").text
    assert _section(back, "關聯案件") == f"被引用 來源案件 {note['number']} 《跟進》 進行中"
    assert f'href="/instances/{note_id}"' in back
    assert f"#{note_id}" not in _section(back, "關聯案件")  # numbers, never ids
    engineer = site.as_("ed").get(f"/instances/{source['id']}").text  # may open the source, not the note
    assert note["number"] in _section(engineer, "關聯案件") and f'href="/instances/{note_id}"' not in engineer


def test_a_for_each_lists_its_children_with_the_rows_they_came_from(site):
    shops = [{"shop": "王記茶餐廳", "amount": 300}, {"shop": "免欠費", "amount": 0}, {"shop": "李家麵館", "amount": 80}]
    chase = site.engine.start("chase", "amy", {"period": "2026-10", "shops": shops})
    html = site.as_("amy").get(f"/instances/{chase['id']}").text
    children = [_text(li) for li in re.findall(r'<ul class="plain cases cases-children">(.*?)</ul>', html, re.S)[0]
                .split("</li>")[:-1]]
    assert [re.sub(r"T-\d{4}-\d{4}", "T-…", c) for c in children] == [
        "T-… 《電話催繳》 進行中 來自第 1 行（王記茶餐廳）", "T-… 《電話催繳》 進行中 來自第 3 行（李家麵館）"]
    child = site.engine.show(chase["id"])["links"]["children"][0]
    up = site.as_("amy").get(f"/instances/{child['id']}").text
    assert _section(up, "關聯案件") == f"上級案件 {chase['number']} 《逐戶催繳》 進行中"
    assert f"上級案件 {chase['number']}" in _text(up.split('<p class="meta">')[1].split("</p>")[0])
