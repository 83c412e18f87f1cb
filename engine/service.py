"""The engine's API: definitions + pure core + store. The CLI and the server call only this."""

from __future__ import annotations

import dataclasses
import logging
import re
import secrets
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from datetime import time as dt_time
from pathlib import Path

from . import access, attachments, core, definitions, registers, signatures, sites, sla, verification
from .core import Actor, Result, iso
from .errors import Conflict, Forbidden, GoldkeyError, Invalid, NotFound
from .hints import did_you_mean
from .inputs import check_input
from .jsontext import dumps, loads
from .links import Links
from .migrateservice import Migrations
from .model import Registry, Workflow
from .people import People
from .privacy import Privacy
from .recordservice import Records
from .rehearsal import Rehearsals, marked
from .reportservice import Reports
from .store import COMPANY, DEFAULT_SITE, GENESIS, open_store
from .views import describe, instance_view, task_view
from .workcalendar import BusinessCalendar

log = logging.getLogger("goldkey.engine")
MAX_CATCH_UP = 1000  # runs of one schedule started per tick; the rest follow on the next tick
_TICK_EVENTS = {"timer_fired": "timer_fired", "start_reached": "timer_fired", "deadline_reminder": "reminded",
                "deadline_notice": "notified", "task_escalated": "escalated", "task_reassigned": "reassigned",
                "task_expired": "expired"}


def utcnow() -> datetime:
    return datetime.now(UTC)


class Engine(People, Records, Reports, Privacy, Migrations, Rehearsals, Links):
    """Runs workflows from a definitions folder on one database (an SQLite file or PostgreSQL).

    One Engine per thread: it owns one database connection and a cache of the rows it wrote. Engines in
    other threads or processes on the same file are safe: the revision check decides between them."""

    def __init__(self, db_path: str | Path, defs: str | Path | Registry = ".", synchronous: str = "FULL",
                 clock: Callable[[], datetime] = utcnow, cache_size: int = 4096) -> None:
        self.registry = defs if isinstance(defs, Registry) else definitions.load_strict(defs)
        self.store = open_store(db_path, synchronous)
        self.clock = clock
        self._versions: dict[str, Workflow] = {wf.version: wf for wf in self.registry.workflows.values()}
        self._saved: set[str] = set()
        self._cache = _Cache(cache_size)  # 0: read every instance afresh, as a stateless server would
        self._written: dict[int, dict] = {}  # rows written in the open transaction
        self._actors: dict[tuple, object] = {}  # (people.py: actors and grants, for ACTOR_TTL)
        self._actors_read = 0.0
        self._local: dict[tuple[str, str], Workflow] = {}  # (version, site) -> the workflow on the site's calendar
        self._calendars: dict[tuple, BusinessCalendar] = {}
        self._site_cache: tuple[float, dict[str, dict]] | None = None
        self.follow_every = 1.0  # seconds between looks at whether another server reloaded the definitions
        self._followed = time.monotonic()
        self._reload_seen = self.store.setting("definitions_reloaded")

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

    @contextmanager
    def _savepoint(self) -> Iterator[None]:
        """Part of the open transaction that may fail alone; rows it wrote leave the cache with it."""
        before = dict(self._written)
        try:
            with self.store.savepoint():
                yield
        except BaseException:
            for iid in set(self._written) - set(before):
                self._cache.pop(iid)
            self._written = before
            raise

    def close(self) -> None:
        self.store.close()

    def reload(self, announce: bool = True) -> dict:
        """Read the definitions folder again. When it passes the checks (templates included) the new versions
        serve from now on (running instances keep their own); otherwise nothing changes and the problems are
        returned. `announce`: tell the other servers on this database (they follow within a second)."""
        fresh = definitions.load(self.registry.root, templates=True)
        problems = [str(p) for p in fresh.problems]
        if problems:
            return {"ok": False, "problems": problems, "warnings": [str(w) for w in fresh.warnings]}
        changed = sorted(wid for wid, wf in fresh.workflows.items()
                         if wid not in self.registry.workflows or self.registry.workflows[wid].version != wf.version)
        self.registry = fresh
        self._versions.update({wf.version: wf for wf in fresh.workflows.values()})
        if announce:
            self._reload_seen = f"{iso(self.clock())} {secrets.token_hex(4)}"
            self.store.set_setting("definitions_reloaded", self._reload_seen)
        return {"ok": True, "problems": [], "warnings": [str(w) for w in fresh.warnings], "changed": changed}

    def follow_reloads(self) -> bool:
        """Load the definitions folder again if another server on this database reloaded it since (each server
        reads the same folder: shared, or deployed alike); looked at most every `follow_every` seconds."""
        moment = time.monotonic()
        if moment - self._followed < self.follow_every:
            return False
        self._followed = moment
        stamp = self.store.setting("definitions_reloaded")
        if stamp == self._reload_seen:
            return False
        self._reload_seen = stamp
        result = self.reload(announce=False)
        if not result["ok"]:
            log.warning("definitions reloaded elsewhere do not load here: %s", result["problems"])
        return result["ok"]

    def check_definitions(self) -> dict:
        """The definitions folder as it is on disk now (what a reload would load): problems and warnings."""
        fresh = definitions.load(self.registry.root, templates=True)
        return {"problems": [str(p) for p in fresh.problems], "warnings": [str(w) for w in fresh.warnings]}

    # --- queries ------------------------------------------------------------------------------------
    def workflows(self) -> list[dict]:
        return [{"id": wf.id, "title": wf.title, "area": wf.area, "version": wf.version}
                for wf in sorted(self.registry.workflows.values(), key=lambda w: w.id)]

    def describe(self, workflow_id: str) -> dict:
        wf = self.registry.workflow(workflow_id)
        return describe(wf, self.registry)

    def show(self, instance_id: int | str, user: str | None = None, via: str = "page") -> dict:
        """An instance with its ledger entries and history. With `user`: as that user may see it (Forbidden
        unless they started it or hold a role of its workflow; confidential fields masked, and a read of those
        they may see logged, `via` how)."""
        row = self.store.instance_row(_instance_id(instance_id))
        wf = self.workflow_at(row["version"], row["site"])
        view = instance_view(wf, row)
        view["ledger"] = self.store.ledger_entries(row["id"])
        view["history"] = self.store.events(row["id"])
        view["site"] = row["site"]
        view["links"] = self.links(view, wf, user)
        if user is None:
            return view
        actor = self.actor(user, self.clock(), row["site"])
        if not access.may_view(actor, wf, view["started_by"]):
            raise Forbidden(f"使用者「{user}」不能查看案件 {view['id']}")
        hidden = access.hidden_fields(actor, wf, row["state"])
        self.log_reads(user, [("instance", row["id"], view["number"],
                               _read(wf, row["state"], hidden))], via)
        return dict(access.masked(view, hidden), hidden=sorted(hidden))

    def tasks(self, user: str) -> list[dict]:
        """Open tasks `user` may act on (own roles and deputised ones), overdue and soonest due first; each
        with a `summary` of its instance (the first text fields the starter filled that the user may see)."""
        now = self.clock()
        roles = sorted(self.roles_of(user) | self.persons(user, now))
        out = []
        states: dict[int, dict] = {}
        for row in self.store.open_tasks_for_roles(roles, self.visible_sites(user, now)):
            actor = self.actor(user, now, row["site"])
            if row["instance_id"] not in states:
                states[row["instance_id"]] = self.store.instance_row(row["instance_id"])
            inst = states[row["instance_id"]]
            wf = self.workflow_at(inst["version"], inst["site"])
            task = inst["state"]["tasks"].get(row["id"])
            if task is None or not core.may_act(wf, inst["state"], task, actor):
                continue
            view = task_view(wf, row["id"], task, inst["state"]["data"])
            view.update(instance=row["instance_id"], workflow=wf.id, workflow_title=wf.title,
                        number=inst["number"], overdue=bool(task.get("due_at") and task["due_at"] < iso(now)),
                        summary=_summary(wf, inst["state"]["data"], access.hidden_fields(actor, wf, inst["state"])))
            out.append(view)
        out.sort(key=lambda t: (not t["overdue"], t.get("due_at") or "9999", t["opened_at"], t["id"]))
        return out

    # --- registers ----------------------------------------------------------------------------------------
    def register(self, form_id: str, user: str, search: str = "", status: str = "", first: date | None = None,
                 last: date | None = None, unit: str = "", sort: str = "-started", page: int = 1,
                 per_page: int = registers.PER_PAGE, via: str = "register", state: str = "") -> dict:
        """A form's records (its register, 臺帳) as `user` may see them: {form, workflows, hidden, rows, total};
        confidential fields masked for roles the form does not name."""
        form = self.registry.forms.get(form_id)
        if form is None:
            raise NotFound(f"沒有表單「{form_id}」")
        wfs = sorted((wf for wf in self.registry.workflows.values() if wf.form.id == form_id), key=lambda w: w.id)
        now = self.clock()
        visible = self.visible_sites(user, now)
        actors = {s: self.actor(user, now, s) for s in (visible if visible is not None else [COMPANY])}
        actors = {s: a for s, a in actors.items() if any(access.may_view(a, wf) for wf in wfs)}
        if not actors:
            raise Forbidden(f"使用者「{user}」不能查看「{form.title}」臺帳")
        since, before = registers.bounds(first, last, self.registry.site.tz)
        # what the search may look into: the fields the reader may see at every site it covers
        hidden = set().union(*(form.hidden_from(a.every_role) for a in actors.values()))
        readers = sorted(set.intersection(*(set(a.every_role) for a in actors.values())))
        rows, total = self.store.register_rows([wf.id for wf in wfs], search, status, since, before, unit, sort,
                                               page, per_page, [f for f in form.properties if f not in hidden],
                                               readers, None if visible is None else sorted(actors), state)
        reads = []
        for row in rows:  # as the reader may see it at the row's site, and without what it inherited as confidential
            actor = actors.get(row["site"]) or self.actor(user, now, row["site"])
            inherited = row.pop("confidential")
            masked = form.hidden_from(actor.every_role) | access.inherited_hidden(actor, inherited)
            secret = set(form.confidential.get("fields", ())) | set((inherited or {}).get("fields", ()))
            reads.append(("instance", row["id"], row["number"],
                          [f for f in secret - masked if row["data"].get(f) not in (None, "")]))
            row["data"] = access.mask(row["data"], masked)
        self.log_reads(user, reads, via)
        return {"form": form, "workflows": wfs, "hidden": hidden, "rows": rows, "total": total}

    def workflow_at(self, version: str, site: str = DEFAULT_SITE) -> Workflow:
        """The workflow definition of a stored version (the current one, or rebuilt from stored YAML), on the
        calendar of `site`."""
        return self._at_site(self._version(version), site)

    def _at_site(self, wf: Workflow, site: str) -> Workflow:
        """`wf` counting its deadlines on `site`'s calendar (the same object when the site keeps goldkey.yaml's)."""
        cal = self.calendar_of(site)
        if cal is wf.calendar:
            return wf
        local = self._local.get((wf.version, site))
        if local is None or local.calendar is not cal:
            local = self._local[(wf.version, site)] = dataclasses.replace(wf, calendar=cal)
        return local

    def calendar_of(self, site: str) -> BusinessCalendar:
        """The business calendar of `site`: goldkey.yaml's, in the site's time zone with its own days added."""
        row = self._site_rows().get(site)
        if row is None or not (row["timezone"] or row["calendar"]):
            return self.registry.site.calendar
        key = (site, row["timezone"], dumps(row["calendar"]), id(self.registry.site.calendar))
        cal = self._calendars.get(key)
        if cal is None:
            cal = self._calendars[key] = sites.calendar(self.registry.site.calendar, row["timezone"], row["calendar"])
        return cal

    def _site_rows(self) -> dict[str, dict]:
        """The sites, read at most once a second (a site added by another process is seen within that time)."""
        moment = time.monotonic()
        if self._site_cache is None or moment - self._site_cache[0] > 1.0:
            self._site_cache = (moment, {s["id"]: s for s in self.store.sites()})
        return self._site_cache[1]

    def _version(self, version: str) -> Workflow:
        wf = self._versions.get(version)
        if wf is None:
            files = self.store.version_files(version)  # (with today's record types: master data is not versioned)
            old = definitions.load_texts({**self.registry.record_files, **files}, lint_graph=False)
            wf = next(iter(old.workflows.values()))
            wf.version = version
            wf.calendar, wf.site_roles = self.registry.site.calendar, self.registry.site.roles
            self._versions[version] = wf
        return wf

    # --- commands -----------------------------------------------------------------------------------
    def start(self, workflow_id: str, user: str, data: dict | None = None, site: str | None = None,
              now: datetime | None = None) -> dict:
        """Start an instance of the current version of a workflow as `user`, at `site` (None: the one site where
        the user may start it; asked for when there are several). `now`: rehearse it at that time
        (engine/rehearsal.py)."""
        wf = self.registry.workflow(workflow_id)
        check_input(data or {})
        now = self._command_time(now)
        site = site or self._start_site(wf, user, now)
        if site not in self.site_titles():
            raise NotFound(f"沒有管理處「{site}」")
        actor = self.actor(user, now, site)
        wf = self._at_site(wf, site)
        with self._transaction():
            data = self.looked_up(wf, wf.start.fields, data or {}, site)
            row = self._start(wf, actor, data, now, None, site=site)
        return dict(instance_view(wf, row), site=site)

    def start_sites(self, workflow_id: str, user: str) -> list[dict]:
        """The sites where `user` may start the workflow: [{id, title}] (the default site alone before there are
        others)."""
        wf, now, titles = self.registry.workflow(workflow_id), self.clock(), self.site_titles()
        if len(titles) > 1:
            titles.pop(DEFAULT_SITE, None)  # (a company's sites; the default one only serves a single site)
        return [{"id": s, "title": t} for s, t in titles.items()
                if set(wf.start.roles) & self.actor(user, now, s).every_role]

    def _start_site(self, wf: Workflow, user: str, now: datetime) -> str:
        known = self.site_titles()
        if len(known) == 1:
            return next(iter(known))
        candidates = self.start_sites(wf.id, user)
        if len(candidates) == 1:
            return candidates[0]["id"]
        titles = "、".join(s["title"] for s in candidates) or "（無）"
        raise Invalid(f"請選擇在哪個管理處開立「{wf.title}」：{titles}", [{"field": "site", "message": "請選擇管理處"}])

    def site_titles(self) -> dict[str, str]:
        """site id -> the title staff read (the default site's is goldkey.yaml's `site`)."""
        return {s: row["title"] or self.registry.site.name for s, row in self._site_rows().items()}

    def sites(self) -> list[dict]:
        return [dict(row, title=row["title"] or self.registry.site.name) for row in self._site_rows().values()]

    def add_site(self, site: str, title: str, number_prefix: str | None = None, timezone: str | None = None,
                 holidays: dict[str, str] | None = None, workdays: dict[str, str] | None = None) -> dict:
        """A site (管理處): its id (letters, digits, - or _), the title staff read, the prefix of its numbers, its
        time zone (default goldkey.yaml's) and the holidays and make-up working days it adds to goldkey.yaml's."""
        sites.check(site, title, number_prefix)
        days = {k: sites.check_days(v, what) for k, v, what in (("holidays", holidays, "休假日"),
                                                                ("workdays", workdays, "補班日")) if v}
        both = sorted(set(days.get("holidays", {})) & set(days.get("workdays", {})))
        if both:
            raise Invalid(f"{both[0]} 不能同時是休假日與補班日")
        self.store.add_site(site, title.strip(), number_prefix, iso(self.clock()),
                            sites.check_timezone(timezone) if timezone else None, days)
        self._site_cache = None
        return next(s for s in self.sites() if s["id"] == site)

    def complete(self, task_id: str, user: str, outcome: str | None = None, data: dict | None = None,
                 comment: str | None = None, now: datetime | None = None) -> dict:
        """Act on a task; raises NotFound, Forbidden, Invalid or Conflict and then writes nothing. `now`: rehearse it
        at that time (not before the instance's last event; engine/rehearsal.py)."""
        iid = _task_instance(task_id)
        check_input(data or {})
        if comment is not None:
            check_input(comment, "comment")
        now = self._command_time(now, iid)
        self.roles_of(user)  # (a user who does not exist is told so first)
        row = self._cache.get(iid)
        try:
            first = row or self.store.instance_row(iid)
            return self._complete(first, task_id, self.actor(user, now, first["site"]), outcome, data, comment, now)
        except GoldkeyError:
            if row is None:
                raise
            # the cached state may be stale (another process moved the instance): read it and try once more
            self._cache.pop(iid, None)
            fresh = self.store.instance_row(iid)
            return self._complete(fresh, task_id, self.actor(user, now, fresh["site"]), outcome, data, comment, now)

    def _complete(self, row: dict, task_id: str, actor: Actor, outcome, data, comment, now) -> dict:
        if task_id not in row["state"].get("tasks", {}) and self.store.task_status(task_id) is None:
            raise NotFound(f"沒有任務 {task_id}")
        wf = self.workflow_at(row["version"], row["site"])
        task = row["state"].get("tasks", {}).get(task_id)
        if task is not None and data:
            data = self.looked_up(wf, wf.steps[task["step"]].fields, data, row["site"])
        result = core.complete(wf, row["state"], task_id, actor, outcome, data, comment, now, owned=True)
        with self._transaction():
            new = self._persist(wf, row, result, actor, now)
        return instance_view(wf, new)

    def hold(self, task_id: str, user: str, state: str, comment: str | None = None) -> dict:
        """Pause a task's clock in a named state of its step (e.g. waiting for the owner)."""
        return self._task_command(task_id, user, lambda wf, row, actor, now: core.hold(
            wf, row["state"], task_id, actor, state, comment, now), comment)

    def resume(self, task_id: str, user: str, comment: str | None = None) -> dict:
        """Restart a held task's clock; its due times move on by the time it was held."""
        return self._task_command(task_id, user, lambda wf, row, actor, now: core.resume(
            wf, row["state"], task_id, actor, comment, now), comment)

    def _task_command(self, task_id: str, user: str, command, comment: str | None) -> dict:
        iid = _task_instance(task_id)
        if comment is not None:
            check_input(comment, "comment")
        now = self.clock()
        self.roles_of(user)  # (a user who does not exist is told so first)
        with self._transaction():  # read inside the write lock: nobody moves the instance in between
            row = self.store.instance_row(iid)
            actor = self.actor(user, now, row["site"])
            if task_id not in row["state"].get("tasks", {}) and self.store.task_status(task_id) is None:
                raise NotFound(f"沒有任務 {task_id}")
            wf = self.workflow_at(row["version"], row["site"])
            new = self._persist(wf, row, command(wf, row, actor, now), actor, now)
        return instance_view(wf, new)

    def tick(self, now: datetime | None = None, batch: int = 500) -> dict:
        """Apply everything due by `now`: scheduled starts, `wait` timers, delayed starts and deadline
        actions. Idempotent, and safe from several processes at once: each instance is read and written
        inside one write transaction, and what fired is recorded in its state."""
        now = now or self.clock()
        at = iso(now)
        counts: dict[str, int] = {}
        errors: list[dict] = []
        running = sorted(self.site_titles())
        if len(running) > 1:  # the sites run the schedules; the default site only while it is the only one
            running.remove(DEFAULT_SITE)
        for wf in sorted(self.registry.workflows.values(), key=lambda w: w.id):
            for schedule in wf.schedules:
                for site in running:
                    self._run_schedule(wf, schedule, now, counts, errors, site)
        cursor = ("", 0)
        while True:
            with self._transaction():  # the due rows are this transaction's (another ticker passes over them)
                due = self.store.due_instances(at, cursor, batch)
                for _, iid in due:
                    self._fire(iid, now, counts, errors)
            if not due:
                break
            cursor = due[-1]
        by_workflow = {k.split(":", 1)[1]: counts.pop(k) for k in sorted(counts) if k.startswith("started:")}
        return {"now": at, "started": counts.pop("started", 0), "started_by": by_workflow,
                "timers_fired": counts.pop("timer_fired", 0), "actions": dict(sorted(counts.items())),
                "errors": errors}

    def _fire(self, iid: int, now: datetime, counts: dict[str, int], errors: list[dict]) -> None:
        """Fire what is due on one instance, inside the caller's transaction; a failure (a definition error
        met on the way, such as a condition that cannot be decided) rolls back this instance only."""
        try:
            with self._savepoint():
                row = self.store.instance_row(iid)
                wf = self.workflow_at(row["version"], row["site"])
                result = core.fire_due(wf, row["state"], now)
                if result.state.get("wake_at") != row["state"].get("wake_at") or result.events:
                    self._persist(wf, row, result, None, now)
        except GoldkeyError as exc:
            errors.append({"instance": iid, "message": exc.message})
            return
        for event in result.events:
            if event["type"] in _TICK_EVENTS:
                counts[_TICK_EVENTS[event["type"]]] = counts.get(_TICK_EVENTS[event["type"]], 0) + 1

    def _run_schedule(self, wf: Workflow, schedule, now: datetime, counts: dict[str, int],
                      errors: list[dict], site: str = DEFAULT_SITE) -> None:
        """Start one instance per run of the schedule at `site` due since its last run (or since it was first seen
        there), each exactly once: the run is claimed in the same transaction as the start."""
        from croniter import croniter

        key = sites.schedule_key(site, f"{wf.id}:{schedule.id}")
        wf = self._at_site(wf, site)
        tz = wf.calendar.tz  # (the site's: a run at 09:00 is 09:00 there)
        anchor = self.store.schedule_anchor(key, iso(now))
        runs = croniter(schedule.cron, datetime.fromisoformat(anchor).astimezone(tz))
        for _ in range(MAX_CATCH_UP):
            local = runs.get_next(datetime)
            if local > now:
                break
            run = iso(local.astimezone(UTC))  # stored in UTC, like every time
            with self._transaction():
                if not self.store.claim_run(key, run):
                    continue  # another ticker started this run
                data = {k: _run_text(v, local) for k, v in schedule.data.items()}
                starts = [data] if schedule.sample is None else [
                    dict(data, **extra) for extra in self._sampled(schedule, key, run, local, site)]
                for one in starts:
                    try:
                        with self._savepoint():
                            row = self._start(wf, Actor(f"schedule:{schedule.id}", frozenset()), one, now, None,
                                              as_child=True, site=site)
                    except GoldkeyError as exc:  # e.g. data the form refuses: the run is recorded, not retried
                        errors.append({"schedule": key, "run": run, "message": exc.message})
                        continue
                    self.store.record_run(key, run, row["id"])
                    counts["started"] = counts.get("started", 0) + 1
                    counts[f"started:{wf.id}"] = counts.get(f"started:{wf.id}", 0) + 1

    def _sampled(self, schedule, key: str, run: str, local: datetime, site: str) -> list[dict]:
        """A sampling plan's run: the data of one new instance for each instance chosen of those of its workflow
        completed at `site` in the period before the run — at least its share, the same ones whenever it runs again
        (chosen by a generator seeded with the schedule and the run), all of them at 100%."""
        import math
        import random

        plan = schedule.sample
        start, end = sla.previous_period(local, plan.period)
        done = self.store.completed_between(plan.workflow, site, iso(start.astimezone(UTC)), iso(end.astimezone(UTC)))
        chosen = sorted(random.Random(f"{key}|{run}").sample(done, math.ceil(plan.share * len(done) - 1e-9)),
                        key=lambda r: r["id"])
        return [{field: row["number"] if origin == "number" else row["data"].get(origin)
                 for field, origin in plan.data.items()
                 if (row["number"] if origin == "number" else row["data"].get(origin)) not in (None, "")}
                for row in chosen]

    def sla(self, first: date | None = None, last: date | None = None, workflow: str | None = None,
            site: str | None = None) -> dict:
        """SLA figures for tasks closed and instances ended from `first` to `last` (local dates, inclusive;
        default: the last 30 days) at `site` (None: every site): per step timeliness and each workflow's target
        rates."""
        if site is not None and site not in self.site_titles():
            raise NotFound(f"沒有管理處「{site}」")
        tz = self.registry.site.tz
        now = self.clock()
        last = last or now.astimezone(tz).date()
        first = first or last - timedelta(days=29)
        if first > last:
            raise Invalid(f"開始日期 {first} 晚於結束日期 {last}")
        start, end = (iso(datetime.combine(d, dt_time(), tz).astimezone(UTC)) for d in (first, last + timedelta(1)))
        wanted = [self.registry.workflow(workflow)] if workflow else sorted(self.registry.workflows.values(),
                                                                             key=lambda w: w.id)
        names = {wf.id for wf in wanted}
        steps = sla.step_figures([r for r in self.store.closed_tasks(start, end, site) if r[0] in names],
                                 [r for r in self.store.open_overdue(iso(now), site) if r[0] in names])
        for figure in steps:
            wf = self.registry.workflows.get(figure["workflow"])
            step = wf.steps.get(figure["step"]) if wf else None
            figure["title"] = step.title if step else figure["step"]
        rates = [dict(sla.rate_figures(t, self.store.ended_with_steps(wf.id, start, end, site), tz), workflow=wf.id,
                      workflow_title=wf.title) for wf in wanted for t in wf.targets]
        return {"from": first.isoformat(), "to": last.isoformat(), "site": site, "steps": steps, "rates": rates}

    # --- printouts ------------------------------------------------------------------------------------
    def render(self, instance_id: int | str, printout: str, user: str) -> tuple[bytes, dict]:
        """Print a printout of an instance as `user`: the .docx and what was recorded (its verification code,
        which print of it this is). The print is an event in the instance's audit log."""
        from . import printouts  # docxtpl: only where something is printed

        iid = _instance_id(instance_id)
        now = self.clock()
        self.roles_of(user)  # (a user who does not exist is told so first)
        first = self.store.instance_row(iid)
        actor = self.actor(user, now, first["site"])
        wf = self.workflow_at(first["version"], first["site"])
        spec = wf.form.printouts.get(printout)
        if spec is None:
            raise NotFound(f"「{wf.form.title}」沒有列印格式「{printout}」"
                           f"{did_you_mean(printout, wf.form.printouts)}"
                           f"（可用：{'、'.join(wf.form.printouts) or '無'}）")
        if not access.may_view(actor, wf):
            raise Forbidden(f"使用者「{user}」沒有「{wf.title}」的角色，不能列印")
        steps = wf.printouts_at(printout)
        if steps and not self.store.reached(iid, [s.id for s in steps]):  # a permit before its approval: no
            raise Conflict(f"「{spec.get('title', printout)}」要到「{'、'.join(s.title for s in steps)}」"
                           "這一步才能列印")
        try:
            template = printouts.load(self.registry.root / "printouts" / spec["template"])
        except (OSError, printouts.TemplateProblem) as exc:
            log.warning("printout template %s cannot be used: %s", spec["template"], getattr(exc, "message", exc))
            raise Invalid(f"列印範本 printouts/{spec['template']} 無法使用，請通知管理人員修正範本"
                          "（goldkey check 會指出原因）") from None
        code = verification.new_code(self.store.setting("verify_secret"))
        copies = spec.get("copies") or [""]
        with self._transaction():  # read inside the write lock; render before commit: all of it or nothing
            row = self.store.instance_row(iid)
            result = core.printed(wf, row["state"], printout, actor, code, template.digest, len(copies), now,
                                  template.shown)
            new = self._persist(wf, row, result, actor, now)
            event = result.events[-1]["payload"]
            self.store.add_print(code, iid, printout, event["print_no"], template.digest, event["data_hash"],
                                 template.shown, new["revision"], iso(now), user, len(copies))
            url = f"{self.registry.site.verify_url.rstrip('/')}/{code}"
            info = printouts.PrintInfo(printout, spec.get("title", printout), copies, spec.get("signatures", []),
                                       user, iso(now), code, url, event["reprint"])
            hidden = access.hidden_fields(actor, wf, new["state"])
            ctx = printouts.context(wf, self.registry.site, new["state"], self.store.ledger_entries(iid),
                                    self.store.display_names(), info, hidden)
            self.store.add_reads([(iso(now), user, "instance", str(iid), new["number"], dumps(sorted(fields)),
                                   "printout")] if (fields := _read(wf, new["state"], hidden)) else [])
            try:
                body = printouts.render(template, ctx, url, signatures.images(
                    self.store, template.signature_parts.values(), new["state"]["data"], hidden))
            except printouts.TemplateProblem as exc:
                log.warning("printout template %s does not print: %s", spec["template"], exc.message)
                raise Invalid(f"列印範本 printouts/{spec['template']} 無法填寫，請通知管理人員修正範本"
                              "（goldkey check 會指出原因）") from None
        return body, {"code": code, "url": url, "print_no": event["print_no"], "reprint": event["reprint"],
                      "template_hash": template.digest, "instance": iid, "printout": printout}

    def verify(self, code: str) -> dict:
        """Is a printed document genuine, and is it still current? Answered in words a front desk can read."""
        if len(code) > verification.MAX_TYPED:
            raise Invalid("驗證碼太長：印在單上的驗證碼是 12 個字元（如 K7QX-M2PD-9A）",
                          [{"field": "code", "message": "驗證碼太長"}])
        normal = verification.normalize(code)
        if normal is None or not any(verification.genuine_form(secret, normal) for secret in self._verify_secrets()):
            return {"code": code, "genuine": False, "current": False,
                    "message": "驗證碼無效：不是本系統發出的驗證碼（可能輸入錯誤或被竄改）"}
        record = self.store.print_record(normal)
        if record is None:
            return {"code": normal, "genuine": False, "current": False,
                    "message": "查無此驗證碼：此文件不是本系統列印的"}
        row = self.store.instance_row(record["instance_id"])
        wf = self.workflow_at(row["version"], row["site"])
        state = row["state"]
        changed = core.shown_hash(state["data"], loads(record["shown"])) != record["data_hash"]
        newer = record["latest"] > record["print_no"]
        notes = []
        if state["status"] == "cancelled":
            notes.append("此單已取消")
        elif state["status"] == "completed":
            notes.append(f"此單已完成（{wf.outcome_title(state.get('outcome')) or '結案'}），不可再使用")
        if changed:
            notes.append("列印後資料已變更，請以最新列印為準")
        if newer:
            notes.append(f"此為第 {record['print_no']} 次列印，之後已重印（共 {record['latest']} 次）")
        current = state["status"] == "active" and not changed and not newer
        titles = self.site_titles()
        return {"code": normal, "genuine": True, "current": current, "instance": record["instance_id"],
                "site": titles.get(row["site"], "") if len(titles) > 1 else "",
                "number": state.get("number"), "printout": record["printout"],
                "title": wf.form.printouts.get(record["printout"], {}).get("title", record["printout"]),
                "workflow": wf.title, "status": state["status"], "outcome": state.get("outcome"),
                "print_no": record["print_no"], "copy": record["print_no"] > 1, "printed_at": record["printed_at"],
                "printed_by": record["printed_by"], "template_hash": record["template_hash"],
                "signatures": signatures.verified(self.store, record, wf.form),
                "message": "真實文件：" + ("有效，為最新列印" if current else "；".join(notes))}

    def attach(self, user: str, data: bytes, name: str) -> dict:
        """Store an uploaded file as `user`; returns its id (the content hash) to put in a form field."""
        self.actor(user, self.clock())  # a known user
        meta = attachments.describe(data, name)
        self.store.add_attachment(meta, data, user, iso(self.clock()))
        return meta

    def attachment(self, digest: str, user: str) -> tuple[dict, bytes]:
        """An attachment, for someone who uploaded it or may see an instance that holds it in a field they may
        see (the id alone opens nothing); else NotFound, as for an id that does not exist."""
        meta = self.store.attachment(digest) if attachments.HASH.match(digest or "") else None
        if meta is None or not (self.store.uploaded_by(digest, user) or self._holds(digest, user)):
            raise NotFound("沒有這個附件")
        body = self.store.attachment_bytes(digest)
        if body is None:
            raise NotFound("沒有這個附件")
        return meta, body

    def _holds(self, digest: str, user: str) -> bool:
        for row in self.store.instances_holding(digest):
            actor = self.actor(user, self.clock(), row["site"])
            wf = self.workflow_at(row["version"], row["site"])
            if not access.may_view(actor, wf, row["state"].get("started_by")):
                continue
            hidden = access.hidden_fields(actor, wf, row["state"])
            if any(digest in dumps(value) for key, value in row["state"].get("data", {}).items() if key not in hidden):
                return True
            ticked = [row["state"].get("checklists", {})] + [t.get("checked") for t in row["state"]["tasks"].values()]
            if digest in dumps(ticked):  # (a photo of a checklist item's result)
                return True
        return False

    def notifications(self, user: str, limit: int = 100) -> list[dict]:
        """Reminders, escalations and notices for the user's roles (own and deputised), newest first."""
        now = self.clock()
        return self.store.notifications(sorted(self.roles_of(user) | self.persons(user, now)), limit,
                                        self.visible_sites(user, now))

    def assign(self, task_id: str, user: str, to: str, comment: str | None = None) -> dict:
        """Hand a task to one person (`to` must hold one of its step's roles at the instance's site); `user` must
        hold a role of the step's `assign.reassign`."""
        def command(wf: Workflow, row: dict, actor: Actor, now: datetime) -> Result:
            if not isinstance(to, str) or not self.user_exists(to):  # (once the task is known to exist)
                raise Invalid(f"沒有使用者「{to}」", [{"field": "to", "message": "請選擇本處的人員"}])
            task = row["state"]["tasks"].get(task_id)
            step = wf.steps[task["step"]] if task else None
            if step is not None and not self.actor(to, now, row["site"]).resolve(step.roles):
                names = self.display_names()
                raise Invalid(f"「{names.get(to, to)}」沒有「{step.title}」所需的職務（{wf.role_titles(step.roles)}），"
                              "不能接手", [{"field": "to", "message": "請選擇具有此職務的人員"}])
            return core.assign(wf, row["state"], task_id, actor, to, comment, now)

        return self._task_command(task_id, user, command, comment)

    def act(self, instance_id: int | str, user: str, step: str, action: str, data: dict | None = None,
            comment: str | None = None) -> dict:
        """Take an action of the named state the instance rests in (`kind: state`): any holder of its roles may."""
        iid = _instance_id(instance_id)
        check_input(data or {})
        if comment is not None:
            check_input(comment, "comment")
        now = self.clock()
        self.roles_of(user)  # (a user who does not exist is told so first)
        with self._transaction():
            row = self.store.instance_row(iid)
            wf = self.workflow_at(row["version"], row["site"])
            actor = self.actor(user, now, row["site"])
            rest = wf.steps.get(step)
            fields = rest.actions[action].fields if rest is not None and action in getattr(rest, "actions", {}) else ()
            if data:
                data = self.looked_up(wf, fields, data, row["site"])
            new = self._persist(wf, row, core.act(wf, row["state"], step, action, actor, data, comment, now), actor,
                                now)
        return instance_view(wf, new)

    def assignees(self, task_id: str, user: str) -> list[dict]:
        """Who `user` may hand the task to: [{name, title}] of those holding one of its step's roles at its site
        (none unless `user` holds a role of the step's `assign.reassign`)."""
        row = self.store.instance_row(_task_instance(task_id))
        task = row["state"].get("tasks", {}).get(task_id)
        wf = self.workflow_at(row["version"], row["site"])
        step = wf.steps[task["step"]] if task else None
        now = self.clock()
        if step is None or not step.assign or not self.actor(user, now, row["site"]).resolve(step.assign.reassign):
            return []
        return self.holders(step.roles, row["site"])

    def holders(self, roles, site: str) -> list[dict]:
        """[{name, title}] of the staff holding one of `roles` (any role when empty) at `site` (or company-wide)."""
        wanted = set(roles)
        return [{"name": u["name"], "title": u["title"] or u["name"]} for u in self.store.users()
                if (wanted & {*u["sites"].get(site, ()), *u["sites"].get(COMPANY, ())}
                    if wanted else u["sites"].get(site) or u["sites"].get(COMPANY))]


    def has_instances(self, workflow_id: str) -> bool:
        return self.store.has_instances(workflow_id)

    def _verify_secrets(self) -> list[str]:
        """The secret codes are issued under, then those of sites copied in from their own databases (engine/
        database.py), whose printed codes keep verifying."""
        return [self.store.setting("verify_secret")] + self.store.settings_under("verify_secret:")

    def audit(self) -> dict:
        """Recompute every instance's and every record's event hash chain: {ok, events, record_events, problem}."""
        ok, count, problem = self.store.verify_chain()
        records_ok, record_events, record_problem = self.store.verify_records()
        return {"ok": ok and records_ok, "events": count, "record_events": record_events,
                "problem": problem or record_problem or None}

    # --- the write path (always inside store.write()) -----------------------------------------------
    def _start(self, wf: Workflow, actor: Actor, data: dict, now: datetime, parent: int | None,
               as_child: bool = False, delay=None, confidential: dict | None = None, site: str = DEFAULT_SITE,
               parent_view: dict | None = None) -> dict:
        store = self.store
        if wf.version not in self._saved:
            store.save_version(wf.version, wf.id, wf.files, iso(now))
            self._saved.add(wf.version)
        iid = store.next_instance_id()
        number = None
        if wf.form.number:
            year = now.astimezone(wf.calendar.tz).year  # (the site's year)
            # gap-free per site, form and year
            number = wf.form.number.format(year=year, seq=store.next_number(sites.series(site, wf.form.id), year))
            prefix = self._site_rows().get(site, {}).get("number_prefix")
            number = f"{prefix}-{number}" if prefix else number
        seeded = self.seeded(wf, data, site) if wf.seed else {}
        if wf.carry:
            seeded.update(self._carried(wf, data, site, iid))
        result = core.start(wf, iid, number, actor, data, now, as_child=as_child, delay=delay,
                            confidential=confidential, seeded=seeded, parent=parent_view)
        row = {"id": iid, "version": wf.version, "parent_id": parent, "revision": 0, "status": "active",
               "outcome": None, "number": None, "wake_at": None, "ended_at": None, "events": 0,
               "head": GENESIS, "state": {}, "state_text": "{}", "site": site}
        return self._persist(wf, row, result, actor, now)

    def _carried(self, wf: Workflow, data: dict, site: str, iid: int) -> dict:
        """The fields `carry:` takes from the previous instance of the workflow at `site` (not given in `data`)."""
        before = self.store.previous_data(wf.id, site, iid)
        if not before:
            return {}
        out: dict = {}
        for carry in wf.carry:
            value = before.get(carry.source)
            if data.get(carry.field) not in (None, "", []) or value in (None, "", []):
                continue
            if carry.rows:
                value = _carried_rows(carry, value if isinstance(value, list) else [], wf.form)
            elif carry.when is not None:
                try:
                    value = value if carry.when.evaluate(wf.form.scope(before)) else None
                except GoldkeyError:
                    value = None
            if value not in (None, "", []):
                out[carry.field] = value
        return out

    def _persist(self, wf: Workflow, row: dict, result: Result, actor: Actor | None, now: datetime) -> dict:
        """Run the result's effects, commit the state (revision-checked) with its events, tell a parent
        whose child ended; returns the new row. Inside `store.write()`: all of it or nothing."""
        iid = row["id"]
        state, events = result.state, list(result.events)
        for effect in result.effects:
            if effect["type"] == "start_child":
                child_wf = self._at_site(self.registry.workflow(effect["workflow"]), row["site"])
                secret = set(wf.form.confidential.get("fields", ())) | set(
                    (state.get("confidential") or {}).get("fields", ()))
                parent = {"id": iid, "number": state.get("number"), "workflow": wf.id, "title": wf.title,
                          "data": {k: v for k, v in state.get("data", {}).items() if k not in secret}}
                child = self._start(child_wf, actor or Actor("system", frozenset()), effect["data"], now, iid,
                                    as_child=True, delay=effect.get("after"), confidential=effect.get("confidential"),
                                    site=row["site"], parent_view=parent)
                events.append({"type": "child_started", "step": None, "task": None,
                               "payload": {"child": child["id"], "workflow": child_wf.id,
                                           "waits": effect.get("wait", True), "starts_at": child["wake_at"]
                                           if effect.get("after") else None,
                                           **{k: effect[k] for k in ("item", "row") if k in effect}}})
                if not effect.get("wait", True):
                    continue
                state = core.link_child(state, effect["token"], child["id"])
                events[-1]["step"] = state["tokens"][effect["token"]]["step"]
                if child["status"] != "active":  # the child ended at once
                    done = core.child_done(wf, state, child["id"], child["outcome"], now)
                    state, events = done.state, events + done.events
            elif effect["type"] == "update_record":
                self._apply_update(effect, row["site"], actor.user if actor else None,
                                   {"id": iid, "number": state.get("number"), "workflow": wf.id}, now)
                rt = self.registry.records[effect["record"]]
                events.append({"type": "record_updated", "step": effect["step"], "task": None,
                               "payload": dict({k: effect[k] for k in ("record", "key", "state", "set")},
                                               title=rt.title, labels={k: rt.form.title_of(k) for k in effect["set"]})})
            elif effect["type"] == "cancel_child":
                child = self.store.instance_row(effect["child"])
                child_wf = self.workflow_at(child["version"], child["site"])
                self._persist(child_wf, dict(child, parent_id=None),
                              core.cancel(child_wf, child["state"], now, "parent ended"), None, now)
        acting_for = next((e["payload"]["acting_for"] for e in events if e["payload"].get("acting_for")), None)
        new = self.store.commit_step(row, state, marked(events, now), actor.user if actor else None, acting_for,
                                     wf.id, iso(now))
        self._written[iid] = new
        if row["parent_id"] and new["status"] != "active" and row["revision"]:  # (a child ending as it
            # starts is handled by its parent, whose row is written after this one)
            parent = self.store.instance_row(row["parent_id"])
            if parent["status"] == "active":
                pwf = self.workflow_at(parent["version"], parent["site"])
                done = core.child_done(pwf, parent["state"], iid, new["outcome"], now)
                if done.events:  # a parent that started the child without waiting has nothing to do
                    self._persist(pwf, parent, done, actor, now)
        return new


def _carried_rows(carry, rows: list, form) -> list:
    """The rows of the previous instance's table that stay open (`when` holds, or cannot be decided yet)."""
    kept = []
    for row in rows:
        try:
            ok = carry.when is None or carry.when.evaluate(form.row_scope(carry.source, row))
        except GoldkeyError:
            ok = True
        if ok:
            kept.append(row)
    return kept


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


def _task_instance(task_id: str) -> int:
    if "-" not in str(task_id):
        raise NotFound(f"沒有任務 {task_id}（任務編號形如 12-3）")
    return _instance_id(str(task_id).split("-", 1)[0])


_RUN_FIELD = re.compile(r"\{run(?::([^{}]*))?\}")


def _run_text(value, run: datetime):
    """`{run:%Y-%m}` in a scheduled start's text becomes the run's local time (`{run}`: its date)."""
    if not isinstance(value, str):
        return value
    return _RUN_FIELD.sub(lambda m: run.strftime(m.group(1) or "%Y-%m-%d"), value)


def _instance_id(value: int | str) -> int:
    try:
        number = int(str(value).strip())
    except (TypeError, ValueError):
        raise NotFound(f"沒有案件 {value}（案件編號是數字）") from None
    if not 0 < number < 1 << 39:  # ids share a 63-bit key with their events' and tasks' sequence numbers
        raise NotFound(f"沒有案件 {value}")
    return number


def _read(wf: Workflow, state: dict, hidden: set[str]) -> list[str]:
    """The confidential fields (the form's, and those the instance inherited) with a value that a reader for whom
    `hidden` is masked reads."""
    secret = set(wf.form.confidential.get("fields", ())) | set((state.get("confidential") or {}).get("fields", ()))
    return sorted(f for f in secret - hidden if state.get("data", {}).get(f) not in (None, ""))


def _summary(wf: Workflow, data: dict, hidden: set[str]) -> str:
    """A line of the instance's own words for a list: the first two plain text fields the starter filled."""
    parts = []
    for name in wf.start.fields:
        schema = wf.form.properties.get(name, {})
        if (schema.get("type") == "string" and "enum" not in schema and "format" not in schema
                and name not in hidden and data.get(name)):
            parts.append(str(data[name])[:40])
        if len(parts) == 2:
            break
    return " · ".join(parts)
