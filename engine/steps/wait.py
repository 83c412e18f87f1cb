"""`wait`: no task; the token goes on to `next` when `duration` has passed, or at the moment `until` gives
(`until: "add_months(start_date, months)"`: the end of a term the data states), on `goldkey tick`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..durations import Duration
from ..expressions import Expression
from .base import Edge, Step, register
from .schema import COMMON, DUR, EXPR, ID, step


@register
@dataclass(kw_only=True)
class WaitStep(Step):
    kind = "wait"
    word = "等待"
    fill = "#f6f0ff"
    duration: Duration | None = None
    until: Expression | None = None
    next: str = ""

    @classmethod
    def schema(cls) -> dict:
        return step(["next"], dict(COMMON, duration=DUR, until=EXPR, next=ID))

    @classmethod
    def options(cls, b: Any, kp, spec: dict) -> dict:
        if ("duration" in spec) == ("until" in spec):
            b.problem(kp, "give a wait exactly one of `duration: 7d` or `until: <an expression giving a date>` "
                          "(e.g. until: \"add_months(start_date, months)\")")
        until = b.compile(kp + ("until",), spec["until"], "moment") if "until" in spec else None
        return dict(duration=b.duration(kp + ("duration",), spec.get("duration")), until=until, next=spec["next"])

    def edges(self) -> list[Edge]:
        return [Edge(self.next, self.keypath + ("next",))]

    def enter(self, run: Any, tid: str) -> None:
        if self.until is not None:
            until = run.moment(self.until, f"「{self.title}」的等待期限")
            if until <= run.at:  # (the moment has passed already: go on)
                run.emit("timer_fired", self.id, None, {"until": until})
                run.leave(tid, self, self.next)
                return
        else:
            until = run.later(self.duration)
        run.state["tokens"][tid]["until"] = until
        run.emit("timer_set", self.id, None, {"until": until})

    def durations(self) -> list[Duration]:
        return [self.duration] if self.duration else []

    def time_limit(self) -> str:
        return self.duration.text if self.duration else f"至 {self.until.text}" if self.until else ""

    def timer_fired(self, run: Any, tid: str) -> None:
        run.emit("timer_fired", self.id, None, {})
        run.leave(tid, self, self.next)

    def describe(self) -> dict:
        return dict(super().describe(), next=self.next, duration=self.duration.text if self.duration else None,
                    until=self.until.text if self.until else None)

    def manual(self, m: Any) -> None:
        if self.until is not None:
            m.line("工作內容", [("等待至 ", "")] + m.expr(self.until) + [(f"，屆時系統自動轉 {m.ref(self.next)}", "")])
            return
        wait = m.duration(self.duration) if self.duration else "—"
        m.line("工作內容", [(f"等待 {wait}，期滿後系統自動轉 {m.ref(self.next)}", "")])
