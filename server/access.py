"""Who may see what: an instance to the roles of its workflow and its starter; customer fields to the roles
the form names."""

from __future__ import annotations

import copy

from engine.definitions import Workflow
from engine.service import Engine

HIDDEN = "（保密）"


def roles_of(engine: Engine, user: str) -> frozenset[str]:
    return engine.actor(user, engine.clock()).every_role


def can_view(engine: Engine, user: str, wf: Workflow, view: dict) -> bool:
    return view.get("started_by") == user or bool(roles_of(engine, user) & wf.viewer_roles)


def hidden_fields(engine: Engine, user: str, wf: Workflow) -> set[str]:
    """The form's confidential fields, unless the user has one of the roles allowed to see them."""
    return wf.form.hidden_from(roles_of(engine, user))


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
