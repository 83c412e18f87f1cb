"""A browser test of named states (Debian's chromium through Playwright, as tests/test_browser.py): at 390 px a clerk
opens a kept key's page, taps 借出 without a borrower and is told beside the field, types one and lends it; then
returns it from the register's row filtered to 借出中; every button and input is a tap target of at least 44 px and
no page scrolls sideways. Skipped like tests/test_browser.py when playwright or the browser is missing."""

from __future__ import annotations

import re
from unittest import mock

import pytest

# Through tests/test_browser.py, which skips (and so skips this module) when playwright or chromium is missing:
# its browser and staff fixtures, and what it takes from playwright and tests/browser_support.py.
from tests.test_browser import PHONE, LiveServer, Staff, browser, expect, screenshots, staff  # noqa: F401
from tests.test_states_ui import USERS as STAFF
from tests.test_states_ui import states_defs

USERS = {name: (roles, title) for name, roles, title in STAFF}


@pytest.fixture(scope="module")
def live(tmp_path_factory):
    """The live server on the toy definitions with the key of tests/steps/test_state.py and its users."""
    from tests import browser_support  # (after tests/test_browser.py has skipped without playwright)

    folder = tmp_path_factory.mktemp("live-states")
    defs = states_defs(folder / "defs")
    with mock.patch.dict(browser_support.USERS, USERS, clear=True):
        server = LiveServer(folder / "goldkey.db", defs).start()
    yield server
    server.stop()


def _taps(locator) -> None:
    for one in locator.all():
        box = one.bounding_box()
        assert box and box["height"] >= 44 and box["width"] >= 44, (one.evaluate("e => e.outerHTML"), box)


def _fits(s: Staff) -> None:
    assert s.scroll_width() <= PHONE["width"] + 1, f"{s.path()} scrolls sideways at 390 px"
    assert not s.squeezed_scrollers(), s.squeezed_scrollers()


def _post(s: Staff, button) -> None:
    with s.page.expect_response(lambda r: r.request.method == "POST" and r.request.resource_type == "document"):
        button.click()
    s.page.wait_for_load_state()


def test_a_clerk_lends_a_key_on_a_phone_and_returns_it_from_the_register(staff, live, screenshots):  # noqa: F811
    from engine.service import Engine

    engine = Engine(live.db, live.registry)
    try:
        key = engine.start("key_keep", "amy", {"key_no": "K-301"})
    finally:
        engine.close()
    s: Staff = staff(PHONE)
    page = s.page
    s.login("amy")
    s.goto(f"/instances/{key['id']}")
    state = page.locator("section.resting")
    expect(state).to_contain_text("保管中")
    lend = page.locator("form#act-kept-lend")
    _taps(state.locator("button"))
    _taps(lend.locator("input[type='text']"))
    _fits(s)
    s.screenshot(screenshots, "phone-state-kept")

    _post(s, lend.locator("button", has_text="借出"))  # no borrower: refused beside the field
    expect(page.locator("form#act-kept-lend [data-field='borrower'] .field-error")).to_have_text("「借用人」為必填")
    page.locator("#act-kept-lend-note").fill("週末歸還")
    page.locator("#act-kept-lend-borrower").fill("裝修工 王師傅")
    _post(s, page.locator("form#act-kept-lend button", has_text="借出"))
    assert s.instance_id() == key["id"]
    expect(page.locator("section.resting")).to_contain_text("借出中")
    expect(page.locator("ol.timeline")).to_contain_text("王小明 執行「借出」")
    expect(page.locator("ol.timeline")).to_contain_text("借用人：裝修工 王師傅；備註：週末歸還")
    _fits(s)

    s.goto("/registers/key_keep")
    page.locator("#reg-state").select_option(label="借出中")
    page.locator("form.filters button[type='submit']").click()
    expect(page).to_have_url(re.compile(r"state=lent"))
    row = page.locator("table.register tbody tr", has_text=key["number"])
    expect(row.locator("td.resting")).to_contain_text("借出中")
    back = row.locator("button", has_text="歸還")
    back.scroll_into_view_if_needed()
    _taps(back)
    _fits(s)
    s.screenshot(screenshots, "phone-register-lent")
    _post(s, back)
    assert s.path() == "/registers/key_keep?state=lent&page=1"
    expect(page.locator("main")).to_contain_text("沒有紀錄")  # (no longer lent)
    s.goto(f"/instances/{key['id']}")
    expect(page.locator("section.resting")).to_contain_text("保管中")
    expect(page.locator("ol.timeline")).to_contain_text("王小明 執行「歸還」")
    assert not s.errors, s.errors
