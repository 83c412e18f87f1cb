"""JSON views of workflows, instances and tasks: the contract outside clients drive."""

from __future__ import annotations

from . import spans, words
from .model import Registry, Workflow
from .money import fen_text
from .steps.routing import PERSON


def task_view(wf: Workflow, task_id: str, task: dict, data: dict | None = None) -> dict:
    """What a client needs to act on a task: fields and which are required, outcomes (with their titles, to
    label buttons), items to tick, the printout to issue."""
    step = wf.steps[task["step"]]
    roles = [r for r in task["roles"] if not r.startswith(PERSON)] or list(step.roles)
    view = {"id": task_id, "step": step.id, "title": step.title, "kind": step.kind, "kind_title": step.word,
            "form": wf.form.id, "roles": task["roles"], "role_titles": wf.role_titles(roles),
            "assignee": task.get("assignee"), "reassign": list(step.assign.reassign) if step.assign else [],
            "fields": list(step.fields), "required": sorted(step.required), "items": [], "due_at": task.get("due_at"),
            "hard_at": task.get("hard_at"), "opened_at": task["opened_at"], "paused": task.get("paused"),
            "holds": [{"state": k, "title": v} for k, v in step.holds.items()],
            "escalated": task.get("override", [])}
    view.update(step.task_view(task, data or {}, wf))
    return view


def instance_view(wf: Workflow, row: dict) -> dict:
    """An instance as JSON: status, data, open tasks, timers, sub-procedures and ledger balances."""
    state = row["state"]
    tokens = state.get("tokens", {})
    return {
        "id": row["id"],
        "workflow": wf.id,
        "title": wf.title,
        "version": state["version"],
        "number": state["number"],
        "status": state["status"],
        "status_title": words.status(state["status"]),
        "outcome": state["outcome"],
        "outcome_title": wf.outcome_title(state["outcome"]),
        "started_by": state["started_by"],
        "started_at": state["started_at"],
        "ended_at": state.get("ended_at"),
        "parent": row["parent_id"],
        "data": state["data"],
        "tasks": [task_view(wf, tid, task, state["data"]) for tid, task in state.get("tasks", {}).items()],
        "waiting": [{"step": t["step"], "title": wf.step_title(t["step"]), "until": t["until"],
                     "starts": bool(t.get("delayed"))} for t in tokens.values() if t.get("until")],
        "wake_at": state.get("wake_at"),
        "children": [{"step": t["step"], "instance": c} for t in tokens.values()
                     for c in ([t["child"]] if t.get("child") else t.get("children", []))],
        "balances": {lid: fen_text(state.get("balances", {}).get(lid, 0)) for lid in wf.ledgers},
        "approvals": state.get("approvals", []),
        "deadlines": spans.view(wf.deadlines, state),
        "resting": [wf.steps[t["step"]].view(wf.form) for t in tokens.values()
                    if t.get("resting") and t["step"] in wf.steps],
    }


def describe(wf: Workflow, registry: Registry) -> dict:
    """A workflow as JSON: roles, start, forms with their JSON Schemas, steps and printouts."""
    forms = {wf.form.id: wf.form}
    for step in wf.steps.values():
        child = registry.workflows.get(step.starts or "")
        if child is not None:
            forms[child.form.id] = child.form
    return {
        "id": wf.id,
        "title": wf.title,
        "area": wf.area,
        "description": wf.description,
        "version": wf.version,
        "roles": [{"id": r, "title": registry.site.roles.get(r, r)} for r in wf.roles],
        "start": {"roles": list(wf.start.roles), "form": wf.form.id, "fields": list(wf.start.fields),
                  "required": sorted(wf.start.required), "next": wf.start.next, "title": wf.start.title},
        "forms": {fid: {"title": f.title, "number": f.number, "schema": f.schema, "ui": f.ui,
                        "rules": [{"assert": r.check.text, "message": r.message, "field": r.field} for r in f.rules],
                        "computed": {name: e.text for name, e in f.computed.items()}}
                  for fid, f in forms.items()},
        "steps": [s.describe() for s in wf.steps.values()],
        "ledgers": {lid: {"title": lg.title, "floor": fen_text(lg.floor), "entries": lg.entries,
                          "entry_titles": {e: lg.entry_title(e) for e in lg.entries}}
                    for lid, lg in wf.ledgers.items()},
        "printouts": [dict(name=name, **spec) for name, spec in wf.form.printouts.items()],
        "schedules": [{"id": s.id, "title": s.title, "cron": s.cron, "data": s.data} for s in wf.schedules],
        "targets": [{"id": t.id, "title": t.title, "step": t.step, "target": t.target, "among": t.among,
                     "per": t.per} for t in wf.targets],
        "deadlines": [{"id": d.id, "title": d.title, "from": d.origin.text if d.origin else "started",
                       "until": d.until, "soft": d.soft.text, "hard": d.hard.text if d.hard else None,
                       "actions": [r.describe() for r in d.rungs]} for d in wf.deadlines],
    }
