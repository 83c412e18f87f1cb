"""The record pages (資料) over HTTP (Starlette's TestClient on the real app and a real database): the types a user
may read, a type's list with search, state filter and pages, adding and editing with errors beside their fields and
confidential fields kept from those who may not read them, moves the type allows (and one it refuses), conflicts,
CSRF, strangers and roles, imports on a background job with their report, exports read back, and the lookup control
of a form field that holds a record's key."""

from __future__ import annotations

import csv
import io
import json
import re
import time
from urllib.parse import urlencode

import pytest

from server import forms_html

from .test_web_ui import Page, site  # noqa: F401 - the app on a temporary database, signed-in browsers

UNIT_HEADER = "樓棟,房號,建築面積（㎡）,業主,業主電話,狀態"


@pytest.fixture
def staff(site):  # noqa: F811
    """The test site with the record editors too: an assistant (units) and a customer-service supervisor (customers'
    confidential fields, keys)."""
    site.user("li", ["assistant"], "李助理")
    site.user("chen", ["cs_supervisor"], "陳主管")
    return site


def _record_id(resp) -> int:
    assert resp.status_code == 303, resp.text
    return int(resp.headers["location"].rsplit("/", 1)[1])


def _body(html: str) -> str:
    """The page's main part (not the header's navigation)."""
    return html.split("<main>", 1)[1]


def _count(site, type_id: str = "unit") -> int:  # noqa: F811
    return site.engine.store.conn.execute("SELECT count(*) FROM records WHERE type=?", (type_id,)).fetchone()[0]


def _import(site, user: str, body: str, partial: bool = False, name: str = "units.csv"):  # noqa: F811
    """Post a sheet on the import page; the response (a redirect to the job, or the page with an error)."""
    client = site.as_(user)
    token = Page(client.get("/records/unit/import").text).csrf()
    data = {"csrf": token, **({"partial": "1"} if partial else {})}
    return client.post("/records/unit/import", data=data, files={"file": (name, body.encode("utf-8"), "text/csv")})


def _finished(site, user: str, job: str) -> dict:  # noqa: F811
    """Poll the job's status as the page's script does, until it is no longer running."""
    client = site.as_(user)
    deadline = time.monotonic() + 20
    while True:
        status = client.get(f"{job}.json")
        assert status.status_code == 200, status.text
        state = status.json()
        if state["status"] != "running":
            return state
        assert time.monotonic() < deadline, "the import did not finish"
        time.sleep(0.05)


# --- the types and the list ----------------------------------------------------------------------------------

def test_the_types_page_lists_what_each_user_may_read(staff):
    wang = staff.as_("wang").get("/records")
    assert wang.status_code == 200 and "/records" in Page(wang.text).links  # the nav's 資料, for everyone
    links = set(Page(_body(wang.text)).links)
    assert {"/records/unit", "/records/customer", "/records/key"} <= links
    assert "房屋" in wang.text and "可查看" in wang.text
    mop = staff.as_("mop").get("/records")
    assert mop.status_code == 200 and "/records" in Page(mop.text).links
    assert "你的角色沒有可以查看的資料" in mop.text and "/records/unit" not in mop.text


def test_the_list_searches_filters_by_state_and_links_each_record(staff):
    li = staff.as_("li")
    html = li.get("/records/unit").text
    assert all(key in html for key in ("7棟 602", "1棟 101", "3棟 601"))
    assert "<th>樓棟 房號</th><th>狀態</th><th>建築面積（㎡）</th><th>業主</th><th>業主電話</th>" in html
    assert re.search(r'class="chip on"[^>]*>全部<span class="n">3</span>', html)
    assert '自住<span class="n">3</span>' in html and '出租<span class="n">0</span>' in html
    assert "表格較寬，可左右滑動查看" in html  # the hint beside the wide table (shown on a phone)
    links = [link for link in Page(_body(html)).links if re.fullmatch(r"/records/unit/\d+", link)]
    assert len(links) == 3
    page = li.get(links[0])
    assert page.status_code == 200 and "1棟 101" in page.text  # by key: 1棟 101 first

    found = li.get("/records/unit?" + urlencode({"q": "602"})).text
    assert "7棟 602" in found and "1棟 101" not in found and "共 <strong>1</strong> 筆" in found
    by_owner = li.get("/records/unit?" + urlencode({"q": "林小姐"})).text
    assert "3棟 601" in by_owner and "7棟 602" not in by_owner
    rented = li.get("/records/unit?" + urlencode({"state": "出租"})).text
    assert "沒有符合的資料" in rented and 'class="chip on" aria-current="true">出租' in rented
    csv_link = "/api/records/unit/export.csv?" + urlencode({"q": "602", "state": "自住"})
    both = li.get("/records/unit?" + urlencode({"q": "602", "state": "自住"})).text
    assert csv_link.replace("&", "&amp;") in both and "/api/records/unit/export.xlsx?" in both
    assert "/records/unit/new" in both and "/records/unit/import" in both  # li may add and import
    viewer = staff.as_("wang").get("/records/unit").text  # the concierge reads units but may not add them
    assert "7棟 602" in viewer and "/records/unit/new" not in viewer and "/records/unit/import" not in viewer


def test_the_list_pages_by_fifty(staff):
    rows = [{"building": "8棟", "unit": f"{n:03d}", "area": 50} for n in range(1, 58)]
    report = staff.engine.import_records("unit", "li", rows)
    assert report["created"] == 57
    first = staff.as_("li").get("/records/unit").text
    assert "共 <strong>60</strong> 筆" in first and "第 1 / 2 頁" in first
    assert first.count('<tr><td><a href="/records/unit/') == 50
    nxt = re.search(r'href="(/records/unit\?page=2)">下一頁', first).group(1)
    second = staff.as_("li").get(nxt).text
    assert second.count('<tr><td><a href="/records/unit/') == 10 and "上一頁" in second
    assert staff.as_("li").get("/records/unit?page=x").status_code == 200  # a bad page number: the first


# --- adding and editing ----------------------------------------------------------------------------------------

def test_adding_shows_errors_beside_their_fields_keeps_what_was_typed_then_adds(staff):
    form = Page(staff.as_("li").get("/records/unit/new").text)
    assert list(form.fields)[:3] == ["state", "building", "unit"]
    assert form.value("state") == "未售" and form.fields["moved_in"]["inputs"][0]["type"] == "date"
    assert form.fields["phone"]["inputs"][0]["type"] == "tel"
    bad = staff.post_form("li", "/records/unit/new", {"f.building": "5棟", "f.unit": "", "f.area": "0",
                                                      "f.owner": "<b>王先生</b>", "f.phone": "電話", "state": "出租"})
    assert bad.status_code == 422
    page = Page(bad.text)
    assert page.fields["area"]["errors"] == ["「建築面積（㎡）」必須大於 0"]
    assert page.fields["unit"]["errors"] and page.fields["phone"]["errors"]
    assert page.form_errors
    assert page.value("f.building") == "5棟" and page.value("f.owner") == "<b>王先生</b>"
    assert page.value("state") == "出租"
    assert "&lt;b&gt;王先生" in bad.text and "<b>王先生" not in bad.text
    assert _count(staff) == 3
    made = staff.post_form("li", "/records/unit/new", {"f.building": "5棟", "f.unit": "501", "f.area": "88.5",
                                                       "f.owner": "王先生", "f.phone": "13600000000", "state": "出租"})
    rid = _record_id(made)
    shown = staff.as_("li").get(f"/records/unit/{rid}").text
    assert "5棟 501" in shown and "88.5" in shown and "王先生" in shown and "出租" in shown
    assert "李助理（li） 建立於 11月02日 09:30" in shown and "建立（狀態：出租）" in shown
    again = staff.post_form("li", "/records/unit/new", {"f.building": "5棟", "f.unit": "501", "f.area": "70"})
    assert again.status_code == 422 and Page(again.text).fields["building"]["errors"] == ["已經存在"]


def test_editing_keeps_confidential_fields_from_those_who_may_not_read_them(staff):
    customer = {"f.building": "7棟", "f.unit": "602", "f.name": "周先生", "f.kind": "業主", "f.phone": "13511112222",
                "f.id_number": "110101199001011234", "f.emergency_phone": "13700001111"}
    rid = _record_id(staff.post_form("chen", "/records/customer/new", customer))
    stored = staff.engine.store.record_row(rid)["data"]
    assert stored["id_number"] == "110101199001011234"
    # the concierge edits customers but may not read the id number or the emergency phone
    form = Page(staff.as_("wang").get(f"/records/customer/{rid}/edit").text)
    assert "id_number" not in form.fields and "emergency_phone" not in form.fields
    assert form.value("f.phone") == "13511112222" and form.value("revision") == "1"
    shown = staff.as_("wang").get(f"/records/customer/{rid}").text
    assert "110101199001011234" not in shown and "（保密）" in shown
    changed = dict({k: v for k, v in customer.items() if k not in ("f.id_number", "f.emergency_phone")},
                   **{"f.phone": "13522223333", "revision": "1"})
    resp = staff.post_form("wang", f"/records/customer/{rid}/edit", dict(changed, **{"f.id_number": "偷改"}),
                           page_path=f"/records/customer/{rid}/edit")
    assert resp.status_code == 303 and resp.headers["location"] == f"/records/customer/{rid}"
    stored = staff.engine.store.record_row(rid)["data"]
    assert stored["phone"] == "13522223333" and stored["id_number"] == "110101199001011234"
    assert stored["emergency_phone"] == "13700001111"  # not shown, not posted: kept
    history = staff.as_("chen").get(f"/records/customer/{rid}").text
    assert "修改" in history and "「聯繫電話」：13511112222 → 13522223333" in history and "王小明（wang）" in history
    assert "110101199001011234" in history  # the supervisor reads it


def test_an_edit_after_someone_elses_says_who_changed_it_and_keeps_what_was_typed(staff):
    rid = staff.engine.record_id("unit", "7棟 602", "li")
    opened = Page(staff.as_("li").get(f"/records/unit/{rid}/edit").text)
    assert opened.value("f.owner") == "周先生"
    staff.engine.edit_record("unit", rid, "boss", {"owner": "吳太太"})
    fields = {i["name"]: i["value"] for i in opened.inputs if i.get("name", "").startswith("f.")}
    late = staff.as_("li").post(f"/records/unit/{rid}/edit", data=dict(fields, **{
        "f.owner": "李小姐", "revision": opened.value("revision"), "csrf": opened.csrf()}))
    assert late.status_code == 409
    page = Page(late.text)
    assert "在您開啟後已被 陳經理（boss） 於 11月02日 09:30 修改" in page.form_errors[0]
    assert page.value("f.owner") == "李小姐" and f"/records/unit/{rid}/edit" in Page(late.text).links
    assert staff.engine.store.record_row(rid)["data"]["owner"] == "吳太太"


def test_a_bad_edit_is_shown_beside_its_field(staff):
    rid = staff.engine.record_id("unit", "1棟 101", "li")
    resp = staff.post_form("li", f"/records/unit/{rid}/edit", {"f.building": "1棟", "f.unit": "101", "f.area": "abc",
                                                              "revision": "1"})
    assert resp.status_code == 422 and Page(resp.text).fields["area"]["errors"]
    assert Page(resp.text).value("f.area") == "abc"
    assert staff.engine.store.record_row(rid)["revision"] == 1


# --- moves -----------------------------------------------------------------------------------------------------

def test_a_record_moves_only_as_its_type_allows(staff):
    rid = _record_id(staff.post_form("chen", "/records/key/new", {"f.key_no": "K-001", "f.kind": "業主留存",
                                                                   "f.unit": "7棟 602", "state": "在櫃"}))
    page = staff.as_("chen").get(f"/records/key/{rid}").text
    buttons = re.findall(r'<button type="submit" name="state" value="([^"]+)"', page)
    assert buttons == ["借出", "已交還業主", "遺失"] and "編輯" in page
    moved = staff.post_form("chen", f"/records/key/{rid}/move", {"state": "已交還業主", "comment": "業主取回"},
                            page_path=f"/records/key/{rid}")
    assert moved.status_code == 303
    page = staff.as_("chen").get(f"/records/key/{rid}").text
    assert re.findall(r'name="state" value="([^"]+)"', page) == ["在櫃"]
    assert "狀態：在櫃 → 已交還業主" in page and "意見：業主取回" in page
    # a move the type does not allow (已交還業主 → 借出), as a stale page or a forged post would send it
    refused = staff.post_form("chen", f"/records/key/{rid}/move", {"state": "借出"}, page_path=f"/records/key/{rid}")
    assert refused.status_code == 422
    assert "鑰匙「K-001」目前為「已交還業主」，不能改為「借出」（可改為：在櫃）" in Page(refused.text).form_errors[0]
    row = staff.engine.store.record_row(rid)
    assert row["state"] == "已交還業主" and row["events"] == 2
    # someone who reads keys but may not change them: no buttons, and a post is refused
    wang = staff.as_("wang").get(f"/records/key/{rid}").text
    assert 'name="state"' not in wang and f"/records/key/{rid}/edit" not in wang
    token = Page(wang).csrf()
    refused = staff.as_("wang").post(f"/records/key/{rid}/move", data={"csrf": token, "state": "在櫃"})
    assert refused.status_code == 403 and "你沒有新增或修改鑰匙資料的角色" in refused.text
    assert "wang" not in _body(refused.text)
    assert staff.engine.store.record_row(rid)["state"] == "已交還業主"


# --- who may ---------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("path", ["/records", "/records/unit", "/records/unit/new", "/records/unit/1",
                                  "/records/unit/1/edit", "/records/unit/import",
                                  "/records/unit/import/AAAAAAAAAAAAAAAA", "/records/unit?q=602"])
def test_a_stranger_is_sent_to_login_and_back(site, path):  # noqa: F811
    resp = site.browser().get(path)
    assert resp.status_code == 303 and resp.headers["location"] == "/login?" + urlencode({"next": path})


def test_someone_without_a_role_is_refused_in_words(staff):
    mop = staff.as_("mop")
    for path in ("/records/unit", "/records/unit/1", "/records/unit/new", "/records/unit/import"):
        resp = mop.get(path)
        assert resp.status_code == 403, path
        assert "你沒有" in resp.text and "房屋資料的角色" in resp.text and "mop" not in _body(resp.text), path
    wang = staff.as_("wang")  # reads units, may not add, edit or import them
    for path in ("/records/unit/new", "/records/unit/1/edit", "/records/unit/import"):
        assert wang.get(path).status_code == 403, path
    token = Page(wang.get("/records/unit").text).csrf()
    assert wang.post("/records/unit/new", data={"csrf": token, "f.building": "1", "f.unit": "1",
                                                "f.area": "1"}).status_code == 403
    assert wang.post("/records/unit/1/edit", data={"csrf": token, "f.owner": "x"}).status_code == 403
    assert _count(staff) == 3
    assert staff.as_("li").get("/records/nothing").status_code == 404
    assert staff.as_("li").get("/records/unit/99999").status_code == 404


def test_posts_without_the_sessions_token_are_refused_and_change_nothing(staff):
    li = staff.as_("li")
    rid = staff.engine.record_id("unit", "1棟 101", "li")
    for token in (None, "", "forged-token"):
        extra = {"csrf": token} if token is not None else {}
        resp = li.post("/records/unit/new", data={"f.building": "9棟", "f.unit": "9", "f.area": "9", **extra})
        assert resp.status_code == 403 and "表單已過期或來源不明（CSRF）" in resp.text
        assert li.post(f"/records/unit/{rid}/edit", data={"f.owner": "x", **extra}).status_code == 403
        assert li.post(f"/records/unit/{rid}/move", data={"state": "出租", **extra}).status_code == 403
        files = {"file": ("u.csv", f"{UNIT_HEADER}\n9棟,9,9,,,\n".encode(), "text/csv")}
        assert li.post("/records/unit/import", data=extra, files=files).status_code == 403
    row = staff.engine.store.record_row(rid)
    assert _count(staff) == 3 and row["revision"] == 1 and row["state"] == "自住"


# --- imports and exports ---------------------------------------------------------------------------------------

def test_an_import_with_a_bad_row_imports_nothing_and_lists_the_row_then_partial_imports_the_rest(staff):
    sheet = "\n".join([UNIT_HEADER, "2棟,201,80,甲先生,13600000001,自住", "2棟,202,-5,乙小姐,13600000002,",
                       "2棟,203,90,丙先生,電話,出租", "2棟,204,70,,,"]) + "\n"
    resp = _import(staff, "li", sheet)
    assert resp.status_code == 303
    job = resp.headers["location"]
    assert re.fullmatch(r"/records/unit/import/[A-Za-z0-9_-]{16}", job)
    assert _finished(staff, "li", job)["status"] == "done"
    page = staff.as_("li").get(job).text
    assert "2 行有錯誤，沒有匯入任何資料" in page and "只匯入正確的行" in page
    rows = re.findall(r"<tr><td>第 (\d+) 行</td><td>[^<]*</td><td>([^<]*)</td><td>([^<]*)</td></tr>", page)
    assert [(n, field) for n, field, _ in rows] == [("3", "建築面積（㎡）"), ("4", "業主電話")]
    assert "必須大於 0" in rows[0][2]
    assert _count(staff) == 3  # nothing went in
    assert '<progress max="4" value="4">' in page and "data-job=" not in page  # finished: no more polling
    assert 'http-equiv="refresh"' not in page

    resp = _import(staff, "li", sheet, partial=True)
    job = resp.headers["location"]
    assert _finished(staff, "li", job)["status"] == "done"
    page = staff.as_("li").get(job).text
    assert "匯入完成：新增 2 筆、更新 0 筆、沒有變動 0 筆；2 行有錯誤，未匯入" in page and "第 3 行" in page
    assert _count(staff) == 5
    made = staff.engine.store.record_at("default", "unit", "2棟 201")
    assert made["state"] == "自住" and made["data"]["owner"] == "甲先生"
    assert staff.engine.store.record_at("default", "unit", "2棟 204")["state"] == "未售"
    # the job is its user's alone
    assert staff.as_("chen").get(job).status_code == 403 and staff.as_("chen").get(f"{job}.json").status_code == 403
    assert staff.as_("li").get("/records/unit/import/AAAAAAAAAAAAAAAA").status_code == 404
    assert staff.as_("li").get(job.replace("/unit/", "/key/")).status_code == 404


def test_a_running_import_is_followed_by_its_page(staff):
    job_id = "R" * 16
    running = {"user": "li", "type": "unit", "file": "u.csv", "partial": False, "done": 200, "total": 300,
               "status": "running", "report": None, "message": None, "at": time.time()}
    staff.engine.store.set_setting(f"job:{job_id}", json.dumps(running))
    page = staff.as_("li").get(f"/records/unit/import/{job_id}").text
    assert f'data-job="/records/unit/import/{job_id}.json"' in page and '<progress' in page
    assert 'value="200"' in page and "已處理 200 / 300 行" in page
    assert '<noscript><meta http-equiv="refresh" content="2"></noscript>' in page  # without JS: refreshes itself
    status = staff.as_("li").get(f"/records/unit/import/{job_id}.json")
    assert status.json() == {"status": "running", "done": 200, "total": 300, "text": "正在匯入：已處理 200 / 300 行"}
    # a job whose server stopped under it (no progress for minutes) is said to have been cut short
    staff.engine.store.set_setting(f"job:{job_id}", json.dumps(dict(running, at=time.time() - 3600)))
    assert staff.as_("li").get(f"/records/unit/import/{job_id}.json").json()["status"] == "failed"
    lost = staff.as_("li").get(f"/records/unit/import/{job_id}").text
    assert "匯入在完成前中斷了" in lost and "data-job=" not in lost


def test_a_bad_file_is_told_on_the_import_page(staff):
    for name, body, message in (("units.txt", "x", "只能匯入 .csv 或 .xlsx 檔案"),
                                ("units.csv", "", "檔案是空的"),
                                ("units.csv", "樓棟,門牌\n1,2\n", "門牌"),
                                ("units.csv", UNIT_HEADER + "\n", "沒有要匯入的資料")):
        resp = _import(staff, "li", body, name=name)
        assert resp.status_code == 422, name
        page = Page(resp.text)
        assert page.form_errors and message in page.form_errors[0], (name, page.form_errors)
        assert 'name="file"' in resp.text  # the form again
    assert _count(staff) == 3


def test_an_export_reads_back_as_an_import(staff):
    exported = staff.as_("li").get("/api/records/unit/export.csv")
    assert exported.status_code == 200 and exported.headers["content-type"].startswith("text/csv")
    text = exported.content.decode("utf-8-sig")
    table = list(csv.reader(io.StringIO(text)))
    assert table[0][:3] == ["樓棟", "房號", "建築面積（㎡）"] and len(table) == 4
    job = _import(staff, "li", text, name="房屋.csv").headers["location"]
    _finished(staff, "li", job)
    page = staff.as_("li").get(job).text
    assert "匯入完成：新增 0 筆、更新 0 筆、沒有變動 3 筆" in page
    owner = table[0].index("業主")
    for row in table[1:]:
        if row[:2] == ["7棟", "602"]:
            row[owner] = "吳太太"
    out = io.StringIO()
    csv.writer(out).writerows(table)
    job = _import(staff, "li", out.getvalue()).headers["location"]
    _finished(staff, "li", job)
    assert "新增 0 筆、更新 1 筆、沒有變動 2 筆" in staff.as_("li").get(job).text
    rid = staff.engine.record_id("unit", "7棟 602", "li")
    history = staff.as_("li").get(f"/records/unit/{rid}").text
    assert "匯入" in history and "「業主」：周先生 → 吳太太" in history
    xlsx = staff.as_("li").get("/api/records/unit/export.xlsx?" + urlencode({"q": "602"}))
    assert xlsx.status_code == 200 and xlsx.content[:2] == b"PK"


# --- the lookup control ------------------------------------------------------------------------------------------

def test_a_ref_field_is_a_lookup_control():
    schema = {"type": "string", "title": "樓室號", "format": "ref", "record": "unit",
              "fill": {"reporter": "owner", "phone": "phone"}}
    f = forms_html.make_field("unit", schema, None, True)
    assert (f.control, f.record, f.fill) == ("lookup", "unit", {"reporter": "owner", "phone": "phone"})
    assert json.loads(f.fill_json) == {"reporter": "owner", "phone": "phone"}
    assert forms_html.to_data([f], {"unit": " 7棟 602 "}, None) == {"unit": "7棟 602"}


def test_the_repair_orders_unit_looks_units_up_and_fills_the_reporter(staff):
    html = staff.as_("wang").get("/start/repair_order").text
    unit = Page(html).fields["unit"]["inputs"][0]
    assert unit["data-lookup"] == "/api/records/unit/lookup" and unit["role"] == "combobox"
    assert unit["autocomplete"] == "off" and json.loads(unit["data-fill"]) == {"reporter": "owner", "phone": "phone"}
    assert 'id="f-unit-list" role="listbox"' in html and unit["aria-controls"] == "f-unit-list"
    found = staff.as_("wang").get("/api/records/unit/lookup?" + urlencode({"q": "602"})).json()
    assert [f["key"] for f in found] == ["7棟 602"] and found[0]["data"]["owner"] == "周先生"
    assert staff.as_("mop").get("/api/records/unit/lookup?q=602").status_code == 403  # (the field stays plain text)
    # sent without the reporter and the phone: the engine fills them from the unit chosen
    resp = staff.post_form("wang", "/start/repair_order", {
        "f.source": "業主報修", "f.unit": "7棟 602", "f.location": "廚房", "f.description": "水龍頭漏水",
        "f.someone_home": "true", "f.emergency": "false"})
    assert resp.status_code == 303, Page(resp.text).form_errors
    iid = int(resp.headers["location"].rsplit("/", 1)[1])
    data = staff.engine.show(iid)["data"]
    assert data["reporter"] == "周先生" and data["phone"] == "13511112222"
    wrong = staff.post_form("wang", "/start/repair_order", {
        "f.source": "業主報修", "f.unit": "9棟 999", "f.reporter": "某人", "f.phone": "13600000000",
        "f.location": "廚房", "f.description": "漏水", "f.someone_home": "true"})
    assert wrong.status_code == 422 and Page(wrong.text).fields["unit"]["errors"]
    assert Page(wrong.text).value("f.unit") == "9棟 999"


def test_someone_who_edits_at_two_sites_chooses_the_site(staff):
    staff.engine.add_site("yilin", "意林小鎮管理處", "YL")
    staff.engine.add_site("hk", "香港管理處", "HK")
    staff.engine.add_user("lin", ["assistant"], "林助理", site="yilin")
    staff.engine.add_user("lin", ["assistant"], site="hk")
    staff.engine.set_password("lin", "secret-pass")
    html = staff.as_("lin").get("/records/unit/new").text
    assert Page(html).value("site") == ""
    assert re.findall(r'<option value="(\w+)"', html.split('name="site"')[1].split("</select>")[0]) == ["hk", "yilin"]
    unit = {"f.building": "A棟", "f.unit": "1203", "f.area": "100"}
    missing = staff.post_form("lin", "/records/unit/new", unit)
    assert missing.status_code == 422
    assert re.search(r'data-field="site">.*?<p class="field-error" role="alert">請選擇管理處</p>', missing.text, re.S)
    rid = _record_id(staff.post_form("lin", "/records/unit/new", dict(unit, site="hk")))
    assert staff.engine.store.record_row(rid)["site"] == "hk"
    listed = staff.as_("lin").get("/records/unit").text
    assert "<th>管理處</th>" in listed and "香港管理處" in listed
    page = staff.as_("lin").get("/records/unit/import").text
    assert 'name="site"' in page
    resp = _import(staff, "lin", f"{UNIT_HEADER}\nB棟,1,50,,,\n")
    assert resp.status_code == 422 and "請選擇匯入到哪個管理處" in Page(resp.text).form_errors[0]


def test_the_history_says_in_words_what_each_change_was(staff):
    from server.recordpages import _history_line

    rt, tz = staff.engine.registry.records["unit"], staff.engine.registry.site.tz
    names = {"li": "李助理"}

    def line(kind, payload, actor="li"):
        return _history_line(staff.engine, rt, {"seq": 1, "at": "2026-11-02T02:00:00+00:00", "actor": actor,
                                                "kind": kind, "payload": payload}, names, tz, staff.clock())

    step = line("step", {"instance": 12, "number": "WX-2026-00012", "workflow": "repair_order", "step": "assign",
                         "changes": {"owner": ["王先生", "李小姐"]}, "from": "自住", "to": "出租"}, actor=None)
    assert step == {"at": "11月02日 10:00", "who": "系統", "href": "/instances/12",
                    "what": "由案件 WX-2026-00012「維修班長指定維修人員，準備配件、材料及工具」更新",
                    "details": ["「業主」：王先生 → 李小姐", "狀態：自住 → 出租"]}
    assert line("moved", {"from": "自住", "to": "出租", "comment": "租給張先生"})["what"] == "狀態：自住 → 出租"
    assert line("moved", {"from": "自住", "to": "出租", "comment": "租給張先生"})["details"] == ["意見：租給張先生"]
    assert line("imported", {"data": {"building": "1棟"}, "state": "自住"})["what"] == "匯入（新增）"
    edited = line("edited", {"changes": {"phone": [None, "13600000000"], "area": [89.2, 90]}})
    assert edited["what"] == "修改" and edited["who"] == "李助理（li）"
    assert edited["details"] == ["「業主電話」：（空） → 13600000000", "「建築面積（㎡）」：89.2 → 90"]
    assert line("created", {"data": {}, "state": None})["what"] == "建立"
