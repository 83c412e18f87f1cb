"""Moving running instances to the current version of their workflow, for the Engine (a base class of it): which
instances of a workflow run on an older version, whether each can move and why not (engine/migrate.py decides), and
moving those that can, each in one transaction of its own with an audit event `instance_migrated` in its chain."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime

from . import migrate
from .core import Actor, iso
from .errors import GoldkeyError, Invalid
from .model import Registry, Workflow
from .steps import Step

_VERSION = re.compile(r"[0-9a-f]{4,16}")


class Migrations:
    """For the Engine (which provides `store`, `registry`, `clock`, the transactions, `_persist`, `workflow_at` and
    the admin check)."""

    registry: Registry
    store: object
    clock: Callable[[], datetime]

    def migration_plan(self, workflow_id: str, from_version: str | None = None, user: str | None = None) -> dict:
        """The active instances of the workflow on an older version than its current one (only those on
        `from_version`, or a version starting with it, when given), each with whether it can move to the current
        version and why not: {workflow, title, version, from, instances: [{instance, number, site, version, steps,
        movable, reasons, notes}], movable, blocked}. With `user`: for administrators only."""
        if user is not None:
            self.require_admin(user)
        wf = self.registry.workflow(workflow_id)
        wanted = _wanted(from_version)
        now = self.clock()
        items = [self._migration_item(self.store.instance_row(iid), wf, now)[0]
                 for iid, version in self.store.running_on_other_versions(wf.id, wf.version)
                 if version.startswith(wanted)]
        return _report(wf, from_version, items)

    def migration_plans(self, user: str) -> list[dict]:
        """The plan of each workflow with active instances on an older version (the admin page)."""
        self.require_admin(user)
        older = {w for w, version, _ in self.store.running_versions()
                 if w in self.registry.workflows and version != self.registry.workflows[w].version}
        return [self.migration_plan(w) for w in sorted(older)]

    def migrate(self, workflow_id: str, user: str, from_version: str | None = None) -> dict:
        """Move the instances of `migration_plan` that can move to the current version, each in one transaction
        (read again inside it: one that changed meanwhile is judged again), recording `instance_migrated` by `user`
        (an administrator) in its history. The plan, each instance with `moved`, and `moved`: how many."""
        self.require_admin(user)
        wf = self.registry.workflow(workflow_id)
        wanted = _wanted(from_version)
        now = self.clock()
        actor = Actor(user, frozenset())
        items = []
        for iid, version in self.store.running_on_other_versions(wf.id, wf.version):
            if not version.startswith(wanted):
                continue
            item = {"instance": iid, "number": None, "site": None, "version": version, "steps": [], "movable": False,
                    "reasons": [], "notes": []}
            try:
                with self._transaction():
                    row = self.store.instance_row(iid)  # (inside the write lock: nobody moves it meanwhile)
                    if row["status"] != "active" or row["version"] == wf.version:
                        continue  # ended or moved since the list was read
                    item, move, old, new = self._migration_item(row, wf, now)
                    if move is not None and move.movable:
                        self._move(row, move, old, new, actor, now)
                    item["moved"] = bool(move is not None and move.movable)
            except GoldkeyError as exc:  # (e.g. changed by someone else meanwhile: nothing of it was written)
                item = dict(item, movable=False, moved=False, reasons=[exc.message])
            items.append(item)
        report = _report(wf, from_version, items)
        report["moved"] = sum(1 for i in items if i["moved"])
        return report

    def _migration_item(self, row: dict, wf: Workflow, now: datetime) -> tuple[dict, migrate.Move | None,
                                                                               Workflow | None, Workflow]:
        """One instance's line of the plan, the move, and its old and new workflow (on the instance's site)."""
        item = {"instance": row["id"], "number": row["number"], "site": row["site"], "version": row["version"],
                "steps": [], "movable": False, "reasons": [], "notes": []}
        new = self._at_site(wf, row["site"])
        try:
            old = self.workflow_at(row["version"], row["site"])
        except (GoldkeyError, StopIteration):  # (a stored version that no longer loads)
            item["reasons"] = ["無法讀取案件原來的流程版本"]
            return item, None, None, new
        move = migrate.plan(old, new, row["state"], now, self._waiting_parent(row))
        item.update(steps=migrate.open_steps(old, row["state"]), movable=move.movable, reasons=move.reasons,
                    notes=move.notes)
        return item, move, old, new

    def _waiting_parent(self, row: dict) -> Step | None:
        """The step of the instance's parent that waits for it to end (None: no parent waits)."""
        if not row.get("parent_id"):
            return None
        parent = self.store.instance_row(row["parent_id"])
        if parent["status"] != "active":
            return None
        pwf = self.workflow_at(parent["version"], parent["site"])
        for token in parent["state"].get("tokens", {}).values():
            if token.get("child") == row["id"]:
                return pwf.steps.get(token.get("step", ""))
        return None

    def _move(self, row: dict, move: migrate.Move, old: Workflow, new: Workflow, actor: Actor, now: datetime) -> None:
        """Write one move inside the open transaction: the state and its audit event (revision-checked), the version
        it runs on, its open tasks' roles."""
        self.store.save_version(new.version, new.id, new.files, iso(now))
        written = self._persist(new, row, migrate.result(move, old, new, now, actor.user), actor, now)
        self.store.repin(row["id"], new.version, move.roles)
        written["version"] = new.version  # (the row as cached once the transaction commits)


def _wanted(from_version: str | None) -> str:
    """`--from`: a version as `goldkey workflows` prints it, or its first 4 characters or more ('' for any)."""
    if not from_version:
        return ""
    text = from_version.lower()
    if not _VERSION.fullmatch(text):
        raise Invalid(f"版本「{from_version[:40]}」格式不正確：請寫 goldkey workflows 或 goldkey show 列出的版本"
                      "（16 個字元，或其前 4 個以上）", [{"field": "from", "message": "版本格式不正確"}])
    return text


def _report(wf: Workflow, from_version: str | None, items: list[dict]) -> dict:
    movable = sum(1 for i in items if i["movable"])
    return {"workflow": wf.id, "title": wf.title, "version": wf.version, "from": from_version or None,
            "instances": items, "movable": movable, "blocked": len(items) - movable}
