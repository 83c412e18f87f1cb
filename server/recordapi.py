"""Records over the JSON API (`/api/records/...`): record types, lists and lookups, a record with its history, and
the commands (add, edit, move, import a .csv/.xlsx file, export one), as the signed-in user or a bearer token."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from engine import recordio
from engine.errors import Invalid, NotFound

from .api import _field, body_of, json_out, known_query, one_file, required_text
from .auth import check_csrf, require_user
from .registers import sheet_response

MAX_SHEET = 20 * 1024 * 1024  # bytes of one imported sheet


def _page(request: Request) -> int:
    page = request.query_params.get("page", "1")
    if not (page.isascii() and page.isdigit() and 1 <= int(page) <= 100000):
        raise Invalid("page 必須是 1 至 100000 的整數", [{"field": "page", "message": "頁碼是 1 以上的整數"}])
    return int(page)


async def types(request: Request) -> Response:
    user = require_user(request)
    return json_out(request.app.state.engine.record_types(user))


async def collection(request: Request) -> Response:
    """GET: the records of a type; POST: a new one."""
    return await (add(request) if request.method == "POST" else listing(request))


async def listing(request: Request) -> Response:
    user = require_user(request)
    known_query(request, "q", "state", "page")
    engine = request.app.state.engine
    q = request.query_params
    found = engine.records(request.path_params["type"], user, q.get("q", ""), q.get("state", ""), _page(request),
                           via="api")
    rt = found["type"]
    return json_out({"type": rt.id, "title": rt.title, "total": found["total"], "page": _page(request),
                     "per_page": 50, "states": found["states"], "may_edit": found["may_edit"], "rows": found["rows"]})


async def add(request: Request) -> Response:
    user = require_user(request)
    check_csrf(request, request.headers.get("x-csrf-token"))
    body = await body_of(request)
    data = _field(body, "data", dict, "資料 data")
    if data is None:
        raise Invalid("請提供資料 data", [{"field": "data", "message": "必填"}])
    made = request.app.state.engine.add_record(request.path_params["type"], user, data,
                                               _field(body, "state", str, "狀態 state"),
                                               _field(body, "site", str, "管理處 site") or None)
    return json_out(made, 201)


async def lookup(request: Request) -> Response:
    """Records for a form's lookup field, as one types: key, a label with the searched fields, state, data."""
    user = require_user(request)
    known_query(request, "q", "site")
    q = request.query_params
    return json_out(request.app.state.engine.lookup(request.path_params["type"], user, q.get("q", "")[:100],
                                                    q.get("site") or None))


async def record(request: Request) -> Response:
    user = require_user(request)
    engine = request.app.state.engine
    if request.method == "GET":
        return json_out(engine.record(request.path_params["type"], request.path_params["record"], user, via="api"))
    check_csrf(request, request.headers.get("x-csrf-token"))
    body = await body_of(request)
    data = _field(body, "data", dict, "資料 data")
    if data is None:
        raise Invalid("請提供要修改的資料 data", [{"field": "data", "message": "必填"}])
    return json_out(engine.edit_record(request.path_params["type"], request.path_params["record"], user, data,
                                       _revision(body)))


def _revision(body: dict) -> int | None:
    value = body.get("revision")
    if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
        raise Invalid("revision 必須是整數", [{"field": "revision", "message": "必須是整數"}])
    return value


async def move(request: Request) -> Response:
    user = require_user(request)
    check_csrf(request, request.headers.get("x-csrf-token"))
    body = await body_of(request)
    state = required_text(body, "state", "狀態 state", "請指定新的狀態 state")
    return json_out(request.app.state.engine.move_record(
        request.path_params["type"], request.path_params["record"], user, state,
        _field(body, "comment", str, "意見 comment"), _revision(body)))


async def sheet_of(request: Request) -> tuple[bytes, str, dict]:
    """The uploaded sheet (multipart field `file`) and the other fields of the form."""
    body, name, fields = await one_file(request, MAX_SHEET, "請選擇要匯入的 .csv 或 .xlsx 檔案", max_fields=10)
    if len(body) > MAX_SHEET:
        raise Invalid(f"檔案太大（最多 {MAX_SHEET // 1024 // 1024} MB）", [{"field": "file", "message": "檔案太大"}])
    return body, name, fields


async def import_sheet(request: Request) -> Response:
    """Import a .csv/.xlsx file: 200 with the report when it went in, 422 with it (and every failed row) when
    nothing was imported."""
    user = require_user(request)
    check_csrf(request, request.headers.get("x-csrf-token"))
    engine = request.app.state.engine
    rt = engine.record_type(request.path_params["type"])
    body, name, fields = await sheet_of(request)
    rows = recordio.read_sheet(rt, body, name)
    report = engine.import_records(rt.id, user, rows, fields.get("partial") in ("1", "true", "on"),
                                   fields.get("site") or None)
    if report["imported"]:
        return json_out(report)
    failed = report["failed"]
    return json_out({"error": "invalid", "message": f"{len(failed)} 行有錯誤，沒有匯入任何資料；請修正後再匯入，"
                                                    "或選擇只匯入正確的行",
                     "details": [dict(p, row=f["row"]) for f in failed for p in f["problems"]], "report": report},
                    422)


async def export(request: Request) -> Response:
    user = require_user(request)
    engine = request.app.state.engine
    kind = request.path_params["kind"]
    if kind not in ("csv", "xlsx"):
        raise NotFound(f"沒有 .{kind} 格式；可用 .csv 或 .xlsx")
    known_query(request, "q", "state")
    q = request.query_params
    rt, rows = engine.export_records(request.path_params["type"], user, q.get("q", ""), q.get("state", ""))
    sites = engine.site_titles()
    header, cells = recordio.table(rt, rows, sites if len(sites) > 1 else None,
                                   set().union(*(set(r["hidden"]) for r in rows)))
    return sheet_response(rt.title, rt.title, kind, header, cells)


routes = [
    Route("/api/records", types),
    Route("/api/records/{type}", collection, methods=["GET", "POST"]),
    Route("/api/records/{type}/lookup", lookup),
    Route("/api/records/{type}/import", import_sheet, methods=["POST"]),
    Route("/api/records/{type}/export.{kind}", export),
    Route("/api/records/{type}/{record:int}", record, methods=["GET", "POST"]),  # (ids only: export.csv is not one)
    Route("/api/records/{type}/{record:int}/move", move, methods=["POST"]),
]
