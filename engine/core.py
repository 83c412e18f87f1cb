"""Pure step semantics: (workflow, state, command, now) -> (new state, events, effects).

Nothing here touches a database, a clock, a file or a random source: time, ids and the actor come in
with the command, and side effects (starting a sub-procedure) leave as values for the caller to run.
The input state is never modified; every function works on a copy and returns it.
"""

from __future__ import annotations

import hashlib
import pickle
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from . import deadlines
from .definitions import Step, Workflow
from .durations import Duration
from .errors import Conflict, ExpressionError, Forbidden, Invalid
from .jsontext import canonical
from .money import from_fen, to_fen, yuan_label

MAX_AUTO_STEPS = 500  # steps passed without a task in one command; more means an endless loop


@dataclass(frozen=True)
class Actor:
    """Who acts: their own roles, and the roles of people who named them deputy for today."""

    user: str
    roles: frozenset[str]
    deputy_for: tuple[tuple[str, frozenset[str]], ...] = ()

    @property
    def every_role(self) -> frozenset[str]:
        """Own roles and those held for others today."""
        return self.roles | frozenset(r for _, rs in self.deputy_for for r in rs)

    def resolve(self, candidates) -> tuple[str, str | None] | None:
        """(role, acting_for) to act on a task open to `candidates`, preferring the actor's own roles."""
        for role in candidates:
            if role in self.roles:
                return role, None
        for principal, roles in self.deputy_for:
            for role in candidates:
                if role in roles:
                    return role, principal
        return None


@dataclass
class Result:
    state: dict
    events: list[dict] = field(default_factory=list)
    effects: list[dict] = field(default_factory=list)


Oracle = Callable[[Step, int], int]


def data_hash(data: dict) -> str:
    """Hash of the data as signed: canonical JSON, SHA-256."""
    return hashlib.sha256(canonical(data)).hexdigest()


def shown_hash(data: dict, fields: list[str] | None) -> str:
    """Hash of the fields a printout shows (all when None): what its verification compares later."""
    return data_hash(data if fields is None else {k: data.get(k) for k in fields})


def iso(moment: datetime) -> str:
    return moment.isoformat(timespec="seconds")


def start(wf: Workflow, instance_id: int, number: str | None, actor: Actor, data: dict, now: datetime,
          oracle: Oracle | None = None, as_child: bool = False, delay: Duration | None = None) -> Result:
    """Start an instance: check the starter's role, validate the start fields, run to the first tasks.

    `as_child`: started by a parent's `subprocess` step or a schedule, which may set any field of the form.
    `delay`: the first step is reached only this long after now (a return visit a week after a repair)."""
    run = _Run(wf, {}, now, actor, oracle)
    first = wf.start
    if as_child:
        first = Step(id="start", kind="form", title=wf.start.title, keypath=(), fields=tuple(data or {}))
    elif not oracle and actor.resolve(wf.start.roles) is None:
        raise Forbidden(f"使用者「{actor.user}」沒有啟動「{wf.title}」的角色（需要：{'、'.join(wf.start.roles)}）")
    run.state = {"instance": instance_id, "workflow": wf.id, "version": wf.version, "number": number,
                 "status": "active", "outcome": None, "started_by": actor.user, "started_at": iso(now),
                 "data": {}, "seq": 0, "tokens": {}, "tasks": {}, "groups": {}, "balances": {},
                 "approvals": []}
    run.write_fields(first, data or {})
    run.emit("instance_started", None, None, {"workflow": wf.id, "version": wf.version, "number": number,
                                               "data": run.state["data"]})
    token = run.new_token(wf.start.next, [])
    if delay is not None:
        until = run.state["tokens"][token]["until"] = iso(wf.calendar.add(now, delay))
        run.state["tokens"][token]["delayed"] = True
        run.emit("start_delayed", None, None, {"until": until})
    else:
        run.enter(token)
    return run.result()


def complete(wf: Workflow, state: dict, task_id: str, actor: Actor, outcome: str | None = None,
             data: dict | None = None, comment: str | None = None, now: datetime | None = None,
             oracle: Oracle | None = None, owned: bool = False) -> Result:
    """Act on an open task: fill a form, sign an approval, tick checklist items or confirm a print.

    `owned`: the caller hands `state` over (it was just read and will not be used again), so it is
    worked on in place instead of copied."""
    run = _Run(wf, state if owned else _copy(state), now, actor, oracle)
    run.complete(task_id, outcome, data or {}, comment)
    return run.result()


def fire_due(wf: Workflow, state: dict, now: datetime) -> Result:
    """Apply everything due by `now`: `wait` timers, delayed starts and deadline actions, each once (what
    fired is recorded in the state). A result without events when nothing is due."""
    run = _Run(wf, _copy(state), now, None, None)
    for tid, token in sorted(run.state["tokens"].items()):
        if token.get("until") and token["until"] <= run.at and run.state["status"] == "active":
            token.pop("until")
            if token.pop("delayed", False):
                run.emit("start_reached", None, None, {})
                run.enter(tid)
                continue
            step = wf.steps[token["step"]]
            run.emit("timer_fired", step.id, None, {})
            run.leave(tid, step, step.next)
    for task_id in sorted(run.state["tasks"]):
        for index in deadlines.due_rungs(run.state["tasks"].get(task_id, {}), run.at):
            if run.state["status"] != "active" or task_id not in run.state["tasks"]:
                break
            run.deadline(task_id, index)
    return run.result()


def hold(wf: Workflow, state: dict, task_id: str, actor: Actor, name: str, comment: str | None,
         now: datetime) -> Result:
    """Pause a task's clock in one of its step's named states (e.g. waiting for the owner)."""
    run = _Run(wf, _copy(state), now, actor, None)
    task, step, who = run.acting_on(task_id)
    if task.get("paused"):
        raise Conflict(f"任務 {task_id} 已暫停（{step.holds.get(task['paused']['state'])}），請先恢復")
    if name not in step.holds:
        choices = "、".join(f"{k}（{v}）" for k, v in step.holds.items()) or "（此步驟不能暫停）"
        raise Invalid(f"「{step.title}」沒有暫停狀態「{name}」；可用：{choices}",
                      [{"field": "state", "message": f"可用：{choices}"}])
    task["paused"] = {"state": name, "since": run.at}
    run.emit("task_held", step.id, task_id, dict(who, state=name, label=step.holds[name], comment=comment))
    return run.result()


def resume(wf: Workflow, state: dict, task_id: str, actor: Actor, comment: str | None, now: datetime) -> Result:
    """Restart a held task's clock: its due times move on by the time it was paused."""
    run = _Run(wf, _copy(state), now, actor, None)
    task, step, who = run.acting_on(task_id)
    paused = task.pop("paused", None)
    if paused is None:
        raise Conflict(f"任務 {task_id} 沒有暫停，不需要恢復")
    since = datetime.fromisoformat(paused["since"])
    if step.due:
        deadlines.shift(wf.calendar, step.due, task, since, now)
        task["ladder"] = deadlines.ladder_times(wf.calendar, step.ladder, task)
    run.emit("task_resumed", step.id, task_id, dict(who, state=paused["state"], comment=comment,
                                                    paused_minutes=int((now - since).total_seconds() // 60),
                                                    due_at=task.get("due_at"), hard_at=task.get("hard_at")))
    return run.result()


def printed(wf: Workflow, state: dict, printout: str, actor: Actor, code: str, template_hash: str, copies: int,
            now: datetime, shown: list[str] | None = None) -> Result:
    """A printout was issued: counted per printout (a second print is a copy, 副本) and logged with its
    verification code, the template it came from and the hash of the data it shows (`shown`: the fields its
    template prints; None: all of them)."""
    run = _Run(wf, _copy(state), now, actor, None)
    prints = run.state.setdefault("prints", {})
    prints[printout] = prints.get(printout, 0) + 1
    run.emit("printout_issued", None, None, {"printout": printout, "code": code, "print_no": prints[printout],
                                             "reprint": prints[printout] > 1, "copies": copies,
                                             "template_hash": template_hash, "shown": shown,
                                             "data_hash": shown_hash(state["data"], shown)})
    return run.result()


def link_child(state: dict, token_id: str, child_id: int) -> dict:
    """Record which instance a `subprocess` token waits for (the store knows the id only after creating it)."""
    state = _copy(state)
    state["tokens"][token_id]["child"] = child_id
    return state


def child_done(wf: Workflow, state: dict, child_id: int, outcome: str, now: datetime,
               oracle: Oracle | None = None) -> Result:
    """A sub-procedure ended with `outcome`: continue the waiting token."""
    run = _Run(wf, _copy(state), now, None, oracle)
    for tid, token in list(run.state["tokens"].items()):
        if token.get("child") == child_id:
            step = wf.steps[token["step"]]
            run.emit("child_finished", step.id, None, {"child": child_id, "outcome": outcome})
            run.leave(tid, step, step.outcomes.get(outcome, step.next))
            break
    return run.result()


def cancel(wf: Workflow, state: dict, now: datetime, reason: str) -> Result:
    """End an active instance as cancelled (e.g. its parent ended); open tasks are cancelled."""
    run = _Run(wf, _copy(state), now, None, None)
    if run.state["status"] == "active":
        run.finish(Step(id="cancelled", kind="end", title="取消", keypath=(), outcome="cancelled",
                        status="cancelled"), reason)
    return run.result()


def approval_refusal(step: Step, state: dict, task: dict, acting_for: str | None, user: str) -> str | None:
    """Why this person may not sign this approval (own request, signed already), or None."""
    people = {user, acting_for} - {None}
    if not step.allow_self and state["started_by"] in people:
        return f"「{step.title}」不能由申請人「{state['started_by']}」自己審批"
    for signature in task.get("signatures", []):
        if {signature["by"], signature["acting_for"]} & people:
            return f"「{signature['by']}」已經在「{step.title}」簽過名；每個簽名須由不同的人"
    return None


def required_items(step: Step, scope: dict) -> list[str]:
    """Checklist items that must be ticked: not optional, and their `when` (if any) true for the data."""
    out = []
    for item in step.items:
        if item.get("optional"):
            continue
        condition = step.item_when.get(item["id"])
        if condition is not None:
            try:
                if not condition.evaluate(scope):
                    continue
            except ExpressionError:
                pass  # cannot tell yet (a field not filled): the item stays required
        out.append(item["id"])
    return out


def _copy(state: dict) -> dict:
    return pickle.loads(pickle.dumps(state, protocol=pickle.HIGHEST_PROTOCOL))


class _Run:
    """One command's work on a private copy of the state; collects events and effects."""

    def __init__(self, wf: Workflow, state: dict, now: datetime | None, actor: Actor | None,
                 oracle: Oracle | None) -> None:
        if now is None:
            raise ValueError("now is required")
        self.wf, self.state, self.now, self.actor, self.oracle = wf, state, now, actor, oracle
        self.at = iso(now)
        self.events: list[dict] = []
        self.effects: list[dict] = []
        self.auto_steps = 0

    def result(self) -> Result:
        """The outcome of the command; the state's `wake_at` says when the ticker must next look at it."""
        wakes = [t["until"] for t in self.state["tokens"].values() if t.get("until")]
        wakes += [w for w in map(deadlines.next_wake, self.state["tasks"].values()) if w]
        self.state["wake_at"] = min(wakes, default=None)
        return Result(self.state, self.events, self.effects)

    def local(self, at: str) -> str:
        """A stored UTC time as staff read it: local, to the minute."""
        return datetime.fromisoformat(at).astimezone(self.wf.calendar.tz).strftime("%Y-%m-%d %H:%M")

    def emit(self, kind: str, step: str | None, task: str | None, payload: dict) -> None:
        self.events.append({"type": kind, "step": step, "task": task, "payload": payload})

    def next_id(self) -> int:
        self.state["seq"] += 1
        return self.state["seq"]

    # --- data -------------------------------------------------------------------------------------
    def scope(self) -> dict:
        return self.wf.form.scope(self.state["data"])

    def balance_of(self, ledger: str):
        if ledger not in self.wf.ledgers:
            raise ExpressionError(f"沒有臺帳「{ledger}」")
        return from_fen(self.state["balances"].get(ledger, 0))

    def evaluate(self, expr, what: str) -> Any:
        try:
            return expr.evaluate(self.scope(), self.balance_of)
        except ExpressionError as exc:
            raise Invalid(f"{what}無法判斷：{exc.message}") from None

    def write_fields(self, step: Step, data: dict, required: frozenset[str] | None = None) -> None:
        """Validate and merge `data` into the document; only the step's fields may be written."""
        if not isinstance(data, dict):
            raise Invalid("資料必須是 JSON 物件（欄位: 值）", [{"field": "", "message": "資料必須是 JSON 物件"}])
        form = self.wf.form
        stray = [k for k in data if k not in step.fields]
        if stray:
            details = [{"field": k, "message": f"「{form.title_of(k) if k in form.properties else k}」"
                                               f"不能在「{step.title}」這一步填寫"} for k in stray]
            raise Invalid(f"「{step.title}」只能填寫：{'、'.join(form.title_of(f) for f in step.fields) or '（無）'}",
                          details)
        if self.oracle:
            return
        merged = dict(self.state["data"])
        for key, value in form.normalize(data).items():
            if value is None or value == "":
                merged.pop(key, None)  # clearing a field
            else:
                merged[key] = value
        problems = form.validate(merged, step.required if required is None else required, set(step.fields),
                                 self.balance_of)
        if problems:
            raise Invalid("資料有誤：" + "；".join(p["message"] for p in problems), problems)
        self.state["data"] = merged

    # --- graph ------------------------------------------------------------------------------------
    def new_token(self, step_id: str, groups: list[str]) -> str:
        tid = str(self.next_id())
        self.state["tokens"][tid] = {"step": step_id, "groups": groups}
        return tid

    def enter(self, tid: str) -> None:
        """Put a token on its step and run every step that needs no person, until tasks or an end."""
        self.auto_steps += 1
        if self.auto_steps > MAX_AUTO_STEPS:
            raise Invalid(f"流程「{self.wf.title}」在沒有任務的步驟間無限循環；請檢查分支條件")
        token = self.state["tokens"][tid]
        step = self.wf.steps[token["step"]]
        kind = step.kind
        if step.is_task:
            self.open_task(tid, step)
        elif kind == "decision":
            target = self.choose(step)
            self.emit("decision_taken", step.id, None, {"to": target})
            self.leave(tid, step, target)
        elif kind == "parallel":
            gid = str(self.next_id())
            self.state["groups"][gid] = {"split": step.id, "join": step.join, "count": len(step.split),
                                         "arrived": 0}
            groups = token["groups"] + [gid]
            del self.state["tokens"][tid]
            self.post(step)
            children = [self.new_token(branch, groups) for branch in step.split]
            self.emit("parallel_started", step.id, None, {"branches": list(step.split)})
            for child in children:
                if self.state["status"] != "active":
                    break
                self.enter(child)
        elif kind == "join":
            gid = token["groups"][-1] if token["groups"] else None
            group = self.state["groups"].get(gid) if gid else None
            del self.state["tokens"][tid]
            if group is None or group["join"] != step.id:  # a join outside its split; pass straight on
                self.leave(self.new_token(step.id, token["groups"]), step, step.next)
                return
            group["arrived"] += 1
            if group["arrived"] < group["count"]:
                return
            del self.state["groups"][gid]
            self.emit("joined", step.id, None, {"branches": group["count"]})
            self.leave(self.new_token(step.id, token["groups"][:-1]), step, step.next)
        elif kind == "wait":
            token["until"] = iso(self.wf.calendar.add(self.now, step.duration))
            self.emit("timer_set", step.id, None, {"until": token["until"]})
        elif kind == "subprocess":
            values = {} if self.oracle else {k: _plain(self.evaluate(e, f"子流程資料「{k}」"))
                                             for k, e in step.data.items()}
            self.effects.append({"type": "start_child", "token": tid, "workflow": step.workflow,
                                 "data": values, "wait": step.wait, "after": step.after})
            if step.wait:
                token["child"] = None
            else:  # started, not waited for: go on at once
                self.leave(tid, step, step.next)
        elif kind == "end":
            self.post(step)
            self.finish(step)

    def choose(self, step: Step) -> str:
        targets = [to for _, to in step.branches] + [step.default]
        if self.oracle:
            return targets[self.oracle(step, len(targets))]
        for expr, target in step.branches:
            if self.evaluate(expr, f"「{step.title}」的條件「{expr.text}」"):
                return target
        return step.default

    def leave(self, tid: str, step: Step, target: str | None) -> None:
        """Complete `step` for the token (ledger postings) and move it to `target`."""
        if step.kind not in ("parallel", "end"):
            self.post(step)
        if self.state["status"] != "active":
            return
        self.state["tokens"][tid] = {"step": target, "groups": self.state["tokens"][tid]["groups"]}
        self.enter(tid)

    def finish(self, step: Step, reason: str = "instance ended") -> None:
        self.state["status"] = step.status
        self.state["outcome"] = step.outcome
        for task_id, task in list(self.state["tasks"].items()):
            self.emit("task_cancelled", task["step"], task_id, {"reason": reason})
        for token in self.state["tokens"].values():
            if token.get("child"):
                self.effects.append({"type": "cancel_child", "child": token["child"]})
        self.state["tasks"] = {}
        self.state["tokens"] = {}
        self.state["groups"] = {}
        self.state["ended_at"] = self.at
        self.emit("instance_ended", step.id, None, {"status": step.status, "outcome": step.outcome})

    # --- tasks ------------------------------------------------------------------------------------
    def open_task(self, tid: str, step: Step) -> None:
        task_id = f"{self.state['instance']}-{self.next_id()}"
        task = {"step": step.id, "token": tid, "roles": list(step.roles), "opened_at": self.at}
        if step.due:
            origin = deadlines.origin_time(step.due, self.state, self.now, self.wf.calendar.tz)
            task.update(deadlines.due_times(self.wf.calendar, origin, step.due))
            if step.ladder:
                task["ladder"] = deadlines.ladder_times(self.wf.calendar, step.ladder, task)
                task["fired"] = []
        if step.kind == "approval":
            task["signatures"] = []
            task["roles"] = self.candidates(step, task)
        if step.kind == "checklist":
            task["checked"] = {}
        self.state["tasks"][task_id] = task
        self.state["tokens"][tid]["task"] = task_id
        self.emit("task_opened", step.id, task_id, {"kind": step.kind, "roles": task["roles"],
                                                    "due_at": task.get("due_at"), "hard_at": task.get("hard_at")})

    def candidates(self, step: Step, task: dict) -> list[str]:
        """Roles that may act on an approval now, given the signatures so far (and any escalated roles,
        which may decide alone; after a reassignment only they may)."""
        override = task.get("override", [])
        if task.get("reassigned"):
            return list(override)
        signed = [s["role"] for s in task["signatures"]]
        if step.approvals == "all":
            missing = [r for r in step.roles if r not in signed]
            base = missing[:1] if step.order == "sequence" else missing
        else:
            need_required = [r for r in step.required_roles if r not in signed]
            slots = int(step.approvals) - len(task["signatures"])
            base = need_required if need_required and slots <= len(need_required) else list(step.roles)
        return base + [r for r in override if r not in base]

    def acting_on(self, task_id: str) -> tuple[dict, Step, dict]:
        """The open task, its step and who acts (by, role, acting_for, at); refuses a closed task or a
        person without one of its roles."""
        state = self.state
        if state["status"] != "active":
            raise Conflict(f"案件已{_STATUS_ZH.get(state['status'], state['status'])}，任務 {task_id} 不能再處理")
        task = state["tasks"].get(task_id)
        if task is None:
            raise Conflict(f"任務 {task_id} 已經完成或已取消，不能再處理")
        step = self.wf.steps[task["step"]]
        actor = self.actor
        resolved = (task["roles"][0], None) if self.oracle else actor.resolve(task["roles"])
        if resolved is None:
            raise Forbidden(f"使用者「{actor.user}」不能處理任務 {task_id}「{step.title}」"
                            f"（需要角色：{'、'.join(task['roles'])}）")
        role, acting_for = resolved
        return task, step, {"by": actor.user, "role": role, "acting_for": acting_for, "at": self.at}

    def complete(self, task_id: str, outcome: str | None, data: dict, comment: str | None) -> None:
        state = self.state
        task, step, who = self.acting_on(task_id)
        if comment is not None and not isinstance(comment, str):
            raise Invalid("意見必須是文字", [{"field": "comment", "message": "意見必須是文字"}])
        if step.kind == "checklist":
            self.tick(task_id, task, step, data, who)
            return
        if step.kind in ("form", "approval"):
            self.check_outcome(step, outcome, comment)
        elif outcome is not None:
            raise Invalid(f"「{step.title}」沒有可選的結果，不需要 outcome",
                          [{"field": "outcome", "message": "此步驟沒有可選的結果"}])
        if step.kind == "approval" and not self.oracle:
            self.refuse_conflicts(task, step, who)
        self.write_fields(step, data)
        payload = dict(who, outcome=outcome, comment=comment, data={k: state["data"].get(k) for k in data})
        if step.kind == "approval":
            signature = dict(who, step=step.id, outcome=outcome, comment=comment,
                             data_hash=data_hash(state["data"]))
            state["approvals"].append(signature)
            if outcome == "approve":
                task["signatures"].append(signature)
                if not self.approval_done(step, task):
                    task["roles"] = self.candidates(step, task)
                    self.emit("signed", step.id, task_id, dict(signature, remaining=task["roles"]))
                    return
            payload["signatures"] = task.get("signatures", [])
            payload["data_hash"] = signature["data_hash"]
        if step.kind == "print":
            payload.update(printout=step.printout, copies=step.copies)
        if task.get("due_at"):
            payload["due_at"] = task["due_at"]
        self.close(task_id, task, step, "task_completed", payload)
        self.leave(task["token"], step, step.outcomes[outcome] if step.outcomes else step.next)

    # --- deadlines --------------------------------------------------------------------------------
    def deadline(self, task_id: str, index: int) -> None:
        """Apply rung `index` of the task's ladder (it is due and has not fired)."""
        task = self.state["tasks"][task_id]
        step = self.wf.steps[task["step"]]
        rung = step.ladder[index]
        task["fired"].append(index)
        what = f"{self.wf.title} {self.state['number'] or '#' + str(self.state['instance'])}「{step.title}」"
        if rung.anchor == "hard" and task["hard_at"] <= self.at:
            default = f"{what}已過最後期限（{self.local(task['hard_at'])}）"
        elif task["due_at"] <= self.at:
            default = f"{what}已逾期（應於 {self.local(task['due_at'])} 前完成）"
        else:
            default = f"{what}將於 {self.local(task['due_at'])} 到期"
        payload = {"rung": index, "message": rung.message or default, "due_at": task["due_at"]}
        if rung.action in ("remind", "notify"):
            payload["notify"] = list(rung.roles or task["roles"])
            self.emit("deadline_reminder" if rung.action == "remind" else "deadline_notice", step.id, task_id,
                      payload)
        elif rung.action == "escalate":
            added = [r for r in rung.roles if r not in task.get("override", [])]
            task["override"] = task.get("override", []) + added
            task["roles"] = task["roles"] + [r for r in added if r not in task["roles"]]
            self.emit("task_escalated", step.id, task_id, dict(payload, roles=task["roles"], added=added,
                                                               notify=list(rung.roles)))
        elif rung.action == "reassign":
            before = task["roles"]
            task["override"], task["reassigned"], task["roles"] = list(rung.roles), True, list(rung.roles)
            self.emit("task_reassigned", step.id, task_id, dict(payload, roles=task["roles"], previous=before,
                                                                notify=list(rung.roles)))
        else:  # goto: the task lapses and the token takes the named transition
            self.close(task_id, task, step, "task_expired", dict(payload, to=rung.target, notify=task["roles"]))
            token = self.state["tokens"][task["token"]]
            self.state["tokens"][task["token"]] = {"step": rung.target, "groups": token["groups"]}
            self.enter(task["token"])

    def close(self, task_id: str, task: dict, step: Step, kind: str, payload: dict) -> None:
        del self.state["tasks"][task_id]
        self.state["tokens"][task["token"]].pop("task", None)
        self.emit(kind, step.id, task_id, payload)

    def check_outcome(self, step: Step, outcome: str | None, comment: str | None) -> None:
        if step.outcomes:
            if outcome not in step.outcomes:
                choices = "、".join(step.outcomes)
                msg = f"請選擇結果：{choices}" if outcome is None else f"結果「{outcome}」無效，可選：{choices}"
                raise Invalid(msg, [{"field": "outcome", "message": msg}])
            if outcome in step.comment_required and not (comment or "").strip():
                raise Invalid(f"選擇「{outcome}」時必須填寫意見（原因）",
                              [{"field": "comment", "message": "請填寫意見（原因）"}])
        elif outcome is not None:
            raise Invalid(f"「{step.title}」沒有可選的結果", [{"field": "outcome", "message": "此步驟沒有可選的結果"}])

    def refuse_conflicts(self, task: dict, step: Step, who: dict) -> None:
        refusal = approval_refusal(step, self.state, task, who["acting_for"], who["by"])
        if refusal:
            raise Forbidden(refusal)

    def approval_done(self, step: Step, task: dict) -> bool:
        signed = {s["role"] for s in task["signatures"]}
        if signed & set(task.get("override", ())):
            return True  # an escalated or reassigned role decides alone
        if step.approvals == "all":
            return all(r in signed for r in step.roles)
        return len(task["signatures"]) >= int(step.approvals) and all(r in signed for r in step.required_roles)

    def tick(self, task_id: str, task: dict, step: Step, data: dict, who: dict) -> None:
        """Tick checklist items (and fill the step's fields); done when every item that applies is ticked."""
        items = {item["id"]: item for item in step.items}
        if not isinstance(data, dict):
            data = {"checked": None}
        checked = data.get("checked", [])
        values = {k: v for k, v in data.items() if k != "checked"}
        if not isinstance(checked, list) or not all(isinstance(c, str) for c in checked):
            raise Invalid('勾選清單請提交 {"checked": [項目代號, ...]}',
                          [{"field": "checked", "message": "請提交要勾選的項目代號列表"}])
        unknown = [c for c in checked if c not in items]
        if unknown:
            raise Invalid(f"清單「{step.title}」沒有項目：{'、'.join(unknown)}",
                          [{"field": "checked", "message": f"沒有項目：{'、'.join(unknown)}"}])
        new = [c for c in dict.fromkeys(checked) if c not in task["checked"]]
        if not new and not values:
            raise Invalid("這些項目都已勾選過，沒有新的勾選", [{"field": "checked", "message": "沒有新勾選的項目"}])
        self.write_fields(step, values, required=frozenset())
        for item_id in new:
            task["checked"][item_id] = who
        self.emit("items_checked", step.id, task_id, dict(who, items=new, data=values))
        if not self.oracle and any(i not in task["checked"] for i in self.required_items(step)):
            return
        missing = [f for f in sorted(step.required) if f not in self.state["data"]]
        if missing and not self.oracle:
            details = [{"field": f, "message": f"「{self.wf.form.title_of(f)}」為必填"} for f in missing]
            raise Invalid("完成清單前請填寫：" + "、".join(self.wf.form.title_of(f) for f in missing), details)
        self.state.setdefault("checklists", {})[step.id] = task["checked"]  # who ticked what, for printouts
        self.close(task_id, task, step, "task_completed", dict(who, checked=task["checked"]))
        self.leave(task["token"], step, step.next)

    def required_items(self, step: Step) -> list[str]:
        return required_items(step, self.wf.form.scope(self.state["data"]))

    # --- ledgers ----------------------------------------------------------------------------------
    def post(self, step: Step) -> None:
        if self.oracle:
            return
        for post in step.posts:
            if post.when is not None and not self.evaluate(post.when, f"記帳條件「{post.when.text}」"):
                continue
            ledger = self.wf.ledgers[post.ledger]
            value = self.evaluate(post.amount, f"記帳金額「{post.amount.text}」")
            try:
                fen = to_fen(value)
            except ExpressionError as exc:
                raise Invalid(f"{ledger.title}：金額「{post.amount.text}」無效：{exc.message}") from None
            if fen == 0:
                continue
            if fen < 0:
                raise Invalid(f"{ledger.title}：金額不可為負數（{yuan_label(fen)}）")
            current = self.state["balances"].get(post.ledger, 0)
            after = current + fen if ledger.entries[post.entry] == "in" else current - fen
            if after < ledger.floor:
                raise Invalid(f"{ledger.title}餘額不足：目前餘額 {yuan_label(current)}，"
                              f"{post.entry} {yuan_label(fen)} 後將為 {yuan_label(after)}")
            self.state["balances"][post.ledger] = after
            self.emit("ledger_posted", step.id, None, {"ledger": post.ledger, "entry": post.entry, "amount": fen,
                                                       "balance": after, "number": self.state["number"],
                                                       "memo": post.memo})


_STATUS_ZH = {"completed": "完成", "cancelled": "取消"}


def _plain(value: Any) -> Any:
    """Expression results to JSON values (a fractional Decimal becomes money text, never a float)."""
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else f"{value:.2f}"
    return value
