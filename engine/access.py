"""Who may see what: an instance to its starter and the roles of its workflow; customer fields to the roles
its form names, and wherever they are copied (a child instance started with them keeps them confidential to
the same readers). The one place these rules live; the Engine applies them to every view it hands out."""

from __future__ import annotations

import copy

from .core import Actor
from .model import Workflow

HIDDEN = "（保密）"  # what stands in for a confidential value


def may_view(actor: Actor, wf: Workflow, started_by: str | None = None) -> bool:
    """May the actor see instances of `wf` (theirs always: they started it)?"""
    return started_by == actor.user or bool(actor.every_role & wf.viewer_roles)


def hidden_fields(actor: Actor, wf: Workflow, state: dict | None = None) -> set[str]:
    """The form's confidential fields, unless the actor has one of the roles allowed to see them; and those an
    instance (its `state`) inherited as confidential from the parent that started it, unless the actor has one
    of the parent's readers' roles."""
    return wf.form.hidden_from(actor.every_role) | inherited_hidden(actor, (state or {}).get("confidential"))


def inherited_hidden(actor: Actor, confidential: dict | None) -> set[str]:
    """Of the fields an instance inherited as `confidential` ({fields, roles}, or None), those the actor may not
    see: all of them, unless the actor has one of the parent's readers' roles."""
    if not confidential or actor.every_role & set(confidential.get("roles", ())):
        return set()
    return set(confidential.get("fields", ()))


def mask(data: dict, hidden: set[str]) -> dict:
    """`data` with each filled hidden field replaced by HIDDEN (a new dict; `data` is not changed)."""
    return {k: HIDDEN if k in hidden and v not in (None, "") else v for k, v in data.items()}


def masked(view: dict, hidden: set[str]) -> dict:
    """An instance view with confidential values replaced, in its data and in its history."""
    if not hidden:
        return view
    view = copy.deepcopy(view)
    view["data"] = mask(view.get("data", {}), hidden)
    for event in view.get("history", []):
        if isinstance(event["payload"].get("data"), dict):
            event["payload"]["data"] = mask(event["payload"]["data"], hidden)
    return view
