"""Lint a built workflow: references (roles, fields, ledgers, printouts, workflows) and the step graph.

The checks common to every step are here; each kind adds its own (`Step.lint`, `Step.lint_graph`).
"""

from __future__ import annotations

from collections import deque

from . import spans, words
from .hints import did_you_mean
from .model import Site, Workflow
from .yamlsrc import KeyPath, Problem, Source


class Context:
    """What a kind's lint sees: the workflow, the site, the other workflows, and where to report."""

    def __init__(self, wf: Workflow, source: Source, site: Site, workflows: dict[str, Workflow],
                 broken: set[str]) -> None:
        self.wf, self.source, self.site, self.workflows, self.broken = wf, source, site, workflows, broken
        self.problems: list[Problem] = []
        self.warnings: list[Problem] = []
        self.graph: dict[str, list[str]] = {}

    def problem(self, kp: KeyPath, message: str, key: bool = False) -> None:
        self.problems.append(self.source.problem(kp, message, key))

    def warn(self, kp: KeyPath, message: str, key: bool = False) -> None:
        self.warnings.append(self.source.problem(kp, f"warning: {message}", key))

    def role(self, kp: KeyPath, role: str) -> None:
        """A role named at `kp` must be one of the site's (none: goldkey.yaml is broken, reported there)."""
        if self.site.roles and role not in self.site.roles:
            self.problem(kp, f"unknown role '{role}'{did_you_mean(role, self.site.roles)}; declare it under `roles` "
                             "in goldkey.yaml")

    def reach(self, *starts: str, stop: set[str] | None = None) -> set[str]:
        """The steps reachable from `starts` along the graph (not past `stop`)."""
        return _reach(self.graph, *starts, stop=stop)


def lint_workflow(wf: Workflow, source: Source, site: Site, workflows: dict[str, Workflow],
                  broken: set[str] = frozenset()) -> tuple[list[Problem], list[Problem]]:
    """(problems, warnings) of `wf`, each pointing at the line that causes it."""
    c = Context(wf, source, site, workflows, broken)
    for step in [wf.start, *wf.steps.values()]:
        for i, post in enumerate(step.posts):
            ledger = wf.ledgers.get(post.ledger)
            kp = step.keypath + ("post", i)
            if ledger is None:
                c.problem(kp + ("ledger",), f"unknown ledger '{post.ledger}'{did_you_mean(post.ledger, wf.ledgers)}; "
                                            "declare it under `ledgers`")
            elif post.entry not in ledger.entries:
                c.problem(kp + ("entry",), f"ledger '{post.ledger}' has no entry type '{post.entry}'"
                                           f"{did_you_mean(post.entry, ledger.entries)}")
        step.lint(c)
        for i, name in enumerate(step.fields):
            if name in wf.form.computed:
                c.problem(step.keypath + ("fields", i), f"field '{name}' is computed (`computed:` of form "
                                                        f"'{wf.form.id}'): no step collects it; leave it out of "
                                                        "`fields`")
    for lid, ledger in wf.ledgers.items():
        for entry in ledger.entries:
            if entry not in ledger.entry_titles and entry not in words.ENTRIES:
                c.warn(("ledgers", lid, "entries", entry), f"ledger entry '{entry}' has no title: write `{entry}: "
                                                           f"{{direction: {ledger.entries[entry]}, title: ...}}`",
                       key=True)
    if wf.ledgers and not wf.form.number and not wf.form.stub:
        c.problem(("ledgers",), f"a workflow with ledgers needs document numbers: add `number` to form "
                                f"'{wf.form.id}' (e.g. \"ABC-{{year}}-{{seq:05}}\")")
    _lint_graph(c)
    spans.lint(wf.deadlines, c)
    return c.problems, c.warnings


def _lint_graph(c: Context) -> None:
    steps = c.wf.steps
    dangling = False
    for step in [c.wf.start, *steps.values()]:
        targets = []
        for edge in step.edges():
            if edge.to not in steps:
                hint = did_you_mean(edge.to, steps)
                c.problem(edge.keypath, f"step '{step.id}' goes to '{edge.to}', which is not a step{hint}")
                if hint:  # check the rest of the graph as if it were spelled as meant
                    targets.append(hint.split("'")[1])
                dangling = dangling or not hint
            else:
                targets.append(edge.to)
        c.graph[step.id] = targets
    if dangling:  # unreachable / no-end messages would only echo the broken transition
        return
    ends = [sid for sid, s in steps.items() if s.ends_with]
    if not ends:
        c.problem(("steps",), "the workflow has no end step: add one with `kind: end`")
    reachable = c.reach("start")
    for sid, step in steps.items():
        if sid not in reachable:
            c.problem(step.keypath, f"step '{sid}' cannot be reached from the start; link to it from another step or "
                                    "remove it", key=True)
    reverse: dict[str, list[str]] = {sid: [] for sid in c.graph}
    for sid, targets in c.graph.items():
        for t in targets:
            reverse[t].append(sid)
    ending = _reach(reverse, *ends)
    for sid in sorted(reachable - ending - {"start"}):
        c.problem(steps[sid].keypath, f"from step '{sid}' no end can be reached; add a transition that leads to an "
                                      "end step", key=True)
    for step in steps.values():
        step.lint_graph(c)


def _reach(graph: dict[str, list[str]], *starts: str, stop: set[str] | None = None) -> set[str]:
    seen = set(starts)
    queue = deque(starts)
    while queue:
        node = queue.popleft()
        if stop and node in stop:
            continue
        for nxt in graph.get(node, ()):
            if nxt not in seen:
                seen.add(nxt)
                queue.append(nxt)
    return seen
