"""A signature drawn on a phone: Debian's chromium (Playwright) at 390 px with a touch screen, against the real app
under uvicorn. The concierge fills the 金鑰匙服務 start form, the owner signs on the pad with a finger (touch events
through the DevTools protocol, which chromium turns into pointer events of type touch), 清除 empties the pad, the
owner signs again, the form is sent; the instance page shows the signature, and the 金鑰匙服務單 downloaded from the
print task holds the very PNG that was uploaded, read back with python-docx.

Skipped as tests/test_browser.py is when playwright or the browser is missing (GOLDKEY_BROWSER_TESTS=required:
fails)."""

from __future__ import annotations

import io
import os
import re
import struct
from pathlib import Path

import pytest

from tests import browser_gate

browser_gate.require()

import docx  # noqa: E402
from playwright.sync_api import expect  # noqa: E402

from tests.browser_support import PHONE, LiveServer, Staff  # noqa: E402
from tests.test_browser import browser  # noqa: E402, F401 (its chromium, shared)

REPO = Path(__file__).resolve().parents[1]
SLIP = {"owner": "李先生", "unit": "3棟1201", "phone": "13800138000", "category": "訂花",
        "request": "週六上午送一束花到市人民醫院", "nature": "有償", "prepaid": "500"}
INK = """c => { const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data; let n = 0;
                for (let i = 3; i < d.length; i += 4) if (d[i]) n++; return n; }"""


@pytest.fixture(scope="module")
def live(tmp_path_factory):
    server = LiveServer(tmp_path_factory.mktemp("live-sign") / "goldkey.db", REPO).start()
    yield server
    server.stop()


@pytest.fixture
def phone(browser, live):  # noqa: F811 (the fixture imported above)
    """A member of staff on a phone: 390 px wide, a touch screen, downloads allowed."""
    context = browser.new_context(viewport=PHONE, has_touch=True, is_mobile=True, device_scale_factor=2,
                                  locale="zh-CN", timezone_id="Asia/Shanghai", accept_downloads=True)
    context.set_default_timeout(10_000)
    staff = Staff(context.new_page(), live.url)
    staff.cdp = context.new_cdp_session(staff.page)
    yield staff
    context.close()


@pytest.fixture
def screenshots(tmp_path) -> Path:
    folder = Path(os.environ.get("GOLDKEY_SCREENSHOTS") or tmp_path / "screenshots")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def sign_with_finger(s: Staff, canvas, strokes: list[list[tuple[float, float]]]) -> None:
    """Each stroke a finger put down, moved and lifted: points are fractions of the pad's width and height."""
    canvas.scroll_into_view_if_needed()
    box = canvas.bounding_box()
    for stroke in strokes:
        points = [{"x": box["x"] + fx * box["width"], "y": box["y"] + fy * box["height"]} for fx, fy in stroke]
        s.cdp.send("Input.dispatchTouchEvent", {"type": "touchStart", "touchPoints": [points[0]]})
        for point in points[1:]:
            s.cdp.send("Input.dispatchTouchEvent", {"type": "touchMove", "touchPoints": [point]})
        s.cdp.send("Input.dispatchTouchEvent", {"type": "touchEnd", "touchPoints": []})


def signature_strokes() -> list[list[tuple[float, float]]]:
    wave = [(0.1 + i * 0.02, 0.55 + (0.2 if i % 4 < 2 else -0.2)) for i in range(30)]
    return [wave, [(0.2, 0.3), (0.45, 0.7), (0.7, 0.35)], [(0.8, 0.5)]]  # (the last: a dot)


def png_size(data: bytes) -> tuple[int, int]:
    assert data.startswith(b"\x89PNG\r\n\x1a\n") and data[12:16] == b"IHDR"
    return struct.unpack(">II", data[16:24])


def test_the_owner_signs_with_a_finger_and_the_slip_prints_the_signature(phone, tmp_path, screenshots):
    s = phone
    page = s.page
    s.login("wang")
    s.goto("/start/golden_key_service")
    for name, value in SLIP.items():
        s.fill(name, value)

    pad = s.field("owner_signature")
    canvas = pad.locator("canvas.pad")
    expect(canvas).to_be_visible()
    expect(pad.locator("[data-signature-hint]")).to_have_text("請在框內簽名")
    expect(pad.locator("button[data-signature-clear]")).to_have_text("清除")
    assert canvas.evaluate("c => getComputedStyle(c).touchAction") == "none"
    width = canvas.bounding_box()["width"]
    assert 250 < width <= 390 and s.scroll_width() <= PHONE["width"], "the pad fits the phone's width"
    page.evaluate("""() => { window.seen = []; document.querySelector('canvas.pad')
        .addEventListener('pointerdown', e => window.seen.push(e.pointerType)); }""")

    # A first try, cleared; then the signature. The page does not scroll under the finger.
    sign_with_finger(s, canvas, [[(0.1, 0.5), (0.5, 0.5), (0.9, 0.5)]])
    assert canvas.evaluate(INK) > 0
    expect(pad.locator("[data-signature-hint]")).to_be_hidden()
    pad.locator("button[data-signature-clear]").click()
    assert canvas.evaluate(INK) == 0
    expect(pad.locator("[data-signature-hint]")).to_be_visible()
    scrolled = page.evaluate("window.scrollY")
    sign_with_finger(s, canvas, signature_strokes())
    assert page.evaluate("window.scrollY") == scrolled
    assert canvas.evaluate(INK) > 200
    assert page.evaluate("window.seen") == ["touch"] * 4
    s.screenshot(screenshots, "signature-pad-390")

    s.submit()  # the pad's PNG is uploaded first, then the form is sent
    iid = s.instance_id()
    image = page.locator("dl.data img.signature-image")
    expect(image).to_be_visible()
    assert image.evaluate("i => i.complete && i.naturalWidth") == 750
    src = image.get_attribute("src")
    digest = re.fullmatch(r"/api/attachments/([0-9a-f]{64})", src).group(1)
    uploaded = page.request.get(s.base + src).body()
    assert png_size(uploaded) == (750, 300)
    expect(page.locator("ol.timeline")).to_contain_text("錄入簽名")
    s.screenshot(screenshots, "signature-instance-390")

    # The print task's download: the 金鑰匙服務單 with the owner's signature on the 業主簽名 line of both copies.
    s.open_task(iid, "開具金鑰匙服務單")
    body = s.print_and_download(tmp_path / "slip.docx")
    document = docx.Document(io.BytesIO(body))
    signed = []
    for shape in document.inline_shapes:
        inline = shape._inline
        if inline.docPr.get("descr") == "goldkey:signature:owner_signature":
            signed.append(document.part.related_parts[inline.graphic.graphicData.pic.blipFill.blip.embed].blob)
    assert signed == [uploaded, uploaded]
    assert sum(p.text.startswith("業主簽名：\u3000日期：") for p in document.paragraphs) == 2
    s.submit()

    # Its verification states the signature's hash.
    code = next(e["payload"]["code"] for e in live_events(s, iid) if e["type"] == "printout_issued")
    s.goto(f"/verify/{code}")
    expect(page.locator("code.hash")).to_have_text(digest)
    assert not s.errors, s.errors


def live_events(s: Staff, iid: int) -> list[dict]:
    return s.page.request.get(f"{s.base}/api/instances/{iid}").json()["history"]
