"""`end`: the instance ends with this step's outcome; other open branches are cancelled."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .base import Step, register
from .schema import COMMON, ID, step


@register
@dataclass(kw_only=True)
class EndStep(Step):
    kind = "end"
    word = "結束"
    fill = "#f0f0f0"
    outcome: str = ""
    status: str = "completed"

    @classmethod
    def schema(cls) -> dict:
        return step([], dict(COMMON, outcome=ID, status={"enum": ["completed", "cancelled"]}))

    @classmethod
    def options(cls, b: Any, kp, spec: dict) -> dict:
        return dict(outcome=spec.get("outcome", kp[-1]), status=spec.get("status", "completed"))

    @property
    def ends_with(self) -> str | None:
        return self.outcome

    def enter(self, run: Any, tid: str) -> None:
        run.post(self)
        run.finish(self.id, self.status, self.outcome)

    def describe(self) -> dict:
        return dict(super().describe(), outcome=self.outcome, status=self.status)

    def manual(self, m: Any) -> None:
        text = f"流程結束，結果：{self.title}"
        if self.status == "cancelled":
            text += "；流程以撤銷結束"
        m.line("工作內容", [(text + "。其他尚未完成的並行任務同時取消", "")])
