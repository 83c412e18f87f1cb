"""The store's part of moving running instances to a new version (engine/migrateservice.py) and of rehearsals
(engine/rehearsal.py): which instances run on other versions, re-pinning one (with its open tasks' roles), an
instance's last event time. A mixin of engine/store.py's Store; the writes inside `write()`."""

from __future__ import annotations

from .jsontext import dumps


class MigrateRows:
    conn: object

    def running_on_other_versions(self, workflow: str, version: str) -> list[tuple[int, str]]:
        """(id, version) of the active instances of `workflow` on a version other than `version`, by id."""
        cur = self.conn.execute("SELECT id, version FROM instances WHERE status = 'active' AND workflow = ? AND "
                                "version <> ? ORDER BY id", (workflow, version))
        return [(r[0], r[1]) for r in cur]

    def running_versions(self) -> list[tuple[str, str, int]]:
        """(workflow, version, how many) of the active instances."""
        cur = self.conn.execute("SELECT workflow, version, count(*) FROM instances WHERE status = 'active' "
                                "GROUP BY workflow, version ORDER BY workflow, version")
        return [(r[0], r[1], r[2]) for r in cur]

    def repin(self, instance_id: int, version: str, task_roles: dict[str, list[str]]) -> None:
        """The instance runs on `version` from now on; its open tasks in `task_roles` get those roles (the task
        projection, which the inbox reads). Call inside `write()`, after the state and its event are committed."""
        self.conn.execute("UPDATE instances SET version = ? WHERE id = ?", (version, instance_id))
        rows = [(dumps(roles), _key(task_id)) for task_id, roles in sorted(task_roles.items())]
        if rows:
            self.conn.executemany("UPDATE tasks SET roles = ? WHERE key = ?", rows)

    def last_event_at(self, instance_id: int) -> str | None:
        """The time of the instance's latest event (None: no such instance)."""
        row = self.conn.execute("SELECT at FROM events WHERE id BETWEEN ? AND ? ORDER BY id DESC LIMIT 1",
                                (instance_id << 24, ((instance_id + 1) << 24) - 1)).fetchone()
        return row[0] if row else None


def _key(task_id: str) -> int:
    """The task projection's key of a task id "instance-seq" (engine/store.py's task_key)."""
    instance, _, seq = str(task_id).partition("-")
    return (int(instance) << 24) | int(seq)
