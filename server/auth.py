"""Who is asking: a signed session cookie (the UI) or a bearer token (programs); CSRF and login limits."""

from __future__ import annotations

import asyncio
import hmac
import secrets
import time
from collections import OrderedDict, deque
from concurrent.futures import ThreadPoolExecutor

from starlette.exceptions import HTTPException
from starlette.requests import Request

from engine import credentials
from engine.people import MAX_NAME

LOGIN_TRIES = 5  # failed logins per (address, user) ...
ADDRESS_TRIES = 30  # ... or per address, whatever the names ...
LOGIN_WINDOW = 300.0  # ... in this many seconds, then 429 until the oldest ages out
LOGIN_KEYS = 10_000  # (address, name) pairs and addresses remembered at most
MAX_PASSWORD = 1024


def current_user(request: Request) -> str | None:
    """The user of a bearer token or of the session, or None."""
    header = request.headers.get("authorization", "")
    if header.lower().startswith("bearer "):
        return request.app.state.engine.token_user(header[7:].strip())
    return session_user(request)


def session_user(request: Request) -> str | None:
    """The user of the session cookie while its session is on: signing out, a new password or 12 hours end it
    on the server, so a copy of the cookie opens nothing afterwards."""
    if "session" not in request.scope:
        return None
    session = request.session.get("sid")
    user = request.app.state.engine.session_user(session) if isinstance(session, str) else None
    if user is None and "sid" in request.session:
        del request.session["sid"]  # (the CSRF token stays: the login page posts with it)
    return user


def sign_in(request: Request, user: str) -> None:
    """A fresh session (and CSRF token) for the user who just proved who they are."""
    request.session.clear()
    request.session["sid"] = request.app.state.engine.new_session(user)


def sign_out(request: Request) -> None:
    session = request.session.get("sid")
    if isinstance(session, str):
        request.app.state.engine.end_session(session)
    request.session.clear()


def require_user(request: Request) -> str:
    user = current_user(request)
    if user is None:
        raise HTTPException(401, headers={"www-authenticate": "Bearer"})
    return user


def csrf_token(request: Request) -> str:
    """This session's CSRF token (made on first use); every form post and session-based API call sends it."""
    token = request.session.get("csrf")
    if not token:
        token = request.session["csrf"] = secrets.token_urlsafe(24)
    return token


def check_csrf(request: Request, sent: str | None) -> None:
    """Refuse a state-changing request from a session without the session's token (bearer tokens need none:
    a browser never sends them on its own)."""
    if request.headers.get("authorization", "").lower().startswith("bearer "):
        return
    expected = request.session.get("csrf") if "session" in request.scope else None
    if not expected or not sent or not hmac.compare_digest(expected, sent):
        raise HTTPException(403, "表單已過期或來源不明（CSRF），請重新整理頁面後再送出")


_HASHING = ThreadPoolExecutor(max_workers=2, thread_name_prefix="goldkey-hash")  # (2: this machine's cores)


async def check_login(engine, name: str, password: str) -> bool:
    """Does the password match? The scrypt hash (half a second of CPU and 128 MiB) runs on a pool of its own,
    at most two at once, so a burst of logins neither stops the other requests nor takes the memory; a name
    longer than any user's is refused without it."""
    if not name or not password or len(name) > MAX_NAME or len(password) > MAX_PASSWORD:
        return False
    stored = engine.password_hash(name)
    matched = await asyncio.get_running_loop().run_in_executor(_HASHING, credentials.check_password, password,
                                                                 stored)
    return engine.logged_in(name, password, stored, matched)


class LoginLimiter:
    """Failed logins in a sliding window, in memory and bounded: per (client address, user name) and per
    address (many names tried from one place), names cut to MAX_NAME characters, at most `keys` entries (the
    longest untouched forgotten first), each holding only its last `tries` times."""

    def __init__(self, tries: int = LOGIN_TRIES, window: float = LOGIN_WINDOW, address_tries: int = ADDRESS_TRIES,
                 keys: int = LOGIN_KEYS) -> None:
        self.tries, self.window, self.address_tries, self.keys = tries, window, address_tries, keys
        self.failures: OrderedDict[tuple[str, str | None], deque[float]] = OrderedDict()

    def _keys(self, address: str, name: str) -> tuple[tuple[str, str], tuple[str, None]]:
        return (address, name[:MAX_NAME]), (address, None)

    def blocked(self, address: str, name: str) -> bool:
        """Too many failures lately for this name from this address, or for any names from it."""
        now = time.monotonic()
        return any(sum(now - t <= self.window for t in self.failures.get(key, ())) >= limit
                   for key, limit in zip(self._keys(address, name), (self.tries, self.address_tries), strict=True))

    def failed(self, address: str, name: str) -> None:
        now = time.monotonic()
        for key, limit in zip(self._keys(address, name), (self.tries, self.address_tries), strict=True):
            seen = self.failures.pop(key, None) or deque(maxlen=limit)
            seen.append(now)
            self.failures[key] = seen  # (last: the most recently touched)
        while len(self.failures) > self.keys:
            self.failures.popitem(last=False)

    def succeeded(self, address: str, name: str) -> None:
        """The name's own failures are forgiven (those counted against the address stay)."""
        self.failures.pop(self._keys(address, name)[0], None)
