"""Checks on raw input from outside (CLI, API) before it reaches a form: plain, finite, bounded JSON."""

from __future__ import annotations

import math
from decimal import Decimal
from typing import Any

from .errors import Invalid

MAX_DEPTH = 16
MAX_TEXT = 100_000  # characters in one value; forms set tighter limits with maxLength


def check_input(value: Any, field: str = "", depth: int = 0) -> None:
    """Raise Invalid for what no form can hold: lone surrogates, NaN or infinite numbers, text over
    MAX_TEXT characters, nesting deeper than MAX_DEPTH, keys that are not text."""
    if depth > MAX_DEPTH:
        raise Invalid(f"資料層次過深（最多 {MAX_DEPTH} 層）", [{"field": field, "message": "資料層次過深"}])
    if isinstance(value, str):
        if len(value) > MAX_TEXT:
            raise Invalid(f"「{field}」過長（最多 {MAX_TEXT} 字）", [{"field": field, "message": "內容過長"}])
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise Invalid(f"「{field}」含有無效的字元", [{"field": field, "message": "含有無效的字元"}]) from None
    elif isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                raise Invalid("欄位名稱必須是文字", [{"field": field, "message": "欄位名稱必須是文字"}])
            check_input(key, field, depth + 1)
            check_input(item, f"{field}.{key}" if field else key, depth + 1)
    elif isinstance(value, list):
        for i, item in enumerate(value):
            check_input(item, f"{field}.{i}", depth + 1)
    elif isinstance(value, (Decimal, float)) and not (value.is_finite() if isinstance(value, Decimal)
                                                      else math.isfinite(value)):
        raise Invalid(f"「{field}」不是有效的數字", [{"field": field, "message": "不是有效的數字"}])
