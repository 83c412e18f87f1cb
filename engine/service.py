"""The engine's API: definitions + pure core + store. The CLI and the server call only this."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from . import core, definitions
from .core import Actor, Result, iso
from .definitions import Registry, Workflow
from .errors import Conflict, Invalid, NotFound
from .store import Store
from .views import describe, instance_view, task_view


def utcnow() -> datetime:
    return datetime.now(UTC)


class Engine:
    """Runs workflows from a definitions folder on one SQLite database."""

    def __init__(self, db_path: str | Path, defs: str | Path | Registry = ".", synchronous: str = "FULL",
                 clock: Callable[[], datetime] = utcnow) -> None:
        self.registry = defs if isinstance(defs, Registry) else definitions.load_strict(defs)
        self.store = Store(db_path, synchronous)
        self.clock = clock
        self._versions: dict[str, Workflow] = {wf.version: wf for wf in self.registry.workflows.values()}
        self._saved: set[str] = set()

    def close(self) -> None:
        self.store.close()

    # --- queries ------------------------------------------------------------------------------------
    def workflows(self) -> list[dict]:
        return [{"id": wf.id, "title": wf.title, "area": wf.area, "version": wf.version}
                for wf in sorted(self.registry.workflows.values(), key=lambda w: w.id)]

    def describe(self, workflow_id: str) -> dict:
        wf = self.registry.workflow(workflow_id)
        return describe(wf, self.registry)

    def show(self, instance_id: int | str) -> dict:
        row = self.store.instance_row(_instance_id(instance_id))
        wf = self.workflow_at(row["version"])
        view = instance_view(wf, row)
        view["ledger"] = self.store.ledger_entries(row["id"])
        view["history"] = self.store.events(row["id"])
        return view

    def tasks(self, user: str) -> list[dict]:
        """Open tasks `user` may act on (own roles and deputised ones), overdue and soonest due first."""
        now = self.clock()
        actor = self.actor(user, now)
        roles = sorted(actor.roles | {r for _, rs in actor.deputy_for for r in rs})
        out = []
        states: dict[int, dict] = {}
        for row in self.store.open_tasks_for_roles(roles):
            if row["instance_id"] not in states:
                states[row["instance_id"]] = self.store.instance_row(row["instance_id"])
            inst = states[row["instance_id"]]
            wf = self.workflow_at(inst["version"])
            task = inst["state"]["tasks"].get(row["id"])
            if task is None or not _may_act(wf, inst["state"], task, actor):
                continue
            view = task_view(wf, row["id"], task, inst["state"]["data"])
            view.update(instance=row["instance_id"], workflow=wf.id, workflow_title=wf.title,
                        number=inst["number"], overdue=bool(task.get("due_at") and task["due_at"] < iso(now)))
            out.append(view)
        out.sort(key=lambda t: (not t["overdue"], t.get("due_at") or "9999", t["opened_at"], t["id"]))
        return out

    def workflow_at(self, version: str) -> Workflow:
        """The workflow definition of a stored version (the current one, or rebuilt from stored YAML)."""
        wf = self._versions.get(version)
        if wf is None:
            files = self.store.version_files(version)
            old = definitions.load_texts(files, lint_graph=False)
            wf = next(iter(old.workflows.values()))
            wf.version = version
            self._versions[version] = wf
        return wf

    def actor(self, user: str, now: datetime) -> Actor:
        roles = self.store.user_roles(user)
        if not roles and not self.store.user_exists(user):
            raise NotFound(f"沒有使用者「{user}」；請先用 goldkey users add 建立")
        day = now.astimezone(self.registry.site.tz).date().isoformat()
        deputy_for = tuple((u, self.store.user_roles(u)) for u in self.store.delegations_to(user, day))
        return Actor(user, roles, deputy_for)

    # --- commands -----------------------------------------------------------------------------------
    def start(self, workflow_id: str, user: str, data: dict | None = None) -> dict:
        """Start an instance of the current version of a workflow as `user`."""
        wf = self.registry.workflow(workflow_id)
        now = self.clock()
        actor = self.actor(user, now)
        with self.store.write():
            iid, state = self._start(wf, actor, data or {}, now, None)
        return instance_view(wf, {"id": iid, "state": state, "parent_id": None})

    def complete(self, task_id: str, user: str, outcome: str | None = None, data: dict | None = None,
                 comment: str | None = None) -> dict:
        """Act on a task; raises NotFound, Forbidden, Invalid or Conflict and then writes nothing."""
        iid = _instance_id(str(task_id).split("-", 1)[0]) if "-" in str(task_id) else None
        if iid is None:
            raise NotFound(f"沒有任務 {task_id}（任務編號形如 12-3）")
        row = self.store.instance_row(iid)
        if task_id not in row["state"].get("tasks", {}) and self.store.task_status(task_id) is None:
            raise NotFound(f"沒有任務 {task_id}")
        wf = self.workflow_at(row["version"])
        now = self.clock()
        actor = self.actor(user, now)
        result = core.complete(wf, row["state"], task_id, actor, outcome, data, comment, now)
        with self.store.write():
            state = self._persist(iid, wf, row["revision"], row["parent_id"], result, actor, now)
        return instance_view(wf, {"id": iid, "state": state, "parent_id": row["parent_id"]})

    def tick(self, now: datetime | None = None) -> dict:
        """Fire every `wait` that is due; safe to run often and from several processes."""
        now = now or self.clock()
        fired = 0
        rows = self.store.conn.execute("SELECT id FROM instances WHERE status='active' AND wake_at<=?",
                                       (iso(now),)).fetchall()
        for (iid,) in rows:
            try:
                with self.store.write():
                    row = self.store.instance_row(iid)
                    wf = self.workflow_at(row["version"])
                    result = core.fire_timers(wf, row["state"], now)
                    if result.events:
                        self._persist(iid, wf, row["revision"], row["parent_id"], result, None, now)
                        fired += sum(1 for e in result.events if e["type"] == "timer_fired")
            except Conflict:
                continue  # another ticker got there first
        return {"now": iso(now), "timers_fired": fired}

    # --- users --------------------------------------------------------------------------------------
    def add_user(self, name: str, roles: list[str], title: str | None = None) -> dict:
        unknown = [r for r in roles if r not in self.registry.site.roles]
        if unknown:
            known = "、".join(f"{k}（{v}）" for k, v in self.registry.site.roles.items())
            raise Invalid(f"沒有角色：{'、'.join(unknown)}；可用角色：{known}")
        if not name or not name.strip():
            raise Invalid("使用者名稱不可為空")
        self.store.add_user(name, roles, iso(self.clock()), title)
        return {"name": name, "roles": sorted(self.store.user_roles(name))}

    def delegate(self, user: str, deputy: str, starts: str, ends: str) -> dict:
        for who in (user, deputy):
            if not self.store.user_exists(who):
                raise NotFound(f"沒有使用者「{who}」")
        if user == deputy:
            raise Invalid("不能指定自己為代理人")
        try:
            first, last = (datetime.strptime(d, "%Y-%m-%d").date() for d in (starts, ends))
        except ValueError:
            raise Invalid("日期格式應為 YYYY-MM-DD，例如 2026-12-01") from None
        if last < first:
            raise Invalid("代理結束日期不可早於開始日期")
        self.store.add_delegation(user, deputy, first.isoformat(), last.isoformat(), iso(self.clock()))
        return {"user": user, "deputy": deputy, "from": first.isoformat(), "until": last.isoformat()}

    # --- the write path (always inside store.write()) -----------------------------------------------
    def _start(self, wf: Workflow, actor: Actor, data: dict, now: datetime, parent: int | None,
               as_child: bool = False) -> tuple[int, dict]:
        store = self.store
        if wf.version not in self._saved:
            store.save_version(wf.version, wf.id, wf.files, iso(now))
            self._saved.add(wf.version)
        iid = store.new_instance_id(wf.id, wf.version, actor.user, iso(now), parent)
        number = None
        if wf.form.number:
            year = now.astimezone(self.registry.site.tz).year
            number = wf.form.number.format(year=year, seq=store.next_number(wf.form.id, year))
        result = core.start(wf, iid, number, actor, data, now, as_child=as_child)
        return iid, self._persist(iid, wf, 0, parent, result, actor, now)

    def _persist(self, iid: int, wf: Workflow, revision: int, parent_id: int | None, result: Result,
                 actor: Actor | None, now: datetime) -> dict:
        """Run the result's effects, save the state (revision-checked), append its events; tell the parent."""
        state, events = result.state, list(result.events)
        for effect in result.effects:
            if effect["type"] == "start_child":
                child_wf = self.registry.workflow(effect["workflow"])
                child_id, child_state = self._start(child_wf, actor or Actor("system", frozenset()),
                                                    effect["data"], now, iid, as_child=True)
                state = core.link_child(state, effect["token"], child_id)
                events.append({"type": "child_started", "step": state["tokens"][effect["token"]]["step"],
                               "task": None, "payload": {"child": child_id, "workflow": child_wf.id}})
                if child_state["status"] != "active":  # the child ended at once
                    done = core.child_done(wf, state, child_id, child_state["outcome"], now)
                    state, events = done.state, events + done.events
            elif effect["type"] == "cancel_child":
                child = self.store.instance_row(effect["child"])
                child_wf = self.workflow_at(child["version"])
                cancelled = core.cancel(child_wf, child["state"], now, "parent ended")
                self._persist(child["id"], child_wf, child["revision"], None, cancelled, None, now)
        self.store.save_state(iid, revision, state, iso(now))
        acting_for = next((e["payload"].get("acting_for") for e in events if e["payload"].get("acting_for")), None)
        self.store.append_events(iid, wf.id, events, actor.user if actor else None, acting_for, iso(now))
        if parent_id and state["status"] != "active":
            parent = self.store.instance_row(parent_id)
            if parent["status"] == "active":
                pwf = self.workflow_at(parent["version"])
                done = core.child_done(pwf, parent["state"], iid, state["outcome"], now)
                self._persist(parent_id, pwf, parent["revision"], parent["parent_id"], done, actor, now)
        return state


def _instance_id(value: int | str) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        raise NotFound(f"沒有案件 {value}（案件編號是數字）") from None


def _may_act(wf: Workflow, state: dict, task: dict, actor: Actor) -> bool:
    """Would the actor pass the role, self-approval and one-signature-per-person checks?"""
    resolved = actor.resolve(task["roles"])
    if resolved is None:
        return False
    step = wf.steps[task["step"]]
    return step.kind != "approval" or core.approval_refusal(step, state, task, resolved[1], actor.user) is None
