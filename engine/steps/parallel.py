"""`parallel` and `join`: every branch starts at once; the join waits until each has arrived, then goes on."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..hints import did_you_mean
from .base import Edge, Step, register
from .schema import COMMON, ID, step


@register
@dataclass(kw_only=True)
class ParallelStep(Step):
    kind = "parallel"
    word = "並行"
    fill = "#eef6ff"
    split: tuple[str, ...] = ()
    join: str = ""

    @classmethod
    def schema(cls) -> dict:
        return step(["branches", "join"], dict(COMMON, branches={"type": "array", "items": ID, "minItems": 2,
                                                                  "uniqueItems": True}, join=ID))

    @classmethod
    def options(cls, b: Any, kp, spec: dict) -> dict:
        return dict(split=tuple(spec["branches"]), join=spec["join"])

    def edges(self) -> list[Edge]:
        return [Edge(to, self.keypath + ("branches", i)) for i, to in enumerate(self.split)]

    def lint_graph(self, c: Any) -> None:
        steps = c.wf.steps
        join = steps.get(self.join)
        kp = self.keypath + ("join",)
        if join is None:
            c.problem(kp, f"parallel '{self.id}' names join '{self.join}', which is not a step"
                          f"{did_you_mean(self.join, steps)}")
            return
        if not isinstance(join, JoinStep):
            c.problem(kp, f"parallel '{self.id}' names '{self.join}' as its join, but that step is a {join.kind}; "
                          "make it `kind: join`")
            return
        first = next(s for s in steps.values() if isinstance(s, ParallelStep) and s.join == self.join)
        if first is not self:
            c.problem(kp, f"join '{self.join}' already closes parallel '{first.id}'; give each parallel its own join")
        for i, branch in enumerate(self.split):
            if branch in steps and self.join not in c.reach(branch, stop={self.join}):
                c.problem(self.keypath + ("branches", i), f"branch '{branch}' of parallel '{self.id}' never "
                                                          f"reaches its join '{self.join}'")

    def enter(self, run: Any, tid: str) -> None:
        token = run.state["tokens"].pop(tid)
        gid = str(run.next_id())
        run.state["groups"][gid] = {"split": self.id, "join": self.join, "count": len(self.split), "arrived": 0}
        groups = token["groups"] + [gid]
        run.post(self)
        children = [run.new_token(branch, groups) for branch in self.split]
        run.emit("parallel_started", self.id, None, {"branches": list(self.split)})
        for child in children:
            if run.state["status"] != "active":
                break
            run.enter(child)

    def describe(self) -> dict:
        return dict(super().describe(), branches=list(self.split), join=self.join)

    def manual(self, m: Any) -> None:
        text = f"以下各項同時展開，分別辦理：{'、'.join(m.ref(b) for b in self.split)}"
        if self.join:
            text += f"；全部完成後於 {m.ref(self.join)}匯合"
        m.line("工作內容", [(text, "")])


@register
@dataclass(kw_only=True)
class JoinStep(Step):
    kind = "join"
    word = "匯合"
    fill = "#eef6ff"
    next: str = ""

    @classmethod
    def schema(cls) -> dict:
        return step(["next"], dict(COMMON, next=ID))

    @classmethod
    def options(cls, b: Any, kp, spec: dict) -> dict:
        return dict(next=spec["next"])

    def edges(self) -> list[Edge]:
        return [Edge(self.next, self.keypath + ("next",))]

    def lint_graph(self, c: Any) -> None:
        parallels = [s for s in c.wf.steps.values() if isinstance(s, ParallelStep)]
        if any(not isinstance(c.wf.steps.get(s.join), JoinStep) for s in parallels):
            return  # a parallel with a broken join: that is the problem to report
        if not any(s.join == self.id for s in parallels):
            c.problem(self.keypath, f"join '{self.id}' closes no parallel; name it as the `join` of a parallel step",
                      key=True)

    def enter(self, run: Any, tid: str) -> None:
        token = run.state["tokens"].pop(tid)
        gid = token["groups"][-1] if token["groups"] else None
        group = run.state["groups"].get(gid) if gid else None
        if group is None or group["join"] != self.id:  # a join outside its split; pass straight on
            run.leave(run.new_token(self.id, token["groups"]), self, self.next)
            return
        group["arrived"] += 1
        if group["arrived"] < group["count"]:
            return
        del run.state["groups"][gid]
        run.emit("joined", self.id, None, {"branches": group["count"]})
        run.leave(run.new_token(self.id, token["groups"][:-1]), self, self.next)

    def describe(self) -> dict:
        return dict(super().describe(), next=self.next)

    def manual(self, m: Any) -> None:
        splits = [s for s in m.wf.steps.values() if isinstance(s, ParallelStep) and s.join == self.id]
        branches = "、".join(m.ref(b) for s in splits for b in s.split)
        text = f"待 {branches}全部完成後，轉 {m.ref(self.next)}" if branches else f"轉 {m.ref(self.next)}"
        m.line("工作內容", [(text, "")])
