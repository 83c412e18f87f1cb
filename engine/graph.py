"""A workflow's step graph as SVG: steps in layers from the start, the current steps highlighted.

No layout library: steps are placed in layers by their longest distance from the start along forward edges
(edges back to an earlier layer are loops, drawn as curves on the right), ordered in each layer by the
order they were reached. Plain SVG with escaped text, so it can be served as an image or embedded.
"""

from __future__ import annotations

from collections import defaultdict
from html import escape

from .model import Workflow
from .steps import Step
from .wording import condition_words

W, H, GAP_X, GAP_Y, MARGIN = 168, 46, 28, 44, 24


def _layers(wf: Workflow) -> tuple[dict[str, int], list[tuple[str, str, str]]]:
    """Each step's layer, and the edges (from, to, label) in a stable order."""
    steps: dict[str, Step] = {"start": wf.start, **wf.steps}
    edges: list[tuple[str, str, str]] = []
    for sid, step in steps.items():
        labels: dict[str, str] = {}
        for edge in step.edges():
            label = edge.label or (condition_words(edge.when, wf) or "條件成立" if edge.when else "")
            if label:
                labels.setdefault(edge.to, label if len(label) <= 18 else label[:17] + "…")
        for target in dict.fromkeys(e.to for e in step.edges()):
            if target in steps:
                edges.append((sid, target, labels.get(target, "")))
    order: list[str] = []
    seen: set[str] = set()
    back: set[tuple[str, str]] = set()
    stack: set[str] = set()

    def visit(node: str) -> None:  # depth first: an edge to a node on the stack is a loop
        seen.add(node)
        stack.add(node)
        for a, b, _ in edges:
            if a == node:
                if b in stack:
                    back.add((a, b))
                elif b not in seen:
                    visit(b)
        stack.discard(node)
        order.append(node)

    visit("start")
    for sid in steps:  # unreachable steps (a lint error elsewhere) still get a place
        if sid not in seen:
            visit(sid)
    layer = {sid: 0 for sid in steps}
    for node in reversed(order):  # topological order of the forward edges
        for a, b, _ in edges:
            if a == node and (a, b) not in back:
                layer[b] = max(layer[b], layer[a] + 1)
    return layer, [(a, b, label if (a, b) not in back else "↺" + label) for a, b, label in edges]


def svg(wf: Workflow, current: set[str] = frozenset(), done: set[str] = frozenset()) -> str:
    """The SVG text; `current` steps (open tasks, waiting timers) are highlighted, `done` ones shaded."""
    layer, edges = _layers(wf)
    rows: dict[int, list[str]] = defaultdict(list)
    for sid in ["start", *wf.steps]:
        rows[layer[sid]].append(sid)
    width = max(len(r) for r in rows.values()) * (W + GAP_X) - GAP_X + 2 * MARGIN + 60
    height = (max(rows) + 1) * (H + GAP_Y) - GAP_Y + 2 * MARGIN
    pos = {}
    for index, sids in rows.items():
        span = len(sids) * (W + GAP_X) - GAP_X
        left = (width - 60 - span) / 2
        for i, sid in enumerate(sids):
            pos[sid] = (left + i * (W + GAP_X), MARGIN + index * (H + GAP_Y))
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width:.0f} {height:.0f}" '
           f'width="{width:.0f}" height="{height:.0f}" font-family="sans-serif" font-size="13" role="img" '
           f'aria-label="{escape(wf.title)}">',
           '<defs><marker id="a" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" '
           'orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="#555"/></marker></defs>']
    for a, b, label in edges:
        (x1, y1), (x2, y2) = pos[a], pos[b]
        if layer[b] > layer[a]:
            sx, sy, ex, ey = x1 + W / 2, y1 + H, x2 + W / 2, y2
            out.append(f'<line x1="{sx:.0f}" y1="{sy:.0f}" x2="{ex:.0f}" y2="{ey:.0f}" stroke="#555" '
                       'marker-end="url(#a)"/>')
            lx, ly = (sx + ex) / 2 + 4, (sy + ey) / 2
        else:  # a loop back, or an edge within a layer: around the right-hand side
            sx, sy, ex, ey = x1 + W, y1 + H / 2, x2 + W, y2 + H / 2
            bend = max(sx, ex) + 40
            out.append(f'<path d="M{sx:.0f},{sy:.0f} C{bend:.0f},{sy:.0f} {bend:.0f},{ey:.0f} {ex:.0f},{ey:.0f}" '
                       'fill="none" stroke="#999" stroke-dasharray="4 3" marker-end="url(#a)"/>')
            lx, ly = bend - 10, (sy + ey) / 2
        if label:
            out.append(f'<text x="{lx:.0f}" y="{ly:.0f}" fill="#666" font-size="11">{escape(label)}</text>')
    for sid, (x, y) in pos.items():
        step = wf.start if sid == "start" else wf.steps[sid]
        fill = "#fff3b0" if sid in current else "#e8f5e9" if sid in done else step.fill
        stroke, weight = ("#d48806", 3) if sid in current else ("#444", 1)
        title = step.title if len(step.title) <= 12 else step.title[:11] + "…"
        kind = "開始" if sid == "start" else step.word
        shape = "ry=\"23\"" if step.ends_with or sid == "start" else 'ry="6"'
        out.append(f'<g data-step="{escape(sid)}"><title>{escape(step.title)}</title>'
                   f'<rect x="{x:.0f}" y="{y:.0f}" width="{W}" height="{H}" {shape} fill="{fill}" stroke="{stroke}" '
                   f'stroke-width="{weight}"/>'
                   f'<text x="{x + W / 2:.0f}" y="{y + 19:.0f}" text-anchor="middle">{escape(title)}</text>'
                   f'<text x="{x + W / 2:.0f}" y="{y + 36:.0f}" text-anchor="middle" fill="#777" font-size="11">'
                   f'{escape(kind)}</text></g>')
    out.append("</svg>")
    return "\n".join(out)


def positions(view: dict) -> tuple[set[str], set[str]]:
    """(current, done) steps of an instance view: open tasks and timers; steps whose tasks were completed."""
    current = {t["step"] for t in view.get("tasks", [])} | {w["step"] for w in view.get("waiting", [])}
    done = {e["step"] for e in view.get("history", []) if e["type"] == "task_completed" and e["step"]}
    return current, done - current
