"""Records in the store: one row per record (current data and state) and its events in a hash chain of its own,
over the SQL both databases run. A mixin of engine/store.py's Store; call the writes inside `write()`."""

from __future__ import annotations

import secrets

from .errors import Conflict
from .jsontext import dumps, loads

_COLUMNS = ("id", "uid", "site", "type", "key", "state", "data", "revision", "events", "head", "created_at",
            "created_by", "updated_at", "updated_by")
_SELECT = f"SELECT {', '.join(_COLUMNS)} FROM records"


def _row(values) -> dict:
    row = dict(zip(_COLUMNS, values, strict=True))
    row["data"] = loads(row["data"])
    return row


class RecordRows:
    conn: object

    def changed(self, cur) -> int:
        raise NotImplementedError

    def record_row(self, record_id: int) -> dict | None:
        found = self.conn.execute(f"{_SELECT} WHERE id=?", (record_id,)).fetchone()
        return _row(found) if found else None

    def record_at(self, site: str, type_id: str, key: str) -> dict | None:
        found = self.conn.execute(f"{_SELECT} WHERE site=? AND type=? AND key=?", (site, type_id, key)).fetchone()
        return _row(found) if found else None

    def records_keyed(self, site: str, type_id: str, keys: list[str]) -> dict[str, dict]:
        """The records of `type_id` at `site` with one of `keys`, by key."""
        out: dict[str, dict] = {}
        for start in range(0, len(keys), 500):
            part = keys[start:start + 500]
            cur = self.conn.execute(f"{_SELECT} WHERE site=? AND type=? AND key IN ({','.join('?' * len(part))})",
                                    (site, type_id, *part))
            out.update((r["key"], r) for r in map(_row, cur))
        return out

    def record_rows(self, type_id: str, sites: list[str] | None, search: str = "", state: str = "",
                    page: int = 1, per_page: int = 50) -> tuple[list[dict], int]:
        """(rows, total) of the records of `type_id` at `sites` (None: every site), by key; `search` matches the
        key and the searched fields (any case), `state` the state."""
        where, args = ["type=?"], [type_id]
        if sites is not None:
            where.append(f"site IN ({','.join('?' * len(sites)) or 'NULL'})")
            args += sites
        if state:
            where.append("state=?")
            args.append(state)
        if search:
            from .store import _like

            where.append("search LIKE ? ESCAPE '\\'")
            args.append(f"%{_like(search.strip().lower())}%")
        clause = " AND ".join(where)
        total = self.conn.execute(f"SELECT count(*) FROM records WHERE {clause}", args).fetchone()[0]
        cur = self.conn.execute(f"{_SELECT} WHERE {clause} ORDER BY key, site LIMIT ? OFFSET ?",
                                args + [per_page, max(page - 1, 0) * per_page])
        return [_row(r) for r in cur], total

    def record_states(self, type_id: str, sites: list[str] | None) -> dict[str, int]:
        """How many records of `type_id` (at `sites`) are in each state."""
        where, args = "type=?", [type_id]
        if sites is not None:
            where += f" AND site IN ({','.join('?' * len(sites)) or 'NULL'})"
            args += sites
        return {s or "": n for s, n in self.conn.execute(
            f"SELECT state, count(*) FROM records WHERE {where} GROUP BY state", args)}

    def save_record(self, row: dict | None, site: str, type_id: str, key: str, state: str | None, data: dict,
                    search: str, kind: str, payload: dict, actor: str | None, at: str) -> dict:
        """A new record (`row` None) or a new version of `row` if nobody changed it since (else Conflict), with
        its event appended to the record's chain; the new row."""
        from .store import chain

        text = dumps(data)
        if row is None:
            uid, seq, prev = secrets.token_hex(12), 1, "0" * 64
        else:
            uid, seq, prev = row["uid"], row["events"] + 1, row["head"]
        body = dumps(payload)
        head = chain(prev, (uid, seq, at, actor, None, None, None, kind, body))
        if row is None:
            self.conn.execute("INSERT INTO records (uid, site, type, key, state, data, search, revision, events, "
                              "head, created_at, created_by, updated_at, updated_by) VALUES "
                              "(?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                              (uid, site, type_id, key, state, text, search, 1, 1, head, at, actor, at, actor))
            new = self.record_at(site, type_id, key)
        else:
            cur = self.conn.execute("UPDATE records SET key=?, state=?, data=?, search=?, revision=?, events=?, "
                                    "head=?, updated_at=?, updated_by=? WHERE id=? AND revision=?",
                                    (key, state, text, search, row["revision"] + 1, seq, head, at, actor, row["id"],
                                     row["revision"]))
            if self.changed(cur) != 1:
                raise Conflict(f"「{row['key']}」剛被其他人更新，請重新整理後再試")
            new = dict(row, key=key, state=state, data=data, revision=row["revision"] + 1, events=seq, head=head,
                       updated_at=at, updated_by=actor)
        self.conn.execute("INSERT INTO record_events (record, seq, at, actor, kind, payload, hash) VALUES "
                          "(?,?,?,?,?,?,?)", (uid, seq, at, actor, kind, body, head))
        return new

    def record_events(self, uid: str) -> list[dict]:
        cur = self.conn.execute("SELECT seq, at, actor, kind, payload FROM record_events WHERE record=? ORDER BY seq",
                                (uid,))
        return [{"seq": r[0], "at": r[1], "actor": r[2], "kind": r[3], "payload": loads(r[4])} for r in cur]

    def verify_records(self) -> tuple[bool, int, str]:
        """Recompute every record's hash chain and compare its end with the head and count on the record: (ok,
        events checked, first problem)."""
        from .store import GENESIS, chain

        recorded = {u: (n, h, k) for u, n, h, k in self.conn.execute("SELECT uid, events, head, key FROM records")}
        found: dict[str, tuple[int, str]] = {}
        count = 0
        for uid, seq, at, actor, kind, payload, digest in self.conn.execute(
                "SELECT record, seq, at, actor, kind, payload, hash FROM record_events ORDER BY record, seq"):
            count += 1
            seen, prev = found.get(uid, (0, GENESIS))
            if seq != seen + 1 or chain(prev, (uid, seq, at, actor, None, None, None, kind, payload)) != digest:
                return False, count, f"record {uid} event {seq} does not match the chain"
            found[uid] = (seq, digest)
        for uid, (n, head, key) in recorded.items():
            if found.get(uid, (0, GENESIS)) != (n, head):
                return False, count, f"record {key}: its events do not end at the recorded head"
        return True, count, ""
