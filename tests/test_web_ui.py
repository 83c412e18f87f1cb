"""The server-rendered UI over HTTP (Starlette's TestClient on the real app and a real SQLite file): login and its
limits, CSRF, the inbox, start forms with errors beside their fields, task pages (forms, approvals, checklists,
prints), access control, escaping, printouts, conflicts."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from urllib.parse import urlencode

import pytest
from starlette.datastructures import FormData
from starlette.testclient import TestClient

from engine import definitions
from server import forms_html
from server.app import create_app

from .conftest import REPO, Clock, add_units

PASSWORD = "secret-pass"
SLIP = {"f.owner": "李先生", "f.unit": "3-1201", "f.phone": "13800000000", "f.category": "訂票",
        "f.request": "訂兩張火車票\n靠窗", "f.nature": "有償", "f.prepaid": "500"}
RENOVATION = {"applicant_type": "業主", "applicant": "張先生", "unit": "5-302", "phone": "13900000000",
              "contractor": "安居裝修", "contractor_contact": "劉師傅", "contractor_phone": "13700000000",
              "scope": "廚房翻新", "plan": "先拆後裝", "structural_change": False, "hot_work": False, "workers": 4,
              "start_date": "2026-11-10", "end_date": "2026-11-30", "deposit": "3000"}


@pytest.fixture(scope="module")
def registry():
    return definitions.load_strict(REPO)


class Page(HTMLParser):
    """A parsed page: each `<div class="field" data-field=...>` with its inputs and errors, form errors, links."""

    def __init__(self, html: str) -> None:
        super().__init__(convert_charrefs=True)
        self.html = html
        self.fields: dict[str, dict] = {}
        self.form_errors: list[str] = []
        self.links: list[str] = []
        self.inputs: list[dict] = []
        self._stack: list[tuple[str, str | None, str | None]] = []  # (tag, field, capture)
        self._select: dict | None = None
        self._text: list[str] = []
        self.feed(html)

    def _field(self) -> str | None:
        return next((f for _, f, _ in reversed(self._stack) if f), None)

    def _capture(self) -> str | None:
        return next((c for _, _, c in reversed(self._stack) if c), None)

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        classes = (a.get("class") or "").split()
        if tag == "a" and a.get("href"):
            self.links.append(a["href"])
        field = a.get("data-field") if tag == "div" and "field" in classes else None
        if field:
            self.fields[field] = {"errors": [], "inputs": [], "class": classes, "attrs": a}
        capture = "field-error" if "field-error" in classes else "form-error" if "form-error" in classes else None
        if capture == "form-error":
            self.form_errors.append("")
        if tag in ("input", "select", "textarea"):
            entry = dict(a, tag=tag, field=self._field(), value=a.get("value", ""))
            self.inputs.append(entry)
            if self._field():
                self.fields[self._field()]["inputs"].append(entry)
            if tag == "select":
                self._select = entry
                entry["value"] = ""
            if tag == "textarea":
                entry["value"] = ""
                self._stack.append((tag, None, "textarea"))
            return
        if tag == "option" and self._select is not None and "selected" in a:
            self._select["value"] = a.get("value", "")
        if tag in ("br", "img", "meta", "link", "hr"):
            return
        self._stack.append((tag, field, capture))

    def handle_endtag(self, tag):
        if tag == "select":
            self._select = None
        while self._stack:
            t, _, _ = self._stack.pop()
            if t == tag:
                break

    def handle_data(self, data):
        capture = self._capture()
        if capture == "textarea":
            self.inputs[-1]["value"] += data
        elif capture == "field-error" and self._field():
            self.fields[self._field()]["errors"].append(data.strip())
        elif capture == "form-error":
            self.form_errors[-1] += data

    def value(self, name: str) -> str | list[str] | None:
        found = [i for i in self.inputs if i.get("name") == name]
        if not found:
            return None
        if found[0].get("type") in ("radio", "checkbox"):
            checked = [i["value"] for i in found if "checked" in i]
            return checked if found[0].get("type") == "checkbox" else (checked[0] if checked else "")
        return found[0]["value"]

    def csrf(self) -> str:
        return next(i["value"] for i in self.inputs if i.get("name") == "csrf")


class Site:
    """The app on a temporary database, its clock, and one signed-in browser per user."""

    def __init__(self, app, clock: Clock) -> None:
        self.app, self.clock, self.engine = app, clock, app.state.engine
        self.browsers: dict[str, TestClient] = {}

    def user(self, name: str, roles: list[str], title: str | None = None) -> None:
        self.engine.add_user(name, roles, title or name.upper())
        self.engine.set_password(name, PASSWORD)

    def browser(self) -> TestClient:
        return TestClient(self.app, raise_server_exceptions=False, follow_redirects=False)

    def login(self, name: str) -> TestClient:
        client = self.browser()
        page = Page(client.get("/login").text)
        resp = client.post("/login", data={"name": name, "password": PASSWORD, "csrf": page.csrf()})
        assert resp.status_code == 303, resp.text
        self.browsers[name] = client
        return client

    def as_(self, name: str) -> TestClient:
        return self.browsers.get(name) or self.login(name)

    def post_form(self, name: str, path: str, data: dict, page_path: str | None = None):
        """Open the page (as a browser would), then post `data` with its CSRF token."""
        client = self.as_(name)
        page = client.get(page_path or path)
        assert page.status_code == 200, page.text
        return client.post(path, data=dict(data, csrf=Page(page.text).csrf()))

    def print_at(self, name: str, task: str):
        """Press the task page's 下載《…》 button, as staff do before confirming a print task: its form posted (with
        the page's CSRF token) to the printout; the .docx."""
        client = self.as_(name)
        page = client.get(f"/tasks/{task}")
        assert page.status_code == 200, page.text
        link = re.search(r'formaction="(/instances/\d+/printouts/\w+)"', page.text)
        assert link, "the task page has no printout to download"
        doc = client.post(link.group(1), data={"csrf": Page(page.text).csrf()})
        assert doc.status_code == 200 and doc.content[:2] == b"PK", doc.text
        return doc

    def print_and_confirm(self, name: str, task: str, data: dict | None = None):
        """Print a print task's paper from its page, then confirm it as handed over."""
        self.print_at(name, task)
        return self.post_form(name, f"/tasks/{task}", data or {})

    def start_slip(self, name: str = "wang", **changes) -> int:
        resp = self.post_form(name, "/start/golden_key_service", dict(SLIP, **changes))
        assert resp.status_code == 303, resp.text
        return int(resp.headers["location"].rsplit("/", 1)[1])

    def task(self, iid: int, step: str) -> str:
        ids = [t["id"] for t in self.engine.show(iid)["tasks"] if t["step"] == step]
        assert ids, f"no open task at {step}"
        return ids[0]


@pytest.fixture
def site(new_db, tmp_path, registry):
    clock = Clock()
    add_units(new_db("ui.db"))
    app = create_app(new_db("ui.db"), registry, tick_seconds=0, clock=clock)
    with TestClient(app):  # runs the lifespan once; every browser below shares the app
        s = Site(app, clock)
        s.user("wang", ["concierge"], "王小明")
        s.user("zhou", ["concierge"], "周小美")
        s.user("mop", ["cleaning"], "清潔阿姨")
        s.user("boss", ["manager"], "陳經理")
        yield s


# --- signing in --------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("path", ["/", "/start", "/start/golden_key_service", "/tasks/1-2", "/instances/1",
                                  "/registers", "/admin", "/?workflow=x"])
def test_every_page_sends_a_stranger_to_login_and_back(site, path):
    resp = site.browser().get(path)
    assert resp.status_code == 303
    assert resp.headers["location"] == "/login?" + urlencode({"next": path})


def test_login_goes_to_next_and_only_to_a_local_one(site):
    client = site.browser()
    page = Page(client.get("/login?next=/start").text)
    assert page.value("next") == "/start" and page.value("name") == "" and page.value("password") == ""
    resp = client.post("/login", data={"name": "wang", "password": PASSWORD, "csrf": page.csrf(), "next": "/start"})
    assert resp.status_code == 303 and resp.headers["location"] == "/start"
    for evil in ("//evil.example/x", "https://evil.example/", "/\\evil.example"):
        other = site.browser()
        page = Page(other.get("/login").text)
        resp = other.post("/login", data={"name": "wang", "password": PASSWORD, "csrf": page.csrf(), "next": evil})
        assert resp.headers["location"] == "/"


def test_wrong_password_shows_the_message_and_keeps_the_name(site):
    client = site.browser()
    page = Page(client.get("/login").text)
    resp = client.post("/login", data={"name": "wang", "password": "nope-nope", "csrf": page.csrf()})
    assert resp.status_code == 401 and "帳號或密碼不正確" in resp.text
    again = Page(resp.text)
    assert again.value("name") == "wang" and again.value("password") == ""
    assert client.get("/").status_code == 303  # not signed in
    unknown = client.post("/login", data={"name": "nobody", "password": PASSWORD, "csrf": again.csrf()})
    assert unknown.status_code == 401 and "帳號或密碼不正確" in unknown.text


def test_five_failures_block_that_name_from_that_address(site):
    client = site.browser()
    token = Page(client.get("/login").text).csrf()
    for _ in range(5):
        resp = client.post("/login", data={"name": "wang", "password": "wrong-pass", "csrf": token})
        assert resp.status_code == 401
    blocked = client.post("/login", data={"name": "wang", "password": PASSWORD, "csrf": token})
    assert blocked.status_code == 429 and "嘗試太多次，請稍後再試" in blocked.text
    assert client.get("/").status_code == 303  # the right password did not sign in while blocked
    other = client.post("/login", data={"name": "zhou", "password": PASSWORD, "csrf": token})
    assert other.status_code == 303  # another name is not blocked


def test_login_and_logout(site):
    client = site.login("wang")
    inbox = client.get("/")
    assert inbox.status_code == 200 and "王小明" in inbox.text and "我的待辦" in inbox.text
    nav = Page(inbox.text).links
    assert {"/", "/start", "/registers"} <= set(nav) and "/admin" not in nav
    assert 'name="viewport"' in inbox.text and 'lang="zh-Hant"' in inbox.text
    refused = client.post("/logout", data={})
    assert refused.status_code == 403 and client.get("/").status_code == 200  # no token: still signed in
    out = client.post("/logout", data={"csrf": Page(inbox.text).csrf()})
    assert out.status_code == 303 and out.headers["location"] == "/login"
    assert client.get("/").status_code == 303


def test_only_a_manager_sees_and_opens_admin(site):
    assert site.as_("wang").get("/admin").status_code == 403
    page = site.as_("boss").get("/")
    assert "/admin" in Page(page.text).links
    admin = site.as_("boss").get("/admin")
    assert admin.status_code == 200 and "王小明" in admin.text and "樓宇管家" in admin.text


# --- CSRF ---------------------------------------------------------------------------------------------------------

def test_posts_without_the_sessions_token_are_refused_and_change_nothing(site):
    client = site.login("wang")
    for token in (None, "", "forged-token"):
        data = dict(SLIP, **({"csrf": token} if token is not None else {}))
        resp = client.post("/start/golden_key_service", data=data)
        assert resp.status_code == 403 and "表單已過期或來源不明（CSRF）" in resp.text
    assert site.engine.store.conn.execute("SELECT count(*) FROM instances").fetchone() == (0,)
    iid = site.start_slip()
    task = site.task(iid, "issue_slip")
    assert client.post(f"/tasks/{task}", data={"csrf": "forged-token"}).status_code == 403
    assert site.task(iid, "issue_slip") == task  # still open
    other = site.browser()  # a token from another session does not work either
    foreign = Page(other.get("/login").text).csrf()
    assert client.post(f"/tasks/{task}", data={"csrf": foreign}).status_code == 403
    login = site.browser()
    login.get("/login")
    assert login.post("/login", data={"name": "wang", "password": PASSWORD}).status_code == 403


# --- the inbox ----------------------------------------------------------------------------------------------------

def test_inbox_lists_overdue_tasks_first_with_local_due_times(site):
    first = site.start_slip()
    site.print_and_confirm("wang", site.task(first, "issue_slip"))  # -> plan, due in 2h (11:30 local)
    site.clock.advance(hours=1)
    second = site.start_slip()
    site.print_and_confirm("wang", site.task(second, "issue_slip"))  # -> plan, due 12:30 local
    third = site.start_slip(**{"f.owner": "第三位"})  # its print task has no due time
    site.clock.advance(hours=1, minutes=30)  # 12:00 local: the first plan is late
    html = site.as_("wang").get("/").text
    rows = re.findall(r'<li class="task( overdue)?">\s*<a href="/tasks/([^"]+)"', html)
    assert rows == [(" overdue", site.task(first, "plan")), ("", site.task(second, "plan")),
                    ("", site.task(third, "issue_slip"))]
    late = html.split('<li class="task overdue">')[1].split("</li>")[0]
    assert "逾期" in late and "11月02日 11:30" in late and "安排服務方式及費用預算" in late and "金鑰匙服務" in late
    assert site.engine.show(first)["number"] in late
    assert "共 <strong>3</strong> 項" in html and "逾期 <strong>1</strong> 項" in html
    assert "逾期" not in html.split('<li class="task overdue">')[1].split("</li>", 1)[1].split("</ul>")[0]


def test_inbox_filters_by_workflow_and_shows_notifications(site):
    site.start_slip()
    site.engine.start("repair_order", "wang", {
        "source": "業主報修", "reporter": "李", "phone": "13800000000", "unit": "1棟 101", "location": "廚房",
        "description": "漏水", "someone_home": True, "emergency": False})
    fire = site.post_form("wang", "/start/fire_emergency", {
        "f.location": "3棟大堂", "f.discovered_at": "2026-11-02T09:20", "f.reported_by": "王小明"})
    assert fire.status_code == 303
    site.user("guard", ["security"], "保安甲")
    guard = site.as_("guard")
    assert len(re.findall(r'href="/tasks/', guard.get("/").text)) == 1
    site.clock.advance(minutes=16)
    site.engine.tick()  # the fire is not verified within 15 minutes: reminders and an escalation
    html = site.as_("boss").get("/").text
    assert "火警報告15分鐘內未核實" in html  # the manager's notification (and the escalated task)
    wang = site.as_("wang")
    everything = wang.get("/").text
    assert "/?workflow=golden_key_service" in Page(everything).links and "/?workflow=repair_order" in Page(
        everything).links
    assert len(re.findall(r'<li class="task', everything)) == 2
    only = wang.get("/?workflow=golden_key_service").text
    assert len(re.findall(r'<li class="task', only)) == 1 and "金鑰匙服務" in only
    assert len(re.findall(r'<li class="task', wang.get("/?workflow=nothing").text)) == 0


# --- starting -----------------------------------------------------------------------------------------------------

def test_the_catalogue_offers_only_what_the_users_roles_may_start(site):
    html = site.as_("wang").get("/start").text
    links = set(Page(html).links)
    assert "/start/golden_key_service" in links and "/start/renovation" not in links
    assert "<h2>金鑰匙服務</h2>" in html and "<h2>突發事件</h2>" in html  # grouped by area
    assert site.as_("mop").get("/start/golden_key_service").status_code == 403
    assert site.as_("wang").get("/start/no_such_thing").status_code == 404


def test_start_form_fields_follow_the_schema_and_hints(site):
    page = Page(site.as_("wang").get("/start/golden_key_service").text)
    assert list(page.fields) == ["owner", "unit", "phone", "category", "request", "nature", "prepaid",
                                 "owner_signature"]
    kinds = {name: [(i["tag"], i.get("type")) for i in f["inputs"]] for name, f in page.fields.items()}
    assert kinds["owner"] == [("input", "text")] and kinds["request"] == [("textarea", None)]
    assert kinds["owner_signature"] == [("input", "hidden")]  # (the pad draws; the field holds its picture's id)
    assert kinds["category"] == [("select", None)] and kinds["nature"] == [("input", "radio")] * 2
    prepaid = page.fields["prepaid"]
    assert prepaid["inputs"][0]["inputmode"] == "decimal" and prepaid["attrs"]["data-show-when"] == "nature == '有償'"
    assert all(i["name"] == f"f.{name}" for name, f in page.fields.items() for i in f["inputs"])
    html = site.as_("wang").get("/start/golden_key_service").text
    assert html.count('class="req"') == 6  # the required fields; the prepayment is not


def test_a_missing_field_is_shown_beside_it_with_everything_typed_kept_then_fixed(site):
    typed = dict(SLIP, **{"f.owner": "李先生 <b>VIP</b>", "f.phone": ""})
    resp = site.post_form("wang", "/start/golden_key_service", typed)
    assert resp.status_code == 422
    page = Page(resp.text)
    assert page.fields["phone"]["errors"] == ["「聯繫電話」為必填"] and "has-error" in page.fields["phone"]["class"]
    assert all(not f["errors"] for name, f in page.fields.items() if name != "phone")
    assert page.form_errors and "聯繫電話" in page.form_errors[0]
    for name, value in typed.items():
        assert page.value(name) == value, name
    assert "<b>VIP</b>" not in resp.text and "&lt;b&gt;VIP&lt;/b&gt;" in resp.text
    assert site.engine.store.conn.execute("SELECT count(*) FROM instances").fetchone() == (0,)
    fixed = site.as_("wang").post("/start/golden_key_service", data=dict(typed, **{"f.phone": "13800000000",
                                                                                    "csrf": page.csrf()}))
    assert fixed.status_code == 303 and re.fullmatch(r"/instances/\d+", fixed.headers["location"])
    view = site.engine.show(int(fixed.headers["location"].rsplit("/", 1)[1]))
    assert view["data"]["phone"] == "13800000000" and view["data"]["prepaid"] == "500.00"
    assert view["data"]["request"] == "訂兩張火車票\n靠窗" and view["started_by"] == "wang"


def test_a_rule_error_lands_on_its_field(site):
    resp = site.post_form("wang", "/start/golden_key_service", dict(SLIP, **{"f.prepaid": "0"}))
    assert resp.status_code == 422
    assert Page(resp.text).fields["prepaid"]["errors"] == ["有償服務須登記業主預付金額"]
    bad = site.post_form("wang", "/start/golden_key_service", dict(SLIP, **{"f.prepaid": "12.345"}))
    assert bad.status_code == 422 and Page(bad.text).value("f.prepaid") == "12.345"
    assert "金額" in Page(bad.text).fields["prepaid"]["errors"][0]


def test_date_times_are_sent_in_site_time_and_shown_back_in_it(site):
    resp = site.post_form("wang", "/start/fire_emergency", {
        "f.location": "3棟大堂", "f.discovered_at": "2026-11-02T09:20", "f.reported_by": "王小明",
        "f.description": ""})
    assert resp.status_code == 303
    view = site.engine.show(int(resp.headers["location"].rsplit("/", 1)[1]))
    assert view["data"]["discovered_at"] == "2026-11-02T09:20:00+08:00" and "description" not in view["data"]
    html = site.as_("wang").get(resp.headers["location"]).text
    assert "11月02日 09:20" in html and "發現時間" in html
    wrong = site.post_form("wang", "/start/fire_emergency", {
        "f.location": "3棟", "f.discovered_at": "yesterday", "f.reported_by": "王"})
    assert wrong.status_code == 422 and Page(wrong.text).fields["discovered_at"]["errors"]
    assert Page(wrong.text).value("f.discovered_at") == "yesterday"


# --- tasks --------------------------------------------------------------------------------------------------------

def test_a_print_task_links_its_printout_and_a_form_task_takes_checkboxes_and_money(site):
    iid = site.start_slip()
    task = site.task(iid, "issue_slip")
    page = site.as_("wang").get(f"/tasks/{task}")
    assert page.status_code == 200 and f'formaction="/instances/{iid}/printouts/slip"' in page.text
    assert site.print_and_confirm("wang", task).headers["location"] == f"/instances/{iid}"
    plan = site.task(iid, "plan")
    page = Page(site.as_("wang").get(f"/tasks/{plan}").text)
    assert list(page.fields)[:4] == ["route", "estimate", "departments", "partner"]
    assert [i["value"] for i in page.fields["departments"]["inputs"]] == ["工程部", "保安部", "保潔部", "客服部"]
    resp = site.as_("wang").post(f"/tasks/{plan}", data={
        "csrf": page.csrf(), "f.route": "客服中心協調各部門", "f.estimate": "120.5",
        "f.departments": ["工程部", "保潔部"], "f.partner": ""})
    assert resp.status_code == 303
    data = site.engine.show(iid)["data"]
    assert data["departments"] == ["工程部", "保潔部"] and data["estimate"] == "120.50" and "partner" not in data


def completed_at(site, iid: int, step: str) -> dict:
    return next(e["payload"] for e in site.engine.show(iid)["history"]
                if e["type"] == "task_completed" and e["step"] == step)


def test_a_print_task_is_confirmed_once_printed_or_with_the_reason_it_was_not(site):
    iid = site.start_slip()
    task = site.task(iid, "issue_slip")
    page = Page(site.as_("wang").get(f"/tasks/{task}").text)
    assert "尚未列印：請先下載列印《金鑰匙服務單》，再確認已列印交付" in page.html and "已列印（" not in page.html
    assert "未列印原因" in page.html and page.fields["comment"]["inputs"][0]["tag"] == "textarea"
    before = site.engine.show(iid)["history"]
    # confirmed without printing and without a reason: refused on the page, in the engine's words; nothing changed
    refused = site.post_form("wang", f"/tasks/{task}", {"comment": "  "})
    assert refused.status_code == 422
    shown = Page(refused.text)
    assert "《金鑰匙服務單》尚未列印：請先列印，或寫明未列印的原因" in shown.form_errors[0]
    assert shown.fields["comment"]["errors"] == ["尚未列印：請寫明未列印的原因"]
    assert f'formaction="/instances/{iid}/printouts/slip"' in refused.text  # (the paper can still be printed)
    assert site.engine.show(iid)["history"] == before and site.task(iid, "issue_slip") == task
    # with the reason it was not printed: done, and the timeline says why
    done = site.post_form("wang", f"/tasks/{task}", {"comment": "業主拒收"})
    assert done.status_code == 303 and done.headers["location"] == f"/instances/{iid}"
    payload = completed_at(site, iid, "issue_slip")
    assert (payload["printed"], payload["comment"]) == (False, "業主拒收")
    assert "未列印原因：業主拒收" in site.as_("wang").get(f"/instances/{iid}").text
    assert [t["step"] for t in site.engine.show(iid)["tasks"]] == ["plan"]


def test_a_print_task_printed_from_its_page_says_so_and_is_confirmed(site):
    iid = site.start_slip()
    task = site.task(iid, "issue_slip")
    code = site.print_at("wang", task).headers["x-goldkey-code"]
    html = site.as_("wang").get(f"/tasks/{task}").text
    assert f"已列印（第 1 次，驗證碼 {code}）" in html and "尚未列印" not in html and "未列印原因" not in html
    assert "再印一份《金鑰匙服務單》（副本）" in html  # (a second print is a copy)
    done = site.post_form("wang", f"/tasks/{task}", {})
    assert done.status_code == 303
    payload = completed_at(site, iid, "issue_slip")
    assert (payload["printed"], payload["comment"]) == (True, None)
    assert "未列印原因" not in site.as_("wang").get(f"/instances/{iid}").text


def test_approve_with_a_comment_redirects_and_is_in_the_timeline(site, registry):
    site.user("ast", ["assistant"], "物業助理甲")
    site.user("eng", ["engineering_lead"], "工程部主管")
    iid = site.engine.start("renovation", "ast", RENOVATION)["id"]
    check = site.task(iid, "check_documents")
    page = Page(site.as_("ast").get(f"/tasks/{check}").text)
    assert [i["value"] for i in page.inputs if i.get("name") == "checked"] == [
        "id_copies", "contractor_licences", "floor_plan", "utility_plan", "structure_plan"]
    part = site.as_("ast").post(f"/tasks/{check}", data={"csrf": page.csrf(), "checked": ["id_copies"]})
    assert part.status_code == 303
    again = Page(site.as_("ast").get(f"/tasks/{check}").text)
    ticked = [i for i in again.inputs if i.get("name") == "checked" and i["value"] == "id_copies"][0]
    assert "checked" in ticked and "disabled" in ticked
    assert "物業助理甲" in site.as_("ast").get(f"/tasks/{check}").text
    site.as_("ast").post(f"/tasks/{check}", data={"csrf": again.csrf(), "checked": [
        "contractor_licences", "floor_plan", "utility_plan"]})
    assert site.print_and_confirm("ast", site.task(iid, "print_application")).status_code == 303
    review = site.task(iid, "engineering_review")
    assert site.as_("ast").get(f"/tasks/{review}").status_code == 200  # a viewer: read-only
    assert 'name="outcome"' not in site.as_("ast").get(f"/tasks/{review}").text
    html = site.as_("eng").get(f"/tasks/{review}").text
    buttons = [(i["value"], i.get("type")) for i in Page(html).inputs if i.get("name") == "outcome"]
    assert buttons == []  # outcomes are buttons, not inputs
    assert re.findall(r'<button type="submit" name="outcome" value="(\w+)"[^>]*>([^<]+)</button>', html) == [
        ("approve", "同意"), ("rework", "退回修改"), ("reject", "不同意")]
    assert '<textarea id="comment" name="comment"' in html
    no_reason = site.post_form("eng", f"/tasks/{review}", {"outcome": "reject", "f.review_opinion": "不行"})
    assert no_reason.status_code == 422 and Page(no_reason.text).fields["comment"]["errors"]
    assert Page(no_reason.text).value("f.review_opinion") == "不行"
    done = site.post_form("eng", f"/tasks/{review}", {"outcome": "approve", "comment": "方案可行，注意防水",
                                                      "f.review_opinion": "同意施工"})
    assert done.status_code == 303 and done.headers["location"] == f"/instances/{iid}"
    view = site.engine.show(iid)
    assert [t["step"] for t in view["tasks"]] == ["supervisor_sign"] and view["data"]["review_opinion"] == "同意施工"
    timeline = site.as_("eng").get(f"/instances/{iid}").text
    assert "方案可行，注意防水" in timeline and "同意" in timeline and "工程部主管" in timeline
    closed = site.as_("eng").get(f"/tasks/{review}")
    assert closed.status_code == 200 and "此任務已完成" in closed.text and 'name="outcome"' not in closed.text


def test_someone_without_the_role_gets_403_and_cannot_post(site):
    iid = site.start_slip()
    task = site.task(iid, "issue_slip")
    mop = site.as_("mop")
    page = mop.get(f"/tasks/{task}")
    assert page.status_code == 403 and 'name="csrf" value' not in page.text.split("</header>")[1]
    token = Page(mop.get("/").text).csrf()
    resp = mop.post(f"/tasks/{task}", data={"csrf": token})
    assert resp.status_code == 403
    assert site.task(iid, "issue_slip") == task
    assert mop.get(f"/instances/{iid}").status_code == 403
    assert mop.post(f"/instances/{iid}/printouts/slip", data={"csrf": token}).status_code == 403
    assert f"/tasks/{task}" not in mop.get("/").text
    assert site.as_("wang").get("/tasks/999-1").status_code == 404
    assert site.as_("wang").get("/tasks/nonsense").status_code == 404


def test_typed_markup_is_escaped_on_the_instance_page_and_the_inbox(site):
    iid = site.start_slip(**{"f.owner": "<script>alert(1)</script>", "f.unit": '"><img src=x onerror=alert(2)>'})
    for path in (f"/instances/{iid}", "/", f"/tasks/{site.task(iid, 'issue_slip')}", "/registers/golden_key_slip"):
        html = site.as_("wang").get(path).text
        assert "&lt;script&gt;" in html, path
        assert "<script>alert" not in html and "<img src=x" not in html, path


def test_the_printout_link_downloads_a_docx_and_verifies_publicly(site):
    iid = site.start_slip()
    html = site.as_("wang").get(f"/instances/{iid}").text
    assert f'action="/instances/{iid}/printouts/slip"' in html
    # printing is recorded (a second print is a copy): a link or a form on another site must not print
    assert site.as_("wang").get(f"/instances/{iid}/printouts/slip").status_code == 405
    assert site.as_("wang").post(f"/instances/{iid}/printouts/slip", data={}).status_code == 403
    assert site.engine.store.conn.execute("SELECT count(*) FROM prints").fetchone() == (0,)
    doc = site.post_form("wang", f"/instances/{iid}/printouts/slip", {}, page_path=f"/instances/{iid}")
    assert doc.status_code == 200 and doc.content[:2] == b"PK"
    assert doc.headers["content-type"].startswith("application/vnd.openxmlformats-officedocument")
    assert doc.headers["content-disposition"].startswith("attachment;") and ".docx" in doc.headers[
        "content-disposition"]
    code = doc.headers["x-goldkey-code"]
    verdict = site.browser().get(f"/verify/{code}")  # public
    assert verdict.status_code == 200 and "真實有效" in verdict.text and 'class="verdict good"' in verdict.text
    assert "李先生" not in verdict.text  # only what the paper shows
    bogus = site.browser().get("/verify/AAAA-BBBB-CC")
    assert bogus.status_code == 200 and 'class="verdict bad"' in bogus.text
    shown = site.as_("wang").get(f"/instances/{iid}").text
    assert "驗證碼 " + code in shown  # the print is in the timeline
    graph = re.search(r'<img src="([^"]+graph\.svg[^"]*)"', shown).group(1)
    assert site.as_("wang").get(graph.replace("&amp;", "&")).headers["content-type"].startswith("image/svg+xml")


def test_a_conflict_shows_the_engines_plain_message_and_keeps_what_was_typed(site):
    iid = site.start_slip()
    assert site.print_and_confirm("wang", site.task(iid, "issue_slip")).status_code == 303
    plan = site.task(iid, "plan")
    zhou_page = Page(site.as_("zhou").get(f"/tasks/{plan}").text)  # both open the task
    first = site.post_form("wang", f"/tasks/{plan}", {"f.route": "樓宇管家獨立完成", "f.estimate": "300"})
    assert first.status_code == 303
    late = site.as_("zhou").post(f"/tasks/{plan}", data={
        "csrf": zhou_page.csrf(), "f.route": "金鑰匙聯盟網絡", "f.estimate": "280", "f.partner": "某某旅行社",
        "comment": "我也處理了"})
    assert late.status_code == 409
    page = Page(late.text)
    assert page.form_errors and "已經完成" in page.form_errors[0]
    assert page.value("f.partner") == "某某旅行社" and page.value("f.estimate") == "280"
    assert page.value("comment") == "我也處理了"
    assert site.engine.show(iid)["data"]["route"] == "樓宇管家獨立完成"


# --- registers ----------------------------------------------------------------------------------------------------

def test_registers_list_the_records_of_a_form_and_hide_confidential_fields(site):
    site.start_slip()
    site.user("ast", ["assistant"])
    site.engine.start("renovation", "ast", RENOVATION)
    site.user("eng", ["engineering"])
    html = site.as_("wang").get("/registers/golden_key_slip").text
    assert "JYS-2026-00001" in html and "李先生" in html and "進行中" in html
    assert "/registers/renovation_application" not in site.as_("wang").get("/registers").text
    assert site.as_("wang").get("/registers/renovation_application").status_code == 403
    eng = site.as_("eng").get("/registers/renovation_application").text
    assert "ZX-2026-00001" in eng and "13900000000" in eng  # engineering may see the phone numbers
    assert site.as_("wang").get("/registers/nothing").status_code == 404


# --- the field contract without a browser -------------------------------------------------------------------------

def test_posted_fields_become_data_exactly(registry):
    tz = registry.site.tz
    schema = {"type": "object", "properties": {
        "n": {"type": "integer", "title": "N"}, "x": {"type": "number", "title": "X"},
        "m": {"type": "string", "format": "money", "title": "M"}, "b": {"type": "boolean", "title": "B"},
        "d": {"type": "string", "format": "date-time", "title": "D"},
        "tags": {"type": "array", "items": {"type": "string", "enum": ["a", "b", "c"]}},
        "rows": {"type": "array", "items": {"type": "object", "required": ["name"], "properties": {
            "name": {"type": "string", "title": "名稱"}, "qty": {"type": "number", "title": "數量"}}}},
        "gone": {"type": "string"}}}
    secs = forms_html.sections(schema, {"sections": [{"title": "S", "fields": ["m", "n"]}]},
                               ["n", "x", "m", "b", "d", "tags", "rows", "gone"], ["rows"])
    fields = forms_html.all_fields(secs)
    assert [f.name for f in fields] == ["m", "n", "x", "b", "d", "tags", "rows", "gone"]
    assert [f.control for f in fields] == ["money", "number", "number", "checkbox", "datetime", "checkboxes", "rows",
                                           "text"]
    posted = FormData([("f.n", "12"), ("f.x", "1.5"), ("f.m", " 1234.50 "), ("f.d", "2026-11-02T09:30"),
                       ("f.tags", "a"), ("f.tags", "c"), ("f.rows.0.name", "螺絲"), ("f.rows.0.qty", "3"),
                       ("f.rows.1.name", ""), ("f.rows.1.qty", ""), ("f.rows.7.name", "膠"), ("f.gone", "")])
    shown = forms_html.posted_values(fields, posted)
    data = forms_html.to_data(fields, shown, tz, before={"gone": "old"})
    assert data == {"n": 12, "x": forms_html.Decimal("1.5"), "m": "1234.50", "b": False,
                    "d": "2026-11-02T09:30:00+08:00", "tags": ["a", "c"],
                    "rows": [{"name": "螺絲", "qty": 3}, {"name": "膠"}], "gone": None}
    assert forms_html.to_data(fields, forms_html.posted_values(fields, FormData([("f.n", "abc")])), tz)["n"] == "abc"
    back = forms_html.shown_values(fields, {"d": "2026-11-02T01:30:00+00:00", "b": True, "tags": ["b"]}, tz)
    assert back["d"] == "2026-11-02T09:30" and back["b"] is True and back["tags"] == ["b"] and back["n"] == ""
    errors, other = forms_html.field_errors([{"field": "rows.0.name", "message": "缺"}, {"field": "", "message": "總"},
                                             {"field": "elsewhere", "message": "別處"}], [f.name for f in fields])
    assert errors == {"rows": ["缺"]} and other == ["總", "別處"]


def test_a_table_field_renders_three_blank_rows_named_by_index(site):
    site.user("tech", ["repair_tech"])
    page = site.as_("wang").get("/start/repair_order")
    assert page.status_code == 200
    inst = site.engine.start("repair_order", "wang", {
        "source": "業主報修", "reporter": "李", "phone": "13800000000", "unit": "1棟 101", "location": "廚房",
        "description": "漏水", "someone_home": True, "emergency": False})
    iid = inst["id"]
    site.user("foreman", ["repair_foreman"])
    site.engine.render(iid, "order", "wang")
    site.engine.complete(site.task(iid, "open_order"), "wang")
    site.engine.complete(site.task(iid, "assign"), "foreman", data={"technician": "小劉"})
    site.engine.complete(site.task(iid, "quote"), "tech", "agree", {"price": "0"})
    site.engine.complete(site.task(iid, "repair"), "tech", "fixed", {"work_done": "換墊片"})
    sign = site.task(iid, "sign_off")
    html = site.as_("tech").get(f"/tasks/{sign}").text
    names = [i["name"] for i in Page(html).inputs if i.get("name", "").startswith("f.materials.")]
    assert names == [f"f.materials.{i}.{sub}" for i in range(3) for sub in ("name", "quantity")]
    resp = site.post_form("tech", f"/tasks/{sign}", {
        "f.signed_by": "李", "f.hours": "1.5", "f.materials.0.name": "墊片", "f.materials.0.quantity": "2",
        "f.materials.2.name": "生料帶", "f.materials.2.quantity": "0.5"})
    assert resp.status_code == 303, resp.text
    data = site.engine.show(iid)["data"]
    assert data["materials"] == [{"name": "墊片", "quantity": 2}, {"name": "生料帶", "quantity": 0.5}]
    assert data["hours"] == 1.5
    shown = site.as_("tech").get(f"/instances/{iid}").text
    assert "墊片" in shown and "生料帶" in shown and "材料名稱" in shown


def test_error_pages_use_the_layout(site):
    resp = site.as_("wang").get("/no/such/page")
    assert resp.status_code == 404 and "找不到這個頁面" in resp.text and 'lang="zh-Hant"' in resp.text
    assert resp.headers["content-security-policy"].startswith("default-src 'self'")
    assert site.browser().get("/static/app.css").status_code == 200
    assert site.browser().get("/static/app.js").status_code == 200


def test_the_due_time_moves_with_the_clock(site):
    iid = site.start_slip()
    assert site.print_and_confirm("wang", site.task(iid, "issue_slip")).status_code == 303
    site.clock.advance(**{"hours": 3})
    html = site.as_("wang").get(f"/tasks/{site.task(iid, 'plan')}").text
    assert "逾期" in html and "11月02日 11:30" in html


# --- attachments (a definitions folder of its own: no shipped form has one yet) ---------------------------------

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


@pytest.fixture
def scans(new_db, tmp_path):
    defs = tmp_path / "defs"
    (defs / "forms").mkdir(parents=True)
    (defs / "workflows").mkdir()
    (defs / "goldkey.yaml").write_text("site: 測試管理處\nroles:\n  clerk: {title: 文員}\n", encoding="utf-8")
    (defs / "forms" / "scan.yaml").write_text(
        "id: scan\ntitle: 掃描件\nnumber: \"S-{year}-{seq:04}\"\nschema:\n  type: object\n  required: [subject, copy]\n"
        "  properties:\n    subject: {type: string, title: 主旨}\n"
        "    copy: {type: string, format: attachment, title: 身份證影本}\n"
        "ui:\n  fields:\n    copy: {widget: attachment, help: 拍照或PDF}\n", encoding="utf-8")
    (defs / "workflows" / "scan.yaml").write_text(
        "id: scan_in\ntitle: 收件\nform: scan\nstart: {roles: [clerk], fields: [subject, copy], next: check}\n"
        "steps:\n  check: {kind: form, roles: [clerk], fields: [copy], next: done}\n"
        "  done: {kind: end, outcome: done}\n", encoding="utf-8")
    app = create_app(new_db("scan.db"), definitions.load_strict(defs), tick_seconds=0, clock=Clock())
    with TestClient(app):
        s = Site(app, Clock())
        s.user("clerk1", ["clerk"])
        yield s


def test_an_attachment_field_uploads_a_file_and_keeps_it_through_errors(scans):
    client = scans.as_("clerk1")
    html = client.get("/start/scan_in").text
    assert 'enctype="multipart/form-data"' in html
    page = Page(html)
    assert page.fields["copy"]["inputs"][0]["type"] == "file" and page.fields["copy"]["inputs"][0]["name"] == "f.copy"
    missing = client.post("/start/scan_in", data={"csrf": page.csrf(), "f.subject": ""},
                          files={"f.copy": ("id card.png", PNG, "image/png")})
    assert missing.status_code == 422 and Page(missing.text).fields["subject"]["errors"]
    kept = Page(missing.text).value("f.copy.keep")
    assert re.fullmatch(r"[0-9a-f]{64}", kept)  # the upload survives the error: no need to choose it again
    done = client.post("/start/scan_in", data={"csrf": page.csrf(), "f.subject": "張三", "f.copy.keep": kept})
    assert done.status_code == 303
    iid = int(done.headers["location"].rsplit("/", 1)[1])
    assert scans.engine.show(iid)["data"]["copy"] == kept
    shown = client.get(f"/instances/{iid}").text
    assert f"/api/attachments/{kept}" in Page(shown).links
    assert client.get(f"/api/attachments/{kept}").content == PNG
    wrong = client.post("/start/scan_in", data={"csrf": page.csrf(), "f.subject": "李四"},
                        files={"f.copy": ("virus.exe", b"MZ\x90\x00", "application/octet-stream")})
    assert wrong.status_code == 422 and "PNG" in Page(wrong.text).fields["copy"]["errors"][0]


def test_a_task_is_held_and_resumed_from_its_page(new_db, tmp_path):
    toy = definitions.load_strict(REPO / "tests" / "fixtures" / "toy")
    app = create_app(new_db("toy.db"), toy, tick_seconds=0, clock=Clock())
    with TestClient(app):
        s = Site(app, Clock())
        s.user("clerk1", ["clerk"])
        s.user("eng1", ["eng"])
        iid = s.engine.start("timed", "clerk1", {"subject": "漏水"})["id"]
        task = s.task(iid, "handle")
        page = Page(s.as_("eng1").get(f"/tasks/{task}").text)
        assert [i["value"] for i in page.fields["state"]["inputs"]] == [""]  # a select of the step's holds
        assert "等待業主回覆" in s.as_("eng1").get(f"/tasks/{task}").text
        held = s.as_("eng1").post(f"/tasks/{task}/hold", data={"csrf": page.csrf(), "state": "owner",
                                                               "comment": "業主出差"})
        assert held.status_code == 303 and s.engine.show(iid)["tasks"][0]["paused"]["state"] == "owner"
        html = s.as_("eng1").get(f"/tasks/{task}").text
        assert "暫停中" in html and f'action="/tasks/{task}/resume"' in html
        clerk_token = Page(s.as_("clerk1").get(f"/tasks/{task}").text).csrf()  # the starter may look, not act
        assert s.as_("clerk1").post(f"/tasks/{task}/resume", data={"csrf": clerk_token}).status_code == 403
        resumed = s.as_("eng1").post(f"/tasks/{task}/resume", data={"csrf": page.csrf()})
        assert resumed.status_code == 303 and not s.engine.show(iid)["tasks"][0]["paused"]
        assert s.as_("eng1").post(f"/tasks/{task}/hold", data={"state": "owner"}).status_code == 403  # no token
