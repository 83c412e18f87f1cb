"""What `goldkey check` can tell of an expression from the form's schema before it runs: a field compared with a
choice it does not have (`condition == '完整'` where the choices are 完好/損壞/遺失), or with a value of another kind
(money with the text `'0'`, a date with a number, a yes/no with a word) — each would be a bad-data error at run
time, or a condition that is never true."""

from __future__ import annotations

import ast
from datetime import date, datetime

from .hints import did_you_mean

_ORDERING = (ast.Lt, ast.LtE, ast.Gt, ast.GtE)


def kind(schema: dict) -> str:
    """The kind of value a field holds: money, date, date-time, number, boolean, list, text (or '' unknown)."""
    fmt = schema.get("format")
    if fmt in ("money", "date", "date-time"):
        return fmt
    return {"integer": "number", "number": "number", "boolean": "boolean", "array": "list", "object": "table",
            "string": "text"}.get(schema.get("type"), "")


_WORDS = {"money": "an amount of money", "date": "a date", "date-time": "a date and time", "number": "a number",
          "boolean": "yes/no", "list": "a list", "table": "a table", "text": "text"}


def problems(tree: ast.AST, props: dict) -> list[str]:
    """Every comparison in `tree` that cannot be what was meant, in words with a fix."""
    out: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Compare):
            operands = [node.left, *node.comparators]
            for op, left, right in zip(node.ops, operands, operands[1:], strict=False):
                out += _pair(op, left, right, props) or _pair(op, right, left, props)
    return out


def _field(node: ast.AST, props: dict) -> tuple[str, dict] | None:
    if isinstance(node, ast.Name) and isinstance(props.get(node.id), dict):
        return node.id, props[node.id]
    return None


def _constants(node: ast.AST) -> list | None:
    """The constant (or the constants of a literal list or tuple) of `node`, or None when it is not constant."""
    if isinstance(node, ast.Constant):
        return [node.value]
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub) and isinstance(node.operand, ast.Constant):
        return [-node.operand.value] if isinstance(node.operand.value, int | float) else None
    if isinstance(node, ast.List | ast.Tuple) and all(isinstance(e, ast.Constant) for e in node.elts):
        return [e.value for e in node.elts]
    return None


def _pair(op: ast.cmpop, one: ast.AST, other: ast.AST, props: dict) -> list[str]:
    found = _field(one, props)
    if found is None:
        return []
    name, schema = found
    mine = kind(schema)
    theirs = _field(other, props)
    if theirs is not None:
        their_kind = kind(theirs[1])
        if mine and their_kind and not _comparable(mine, their_kind):
            return [f"'{name}' ({_WORDS[mine]}) is compared with '{theirs[0]}' ({_WORDS[their_kind]}): compare values "
                    "of one kind"]
        return []
    values = _constants(other)
    if values is None or (isinstance(op, ast.In | ast.NotIn) and not isinstance(other, ast.List | ast.Tuple)):
        return []
    values = [v for v in values if v is not None]
    out = []
    for value in values:
        wrong = _wrong_kind(mine, value)
        if wrong:
            out.append(f"'{name}' is {_WORDS[mine]} but is compared with {wrong}")
            continue
        choices = schema.get("enum")
        if choices and not isinstance(op, _ORDERING) and value not in choices:
            shown = ", ".join(str(c) for c in choices)
            out.append(f"'{name}' is compared with '{value}', which is not one of its choices ({shown})"
                       f"{did_you_mean(str(value), [str(c) for c in choices])}")
    return out


def _comparable(a: str, b: str) -> bool:
    return a == b or {a, b} <= {"money", "number"} or {a, b} <= {"date", "date-time"}


def _wrong_kind(mine: str, value) -> str:
    """How a constant does not fit a field of kind `mine` ('' when it may)."""
    if mine in ("money", "number"):
        if isinstance(value, str):
            return f"the text '{value}': write it without quotes ({value})" if _is_number(value) else \
                f"the text '{value}'"
        if isinstance(value, bool):
            return f"{value}"
    elif mine in ("date", "date-time"):
        if isinstance(value, int | float) and not isinstance(value, bool):
            return f"the number {value}: compare with a date in quotes, e.g. '2026-12-01', or use days_between()"
        if isinstance(value, str) and not _is_date(value):
            return f"'{value}', which is not a date (write e.g. '2026-12-01')"
    elif mine == "boolean":
        if not isinstance(value, bool):
            return f"{value!r}: compare it with True or False"
    elif mine == "text":
        if isinstance(value, bool) or isinstance(value, int | float):
            return f"the number {value}: put it in quotes ('{value}') to compare text"
    return ""


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _is_date(text: str) -> bool:
    try:
        (date.fromisoformat if len(text) == 10 else datetime.fromisoformat)(text)
    except ValueError:
        return False
    return True
