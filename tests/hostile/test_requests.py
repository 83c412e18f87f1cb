"""Requests that try to make the server hold memory or stop answering: large bodies (declared or streamed), a
flood of made-up names at the login, and work that keeps a request busy while others are asked for."""

from __future__ import annotations

import contextlib
import select
import socket
import threading
import time
import tracemalloc
import urllib.error
import urllib.parse
import urllib.request

import pytest
from starlette.testclient import TestClient

from engine import credentials, definitions
from server import middleware
from server.app import create_app
from server.auth import LoginLimiter

from ..browser_support import LiveServer
from ..conftest import REPO
from ..test_web_ui import Page
from .test_access import ACCESS, PASSWORD

CHUNK = 64 * 1024


@pytest.fixture
def client(new_db, tmp_path, clock):
    app = create_app(new_db("r.db"), definitions.load_strict(ACCESS), tick_seconds=0, clock=clock)
    engine = app.state.engine
    engine.add_user("desk", ["desk"])
    engine.set_password("desk", PASSWORD)
    with TestClient(app, raise_server_exceptions=False) as client:
        client.headers["authorization"] = f"Bearer {engine.new_token('desk')}"
        client.engine = engine
        yield client


def _raw(live, path: str, kind: str, headers: str = "", declared: int | None = None,
         prefix: bytes = b"") -> tuple[int, int, str]:
    """POST a body of 200 MB to the live server over a socket, chunked (or with a declared length and no body
    sent until the server answers); (status, bytes of body sent before the answer, the answer's text)."""
    port = int(live.url.rsplit(":", 1)[1])
    length = f"Content-Length: {declared}" if declared else "Transfer-Encoding: chunked"
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(f"POST {path} HTTP/1.1\r\nHost: t\r\nContent-Type: {kind}\r\n{length}\r\n{headers}\r\n".encode())
        if prefix and not declared:
            sock.sendall(b"%x\r\n" % len(prefix) + prefix + b"\r\n")
        chunk = b"%x\r\n" % CHUNK + b"x" * CHUNK + b"\r\n"
        sent = 0
        while sent < 200 * 1024 * 1024 and not select.select([sock], [], [], 0 if not declared else 5)[0]:
            if declared:
                break
            try:
                sock.sendall(chunk)
            except (BrokenPipeError, ConnectionResetError):
                break
            sent += CHUNK
        answer = b""
        with contextlib.suppress(TimeoutError, ConnectionResetError):
            while part := sock.recv(65536):  # (the server closes the connection after a 413)
                answer += part
    return int(answer.split()[1]), sent, answer.decode("utf-8", "replace")


@pytest.mark.parametrize("path, kind, limit", [
    ("/api/instances", "application/json", middleware.MAX_BODY),
    ("/login", "application/x-www-form-urlencoded", middleware.MAX_BODY),
    ("/api/attachments", "multipart/form-data; boundary=x", middleware.MAX_UPLOAD_BODY),
])
def test_a_body_too_large_is_refused_declared_before_it_is_read_streamed_at_its_limit(live, path, kind, limit):
    token = f"Authorization: Bearer {live.app.state.engine.new_token('wang')}\r\n"
    status, sent, answer = _raw(live, path, kind, token, declared=200 * 1024 * 1024)
    assert status == 413 and sent == 0 and "送出的內容太大" in answer
    file_part = b'--x\r\nContent-Disposition: form-data; name="file"; filename="a.png"\r\n\r\n\x89PNG\r\n\x1a\n'
    status, sent, answer = _raw(live, path, kind, token, prefix=file_part if "multipart" in kind else b"")
    assert status == 413 and "送出的內容太大" in answer, answer[:600]
    assert sent < limit + 16 * 1024 * 1024, sent  # (what the sockets' buffers took beyond the limit)
    assert live.app.state.engine.store.conn.execute("SELECT count(*) FROM instances").fetchone() == (0,)


def test_a_large_page_post_gets_a_page_not_json(client):
    resp = client.post("/start/case", content=b"a=" + b"x" * (middleware.MAX_BODY + 1),
                       headers={"content-type": "application/x-www-form-urlencoded", "authorization": ""})
    assert resp.status_code == 413 and resp.headers["content-type"].startswith("text/html")
    assert "送出的內容太大（上限 1 MB）" in resp.text


def test_bodies_within_the_limits_still_pass(client):
    data = {"caller": "林", "unit": "1-101", "phone": "139", "issue": "漏水" * 90}
    assert client.post("/api/instances", json={"workflow": "case", "data": data}).status_code == 201
    big = client.post("/api/attachments", files={"file": ("a.png", b"\x89PNG\r\n\x1a\n" + b"0" * 9 * 1024 * 1024)})
    assert big.status_code == 201


def test_the_login_limiter_counts_names_from_one_address_and_stays_small():
    limiter = LoginLimiter(tries=5, address_tries=30, keys=1000)
    for i in range(30):
        assert not limiter.blocked("10.0.0.9", f"name{i}")
        limiter.failed("10.0.0.9", f"name{i}")
    assert limiter.blocked("10.0.0.9", "a-new-name") and not limiter.blocked("10.0.0.8", "name1")
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    for i in range(20_000):  # 20,000 failures with 500 KB made-up names from 20,000 addresses
        limiter.failed(f"10.{i // 250}.{i % 250}.1", f"{i}" + "名" * 250_000)
    grown = tracemalloc.get_traced_memory()[0] - before
    tracemalloc.stop()
    assert len(limiter.failures) <= 1000 and grown < 2_000_000, grown


def test_forty_names_from_one_address_are_limited(client):
    browser = TestClient(client.app, raise_server_exceptions=False)
    token = Page(browser.get("/login").text).csrf()
    answers = [browser.post("/login", data={"name": f"guess{i}", "password": "wrong-pass", "csrf": token}).status_code
               for i in range(40)]
    assert answers[:30] == [401] * 30 and set(answers[30:]) == {429}


def test_a_made_up_name_of_500_kb_is_refused_like_any_other_and_not_kept(client):
    browser = TestClient(client.app, raise_server_exceptions=False)
    token = Page(browser.get("/login").text).csrf()
    for name in ("x" * 500_000, "y" * 200):
        resp = browser.post("/login", data={"name": name, "password": "wrong-pass", "csrf": token})
        assert resp.status_code == 401 and "帳號或密碼不正確" in resp.text
    assert max(len(key[1] or "") for key in client.app.state.logins.failures) == 64
    too_big = browser.post("/login", data={"name": "z" * 2_000_000, "password": "wrong-pass", "csrf": token})
    assert too_big.status_code == 413


@pytest.fixture
def live(tmp_path):
    server = LiveServer(tmp_path / "live.db", REPO).start()
    yield server
    server.stop()


def _get(url: str, token: str | None = None) -> tuple[int, float]:
    headers = {"authorization": f"Bearer {token}"} if token else {}
    start = time.monotonic()
    try:
        with urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=30) as resp:
            resp.read()
            return resp.status, time.monotonic() - start
    except urllib.error.HTTPError as exc:
        return exc.code, time.monotonic() - start


def _read(opener, url: str, data: bytes) -> None:
    try:
        opener.open(url, data=data, timeout=30).read()
    except urllib.error.HTTPError as exc:
        assert exc.code == 401  # (the wrong password, after the hash)


def test_a_busy_request_does_not_stop_the_server_answering(live, monkeypatch):
    """A request whose work takes 3 s (here: a sleep in the engine, as a long evaluation would) leaves /healthz
    answering at once; and a login's password hash runs beside other requests' work, not in front of it."""
    engine = live.app.state.engine
    token = engine.new_token("wang")
    real = engine.workflows

    def slow():
        time.sleep(2)
        return real()

    monkeypatch.setattr(engine, "workflows", slow)
    busy = threading.Thread(target=_get, args=(live.url + "/api/workflows", token))
    busy.start()
    time.sleep(0.3)
    status, took = _get(live.url + "/healthz")
    assert status == 200 and took < 0.8 and busy.is_alive(), took
    busy.join()
    monkeypatch.setattr(engine, "workflows", real)

    checking = credentials.check_password

    def slow_hash(password, stored):
        time.sleep(2)
        return checking(password, stored)

    monkeypatch.setattr(credentials, "check_password", slow_hash)
    browser = urllib.request.build_opener(urllib.request.HTTPCookieProcessor())
    csrf = Page(browser.open(live.url + "/login", timeout=10).read().decode()).csrf()
    form = urllib.parse.urlencode({"name": "wang", "password": "wrong-pass", "csrf": csrf}).encode()
    login = threading.Thread(target=lambda: _read(browser, live.url + "/login", form))
    login.start()
    time.sleep(0.3)
    status, took = _get(live.url + "/api/tasks", token)
    assert status == 200 and took < 0.8 and login.is_alive(), took
    login.join()


def test_a_fault_in_the_app_is_a_500_in_words_and_the_server_goes_on(client, monkeypatch, caplog):
    """A bug (here: the engine raising what it never should) is answered 500 with a Chinese message, logged with
    its traceback, and the next request is served as usual."""
    def broken(user):
        raise RuntimeError("a bug")

    monkeypatch.setattr(client.engine, "tasks", broken)
    resp = client.get("/api/tasks")
    assert resp.status_code == 500
    assert resp.json() == {"error": "server_error", "message": "伺服器發生錯誤，已記錄；請稍後再試", "details": []}
    assert "RuntimeError: a bug" in caplog.text
    page = client.get("/", headers={"accept": "text/html", "authorization": ""})
    assert page.status_code in (200, 303)
    monkeypatch.undo()
    assert client.get("/api/tasks").status_code == 200
