"""Pure step semantics: (workflow, state, command, now) -> (new state, events, effects).

Nothing here touches a database, a clock, a file or a random source: time, ids and the actor come in
with the command, and side effects (starting a sub-procedure) leave as values for the caller to run.
The input state is never modified; every function works on a copy and returns it.

What each kind of step does lives with the kind (engine/steps/); `Run` is what they do it with: tokens,
tasks, fields, postings and events. `goldkey simulate` drives the same code through one seam: an `Oracle`
picks each decision's branch, and `Rehearsal` (a `Run`) leaves data out (no validation, postings, role or
signature checks).
"""

from __future__ import annotations

import hashlib
import pickle
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from . import deadlines, signatures, spans, words
from .durations import Duration
from .errors import Conflict, ExpressionError, Forbidden, Invalid
from .expressions import Expression
from .exprfuncs import Clock
from .forms import plain
from .jsontext import canonical
from .model import Workflow
from .money import from_fen, to_fen, yuan_label
from .steps import Step, TaskStep
from .steps.routing import PERSON, acting_role, person_role

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


# simulate's choice of a decision's branch: (the decision, how many ways it has) -> the index taken
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
          oracle: Oracle | None = None, as_child: bool = False, delay: Duration | None = None,
          confidential: dict | None = None, seeded: dict | None = None, parent: dict | None = None) -> Result:
    """Start an instance: check the starter's role, validate the start fields, run to the first tasks.

    `as_child`: started by a parent's `subprocess` step or a schedule, which may set any field of the form.
    `delay`: the first step is reached only this long after now (a return visit a week after a repair).
    `confidential`: fields the data brought from a parent's confidential ones, and their readers. `seeded`: fields
    drafted from a report (the start's `seed:`), written beside the start's own. `parent`: the number and the
    data (but its confidential fields) of the instance that started this one."""
    run = _run(wf, {}, now, actor, oracle)
    if not as_child and not oracle and actor.resolve(wf.start.roles) is None:
        raise Forbidden(f"使用者「{actor.user}」沒有啟動「{wf.title}」的角色（需要：{wf.role_titles(wf.start.roles)}）")
    run.state = {"instance": instance_id, "workflow": wf.id, "version": wf.version, "number": number,
                 "status": "active", "outcome": None, "started_by": actor.user, "started_at": iso(now),
                 "data": {}, "seq": 0, "tokens": {}, "tasks": {}, "groups": {}, "balances": {},
                 "approvals": []}
    if confidential:
        run.state["confidential"] = confidential
    if parent:  # (the parent's number and open data as the child started: `parent['number']` in expressions)
        run.state["parent"] = parent
    if as_child:
        run.write(wf.start.title, tuple(data or {}), data or {}, frozenset())
    else:
        run.write_fields(wf.start, data or {})
    if seeded:  # (fields the start's `seed:` drafted from a report)
        run.write(wf.start.title, tuple(seeded), seeded, frozenset())
    run.emit("instance_started", None, None, {"workflow": wf.id, "version": wf.version, "number": number,
                                               "data": run.state["data"]})
    run.events.sort(key=lambda e: e["type"] != "instance_started")  # (signatures captured at the start follow)
    token = run.new_token(wf.start.next, [])
    if delay is not None:
        until = run.state["tokens"][token]["until"] = run.later(delay)
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
    run = _run(wf, state if owned else _copy(state), now, actor, oracle)
    task, step, who = run.acting_on(task_id)
    if comment is not None and not isinstance(comment, str):
        raise Invalid("意見必須是文字", [{"field": "comment", "message": "意見必須是文字"}])
    step.complete(run, task_id, task, who, outcome, data if data is not None else {}, comment)
    return run.result()


def fire_due(wf: Workflow, state: dict, now: datetime, oracle: Oracle | None = None) -> Result:
    """Apply everything due by `now`: timers, delayed starts and deadline actions, each once (what fired is
    recorded in the state). A result without events when nothing is due."""
    run = _run(wf, _copy(state), now, None, oracle)
    for tid, token in sorted(run.state["tokens"].items()):
        if token.get("until") and token["until"] <= run.at and run.state["status"] == "active":
            token.pop("until")
            if token.pop("delayed", False):
                run.emit("start_reached", None, None, {})
                run.enter(tid)
            else:
                wf.steps[token["step"]].timer_fired(run, tid)
    for task_id in sorted(run.state["tasks"]):
        for index in deadlines.due_rungs(run.state["tasks"].get(task_id, {}), run.at):
            if run.state["status"] != "active" or task_id not in run.state["tasks"]:
                break
            run.deadline(task_id, index)
    if run.state["status"] == "active":
        spans.fire(run)
    return run.result()


def hold(wf: Workflow, state: dict, task_id: str, actor: Actor, name: str, comment: str | None,
         now: datetime) -> Result:
    """Pause a task's clock in one of its step's named states (e.g. waiting for the owner)."""
    run = Run(wf, _copy(state), now, actor)
    task, step, who = run.acting_on(task_id)
    if task.get("paused"):
        raise Conflict(f"「{step.title}」已暫停（{step.holds.get(task['paused']['state'], '暫停')}），請先恢復")
    if name not in step.holds:
        choices = "、".join(step.holds.values()) or "（此步驟不能暫停）"
        raise Invalid(f"「{step.title}」沒有這個暫停狀態；可用：{choices}",
                      [{"field": "state", "message": f"可用：{choices}"}])
    task["paused"] = {"state": name, "since": run.at}
    run.emit("task_held", step.id, task_id, dict(who, state=name, label=step.holds[name], comment=comment))
    return run.result()


def resume(wf: Workflow, state: dict, task_id: str, actor: Actor, comment: str | None, now: datetime) -> Result:
    """Restart a held task's clock: its due times move on by the time it was paused."""
    run = Run(wf, _copy(state), now, actor)
    task, step, who = run.acting_on(task_id)
    paused = task.pop("paused", None)
    if paused is None:
        raise Conflict(f"「{step.title}」沒有暫停，不需要恢復")
    since = datetime.fromisoformat(paused["since"])
    if step.due:
        deadlines.shift(wf.calendar, step.due, task, since, now)
        task["ladder"] = deadlines.ladder_times(wf.calendar, step.ladder, task)
    run.emit("task_resumed", step.id, task_id, dict(who, state=paused["state"], comment=comment,
                                                    paused_minutes=int((now - since).total_seconds() // 60),
                                                    due_at=task.get("due_at"), hard_at=task.get("hard_at")))
    return run.result()


def act(wf: Workflow, state: dict, step_id: str, action: str, actor: Actor, data: dict | None, comment: str | None,
        now: datetime, oracle: Oracle | None = None) -> Result:
    """Take an action of the named state the instance rests in (`kind: state`: 借出 a key kept at the desk)."""
    run = _run(wf, _copy(state), now, actor, oracle)
    if state["status"] != "active":
        raise Conflict(f"案件已{words.STATUS_SHORT.get(state['status'], '結束')}，不能再操作")
    step = wf.steps.get(step_id)
    tid = next((t for t, token in run.state["tokens"].items() if token["step"] == step_id and token.get("resting")),
               None)
    if step is None or tid is None:
        now_in = "、".join(wf.step_title(t["step"]) for t in run.state["tokens"].values() if t.get("resting"))
        raise Conflict(f"案件目前不在「{wf.step_title(step_id)}」狀態" + (f"（目前：{now_in}）" if now_in else ""))
    resolved = run.resolve_roles(step.roles)
    who = {"by": actor.user, "role": resolved[0] if resolved else None,
           "acting_for": resolved[1] if resolved else None, "at": run.at}
    if comment is not None and not isinstance(comment, str):
        raise Invalid("意見必須是文字", [{"field": "comment", "message": "意見必須是文字"}])
    step.act(run, tid, action, who, data if data is not None else {}, comment)
    return run.result()


def assign(wf: Workflow, state: dict, task_id: str, actor: Actor, to: str, comment: str | None,
           now: datetime) -> Result:
    """Hand a task to one person (`to`, a login name the caller has checked holds one of the step's roles): a
    supervisor named in the step's `assign.reassign` does it; the task is theirs from now on."""
    run = Run(wf, _copy(state), now, actor)
    if state["status"] != "active" or task_id not in state["tasks"]:
        raise Conflict("這項任務已經完成或已取消，不能再改派")
    task = run.state["tasks"][task_id]
    step = wf.steps[task["step"]]
    allowed = step.assign.reassign if step.is_task and step.assign else ()
    resolved = actor.resolve(allowed)
    if resolved is None:
        who = wf.role_titles(allowed) if allowed else "（此步驟不能改派）"
        raise Forbidden(f"使用者「{actor.user}」不能改派任務「{step.title}」（可改派：{who}）")
    if to == task.get("assignee"):
        raise Conflict(f"任務「{step.title}」已經指派給「{to}」")
    previous = task.get("assignee")
    task["assignee"] = to
    task["roles"] = [person_role(to)] + [r for r in task["roles"] if not r.startswith(PERSON)
                                         and r in task.get("override", ())]
    run.emit("task_assigned", step.id, task_id, {"by": actor.user, "role": resolved[0], "acting_for": resolved[1],
                                                 "at": run.at, "to": to, "previous": previous, "comment": comment,
                                                 "roles": task["roles"], "notify": [person_role(to)],
                                                 "message": f"{run.what(step)}已改派給您"})
    return run.result()


def printed(wf: Workflow, state: dict, printout: str, actor: Actor, code: str, template_hash: str, copies: int,
            now: datetime, shown: list[str] | None = None) -> Result:
    """A printout was issued: counted per printout (a second print is a copy, 副本) and logged with its
    verification code, the template it came from and the hash of the data it shows (`shown`: the fields its
    template prints; None: all of them)."""
    run = Run(wf, _copy(state), now, actor)
    prints = run.state.setdefault("prints", {})
    prints[printout] = prints.get(printout, 0) + 1
    for task in run.state["tasks"].values():  # (an open print task sees that its paper went out)
        if "prints_before" in task:
            task["prints_now"] = prints.get(wf.steps[task["step"]].prints or "", 0)
    run.emit("printout_issued", None, None, {"printout": printout, "code": code, "print_no": prints[printout],
                                             "reprint": prints[printout] > 1, "copies": copies,
                                             "template_hash": template_hash, "shown": shown,
                                             "data_hash": shown_hash(state["data"], shown),
                                             "signatures": signatures.printed(wf.form, state, shown)})
    return run.result()


def link_child(state: dict, token_id: str, child_id: int) -> dict:
    """Record which instance a `subprocess` token waits for (the store knows the id only after creating it)."""
    state = _copy(state)
    token = state["tokens"][token_id]
    if "children" in token:  # (a foreach token waits for one instance per row)
        token["children"].append(child_id)
    else:
        token["child"] = child_id
    return state


def child_done(wf: Workflow, state: dict, child_id: int, outcome: str, now: datetime,
               oracle: Oracle | None = None) -> Result:
    """A sub-procedure ended with `outcome`: continue the waiting token."""
    run = _run(wf, _copy(state), now, None, oracle)
    for tid, token in list(run.state["tokens"].items()):
        if token.get("child") == child_id or child_id in token.get("children", ()):
            step = wf.steps[token["step"]]
            run.emit("child_finished", step.id, None, {"child": child_id, "outcome": outcome})
            step.child_done(run, tid, outcome, child=child_id)
            break
    return run.result()


def cancel(wf: Workflow, state: dict, now: datetime, reason: str) -> Result:
    """End an active instance as cancelled (e.g. its parent ended); open tasks are cancelled."""
    run = Run(wf, _copy(state), now, None)
    if run.state["status"] == "active":
        run.finish("cancelled", "cancelled", "cancelled", reason)
    return run.result()


def may_act(wf: Workflow, state: dict, task: dict, actor: Actor) -> bool:
    """Would the actor pass the role check and the step's own (an approval's self and second signatures)?"""
    step = wf.steps[task["step"]]
    resolved = acting_role(task, step.roles, actor)
    return resolved is not None and step.refusal(state, task, resolved[1], actor.user) is None


def _copy(state: dict) -> dict:
    return pickle.loads(pickle.dumps(state, protocol=pickle.HIGHEST_PROTOCOL))


def _run(wf: Workflow, state: dict, now: datetime | None, actor: Actor | None, oracle: Oracle | None) -> Run:
    return Run(wf, state, now, actor) if oracle is None else Rehearsal(wf, state, now, actor, oracle)


class Run:
    """One command's work on a private copy of the state; collects events and effects. The step kinds act
    through its methods."""

    def __init__(self, wf: Workflow, state: dict, now: datetime | None, actor: Actor | None) -> None:
        if now is None:
            raise ValueError("now is required")
        self.wf, self.state, self.now, self.actor = wf, state, now, actor
        self.at = iso(now)
        self.clock = Clock(now, wf.calendar)
        self.events: list[dict] = []
        self.effects: list[dict] = []
        self.auto_steps = 0

    def result(self) -> Result:
        """The outcome of the command; the state's `wake_at` says when the ticker must next look at it."""
        if self.wf.deadlines and self.state["status"] == "active":
            spans.arm(self)
        wakes = [t["until"] for t in self.state["tokens"].values() if t.get("until")]
        wakes += [w for w in map(deadlines.next_wake, self.state["tasks"].values()) if w]
        wakes += spans.wakes(self.state)
        resting = sorted({t["step"] for t in self.state["tokens"].values() if t.get("resting")})
        if resting or "resting" in self.state:  # (the named states it rests in: a register filters by them)
            self.state["resting"] = resting
        self.state["wake_at"] = min(wakes, default=None)
        return Result(self.state, self.events, self.effects)

    def local(self, at: str) -> str:
        """A stored UTC time as staff read it: local, to the minute."""
        return datetime.fromisoformat(at).astimezone(self.wf.calendar.tz).strftime("%Y-%m-%d %H:%M")

    def later(self, duration: Duration) -> str:
        """The moment `duration` from now, on the site's calendar."""
        return iso(self.wf.calendar.add(self.now, duration))

    def emit(self, kind: str, step: str | None, task: str | None, payload: dict) -> None:
        self.events.append({"type": kind, "step": step, "task": task, "payload": payload})

    def next_id(self) -> int:
        self.state["seq"] += 1
        return self.state["seq"]

    # --- data -------------------------------------------------------------------------------------
    def scope(self) -> dict:
        scope = self.wf.form.scope(self.state["data"])
        if "parent" in self.state and "parent" not in scope:
            scope["parent"] = self.state["parent"]
        return scope

    def balance_of(self, ledger: str):
        if ledger not in self.wf.ledgers:
            raise ExpressionError(f"沒有臺帳「{ledger}」")
        return from_fen(self.state["balances"].get(ledger, 0))

    def evaluate(self, expr: Expression, what: str, extra: dict | None = None) -> Any:
        """An expression's value for the data as it is (and `extra` names: a checklist item, `item`)."""
        scope = self.scope() if extra is None else {**self.scope(), **extra}
        try:
            return expr.evaluate(scope, self.balance_of, self.clock)
        except ExpressionError as exc:
            raise Invalid(f"{what}無法判斷：{exc.message}") from None

    def values(self, exprs: dict[str, Expression], what: str, extra: dict | None = None) -> dict:
        """Expressions evaluated to JSON values (a sub-procedure's start data)."""
        return {k: plain(self.evaluate(e, f"{what}「{k}」", extra)) for k, e in exprs.items()}

    def start_child(self, token: str | None, workflow: str, data: dict, wait: bool = True,
                    after: Duration | None = None, confidential: dict | None = None, **extra: Any) -> None:
        """Ask the caller to start an instance of `workflow` with `data`, linked to this one as its parent;
        `wait`: the token waits for its end (`extra` goes into the effect: the checklist item it follows up)."""
        self.effects.append(dict({"type": "start_child", "token": token, "workflow": workflow, "data": data,
                                  "wait": wait, "after": after, "confidential": confidential}, **extra))

    def moment(self, expr: Expression, what: str) -> str:
        """The moment (stored UTC text) an expression gives: a date (its local midnight), a date-time or ISO text."""
        value = self.evaluate(expr, what)
        moment = deadlines.as_moment(value, self.wf.calendar.tz) if value not in (None, "") else None
        if moment is None:
            raise Invalid(f"{what}無法判斷：「{expr.text}」得出「{'（空白）' if value in (None, '') else value}」，"
                          "不是日期或時間")
        return iso(moment.astimezone(UTC))

    def data_hash(self) -> str:
        return data_hash(self.state["data"])

    def write_fields(self, step: Step, data: dict, required: frozenset[str] | None = None) -> None:
        """Validate and merge `data` into the document; only the step's fields may be written."""
        self.write(step.title, step.fields, data, step.required if required is None else required)

    def write(self, title: str, fields: Iterable[str], data: dict, required: frozenset[str] | set[str]) -> None:
        if not isinstance(data, dict):
            raise Invalid("資料必須是 JSON 物件（欄位: 值）", [{"field": "", "message": "資料必須是 JSON 物件"}])
        form = self.wf.form
        fields = tuple(fields)
        stray = [k for k in data if k not in fields]
        if stray:
            details = [{"field": k, "message": f"「{form.title_of(k) if k in form.properties else k}」"
                                               f"不能在「{title}」這一步填寫"} for k in stray]
            raise Invalid(f"「{title}」只能填寫：{'、'.join(form.title_of(f) for f in fields) or '（無）'}", details)
        merged = dict(self.state["data"])
        for key, value in form.normalize(data).items():
            if value is None or value == "":
                merged.pop(key, None)  # clearing a field
            else:
                merged[key] = value
        merged = form.with_computed(merged, self.balance_of, self.clock)
        problems = form.validate(merged, required, set(fields), self.balance_of, self.clock)
        if problems:
            raise Invalid("資料有誤：" + "；".join(p["message"] for p in problems), problems)
        for kind, payload in signatures.bind(form, self.state, merged, self.actor and self.actor.user, self.at):
            self.emit(kind, None, None, payload)  # (a signature bound to the data it signed)
        self.state["data"] = merged

    def missing(self, fields: Iterable[str]) -> list[str]:
        """Those of `fields` not filled yet."""
        return [f for f in sorted(fields) if f not in self.state["data"]]

    def required_items(self, step) -> list[str]:
        """The checklist items of `step` that must be ticked, for the data as it is now."""
        return step.required_items(self.scope())

    def rows(self, name: str) -> list[tuple[int, dict]]:
        """The rows of a table field, with their indexes (what is not a row is left out)."""
        value = self.state["data"].get(name)
        return [(i, row) for i, row in enumerate(value) if isinstance(row, dict)] if isinstance(value, list) else []

    def printed_since(self, printout: str, before: int) -> bool:
        """Has `printout` been printed since it had been printed `before` times?"""
        return self.state.get("prints", {}).get(printout, 0) > before

    def choose(self, step: Step, branches: list[tuple[Expression, str]], default: str) -> str:
        """The target of the first branch whose condition holds, else `default`."""
        for expr, target in branches:
            if self.evaluate(expr, f"「{step.title}」的條件「{expr.text}」"):
                return target
        return default

    # --- tokens -----------------------------------------------------------------------------------
    def new_token(self, step_id: str, groups: list[str]) -> str:
        tid = str(self.next_id())
        self.state["tokens"][tid] = {"step": step_id, "groups": groups}
        return tid

    def enter(self, tid: str) -> None:
        """Put a token on its step and run every step that needs no person, until tasks or an end."""
        self.auto_steps += 1
        if self.auto_steps > MAX_AUTO_STEPS:
            raise Invalid(f"流程「{self.wf.title}」在沒有任務的步驟間無限循環；請檢查分支條件")
        self.wf.steps[self.state["tokens"][tid]["step"]].enter(self, tid)

    def leave(self, tid: str, step: Step, target: str | None) -> None:
        """Complete `step` for the token (ledger postings) and move it to `target`."""
        self.post(step)
        if self.state["status"] != "active":
            return
        self.state["tokens"][tid] = {"step": target, "groups": self.state["tokens"][tid]["groups"]}
        self.enter(tid)

    def finish(self, step_id: str, status: str, outcome: str, reason: str = "instance ended") -> None:
        self.state["status"] = status
        self.state["outcome"] = outcome
        for task_id, task in list(self.state["tasks"].items()):
            self.emit("task_cancelled", task["step"], task_id, {"reason": reason})
        for token in self.state["tokens"].values():
            if token.get("child"):
                self.effects.append({"type": "cancel_child", "child": token["child"]})
            for child in token.get("children", ()):
                if str(child) not in token.get("ended", {}):
                    self.effects.append({"type": "cancel_child", "child": child})
        self.state["tasks"] = {}
        self.state["tokens"] = {}
        self.state["groups"] = {}
        self.state["ended_at"] = self.at
        self.emit("instance_ended", step_id, None, {"status": status, "outcome": outcome})

    # --- tasks ------------------------------------------------------------------------------------
    def open_task(self, tid: str, step: TaskStep) -> None:
        task_id = f"{self.state['instance']}-{self.next_id()}"
        roles, assignee = self.task_roles(step)
        task = {"step": step.id, "token": tid, "roles": roles, "opened_at": self.at}
        if assignee:
            task["assignee"] = assignee
        elif step.route is not None:
            task["pool"] = roles  # (the roles the data picked, of those the step names)
        if step.due:
            if step.due.origin_expr is not None:
                origin = datetime.fromisoformat(self.moment(step.due.origin_expr, f"「{step.title}」的起算時間"))
            else:
                origin = deadlines.origin_time(step.due, self.state, self.now, self.wf.calendar.tz)
            task.update(deadlines.due_times(self.wf.calendar, origin, step.due))
            if step.ladder:
                task["ladder"] = deadlines.ladder_times(self.wf.calendar, step.ladder, task)
                task["fired"] = []
        step.on_open(self, task)
        self.state["tasks"][task_id] = task
        self.state["tokens"][tid]["task"] = task_id
        opened = {"kind": step.kind, "roles": task["roles"], "due_at": task.get("due_at"),
                  "hard_at": task.get("hard_at")}
        if assignee:
            opened.update(assignee=assignee, notify=task["roles"], message=f"{self.what(step)}已指派給您")
        self.emit("task_opened", step.id, task_id, opened)

    def resolve_roles(self, roles) -> tuple[str, str | None] | None:
        """(role, acting_for) of the actor among `roles`, or None."""
        return self.actor.resolve(roles)

    def task_roles(self, step: TaskStep) -> tuple[list[str], str | None]:
        """(the roles of a new task at `step`, the person it is assigned to): picked by the data."""
        return step.open_roles(self.state)

    def acting_on(self, task_id: str) -> tuple[dict, TaskStep, dict]:
        """The open task, its step and who acts (by, role, acting_for, at); refuses a closed task or a
        person without one of its roles."""
        state = self.state
        if state["status"] != "active":
            raise Conflict(f"案件已{words.STATUS_SHORT.get(state['status'], '結束')}，這項任務不能再處理")
        task = state["tasks"].get(task_id)
        if task is None:
            raise Conflict("這項任務已經完成或已取消，不能再處理")
        step = self.wf.steps[task["step"]]
        role, acting_for = self.role_for(task, step)
        return task, step, {"by": self.actor.user, "role": role, "acting_for": acting_for, "at": self.at}

    def role_for(self, task: dict, step: Step) -> tuple[str, str | None]:
        resolved = acting_role(task, step.roles, self.actor)
        if resolved is None:
            if task.get("assignee"):
                raise Forbidden(f"任務「{step.title}」已指派給「{task['assignee']}」，只有他本人（或其代理人）可以處理")
            raise Forbidden(f"使用者「{self.actor.user}」不能處理任務「{step.title}」"
                            f"（需要角色：{self.wf.role_titles(task['roles'])}）")
        return resolved

    def refusal(self, step: Step, task: dict, who: dict) -> str | None:
        """Why this person may not act on the task though they hold its role (the step's own rule)."""
        return step.refusal(self.state, task, who["acting_for"], who["by"])

    def no_outcome(self, step: Step, outcome: str | None) -> None:
        if outcome is not None:
            raise Invalid(f"「{step.title}」沒有可選的結果，不需要 outcome",
                          [{"field": "outcome", "message": "此步驟沒有可選的結果"}])

    def close(self, task_id: str, task: dict, step: Step, kind: str, payload: dict) -> None:
        if kind == "task_completed":
            if payload.get("by"):  # (who did it: `assign: {step: ...}` of a later task)
                self.state.setdefault("done_by", {})[step.id] = payload["by"]
            spans.met(self, step.id)
        del self.state["tasks"][task_id]
        self.state["tokens"][task["token"]].pop("task", None)
        self.emit(kind, step.id, task_id, payload)

    def what(self, step: Step) -> str:
        """A step of this instance in words, for a notice: the workflow, the number and the step's title."""
        return f"{self.wf.title} {self.state['number'] or '#' + str(self.state['instance'])}「{step.title}」"

    # --- deadlines --------------------------------------------------------------------------------
    def deadline(self, task_id: str, index: int) -> None:
        """Apply rung `index` of the task's ladder (it is due and has not fired)."""
        task = self.state["tasks"][task_id]
        step = self.wf.steps[task["step"]]
        rung = step.ladder[index]
        task["fired"].append(index)
        what = self.what(step)
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
            task.pop("assignee", None)
            self.emit("task_reassigned", step.id, task_id, dict(payload, roles=task["roles"], previous=before,
                                                                notify=list(rung.roles)))
        else:  # goto: the task lapses and the token takes the named transition
            self.close(task_id, task, step, "task_expired", dict(payload, to=rung.target, notify=task["roles"]))
            token = self.state["tokens"][task["token"]]
            self.state["tokens"][task["token"]] = {"step": rung.target, "groups": token["groups"]}
            self.enter(task["token"])

    # --- ledgers and records ----------------------------------------------------------------------
    def post(self, step: Step) -> None:
        """What completing `step` writes beyond its fields: its ledger postings, and its record updates (effects
        the caller applies in the same transaction)."""
        for update in step.updates:
            if update.when is not None and not self.evaluate(update.when, f"更新條件「{update.when.text}」"):
                continue
            key = self.evaluate(update.key, f"{step.title}要更新的資料")
            self.effects.append({"type": "update_record", "record": update.record, "step": step.id,
                                 "key": "" if key is None else str(plain(key)), "field": update.field,
                                 "state": update.state, "set": self.values(update.set, "更新欄位")})
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
                              f"{ledger.entry_title(post.entry)} {yuan_label(fen)} 後將為 {yuan_label(after)}")
            self.state["balances"][post.ledger] = after
            self.emit("ledger_posted", step.id, None, {"ledger": post.ledger, "entry": post.entry, "amount": fen,
                                                       "balance": after, "number": self.state["number"],
                                                       "memo": post.memo})


class Rehearsal(Run):
    """The run `goldkey simulate` walks every path with: data is not modelled. Each decision takes the branch
    the oracle picks, fields are taken without validation, nothing is posted, anyone may act, and a checklist
    is done once ticked."""

    def __init__(self, wf: Workflow, state: dict, now: datetime | None, actor: Actor | None, oracle: Oracle) -> None:
        super().__init__(wf, state, now, actor)
        self.oracle = oracle

    def choose(self, step: Step, branches: list[tuple[Expression, str]], default: str) -> str:
        targets = [to for _, to in branches] + [default]
        return targets[self.oracle(step, len(targets))]

    def write(self, title: str, fields: Iterable[str], data: dict, required) -> None:
        if not isinstance(data, dict):
            raise Invalid("資料必須是 JSON 物件（欄位: 值）")

    def values(self, exprs: dict[str, Expression], what: str, extra: dict | None = None) -> dict:
        return {}

    def post(self, step: Step) -> None:
        """Nothing is posted; a record update is kept as the state it moves the record to (simulate checks the
        record type's moves along the path)."""
        for update in step.updates:
            if update.state:  # (one made only `when` a condition holds leaves the record's state unknown)
                self.effects.append({"type": "update_record", "record": update.record, "key": update.key.text,
                                     "state": None if update.when else update.state, "step": step.id})

    def task_roles(self, step: TaskStep) -> tuple[list[str], str | None]:
        return list(step.roles), None  # (whoever the data would pick: the path is the same)

    def resolve_roles(self, roles) -> tuple[str, str | None] | None:
        return (roles[0], None) if roles else None

    def moment(self, expr: Expression, what: str) -> str:
        return iso(self.now + timedelta(days=1))  # (a date the data would give: some time later)

    def role_for(self, task: dict, step: Step) -> tuple[str, str | None]:
        return task["roles"][0], None

    def refusal(self, step: Step, task: dict, who: dict) -> str | None:
        return None

    def required_items(self, step) -> list[str]:
        return []

    def printed_since(self, printout: str, before: int) -> bool:
        return True  # (simulate walks the paths, not the paper)

    def rows(self, name: str) -> list[tuple[int, dict]]:
        return [(0, {})]  # (one row stands for them all: the path through the for-each is walked)

    def missing(self, fields: Iterable[str]) -> list[str]:
        return []



