"""`subprocess`: start another workflow with data from this one, wait for its end and go on by its outcome.

With `wait: false` the parent goes on to `next` at once and the child runs on its own; `after: 7d` makes the
child reach its first step only that long after (a return visit a week after the repair closes)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..durations import Duration
from ..expressions import Expression
from ..hints import did_you_mean
from .base import Edge, Outcome, Step, outcomes_of, register, routes
from .schema import COMMON, DUR, ID, OUTCOMES, step


@register
@dataclass(kw_only=True)
class SubprocessStep(Step):
    kind = "subprocess"
    word = "子流程"
    workflow: str = ""
    next: str | None = None
    outcomes: dict[str, Outcome] = field(default_factory=dict)  # the child's outcome -> where to go
    wait: bool = True
    after: Duration | None = None
    data: dict[str, Expression] = field(default_factory=dict)  # the child's field -> its value

    @classmethod
    def schema(cls) -> dict:
        return step(["workflow"], dict(COMMON, workflow=ID, next=ID, outcomes=OUTCOMES, wait={"type": "boolean"},
                                       after=DUR, data={"type": "object", "propertyNames": ID,
                                                        "additionalProperties": {"type": "string"}}))

    @classmethod
    def options(cls, b: Any, kp, spec: dict) -> dict:
        data = {}
        for name, text in spec.get("data", {}).items():
            expr = b.compile(kp + ("data", name), text, "value")
            if expr:
                data[name] = expr
        wait = spec.get("wait", True)
        if not wait and spec.get("outcomes"):
            b.problem(kp + ("outcomes",), "a subprocess with `wait: false` does not wait for the outcome: give "
                                          "`next` instead of `outcomes`")
        return dict(workflow=spec["workflow"], next=spec.get("next"), outcomes=outcomes_of(spec.get("outcomes", {})),
                    wait=wait, after=b.duration(kp + ("after",), spec.get("after")), data=data)

    def edges(self) -> list[Edge]:
        out = [Edge(self.next, self.keypath + ("next",), "其他結果" if self.outcomes else "")] if self.next else []
        return out + [Edge(o.to, self.keypath + ("outcomes", name, "to"), o.title or "")
                      for name, o in self.outcomes.items()]

    def lint(self, c: Any) -> None:
        super().lint(c)
        kp = self.keypath
        child = lint_child(c, kp, self.workflow, self.data)
        unknown: list[str] = []
        if child is not None:
            ends = child.end_outcomes()
            unknown = [name for name in self.outcomes if name not in ends]
            for name in unknown:
                c.problem(kp + ("outcomes", name), f"workflow '{child.id}' never ends with outcome '{name}'"
                                                   f"{did_you_mean(name, ends)} (its outcomes: {', '.join(ends)})",
                          key=True)
        if not self.next and not self.outcomes:
            c.problem(kp, "a subprocess needs `next` or `outcomes` to say where to go when it ends")
        elif not self.next and child is not None and not unknown and set(child.end_outcomes()) - set(self.outcomes):
            missing = ", ".join(sorted(set(child.end_outcomes()) - set(self.outcomes)))
            c.problem(kp + ("outcomes",), f"outcomes {missing} of workflow '{child.id}' lead nowhere; list them or "
                                          "add `next`")

    # --- running --------------------------------------------------------------------------------------
    def enter(self, run: Any, tid: str) -> None:
        run.start_child(tid, self.workflow, run.values(self.data, "子流程資料"), self.wait, self.after,
                        self.inherited(run.wf.form.confidential))
        if self.wait:
            run.state["tokens"][tid]["child"] = None
        else:  # started, not waited for: go on at once
            run.leave(tid, self, self.next)

    @property
    def starts(self) -> str | None:
        return self.workflow

    def durations(self) -> list[Duration]:
        return [self.after] if self.after else []

    def inherited(self, confidential: dict) -> dict | None:
        """The child's fields computed from the parent's confidential ones, and who may read them (the parent's
        readers): confidentiality follows the data into the child."""
        secret = set(confidential.get("fields", ()))
        fields = sorted(name for name, expr in self.data.items() if expr.names & secret)
        return {"fields": fields, "roles": list(confidential.get("roles", ()))} if fields else None

    def sim_child_outcomes(self, registry: Any) -> list[str]:
        child = registry.workflows.get(self.workflow)
        return child.end_outcomes() if child else ["done"]

    def child_done(self, run: Any, tid: str, outcome: str, child: int | None = None) -> None:
        target = self.outcomes[outcome].to if outcome in self.outcomes else self.next
        run.leave(tid, self, target)

    # --- views ----------------------------------------------------------------------------------------
    def describe(self) -> dict:
        return dict(super().describe(), **routes(self.next, self.outcomes), workflow=self.workflow, wait=self.wait,
                    after=self.after.text if self.after else None)

    def manual(self, m: Any) -> None:
        child = m.registry.workflows.get(self.workflow)
        title = child.title if child else self.workflow
        text = f"系統自動發起《{title}》流程（{self.workflow}，見該流程的作業指導書）"
        if self.after:
            text += f"，該流程於本步驟到達 {m.duration(self.after)}後才開始"
        m.line("工作內容", [(text, "")])
        if self.data:
            form = child.form if child else None
            segs: list = []
            for i, (name, expr) in enumerate(self.data.items()):
                segs += [("；" if i else "", ""), (f"{form.title_of(name) if form else name}＝", "")]
                segs += m.expr(expr)
            m.line("帶入資料", segs)
        if not self.wait:
            m.line("完成後", [(f"本流程不等待其結束，隨即轉 {m.ref(self.next)}", "")])
            return
        m.line("完成後", [("待該流程結束，依其結果繼續：", "")])
        for outcome, to in self.outcomes.items():
            m.item([(f"結果「{child.outcome_title(outcome) if child else outcome}」：轉 {m.ref(to.to)}", "")])
        if self.next:
            m.item([(f"{'其他結果' if self.outcomes else '任何結果'}：轉 {m.ref(self.next)}", "")])


def lint_child(c: Any, kp: tuple, workflow: str, data: dict) -> Any:
    """The workflow a step starts (`kp + workflow`), and the fields its `data` fills, must exist; the workflow, or
    None."""
    child = c.workflows.get(workflow)
    if child is None and workflow not in c.broken:
        c.problem(kp + ("workflow",), f"unknown workflow '{workflow}'{did_you_mean(workflow, c.workflows)}")
    elif child is not None:
        for name in data:
            if name not in child.form.properties and not child.form.stub:
                c.problem(kp + ("data", name), f"form '{child.form.id}' of workflow '{child.id}' has no field "
                                               f"'{name}'{did_you_mean(name, child.form.properties)}", key=True)
    return child
