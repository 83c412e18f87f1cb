"""A browser test of checklist results (Debian's chromium through Playwright, as tests/test_browser.py): at 390 px a
guard taps 不合格 on an item, its note becomes required, types it, sends, and sees the result recorded; every
choice is a tap target of at least 44 px. Skipped like tests/test_browser.py when playwright or the browser is
missing."""

from __future__ import annotations

from unittest import mock

import pytest

# Through tests/test_browser.py, which skips (and so skips this module) when playwright or chromium is missing:
# its browser and staff fixtures, and what it takes from playwright and tests/browser_support.py.
from tests.test_browser import PHONE, LiveServer, Staff, browser, expect, screenshots, staff  # noqa: F401
from tests.test_results_ui import results_defs

USERS = {"amy": (["clerk"], "林文員"), "sam": (["sec"], "孫保安"), "ed": (["eng"], "鄧師傅")}


@pytest.fixture(scope="module")
def live(tmp_path_factory):
    """The live server on the toy definitions with the patrol of tests/steps/test_results.py and its users."""
    from tests import browser_support  # (after tests/test_browser.py has skipped without playwright)

    folder = tmp_path_factory.mktemp("live-results")
    defs = results_defs(folder / "defs")
    with mock.patch.dict(browser_support.USERS, USERS, clear=True):
        server = LiveServer(folder / "goldkey.db", defs).start()
    yield server
    server.stop()


def test_a_guard_records_a_failure_with_its_note_on_a_phone(staff, live, screenshots):  # noqa: F811
    from engine.service import Engine

    engine = Engine(live.db, live.registry)
    try:
        iid = engine.start("round", "amy", {"location": "B1 車庫"})["id"]
    finally:
        engine.close()
    s: Staff = staff(PHONE)
    page = s.page
    s.login("sam")
    task = s.open_task(iid)
    lights = page.locator("[data-field='results.lights']")
    note = page.locator("textarea[name='note.lights']")
    expect(note).not_to_have_attribute("required", "")
    for segment in page.locator("[data-field='results.lights'] label.segment, [data-field='results.door'] "
                                "label.segment").all():
        box = segment.bounding_box()
        assert box["height"] >= 44 and box["width"] >= 44, (segment.inner_text(), box)
    assert s.scroll_width() <= PHONE["width"] + 1, "the task page scrolls sideways at 390 px"
    lights.locator("label.segment", has_text="不合格").click()  # a tap
    expect(page.locator("input[name='result.lights'][value='不合格']")).to_be_checked()
    assert note.evaluate("e => e.required") is True
    expect(lights.locator("[data-note-required]")).to_be_visible()
    expect(lights.locator("[data-clear-result]")).to_be_visible()
    s.screenshot(screenshots, "phone-results-failed-chosen")
    lights.locator("[data-clear-result]").click()  # changed one's mind: nothing chosen, no note needed
    assert note.evaluate("e => e.required") is False
    expect(page.locator("input[name='result.lights']:checked")).to_have_count(0)
    lights.locator("label.segment", has_text="不合格").click()
    note.fill("走廊燈管閃爍")
    page.locator("[data-field='results.door'] label.segment", has_text="關閉").first.click()
    s.submit()
    s.instance_id()  # every item that applies has a result: on to the instance page
    expect(page.locator("main")).to_contain_text("照明：不合格（走廊燈管閃爍）")
    expect(page.locator("main")).to_contain_text("因「照明」不合格，發起《維修》")
    s.goto(f"/tasks/{task}")
    recorded = page.locator("[data-field='results.lights']")
    expect(recorded.locator(".result-word")).to_have_text("不合格")
    expect(recorded).to_contain_text("走廊燈管閃爍")
    expect(recorded).to_contain_text("孫保安（sam）")
    s.screenshot(screenshots, "phone-results-recorded")
    assert s.scroll_width() <= PHONE["width"] + 1
    assert not s.errors, s.errors
