"""Deadlines over several steps: a workflow's `deadlines:` each count from a moment (`started`, or what an
expression gives: the time of the event) to the completion of a step, whatever the steps in between.

```yaml
deadlines:
  - id: written_report
    title: 書面報告送達公司
    from: occurred_at          # `started`, a date / date-time field, or an expression giving a moment
    until: company_received    # met when this step is completed
    soft: 24h                  # to be met by
    hard: 36h                  # at the latest
    actions:                   # reminders and notices, as a step's `deadlines` ladder (remind / notify only)
      - {before: 2h, remind: [manager]}
      - {at: hard, notify: [manager]}
```

The core arms a deadline once its moment is known (an empty field: when it is filled), records when it was met
and whether in time, and fires its actions once each (`goldkey tick`). Pure: no clock, no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from . import deadlines
from .deadlines import Due, Rung
from .durations import Duration
from .errors import Invalid
from .expressions import Expression
from .hints import did_you_mean
from .yamlsrc import KeyPath

ACTIONS = ("remind", "notify")  # what a deadline over several steps may do (no one task to escalate)


@dataclass(frozen=True)
class Span:
    id: str
    title: str
    until: str  # the step whose completion meets it
    soft: Duration
    hard: Duration | None = None
    origin: Expression | None = None  # None: from the instance's start
    rungs: tuple[Rung, ...] = ()
    keypath: KeyPath = ()

    @property
    def due(self) -> Due:
        return Due(self.soft, self.hard)


def schema() -> dict:
    """The meta-schema of a workflow's `deadlines:` list."""
    from .steps.schema import DUR, EXPR, ID, RUNG, TEXT

    return {"type": "array", "minItems": 1, "items": {
        "type": "object", "additionalProperties": False, "required": ["id", "title", "until", "soft"],
        "properties": {"id": ID, "title": TEXT, "from": EXPR, "until": ID, "soft": DUR, "hard": DUR,
                       "actions": {"type": "array", "minItems": 1, "items": RUNG}, "description": TEXT}}}


def build(b: Any, specs: list[dict]) -> list[Span]:
    """The workflow's deadlines (`b`: engine.definitions.Builder, for expressions, durations and problems)."""
    out, seen = [], set()
    for i, spec in enumerate(specs):
        kp = ("deadlines", i)
        if spec["id"] in seen:
            b.problem(kp + ("id",), f"duplicate deadline id '{spec['id']}'")
        seen.add(spec["id"])
        soft = b.duration(kp + ("soft",), spec["soft"])
        hard = b.duration(kp + ("hard",), spec.get("hard"))
        if soft and hard and soft.unit == hard.unit and hard.amount < soft.amount:
            b.problem(kp + ("hard",), f"the hard limit {hard.text} is earlier than the due time {soft.text}")
        origin = spec.get("from", "started")
        expr = None if origin == "started" else b.compile(kp + ("from",), origin, "moment")
        rungs = b.ladder(kp, spec, Due(soft, hard) if soft else None, key="actions")
        for j, rung in enumerate(rungs):
            if rung.action not in ACTIONS:
                b.problem(kp + ("actions", j, rung.action), f"a deadline over several steps can only remind or "
                                                            f"notify (not {rung.action}); put `{rung.action}` on a "
                                                            "step's own `deadlines`", key=True)
        if soft:
            out.append(Span(spec["id"], spec["title"], spec["until"], soft, hard, expr, rungs, kp))
    return out


def lint(spans: list[Span], c: Any) -> None:
    """Each deadline is met by a task step of the workflow; its roles are the site's."""
    steps = c.wf.steps
    for span in spans:
        step = steps.get(span.until)
        if step is None:
            c.problem(span.keypath + ("until",), f"unknown step '{span.until}'{did_you_mean(span.until, steps)}; "
                                                 "a deadline is met when that step is completed")
        elif not step.is_task:
            c.problem(span.keypath + ("until",), f"step '{span.until}' is a {step.kind}: nobody completes it; name "
                                                 "the task step that meets the deadline")
        for i, rung in enumerate(span.rungs):
            for j, role in enumerate(rung.roles):
                c.role(span.keypath + ("actions", i, rung.action, j), role)


# --- running (through engine.core's Run) ------------------------------------------------------------------
def arm(run: Any) -> None:
    """Set the times of each deadline whose moment is now known (and not yet set)."""
    spans = run.state.setdefault("spans", {})
    for span in run.wf.deadlines:
        if span.id in spans:
            continue
        if span.origin is None:
            origin = datetime.fromisoformat(run.state["started_at"])
        else:
            try:
                origin = datetime.fromisoformat(run.moment(span.origin, f"時限「{span.title}」的起算時間"))
            except Invalid:
                continue  # (its moment is not known yet: armed once the field is filled)
        entry: dict = deadlines.due_times(run.wf.calendar, origin, span.due)
        entry["from"] = deadlines.iso(origin)
        entry["ladder"] = deadlines.ladder_times(run.wf.calendar, span.rungs, entry)
        entry["fired"] = []
        spans[span.id] = entry


def met(run: Any, step_id: str) -> None:
    """A step was completed: the deadlines it meets are met now (in time or late)."""
    if not any(s.until == step_id for s in run.wf.deadlines):
        return
    arm(run)
    for span in run.wf.deadlines:
        entry = run.state["spans"].get(span.id)
        if span.until != step_id or entry is None or entry.get("met_at"):
            continue
        entry["met_at"] = run.at
        run.emit("deadline_met", step_id, None, {"deadline": span.id, "title": span.title,
                                                 "due_at": entry["due_at"], "hard_at": entry.get("hard_at"),
                                                 "on_time": run.at <= entry["due_at"],
                                                 "in_hard": run.at <= entry.get("hard_at", entry["due_at"])})


def fire(run: Any) -> None:
    """Apply each action of an unmet deadline that is due (once)."""
    for span in run.wf.deadlines:
        entry = run.state.get("spans", {}).get(span.id)
        if entry is None or entry.get("met_at"):
            continue
        for index in deadlines.due_rungs(entry, run.at):
            rung = span.rungs[index]
            entry["fired"].append(index)
            what = f"{run.wf.title} {run.state['number'] or '#' + str(run.state['instance'])}「{span.title}」"
            if rung.anchor == "hard" and entry.get("hard_at", "") <= run.at:
                default = f"{what}已過最後期限（{run.local(entry['hard_at'])}）"
            elif entry["due_at"] <= run.at:
                default = f"{what}已逾期（應於 {run.local(entry['due_at'])} 前完成）"
            else:
                default = f"{what}將於 {run.local(entry['due_at'])} 到期"
            roles = list(rung.roles) or sorted({r for t in run.state["tasks"].values() for r in t["roles"]})
            run.emit("deadline_reminder" if rung.action == "remind" else "deadline_notice", span.until, None,
                     {"deadline": span.id, "rung": index, "message": rung.message or default,
                      "due_at": entry["due_at"], "notify": roles})


def wakes(state: dict) -> list[str]:
    """When the ticker must look at the instance for its deadlines."""
    if state.get("status") != "active":
        return []
    return [w for w in (deadlines.next_wake(e) for e in state.get("spans", {}).values() if not e.get("met_at")) if w]


def view(spans: list[Span], state: dict) -> list[dict]:
    """Each deadline as the instance page shows it: its times, and when it was met."""
    out = []
    for span in spans:
        entry = state.get("spans", {}).get(span.id, {})
        out.append({"id": span.id, "title": span.title, "until": span.until, "from": entry.get("from"),
                    "due_at": entry.get("due_at"), "hard_at": entry.get("hard_at"), "met_at": entry.get("met_at"),
                    "soft": span.soft.text, "hard": span.hard.text if span.hard else None})
    return out
