"""Every error as JSON `{error, message, details}` (API) or a plain Chinese page (UI); never a stack trace."""

from __future__ import annotations

import logging

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from engine.errors import Conflict, Forbidden, GoldkeyError, Invalid, NotFound, Unavailable

STATUS = {Invalid: 422, Forbidden: 403, NotFound: 404, Conflict: 409, Unavailable: 503}
_HTTP = {400: ("bad_request", "請求格式不正確"), 401: ("unauthorized", "請先登入"), 403: ("forbidden", "沒有權限"),
         404: ("not_found", "找不到這個頁面"), 405: ("method_not_allowed", "不支援這個請求方法"),
         413: ("too_large", "上傳的內容太大"), 429: ("too_many_requests", "嘗試太多次，請稍後再試")}
log = logging.getLogger("goldkey.server")


def wants_json(request: Request) -> bool:
    return request.url.path.startswith("/api/") or "application/json" in request.headers.get("accept", "")


def error_response(request: Request, status: int, code: str, message: str, details: list | None = None) -> Response:
    if wants_json(request):
        return JSONResponse({"error": code, "message": message, "details": details or []}, status_code=status)
    from .views import render_error  # the UI's page, with the layout

    return render_error(request, status, message, details or [])


async def goldkey_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, GoldkeyError)
    status = next((s for cls, s in STATUS.items() if isinstance(exc, cls)), 400)
    return error_response(request, status, exc.code, exc.message, exc.details)


async def http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    code, message = _HTTP.get(exc.status_code, ("error", "錯誤"))
    if exc.detail and not exc.detail.isascii():  # our own words (the CSRF refusal), never Starlette's English
        message = exc.detail
    response = error_response(request, exc.status_code, code, message)
    response.headers.update(exc.headers or {})  # (a 405's Allow: the methods the path takes)
    return response


def too_large(request: Request, limit: int) -> Response:
    """A body over its limit (server/middleware.py), told before it was read or as soon as it passed."""
    response = error_response(request, 413, "too_large",
                              f"送出的內容太大（上限 {limit // (1024 * 1024)} MB）；附件請逐個上傳或縮小後再送")
    response.headers["connection"] = "close"  # (the rest of the body is not read: it is not the next request)
    return response


async def server_error(request: Request, exc: Exception) -> Response:
    log.exception("unexpected error on %s %s", request.method, request.url.path)
    return error_response(request, 500, "server_error", "伺服器發生錯誤，已記錄；請稍後再試")
