"""The web UI of checklist results and of deadlines over several steps, over HTTP (Starlette's TestClient on the real
app and a real SQLite file): a patrol's items recorded as results with a note and a real photo, a round that goes
on over several posts, a failure without a note refused beside its item with nothing written and what was typed
kept, the follow-up it starts linked in the history; the instance page of a report workflow with its deadline
before and after it is met, in time and late."""

from __future__ import annotations

import re
import struct
import zlib
from datetime import UTC, datetime, timedelta

import pytest
from starlette.testclient import TestClient

from engine import definitions
from server.app import create_app

from .conftest import TOY, Clock
from .steps.test_results import FORM as ROUND_FORM
from .steps.test_results import MEND, PATROL
from .test_dates import FORM as LEASE_FORM
from .test_dates import REPORT
from .test_definitions import copy_defs
from .test_web_ui import Page, Site


def png(width: int = 2, height: int = 2, rgb: tuple[int, int, int] = (200, 30, 30)) -> bytes:
    """A real PNG picture (a small square of one colour)."""
    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    rows = b"".join(b"\x00" + bytes(rgb) * width for _ in range(height))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b""))


PHOTO = png()


def results_defs(root):
    """tests/fixtures/toy with the patrol of tests/steps/test_results.py (round, its follow-up mend) and the
    report of tests/test_dates.py (a deadline over several steps)."""
    root.mkdir(parents=True, exist_ok=True)
    copy_defs(TOY, root)
    (root / "forms" / "round.yaml").write_text(ROUND_FORM, encoding="utf-8")
    (root / "forms" / "lease.yaml").write_text(LEASE_FORM, encoding="utf-8")
    for wid, text in {"round": PATROL, "mend": MEND, "report": REPORT}.items():
        (root / "workflows" / f"{wid}.yaml").write_text(text, encoding="utf-8")
    return root


@pytest.fixture
def site(new_db, tmp_path):
    root = results_defs(tmp_path / "defs")
    clock = Clock()
    app = create_app(new_db("results.db"), definitions.load_strict(root), tick_seconds=0, clock=clock)
    with TestClient(app):
        s = Site(app, clock)
        for name, roles, title in (("amy", ["clerk"], "林文員"), ("sam", ["sec"], "孫保安"), ("ed", ["eng"], "鄧師傅"),
                                   ("bo", ["boss"], "包經理")):
            s.user(name, roles, title)
        yield s


def _round(site: Site, location: str = "B1 車庫") -> tuple[int, str]:
    iid = site.engine.start("round", "amy", {"location": location})["id"]
    return iid, site.task(iid, "walk")


def _post(site: Site, user: str, task: str, data: dict, files=None):
    client = site.as_(user)
    page = client.get(f"/tasks/{task}")
    assert page.status_code == 200, page.text
    return client.post(f"/tasks/{task}", data=dict(data, csrf=Page(page.text).csrf()), files=files or [])


def _open_task(site: Site, iid: int, task: str) -> dict:
    return next(t for t in site.engine.show(iid)["tasks"] if t["id"] == task)


def test_the_task_page_offers_each_items_results_a_note_and_photos(site):
    iid, task = _round(site)
    html = site.as_("sam").get(f"/tasks/{task}").text
    page = Page(html)
    assert 'enctype="multipart/form-data"' in html and "逐項記錄結果" in html
    door = page.fields["results.door"]
    radios = [i["value"] for i in door["inputs"] if i.get("type") == "radio"]
    assert radios == ["關閉", "未關閉", "損壞"] and all(i["name"] == "result.door" for i in door["inputs"][:3])
    assert [i["value"] for i in page.fields["results.lights"]["inputs"] if i.get("type") == "radio"] == [
        "合格", "不合格", "不適用"]
    photo = next(i for i in door["inputs"] if i.get("type") == "file")
    assert photo["name"] == "photo.door" and photo["accept"] == "image/*" and photo["capture"] == "environment"
    assert "multiple" in photo
    note = next(i for i in door["inputs"] if i["tag"] == "textarea")
    assert note["name"] == "note.door" and "required" not in note  # (until a failure is chosen)
    assert "（未關閉、損壞時必填）" in html and "（選填）" in html  # the litter item is optional
    assert door["attrs"]["data-failed"] == '["未關閉", "損壞"]'
    assert 'name="checked"' not in html  # no ticks where results are asked


def test_a_pass_then_a_failure_with_a_note_and_a_photo_start_the_follow_up(site):
    iid, task = _round(site)
    first = _post(site, "sam", task, {"result.lights": "合格"})
    assert first.status_code == 303 and first.headers["location"] == f"/tasks/{task}"  # the round goes on
    assert _open_task(site, iid, task)["items"][0]["checked"]["result"] == "合格"
    page = Page(site.as_("sam").get(f"/tasks/{task}").text)
    lights = page.fields["results.lights"]
    assert lights["inputs"] == [] and "done" in lights["class"]  # recorded: read-only
    html = site.as_("sam").get(f"/tasks/{task}").text
    shown = html.split('data-field="results.lights"')[1].split('data-field="results.door"')[0]
    assert "合格" in shown and "孫保安（sam）" in shown and "11月02日 09:30" in shown

    done = _post(site, "sam", task, {"result.door": "損壞", "note.door": "閉門器脫落"},
                 files=[("photo.door", ("door.png", PHOTO, "image/png"))])
    assert done.status_code == 303 and done.headers["location"] == f"/instances/{iid}", done.text
    view = site.engine.show(iid)
    assert view["status"] == "completed"
    recorded = [e for e in view["history"] if e["type"] == "items_checked"][-1]["payload"]["results"]["door"]
    assert recorded["result"] == "損壞" and recorded["note"] == "閉門器脫落" and len(recorded["photos"]) == 1
    photo = recorded["photos"][0]
    started = [e for e in view["history"] if e["type"] == "child_started"]
    assert len(started) == 1
    child = started[0]["payload"]["child"]
    assert site.engine.show(child)["data"] == {"subject": "消防門", "note": "B1 車庫：閉門器脫落"}

    instance = site.as_("amy").get(f"/instances/{iid}").text
    line = instance.split("因「消防門」不合格，發起《維修》")
    assert len(line) == 2, instance
    assert re.search(rf'<a class="link" href="/instances/{child}">查看該案件</a>', line[1].split("</li>")[0])
    assert "消防門：損壞（閉門器脫落）〔照片 1 張〕" in instance and "照明：合格" in instance
    assert f"/instances/{child}" in Page(instance).links

    closed = site.as_("amy").get(f"/tasks/{task}").text  # the closed task shows what was recorded
    door = closed.split('data-field="results.door"')[1]
    assert "損壞" in door and "閉門器脫落" in door and f'src="/api/attachments/{photo}"' in door
    assert f"/api/attachments/{photo}" in Page(closed).links
    assert site.as_("amy").get(f"/api/attachments/{photo}").content == PHOTO
    assert [t["title"] for t in site.engine.tasks("ed")] == ["維修"]


def test_a_failure_without_a_note_is_refused_beside_its_item_and_nothing_is_written(site):
    iid, task = _round(site)
    refused = _post(site, "sam", task, {"result.lights": "合格", "result.door": "未關閉", "note.door": "  "},
                    files=[("photo.door", ("door.png", PHOTO, "image/png"))])
    assert refused.status_code == 422
    page = Page(refused.text)
    assert page.fields["results.door"]["errors"] == ["「消防門」為「未關閉」，請寫明情況"]
    assert "has-error" in page.fields["results.door"]["class"] and not page.fields["results.lights"]["errors"]
    assert page.value("result.door") == "未關閉" and page.value("result.lights") == "合格"  # kept as chosen
    note = next(i for i in page.inputs if i.get("name") == "note.door")
    assert "required" in note
    kept = page.value("photo.door.keep")
    assert len(kept) == 1 and re.fullmatch(r"[0-9a-f]{64}", kept[0])  # the photo survives the error
    assert _open_task(site, iid, task)["items"][0]["checked"] is None  # nothing recorded, not even the pass
    assert not [e for e in site.engine.show(iid)["history"] if e["type"] == "items_checked"]

    fixed = _post(site, "sam", task, {"result.lights": "合格", "result.door": "未關閉", "note.door": "門被雜物卡住",
                                      "photo.door.keep": kept[0]})
    assert fixed.status_code == 303 and fixed.headers["location"] == f"/instances/{iid}"
    door = [e for e in site.engine.show(iid)["history"] if e["type"] == "items_checked"][-1]["payload"]["results"]
    assert door["door"]["photos"] == kept and door["door"]["note"] == "門被雜物卡住"


@pytest.mark.parametrize(("data", "files", "where", "message"), [
    ({"result.lights": "壞了"}, [], "results.lights", "「照明」的結果須為：合格、不合格、不適用"),
    ({"note.door": "看不清"}, [], "results.door", "請為「消防門」選擇結果"),
    ({"result.door": "關閉"}, [("photo.door", ("scan.pdf", b"%PDF-1.4 x", "application/pdf"))], "results.door",
     "「scan.pdf」不是照片：請選擇 PNG 或 JPEG 圖片"),
    ({"result.door": "關閉"}, [("photo.door", (f"{n}.png", png(1, 1, (n, n, n)), "image/png")) for n in range(7)],
     "results.door", "每一項最多 6 張照片（已選 7 張）"),
    ({"result.door": "關閉"}, [("photo.door", ("x.png", b"not a picture", "image/png"))], "results.door",
     "照片「x.png」未能上傳：只接受 PNG、JPEG 圖片或 PDF 檔"),
    ({}, [], "results", "沒有新記錄的項目"),
])
def test_bad_results_are_refused_in_words_never_a_500(site, data, files, where, message):
    iid, task = _round(site)
    refused = _post(site, "sam", task, data, files)
    assert refused.status_code == 422, refused.text
    page = Page(refused.text)
    errors = page.fields[where]["errors"] if where in page.fields else []
    assert any(message in e for e in errors) or (where == "results" and message in refused.text), (errors,
                                                                                                  page.form_errors)
    assert not [e for e in site.engine.show(iid)["history"] if e["type"] == "items_checked"]


def test_someone_without_the_role_sees_the_results_read_only(site):
    iid, task = _round(site)
    _post(site, "sam", task, {"result.lights": "不適用"})
    html = site.as_("amy").get(f"/tasks/{task}").text  # the starter may look, not act
    page = Page(html)
    assert not [i for i in page.inputs if i.get("name", "").startswith(("result.", "note.", "photo."))]
    assert "不適用" in html.split('data-field="results.lights"')[1] and "尚未記錄" in html


# --- deadlines over several steps --------------------------------------------------------------------------------

def _local(*args) -> datetime:
    return datetime(*args, tzinfo=UTC) - timedelta(hours=8)


def _deadlines(html: str) -> str:
    section = html.split('<section class="card deadlines">')
    assert len(section) == 2, "no 時限 section"
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", section[1].split("</section>")[0])).strip()


def _report(site: Site, subject: str) -> int:
    return site.engine.start("report", "amy", {"subject": subject, "occurred_at": "2026-11-02T08:00:00+08:00"})["id"]


def _finish_report(site: Site, iid: int) -> None:
    site.engine.complete(site.task(iid, "write"), "sam", data={"note": "經過"})
    site.engine.complete(site.task(iid, "sign"), "bo", "approve")
    site.engine.complete(site.task(iid, "received"), "amy", data={"note": "已簽收"})


def test_the_instance_page_shows_a_deadline_running_then_met_in_time(site):
    iid = _report(site, "水浸")
    shown = _deadlines(site.as_("amy").get(f"/instances/{iid}").text)
    assert shown == "時限 書面報告送達公司 進行中 應於 11月03日 08:00 前（最遲 11月03日 20:00）"
    site.clock.now = _local(2026, 11, 2, 15, 0)
    _finish_report(site, iid)
    html = site.as_("amy").get(f"/instances/{iid}").text
    assert _deadlines(html) == ("時限 書面報告送達公司 已達成（準時） 應於 11月03日 08:00 前（最遲 11月03日 20:00） "
                                "達成於 11月02日 15:00")
    assert "時限「書面報告送達公司」已達成（準時）" in html


def test_the_instance_page_shows_a_deadline_overdue_then_met_late(site):
    iid = _report(site, "電梯困人")
    site.clock.now = _local(2026, 11, 3, 6, 1)
    site.engine.tick()  # the reminder two hours before
    html = site.as_("amy").get(f"/instances/{iid}").text
    assert "進行中" in _deadlines(html) and "提醒：時限「書面報告送達公司」" in html
    site.clock.now = _local(2026, 11, 3, 9, 0)
    assert "書面報告送達公司 已逾期 應於 11月03日 08:00 前" in _deadlines(site.as_("amy").get(f"/instances/{iid}").text)
    _finish_report(site, iid)
    html = site.as_("amy").get(f"/instances/{iid}").text
    assert "書面報告送達公司 已達成（逾時）" in _deadlines(html) and "達成於 11月03日 09:00" in _deadlines(html)
    assert "時限「書面報告送達公司」已達成，但已逾時" in html and "已過最遲時限" not in html
    site.clock.now = _local(2026, 11, 3, 21, 0)
    late = _report(site, "停電")  # (the same event: already past its last moment when the case starts)
    _finish_report(site, late)
    html = site.login("amy").get(f"/instances/{late}").text  # (signed in again: the session ended meanwhile)
    assert "時限「書面報告送達公司」已達成，但已逾時" in html and "已過最遲時限" in html


def test_a_deadline_whose_moment_is_not_known_yet(site):
    iid = site.engine.start("report", "amy", {"subject": "噪音"})["id"]
    assert _deadlines(site.as_("amy").get(f"/instances/{iid}").text) == "時限 書面報告送達公司 尚未起算"
