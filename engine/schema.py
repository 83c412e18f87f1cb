"""The database schema: named, versioned migrations, written once for both stores (SQLite and PostgreSQL).

A migration is a function of a `Migration`: DDL in a neutral SQL that each store's dialect renders (`{key}` an
integer primary key given by the writer, `{serial}` one the database numbers, INTEGER always 64 bits), the
operations that differ by more than a word (`append_only`, `sequence`), and plain statements for data. A store
applies those not yet applied, in order, each in its own transaction, and records their names; a database made
by an earlier version is brought up to date the same way. A new table is one more function at the end."""

from __future__ import annotations

import re
import secrets
from collections.abc import Callable
from typing import Protocol

DIGEST = re.compile(r"(?<![0-9a-f])[0-9a-f]{64}(?![0-9a-f])")  # an attachment's id, where data holds one


class Migration(Protocol):
    def ddl(self, sql: str) -> None:
        """A CREATE/ALTER statement in the neutral SQL."""

    def append_only(self, table: str) -> None:
        """Rows of `table` can be added, never changed or removed (the database refuses)."""

    def sequence(self, name: str) -> None:
        """A counter the database hands out without a lock (PostgreSQL; SQLite numbers under its write lock)."""

    def execute(self, sql: str, args: tuple | list = ()) -> list[tuple]:
        """A statement on the data; its rows."""


def _m0001_initial(m: Migration) -> None:
    m.ddl("CREATE TABLE versions (version TEXT PRIMARY KEY, workflow TEXT, files TEXT, created_at TEXT)")
    m.ddl("CREATE TABLE instances (id {key}, workflow TEXT, version TEXT, number TEXT, status TEXT, outcome TEXT, "
          "started_by TEXT, started_at TEXT, ended_at TEXT, updated_at TEXT, parent_id INTEGER, wake_at TEXT, "
          "revision INTEGER, events INTEGER, head TEXT, state TEXT)")
    m.ddl("CREATE INDEX idx_instances_status_workflow ON instances (status, workflow)")  # the inbox, registers
    m.ddl("CREATE INDEX idx_instances_number ON instances (number)")
    # partial: only instances waiting on a timer are in it, so other steps never write to it
    m.ddl("CREATE INDEX instances_waking ON instances (wake_at) WHERE wake_at IS NOT NULL")
    m.sequence("instance_ids")
    # keyed by task_key(id): an instance's tasks sit together and a new instance's go at the end, so a step
    # writes one page of this table; `id` is the text staff see ("12-3")
    m.ddl("CREATE TABLE tasks (key {key}, id TEXT, instance_id INTEGER, step TEXT, kind TEXT, roles TEXT, "
          "status TEXT, opened_at TEXT, due_at TEXT, closed_at TEXT, closed_by TEXT, outcome TEXT)")
    # open tasks with a due time (deadlines): a task without one, or a closed one, is not in it. Open tasks
    # without a due time are found through the active instances (their tasks share the instance's key range).
    m.ddl("CREATE INDEX tasks_open_due ON tasks (due_at) WHERE status = 'open' AND due_at IS NOT NULL")
    # keyed by (instance_id << 24 | seq): an instance's events lie together in the table itself, so no second
    # index is written per step; each instance's events form a hash chain whose head and length are kept on the
    # instance row
    m.ddl("CREATE TABLE events (id {key}, instance_id INTEGER, seq INTEGER, at TEXT, actor TEXT, acting_for TEXT, "
          "step TEXT, task TEXT, type TEXT, payload TEXT, hash TEXT)")
    m.ddl("CREATE TABLE ledger_entries (id {serial}, workflow TEXT, ledger TEXT, instance_id INTEGER, "
          "number TEXT NOT NULL, entry TEXT, amount INTEGER, balance INTEGER, at TEXT, actor TEXT, step TEXT, "
          "memo TEXT, event_id INTEGER)")
    m.ddl("CREATE INDEX idx_ledger_entries_workflow_ledger ON ledger_entries (workflow, ledger)")
    m.ddl("CREATE INDEX idx_ledger_entries_instance_id ON ledger_entries (instance_id)")
    for table in ("events", "ledger_entries"):  # the audit trail cannot be quietly rewritten
        m.append_only(table)
    m.ddl("CREATE TABLE counters (series TEXT, year INTEGER, last INTEGER, PRIMARY KEY (series, year))")
    m.ddl('CREATE TABLE users (name TEXT PRIMARY KEY, title TEXT, password_hash TEXT, created_at TEXT)')
    m.ddl('CREATE TABLE user_roles ("user" TEXT, role TEXT, PRIMARY KEY ("user", role))')
    m.ddl('CREATE TABLE delegations (id {serial}, "user" TEXT, deputy TEXT, starts TEXT, ends TEXT, created_at TEXT)')
    m.ddl("CREATE INDEX idx_delegations_deputy ON delegations (deputy)")


def _m0002_time(m: Migration) -> None:
    """Deadlines and schedules: the notification lists, and which scheduled runs have started."""
    m.ddl("CREATE TABLE notifications (id {serial}, role TEXT, instance_id INTEGER, task TEXT, type TEXT, "
          "message TEXT, at TEXT, event_id INTEGER)")
    m.ddl("CREATE INDEX notifications_role ON notifications (role, id)")
    m.ddl("CREATE TABLE schedules (key TEXT PRIMARY KEY, since TEXT, last_run TEXT)")
    # one row per run: a run that two tickers both see is started by whichever inserts it first
    m.ddl("CREATE TABLE schedule_runs (key TEXT, run_at TEXT, instance_id INTEGER, PRIMARY KEY (key, run_at))")
    m.ddl("CREATE INDEX tasks_closed ON tasks (closed_at) WHERE closed_at IS NOT NULL")  # SLA figures


def _m0003_prints(m: Migration) -> None:
    """Printed documents, by verification code; the site's secret that keys the codes' check characters."""
    m.ddl("CREATE TABLE prints (code TEXT PRIMARY KEY, instance_id INTEGER, printout TEXT, print_no INTEGER, "
          "template_hash TEXT, data_hash TEXT, shown TEXT, revision INTEGER, printed_at TEXT, printed_by TEXT, "
          "copies INTEGER)")
    m.ddl("CREATE INDEX prints_instance ON prints (instance_id, printout, print_no)")
    m.ddl("CREATE TABLE settings (key TEXT PRIMARY KEY, value TEXT)")
    m.execute("INSERT INTO settings VALUES ('verify_secret', ?)", (secrets.token_hex(32),))


def _m0004_tokens(m: Migration) -> None:
    """API tokens, kept as SHA-256 hashes; the secret that signs session cookies."""
    m.ddl('CREATE TABLE tokens (hash TEXT PRIMARY KEY, "user" TEXT, created_at TEXT, last_used TEXT)')
    m.ddl('CREATE INDEX tokens_user ON tokens ("user")')
    m.execute("INSERT INTO settings VALUES ('session_secret', ?)", (secrets.token_hex(32),))


def _m0005_attachments(m: Migration) -> None:
    """Uploaded files: content hash, the name shown, kind and size, who uploaded them (the bytes are files)."""
    m.ddl("CREATE TABLE attachments (id TEXT PRIMARY KEY, name TEXT, type TEXT, size INTEGER, created_by TEXT, "
          "created_at TEXT)")


def _m0006_access(m: Migration) -> None:
    """Who uploaded each attachment (an uploader may read their file before it is in a form) and which instances
    hold it; the signed-in sessions (signing out ends one, a new password all of a user's); when a token
    expires, whether it was revoked."""
    m.ddl('CREATE TABLE attachment_uploads (attachment TEXT, "user" TEXT, at TEXT, PRIMARY KEY (attachment, "user"))')
    m.execute("INSERT INTO attachment_uploads SELECT id, created_by, created_at FROM attachments WHERE true "
              "ON CONFLICT DO NOTHING")
    m.ddl("CREATE TABLE attachment_refs (attachment TEXT, instance_id INTEGER, PRIMARY KEY (attachment, "
          "instance_id)) WITHOUT ROWID")
    stored = {r[0] for r in m.execute("SELECT id FROM attachments")}
    if stored:
        for iid, state in m.execute("SELECT id, state FROM instances"):
            for digest in set(DIGEST.findall(state)) & stored:
                m.execute("INSERT INTO attachment_refs VALUES (?,?) ON CONFLICT DO NOTHING", (digest, iid))
    m.ddl('CREATE TABLE sessions (hash TEXT PRIMARY KEY, "user" TEXT NOT NULL, created_at TEXT NOT NULL)')
    m.ddl('CREATE INDEX sessions_user ON sessions ("user")')
    m.ddl("ALTER TABLE tokens ADD COLUMN expires_at TEXT")
    m.ddl("ALTER TABLE tokens ADD COLUMN revoked_at TEXT")


def _m0007_attachment_bytes(m: Migration) -> None:
    """Attachments' bytes, where the store keeps them in the database (PostgreSQL: every app server reads them;
    SQLite keeps them as files beside the database and leaves this table empty)."""
    m.ddl("CREATE TABLE attachment_bytes (id TEXT PRIMARY KEY, body BLOB NOT NULL)")


def _m0008_sites(m: Migration) -> None:
    """Sites (管理處): one deployment serves many. Every instance belongs to one (its tasks, ledger entries, prints
    and attachments through it); a role is granted at a site, or at '*' (the whole company). What was there before
    is the default site's, and the roles granted before are the company's: a single-site installation works as
    it did."""
    m.ddl("CREATE TABLE sites (id TEXT PRIMARY KEY, title TEXT, number_prefix TEXT, created_at TEXT)")
    m.execute("INSERT INTO sites (id) VALUES ('default')")
    m.ddl("ALTER TABLE instances ADD COLUMN site TEXT NOT NULL DEFAULT 'default'")
    m.ddl("CREATE INDEX instances_site ON instances (site, status, workflow)")
    m.ddl('CREATE TABLE site_roles ("user" TEXT, role TEXT, site TEXT, PRIMARY KEY ("user", role, site))')
    m.execute('INSERT INTO site_roles SELECT "user", role, \'*\' FROM user_roles WHERE true')
    m.ddl("DROP TABLE user_roles")
    m.ddl("ALTER TABLE site_roles RENAME TO user_roles")
    m.ddl("CREATE INDEX user_roles_site ON user_roles (site)")


def _m0009_site_calendars(m: Migration) -> None:
    """A site's own time zone and the days its calendar adds to goldkey.yaml's (local holidays, make-up working
    days), as JSON {"holidays": {date: name}, "workdays": {date: name}}; empty: goldkey.yaml's."""
    m.ddl("ALTER TABLE sites ADD COLUMN timezone TEXT")
    m.ddl("ALTER TABLE sites ADD COLUMN calendar TEXT")


def _m0010_copied_instances(m: Migration) -> None:
    """Instances a `goldkey db copy --site` brought from another database under new ids (their chains computed
    again): where from, their id and chain head (and length) there, when."""
    m.ddl("CREATE TABLE copied_instances (instance_id INTEGER PRIMARY KEY, source TEXT, source_id INTEGER, "
          "source_head TEXT, source_events INTEGER, copied_at TEXT)")


def _m0011_records(m: Migration) -> None:
    """Records (master data: units, customers, keys) of a site, one row per record with its current data and state,
    and their events: each record's own hash chain, like an instance's, named by the record's `uid` (so a copy to
    another database keeps it verifiable whatever ids it gets there). `search`: the key and the searched fields'
    text, lower-cased, for the search as you type."""
    m.ddl("CREATE TABLE records (id {serial}, uid TEXT NOT NULL, site TEXT NOT NULL, type TEXT NOT NULL, "
          "key TEXT NOT NULL, state TEXT, data TEXT NOT NULL, search TEXT, revision INTEGER NOT NULL, "
          "events INTEGER NOT NULL, head TEXT NOT NULL, created_at TEXT, created_by TEXT, updated_at TEXT, "
          "updated_by TEXT)")
    m.ddl("CREATE UNIQUE INDEX records_key ON records (site, type, key)")
    m.ddl("CREATE UNIQUE INDEX records_uid ON records (uid)")
    m.ddl("CREATE INDEX records_type ON records (type, site, state)")
    m.ddl("CREATE TABLE record_events (id {serial}, record TEXT NOT NULL, seq INTEGER NOT NULL, at TEXT, "
          "actor TEXT, kind TEXT, payload TEXT, hash TEXT)")
    m.ddl("CREATE UNIQUE INDEX record_events_seq ON record_events (record, seq)")
    m.append_only("record_events")


def _m0012_privacy(m: Migration) -> None:
    """Who read which confidential fields of which instance, record or report, when and how (客戶信息資料管理); and
    the tombstones of events whose personal data a retention rule removed: the event's hash as it was, who, when,
    which fields (its chain is verified from that hash on)."""
    m.ddl("CREATE TABLE confidential_reads (id {serial}, at TEXT NOT NULL, \"user\" TEXT, kind TEXT, ref TEXT, "
          "label TEXT, fields TEXT, via TEXT)")
    m.ddl("CREATE INDEX confidential_reads_at ON confidential_reads (at)")
    m.append_only("confidential_reads")
    m.ddl("CREATE TABLE event_tombstones (event_id INTEGER PRIMARY KEY, instance_id INTEGER, hash TEXT NOT NULL, "
          "fields TEXT, by_user TEXT, at TEXT)")


def _m0013_links(m: Migration) -> None:
    """Links between instances: a parent's children found by their parent (the instance page lists them)."""
    m.ddl("CREATE INDEX instances_parent ON instances (parent_id) WHERE parent_id IS NOT NULL")


MIGRATIONS: list[tuple[str, Callable[[Migration], None]]] = [
    ("0001_initial", _m0001_initial), ("0002_time", _m0002_time), ("0003_prints", _m0003_prints),
    ("0004_tokens", _m0004_tokens), ("0005_attachments", _m0005_attachments), ("0006_access", _m0006_access),
    ("0007_attachment_bytes", _m0007_attachment_bytes), ("0008_sites", _m0008_sites),
    ("0009_site_calendars", _m0009_site_calendars), ("0010_copied_instances", _m0010_copied_instances),
    ("0011_records", _m0011_records), ("0012_privacy", _m0012_privacy), ("0013_links", _m0013_links)]
