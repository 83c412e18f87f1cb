"""Walk every path of a workflow with the pure core and find states from which no end is reachable.

Data is not modelled: every decision branch, every move each task's kind offers (`TaskStep.sim_moves`:
each outcome, a checklist ticked), every timer and every outcome of a sub-procedure is tried. Postings and
validation are skipped: the core runs as a `Rehearsal`, an `Oracle` picking the branches. A step's record update
is followed along the path: a move its record type does not allow from the state an earlier step left the record
in (a key lent twice without coming back) is reported as stuck there.
"""

from __future__ import annotations

import json
from collections import deque
from collections.abc import Callable
from datetime import UTC, datetime

from . import core
from .core import Actor, Result
from .errors import GoldkeyError
from .model import Registry, Workflow

_EPOCH = datetime(2026, 1, 1, tzinfo=UTC)


def simulate(wf: Workflow, registry: Registry, max_states: int = 20000) -> dict:
    """Explore the state graph; report ends reached and every stuck state with a path to it."""
    actor = Actor("simulator", frozenset(registry.site.roles) | frozenset(wf.roles))
    fake_child = iter(range(-1, -10**9, -1))
    ends: dict[str, int] = {}
    stuck: list[dict] = []
    seen: dict[str, dict] = {}
    edges: dict[str, set[str]] = {}
    queue: deque[tuple[str, dict, list[str]]] = deque()

    def settle(result: Result, path: list[str]) -> dict | None:
        """The state after `result` (its children linked); None when a record update on the way would be refused
        by the record type's moves (reported as stuck: the engine would refuse the step)."""
        state = result.state
        for effect in result.effects:
            if effect["type"] == "start_child" and effect["wait"]:
                state = core.link_child(state, effect["token"], next(fake_child))
            elif effect["type"] == "update_record":
                problem = _record_move(registry, state, effect)
                if problem:
                    stuck.append({"path": path, "steps": _positions(state), "reason": problem})
                    return None
        return state

    def add(state: dict | None, path: list[str], parent: str | None) -> None:
        if state is None:
            return
        key = _key(state)
        if parent is not None:
            edges.setdefault(parent, set()).add(key)
        if key in seen:
            return
        seen[key] = {"state": state, "path": path}
        if state["status"] == "active":
            queue.append((key, state, path))
        else:
            ends[state["outcome"]] = ends.get(state["outcome"], 0) + 1

    for result, label in _branches(lambda o: core.start(wf, 0, "SIM", actor, {}, _EPOCH, oracle=o)):
        if isinstance(result, Exception):
            stuck.append({"path": ["start" + label], "steps": [], "reason": str(result)})
        else:
            add(settle(result, ["start" + label]), ["start" + label], None)
    truncated = False
    while queue:
        if len(seen) > max_states:
            truncated = True
            break
        key, state, path = queue.popleft()
        actions = list(_actions(wf, registry, state, actor))
        if not actions:
            stuck.append({"path": path, "steps": _positions(state), "reason": "no task, timer or sub-procedure "
                                                                              "can move on"})
            continue
        for name, fn in actions:
            for result, label in _branches(fn):
                if isinstance(result, Exception):
                    stuck.append({"path": path + [name + label], "steps": _positions(state),
                                  "reason": str(result)})
                else:
                    add(settle(result, path + [name + label]), path + [name + label], key)
    if not truncated:
        finishing = {k for k, v in seen.items() if v["state"]["status"] != "active"}
        reverse: dict[str, set[str]] = {}
        for src, targets in edges.items():
            for t in targets:
                reverse.setdefault(t, set()).add(src)
        frontier = deque(finishing)
        while frontier:
            for src in reverse.get(frontier.popleft(), ()):
                if src not in finishing:
                    finishing.add(src)
                    frontier.append(src)
        reported = {json.dumps(s["steps"]) for s in stuck}
        for k, v in seen.items():
            if k not in finishing and json.dumps(_positions(v["state"])) not in reported:
                stuck.append({"path": v["path"], "steps": _positions(v["state"]),
                              "reason": "every way on loops back without reaching an end"})
                reported.add(json.dumps(_positions(v["state"])))
    return {"workflow": wf.id, "version": wf.version, "states": len(seen), "ends": ends, "stuck": stuck[:20],
            "truncated": truncated}


def _branches(fn: Callable) -> list[tuple[Result | Exception, str]]:
    """Run `fn(oracle)` once per combination of decision branches it meets."""
    out = []
    pending: list[list[int]] = [[]]
    while pending:
        prefix = pending.pop()
        record: list[tuple[int, int, str]] = []

        def oracle(step, n, prefix=prefix, record=record):
            i = len(record)
            choice = prefix[i] if i < len(prefix) else 0
            record.append((choice, n, step.id))
            return choice

        try:
            result: Result | Exception = fn(oracle)
        except GoldkeyError as exc:
            result = exc
        label = "".join(f" [{sid}#{c}]" for c, _, sid in record)
        out.append((result, label))
        for i in range(len(prefix), len(record)):
            for alt in range(1, record[i][1]):
                pending.append([c for c, _, _ in record[:i]] + [alt])
    return out


def _actions(wf: Workflow, registry: Registry, state: dict, actor: Actor):
    for task_id, task in sorted(state["tasks"].items()):
        for label, outcome, data in wf.steps[task["step"]].sim_moves(task):
            yield (label, _do(wf, state, task_id, actor, outcome, data))
    if state.get("wake_at"):  # the next timer or deadline action: time moves on to it
        yield ("timers", lambda o: core.fire_due(wf, state, datetime.fromisoformat(state["wake_at"]), o))
    for token in state["tokens"].values():
        step = wf.steps.get(token["step"])
        for name in getattr(step, "actions", {}) if token.get("resting") else ():
            yield (f"{step.id}:{name}",
                   lambda o, s=step.id, n=name: core.act(wf, state, s, n, actor, {}, None, _EPOCH, o))
        waiting = [token["child"]] if token.get("child") is not None else [
            c for c in token.get("children", ()) if str(c) not in token.get("ended", {})][:1]
        for child in waiting:
            step = wf.steps[token["step"]]
            for outcome in step.sim_child_outcomes(registry):
                yield (f"{step.id}<-{outcome}",
                       lambda o, c=child, out=outcome: core.child_done(wf, state, c, out, _EPOCH, o))


def _do(wf, state, task_id, actor, outcome, data):
    return lambda o: core.complete(wf, state, task_id, actor, outcome, data, "simulated", _EPOCH, oracle=o)


def _record_move(registry: Registry, state: dict, effect: dict) -> str | None:
    """A record's state along the path (the instance's updates of one key), the move refused if its type forbids it;
    the state remembered in the simulated state."""
    rt = registry.records.get(effect["record"])
    key = f"{effect['record']}:{effect['key']}"
    moves = state.setdefault("sim_records", {})
    current = moves.get(key)
    if rt is not None and current is not None and effect["state"] is not None:
        allowed = rt.targets(current)
        if effect["state"] not in allowed:
            return (f"step '{effect['step']}' moves {rt.title} ({effect['key']}) from '{current}' to "
                    f"'{effect['state']}', which record type '{rt.id}' does not allow "
                    f"(from '{current}': {', '.join(allowed) or 'nowhere'})")
    moves[key] = effect["state"]
    return None


def _positions(state: dict) -> list[str]:
    return sorted(t["step"] for t in state["tokens"].values())


_TIMES = ("token", "opened_at", "due_at", "hard_at", "ladder")  # what differs between paths to the same state


def _key(state: dict) -> str:
    tokens = sorted((t["step"], len(t["groups"]), bool(t.get("until")) or bool(t.get("resting")),
                     t.get("child") is not None, len(t.get("children", ())), len(t.get("ended", ())))
                    for t in state["tokens"].values())
    tasks = sorted(json.dumps({k: v for k, v in t.items() if k not in _TIMES}, sort_keys=True)
                   for t in state["tasks"].values())
    groups = sorted((g["split"], g["arrived"]) for g in state["groups"].values())
    return json.dumps([state["status"], state["outcome"], tokens, tasks, groups, state.get("sim_records", {})],
                      sort_keys=True)
