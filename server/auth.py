"""Who is asking: a signed session cookie (the UI) or a bearer token (programs); CSRF and login limits."""

from __future__ import annotations

import hmac
import secrets
import time
from collections import defaultdict, deque

from starlette.exceptions import HTTPException
from starlette.requests import Request

LOGIN_TRIES = 5  # failed logins per (address, user) ...
LOGIN_WINDOW = 300.0  # ... in this many seconds, then 429 until the oldest ages out


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
        raise HTTPException(401)
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


class LoginLimiter:
    """Failed logins per (client address, user name) in a sliding window, in memory."""

    def __init__(self, tries: int = LOGIN_TRIES, window: float = LOGIN_WINDOW) -> None:
        self.tries, self.window = tries, window
        self.failures: dict[tuple[str, str], deque[float]] = defaultdict(deque)

    def blocked(self, key: tuple[str, str]) -> bool:
        seen = self.failures.get(key)
        if not seen:
            return False
        now = time.monotonic()
        while seen and now - seen[0] > self.window:
            seen.popleft()
        return len(seen) >= self.tries

    def failed(self, key: tuple[str, str]) -> None:
        self.failures[key].append(time.monotonic())

    def succeeded(self, key: tuple[str, str]) -> None:
        self.failures.pop(key, None)
