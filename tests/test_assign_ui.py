"""Tasks assigned to one person in the web UI (engine/steps/routing.py's `assign`): 指派給您 in the assignee's inbox
and nobody else's, 指派給 王師傅 on the task and instance pages (never "@wang" or a login id), the supervisor's
改派 form and its refusals in words (422 a person not on the list, 403 not theirs to hand on, 409 already done,
no CSRF token), the history in words with display names; and at 390 px in chromium, the supervisor hands it on
from the instance page with tap targets of 44 px."""

from __future__ import annotations

import html
import re
import shutil
from pathlib import Path
from unittest import mock

import pytest
from starlette.testclient import TestClient

from engine import definitions
from engine.service import Engine
from server.app import create_app

from .conftest import TOY, Clock
from .steps.test_routing import FORM, ROUTED
from .test_web_ui import Page, Site

# login -> (roles, display name): a clerk starts, a lead of 工程部 visits, three of 工程部 may repair, a boss hands on
STAFF = {"amy": (["clerk"], "艾文員"), "lin": (["eng"], "林組長"), "zhang": (["eng"], "張師傅"),
         "wang": (["eng"], "王師傅"), "li": (["boss"], "李主管")}


def make_defs(folder: Path) -> Path:
    """tests/fixtures/toy with the 回訪單 form and the 回訪 workflow (its 維修 assigned by the field technician)."""
    shutil.copytree(TOY, folder)
    (folder / "forms" / "visit.yaml").write_text(FORM, encoding="utf-8")
    (folder / "workflows" / "routed.yaml").write_text(ROUTED, encoding="utf-8")
    return folder


@pytest.fixture(scope="module")
def defs(tmp_path_factory) -> Path:
    return make_defs(tmp_path_factory.mktemp("assign") / "defs")


@pytest.fixture(scope="module")
def assign_registry(defs):
    return definitions.load_strict(defs)


@pytest.fixture
def site(new_db, assign_registry):
    clock = Clock()
    app = create_app(new_db("assign.db"), assign_registry, tick_seconds=0, clock=clock)
    with TestClient(app):
        s = Site(app, clock)
        for name, (roles, title) in STAFF.items():
            s.user(name, roles, title)
        yield s


def at_repair(engine, technician: str = "zhang") -> tuple[int, str]:
    """A 回訪 case at its 維修, assigned to `technician`: (instance id, task id)."""
    iid = engine.start("routed", "amy", {"subject": "漏水", "department": "工程部", "technician": technician})["id"]
    engine.complete(next(t["id"] for t in engine.show(iid)["tasks"] if t["step"] == "visit"), "lin", None, {}, None)
    return iid, next(t["id"] for t in engine.show(iid)["tasks"] if t["step"] == "fix")


def text(markup: str) -> str:
    """What a reader sees of some HTML: its text, without scripts and styles."""
    markup = re.sub(r"<(script|style)\b.*?</\1>", " ", markup, flags=re.S)
    return re.sub(r"\s+", " ", html.unescape(re.sub(r"<[^>]+>", " ", markup))).strip()


def timeline(page: str) -> list[str]:
    """The history lines of an instance page, as read."""
    section = page.split('<ol class="timeline">', 1)[1].split("</ol>", 1)[0]
    return [text(li) for li in re.findall(r"<li\b.*?</li>", section, flags=re.S)]


def inbox_row(page: str, task_id: str) -> str | None:
    """The inbox row of a task, as read (None when it is not there)."""
    found = re.search(rf'<li class="task[^"]*">\s*<a href="/tasks/{task_id}">.*?</li>', page, flags=re.S)
    return text(found[0]) if found else None


def assign_forms(page: str) -> list[str]:
    return re.findall(r'<form method="post" action="/tasks/[^"]+/assign".*?</form>', page, flags=re.S)


def no_id_or_english(shown: str) -> None:
    assert "@" not in shown and not re.search(r"[A-Za-z]", shown), shown


def test_the_assignee_sees_the_task_as_theirs_and_another_of_the_role_does_not(site):
    iid, fix = at_repair(site.engine)
    mine = site.as_("zhang").get("/")
    assert mine.status_code == 200
    row = inbox_row(mine.text, fix)
    assert row and row.startswith("指派給您 維修 回訪")  # (the summary after it shows the form's fields as typed)
    assert re.findall(r'<span class="badge assigned">([^<]*)</span>', mine.text) == ["指派給您"]
    assert inbox_row(site.as_("wang").get("/").text, fix) is None  # holds 工程部, but it is not his
    assert inbox_row(site.as_("lin").get("/").text, fix) is None
    # his task page says so, in words
    task = site.as_("zhang").get(f"/tasks/{fix}")
    assert task.status_code == 200 and "指派給：張師傅" in text(task.text) and "@" not in text(task.text)
    # someone else of 工程部 reads whose it is, not the roles alone
    other = text(site.as_("wang").get(f"/tasks/{fix}").text)
    assert "指派給：張師傅" in other and "此任務已指派給 張師傅（工程部）；你目前不能處理" in other and "@" not in other
    # the history says whose turn it is
    page = site.as_("li").get(f"/instances/{iid}").text
    assert "維修人員 張師傅" in text(page) and "zhang" not in text(page)  # (the field holds the login name)
    opened = [line for line in timeline(page) if "輪到「維修」" in line]
    assert opened and "指派給 張師傅" in opened[0]
    no_id_or_english(opened[0].split(" ", 1)[1])  # (after the time)


def test_the_supervisor_hands_the_task_on_from_the_instance_page(site):
    iid, fix = at_repair(site.engine)
    before = site.as_("li").get(f"/instances/{iid}")
    assert before.status_code == 200
    shown = text(before.text)
    assert "指派給 張師傅" in shown and "@" not in shown
    forms = assign_forms(before.text)
    assert len(forms) == 1 and f'action="/tasks/{fix}/assign"' in forms[0]
    form = text(forms[0])
    assert "改派給" in form and "說明" in form and "改派" in form
    assert "王師傅" in form and "林組長" in form and "張師傅" not in form  # (the current one is left out)
    assert "艾文員" not in form and "李主管" not in form  # (not of 工程部)
    no_id_or_english(form)
    options = re.findall(r'<option value="([^"]*)"', forms[0])
    assert set(options) == {"", "wang", "lin"}

    # nobody else sees the form: the assignee, another of the role, the clerk
    for name in ("zhang", "wang", "amy"):
        assert assign_forms(site.as_(name).get(f"/instances/{iid}").text) == [], name

    resp = site.post_form("li", f"/tasks/{fix}/assign", {"to": "wang", "comment": "張師傅請假"}, f"/instances/{iid}")
    assert resp.status_code == 303 and resp.headers["location"] == f"/instances/{iid}"
    after = site.as_("li").get(f"/instances/{iid}").text
    assert "指派給 王師傅" in text(after) and "@" not in text(after)
    line = next(h for h in timeline(after) if "改派給" in h)
    assert "李主管 將任務「維修」改派給 王師傅（原：張師傅） 張師傅請假" in line
    no_id_or_english(line.split(" ", 2)[2])
    assert site.engine.show(iid)["tasks"][0]["assignee"] == "wang"

    # the new assignee has it, the old one no longer
    row = inbox_row(site.as_("wang").get("/").text, fix)
    assert row and "指派給您" in row
    assert inbox_row(site.as_("zhang").get("/").text, fix) is None
    # and the task page shows the supervisor the form too, now without 王師傅
    task = site.as_("li").get(f"/tasks/{fix}").text
    assert "指派給：王師傅" in text(task)
    (form,) = assign_forms(task)
    assert "張師傅" in text(form) and "王師傅" not in text(form)

    # handed on from the task page as well: to who did the visit, without a note
    resp = site.post_form("li", f"/tasks/{fix}/assign", {"to": "lin"}, f"/tasks/{fix}")
    assert resp.status_code == 303
    assert any("改派給 林組長（原：王師傅）" in h for h in timeline(site.as_("li").get(f"/instances/{iid}").text))
    # the one who has it now finishes it, and the check goes to him (`assign: {step: fix}`)
    site.engine.complete(fix, "lin", None, {}, None)
    check = next(t for t in site.engine.show(iid)["tasks"] if t["step"] == "check")
    assert check["assignee"] == "lin"
    assert "指派給您" in (inbox_row(site.as_("lin").get("/").text, check["id"]) or "")


def test_someone_who_may_not_hand_it_on_is_refused_and_nothing_changes(site):
    iid, fix = at_repair(site.engine)
    for name, to in (("wang", "wang"), ("zhang", "lin"), ("amy", "wang")):
        resp = site.post_form(name, f"/tasks/{fix}/assign", {"to": to}, "/")
        assert resp.status_code == 403, (name, resp.text)
        shown = text(resp.text)
        assert "你不能改派任務「維修」（可改派：經理）" in shown and "Forbidden" not in resp.text
        assert "@" not in shown
    view = site.engine.show(iid)
    assert view["tasks"][0]["assignee"] == "zhang"
    assert not [e for e in view["history"] if e["type"] == "task_assigned"]


def test_a_person_not_on_the_list_is_refused_in_words(site):
    iid, fix = at_repair(site.engine)
    not_listed = "所選的人員不在可接手的名單中"
    for to, message, status in (("nobody", not_listed, 422), ("amy", not_listed, 422), ("", "請選擇接手的人員", 422),
                                ("zhang", "任務「維修」已經指派給「張師傅」", 409)):
        resp = site.post_form("li", f"/tasks/{fix}/assign", {"to": to, "comment": "試試"}, f"/instances/{iid}")
        assert resp.status_code == status, (to, resp.text)
        (form,) = assign_forms(resp.text)
        errors = re.findall(r'<p class="field-error" role="alert">([^<]*)</p>', form)
        assert [e for e in errors if message in e], (to, errors)
        no_id_or_english(text(form))
        assert Page(form).value("comment") == "試試"  # what was typed is kept
        assert "指派給：張師傅" in text(resp.text)
    assert site.engine.show(iid)["tasks"][0]["assignee"] == "zhang"


def test_a_task_already_done_cannot_be_handed_on(site):
    iid, fix = at_repair(site.engine)
    page = site.as_("li").get(f"/instances/{iid}")
    token = Page(page.text).csrf()
    site.engine.complete(fix, "zhang", None, {}, None)
    resp = site.as_("li").post(f"/tasks/{fix}/assign", data={"to": "wang", "csrf": token})
    assert resp.status_code == 409
    assert "這項任務已經完成或已取消，不能再改派" in text(resp.text)
    assert "張師傅" in text(resp.text) and "@" not in text(resp.text)  # the closed task says who had it


def test_a_reassignment_without_the_sessions_token_is_refused(site):
    iid, fix = at_repair(site.engine)
    client = site.as_("li")
    for data in ({"to": "wang"}, {"to": "wang", "csrf": ""}, {"to": "wang", "csrf": "forged-token"}):
        resp = client.post(f"/tasks/{fix}/assign", data=data)
        assert resp.status_code == 403 and "表單已過期或來源不明（CSRF）" in resp.text
    assert site.engine.show(iid)["tasks"][0]["assignee"] == "zhang"


# --- in chromium, at 390 px ------------------------------------------------------------------------------------

def test_the_supervisor_hands_it_on_from_a_phone(tmp_path):
    from . import browser_gate

    browser_gate.require(module=False)
    from playwright.sync_api import expect, sync_playwright

    from . import browser_support
    from .browser_support import PHONE, LiveServer, Staff, launch

    defs = make_defs(tmp_path / "defs")
    with mock.patch.dict(browser_support.USERS, {k: v for k, v in STAFF.items()}, clear=True):
        server = LiveServer(tmp_path / "goldkey.db", defs)
    engine = Engine(tmp_path / "goldkey.db", server.registry)
    try:
        iid, fix = at_repair(engine)
    finally:
        engine.close()
    server.start()
    try:
        with sync_playwright() as playwright:
            browser = launch(playwright)
            try:
                context = browser.new_context(viewport=PHONE, locale="zh-CN", timezone_id="Asia/Shanghai")
                context.set_default_timeout(10_000)
                s = Staff(context.new_page(), server.url)
                s.login("li")
                s.goto(f"/instances/{iid}")
                page = s.page
                form = page.locator(f"form[action='/tasks/{fix}/assign']")
                expect(form).to_be_visible()
                select, button = form.locator("select[name='to']"), form.get_by_role("button", name="改派")
                comment = form.locator("input[name='comment']")
                for control in (select, comment, button):
                    box = control.bounding_box()
                    assert box and box["height"] >= 44, box
                    assert box["x"] >= 0 and box["x"] + box["width"] <= PHONE["width"], box
                assert s.scroll_width() <= PHONE["width"] + 1, "the instance page scrolls sideways at 390 px"
                s.screenshot(tmp_path, "phone-reassign")
                select.select_option(label="王師傅")
                comment.fill("張師傅請假")
                with page.expect_response(lambda r: r.request.method == "POST"):
                    button.click()
                expect(page).to_have_url(f"{server.url}/instances/{iid}")
                main = page.locator("main")
                expect(main.locator("ul.tasks")).to_contain_text("指派給 王師傅")
                expect(main.locator("ol.timeline")).to_contain_text("將任務「維修」改派給 王師傅（原：張師傅）")
                assert not s.errors, s.errors
                context.close()
            finally:
                browser.close()
    finally:
        server.stop()


def test_the_start_form_offers_the_staff_of_the_person_fields_roles_by_name(site):
    page = site.as_("amy").get("/start/routed").text
    select = re.search(r'<select id="[^"]*technician[^"]*" name="f\.technician">(.*?)</select>', page, flags=re.S)
    assert select, "no choice of staff for 維修人員"
    options = re.findall(r'<option value="([^"]*)"[^>]*>([^<]*)</option>', select.group(1))
    engineers = sorted((name, title) for name, (roles, title) in STAFF.items() if "eng" in roles)
    assert sorted(o for o in options if o[0]) == engineers  # names shown, logins sent; none but 工程部
