"""Step kinds: one module per kind, each a class registered in `KINDS` (see base.py for the protocol)."""

from . import (  # noqa: F401
    approval,
    checklist,
    decision,
    end,
    foreach,
    form,
    include,
    parallel,
    print,
    state,
    subprocess,
    wait,
)
from .base import KINDS, ChoiceStep, Edge, Outcome, Step, TaskStep, register, unregister

# the order the kinds are listed in (docs, the meta-schema's messages); a kind registered later comes last
_ORDER = ("form", "approval", "decision", "parallel", "join", "checklist", "print", "wait", "subprocess", "foreach",
          "include", "state", "end")
for _kind in sorted(KINDS, key=lambda k: _ORDER.index(k) if k in _ORDER else len(_ORDER)):
    KINDS[_kind] = KINDS.pop(_kind)

__all__ = ["KINDS", "ChoiceStep", "Edge", "Outcome", "Step", "TaskStep", "register", "unregister"]
