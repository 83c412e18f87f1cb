"""Checklist results on the task page and what the instance page says about them and about deadlines over several
steps: the posted form of a results checklist (`result.<item>`, `note.<item>`, photos chosen in `photo.<item>` and
those kept through an error in `photo.<item>.keep`) turned into the engine's `{"results": {...}}`, the engine's
problems (`results.<item>...`) put beside their item, the items for templates/_results.html, and the state of each
deadline in words. Nothing here knows a particular workflow: everything comes from the task's view and the
instance's."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime

from starlette.datastructures import UploadFile

from engine.attachments import HASH
from engine.errors import Invalid
from engine.steps.results import MAX_NOTE, MAX_PHOTOS

PHOTO_KINDS = ("image/png", "image/jpeg")


# --- the post ---------------------------------------------------------------------------------------------------

def posted(task: dict, form) -> dict[str, dict]:
    """What was chosen, typed and kept for each item not recorded yet: {item: {result, note, photos}}."""
    out: dict[str, dict] = {}
    for item in task.get("items", []):
        if item.get("checked"):
            continue
        iid = item["id"]
        kept = [str(v) for v in form.getlist(f"photo.{iid}.keep")]
        out[iid] = {"result": str(form.get(f"result.{iid}") or ""),
                    "note": str(form.get(f"note.{iid}") or "").replace("\r\n", "\n"),
                    "photos": list(dict.fromkeys(p for p in kept if HASH.match(p)))}
    return out


async def upload_photos(engine, user: str, chosen: dict[str, dict], form, limit: int) -> list[dict]:
    """Store the photos chosen for each item (by content hash, as every upload: storing one twice is harmless) and
    add their ids to what the item keeps, so a form sent back with errors keeps them; problems as the engine's
    ({field: results.<item>.photos, message}). The file parts are closed by the caller."""
    problems: list[dict] = []
    for iid, entry in chosen.items():
        files = [f for f in form.getlist(f"photo.{iid}") if isinstance(f, UploadFile) and f.filename]
        if not files:
            continue
        where = f"results.{iid}.photos"
        if len(entry["photos"]) + len(files) > MAX_PHOTOS:
            problems.append({"field": where, "message": f"每一項最多 {MAX_PHOTOS} 張照片（已選 "
                                                        f"{len(entry['photos']) + len(files)} 張）"})
            continue
        for f in files:
            body = await f.read(limit + 1)
            try:
                meta = engine.attach(user, body, f.filename or "照片")
            except Invalid as exc:
                problems.append({"field": where, "message": f"照片「{f.filename}」未能上傳：{exc.message}"})
                continue
            if meta["type"] not in PHOTO_KINDS:
                problems.append({"field": where, "message": f"「{meta['name']}」不是照片：請選擇 PNG 或 JPEG 圖片"})
                continue
            if meta["id"] not in entry["photos"]:
                entry["photos"].append(meta["id"])
    return problems


def to_results(chosen: dict[str, dict]) -> dict[str, dict]:
    """The engine's `results`: every item with a result, a note or a photo (one with a note and no result is sent
    as it is: the engine asks for its result, beside it)."""
    out: dict[str, dict] = {}
    for iid, entry in chosen.items():
        note = entry["note"].strip()
        if not (entry["result"] or note or entry["photos"]):
            continue
        out[iid] = {"result": entry["result"] or None, "note": note, "photos": list(entry["photos"])}
    return out


def by_item(details: list, whole: str | None = None) -> tuple[dict[str, dict], list[dict]]:
    """Problems about an item (`results.<item>`, `results.<item>.note`, `results.<item>.photos`) by item:
    {item: {messages, note, photos}}; `whole` (the engine's message, which names the item) replaces the terse
    detail beside the item. The others are left as they were."""
    items: dict[str, dict] = {}
    rest: list[dict] = []
    for d in details or []:
        parts = str(d.get("field") or "").split(".") if isinstance(d, dict) else []
        if len(parts) >= 2 and parts[0] == "results" and parts[1]:
            one = items.setdefault(parts[1], {"messages": [], "note": False, "photos": False})
            text = whole or str(d.get("message") or "")
            if text and text not in one["messages"]:
                one["messages"].append(text)
            if len(parts) > 2 and parts[2] in ("note", "photos"):
                one[parts[2]] = True
        else:
            rest.append(d)
    return items, rest


# --- the page ---------------------------------------------------------------------------------------------------

def items(task: dict, chosen: dict[str, dict] | None, problems: dict[str, dict] | None,
          who: Callable[[str | None], str], when: Callable[[str | None], str]) -> list[dict]:
    """The items for templates/_results.html: each one's choices, what was chosen and typed (after an error), its
    problems, or what it recorded (read-only)."""
    out = []
    for i in task.get("items", []):
        failed = list(i.get("failed") or [])
        mine = (chosen or {}).get(i["id"]) or {}
        trouble = (problems or {}).get(i["id"]) or {}
        done = i.get("checked")
        recorded = None
        if done:
            by = who(done.get("by"))
            if done.get("acting_for"):
                by += f"（代 {who(done['acting_for'])}）"
            recorded = {"result": done.get("result") or "✓", "note": done.get("note") or "",
                        "photos": [p for p in done.get("photos") or [] if isinstance(p, str) and HASH.match(p)],
                        "failed": bool(done.get("failed", done.get("result") in failed)), "by": by,
                        "at": when(done.get("at"))}
        out.append({"id": i["id"], "title": i["title"], "optional": bool(i.get("optional")),
                    "applies": bool(i.get("required")) or bool(i.get("optional")),
                    "choices": [{"word": r, "failed": r in failed} for r in i.get("results") or []],
                    "failed": failed, "failed_json": json.dumps(failed, ensure_ascii=False),
                    "chosen": mine.get("result", ""), "note": mine.get("note", ""), "photos": mine.get("photos", []),
                    "note_required": mine.get("result", "") in failed, "errors": trouble.get("messages", []),
                    "bad_note": trouble.get("note", False), "bad_photos": trouble.get("photos", False),
                    "recorded": recorded})
    return out


def checked_from_history(history: list[dict], task_id: str) -> dict[str, dict]:
    """What a closed checklist task recorded, from its `items_checked` events: {item: {by, at, result, ...}}."""
    out: dict[str, dict] = {}
    for e in history:
        if e.get("task") != task_id or e.get("type") != "items_checked":
            continue
        p = e.get("payload") or {}
        who = {k: p[k] for k in ("by", "role", "acting_for", "at") if k in p}
        results = p.get("results") or {}
        for item in p.get("items") or []:
            out[item] = dict(who, **(results.get(item) or {}))
    return out


def recorded_words(step, payload: dict) -> str:
    """An `items_checked` event's detail: 照明：合格、消防門：損壞（閉門器脫落）, or the items ticked."""
    titles = {i["id"]: i["title"] for i in getattr(step, "items", [])}
    results = payload.get("results") or {}
    out = []
    for item in payload.get("items") or []:
        title = titles.get(item, item)
        got = results.get(item)
        if isinstance(got, dict) and got.get("result"):
            title += f"：{got['result']}"
            if got.get("note"):
                title += f"（{got['note']}）"
            if got.get("photos"):
                title += f"〔照片 {len(got['photos'])} 張〕"
        out.append(title)
    return "、".join(out)


def follow_up_items(wf, history: list[dict]) -> dict[int, dict]:
    """For each `child_started` of a failed checklist item (its payload's `item`): {event index: {item, title}},
    the title from the checklist step whose results were recorded just before."""
    out: dict[int, dict] = {}
    source = None
    for n, e in enumerate(history):
        p = e.get("payload") or {}
        if e.get("type") == "items_checked":
            source = wf.steps.get(e.get("step") or "")
        elif e.get("type") == "child_started" and p.get("item"):
            out[n] = {"item": p["item"], "title": _item_title(wf, p["item"], source)}
    return out


def _item_title(wf, item: str, source) -> str:
    """An item's title: of the step just recorded, else of whichever step has it."""
    for step in [source] + list(wf.steps.values()):
        for i in getattr(step, "items", None) or []:
            if isinstance(i, dict) and i.get("id") == item:
                return i["title"]
    return item


# --- deadlines over several steps -------------------------------------------------------------------------------

def _moment(value: str | None) -> datetime | None:
    try:
        return datetime.fromisoformat(value) if value else None
    except ValueError:
        return None


def deadlines(view: dict, now: datetime, when: Callable[[str | None], str]) -> list[dict]:
    """Each deadline of the instance in words: its title, 應於 … 前（最遲 …）, its state and the state's style."""
    out = []
    for d in view.get("deadlines") or []:
        due, hard, met = _moment(d.get("due_at")), _moment(d.get("hard_at")), _moment(d.get("met_at"))
        if met is not None:
            late = due is not None and met > due
            state, style = ("已達成（逾時）", "late") if late else ("已達成（準時）", "good")
        elif due is None:
            state, style = "尚未起算", "muted"
        elif view.get("status") != "active":
            state, style = "未達成", "late"
        elif now > due:
            state, style = "已逾期", "late"
        else:
            state, style = "進行中", "open"
        times = ""
        if due is not None:
            times = f"應於 {when(d['due_at'])} 前" + (f"（最遲 {when(d['hard_at'])}）" if hard is not None else "")
        out.append({"id": d["id"], "title": d["title"], "times": times, "state": state, "style": style,
                    "met": when(d["met_at"]) if met is not None else ""})
    return out


__all__ = ["MAX_NOTE", "MAX_PHOTOS", "by_item", "checked_from_history", "deadlines", "follow_up_items", "items",
           "posted", "recorded_words", "to_results", "upload_photos"]
