"""The protocol every step kind follows, and the registry of kinds.

A kind is one class (in one module of this package) that owns everything about its steps:

- `schema()`: its fragment of the meta-schema (the meta-schema is assembled from every registered kind);
- `build()`: the step from its YAML (already valid against the fragment), `lint()` / `lint_graph()`: the
  checks only it knows, each problem at the line that causes it;
- `enter()`: what happens when a token reaches it (pure: through the `Run` primitives of `engine.core`);
  task kinds also `on_open()` the task and `complete()` it, and say which moves `simulate` tries;
- `describe()` (the JSON of `goldkey describe`), `task_view()` (what a client or the task page needs to act:
  the buttons, the items to tick, the printout to download), `manual()` (its part of the work instruction)
  and `edges()` (its transitions, labelled in words for the graph).

`register` adds a kind; nothing else in the engine or the server names one. docs/step-kinds.md says how to
write one.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

from .. import words
from ..errors import Invalid
from ..hints import did_you_mean
from .routing import Assign, RoleRoute, build_routes, lint_routes, open_roles

if TYPE_CHECKING:
    from ..deadlines import Due, Rung
    from ..durations import Duration
    from ..expressions import Expression
    from ..model import Post, Update
    from ..yamlsrc import KeyPath

KINDS: dict[str, type[Step]] = {}


def register(cls: type[Step]) -> type[Step]:
    """Add a step kind (a class decorator); its `kind` is the name YAML uses."""
    KINDS[cls.kind] = cls
    return cls


def unregister(kind: str) -> None:
    """Remove a kind (a test's toy kind, once the test is done)."""
    KINDS.pop(kind, None)


@dataclass(frozen=True)
class Edge:
    """A transition out of a step: the target, where the reference is written, and its label in words."""

    to: str
    keypath: KeyPath
    label: str = ""
    when: Expression | None = None  # a decision's condition (the graph puts it in words when there is no label)


@dataclass(frozen=True)
class Outcome:
    """A choice a person makes when completing a task, and the step it leads to."""

    to: str
    title: str | None = None  # as written in the YAML
    word: str = ""  # what staff read: the title, the standard word, or where it leads (see ChoiceStep.settle)


@dataclass(kw_only=True)
class Step:
    """One step of a workflow; a subclass per kind."""

    kind: ClassVar[str] = ""
    word: ClassVar[str] = ""  # the kind in words (graph, task lists, work instruction)
    is_task: ClassVar[bool] = False  # a person acts on it (an inbox task)
    fill: ClassVar[str] = "#ffffff"  # its box in the graph
    printed_as: ClassVar[str | None] = None  # the printout context's mapping its steps appear in, by id
    event_words: ClassVar[dict[str, str]] = {}  # the words of the events only this kind emits (the history)

    id: str
    title: str
    keypath: KeyPath = ()
    description: str | None = None
    titled: bool = True  # the YAML gives a title (else staff would read the id)
    roles: tuple[str, ...] = ()
    fields: tuple[str, ...] = ()
    required: frozenset[str] = frozenset()
    posts: list[Post] = field(default_factory=list)
    updates: list[Update] = field(default_factory=list)

    # --- the definition ---------------------------------------------------------------------------
    @classmethod
    def schema(cls) -> dict:
        """This kind's fragment of the meta-schema (the keys its steps may have)."""
        raise NotImplementedError

    @classmethod
    def build(cls, b: Any, sid: str, spec: dict) -> Step:
        """The step from its YAML; `b` is the builder (engine.definitions.Builder): it compiles expressions
        and durations and collects problems."""
        return cls(**cls.common(b, sid, spec), **cls.options(b, ("steps", sid), spec))

    @classmethod
    def common(cls, b: Any, sid: str, spec: dict) -> dict:
        """The keys every kind shares: title, description, ledger postings."""
        kp = ("steps", sid)
        return dict(id=sid, title=spec.get("title", sid), titled="title" in spec, keypath=kp,
                    description=spec.get("description"), posts=b.posts(kp, spec.get("post", [])),
                    updates=b.updates(kp, spec.get("update")))

    @classmethod
    def options(cls, b: Any, kp: KeyPath, spec: dict) -> dict:
        """The kind's own keys, as constructor arguments."""
        return {}

    def edges(self) -> list[Edge]:
        """Every transition out of this step."""
        return []

    def lint(self, c: Any) -> None:
        """Problems only this kind can see (`c`: engine.lint.Context; report with c.problem / c.warn)."""
        if not self.titled:
            c.warn(self.keypath, f"step '{self.id}' has no title: staff would read its id; add `title:` in words",
                   key=True)

    def lint_graph(self, c: Any) -> None:
        """Checks on the step graph, run once every transition leads to a step (c.graph, c.reach)."""

    def settle(self, steps: dict[str, Step]) -> None:
        """Called once every step of the workflow is built (to read the others' titles)."""

    @property
    def ends_with(self) -> str | None:
        """The outcome an instance ends with at this step (end steps only)."""
        return None

    @property
    def prints(self) -> str | None:
        """The printout this step issues, if any."""
        return None

    @property
    def starts(self) -> str | None:
        """The workflow this step starts, if any."""
        return None

    def durations(self) -> list[Duration]:
        """Every duration the step counts (for the work instruction's note on working time)."""
        return []

    def time_limit(self) -> str:
        """Its time limit as written (the work instruction's table), or ''."""
        return ""

    # --- running (pure: `run` is engine.core's Run) --------------------------------------------------
    def enter(self, run: Any, tid: str) -> None:
        """A token has reached the step."""
        raise NotImplementedError

    def timer_fired(self, run: Any, tid: str) -> None:
        """The timer this step set on the token is due."""

    def child_done(self, run: Any, tid: str, outcome: str, child: int | None = None) -> None:
        """The sub-procedure (`child`, the instance) this step started ended with `outcome`."""

    def refusal(self, state: dict, task: dict, acting_for: str | None, user: str) -> str | None:
        """Why this person may not act on the step's task though they hold its role, or None."""
        return None

    def print_value(self, paper: Any) -> Any:
        """Its entry in the `printed_as` mapping of a printout's context (None: leave it out); `paper`:
        engine.printouts.Paper (the state, the formatted signatures, names and times as printed)."""
        return None

    def sim_child_outcomes(self, registry: Any) -> list[str]:
        """The outcomes `goldkey simulate` tries for a sub-procedure this step waits for."""
        return ["done"]

    # --- views --------------------------------------------------------------------------------------
    def describe(self) -> dict:
        """The step as JSON (`goldkey describe`)."""
        out: dict = {"id": self.id, "kind": self.kind, "title": self.title, "roles": list(self.roles)}
        if self.fields:
            out["fields"] = list(self.fields)
            out["required"] = sorted(self.required)
        if self.updates:
            out["update"] = [{"record": u.record, "key": u.key.text, "state": u.state,
                              "set": {k: e.text for k, e in u.set.items()}, "when": u.when.text if u.when else None}
                             for u in self.updates]
        if self.posts:
            out["post"] = [{"ledger": p.ledger, "entry": p.entry, "amount": p.amount.text,
                            "when": p.when.text if p.when else None} for p in self.posts]
        return out

    def manual(self, m: Any) -> None:
        """Its part of the work instruction (`m`: engine.manual's writer: line, item, ref, expr, fields)."""
        m.fields(self)


@dataclass(kw_only=True)
class TaskStep(Step):
    """A step a person acts on: an inbox task for its roles, with a due time, a deadline ladder and holds."""

    is_task: ClassVar[bool] = True
    verb: ClassVar[str] = "辦理"  # what its roles do, in the work instruction's duties
    escalation_note: ClassVar[str] = ""  # what an escalated role may do beyond acting on it
    next: str | None = None  # where completing it leads (kinds with outcomes may lead elsewhere)
    outcomes: dict[str, Outcome] = field(default_factory=dict)  # the choices a person makes (ChoiceStep)
    due: Due | None = None
    ladder: tuple[Rung, ...] = ()
    holds: dict[str, str] = field(default_factory=dict)
    route: RoleRoute | None = None  # `roles: {from: field, map: ...}`: the role picked by the data
    assign: Assign | None = None  # `assign:`: one person's task (named in a field, or who did a step)

    @classmethod
    def common(cls, b: Any, sid: str, spec: dict) -> dict:
        kp = ("steps", sid)
        fields = tuple(spec.get("fields", ()))
        due = b.due(kp, spec)
        return dict(super().common(b, sid, spec), **build_routes(b, kp, spec), fields=fields,
                    required=b.required(fields, spec), due=due, ladder=b.ladder(kp, spec, due),
                    holds=dict(spec.get("holds", {})))

    def edges(self) -> list[Edge]:
        return [Edge(r.target, self.keypath + ("deadlines", i, "goto"), "逾時")
                for i, r in enumerate(self.ladder) if r.target]

    def durations(self) -> list[Duration]:
        limits = [self.due.soft, self.due.hard] if self.due else []
        return [d for d in limits + [r.offset for r in self.ladder] if d is not None]

    def time_limit(self) -> str:
        if not self.due:
            return ""
        return self.due.soft.text + (f"／最遲 {self.due.hard.text}" if self.due.hard else "")

    def lint(self, c: Any) -> None:
        super().lint(c)
        kp = self.keypath
        lint_routes(self, c)
        roles = [] if self.route else [(kp + ("roles", i), role) for i, role in enumerate(self.roles)]
        roles += [(kp + ("deadlines", i, rung.action, j), role) for i, rung in enumerate(self.ladder)
                  for j, role in enumerate(rung.roles)]
        for where, role in roles:
            c.role(where, role)
        fields = c.wf.form.properties
        for i, name in enumerate(self.fields):
            if name not in fields and not c.wf.form.stub:
                c.problem(kp + ("fields", i), f"unknown field '{name}'{did_you_mean(name, fields)}; "
                                              f"form '{c.wf.form.id}' has no such field")
        for name in sorted(self.required - set(self.fields)):
            c.problem(kp + ("required",), f"required field '{name}' is not among the step's `fields`")

    def enter(self, run: Any, tid: str) -> None:
        run.open_task(tid, self)

    def open_roles(self, state: dict) -> tuple[list[str], str | None]:
        """(the roles of a new task, the one person it is assigned to, if any), for the data as it is."""
        return open_roles(self, state)

    def on_open(self, run: Any, task: dict) -> None:
        """Add what the kind keeps on a new task (signatures, ticks); `task` is being opened."""

    def complete(self, run: Any, task_id: str, task: dict, who: dict, outcome: str | None, data: dict,
                 comment: str | None) -> None:
        """A person acts on the task (`who`: by, role, acting_for, at): fill, sign, tick, confirm."""
        run.no_outcome(self, outcome)
        self.finish(run, task_id, task, who, outcome, data, comment, self.next_step(outcome))

    def next_step(self, outcome: str | None) -> str | None:
        return self.next

    def finish(self, run: Any, task_id: str, task: dict, who: dict, outcome: str | None, data: dict,
               comment: str | None, target: str | None, write: bool = True, **extra: Any) -> None:
        """Write the fields (unless written already), close the task (`task_completed`) and move the token on
        to `target`."""
        if write:
            run.write_fields(self, data)
        payload = dict(who, outcome=outcome, comment=comment, data={k: run.state["data"].get(k) for k in data})
        payload.update(extra)
        if task.get("due_at"):
            payload["due_at"] = task["due_at"]
        run.close(task_id, task, self, "task_completed", payload)
        run.leave(task["token"], self, target)

    def task_view(self, task: dict, data: dict, wf: Any) -> dict:
        """What a client needs to act on the task beyond the common keys: `outcomes` (ids) with their
        `outcome_titles` and `choices` (the buttons: id, title, where it leads, whether a reason is required),
        `items` to tick, a printout to `download`, `submit` (the button's words when there are no outcomes) and
        whether a `comment` is asked for."""
        return {"outcomes": [], "outcome_titles": {}, "choices": [], "submit": "完成", "comment": True}

    def sim_moves(self, task: dict) -> list[tuple[str, str | None, dict]]:
        """The moves `goldkey simulate` tries on an open task: (label, outcome, data)."""
        return [(self.id, None, {})]

    def describe(self) -> dict:
        out = super().describe()
        if self.due:
            out["due"] = {"soft": self.due.soft.text, "hard": self.due.hard.text if self.due.hard else None,
                          "from": self.due.origin or "opened"}
        if self.ladder:
            out["deadlines"] = [rung.describe() for rung in self.ladder]
        if self.holds:
            out["holds"] = dict(self.holds)
        if self.route:
            out["roles_from"] = {"from": self.route.field, "map": dict(self.route.map), "default": self.route.default}
        if self.assign:
            out["assign"] = {"field": self.assign.field, "step": self.assign.step,
                             "reassign": list(self.assign.reassign)}
        return out


@dataclass(kw_only=True)
class ChoiceStep(TaskStep):
    """A task completed with one of its `outcomes` (or, without outcomes, going on to `next`)."""

    comment_required: frozenset[str] = frozenset({"reject", "rework"})

    @classmethod
    def options(cls, b: Any, kp: KeyPath, spec: dict) -> dict:
        out: dict = dict(next=spec.get("next"), outcomes=outcomes_of(spec.get("outcomes", {})))
        if "comment_required" in spec:
            out["comment_required"] = frozenset(spec["comment_required"])
        return out

    def edges(self) -> list[Edge]:
        out = [Edge(self.next, self.keypath + ("next",))] if self.next else []
        out += [Edge(o.to, self.keypath + ("outcomes", name, "to"), self.outcome_title(name))
                for name, o in self.outcomes.items()]
        return out + super().edges()

    def lint(self, c: Any) -> None:
        super().lint(c)
        for name, outcome in self.outcomes.items():
            if not outcome.title and name not in words.OUTCOMES:
                c.warn(self.keypath + ("outcomes", name), f"outcome '{name}' has no title: staff would read its id on "
                                                          f"the button; write `{name}: {{to: {outcome.to}, title: "
                                                          "...}` with the words staff choose", key=True)

    def settle(self, steps: dict[str, Step]) -> None:
        for name, o in self.outcomes.items():
            target = steps.get(o.to)
            word = o.title or words.OUTCOMES.get(name) or (f"轉「{target.title}」" if target else "另選")
            self.outcomes[name] = Outcome(o.to, o.title, word)

    def outcome_title(self, name: str) -> str:
        """An outcome in words: its title, the standard word, else where it leads."""
        outcome = self.outcomes.get(name)
        return (outcome.word or outcome.title or words.OUTCOMES.get(name, "另選")) if outcome else "另選"

    def next_step(self, outcome: str | None) -> str | None:
        return self.outcomes[outcome].to if self.outcomes else self.next

    def check_outcome(self, outcome: str | None, comment: str | None) -> None:
        """Refuse a missing or unknown outcome, or one that needs a reason given without one."""
        if not self.outcomes:
            if outcome is not None:
                raise Invalid(f"「{self.title}」沒有可選的結果",
                              [{"field": "outcome", "message": "此步驟沒有可選的結果"}])
            return
        choices = "、".join(self.outcome_title(o) for o in self.outcomes)
        if outcome not in self.outcomes:
            msg = f"請選擇結果：{choices}" if outcome is None else f"結果「{outcome}」無效，可選：{choices}"
            raise Invalid(msg, [{"field": "outcome", "message": msg}])
        if outcome in self.comment_required and not (comment or "").strip():
            raise Invalid(f"選擇「{self.outcome_title(outcome)}」時必須填寫意見（原因）",
                          [{"field": "comment", "message": "請填寫意見（原因）"}])

    def complete(self, run: Any, task_id: str, task: dict, who: dict, outcome: str | None, data: dict,
                 comment: str | None) -> None:
        self.check_outcome(outcome, comment)
        self.finish(run, task_id, task, who, outcome, data, comment, self.next_step(outcome))

    def choices(self, targets: dict[str, Step]) -> list[dict]:
        """The outcomes as buttons: id, title, the step it leads to, whether a reason is required."""
        return [{"id": name, "title": self.outcome_title(name),
                 "to": targets[o.to].title if o.to in targets else "", "comment": name in self.comment_required}
                for name, o in self.outcomes.items()]

    def task_view(self, task: dict, data: dict, wf: Any) -> dict:
        return dict(super().task_view(task, data, wf), outcomes=list(self.outcomes),
                    outcome_titles={name: self.outcome_title(name) for name in self.outcomes},
                    choices=self.choices(wf.steps),
                    comment_required=sorted(self.comment_required & set(self.outcomes)))

    def sim_moves(self, task: dict) -> list[tuple[str, str | None, dict]]:
        return [(f"{self.id}:{o}", o, {}) for o in self.outcomes] or [(self.id, None, {})]

    def describe(self) -> dict:
        out = dict(super().describe(), **routes(self.next, self.outcomes))
        if self.outcomes:
            out["outcome_titles"] = {name: self.outcome_title(name) for name in self.outcomes}
        return out


def routes(next_step: str | None, outcomes: dict[str, Outcome]) -> dict:
    """Where a step goes, as `describe` shows it: `next` and `outcomes` ({name: step}), each when there is one."""
    out: dict = {"next": next_step} if next_step else {}
    if outcomes:
        out["outcomes"] = {name: o.to for name, o in outcomes.items()}
    return out


def outcomes_of(spec: dict) -> dict[str, Outcome]:
    """`{name: step}` or `{name: {to: step, title: words}}`, as Outcomes."""
    return {name: Outcome(value["to"], value.get("title")) if isinstance(value, dict) else Outcome(value)
            for name, value in spec.items()}
