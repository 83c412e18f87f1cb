"""The bounds shared by expressions and printout templates: how large a value may grow, checked before an
operator builds it where it can be, and after every step otherwise."""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Any

MAX_DIGITS = 1000  # no form or ledger needs a bigger number; far bigger ones cost seconds of CPU
MAX_SIZE = 100_000  # characters of a text; items of a list, counted through the lists inside it


class TooMuch(Exception):
    """An evaluation broke a limit; `reason` is (in English for check, in Chinese for staff)."""

    def __init__(self, english: str, chinese: str) -> None:
        super().__init__(english)
        self.english, self.chinese = english, chinese


SIZE = (f"builds a value of more than {MAX_SIZE:,} characters or items", f"結果過大（超過 {MAX_SIZE:,} 個字元或項目）")
DIGITS = (f"makes a number of more than {MAX_DIGITS} digits", f"數字過大（超過 {MAX_DIGITS} 位）")
TIME = ("takes too long to compute", "計算時間過長")


def size(value: Any, limit: int = MAX_SIZE) -> int:
    """Characters of a text, or items of a list counted through the texts and lists inside it (a shared one each
    time it appears), stopping as soon as the count passes `limit`. Lists of plain values are measured in C."""
    if isinstance(value, str | bytes):
        return len(value)
    if not isinstance(value, _CONTAINERS):
        return 0
    items = value.values() if isinstance(value, dict) else value
    total = len(items)
    if total > limit or not set(map(type, items)) & _NESTED:
        return total
    for item in items:
        if isinstance(item, str | bytes):
            total += len(item)
        elif isinstance(item, _CONTAINERS):  # (nesting is bounded by the tree's depth: no deep recursion)
            total += size(item, limit - total)
        if total > limit:
            break
    return total


_CONTAINERS = (list, tuple, set, frozenset, dict)
_NESTED = {str, bytes, *_CONTAINERS}


def digits(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | Decimal) or value == 0:
        return 0
    if isinstance(value, Decimal):
        return value.adjusted() + 1 if value.is_finite() else 0
    return value.bit_length() * 0.30103


def bounded(value: Any) -> Any:
    """`value`, unless it breaks a size limit."""
    if isinstance(value, int | Decimal) and not isinstance(value, bool):
        if digits(value) > MAX_DIGITS:
            raise TooMuch(*DIGITS)
    elif size(value) > MAX_SIZE:
        raise TooMuch(*SIZE)
    return value


# --- operators and functions that check before they build ------------------------------------------------
def power(a: Any, b: Any) -> Any:
    if isinstance(b, int | Decimal) and not isinstance(b, bool) and not (isinstance(a, int | Decimal) and
                                                                          abs(a) in (0, 1)):
        if abs(b) > MAX_DIGITS or digits(a) * abs(b) > MAX_DIGITS:
            raise TooMuch(*DIGITS)
    return a ** b


def _repeat_count(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def multiply(a: Any, b: Any) -> Any:
    for seq, times in ((a, _repeat_count(b)), (b, _repeat_count(a))):
        if times is not None and isinstance(seq, str | list | tuple):
            if times > 0 and size(seq) * times > MAX_SIZE:
                raise TooMuch(*SIZE)
            return seq * times
    if digits(a) + digits(b) > MAX_DIGITS:
        raise TooMuch(*DIGITS)
    return a * b


def add(a: Any, b: Any) -> Any:
    if isinstance(a, str | list | tuple) and isinstance(b, str | list | tuple) and size(a) + size(b) > MAX_SIZE:
        raise TooMuch(*SIZE)
    return a + b


_FORMAT = re.compile(r"%(?:\([^)]*\))?[-+ #0]*(\*|\d+)?(?:\.(\*|\d+))?")


def modulo(a: Any, b: Any) -> Any:
    if isinstance(a, str):  # `%` formatting: no width or precision that builds a huge text
        for width, precision in _FORMAT.findall(a):
            for part in (width, precision):
                if part == "*" or (part and int(part) > MAX_SIZE):
                    raise TooMuch(*SIZE)
    return a % b
