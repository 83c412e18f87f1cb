"""PostgreSQL: one database for many app servers. Connections come from a pool shared by the Stores of a process
(psycopg-pool); a thread keeps the one it took while its Store is open. The shared SQL is written with `?`
parameters, turned into psycopg's `%s` once per statement text.

Exactly-once with many processes rests on the database: a step's UPDATE is checked against the revision it
read (a concurrent writer waits for the row, then finds the revision moved: Conflict); document numbers come
from a counter row locked until the transaction ends (gap-free); a ticker takes the due instances with
FOR UPDATE SKIP LOCKED, so two tickers never fire the same one; schedule runs are claimed by a primary key."""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache

import psycopg
import psycopg_pool
from psycopg.pq import TransactionStatus
from psycopg_pool import ConnectionPool

from .errors import Conflict, Unavailable
from .store import Store, shown_url

_POOLS: dict[str, list] = {}  # url -> [pool, Stores open on it]
_POOLS_GUARD = threading.Lock()
_MIGRATE_LOCK = 0x676B6D67  # the advisory lock held while migrating ("gkmg")
_RETRY = (psycopg.errors.DeadlockDetected, psycopg.errors.SerializationFailure)


@lru_cache(maxsize=1024)
def _placeholders(sql: str) -> str:
    """`?` parameters as psycopg's `%s` (and a literal `%` doubled)."""
    return sql.replace("%", "%%").replace("?", "%s")


class Connection:
    """A psycopg connection (autocommit; transactions are begun explicitly) taking `?` parameters."""

    def __init__(self, raw: psycopg.Connection) -> None:
        self.raw = raw
        self.depth = 0  # 1 inside write()
        self.pipeline: psycopg.Pipeline | None = None  # inside write()

    def execute(self, sql: str, args: tuple | list = ()) -> psycopg.Cursor:
        try:
            cur = self.raw.execute(_placeholders(sql), args) if args else self.raw.execute(sql)
            if self.pipeline is not None and sql.lstrip()[:6].upper() == "SELECT":
                self.pipeline.sync()  # a read inside a transaction: its answer is wanted now (writes go on)
            return cur
        except psycopg.OperationalError as exc:
            raise _unavailable(exc) from exc

    def executemany(self, sql: str, rows) -> psycopg.Cursor:
        cur = self.raw.cursor()
        try:
            cur.executemany(_placeholders(sql), rows)
        except psycopg.OperationalError as exc:
            raise _unavailable(exc) from exc
        return cur


def _unavailable(exc: psycopg.OperationalError) -> Exception:
    """A lost server is told in words (a write cut off at COMMIT may have been committed: the message says to look);
    a deadlock or a serialization failure stays itself, for write() to turn into a Conflict."""
    if isinstance(exc, _RETRY):
        return exc
    return Unavailable("資料庫暫時無法使用，請稍後再試；重新整理後可確認剛才的操作是否已完成")


def _pool(url: str) -> ConnectionPool:
    with _POOLS_GUARD:
        entry = _POOLS.get(url)
        if entry is None:
            pool = ConnectionPool(url, min_size=1, max_size=32, kwargs={"autocommit": True}, open=False,
                                  name="goldkey")
            pool.open(wait=True, timeout=10)
            entry = _POOLS[url] = [pool, 0]
        entry[1] += 1
        return entry[0]


def _release(url: str, every: bool = False) -> None:
    """One Store on `url` is done with its pool (`every`: all of them, e.g. before the database goes away); the
    pool closes with the last."""
    with _POOLS_GUARD:
        entry = _POOLS.get(url)
        if entry is None:
            return
        entry[1] = 0 if every else entry[1] - 1
        if entry[1] <= 0:
            del _POOLS[url]
            entry[0].close()


def close_pool(url: str) -> None:
    """Close the connections to `url` of every Store in this process, also those not closed yet."""
    _release(url, every=True)


class PgStore(Store):
    """The store on PostgreSQL at `url` (a libpq URL; `?options=-csearch_path%3Dname` picks a schema)."""

    GROUP_CONCAT = "string_agg"
    LIKE = "ILIKE"  # (SQLite's LIKE ignores case)

    def __init__(self, url: str) -> None:
        self.url = url
        try:
            self._pool = _pool(url)
        except Exception as exc:  # noqa: BLE001 - psycopg_pool's PoolTimeout and libpq errors alike
            raise Unavailable(f"無法連線到 PostgreSQL 資料庫 {shown_url(url)}：請確認伺服器已啟動、網址正確") from exc
        self._local = threading.local()
        self._held: list[Connection] = []
        self._closed = False
        self.applied = self.migrate()

    @property
    def conn(self) -> Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None or conn.raw.closed:
            if conn is not None:  # (broken: the pool discards it)
                self._held.remove(conn)
                self._pool.putconn(conn.raw)
            try:
                raw = self._pool.getconn()
            except psycopg_pool.PoolTimeout:
                raise Unavailable("資料庫暫時無法使用（沒有可用的連線）；請稍後再試") from None
            conn = self._local.conn = Connection(raw)
            self._held.append(conn)
        return conn

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        for conn in self._held:
            if conn.depth and not conn.raw.closed:
                conn.raw.execute("ROLLBACK")
            self._pool.putconn(conn.raw)
        self._held.clear()
        self._local = threading.local()
        _release(self.url)

    @contextmanager
    def write(self) -> Iterator[Connection]:
        """One transaction, in pipeline mode: statements go out without waiting for each answer, and the client
        waits only where it reads one (the revision check's row count) and at COMMIT; a step is two round trips
        to the server instead of six."""
        conn = self.conn
        if conn.depth:  # nested: part of the caller's transaction
            yield conn
            return
        try:
            with conn.raw.pipeline() as conn.pipeline:
                conn.raw.execute("BEGIN")
                conn.depth = 1
                yield conn
                conn.raw.execute("COMMIT")
        except BaseException as exc:
            if not conn.raw.closed and conn.raw.info.transaction_status != TransactionStatus.IDLE:
                conn.raw.execute("ROLLBACK")
            if isinstance(exc, _RETRY):
                raise Conflict("剛有其他人同時更新相同的資料，請重新整理後再試") from None
            if isinstance(exc, psycopg.OperationalError):
                raise _unavailable(exc) from exc
            raise
        finally:
            conn.depth, conn.pipeline = 0, None

    @contextmanager
    def _migrating(self) -> Iterator[None]:
        conn = self.conn
        conn.execute("SELECT pg_advisory_lock(?)", (_MIGRATE_LOCK,))
        try:
            yield
        finally:
            conn.execute("SELECT pg_advisory_unlock(?)", (_MIGRATE_LOCK,))

    # --- the schema ---------------------------------------------------------------------------------------
    def render_ddl(self, sql: str) -> list[str]:
        sql = sql.format(key="BIGINT PRIMARY KEY", serial="BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY")
        sql = re.sub(r"\bINTEGER\b", "BIGINT", sql)
        sql = re.sub(r"\bTEXT\b", 'TEXT COLLATE "C"', sql).replace(" BLOB", " BYTEA")  # (compared and sorted
        # by code point, as in SQLite)
        return [sql.replace(" WITHOUT ROWID", "")]

    def append_only_ddl(self, table: str) -> list[str]:
        return ["CREATE OR REPLACE FUNCTION goldkey_append_only() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
                "RAISE EXCEPTION '% are append-only', TG_TABLE_NAME; END $$",
                f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE OR TRUNCATE ON {table} "
                "FOR EACH STATEMENT EXECUTE FUNCTION goldkey_append_only()"]

    def sequence_ddl(self, name: str) -> list[str]:
        return [f"CREATE SEQUENCE {name}"]

    # --- the dialect ----------------------------------------------------------------------------------------
    def changed(self, cur) -> int:
        """(In a pipeline the count is known once the server answered: wait for it here.)"""
        pipeline = self.conn.pipeline
        if pipeline is not None:
            try:
                pipeline.sync()
            except psycopg.OperationalError as exc:
                raise _unavailable(exc) from exc
        return cur.rowcount

    def put_bytes(self, digest: str, data: bytes) -> None:
        """In the database (every app server reads them)."""
        self.conn.execute("INSERT INTO attachment_bytes VALUES (?, ?) ON CONFLICT DO NOTHING", (digest, data))

    def attachment_bytes(self, digest: str) -> bytes | None:
        row = self.conn.execute("SELECT body FROM attachment_bytes WHERE id=?", (digest,)).fetchone()
        return bytes(row[0]) if row else None

    def table_names(self) -> list[str]:
        return [r[0] for r in self.conn.execute("SELECT table_name FROM information_schema.tables WHERE "
                                                "table_schema = current_schema() ORDER BY table_name")]

    @contextmanager
    def _events_writable(self) -> Iterator[None]:
        self.conn.execute("ALTER TABLE events DISABLE TRIGGER events_append_only")
        try:
            yield
        finally:
            self.conn.execute("ALTER TABLE events ENABLE TRIGGER events_append_only")

    def minutes_between(self, start: str, end: str) -> str:
        return f"(extract(epoch from (({end})::timestamptz - ({start})::timestamptz)) / 60.0)"

    def utc_text(self, expr: str) -> str:
        return f"to_char(({expr})::timestamptz AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"+00:00\"')"

    def money_fen(self, expr: str) -> str:
        return f"round(CAST({expr} AS NUMERIC) * 100)"

    def as_number(self, expr: str) -> str:
        return f"CAST({expr} AS DOUBLE PRECISION)"

    def json_true(self, expr: str) -> str:
        return f"({expr} = 'true')"

    def local_time(self, expr: str, tz: str, offset: int, unit: str) -> str:
        if not re.fullmatch(r"[A-Za-z0-9_+\-/]+", tz):
            raise ValueError(f"not a time zone: {tz!r}")
        local = f"(({expr})::timestamptz AT TIME ZONE '{tz}')"
        if unit == "week":
            return f"to_char(date_trunc('week', {local}), 'YYYY-MM-DD')"
        return f"to_char({local}, '{'YYYY-MM' if unit == 'month' else 'YYYY-MM-DD'}')"

    def json_at(self, expr: str, path: str) -> str:
        return f"({expr}::jsonb #>> '{{{path.replace('.', ',')}}}')"

    def data_field(self, expr: str, field: str) -> tuple[str, str]:
        return f"({expr}::jsonb -> 'data' ->> ?)", field

    def json_any(self, expr: str, path: str, count: int) -> str:
        if not count:
            return "(1=0)"
        array = f"{expr}::jsonb #> '{{{path.replace('.', ',')}}}'" if path else f"{expr}::jsonb"
        return f"coalesce(jsonb_exists_any({array}, ARRAY[{','.join('?' * count)}]::text[]), false)"

    def next_instance_id(self) -> int:
        return self.conn.execute("SELECT nextval('instance_ids')").fetchone()[0]

    def after_copy(self) -> None:
        self.conn.execute("SELECT setval('instance_ids', coalesce(max(id), 0) + 1, false) FROM instances")
        for table, column in self.conn.execute(
                "SELECT table_name, column_name FROM information_schema.columns WHERE table_schema = "
                "current_schema() AND is_identity = 'YES'").fetchall():
            self.conn.execute(f"SELECT setval(pg_get_serial_sequence('{table}', '{column}'), "
                              f"coalesce(max({column}), 0) + 1, false) FROM {table}")

    def due_instances(self, now: str, after: tuple[str, int], limit: int) -> list[tuple[str, int]]:
        wake, iid = after
        return self.conn.execute(
            "SELECT wake_at, id FROM instances WHERE wake_at <= ? AND (wake_at, id) > (?, ?) "
            "ORDER BY wake_at, id LIMIT ? FOR UPDATE SKIP LOCKED", (now, wake, iid, limit)).fetchall()
