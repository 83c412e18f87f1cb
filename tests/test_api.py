"""The JSON API over HTTP (Starlette's TestClient on a real SQLite file): the contract, the status codes, access
control, and that no input, however bad, gets a 500."""

from __future__ import annotations

import json
import re
import shutil
from urllib.parse import quote

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from starlette.testclient import TestClient

from engine import definitions
from server.app import create_app

from .conftest import REPO
from .procedures.test_golden_key import PAID


@pytest.fixture(scope="module")
def registry():
    return definitions.load_strict(REPO)


@pytest.fixture
def api(new_db, tmp_path, registry, clock):
    app = create_app(new_db("api.db"), registry, tick_seconds=0, clock=clock)
    engine = app.state.engine
    users = {}
    for name, roles in (("wang", ["concierge"]), ("chen", ["cs_supervisor"]), ("li", ["cashier"]),
                        ("boss", ["manager"])):
        engine.add_user(name, roles, name.upper())
        users[name] = {"authorization": f"Bearer {engine.new_token(name)}"}
    with TestClient(app, raise_server_exceptions=False) as client:
        client.users = users
        client.engine = engine
        yield client


def test_the_contract_start_tasks_complete_show_print(api):
    wang = api.users["wang"]
    assert [w["id"] for w in api.get("/api/workflows", headers=wang).json()][:1] == ["complaint"]
    assert api.get("/api/workflows/golden_key_service", headers=wang).json()["start"]["roles"] == ["concierge"]
    made = api.post("/api/instances", headers=wang, json={"workflow": "golden_key_service", "data": PAID})
    assert made.status_code == 201
    inst = made.json()
    assert inst["number"].startswith("JYS-") and [t["step"] for t in inst["tasks"]] == ["issue_slip"]
    task = inst["tasks"][0]["id"]
    assert [t["id"] for t in api.get("/api/tasks", headers=wang).json()] == [task]
    assert inst["tasks"][0]["printed"] is False and inst["tasks"][0]["download"]["name"] == "slip"
    unprinted = api.post(f"/api/tasks/{task}/complete", headers=wang, json={})  # the slip is printed first
    assert unprinted.status_code == 422 and [d["field"] for d in unprinted.json()["details"]] == ["comment"]
    doc = api.get(f"/api/instances/{inst['id']}/printouts/slip", headers=wang)
    assert doc.status_code == 200 and doc.content[:2] == b"PK"
    code = doc.headers["x-goldkey-code"]
    assert api.get(f"/api/instances/{inst['id']}", headers=wang).json()["tasks"][0]["printed"] is True
    done = api.post(f"/api/tasks/{task}/complete", headers=wang, json={})
    assert done.status_code == 200 and [t["step"] for t in done.json()["tasks"]] == ["plan"]
    again = api.post(f"/api/tasks/{task}/complete", headers=wang, json={})
    assert again.status_code == 409 and again.json()["error"] == "conflict"
    shown = api.get(f"/api/instances/{inst['id']}", headers=wang).json()
    assert shown["ledger"][0]["amount"] == 50000 and shown["history"][0]["type"] == "instance_started"
    verdict = api.get(f"/api/verify/{code}").json()  # public: no token
    assert verdict["genuine"] and verdict["number"] == inst["number"] and "data" not in verdict


@pytest.mark.parametrize("method, path, body, status, error", [
    ("get", "/api/tasks", None, 401, "unauthorized"),
    ("post", "/api/instances", {"workflow": "nope"}, 404, "not_found"),
    ("post", "/api/instances", {"workflow": "golden_key_service", "data": {"owner": "李"}}, 422, "invalid"),
    ("post", "/api/instances", {"workflow": "golden_key_service", "data": "x"}, 422, "invalid"),
    ("post", "/api/instances", {"data": {}}, 422, "invalid"),
    ("post", "/api/tasks/99-9/complete", {}, 404, "not_found"),
    ("post", "/api/tasks/abc/complete", {}, 404, "not_found"),
    ("get", "/api/instances/x", None, 404, "not_found"),
    ("get", "/api/instances/99999999999999999999999", None, 404, "not_found"),
    ("get", "/api/nothing-here", None, 404, "not_found"),
    ("delete", "/api/tasks", None, 405, "method_not_allowed"),
])
def test_errors_are_json_with_the_right_status(api, method, path, body, status, error):
    headers = {} if status == 401 else api.users["wang"]
    resp = getattr(api, method)(path, headers=headers, **({"json": body} if body is not None else {}))
    assert resp.status_code == status and resp.json()["error"] == error and resp.json()["message"]


def test_422_names_the_fields(api):
    resp = api.post("/api/instances", headers=api.users["wang"],
                    json={"workflow": "golden_key_service", "data": dict(PAID, phone="abc")})
    assert resp.status_code == 422
    assert [d["field"] for d in resp.json()["details"]] == ["phone"]


def test_a_user_without_the_role_can_neither_see_nor_act(api):
    inst = api.post("/api/instances", headers=api.users["wang"],
                    json={"workflow": "golden_key_service", "data": PAID}).json()
    li = api.users["li"]
    assert api.get("/api/tasks", headers=li).json() == []
    resp = api.post(f"/api/tasks/{inst['tasks'][0]['id']}/complete", headers=li, json={})
    assert resp.status_code == 403 and resp.json()["error"] == "forbidden"
    assert api.get(f"/api/instances/{inst['id']}", headers=li).status_code == 403
    assert api.get(f"/api/instances/{inst['id']}/printouts/slip", headers=li).status_code == 403
    assert api.engine.show(inst["id"])["tasks"][0]["id"] == inst["tasks"][0]["id"]  # nothing changed


def test_confidential_fields_are_hidden_from_roles_the_form_does_not_name(api, registry):
    from .procedures.test_renovation import APPLICATION

    wf = registry.workflow("renovation")  # 保潔部 patrols the works but may not see the owner's phone
    assert "cleaning" in wf.roles and "cleaning" not in wf.form.confidential["roles"]
    for name, role in (("xiao", "assistant"), ("jie", "cleaning")):
        api.engine.add_user(name, [role])
        api.users[name] = {"authorization": f"Bearer {api.engine.new_token(name)}"}
    inst = api.post("/api/instances", headers=api.users["xiao"],
                    json={"workflow": "renovation", "data": APPLICATION}).json()
    shown = api.get(f"/api/instances/{inst['id']}", headers=api.users["jie"]).json()
    hidden = [f for f in wf.form.confidential["fields"] if f in APPLICATION]
    assert hidden and all(shown["data"][f] == "（保密）" for f in hidden)
    started = shown["history"][0]["payload"]["data"]
    assert all(started[f] == "（保密）" for f in hidden) and APPLICATION["phone"] not in json.dumps(shown)
    assert api.get(f"/api/instances/{inst['id']}", headers=api.users["xiao"]).json()["data"]["phone"] == \
        APPLICATION["phone"]


def test_session_posts_need_the_csrf_token(api):
    api.engine.set_password("wang", "secret-pass")
    # a session cookie alone (as a browser sends it to any site's form) is not enough to write
    api.cookies.clear()
    login = api.get("/login")
    assert login.status_code == 200, login.text
    found = re.search(r'<input[^>]*name="csrf"[^>]*>', login.text)
    token = re.search(r'value="([^"]+)"', found.group(0)).group(1)
    assert api.post("/login", data={"name": "wang", "password": "secret-pass", "csrf": token},
                    follow_redirects=False).status_code == 303
    inbox = api.get("/")  # the session's token, as the pages carry it (it is renewed at login)
    token = re.search(r'value="([^"]+)"', re.search(r'<input[^>]*name="csrf"[^>]*>', inbox.text).group(0)).group(1)
    resp = api.post("/api/instances", json={"workflow": "golden_key_service", "data": PAID})
    assert resp.status_code == 403
    assert api.engine.store.conn.execute("SELECT count(*) FROM instances").fetchone() == (0,)
    ok = api.post("/api/instances", json={"workflow": "golden_key_service", "data": PAID},
                  headers={"x-csrf-token": token})
    assert ok.status_code == 201


def test_the_openapi_document_lists_every_api_route(api):
    doc = api.get("/api/openapi.json").json()
    assert doc["openapi"].startswith("3.1")
    from server import api, recordapi, registers, reportapi

    paths = {re.sub(r":\w+}", "}", r.path) for r in api.routes + registers.routes + recordapi.routes
             + reportapi.routes if r.path.startswith("/api/")}
    assert paths - {"/api/openapi.json"} == set(doc["paths"])


PATHS = ["/api/workflows", "/api/workflows/{x}", "/api/instances", "/api/instances/{x}",
         "/api/instances/{x}/printouts/{x}", "/api/tasks", "/api/tasks/{x}/complete", "/api/tasks/{x}/hold",
         "/api/tasks/{x}/resume", "/api/notifications", "/api/verify/{x}", "/api/registers/{x}",
         "/api/registers/golden_key_slip?from={x}", "/api/registers/golden_key_slip?page={x}&q={x}&sort={x}",
         "/api/workflows/{x}/graph.svg", "/api/workflows/golden_key_service/graph.svg?instance={x}",
         "/api/admin/definitions", "/api/admin/reload"]
JSONISH = st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=30) |
                       st.floats(allow_nan=False, allow_infinity=False),
                       lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner,
                                                                                     max_size=5), max_leaves=20)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                   HealthCheck.too_slow])
@given(path=st.sampled_from(PATHS), part=st.text(max_size=40), method=st.sampled_from(["get", "post"]),
       body=st.one_of(JSONISH, st.binary(max_size=60)), auth=st.booleans())
def test_no_input_gives_a_server_error(api, path, part, method, body, auth):
    """A bounded fuzz over every route of the OpenAPI document: any path part, any body, with or without a token."""
    url = path.replace("{x}", quote(part, safe="") or "x")
    headers = dict(api.users["wang"]) if auth else {}
    if method == "post":
        content = body if isinstance(body, bytes) else json.dumps(body, ensure_ascii=False).encode()
        resp = api.post(url, headers=dict(headers, **{"content-type": "application/json"}), content=content)
    else:
        resp = api.get(url, headers=headers)
    assert resp.status_code < 500, (url, body, resp.text[:300])
    if resp.headers.get("content-type", "").startswith("application/json") and resp.status_code >= 400:
        assert set(resp.json()) == {"error", "message", "details"}


def test_registers_search_filter_page_and_export_with_customer_fields_hidden(api):
    from .procedures.test_renovation import APPLICATION

    wang = api.users["wang"]
    for i, unit in enumerate(["3-1201", "5-0802", "3-1502"]):
        data = dict(PAID, unit=unit, owner=f"業主{i}", request="=HYPERLINK(\"x\")" if i == 2 else "代訂")
        api.post("/api/instances", headers=wang, json={"workflow": "golden_key_service", "data": data})
    page = api.get("/api/registers/golden_key_slip", headers=wang).json()
    assert page["total"] == 3 and [r["data"]["unit"] for r in page["rows"]] == ["3-1502", "5-0802", "3-1201"]
    assert api.get("/api/registers/golden_key_slip?unit=3-", headers=wang).json()["total"] == 2
    assert api.get("/api/registers/golden_key_slip?q=業主1", headers=wang).json()["total"] == 1
    assert api.get("/api/registers/golden_key_slip?status=completed", headers=wang).json()["total"] == 0
    assert api.get("/api/registers/golden_key_slip?from=2026-11-03", headers=wang).json()["total"] == 0
    assert api.get("/api/registers/golden_key_slip?sort=number", headers=wang).json()["rows"][0]["number"].endswith(
        "00001")
    bad = api.get("/api/registers/golden_key_slip?from=yesterday", headers=wang)
    assert bad.status_code == 422 and bad.json()["details"][0]["field"] == "from"
    assert api.get("/api/registers/golden_key_slip", headers=api.users["li"]).status_code == 403
    csv_text = api.get("/registers/golden_key_slip.csv", headers=wang).content.decode("utf-8-sig")
    assert csv_text.splitlines()[0].startswith("編號,流程,狀態") and "業主2" in csv_text
    assert "'=HYPERLINK" in csv_text  # a formula typed into a field stays text in a spreadsheet
    xlsx = api.get("/registers/golden_key_slip.xlsx", headers=wang)
    assert xlsx.status_code == 200 and xlsx.content[:2] == b"PK"
    # the cleaner patrols renovations but may not see the owner's phone, in the register either
    api.engine.add_user("jie", ["cleaning"])
    api.engine.add_user("xiao", ["assistant"])
    xiao = {"authorization": f"Bearer {api.engine.new_token('xiao')}"}
    api.post("/api/instances", headers=xiao, json={"workflow": "renovation", "data": APPLICATION})
    jie = {"authorization": f"Bearer {api.engine.new_token('jie')}"}
    rows = api.get("/api/registers/renovation_application", headers=jie).json()["rows"]
    assert rows[0]["data"]["phone"] == "（保密）"
    assert APPLICATION["phone"] not in api.get("/registers/renovation_application.csv", headers=jie).text
    assert api.get("/registers/golden_key_slip.pdf", headers=wang).status_code == 404


def test_the_step_graph_is_svg_with_the_current_step_highlighted(api):
    import xml.etree.ElementTree as ET

    inst = api.post("/api/instances", headers=api.users["wang"],
                    json={"workflow": "golden_key_service", "data": PAID}).json()
    resp = api.get(f"/api/workflows/golden_key_service/graph.svg?instance={inst['id']}", headers=api.users["wang"])
    assert resp.status_code == 200 and resp.headers["content-type"].startswith("image/svg+xml")
    root = ET.fromstring(resp.text)  # well-formed: every title escaped
    ns = {"s": "http://www.w3.org/2000/svg"}
    steps = {g.get("data-step"): g for g in root.iterfind("s:g", ns)}
    assert set(steps) == {"start"} | set(api.engine.registry.workflow("golden_key_service").steps)
    highlighted = [sid for sid, g in steps.items() if g.find("s:rect", ns).get("stroke-width") == "3"]
    assert highlighted == ["issue_slip"]
    assert api.get(f"/api/workflows/renovation/graph.svg?instance={inst['id']}",
                   headers=api.users["wang"]).status_code == 403


def test_reload_keeps_the_running_definitions_when_the_new_ones_fail(new_db, tmp_path, clock):
    defs = tmp_path / "defs"
    defs.mkdir()
    for name in ("goldkey.yaml", "records", "forms", "workflows", "reports", "printouts"):
        (shutil.copytree if (REPO / name).is_dir() else shutil.copy)(REPO / name, defs / name)
    app = create_app(new_db("r.db"), definitions.load_strict(defs), tick_seconds=0, clock=clock)
    engine = app.state.engine
    for name, role in (("boss", "manager"), ("wang", "concierge")):
        engine.add_user(name, [role])
    boss = {"authorization": f"Bearer {engine.new_token('boss')}"}
    wang = {"authorization": f"Bearer {engine.new_token('wang')}"}
    with TestClient(app, raise_server_exceptions=False) as client:
        assert client.get("/api/admin/definitions", headers=wang).status_code == 403
        assert client.get("/api/admin/definitions", headers=boss).json()["problems"] == []
        path = defs / "workflows" / "golden_key_service.yaml"
        good = path.read_text(encoding="utf-8")
        path.write_text(good.replace("title: 金鑰匙服務\n", "title: 金鑰匙服務（新）\n").replace(
            "kind: print", "kind: prnt", 1), encoding="utf-8")
        bad = client.post("/api/admin/reload", headers=boss)
        assert bad.status_code == 422 and "prnt" in bad.json()["problems"][0]
        assert engine.registry.workflow("golden_key_service").title == "金鑰匙服務"  # the running version kept
        path.write_text(good.replace("title: 金鑰匙服務\n", "title: 金鑰匙服務（新）\n"), encoding="utf-8")
        ok = client.post("/api/admin/reload", headers=boss).json()
        assert ok["ok"] and ok["changed"] == ["golden_key_service"]
        assert client.get("/api/workflows/golden_key_service", headers=wang).json()["title"] == "金鑰匙服務（新）"
        assert client.post("/api/admin/reload", headers=wang).status_code == 403


PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


def stored_files(engine) -> list:
    """The attachment files an SQLite store keeps beside its database; on PostgreSQL, the rows holding bytes."""
    if hasattr(engine.store, "files"):
        return [p.read_bytes() for p in engine.store.files.rglob("*") if p.is_file()]
    return [bytes(r[0]) for r in engine.store.conn.execute("SELECT body FROM attachment_bytes")]


def test_attachments_are_stored_by_content_never_by_the_given_name(api, tmp_path):
    wang = api.users["wang"]
    outside = sorted(p.name for p in tmp_path.iterdir())
    resp = api.post("/api/attachments", headers=wang, files={"file": ("../../etc/passwd", PNG, "text/plain")})
    assert resp.status_code == 201
    meta = resp.json()
    assert meta["name"] == "passwd" and meta["type"] == "image/png" and len(meta["id"]) == 64
    assert stored_files(api.engine) == [PNG]
    if hasattr(api.engine.store, "files"):  # named by content, under the data folder only
        assert [p.name for p in api.engine.store.files.rglob("*") if p.is_file()] == [meta["id"]]
        assert sorted(p.name for p in tmp_path.iterdir()) == sorted(outside + [api.engine.store.files.name])
    got = api.get(f"/api/attachments/{meta['id']}", headers=wang)
    assert got.content == PNG and got.headers["content-type"] == "image/png"
    assert "passwd" in got.headers["content-disposition"]
    again = api.post("/api/attachments", headers=wang, files={"file": ("copy.png", PNG, "image/png")}).json()
    assert again["id"] == meta["id"] and len(stored_files(api.engine)) == 1
    html = api.post("/api/attachments", headers=wang, files={"file": ("x.png", b"<script>x</script>", "image/png")})
    assert html.status_code == 422 and html.json()["details"][0]["field"] == "file"
    big = api.post("/api/attachments", headers=wang, files={"file": ("big.png", PNG + b"\0" * 10 * 1024 * 1024)})
    assert big.status_code == 422
    assert api.get("/api/attachments/../../etc/passwd", headers=wang).status_code == 404
    assert api.get("/api/attachments/" + "0" * 64, headers=wang).status_code == 404
    assert api.post("/api/attachments", files={"file": ("a.png", PNG)}).status_code == 401


@pytest.mark.parametrize("setting, admins, others", [
    ("admin_roles: [cs_supervisor]\n", ["chen"], ["boss", "wang"]),
    ("", ["boss"], ["chen", "wang"]),  # none declared: the manager, as before the key existed (and check warns)
])
def test_admin_roles_come_from_goldkey_yaml(new_db, tmp_path, clock, setting, admins, others):
    defs = tmp_path / "defs"
    defs.mkdir()
    for name in ("records", "forms", "workflows", "reports", "printouts"):
        shutil.copytree(REPO / name, defs / name)
    site = (REPO / "goldkey.yaml").read_text(encoding="utf-8")
    (defs / "goldkey.yaml").write_text(re.sub(r"^admin_roles:.*\n", setting, site, flags=re.M), encoding="utf-8")
    registry = definitions.load_strict(defs)
    assert any("no `admin_roles`: the role 'manager' administers" in w.message for w in registry.warnings) == (
        not setting)
    app = create_app(new_db("a.db"), registry, tick_seconds=0, clock=clock)
    engine = app.state.engine
    tokens = {}
    for name, role in (("boss", "manager"), ("wang", "concierge"), ("chen", "cs_supervisor")):
        engine.add_user(name, [role])
        tokens[name] = {"authorization": f"Bearer {engine.new_token(name)}"}
    with TestClient(app, raise_server_exceptions=False) as client:
        for name in admins:
            assert client.get("/api/admin/definitions", headers=tokens[name]).status_code == 200
        for name in others:
            refused = client.get("/api/admin/definitions", headers=tokens[name])
            assert refused.status_code == 403 and refused.json()["message"].startswith("只有管理人員（")
            assert client.post("/api/admin/reload", headers=tokens[name]).status_code == 403
    assert engine.is_admin("chen") == (admins == ["chen"])


def test_a_method_a_path_does_not_take_is_a_405_that_says_which_it_does(api):
    resp = api.delete("/api/instances", headers=api.users["wang"])
    assert resp.status_code == 405 and resp.headers["allow"] == "POST"
    assert resp.json()["message"] == "不支援這個請求方法"
    assert api.put("/api/tasks", headers=api.users["wang"]).headers["allow"] in ("GET, HEAD", "HEAD, GET")


def test_verify_refuses_what_cannot_be_a_code_and_answers_for_any_that_could(api):
    long = api.get("/api/verify/" + "A" * 41)
    assert long.status_code == 422 and "驗證碼太長" in long.json()["message"]
    typed = api.get("/api/verify/k7qx m2pd 9a")
    assert typed.status_code == 200 and typed.json()["genuine"] is False


def test_a_lost_database_connection_is_a_503_in_words_and_the_next_request_reconnects(api, backend):
    """PostgreSQL: the server's connection is ended under it (a restart, a failover); that request is told in
    Chinese that nothing was written, and the next one works on a fresh connection from the pool."""
    if backend != "postgresql":
        pytest.skip("a connection to a server: PostgreSQL only")
    from .conftest import _admin

    wang = api.users["wang"]
    assert api.get("/api/tasks", headers=wang).status_code == 200
    pids = {c.raw.info.backend_pid for c in api.engine.store._held}  # (the server's, on its worker thread)
    for pid in pids:
        _admin().execute("SELECT pg_terminate_backend(%s)", (pid,))
    lost = api.get("/api/tasks", headers=wang)
    assert lost.status_code == 503
    assert lost.json()["message"] == "資料庫暫時無法使用，請稍後再試；重新整理後可確認剛才的操作是否已完成"
    again = api.get("/api/tasks", headers=wang)
    assert again.status_code == 200 and again.json() == api.get("/api/tasks", headers=wang).json()
