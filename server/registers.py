"""Registers (臺帳) over HTTP: a form's records as JSON, CSV or Excel, with customer fields hidden from roles
the form does not name."""

from __future__ import annotations

from datetime import date
from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from engine import registers
from engine.errors import Invalid, NotFound

from .api import json_out, known_query
from .auth import require_user


def filters(request: Request) -> dict:
    """The query string as filters; a bad date or page is a 422 naming the parameter."""
    q = request.query_params
    out: dict = {"search": q.get("q", "")[:100], "status": q.get("status", ""), "unit": q.get("unit", "")[:40],
                 "sort": q.get("sort", "-started"), "state": q.get("state", "")[:64]}
    if out["status"] not in ("", "active", "completed", "cancelled"):
        raise Invalid("狀態只能是 active、completed 或 cancelled", [{"field": "status", "message": "狀態不正確"}])
    for key, name in (("first", "from"), ("last", "to")):
        text = q.get(name)
        try:
            out[key] = date.fromisoformat(text) if text else None
        except ValueError:
            raise Invalid(f"{name} 不是日期，例如 2026-11-01", [{"field": name, "message": "日期格式 YYYY-MM-DD"}]) \
                from None
    page = q.get("page", "1")
    if not (page.isascii() and page.isdigit() and 1 <= int(page) <= 100000):
        raise Invalid("page 必須是 1 至 100000 的整數", [{"field": "page", "message": "頁碼是 1 以上的整數"}])
    out["page"] = int(page)
    return out


def records(request: Request, user: str, every: bool = False) -> tuple:
    """(form, workflows, hidden fields, rows, total, filters) of the register the request asks for."""
    args = filters(request)
    if every:
        args.update(page=1)
    found = request.app.state.engine.register(request.path_params["form"], user,
                                              per_page=100000 if every else registers.PER_PAGE,
                                              via="export" if every else "register", **args)
    return found["form"], found["workflows"], found["hidden"], found["rows"], found["total"], args


async def api_register(request: Request) -> Response:
    user = require_user(request)
    known_query(request, "q", "status", "from", "to", "unit", "sort", "page", "state")
    form, _, _, rows, total, args = records(request, user)
    return json_out({"form": form.id, "title": form.title, "total": total, "page": args["page"],
                     "per_page": registers.PER_PAGE, "rows": rows})


async def export(request: Request) -> Response:
    user = require_user(request)
    form, wfs, hidden, rows, _, _ = records(request, user, every=True)
    sites = request.app.state.engine.site_titles()
    header, cells = registers.table(form, rows, hidden, {wf.id: wf.title for wf in wfs},
                                    sites if len(sites) > 1 else None)
    return sheet_response(form.title, f"{form.title}臺帳", request.path_params["kind"], header, cells)


def sheet_response(title: str, filename: str, kind: str, header: list[str], cells: list[list[str]]) -> Response:
    """Rows as a .csv or .xlsx download named `filename`."""
    if kind not in ("csv", "xlsx"):
        raise NotFound(f"沒有 .{kind} 格式；可用 .csv 或 .xlsx")
    if kind == "csv":
        body, media = registers.to_csv(header, cells), "text/csv; charset=utf-8"
    else:
        body = registers.to_xlsx(title, header, cells)
        media = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    name = quote(f"{filename}.{kind}")
    return Response(body, media_type=media, headers={"content-disposition": f"attachment; filename*=UTF-8''{name}"})


routes = [Route("/api/registers/{form}", api_register),
          Route("/registers/{form}.{kind:str}", export)]
