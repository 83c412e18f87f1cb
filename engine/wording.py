"""Definitions in words staff read: a condition (`nature == '無償'` -> 服務性質為「無償」), a duration, a cron
schedule. Used by the work instruction and the step graph."""

from __future__ import annotations

import ast
import re

from .durations import Duration
from .expressions import Expression
from .model import Workflow

_CRON_DOW = ["日", "一", "二", "三", "四", "五", "六", "日"]


def condition_words(expr: Expression, wf: Workflow) -> str | None:
    """An expression in words, with fields and ledgers by their titles (`nature == '無償'` ->
    服務性質為「無償」); None when it uses something not put into words here."""
    try:
        return _Words(wf).node(expr.tree.value if isinstance(expr.tree, ast.Expr) else expr.tree)
    except _Untranslatable:
        return None


def duration_words(duration: Duration) -> str:
    """A duration as written, with its meaning in Chinese when it is written otherwise: `3 working days`
    -> 3 working days（3個工作日）."""
    n, unit = duration.amount, duration.unit
    if unit == "minutes":
        gloss = f"{n // 60}小時" if n and n % 60 == 0 else f"{n}分鐘"
    elif unit == "days":
        gloss = f"{n // 7}週" if n and n % 7 == 0 and n > 7 else f"{n}天"
    elif unit == "months":
        gloss = f"{n // 12}年" if n and n % 12 == 0 else f"{n}個月"
    elif unit == "working_minutes":
        gloss = f"{n // 60}個工作小時" if n and n % 60 == 0 else f"{n}個工作分鐘"
    else:
        gloss = f"{n}個工作日"
    if re.search(r"[\u4e00-\u9fff]", duration.text) or duration.text.replace(" ", "") == gloss:
        return duration.text
    return f"{duration.text}（{gloss}）"


def cron_words(cron: str) -> str | None:
    """A simple cron schedule in words (`0 9 1 * *` -> 每月1日 09:00); None when it is not simple."""
    parts = cron.split()
    if len(parts) != 5 or not (parts[0].isdigit() and parts[1].isdigit()):
        return None
    minute, hour, dom, month, dow = parts
    at = f"{int(hour):02d}:{int(minute):02d}"
    if (dom, month, dow) == ("*", "*", "*"):
        return f"每天 {at}"
    if dom.isdigit() and (month, dow) == ("*", "*"):
        return f"每月{int(dom)}日 {at}"
    if dom.isdigit() and month.isdigit() and dow == "*":
        return f"每年{int(month)}月{int(dom)}日 {at}"
    if (dom, month) == ("*", "*"):
        days = _cron_days(dow)
        return f"每週{days} {at}" if days else None
    return None


def _cron_days(dow: str) -> str | None:
    names = {"sun": 0, "mon": 1, "tue": 2, "wed": 3, "thu": 4, "fri": 5, "sat": 6}
    out = []
    for part in dow.lower().split(","):
        ends = [names.get(p, int(p) if p.isdigit() else None) for p in part.split("-")]
        if any(e is None or e > 7 for e in ends) or len(ends) > 2:
            return None
        out.append("至週".join(_CRON_DOW[e] for e in ends))
    return "、週".join(out)


class _Untranslatable(Exception):
    pass


class _Words:
    """Expression trees in words; anything unusual raises _Untranslatable (the text as written is shown)."""

    _CMP = {ast.Eq: "為", ast.NotEq: "不為", ast.Lt: "小於", ast.LtE: "小於或等於", ast.Gt: "大於",
            ast.GtE: "大於或等於"}
    _ARITH = {ast.Add: "＋", ast.Sub: "－", ast.Mult: "×", ast.Div: "÷"}

    def __init__(self, wf: Workflow) -> None:
        self.props = wf.form.properties
        self.ledgers = wf.ledgers

    def node(self, node: ast.AST) -> str:
        if isinstance(node, ast.BoolOp):
            joiner = "，且" if isinstance(node.op, ast.And) else "，或"
            return joiner.join(f"（{self.node(v)}）" if isinstance(v, ast.BoolOp) else self.node(v)
                               for v in node.values)
        if isinstance(node, ast.Compare) and len(node.ops) == 1:
            return self.compare(node.left, node.ops[0], node.comparators[0])
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
            if isinstance(node.operand, ast.Name) and node.operand.id in self.props:
                return f"{self.node(node.operand)}未填或為否"
            return f"並非（{self.node(node.operand)}）"
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
            return f"－{self.node(node.operand)}"
        if isinstance(node, ast.BinOp) and type(node.op) in self._ARITH:
            return f"{self.node(node.left)}{self._ARITH[type(node.op)]}{self.node(node.right)}"
        if isinstance(node, ast.Name):
            if node.id in ("True", "False", "None"):
                return {"True": "「是」", "False": "「否」", "None": "空"}[node.id]
            if node.id in self.props:
                return str(self.props[node.id].get("title", node.id))
            raise _Untranslatable(node.id)
        if isinstance(node, ast.Constant):
            return self.constant(node.value)
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and not node.keywords:
            name, args = node.func.id, node.args
            if name == "balance" and len(args) == 1 and isinstance(args[0], ast.Constant):
                ledger = self.ledgers.get(str(args[0].value))
                return f"《{ledger.title if ledger else args[0].value}》餘額"
            if name == "money" and len(args) == 1 and isinstance(args[0], ast.Constant):
                return f"{args[0].value}元"
            if name == "len" and len(args) == 1:
                return f"{self.node(args[0])}的項數"
        if isinstance(node, ast.IfExp):
            return f"（若{self.node(node.test)}則為{self.node(node.body)}，否則為{self.node(node.orelse)}）"
        if isinstance(node, ast.List | ast.Tuple):
            return "、".join(self.node(e) for e in node.elts)
        raise _Untranslatable(ast.dump(node))

    def constant(self, value: object) -> str:
        if isinstance(value, bool):
            return "「是」" if value else "「否」"
        if value is None:
            return "空"
        if isinstance(value, str):
            return f"「{value}」"
        if isinstance(value, int | float):
            return str(value)
        raise _Untranslatable(repr(value))

    def compare(self, left: ast.AST, op: ast.cmpop, right: ast.AST) -> str:
        subject = self.node(left)
        if isinstance(right, ast.Constant) and right.value is None and isinstance(op, ast.Is | ast.Eq):
            return f"{subject}未填"
        if isinstance(right, ast.Constant) and right.value is None and isinstance(op, ast.IsNot | ast.NotEq):
            return f"{subject}已填"
        if isinstance(op, ast.In | ast.NotIn) and isinstance(right, ast.List | ast.Tuple):
            options = "或".join(self.node(e) for e in right.elts)
            return f"{subject}{'為' if isinstance(op, ast.In) else '不為'}{options}"
        if isinstance(op, ast.In | ast.NotIn):
            return f"{subject}{'包含於' if isinstance(op, ast.In) else '不包含於'}{self.node(right)}"
        if type(op) not in self._CMP:
            raise _Untranslatable(ast.dump(op))
        return f"{subject}{self._CMP[type(op)]}{self.node(right)}"
