"""The JSON API (DESIGN.md): the same engine calls as the CLI, as the signed-in user or a bearer token."""

from __future__ import annotations

import json
from decimal import Decimal
from urllib.parse import quote

import orjson
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from engine.errors import Forbidden, Invalid
from engine.inputs import check_input

from .auth import check_csrf, require_user

MAX_UPLOAD = 10 * 1024 * 1024  # bytes of one attachment (engine.attachments refuses more)


async def body_of(request: Request) -> dict:
    """The request's JSON object (at most middleware.MAX_BODY bytes); money stays exact (no floats), and anything
    else is a clear 422."""
    raw = await request.body()
    if not raw.strip():
        return {}
    try:
        data = json.loads(raw, parse_float=Decimal, parse_constant=_no_constant)
    except (ValueError, RecursionError) as exc:
        raise Invalid(f"請求內容不是有效的 JSON：{exc}") from None
    if not isinstance(data, dict):
        raise Invalid("請求內容必須是 JSON 物件", [{"field": "", "message": "必須是 JSON 物件"}])
    check_input(data)
    return data


def _no_constant(name: str):
    raise ValueError(f"{name} 不是 JSON 允許的數字")


def known_query(request: Request, *names: str) -> None:
    """Refuse a query parameter the operation does not take (a misspelt filter would otherwise filter nothing)."""
    unknown = sorted(set(request.query_params) - set(names))
    if unknown:
        shown = "、".join(u or "（空白）" for u in unknown)
        raise Invalid(f"不明的查詢參數：{shown}（可用：{'、'.join(names) or '無'}）",
                      [{"field": u, "message": "不明的查詢參數"} for u in unknown])


def json_out(value, status: int = 200) -> Response:
    """JSON once, with orjson (the inbox's 100 tasks: 0.03 ms instead of 1.1 ms encoded, decoded and
    encoded again); anything it cannot encode (a Decimal, a huge integer) as text."""
    try:
        body = orjson.dumps(value, default=str)
    except TypeError:
        body = json.dumps(value, default=str, ensure_ascii=False).encode()
    return Response(body, status_code=status, media_type="application/json")


def required_text(data: dict, key: str, what: str, ask: str) -> str:
    """A text the body must give (`ask`: how to ask for it when it does not)."""
    value = _field(data, key, str, what)
    if not value:
        raise Invalid(ask, [{"field": key, "message": "必填"}])
    return value


def _field(data: dict, key: str, kind: type, what: str):
    value = data.get(key)
    if value is not None and not isinstance(value, kind):
        raise Invalid(f"{what}格式不正確", [{"field": key, "message": f"{what}格式不正確"}])
    return value


async def workflows(request: Request) -> Response:
    require_user(request)
    return json_out(request.app.state.engine.workflows())


async def workflow(request: Request) -> Response:
    require_user(request)
    return json_out(request.app.state.engine.describe(request.path_params["workflow"]))


async def start(request: Request) -> Response:
    user = require_user(request)
    check_csrf(request, request.headers.get("x-csrf-token"))
    data = await body_of(request)
    wid = required_text(data, "workflow", "流程代號", "請指定流程 workflow")
    fields = _field(data, "data", dict, "資料") or {}
    site = _field(data, "site", str, "管理處")
    engine = request.app.state.engine
    return json_out(engine.start(wid, user, fields, site or None), 201)


async def instance(request: Request) -> Response:
    user = require_user(request)
    return json_out(request.app.state.engine.show(request.path_params["instance"], user, via="api"))


async def tasks(request: Request) -> Response:
    user = require_user(request)
    return json_out(request.app.state.engine.tasks(user))


async def complete(request: Request) -> Response:
    user = require_user(request)
    check_csrf(request, request.headers.get("x-csrf-token"))
    data = await body_of(request)
    outcome = _field(data, "outcome", str, "結果 outcome")
    comment = _field(data, "comment", str, "意見 comment")
    fields = _field(data, "data", dict, "資料 data")
    engine = request.app.state.engine
    return json_out(engine.complete(request.path_params["task"], user, outcome, fields, comment))


async def hold(request: Request) -> Response:
    user = require_user(request)
    check_csrf(request, request.headers.get("x-csrf-token"))
    data = await body_of(request)
    state = required_text(data, "state", "暫停狀態 state", "請指定暫停狀態 state")
    return json_out(request.app.state.engine.hold(request.path_params["task"], user, state,
                                                  _field(data, "comment", str, "意見 comment")))


async def act(request: Request) -> Response:
    user = require_user(request)
    check_csrf(request, request.headers.get("x-csrf-token"))
    data = await body_of(request)
    step = required_text(data, "step", "狀態 step", "請指定狀態 step")
    action = required_text(data, "action", "操作 action", "請指定操作 action")
    return json_out(request.app.state.engine.act(request.path_params["instance"], user, step, action,
                                                 _field(data, "data", dict, "資料 data"),
                                                 _field(data, "comment", str, "意見 comment")))


async def assign(request: Request) -> Response:
    user = require_user(request)
    check_csrf(request, request.headers.get("x-csrf-token"))
    data = await body_of(request)
    to = required_text(data, "to", "接手人員 to", "請指定接手人員 to")
    return json_out(request.app.state.engine.assign(request.path_params["task"], user, to,
                                                    _field(data, "comment", str, "意見 comment")))


async def resume(request: Request) -> Response:
    user = require_user(request)
    check_csrf(request, request.headers.get("x-csrf-token"))
    data = await body_of(request)
    return json_out(request.app.state.engine.resume(request.path_params["task"], user,
                                                    _field(data, "comment", str, "意見 comment")))


async def printout(request: Request) -> Response:
    user = require_user(request)
    check_csrf(request, request.headers.get("x-csrf-token"))  # it records a print: not from a bare link
    body, info = request.app.state.engine.render(request.path_params["instance"], request.path_params["name"], user)
    return docx_response(body, f"{info['instance']}-{info['printout']}.docx", info["code"])


def docx_response(body: bytes, filename: str, code: str) -> Response:
    return Response(body, media_type="application/vnd.openxmlformats-officedocument.wordprocessingml.document",
                    headers={"content-disposition": f"attachment; filename*=UTF-8''{quote(filename)}",
                             "x-goldkey-code": code})


async def graph_svg(request: Request) -> Response:
    """The step graph as SVG; `?instance=ID` highlights where that instance is (if the user may see it)."""
    from engine import graph

    user = require_user(request)
    known_query(request, "instance")
    engine = request.app.state.engine
    wf = engine.registry.workflow(request.path_params["workflow"])
    current: set[str] = set()
    done: set[str] = set()
    if request.query_params.get("instance"):
        view = engine.show(request.query_params["instance"], user)
        if view["workflow"] != wf.id:
            raise Forbidden(f"案件 {view['id']} 不是「{wf.title}」的案件")
        wf = engine.workflow_at(view["version"])
        current, done = graph.positions(view)
    return Response(graph.svg(wf, current, done), media_type="image/svg+xml")


def require_admin(request: Request) -> str:
    """Administration is for the site's `admin_roles` (goldkey.yaml)."""
    user = require_user(request)
    request.app.state.engine.require_admin(user)
    return user


async def admin_definitions(request: Request) -> Response:
    require_admin(request)
    engine = request.app.state.engine
    return json_out(dict(engine.check_definitions(), workflows=engine.workflows(), users=engine.users()))


async def admin_reads(request: Request) -> Response:
    """The log of confidential reads (administrators): ?user=, ?from= and ?to= (local days, inclusive) narrow it."""
    from engine.registers import bounds

    from .registers import filters

    user = require_user(request)
    known_query(request, "user", "from", "to")
    engine = request.app.state.engine
    days = filters(request)  # (from/to read as dates: a bad one is a 422 naming it)
    since, before = bounds(days["first"], days["last"], engine.registry.site.tz)
    reader = request.query_params.get("user", "")[:100] or None
    return json_out(engine.confidential_reads(user, reader, since, before))


async def admin_migrations(request: Request) -> Response:
    """GET: the running instances of a workflow on older versions, each with whether it can move to the current
    version and why not (`?from=` only those on that version); POST: move those that can (body `{"from": ...}`)."""
    user = require_admin(request)
    engine = request.app.state.engine
    workflow = request.path_params["workflow"]
    if request.method == "GET":
        known_query(request, "from")
        return json_out(engine.migration_plan(workflow, request.query_params.get("from") or None, user))
    check_csrf(request, request.headers.get("x-csrf-token"))
    data = await body_of(request)
    return json_out(engine.migrate(workflow, user, _field(data, "from", str, "版本 from") or None))


async def admin_reload(request: Request) -> Response:
    require_admin(request)
    check_csrf(request, request.headers.get("x-csrf-token"))
    result = request.app.state.engine.reload()
    return json_out(result, 200 if result["ok"] else 422)


async def upload(request: Request) -> Response:
    """Upload one file (multipart field `file`); the answer's `id` goes into an attachment field."""
    user = require_user(request)
    check_csrf(request, request.headers.get("x-csrf-token"))
    data, name, _ = await one_file(request, MAX_UPLOAD, "請選擇要上傳的檔案")
    return json_out(request.app.state.engine.attach(user, data, name), 201)


async def signature_upload(request: Request) -> Response:
    """Upload a signature drawn on the pad (multipart field `file`: a PNG of at most 512 KB); the answer's `id`
    goes into a signature field. Anything else is a 422 in words."""
    from engine import signatures

    user = require_user(request)
    check_csrf(request, request.headers.get("x-csrf-token"))
    data, _, _ = await one_file(request, signatures.MAX_BYTES, "沒有簽名：請在框內簽名後再送出")
    signatures.check_image(data)
    return json_out(request.app.state.engine.attach(user, data, "簽名.png"), 201)


async def one_file(request: Request, limit: int, missing: str, max_fields: int = 5) -> tuple[bytes, str, dict]:
    """The one file of a multipart post (field `file`, at most `limit` + 1 bytes read: the caller tells a bigger one),
    its name, and the post's other fields; `missing`: what to say when there is none."""
    if "multipart/form-data" not in request.headers.get("content-type", ""):
        raise Invalid("請以 multipart/form-data 上傳，欄位名稱 file", [{"field": "file", "message": "請選擇檔案"}])
    try:
        form = await request.form(max_files=1, max_fields=max_fields)
    except HTTPException as exc:  # (Starlette's parser: too many parts, a broken body)
        raise Invalid("上傳內容的格式不正確：一次上傳一個檔案，欄位名稱 file",
                      [{"field": "file", "message": "請選擇一個檔案"}]) from exc
    try:
        item = form.get("file")
        if item is None or isinstance(item, str):
            raise Invalid(missing, [{"field": "file", "message": "請選擇檔案"}])
        return (await item.read(limit + 1), item.filename or "",
                {k: v for k, v in form.items() if isinstance(v, str)})
    finally:
        await form.close()


async def attachment(request: Request) -> Response:
    user = require_user(request)
    meta, data = request.app.state.engine.attachment(request.path_params["digest"], user)
    return Response(data, media_type=meta["type"],
                    headers={"content-disposition": f"attachment; filename*=UTF-8''{quote(meta['name'])}",
                             "cache-control": "private, max-age=31536000, immutable"})


async def notifications(request: Request) -> Response:
    user = require_user(request)
    return json_out(request.app.state.engine.notifications(user))


async def verify(request: Request) -> Response:
    """Public: anyone holding the paper may check it; only what is printed on it is shown."""
    result = request.app.state.engine.verify(request.path_params["code"])
    public = ("code", "genuine", "current", "number", "title", "status", "print_no", "printed_at", "message")
    shown = {k: result.get(k) for k in public}
    if result.get("signatures"):  # the signatures printed on it: whose (the field's title) and their pictures' hashes
        shown["signatures"] = [{"title": s["title"], "hash": s["hash"]} for s in result["signatures"]]
    return json_out(shown)


async def openapi(request: Request) -> Response:
    from .openapi import document

    return json_out(document())


routes = [
    Route("/api/workflows", workflows),
    Route("/api/workflows/{workflow}", workflow),
    Route("/api/workflows/{workflow}/graph.svg", graph_svg),
    Route("/api/instances", start, methods=["POST"]),
    Route("/api/instances/{instance}", instance),
    Route("/api/instances/{instance}/printouts/{name}", printout),
    Route("/api/tasks", tasks),
    Route("/api/tasks/{task}/complete", complete, methods=["POST"]),
    Route("/api/tasks/{task}/hold", hold, methods=["POST"]),
    Route("/api/tasks/{task}/resume", resume, methods=["POST"]),
    Route("/api/tasks/{task}/assign", assign, methods=["POST"]),
    Route("/api/instances/{instance}/act", act, methods=["POST"]),
    Route("/api/notifications", notifications),
    Route("/api/attachments", upload, methods=["POST"]),
    Route("/api/attachments/{digest}", attachment),
    Route("/api/signatures", signature_upload, methods=["POST"]),
    Route("/api/admin/definitions", admin_definitions),
    Route("/api/admin/reload", admin_reload, methods=["POST"]),
    Route("/api/admin/reads", admin_reads),
    Route("/api/admin/migrations/{workflow}", admin_migrations, methods=["GET", "POST"]),
    Route("/api/verify/{code}", verify),
    Route("/api/openapi.json", openapi),
]
