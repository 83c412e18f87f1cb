"""The server-rendered UI: login, inbox, start forms, task pages, instance pages, printouts, verification,
registers and admin. Every page comes from the definitions (no workflow or form is named here); every post
carries the session's CSRF token; every value a user typed is escaped by Jinja2's autoescape."""

from __future__ import annotations

import json
import re
from datetime import datetime
from decimal import Decimal, InvalidOperation
from functools import wraps
from pathlib import Path
from urllib.parse import urlencode

import jinja2
from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Route
from starlette.templating import Jinja2Templates

from engine import words
from engine.access import HIDDEN
from engine.errors import Conflict, Forbidden, Invalid, NotFound
from engine.money import yuan_label
from engine.people import MAX_NAME
from engine.steps.routing import PERSON
from engine.views import task_view

from . import forms_html
from . import results_html as results_ui
from .api import MAX_UPLOAD, docx_response
from .auth import check_csrf, check_login, csrf_token, session_user, sign_in, sign_out

HERE = Path(__file__).resolve().parent
ENV = jinja2.Environment(loader=jinja2.FileSystemLoader(HERE / "templates"), autoescape=True,
                         trim_blocks=True, lstrip_blocks=True)
templates = Jinja2Templates(env=ENV)

QUIET_EVENTS = {"task_opened", "decision_taken", "parallel_started", "joined", "timer_fired", "start_reached"}


# --- helpers --------------------------------------------------------------------------------------------------

def _engine(request: Request):
    return request.app.state.engine


def _tz(request: Request):
    return _engine(request).registry.site.tz


def _local_next(value: str | None) -> str:
    """`next` only when it is a path on this site (never //host or /\\host)."""
    if value and value.startswith("/") and not value.startswith(("//", "/\\")) and not any(c in value for c in "\r\n"):
        return value
    return "/"


def signed_in(handler):
    """The endpoint runs with the signed-in user; anyone else goes to the login page and comes back."""
    @wraps(handler)
    async def endpoint(request: Request) -> Response:
        user = session_user(request)
        if user is None:
            target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
            return RedirectResponse("/login?" + urlencode({"next": target}), status_code=303)
        return await handler(request, user)
    return endpoint


def _when(value, tz, today=None) -> str:
    """A stored UTC time in site time: 11月02日 15:00 (with the year when it is not this year)."""
    if not value:
        return ""
    try:
        moment = datetime.fromisoformat(str(value))
    except ValueError:
        return str(value)
    if moment.tzinfo is None:
        return moment.strftime("%Y年%m月%d日 %H:%M")
    moment = moment.astimezone(tz)
    this_year = (today or datetime.now(tz)).year
    return moment.strftime("%m月%d日 %H:%M" if moment.year == this_year else "%Y年%m月%d日 %H:%M")


def _date(value) -> str:
    try:
        day = datetime.strptime(str(value), "%Y-%m-%d")
    except ValueError:
        return str(value)
    return day.strftime("%Y年%m月%d日")


def _money(value) -> str:
    try:
        return f"¥{Decimal(str(value)):,.2f}"
    except (InvalidOperation, ValueError):
        return str(value)


def _shown(schema: dict, value, tz, now) -> dict:
    """A stored value for reading: {"text": ...} or a small table {"head": [...], "rows": [[...]]}."""
    if value is None or value == "":
        return {"text": ""}
    if value == HIDDEN:
        return {"text": HIDDEN}
    if isinstance(value, bool):
        return {"text": "是" if value else "否"}
    if isinstance(value, list):
        items = schema.get("items") if isinstance(schema.get("items"), dict) else {}
        props = items.get("properties") or {}
        if props or any(isinstance(v, dict) for v in value):
            keys = list(props) or sorted({k for v in value if isinstance(v, dict) for k in v})
            return {"head": [str(props.get(k, {}).get("title") or k) for k in keys],
                    "rows": [[_shown(props.get(k, {}), v.get(k) if isinstance(v, dict) else None, tz, now)["text"]
                              for k in keys] for v in value]}
        return {"text": "、".join(str(v) for v in value)}
    fmt = schema.get("format")
    if fmt == "attachment" and isinstance(value, str) and re.fullmatch(r"[0-9a-f]{64}", value):
        return {"text": "附件", "href": f"/api/attachments/{value}"}
    if fmt == "signature" and isinstance(value, str) and re.fullmatch(r"[0-9a-f]{64}", value):
        return {"text": "已簽名", "image": f"/api/attachments/{value}"}  # (opens for those who may see the instance)
    if fmt == "money":
        return {"text": _money(value)}
    if fmt == "date-time":
        return {"text": _when(value, tz, now)}
    if fmt == "date":
        return {"text": _date(value)}
    return {"text": str(value)}


def _data_list(form, data: dict, names=None, tz=None, now=None) -> list[dict]:
    """The filled fields of `data` (or of `names`) in the form's section order, with their labels."""
    props = form.properties
    order: list[str] = []
    for sec in (form.ui or {}).get("sections") or []:
        order += [n for n in sec.get("fields", []) if n not in order]
    order += [n for n in props if n not in order]
    wanted = set(names) if names is not None else set(data)
    out = []
    for name in order:
        if name in wanted and data.get(name) not in (None, "", []):
            out.append(dict(name=name, title=str(props.get(name, {}).get("title") or name),
                            **_shown(props.get(name, {}), data[name], tz, now)))
    return out


def _as_people(wf, items: list[dict], names: dict) -> list[dict]:
    """`_data_list` items with the fields that name whom a step is assigned to (`assign: {field: technician}`)
    showing the person's name, not the login typed there."""
    fields = {s.assign.field for s in wf.steps.values() if getattr(s, "assign", None) and s.assign.field}
    fields |= set(wf.form.persons)
    return [dict(i, text=_person(names, i["text"])) if i["name"] in fields and "text" in i else i for i in items]


def _names(engine) -> dict[str, str]:
    return engine.display_names()


def _who(names: dict, user: str | None) -> str:
    if not user:
        return "系統"
    title = names.get(user)
    return f"{title}（{user}）" if title and title != user else user


def _person(names: dict, user: str | None) -> str:
    """One person as staff read them: the display name alone (the login only when there is no name)."""
    return (names.get(user) or user) if user else "系統"


def _named(message: str, names: dict) -> str:
    """An engine message with each 「login」 it quotes shown as the person's name."""
    return re.sub(r"「([^」]+)」", lambda m: f"「{names.get(m[1], m[1])}」", message)


def _roles_text(engine, roles, names: dict | None = None) -> str:
    """Roles in words; a role naming one person (an assigned task's "@wang") as that person's name."""
    titles = engine.registry.site.roles
    names = names if names is not None else (_names(engine) if any(r.startswith(PERSON) for r in roles) else {})
    return "、".join(_person(names, r[len(PERSON):]) if r.startswith(PERSON) else titles.get(r, r) for r in roles)


def _holder(t: dict, names: dict, user: str | None = None) -> str:
    """Who holds a task, in words: 指派給您 / 指派給 王師傅, or the roles it waits for."""
    if t.get("assignee"):
        return "指派給您" if t["assignee"] == user else f"指派給 {_person(names, t['assignee'])}"
    return t.get("role_titles") or ""


def _reassign_to(engine, t: dict, user: str, names: dict) -> list[dict]:
    """Whom `user` may hand the open task `t` to ([{name, title}], its assignee left out): none unless they may."""
    if not t.get("reassign"):
        return []
    return [dict(p, title=names.get(p["name"]) or p["title"]) for p in engine.assignees(t["id"], user)
            if p["name"] != t.get("assignee")]


def _base(request: Request, user: str | None, nav: str = "") -> dict:
    engine = _engine(request)
    ctx = {"user": user, "nav": nav, "site": engine.registry.site.name, "is_manager": False, "user_title": ""}
    if user:
        ctx["csrf"] = csrf_token(request)
        ctx["is_manager"] = engine.is_admin(user)
        ctx["user_title"] = _names(engine).get(user) or user
    return ctx


def _page(request: Request, name: str, ctx: dict, status: int = 200) -> Response:
    return templates.TemplateResponse(request, name, ctx, status_code=status)


def render_error(request: Request, status: int, message: str, details: list) -> Response:
    """The error page (used by server/errors.py for every UI error), inside the layout when possible."""
    items = [str(d.get("message", d)) if isinstance(d, dict) else str(d) for d in details or []]
    try:
        user = session_user(request)
        ctx = _base(request, user) if user else {"user": None, "site": _engine(request).registry.site.name}
        ctx.update(status=status, message=message, details=items, login=status == 401)
        return _page(request, "error.html", ctx, status)
    except Exception:  # noqa: BLE001 - the error page itself must never fail
        from html import escape

        body = "".join(f"<li>{escape(i)}</li>" for i in items)
        return HTMLResponse(f"<!doctype html><meta charset=utf-8><title>錯誤</title><h1>{escape(message)}</h1>"
                            f"<ul>{body}</ul>", status_code=status)


# --- login ----------------------------------------------------------------------------------------------------

async def login(request: Request) -> Response:
    engine = _engine(request)
    ctx = {"user": None, "site": engine.registry.site.name, "csrf": csrf_token(request), "name": "",
           "next": _local_next(request.query_params.get("next")), "error": None}
    if request.method == "GET":
        if session_user(request):
            return RedirectResponse(ctx["next"], status_code=303)
        return _page(request, "login.html", ctx)
    form = await request.form()
    check_csrf(request, form.get("csrf"))
    name = str(form.get("name") or "").strip()
    password = str(form.get("password") or "")
    ctx.update(name=name[:MAX_NAME], next=_local_next(form.get("next") or request.query_params.get("next")))
    limiter = request.app.state.logins
    address = request.client.host if request.client else ""
    if limiter.blocked(address, name):
        ctx["error"] = "嘗試太多次，請稍後再試"
        return _page(request, "login.html", ctx, 429)
    if not await check_login(engine, name, password):
        limiter.failed(address, name)
        ctx["error"] = "帳號或密碼不正確"
        return _page(request, "login.html", ctx, 401)
    limiter.succeeded(address, name)
    sign_in(request, name)
    return RedirectResponse(ctx["next"], status_code=303)


async def logout(request: Request) -> Response:
    form = await request.form()
    check_csrf(request, form.get("csrf"))
    sign_out(request)
    return RedirectResponse("/login", status_code=303)


# --- the inbox ------------------------------------------------------------------------------------------------

@signed_in
async def inbox(request: Request, user: str) -> Response:
    engine = _engine(request)
    tz = _tz(request)
    now = engine.clock()
    tasks = engine.tasks(user)
    by_workflow: dict[str, dict] = {}
    for t in tasks:
        entry = by_workflow.setdefault(t["workflow"], {"id": t["workflow"], "title": t["workflow_title"], "count": 0})
        entry["count"] += 1
    chosen = request.query_params.get("workflow") or ""
    shown = [t for t in tasks if not chosen or t["workflow"] == chosen]
    names = _names(engine) if any(t.get("assignee") for t in shown) else {}
    rows = [dict(id=t["id"], workflow_title=t["workflow_title"], title=t["title"], number=t["number"] or "",
                 overdue=t["overdue"], due=_when(t["due_at"], tz, now), paused=bool(t.get("paused")),
                 summary=t["summary"], assigned=_holder(t, names, user) if t.get("assignee") else "",
                 to_me=t.get("assignee") == user) for t in shown]
    notes = [dict(message=n["message"], at=_when(n["at"], tz, now), number=n["number"] or "",
                  href=f"/tasks/{n['task']}" if n.get("task") else f"/instances/{n['instance']}")
             for n in engine.notifications(user, limit=10)]
    ctx = _base(request, user, "inbox")
    ctx.update(rows=rows, total=len(tasks), overdue=sum(1 for t in tasks if t["overdue"]),
               workflows=sorted(by_workflow.values(), key=lambda w: w["title"]), chosen=chosen,
               chosen_count=len(shown), notes=notes)
    return _page(request, "inbox.html", ctx)


# --- starting -------------------------------------------------------------------------------------------------

@signed_in
async def catalogue(request: Request, user: str) -> Response:
    engine = _engine(request)
    areas: dict[str, list[dict]] = {}
    for wf in engine.workflows():
        if engine.may_start(user, wf["id"]):
            described = engine.describe(wf["id"])
            areas.setdefault(wf["area"] or "其他", []).append(
                {"id": wf["id"], "title": wf["title"], "description": described.get("description") or ""})
    ctx = _base(request, user, "start")
    ctx["areas"] = sorted(areas.items())
    return _page(request, "catalogue.html", ctx)


def _start_form(engine, wid: str, user: str | None = None):
    described = engine.describe(wid)
    form = described["forms"][described["start"]["form"]]
    secs = forms_html.sections(form["schema"], form["ui"], described["start"]["fields"],
                               described["start"]["required"])
    if user is not None:  # (whom a person field may name: staff at the sites the user may start it at)
        sites = [s["id"] for s in engine.start_sites(wid, user)]
        secs = forms_html.with_staff(secs, lambda roles: list({p["name"]: p for s in sites
                                                               for p in engine.holders(roles, s)}.values()))
    return described, form, forms_html.hint_links(secs, _link_examples(engine))


def _link_examples(engine) -> dict[str, str]:
    """A number of each workflow's form as staff would type it (this year's first), for the placeholder of a link
    field (`format: instance`): 「輸入單號，例如 T-2026-0001」."""
    year = engine.clock().astimezone(engine.registry.site.tz).year
    out = {}
    for wf in engine.registry.workflows.values():
        try:
            out[wf.id] = wf.form.number.format(year=year, seq=1) if wf.form.number else ""
        except (ValueError, KeyError, IndexError, AttributeError):
            out[wf.id] = ""
    return out


@signed_in
async def start_form(request: Request, user: str) -> Response:
    engine = _engine(request)
    wid = request.path_params["workflow"]
    described, form, secs = _start_form(engine, wid, user)
    if not engine.may_start(user, wid):
        needed = _roles_text(engine, described["start"]["roles"])
        raise Forbidden(f"你沒有發起「{described['title']}」的角色（需要：{needed}）")
    fields = forms_html.all_fields(secs)
    values = forms_html.shown_values(fields, {}, _tz(request))
    if request.method == "GET":
        return _render_start(request, user, described, secs, values, {}, None, [], 200)
    posted = await request.form()
    check_csrf(request, posted.get("csrf"))
    uploads, problems = await _uploads(engine, user, fields, posted)
    values = forms_html.posted_values(fields, posted, uploads)
    data = forms_html.to_data(fields, values, _tz(request))
    site = str(posted.get("site") or "")
    try:
        _check_formats(fields, data, problems)
        made = engine.start(wid, user, data, site or None)
    except Invalid as exc:
        errors, other = forms_html.field_errors(exc.details, [f.name for f in fields] + ["site"])
        return _render_start(request, user, described, secs, values, errors, exc.message, other, 422, site)
    return RedirectResponse(f"/instances/{made['id']}", status_code=303)


def _check_formats(fields, data: dict, problems: list | None = None) -> None:
    """Problems found before the engine is asked (a file refused, a date-time the browser did not send)."""
    problems = list(problems or []) + forms_html.format_problems(fields, data)
    if problems:
        raise Invalid("資料有誤：" + "；".join(p["message"] for p in problems), problems)


async def _uploads(engine, user: str, fields, form) -> tuple[dict[str, str], list[dict]]:
    """Files chosen in attachment fields, stored now (by content hash: storing one twice is harmless), so a
    form sent back with errors keeps them: (field -> id, problems)."""
    uploads: dict[str, str] = {}
    problems: list[dict] = []
    for f in fields:
        item = form.get(f.input_name) if f.control == "attachment" else None
        if isinstance(item, UploadFile) and item.filename:
            body = await item.read(MAX_UPLOAD + 1)
            try:
                uploads[f.name] = engine.attach(user, body, item.filename)["id"]
            except Invalid as exc:
                problems.append({"field": f.name, "message": exc.message})
    for _, item in form.multi_items():  # every file part is read (or unwanted): release its temporary file
        if isinstance(item, UploadFile):
            await item.close()
    return uploads, problems


def _render_start(request, user, described, secs, values, errors, message, other, status, site: str = "") -> Response:
    engine = _engine(request)
    ctx = _base(request, user, "start")
    wf = engine.registry.workflow(described["id"])
    ctx.update(start_sites=engine.start_sites(wf.id, user), chosen_site=site)
    ctx.update(workflow=described, start_title=wf.start.title or "", sections=secs, values=values, errors=errors,
               multipart=forms_html.has_files(secs),
               form_error=message, other_errors=other, values_json="{}")
    return _page(request, "start.html", ctx, status)


def _plain(data: dict) -> dict:
    """Stored values for show_when in the browser, for fields not on the page (scalars and lists of text)."""
    return {k: v for k, v in data.items() if isinstance(v, (str, bool, int, float)) or
            (isinstance(v, list) and all(isinstance(i, str) for i in v))}


# --- tasks ----------------------------------------------------------------------------------------------------

def _instance_of(task_id: str) -> int:
    head = str(task_id).split("-", 1)[0]
    if "-" not in str(task_id) or not head.isdigit():
        raise NotFound(f"沒有任務 {task_id}（任務編號形如 12-3）")
    return int(head)


def _find_task(engine, view: dict, wf, task_id: str) -> tuple[dict, bool]:
    """The task's view and whether it is open; a closed one is rebuilt from its task_opened event."""
    for t in view["tasks"]:
        if t["id"] == task_id:
            return t, True
    for e in view["history"]:
        if e["task"] == task_id and e["type"] == "task_opened" and e["step"] in wf.steps:
            task = {"step": e["step"], "roles": e["payload"].get("roles", []), "opened_at": e["at"],
                    "checked": results_ui.checked_from_history(view["history"], task_id),
                    "assignee": e["payload"].get("assignee")}
            return task_view(wf, task_id, task, view["data"]), False
    raise NotFound(f"沒有任務 {task_id}")


def _task_context(request: Request, user: str, task_id: str) -> dict:
    """Everything the task page needs, or Forbidden for someone who may neither act on nor view it."""
    engine = _engine(request)
    iid = _instance_of(task_id)
    try:
        view = engine.show(iid, user)  # as the user may see it (whoever may act on a task may)
    except Forbidden:
        raise Forbidden("你不能處理或查看這項任務") from None
    wf = engine.workflow_at(view["version"])
    task, is_open = _find_task(engine, view, wf, task_id)
    mine = is_open and any(t["id"] == task_id for t in engine.tasks(user))
    return {"view": view, "wf": wf, "task": task, "open": is_open, "mine": mine,
            "hidden": set(view["hidden"])}


def _task_sections(tc: dict, engine=None):
    wf, task = tc["wf"], tc["task"]
    secs = forms_html.sections(wf.form.schema, wf.form.ui, task["fields"], task["required"])
    if engine is not None:
        secs = forms_html.with_staff(secs, lambda roles: engine.holders(roles, tc["view"]["site"]))
        secs = forms_html.hint_links(secs, _link_examples(engine))
    return secs


def _outcomes(task: dict) -> list[dict]:
    """The task's choices as buttons: approving looks like going on, refusing and returning like going back."""
    return [dict(c, label=c["title"], style="go" if c["id"] == "approve" else
                 "back" if c["id"] in ("reject", "rework") else "") for c in task.get("choices", [])]


def _closed_by(view: dict, task_id: str) -> dict | None:
    for e in reversed(view["history"]):
        if e["task"] == task_id and e["type"] in ("task_completed", "task_expired", "task_cancelled"):
            return e
    return None


def _printed(view: dict, task: dict, names: dict, tz, now) -> dict | None:
    """A print task's paper as printed since the task opened (its last print: the number, code, who, when), or
    None while it has not been."""
    if not task.get("download") or not task.get("printed"):
        return None
    name = task["download"]["name"]
    issued = [e for e in view["history"] if e["type"] == "printout_issued"
              and (e["payload"] or {}).get("printout") == name]  # (the last of them: since the task opened)
    if not issued:
        return {"no": None, "code": "", "by": "", "at": ""}
    p = issued[-1]["payload"]
    return {"no": p.get("print_no"), "code": p.get("code") or "", "by": _who(names, issued[-1]["actor"]),
            "at": _when(issued[-1]["at"], tz, now)}


def _render_task(request: Request, user: str, tc: dict, values: dict | None, errors: dict, message: str | None,
                 other: list, status: int, checked: list[str] | None = None, comment: str = "",
                 assign: dict | None = None, results: dict | None = None,
                 result_errors: dict | None = None) -> Response:
    """The task page; `assign`: a refused reassignment ({error, to, comment}), told beside its form; `results`:
    what was chosen and typed for a results checklist's items, `result_errors` their problems (results_html)."""
    engine = _engine(request)
    tz = _tz(request)
    now = engine.clock()
    view, wf, task = tc["view"], tc["wf"], tc["task"]
    secs = _task_sections(tc, engine)
    fields = forms_html.all_fields(secs)
    if values is None:
        values = forms_html.shown_values(fields, view["data"], tz, tc["hidden"])
    names = _names(engine)
    step = wf.steps[task["step"]]
    items = [dict(i, by=_who(names, i["checked"]["by"]) if i.get("checked") else "",
                  at=_when(i["checked"]["at"], tz, now) if i.get("checked") else "",
                  ticked=bool(i.get("checked")) or i["id"] in (checked or []))
             for i in task.get("items", [])]
    signatures = [dict(by=_who(names, s.get("by")), role=engine.registry.site.roles.get(s.get("role"), s.get("role")),
                       at=_when(s.get("at"), tz, now), comment=s.get("comment") or "")
                  for s in task.get("signatures", [])]
    closed = None if tc["open"] else _closed_by(view, task["id"])
    ctx = _base(request, user, "inbox")
    ctx.update(
        task=task, step=step, view=view, open=tc["open"], mine=tc["mine"], sections=secs, values=values,
        show_form=(tc["open"] and tc["mine"]) or (status != 200 and assign is None),
        multipart=forms_html.has_files(secs) or bool(task.get("results")),
        result_items=results_ui.items(task, results, result_errors, lambda u: _who(names, u),
                                      lambda t: _when(t, tz, now)) if task.get("results") else [],
        max_photos=results_ui.MAX_PHOTOS, max_note=results_ui.MAX_NOTE,
        errors=errors, form_error=message, other_errors=other, comment=comment, items=items,
        signatures=signatures, outcomes=_outcomes(task), status_label=words.status(view["status"]),
        key_data=_as_people(wf, _data_list(wf.form, view["data"], wf.start.fields, tz, now), names),
        due=_when(task.get("due_at"), tz, now), hard=_when(task.get("hard_at"), tz, now),
        overdue=bool(task.get("due_at") and task["due_at"] < now.isoformat(timespec="seconds")),
        roles=task.get("role_titles") or _roles_text(engine, task["roles"], names),
        assignee=_person(names, task["assignee"]) if task.get("assignee") else "",
        people=_reassign_to(engine, task, user, names) if tc["open"] else [], assign=assign or {},
        printout=task.get("download"), printed=_printed(view, task, names, tz, now),
        closed=dict(by=_who(names, closed["actor"]), at=_when(closed["at"], tz, now),
                    what=words.CLOSED.get(closed["type"], "結束")) if closed else None,
        holds=task.get("holds", []), paused=task.get("paused"),
        values_json=json.dumps(_plain(view["data"]), ensure_ascii=False))
    return _page(request, "task.html", ctx, status)


@signed_in
async def task_page(request: Request, user: str) -> Response:
    task_id = request.path_params["task"]
    tc = _task_context(request, user, task_id)
    if request.method == "GET":
        return _render_task(request, user, tc, None, {}, None, [], 200)
    engine = _engine(request)
    form = await request.form()
    check_csrf(request, form.get("csrf"))
    task = tc["task"]
    fields = forms_html.all_fields(_task_sections(tc))
    # a results checklist's items: `result.<item>`, `note.<item>` and photos, uploaded first (kept through errors)
    chosen = results_ui.posted(task, form) if task.get("results") else None
    photo_problems = await results_ui.upload_photos(engine, user, chosen, form, MAX_UPLOAD) if chosen else []
    uploads, problems = await _uploads(engine, user, fields, form)
    values = forms_html.posted_values(fields, form, uploads)
    data = forms_html.to_data(fields, values, _tz(request), tc["view"]["data"], tc["hidden"])
    checked = [str(c) for c in form.getlist("checked")]
    if chosen is not None:  # each item records a result, a note and photos
        data = dict(data, results=results_ui.to_results(chosen))
    elif task["items"]:  # a task with items to tick takes them as `checked`
        data = dict(data, checked=checked)
    outcome = str(form.get("outcome") or "") or None
    comment = str(form.get("comment") or "").replace("\r\n", "\n").strip()
    try:
        _check_formats(fields, data, problems + photo_problems)
        made = engine.complete(task_id, user, outcome if task["outcomes"] else None, data or None, comment or None)
    except Invalid as exc:
        names = [f.name for f in fields] + ["comment", "outcome", "checked", "results"]
        beside, details = results_ui.by_item(exc.details, None if problems or photo_problems else exc.message)
        errors, other = forms_html.field_errors(details, names)
        return _render_task(request, user, tc, values, errors, exc.message, other, 422, checked, comment,
                            results=chosen, result_errors=beside)
    except Conflict as exc:
        return _render_task(request, user, tc, values, {}, exc.message, [], 409, checked, comment, results=chosen)
    if chosen is not None and any(t["id"] == task_id for t in made.get("tasks", [])):
        return RedirectResponse(f"/tasks/{task_id}", status_code=303)  # (the round goes on: the items left)
    return RedirectResponse(f"/instances/{tc['view']['id']}", status_code=303)


@signed_in
async def task_hold(request: Request, user: str) -> Response:
    form = await request.form()
    check_csrf(request, form.get("csrf"))
    task_id = request.path_params["task"]
    tc = _task_context(request, user, task_id)
    engine = _engine(request)
    comment = str(form.get("comment") or "").strip() or None
    if request.url.path.endswith("/resume"):
        engine.resume(task_id, user, comment)
    else:
        engine.hold(task_id, user, str(form.get("state") or ""), comment)
    return RedirectResponse(f"/tasks/{task_id}" if tc["open"] else "/", status_code=303)


@signed_in
async def task_assign(request: Request, user: str) -> Response:
    """Hand a task to another person (a supervisor of the step's `assign.reassign`): back to the instance page, or
    the task page with the refusal in words (422 a person not on the list, 403 not theirs to hand on, 409 done)."""
    form = await request.form()
    check_csrf(request, form.get("csrf"))
    task_id = request.path_params["task"]
    tc = _task_context(request, user, task_id)
    engine = _engine(request)
    to = str(form.get("to") or "").strip()
    comment = str(form.get("comment") or "").replace("\r\n", "\n").strip()
    names = _names(engine)
    try:
        if tc["open"]:
            task = tc["task"]
            people = engine.assignees(task_id, user)
            if not people:
                who = "（此步驟不能改派）"
                if task.get("reassign"):
                    who = f"（可改派：{tc['wf'].role_titles(task['reassign'])}）"
                raise Forbidden(f"你不能改派任務「{task['title']}」{who}")
            if to not in {p["name"] for p in people}:
                message = "請選擇接手的人員" if not to else "所選的人員不在可接手的名單中，請從清單中選擇"
                raise Invalid(message, [{"field": "to", "message": message}])
        engine.assign(task_id, user, to, comment or None)
    except (Invalid, Forbidden, Conflict) as exc:
        status = 422 if isinstance(exc, Invalid) else 403 if isinstance(exc, Forbidden) else 409
        if not isinstance(exc, Invalid):  # (the task as it is now: someone may have moved it on)
            tc = _task_context(request, user, task_id)
        refused = {"error": _named(exc.message, names), "to": to, "comment": comment}
        return _render_task(request, user, tc, None, {}, None, [], status, assign=refused)
    return RedirectResponse(f"/instances/{tc['view']['id']}", status_code=303)


# --- instances ------------------------------------------------------------------------------------------------

def _event_line(e: dict, wf, names: dict, tz, now, role_titles: dict, follow: dict | None = None,
                workflows: dict | None = None) -> dict:
    """One line of the history in words; `follow`: the failed checklist item a `child_started` follows up
    (results_html.follow_up_items), `workflows`: the workflows' titles (a child's)."""
    p = e["payload"] or {}
    step = wf.steps.get(e["step"] or "")
    what = step.event_words.get(e["type"]) if step is not None and e["type"] in step.event_words else \
        words.event(e["type"])
    span = next((d for d in wf.deadlines if d.id == p.get("deadline")), None) if "deadline" in p else None
    if e["type"] == "deadline_met":  # 時限「書面報告送達公司」已達成（準時） / 已達成，但已逾時
        title = p.get("title") or (span.title if span else p.get("deadline"))
        what = f"時限「{title}」" + ("已達成（準時）" if p.get("on_time") else "已達成，但已逾時")
        late = "已過最遲時限" if p.get("in_hard") is False and p.get("hard_at") else ""
        return {"at": _when(e["at"], tz, now), "who": _who(names, e["actor"]) if e["actor"] else "系統",
                "what": what, "detail": late, "quiet": False}
    if e["type"] == "child_started":  # 因「消防門」不合格，發起《維修》 (a link to the child)
        child = (workflows or {}).get(p.get("workflow"), p.get("workflow") or "")
        line = {"at": _when(e["at"], tz, now), "who": _who(names, e["actor"]) if e["actor"] else "系統",
                "what": f"{what}《{child}》" if child else what, "detail": "", "quiet": False,
                "href": f"/instances/{p['child']}" if p.get("child") else "", "link": "查看該案件"}
        if follow:
            line["what"] = f"因「{follow['title']}」不合格，發起《{child}》"
        return line
    if e["type"] == "state_entered":  # 進入「保管中」 (a named state the case rests in)
        title = p.get("state") or (step.title if step is not None and step.title else e["step"])
        return {"at": _when(e["at"], tz, now), "who": "", "what": f"進入「{title}」", "detail": "", "quiet": False}
    if e["type"] == "state_action":  # 王小明 執行「借出」 借用人：王師傅
        who = _person(names, p.get("by") or e["actor"])
        if p.get("acting_for") or e.get("acting_for"):
            who += f"（代 {_person(names, p.get('acting_for') or e.get('acting_for'))}）"
        written = [f"{wf.form.title_of(k)}：" + (
            _shown(wf.form.properties.get(k, {}), v, tz, now).get("text", "（表格）") if v not in (None, "", [])
            else "（清除）") for k, v in (p.get("data") or {}).items()]
        if p.get("comment"):
            written.append(f"意見：{p['comment']}")
        return {"at": _when(e["at"], tz, now), "who": who, "what": f"執行「{p.get('title') or p.get('action')}」",
                "detail": "；".join(written), "quiet": False}
    if e["type"] == "task_opened":  # whose turn it is, not who moved the case on
        roles = [r for r in p.get("roles", []) if not (p.get("assignee") and r.startswith(PERSON))]
        if p.get("assignee") and not roles and step is not None:
            roles = list(getattr(step, "roles", ()))
        who = "、".join(_person(names, r[len(PERSON):]) if r.startswith(PERSON) else role_titles.get(r, r)
                       for r in roles)
        what = f"輪到「{step.title if step else e['step']}」"
        if p.get("assignee"):
            what += f"，指派給 {_person(names, p['assignee'])}"
        return {"at": _when(e["at"], tz, now), "who": who, "what": what, "detail": "", "quiet": True}
    if e["type"] == "task_assigned":  # 李主管 將任務「維修」改派給 王師傅（原：張師傅）
        who = _person(names, e["actor"])
        if e.get("acting_for"):
            who += f"（代 {_person(names, e['acting_for'])}）"
        title = f"「{step.title}」" if step is not None and step.title else ""
        what = f"將任務{title}{'改派' if p.get('previous') else '指派'}給 {_person(names, p.get('to'))}"
        if p.get("previous"):
            what += f"（原：{_person(names, p['previous'])}）"
        return {"at": _when(e["at"], tz, now), "who": who, "what": what, "detail": p.get("comment") or "",
                "quiet": False}
    if span is not None and e["type"] in ("deadline_reminder", "deadline_notice"):
        what += f"：時限「{span.title}」"
    elif step is not None and step.title and e["type"] not in ("instance_started",):
        what += f"「{step.title}」"
    detail = []
    if e["type"] in ("task_completed", "signed") and p.get("outcome") and step is not None and step.is_task:
        detail.append(step.outcome_title(p["outcome"]))
    if p.get("comment"):  # (a print task confirmed without its paper printed: the reason why)
        unprinted = e["type"] == "task_completed" and p.get("printout") and p.get("printed") is False
        detail.append(f"{'未列印原因' if unprinted else '意見'}：{p['comment']}")
    if e["type"] == "items_checked" and step is not None:
        detail.append(results_ui.recorded_words(step, p))  # (each item's result and note, when it records them)
    if e["type"] == "printout_issued":
        spec = wf.form.printouts.get(p.get("printout"), {})
        detail.append(f"{spec.get('title', p.get('printout'))}（第 {p.get('print_no')} 次，驗證碼 {p.get('code')}）")
        for s in p.get("signatures") or []:  # the pictures' hashes, as the verification page states them
            detail.append(f"{wf.form.title_of(s['field'])}雜湊值 {s['hash'][:16]}…")
    if e["type"] in ("signature_captured", "signature_cleared") and p.get("field"):
        detail.append(f"「{wf.form.title_of(p['field'])}」")
    if e["type"] == "ledger_posted":
        ledger = wf.ledgers.get(p.get("ledger"))
        entry = p.get("memo") or (ledger.entry_title(p.get("entry", "")) if ledger else words.entry(p.get("entry", "")))
        detail.append(f"{ledger.title if ledger else '臺帳'}：{entry} "
                      f"{yuan_label(p.get('amount', 0))}，餘額 {yuan_label(p.get('balance', 0))}")
    if e["type"] in ("deadline_reminder", "deadline_notice", "task_escalated", "task_reassigned", "task_expired") \
            and p.get("message"):
        detail.append(p["message"])
    if e["type"] == "task_held" and p.get("label"):
        detail.append(p["label"])
    if e["type"] == "instance_ended":
        detail.append(words.status(p.get("status")))
        if p.get("status") == "completed":
            detail.append(wf.outcome_title(p.get("outcome")))
    if e["type"] == "instance_migrated":  # (what changed for it, in the words the move wrote)
        detail += [str(n) for n in p.get("notes") or []]
    if e["type"] == "record_updated":  # (the record type's words were written with the event)
        sets = "、".join(f"{p.get('labels', {}).get(k, k)}：{'（清除）' if v in (None, '') else v}"
                        for k, v in (p.get("set") or {}).items())
        moved = f" 改為「{p['state']}」" if p.get("state") else ""
        detail.append(f"{p.get('title', '資料')}「{p.get('key')}」{moved}" + (f"（{sets}）" if sets else ""))
    who = _who(names, e["actor"]) if e["actor"] else "系統"
    if e.get("acting_for"):
        who += f"（代 {_who(names, e['acting_for'])}）"
    return {"at": _when(e["at"], tz, now), "who": who, "what": what, "detail": "；".join(d for d in detail if d),
            "quiet": e["type"] in QUIET_EVENTS}


@signed_in
async def instance_page(request: Request, user: str) -> Response:
    return _render_instance(request, user, request.path_params["instance"])


def _render_instance(request: Request, user: str, instance, acting: dict | None = None, status: int = 200) -> Response:
    """The instance page; `acting`: a refused action of a named state ({step, action, values, errors, message,
    other}), told beside its form with what was typed."""
    engine = _engine(request)
    tz = _tz(request)
    now = engine.clock()
    view = engine.show(instance, user)
    wf = engine.workflow_at(view["version"])
    names = _names(engine)
    mine = {t["id"] for t in engine.tasks(user)}
    tasks = [dict(id=t["id"], title=t["title"], kind=t["kind_title"],
                  roles=_holder(t, names, user) or _roles_text(engine, t["roles"], names),
                  due=_when(t.get("due_at"), tz, now), mine=t["id"] in mine,
                  overdue=bool(t.get("due_at") and t["due_at"] < now.isoformat(timespec="seconds")),
                  assigned=bool(t.get("assignee")), people=_reassign_to(engine, t, user, names))
             for t in view["tasks"]]
    ledgers = []
    for lid, ledger in wf.ledgers.items():
        entries = [dict(at=_when(x["at"], tz, now), memo=x.get("memo") or ledger.entry_title(x["entry"]),
                        direction=ledger.entries.get(x["entry"], ""), amount=yuan_label(x["amount"]),
                        balance=yuan_label(x["balance"]), who=_who(names, x.get("actor")))
                   for x in view["ledger"] if x["ledger"] == lid]
        ledgers.append({"title": ledger.title, "balance": _money(view["balances"].get(lid, "0")), "entries": entries})
    may_print = engine.may_view(user, wf, view["site"])
    sites = engine.site_titles()
    printouts = [{"name": name, "title": spec.get("title") or name} for name, spec in wf.form.printouts.items()]
    follow = results_ui.follow_up_items(wf, view["history"])
    titles = {w.id: w.title for w in engine.registry.workflows.values()}
    history = [_event_line(e, wf, names, tz, now, engine.registry.site.roles, follow.get(n), titles)
               for n, e in enumerate(view["history"])]
    resting = _resting(engine, wf, view, user, tz, now, acting)
    placed = any(a["message"] for r in resting for a in r["actions"])
    ended = next((e for e in reversed(view["history"]) if e["type"] == "instance_ended"), None)
    end_step = wf.steps.get(ended["step"]) if ended and ended.get("step") else None
    ctx = _base(request, user)
    ctx.update(view=view, data=_linked_data(view, _as_people(wf, _data_list(wf.form, view["data"], None, tz, now),
                                                             names)),
               tasks=tasks, ledgers=ledgers,
               printouts=printouts if may_print else [], history=history,
               status_label=words.status(view["status"]),
               end_title=(end_step.title or end_step.id) if end_step else (view.get("outcome") or ""),
               started=_when(view["started_at"], tz, now), started_by=_who(names, view["started_by"]),
               ended=_when(view.get("ended_at"), tz, now), description=wf.description or "",
               waiting=[dict(step=(wf.steps[w["step"]].title if w["step"] in wf.steps else w["step"]),
                             until=_when(w["until"], tz, now)) for w in view["waiting"]],
               links=_linked_cases(view, wf, follow), resting=resting,
               act_error=acting["message"] if acting and not placed else "",
               values_json=json.dumps(_plain(view["data"]), ensure_ascii=False),
               deadlines=results_ui.deadlines(view, now, lambda t: _when(t, tz, now)),
               site_title=sites.get(view["site"], "") if len(sites) > 1 else "")
    return _page(request, "instance.html", ctx, status)


def _action_sections(engine, wf, site: str, action: dict) -> list:
    """The fields of a named state's action (its `fields`, `required`), as the task page's widgets."""
    secs = forms_html.sections(wf.form.schema, wf.form.ui, action["fields"], action["required"])
    secs = forms_html.with_staff(secs, lambda roles: engine.holders(roles, site))
    return forms_html.hint_links(secs, _link_examples(engine))


def _resting(engine, wf, view: dict, user: str, tz, now, acting: dict | None) -> list[dict]:
    """The named states the case rests in (`kind: state`), each with a form per action for a user holding one of
    its roles (as the engine checks it): [{step, title, roles, may, actions: [{id, title, sections, shown,
    errors, message, other, multipart, idp}]}]."""
    actor = engine.actor(user, now, view["site"])
    hidden = set(view.get("hidden") or ())
    out = []
    for r in view.get("resting") or []:
        may = actor.resolve(r["roles"]) is not None
        actions = []
        for a in r["actions"] if may else []:
            secs = _action_sections(engine, wf, view["site"], a)
            here = acting if acting and (acting["step"], acting["action"]) == (r["step"], a["id"]) else {}
            values = here["values"] if here else forms_html.shown_values(forms_html.all_fields(secs), view["data"],
                                                                         tz, hidden)
            actions.append(dict(id=a["id"], title=a["title"], sections=secs, shown=values,
                                errors=here.get("errors") or {}, message=here.get("message") or "",
                                other=here.get("other") or [], multipart=forms_html.has_files(secs),
                                idp=f"act-{r['step']}-{a['id']}-"))
        out.append(dict(step=r["step"], title=r["title"], roles=_roles_text(engine, r["roles"]), may=may,
                        actions=actions))
    return out


def _linked_data(view: dict, items: list[dict]) -> list[dict]:
    """`_data_list` items with each link field (`format: instance`) a link to the case it names, when the reader
    may open it, and that case's workflow and status beside it."""
    named = {h.get("field"): h for h in (view.get("links") or {}).get("refers_to") or []}
    out = []
    for i in items:
        h = named.get(i["name"])
        if h is not None and h.get("may_view") and i.get("text") not in (None, "", HIDDEN) and "rows" not in i:
            i = dict(i, case=f"/instances/{h['id']}", about=f"《{h.get('title') or ''}》{h.get('status_title') or ''}")
        out.append(i)
    return out


def _row_words(wf, view: dict, step_id: str | None, index) -> str:
    """The table row a for-each child came from: 第 2 行（王記茶餐廳）, its first filled cell beside it."""
    if not isinstance(index, int) or isinstance(index, bool):
        return ""
    over = getattr(wf.steps.get(step_id or ""), "over", None) or ""
    rows = view["data"].get(over) if over else None
    row = rows[index] if isinstance(rows, list) and 0 <= index < len(rows) else None
    first = ""
    if isinstance(row, dict):
        items = (wf.form.properties.get(over, {}).get("items") or {}) if over else {}
        keys = list((items.get("properties") or {}) if isinstance(items, dict) else {}) or list(row)
        first = next((str(row[k]) for k in keys if isinstance(row.get(k), (str, int))
                      and not isinstance(row.get(k), bool) and str(row[k]).strip() and row[k] != HIDDEN), "")
    return f"第 {index + 1} 行" + (f"（{first}）" if first else "")


def _linked_cases(view: dict, wf, follow: dict) -> list[dict]:
    """The 關聯案件 in words: [{title, kind, cases: [{href, number, workflow, status, label, source}]}]; a case by
    its number (never its id), one without a number by its workflow and status; `href` only for one the reader
    may open; a child with the table row or the checklist item it came from (`follow`: follow_up_items)."""
    links = view.get("links") or {}
    source: dict = {}
    for n, e in enumerate(view["history"]):
        p = e["payload"] or {}
        if e["type"] != "child_started" or not p.get("child"):
            continue
        if p.get("item"):
            source[p["child"]] = f"來自清單項目「{(follow.get(n) or {}).get('title') or p['item']}」"
        elif p.get("row") is not None:
            row = _row_words(wf, view, e["step"], p["row"])
            source[p["child"]] = f"來自{row}" if row else ""

    def case(h: dict) -> dict:
        return dict(href=f"/instances/{h['id']}" if h.get("may_view") else "", number=h.get("number") or "",
                    workflow=h.get("title") or "", status=h.get("status_title") or "", label=h.get("label") or "",
                    source=source.get(h.get("id"), ""))

    groups = (("上級案件", "parent"), ("子案件", "children"), ("本案引用", "refers_to"), ("被引用", "referred_by"))
    return [dict(title=title, kind=kind, cases=[case(h) for h in links[kind]]) for title, kind in groups
            if links.get(kind)]


@signed_in
async def instance_act(request: Request, user: str) -> Response:
    """Take an action of a named state the case rests in (its form on the instance page, or a register row's
    button): back to `back` (a register with its filters) or the instance page; a refusal re-renders the instance
    page with the message beside the action's fields and what was typed (422, 403 not a holder, 409 moved on)."""
    posted = await request.form()
    check_csrf(request, posted.get("csrf"))
    engine = _engine(request)
    tz = _tz(request)
    iid = request.path_params["instance"]
    view = engine.show(iid, user)  # (one who may not see the case is refused here: 403)
    wf = engine.workflow_at(view["version"])
    step, action = str(posted.get("step") or "")[:64], str(posted.get("action") or "")[:64]
    rest = next((r for r in view.get("resting") or [] if r["step"] == step), None)
    spec = next((a for a in rest["actions"] if a["id"] == action), None) if rest else None
    fields = forms_html.all_fields(_action_sections(engine, wf, view["site"], spec)) if spec else []
    uploads, problems = await _uploads(engine, user, fields, posted)
    values = forms_html.posted_values(fields, posted, uploads)
    data = forms_html.to_data(fields, values, tz, view["data"], set(view.get("hidden") or ()))
    try:
        _check_formats(fields, data, problems)
        engine.act(view["id"], user, step, action, data or None)
    except (Invalid, Forbidden, Conflict) as exc:
        status = 422 if isinstance(exc, Invalid) else 403 if isinstance(exc, Forbidden) else 409
        errors, other = forms_html.field_errors(exc.details, [f.name for f in fields]) \
            if isinstance(exc, Invalid) else ({}, [])
        refused = dict(step=step, action=action, values=values, errors=errors, other=other,
                       message=_named(exc.message, _names(engine)))
        return _render_instance(request, user, view["id"], refused, status)
    back = str(posted.get("back") or "")
    return RedirectResponse(_local_next(back) if back else f"/instances/{view['id']}", status_code=303)


@signed_in
async def printout(request: Request, user: str) -> Response:
    """Print (a POST with the form's CSRF token: printing is recorded, and a second print is a copy, so no
    link on another site may make someone's browser print)."""
    form = await request.form()
    check_csrf(request, form.get("csrf"))
    engine = _engine(request)
    body, info = engine.render(request.path_params["instance"], request.path_params["name"], user)
    return docx_response(body, f"{info['instance']}-{info['printout']}.docx", info["code"])


# --- verification (public) ------------------------------------------------------------------------------------

async def verify(request: Request) -> Response:
    engine = _engine(request)
    result = engine.verify(request.path_params["code"])
    tz = _tz(request)
    ctx = {"user": session_user(request), "site": engine.registry.site.name, "nav": ""}
    if ctx["user"]:
        ctx = _base(request, ctx["user"])
    ctx.update(result=result, printed=_when(result.get("printed_at"), tz),
               status_label=words.STATUS.get(result.get("status") or "", ""))
    return _page(request, "verify.html", ctx)


# --- registers ------------------------------------------------------------------------------------------------

@signed_in
async def registers(request: Request, user: str) -> Response:
    engine = _engine(request)
    forms: dict[str, dict] = {}
    for wf in sorted(engine.registry.workflows.values(), key=lambda w: w.id):
        if engine.may_view(user, wf):
            entry = forms.setdefault(wf.form.id, {"id": wf.form.id, "title": wf.form.title, "workflows": []})
            entry["workflows"].append(wf.title)
    ctx = _base(request, user, "registers")
    ctx["forms"] = list(forms.values())
    return _page(request, "registers.html", ctx)


@signed_in
async def register(request: Request, user: str) -> Response:
    """A form's records as a table: search, status, unit and date filters, pages, CSV/Excel exports (the data
    and the rules of server/registers.py: confidential fields hidden from roles the form does not name)."""
    from engine.registers import PER_PAGE

    from .registers import records

    engine = _engine(request)
    tz = _tz(request)
    now = engine.clock()
    form, wfs, hidden, rows, total, args = records(request, user)
    key = [n for n in wfs[0].start.fields if n not in hidden][:4] if wfs else []
    titles = {wf.id: wf.title for wf in wfs}
    names = _names(engine)
    sites = engine.site_titles()
    states = {}  # the named states (`kind: state`) the form's cases may rest in: the 「狀態」 filter
    for wf in wfs:
        for step in wf.steps.values():
            if step.kind == "state":
                states.setdefault(step.id, step.title or step.id)
    actors: dict = {}
    table = [dict(id=r["id"], number=r["number"] or f"#{r['id']}", workflow=titles.get(r["workflow"], r["workflow"]),
                  site=sites.get(r["site"], ""),
                  status=words.status(r["status"]), started=_when(r["started_at"], tz, now),
                  by=_who(names, r["started_by"]),
                  cells=[_shown(form.properties.get(n, {}), r["data"].get(n), tz, now).get("text", "") for n in key],
                  resting=_row_states(engine, r, user, now, actors))
             for r in rows]
    query = {k: v for k, v in request.query_params.items()
             if k in ("q", "status", "unit", "from", "to", "sort", "state") and v}
    pages = max(1, -(-total // PER_PAGE))

    def page_link(n: int) -> str:
        return f"/registers/{form.id}?" + urlencode(dict(query, page=n))

    ctx = _base(request, user, "registers")
    ctx.update(form=form, rows=table, total=total, head=[str(form.properties.get(n, {}).get("title") or n)
                                                          for n in key],
               several=len(wfs) > 1, by_site=len(sites) > 1, statuses=words.STATUS, q=query, page=args["page"],
               pages=pages,
               prev=page_link(args["page"] - 1) if args["page"] > 1 else None,
               next=page_link(args["page"] + 1) if args["page"] < pages else None,
               csv=f"/registers/{form.id}.csv?" + urlencode(query),
               xlsx=f"/registers/{form.id}.xlsx?" + urlencode(query),
               states=states, back=page_link(args["page"]))
    return _page(request, "register.html", ctx)


def _row_states(engine, row: dict, user: str, now, actors: dict) -> list[dict]:
    """The named states a register row rests in, each with the actions `user` may take there (holding one of the
    state's roles at the row's site): [{step, title, actions: [{id, title, href}]}]; an action with fields is a
    link to the instance page (its form is there), one without a button (`href` empty)."""
    wf = engine.registry.workflows.get(row["workflow"])
    out = []
    for sid in row.get("resting") or []:
        step = wf.steps.get(sid) if wf is not None else None
        if step is None or step.kind != "state":
            out.append({"step": sid, "title": sid, "actions": []})
            continue
        if row["site"] not in actors:
            actors[row["site"]] = engine.actor(user, now, row["site"])
        may = actors[row["site"]].resolve(step.roles) is not None
        actions = [{"id": name, "title": a.title,
                    "href": f"/instances/{row['id']}#act-{sid}-{name}" if a.fields else ""}
                   for name, a in step.actions.items()] if may else []
        out.append({"step": sid, "title": step.title or sid, "actions": actions})
    return out


# --- admin ----------------------------------------------------------------------------------------------------

@signed_in
async def admin(request: Request, user: str) -> Response:
    """For managers: the definitions folder checked as it is on disk now (what a reload would load), a reload
    button, the workflows running and the users."""
    engine = _engine(request)
    engine.require_admin(user)
    reloaded = migrated = None
    if request.method == "POST":
        form = await request.form()
        check_csrf(request, form.get("csrf"))
        if form.get("migrate") is not None:  # the button of a workflow's running instances on older versions
            migrated = engine.migrate(str(form.get("migrate")), user)
        else:
            reloaded = engine.reload()
    ctx = _base(request, user, "admin")
    ctx.update(engine.check_definitions(), users=engine.users(), workflows=engine.workflows(), reloaded=reloaded,
               reads=_reads(engine, user, _tz(request)), migrated=migrated,
               migrations=[_migration(engine, plan) for plan in engine.migration_plans(user)])
    return _page(request, "admin.html", ctx, 422 if reloaded and not reloaded["ok"] else 200)


def _migration(engine, plan: dict) -> dict:
    """A workflow's running instances on older versions, for the admin page: its rows in words."""
    sites = engine.site_titles()
    rows = [dict(id=i["instance"], number=i["number"] or f"#{i['instance']}", version=(i["version"] or "")[:8],
                 site=sites.get(i["site"], "") if len(sites) > 1 else "", steps="、".join(i["steps"]),
                 movable=i["movable"], why="；".join(i["reasons"] or i["notes"])) for i in plan["instances"]]
    return dict(plan, rows=rows)


_VIA = {"page": "頁面", "api": "程式介面", "register": "臺帳", "export": "匯出", "printout": "列印", "lookup": "查找",
        "report": "報表"}
_KINDS = {"instance": "案件", "record": "資料", "report": "報表"}


def _reads(engine, user: str, tz) -> list[dict]:
    """The latest confidential reads, in words: when, who, which instance or record, the fields' titles, how."""
    rows = []
    for r in engine.confidential_reads(user, limit=50):
        titles = []
        for name in r["fields"]:
            forms = [wf.form for wf in engine.registry.workflows.values()] + [
                rt.form for rt in engine.registry.records.values()]
            titles.append(next((f.title_of(name) for f in forms if name in f.properties), name))
        rows.append({"at": _when(r["at"], tz), "who": r["reader_name"], "via": _VIA.get(r["via"], r["via"]),
                     "what": f"{_KINDS.get(r['kind'], '')} {r['label'] or ''}".strip(), "fields": "、".join(titles)})
    return rows


routes = [
    Route("/login", login, methods=["GET", "POST"]),
    Route("/logout", logout, methods=["POST"]),
    Route("/", inbox),
    Route("/start", catalogue),
    Route("/start/{workflow}", start_form, methods=["GET", "POST"]),
    Route("/tasks/{task}", task_page, methods=["GET", "POST"]),
    Route("/tasks/{task}/hold", task_hold, methods=["POST"]),
    Route("/tasks/{task}/resume", task_hold, methods=["POST"]),
    Route("/tasks/{task}/assign", task_assign, methods=["POST"]),
    Route("/instances/{instance}", instance_page),
    Route("/instances/{instance}/act", instance_act, methods=["POST"]),
    Route("/instances/{instance}/printouts/{name}", printout, methods=["POST"]),
    Route("/verify/{code}", verify),
    Route("/registers", registers),
    Route("/registers/{form}", register),
    Route("/admin", admin, methods=["GET", "POST"]),
]

__all__ = ["render_error", "routes"]
