"""Exact money: decimal strings at the edges, Decimal in expressions, integer fen in ledgers."""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation

from .errors import ExpressionError

MONEY_PATTERN = r"^-?\d{1,12}(\.\d{1,2})?$"
_MONEY_RE = re.compile(MONEY_PATTERN)
_CENT = Decimal("0.01")


def parse_money(value: object) -> Decimal:
    """Read a money value (decimal string, int or Decimal, never float) as a Decimal of yuan."""
    if isinstance(value, bool) or isinstance(value, float):
        raise ExpressionError(f"金額 {value!r} 必須是精確的十進位數，例如 \"1234.50\"")
    if isinstance(value, Decimal):
        amount = value
    elif isinstance(value, int):
        amount = Decimal(value)
    elif isinstance(value, str) and _MONEY_RE.match(value.strip()):
        amount = Decimal(value.strip())
    else:
        raise ExpressionError(f"「{value}」不是有效金額，例如 \"1234.50\"")
    if amount != amount.quantize(_CENT):
        raise ExpressionError(f"金額 {amount} 最多只能有兩位小數")
    return amount


def canonical(value: object) -> str:
    """The stored form of a money value: '1234.50'."""
    return f"{parse_money(value).quantize(_CENT)}"


def is_money_text(value: object) -> bool:
    return isinstance(value, str) and bool(_MONEY_RE.match(value))


def to_fen(amount: object) -> int:
    """Yuan (Decimal, int or money text) to integer fen, exactly."""
    try:
        return int(parse_money(amount) * 100)
    except InvalidOperation as exc:  # pragma: no cover - parse_money guards this
        raise ExpressionError(f"金額無效：{amount}") from exc


def from_fen(fen: int) -> Decimal:
    return (Decimal(fen) / 100).quantize(_CENT)


def fen_text(fen: int) -> str:
    """Integer fen as canonical money text."""
    return f"{from_fen(fen)}"


def yuan_label(fen: int) -> str:
    """Integer fen as '¥1,234.50' for people."""
    return f"¥{from_fen(fen):,.2f}"
