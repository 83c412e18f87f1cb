"""One test module per step kind (engine/steps/<kind>.py): its run semantics, views, words and lint."""

from __future__ import annotations

from engine import definitions

from ..conftest import TOY


def toy_with(**workflows: str) -> definitions.Registry:
    """The toy definitions plus these workflows (id -> YAML), loaded as a folder would be."""
    texts = {p.relative_to(TOY).as_posix(): p.read_text(encoding="utf-8") for p in TOY.rglob("*.yaml")}
    texts.update({f"workflows/{wid}.yaml": text for wid, text in workflows.items()})
    return definitions.load_texts(texts)
