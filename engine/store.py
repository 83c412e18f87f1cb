"""SQLite storage: migrations, the one write path, the hash-chained event log and the projections.

sqlite-utils creates and migrates the schema; the per-step writes are plain statements on the same
connection (sqlite-utils' `.insert()` runs schema look-ups on every call, too slow for the hot path).
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import sqlite_utils

from .errors import Conflict, NotFound

GENESIS = "0" * 64


def dumps(value: object) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def _m0001_initial(db: sqlite_utils.Database) -> None:
    db["versions"].create({"version": str, "workflow": str, "files": str, "created_at": str}, pk="version")
    db["instances"].create({"id": int, "workflow": str, "version": str, "number": str, "status": str,
                            "outcome": str, "started_by": str, "started_at": str, "ended_at": str,
                            "updated_at": str, "parent_id": int, "wake_at": str, "revision": int,
                            "state": str}, pk="id")
    db["instances"].create_index(["workflow", "status"])
    db["instances"].create_index(["status", "wake_at"])
    db["instances"].create_index(["number"])
    db["instances"].create_index(["parent_id"])
    db["tasks"].create({"id": str, "instance_id": int, "step": str, "kind": str, "roles": str, "status": str,
                        "opened_at": str, "due_at": str, "closed_at": str, "closed_by": str, "outcome": str},
                       pk="id")
    db["tasks"].create_index(["status", "due_at"])
    db["tasks"].create_index(["instance_id"])
    db["events"].create({"id": int, "instance_id": int, "at": str, "actor": str, "acting_for": str,
                         "step": str, "task": str, "type": str, "payload": str, "prev_hash": str, "hash": str},
                        pk="id")
    db["events"].create_index(["instance_id"])
    db["ledger_entries"].create({"id": int, "workflow": str, "ledger": str, "instance_id": int, "number": str,
                                 "entry": str, "amount": int, "balance": int, "at": str, "actor": str,
                                 "step": str, "memo": str, "event_id": int}, pk="id", not_null={"number"})
    db["ledger_entries"].create_index(["workflow", "ledger"])
    db["ledger_entries"].create_index(["instance_id"])
    for table in ("events", "ledger_entries"):  # append-only: the audit trail cannot be quietly rewritten
        for op in ("UPDATE", "DELETE"):
            db.execute(f"CREATE TRIGGER {table}_no_{op.lower()} BEFORE {op} ON {table} "
                       f"BEGIN SELECT RAISE(ABORT, '{table} are append-only'); END")
    db["counters"].create({"series": str, "year": int, "last": int}, pk=("series", "year"))
    db["users"].create({"name": str, "title": str, "password_hash": str, "created_at": str}, pk="name")
    db["user_roles"].create({"user": str, "role": str}, pk=("user", "role"))
    db["delegations"].create({"id": int, "user": str, "deputy": str, "starts": str, "ends": str,
                              "created_at": str}, pk="id")
    db["delegations"].create_index(["deputy"])


MIGRATIONS = [("0001_initial", _m0001_initial)]


class Store:
    """One SQLite file in WAL mode; every write goes through `write()` (BEGIN IMMEDIATE ... COMMIT)."""

    def __init__(self, path: str | Path, synchronous: str = "FULL") -> None:
        self.path = str(path)
        self.conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False, timeout=30)
        self.conn.execute("PRAGMA journal_mode=WAL")
        self.conn.execute(f"PRAGMA synchronous={synchronous}")  # per connection: set it on every one
        self.conn.execute("PRAGMA busy_timeout=30000")
        self.db = sqlite_utils.Database(self.conn)
        self.migrate()

    def close(self) -> None:
        self.conn.close()

    def migrate(self) -> None:
        """Apply the named migrations not yet applied, each in its own transaction."""
        self.conn.execute("CREATE TABLE IF NOT EXISTS migrations (name TEXT PRIMARY KEY, applied_at TEXT)")
        done = {row[0] for row in self.conn.execute("SELECT name FROM migrations")}
        for name, migration in MIGRATIONS:
            if name in done:
                continue
            with self.write():
                if self.conn.execute("SELECT 1 FROM migrations WHERE name=?", (name,)).fetchone():
                    continue  # another process applied it while we waited for the lock
                migration(self.db)
                self.conn.execute("INSERT INTO migrations VALUES (?, datetime('now'))", (name,))

    @contextmanager
    def write(self) -> Iterator[sqlite3.Connection]:
        """One write transaction; rolled back whole on any exception."""
        if self.conn.in_transaction:  # nested: part of the caller's transaction
            yield self.conn
            return
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            yield self.conn
        except BaseException:
            self.conn.execute("ROLLBACK")
            raise
        self.conn.execute("COMMIT")

    # --- definitions --------------------------------------------------------------------------------
    def save_version(self, version: str, workflow: str, files: dict[str, str], now: str) -> None:
        self.conn.execute("INSERT OR IGNORE INTO versions VALUES (?,?,?,?)", (version, workflow, dumps(files), now))

    def version_files(self, version: str) -> dict[str, str]:
        row = self.conn.execute("SELECT files FROM versions WHERE version=?", (version,)).fetchone()
        if row is None:
            raise NotFound(f"資料庫中沒有流程版本 {version}")
        return json.loads(row[0])

    # --- instances ----------------------------------------------------------------------------------
    def next_number(self, series: str, year: int) -> int:
        """The next gap-free sequence number of a series; call inside `write()`."""
        row = self.conn.execute("INSERT INTO counters VALUES (?,?,1) ON CONFLICT(series, year) "
                                "DO UPDATE SET last = last + 1 RETURNING last", (series, year)).fetchone()
        return row[0]

    def new_instance_id(self, workflow: str, version: str, started_by: str, now: str,
                        parent_id: int | None) -> int:
        cur = self.conn.execute("INSERT INTO instances (workflow, version, status, started_by, started_at, "
                                "updated_at, parent_id, revision, state) VALUES (?,?,?,?,?,?,?,0,'{}')",
                                (workflow, version, "active", started_by, now, now, parent_id))
        return cur.lastrowid

    def instance_row(self, instance_id: int) -> dict:
        cur = self.conn.execute("SELECT id, workflow, version, number, status, outcome, parent_id, revision, "
                                "state, started_at, updated_at FROM instances WHERE id=?", (instance_id,))
        row = cur.fetchone()
        if row is None:
            raise NotFound(f"沒有案件 {instance_id}")
        names = [d[0] for d in cur.description]
        out = dict(zip(names, row, strict=True))
        out["state"] = json.loads(out["state"])
        return out

    def save_state(self, instance_id: int, revision: int, state: dict, now: str) -> None:
        """Write the new state if nobody else has since `revision` (optimistic check) or raise Conflict."""
        wake = min((t["until"] for t in state["tokens"].values() if t.get("until")), default=None)
        cur = self.conn.execute(
            "UPDATE instances SET state=?, status=?, outcome=?, number=?, ended_at=?, updated_at=?, wake_at=?, "
            "revision=revision+1 WHERE id=? AND revision=?",
            (dumps(state), state["status"], state["outcome"], state["number"], state.get("ended_at"), now, wake,
             instance_id, revision))
        if cur.rowcount != 1:
            raise Conflict(f"案件 {instance_id} 剛被其他人更新，請重新整理後再試")

    def append_events(self, instance_id: int, workflow: str, events: list[dict], actor: str | None,
                      acting_for: str | None, at: str) -> None:
        """Append events to the hash-chained log and update the task and ledger projections."""
        if not events:
            return
        row = self.conn.execute("SELECT id, hash FROM events ORDER BY id DESC LIMIT 1").fetchone()
        last_id, prev = row if row else (0, GENESIS)
        rows = []
        for offset, event in enumerate(events, 1):
            payload = dumps(event["payload"])
            body = dumps([last_id + offset, instance_id, at, actor, acting_for, event["step"], event["task"],
                          event["type"], payload])
            digest = hashlib.sha256((prev + body).encode()).hexdigest()
            rows.append((last_id + offset, instance_id, at, actor, acting_for, event["step"], event["task"],
                         event["type"], payload, prev, digest))
            prev = digest
        self.conn.executemany("INSERT INTO events VALUES (?,?,?,?,?,?,?,?,?,?,?)", rows)
        for (event_id, *_), event in zip(rows, events, strict=True):
            self._project(instance_id, workflow, event_id, event, actor, at)

    def _project(self, instance_id: int, workflow: str, event_id: int, event: dict, actor: str | None,
                 at: str) -> None:
        kind, payload = event["type"], event["payload"]
        if kind == "task_opened":
            self.conn.execute("INSERT INTO tasks (id, instance_id, step, kind, roles, status, opened_at, due_at) "
                              "VALUES (?,?,?,?,?,?,?,?)", (event["task"], instance_id, event["step"],
                                                           payload.get("kind"), dumps(payload["roles"]), "open",
                                                           at, payload.get("due_at")))
        elif kind == "signed":
            self.conn.execute("UPDATE tasks SET roles=? WHERE id=?", (dumps(payload["remaining"]), event["task"]))
        elif kind in ("task_completed", "task_cancelled"):
            status = "done" if kind == "task_completed" else "cancelled"
            self.conn.execute("UPDATE tasks SET status=?, closed_at=?, closed_by=?, outcome=? WHERE id=?",
                              (status, at, actor, payload.get("outcome"), event["task"]))
        elif kind == "ledger_posted":
            self.conn.execute("INSERT INTO ledger_entries (workflow, ledger, instance_id, number, entry, amount, "
                              "balance, at, actor, step, memo, event_id) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
                              (workflow, payload["ledger"], instance_id, payload["number"], payload["entry"],
                               payload["amount"], payload["balance"], at, actor, event["step"], payload.get("memo"),
                               event_id))

    def task_status(self, task_id: str) -> str | None:
        row = self.conn.execute("SELECT status FROM tasks WHERE id=?", (task_id,)).fetchone()
        return row[0] if row else None

    def events(self, instance_id: int) -> list[dict]:
        cur = self.conn.execute("SELECT id, at, actor, acting_for, step, task, type, payload FROM events "
                                "WHERE instance_id=? ORDER BY id", (instance_id,))
        return [{"id": r[0], "at": r[1], "actor": r[2], "acting_for": r[3], "step": r[4], "task": r[5],
                 "type": r[6], "payload": json.loads(r[7])} for r in cur]

    def ledger_entries(self, instance_id: int) -> list[dict]:
        cur = self.conn.execute("SELECT id, ledger, number, entry, amount, balance, at, actor, step, memo "
                                "FROM ledger_entries WHERE instance_id=? ORDER BY id", (instance_id,))
        names = [d[0] for d in cur.description]
        return [dict(zip(names, r, strict=True)) for r in cur]

    def verify_chain(self) -> tuple[bool, int, str]:
        """Recompute the event hash chain: (ok, events checked, first problem)."""
        prev = GENESIS
        count = 0
        for row in self.conn.execute("SELECT id, instance_id, at, actor, acting_for, step, task, type, payload, "
                                     "prev_hash, hash FROM events ORDER BY id"):
            count += 1
            body = dumps(list(row[:9]))
            if row[9] != prev or hashlib.sha256((prev + body).encode()).hexdigest() != row[10]:
                return False, count, f"event {row[0]} does not match the chain"
            prev = row[10]
        return True, count, ""

    # --- users --------------------------------------------------------------------------------------
    def add_user(self, name: str, roles: list[str], now: str, title: str | None = None) -> None:
        with self.write():
            self.conn.execute("INSERT INTO users (name, title, created_at) VALUES (?,?,?) "
                              "ON CONFLICT(name) DO UPDATE SET title=coalesce(excluded.title, title)",
                              (name, title, now))
            self.conn.executemany("INSERT OR IGNORE INTO user_roles VALUES (?,?)", [(name, r) for r in roles])

    def user_exists(self, name: str) -> bool:
        return self.conn.execute("SELECT 1 FROM users WHERE name=?", (name,)).fetchone() is not None

    def user_roles(self, name: str) -> frozenset[str]:
        return frozenset(r[0] for r in self.conn.execute("SELECT role FROM user_roles WHERE user=?", (name,)))

    def users(self) -> list[dict]:
        rows = self.conn.execute("SELECT u.name, u.title, group_concat(r.role, ' ') FROM users u "
                                 "LEFT JOIN user_roles r ON r.user = u.name GROUP BY u.name ORDER BY u.name")
        return [{"name": n, "title": t, "roles": sorted((roles or "").split())} for n, t, roles in rows]

    def add_delegation(self, user: str, deputy: str, starts: str, ends: str, now: str) -> None:
        with self.write():
            self.conn.execute("INSERT INTO delegations (user, deputy, starts, ends, created_at) VALUES (?,?,?,?,?)",
                              (user, deputy, starts, ends, now))

    def delegations_to(self, deputy: str, day: str) -> list[str]:
        """Users who named `deputy` for a date range containing `day` (YYYY-MM-DD)."""
        rows = self.conn.execute("SELECT DISTINCT user FROM delegations WHERE deputy=? AND starts<=? AND ends>=?",
                                 (deputy, day, day))
        return [r[0] for r in rows]

    def open_tasks_for_roles(self, roles: list[str]) -> list[dict]:
        if not roles:
            return []
        marks = ",".join("?" * len(roles))
        cur = self.conn.execute(
            "SELECT t.id, t.instance_id, t.step, t.roles, t.opened_at, t.due_at, i.workflow, i.number "
            "FROM tasks t JOIN instances i ON i.id = t.instance_id WHERE t.status='open' AND EXISTS "
            f"(SELECT 1 FROM json_each(t.roles) j WHERE j.value IN ({marks})) "
            "ORDER BY t.due_at IS NULL, t.due_at, t.opened_at, t.id", roles)
        names = [d[0] for d in cur.description]
        return [dict(zip(names, r, strict=True)) for r in cur]
