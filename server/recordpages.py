"""The record pages (資料: 房屋, 客戶, 鑰匙 ...): the types a user may read, a type's list (search, state, pages,
exports), a record with its history and its moves, forms to add and edit one (built from the type's schema like the
start forms), and imports of a .csv/.xlsx sheet. An import runs on a thread of its own with its own Engine; its
progress and report live in the database's settings (`job:<id>`), so any server process answers the page that
follows it. The Engine decides who may read, edit and see what; these pages show what it allows."""

from __future__ import annotations

import logging
import re
import secrets
import threading
import time
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from engine import recordio
from engine.errors import Conflict, Forbidden, GoldkeyError, Invalid, NotFound
from engine.records import RecordType
from engine.recordservice import PER_PAGE
from engine.service import Engine
from engine.sites import DEFAULT_SITE

from . import forms_html
from .auth import check_csrf
from .recordapi import sheet_of
from .views import (
    _base,
    _check_formats,
    _data_list,
    _engine,
    _names,
    _page,
    _shown,
    _tz,
    _uploads,
    _when,
    _who,
    signed_in,
)

log = logging.getLogger("goldkey.server")
JOB_ID = re.compile(r"[A-Za-z0-9_-]{16}")  # secrets.token_urlsafe(12)
STALLED = 300  # seconds without progress after which a running import is taken for lost (its server stopped)


# --- who may do what --------------------------------------------------------------------------------------------

def _readable(engine, user: str, type_id: str) -> tuple[RecordType, bool]:
    """The record type and whether `user` may edit it; Forbidden (in words, no ids) for one they may not read."""
    rt = engine.record_type(type_id)
    entry = next((t for t in engine.record_types(user) if t["id"] == rt.id), None)
    if entry is None:
        raise _refusal(engine, rt, "查看", rt.readers or rt.editors)
    return rt, entry["may_edit"]


def _editable(engine, user: str, type_id: str) -> RecordType:
    rt, may_edit = _readable(engine, user, type_id)
    if not may_edit:
        raise _refusal(engine, rt)
    return rt


def _refusal(engine, rt: RecordType, what: str = "新增或修改", roles=None) -> Forbidden:
    """A refusal said to the user (the Engine's own name the user by id: these pages answer with this instead)."""
    needed = engine.registry.site.role_titles(rt.editors if roles is None else roles)
    return Forbidden(f"你沒有{what}{rt.title}資料的角色（需要：{needed}）")


def _record(engine, rt: RecordType, record_id, user: str) -> dict:
    try:
        return engine.record(rt.id, record_id, user)
    except Forbidden:  # (a record of a site where the user holds no role)
        raise _refusal(engine, rt, "查看這個管理處", rt.readers or rt.editors) from None


def _edit_sites(engine, rt: RecordType, user: str) -> list[dict]:
    """The sites where `user` may add records of `rt`: [{id, title, roles}] (the default site alone before there
    are others), as Engine.start_sites answers for a workflow."""
    now, titles = engine.clock(), engine.site_titles()
    if len(titles) > 1:
        titles.pop(DEFAULT_SITE, None)
    out = []
    for site, title in titles.items():
        roles = engine.actor(user, now, site).every_role
        if roles & set(rt.editors):
            out.append({"id": site, "title": title, "roles": roles})
    return out


def _sections(rt: RecordType, hidden: set[str]) -> list[forms_html.Section]:
    """Every field of the type but those hidden from the user; required: the schema's and the key's."""
    names = [n for n in rt.properties if n not in hidden]
    return forms_html.sections(rt.form.schema, rt.form.ui, names, rt.form.required | set(rt.key))


def _number(text, default: int | None = None) -> int | None:
    text = str(text or "")
    return int(text) if text.isascii() and text.isdigit() and len(text) < 10 else default


def _changed_by(request: Request, user: str, rt: RecordType, record_id) -> str:
    """A conflict in words: who changed the record since it was opened, and when."""
    engine = _engine(request)
    fresh = engine.record(rt.id, record_id, user)
    return (f"{rt.label(fresh['key'])}在您開啟後已被 {_who(_names(engine), fresh['updated_by'])} 於 "
            f"{_when(fresh['updated_at'], _tz(request), engine.clock())} 修改；請重新載入，看過最新的內容後再改")


# --- the types and a type's list --------------------------------------------------------------------------------

@signed_in
async def types_page(request: Request, user: str) -> Response:
    ctx = _base(request, user, "records")
    ctx["types"] = _engine(request).record_types(user)
    return _page(request, "records.html", ctx)


@signed_in
async def list_page(request: Request, user: str) -> Response:
    engine = _engine(request)
    tz, now = _tz(request), engine.clock()
    rt, _ = _readable(engine, user, request.path_params["type"])
    q = request.query_params
    search, state, page = q.get("q", "").strip()[:100], q.get("state", ""), _number(q.get("page"), 1) or 1
    found = engine.records(rt.id, user, search, state, page)
    sites = engine.site_titles()
    columns = [c for c in rt.columns if c in rt.properties]
    rows = [dict(id=r["id"], key=r["key"], state=r["state"] or "", site=sites.get(r["site"], ""),
                 cells=[_shown(rt.properties[c], r["data"].get(c), tz, now).get("text", "") for c in columns])
            for r in found["rows"]]
    query = {k: v for k, v in (("q", search), ("state", state)) if v}
    pages = max(1, -(-found["total"] // PER_PAGE))

    def link(**changes) -> str:
        args = {k: v for k, v in dict(query, **changes).items() if v}
        return f"/records/{rt.id}" + (f"?{urlencode(args)}" if args else "")

    counts = found["states"]
    chips = [{"label": "全部", "count": sum(counts.values()), "href": link(state="", page=""), "on": not state}]
    chips += [{"label": s, "count": counts.get(s, 0), "href": link(state=s, page=""), "on": s == state}
              for s in rt.states]
    export = f"?{urlencode(query)}" if query else ""
    ctx = _base(request, user, "records")
    ctx.update(rt=rt, rows=rows, total=found["total"], may_edit=found["may_edit"], q=search, state=state,
               key_title=" ".join(rt.form.title_of(f) for f in rt.key), head=[rt.form.title_of(c) for c in columns],
               by_site=len(sites) > 1, chips=chips if rt.states else [],
               page=page, pages=pages, prev=link(page=page - 1) if page > 1 else None,
               next=link(page=page + 1) if page < pages else None,
               csv=f"/api/records/{rt.id}/export.csv{export}", xlsx=f"/api/records/{rt.id}/export.xlsx{export}")
    return _page(request, "record_list.html", ctx)


# --- one record -------------------------------------------------------------------------------------------------

def _value_text(rt: RecordType, name: str, value, tz, now) -> str:
    if value in (None, "", []):
        return "（空）"
    return _shown(rt.properties.get(name, {}), value, tz, now).get("text") or str(value)


def _history_line(engine, rt: RecordType, event: dict, names: dict, tz, now) -> dict:
    """One event of a record in words: what happened, the fields it changed (「業主」：王先生 → 李小姐), who, when."""
    p = event["payload"] or {}
    changes = [f"「{rt.form.title_of(f)}」：{_value_text(rt, f, old, tz, now)} → {_value_text(rt, f, new, tz, now)}"
               for f, (old, new) in (p.get("changes") or {}).items()]
    moved = f"狀態：{p.get('from') or '（無）'} → {p['to']}" if p.get("to") and p.get("from") != p.get("to") else ""
    href = ""
    kind = event["kind"]
    if kind == "created":
        what = "建立" + (f"（狀態：{p['state']}）" if p.get("state") else "")
    elif kind == "imported":
        what = "匯入" + ("（新增）" if "data" in p else "")
    elif kind == "moved":
        what, moved = moved or "變更狀態", ""
    elif kind == "step":
        wf = engine.registry.workflows.get(p.get("workflow") or "")
        step = wf.steps.get(p.get("step") or "") if wf else None
        number = p.get("number") or f"#{p.get('instance')}"
        what = f"由案件 {number}「{step.title if step and step.title else '流程步驟'}」更新"
        href = f"/instances/{p['instance']}" if p.get("instance") else ""
    else:
        what = "修改"
    details = changes + ([moved] if moved else []) + ([f"意見：{p['comment']}"] if p.get("comment") else [])
    return {"at": _when(event["at"], tz, now), "who": _who(names, event["actor"]), "what": what, "href": href,
            "details": details}


def _render_record(request: Request, user: str, message: str | None = None, status: int = 200,
                   comment: str = "") -> Response:
    engine = _engine(request)
    tz, now = _tz(request), engine.clock()
    rt, _ = _readable(engine, user, request.path_params["type"])
    rec = _record(engine, rt, request.path_params["id"], user)
    names = _names(engine)
    sites = engine.site_titles()
    ctx = _base(request, user, "records")
    ctx.update(rt=rt, rec=rec, data=_data_list(rt.form, rec["data"], None, tz, now),
               created=_when(rec["created_at"], tz, now), created_by=_who(names, rec["created_by"]),
               updated=_when(rec["updated_at"], tz, now), updated_by=_who(names, rec["updated_by"]),
               edited=rec["revision"] > 1, site_title=sites.get(rec["site"], "") if len(sites) > 1 else "",
               history=[_history_line(engine, rt, e, names, tz, now) for e in rec["history"]],
               form_error=message, comment=comment)
    return _page(request, "record.html", ctx, status)


@signed_in
async def record_page(request: Request, user: str) -> Response:
    return _render_record(request, user)


@signed_in
async def move_page(request: Request, user: str) -> Response:
    form = await request.form()
    check_csrf(request, form.get("csrf"))
    engine = _engine(request)
    rt, _ = _readable(engine, user, request.path_params["type"])
    record_id = request.path_params["id"]
    state = str(form.get("state") or "")
    comment = str(form.get("comment") or "").replace("\r\n", "\n").strip()
    try:
        if not state:
            raise Invalid("請選擇新的狀態", [{"field": "state", "message": "請選擇新的狀態"}])
        engine.move_record(rt.id, record_id, user, state, comment or None, _number(form.get("revision")))
    except Invalid as exc:
        return _render_record(request, user, exc.message, 422, comment)
    except Conflict:
        return _render_record(request, user, _changed_by(request, user, rt, record_id), 409, comment)
    except Forbidden:
        raise _refusal(engine, rt) from None
    return RedirectResponse(f"/records/{rt.id}/{record_id}", status_code=303)


# --- adding and editing -----------------------------------------------------------------------------------------

def _render_form(request: Request, user: str, rt: RecordType, secs, values: dict, status: int = 200, *,
                 rec: dict | None = None, errors: dict | None = None, message: str | None = None,
                 other: list | None = None, state: str = "", sites: list | None = None, site: str = "") -> Response:
    ctx = _base(request, user, "records")
    ctx.update(rt=rt, rec=rec, sections=secs, values=values, errors=errors or {}, form_error=message,
               other_errors=other or [], states=list(rt.states) if rec is None else [],
               chosen_state=state or rt.initial or "", sites=sites if sites and len(sites) > 1 else [],
               chosen_site=site, multipart=forms_html.has_files(secs), values_json="{}",
               action=f"/records/{rt.id}/new" if rec is None else f"/records/{rt.id}/{rec['id']}/edit",
               back=f"/records/{rt.id}" if rec is None else f"/records/{rt.id}/{rec['id']}")
    return _page(request, "record_form.html", ctx, status)


async def _posted(request: Request, user: str, fields, before: dict | None = None,
                  hidden: set[str] = frozenset()):
    """(the post, what each input shows, the data to send, problems found before the engine is asked)."""
    engine = _engine(request)
    posted = await request.form()
    check_csrf(request, posted.get("csrf"))
    uploads, problems = await _uploads(engine, user, fields, posted)
    values = forms_html.posted_values(fields, posted, uploads)
    return posted, values, forms_html.to_data(fields, values, _tz(request), before, hidden), problems


@signed_in
async def new_page(request: Request, user: str) -> Response:
    engine = _engine(request)
    rt = _editable(engine, user, request.path_params["type"])
    sites = _edit_sites(engine, rt, user)
    secs = _sections(rt, rt.form.hidden_from(set().union(*(s["roles"] for s in sites))))
    fields = forms_html.all_fields(secs)
    if request.method == "GET":
        return _render_form(request, user, rt, secs, forms_html.shown_values(fields, {}, _tz(request)), sites=sites)
    posted, values, data, problems = await _posted(request, user, fields)
    state, site = str(posted.get("state") or ""), str(posted.get("site") or "")
    try:
        _check_formats(fields, data, problems)
        made = engine.add_record(rt.id, user, data, state or None, site or None)
    except Forbidden:
        raise _refusal(engine, rt, "在這個管理處新增") from None
    except Invalid as exc:
        errors, other = forms_html.field_errors(exc.details, [f.name for f in fields] + ["state", "site"])
        return _render_form(request, user, rt, secs, values, 422, errors=errors, message=exc.message, other=other,
                            state=state, sites=sites, site=site)
    return RedirectResponse(f"/records/{rt.id}/{made['id']}", status_code=303)


@signed_in
async def edit_page(request: Request, user: str) -> Response:
    """Edit a record: only the fields the user may read are shown and posted; the revision read goes with the post,
    so a change made meanwhile by someone else is refused and named."""
    engine = _engine(request)
    rt = _editable(engine, user, request.path_params["type"])
    rec = _record(engine, rt, request.path_params["id"], user)
    if not rec["may_edit"]:
        raise _refusal(engine, rt, "修改這個管理處")
    hidden = set(rec["hidden"])
    secs = _sections(rt, hidden)
    fields = forms_html.all_fields(secs)
    if request.method == "GET":
        return _render_form(request, user, rt, secs, forms_html.shown_values(fields, rec["data"], _tz(request), hidden),
                            rec=rec)
    posted, values, data, problems = await _posted(request, user, fields, rec["data"], hidden)
    rec = dict(rec, revision=_number(posted.get("revision"), rec["revision"]))
    try:
        _check_formats(fields, data, problems)
        engine.edit_record(rt.id, rec["id"], user, data, rec["revision"])
    except Invalid as exc:
        errors, other = forms_html.field_errors(exc.details, [f.name for f in fields])
        return _render_form(request, user, rt, secs, values, 422, rec=rec, errors=errors, message=exc.message,
                            other=other)
    except Conflict:
        message = _changed_by(request, user, rt, rec["id"])
        return _render_form(request, user, rt, secs, values, 409, rec=dict(rec, conflict=True), message=message)
    return RedirectResponse(f"/records/{rt.id}/{rec['id']}", status_code=303)


# --- imports ----------------------------------------------------------------------------------------------------

def _render_import(request: Request, user: str, rt: RecordType, sites: list, status: int = 200,
                   message: str | None = None, partial: bool = False, site: str = "") -> Response:
    ctx = _base(request, user, "records")
    ctx.update(rt=rt, form_error=message, partial=partial, sites=sites if len(sites) > 1 else [], chosen_site=site,
               titles=[rt.form.title_of(f) for f in rt.properties] + (["狀態"] if rt.states else []),
               required=[rt.form.title_of(f) for f in rt.properties if f in rt.form.required or f in rt.key])
    return _page(request, "record_import.html", ctx, status)


def _run_import(url: str, registry, clock, job_id: str, job: dict, rows: list[dict], site: str | None) -> None:
    """The import, on its own thread with its own Engine: its progress after each batch, then its report (or why it
    failed), into the job's setting."""
    try:
        engine = Engine(url, registry, clock=clock)
    except Exception:  # noqa: BLE001 - the database cannot be reached: nothing was written, nothing can be told
        log.exception("import %s could not open the database", job_id)
        return
    try:
        def progress(done: int, total: int) -> None:
            job.update(done=done, total=total)
            engine.save_job(job_id, job)

        try:
            report = engine.import_records(job["type"], job["user"], rows, job["partial"], site, progress=progress)
        except Forbidden:
            job.update(status="failed", message="你沒有在這個管理處匯入這類資料的角色")
        except GoldkeyError as exc:
            job.update(status="failed", message=exc.message,
                       problems=[str(d.get("message", d)) if isinstance(d, dict) else str(d) for d in exc.details])
        except Exception:  # noqa: BLE001 - told on the page; the log has the rest
            log.exception("import %s failed", job_id)
            job.update(status="failed", message="伺服器發生錯誤，已記錄；請稍後再試")
        else:
            job.update(status="done", report=report, done=job["total"])
        engine.save_job(job_id, job)
    finally:
        engine.close()


@signed_in
async def import_page(request: Request, user: str) -> Response:
    """A sheet to import: read and checked here (a bad file is told on this page); its rows then go in on a thread
    of their own while the job's page shows the progress."""
    engine = _engine(request)
    rt = _editable(engine, user, request.path_params["type"])
    sites = _edit_sites(engine, rt, user)
    if request.method == "GET":
        return _render_import(request, user, rt, sites)
    try:
        body, name, fields = await sheet_of(request)
    except Invalid as exc:
        return _render_import(request, user, rt, sites, 422, exc.message)
    check_csrf(request, fields.get("csrf"))
    partial = fields.get("partial") in ("1", "true", "on")
    site = fields.get("site") or ""
    try:
        if len(sites) > 1 and site not in {s["id"] for s in sites}:
            raise Invalid("請選擇匯入到哪個管理處")
        rows = recordio.read_sheet(rt, body, name)
        if not rows:
            raise Invalid("檔案只有欄位名稱，沒有要匯入的資料")
    except Invalid as exc:
        return _render_import(request, user, rt, sites, 422, exc.message, partial, site)
    job_id = secrets.token_urlsafe(12)
    job = {"user": user, "type": rt.id, "file": name, "partial": partial, "done": 0, "total": len(rows),
           "status": "running", "report": None, "message": None}
    engine.save_job(job_id, job)
    args = (request.app.state.db, engine.registry, engine.clock, job_id, job, rows, site or None)
    threading.Thread(target=_run_import, args=args, name=f"goldkey-import-{job_id}", daemon=True).start()
    return RedirectResponse(f"/records/{rt.id}/import/{job_id}", status_code=303)


def _job(request: Request, user: str) -> tuple[RecordType, dict]:
    """The import job of the path, for the user who started it only."""
    engine = _engine(request)
    rt = engine.record_type(request.path_params["type"])
    job_id = request.path_params["job"]
    job = engine.job(job_id) if JOB_ID.fullmatch(job_id) else None
    if job is None or job.get("type") != rt.id:
        raise NotFound("找不到這次匯入")
    if job.get("user") != user:
        raise Forbidden("只有執行這次匯入的人可以查看它的進度與結果")
    if job["status"] == "running" and time.time() - job.get("at", 0) > STALLED:
        job.update(status="failed", message="匯入在完成前中斷了（伺服器可能重新啟動）：請重新匯入同一個檔案，"
                                            "已匯入的行會顯示為沒有變動")
    return rt, job


def _progress_text(job: dict) -> str:
    if job["status"] == "running":
        return f"正在匯入：已處理 {job['done']} / {job['total']} 行"
    return "匯入失敗" if job["status"] == "failed" else "已完成"


def _field_title(rt: RecordType, name: str) -> str:
    if name == "state":
        return "狀態"
    return rt.form.title_of(name) if name.split(".")[0] in rt.properties else ""


@signed_in
async def job_page(request: Request, user: str) -> Response:
    rt, job = _job(request, user)
    report = job.get("report") or {}
    failed = [{"row": f["row"], "key": f.get("key") or "", "field": _field_title(rt, str(p.get("field") or "")),
               "message": p.get("message") or ""} for f in report.get("failed", []) for p in f["problems"]]
    ctx = _base(request, user, "records")
    ctx.update(rt=rt, job=job, text=_progress_text(job), report=report, failed=failed,
               failed_rows=len(report.get("failed", [])),
               status_url=f"/records/{rt.id}/import/{request.path_params['job']}.json")
    return _page(request, "record_import.html", ctx)


@signed_in
async def job_status(request: Request, user: str) -> Response:
    _, job = _job(request, user)
    return JSONResponse({"status": job["status"], "done": job["done"], "total": job["total"],
                         "text": _progress_text(job)}, headers={"cache-control": "no-store"})


routes = [
    Route("/records", types_page),
    Route("/records/{type}", list_page),
    Route("/records/{type}/new", new_page, methods=["GET", "POST"]),
    Route("/records/{type}/import", import_page, methods=["GET", "POST"]),
    Route("/records/{type}/import/{job}.json", job_status),
    Route("/records/{type}/import/{job}", job_page),
    Route("/records/{type}/{id}", record_page),
    Route("/records/{type}/{id}/edit", edit_page, methods=["GET", "POST"]),
    Route("/records/{type}/{id}/move", move_page, methods=["POST"]),
]
