"""Links between instances: a field may hold another case's number (`format: instance`, `workflow:` the workflows it
may be of: an incident report naming the fire plan that raised it, a key loan the repair it serves); together with
parents and children (sub-procedures, follow-ups, for-each rows) they are what the instance page lists both ways.
"""

from __future__ import annotations

from typing import Any

from . import access, words
from .errors import Invalid
from .model import Workflow


class Links:
    """For the Engine (which provides `store`, `registry`, `clock`, `actor`, `workflow_at`)."""

    store: Any
    registry: Any

    def check_links(self, wf: Workflow, fields, data: dict, site: str) -> dict:
        """`data` with each link field among `fields` checked: the number of a case at `site`, of the workflows
        the field allows (its number trimmed)."""
        out = dict(data)
        for name, allowed in wf.form.links.items():
            value = out.get(name)
            if name not in fields or value in (None, "") or not isinstance(value, str):
                continue
            number = out[name] = value.strip()
            head = self.store.instance_by_number(number, site)
            label = wf.form.title_of(name)
            if head is None:
                message = f"「{label}」：找不到單號「{number}」的案件"
                raise Invalid(message, [{"field": name, "message": f"找不到單號「{number}」"}])
            if allowed and head["workflow"] not in allowed:
                kinds = "、".join(f"《{self._workflow_title(w)}》" for w in allowed)
                found = self._workflow_title(head["workflow"])
                message = f"「{label}」：單號「{number}」是《{found}》，此欄須為{kinds}"
                raise Invalid(message, [{"field": name, "message": f"須為{kinds}的單號"}])
        return out

    def check_persons(self, wf: Workflow, fields, data: dict, site: str) -> None:
        """Each person field among `fields` names a member of staff holding one of its roles at `site`."""
        for name, roles in wf.form.persons.items():
            value = data.get(name)
            if name not in fields or value in (None, ""):
                continue
            if not any(p["name"] == value for p in self.holders(roles, site)):
                label = wf.form.title_of(name)
                who = f"的{wf.role_titles(roles)}" if roles else "的人員"
                message = f"「{label}」：「{value}」不是本處{who}，請從名單中選擇"
                raise Invalid(message, [{"field": name, "message": "請從名單中選擇"}])

    def links(self, view: dict, wf: Workflow, user: str | None) -> dict:
        """The cases this one is linked with: its parent, its children, those its link fields name and those whose
        link fields name it; each with whether `user` may open it."""
        site = view["site"]
        parent = self.store.instance_heads([view["parent"]]) if view.get("parent") else []
        named = []
        for name in wf.form.links:
            number = view["data"].get(name)
            head = self.store.instance_by_number(number, site) if isinstance(number, str) and number else None
            if head is not None:
                named.append(dict(head, field=name, label=wf.form.title_of(name)))
        pairs = [(other.id, name) for other in self.registry.workflows.values()
                 for name, allowed in other.form.links.items() if not allowed or wf.id in allowed]
        naming = [dict(head, field=name, label=self._field_label(head["workflow"], name))
                  for name, head in (self.store.referring(pairs, view["number"], site) if view.get("number") else [])]
        if user is not None:  # (a link held in a confidential field the reader may not see is not shown)
            roles = self.actor(user, self.clock(), site).every_role
            named = [h for h in named if h["field"] not in wf.form.hidden_from(roles)]
            naming = [h for h in naming if h["workflow"] not in self.registry.workflows
                      or h["field"] not in self.registry.workflows[h["workflow"]].form.hidden_from(roles)]
        return {kind: [self._linked(h, user) for h in heads] for kind, heads in (
            ("parent", parent), ("children", self.store.children_of(view["id"])), ("refers_to", named),
            ("referred_by", naming))}

    def _linked(self, head: dict, user: str | None) -> dict:
        wf = self.registry.workflows.get(head["workflow"])
        may = True
        if user is not None:
            may = wf is not None and access.may_view(self.actor(user, self.clock(), head["site"]), wf)
        return dict(head, title=wf.title if wf else "（已停用的流程）", status_title=words.status(head["status"]),
                    may_view=may)

    def _workflow_title(self, workflow: str) -> str:
        wf = self.registry.workflows.get(workflow)
        return wf.title if wf else "（已停用的流程）"

    def _field_label(self, workflow: str, field: str) -> str:
        wf = self.registry.workflows.get(workflow)
        return wf.form.title_of(field) if wf else field
