"""Sessions, tokens and passwords, tried as someone who copied a cookie or a token would: a session ends on the
server when its user signs out (a copy of the cookie opens nothing), a new password ends every session, a
token stops at its expiry or when revoked; passwords are hashed at the OWASP cost, older hashes replaced at the
next login, and an unknown name costs a login as much work as a known one."""

from __future__ import annotations

import hashlib

import pytest
from starlette.testclient import TestClient

from engine import credentials, definitions
from server.app import create_app

from ..test_web_ui import Page
from .test_access import ACCESS, PASSWORD, login


@pytest.fixture
def app(new_db, tmp_path, clock):
    app = create_app(new_db("s.db"), definitions.load_strict(ACCESS), tick_seconds=0, clock=clock)
    engine = app.state.engine
    for name, roles in (("desk", ["desk"]), ("tech", ["tech"])):
        engine.add_user(name, roles)
        engine.set_password(name, PASSWORD)
    with TestClient(app, raise_server_exceptions=False):
        yield app


def copy_of(app, client: TestClient) -> TestClient:
    """Another browser holding the same cookie (a stolen or an old copy)."""
    other = TestClient(app, raise_server_exceptions=False)
    other.cookies.update(client.cookies)
    return other


def signed_in(client: TestClient) -> bool:
    return client.get("/api/tasks").status_code == 200


def test_a_copy_of_the_cookie_opens_nothing_after_logout(app):
    phone, desk = login(app, "desk"), login(app, "desk")
    stolen = copy_of(app, phone)
    assert signed_in(phone) and signed_in(stolen) and signed_in(desk)
    out = phone.post("/logout", data={"csrf": Page(phone.get("/").text).csrf()}, follow_redirects=False)
    assert out.status_code == 303
    assert not signed_in(stolen) and not signed_in(phone)
    assert stolen.get("/", follow_redirects=False).headers["location"].startswith("/login")
    assert signed_in(desk)  # signing out on the phone leaves the desk's own session on


def test_a_new_password_and_signout_end_every_session(app):
    first, second = login(app, "desk"), login(app, "tech")
    app.state.engine.set_password("desk", "another-password")
    assert not signed_in(first) and signed_in(second)
    assert signed_in(login_with(app, "desk", "another-password"))
    app.state.engine.end_sessions("tech")
    assert not signed_in(second)


def login_with(app, name: str, password: str) -> TestClient:
    client = TestClient(app, raise_server_exceptions=False)
    page = Page(client.get("/login").text)
    client.post("/login", data={"name": name, "password": password, "csrf": page.csrf()})
    return client


def test_a_session_ends_after_twelve_hours_even_with_its_cookie_replayed(app, clock):
    client = login(app, "desk")
    clock.advance(hours=11, minutes=59)
    assert signed_in(client)
    clock.advance(minutes=2)
    assert not signed_in(client)


def test_tokens_expire_can_be_revoked_and_record_their_last_use(app, clock):
    engine = app.state.engine
    week, forever = engine.new_token("tech", 7), engine.new_token("tech", None)
    client = TestClient(app, raise_server_exceptions=False)

    def works(token: str) -> bool:
        return client.get("/api/tasks", headers={"authorization": f"Bearer {token}"}).status_code == 200

    assert works(week) and works(forever)
    listed = {t["id"]: t for t in engine.tokens("tech")}
    assert listed[engine.token_id(week)]["last_used"] == clock.now.isoformat(timespec="seconds")
    clock.advance(minutes=5)
    works(week)
    assert engine.tokens("tech")[0]["last_used"] == clock.now.isoformat(timespec="seconds")
    clock.advance(days=7, minutes=-5)
    assert not works(week) and works(forever)
    assert engine.revoke_tokens("tech", engine.token_id(forever)) == 1
    assert not works(forever)
    assert engine.revoke_tokens("tech", engine.token_id(forever)) == 0  # once
    assert [t["revoked_at"] is not None for t in engine.tokens("tech")] == [False, True]


def test_token_commands_make_list_and_revoke(new_db, tmp_path):
    from ..conftest import Cli

    cli = Cli(new_db("cli.db"), ACCESS)
    cli.run("users", "add", "tech", "--role", "tech")
    made = cli.json("users", "token", "tech", "--days", "7")
    assert made["token"].startswith("gk_") and made["expires_at"] and len(made["id"]) == 12
    forever = cli.json("users", "token", "tech", "--no-expiry")
    assert forever["expires_at"] is None
    assert [t["id"] for t in cli.json("users", "tokens", "tech")] == [made["id"], forever["id"]]
    assert cli.json("users", "revoke", "tech", made["id"]) == {"name": "tech", "revoked": 1}
    assert cli.json("users", "revoke", "tech", "--all") == {"name": "tech", "revoked": 1}
    refused = cli.run("users", "revoke", "tech", ok=False)
    assert refused.returncode == 2 and "--all" in refused.stderr
    bad = cli.run("users", "revoke", "tech", "../../x", ok=False)
    assert bad.returncode == 1 and "Traceback" not in bad.stderr + bad.stdout
    assert cli.run("users", "token", "tech", "--days", "0", ok=False).returncode == 1
    assert cli.json("users", "signout", "tech") == {"name": "tech", "sessions": "ended"}
    assert cli.run("users", "signout", "nobody", ok=False).returncode == 4  # (not found)


def test_passwords_are_hashed_at_the_owasp_cost_and_old_hashes_replaced_at_login(app, monkeypatch):
    monkeypatch.setattr(credentials, "COST", (2**17, 8, 1))  # the real cost (the suite runs at a cheaper one)
    stored = credentials.hash_password("a-long-password")
    assert stored.startswith("scrypt$131072$8$1$") and credentials.check_password("a-long-password", stored)
    assert not credentials.needs_rehash(stored)
    engine = app.state.engine
    old = "scrypt$16384$8$1$" + "ab" * 16 + "$" + hashlib.scrypt(
        PASSWORD.encode(), salt=bytes.fromhex("ab" * 16), n=2**14, r=8, p=1).hex()
    assert credentials.needs_rehash(old)
    engine.store.set_password("desk", old)
    client = login(app, "desk")
    assert engine.store.password_hash("desk").startswith("scrypt$131072$")
    assert signed_in(client)  # the rehash did not end the session it made
    assert credentials.check_password(PASSWORD, engine.store.password_hash("desk"))


def test_an_unknown_name_costs_as_much_work_as_a_known_one(app, monkeypatch):
    """The same scrypt work for a name that exists, one that does not, and one without a password: the time of
    the answer does not tell which names are users."""
    calls = []
    real = hashlib.scrypt

    def counting(password, **kw):
        calls.append((kw["n"], kw["r"], kw["p"]))
        return real(password, **kw)

    monkeypatch.setattr(credentials.hashlib, "scrypt", counting)
    engine = app.state.engine
    engine.add_user("nopass", ["desk"])
    for name in ("desk", "nobody", "nopass"):
        calls.clear()
        assert not engine.login(name, "wrong-password")
        assert calls == [credentials.COST], name


def test_behind_https_the_cookie_is_secure_and_browsers_are_told_to_stay(new_db, tmp_path):
    app = create_app(new_db("h.db"), definitions.load_strict(ACCESS), tick_seconds=0, https=True)
    app.state.engine.add_user("desk", ["desk"])
    app.state.engine.set_password("desk", PASSWORD)
    with TestClient(app, base_url="https://testserver") as client:
        page = client.get("/login")
        assert page.headers["strict-transport-security"] == "max-age=31536000"
        assert "secure" in page.headers["set-cookie"].lower().split("; ")
        signed = client.post("/login", data={"name": "desk", "password": PASSWORD, "csrf": Page(page.text).csrf()},
                             follow_redirects=False)
        assert signed.status_code == 303 and "secure" in signed.headers["set-cookie"].lower().split("; ")
    plain = create_app(new_db("p.db"), definitions.load_strict(ACCESS), tick_seconds=0)
    with TestClient(plain) as client:
        page = client.get("/login")
        assert "strict-transport-security" not in page.headers
        assert "secure" not in page.headers["set-cookie"].lower().split("; ")
