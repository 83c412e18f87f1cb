"""Hostile input, as an attacker or a careless administrator would write it: one corpus file per family,
each case refused with a clear message, within bounds of time and memory, never a traceback."""

from __future__ import annotations

from pathlib import Path

HERE = Path(__file__).resolve().parent


def corpus(name: str) -> list[str]:
    """The cases of `name` (one a line; `#` starts a comment; a line `= <python>` is built by that Python)."""
    out = []
    for line in (HERE / name).read_text(encoding="utf-8").splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        out.append(eval(line[1:], {}) if line.startswith("=") else line)  # noqa: S307 - the corpus is ours
    return out
