"""`foreach`: one instance of a workflow for every row of a table field (each arrears shop its own chase, each
finding of a patrol its own follow-up), started all at once or one after another, with a join rule: go on when
all of them have ended, when any has, or when N have; those still running then are cancelled.

```yaml
  chase:
    kind: foreach
    title: 逐戶催繳
    over: arrears                       # a table field (an array of rows)
    when: "row['amount'] > 0"           # only the rows this holds for (optional)
    workflow: arrears_chase             # each row an instance of this, linked to this one as its parent
    data: {shop: "row['shop']", amount: "row['amount']"}
    order: parallel                     # or sequence: the next row starts when the previous has ended
    join: all                           # any, or a number
    next: summary
```
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..expressions import Expression
from ..hints import did_you_mean
from .base import Edge, Step, register
from .schema import COMMON, EXPR, ID, step
from .subprocess import lint_child

ROW = "row"  # the name the expressions read the row by


@register
@dataclass(kw_only=True)
class ForeachStep(Step):
    kind = "foreach"
    word = "逐項分派"
    fill = "#eef6ff"
    event_words = {"foreach_started": "逐項發起", "foreach_joined": "逐項匯合"}
    over: str = ""
    workflow: str = ""
    data: dict[str, Expression] = field(default_factory=dict)
    when: Expression | None = None
    order: str = "parallel"
    join: int | str = "all"
    next: str = ""

    @classmethod
    def schema(cls) -> dict:
        return step(["over", "workflow", "next"], dict(
            COMMON, over=ID, workflow=ID, when=EXPR, next=ID, order={"enum": ["parallel", "sequence"]},
            join={"oneOf": [{"enum": ["all", "any"]}, {"type": "integer", "minimum": 1}]},
            data={"type": "object", "propertyNames": ID, "additionalProperties": {"type": "string"}}))

    @classmethod
    def options(cls, b: Any, kp, spec: dict) -> dict:
        names = None if b.names is None else {**b.names, ROW: {"type": "object"}}
        data = {}
        for name, text in spec.get("data", {}).items():
            expr = b.compile_with(kp + ("data", name), text, "value", names)
            if expr:
                data[name] = expr
        when = b.compile_with(kp + ("when",), spec["when"], "condition", names) if "when" in spec else None
        return dict(over=spec["over"], workflow=spec["workflow"], data=data, when=when,
                    order=spec.get("order", "parallel"), join=spec.get("join", "all"), next=spec["next"])

    @property
    def starts(self) -> str | None:
        return self.workflow

    def edges(self) -> list[Edge]:
        return [Edge(self.next, self.keypath + ("next",))]

    def lint(self, c: Any) -> None:
        super().lint(c)
        kp = self.keypath
        form = c.wf.form
        spec = form.properties.get(self.over)
        if spec is None and not form.stub:
            c.problem(kp + ("over",), f"unknown field '{self.over}'{did_you_mean(self.over, form.properties)}; "
                                      f"form '{form.id}' has no such field")
        elif spec is not None and spec.get("type") != "array":
            c.problem(kp + ("over",), f"field '{self.over}' is not a table (an array of rows): a foreach goes over "
                                      "the rows of one")
        lint_child(c, kp, self.workflow, self.data)

    # --- running --------------------------------------------------------------------------------------
    def enter(self, run: Any, tid: str) -> None:
        rows = [i for i, row in run.rows(self.over)
                if self.when is None or run.values({"when": self.when}, "逐項條件", {ROW: row}).get("when", True)]
        run.emit("foreach_started", self.id, None, {"rows": len(rows), "order": self.order})
        if not rows:
            run.leave(tid, self, self.next)
            return
        run.state["tokens"][tid].update(children=[], rows=rows, ended={})
        for index in rows if self.order == "parallel" else rows[:1]:
            self.start_row(run, tid, index)

    def start_row(self, run: Any, tid: str, index: int) -> None:
        row = dict(run.rows(self.over))[index]
        run.start_child(tid, self.workflow, run.values(self.data, "逐項資料", {ROW: row}), row=index)

    def needed(self, rows: int) -> int:
        """How many of `rows` instances must have ended for the step to go on."""
        return rows if self.join == "all" else 1 if self.join == "any" else min(int(self.join), rows)

    def child_done(self, run: Any, tid: str, outcome: str, child: int | None = None) -> None:
        token = run.state["tokens"][tid]
        token["ended"][str(child)] = outcome
        ended, rows = len(token["ended"]), token["rows"]
        if ended < self.needed(len(rows)):
            if self.order == "sequence" and ended == len(token["children"]):
                self.start_row(run, tid, rows[ended])
            return
        for other in token["children"]:
            if str(other) not in token["ended"]:
                run.effects.append({"type": "cancel_child", "child": other})
        outcomes: dict[str, int] = {}
        for value in token["ended"].values():
            outcomes[value] = outcomes.get(value, 0) + 1
        run.emit("foreach_joined", self.id, None, {"ended": ended, "rows": len(rows), "outcomes": outcomes})
        run.leave(tid, self, self.next)

    def sim_child_outcomes(self, registry: Any) -> list[str]:
        child = registry.workflows.get(self.workflow)
        return child.end_outcomes() if child else ["done"]

    # --- views ----------------------------------------------------------------------------------------
    def describe(self) -> dict:
        return dict(super().describe(), over=self.over, workflow=self.workflow, order=self.order, join=self.join,
                    when=self.when.text if self.when else None, next=self.next,
                    data={k: e.text for k, e in self.data.items()})

    def manual(self, m: Any) -> None:
        child = m.registry.workflows.get(self.workflow)
        title = child.title if child else self.workflow
        how = "同時" if self.order == "parallel" else "逐一（前一項結束後才開始下一項）"
        segs: list = [(f"「{m.field(self.over)}」的每一列{how}發起一件《{title}》（見該流程的作業指導書）", "")]
        if self.when is not None:
            segs += [("，僅限", "")] + m.expr(self.when) + [("的列", "")]
        m.line("工作內容", segs)
        rule = {"all": "全部結束後", "any": "任一件結束後"}.get(str(self.join), f"{self.join} 件結束後")
        m.line("完成後", [(f"{rule}轉 {m.ref(self.next)}" + ("，其餘仍在辦理的予以取消" if self.join != "all" else ""),
                          "")])
