"""The shape of the code: the engine is the one API (nothing outside engine/ touches the store), the import graph
of engine/ has no circle, and nothing in engine/ or server/ names a repository procedure or step kind's rules."""

from __future__ import annotations

import ast
import re

from .conftest import REPO


def modules(folder: str) -> dict[str, ast.Module]:
    return {p.relative_to(REPO).as_posix(): ast.parse(p.read_text(encoding="utf-8"))
            for p in sorted((REPO / folder).rglob("*.py"))}


def test_nothing_outside_the_engine_touches_the_store():
    """The server and the CLI go through the Engine (bench/ measures the store itself, beside raw baselines)."""
    found = []
    for folder in ("server",):
        for path, tree in modules(folder).items():
            for node in ast.walk(tree):
                if isinstance(node, ast.Attribute) and node.attr in ("store", "conn"):
                    found.append(f"{path}:{node.lineno}")
                if isinstance(node, ast.ImportFrom) and node.module in ("engine.store", "engine.core"):
                    found.append(f"{path}:{node.lineno} imports {node.module}")
    cli = (REPO / "engine" / "cli.py").read_text(encoding="utf-8")
    assert found == [] and ".store" not in cli and ".conn" not in cli, found


def test_the_engine_imports_form_no_circle():
    graph: dict[str, set[str]] = {}
    for path, tree in modules("engine").items():
        name = path[:-3].replace("/", ".").removesuffix(".__init__")
        package = name if path.endswith("__init__.py") else name.rsplit(".", 1)[0]
        deps = graph.setdefault(name, set())
        for node in tree.body:  # module level only: an import inside a function is a deliberate late one
            if isinstance(node, ast.ImportFrom) and node.level:
                base = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                target = f"{base}.{node.module}" if node.module else base
                deps.add(target)
                deps.update(f"{target}.{a.name}" for a in node.names)
            elif isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
                continue
    graph = {k: {d for d in v if d in graph and d != k} for k, v in graph.items()}
    assert "engine.model" in graph["engine.core"] and "engine.steps.base" in graph["engine.steps.approval"]
    state: dict[str, int] = {}
    path: list[str] = []

    def visit(node: str) -> None:
        state[node] = 1
        path.append(node)
        for dep in sorted(graph[node]):
            assert state.get(dep) != 1, "import circle: " + " -> ".join(path[path.index(dep):] + [dep])
            if dep not in state:
                visit(dep)
        path.pop()
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node)


def test_no_kind_is_named_outside_its_module():
    """Only engine/steps/ knows the kinds: elsewhere, no `kind == "..."` and no kind's class by name (but the
    start step, which is a form step built by engine/definitions.py)."""
    pattern = re.compile(r"""kind\s*(==|!=|in)\s*[("'](form|approval|checklist|print|decision|parallel|join|wait|"""
                         r"""subprocess|end)\b|\b(Form|Approval|Checklist|Print|Decision|Parallel|Join|Wait|Subprocess|"""
                         r"""End)Step\b""")
    found = []
    for folder in ("engine", "server"):
        for path in sorted((REPO / folder).rglob("*")):
            if path.suffix not in (".py", ".html") or "steps" in path.parts:
                continue
            for i, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
                if pattern.search(line) and not (path.name == "definitions.py" and "FormStep" in line):
                    found.append(f"{path.relative_to(REPO)}:{i}: {line.strip()}")
    assert found == [], found
