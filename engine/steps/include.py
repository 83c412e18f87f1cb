"""`include`: a shared group of steps (a fragment, `fragments/<id>.yaml`) taken into a workflow with parameters:
the eleven emergency plans share the principles of 3.2 (report up, call 110/119 where serious, protect the scene,
find witnesses, the written report) and differ in their middle.

```yaml
# fragments/incident_principles.yaml
id: incident_principles
title: 突發事件處理原則
params: {lead: 負責處理的職務, then: 處理原則之後的步驟}
start: report_up
steps:
  report_up: {kind: form, title: 向上匯報, roles: ["${lead}"], fields: [reported_to], next: protect_scene}
  protect_scene: {kind: checklist, title: 保護現場, roles: ["${lead}"], items: [...], next: "${then}"}

# workflows/fire_plan.yaml
steps:
  principles: {kind: include, fragment: incident_principles, with: {lead: security_lead, then: fight_fire}}
```

The fragment's steps join the workflow under their own ids (a problem in one is reported in the fragment's
file); `${name}` in any text of theirs is the parameter's value (a whole `"${name}"` may be a list). The
include step itself passes straight on to the fragment's `start`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from .base import Edge, Step, register
from .schema import COMMON, ID, step

PARAM = re.compile(r"\$\{([a-z][a-z0-9_]*)\}")


@register
@dataclass(kw_only=True)
class IncludeStep(Step):
    kind = "include"
    word = "共用程序"
    fill = "#f0f7f0"
    fragment: str = ""
    start: str = ""  # the fragment's first step
    fragment_title: str = ""

    @classmethod
    def schema(cls) -> dict:
        return step(["fragment"], dict(COMMON, fragment=ID, **{"with": {
            "type": "object", "propertyNames": ID,
            "additionalProperties": {"oneOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}}]}}}))

    @classmethod
    def build(cls, b: Any, sid: str, spec: dict) -> Step:
        fragment = b.fragments.get(spec["fragment"]) if getattr(b, "fragments", None) else None
        data = fragment.data if fragment else {}
        common = cls.common(b, sid, spec)
        if "title" not in spec and data.get("title"):
            common.update(title=data["title"], titled=True)
        return cls(**common, fragment=spec["fragment"], start=data.get("start", ""),
                   fragment_title=data.get("title", spec["fragment"]))

    def edges(self) -> list[Edge]:
        return [Edge(self.start, self.keypath + ("fragment",))] if self.start else []

    def lint(self, c: Any) -> None:
        super().lint(c)  # (an unknown fragment, and its parameters, are reported as the workflow is built)

    def enter(self, run: Any, tid: str) -> None:
        run.leave(tid, self, self.start)

    def describe(self) -> dict:
        return dict(super().describe(), fragment=self.fragment, next=self.start)

    def manual(self, m: Any) -> None:
        m.line("工作內容", [(f"以下按共用程序《{self.fragment_title}》辦理，自 {m.ref(self.start)}開始", "")])


def expand(spec: dict, fragment: Any, where: Any, problem: Any) -> dict[str, dict]:
    """The fragment's steps with the include's parameters put in (`spec`: the include step's YAML; `where`: its
    keypath; problems reported through `problem(keypath, message)`)."""
    params = dict(fragment.data.get("params") or {})
    given = dict(spec.get("with") or {})
    for name in sorted(set(given) - set(params)):
        problem(where + ("with", name), f"fragment '{fragment.data['id']}' has no parameter '{name}' (its "
                                        f"parameters: {', '.join(params) or 'none'})")
    for name in sorted(set(params) - set(given)):
        problem(where + ("with",), f"fragment '{fragment.data['id']}' needs parameter '{name}' "
                                   f"({params[name]}): add `{name}: ...` under `with`")

    def put(value: Any) -> Any:
        if isinstance(value, str):
            whole = PARAM.fullmatch(value)
            if whole and whole.group(1) in given:
                return given[whole.group(1)]
            return PARAM.sub(lambda m: str(given.get(m.group(1), m.group(0))), value)
        if isinstance(value, list):
            return [put(v) for v in value]
        if isinstance(value, dict):
            return {k: put(v) for k, v in value.items()}
        return value

    return {sid: put(body) for sid, body in (fragment.data.get("steps") or {}).items()}


def unknown_params(fragment: Any) -> list[tuple[tuple, str]]:
    """(keypath, name) of each `${name}` in a fragment's steps that is not one of its parameters."""
    params = set(fragment.data.get("params") or {})
    out = []

    def walk(value: Any, kp: tuple) -> None:
        if isinstance(value, str):
            out.extend((kp, name) for name in PARAM.findall(value) if name not in params)
        elif isinstance(value, list):
            for i, v in enumerate(value):
                walk(v, kp + (i,))
        elif isinstance(value, dict):
            for k, v in value.items():
                walk(v, kp + (k,))

    walk(fragment.data.get("steps") or {}, ("steps",))
    return out
