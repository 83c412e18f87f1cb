"""A new step kind is one module: a kind registered from this test module runs through check, simulate, the
store, the CLI, the graph and the work instruction without any change elsewhere (docs/step-kinds.md)."""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from typing import Any

import pytest

from engine import definitions
from engine.service import Engine
from engine.steps import KINDS, Edge, TaskStep, register, unregister
from engine.steps.schema import ID, TASK, step

from ..conftest import Cli, docx_text
from ..test_definitions import TOY


@dataclass(kw_only=True)
class TallyStep(TaskStep):
    """`tally`: a task its roles record `target` times (three calls made, two visits paid); then it goes on."""

    kind = "tally"
    word = "計數"
    verb = "逐次登記"
    event_words = {"tallied": "登記一次"}
    target: int = 1

    @classmethod
    def schema(cls) -> dict:
        return step(["roles", "target", "next"], dict(TASK, target={"type": "integer", "minimum": 1}, next=ID,
                                                      fields={"type": "array", "items": ID}))

    @classmethod
    def options(cls, b: Any, kp, spec: dict) -> dict:
        return dict(target=spec["target"], next=spec["next"])

    def edges(self) -> list[Edge]:
        return [Edge(self.next, self.keypath + ("next",)), *super().edges()]

    def lint(self, c: Any) -> None:
        super().lint(c)
        if self.target > 99:
            c.problem(self.keypath + ("target",), f"a tally of {self.target} is more than anyone will record; "
                                                  "use at most 99")

    def on_open(self, run: Any, task: dict) -> None:
        task["count"] = 0

    def complete(self, run: Any, task_id: str, task: dict, who: dict, outcome, data: dict, comment) -> None:
        run.no_outcome(self, outcome)
        run.write_fields(self, data)
        task["count"] += 1
        run.emit("tallied", self.id, task_id, dict(who, count=task["count"], comment=comment))
        if task["count"] >= self.target:
            self.finish(run, task_id, task, who, None, data, comment, self.next, write=False)

    def task_view(self, task: dict, data: dict, wf: Any) -> dict:
        count = task.get("count", 0)
        return dict(super().task_view(task, data, wf), count=count, target=self.target,
                    submit=f"登記一次（已 {count}／{self.target} 次）")

    def sim_moves(self, task: dict) -> list:
        return [(f"{self.id}:+1", None, {})]

    def describe(self) -> dict:
        return dict(super().describe(), target=self.target, next=self.next)

    def manual(self, m: Any) -> None:
        m.line("工作內容", [(f"每辦理一次在系統中登記一次，滿 {self.target} 次後本步驟完成", "")])
        m.fields(self)


CALLS = """id: calls
title: 催繳電話
form: memo
start: {roles: [clerk], fields: [subject], next: ring}
steps:
  ring:
    kind: tally
    title: 電話催繳三次
    roles: [clerk]
    fields: [note]
    target: 3
    next: done
  done: {kind: end, title: 已催繳, outcome: called}
"""


@pytest.fixture
def tally():
    register(TallyStep)
    yield TallyStep
    unregister("tally")


@pytest.fixture
def defs(tmp_path):
    root = shutil.copytree(TOY, tmp_path / "defs")
    (root / "workflows" / "calls.yaml").write_text(CALLS, encoding="utf-8")
    return root


def test_check_knows_the_kind_and_its_lint_and_forgets_it_when_unregistered(new_db, tally, defs, tmp_path):
    cli = Cli(new_db("c.db"), defs)
    assert cli.run("check").stdout.startswith("ok:")
    (defs / "workflows" / "calls.yaml").write_text(CALLS.replace("target: 3", "target: 300"), encoding="utf-8")
    proc = cli.run("check", ok=False)
    assert proc.returncode == 1 and proc.stdout.splitlines() == [
        f"{defs}/workflows/calls.yaml:11:13: a tally of 300 is more than anyone will record; use at most 99"]
    (defs / "workflows" / "calls.yaml").write_text(CALLS.replace("target: 3", "targt: 3"), encoding="utf-8")
    assert cli.run("check", ok=False).stdout.splitlines() == [
        f"{defs}/workflows/calls.yaml:11:5: unknown key 'targt' in step 'ring'; did you mean 'target'?"]
    unregister("tally")
    (defs / "workflows" / "calls.yaml").write_text(CALLS, encoding="utf-8")
    assert cli.run("check", ok=False).stdout.splitlines() == [
        f"{defs}/workflows/calls.yaml:7:11: kind 'tally' is not allowed (expected one of: "
        f"{', '.join(KINDS)})"]


def test_simulate_walks_the_kind(tally, defs):
    registry = definitions.load_strict(defs)
    from engine.simulate import simulate

    report = simulate(registry.workflow("calls"), registry)
    assert report["ends"] == {"called": 1} and report["stuck"] == [] and not report["truncated"]


def test_the_store_runs_the_kind_to_its_end(new_db, tally, defs, tmp_path, clock):
    engine = Engine(new_db("s.db"), definitions.load_strict(defs), clock=clock)
    engine.add_user("c", ["clerk"])
    inst = engine.start("calls", "c", {"subject": "三樓商鋪欠費"})
    task = inst["tasks"][0]
    assert (task["kind"], task["kind_title"], task["count"], task["target"]) == ("tally", "計數", 0, 3)
    assert task["submit"] == "登記一次（已 0／3 次）" and task["outcomes"] == [] and task["comment"] is True
    for i in range(1, 3):
        view = engine.complete(task["id"], "c", data={"note": f"第{i}次未接"})
        assert view["status"] == "active" and view["tasks"][0]["count"] == i
    assert [t["id"] for t in engine.tasks("c")] == [task["id"]]
    done = engine.show(engine.complete(task["id"], "c", comment="已答應月底前繳清")["id"])
    assert done["status"] == "completed" and done["outcome_title"] == "已催繳"
    assert [e["type"] for e in done["history"]].count("tallied") == 3
    assert done["data"]["note"] == "第2次未接" and engine.tasks("c") == []
    assert engine.audit()["ok"]
    engine.close()


def test_the_cli_graph_and_manual_show_the_kind(new_db, tally, defs, tmp_path):
    cli = Cli(new_db("cli.db"), defs)
    described = {s["id"]: s for s in cli.json("describe", "calls")["steps"]}
    assert described["ring"]["target"] == 3 and described["ring"]["kind"] == "tally"
    cli.run("users", "add", "c", "--role", "clerk")
    inst = cli.json("start", "calls", "--as", "c", "--data", json.dumps({"subject": "欠費"}))
    task = cli.task(inst, "ring")
    assert [t["id"] for t in cli.json("tasks", "--as", "c")] == [task]
    for _ in range(3):
        inst = cli.json("complete", task, "--as", "c")
    assert inst["status"] == "completed"
    svg = tmp_path / "calls.svg"
    cli.json("graph", "calls", "-o", str(svg))
    assert "計數" in svg.read_text(encoding="utf-8")
    manual = tmp_path / "calls.docx"
    cli.json("manual", "calls", "-o", str(manual))
    text = docx_text(manual.read_bytes())
    assert "方式：計數" in text and "滿 3 次後本步驟完成" in text and "逐次登記" in text
