"""Lint a built workflow: references (roles, fields, ledgers, printouts, workflows) and the step graph."""

from __future__ import annotations

from collections import deque

from .definitions import Site, Step, Workflow
from .metaschema import did_you_mean
from .yamlsrc import Problem, Source


def lint_workflow(wf: Workflow, source: Source, site: Site, workflows: dict[str, Workflow],
                  broken: set[str] = frozenset()) -> list[Problem]:
    """Every reference and graph problem of `wf`, each pointing at the line that causes it."""
    problems: list[Problem] = []
    p = problems.append
    fields = wf.form.properties
    for step in [wf.start, *wf.steps.values()]:
        kp = step.keypath
        roles = [(kp + ("roles", i), role) for i, role in enumerate(step.roles)]
        roles += [(kp + ("deadlines", i, rung.action, j), role) for i, rung in enumerate(step.ladder)
                  for j, role in enumerate(rung.roles)]
        for where, role in roles:
            if site.roles and role not in site.roles:  # no roles: goldkey.yaml is broken, reported there
                p(source.problem(where, f"unknown role '{role}'{did_you_mean(role, site.roles)}; "
                                        "declare it under `roles` in goldkey.yaml"))
        for i, role in enumerate(step.required_roles):
            if role not in step.roles:
                p(source.problem(kp + ("required_roles", i), f"required role '{role}' is not one of the step's "
                                                             "roles; add it to `roles`"))
        for i, name in enumerate(step.fields):
            if name not in fields and not wf.form.stub:
                p(source.problem(kp + ("fields", i), f"unknown field '{name}'{did_you_mean(name, fields)}; "
                                                     f"form '{wf.form.id}' has no such field"))
        for name in sorted(step.required - set(step.fields)):
            p(source.problem(kp + ("required",), f"required field '{name}' is not among the step's `fields`"))
        for i, post in enumerate(step.posts):
            ledger = wf.ledgers.get(post.ledger)
            if ledger is None:
                p(source.problem(kp + ("post", i, "ledger"), f"unknown ledger '{post.ledger}'"
                                                             f"{did_you_mean(post.ledger, wf.ledgers)}; declare "
                                                             "it under `ledgers`"))
            elif post.entry not in ledger.entries:
                hint = did_you_mean(post.entry, ledger.entries)
                p(source.problem(kp + ("post", i, "entry"), f"ledger '{post.ledger}' has no entry type "
                                                            f"'{post.entry}'{hint}"))
        _lint_kind(wf, step, source, workflows, broken, p)
    if wf.ledgers and not wf.form.number and not wf.form.stub:
        p(source.problem(("ledgers",), f"a workflow with ledgers needs document numbers: add `number` to form "
                                       f"'{wf.form.id}' (e.g. \"ABC-{{year}}-{{seq:05}}\")"))
    problems += _lint_graph(wf, source)
    return problems


def _lint_kind(wf: Workflow, step: Step, source: Source, workflows: dict[str, Workflow], broken: set[str],
               p) -> None:
    kp = step.keypath
    if step.kind == "print" and step.printout and step.printout not in wf.form.printouts and not wf.form.stub:
        p(source.problem(kp + ("printout",), f"form '{wf.form.id}' has no printout '{step.printout}'"
                                             f"{did_you_mean(step.printout, wf.form.printouts)}; declare it under "
                                             "the form's `printouts`"))
    if step.kind == "checklist":
        seen: set[str] = set()
        for i, item in enumerate(step.items):
            if item["id"] in seen:
                p(source.problem(kp + ("items", i, "id"), f"duplicate checklist item id '{item['id']}'"))
            seen.add(item["id"])
        if all(item.get("optional") for item in step.items):
            p(source.problem(kp + ("items",), "every item is optional: mark at least one item as required"))
    if step.kind == "approval":
        if isinstance(step.approvals, int) and step.approvals > 1 and "approve" not in step.outcomes:
            p(source.problem(kp + ("outcomes",), "an approval needing several signatures must have an "
                                                 "'approve' outcome"))
        if step.order == "sequence" and step.approvals != "all":
            p(source.problem(kp + ("order",), "order: sequence needs approvals: all (one signature per role, in "
                                              "the order of `roles`)"))
    if step.kind == "subprocess":
        child = workflows.get(step.workflow)
        if child is None and step.workflow not in broken:
            p(source.problem(kp + ("workflow",), f"unknown workflow '{step.workflow}'"
                                                 f"{did_you_mean(step.workflow, workflows)}"))
        elif child is not None:
            ends = child.end_outcomes()
            unknown = [name for name in step.outcomes if name not in ends]
            for name in step.outcomes:
                if name not in ends:
                    p(source.problem(kp + ("outcomes", name), f"workflow '{child.id}' never ends with outcome "
                                                              f"'{name}'{did_you_mean(name, ends)} (its outcomes: "
                                                              f"{', '.join(ends)})", key=True))
            for name in step.data:
                if name not in child.form.properties and not child.form.stub:
                    p(source.problem(kp + ("data", name), f"form '{child.form.id}' of workflow '{child.id}' has "
                                                          f"no field '{name}'"
                                                          f"{did_you_mean(name, child.form.properties)}", key=True))
        if not step.next and not step.outcomes:
            p(source.problem(kp, "a subprocess needs `next` or `outcomes` to say where to go when it ends"))
        elif not step.next and child is not None and not unknown and set(ends) - set(step.outcomes):
            missing = ", ".join(sorted(set(child.end_outcomes()) - set(step.outcomes)))
            p(source.problem(kp + ("outcomes",), f"outcomes {missing} of workflow '{child.id}' lead nowhere; "
                                                 "list them or add `next`"))
    if step.kind == "form" and step.next and step.outcomes:
        p(source.problem(kp + ("outcomes",), "give either `next` or `outcomes`, not both"))
    if step.kind == "form" and not step.next and not step.outcomes:
        p(source.problem(kp, "a form step needs `next` (or `outcomes`) to say where to go"))


def _lint_graph(wf: Workflow, source: Source) -> list[Problem]:
    problems: list[Problem] = []
    steps = wf.steps
    graph: dict[str, list[str]] = {}
    dangling = False
    for step in [wf.start, *steps.values()]:
        targets = []
        for target, kp in step.edges():
            if target not in steps:
                hint = did_you_mean(target, steps)
                problems.append(source.problem(kp, f"step '{step.id}' goes to '{target}', which is not a step"
                                                   f"{hint}"))
                if hint:  # check the rest of the graph as if it were spelled as meant
                    targets.append(hint.split("'")[1])
                dangling = dangling or not hint
            else:
                targets.append(target)
        graph[step.id] = targets
    if dangling:  # unreachable / no-end messages would only echo the broken transition
        return problems
    if not any(s.kind == "end" for s in steps.values()):
        problems.append(source.problem(("steps",), "the workflow has no end step: add one with `kind: end`"))
    reachable = _reach(graph, "start")
    for sid, step in steps.items():
        if sid not in reachable:
            problems.append(source.problem(step.keypath, f"step '{sid}' cannot be reached from the start; link "
                                                         "to it from another step or remove it", key=True))
    reverse: dict[str, list[str]] = {sid: [] for sid in graph}
    for sid, targets in graph.items():
        for t in targets:
            reverse[t].append(sid)
    ending = _reach(reverse, *(sid for sid, s in steps.items() if s.kind == "end"))
    for sid in sorted(reachable - ending - {"start"}):
        problems.append(source.problem(steps[sid].keypath, f"from step '{sid}' no end can be reached; add a "
                                                           "transition that leads to an end step", key=True))
    joins = {}
    for sid, step in steps.items():
        if step.kind != "parallel" or not step.join:
            continue
        join = steps.get(step.join)
        if join is None:
            problems.append(source.problem(step.keypath + ("join",), f"parallel '{sid}' names join '{step.join}', "
                                                                     f"which is not a step"
                                                                     f"{did_you_mean(step.join, steps)}"))
            continue
        if join.kind != "join":
            problems.append(source.problem(step.keypath + ("join",), f"parallel '{sid}' names '{step.join}' as "
                                                                     f"its join, but that step is a {join.kind}; "
                                                                     "make it `kind: join`"))
            continue
        if step.join in joins:
            problems.append(source.problem(step.keypath + ("join",), f"join '{step.join}' already closes "
                                                                     f"parallel '{joins[step.join]}'; give each "
                                                                     "parallel its own join"))
        joins[step.join] = sid
        for i, branch in enumerate(step.split):
            if branch in steps and step.join not in _reach(graph, branch, stop={step.join}):
                problems.append(source.problem(step.keypath + ("branches", i), f"branch '{branch}' of parallel "
                                                                               f"'{sid}' never reaches its join "
                                                                               f"'{step.join}'"))
    bad_joins = any(s.kind == "parallel" and s.join not in joins for s in steps.values())
    for sid, step in steps.items():
        if step.kind == "join" and sid not in joins and not bad_joins:
            problems.append(source.problem(step.keypath, f"join '{sid}' closes no parallel; name it as the "
                                                         "`join` of a parallel step", key=True))
    return problems


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
