"""`checklist`: items ticked (several calls allowed), each recording who and when; done when every item that
applies is ticked: not `optional`, and its `when` (if any) true for the data. `required` fields must be filled
by then. With `results:` each item records a result, a note and photos instead of a tick, and a failed one can
start a follow-up instance (engine/steps/results.py)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..errors import ExpressionError, Invalid
from ..expressions import Expression
from .base import Edge, TaskStep, register
from .results import FOLLOW_UP, WORDS, FollowUp, follow_ups, item_results, recorded
from .results import build as build_results
from .results import lint as lint_results
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
    results: tuple[str, ...] = ()  # each item records one of these (or its own) instead of a tick
    failed: tuple[str, ...] = ()  # the results that are failures (a note needed; a follow-up started)
    follow_up: FollowUp | None = None

    @classmethod
    def schema(cls) -> dict:
        return step(["roles", "items", "next"], dict(
            TASK, next=ID, fields=IDS, required=IDS, results=WORDS, failed=WORDS, follow_up=FOLLOW_UP, items={
                "type": "array", "minItems": 1, "items": {
                    "type": "object", "additionalProperties": False, "required": ["id", "title"],
                    "properties": {"id": ID, "title": TEXT, "optional": {"type": "boolean"}, "when": EXPR,
                                   "results": WORDS, "failed": WORDS}}}))

    @classmethod
    def options(cls, b: Any, kp, spec: dict) -> dict:
        when = {}
        for i, item in enumerate(spec["items"]):
            if "when" in item:
                expr = b.compile(kp + ("items", i, "when"), item["when"], "condition")
                if expr:
                    when[item["id"]] = expr
        return dict(next=spec["next"], items=list(spec["items"]), item_when=when,
                    **build_results(b, kp, spec))

    @property
    def with_results(self) -> bool:
        """Items record results (合格 / 不合格 ...) rather than ticks."""
        return bool(self.results) or any("results" in item for item in self.items)

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
        lint_results(self, c)

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
        if not isinstance(data, dict):
            data = {"checked": None}
        values = {k: v for k, v in data.items() if k not in ("checked", "results")}
        if self.with_results:
            if "checked" in data:
                choices = "、".join(self.results) or "見各項目"
                raise Invalid(f"「{self.title}」須為每一項選擇結果（{choices}），不是勾選",
                              [{"field": "checked", "message": "請為每一項選擇結果"}])
            got = recorded(self, task, data.get("results", {}))
            new = list(got)
        else:
            got = {}
            new = self.ticked(task, data.get("checked", []))
        if not new and not values and data.get("checked"):
            raise Invalid("這些項目都已勾選過，沒有新的勾選", [{"field": "checked", "message": "沒有新勾選的項目"}])
        if not new and not values:
            raise Invalid("沒有新記錄的項目：請勾選（或選擇結果）後再送出",
                          [{"field": "results" if self.with_results else "checked", "message": "沒有新記錄的項目"}])
        run.write_fields(self, values, required=frozenset())
        for item_id in new:
            task["checked"][item_id] = dict(who, **got.get(item_id, {}))
        payload = dict(who, items=new, data=values)
        if got:
            payload["results"] = got
        run.emit("items_checked", self.id, task_id, payload)
        follow_ups(self, run, got)
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

    def ticked(self, task: dict, checked: Any) -> list[str]:
        """The items newly ticked in a submission `{"checked": [...]}`, checked."""
        items = {item["id"] for item in self.items}
        if not isinstance(checked, list) or not all(isinstance(c, str) for c in checked):
            raise Invalid('勾選清單請提交 {"checked": [項目代號, ...]}',
                          [{"field": "checked", "message": "請提交要勾選的項目代號列表"}])
        unknown = [c for c in checked if c not in items]
        if unknown:
            raise Invalid(f"清單「{self.title}」沒有項目：{'、'.join(unknown)}",
                          [{"field": "checked", "message": f"沒有項目：{'、'.join(unknown)}"}])
        return [c for c in dict.fromkeys(checked) if c not in task["checked"]]

    # --- views ----------------------------------------------------------------------------------------
    def print_value(self, paper: Any) -> Any:
        ticked = paper.ticked(self.id)
        out = [{"id": i["id"], "title": i["title"], "checked": i["id"] in ticked,
                "name": paper.name(ticked.get(i["id"], {}).get("by")),
                "at": paper.when(ticked[i["id"]]["at"]) if i["id"] in ticked else ""} for i in self.items]
        if self.with_results:  # (and what each recorded: `{{ item.result }}`, `{{ item.note }}`)
            for one in out:
                one.update(result=ticked.get(one["id"], {}).get("result", ""),
                           note=ticked.get(one["id"], {}).get("note", ""))
        return out

    def task_view(self, task: dict, data: dict, wf: Any) -> dict:
        checked = task.get("checked", {})
        needed = set(self.required_items(wf.form.scope(data or {})))
        items = []
        for item in self.items:
            one = {"id": item["id"], "title": item["title"], "optional": bool(item.get("optional")),
                   "required": item["id"] in needed, "checked": checked.get(item["id"])}
            if self.with_results:
                one["results"], one["failed"] = map(list, item_results(self, item))
            items.append(one)
        return dict(super().task_view(task, data, wf), items=items, results=self.with_results,
                    submit="送出結果" if self.with_results else "送出勾選", comment=False)

    def sim_moves(self, task: dict) -> list[tuple[str, str | None, dict]]:
        if not self.with_results:
            return [(f"{self.id}:done", None, {"checked": [i["id"] for i in self.items]})]
        passed = {i["id"]: item_results(self, i)[0][0] for i in self.items}
        moves = [(f"{self.id}:done", None, {"results": passed})]
        if self.follow_up is not None:  # (a failure on the first item that can fail: the follow-up starts)
            for i in self.items:
                choices, failed = item_results(self, i)
                if failed:
                    moves.append((f"{self.id}:{i['id']}={failed[0]}", None,
                                  {"results": dict(passed, **{i["id"]: {"result": failed[0], "note": "模擬"}})}))
                    break
        return moves

    def describe(self) -> dict:
        out = super().describe()
        out["next"] = self.next
        out["items"] = [dict(i, optional=bool(i.get("optional"))) for i in self.items]
        if self.with_results:
            out.update(results=list(self.results), failed=list(self.failed))
        if self.follow_up:
            out["follow_up"] = {"workflow": self.follow_up.workflow,
                                "data": {k: e.text for k, e in self.follow_up.data.items()},
                                "when": self.follow_up.when.text if self.follow_up.when else None}
        return out

    def manual(self, m: Any) -> None:
        if self.with_results:
            lead = "逐項檢查並在系統中記錄結果（可附說明及照片），所有適用項目均有結果後本步驟完成"
            if self.results:
                lead += f"；結果為{'、'.join(self.results)}之一"
            if self.failed:
                lead += f"，「{'、'.join(self.failed)}」須寫明情況"
            m.line("工作內容", [(lead + "：", "")])
        else:
            m.line("工作內容", [("逐項辦理並在系統中勾選，所有適用項目勾選後本步驟完成：", "")])
        for i, item in enumerate(self.items, start=1):
            segs: list = [(f"（{i}）{item['title']}", "")]
            if "results" in item:
                segs.append((f"（結果：{'、'.join(item['results'])}）", ""))
            if item.get("optional"):
                segs.append(("（選做）", "b"))
            when = self.item_when.get(item["id"])
            if when is not None:
                segs += [("（僅當", "")] + m.expr(when) + [("時須辦理）", "")]
            m.item(segs)
        if self.follow_up is not None:
            child = m.registry.workflows.get(self.follow_up.workflow)
            title = child.title if child else self.follow_up.workflow
            m.line("跟進", [(f"項目結果為不合格時，系統即自動發起《{title}》流程跟進（與本案件關聯）", "")])
        m.fields(self, "同時填寫")
