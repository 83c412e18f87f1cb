"""The store's part of personal data (engine/privacy.py): the log of confidential reads, the instances past their
retention, and removing personal data from an instance and its events with a tombstone per event. A mixin of
engine/store.py's Store; the writes inside `write()`."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from .jsontext import dumps


class PrivacyRows:
    conn: object

    def add_reads(self, rows: list[tuple]) -> None:
        self.conn.executemany('INSERT INTO confidential_reads (at, "user", kind, ref, label, fields, via) '
                              "VALUES (?,?,?,?,?,?,?)", rows)

    def reads(self, user: str | None, since: str | None, until: str | None, limit: int) -> list[dict]:
        where, args = ["1=1"], []
        for clause, value in (('"user" = ?', user), ("at >= ?", since), ("at < ?", until)):
            if value:
                where.append(clause)
                args.append(value)
        cur = self.conn.execute(f'SELECT at, "user", kind, ref, label, fields, via FROM confidential_reads WHERE '
                                f"{' AND '.join(where)} ORDER BY id DESC LIMIT ?", (*args, limit))
        return [dict(zip(("at", "user", "kind", "ref", "label", "fields", "via"), r, strict=True)) for r in cur]

    def ended_before(self, workflow: str, cutoff: str) -> list[dict]:
        cur = self.conn.execute("SELECT id, number, ended_at, state FROM instances WHERE workflow = ? AND "
                                "ended_at IS NOT NULL AND ended_at < ? ORDER BY id", (workflow, cutoff))
        return [dict(zip(("id", "number", "ended_at", "state"), r, strict=True)) for r in cur]

    def replace_state(self, row: dict, state: dict) -> None:
        """An ended instance's state rewritten (its data made smaller), its revision moved on."""
        self.conn.execute("UPDATE instances SET state = ?, revision = revision + 1 WHERE id = ?",
                          (dumps(state), row["id"]))

    def raw_events(self, instance_id: int) -> list[dict]:
        cur = self.conn.execute("SELECT id, payload, hash FROM events WHERE id BETWEEN ? AND ? ORDER BY id",
                                (instance_id << 24, (instance_id + 1) << 24))
        return [{"id": r[0], "payload": r[1], "hash": r[2]} for r in cur]

    def redact_event(self, event_id: int, payload: str, digest: str, fields: list[str], user: str | None,
                     at: str) -> None:
        """An event's payload replaced (its personal data removed), with a tombstone keeping its hash as it was."""
        self.conn.execute("INSERT INTO event_tombstones VALUES (?,?,?,?,?,?) ON CONFLICT (event_id) DO UPDATE SET "
                          "fields = excluded.fields, by_user = excluded.by_user, at = excluded.at",
                          (event_id, event_id >> 24, digest, dumps(sorted(fields)), user, at))
        with self._events_writable():
            self.conn.execute("UPDATE events SET payload = ? WHERE id = ?", (payload, event_id))

    def tombstones(self) -> dict[int, str]:
        """Event id -> the hash it had before its personal data was removed."""
        return dict(self.conn.execute("SELECT event_id, hash FROM event_tombstones").fetchall())

    @contextmanager
    def _events_writable(self) -> Iterator[None]:
        """The events' append-only rule lifted for a statement of this transaction (each dialect its own way)."""
        raise NotImplementedError
        yield
