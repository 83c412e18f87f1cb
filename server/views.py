"""The server-rendered UI (placeholder until the pages land): the error page the error handlers use."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Route

routes: list[Route] = []


def render_error(request: Request, status: int, message: str, details: list) -> Response:
    from html import escape

    items = "".join(f"<li>{escape(str(d.get('message', d)))}</li>" for d in details)
    return HTMLResponse(f"<!doctype html><meta charset=utf-8><title>錯誤</title><h1>{escape(message)}</h1>"
                        f"<ul>{items}</ul>", status_code=status)
