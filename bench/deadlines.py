"""Deadline benchmark: `Engine.tick` over 1,000,000 open tasks that each have a due time and a deadline ladder.

One run, in-process, on a database built for it (cached under /tmp, keyed by its parameters):

  query    the bare due-queries under the tick, repeated: the engine's wake query on its partial index
           instances_waking (INDEXED BY: the baseline; it finds nothing), the same query as the engine runs it
           (`Store.due_instances`, planned by SQLite), and the earliest open task on tasks_open_due (LIMIT 1); then
           the wake query and the earliest-task query with NOT INDEXED, a full scan, a few times.
  no-op    `Engine.tick(now)` when nothing is due, repeated: with the definitions' one daily schedule (as a site
           has, each tick checks it) and with a registry without schedules.
  actions  one `Engine.tick(now + 1h)` when exactly --due instances are due, each for one rung of its ladder
           (remind, notify, escalate, or the lapse at the hard limit that opens a new task: a quarter each), with
           the time in its due queries and its COMMITs added up on the side; the counts the tick returns, the
           events and notifications written and their hash chains are checked.

The database: `bench/defs-deadlines/` declares `bench_timed` (a form step due in 10 working days, at the latest
15, with a four-rung ladder). Four template instances are made by the real engine: one just started, and three
ticked through one, two and three rungs. Each of the N instances of the database is a clone of one of them
(instance i of phase i % 4): its rows (instance with its state JSON, task, events with their hash chain,
notifications) are the template's rows with the instance id, the document number and every time rewritten, the
times shifted so that its next rung falls where the plan puts it: after `now + 1h` for all but --due of them
(spread over the weeks ahead, the start always in the past), in (now, now + 1h] for the --due, whose ids are
spread evenly over the table. The rows go in with executemany in one transaction (journal off, synchronous
off) with the secondary indexes dropped and built afterwards; then the file is switched to WAL. Each run
copies the cached file and measures on the copy (the action tick changes it).

Usage: python bench/deadlines.py [--tasks 1000000] [--due 1000] [--repeat 50] [--rebuild] [--no-history]
                                 [--cache DIR] [--keep] [--profile] [--synchronous FULL]
"""

from __future__ import annotations

import argparse
import cProfile
import dataclasses
import hashlib
import importlib.util
import io
import json
import math
import os
import platform
import pstats
import random
import re
import shutil
import sqlite3
import statistics
import sys
import tempfile
import time
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

ROOT = Path(__file__).resolve().parents[1]
DEFS = ROOT / "bench" / "defs-deadlines"
sys.path.insert(0, str(ROOT))  # before bench/ (the script's folder), whose engine.py would shadow the package

from engine import definitions  # noqa: E402
from engine.jsontext import loads  # noqa: E402
from engine.schema import MIGRATIONS  # noqa: E402
from engine.service import Engine  # noqa: E402
from engine.store import GENESIS, chain  # noqa: E402

_spec = importlib.util.spec_from_file_location("bench_engine", ROOT / "bench" / "engine.py")
_bench = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_bench)
busy_cpus, engine_revision, db_bytes, mib = _bench.busy_cpus, _bench.engine_revision, _bench.db_bytes, _bench.mib

WORKFLOW, STEP = "bench_timed", "handle"
BUILD_FORMAT = 1  # bump when the way the database is built changes: a new cache key
T_TEMPLATE = datetime(2026, 11, 2, 1, 30, tzinfo=UTC)  # the templates start then (Monday 09:30 in Shanghai)
NOW = datetime(2026, 12, 1, 2, 0, tzinfo=UTC)  # the no-op tick (Tuesday 10:00 in Shanghai)
ACT = NOW + timedelta(hours=1)  # the tick that applies the due actions
USERS = (("clerk1", "clerk"), ("eng1", "eng"), ("sup1", "supervisor"), ("mgr1", "manager"), ("sec1", "sec"))
TARGET_NOOP_MS = 5.0
TARGET_ACTIONS_S = 2.0
MASK = (1 << 24) - 1
CHUNK = 20_000  # clones per executemany round

INSTANCE_COLUMNS = ("id", "workflow", "version", "number", "status", "outcome", "started_by", "started_at",
                    "ended_at", "updated_at", "parent_id", "wake_at", "revision", "events", "head", "state")
TASK_COLUMNS = ("key", "id", "instance_id", "step", "kind", "roles", "status", "opened_at", "due_at", "closed_at",
                "closed_by", "outcome")
EVENT_COLUMNS = ("id", "instance_id", "seq", "at", "actor", "acting_for", "step", "task", "type", "payload", "hash")
NOTE_COLUMNS = ("role", "instance_id", "task", "type", "message", "at", "event_id")
ISO_RE = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+00:00")  # a stored time (UTC)
LOCAL_RE = re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d(?!:)")  # a time in a message, local, to the minute
# the due-query of the issue: the earliest open task with a due time, on the partial index tasks_open_due
TASK_QUERY = ("SELECT key, due_at FROM tasks {hint}WHERE status = 'open' AND due_at IS NOT NULL AND due_at <= ? "
              "ORDER BY due_at LIMIT 1")
# Store.due_instances, written out so that it can also run without its index
WAKE_QUERY = ("SELECT wake_at, id FROM instances {hint}WHERE wake_at <= ? AND wake_at IS NOT NULL AND "
              "(wake_at > ? OR (wake_at = ? AND id > ?)) ORDER BY wake_at, id LIMIT ?")  # as Store.due_instances


def minute(text: str) -> int:
    """Minutes since the epoch of a stored time; every time in the templates falls on a whole minute."""
    moment = datetime.fromisoformat(text)
    if moment.second or moment.microsecond:
        raise ValueError(f"template time not on a whole minute: {text}")
    return int(moment.timestamp()) // 60


class Times:
    """The texts of a minute: as stored (UTC ISO) and as a message shows it (local, to the minute); made once."""

    def __init__(self, tz: ZoneInfo) -> None:
        self.tz = tz
        self.utc: dict[int, str] = {}
        self.local: dict[int, str] = {}

    def utc_text(self, m: int) -> str:
        text = self.utc.get(m)
        if text is None:
            text = self.utc[m] = datetime.fromtimestamp(m * 60, UTC).isoformat(timespec="seconds")
        return text

    def local_text(self, m: int) -> str:
        text = self.local.get(m)
        if text is None:
            text = self.local[m] = datetime.fromtimestamp(m * 60, self.tz).strftime("%Y-%m-%d %H:%M")
        return text

    def local_minute(self, text: str) -> int:
        return int(datetime.strptime(text, "%Y-%m-%d %H:%M").replace(tzinfo=self.tz).timestamp()) // 60


class Phase:
    """A template instance as row formats: a clone differs in its id, its number and a shift of all its times.

    Each text column becomes a %-format in which the times are fields named by their distance in minutes from
    the template's next wake (`u-1440`: a stored time a day before it, `l0`: the wake as a message shows it),
    and the instance id and number are fields too. Integer keys and the hash chain are made per clone."""

    def __init__(self, index: int, rows: dict[str, list[tuple]], times: Times) -> None:
        inst = dict(zip(INSTANCE_COLUMNS, rows["instance"][0], strict=True))
        self.index, self.times = index, times
        self.tiid, self.number, self.version = inst["id"], inst["number"], inst["version"]
        self.anchor = minute(inst["wake_at"])
        self.lead = self.anchor - minute(inst["started_at"])  # from the start to the next wake, minutes
        prefix, _, digits = self.number.rpartition("-")
        self.number_format = f"{prefix}-{{:0{len(digits)}d}}"
        self.fields: dict[str, tuple[str, int]] = {}
        self.template_state = loads(inst["state"])
        self.instance = [self.compile(v) for v in rows["instance"][0]]
        self.tasks = [[self.compile(v) for v in row] for row in rows["tasks"]]
        self.events = [[self.compile(v) for v in row] for row in rows["events"]]
        self.notes = [[self.compile(v) for v in row] for row in rows["notifications"]]
        self.check()

    def field(self, kind: str, delta: int) -> str:
        name = f"{kind}{delta}"
        self.fields[name] = (kind, delta)
        return f"%({name})s"

    def compile(self, value):
        """(True, %-format) for a text with something to rewrite, else (False, the value as it is)."""
        if not isinstance(value, str):
            return False, value
        found = []

        def utc(match: re.Match) -> str:
            found.append(1)
            return self.field("u", minute(match.group()) - self.anchor)

        def local(match: re.Match) -> str:
            found.append(1)
            return self.field("l", self.times.local_minute(match.group()) - self.anchor)

        text = LOCAL_RE.sub(local, ISO_RE.sub(utc, value.replace("%", "%%")))
        for old, new in ((self.number, "%(number)s"), (f'"instance":{self.tiid},', '"instance":%(iid)d,'),
                         (f'"{self.tiid}-', '"%(iid)d-')):
            if old in text:
                found.append(1)
                text = text.replace(old, new)
        if re.fullmatch(rf"{self.tiid}-\d+", value):  # a task id column
            found.append(1)
            text = "%(iid)d" + text[len(str(self.tiid)):]
        return (True, text) if found else (False, value)

    def mapping(self, iid: int, wake: int) -> dict:
        m: dict = {"iid": iid, "number": self.number_format.format(iid)}
        times = self.times
        for name, (kind, delta) in self.fields.items():
            m[name] = times.utc_text(wake + delta) if kind == "u" else times.local_text(wake + delta)
        return m

    def clone(self, iid: int, wake: int, history: bool) -> tuple[tuple, list[tuple], list[tuple], list[tuple]]:
        """The rows of clone `iid` whose next rung falls at minute `wake`: instance, tasks, events, notifications."""
        m = self.mapping(iid, wake)
        base = iid << 24
        events, notes, prev = [], [], GENESIS
        if history:
            for cols in self.events:
                row = [v % m if f else v for f, v in cols]
                row[0], row[1] = base | row[2], iid
                prev = row[10] = chain(prev, tuple(row[1:10]))
                events.append(tuple(row))
            for cols in self.notes:
                row = [v % m if f else v for f, v in cols]
                row[1], row[6] = iid, base | (row[6] & MASK)
                notes.append(tuple(row))
        inst = [v % m if f else v for f, v in self.instance]
        inst[0], inst[13], inst[14] = iid, len(events), prev
        tasks = []
        for cols in self.tasks:
            row = [v % m if f else v for f, v in cols]
            row[0], row[2] = base | (row[0] & MASK), iid
            tasks.append(tuple(row))
        return tuple(inst), tasks, events, notes

    def check(self) -> None:
        """A clone's state must be the template's with the ids, number and times moved, and nothing else."""
        iid, shift = 987_654, 12_345
        state = loads(self.clone(iid, self.anchor + shift, True)[0][15])
        number = self.number_format.format(iid)

        def moved(value, key=None):
            if isinstance(value, dict):
                return {moved(k): moved(v, k) for k, v in value.items()}
            if isinstance(value, list):
                return [moved(v) for v in value]
            if key == "instance":
                return iid
            if isinstance(value, str):
                if ISO_RE.fullmatch(value):
                    return self.times.utc_text(minute(value) + shift)
                if value == self.number:
                    return number
                if re.fullmatch(rf"{self.tiid}-\d+", value):
                    return f"{iid}-{value.partition('-')[2]}"
            return value

        if state != moved(self.template_state):
            raise AssertionError(f"phase {self.index}: a clone's state is not the template's moved:\n{state}")


def without_schedules(registry: definitions.Registry) -> definitions.Registry:
    return dataclasses.replace(registry, workflows={k: wf for k, wf in registry.workflows.items()
                                                    if not wf.schedules})


def make_templates(registry: definitions.Registry, workdir: Path) -> tuple[list[Phase], list[tuple]]:
    """One template instance per rung of the ladder, each in its own scratch database: phase p has fired the
    first p rungs (by real ticks) and next wakes for rung p."""
    registry = without_schedules(registry)
    wf = registry.workflow(WORKFLOW)
    rungs = len(wf.steps[STEP].ladder)
    times = Times(registry.site.tz)
    phases, versions = [], []
    for p in range(rungs):
        eng = Engine(workdir / f"template-{p}.db", registry, synchronous="OFF", clock=lambda: T_TEMPLATE)
        try:
            eng.add_user("clerk1", ["clerk"])
            inst = eng.start(WORKFLOW, "clerk1", {"subject": "地下車庫漏水"})
            ladder = eng.store.instance_row(inst["id"])["state"]["tasks"][inst["tasks"][0]["id"]]["ladder"]
            if p:
                result = eng.tick(datetime.fromisoformat(ladder[p - 1]))
                if sum(result["actions"].values()) != p or result["errors"]:
                    raise AssertionError(f"template {p}: the tick fired {result}, expected {p} rungs")
            conn = eng.store.conn
            rows = {"instance": conn.execute(f"SELECT {', '.join(INSTANCE_COLUMNS)} FROM instances").fetchall(),
                    "tasks": conn.execute(f"SELECT {', '.join(TASK_COLUMNS)} FROM tasks ORDER BY key").fetchall(),
                    "events": conn.execute(f"SELECT {', '.join(EVENT_COLUMNS)} FROM events ORDER BY id").fetchall(),
                    "notifications": conn.execute(f"SELECT {', '.join(NOTE_COLUMNS)} FROM notifications "
                                                  "ORDER BY id").fetchall()}
            if len(rows["instance"]) != 1 or len(rows["tasks"]) != 1 or rows["instance"][0][11] != ladder[p]:
                raise AssertionError(f"template {p}: expected one instance with one open task waking at {ladder[p]}")
            versions += conn.execute("SELECT * FROM versions").fetchall()
        finally:
            eng.close()
        phases.append(Phase(p, rows, times))
    return phases, sorted(set(versions))


@dataclasses.dataclass
class Plan:
    """Which clone is which: instance i (1..n) is of phase i % 4 unless due; the due ones are spread over ids."""

    n: int
    due: int
    phases: int

    def due_ids(self) -> list[int]:
        return [1 + (2 * k + 1) * self.n // (2 * self.due) for k in range(self.due)]

    def clones(self, leads: list[int]):
        """(iid, phase, wake minute, due?) for every instance, in id order. The due ones wake in (now, now + 1h];
        the others after now + 1h, at most one lead of their phase after now (so that they started before now)."""
        rng = random.Random(20261201)
        now, act = minute(NOW.isoformat()), minute(ACT.isoformat())
        due = {iid: k for k, iid in enumerate(self.due_ids())}
        for iid in range(1, self.n + 1):
            k = due.get(iid)
            if k is not None:
                p = k % self.phases
                yield iid, p, now + 1 + k * (act - now) // self.due, True
            else:
                p = iid % self.phases
                yield iid, p, act + 1 + rng.randrange(max(1, leads[p] - (act - now) - 1)), False


def cache_path(cache: Path, n: int, due: int, history: bool, registry: definitions.Registry) -> Path:
    key = json.dumps([BUILD_FORMAT, NOW.isoformat(), [m for m, _ in MIGRATIONS],
                      sorted((wf.id, wf.version) for wf in registry.workflows.values())])
    digest = hashlib.sha256(key.encode()).hexdigest()[:10]
    return cache / f"deadlines-{n}-due{due}-{'history' if history else 'nohistory'}-{digest}.db"


def remove_db(path: Path) -> None:
    for p in (path, Path(f"{path}-wal"), Path(f"{path}-shm"), Path(f"{path}-journal")):
        p.unlink(missing_ok=True)


def build(path: Path, n: int, due: int, history: bool, registry: definitions.Registry) -> dict:
    """Build the database at `path` (through a temporary name) and write its description next to it."""
    clock = time.perf_counter
    t0 = clock()
    work = path.with_name(path.name + ".building")
    remove_db(work)
    with tempfile.TemporaryDirectory(prefix="goldkey-templates-") as tmp:
        phases, versions = make_templates(registry, Path(tmp))
    if {p.version for p in phases} != {registry.workflow(WORKFLOW).version}:
        raise AssertionError("the templates were made on another version of the workflow")
    eng = Engine(work, registry, synchronous="OFF", clock=lambda: NOW - timedelta(days=60))
    for user, role in USERS:
        eng.add_user(user, [role])
    eng.close()
    conn = sqlite3.connect(work, isolation_level=None)
    counts = {"instances": 0, "tasks": 0, "events": 0, "notifications": 0}
    try:
        conn.execute("PRAGMA journal_mode=OFF")  # a failed build is thrown away, not rolled back
        conn.execute("PRAGMA synchronous=OFF")
        conn.execute("PRAGMA cache_size=-262144")  # 256 MiB, for building the indexes
        conn.executemany("INSERT OR IGNORE INTO versions VALUES (?,?,?,?)", versions)
        form = registry.workflow(WORKFLOW).form.id
        conn.execute("INSERT INTO counters VALUES (?,?,?)", (form, NOW.astimezone(registry.site.tz).year, n))
        tables = ("instances", "tasks", "events", "notifications")
        indexes = conn.execute(f"SELECT name, sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL AND "
                               f"tbl_name IN ({','.join('?' * len(tables))})", tables).fetchall()
        for name, _ in indexes:
            conn.execute(f"DROP INDEX {name}")
        plan = Plan(n, due, len(phases))
        conn.execute("BEGIN")
        batch: dict[str, list] = {t: [] for t in tables}
        last_report = t0
        for iid, p, wake, _ in plan.clones([ph.lead for ph in phases]):
            inst, tasks, events, notes = phases[p].clone(iid, wake, history)
            batch["instances"].append(inst)
            batch["tasks"] += tasks
            batch["events"] += events
            batch["notifications"] += notes
            if iid % CHUNK == 0 or iid == n:
                flush(conn, batch, counts)
                if clock() - last_report > 15 or iid == n:
                    last_report = clock()
                    print(f"  {iid:,} of {n:,} instances written ({clock() - t0:.0f} s)", flush=True)
        conn.execute("COMMIT")
        t_rows = clock()
        for _, sql in indexes:
            conn.execute(sql)
        t_indexes = clock()
        conn.execute("PRAGMA journal_mode=WAL")
    finally:
        conn.close()
    os.replace(work, path)
    info = {"tasks": n, "due": due, "history": history, "counts": counts, "phases": len(phases),
            "build_s": round(clock() - t0, 1), "rows_s": round(t_rows - t0, 1),
            "indexes_s": round(t_indexes - t_rows, 1), "db_bytes": db_bytes(path),
            "built_at": datetime.now(UTC).isoformat(timespec="seconds"), "sqlite": sqlite3.sqlite_version}
    Path(f"{path}.json").write_text(json.dumps(info, indent=1))
    return info


def flush(conn: sqlite3.Connection, batch: dict[str, list], counts: dict[str, int]) -> None:
    conn.executemany(f"INSERT INTO instances ({', '.join(INSTANCE_COLUMNS)}) VALUES "
                     f"({','.join('?' * len(INSTANCE_COLUMNS))})", batch["instances"])
    conn.executemany(f"INSERT INTO tasks ({', '.join(TASK_COLUMNS)}) VALUES ({','.join('?' * len(TASK_COLUMNS))})",
                     batch["tasks"])
    conn.executemany(f"INSERT INTO events ({', '.join(EVENT_COLUMNS)}) VALUES "
                     f"({','.join('?' * len(EVENT_COLUMNS))})", batch["events"])
    conn.executemany(f"INSERT INTO notifications ({', '.join(NOTE_COLUMNS)}) VALUES "
                     f"({','.join('?' * len(NOTE_COLUMNS))})", batch["notifications"])
    for table, rows in batch.items():
        counts[table] += len(rows)
        rows.clear()


# --- measuring ----------------------------------------------------------------------------------------
def timed(fn, repeat: int, budget_s: float = 60.0) -> list[float]:
    """Seconds per call of fn(): `repeat` calls, fewer (at least 3) when they take more than `budget_s` in all."""
    clock = time.perf_counter
    out: list[float] = []
    start = clock()
    while len(out) < repeat and (len(out) < 3 or clock() - start < budget_s):
        t = clock()
        fn()
        out.append(clock() - t)
    return out


def spread(samples: list[float]) -> dict:
    """median and p95 (nearest rank) in ms."""
    ordered = sorted(samples)
    return {"median_ms": round(statistics.median(ordered) * 1000, 4),
            "p95_ms": round(ordered[max(0, math.ceil(0.95 * len(ordered)) - 1)] * 1000, 4),
            "min_ms": round(ordered[0] * 1000, 4), "n": len(ordered)}


def chain_ok(events: list[tuple]) -> tuple[bool, str]:
    """Recompute one instance's hash chain from its stored events (id order): (ok, its last hash)."""
    prev = GENESIS
    for seq, row in enumerate(events, 1):
        if row[1] != seq or chain(prev, row[:9]) != row[9]:
            return False, f"event {row[0]}/{row[1]}"
        prev = row[9]
    return True, prev


def instance_chain(conn: sqlite3.Connection, iid: int) -> bool:
    """Does the instance's event chain verify and end at the head and count kept on its row?"""
    events = conn.execute("SELECT instance_id, seq, at, actor, acting_for, step, task, type, payload, hash FROM "
                          "events WHERE id BETWEEN ? AND ? ORDER BY id", (iid << 24, (iid << 24) | MASK)).fetchall()
    n, head = conn.execute("SELECT events, head FROM instances WHERE id = ?", (iid,)).fetchone()
    ok, end = chain_ok(events)
    return ok and len(events) == n and end == head


def profiled(fn, label: str, top: int = 25) -> str:
    prof = cProfile.Profile()
    prof.enable()
    fn()
    prof.disable()
    out = io.StringIO()
    pstats.Stats(prof, stream=out).sort_stats("tottime").print_stats(top)
    return f"--- cProfile: {label} (sorted by tottime) ---\n{out.getvalue()}"


def plan_of(conn: sqlite3.Connection, sql: str, args: tuple) -> str:
    return " / ".join(row[3] for row in conn.execute("EXPLAIN QUERY PLAN " + sql, args))


class QueryClock:
    """Wraps one Store's due_instances to add up the time spent in it (the engine's code is not changed)."""

    def __init__(self, store) -> None:
        self.inner, self.calls, self.seconds = store.due_instances, 0, 0.0
        store.due_instances = self

    def __call__(self, *args):
        t = time.perf_counter()
        try:
            return self.inner(*args)
        finally:
            self.calls += 1
            self.seconds += time.perf_counter() - t


class CommitClock:
    """Wraps one Store's write() to add up the time its COMMITs take (with the WAL checkpoints they set off)."""

    def __init__(self, store) -> None:
        self.inner, self.commits, self.seconds = store.write, 0, 0.0
        store.write = self.write

    @contextmanager
    def write(self):
        cm = self.inner()
        conn = cm.__enter__()
        try:
            yield conn
        except BaseException as exc:
            if not cm.__exit__(type(exc), exc, exc.__traceback__):
                raise
        else:
            t = time.perf_counter()
            cm.__exit__(None, None, None)
            self.commits += 1
            self.seconds += time.perf_counter() - t


def measure(db: Path, registry: definitions.Registry, plan: Plan, repeat: int, synchronous: str,
            profile: bool) -> dict:
    quiet = without_schedules(registry)
    scheduled = sum(len(wf.schedules) for wf in registry.workflows.values())
    at_now, at_act = NOW.isoformat(timespec="seconds"), ACT.isoformat(timespec="seconds")
    wake_args = (at_now, "", "", 0, 500)
    res: dict = {"profiles": [], "schedules": scheduled}
    eng = Engine(db, registry, synchronous=synchronous, clock=lambda: NOW)
    try:
        conn = eng.store.conn
        # 1. the first tick on a freshly opened engine: empty page cache, and it registers the schedule
        t = time.perf_counter()
        first = eng.tick(NOW)
        res["first_tick_ms"] = round((time.perf_counter() - t) * 1000, 3)
        if first["actions"] or first["started"] or first["errors"]:
            raise AssertionError(f"the no-op tick did something: {first}")
        # 2. the bare due-queries: on the partial index (the baseline), and as the engine runs its own
        indexed = WAKE_QUERY.format(hint="INDEXED BY instances_waking ")
        if conn.execute(indexed, wake_args).fetchall() or eng.store.due_instances(at_now, ("", 0), 500):
            raise AssertionError("something is due at the no-op moment")
        res["wake_index"] = spread(timed(lambda: conn.execute(indexed, wake_args).fetchall(), repeat * 20, 10))
        res["wake_query"] = spread(timed(lambda: eng.store.due_instances(at_now, ("", 0), 500), repeat * 20, 10))
        task_sql = TASK_QUERY.format(hint="")
        earliest = conn.execute(task_sql, (at_now,)).fetchone()
        res["task_query"] = spread(timed(lambda: conn.execute(task_sql, (at_now,)).fetchall(), repeat * 20, 10))
        res["task_query_found"] = earliest
        res["plans"] = {"wake_index": plan_of(conn, indexed, wake_args),
                        "task_query": plan_of(conn, task_sql, (at_now,))}
        # 3. the no-op tick, warm, with the schedule
        res["noop_tick"] = spread(timed(lambda: eng.tick(NOW), repeat))
        if profile:
            res["profiles"].append(profiled(lambda: [eng.tick(NOW) for _ in range(min(repeat, 10))],
                                            f"{min(repeat, 10)} no-op ticks with {scheduled} schedule(s)"))
        # 4. the same queries without an index: a full scan, a few times
        wake_scan = WAKE_QUERY.format(hint="NOT INDEXED ")
        task_scan = TASK_QUERY.format(hint="NOT INDEXED ")
        res["wake_scan"] = spread(timed(lambda: conn.execute(wake_scan, wake_args).fetchall(), 3))
        res["task_scan"] = spread(timed(lambda: conn.execute(task_scan, (at_now,)).fetchall(), 3))
        if conn.execute(task_scan, (at_now,)).fetchone() != earliest:
            raise AssertionError("the scan and the index disagree on the earliest due task")
        # 5. the no-op tick on a registry without schedules: another engine object on the same file
        eng_quiet = Engine(db, quiet, synchronous=synchronous, clock=lambda: NOW)
        try:
            t = time.perf_counter()
            eng_quiet.tick(NOW)
            res["first_tick_quiet_ms"] = round((time.perf_counter() - t) * 1000, 3)
            res["noop_tick_quiet"] = spread(timed(lambda: eng_quiet.tick(NOW), repeat))
            if profile:
                res["profiles"].append(profiled(lambda: [eng_quiet.tick(NOW) for _ in range(min(repeat, 10))],
                                                f"{min(repeat, 10)} no-op ticks without schedules"))
        finally:
            eng_quiet.close()
        # 6. the tick that applies the due actions (the time in its due queries added up on the side)
        due_ids = plan.due_ids()
        notes_before = conn.execute("SELECT coalesce(max(id), 0) FROM notifications").fetchone()[0]
        events_before = dict(conn.execute(
            f"SELECT id, events FROM instances WHERE id IN ({','.join(map(str, due_ids))})").fetchall())
        queries, commits = QueryClock(eng.store), CommitClock(eng.store)
        wal_before = db_bytes(db) - db.stat().st_size
        t = time.perf_counter()
        if profile:
            box: dict = {}
            res["profiles"].append(profiled(lambda: box.setdefault("r", eng.tick(ACT)),
                                            f"the tick applying {plan.due} actions"))
            result = box["r"]
        else:
            result = eng.tick(ACT)
        res["action_tick_s"] = round(time.perf_counter() - t, 4)
        res["action_queries"] = {"calls": queries.calls, "seconds": round(queries.seconds, 4)}
        res["action_commits"] = {"commits": commits.commits, "seconds": round(commits.seconds, 4),
                                 "wal_growth_bytes": db_bytes(db) - db.stat().st_size - wal_before}
        eng.store.due_instances, eng.store.write = queries.inner, commits.inner
        res["action_tick_profiled"] = profile
        res["action_result"] = result
        res["noop_after_ms"] = round(timed(lambda: eng.tick(ACT), 1)[0] * 1000, 3)
        # 7. check what it wrote
        new_events: dict[str, int] = {}
        chains = 0
        for iid in due_ids:
            for (kind,) in conn.execute("SELECT type FROM events WHERE id > ? AND id <= ?",
                                        ((iid << 24) | events_before[iid], (iid << 24) | MASK)):
                new_events[kind] = new_events.get(kind, 0) + 1
            chains += instance_chain(conn, iid)
        notes = dict(conn.execute("SELECT type, count(*) FROM notifications WHERE id > ? GROUP BY type",
                                  (notes_before,)).fetchall())
        late_open = conn.execute(f"SELECT count(*) FROM tasks WHERE status = 'open' AND step = 'late' AND "
                                 f"instance_id IN ({','.join(map(str, due_ids))})").fetchone()[0]
        res["checks"] = {"new_events": dict(sorted(new_events.items())), "notifications": dict(sorted(notes.items())),
                         "chains_ok": chains, "late_tasks_opened": late_open,
                         "due_left": len(conn.execute(indexed, (at_act, "", "", 0, 500)).fetchall())}
        # 8. the clones work as instances: one of each phase shown, one completed through the engine
        due_set = set(due_ids)
        shown = [next((i for i in range(p or plan.phases, plan.n + 1, plan.phases) if i not in due_set), None)
                 for p in range(plan.phases)]
        shown = [iid for iid in shown if iid is not None]
        for iid in shown:
            view = eng.show(iid)
            if view["tasks"][0]["id"] != f"{iid}-2" or not instance_chain(conn, iid):
                raise AssertionError(f"instance {iid}: {view['tasks']}")
        done = eng.complete(f"{shown[0]}-2", "eng1", data={"note": "已修復"}) if shown else None
        if done and (done["status"] != "completed" or not instance_chain(conn, shown[0])):
            raise AssertionError(f"instance {shown[0]} could not be completed: {done['status']}")
        res["checks"].update(shown=shown, completed=shown[0] if shown else None)
        res["db_bytes_after_run"] = db_bytes(db)
        res["wal_bytes_after_run"] = db_bytes(db) - db.stat().st_size
    finally:
        eng.close()
    return res


# --- report -------------------------------------------------------------------------------------------
def verdict(ok: bool, noisy: bool) -> str:
    return ("ok" if ok else "MISSED") + ("?  (noisy run, repeat)" if noisy else "")


def expected_actions(plan: Plan) -> dict[str, int]:
    """Due instance k is of phase k % 4 and fires rung k % 4: remind, notify, escalate, lapse (goto)."""
    kinds = ("reminded", "notified", "escalated", "expired")
    out: dict[str, int] = {}
    for k in range(plan.due):
        out[kinds[k % plan.phases]] = out.get(kinds[k % plan.phases], 0) + 1
    return dict(sorted(out.items()))


def report(info: dict, res: dict, plan: Plan, args, busy: float | None, cached: bool, copy_s: float) -> dict:
    result, checks = res["action_result"], res["checks"]
    actions = sum(result["actions"].values())
    expected = expected_actions(plan)
    per_event = {"deadline_reminder": "reminded", "deadline_notice": "notified", "task_escalated": "escalated",
                 "task_expired": "expired"}
    seen = dict(sorted((per_event[k], v) for k, v in checks["new_events"].items() if k in per_event))
    verified = (result["actions"] == expected and seen == expected and not result["errors"] and not result["started"]
                and checks["chains_ok"] == plan.due and checks["late_tasks_opened"] == expected.get("expired", 0)
                and checks["new_events"].get("task_opened", 0) == expected.get("expired", 0)
                and checks["due_left"] == 0)
    base, wake, task = res["wake_index"], res["wake_query"], res["task_query"]
    noop, quiet = res["noop_tick"], res["noop_tick_quiet"]
    noisy = (busy or 0) > 0.5
    c = info["counts"]
    rev = engine_revision()
    size = res["db_bytes_after_run"]
    print(f"\ndeadlines: {plan.n:,} open tasks, {plan.due:,} due; SQLite WAL synchronous={args.synchronous}, "
          f"Python {platform.python_version()}, SQLite {sqlite3.sqlite_version}, {os.cpu_count()} CPUs, "
          f"engine at {rev or 'unknown revision'}")
    print(f"database  {c['instances']:,} instances, {c['tasks']:,} open tasks, {c['events']:,} events, "
          f"{c['notifications']:,} notifications: {mib(info['db_bytes'])} as built, {mib(size)} after the run "
          f"(WAL {mib(res['wal_bytes_after_run'])})")
    print(f"          built in {info['build_s']} s (rows {info['rows_s']} s, indexes {info['indexes_s']} s)"
          + (f"; cached, this run copied it in {copy_s:.1f} s" if cached else ""))
    print(f"\n{'':56} {'median':>11} {'p95':>11}   target")

    def line(name: str, s: dict, target: float | None = None, note: str = "") -> None:
        mark = f"< {target:g} ms  {verdict(s['median_ms'] < target, noisy)}" if target else ""
        print(f"{name:56} {s['median_ms']:>8.4f} ms {s['p95_ms']:>8.4f} ms   {mark:16} ({s['n']} runs{note})")

    line("due query on instances_waking (the bare indexed query)", base)
    line("the same through Store.due_instances (the engine's call)", wake)
    line("earliest open task on tasks_open_due, LIMIT 1", task)
    line("due query NOT INDEXED: instances (full scan)", res["wake_scan"])
    line("earliest task NOT INDEXED: tasks (full scan)", res["task_scan"])
    print(f"{'first tick after opening (registers the schedule)':56} {res['first_tick_ms']:>8.3f} ms")
    line(f"no-op tick, {res['schedules']} schedule", noop, TARGET_NOOP_MS)
    line("no-op tick, no schedules", quiet, TARGET_NOOP_MS)
    secs, q, cm = res["action_tick_s"], res["action_queries"], res["action_commits"]
    rate = actions / secs
    mark = f"< {TARGET_ACTIONS_S:g} s   {verdict(secs < TARGET_ACTIONS_S, noisy)}"
    print(f"{f'tick applying {actions:,} due actions':56} {secs:>9.3f} s {'':>11}   {mark:16} "
          f"({rate:,.0f} actions/s, {secs * 1000 / max(actions, 1):.2f} ms each"
          f"{'; under cProfile' if res['action_tick_profiled'] else ''})")
    print(f"{'  of which':56} {q['calls']} due queries {q['seconds']:.3f} s, {cm['commits']} COMMITs "
          f"{cm['seconds']:.3f} s (WAL +{mib(cm['wal_growth_bytes'])}), the rest "
          f"{secs - q['seconds'] - cm['seconds']:.3f} s (reads, core, statements)")
    print(f"{'no-op tick right after it':56} {res['noop_after_ms']:>8.3f} ms")
    ratios = {"noop_vs_bare_query": noop["median_ms"] / base["median_ms"],
              "noop_quiet_vs_bare_query": quiet["median_ms"] / base["median_ms"],
              "noop_vs_engine_query": noop["median_ms"] / wake["median_ms"]}
    print(f"\nno-op tick / bare indexed due query   {ratios['noop_vs_bare_query']:>10,.0f}x   (no schedules: "
          f"{ratios['noop_quiet_vs_bare_query']:,.0f}x)")
    print(f"no-op tick / the engine's due query   {ratios['noop_vs_engine_query']:>10,.2f}x")
    print(f"query plans: due: {res['plans']['wake_index']}\n"
          f"             earliest task: {res['plans']['task_query']}")
    print(f"earliest open task at the no-op moment: {res['task_query_found']} (tasks past their due time wait for "
          "a later rung: nothing is due)")
    print(f"\nverified: the tick returned {result['actions']} (planned {expected}), {len(result['errors'])} errors; "
          f"new events on the due instances {checks['new_events']}; notifications {checks['notifications']}; "
          f"{checks['chains_ok']:,}/{plan.due:,} hash chains ok; {checks['late_tasks_opened']} late tasks opened; "
          f"nothing left due ({checks['due_left']}); instances {checks['shown']} shown and {checks['completed']} "
          f"completed through the engine: {'OK' if verified else 'FAILED'}")
    if noisy:
        print(f"note: the machine looks busy ({busy} CPUs busy before the run); figures are noisy")
    summary = {"tasks": plan.n, "due": plan.due, "history": info["history"], "counts": c,
               "db_bytes_built": info["db_bytes"], "db_bytes_after_run": size, "build_s": info["build_s"],
               "cached": cached, "bare_query": base, "engine_query": wake, "task_query": task,
               "wake_scan": res["wake_scan"], "task_scan": res["task_scan"], "plans": res["plans"],
               "first_tick_ms": res["first_tick_ms"], "first_tick_quiet_ms": res["first_tick_quiet_ms"],
               "noop_tick": noop, "noop_tick_quiet": quiet, "action_tick_s": secs,
               "action_queries": q, "action_commits": cm, "actions": actions, "actions_per_s": round(rate, 1),
               "action_result": result,
               "checks": checks, "verified": verified, **{k: round(v, 2) for k, v in ratios.items()},
               "targets": {"noop_ms": TARGET_NOOP_MS, "actions_s": TARGET_ACTIONS_S},
               "targets_met": {"noop_ms": noop["median_ms"] < TARGET_NOOP_MS, "actions_s": secs < TARGET_ACTIONS_S},
               "synchronous": args.synchronous, "python": platform.python_version(), "cpus": os.cpu_count(),
               "sqlite": sqlite3.sqlite_version, "engine_revision": rev, "busy_cpus_at_start": busy, "noisy": noisy}
    print(json.dumps(summary, ensure_ascii=False))
    if not verified:
        raise AssertionError("the action tick did not do what was planned (see above)")
    return summary


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--tasks", type=int, default=1_000_000, help="open tasks (one instance each)")
    ap.add_argument("--due", type=int, default=1000, help="of them due at the action tick, one rung each")
    ap.add_argument("--repeat", type=int, default=50, help="no-op ticks timed (the queries run 20x as often)")
    ap.add_argument("--rebuild", action="store_true", help="build the database even if it is cached")
    ap.add_argument("--no-history", action="store_true",
                    help="clones without their events and notifications (a smaller, quicker database)")
    ap.add_argument("--cache", type=Path, default=Path(tempfile.gettempdir()) / "goldkey-bench-deadlines",
                    help="folder of the cached databases (default: %(default)s)")
    ap.add_argument("--keep", action="store_true", help="keep the measured copy (printed) instead of removing it")
    ap.add_argument("--profile", action="store_true",
                    help="also run the no-op ticks and the action tick under cProfile and print the top functions")
    ap.add_argument("--synchronous", default="FULL", choices=("OFF", "NORMAL", "FULL"))
    args = ap.parse_args(argv)
    if args.tasks < 1 or not 1 <= args.due <= args.tasks or args.repeat < 1:
        ap.error("need --tasks >= --due >= 1 and --repeat >= 1")
    registry = definitions.load_strict(DEFS)
    plan = Plan(args.tasks, args.due, len(registry.workflow(WORKFLOW).steps[STEP].ladder))
    args.cache.mkdir(parents=True, exist_ok=True)
    cached_db = cache_path(args.cache, args.tasks, args.due, not args.no_history, registry)
    cached = cached_db.exists() and Path(f"{cached_db}.json").exists() and not args.rebuild
    if cached:
        print(f"using the cached database {cached_db} (--rebuild to build it again)", flush=True)
    else:
        print(f"building {cached_db}: {args.tasks:,} instances ...", flush=True)
        remove_db(cached_db)
        build(cached_db, args.tasks, args.due, not args.no_history, registry)
    info = json.loads(Path(f"{cached_db}.json").read_text())
    work = args.cache / f"run-{os.getpid()}.db"
    busy = busy_cpus()
    t = time.perf_counter()
    shutil.copyfile(cached_db, work)
    with open(work, "rb+") as f:  # on disk before measuring: else the tick's first fsync writes the whole copy
        os.fsync(f.fileno())
    copy_s = time.perf_counter() - t
    try:
        print(f"measuring on a copy ({work}) ...", flush=True)
        res = measure(work, registry, plan, args.repeat, args.synchronous, args.profile)
        for text in res.pop("profiles"):
            print(text)
        report(info, res, plan, args, busy, cached, copy_s)
    finally:
        if args.keep:
            print(f"kept {work}")
        else:
            remove_db(work)
    return 0


if __name__ == "__main__":
    sys.exit(main())
