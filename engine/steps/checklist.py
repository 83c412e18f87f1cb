"""`checklist`: items ticked (several calls allowed), each recording who and when; done when every item that
applies is ticked: not `optional`, and its `when` (if any) true for the data. `required` fields must be filled
by then."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..errors import ExpressionError, Invalid
from ..expressions import Expression
from .base import Edge, TaskStep, register
from .schema import EXPR, ID, IDS, TASK, TEXT, step


@register
@dataclass(kw_only=True)
class ChecklistStep(TaskStep):
    kind = "checklist"
    word = "核對勾選"
    verb = "核對勾選"
    printed_as = "checks"  # a printout's `checks.<step>`: each item, ticked or not, by whom and when
    items: list[dict] = field(default_factory=list)
    item_when: dict[str, Expression] = field(default_factory=dict)  # item -> the condition it applies on

    @classmethod
    def schema(cls) -> dict:
        return step(["roles", "items", "next"], dict(TASK, next=ID, fields=IDS, required=IDS, items={
            "type": "array", "minItems": 1, "items": {
                "type": "object", "additionalProperties": False, "required": ["id", "title"],
                "properties": {"id": ID, "title": TEXT, "optional": {"type": "boolean"}, "when": EXPR}}}))

    @classmethod
    def options(cls, b: Any, kp, spec: dict) -> dict:
        when = {}
        for i, item in enumerate(spec["items"]):
            if "when" in item:
                expr = b.compile(kp + ("items", i, "when"), item["when"], "condition")
                if expr:
                    when[item["id"]] = expr
        return dict(next=spec["next"], items=list(spec["items"]), item_when=when)

    def edges(self) -> list[Edge]:
        return [Edge(self.next, self.keypath + ("next",)), *super().edges()]

    def lint(self, c: Any) -> None:
        super().lint(c)
        seen: set[str] = set()
        for i, item in enumerate(self.items):
            if item["id"] in seen:
                c.problem(self.keypath + ("items", i, "id"), f"duplicate checklist item id '{item['id']}'")
            seen.add(item["id"])
        if all(item.get("optional") for item in self.items):
            c.problem(self.keypath + ("items",), "every item is optional: mark at least one item as required")

    def required_items(self, scope: dict) -> list[str]:
        """Items that must be ticked: not optional, and their `when` (if any) true for the data."""
        out = []
        for item in self.items:
            if item.get("optional"):
                continue
            condition = self.item_when.get(item["id"])
            if condition is not None:
                try:
                    if not condition.evaluate(scope):
                        continue
                except ExpressionError:
                    pass  # cannot tell yet (a field not filled): the item stays required
            out.append(item["id"])
        return out

    # --- running --------------------------------------------------------------------------------------
    def on_open(self, run: Any, task: dict) -> None:
        task["checked"] = {}

    def complete(self, run: Any, task_id: str, task: dict, who: dict, outcome: str | None, data: dict,
                 comment: str | None) -> None:
        """Tick items (and fill the step's fields); done when every item that applies is ticked."""
        run.no_outcome(self, outcome)
        items = {item["id"]: item for item in self.items}
        if not isinstance(data, dict):
            data = {"checked": None}
        checked = data.get("checked", [])
        values = {k: v for k, v in data.items() if k != "checked"}
        if not isinstance(checked, list) or not all(isinstance(c, str) for c in checked):
            raise Invalid('勾選清單請提交 {"checked": [項目代號, ...]}',
                          [{"field": "checked", "message": "請提交要勾選的項目代號列表"}])
        unknown = [c for c in checked if c not in items]
        if unknown:
            raise Invalid(f"清單「{self.title}」沒有項目：{'、'.join(unknown)}",
                          [{"field": "checked", "message": f"沒有項目：{'、'.join(unknown)}"}])
        new = [c for c in dict.fromkeys(checked) if c not in task["checked"]]
        if not new and not values:
            raise Invalid("這些項目都已勾選過，沒有新的勾選", [{"field": "checked", "message": "沒有新勾選的項目"}])
        run.write_fields(self, values, required=frozenset())
        for item_id in new:
            task["checked"][item_id] = who
        run.emit("items_checked", self.id, task_id, dict(who, items=new, data=values))
        if any(i not in task["checked"] for i in run.required_items(self)):
            return
        missing = run.missing(self.required)
        if missing:
            title = run.wf.form.title_of
            details = [{"field": f, "message": f"「{title(f)}」為必填"} for f in missing]
            raise Invalid("完成清單前請填寫：" + "、".join(title(f) for f in missing), details)
        run.state.setdefault("checklists", {})[self.id] = task["checked"]  # who ticked what, for printouts
        run.close(task_id, task, self, "task_completed", dict(who, checked=task["checked"]))
        run.leave(task["token"], self, self.next)

    # --- views ----------------------------------------------------------------------------------------
    def print_value(self, paper: Any) -> Any:
        ticked = paper.ticked(self.id)
        return [{"id": i["id"], "title": i["title"], "checked": i["id"] in ticked,
                 "name": paper.name(ticked.get(i["id"], {}).get("by")),
                 "at": paper.when(ticked[i["id"]]["at"]) if i["id"] in ticked else ""} for i in self.items]

    def task_view(self, task: dict, data: dict, wf: Any) -> dict:
        checked = task.get("checked", {})
        needed = set(self.required_items(wf.form.scope(data or {})))
        items = [{"id": item["id"], "title": item["title"], "optional": bool(item.get("optional")),
                  "required": item["id"] in needed, "checked": checked.get(item["id"])} for item in self.items]
        return dict(super().task_view(task, data, wf), items=items, submit="送出勾選", comment=False)

    def sim_moves(self, task: dict) -> list[tuple[str, str | None, dict]]:
        return [(f"{self.id}:done", None, {"checked": [i["id"] for i in self.items]})]

    def describe(self) -> dict:
        out = super().describe()
        out["next"] = self.next
        out["items"] = [dict(i, optional=bool(i.get("optional"))) for i in self.items]
        return out

    def manual(self, m: Any) -> None:
        m.line("工作內容", [("逐項辦理並在系統中勾選，所有適用項目勾選後本步驟完成：", "")])
        for i, item in enumerate(self.items, start=1):
            segs: list = [(f"（{i}）{item['title']}", "")]
            if item.get("optional"):
                segs.append(("（選做）", "b"))
            when = self.item_when.get(item["id"])
            if when is not None:
                segs += [("（僅當", "")] + m.expr(when) + [("時須辦理）", "")]
            m.item(segs)
        m.fields(self, "同時填寫")
