"""The work instruction (作業指導書) of a workflow, written as a Word document from its definition.

Everything in it is read from the loaded workflow, its form and the site settings: the purpose and scope,
who does what (三、職責), every step in reading order with its roles, fields, approval rule, conditions,
deadlines and their ladder, holds and ledger postings (四、工作程序), and the form, printouts, ledgers,
schedules and targets (五、表單與記錄). Regenerating it after a change to the YAML keeps the paper manual
the same as what the engine enforces.

Steps are numbered 4.1 (the start), 4.2, ... in the reverse postorder of a depth-first walk from the first
step that takes each step's exits in their written order: every step comes after the steps that lead to it
(loops back excepted), so the main line reads first, a join follows all of its branches, and side paths
(rework, refusals, lapses) come after the line they leave.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterable
from datetime import date, datetime, time
from pathlib import Path
from typing import BinaryIO

import docx
from docx.document import Document as DocxDocument
from docx.enum.table import WD_TABLE_ALIGNMENT
from docx.enum.text import WD_ALIGN_PARAGRAPH
from docx.oxml import OxmlElement
from docx.oxml.ns import qn
from docx.shared import Mm, Pt, RGBColor
from docx.table import Table
from docx.text.paragraph import Paragraph

from .deadlines import Rung
from .definitions import Registry, Step, Workflow
from .durations import Duration
from .expressions import Expression
from .money import fen_text

LATIN_FONT = "Times New Roman"
BODY_FONT = "SimSun"  # 宋體
HEADING_FONT = "SimHei"  # 黑體
CODE_FONT = "Consolas"
EAST_ASIAN_LANG = "zh-TW"  # the procedures are written in traditional characters
BLACK = RGBColor(0, 0, 0)
GREY = RGBColor(0x59, 0x59, 0x59)

Seg = tuple[str, str]  # (text, format): "" plain, "b" bold, "c" code (an expression as written)

_KIND = {"form": "填寫", "approval": "審批", "checklist": "核對勾選", "print": "列印", "decision": "判斷（系統自動）",
         "parallel": "並行（系統自動）", "join": "匯合（系統自動）", "wait": "等待（系統自動）",
         "subprocess": "子流程（系統自動）", "end": "結束"}
# common outcome names in words (what staff choose when they complete a task)
_OUTCOMES = {"approve": "同意", "reject": "不同意", "rework": "退回修改", "pass": "合格", "fail": "不合格",
             "agree": "同意", "decline": "不同意", "accept": "接受", "refuse": "拒絕", "continue": "繼續",
             "stop": "終止", "cancel": "取消", "confirmed": "確認", "resolved": "已解決", "not_resolved": "未解決",
             "qualified": "合格", "unqualified": "不合格", "fixed": "已修復", "yes": "是", "no": "否", "done": "完成",
             "go": "繼續", "completed": "完成", "rejected": "不予批准", "approved": "批准"}
_ENTRIES = {"deposit": "存入", "expense": "支出", "top_up": "加付", "refund": "退還", "deduct": "扣除",
            "charge": "收費", "payment": "付款", "fee": "收費", "withdraw": "提取"}
_WEEKDAYS = {"mon": "一", "tue": "二", "wed": "三", "thu": "四", "fri": "五", "sat": "六", "sun": "日"}
_CRON_DOW = ["日", "一", "二", "三", "四", "五", "六", "日"]
_NUMERALS = "零一兩三四五六七八九十"
_RUN = re.compile(r"\{run(?::([^}]*))?\}")


def write_manual(wf: Workflow, registry: Registry, out: str | Path | BinaryIO, *, today: date | None = None) -> None:
    """Write the work instruction of `wf` as a .docx file to a path or a binary file object."""
    document = build_manual(wf, registry, today=today)
    document.save(str(out) if isinstance(out, Path) else out)


def build_manual(wf: Workflow, registry: Registry, *, today: date | None = None) -> DocxDocument:
    """The work instruction of `wf` as a python-docx Document (`today`: the generation date printed on it)."""
    today = today or datetime.now(registry.site.tz).date()
    return _Manual(wf, registry, today).build()


def step_order(wf: Workflow) -> list[str]:
    """The ids of the workflow's steps in reading order (see the module docstring); steps the walk does not
    reach (a broken definition) follow in the order they are written."""
    post: list[str] = []
    seen: set[str] = set()
    first = wf.start.next
    if first in wf.steps:
        seen.add(first)
        stack = [(first, iter(reversed(_exits(wf, wf.steps[first]))))]
        while stack:
            sid, children = stack[-1]
            child = next((c for c in children if c not in seen), None)
            if child is None:
                stack.pop()
                post.append(sid)
                continue
            seen.add(child)
            stack.append((child, iter(reversed(_exits(wf, wf.steps[child])))))
    order = post[::-1]
    return order + [sid for sid in wf.steps if sid not in seen]


def _exits(wf: Workflow, step: Step) -> list[str]:
    return list(dict.fromkeys(to for to, _ in step.edges() if to in wf.steps))


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


def _count(n: int) -> str:
    return _NUMERALS[n] if 0 <= n <= 10 else str(n)


def _date_words(day: date) -> str:
    return f"{day.year}年{day.month}月{day.day}日"


class _Manual:
    """One work instruction being written."""

    def __init__(self, wf: Workflow, registry: Registry, today: date) -> None:
        self.wf, self.registry, self.today = wf, registry, today
        self.site = registry.site
        self.order = step_order(wf)
        self.no = {sid: f"4.{i}" for i, sid in enumerate(self.order, start=2)}
        self.start_no = "4.1"
        present = {"printouts": wf.form.printouts, "ledgers": wf.ledgers, "schedules": wf.schedules,
                   "targets": wf.targets}
        parts = ["form"] + [name for name, items in present.items() if items]
        self.part = {name: f"5.{i}" for i, name in enumerate(parts + ["log"], start=1)}
        self.doc: DocxDocument = docx.Document()

    # ------------------------------------------------------------------ names
    def role(self, role: str) -> str:
        return self.site.roles.get(role, role)

    def roles(self, roles: Iterable[str]) -> str:
        return "、".join(self.role(r) for r in roles) or "（未指定）"

    def field(self, name: str) -> str:
        return str(self.wf.form.properties.get(name, {}).get("title", name))

    def ref(self, sid: str | None) -> str:
        if sid is None or sid not in self.wf.steps:
            return f"「{sid}」"
        return f"{self.no[sid]}「{self.wf.steps[sid].title}」"

    def expr(self, expr: Expression) -> list[Seg]:
        words = condition_words(expr, self.wf)
        return [(words, ""), (f"〔{expr.text}〕", "c")] if words else [(expr.text, "c")]

    def printout(self, name: str | None) -> dict:
        return dict(self.wf.form.printouts.get(name or "", {}))

    # ------------------------------------------------------------------ document
    def build(self) -> DocxDocument:
        _styles(self.doc)
        self.page()
        self.heading_block()
        self.purpose()
        self.scope()
        self.duties()
        self.procedure()
        self.records()
        return self.doc

    def page(self) -> None:
        wf = self.wf
        props = self.doc.core_properties
        props.title = f"{wf.title}作業指導書"
        props.subject = wf.title
        props.author = "goldkey"
        props.comments = f"由 goldkey 依流程定義 {wf.id} 版本 {wf.version} 自動生成"
        props.created = props.modified = datetime.combine(self.today, time())
        props.revision = 1
        props.last_modified_by = "goldkey"
        section = self.doc.sections[0]
        section.page_width, section.page_height = Mm(210), Mm(297)
        section.left_margin = section.right_margin = Mm(25)
        section.top_margin, section.bottom_margin = Mm(25), Mm(20)
        header = section.header.paragraphs[0]
        header.text = f"{self.site.name}　{wf.title}作業指導書　版本 {wf.version}"
        header.alignment = WD_ALIGN_PARAGRAPH.RIGHT
        _size(header, 9)
        footer = section.footer.paragraphs[0]
        footer.alignment = WD_ALIGN_PARAGRAPH.CENTER
        footer.add_run("第 ")
        _field(footer, "PAGE")
        footer.add_run(" 頁／共 ")
        _field(footer, "NUMPAGES")
        footer.add_run(" 頁")
        _size(footer, 9)

    def heading_block(self) -> None:
        wf = self.wf
        title = self.doc.add_paragraph(f"{wf.title}作業指導書", style="Title")
        title.alignment = WD_ALIGN_PARAGRAPH.CENTER
        site = self.doc.add_paragraph(self.site.name, style="Subtitle")
        site.alignment = WD_ALIGN_PARAGRAPH.CENTER
        rows = [["管理處", self.site.name], ["流程", f"{wf.title}（{wf.id}）"], ["類別", wf.area or "—"],
                ["流程版本", wf.version], ["主表單", f"《{wf.form.title}》"],
                ["生成", f"由 goldkey 依流程定義自動生成，生成日期：{_date_words(self.today)}"]]
        _table(self.doc, None, rows, [30, 130])
        self.para([("本指導書由系統依流程定義（", ""), (", ".join(sorted(wf.files)) or wf.path, "c"),
                   ("）生成，所述步驟、辦理人、時限及表單與系統實際執行的規則一致。流程如有修改，須修改流程定義後"
                    "重新生成，不得手工改動本文件。", "")])

    def purpose(self) -> None:
        self.doc.add_heading("一、目的", level=1)
        self.para([(f"規範{self.wf.title}的工作程序，明確各崗位職責、辦理時限及表單記錄，確保工作及時、規範完成。",
                     "")])
        if self.wf.description:
            self.para([(self.wf.description, "")])

    def scope(self) -> None:
        wf = self.wf
        self.doc.add_heading("二、適用範圍", level=1)
        area = f"「{wf.area}」類" if wf.area and wf.area != wf.title else ""
        self.para([(f"適用於{self.site.name}{area}{wf.title}工作。", "")])
        self.para([(f"由{self.roles(wf.start.roles)}發起（見 {self.start_no}）。", "")])
        if wf.schedules:
            self.para([(f"另由系統按排程自動發起（見 {self.part['schedules']}）。", "")])
        for parent, step, number in self.parents():
            self.para([(f"另由《{parent.title}》流程的 {number}「{step.title}」步驟自動發起。", "")])

    def parents(self) -> list[tuple[Workflow, Step, str]]:
        out = []
        for other in self.registry.workflows.values():
            callers = [s for s in other.steps.values() if s.kind == "subprocess" and s.workflow == self.wf.id]
            if callers:
                numbers = {sid: f"4.{i}" for i, sid in enumerate(step_order(other), start=2)}
                out += [(other, s, numbers[s.id]) for s in callers]
        return out

    # ------------------------------------------------------------------ 三、職責
    def duties(self) -> None:
        self.doc.add_heading("三、職責", level=1)
        duties: dict[str, dict[str, list[str]]] = {role: {} for role in self.wf.roles}  # the workflow's order

        def add(role: str, what: str, where: str) -> None:
            items = duties.setdefault(role, {}).setdefault(what, [])
            if where not in items:
                items.append(where)

        for role in self.wf.start.roles:
            add(role, "發起流程", f"{self.start_no}「{self.wf.start.title}」")
        verbs = {"form": "填寫辦理", "approval": "審批", "checklist": "核對勾選", "print": "列印發出"}
        for sid in self.order:
            step = self.wf.steps[sid]
            for role in step.roles:
                add(role, verbs.get(step.kind, "辦理"), self.ref(sid))
            for rung in step.ladder:
                what = {"remind": "接收到期提醒", "notify": "接收逾時通知", "escalate": "逾時升級接手辦理",
                        "reassign": "逾時改派承辦"}.get(rung.action)
                for role in rung.roles if what else ():
                    add(role, what, self.ref(sid))
            for post in step.posts:
                ledger = self.wf.ledgers.get(post.ledger)
                for role in step.roles:
                    add(role, f"登記《{ledger.title if ledger else post.ledger}》", self.no[sid])
        secret = self.wf.form.confidential
        for role in secret.get("roles", []) if secret else []:
            if role in duties:
                add(role, "可查閱保密欄位", "、".join(self.field(f) for f in secret.get("fields", [])))
        rows = [[self.role(role), [f"{what}：{'；'.join(where)}" for what, where in jobs.items()]]
                for role, jobs in duties.items() if jobs]
        _table(self.doc, ["職務", "本程序中的職責"], rows, [32, 128])
        self.para([("具有上述職務的人員（或其指定的代理人，代理期間以代理身份記錄）均可辦理相應步驟；一項任務由其中"
                    "一人完成即可，審批另按各步驟的簽署規則。", "")])

    # ------------------------------------------------------------------ 四、工作程序
    def procedure(self) -> None:
        wf = self.wf
        self.doc.add_heading("四、工作程序", level=1)
        self.para([(f"本程序共 {len(self.order) + 1} 個步驟，按下列順序說明；實際辦理時依各步驟的處理結果及判斷"
                    "條件轉至相應步驟。標「必填」的欄位未填寫時系統不予提交。", "")])
        if self.uses_working_time():
            self.para([(self.calendar_note(), "")])
        rows = [[self.start_no, wf.start.title, self.roles(wf.start.roles), "—"]]
        for sid in self.order:
            step = wf.steps[sid]
            rows.append([self.no[sid], step.title, self.roles(step.roles) if step.roles else _KIND[step.kind],
                         self.due_short(step)])
        _table(self.doc, ["序號", "步驟", "辦理人", "時限"], rows, [14, 86, 36, 24])
        self.start_step()
        for sid in self.order:
            self.step(wf.steps[sid])

    def uses_working_time(self) -> bool:
        durations = [d for s in self.wf.steps.values()
                     for d in (s.due.soft if s.due else None, s.due.hard if s.due else None, s.duration, s.after,
                               *(r.offset for r in s.ladder)) if d is not None]
        return any(d.business for d in durations)

    def calendar_note(self) -> str:
        cal = self.wf.calendar
        days = [_WEEKDAYS.get(d, d) for d in cal.working_days]
        names = "至週".join((days[0], days[-1])) if len(days) > 2 and "".join(days) in "一二三四五六日" \
            else "、週".join(days)
        hours = "、".join(f"{a}–{b}" for a, b in cal.working_hours)
        public = "法定節假日及調休上班日按國務院公佈的安排" if cal.public_holidays == "china" else ""
        local = "及本管理處另行規定的休假日、上班日" if cal.holidays or cal.workdays else ""
        rest = f"；{public}{local}" if public or local else ""
        return (f"時限以工作時間（working hours / working days、工作日、工作小時）計者，只計工作時間：週{names}，"
                f"每日 {hours}{rest}。其他時限按日曆時間連續計算。")

    def due_short(self, step: Step) -> str:
        if step.due:
            return step.due.soft.text + (f"／最遲 {step.due.hard.text}" if step.due.hard else "")
        if step.kind == "wait" and step.duration:
            return step.duration.text
        return "—"

    def start_step(self) -> None:
        wf, start = self.wf, self.wf.start
        self.doc.add_heading(f"{self.start_no} {start.title}", level=2)
        self.line("方式", [("發起流程", "")])
        self.line("辦理人", [(self.roles(start.roles), "")])
        text = f"填寫《{wf.form.title}》"
        if wf.form.number:
            text += f"，系統自動編號（如 {_number_example(wf.form.number, self.today)}）"
        self.line("工作內容", [(text, "")])
        self.fields(start)
        self.line("完成後", [(f"轉 {self.ref(start.next)}", "")])

    def step(self, step: Step) -> None:
        self.doc.add_heading(f"{self.no[step.id]} {step.title}", level=2)
        description = step.description
        if description:
            self.para([(str(description), "")])
        self.line("方式", [(_KIND.get(step.kind, step.kind), "")])
        lapses = [self.ref(s.id) for s in map(self.wf.steps.get, self.order)
                  if s and any(r.target == step.id for r in s.ladder)]
        if lapses:
            self.line("轉入", [(f"{'、'.join(lapses)}逾時失效時，由系統轉入本步驟", "")])
        if step.roles:
            self.line("辦理人", [(self.roles(step.roles), "")])
        getattr(self, f"kind_{step.kind}", self.kind_other)(step)
        self.deadlines(step)
        self.postings(step)
        if step.next and step.kind not in ("subprocess", "wait", "join"):
            self.line("完成後", [(f"轉 {self.ref(step.next)}", "")])

    def fields(self, step: Step, label: str = "填寫欄位") -> None:
        if not step.fields and not step.required:
            return
        names = list(step.fields) + sorted(step.required - set(step.fields))
        text = "、".join(self.field(f) + ("（必填）" if f in step.required else "") for f in names)
        self.line(label, [(text, "")])

    def outcomes(self, step: Step, label: str = "處理結果") -> None:
        if not step.outcomes:
            return
        self.line(label, [("辦理人須選擇以下之一：", "")])
        for name, to in step.outcomes.items():
            note = "（須填寫原因）" if name in step.comment_required else ""
            self.item([(f"{_outcome(name)}{note}：轉 {self.ref(to)}", "")])

    def kind_form(self, step: Step) -> None:
        self.fields(step)
        self.outcomes(step)

    def kind_approval(self, step: Step) -> None:
        self.line("簽署規則", [(self.approval_rule(step), "")])
        self.fields(step, "審批時填寫")
        if not step.outcomes:
            return
        self.line("審批結果", [("審批人選擇以下之一：", "")])
        for name, to in step.outcomes.items():
            note = "（須填寫意見）" if name in step.comment_required else ""
            how = "達到簽署規則後" if name == "approve" else "一經選擇即作決定，"
            self.item([(f"{_outcome(name)}{note}：{how}轉 {self.ref(to)}", "")])

    def approval_rule(self, step: Step) -> str:
        names = [self.role(r) for r in step.roles]
        if step.outcomes and "approve" not in step.outcomes:
            rule = f"由{'、'.join(names)}任一人作出決定" if len(names) > 1 else f"由{''.join(names)}作出決定"
        elif step.approvals == "all":
            if step.order == "sequence" and len(names) > 1:
                rule = f"須依序由 {' → '.join(names)} 各一人簽署同意"
            elif len(names) > 1:
                rule = f"須 {'、'.join(names)} 每一職務各一人簽署同意（不分先後）"
            else:
                rule = f"須由{names[0] if names else '審批人'}簽署同意"
        elif step.approvals in (1, "1"):
            rule = f"由{'、'.join(names)}任一人簽署同意即可" if len(names) > 1 else f"由{''.join(names)}簽署同意"
        else:
            rule = f"須 {step.approvals} 位不同人員（{'、'.join(names)}）簽署同意"
            if step.order == "sequence":
                rule += "，依上列職務順序"
        if step.required_roles:
            rule += f"，其中須包括{self.roles(step.required_roles)}"
        if step.approvals not in (1, "1") and "approve" in step.outcomes:
            rule += "；同一人不得重複簽署"
        rule += "；發起人本人亦可簽署" if step.allow_self else "；發起人不得審批自己發起的流程"
        return rule + "。每一簽署記錄簽署人、職務、代理關係、時間、意見及所簽資料的雜湊值"

    def kind_checklist(self, step: Step) -> None:
        self.line("工作內容", [("逐項辦理並在系統中勾選，所有適用項目勾選後本步驟完成：", "")])
        for i, item in enumerate(step.items, start=1):
            segs: list[Seg] = [(f"（{i}）{item.get('title', item.get('id'))}", "")]
            if item.get("optional"):
                segs.append(("（選做）", "b"))
            when = step.item_when.get(item.get("id", ""))
            if when is not None:
                segs += [("（僅當", "")] + self.expr(when) + [("時須辦理）", "")]
            self.item(segs)
        self.fields(step, "同時填寫")

    def kind_print(self, step: Step) -> None:
        spec = self.printout(step.printout)
        text = f"列印《{spec.get('title', step.printout)}》並發出"
        copies = spec.get("copies") or []
        if copies:
            text += f"，一式{_count(len(copies))}聯（{'、'.join(copies)}）"
        if step.copies and step.copies > 1:
            text += f"，列印 {step.copies} 份"
        self.line("工作內容", [(text, "")])
        if spec.get("signatures"):
            self.line("簽署欄", [("、".join(spec["signatures"]), "")])
        self.line("記錄", [("列印後在系統中確認，系統記錄列印人、時間及份數", "")])

    def kind_decision(self, step: Step) -> None:
        self.line("工作內容", [("本步驟不需人工辦理，系統依已填寫的資料自動判斷（按順序，先符合者為準）：", "")])
        for i, (when, to) in enumerate(step.branches, start=1):
            self.item([(f"（{i}）若 ", "")] + self.expr(when) + [(f"：轉 {self.ref(to)}", "")])
        if step.default:
            self.item([(f"（{len(step.branches) + 1}）其他情況：轉 {self.ref(step.default)}", "")])

    def kind_parallel(self, step: Step) -> None:
        branches = "、".join(self.ref(b) for b in step.split)
        text = f"以下各項同時展開，分別辦理：{branches}"
        if step.join:
            text += f"；全部完成後於 {self.ref(step.join)}匯合"
        self.line("工作內容", [(text, "")])

    def kind_join(self, step: Step) -> None:
        splits = [s for s in self.wf.steps.values() if s.kind == "parallel" and s.join == step.id]
        branches = "、".join(self.ref(b) for s in splits for b in s.split)
        text = f"待 {branches}全部完成後，轉 {self.ref(step.next)}" if branches else f"轉 {self.ref(step.next)}"
        self.line("工作內容", [(text, "")])

    def kind_wait(self, step: Step) -> None:
        wait = duration_words(step.duration) if step.duration else "—"
        self.line("工作內容", [(f"等待 {wait}，期滿後系統自動轉 {self.ref(step.next)}", "")])

    def kind_subprocess(self, step: Step) -> None:
        child = self.registry.workflows.get(step.workflow or "")
        title = child.title if child else step.workflow
        text = f"系統自動發起《{title}》流程（{step.workflow}，見該流程的作業指導書）"
        if step.after:
            text += f"，該流程於本步驟到達 {duration_words(step.after)}後才開始"
        self.line("工作內容", [(text, "")])
        if step.data:
            form = child.form.properties if child else {}
            segs: list[Seg] = []
            for i, (name, expr) in enumerate(step.data.items()):
                segs += [("；" if i else "", ""), (f"{form.get(name, {}).get('title', name)}＝", "")]
                segs += self.expr(expr)
            self.line("帶入資料", segs)
        if not step.wait:
            self.line("完成後", [(f"本流程不等待其結束，隨即轉 {self.ref(step.next)}", "")])
            return
        self.line("完成後", [("待該流程結束，依其結果繼續：", "")])
        for outcome, to in step.outcomes.items():
            self.item([(f"結果{self.child_outcome(child, outcome)}：轉 {self.ref(to)}", "")])
        if step.next:
            other = "其他結果" if step.outcomes else "任何結果"
            self.item([(f"{other}：轉 {self.ref(step.next)}", "")])

    def child_outcome(self, child: Workflow | None, outcome: str) -> str:
        titles = [s.title for s in child.steps.values() if s.kind == "end" and s.outcome == outcome] if child else []
        return f"「{'／'.join(titles)}」（{outcome}）" if titles and titles != [outcome] else _outcome(outcome)

    def kind_end(self, step: Step) -> None:
        outcome = step.title if step.title == step.outcome else f"{step.title}（{step.outcome}）"
        text = f"流程結束，結果：{outcome}"
        if step.status == "cancelled":
            text += "；流程以撤銷結束"
        self.line("工作內容", [(text + "。其他尚未完成的並行任務同時取消", "")])

    def kind_other(self, step: Step) -> None:
        self.fields(step)
        self.outcomes(step)

    # ------------------------------------------------------------------ deadlines and postings
    def deadlines(self, step: Step) -> None:
        due = step.due
        if due is not None:
            text = f"期限 {duration_words(due.soft)}"
            if due.hard:
                text += f"，最後期限 {duration_words(due.hard)}"
            if due.origin is None:
                origin = "自本步驟開始時起計"
            elif due.origin == "started":
                origin = f"自流程發起（{self.start_no}「{self.wf.start.title}」）時起計"
            else:
                origin = f"自「{self.field(due.origin)}」所填時間起計（該欄未填時自本步驟開始時起計）"
            self.line("時限", [(f"{text}；{origin}。逾期未完成的任務列為逾期，排在待辦清單最前", "")])
        if step.ladder:
            self.line("逾時處理", [("系統按下列時間自動處理（每項只執行一次）：", "")])
            for rung in step.ladder:
                self.item([(self.rung(step, rung), "")])
        if step.holds:
            states = "、".join(f"{title}（{name}）" for name, title in step.holds.items())
            self.line("可暫停", [(f"{states}：暫停期間不計時、不提醒，恢復後時限按暫停時間順延", "")])

    def rung(self, step: Step, rung: Rung) -> str:
        anchor = "到期" if rung.anchor == "due" else "最後期限"
        if rung.offset is None or rung.offset.amount == 0:
            when = f"{anchor}時"
        elif rung.backward:
            when = f"{anchor}前 {duration_words(rung.offset)}"
        else:
            when = f"{'逾期' if rung.anchor == 'due' else '超過最後期限'} {duration_words(rung.offset)}後"
        own = self.roles(step.roles)
        if rung.action == "remind":
            what = f"提醒{self.roles(rung.roles)}" if rung.roles else f"提醒本步驟辦理人（{own}）"
        elif rung.action == "notify":
            what = f"通知{self.roles(rung.roles)}"
        elif rung.action == "escalate":
            alone = "，其簽署即可單獨決定" if step.kind == "approval" else ""
            what = f"升級至{self.roles(rung.roles)}（可直接辦理本步驟{alone}）"
        elif rung.action == "reassign":
            what = f"改由{self.roles(rung.roles)}承辦（原辦理人不再處理）"
        else:
            what = f"本步驟逾時失效，流程轉 {self.ref(rung.target)}"
        message = f"，訊息：「{rung.message}」" if rung.message else ""
        return f"{when}：{what}{message}"

    def postings(self, step: Step) -> None:
        for post in step.posts:
            ledger = self.wf.ledgers.get(post.ledger)
            direction = ledger.entries.get(post.entry) if ledger else None
            segs: list[Seg] = [(f"《{ledger.title if ledger else post.ledger}》記入{_entry(post.entry, direction)}，"
                                "金額：", "")]
            segs += self.expr(post.amount)
            if post.when is not None:
                segs += [("；僅當", "")] + self.expr(post.when) + [("時記帳", "")]
            if post.memo:
                segs.append((f"；摘要「{post.memo}」", ""))
            self.line("臺帳", segs)

    # ------------------------------------------------------------------ 五、表單與記錄
    def records(self) -> None:
        wf, form = self.wf, self.wf.form
        self.doc.add_heading("五、表單與記錄", level=1)
        self.doc.add_heading(f"{self.part['form']} 表單《{form.title}》", level=2)
        if form.number:
            self.para([("編號格式：", "b"), (form.number, "c"),
                       (f"，例如 {_number_example(form.number, self.today)}；按表單及年度連續編號，不跳號。", "")])
        rows = [[self.field(name), _type_words(schema), self.filled_at(name)]
                for name, schema in form.properties.items()]
        if rows:
            _table(self.doc, ["欄位", "類型", "填寫步驟"], rows, [40, 60, 60])
        if form.rules:
            self.para([("填寫規則（系統檢查，不符者不予提交）：", "b")])
            for i, rule in enumerate(form.rules, start=1):
                self.item([(f"（{i}）{rule.message}：", "")] + self.expr(rule.check))
        if form.confidential:
            fields = "、".join(self.field(f) for f in form.confidential.get("fields", []))
            self.para([("保密欄位：", "b"),
                       (f"{fields}，僅{self.roles(form.confidential.get('roles', []))}可查閱。", "")])
        if form.printouts:
            self.doc.add_heading(f"{self.part['printouts']} 列印文件", level=2)
            rows = []
            for name, spec in form.printouts.items():
                copies = spec.get("copies") or []
                where = [self.ref(s.id) for s in map(wf.steps.get, self.order) if s and s.printout == name]
                rows.append([f"《{spec.get('title', name)}》",
                             f"一式{_count(len(copies))}聯：{'、'.join(copies)}" if copies else "一聯",
                             "、".join(spec.get("signatures") or []) or "—", "、".join(where) or "隨時可列印"])
            _table(self.doc, ["名稱", "聯次", "簽署欄", "列印步驟"], rows, [44, 42, 34, 40])
        if wf.ledgers:
            self.doc.add_heading(f"{self.part['ledgers']} 臺帳", level=2)
            for ledger in wf.ledgers.values():
                entries = "、".join(_entry(e, d) for e, d in ledger.entries.items())
                steps = [self.no[s] for s in self.order if any(p.ledger == ledger.id for p in wf.steps[s].posts)]
                self.para([(f"《{ledger.title}》", "b"),
                           (f"：記帳項目 {entries}；餘額不得低於 {fen_text(ledger.floor)} 元，支出超過餘額時系統拒絕"
                            f"記帳；記帳步驟：{'、'.join(steps) or '—'}。每筆記錄註明表單編號。", "")])
        if wf.schedules:
            self.doc.add_heading(f"{self.part['schedules']} 定時發起", level=2)
            for schedule in wf.schedules:
                words = cron_words(schedule.cron)
                when: list[Seg] = [(words + "（", ""), (schedule.cron, "c"), ("）", "")] if words else \
                    [("按排程 ", ""), (schedule.cron, "c")]
                data = "；".join(f"{self.field(k)}＝{self.run_value(v, schedule.cron)}"
                                for k, v in schedule.data.items())
                self.para(when + [(f"：{schedule.title}", "")] + ([(f"（自動帶入：{data}）", "")] if data else []))
            self.para([("系統停機期間錯過的排程，於恢復後補發起，每次只發起一次。", "")])
        if wf.targets:
            self.doc.add_heading(f"{self.part['targets']} 考核指標", level=2)
            for target in wf.targets:
                among = f"在完成 {self.ref(target.among)} 的流程中，" if target.among else "已結束的流程中，"
                per = "，每日均須達到" if target.per == "day" else ""
                self.para([(f"{target.title}：", "b"),
                           (f"{among}完成 {self.ref(target.step)}的比例不低於 {target.target * 100:g}%{per}"
                            "（以 goldkey sla 統計）。", "")])
        self.doc.add_heading(f"{self.part['log']} 系統記錄", level=2)
        children = [s for s in map(wf.steps.get, self.order) if s and s.kind == "subprocess"]
        self.para([("每一步驟的辦理人、辦理時間、填寫內容、審批簽署（含代理人）、勾選及列印記錄、暫停與恢復、到期提醒"
                    "與升級，均由系統記入不可修改的稽核日誌，可以 goldkey show 查閱、goldkey audit 核驗。", "")])
        for step in children:
            child = self.registry.workflows.get(step.workflow or "")
            title = child.title if child else step.workflow
            self.para([(f"相關流程：《{title}》（{step.workflow}），於 {self.ref(step.id)}發起。", "")])

    def filled_at(self, name: str) -> str:
        steps = [(self.start_no, self.wf.start)] + [(self.no[s], self.wf.steps[s]) for s in self.order]
        where = [number + ("（必填）" if name in step.required else "") for number, step in steps
                 if name in step.fields or name in step.required]
        if where:
            return "、".join(where)
        if any(name in s.data for s in self.wf.schedules):
            return "排程自動帶入"
        return "由系統或上級流程帶入"

    def run_value(self, value: object, cron: str) -> str:
        if not isinstance(value, str) or not _RUN.search(value):
            return str(value)
        minute, hour = (cron.split() + ["", ""])[:2]
        run = datetime.combine(self.today, time(int(hour) % 24, int(minute) % 60) if hour.isdigit() and
                               minute.isdigit() else time(9))
        example = _RUN.sub(lambda m: run.strftime(m.group(1) or "%Y-%m-%d %H:%M"), value)
        return f"{value}（按發起時間填入，如 {example}）"

    # ------------------------------------------------------------------ paragraphs
    def para(self, segs: list[Seg], indent: float = 0) -> Paragraph:
        paragraph = self.doc.add_paragraph()
        if indent:
            paragraph.paragraph_format.left_indent = Mm(indent)
        for text, fmt in segs:
            if not text:
                continue
            run = paragraph.add_run(text)
            if fmt == "b":
                run.bold = True
            elif fmt == "c":
                run.font.name = CODE_FONT
                run.font.size = Pt(8.5)
                run.font.color.rgb = GREY
        return paragraph

    def line(self, label: str, segs: list[Seg]) -> Paragraph:
        return self.para([(f"{label}：", "b")] + segs, indent=4)

    def item(self, segs: list[Seg]) -> Paragraph:
        return self.para(segs, indent=10)


def _entry(entry: str, direction: str | None) -> str:
    kind = {"in": "收入", "out": "支出"}.get(direction or "")
    words = _ENTRIES.get(entry)
    if words:
        return f"{words}（{entry}{'，' + kind if kind else ''}）"
    return f"「{entry}」" + (f"（{kind}）" if kind else "")


def _outcome(name: str) -> str:
    words = _OUTCOMES.get(name)
    return f"「{words}」（{name}）" if words else f"「{name}」"


def _number_example(pattern: str, today: date) -> str:
    try:
        return pattern.format(year=today.year, seq=1)
    except (ValueError, KeyError, IndexError):
        return pattern


def _type_words(schema: dict) -> str:
    if "enum" in schema:
        return "選項：" + "／".join(str(v) for v in schema["enum"])
    fmt, kind = schema.get("format"), schema.get("type")
    formats = {"money": "金額（元，最多兩位小數）", "date": "日期", "date-time": "日期時間", "time": "時間",
               "email": "電子郵件"}
    if fmt in formats:
        return formats[fmt]
    if kind == "array":
        items = schema.get("items", {})
        columns = [str(p.get("title", k)) for k, p in items.get("properties", {}).items()]
        if columns:
            return f"表格（{'、'.join(columns)}）"
        if "enum" in items:
            return "多選：" + "／".join(str(v) for v in items["enum"])
        return "清單"
    words = {"string": "文字", "integer": "整數", "number": "數字", "boolean": "是／否", "object": "資料組"}
    text = words.get(kind if isinstance(kind, str) else "", "資料")
    if kind == "string" and schema.get("maxLength"):
        text += f"（{schema['maxLength']}字以內）"
    return text


# ---------------------------------------------------------------------- Word helpers
def _styles(document: DocxDocument) -> None:
    """Fonts that render Chinese in Word and LibreOffice: explicit Latin and East Asian fonts (a font name
    alone sets only the Latin slots, and the default template's theme fonts would win over it) and the East
    Asian language, on the document defaults and on every style used; black headings, A4-sized text."""
    styles = document.styles
    for fonts in list(styles.element.iter(qn("w:rFonts"))):  # document defaults, styles, table style parts
        _fonts(fonts.getparent(), BODY_FONT)
    normal = styles["Normal"]
    _fonts(normal.element.get_or_add_rPr(), BODY_FONT)
    normal.font.size = Pt(10.5)
    normal.paragraph_format.space_after = Pt(3)
    normal.paragraph_format.line_spacing = 1.25
    for name, size in (("Title", 20), ("Subtitle", 12), ("Heading 1", 14), ("Heading 2", 12)):
        style = styles[name]
        _fonts(style.element.get_or_add_rPr(), HEADING_FONT)
        style.font.size = Pt(size)
        style.font.color.rgb = BLACK
        style.font.italic = False
        style.font.bold = name != "Subtitle"
        ppr = style.element.find(qn("w:pPr"))
        border = ppr.find(qn("w:pBdr")) if ppr is not None else None
        if border is not None:
            ppr.remove(border)
        style.paragraph_format.space_before = Pt(12 if name == "Heading 1" else 6)
        style.paragraph_format.space_after = Pt(6 if name in ("Title", "Heading 1") else 3)


def _fonts(rpr, east_asian: str) -> None:
    fonts = rpr.get_or_add_rFonts()
    for attr in ("w:asciiTheme", "w:hAnsiTheme", "w:eastAsiaTheme", "w:cstheme"):
        fonts.attrib.pop(qn(attr), None)
    fonts.set(qn("w:ascii"), LATIN_FONT)
    fonts.set(qn("w:hAnsi"), LATIN_FONT)
    fonts.set(qn("w:cs"), LATIN_FONT)
    fonts.set(qn("w:eastAsia"), east_asian)
    fonts.set(qn("w:hint"), "eastAsia")
    lang = rpr.find(qn("w:lang"))
    if lang is None:
        lang = OxmlElement("w:lang")
        rpr.insert_element_before(lang, "w:eastAsianLayout", "w:specVanish", "w:oMath")
    lang.set(qn("w:eastAsia"), EAST_ASIAN_LANG)


def _field(paragraph: Paragraph, instruction: str) -> None:
    field = OxmlElement("w:fldSimple")
    field.set(qn("w:instr"), instruction)
    run = OxmlElement("w:r")
    text = OxmlElement("w:t")
    text.text = "1"
    run.append(text)
    field.append(run)
    paragraph._p.append(field)


def _size(paragraph: Paragraph, points: float) -> None:
    for run in paragraph.runs:
        run.font.size = Pt(points)


def _table(document: DocxDocument, header: list[str] | None, rows: list[list], widths: list[float]) -> Table:
    """A bordered table; a cell is a text or a list of lines; the header row repeats on every page."""
    table = document.add_table(rows=0, cols=len(widths))
    table.style = document.styles["Table Grid"]
    table.alignment = WD_TABLE_ALIGNMENT.CENTER
    table.autofit = False
    lines = ([header] if header else []) + rows
    for r, values in enumerate(lines):
        cells = table.add_row().cells
        for cell, width, value in zip(cells, widths, values, strict=False):
            cell.width = Mm(width)
            texts = value if isinstance(value, list) else [value]
            cell.paragraphs[0].text = str(texts[0]) if texts else ""
            for text in texts[1:]:
                cell.add_paragraph(str(text))
            if header and r == 0:
                for run in cell.paragraphs[0].runs:
                    run.bold = True
                shading = OxmlElement("w:shd")
                shading.set(qn("w:val"), "clear")
                shading.set(qn("w:fill"), "D9D9D9")
                cell._tc.get_or_add_tcPr().append(shading)
    if header:
        row_pr = table.rows[0]._tr.get_or_add_trPr()
        repeat = OxmlElement("w:tblHeader")
        row_pr.append(repeat)
    document.add_paragraph()
    return table
