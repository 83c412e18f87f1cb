"""Browser tests: staff click through the server-rendered UI in Debian's chromium (Playwright's sync API) against
the real app under uvicorn on 127.0.0.1 — log in, start a request, see a field error and fix it, work the inbox,
print, approve and send back, download a printout and read it with python-docx, and look at each page at phone
and desktop width (full-page screenshots into $GOLDKEY_SCREENSHOTS, else the test's tmp_path).

Skipped when the Python package playwright or the browser (/usr/bin/chromium, or $GOLDKEY_CHROMIUM) is missing,
unless GOLDKEY_BROWSER_TESTS=required (CI), where a missing browser fails instead of skipping."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from tests import browser_gate

browser_gate.require()

from playwright.sync_api import expect, sync_playwright  # noqa: E402

from tests.browser_support import DESKTOP, PHONE, LiveServer, Staff, launch  # noqa: E402
from tests.conftest import docx_text  # noqa: E402

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def live(tmp_path_factory):
    server = LiveServer(tmp_path_factory.mktemp("live") / "goldkey.db", REPO).start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def browser():
    with sync_playwright() as playwright:
        browser = launch(playwright)
        yield browser
        browser.close()


@pytest.fixture
def staff(browser, live):
    """Make a member of staff: a fresh browser context (no cookies) on one page at a viewport."""
    contexts = []

    def make(viewport: dict = DESKTOP) -> Staff:
        context = browser.new_context(viewport=viewport, locale="zh-CN", timezone_id="Asia/Shanghai",
                                      accept_downloads=True)
        context.set_default_timeout(10_000)
        contexts.append(context)
        return Staff(context.new_page(), live.url)

    yield make
    for context in contexts:
        context.close()


@pytest.fixture
def screenshots(tmp_path) -> Path:
    folder = Path(os.environ.get("GOLDKEY_SCREENSHOTS") or tmp_path / "screenshots")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


SLIP = {"owner": "李先生", "unit": "3棟1201", "category": "訂花", "request": "週六上午送一束花到市人民醫院\n附賀卡一張",
        "nature": "有償", "prepaid": "500"}


def start_slip_with_bad_phone(s: Staff) -> None:
    """On the 金鑰匙服務 start form, type everything right but the phone, and send it."""
    s.nav("發起")
    expect(s.page).to_have_url(s.base + "/start")
    s.page.locator("a[href='/start/golden_key_service']").click()
    expect(s.page).to_have_url(s.base + "/start/golden_key_service")
    for name, value in SLIP.items():
        s.fill(name, value)
    s.fill("phone", "138-電話")
    s.submit()


def test_golden_key_service_from_error_to_printout(staff, live, tmp_path):
    s = staff()
    page = s.page
    s.login("wang")

    # A wrong phone: the error beside that field, a summary at the top, everything typed still there.
    start_slip_with_bad_phone(s)
    expect(page).to_have_url(re.compile(r"/start/golden_key_service"))
    expect(s.field("phone").locator(".field-error")).to_be_visible()
    expect(page.locator(".form-error")).to_be_visible()
    for name in SLIP:
        expect(s.field(name).locator(".field-error")).to_have_count(0)
    assert {name: s.value(name) for name in SLIP} == SLIP
    assert s.value("phone") == "138-電話"

    # Fix only the phone: the instance page.
    s.fill("phone", "13800138000")
    s.submit()
    iid = s.instance_id()
    number = re.search(r"JYS-\d{4}-\d{5}", page.inner_text("body"))
    assert number, "the instance page shows the slip number"
    number = number.group(0)

    # Issue the slip: a print task with its download and a plain submit button.
    s.open_task(iid, "開具金鑰匙服務單")
    slip = docx_text(s.print_and_download(tmp_path / "slip-from-task.docx"))
    assert number in slip
    s.submit()
    assert s.instance_id() == iid

    # Plan it (the plan is due in 2 hours: three hours later its inbox row is overdue).
    live.clock.advance(hours=3)
    s.goto("/")
    expect(page.locator(f".overdue a[href^='/tasks/{iid}-'], a.overdue[href^='/tasks/{iid}-']")).to_have_count(1)
    s.open_task(iid, "安排服務方式及費用預算")
    s.fill("route", "客服中心協調各部門")
    s.fill("estimate", "300")
    s.fill("departments", ["工程部", "保潔部"])
    s.submit()
    assert s.instance_id() == iid
    s.logout()

    # The service centre (chen) coordinates and records the result and the cost.
    s.login("chen")
    s.open_task(iid, "客服中心協調各部門完成服務")
    assert sorted(s.value("departments")) == ["保潔部", "工程部"], "the plan's departments are pre-filled"
    s.fill("result", "花已送到病房，業主家屬簽收")
    s.fill("cost", "280.50")
    s.submit()
    assert s.instance_id() == iid
    s.logout()

    # Back to the concierge: the expense, the refund voucher for the surplus, the redemption checklist.
    s.login("wang")
    s.open_task(iid, "登記預付金支出")
    s.fill("expense_note", "花店發票 280.50 元")
    s.submit()
    s.open_task(iid, "開具預付金退還憑證")
    voucher = docx_text(s.print_and_download(tmp_path / "refund.docx"))
    assert number in voucher and "219.50" in voucher
    s.submit()
    s.open_task(iid, "業主憑服務單兌現服務")
    for item in ("verify_holder", "hand_over", "register"):
        page.locator(f"input[name='checked'][value='{item}']").check()
    s.submit()
    assert s.instance_id() == iid
    body = page.locator("main, body").first
    for text in (number, "服務完成", "王小明", "陳主管", "219.50"):  # 219.50: the surplus refunded
        expect(body).to_contain_text(text)

    # The slip from the instance page: a .docx with the number on it.
    slip_link = page.locator("form[action*='/printouts/slip'] button").first
    saved = tmp_path / "slip.docx"
    text = docx_text(s.print_and_download(saved, slip_link))
    assert saved.stat().st_size > 0
    assert number in text and "李先生" in text and "13800138000" in text
    assert "副本" in text, "printed before on the task page: this one is marked as a copy"
    assert not s.errors, s.errors


RENOVATION = {"applicant_type": "業主", "applicant": "張偉", "unit": "5棟802", "phone": "13912345678",
              "contractor": "安居裝飾工程有限公司", "contractor_licence": "91440300MA5F000000",
              "contractor_contact": "劉師傅", "contractor_phone": "13700001111", "scope": "客廳及主臥翻新，更換地板",
              "plan": "拆除舊地板，找平後鋪設實木地板；牆面重新刷漆", "structural_change": False, "hot_work": False,
              "workers": "4", "start_date": "2026-12-07", "end_date": "2026-12-25", "deposit": "3000"}


def test_renovation_sent_back_revised_and_approved(staff, tmp_path, screenshots):
    s = staff()
    page = s.page

    # The assistant takes the application, checks the documents and prints the form for the review.
    s.login("xiao")
    s.nav("發起")
    s.page.locator("a[href='/start/renovation']").click()
    for name, value in RENOVATION.items():
        s.fill(name, value)
    s.submit()
    iid = s.instance_id()
    number = re.search(r"ZX-\d{4}-\d{5}", page.inner_text("body")).group(0)
    s.open_task(iid, "核對裝修辦理資料")
    for item in ("id_copies", "contractor_licences", "floor_plan", "utility_plan"):
        page.locator(f"input[name='checked'][value='{item}']").check()
    s.submit()
    s.open_task(iid, "列印《裝潢施工申請呈評核書》")
    assert number in docx_text(s.print_and_download(tmp_path / "application.docx"))
    s.submit()
    s.logout()

    # The engineering lead sends it back for rework with a comment.
    s.login("gong")
    s.open_task(iid, "工程部負責人審核裝修方案")
    s.screenshot(screenshots, "desktop-task-approval")
    page.set_viewport_size(PHONE)  # the approval page at phone width too: three outcome buttons
    s.screenshot(screenshots, "phone-task-approval")
    assert s.scroll_width() <= PHONE["width"] + 1, "the approval page scrolls sideways at 390 px"
    page.set_viewport_size(DESKTOP)
    page.locator("textarea[name='comment']").fill("缺水電佈置圖說明，請補正後再送審")
    s.submit("rework")
    assert s.instance_id() == iid
    s.logout()

    # The assistant revises it: the form comes back filled in; add the missing description and resubmit.
    s.login("xiao")
    s.open_task(iid, "業主或使用人補正裝修申請")
    assert s.value("applicant") == "張偉" and s.value("deposit") in ("3000", "3000.00")
    s.fill("design", "水電佈置：廚房新增插座兩個，主臥燈位不變")
    s.submit()
    s.logout()

    # Three signatures: engineering lead, supervisor, manager.
    for name, step, note in (("gong", "工程部負責人審核裝修方案", ("review_opinion", "水電圖已補齊，同意施工")),
                             ("zhu", "物業主任簽字確認", None),
                             ("jing", "物業經理審批", ("manager_note", "同意，押金三千元"))):
        s.login(name)
        s.open_task(iid, step)
        if note:
            s.fill(*note)
        s.submit("approve")
        assert s.instance_id() == iid
        s.logout()

    # The instance page: who sent it back and why, the revision, the three signatures, and the next step.
    s.login("xiao")
    s.goto(f"/instances/{iid}")
    body = page.locator("main, body").first
    for text in (number, "退回修改", "缺水電佈置圖說明，請補正後再送審", "業主或使用人補正裝修申請",
                 "水電圖已補齊，同意施工", "同意，押金三千元", "龔工", "朱主任", "景經理", "蕭助理", "收取裝修押金"):
        expect(body).to_contain_text(text)
    s.screenshot(screenshots, "desktop-renovation-instance")
    assert not s.errors, s.errors


def test_pages_at_phone_and_desktop_width(staff, live, screenshots, tmp_path):
    """Full-page screenshots of each kind of page at 390x844 and 1280x800; at 390 px nothing scrolls sideways."""
    overflow: dict[str, int] = {}
    squeezed: dict[str, list] = {}
    taken: list[Path] = []
    for label, viewport in (("phone", PHONE), ("desktop", DESKTOP)):
        s = staff(viewport)

        def shot(name: str, s=s, label=label, viewport=viewport) -> None:
            taken.append(s.screenshot(screenshots, f"{label}-{name}"))
            if viewport is PHONE:
                overflow[name] = s.scroll_width()
                if narrow := s.squeezed_scrollers():
                    squeezed[name] = narrow

        s.goto("/login")
        shot("login")
        s.login("wang")
        start_slip_with_bad_phone(s)
        expect(s.field("phone").locator(".field-error")).to_be_visible()
        shot("start-form-error")
        s.fill("phone", "13800138000")
        s.submit()
        iid = s.instance_id()
        shot("instance-new")
        s.open_task(iid, "開具金鑰匙服務單")
        shot("task-print")
        s.print_and_download(tmp_path / f"{label}-slip.docx")  # printed, then confirmed as handed over
        s.submit()
        live.clock.advance(hours=3)  # the plan is overdue: the inbox shows it so
        s.goto("/")
        shot("inbox")
        s.open_task(iid, "安排服務方式及費用預算")
        s.fill("route", "金鑰匙聯盟網絡")
        shot("task-form")
        s.goto("/start")
        shot("start-list")
        s.goto(f"/instances/{iid}")
        shot("instance")
        assert not s.errors, s.errors
    assert all(path.stat().st_size > 0 for path in taken)
    wide = {name: px for name, px in overflow.items() if px > PHONE["width"] + 1}
    assert not wide, f"pages that scroll sideways at 390 px (their scrollWidth): {wide}; see {screenshots}"
    assert not squeezed, f"boxes squeezed at 390 px (page: [element, width, width available]): {squeezed}"


def test_renovation_rejected_and_the_refusal_explained(staff, tmp_path):
    s = staff()
    page = s.page
    s.login("xiao")
    s.nav("發起")
    page.locator("a[href='/start/renovation']").click()
    for name, value in RENOVATION.items():
        s.fill(name, value)
    s.submit()
    iid = s.instance_id()
    s.open_task(iid, "核對裝修辦理資料")
    for item in ("id_copies", "contractor_licences", "floor_plan", "utility_plan"):
        page.locator(f"input[name='checked'][value='{item}']").check()
    s.submit()
    s.open_task(iid, "列印《裝潢施工申請呈評核書》")
    s.print_and_download(tmp_path / "application.docx")
    s.submit()
    s.logout()

    s.login("gong")  # the engineering lead refuses it, with the reason
    s.open_task(iid, "工程部負責人審核裝修方案")
    page.locator("textarea[name='comment']").fill("改動承重牆，不予批准")
    s.submit("reject")
    assert s.instance_id() == iid
    expect(page.locator("body")).to_contain_text("改動承重牆，不予批准")
    # the same lead tells the owner why; the application ends refused
    s.open_task(iid, "聯繫業主或使用人，解釋拒絕批覆的理由")
    s.fill("refusal_reason", "方案涉及拆改承重牆，違反裝修管理規定")
    s.submit()
    assert s.instance_id() == iid
    expect(page.locator("body")).to_contain_text("裝修申請不予批准")
    assert not s.errors, s.errors
