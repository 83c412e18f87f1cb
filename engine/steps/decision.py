"""`decision`: no task; the first branch whose `when` is true wins, else `default`."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..expressions import Expression
from .base import Edge, Step, register
from .schema import COMMON, EXPR, ID, TEXT, step


@register
@dataclass(kw_only=True)
class DecisionStep(Step):
    kind = "decision"
    word = "判斷"
    fill = "#fff7e6"
    branches: list[tuple[Expression, str]] = field(default_factory=list)
    branch_titles: list[str | None] = field(default_factory=list)
    default: str = ""

    @classmethod
    def schema(cls) -> dict:
        return step(["branches", "default"], dict(COMMON, branches={"type": "array", "minItems": 1, "items": {
            "type": "object", "additionalProperties": False, "required": ["when", "to"],
            "properties": {"when": EXPR, "to": ID, "title": TEXT}}}, default=ID))

    @classmethod
    def options(cls, b: Any, kp, spec: dict) -> dict:
        branches, titles = [], []
        for i, branch in enumerate(spec["branches"]):
            expr = b.compile(kp + ("branches", i, "when"), branch["when"], "condition")
            if expr:
                branches.append((expr, branch["to"]))
                titles.append(branch.get("title"))
        return dict(branches=branches, branch_titles=titles, default=spec["default"])

    def edges(self) -> list[Edge]:
        out = [Edge(to, self.keypath + ("branches", i, "to"), title or "", when)
               for i, ((when, to), title) in enumerate(zip(self.branches, self.branch_titles, strict=True))]
        return out + [Edge(self.default, self.keypath + ("default",), "其他")]

    def enter(self, run: Any, tid: str) -> None:
        target = run.choose(self, self.branches, self.default)
        run.emit("decision_taken", self.id, None, {"to": target})
        run.leave(tid, self, target)

    def describe(self) -> dict:
        return dict(super().describe(), branches=[{"when": e.text, "to": to} for e, to in self.branches],
                    default=self.default)

    def manual(self, m: Any) -> None:
        m.line("工作內容", [("本步驟不需人工辦理，系統依已填寫的資料自動判斷（按順序，先符合者為準）：", "")])
        for i, (when, to) in enumerate(self.branches, start=1):
            m.item([(f"（{i}）若 ", "")] + m.expr(when) + [(f"：轉 {m.ref(to)}", "")])
        m.item([(f"（{len(self.branches) + 1}）其他情況：轉 {m.ref(self.default)}", "")])
