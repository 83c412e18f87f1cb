"""Rehearsing a procedure on a scratch database (`goldkey start/complete --now TIME`): a command runs as if it were
another time, so a three-month term is walked in a minute with `start --now`, `tick --now` and `complete --now`.

The time travels as a `RehearsedTime`, a datetime that remembers the wall time it was given at: every event the
command writes (its events' time is the rehearsed one) says in its payload `"rehearsed": true` with the real
`"wall_time"`. Time does not go backwards for an instance: a rehearsed time before its last event is refused."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from .core import iso
from .errors import Invalid
from .model import Registry


class RehearsedTime(datetime):
    """A moment a command is rehearsed at; `wall` is when it really ran (ISO text)."""

    wall: str = ""


def rehearsed(moment: datetime, wall: datetime) -> RehearsedTime:
    """`moment` (one without a zone read as UTC) as a rehearsal's time, in UTC like every stored time, run at
    `wall`."""
    moment = (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).astimezone(UTC)
    out = RehearsedTime.combine(moment.date(), moment.timetz())
    out.wall = iso(wall)
    return out


def marked(events: list[dict], now: datetime) -> list[dict]:
    """`events` as a command at `now` writes them: when `now` is a rehearsal's, each payload says so, with the wall
    time."""
    wall = now.wall if isinstance(now, RehearsedTime) else ""
    if not wall:
        return events
    return [dict(e, payload=dict(e["payload"], rehearsed=True, wall_time=wall)) for e in events]


class Rehearsals:
    """For the Engine (which provides `store`, `registry` and `clock`): the time a command runs at."""

    registry: Registry
    store: object
    clock: Callable[[], datetime]

    def _command_time(self, now: datetime | None, instance_id: int | None = None) -> datetime:
        """The clock's time, or `now` as a rehearsal's; refused when it is before the last event of the instance
        `instance_id` (time does not go backwards for an instance)."""
        wall = self.clock()
        if now is None:
            return wall
        moment = rehearsed(now, wall)
        last = self.store.last_event_at(instance_id) if instance_id is not None else None
        if last and datetime.fromisoformat(last) > moment:
            tz = self.registry.site.tz
            raise Invalid(f"排演時間 {moment.astimezone(tz):%Y-%m-%d %H:%M} 早於案件 {instance_id} 最後一筆紀錄的時間 "
                          f"{datetime.fromisoformat(last).astimezone(tz):%Y-%m-%d %H:%M}：同一案件的時間不能倒退，"
                          "請用較晚的時間", [{"field": "now", "message": "時間早於案件的最後一筆紀錄"}])
        return moment
