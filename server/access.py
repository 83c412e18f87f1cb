"""Who may see what: an instance to the roles of its workflow and its starter; customer fields to the roles
the form names."""

from __future__ import annotations

import copy

from engine.definitions import Workflow
from engine.service import Engine

HIDDEN = "（保密）"


def roles_of(engine: Engine, user: str) -> frozenset[str]:
    actor = engine.actor(user, engine.clock())
    return actor.roles | frozenset(r for _, rs in actor.deputy_for for r in rs)


def can_view(engine: Engine, user: str, wf: Workflow, view: dict) -> bool:
    allowed = set(wf.roles) | set(wf.form.confidential.get("roles", ()))
    return view.get("started_by") == user or bool(roles_of(engine, user) & allowed)


def hidden_fields(engine: Engine, user: str, wf: Workflow) -> set[str]:
    """The form's confidential fields, unless the user has one of the roles allowed to see them."""
    spec = wf.form.confidential
    if not spec or roles_of(engine, user) & set(spec.get("roles", ())):
        return set()
    return set(spec.get("fields", ()))


def masked(engine: Engine, user: str, wf: Workflow, view: dict) -> dict:
    """The instance view with confidential values replaced, in its data and in its history."""
    hidden = hidden_fields(engine, user, wf)
    if not hidden:
        return view
    view = copy.deepcopy(view)
    for data in [view.get("data", {})] + [e["payload"].get("data") for e in view.get("history", [])]:
        if isinstance(data, dict):
            for key in hidden & data.keys():
                if data[key] not in (None, ""):
                    data[key] = HIDDEN
    return view
