"""`wait`: no task; the token goes on to `next` when `duration` has passed (`goldkey tick`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..durations import Duration
from .base import Edge, Step, register
from .schema import COMMON, DUR, ID, step


@register
@dataclass(kw_only=True)
class WaitStep(Step):
    kind = "wait"
    word = "等待"
    fill = "#f6f0ff"
    duration: Duration | None = None
    next: str = ""

    @classmethod
    def schema(cls) -> dict:
        return step(["duration", "next"], dict(COMMON, duration=DUR, next=ID))

    @classmethod
    def options(cls, b: Any, kp, spec: dict) -> dict:
        return dict(duration=b.duration(kp + ("duration",), spec["duration"]), next=spec["next"])

    def edges(self) -> list[Edge]:
        return [Edge(self.next, self.keypath + ("next",))]

    def enter(self, run: Any, tid: str) -> None:
        until = run.state["tokens"][tid]["until"] = run.later(self.duration)
        run.emit("timer_set", self.id, None, {"until": until})

    def durations(self) -> list[Duration]:
        return [self.duration] if self.duration else []

    def time_limit(self) -> str:
        return self.duration.text if self.duration else ""

    def timer_fired(self, run: Any, tid: str) -> None:
        run.emit("timer_fired", self.id, None, {})
        run.leave(tid, self, self.next)

    def describe(self) -> dict:
        return dict(super().describe(), next=self.next, duration=self.duration.text if self.duration else None)

    def manual(self, m: Any) -> None:
        wait = m.duration(self.duration) if self.duration else "—"
        m.line("工作內容", [(f"等待 {wait}，期滿後系統自動轉 {m.ref(self.next)}", "")])
