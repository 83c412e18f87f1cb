"""Sandboxed expressions over form data: parsed and checked once, evaluated by simpleeval within limits.

What an expression may build and how long it may run is bounded, so that no definition can stall the server:

- at parse time, its length (MAX_TEXT characters), the nesting of its syntax tree (MAX_DEPTH) and its size
  (MAX_NODES); a part made of constants only (`'%0999999999d' % 1`) is evaluated once, and one that breaks a
  limit is refused there, so `goldkey check` reports it at its line;
- at run time, every value any operator, call or name produces: a text at most MAX_SIZE characters, a list or
  tuple at most MAX_SIZE items counted through the lists inside it (`[[0]*99999]*99999` is 10^10), a number
  at most MAX_DIGITS digits; `*`, `+` and `%` refuse before building what would break them, `%` formatting
  refuses widths and precisions beyond MAX_SIZE, `sum` adds numbers only, `round` and `int` refuse huge
  digits; and each evaluation runs at most MAX_STEPS nodes and MAX_SECONDS.

A refusal is an ExpressionError in words staff can read, with the expression shortened, never its values.
"""

from __future__ import annotations

import ast
import math
import threading
import time
from collections.abc import Callable, Mapping
from decimal import Decimal, InvalidOperation
from typing import Any

import simpleeval

from . import exprfuncs, limits
from .errors import ExpressionError
from .limits import DIGITS, MAX_DIGITS, MAX_SIZE, SIZE, TIME, TooMuch
from .money import parse_money

MAX_TEXT = 2000  # characters of one expression
MAX_DEPTH = 64  # nesting of its syntax tree
MAX_NODES = 1000  # nodes of its syntax tree
MAX_STEPS = 200_000  # nodes evaluated in one evaluation
MAX_SECONDS = 0.25  # wall-clock time of one evaluation

CONSTANTS = {"True": True, "False": False, "None": None}

_ALLOWED_NODES = (
    ast.Expr, ast.Expression, ast.BoolOp, ast.BinOp, ast.UnaryOp, ast.Compare, ast.IfExp, ast.Call,
    ast.Name, ast.Constant, ast.Subscript, ast.Slice, ast.List, ast.Tuple, ast.Load,
    ast.And, ast.Or, ast.Not, ast.USub, ast.UAdd, ast.Add, ast.Sub, ast.Mult, ast.Div, ast.FloorDiv,
    ast.Mod, ast.Pow, ast.Eq, ast.NotEq, ast.Lt, ast.LtE, ast.Gt, ast.GtE, ast.In, ast.NotIn, ast.Is,
    ast.IsNot,
)


def _shift(a: Any, b: Any) -> Any:
    raise simpleeval.FeatureNotAvailable("bit shifts are not available in expressions")


def _round(value: Any, digits: Any = None) -> Any:
    if digits is not None and (not isinstance(digits, int) or abs(digits) > MAX_DIGITS):
        raise TooMuch(*DIGITS)
    return round(value) if digits is None else round(value, digits)


def _int(value: Any) -> int:
    if (isinstance(value, Decimal) and limits.digits(value) > MAX_DIGITS) or (isinstance(value, str) and
                                                                       len(value) > MAX_DIGITS):
        raise TooMuch(*DIGITS)
    return int(value)


def _text(value: Any) -> str:
    if limits.size(value) > MAX_SIZE:
        raise TooMuch(*SIZE)
    return str(value)


# Functions an expression may call; `balance` is bound per evaluation to the instance's ledgers.
_PURE_FUNCTIONS: dict[str, Callable[..., Any]] = {
    "len": len,
    "abs": abs,
    "min": min,
    "max": max,
    "sum": exprfuncs.rows_sum,
    "round": _round,
    "int": _int,
    "str": _text,
    "money": parse_money,
    **exprfuncs.PURE,
}
FUNCTIONS = frozenset(_PURE_FUNCTIONS) | {"balance"} | exprfuncs.TIMED

_OPERATORS = dict(simpleeval.DEFAULT_OPERATORS)
_OPERATORS.update({ast.Pow: limits.power, ast.Mult: limits.multiply, ast.Add: limits.add, ast.Mod: limits.modulo,
                   ast.LShift: _shift, ast.RShift: _shift})


class _Bounded(simpleeval.EvalWithCompoundTypes):
    """simpleeval's evaluator counting its steps and time, and checking every value a node produces."""

    steps = 0
    deadline = 0.0

    def eval(self, expr, previously_parsed=None):
        self.steps, self.deadline = 0, time.monotonic() + MAX_SECONDS
        return super().eval(expr, previously_parsed)

    def _eval(self, node):
        self.steps += 1
        if self.steps > MAX_STEPS or (not self.steps & 0xFF and time.monotonic() > self.deadline):
            raise TooMuch(*TIME)
        return limits.bounded(super()._eval(node))


_local = threading.local()


def _evaluator() -> _Bounded:
    ev = getattr(_local, "ev", None)
    if ev is None:
        ev = _local.ev = _Bounded(operators=_OPERATORS)
    return ev


# --- expressions ------------------------------------------------------------------------------------------
class Expression:
    """One compiled expression: its text, parsed tree, and the field names it reads."""

    __slots__ = ("text", "tree", "names", "ledgers")

    def __init__(self, text: str) -> None:
        self.text = text
        shown = _shorten(text)
        if len(text) > MAX_TEXT:
            raise ExpressionError(f"expression '{shown}' is {len(text):,} characters long; at most {MAX_TEXT:,}: "
                                  "split it, or compute a part in a field of its own")
        try:
            body = ast.parse(text.strip()).body
        except SyntaxError as exc:
            raise ExpressionError(f"syntax error in expression '{shown}' at column {exc.offset or 1}: "
                                  f"{exc.msg}") from None
        except (RecursionError, MemoryError):
            raise ExpressionError(f"expression '{shown}' is nested too deeply (at most {MAX_DEPTH} levels)") from None
        if len(body) != 1:
            raise ExpressionError(f"expression '{shown}' is empty: write a condition or a value" if not body else
                                  f"'{shown}' holds {len(body)} expressions (parted by ';' or a new line): write one")
        tree = body[0]
        if not isinstance(tree, ast.Expr):
            raise ExpressionError(f"'{shown}' is a statement; write a single expression")
        _check_shape(tree, shown)
        names: set[str] = set()
        ledgers: set[str] = set()
        called = {id(n.func) for n in ast.walk(tree) if isinstance(n, ast.Call)}
        for node in ast.walk(tree):
            _check_node(node, shown, names, ledgers, called)
        self.tree = tree
        self.names = frozenset(names)
        self.ledgers = frozenset(ledgers)
        _check_constants(tree, shown)

    def evaluate(self, scope: Mapping[str, Any], balance: Callable[[str], Decimal] | None = None,
                 clock: exprfuncs.Clock | None = None) -> Any:
        """Evaluate against `scope` (field -> value, missing fields read as None); `clock`: the time now and the
        site's calendar, for today() and working days."""
        ev = _evaluator()
        ev.names = _Scope(scope)
        ev.functions = dict(_PURE_FUNCTIONS, balance=balance or _no_ledger, **exprfuncs.timed(clock))
        shown = _shorten(self.text)
        try:
            return ev.eval(self.text, previously_parsed=self.tree)
        except TooMuch as exc:
            raise ExpressionError(f"運算式「{shown}」{exc.chinese}，已停止計算") from None
        except simpleeval.InvalidExpression:
            raise ExpressionError(f"運算式「{shown}」含有不允許的寫法") from None
        except ZeroDivisionError:
            raise ExpressionError(f"運算式「{shown}」無法計算：除以零") from None
        except (TypeError, AttributeError):
            raise ExpressionError(f"運算式「{shown}」無法計算（可能有欄位未填寫，或資料類型不符）") from None
        except (ValueError, ArithmeticError, InvalidOperation, OverflowError):
            raise ExpressionError(f"運算式「{shown}」無法計算：數值無效或過大") from None
        except (KeyError, IndexError):
            raise ExpressionError(f"運算式「{shown}」無法計算：沒有這一項") from None
        except (RecursionError, MemoryError):
            raise ExpressionError(f"運算式「{shown}」過於複雜，已停止計算") from None

    def __repr__(self) -> str:
        return f"Expression({self.text!r})"


def _shorten(text: str, length: int = 80) -> str:
    """The expression as a message quotes it: on one line (a line break shown as ⏎), at most `length` characters."""
    text = "⏎".join(text.splitlines())
    return text if len(text) <= length else text[:length - 1] + "…"


def _check_shape(tree: ast.AST, shown: str) -> None:
    """Refuse a tree nested deeper than MAX_DEPTH or bigger than MAX_NODES (walked without recursion)."""
    stack = [(tree, 1)]
    count = 0
    while stack:
        node, depth = stack.pop()
        count += 1
        if depth > MAX_DEPTH:
            raise ExpressionError(f"expression '{shown}' is nested too deeply (at most {MAX_DEPTH} levels)")
        if count > MAX_NODES:
            raise ExpressionError(f"expression '{shown}' has more than {MAX_NODES} parts: split it, or compute a "
                                  "part in a field of its own")
        stack.extend((child, depth + 1) for child in ast.iter_child_nodes(node))


def _check_constants(tree: ast.Expr, shown: str) -> None:
    """Evaluate once each part made of constants only (no field, no ledger): one that breaks a limit is a
    definition error, reported by check (`'%0999999999d' % 1`, `[[0]*99999]*99999 == 1`)."""
    constant: dict[int, bool] = {}
    for node in _postorder(tree.value):
        children = list(ast.iter_child_nodes(node))
        if isinstance(node, ast.Name):
            constant[id(node)] = node.id in CONSTANTS
        elif isinstance(node, ast.Call):
            constant[id(node)] = node.func.id in _PURE_FUNCTIONS and all(constant[id(a)] for a in node.args)
        else:
            constant[id(node)] = all(constant.get(id(c), True) for c in children)
    tops = []
    pending = [tree.value]
    while pending:
        node = pending.pop()
        if constant[id(node)]:
            if not isinstance(node, ast.Constant | ast.Name):
                tops.append(node)
        else:
            pending.extend(c for c in ast.iter_child_nodes(node) if id(c) in constant)
    ev = _evaluator()
    ev.names, ev.functions = _Scope({}), dict(_PURE_FUNCTIONS, balance=_no_ledger)
    for node in tops:
        try:
            ev.eval("", previously_parsed=node)
        except TooMuch as exc:
            raise ExpressionError(f"'{shown}' {exc.english}; it cannot run") from None
        except Exception:  # noqa: BLE001 - other failures depend on where it is used; they are reported then
            continue


def _postorder(root: ast.AST) -> list[ast.AST]:
    out: list[ast.AST] = []
    stack: list[tuple[ast.AST, bool]] = [(root, False)]
    while stack:
        node, done = stack.pop()
        if done:
            out.append(node)
            continue
        stack.append((node, True))
        stack.extend((child, False) for child in ast.iter_child_nodes(node))
    return out


def _check_node(node: ast.AST, text: str, names: set[str], ledgers: set[str], called: set[int]) -> None:
    if not isinstance(node, _ALLOWED_NODES):
        what = type(node).__name__
        hint = " (attribute access is not allowed; use data['key'])" if what == "Attribute" else ""
        raise ExpressionError(f"'{text}' uses {what}, which expressions do not allow{hint}")
    if isinstance(node, ast.Call):
        if not isinstance(node.func, ast.Name) or node.func.id not in FUNCTIONS:
            called = node.func.id if isinstance(node.func, ast.Name) else _shorten(ast.unparse(node.func), 40)
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
        if id(node) not in called and node.id not in CONSTANTS:  # (a field may share a function's name)
            names.add(node.id)
    elif isinstance(node, ast.Constant) and isinstance(node.value, float):
        # money is exact: a literal such as 0.5 becomes Decimal('0.5'), never a float
        if not math.isfinite(node.value):
            raise ExpressionError(f"'{text}': {node.value} is not a number an expression may use")
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
