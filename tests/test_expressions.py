"""Sandboxed expressions: parsed once, names known, limits enforced quickly, money exact."""

from __future__ import annotations

import time
from decimal import Decimal

import pytest

from engine.errors import ExpressionError
from engine.expressions import Expression


def test_names_and_ledgers_are_found_at_parse_time():
    expr = Expression("nature == '有償' and estimate <= balance('prepaid') and len(rows) > 0")
    assert expr.names == {"nature", "estimate", "rows"}
    assert expr.ledgers == {"prepaid"}


def test_missing_fields_read_as_none():
    assert Expression("prepaid is None").evaluate({}) is True


def test_float_literals_become_decimal():
    value = Expression("amount * 0.1").evaluate({"amount": Decimal("12.30")})
    assert value == Decimal("1.230") and isinstance(value, Decimal)


def test_balance_is_bound_per_evaluation():
    expr = Expression("balance('prepaid') - cost")
    assert expr.evaluate({"cost": Decimal("30")}, lambda ledger: Decimal("100")) == Decimal("70")


@pytest.mark.parametrize("text", [
    "x.__class__",
    "x.upper()",
    "__import__('os')",
    "open('/etc/passwd')",
    "[c for c in 'abc']",
    "lambda: 1",
    "globals()",
    "_secret",
    "balance(x)",
])
def test_unsafe_forms_are_refused_at_parse_time(text):
    with pytest.raises(ExpressionError):
        Expression(text)


@pytest.mark.parametrize("text", ["10**100000000", "'a' * 3e9", "'a' * 3000000000", "9 ** 9 ** 9", "10**999 * 10**999",
                                  "(10**500) ** 3", "2 ** 4000", "-(10**3999) * 10**3999"])
def test_work_and_memory_limits_refuse_quickly(text):
    started = time.perf_counter()
    with pytest.raises(ExpressionError):
        Expression(text).evaluate({})
    assert time.perf_counter() - started < 0.5


def test_type_errors_are_clear():
    with pytest.raises(ExpressionError, match="無法計算"):
        Expression("cost > 3").evaluate({})


def test_syntax_errors_say_where():
    with pytest.raises(ExpressionError, match="column"):
        Expression("a and (b")
