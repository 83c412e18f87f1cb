"""`form`: a task in which its roles fill or edit some fields of the document, optionally choosing an outcome."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .base import ChoiceStep, register
from .schema import COMMENT_REQUIRED, ID, IDS, OUTCOMES, TASK, step


@register
@dataclass(kw_only=True)
class FormStep(ChoiceStep):
    kind = "form"
    word = "填寫"
    verb = "填寫辦理"

    @classmethod
    def schema(cls) -> dict:
        return step(["roles", "fields"], dict(TASK, fields=IDS, required=IDS, next=ID, outcomes=OUTCOMES,
                                              comment_required=COMMENT_REQUIRED))

    def lint(self, c: Any) -> None:
        super().lint(c)
        if self.next and self.outcomes:
            c.problem(self.keypath + ("outcomes",), "give either `next` or `outcomes`, not both")
        if not self.next and not self.outcomes:
            c.problem(self.keypath, "a form step needs `next` (or `outcomes`) to say where to go")

    def manual(self, m: Any) -> None:
        m.fields(self)
        m.outcomes(self)
