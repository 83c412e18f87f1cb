"""JSON views of workflows, instances and tasks: the contract outside clients drive."""

from __future__ import annotations

from .core import required_items
from .definitions import Registry, Step, Workflow
from .money import fen_text


def task_view(wf: Workflow, task_id: str, task: dict, data: dict | None = None) -> dict:
    """What a client needs to act on a task: fields and which are required, outcomes, items."""
    step = wf.steps[task["step"]]
    view = {"id": task_id, "step": step.id, "title": step.title, "kind": step.kind, "form": wf.form.id,
            "roles": task["roles"], "fields": list(step.fields), "required": sorted(step.required),
            "outcomes": list(step.outcomes), "items": [], "due_at": task.get("due_at"),
            "hard_at": task.get("hard_at"), "opened_at": task["opened_at"], "paused": task.get("paused"),
            "holds": [{"state": k, "title": v} for k, v in step.holds.items()],
            "escalated": task.get("override", [])}
    if step.kind == "checklist":
        checked = task.get("checked", {})
        needed = set(required_items(step, wf.form.scope(data or {})))
        view["items"] = [{"id": item["id"], "title": item["title"], "optional": bool(item.get("optional")),
                          "required": item["id"] in needed, "checked": checked.get(item["id"])}
                         for item in step.items]
    if step.kind == "approval":
        view["signatures"] = task.get("signatures", [])
        view["approvals"] = step.approvals
        view["comment_required"] = sorted(step.comment_required & set(step.outcomes))
    if step.kind == "print":
        view["printout"] = step.printout
        view["copies"] = step.copies
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
        "outcome": state["outcome"],
        "started_by": state["started_by"],
        "started_at": state["started_at"],
        "ended_at": state.get("ended_at"),
        "parent": row["parent_id"],
        "data": state["data"],
        "tasks": [task_view(wf, tid, task, state["data"]) for tid, task in state.get("tasks", {}).items()],
        "waiting": [{"step": t["step"], "until": t["until"], "starts": bool(t.get("delayed"))}
                    for t in tokens.values() if t.get("until")],
        "wake_at": state.get("wake_at"),
        "children": [{"step": t["step"], "instance": t["child"]} for t in tokens.values() if t.get("child")],
        "balances": {lid: fen_text(state.get("balances", {}).get(lid, 0)) for lid in wf.ledgers},
        "approvals": state.get("approvals", []),
    }


def _step(step: Step) -> dict:
    out: dict = {"id": step.id, "kind": step.kind, "title": step.title, "roles": list(step.roles)}
    if step.fields:
        out["fields"] = list(step.fields)
        out["required"] = sorted(step.required)
    if step.next:
        out["next"] = step.next
    if step.outcomes:
        out["outcomes"] = dict(step.outcomes)
    if step.kind == "decision":
        out["branches"] = [{"when": e.text, "to": to} for e, to in step.branches]
        out["default"] = step.default
    if step.kind == "parallel":
        out["branches"] = list(step.split)
        out["join"] = step.join
    if step.kind == "approval":
        out.update(approvals=step.approvals, order=step.order, required_roles=list(step.required_roles),
                   allow_self=step.allow_self, comment_required=sorted(step.comment_required))
    if step.items:
        out["items"] = [dict(i, optional=bool(i.get("optional"))) for i in step.items]
        if step.fields:
            out["fields"] = list(step.fields)
    if step.printout:
        out.update(printout=step.printout, copies=step.copies)
    if step.duration:
        out["duration"] = step.duration.text
    if step.due:
        out["due"] = {"soft": step.due.soft.text, "hard": step.due.hard.text if step.due.hard else None,
                      "from": step.due.origin or "opened"}
    if step.ladder:
        out["deadlines"] = [rung.describe() for rung in step.ladder]
    if step.holds:
        out["holds"] = dict(step.holds)
    if step.kind == "subprocess":
        out.update(wait=step.wait, after=step.after.text if step.after else None)
    if step.workflow:
        out["workflow"] = step.workflow
    if step.kind == "end":
        out.update(outcome=step.outcome, status=step.status)
    if step.posts:
        out["post"] = [{"ledger": p.ledger, "entry": p.entry, "amount": p.amount.text,
                        "when": p.when.text if p.when else None} for p in step.posts]
    return out


def describe(wf: Workflow, registry: Registry) -> dict:
    """A workflow as JSON: roles, start, forms with their JSON Schemas, steps and printouts."""
    forms = {wf.form.id: wf.form}
    for step in wf.steps.values():
        if step.workflow and step.workflow in registry.workflows:
            child = registry.workflows[step.workflow].form
            forms[child.id] = child
    return {
        "id": wf.id,
        "title": wf.title,
        "area": wf.area,
        "description": wf.description,
        "version": wf.version,
        "roles": [{"id": r, "title": registry.site.roles.get(r, r)} for r in wf.roles],
        "start": {"roles": list(wf.start.roles), "form": wf.form.id, "fields": list(wf.start.fields),
                  "required": sorted(wf.start.required), "next": wf.start.next},
        "forms": {fid: {"title": f.title, "number": f.number, "schema": f.schema, "ui": f.ui,
                        "rules": [{"assert": r.check.text, "message": r.message, "field": r.field} for r in f.rules]}
                  for fid, f in forms.items()},
        "steps": [_step(s) for s in wf.steps.values()],
        "ledgers": {lid: {"title": lg.title, "floor": fen_text(lg.floor), "entries": lg.entries}
                    for lid, lg in wf.ledgers.items()},
        "printouts": [dict(name=name, **spec) for name, spec in wf.form.printouts.items()],
        "schedules": [{"id": s.id, "title": s.title, "cron": s.cron, "data": s.data} for s in wf.schedules],
        "targets": [{"id": t.id, "title": t.title, "step": t.step, "target": t.target, "among": t.among,
                     "per": t.per} for t in wf.targets],
    }
