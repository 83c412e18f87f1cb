"""Personal data (客戶信息資料管理): every read of a confidential field logged — pages, the API, registers and
exports, printouts, records, reports — and listed for administrators only; a form's retention removing expired
personal data from instances and events with tombstones, the audit still verifying, on each backend."""

from __future__ import annotations

import pytest

from engine import definitions
from engine.errors import Forbidden

from .conftest import REPO, Cli, query
from .procedures.test_complaint import COMPLAINT
from .test_web_ui import site as web_site  # noqa: F401  (the web UI's site fixture, for the admin page)


@pytest.fixture
def desk(engine):
    engine.add_user("wang", ["concierge"], "王小明")  # a reader of complaints' customer fields
    engine.add_user("mop", ["cleaning"])
    engine.add_user("jing", ["manager"], "景經理")
    return engine


def reads(engine, **kw) -> list[tuple]:
    return [(r["user"], r["kind"], r["label"], r["fields"], r["via"]) for r in engine.confidential_reads("jing", **kw)]


def test_each_read_of_a_confidential_field_is_logged_and_only_administrators_list_them(desk):
    made = desk.start("complaint", "wang", COMPLAINT)
    assert reads(desk) == []  # (starting is writing, not reading)
    desk.show(made["id"], "wang")
    desk.show(made["id"], "wang", via="api")
    desk.register("complaint", "wang")
    logged = reads(desk)
    assert logged[0] == ("wang", "instance", made["number"], ["complainant", "phone"], "register")
    assert [r[4] for r in logged] == ["register", "api", "page"]
    with pytest.raises(Forbidden):
        desk.confidential_reads("wang")
    assert [r[0] for r in reads(desk, reader="nobody")] == []


def test_a_reader_who_sees_the_field_masked_reads_nothing_and_inherited_secrets_count(new_db, clock):
    from engine.service import Engine

    engine = Engine(new_db("access.db"), definitions.load_strict(REPO / "tests" / "fixtures" / "access"), clock=clock)
    try:
        for user, roles in (("desk", ["desk"]), ("tech", ["tech"]), ("boss", ["boss"])):
            engine.add_user(user, roles)
        engine.start("case", "desk", {"caller": "林小姐", "unit": "3-0601", "phone": "13900002222", "issue": "漏水"})
        job = engine.store.conn.execute("SELECT id FROM instances WHERE workflow = 'job'").fetchone()[0]
        assert engine.show(job, "tech")["data"]["phone"] == "（保密）"
        assert engine.confidential_reads("boss") == []
        engine.show(job, "desk")  # (the job's reporter and phone came from the case's confidential fields)
        assert [(r["user"], r["kind"], r["ref"], r["fields"]) for r in engine.confidential_reads("boss")] == [
            ("desk", "instance", str(job), ["contact", "phone", "reporter"])]
    finally:
        engine.close()


def test_printouts_records_and_reports_are_logged_too(desk, clock):
    from .procedures.test_golden_key import PAID

    slip = desk.start("golden_key_service", "wang", PAID)
    desk.render(slip["id"], "slip", "wang")  # (at its print step: the slip may be printed)
    assert reads(desk)[0] == ("wang", "instance", slip["number"], ["owner", "phone"], "printout")
    desk.complete(slip["tasks"][0]["id"], "wang")  # (printed, then confirmed as handed over)
    desk.add_user("lee", ["cs_supervisor", "concierge"])
    desk.add_record("customer", "lee", {"building": "1棟", "unit": "101", "name": "李先生", "kind": "業主",
                                        "phone": "13800000000", "id_number": "11010119900101123X"})
    desk.records("customer", "lee")
    desk.records("customer", "wang")  # (the concierge does not see 身份證號: nothing to log)
    desk.lookup("customer", "lee", "李")
    assert [r[1:] for r in reads(desk)][:2] == [("record", "1棟 101 李先生", ["id_number"], "lookup"),
                                               ("record", "1棟 101 李先生", ["id_number"], "page")]


def test_the_log_from_the_command_line(new_db):
    cli = Cli(new_db("cli.db"))
    cli.run("users", "add", "wang", "--role", "concierge")
    cli.run("users", "add", "jing", "--role", "manager")
    made = cli.json("start", "complaint", "--as", "wang", "--data", __import__("json").dumps(COMPLAINT,
                                                                                              ensure_ascii=False))
    assert cli.json("reads", "--as", "jing") == []
    refused = cli.run("reads", "--as", "wang", ok=False)
    assert refused.returncode == 3
    del made


# --- retention ------------------------------------------------------------------------------------------------------

VISIT = {"source_number": "JYS-2026-00001", "owner": "李先生", "unit": "1棟 101", "phone": "13800000000",
         "request": "訂票"}


def visited(engine) -> dict:
    engine.add_user("amy", ["assistant"])
    engine.add_user("jing2", ["manager"])
    inst = engine.start("service_visit", "amy", VISIT)
    inst = engine.complete(inst["tasks"][0]["id"], "amy", data={"visit_method": "電話", "quality": "好",
                                                                 "effect": "好", "satisfaction": "滿意"})
    return engine.complete(inst["tasks"][0]["id"], "jing2", data={"manager_opinion": "同意"})


def test_expired_personal_data_is_removed_with_tombstones_and_the_audit_still_verifies(engine, clock, new_db):
    done = visited(engine)
    assert done["status"] == "completed"
    clock.advance(days=365 * 2 - 2)
    assert engine.retention()["instances"] == []  # (not two years yet)
    clock.advance(days=6)
    listed = engine.retention()
    assert [(i["number"], i["fields"]) for i in listed["instances"]] == [(done["number"], ["owner", "phone"])]
    assert not listed["applied"] and engine.show(done["id"])["data"]["owner"] == "李先生"
    applied = engine.retention(apply=True, user="jing2")
    assert applied["applied"] and applied["events_redacted"] == 1
    after = engine.show(done["id"])
    assert "owner" not in after["data"] and "phone" not in after["data"] and after["data"]["unit"] == "1棟 101"
    started = next(e for e in after["history"] if e["type"] == "instance_started")
    assert started["payload"]["data"]["owner"] == "（已依保存期限刪除）"
    assert started["payload"]["data"]["request"] == "訂票"
    assert engine.audit()["ok"]
    assert query(new_db(), "SELECT fields, by_user FROM event_tombstones") == [('["owner","phone"]', "jing2")]
    assert engine.retention()["instances"] == []  # (nothing left to remove)
    with pytest.raises(Exception, match="append-only"):  # (the rule is back once the removal is done)
        with engine.store.write():
            engine.store.conn.execute("UPDATE events SET actor = 'x'")
    with engine.store.write(), engine.store._events_writable():  # a tampered event is still found
        engine.store.conn.execute("UPDATE events SET actor = 'x' WHERE seq = 2 AND instance_id = ?", (done["id"],))
    assert not engine.audit()["ok"]


def test_a_retention_mistake_is_reported_at_its_place(tmp_path):
    import shutil

    root = tmp_path / "defs"
    shutil.copytree(REPO, root, ignore=shutil.ignore_patterns(".venv", ".git", "tests", "bench", "docs", "*.db",
                                                              "__pycache__"))
    path = root / "forms/service_visit.yaml"
    path.write_text(path.read_text(encoding="utf-8").replace("retention: {keep: 2 years}",
                                                             "retention: {keep: 2 working days, fields: [ownr]}"),
                    encoding="utf-8")
    found = [str(p) for p in definitions.load(root, display_root="").problems]
    assert found == ["forms/service_visit.yaml:36:19: keep personal data for days, months or years (e.g. 2 years), "
                     "not 2 working days"]


@pytest.fixture
def site(web_site):  # noqa: F811
    return web_site


def test_the_admin_page_lists_the_reads_in_words(site):
    made = site.engine.start("complaint", "wang", COMPLAINT)
    site.engine.show(made["id"], "wang")
    page = site.login("boss").get("/admin")
    assert page.status_code == 200
    section = page.text.split('id="reads"', 1)[1]
    assert "保密資料查閱紀錄" in page.text and "王小明" in section and "投訴人" in section and "頁面" in section
    assert "complainant" not in section
