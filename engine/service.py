"""The engine's API: definitions + pure core + store. The CLI and the server call only this."""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

from . import core, definitions
from .core import Actor, Result, iso
from .definitions import Registry, Workflow
from .errors import Conflict, GoldkeyError, Invalid, NotFound
from .inputs import check_input
from .jsontext import loads
from .store import GENESIS, Store
from .views import describe, instance_view, task_view

ACTOR_TTL = 1.0  # seconds


def utcnow() -> datetime:
    return datetime.now(UTC)


class Engine:
    """Runs workflows from a definitions folder on one SQLite database.

    One Engine per thread: it owns one SQLite connection and a cache of the rows it wrote. Engines in
    other threads or processes on the same file are safe: the revision check decides between them."""

    def __init__(self, db_path: str | Path, defs: str | Path | Registry = ".", synchronous: str = "FULL",
                 clock: Callable[[], datetime] = utcnow, cache_size: int = 4096) -> None:
        self.registry = defs if isinstance(defs, Registry) else definitions.load_strict(defs)
        self.store = Store(db_path, synchronous)
        self.clock = clock
        self._versions: dict[str, Workflow] = {wf.version: wf for wf in self.registry.workflows.values()}
        self._saved: set[str] = set()
        self._cache = _Cache(cache_size)  # 0: read every instance afresh, as a stateless server would
        self._written: dict[int, dict] = {}  # rows written in the open transaction
        self._actors: dict[tuple[str, str], Actor] = {}
        self._actors_read = 0.0

    @contextmanager
    def _transaction(self) -> Iterator[None]:
        """One write transaction; the rows it wrote enter the cache only once it has committed."""
        self._written = {}
        try:
            with self.store.write():
                yield
        except BaseException:
            for iid in self._written:
                self._cache.pop(iid)
            self._written = {}
            raise
        for iid, row in self._written.items():
            self._cache.put(iid, row)
        self._written = {}

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
        """The user's roles and deputyships today. Read at most every ACTOR_TTL seconds (a change made by
        another process takes effect within that time; one made through this engine at once)."""
        day = now.astimezone(self.registry.site.tz).date().isoformat()
        moment = time.monotonic()
        if moment - self._actors_read > ACTOR_TTL:
            self._actors.clear()
            self._actors_read = moment
        actor = self._actors.get((user, day))
        if actor is None:
            actor = self._actors[(user, day)] = self._load_actor(user, day)
        return actor

    def _load_actor(self, user: str, day: str) -> Actor:
        exists, pairs = self.store.actor_roles(user, day)
        if not exists:
            raise NotFound(f"沒有使用者「{user}」；請先用 goldkey users add 建立")
        own = frozenset(r for r, p in pairs if p is None)
        deputy_for: dict[str, set[str]] = {}
        for role, principal in pairs:
            if principal is not None:
                deputy_for.setdefault(principal, set()).add(role)
        return Actor(user, own, tuple((p, frozenset(r)) for p, r in sorted(deputy_for.items())))

    # --- commands -----------------------------------------------------------------------------------
    def start(self, workflow_id: str, user: str, data: dict | None = None) -> dict:
        """Start an instance of the current version of a workflow as `user`."""
        wf = self.registry.workflow(workflow_id)
        check_input(data or {})
        now = self.clock()
        actor = self.actor(user, now)
        with self._transaction():
            row = self._start(wf, actor, data or {}, now, None)
        return instance_view(wf, row)

    def complete(self, task_id: str, user: str, outcome: str | None = None, data: dict | None = None,
                 comment: str | None = None) -> dict:
        """Act on a task; raises NotFound, Forbidden, Invalid or Conflict and then writes nothing."""
        iid = _instance_id(str(task_id).split("-", 1)[0]) if "-" in str(task_id) else None
        if iid is None:
            raise NotFound(f"沒有任務 {task_id}（任務編號形如 12-3）")
        check_input(data or {})
        if comment is not None:
            check_input(comment, "comment")
        now = self.clock()
        actor = self.actor(user, now)
        row = self._cache.get(iid)
        try:
            return self._complete(row or self.store.instance_row(iid), task_id, actor, outcome, data, comment, now)
        except GoldkeyError:
            if row is None:
                raise
            # the cached state may be stale (another process moved the instance): read it and try once more
            self._cache.pop(iid, None)
            return self._complete(self.store.instance_row(iid), task_id, actor, outcome, data, comment, now)

    def _complete(self, row: dict, task_id: str, actor: Actor, outcome, data, comment, now) -> dict:
        if task_id not in row["state"].get("tasks", {}) and self.store.task_status(task_id) is None:
            raise NotFound(f"沒有任務 {task_id}")
        wf = self.workflow_at(row["version"])
        result = core.complete(wf, row["state"], task_id, actor, outcome, data, comment, now, owned=True)
        with self._transaction():
            new = self._persist(wf, row, result, actor, now)
        return instance_view(wf, new)

    def tick(self, now: datetime | None = None) -> dict:
        """Fire every `wait` that is due; safe to run often and from several processes."""
        now = now or self.clock()
        fired = 0
        rows = self.store.conn.execute("SELECT id FROM instances WHERE status='active' AND wake_at<=?",
                                       (iso(now),)).fetchall()
        for (iid,) in rows:
            try:
                with self._transaction():
                    row = self.store.instance_row(iid)
                    wf = self.workflow_at(row["version"])
                    result = core.fire_timers(wf, row["state"], now)
                    if result.events:
                        self._persist(wf, row, result, None, now)
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
        self._actors.clear()
        return {"name": name, "roles": sorted(self.store.user_roles(name))}

    def set_roles(self, name: str, roles: list[str]) -> dict:
        """Give a user exactly these roles (creating the user if needed)."""
        unknown = [r for r in roles if r not in self.registry.site.roles]
        if unknown:
            raise Invalid(f"沒有角色：{'、'.join(unknown)}")
        self.store.set_roles(name, roles, iso(self.clock()))
        self._actors.clear()
        return {"name": name, "roles": sorted(roles)}

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
        self._actors.clear()
        return {"user": user, "deputy": deputy, "from": first.isoformat(), "until": last.isoformat()}

    # --- the write path (always inside store.write()) -----------------------------------------------
    def _start(self, wf: Workflow, actor: Actor, data: dict, now: datetime, parent: int | None,
               as_child: bool = False) -> dict:
        store = self.store
        if wf.version not in self._saved:
            store.save_version(wf.version, wf.id, wf.files, iso(now))
            self._saved.add(wf.version)
        iid = store.next_instance_id()
        number = None
        if wf.form.number:
            year = now.astimezone(self.registry.site.tz).year
            number = wf.form.number.format(year=year, seq=store.next_number(wf.form.id, year))
        result = core.start(wf, iid, number, actor, data, now, as_child=as_child)
        row = {"id": iid, "version": wf.version, "parent_id": parent, "revision": 0, "status": "active",
               "outcome": None, "number": None, "wake_at": None, "ended_at": None, "events": 0,
               "head": GENESIS, "state": {}, "state_text": "{}"}
        return self._persist(wf, row, result, actor, now)

    def _persist(self, wf: Workflow, row: dict, result: Result, actor: Actor | None, now: datetime) -> dict:
        """Run the result's effects, commit the state (revision-checked) with its events, tell a parent
        whose child ended; returns the new row. Inside `store.write()`: all of it or nothing."""
        iid = row["id"]
        state, events = result.state, list(result.events)
        for effect in result.effects:
            if effect["type"] == "start_child":
                child_wf = self.registry.workflow(effect["workflow"])
                child = self._start(child_wf, actor or Actor("system", frozenset()), effect["data"], now, iid,
                                    as_child=True)
                state = core.link_child(state, effect["token"], child["id"])
                events.append({"type": "child_started", "step": state["tokens"][effect["token"]]["step"],
                               "task": None, "payload": {"child": child["id"], "workflow": child_wf.id}})
                if child["status"] != "active":  # the child ended at once
                    done = core.child_done(wf, state, child["id"], child["outcome"], now)
                    state, events = done.state, events + done.events
            elif effect["type"] == "cancel_child":
                child = self.store.instance_row(effect["child"])
                child_wf = self.workflow_at(child["version"])
                self._persist(child_wf, dict(child, parent_id=None),
                              core.cancel(child_wf, child["state"], now, "parent ended"), None, now)
        acting_for = next((e["payload"]["acting_for"] for e in events if e["payload"].get("acting_for")), None)
        new = self.store.commit_step(row, state, events, actor.user if actor else None, acting_for, wf.id,
                                     iso(now))
        self._written[iid] = new
        if row["parent_id"] and new["status"] != "active" and row["revision"]:  # (a child ending as it
            # starts is handled by its parent, whose row is written after this one)
            parent = self.store.instance_row(row["parent_id"])
            if parent["status"] == "active":
                pwf = self.workflow_at(parent["version"])
                done = core.child_done(pwf, parent["state"], iid, new["outcome"], now)
                self._persist(pwf, parent, done, actor, now)
        return new


class _Cache:
    """The instance rows this engine wrote last, so the next step on them needs no read; bounded.

    A row that another process has changed since fails the revision check on write, and the caller
    then reads the instance afresh."""

    def __init__(self, size: int = 4096) -> None:
        self.size = size
        self.rows: OrderedDict[int, dict] = OrderedDict()

    def get(self, iid: int) -> dict | None:
        """A private copy: the state is read again from its JSON text, so nobody shares it."""
        row = self.rows.get(iid)
        return None if row is None else dict(row, state=loads(row["state_text"]))

    def put(self, iid: int, row: dict) -> None:
        self.rows[iid] = dict(row, state=None)
        self.rows.move_to_end(iid)
        if len(self.rows) > self.size:
            self.rows.popitem(last=False)

    def pop(self, iid: int, default=None):
        return self.rows.pop(iid, default)


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
