"""Moving a running instance to the current version of its workflow (`goldkey migrate`): whether it can, why not in
words an administrator reads (steps by their titles), and the state it moves with. Pure: the versions, the state and
the time come in; nothing is read or written here (engine/migrateservice.py does that, one transaction an instance).

An instance can move when every step it stands on (its tokens: open tasks, timers, sub-procedures waited for) is a
step of the new version of the same kind, a parallel it is inside still has its join, its data passes the new form
(its fields' schemas and rules; a required field is asked for when the step that requires it is completed, as
always), and each ledger it posted to is still there with the same entries and a balance at or above the new floor.
Open tasks keep their ids, due times, signatures, ticks and holds; their roles come from the new step unless a
deadline escalated or reassigned the task or it was assigned to one person; a changed deadline ladder is counted
again from the task's due times, the moments already past counting as done.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from datetime import datetime

from . import core, deadlines, words
from .core import iso
from .errors import ExpressionError, GoldkeyError
from .exprfuncs import Clock
from .model import Workflow
from .money import from_fen, yuan_label
from .steps import Step

EVENT = "instance_migrated"


@dataclass
class Move:
    """What moving one instance would do: why it cannot (`reasons`), what changes for it (`notes`), the state on the
    new version (None when it cannot move) and the open tasks whose roles change (task id -> roles)."""

    reasons: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    state: dict | None = None
    roles: dict[str, list[str]] = field(default_factory=dict)

    @property
    def movable(self) -> bool:
        return not self.reasons


def plan(old: Workflow, new: Workflow, state: dict, now: datetime, parent_step: Step | None = None) -> Move:
    """Can an active instance of `old` (its `state`) move to `new` at `now`, and how? `parent_step`: the step of the
    instance's parent that waits for it to end, if one does."""
    move = Move()
    moved = copy.deepcopy(state)
    moved["version"] = new.version
    for token in _ordered(state.get("tokens", {})):
        move.reasons += _token(old, new, token)
        step, was = new.steps.get(token.get("step", "")), old.steps.get(token.get("step", ""))
        if token.get("until") and not token.get("delayed") and step and was and step.durations() != was.durations():
            move.notes.append(f"「{step.title}」的等待仍至原來的時間")
    for group in _ordered(state.get("groups", {})):
        join = new.steps.get(group.get("join", ""))
        was = old.steps.get(group.get("join", ""))
        if join is None or was is None or join.kind != was.kind:
            move.reasons.append(f"並行的「{old.step_title(group.get('split'))}」在新版本中沒有原來的匯合"
                                f"「{old.step_title(group.get('join'))}」")
    for task_id in sorted(moved.get("tasks", {}), key=_seq):
        _task(old, new, task_id, moved, now, move)
    move.reasons += _data(old, new, state, now)
    move.reasons += _ledgers(old, new, state)
    if parent_step is not None:
        move.reasons += _parent(parent_step, old, new)
    if move.reasons:
        return move
    move.state = moved
    return move


def result(move: Move, old: Workflow, new: Workflow, now: datetime, by: str) -> core.Result:
    """The move as the store writes it: the state on the new version (its next wake time counted again) and the
    audit event `instance_migrated` (from and to which version, by whom, the roles and changes it brought)."""
    if move.state is None:
        raise ValueError("an instance that cannot move has no result")
    run = core.Run(new, move.state, now, None)
    run.emit(EVENT, None, None, {"from": old.version, "to": new.version, "by": by, "roles": move.roles,
                                 "notes": move.notes})
    return run.result()


def open_steps(wf: Workflow, state: dict) -> list[str]:
    """The titles of the steps the instance stands on (open tasks, timers, sub-procedures), in order."""
    return list(dict.fromkeys(wf.step_title(t.get("step")) for t in _ordered(state.get("tokens", {}))))


# --- the checks -------------------------------------------------------------------------------------------------

def _token(old: Workflow, new: Workflow, token: dict) -> list[str]:
    sid = token.get("step", "")
    title = old.step_title(sid)
    step, was = new.steps.get(sid), old.steps.get(sid)
    if step is None:
        return [f"「{title}」在新版本中已刪除（或已改了代號）"]
    if token.get("delayed"):  # (not reached yet: it is entered on the new version when its time comes)
        return []
    if was is not None and step.kind != was.kind:
        return [f"「{title}」在新版本中由「{was.word}」改為「{step.word}」"]
    if token.get("task") and not step.is_task:
        return [f"「{title}」在新版本中不再是由人辦理的任務"]
    if ("child" in token or "children" in token) and was is not None and step.starts != was.starts:
        return [f"子流程「{title}」在新版本中改為啟動另一個流程"]
    return []


def _task(old: Workflow, new: Workflow, task_id: str, state: dict, now: datetime, move: Move) -> None:
    """Check one open task and bring it to the new step (roles, ladder); the token's check covers a missing step."""
    task = state["tasks"][task_id]
    step, was = new.steps.get(task.get("step", "")), old.steps.get(task.get("step", ""))
    if step is None or not step.is_task or (was is not None and step.kind != was.kind):
        return
    title = was.title if was is not None else step.title
    if was is not None and step.title != was.title:
        move.notes.append(f"「{was.title}」在新版本中改名為「{step.title}」")
    paused = task.get("paused")
    if paused and paused.get("state") not in step.holds:
        label = (was.holds if was is not None else {}).get(paused.get("state"), "暫停")
        move.reasons.append(f"「{title}」暫停中（{label}），新版本沒有這個暫停狀態")
    if not (task.get("override") or task.get("reassigned") or task.get("assignee")):
        try:
            fresh = _fresh_roles(step, task, state)
        except GoldkeyError as exc:
            move.reasons.append(f"「{title}」：{exc.message}")
            fresh = task["roles"]
        if not fresh:
            move.reasons.append(f"「{title}」在新版本中沒有可以辦理的職務")
        elif fresh != task["roles"]:
            move.notes.append(f"「{step.title}」改由{new.role_titles(fresh)}辦理（原為{old.role_titles(task['roles'])}）")
            task["roles"] = fresh
            move.roles[task_id] = fresh
            if "pool" in task:
                task["pool"] = fresh
    if was is not None and step.due != was.due and task.get("due_at"):
        move.notes.append(f"「{step.title}」的完成期限仍按原來的時間")
    if tuple(step.ladder) != tuple(was.ladder if was is not None else ()):
        times = deadlines.ladder_times(new.calendar, step.ladder, task)
        task["ladder"] = times
        task["fired"] = [i for i, t in enumerate(times) if t is not None and t <= iso(now)]
        move.notes.append(f"「{step.title}」的期限提醒改按新版本；已過的時間點不再補發")


def _fresh_roles(step: Step, task: dict, state: dict) -> list[str]:
    """The roles the new step gives the task: who may sign now given the signatures so far (a kind that counts them),
    else the roles it opens a task with (routed by the data, when it routes), else its roles."""
    candidates = getattr(step, "candidates", None)
    if callable(candidates) and "signatures" in task:
        return list(candidates(task))
    opener = getattr(step, "open_roles", None)
    if callable(opener):
        roles, person = opener(state)
        return list(step.roles) if person else list(roles)  # (an unassigned task is not handed to one person)
    return list(step.roles)


def _data(old: Workflow, new: Workflow, state: dict, now: datetime) -> list[str]:
    form = new.form
    data = state.get("data", {})
    reasons = [f"欄位「{old.form.title_of(k)}」在新版本的表單中已刪除，案件中已填寫的內容將無法顯示"
               for k in sorted(data) if k not in form.properties]
    balances = state.get("balances", {})

    def balance(ledger: str):
        if ledger not in new.ledgers:
            raise ExpressionError(f"沒有臺帳「{ledger}」")
        return from_fen(balances.get(ledger, 0))

    filled = {k for k in data if k in form.properties}
    problems = form.validate(data, frozenset(), filled, balance, Clock(now, new.calendar)) if filled else []
    if problems:
        reasons.append("資料不符合新版本的表單：" + "；".join(dict.fromkeys(p["message"] for p in problems)))
    return reasons


def _ledgers(old: Workflow, new: Workflow, state: dict) -> list[str]:
    reasons = []
    for lid, fen in sorted(state.get("balances", {}).items()):
        was, ledger = old.ledgers.get(lid), new.ledgers.get(lid)
        title = (was or ledger).title if (was or ledger) else "臺帳"
        if ledger is None:
            reasons.append(f"臺帳「{title}」在新版本中已刪除")
            continue
        for entry, direction in (was.entries.items() if was else ()):
            if entry not in ledger.entries:
                reasons.append(f"臺帳「{title}」在新版本中沒有「{was.entry_title(entry)}」")
            elif ledger.entries[entry] != direction:
                reasons.append(f"臺帳「{title}」的「{was.entry_title(entry)}」在新版本中由"
                               f"{words.DIRECTIONS.get(direction, direction)}改為"
                               f"{words.DIRECTIONS.get(ledger.entries[entry], ledger.entries[entry])}")
        if fen < ledger.floor:
            reasons.append(f"臺帳「{title}」目前餘額 {yuan_label(fen)}，低於新版本的下限 {yuan_label(ledger.floor)}")
    return reasons


def _parent(step: Step, old: Workflow, new: Workflow) -> list[str]:
    """A parent waiting for this instance goes on by its outcome: each outcome the new version can end with must lead
    somewhere there."""
    outcomes = getattr(step, "outcomes", None) or {}
    if not outcomes or getattr(step, "next", None):
        return []
    missing = [o for o in new.end_outcomes() if o not in outcomes]
    if not missing:
        return []
    titles = "、".join(f"「{new.outcome_title(o)}」" for o in missing)
    return [f"上層案件的「{step.title}」不接受新版本可能的結果：{titles}"]


def _seq(key: str) -> tuple[int, str]:
    """Tokens and groups by their number, tasks by theirs ("12-3")."""
    tail = str(key).rsplit("-", 1)[-1]
    return (int(tail), str(key)) if tail.isdigit() else (1 << 62, str(key))


def _ordered(items: dict) -> list[dict]:
    return [items[k] for k in sorted(items, key=_seq)]
