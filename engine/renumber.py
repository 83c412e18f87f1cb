"""Instances given new ids (`goldkey db copy --site` into a database that already holds other sites): every place an
instance id is written, by structure, never by searching text (a unit "12-3" in a form stays "12-3").

An id appears as the instance's own (`state.instance`, its events' and tasks' keys), in its task ids ("12-3":
instance 12, its third), in a `subprocess` token's child and in `child_started`/`child_finished` payloads. The
events' hashes cover the ids, so the chain of a renumbered instance is computed again (`rechain`) after the
source's chain was verified; `copied_instances` keeps the source's id and chain head beside the new ones."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from .jsontext import dumps, loads
from .store import GENESIS, chain

Ids = Mapping[int, int]  # source instance id -> id in the target


def task(task_id: str | None, ids: Ids) -> str | None:
    """'12-3' of instance 12 becomes '40-3' when 12 becomes 40."""
    if task_id is None:
        return None
    instance, _, seq = task_id.partition("-")
    return f"{ids[int(instance)]}-{seq}"


def state(old: dict, ids: Ids) -> dict:
    new = dict(old, instance=ids[old["instance"]], tasks={task(k, ids): v for k, v in old["tasks"].items()})
    new["tokens"] = {tid: _token(token, ids) for tid, token in old["tokens"].items()}
    return new


def _token(token: dict, ids: Ids) -> dict:
    token = dict(token)
    if token.get("task"):
        token["task"] = task(token["task"], ids)
    if token.get("child") is not None:
        token["child"] = ids[token["child"]]
    if token.get("children"):  # (a foreach's)
        token["children"] = [ids[c] for c in token["children"]]
        token["ended"] = {str(ids[int(c)]): o for c, o in token.get("ended", {}).items()}
    return token


def payload(kind: str, text: str, ids: Ids) -> str:
    """An event's payload (JSON text): a child's id is renumbered, nothing else changes (the text is kept as it
    was when nothing does, so an event without ids hashes as before)."""
    if kind not in ("child_started", "child_finished"):
        return text
    body = loads(text)
    return dumps(dict(body, child=ids[body["child"]]))


def event_key(event_id: int, ids: Ids) -> int:
    """An event's key (instance id << 24 | seq) under the new id."""
    return ids[event_id >> 24] << 24 | (event_id & ((1 << 24) - 1))


def rechain(events: Iterable[tuple], ids: Ids) -> tuple[list[tuple], str]:
    """One instance's events (instance_id, seq, at, actor, acting_for, step, task, type, payload), in order, as
    rows of the target's events table under the new id with a new hash chain; and the chain's head."""
    rows, head = [], GENESIS
    for iid, seq, at, actor, acting_for, step, task_id, kind, text in events:
        fields = (ids[iid], seq, at, actor, acting_for, step, task(task_id, ids), kind, payload(kind, text, ids))
        head = chain(head, fields)
        rows.append((ids[iid] << 24 | seq, *fields, head))
    return rows, head
