"""`state`: a named state a long-lived instance rests in, not an inbox task (a key kept for months: 保管中), with
actions any holder of its roles may take from the instance page or a register row (借出, 領取); the register
filters by it.

```yaml
  kept:
    kind: state
    title: 保管中
    roles: [concierge, security_guard]
    actions:
      lend: {to: lent, title: 借出, fields: [borrower, lent_on], required: [borrower]}
      collect: {to: collected, title: 業主領取}
```
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..errors import Forbidden, Invalid
from ..hints import did_you_mean
from .base import Edge, Step, register
from .schema import COMMON, ID, IDS, ROLES, TEXT, step

ACTION = {"type": "object", "additionalProperties": False, "required": ["to", "title"],
          "properties": {"to": ID, "title": TEXT, "fields": IDS, "required": IDS, "comment": {"type": "boolean"}}}


@dataclass(frozen=True)
class Action:
    to: str
    title: str
    fields: tuple[str, ...] = ()
    required: frozenset[str] = frozenset()


@register
@dataclass(kw_only=True)
class StateStep(Step):
    kind = "state"
    word = "狀態"
    verb = "執行狀態操作"  # (its roles' duty in the work instruction)
    fill = "#fffbe6"
    event_words = {"state_entered": "進入狀態", "state_action": "狀態操作"}
    actions: dict[str, Action] = field(default_factory=dict)

    @classmethod
    def schema(cls) -> dict:
        return step(["roles", "actions"], dict(COMMON, roles=ROLES, actions={
            "type": "object", "minProperties": 1, "propertyNames": ID, "additionalProperties": ACTION}))

    @classmethod
    def options(cls, b: Any, kp, spec: dict) -> dict:
        actions = {}
        for name, one in spec["actions"].items():
            fields = tuple(one.get("fields", ()))
            actions[name] = Action(one["to"], one["title"], fields, b.required(fields, one))
        return dict(roles=tuple(spec["roles"]), actions=actions)

    def edges(self) -> list[Edge]:
        return [Edge(a.to, self.keypath + ("actions", name, "to"), a.title) for name, a in self.actions.items()]

    def lint(self, c: Any) -> None:
        super().lint(c)
        form = c.wf.form
        for i, role in enumerate(self.roles):
            c.role(self.keypath + ("roles", i), role)
        for name, action in self.actions.items():
            akp = self.keypath + ("actions", name)
            for i, f in enumerate(action.fields):
                if f not in form.properties and not form.stub:
                    c.problem(akp + ("fields", i), f"unknown field '{f}'{did_you_mean(f, form.properties)}; form "
                                                   f"'{form.id}' has no such field")
            for f in sorted(action.required - set(action.fields)):
                c.problem(akp + ("required",), f"required field '{f}' is not among the action's `fields`")

    # --- running --------------------------------------------------------------------------------------
    def enter(self, run: Any, tid: str) -> None:
        run.state["tokens"][tid]["resting"] = True
        run.emit("state_entered", self.id, None, {"state": self.title})

    def act(self, run: Any, tid: str, name: str, who: dict, data: dict, comment: str | None) -> None:
        """Take action `name` (the token rests here): its fields written, the token on to its step."""
        action = self.actions.get(name)
        if action is None:
            choices = "、".join(a.title for a in self.actions.values())
            raise Invalid(f"「{self.title}」沒有這個操作；可用：{choices}",
                          [{"field": "action", "message": f"可用：{choices}"}])
        if who["role"] is None:
            raise Forbidden(f"使用者「{who['by']}」不能在「{self.title}」執行「{action.title}」"
                            f"（需要角色：{run.wf.role_titles(self.roles)}）")
        run.write(action.title, action.fields, data, action.required)
        run.emit("state_action", self.id, None, dict(who, action=name, title=action.title, comment=comment,
                                                    data={k: run.state["data"].get(k) for k in data}))
        run.state["tokens"][tid].pop("resting", None)
        run.leave(tid, self, action.to)

    # --- views ----------------------------------------------------------------------------------------
    def view(self, form: Any) -> dict:
        """The state and its actions, as the instance page and a register row offer them."""
        return {"step": self.id, "title": self.title, "roles": list(self.roles),
                "actions": [{"id": n, "title": a.title, "fields": list(a.fields), "required": sorted(a.required),
                             "labels": {f: form.title_of(f) for f in a.fields}} for n, a in self.actions.items()]}

    def describe(self) -> dict:
        return dict(super().describe(), actions={n: {"to": a.to, "title": a.title, "fields": list(a.fields),
                                                      "required": sorted(a.required)} for n, a in self.actions.items()})

    def manual(self, m: Any) -> None:
        m.line("工作內容", [(f"案件停留於「{self.title}」狀態（不列入待辦事項），{m.roles(self.roles)}可隨時在"
                           "案件頁面或臺帳中執行以下操作：", "")])
        for action in self.actions.values():
            fields = f"，填寫{'、'.join(m.field(f) for f in action.fields)}" if action.fields else ""
            m.item([(f"「{action.title}」{fields}，轉 {m.ref(action.to)}", "")])
