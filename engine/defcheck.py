"""Checks the definition builders share: an expression compiled and its names checked, a list of names known."""

from __future__ import annotations

from typing import Any

from . import exprtypes
from .errors import ExpressionError
from .expressions import Expression
from .hints import did_you_mean
from .yamlsrc import KeyPath, Problem, Source

RESERVED = frozenset({"parent"})  # names an expression may read beside the form's fields: the parent instance


def compile_at(source: Source, keypath: KeyPath, text: Any, names: set[str] | dict | None, problems: list[Problem],
               what: str, ledgers: dict | None = None) -> Expression | None:
    """Compile an expression and check every name against `names` (None: the form is broken, skip)."""
    try:
        expr = Expression(str(text))
    except ExpressionError as exc:
        problems.append(source.problem(keypath, f"{what}: {exc.message}"))
        return None
    for name in sorted(expr.names - set(names) - RESERVED) if names is not None else ():
        problems.append(source.problem(keypath, f"{what} '{expr.text}' names unknown field '{name}'"
                                                f"{did_you_mean(name, names)}; it must be a field"
                                                " of the form"))
    if isinstance(names, dict):  # (the form's schemas: what each field holds)
        for message in exprtypes.problems(expr.tree, names):
            problems.append(source.problem(keypath, f"{what} '{expr.text}': {message}"))
    for ledger in sorted(expr.ledgers - set(ledgers or {})):
        problems.append(source.problem(keypath, f"{what} '{expr.text}' reads unknown ledger '{ledger}'"
                                                f"{did_you_mean(ledger, ledgers or {})}; declare it "
                                                "under `ledgers`"))
    return expr


def check_fields(source: Source, keypath: KeyPath, fields: list, known, problems: list[Problem],
                  what: str = "field") -> None:
    for i, name in enumerate(fields or []):
        if name not in known:
            problems.append(source.problem(keypath + (i,), f"unknown {what} '{name}'"
                                                           f"{did_you_mean(name, known)}"))
