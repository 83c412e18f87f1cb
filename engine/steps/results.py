"""Results per checklist item: instead of a tick, each item records one of the step's `results` (合格 / 不合格 /
不適用, or the item's own set), a note and photos; a result in `failed` needs a note, and can start a `follow_up`
instance (a repair order for a broken door) with fields mapped from the source and the item, linked to the
source as its parent.

```yaml
  patrol:
    kind: checklist
    title: 公共區域巡查
    roles: [security_guard]
    results: [合格, 不合格, 不適用]
    failed: [不合格]
    follow_up:
      workflow: repair_order
      data: {description: "item['title'] + '：' + item['note']", unit: location}
    items:
      - {id: lights, title: 照明}
      - {id: fire_door, title: 消防門, results: [關閉, 未關閉, 損壞], failed: [未關閉, 損壞]}
```

A task of such a step takes `{"results": {item: result, or {result, note, photos}}}`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..attachments import HASH
from ..errors import Invalid
from ..expressions import Expression
from ..hints import did_you_mean
from .schema import ID, TEXT
from .subprocess import lint_child

WORDS = {"type": "array", "items": TEXT, "minItems": 1, "uniqueItems": True}
FOLLOW_UP = {"type": "object", "additionalProperties": False, "required": ["workflow"],
             "properties": {"workflow": ID, "when": {"type": "string", "minLength": 1},
                            "data": {"type": "object", "propertyNames": ID,
                                     "additionalProperties": {"type": "string"}}}}
ITEM = "item"  # the name a follow-up's expressions read the item by: item['title'], item['result'], item['note']
MAX_NOTE = 500
MAX_PHOTOS = 6


@dataclass(frozen=True)
class FollowUp:
    """The instance a failed item starts: its workflow and its fields from expressions over the data and `item`."""

    workflow: str
    data: dict[str, Expression] = field(default_factory=dict)
    when: Expression | None = None


def build(b: Any, kp: tuple, spec: dict) -> dict:
    """The checklist's `results`, `failed` and `follow_up` as constructor arguments."""
    results = tuple(spec.get("results", ()))
    failed = tuple(spec.get("failed", [r for r in results if "不合格" in r]))
    names = None if b.names is None else {**b.names, ITEM: {"type": "object"}}
    follow = None
    if "follow_up" in spec:
        one = spec["follow_up"]
        fkp = kp + ("follow_up",)
        data = {}
        for name, text in one.get("data", {}).items():
            expr = b.compile_with(fkp + ("data", name), text, "value", names)
            if expr:
                data[name] = expr
        when = b.compile_with(fkp + ("when",), one["when"], "condition", names) if "when" in one else None
        follow = FollowUp(one["workflow"], data, when)
    return dict(results=results, failed=failed, follow_up=follow)


def item_results(step: Any, item: dict) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(the results an item may record, those that are failures)."""
    if "results" in item:
        own = tuple(item["results"])
        return own, tuple(item.get("failed", [r for r in own if r in step.failed or "不合格" in r]))
    return step.results, tuple(item.get("failed", step.failed))


def lint(step: Any, c: Any) -> None:
    """Results make sense: failures among them, a follow-up workflow that exists and fields it has."""
    kp = step.keypath
    for where, results, failed in [(kp, step.results, step.failed)] + [
            (kp + ("items", i), *item_results(step, item)) for i, item in enumerate(step.items) if "results" in item]:
        for j, word in enumerate(failed):
            if word not in results:
                c.problem(where + ("failed", j), f"'{word}' is not one of the results ({', '.join(results)})"
                                                 f"{did_you_mean(word, results)}")
    if not step.results and any("results" not in item for item in step.items) and \
            any("results" in item for item in step.items):
        c.problem(kp + ("results",), "some items have `results` and others do not: give the step `results: [合格, "
                                     "不合格, 不適用]` for the others")
    for i, item in enumerate(step.items):
        if "failed" in item and "results" not in item and not step.results:
            c.problem(kp + ("items", i, "failed"), "`failed` needs results: give the step (or the item) `results`")
    follow = step.follow_up
    if follow is None:
        return
    fkp = kp + ("follow_up",)
    if not step.results and not any("results" in item for item in step.items):
        c.problem(fkp, "a follow-up starts from a failed result: give the step `results: [合格, 不合格, 不適用]`")
    elif not step.failed and not any(item_results(step, item)[1] for item in step.items):
        c.problem(fkp, "no result is a failure: say which with `failed: [不合格]`")
    lint_child(c, fkp, follow.workflow, follow.data)


def recorded(step: Any, task: dict, raw: Any) -> dict[str, dict]:
    """The new results in a submission `{"results": {...}}`, checked: {item: {result, note, photos}}."""
    items = {item["id"]: item for item in step.items}
    if not isinstance(raw, dict):
        raise Invalid('請提交每一項的結果：{"results": {項目代號: 結果}}',
                      [{"field": "results", "message": "請為各項目選擇結果"}])
    out: dict[str, dict] = {}
    for item_id, value in raw.items():
        item = items.get(item_id)
        if item is None:
            raise Invalid(f"清單「{step.title}」沒有項目：{item_id}", [{"field": "results", "message": "沒有此項目"}])
        title = item["title"]
        if item_id in task["checked"]:
            raise Invalid(f"「{title}」已記錄過結果，不能再改", [{"field": f"results.{item_id}", "message": "已記錄"}])
        entry = {"result": value} if isinstance(value, str) else value
        if not isinstance(entry, dict) or not isinstance(entry.get("result"), str):
            raise Invalid(f"請為「{title}」選擇結果", [{"field": f"results.{item_id}", "message": "請選擇結果"}])
        choices, failed = item_results(step, item)
        if entry["result"] not in choices:
            raise Invalid(f"「{title}」的結果須為：{'、'.join(choices)}",
                          [{"field": f"results.{item_id}", "message": f"可選：{'、'.join(choices)}"}])
        note = entry.get("note") or ""
        photos = entry.get("photos") or []
        if not isinstance(note, str) or len(note) > MAX_NOTE:
            raise Invalid(f"「{title}」的說明須為 {MAX_NOTE} 字以內的文字",
                          [{"field": f"results.{item_id}.note", "message": "說明過長"}])
        if not isinstance(photos, list) or len(photos) > MAX_PHOTOS or \
                not all(isinstance(p, str) and HASH.match(p) for p in photos):
            raise Invalid(f"「{title}」的照片無效（最多 {MAX_PHOTOS} 張，請重新上傳）",
                          [{"field": f"results.{item_id}.photos", "message": "照片無效"}])
        if entry["result"] in failed and not note.strip():
            raise Invalid(f"「{title}」為「{entry['result']}」，請寫明情況",
                          [{"field": f"results.{item_id}.note", "message": "請寫明情況"}])
        out[item_id] = {"result": entry["result"], "note": note.strip(), "photos": photos,
                        "failed": entry["result"] in failed}
    return out


def follow_ups(step: Any, run: Any, new: dict[str, dict]) -> None:
    """Start the follow-up of each failed item just recorded (not waited for; linked to this instance)."""
    follow = step.follow_up
    if follow is None:
        return
    items = {item["id"]: item for item in step.items}
    for item_id, entry in new.items():
        if not entry["failed"]:
            continue
        item = {"id": item_id, "title": items[item_id]["title"], "result": entry["result"], "note": entry["note"],
                "photos": entry["photos"]}
        when = {} if follow.when is None else run.values({"when": follow.when}, "跟進條件", {ITEM: item})
        if not when.get("when", True):
            continue
        run.start_child(None, follow.workflow, run.values(follow.data, "跟進資料", {ITEM: item}), wait=False,
                        item=item_id)
