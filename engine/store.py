"""The store: the one write path, the hash-chained event log and the projections, over SQL that both databases
run. `open_store(url)` picks the implementation: an SQLite file (engine/sqlitestore.py, the embedded default) or
PostgreSQL (engine/pgstore.py, `postgresql://...`). Each supplies its connection, transactions and the few
statements the two dialects write differently; the schema is engine/schema.py, one source for both.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

from .errors import Conflict, Invalid, NotFound
from .jsontext import dumps, loads
from .migratestore import MigrateRows
from .money import fen_text
from .privacystore import PrivacyRows
from .recordstore import RecordRows
from .schema import DIGEST, MIGRATIONS

GENESIS = "0" * 64
_SORTS = {"number": "i.number", "started": "i.started_at", "status": "i.status", "updated": "i.updated_at"}


def is_postgres(url: str | Path) -> bool:
    """Does `url` name a PostgreSQL database (`postgresql://...` or `postgres://...`) rather than an SQLite file?"""
    return str(url).startswith(("postgresql://", "postgres://"))


def open_store(url: str | Path, synchronous: str = "FULL") -> Store:
    """The store at `url`: `postgresql://...` (or `postgres://`) on PostgreSQL, anything else an SQLite file.
    `synchronous` is SQLite's durability setting (FULL, NORMAL, OFF: for building benchmark data only)."""
    text = str(url)
    if is_postgres(text):
        from .pgstore import PgStore

        return PgStore(text)
    from .sqlitestore import SqliteStore

    return SqliteStore(text, synchronous)


def task_key(task_id: str) -> int | None:
    """The integer key of a task id "instance-seq" (None if it is not one)."""
    instance, _, seq = str(task_id).partition("-")
    if not (instance.isdigit() and seq.isdigit()) or int(seq) >= 1 << 24:
        return None
    return (int(instance) << 24) | int(seq)


_TASK_UPSERT = (
    "INSERT INTO tasks (key, id, instance_id, step, kind, roles, status, opened_at, due_at, closed_at, closed_by, "
    "outcome) VALUES (?,?,?,?,?,?,?,?,?,?,?,?) ON CONFLICT(key) DO UPDATE SET "
    "roles=coalesce(excluded.roles, tasks.roles), status=coalesce(excluded.status, tasks.status), "
    "due_at=coalesce(excluded.due_at, tasks.due_at), closed_at=coalesce(excluded.closed_at, tasks.closed_at), "
    "closed_by=coalesce(excluded.closed_by, tasks.closed_by), outcome=coalesce(excluded.outcome, tasks.outcome)")
_CLOSING = {"task_completed": "done", "task_cancelled": "cancelled", "task_expired": "expired"}
_ROW = ("id", "version", "parent_id", "revision", "status", "outcome", "number", "wake_at", "ended_at", "events",
        "head", "site")
DEFAULT_SITE = "default"  # the site of a single-site installation, and of everything from before sites
COMPANY = "*"  # a role granted at '*' holds at every site


def shown_url(url: str) -> str:
    """A database's URL or path without its password, for a message or a record."""
    url = re.sub(r"//([^:/@]*):[^@]*@", r"//\1:***@", url)
    return re.sub(r"(?i)([?&]password=)[^&]*", r"\1***", url)


def chain(prev: str, fields: tuple) -> str:
    """The hash of one event: the previous hash and the event's fields, unit-separated."""
    iid, seq, at, actor, acting_for, step, task, kind, payload = fields
    body = (f"{prev}{iid}\x1f{seq}\x1f{at}\x1f{actor or ''}\x1f{acting_for or ''}\x1f{step or ''}\x1f"
            f"{task or ''}\x1f{kind}\x1f{payload}")
    return hashlib.sha256(body.encode()).hexdigest()


class Store(RecordRows, PrivacyRows, MigrateRows):
    """What the engine asks of its database. A subclass gives `conn` (a DB-API connection taking `?` parameters),
    `write()`, `savepoint()`, `close()`, the DDL of the schema and the statements below that differ by dialect."""

    url: str
    conn: object
    GROUP_CONCAT = "group_concat"  # (the aggregate joining text with a separator)
    LIKE = "LIKE"  # (a pattern match that ignores case)

    def close(self) -> None:
        raise NotImplementedError

    @contextmanager
    def write(self) -> Iterator[object]:
        """One write transaction; rolled back whole on any exception; nested calls join the open one."""
        raise NotImplementedError
        yield

    @contextmanager
    def savepoint(self) -> Iterator[None]:
        """A part of the open transaction that can fail alone: its writes are undone, the rest stay."""
        self.conn.execute("SAVEPOINT part")
        try:
            yield
        except BaseException:
            self.conn.execute("ROLLBACK TO part")
            self.conn.execute("RELEASE part")
            raise
        self.conn.execute("RELEASE part")

    # --- the schema ------------------------------------------------------------------------------------
    def render_ddl(self, sql: str) -> list[str]:
        """A statement of engine/schema.py's neutral DDL in this dialect."""
        raise NotImplementedError

    def append_only_ddl(self, table: str) -> list[str]:
        raise NotImplementedError

    def sequence_ddl(self, name: str) -> list[str]:
        return []

    @contextmanager
    def _migrating(self) -> Iterator[None]:
        """Held while migrations are looked at and applied (one process at a time)."""
        yield

    def migrate(self) -> list[str]:
        """Apply the named migrations not yet applied, in order, each in its own transaction; their names."""
        applied: list[str] = []
        with self._migrating():
            self.conn.execute("CREATE TABLE IF NOT EXISTS migrations (name TEXT PRIMARY KEY, applied_at TEXT)")
            done = {row[0] for row in self.conn.execute("SELECT name FROM migrations")}
            for name, migration in MIGRATIONS:
                if name in done:
                    continue
                with self.write():
                    if self.conn.execute("SELECT 1 FROM migrations WHERE name=?", (name,)).fetchone():
                        continue  # another process applied it while we waited for the lock
                    migration(_Migrator(self))
                    self.conn.execute("INSERT INTO migrations VALUES (?, ?)",
                                      (name, datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S")))
                applied.append(name)
        return applied

    def migrations(self) -> list[str]:
        return [r[0] for r in self.conn.execute("SELECT name FROM migrations ORDER BY name")]

    def table_names(self) -> list[str]:
        """The tables of the database, by name."""
        raise NotImplementedError

    def columns(self, table: str) -> list[str]:
        cur = self.conn.execute(f"SELECT * FROM {table} WHERE 1=0")  # (a name from table_names())
        return [d[0] for d in cur.description]

    def table_rows(self, table: str) -> Iterator[tuple]:
        """Every row of `table` (a name from table_names())."""
        yield from self.conn.execute(f"SELECT * FROM {table}")

    # --- definitions --------------------------------------------------------------------------------
    def save_version(self, version: str, workflow: str, files: dict[str, str], now: str) -> None:
        self.conn.execute("INSERT INTO versions VALUES (?,?,?,?) ON CONFLICT DO NOTHING",
                          (version, workflow, dumps(files), now))

    def version_files(self, version: str) -> dict[str, str]:
        row = self.conn.execute("SELECT files FROM versions WHERE version=?", (version,)).fetchone()
        if row is None:
            raise NotFound(f"資料庫中沒有流程版本 {version}")
        return loads(row[0])

    # --- instances ----------------------------------------------------------------------------------
    def next_number(self, series: str, year: int) -> int:
        """The next gap-free sequence number of a series; call inside `write()`."""
        row = self.conn.execute("INSERT INTO counters VALUES (?,?,1) ON CONFLICT(series, year) "
                                "DO UPDATE SET last = counters.last + 1 RETURNING last", (series, year)).fetchone()
        return row[0]

    def instance_row(self, instance_id: int) -> dict:
        """What the write path needs of an instance: its version, revision, chain head and state."""
        row = self.conn.execute("SELECT id, version, parent_id, revision, status, outcome, number, wake_at, "
                                "ended_at, events, head, site, state FROM instances WHERE id=?",
                                (instance_id,)).fetchone()
        if row is None:
            raise NotFound(f"沒有案件 {instance_id}")
        return dict(zip(_ROW, row[:-1], strict=True), state=loads(row[-1]), state_text=row[-1])

    def commit_step(self, row: dict, state: dict, events: list[dict], actor: str | None, acting_for: str | None,
                    workflow: str, at: str) -> dict:
        """Save a new state if nobody has since `row["revision"]` (else Conflict), append its events to the
        instance's hash chain and update the projections; returns the new row. Call inside `write()`."""
        iid = row["id"]
        seq, prev = row["events"], row["head"]
        rows = []
        if seq + len(events) >= 1 << 24:
            raise Invalid(f"案件 {iid} 的事件已達上限，請改為新開案件")
        for event in events:
            seq += 1
            payload = dumps(event["payload"])
            fields = (iid, seq, at, actor, acting_for, event["step"], event["task"], event["type"], payload)
            prev = chain(prev, fields)  # each hash covers the one before it: the previous is not stored
            rows.append((iid << 24 | seq,) + fields + (prev,))
        wake = state.get("wake_at") if state["status"] == "active" else None
        text = dumps(state)
        new = dict(row, revision=row["revision"] + 1, status=state["status"], outcome=state["outcome"],
                   number=state["number"], wake_at=wake, ended_at=state.get("ended_at"), events=seq, head=prev,
                   state=state, state_text=text)
        # only the columns that changed: SQLite rewrites the index entries of every indexed column in SET
        sets = ["state=?", "revision=?", "updated_at=?", "events=?", "head=?"]
        args: list = [text, new["revision"], at, seq, prev]
        for column in ("status", "outcome", "number", "wake_at", "ended_at"):
            if new[column] != row[column]:
                sets.append(f"{column}=?")
                args.append(new[column])
        if row["revision"] == 0:  # a new instance: one INSERT with its final columns
            self.conn.execute("INSERT INTO instances (id, workflow, version, number, status, outcome, started_by, "
                              "started_at, ended_at, updated_at, parent_id, wake_at, revision, events, head, state, "
                              "site) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                              (iid, workflow, row["version"], new["number"], new["status"], new["outcome"],
                               state["started_by"], state["started_at"], new["ended_at"], at, row["parent_id"],
                               wake, 1, seq, prev, text, row["site"]))
        else:
            cur = self.conn.execute(f"UPDATE instances SET {', '.join(sets)} WHERE id=? AND revision=?",
                                    args + [iid, row["revision"]])
            if self.changed(cur) != 1:
                raise Conflict(f"案件 {iid} 剛被其他人更新，請重新整理後再試")
        self.conn.executemany("INSERT INTO events VALUES (?,?,?,?,?,?,?,?,?,?,?)", rows)
        digests = {d for r in rows for d in DIGEST.findall(r[-2])}  # (what the events wrote, payloads included)
        if digests:  # the instances that hold each attachment, for who may open it
            self.conn.executemany("INSERT INTO attachment_refs SELECT ?, ? WHERE EXISTS (SELECT 1 FROM attachments "
                                  "WHERE id=?) ON CONFLICT DO NOTHING", [(d, iid, d) for d in digests])
        tasks, notes = [], []
        for (event_id, *_), event in zip(rows, events, strict=True):
            kind, payload, task = event["type"], event["payload"], event["task"]
            if kind == "task_opened":
                tasks.append((task_key(task), task, iid, event["step"], payload.get("kind"), dumps(payload["roles"]),
                              "open", at, payload.get("due_at"), None, None, None))
            elif kind in ("signed", "task_escalated", "task_reassigned", "task_assigned"):
                roles = payload["remaining"] if kind == "signed" else payload["roles"]
                tasks.append((task_key(task), None, None, None, None, dumps(roles), None, None, None, None, None,
                              None))
            elif kind == "task_resumed":
                tasks.append((task_key(task), None, None, None, None, None, None, None, payload.get("due_at"), None,
                              None, None))
            elif kind in _CLOSING:
                tasks.append((task_key(task), None, None, None, None, None, _CLOSING[kind], None, None, at, actor,
                              payload.get("outcome")))
            elif kind == "ledger_posted":
                self.conn.execute("INSERT INTO ledger_entries (workflow, ledger, instance_id, number, entry, amount, "
                                  "balance, at, actor, step, memo, event_id) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
                                  (workflow, payload["ledger"], iid, payload["number"], payload["entry"],
                                   payload["amount"], payload["balance"], at, actor, event["step"],
                                   payload.get("memo"), event_id))
            if payload.get("notify"):
                notes += [(role, iid, task, kind, payload["message"], at, event_id) for role in payload["notify"]]
        if tasks:  # the task projection in one statement: open new rows, close or re-role existing ones
            self.conn.executemany(_TASK_UPSERT, tasks)
        if notes:
            self.conn.executemany("INSERT INTO notifications (role, instance_id, task, type, message, at, event_id) "
                                  "VALUES (?,?,?,?,?,?,?)", notes)
        return new

    def task_status(self, task_id: str) -> str | None:
        key = task_key(task_id)
        row = self.conn.execute("SELECT status FROM tasks WHERE key=?", (key,)).fetchone() if key else None
        return row[0] if row else None

    def events(self, instance_id: int) -> list[dict]:
        cur = self.conn.execute("SELECT seq, at, actor, acting_for, step, task, type, payload FROM events "
                                "WHERE id BETWEEN ? AND ? ORDER BY id", (instance_id << 24, (instance_id + 1) << 24))
        return [{"seq": r[0], "at": r[1], "actor": r[2], "acting_for": r[3], "step": r[4], "task": r[5],
                 "type": r[6], "payload": loads(r[7])} for r in cur]

    def ledger_entries(self, instance_id: int) -> list[dict]:
        cur = self.conn.execute("SELECT id, ledger, number, entry, amount, balance, at, actor, step, memo "
                                "FROM ledger_entries WHERE instance_id=? ORDER BY id", (instance_id,))
        names = [d[0] for d in cur.description]
        return [dict(zip(names, r, strict=True)) for r in cur]

    def verify_chain(self) -> tuple[bool, int, str]:
        """Recompute every instance's event hash chain and compare its end with the head and count kept on
        the instance row (so removed events are found too): (ok, events checked, first problem)."""
        recorded = {i: (n, head) for i, n, head in self.conn.execute("SELECT id, events, head FROM instances")}
        tombstones = self.tombstones()  # (events whose personal data was removed: their hash as it was)
        found: dict[int, tuple[int, str]] = {}
        count = 0
        for row in self.conn.execute("SELECT instance_id, seq, at, actor, acting_for, step, task, type, payload, "
                                     "hash, id FROM events ORDER BY id"):
            count += 1
            seen, prev = found.get(row[0], (0, GENESIS))
            if row[1] != seen + 1 or (chain(prev, row[:9]) != row[9] and tombstones.get(row[10]) != row[9]):
                return False, count, f"event {row[0]}/{row[1]} does not match the chain"
            found[row[0]] = (row[1], row[9])
        for iid, (n, head) in recorded.items():
            if found.get(iid, (0, GENESIS)) != (n, head):
                return False, count, f"instance {iid}: its events do not end at the recorded head"
        return True, count, ""

    # --- users --------------------------------------------------------------------------------------
    def add_user(self, name: str, roles: list[str], now: str, title: str | None = None, site: str = COMPANY) -> None:
        with self.write():
            self.conn.execute("INSERT INTO users (name, title, created_at) VALUES (?,?,?) "
                              "ON CONFLICT(name) DO UPDATE SET title=coalesce(excluded.title, users.title)",
                              (name, title, now))
            self.conn.executemany("INSERT INTO user_roles VALUES (?,?,?) ON CONFLICT DO NOTHING",
                                  [(name, r, site) for r in roles])


    def set_roles(self, name: str, roles: list[str], now: str, site: str = COMPANY) -> None:
        """The user's roles at `site` become exactly `roles` (those at other sites stay)."""
        with self.write():
            self.conn.execute("INSERT INTO users (name, created_at) VALUES (?,?) ON CONFLICT DO NOTHING", (name, now))
            self.conn.execute('DELETE FROM user_roles WHERE "user"=? AND site=?', (name, site))
            self.conn.executemany("INSERT INTO user_roles VALUES (?,?,?)", [(name, r, site) for r in roles])

    def set_password(self, name: str, password_hash: str, end_sessions: bool = True) -> None:
        """A new password hash; `end_sessions`: the user's sessions end (a rehash at login keeps them)."""
        with self.write():
            self.conn.execute("UPDATE users SET password_hash=? WHERE name=?", (password_hash, name))
            if end_sessions:
                self.conn.execute('DELETE FROM sessions WHERE "user"=?', (name,))

    def add_session(self, session_hash: str, user: str, now: str, expired: str) -> None:
        """A signed-in session; sessions begun before `expired` (of anyone) are forgotten on the way."""
        with self.write():
            self.conn.execute("DELETE FROM sessions WHERE created_at < ?", (expired,))
            self.conn.execute("INSERT INTO sessions VALUES (?,?,?)", (session_hash, user, now))

    def session_user(self, session_hash: str, expired: str) -> str | None:
        """The user of a session begun after `expired` and not ended (and whose user still exists)."""
        row = self.conn.execute("SELECT s.user FROM sessions s JOIN users u ON u.name = s.user "
                                "WHERE s.hash=? AND s.created_at >= ?", (session_hash, expired)).fetchone()
        return row[0] if row else None

    def end_session(self, session_hash: str) -> None:
        with self.write():
            self.conn.execute("DELETE FROM sessions WHERE hash=?", (session_hash,))

    def end_sessions(self, name: str) -> None:
        with self.write():
            self.conn.execute('DELETE FROM sessions WHERE "user"=?', (name,))

    def password_hash(self, name: str) -> str | None:
        row = self.conn.execute("SELECT password_hash FROM users WHERE name=?", (name,)).fetchone()
        return row[0] if row else None

    def add_token(self, token_hash: str, user: str, now: str, expires_at: str | None) -> None:
        with self.write():
            self.conn.execute('INSERT INTO tokens (hash, "user", created_at, expires_at) VALUES (?,?,?,?)',
                              (token_hash, user, now, expires_at))

    def token_user(self, token_hash: str, now: str) -> str | None:
        """The user of a token that is neither revoked nor expired at `now`; its last use is written (at most
        once a minute, so a busy client does not write on every request)."""
        row = self.conn.execute('SELECT "user", last_used FROM tokens WHERE hash=? AND revoked_at IS NULL AND '
                                "(expires_at IS NULL OR expires_at > ?)", (token_hash, now)).fetchone()
        if row is None:
            return None
        if (row[1] or "")[:16] != now[:16]:
            with self.write():
                self.conn.execute("UPDATE tokens SET last_used=? WHERE hash=?", (now, token_hash))
        return row[0]

    def tokens(self, user: str, id_length: int) -> list[dict]:
        cur = self.conn.execute("SELECT substr(hash, 1, ?), created_at, expires_at, last_used, revoked_at FROM tokens "
                                'WHERE "user"=? ORDER BY created_at', (id_length, user))
        return [dict(zip(("id", "created_at", "expires_at", "last_used", "revoked_at"), r, strict=True)) for r in cur]

    def revoke_tokens(self, user: str, prefix: str, now: str) -> int:
        """Revoke the user's tokens whose hash starts with `prefix` (all of them for ''); how many."""
        with self.write():
            cur = self.conn.execute('UPDATE tokens SET revoked_at=? WHERE "user"=? AND revoked_at IS NULL AND '
                                    f"hash {self.LIKE} ?", (now, user, f"{prefix}%"))
        return self.changed(cur)

    def user_exists(self, name: str) -> bool:
        return self.conn.execute("SELECT 1 FROM users WHERE name=?", (name,)).fetchone() is not None

    def user_roles(self, name: str) -> dict[str, list[str]]:
        """site ('*': the company) -> the roles granted to the user there."""
        grants: dict[str, list[str]] = {}
        for role, site in self.conn.execute('SELECT role, site FROM user_roles WHERE "user"=? ORDER BY site, role',
                                            (name,)):
            grants.setdefault(site, []).append(role)
        return grants

    def users(self) -> list[dict]:
        """Every user: name, title, roles (at any site) and sites (site -> roles granted there)."""
        grants: dict[str, dict[str, list[str]]] = {}
        for user, role, site in self.conn.execute('SELECT "user", role, site FROM user_roles ORDER BY site, role'):
            grants.setdefault(user, {}).setdefault(site, []).append(role)
        return [{"name": n, "title": t, "roles": sorted({r for rs in grants.get(n, {}).values() for r in rs}),
                 "sites": grants.get(n, {})}
                for n, t in self.conn.execute("SELECT name, title FROM users ORDER BY name")]

    def add_delegation(self, user: str, deputy: str, starts: str, ends: str, now: str) -> None:
        with self.write():
            self.conn.execute('INSERT INTO delegations ("user", deputy, starts, ends, created_at) '
                              "VALUES (?,?,?,?,?)",
                              (user, deputy, starts, ends, now))

    def actor_roles(self, user: str, day: str) -> tuple[bool, list[tuple[str, str | None, str]]]:
        """In one statement: does the user exist, and (role, principal, site) triples: the user's own roles
        (principal None) and those of everyone who named them deputy for `day`, with the site each is held at."""
        rows = self.conn.execute(
            "SELECT r.role, NULL, r.site FROM users u LEFT JOIN user_roles r ON r.user = u.name WHERE u.name = ? "
            "UNION ALL SELECT r.role, d.user, r.site FROM delegations d JOIN user_roles r ON r.user = d.user "
            "WHERE d.deputy = ? AND d.starts <= ? AND d.ends >= ?", (user, user, day, day)).fetchall()
        return bool(rows) and any(p is None for _, p, _ in rows), [(r, p, s) for r, p, s in rows if r is not None]

    # --- sites ----------------------------------------------------------------------------------------
    def sites(self) -> list[dict]:
        cur = self.conn.execute("SELECT id, title, number_prefix, timezone, calendar FROM sites ORDER BY id")
        return [{"id": i, "title": t, "number_prefix": p, "timezone": z, "calendar": loads(c) if c else {}}
                for i, t, p, z, c in cur]

    def add_site(self, site: str, title: str, number_prefix: str | None, now: str, timezone: str | None = None,
                 calendar: dict | None = None) -> None:
        with self.write():
            self.conn.execute("INSERT INTO sites (id, title, number_prefix, created_at, timezone, calendar) "
                              "VALUES (?,?,?,?,?,?) ON CONFLICT(id) DO UPDATE SET title=excluded.title, "
                              "number_prefix=excluded.number_prefix, timezone=excluded.timezone, "
                              "calendar=excluded.calendar",
                              (site, title, number_prefix, now, timezone, dumps(calendar) if calendar else None))

    # --- printouts ------------------------------------------------------------------------------------
    def setting(self, key: str) -> str | None:
        row = self.conn.execute("SELECT value FROM settings WHERE key=?", (key,)).fetchone()
        return row[0] if row else None

    def settings_under(self, prefix: str) -> list[str]:
        """The values of the settings whose keys start with `prefix`, by key."""
        return [v for k, v in self.conn.execute("SELECT key, value FROM settings ORDER BY key")
                if k.startswith(prefix)]

    def set_setting(self, key: str, value: str) -> None:
        with self.write():
            self.conn.execute("INSERT INTO settings VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value=excluded.value",
                              (key, value))

    def add_print(self, code: str, instance_id: int, printout: str, print_no: int, template_hash: str,
                  data_hash: str, shown: list[str] | None, revision: int, at: str, user: str, copies: int) -> None:
        """Record a print; `data_hash` covers the `shown` fields (None: all)."""
        self.conn.execute("INSERT INTO prints VALUES (?,?,?,?,?,?,?,?,?,?,?)",
                          (code, instance_id, printout, print_no, template_hash, data_hash, dumps(shown), revision,
                           at, user, copies))

    def print_record(self, code: str) -> dict | None:
        cur = self.conn.execute("SELECT p.*, (SELECT max(print_no) FROM prints q WHERE q.instance_id = p.instance_id "
                                "AND q.printout = p.printout) AS latest FROM prints p WHERE code=?", (code,))
        row = cur.fetchone()
        return dict(zip([d[0] for d in cur.description], row, strict=True)) if row else None

    def reached(self, instance_id: int, steps: list[str]) -> bool:
        """Has the instance ever had a task at one of `steps`?"""
        marks = ",".join("?" * len(steps))
        return self.conn.execute(f"SELECT 1 FROM tasks WHERE key BETWEEN ? AND ? AND step IN ({marks}) LIMIT 1",
                                 (instance_id << 24, ((instance_id + 1) << 24) - 1, *steps)).fetchone() is not None

    def add_attachment(self, meta: dict, data: bytes, user: str, now: str) -> None:
        """An upload: its bytes kept (once per content), its description and who uploaded it."""
        self.put_bytes(meta["id"], data)
        with self.write():
            self.conn.execute("INSERT INTO attachments VALUES (?,?,?,?,?,?) ON CONFLICT DO NOTHING",
                              (meta["id"], meta["name"], meta["type"], meta["size"], user, now))
            self.conn.execute("INSERT INTO attachment_uploads VALUES (?,?,?) ON CONFLICT DO NOTHING",
                              (meta["id"], user, now))

    def uploaded_by(self, digest: str, user: str) -> bool:
        return self.conn.execute('SELECT 1 FROM attachment_uploads WHERE attachment=? AND "user"=?',
                                 (digest, user)).fetchone() is not None

    def attachment(self, digest: str) -> dict | None:
        cur = self.conn.execute("SELECT id, name, type, size FROM attachments WHERE id=?", (digest,))
        row = cur.fetchone()
        return dict(zip(("id", "name", "type", "size"), row, strict=True)) if row else None

    def display_names(self) -> dict[str, str]:
        return {n: t for n, t in self.conn.execute("SELECT name, title FROM users WHERE title IS NOT NULL")}

    # --- time -----------------------------------------------------------------------------------------
    def notifications(self, roles: list[str], limit: int = 100, sites: list[str] | None = None) -> list[dict]:
        """The newest notifications addressed to any of `roles` (about instances at `sites`; None: any), one per
        event."""
        if not roles or sites == []:
            return []
        where, args = _at_sites(sites)
        cur = self.conn.execute(
            "SELECT min(n.id), min(n.instance_id), min(n.task), min(n.type), min(n.message), min(n.at), "
            f"{self.GROUP_CONCAT}(n.role, ' '), min(i.workflow), min(i.number) FROM notifications n "
            "JOIN instances i ON i.id = n.instance_id "
            f"WHERE n.role IN ({','.join('?' * len(roles))}){where} GROUP BY n.event_id ORDER BY min(n.id) DESC "
            "LIMIT ?", (*roles, *args, limit))
        return [{"id": r[0], "instance": r[1], "task": r[2], "type": r[3], "message": r[4], "at": r[5],
                 "roles": sorted(r[6].split()), "workflow": r[7], "number": r[8]} for r in cur]

    def schedule_anchor(self, key: str, now: str) -> str:
        """The moment after which a schedule's runs are due: its last run, or when it was first seen (a new
        schedule does not run for the time before it existed)."""
        row = self.conn.execute("SELECT since, last_run FROM schedules WHERE key=?", (key,)).fetchone()
        if row is None:  # first sight: one write, once
            with self.write():
                self.conn.execute("INSERT INTO schedules (key, since) VALUES (?, ?) ON CONFLICT DO NOTHING", (key, now))
            row = self.conn.execute("SELECT since, last_run FROM schedules WHERE key=?", (key,)).fetchone()
        return row[1] or row[0]

    def claim_run(self, key: str, run_at: str) -> bool:
        """Record that the run of `key` at `run_at` is being started; False if it already was."""
        cur = self.conn.execute("INSERT INTO schedule_runs (key, run_at) VALUES (?, ?) ON CONFLICT DO NOTHING",
                                (key, run_at))
        claimed = self.changed(cur)
        if claimed:
            self.conn.execute("UPDATE schedules SET last_run = ? WHERE key=? AND (last_run IS NULL OR last_run < ?)",
                              (run_at, key, run_at))
        return bool(claimed)

    def record_run(self, key: str, run_at: str, instance_id: int) -> None:
        self.conn.execute("UPDATE schedule_runs SET instance_id=? WHERE key=? AND run_at=?", (instance_id, key, run_at))

    def closed_tasks(self, start: str, end: str, site: str | None = None) -> list[tuple]:
        """(workflow, step, opened_at, closed_at, due_at, status) of tasks closed in [start, end) (at `site`)."""
        where, args = _at_sites(None if site is None else [site])
        return self.conn.execute(
            "SELECT i.workflow, t.step, t.opened_at, t.closed_at, t.due_at, t.status FROM tasks t "
            "JOIN instances i ON i.id = t.instance_id WHERE t.closed_at >= ? AND t.closed_at < ? "
            f"AND t.status IN ('done', 'expired'){where}", (start, end, *args)).fetchall()

    def open_overdue(self, now: str, site: str | None = None) -> list[tuple]:
        """(workflow, step) of every open task past its due time (at `site`)."""
        where, args = _at_sites(None if site is None else [site])
        return self.conn.execute(
            "SELECT i.workflow, t.step FROM tasks t JOIN instances i ON i.id = t.instance_id "
            f"WHERE t.status = 'open' AND t.due_at IS NOT NULL AND t.due_at < ?{where}", (now, *args)).fetchall()

    def ended_with_steps(self, workflow: str, start: str, end: str,
                         site: str | None = None) -> list[tuple[int, str, str]]:
        """(instance, ended_at, steps completed) of the instances of `workflow` (at `site`) that ended (completed)
        in the window, the steps as a space-separated list."""
        where, args = _at_sites(None if site is None else [site])
        return self.conn.execute(
            f"SELECT i.id, i.ended_at, (SELECT {self.GROUP_CONCAT}(t.step, ' ') FROM tasks t WHERE t.key BETWEEN "
            "i.id << 24 AND ((i.id + 1) << 24) - 1 AND t.status = 'done') FROM instances i "
            f"WHERE i.workflow = ? AND i.status = 'completed' AND i.ended_at >= ? AND i.ended_at < ?{where}",
            (workflow, start, end, *args)).fetchall()

    def register_rows(self, workflows: list[str], search: str = "", status: str = "", since: str | None = None,
                      before: str | None = None, unit: str = "", sort: str = "-started", page: int = 1,
                      per_page: int = 50, fields: list[str] | None = None,
                      roles: list[str] = (), sites: list[str] | None = None,
                      resting: str = "") -> tuple[list[dict], int]:
        """(rows, total) of the instances of `workflows` (those on one form) matching the filters (started in
        [since, before), UTC); each row has the instance's id, number, workflow, status, started_at/by, data and
        the confidentiality it inherited from a parent. The search and the unit filter look only into `fields`
        (those the reader may see), and in a row only into those it did not inherit as confidential from a
        parent whose readers are not among `roles`: a hidden value never decides what is found."""
        where = [f"i.workflow IN ({','.join('?' * len(workflows))})"]
        args: list = list(workflows)
        if sites is not None:
            where.append(f"i.site IN ({','.join('?' * len(sites)) or 'NULL'})")
            args += sites
        for clause, value in (("i.status = ?", status), ("i.started_at >= ?", since), ("i.started_at < ?", before)):
            if value:
                where.append(clause)
                args.append(value)
        if resting:  # (in the named state: `kind: state`)
            where.append(self.json_any("i.state", "resting", 1))
            args.append(resting)
        if unit:
            sql, more = self._visible_like(["unit"] if fields is None or "unit" in fields else [], unit, roles)
            where.append(sql)
            args += more
        if search:
            sql, more = self._visible_like(fields, search, roles)
            where.append(f"(i.number {self.LIKE} ? ESCAPE '\\' OR {sql})")
            args += [f"%{_like(search)}%", *more]
        column = _SORTS.get(sort.lstrip("-"), "i.started_at")
        order = f"{column} {'DESC' if sort.startswith('-') else 'ASC'}, i.id DESC"
        sql_where = " AND ".join(where)
        total = self.conn.execute(f"SELECT count(*) FROM instances i WHERE {sql_where}", args).fetchone()[0]
        cur = self.conn.execute(
            f"SELECT i.id, i.number, i.workflow, i.status, i.outcome, i.started_at, i.started_by, i.ended_at, i.site, "
            f"{self.json_at('i.state', 'data')}, {self.json_at('i.state', 'balances')}, "
            f"{self.json_at('i.state', 'confidential')}, {self.json_at('i.state', 'resting')} "
            f"FROM instances i WHERE {sql_where} "
            f"ORDER BY {order} LIMIT ? OFFSET ?", args + [per_page, max(page - 1, 0) * per_page])
        rows = [{"id": r[0], "number": r[1], "workflow": r[2], "status": r[3], "outcome": r[4], "started_at": r[5],
                 "started_by": r[6], "ended_at": r[7], "site": r[8], "data": loads(r[9] or "{}"),
                 "balances": {k: fen_text(v) for k, v in loads(r[10] or "{}").items()},
                 "confidential": loads(r[11]) if r[11] else None, "resting": loads(r[12]) if r[12] else []}
                for r in cur]
        return rows, total

    def instances_holding(self, digest: str) -> list[dict]:
        """(id, version, state) of the instances whose data held the attachment `digest` at some step."""
        cur = self.conn.execute("SELECT i.id, i.version, i.state, i.site FROM attachment_refs r JOIN instances i ON "
                                "i.id = r.instance_id WHERE r.attachment=?", (digest,))
        return [{"id": r[0], "version": r[1], "state": loads(r[2]), "site": r[3]} for r in cur]

    def completed_between(self, workflow: str, site: str, start: str, end: str) -> list[dict]:
        """{id, number, data} of the instances of `workflow` at `site` completed in [start, end), by id."""
        cur = self.conn.execute(f"SELECT id, number, {self.json_at('state', 'data')} FROM instances WHERE workflow=? "
                                "AND site=? AND status = 'completed' AND ended_at >= ? AND ended_at < ? ORDER BY id",
                                (workflow, site, start, end))
        return [{"id": r[0], "number": r[1], "data": loads(r[2] or "{}")} for r in cur]

    def previous_data(self, workflow: str, site: str, before: int) -> dict | None:
        """The data of the latest instance of `workflow` at `site` before the instance `before` (not cancelled)."""
        row = self.conn.execute(f"SELECT {self.json_at('state', 'data')} FROM instances WHERE workflow=? AND site=? "
                                "AND id < ? AND status <> 'cancelled' ORDER BY id DESC LIMIT 1",
                                (workflow, site, before)).fetchone()
        return loads(row[0] or "{}") if row else None

    # --- links between instances ------------------------------------------------------------------------
    _HEAD = "SELECT id, workflow, number, status, site, parent_id FROM instances"

    def _heads(self, where: str, args: list) -> list[dict]:
        cur = self.conn.execute(f"{self._HEAD} WHERE {where} ORDER BY id", args)
        return [dict(zip(("id", "workflow", "number", "status", "site", "parent"), r, strict=True)) for r in cur]

    def instance_by_number(self, number: str, site: str) -> dict | None:
        """The instance with this document number at `site` (id, workflow, number, status, site, parent)."""
        found = self._heads("number = ? AND site = ?", [number, site])
        return found[0] if found else None

    def instance_heads(self, ids: list[int]) -> list[dict]:
        return self._heads(f"id IN ({','.join('?' * len(ids))})", list(ids)) if ids else []

    def children_of(self, instance_id: int) -> list[dict]:
        return self._heads("parent_id = ?", [instance_id])

    def referring(self, pairs: list[tuple[str, str]], number: str, site: str) -> list[tuple[str, dict]]:
        """(field, instance) of the instances at `site` whose field names `number` ((workflow, field) pairs)."""
        out = []
        for workflow, field in pairs:
            sql, arg = self.data_field("state", field)
            out += [(field, head) for head in self._heads(f"workflow = ? AND site = ? AND {sql} = ?",
                                                          [workflow, site, arg, number])]
        return out

    def has_instances(self, workflow: str) -> bool:
        return self.conn.execute("SELECT 1 FROM instances WHERE workflow=? LIMIT 1", (workflow,)).fetchone() is not None

    def open_tasks_for_roles(self, roles: list[str], sites: list[str] | None = None) -> list[dict]:
        """Open tasks any of `roles` may act on (at `sites`; None: any), soonest due first."""
        if not roles or sites == []:
            return []
        where, args = _at_sites(sites)
        cur = self.conn.execute(
            "SELECT t.id, t.instance_id, t.step, t.roles, t.opened_at, t.due_at, i.workflow, i.number, i.site "
            "FROM instances i JOIN tasks t ON t.key BETWEEN i.id << 24 AND ((i.id + 1) << 24) - 1 "
            f"WHERE i.status = 'active' AND t.status = 'open' AND {self.json_any('t.roles', '', len(roles))}{where} "
            "ORDER BY t.due_at IS NULL, t.due_at, t.opened_at, t.key", [*roles, *args])
        names = [d[0] for d in cur.description]
        return [dict(zip(names, r, strict=True)) for r in cur]

    def _visible_like(self, fields: list[str] | None, text: str, roles) -> tuple[str, list]:
        """An SQL condition: one of `fields` of the data contains `text` (None: any of the data), leaving out a
        field the row inherited as confidential unless one of `roles` may read it."""
        pattern = f"%{_like(text)}%"
        if fields is None:
            return f"{self.json_at('i.state', 'data')} {self.LIKE} ? ESCAPE '\\'", [pattern]
        if not fields:
            return "(1=0)", []
        allowed = (f"({self.json_at('i.state', 'confidential')} IS NULL OR "
                   f"{self.json_any('i.state', 'confidential.roles', len(roles))} OR NOT "
                   f"{self.json_any('i.state', 'confidential.fields', 1)})")
        clauses, args = [], []
        for field in fields:
            sql, arg = self.data_field("i.state", field)
            clauses.append(f"({sql} {self.LIKE} ? ESCAPE '\\' AND {allowed})")
            args += [arg, pattern, *roles, field]
        return "(" + " OR ".join(clauses) + ")", args

    # --- what the dialects write differently -------------------------------------------------------------
    def json_at(self, expr: str, path: str) -> str:
        """SQL for the JSON value at `path` ("a.b") of the JSON text `expr`: a scalar, or an object's JSON text."""
        raise NotImplementedError

    def data_field(self, expr: str, field: str) -> tuple[str, str]:
        """SQL for the value of data field `field` of the state `expr`, with the one parameter it takes."""
        raise NotImplementedError

    def json_any(self, expr: str, path: str, count: int) -> str:
        """SQL: the array at `path` ('': the whole) of the JSON text `expr` holds one of `count` parameters."""
        raise NotImplementedError

    # (reports: engine/reportsql.py)
    def minutes_between(self, start: str, end: str) -> str:
        """SQL: the minutes from the time `start` to the time `end` (canonical ISO texts)."""
        raise NotImplementedError

    def utc_text(self, expr: str) -> str:
        """SQL: an ISO time with any offset as canonical UTC text (2026-12-01T01:30:00+00:00)."""
        raise NotImplementedError

    def money_fen(self, expr: str) -> str:
        """SQL: an amount of money (its text, "12.50") as whole fen."""
        raise NotImplementedError

    def as_number(self, expr: str) -> str:
        raise NotImplementedError

    def json_true(self, expr: str) -> str:
        """SQL: the JSON value `expr` (of json_at) is true."""
        raise NotImplementedError

    def local_time(self, expr: str, tz: str, offset: int, unit: str) -> str:
        """SQL: the local day (YYYY-MM-DD), week (its Monday) or month (YYYY-MM) of a UTC time, in the time zone
        `tz` (SQLite: at the fixed `offset`, minutes east of UTC)."""
        raise NotImplementedError

    def after_copy(self) -> None:
        """After rows were written with their own keys (engine/dbcopy.py): counters move past them."""

    def changed(self, cur) -> int:
        """How many rows the statement of `cur` changed."""
        return cur.rowcount

    def put_bytes(self, digest: str, data: bytes) -> None:
        """Keep an attachment's bytes under its content hash (idempotent)."""
        raise NotImplementedError

    def attachment_bytes(self, digest: str) -> bytes | None:
        raise NotImplementedError

    def next_instance_id(self) -> int:
        """The id the next instance gets; call inside `write()`."""
        raise NotImplementedError

    def due_instances(self, now: str, after: tuple[str, int], limit: int) -> list[tuple[str, int]]:
        """(wake_at, id) of active instances whose timers or deadlines are due by `now`, in that order, from just
        past `after` (a cursor, so one tick visits each once); inside `write()`, and the rows are this
        transaction's to fire (another ticker passes over them)."""
        raise NotImplementedError


class _Migrator:
    """engine/schema.py's Migration on a store."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def ddl(self, sql: str) -> None:
        for statement in self.store.render_ddl(sql):
            self.store.conn.execute(statement)

    def append_only(self, table: str) -> None:
        for statement in self.store.append_only_ddl(table):
            self.store.conn.execute(statement)

    def sequence(self, name: str) -> None:
        for statement in self.store.sequence_ddl(name):
            self.store.conn.execute(statement)

    def execute(self, sql: str, args: tuple | list = ()) -> list[tuple]:
        cur = self.store.conn.execute(sql, args)
        return cur.fetchall() if cur.description else []


def _at_sites(sites: list[str] | None) -> tuple[str, list[str]]:
    """An `AND i.site IN (...)` clause and its parameters (nothing for None: every site)."""
    if sites is None:
        return "", []
    return f" AND i.site IN ({','.join('?' * len(sites))})", list(sites)


def _like(text: str) -> str:
    """`text` as a LIKE pattern matching itself (with ESCAPE '\\')."""
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
