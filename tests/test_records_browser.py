"""Browser tests of the record pages and lookups (Debian's chromium through Playwright, as tests/test_browser.py):
at 390 px a concierge types part of a unit into the repair order's 樓室號, picks it from the suggestions by tap and
by keyboard, and sees the reporter and phone filled; an assistant imports a 300-row sheet and follows its progress
bar to the report. Skipped like tests/test_browser.py when playwright or the browser is missing."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from engine import recordservice
from engine.service import Engine
from tests.conftest import add_units

# Through tests/test_browser.py, which skips (and so skips this module) when playwright or chromium is missing:
# its browser and staff fixtures, and what it takes from playwright and tests/browser_support.py.
from tests.test_browser import PHONE, LiveServer, Staff, browser, expect, screenshots, staff  # noqa: F401

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def live(tmp_path_factory):
    """The live server on a database that holds the test units (7棟 602, 1棟 101, 3棟 601)."""
    db = tmp_path_factory.mktemp("live-records") / "goldkey.db"
    add_units(db)
    server = LiveServer(db, REPO).start()
    yield server
    server.stop()


def _fits_the_phone(s: Staff) -> None:
    assert s.scroll_width() <= PHONE["width"] + 1, f"{s.path()} scrolls sideways at 390 px"
    assert not s.squeezed_scrollers(), s.squeezed_scrollers()


def test_a_concierge_picks_the_unit_from_suggestions_and_the_reporter_is_filled(staff, screenshots):  # noqa: F811
    s = staff(PHONE)
    page = s.page
    s.login("wang")
    s.goto("/start/repair_order")
    unit, options = s.control("unit"), page.locator("#f-unit-list [role='option']")
    unit.press_sequentially("602", delay=40)
    expect(options).to_have_count(1)
    expect(options.first).to_contain_text("7棟 602")
    expect(unit).to_have_attribute("aria-expanded", "true")
    assert options.first.bounding_box()["height"] >= 44
    s.screenshot(screenshots, "phone-lookup-suggestions")
    _fits_the_phone(s)
    options.filter(has_text="7棟 602").click()  # a tap
    expect(page.locator("#f-unit-list")).to_be_hidden()
    assert (s.value("unit"), s.value("reporter"), s.value("phone")) == ("7棟 602", "周先生", "13511112222")

    # By keyboard: a field already filled by hand is left as it is; an empty one is filled.
    s.fill("reporter", "王太太")
    s.fill("phone", "")
    unit.fill("")
    unit.press_sequentially("1棟", delay=40)
    expect(options).to_have_count(1)
    unit.press("ArrowDown")
    expect(options.first).to_have_attribute("aria-selected", "true")
    unit.press("Enter")  # chooses: does not send the form
    assert s.path() == "/start/repair_order"
    assert (s.value("unit"), s.value("reporter"), s.value("phone")) == ("1棟 101", "王太太", "13800000000")
    unit.press_sequentially("x")
    unit.press("Escape")
    expect(page.locator("#f-unit-list")).to_be_hidden()
    unit.fill("1棟 101")

    s.fill("source", "業主報修")
    s.fill("location", "衛生間")
    s.fill("description", "天花板滲水")
    s.fill("someone_home", True)
    s.submit()
    iid = s.instance_id()
    expect(page.locator("main")).to_contain_text("王太太")
    expect(page.locator("main")).to_contain_text("1棟 101")
    assert iid and not s.errors, s.errors


def test_an_import_of_300_rows_shows_its_progress_then_the_report(staff, live, screenshots, monkeypatch):  # noqa: F811
    # Slow the import down (small batches, a pause after each) so the page's polling is seen moving the bar.
    monkeypatch.setattr(recordservice, "IMPORT_BATCH", 30)
    original = Engine.import_records

    def slow(self, *args, progress=None, **kwargs):
        def paced(done, total):
            progress(done, total)
            time.sleep(0.25)
        return original(self, *args, progress=paced if progress else None, **kwargs)

    monkeypatch.setattr(Engine, "import_records", slow)
    rows = ["樓棟,房號,建築面積（㎡）,業主,狀態"] + [f"8棟,{n:03d},{60 + n % 40},業主{n},自住" for n in range(1, 301)]
    s = staff(PHONE)
    page = s.page
    s.login("xiao")
    s.goto("/records")
    page.locator("main a[href='/records/unit']").click()
    page.locator("main a[href='/records/unit/import']").click()
    _fits_the_phone(s)
    page.set_input_files("input[name='file']", files=[{"name": "units.csv", "mimeType": "text/csv",
                                                       "buffer": ("\n".join(rows) + "\n").encode("utf-8")}])
    s.submit()
    bar = page.locator("progress")
    expect(bar).to_be_visible()
    seen: set[tuple[float, float]] = set()
    deadline = time.monotonic() + 20
    while not page.locator(".result, .form-error").count() and time.monotonic() < deadline:
        try:  # (the page loads itself again when the import ends)
            shown = page.evaluate("() => [...document.querySelectorAll('progress')].map(e => [e.value, e.max])")
        except Exception:  # noqa: BLE001 - a reload under the look
            shown = []
        seen.update(tuple(v) for v in shown)
        if len(seen) == 2:
            s.screenshot(screenshots, "phone-import-running")
        page.wait_for_timeout(100)
    expect(page.locator(".result")).to_contain_text("匯入完成：新增 300 筆、更新 0 筆、沒有變動 0 筆", timeout=20_000)
    assert any(0 < value < top for value, top in seen), f"the bar never showed an import under way: {seen}"
    expect(bar).to_have_attribute("value", "300")
    s.screenshot(screenshots, "phone-import-report")
    _fits_the_phone(s)
    page.locator("main a[href='/records/unit']").last.click()
    expect(page.locator("main")).to_contain_text("共 303 筆")
    s.screenshot(screenshots, "phone-records-list")
    _fits_the_phone(s)
    assert not s.errors, s.errors
