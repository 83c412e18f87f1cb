"""Who a task goes to, from the data: `roles: {from: field, map: {value: role}, default: role}` picks the role by
a field's value (the head of the department complained about), and `assign:` hands the task to one person (the
technician a dispatcher named in a field, or whoever did an earlier step), shown as theirs in the inbox; the roles
in `assign.reassign` may hand it to someone else.

An assigned task's `roles` are `["@<user>"]`: the task projection and the inbox find it by that name, and only
that person (or their deputy for the day) may act on it; the role they act in is their role among the step's.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..errors import Invalid
from ..hints import did_you_mean

PERSON = "@"  # the prefix of a task's role naming one person

@dataclass(frozen=True)
class RoleRoute:
    """The role a task goes to, by the value of a field (`default` when the value is not in the map)."""

    field: str
    map: dict[str, str]
    default: str | None = None

    def pick(self, data: dict) -> str | None:
        value = data.get(self.field)
        return self.map.get(str(value), self.default) if value is not None else self.default

    @property
    def roles(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys([*self.map.values(), *([self.default] if self.default else [])]))


@dataclass(frozen=True)
class Assign:
    """The one person a task goes to: the user named in `field`, or who completed `step`; `reassign`: the roles
    that may hand it to another holder of the step's roles."""

    field: str | None = None
    step: str | None = None
    reassign: tuple[str, ...] = ()

    def person(self, state: dict) -> str | None:
        if self.field:
            value = state["data"].get(self.field)
            return str(value) if value not in (None, "") else None
        if self.step == "start":
            return state.get("started_by")
        return state.get("done_by", {}).get(self.step or "")


def person_role(user: str) -> str:
    """The role of a task assigned to `user`."""
    return PERSON + user


def build_routes(b: Any, kp: tuple, spec: dict) -> dict:
    """The step's `roles` (a list, or routed by a field) and `assign`, as TaskStep arguments."""
    out: dict = {}
    roles = spec.get("roles", ())
    if isinstance(roles, dict):
        route = RoleRoute(roles["from"], {str(k): v for k, v in roles["map"].items()}, roles.get("default"))
        out.update(roles=route.roles, route=route)
    else:
        out["roles"] = tuple(roles)
    if "assign" in spec:
        one = spec["assign"]
        if ("field" in one) == ("step" in one):
            b.problem(kp + ("assign",), "give `assign` exactly one of `field: technician` (the person named in a "
                                        "field) or `step: dispatch` (whoever completed that step)")
        else:
            out["assign"] = Assign(one.get("field"), one.get("step"), tuple(one.get("reassign", ())))
    return out


def lint_routes(step: Any, c: Any) -> None:
    """The routed field exists and its values are roles; an assigning field or step exists."""
    kp = step.keypath
    form = c.wf.form
    route: RoleRoute | None = step.route
    if route is not None:
        where = kp + ("roles",)
        spec = form.properties.get(route.field)
        if spec is None and not form.stub:
            c.problem(where + ("from",), f"unknown field '{route.field}'{did_you_mean(route.field, form.properties)}; "
                                         f"form '{form.id}' has no such field")
        choices = [str(v) for v in (spec or {}).get("enum", ())]
        for value, role in route.map.items():
            c.role(where + ("map", value), role)
            if choices and value not in choices:
                c.problem(where + ("map", value), f"'{value}' is not one of the choices of field '{route.field}' "
                                                  f"({', '.join(choices)}){did_you_mean(value, choices)}", key=True)
        if route.default:
            c.role(where + ("default",), route.default)
        elif choices and set(choices) - set(route.map):
            left = ", ".join(v for v in choices if v not in route.map)
            c.problem(where + ("map",), f"choices {left} of field '{route.field}' go to no role: map them or add "
                                        "`default: <role>`")
        elif not choices:
            c.warn(where, f"field '{route.field}' has no fixed choices: a value not in the map leaves the task with "
                          "nobody; add `default: <role>`")
    assign: Assign | None = step.assign
    if assign is None:
        return
    where = kp + ("assign",)
    if assign.field and assign.field not in form.properties and not form.stub:
        c.problem(where + ("field",), f"unknown field '{assign.field}'{did_you_mean(assign.field, form.properties)}; "
                                      f"form '{form.id}' has no such field")
    elif assign.field and (form.properties.get(assign.field) or {}).get("type", "string") != "string":
        c.problem(where + ("field",), f"field '{assign.field}' must be a text field holding a login name")
    if assign.step:
        done = c.wf.steps.get(assign.step) if assign.step != "start" else c.wf.start
        if done is None:
            c.problem(where + ("step",), f"unknown step '{assign.step}'{did_you_mean(assign.step, c.wf.steps)}")
        elif not done.is_task and done is not c.wf.start:
            c.problem(where + ("step",), f"step '{assign.step}' is a {done.kind}: nobody completes it; name a task "
                                         "step")
    for i, role in enumerate(assign.reassign):
        c.role(where + ("reassign", i), role)


def open_roles(step: Any, state: dict) -> tuple[list[str], str | None]:
    """(the roles of a new task, the person it is assigned to) for the data as it is."""
    assignee = step.assign.person(state) if step.assign else None
    if assignee:
        return [person_role(assignee)], assignee
    if step.route is None:
        return list(step.roles), None
    role = step.route.pick(state["data"])
    if role is None:
        value = state["data"].get(step.route.field)
        shown = "（未填）" if value is None else value
        raise Invalid(f"無法決定「{step.title}」由誰辦理：「{shown}」沒有對應的職務；請通知管理員補上")
    return [role], None


def acting_role(task: dict, step_roles: tuple[str, ...], actor: Any) -> tuple[str, str | None] | None:
    """(role, acting_for) of `actor` on `task`, or None: an assigned task is the assignee's (or their deputy's), and
    they act in their role among the step's; any other task, and roles a deadline added, by role."""
    person = task.get("assignee")
    if person:
        if person == actor.user:
            own = actor.resolve(step_roles)
            return (own[0] if own and own[1] is None else (step_roles[0] if step_roles else "")), None
        for principal, roles in actor.deputy_for:
            if principal == person:
                return next((r for r in step_roles if r in roles), step_roles[0] if step_roles else ""), principal
    return actor.resolve([r for r in task["roles"] if not r.startswith(PERSON)])


def in_words(step: Any, m: Any) -> str:
    """Who does the step, as the work instruction says it (`m`: engine.manual's writer)."""
    route, assign = step.route, step.assign
    if route is None:
        text = m.roles(step.roles)
    else:
        cases = "；".join(f"{value} → {m.role(role)}" for value, role in route.map.items())
        other = f"；其他 → {m.role(route.default)}" if route.default else ""
        text = f"依「{m.field(route.field)}」決定：{cases}{other}"
    if assign is None:
        return text
    if assign.field:
        who = f"由「{m.field(assign.field)}」所填的人員本人辦理（未填時由{text}辦理）"
    elif assign.step == "start":
        who = f"由發起人本人辦理（{text}）"
    else:
        who = f"由辦理{m.ref(assign.step)}的同一人員辦理（{text}）"
    if assign.reassign:
        who += f"；{m.roles(assign.reassign)}可改派給其他{m.roles(step.roles)}人員"
    return who
