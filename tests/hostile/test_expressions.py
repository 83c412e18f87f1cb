"""Expressions: every case of expressions.txt is refused, at parse or when it runs, in under a second and a
few MB, with a message and no traceback; and goldkey check reports one written in a definition at its line."""

from __future__ import annotations

import time
import tracemalloc

import pytest

from engine import definitions
from engine.errors import ExpressionError
from engine.expressions import Expression

from ..test_definitions import TOY, copy_defs, edit
from . import corpus

CASES = corpus("expressions.txt")
SCOPE = {"x": "xx", "rows": [[1] * 10] * 10}


def _label(case: str) -> str:
    return case if len(case) <= 40 else f"{case[:30]}…({len(case)} chars)"


@pytest.mark.parametrize("case", CASES, ids=[_label(c) for c in CASES])
def test_each_case_is_refused_quickly_and_small(case):
    tracemalloc.start()
    started = time.perf_counter()
    try:
        with pytest.raises(ExpressionError) as refused:
            Expression(case).evaluate(SCOPE)
        elapsed = time.perf_counter() - started
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert elapsed < 1.0, f"{elapsed:.2f} s"
    assert peak < 8_000_000, f"{peak / 1e6:.1f} MB"
    message = refused.value.message
    assert 5 < len(message) < 400 and "Traceback" not in message and "\n" not in message


def test_run_time_refusals_are_in_chinese_and_quote_the_expression_not_its_values():
    with pytest.raises(ExpressionError) as refused:
        Expression("x * 99999999").evaluate({"x": "秘密"})
    assert refused.value.message == "運算式「x * 99999999」結果過大（超過 100,000 個字元或項目），已停止計算"
    with pytest.raises(ExpressionError, match="^運算式「a / b」無法計算：除以零$"):
        Expression("a / b").evaluate({"a": 1, "b": 0})


def test_parse_time_refusals_say_what_to_do():
    with pytest.raises(ExpressionError, match="at most 2,000: split it"):
        Expression("a" * 3000)
    with pytest.raises(ExpressionError, match="nested too deeply"):
        Expression("-" * 200 + "1")
    with pytest.raises(ExpressionError, match="builds a value of more than 100,000 characters or items; it cannot"):
        Expression("amount > 0 and '%0999999999d' % 1 == 'x'")


def test_ordinary_expressions_still_work():
    assert Expression("sum([a, b, 3])").evaluate({"a": 1, "b": 2}) == 6
    assert Expression("'%05.1f' % 3 + 'x' * 3").evaluate({}) == "003.0xxx"
    assert Expression("len(str(rows))").evaluate(SCOPE) == len(str([[1] * 10] * 10))
    assert Expression("round(a, 2)").evaluate({"a": 1}) == 1


def test_check_reports_a_bomb_at_its_line(tmp_path):
    root = copy_defs(TOY, tmp_path)
    edit(root / "workflows/split.yaml", "balance('cash') > 0", "balance('cash') > 0 and '%0999999999d' % 1 == 'x'")
    assert [str(p) for p in definitions.load(root, display_root="").problems] == [
        "workflows/split.yaml:14:23: condition: 'balance('cash') > 0 and '%0999999999d' % 1 == 'x'' builds a value "
        "of more than 100,000 characters or items; it cannot run"]
