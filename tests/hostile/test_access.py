"""Access: every request of access.txt, by a signed-in user over HTTP, answers what that user may know and no
more: confidential values stay hidden in children, pages, registers and exports; a search never matches what the
reader may not see; an attachment opens only for someone who may see a record holding it."""

from __future__ import annotations

import io
import re
import sqlite3
import zipfile

import pytest
from starlette.testclient import TestClient

from engine import definitions
from engine.errors import NotFound
from server.app import create_app

from ..conftest import REPO
from ..test_web_ui import Page
from . import corpus

ACCESS = REPO / "tests" / "fixtures" / "access"
CASES = corpus("access.txt")
PASSWORD = "access-test-pw"
CASE = {"caller": "林小姐", "unit": "3-0601", "phone": "13900002222", "issue": "廚房水管漏水"}
PNG = b"\x89PNG\r\n\x1a\n"
USERS = {"desk": ["desk"], "desk2": ["desk"], "tech": ["tech"], "outsider": []}


def login(app, name: str) -> TestClient:
    client = TestClient(app, raise_server_exceptions=False)
    page = Page(client.get("/login").text)
    resp = client.post("/login", data={"name": name, "password": PASSWORD, "csrf": page.csrf()},
                       follow_redirects=False)
    assert resp.status_code == 303, resp.text
    return client


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """The access site with one case handed over as a job, and a client signed in per user."""
    tmp = tmp_path_factory.mktemp("access")
    app = create_app(tmp / "access.db", definitions.load_strict(ACCESS), tick_seconds=0)
    engine = app.state.engine
    for name, roles in USERS.items():
        engine.add_user(name, roles, name.upper())
        engine.set_password(name, PASSWORD)
    with TestClient(app, raise_server_exceptions=False) as anon:
        clients = {name: login(app, name) for name in USERS} | {"anon": anon}
        files = {}
        for name, who in (("id_copy", "desk"), ("photo", "desk"), ("own", "outsider")):
            resp = clients[who].post("/api/attachments", files={"file": (f"{name}.png", PNG + name.encode())},
                                     headers={"x-csrf-token": csrf(clients[who])})
            files[name] = resp.json()["id"]
        data = dict(CASE, id_copy=files["id_copy"], photo=files["photo"])
        case = engine.start("case", "desk", data)["id"]
        job = engine.store.conn.execute("SELECT id FROM instances WHERE parent_id=?", (case,)).fetchone()[0]
        task = engine.show(job)["tasks"][0]["id"]
        values = {"case": case, "job": job, "task": task, **files, "phone": CASE["phone"], "caller": CASE["caller"]}
        yield clients, values
        for client in clients.values():
            client.close()


def csrf(client: TestClient) -> str:
    return Page(client.get("/").text).csrf()


def readable(resp) -> str:
    """What a person would read in the answer: the text, or every part of an .xlsx / .docx."""
    if resp.content[:2] == b"PK":
        with zipfile.ZipFile(io.BytesIO(resp.content)) as z:
            return "".join(z.read(n).decode("utf-8", "replace") for n in z.namelist())
    return resp.text


@pytest.mark.parametrize("line", CASES, ids=[re.sub(r"\s+", " ", c)[:60] for c in CASES])
def test_each_request_answers_only_what_its_user_may_know(site, line):
    clients, values = site
    who, method, path, status, *checks = line.split()
    url = path.format(**values)
    resp = clients[who].request(method, url)
    assert resp.status_code == int(status), (url, resp.text[:300])
    for check in checks:
        if check == "hides":
            text = readable(resp)
            leaked = [v for v in (CASE["caller"], CASE["phone"], values["id_copy"]) if v in text]
            assert not leaked, (url, leaked)
        elif check.startswith("lines="):
            assert len(resp.content.decode("utf-8-sig").splitlines()) == int(check[6:]), (url, resp.text)
        else:
            key, expected = check.split("=")
            assert str(resp.json()[key]) == expected, (url, resp.json())


def test_the_child_shows_what_it_copied_to_those_who_may_read_the_parent(site):
    clients, values = site
    desk = clients["desk"].get(f"/api/instances/{values['job']}").json()
    assert desk["data"]["phone"] == CASE["phone"] and desk["data"]["contact"] == "林小姐 13900002222"
    assert desk["hidden"] == []
    tech = clients["tech"].get(f"/api/instances/{values['job']}").json()
    assert tech["hidden"] == ["contact", "phone", "reporter"]  # computed from a confidential field: confidential
    assert tech["data"]["unit"] == "3-0601" and tech["data"]["photo"] == values["photo"]
    assert tech["data"]["reporter"] == "（保密）"


def test_a_repair_order_started_from_a_complaint_keeps_the_complainant_confidential(new_db, tmp_path, clock):
    """The case the issue found: 維修 staff may not open the complaint, nor read its complainant in the repair order
    it starts, its page, its register, its export or its printout; the desk that took it may."""
    from ..procedures.test_complaint import ANALYSIS, COMPLAINT

    app = create_app(new_db("c.db"), definitions.load_strict(REPO), tick_seconds=0, clock=clock)
    engine = app.state.engine
    for name, role in (("desk", "concierge"), ("zhu", "supervisor"), ("tech", "repair_tech")):
        engine.add_user(name, [role])
        engine.set_password(name, PASSWORD)
    iid = engine.start("complaint", "desk", COMPLAINT)["id"]
    engine.complete(engine.show(iid)["tasks"][0]["id"], "zhu", None, {})
    repair = dict(ANALYSIS, needs_repair=True, repair_location="陽台水管", someone_home=True)
    engine.complete(engine.show(iid)["tasks"][0]["id"], "desk", None, repair)
    child = engine.store.conn.execute("SELECT id FROM instances WHERE parent_id=?", (iid,)).fetchone()[0]
    with TestClient(app, raise_server_exceptions=False):
        tech, desk = login(app, "tech"), login(app, "desk")
        assert tech.get(f"/api/instances/{iid}").status_code == 403
        secrets = (COMPLAINT["complainant"], COMPLAINT["phone"])
        pages = [f"/api/instances/{child}", f"/instances/{child}", "/api/registers/repair_order",
                 "/registers/repair_order", "/registers/repair_order.csv", "/registers/repair_order.xlsx",
                 f"/api/registers/repair_order?q={COMPLAINT['phone']}", "/api/tasks", "/"]
        for url in pages:
            resp = tech.get(url)
            assert resp.status_code == 200 and not [s for s in secrets if s in readable(resp)], url
        assert tech.get(f"/api/registers/repair_order?q={COMPLAINT['phone']}").json()["total"] == 0
        doc = tech.post(f"/instances/{child}/printouts/order", data={"csrf": csrf(tech)})
        assert doc.status_code == 200 and doc.content[:2] == b"PK"
        assert not [s for s in secrets if s in readable(doc)]
        assert desk.get(f"/api/registers/repair_order?q={COMPLAINT['phone']}").json()["total"] == 1
        assert desk.get(f"/api/instances/{child}").json()["data"]["reporter"] == COMPLAINT["complainant"]
        tech.close()
        desk.close()



def test_a_database_from_before_keeps_its_attachments_readable_by_who_may_see_them(tmp_path):
    """Migration 0006 on a database made before it: uploads and the instances holding each file are found."""
    from engine.service import Engine

    db = tmp_path / "old.db"
    registry = definitions.load_strict(ACCESS)
    engine = Engine(db, registry)
    for name, roles in USERS.items():
        engine.add_user(name, roles)
    photo = engine.attach("desk", PNG + b"old photo", "photo.png")["id"]
    engine.start("case", "desk", dict(CASE, photo=photo))
    engine.close()
    with sqlite3.connect(db) as conn:  # back to the schema of 0005
        conn.executescript("DROP TABLE attachment_uploads; DROP TABLE attachment_refs; DROP TABLE sessions; "
                           "ALTER TABLE tokens DROP COLUMN expires_at; ALTER TABLE tokens DROP COLUMN revoked_at; "
                           "DELETE FROM migrations WHERE name = '0006_access';")
    engine = Engine(db, registry)
    try:
        assert engine.attachment(photo, "desk")[1] == PNG + b"old photo"  # the uploader
        assert engine.attachment(photo, "tech")[1] == PNG + b"old photo"  # a viewer of the job holding it
        with pytest.raises(NotFound):
            engine.attachment(photo, "outsider")
    finally:
        engine.close()
