"""`print`: a task confirming that the named printout of the form was issued (recorded with its copies).

The printout can be printed only once a `print` step naming it has been reached (no permit before its
approval), and the step completes only once it has been printed since the task opened, or with the reason it
was not (業主拒收): a record always says what paper went out."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..errors import Invalid
from ..hints import did_you_mean
from .base import Edge, TaskStep, register
from .schema import ID, TASK, step


@register
@dataclass(kw_only=True)
class PrintStep(TaskStep):
    kind = "print"
    word = "列印"
    verb = "列印發出"
    printout: str = ""
    copies: int = 1

    @classmethod
    def schema(cls) -> dict:
        return step(["roles", "printout", "next"], dict(TASK, printout=ID, next=ID,
                                                        copies={"type": "integer", "minimum": 1}))

    @classmethod
    def options(cls, b: Any, kp, spec: dict) -> dict:
        return dict(printout=spec["printout"], copies=spec.get("copies", 1), next=spec["next"])

    @property
    def prints(self) -> str | None:
        return self.printout

    def edges(self) -> list[Edge]:
        return [Edge(self.next, self.keypath + ("next",)), *super().edges()]

    def lint(self, c: Any) -> None:
        super().lint(c)
        form = c.wf.form
        if self.printout not in form.printouts and not form.stub:
            c.problem(self.keypath + ("printout",), f"form '{form.id}' has no printout '{self.printout}'"
                                                    f"{did_you_mean(self.printout, form.printouts)}; declare it "
                                                    "under the form's `printouts`")

    def on_open(self, run: Any, task: dict) -> None:
        task["prints_before"] = run.state.get("prints", {}).get(self.printout, 0)

    def complete(self, run: Any, task_id: str, task: dict, who: dict, outcome: str | None, data: dict,
                 comment: str | None) -> None:
        run.no_outcome(self, outcome)
        printed = run.printed_since(self.printout, task.get("prints_before", 0))
        if not printed and not (comment or "").strip():
            title = run.wf.form.printouts.get(self.printout, {}).get("title") or run.wf.form.title
            raise Invalid(f"《{title}》尚未列印：請先列印，或寫明未列印的原因（例如：業主拒收）",
                          [{"field": "comment", "message": "尚未列印：請寫明未列印的原因"}])
        self.finish(run, task_id, task, who, outcome, data, comment, self.next, printout=self.printout,
                    copies=self.copies, printed=printed)

    def task_view(self, task: dict, data: dict, wf: Any) -> dict:
        spec = wf.form.printouts.get(self.printout, {})
        download = {"name": self.printout, "title": spec.get("title") or wf.form.title,
                    "copies": list(spec.get("copies") or [])}
        prints = task.get("prints_now", 0) - task.get("prints_before", 0)
        return dict(super().task_view(task, data, wf), printout=self.printout, copies=self.copies,
                    submit="確認已列印交付", download=download, printed=prints > 0)

    def describe(self) -> dict:
        return dict(super().describe(), next=self.next, printout=self.printout, copies=self.copies)

    def manual(self, m: Any) -> None:
        spec = m.printout(self.printout)
        text = f"列印《{spec.get('title', m.wf.form.title)}》並發出"
        copies = spec.get("copies") or []
        if copies:
            text += f"，一式{m.count(len(copies))}聯（{'、'.join(copies)}）"
        if self.copies > 1:
            text += f"，列印 {self.copies} 份"
        m.line("工作內容", [(text, "")])
        if spec.get("signatures"):
            m.line("簽署欄", [("、".join(spec["signatures"]), "")])
        m.line("記錄", [("列印後在系統中確認，系統記錄列印人、時間及份數；未列印不能確認，"
                         "確實未能交付（例如業主拒收）時須寫明原因", "")])
        m.fields(self)
