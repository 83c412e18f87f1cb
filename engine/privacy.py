"""Personal data, as 客戶信息資料管理 asks: every read of a confidential field by a user (a page, the API, a register
and its exports, a printout, a record, a report) is logged — who, which instance or record, which fields, when, how
— and a manager lists that log; a form's `retention:` (回訪記錄 保管兩年) says how long its personal data is kept, and
`goldkey retention --apply` removes what has expired, leaving a tombstone per event so the audit chain still
verifies (engine/store.py: a tombstoned event's hash is kept and the chain goes on from it)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from .core import iso
from .durations import Duration
from .jsontext import dumps, loads
from .model import Registry

REDACTED = "（已依保存期限刪除）"


class Privacy:
    """For the Engine (which provides `store`, `registry`, `clock` and the admin check)."""

    registry: Registry
    store: object
    clock: Callable[[], datetime]

    def log_reads(self, user: str | None, reads: list[tuple[str, str, str | None, list[str]]], via: str) -> None:
        """Record that `user` read confidential `fields` of each (kind, ref, label, fields) in `reads`."""
        rows = [(iso(self.clock()), user, kind, str(ref), label, dumps(sorted(fields)), via)
                for kind, ref, label, fields in reads if fields]
        if rows and user:
            with self.store.write():
                self.store.add_reads(rows)

    def confidential_reads(self, user: str, reader: str | None = None, since: str | None = None,
                           until: str | None = None, limit: int = 500) -> list[dict]:
        """The log of confidential reads, newest first (for the site's administrators: `admin_roles`)."""
        self.require_admin(user)
        names = self.store.display_names()
        return [dict(r, fields=loads(r["fields"]), reader_name=names.get(r["user"], r["user"]))
                for r in self.store.reads(reader, since, until, limit)]

    def retention(self, apply: bool = False, user: str | None = None) -> dict:
        """The personal data past its form's `retention:`: instances ended longer ago than it keeps them, with the
        fields still holding values. With `apply`: those values removed from the instance and from its events (each
        event changed keeps a tombstone: its hash, who, when, which fields), all in one transaction."""
        now = self.clock()
        found, removed = [], 0
        for wf in sorted(self.registry.workflows.values(), key=lambda w: w.id):
            rule = wf.form.retention
            if not rule:
                continue
            keep: Duration = rule["keep"]
            cutoff = iso(wf.calendar.add(now, keep, backward=True))
            for row in self.store.ended_before(wf.id, cutoff):
                state = loads(row["state"])
                fields = [f for f in rule["fields"] if state.get("data", {}).get(f) not in (None, "")]
                if fields:
                    found.append({"instance": row["id"], "number": row["number"], "workflow": wf.id,
                                  "ended_at": row["ended_at"], "fields": fields})
        if apply and found:
            with self.store.write():
                for item in found:
                    removed += self._redact(item, user, now)
        return {"keep_until": iso(now), "instances": found, "applied": bool(apply), "events_redacted": removed}

    def _redact(self, item: dict, user: str | None, now: datetime) -> int:
        row = self.store.instance_row(item["instance"])
        state = dict(row["state"])
        data = {k: v for k, v in state.get("data", {}).items() if k not in item["fields"]}
        state["data"] = data
        state["redacted"] = {"fields": sorted(set(item["fields"]) | set(state.get("redacted", {}).get("fields", []))),
                             "at": iso(now)}
        self.store.replace_state(row, state)
        changed = 0
        for event in self.store.raw_events(item["instance"]):
            payload = loads(event["payload"])
            touched = [f for f in item["fields"] if isinstance(payload.get("data"), dict) and f in payload["data"]]
            if not touched:
                continue
            payload["data"] = {k: (REDACTED if k in touched else v) for k, v in payload["data"].items()}
            self.store.redact_event(event["id"], dumps(payload), event["hash"], touched, user, iso(now))
            changed += 1
        self._cache.pop(item["instance"], None)
        return changed
