"""Sandboxed expressions over form data: parsed and checked once, evaluated with simpleeval's limits."""

from __future__ import annotations

import ast
import math
import threading
from collections.abc import Callable, Mapping
from decimal import Decimal, InvalidOperation
from typing import Any

import simpleeval

from .errors import ExpressionError
from .money import parse_money

# Functions an expression may call; `balance` is bound per evaluation to the instance's ledgers.
_PURE_FUNCTIONS: dict[str, Callable[..., Any]] = {
    "len": len,
    "abs": abs,
    "min": min,
    "max": max,
    "sum": sum,
    "round": round,
    "int": int,
    "str": str,
    "money": parse_money,
}
FUNCTIONS = frozenset(_PURE_FUNCTIONS) | {"balance"}
CONSTANTS = {"True": True, "False": False, "None": None}

_ALLOWED_NODES = (
    ast.Expr, ast.Expression, ast.BoolOp, ast.BinOp, ast.UnaryOp, ast.Compare, ast.IfExp, ast.Call,
    ast.Name, ast.Constant, ast.Subscript, ast.Slice, ast.List, ast.Tuple, ast.Load,
    ast.And, ast.Or, ast.Not, ast.USub, ast.UAdd, ast.Add, ast.Sub, ast.Mult, ast.Div, ast.FloorDiv,
    ast.Mod, ast.Pow, ast.Eq, ast.NotEq, ast.Lt, ast.LtE, ast.Gt, ast.GtE, ast.In, ast.NotIn, ast.Is,
    ast.IsNot,
)


class Expression:
    """One compiled expression: its text, parsed tree, and the field names it reads."""

    __slots__ = ("text", "tree", "names", "ledgers")

    def __init__(self, text: str) -> None:
        self.text = text
        try:
            tree = simpleeval.SimpleEval.parse(text)
        except SyntaxError as exc:
            raise ExpressionError(f"syntax error in expression '{text}' at column {exc.offset or 1}: "
                                  f"{exc.msg}") from None
        if not isinstance(tree, ast.Expr):
            raise ExpressionError(f"'{text}' is a statement; write a single expression")
        names: set[str] = set()
        ledgers: set[str] = set()
        for node in ast.walk(tree):
            _check_node(node, text, names, ledgers)
        self.tree = tree
        self.names = frozenset(names)
        self.ledgers = frozenset(ledgers)

    def evaluate(self, scope: Mapping[str, Any], balance: Callable[[str], Decimal] | None = None) -> Any:
        """Evaluate against `scope` (field -> value, missing fields read as None)."""
        ev = _evaluator()
        ev.names = _Scope(scope)
        ev.functions = dict(_PURE_FUNCTIONS, balance=balance or _no_ledger)
        try:
            return ev.eval(self.text, previously_parsed=self.tree)
        except simpleeval.InvalidExpression as exc:
            raise ExpressionError(f"運算式「{self.text}」被拒絕：{exc}") from None
        except (TypeError, ValueError, ArithmeticError, InvalidOperation, KeyError, IndexError) as exc:
            raise ExpressionError(f"運算式「{self.text}」無法計算（可能有欄位未填寫）：{exc}") from None
        except RecursionError:  # pragma: no cover - defensive
            raise ExpressionError(f"運算式「{self.text}」過於複雜") from None

    def __repr__(self) -> str:
        return f"Expression({self.text!r})"


def _check_node(node: ast.AST, text: str, names: set[str], ledgers: set[str]) -> None:
    if not isinstance(node, _ALLOWED_NODES):
        what = type(node).__name__
        hint = " (attribute access is not allowed; use data['key'])" if what == "Attribute" else ""
        raise ExpressionError(f"'{text}' uses {what}, which expressions do not allow{hint}")
    if isinstance(node, ast.Call):
        if not isinstance(node.func, ast.Name) or node.func.id not in FUNCTIONS:
            called = node.func.id if isinstance(node.func, ast.Name) else ast.unparse(node.func)
            raise ExpressionError(f"'{text}' calls unknown function '{called}'; "
                                  f"allowed: {', '.join(sorted(FUNCTIONS))}")
        if node.keywords:
            raise ExpressionError(f"'{text}': keyword arguments are not allowed")
        if node.func.id == "balance":
            arg = node.args[0] if len(node.args) == 1 else None
            if not (isinstance(arg, ast.Constant) and isinstance(arg.value, str)):
                raise ExpressionError(f"'{text}': balance() takes one ledger id in quotes, e.g. balance('prepaid')")
            ledgers.add(arg.value)
    elif isinstance(node, ast.Name):
        if node.id.startswith("_"):
            raise ExpressionError(f"'{text}': names starting with '_' are not allowed")
        if node.id not in FUNCTIONS and node.id not in CONSTANTS:
            names.add(node.id)
    elif isinstance(node, ast.Constant) and isinstance(node.value, float):
        # money is exact: a literal such as 0.5 becomes Decimal('0.5'), never a float
        node.value = Decimal(repr(node.value))


class _Scope(dict):
    """Field values by name; a field that was never filled reads as None."""

    def __init__(self, data: Mapping[str, Any]) -> None:
        super().__init__(CONSTANTS)
        self.update(data)

    def __missing__(self, key: str) -> None:
        return None


def _no_ledger(ledger: str) -> Decimal:
    raise ExpressionError(f"balance('{ledger}') is only available inside a workflow with that ledger")


MAX_DIGITS = 1000  # no form or ledger needs a bigger number; far bigger ones cost seconds of CPU


def _digits(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, Decimal)) or value == 0:
        return 0
    return math.log10(abs(value)) + 1 if isinstance(value, Decimal) else value.bit_length() * 0.30103


def _too_big(a: Any, b: Any) -> None:
    raise simpleeval.NumberTooHigh(f"the result would have more than {MAX_DIGITS} digits ({a!r:.20}, {b!r:.20})")


def _power(a: Any, b: Any) -> Any:
    if isinstance(b, (int, Decimal)) and not isinstance(b, bool) and abs(a) not in (0, 1) and (
            abs(b) > MAX_DIGITS or _digits(a) * abs(b) > MAX_DIGITS):
        _too_big(a, b)
    return simpleeval.safe_power(a, b)


def _multiply(a: Any, b: Any) -> Any:
    if _digits(a) + _digits(b) > MAX_DIGITS:
        _too_big(a, b)
    return simpleeval.safe_mult(a, b)


def _shift(a: Any, b: Any) -> Any:
    raise simpleeval.FeatureNotAvailable("bit shifts are not available in expressions")


_OPERATORS = dict(simpleeval.DEFAULT_OPERATORS)
_OPERATORS.update({ast.Pow: _power, ast.Mult: _multiply, ast.LShift: _shift, ast.RShift: _shift})
_local = threading.local()


def _evaluator() -> simpleeval.EvalWithCompoundTypes:
    ev = getattr(_local, "ev", None)
    if ev is None:
        ev = _local.ev = simpleeval.EvalWithCompoundTypes(operators=_OPERATORS)
    return ev
