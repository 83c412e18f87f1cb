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


_DIGITS = "零壹貳叁肆伍陸柒捌玖"
_SMALL = ("", "拾", "佰", "仟")
_LARGE = ("", "萬", "億")


def capitals(amount: object) -> str:
    """Money in Chinese capitals (大寫) as vouchers write it: 1234.50 -> 人民幣壹仟貳佰叁拾肆元伍角整."""
    fen = to_fen(amount)
    sign, fen = ("負", -fen) if fen < 0 else ("", fen)
    yuan, jiao, cent = fen // 100, fen // 10 % 10, fen % 10
    words = _integer_words(yuan) + "元" if yuan else ""
    if jiao:
        words += _DIGITS[jiao] + "角"
    elif yuan and cent:
        words += "零"
    if cent:
        words += _DIGITS[cent] + "分"
    return f"人民幣{sign}{words or '零元'}" + ("" if cent else "整")


def _integer_words(number: int) -> str:
    """A whole number in capitals: groups of four digits with 萬/億, a 零 for each run of missing digits."""
    groups = []
    while number:
        groups.append(number % 10000)
        number //= 10000
    out, zero = "", False
    for index in range(len(groups) - 1, -1, -1):
        group = groups[index]
        if group == 0:
            zero = bool(out)
            continue
        if out and (zero or group < 1000):
            out += "零"
        part, gap = "", False
        for pos in range(3, -1, -1):
            digit = group // 10**pos % 10
            if digit == 0:
                gap = bool(part)
                continue
            part += ("零" if gap else "") + _DIGITS[digit] + _SMALL[pos]
            gap = False
        out += part + _LARGE[index]
        zero = False
    return out
