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

import re
from collections.abc import Callable, Iterable
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

from . import words
from .deadlines import Rung
from .durations import Duration
from .expressions import Expression
from .model import Ledger, Registry, Workflow
from .money import fen_text
from .steps import ChoiceStep, Step, routing
from .wording import condition_words, cron_words, duration_words

__all__ = ["build_manual", "condition_words", "cron_words", "duration_words", "step_order", "write_manual"]

LATIN_FONT = "Times New Roman"
BODY_FONT = "SimSun"  # 宋體
HEADING_FONT = "SimHei"  # 黑體
CODE_FONT = "Consolas"
EAST_ASIAN_LANG = "zh-TW"  # the procedures are written in traditional characters
BLACK = RGBColor(0, 0, 0)
GREY = RGBColor(0x59, 0x59, 0x59)

Seg = tuple[str, str]  # (text, format): "" plain, "b" bold, "c" code (an expression as written)

_WEEKDAYS = {"mon": "一", "tue": "二", "wed": "三", "thu": "四", "fri": "五", "sat": "六", "sun": "日"}
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
    return list(dict.fromkeys(e.to for e in step.edges() if e.to in wf.steps))


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
        said = condition_words(expr, self.wf)
        return [(said, ""), (f"〔{expr.text}〕", "c")] if said else [(expr.text, "c")]

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
            callers = [s for s in other.steps.values() if s.starts == self.wf.id]
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
        for sid in self.order:
            step = self.wf.steps[sid]
            for role in step.roles:
                add(role, step.verb, self.ref(sid))
            for rung in step.ladder if step.is_task else ():
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
            rows.append([self.no[sid], step.title, self.roles(step.roles) if step.roles else self.kind(step),
                         self.due_short(step)])
        _table(self.doc, ["序號", "步驟", "辦理人", "時限"], rows, [14, 86, 36, 24])
        self.spans()
        self.start_step()
        for sid in self.order:
            self.step(wf.steps[sid])

    def spans(self) -> None:
        """The deadlines over several steps: from when, to which step, how long."""
        if not self.wf.deadlines:
            return
        self.para([("跨步驟時限（不論中間經過哪些步驟，均自起算時間計）：", "b")])
        for span in self.wf.deadlines:
            origin = [("自發起時", "")] if span.origin is None else [("自", "")] + self.expr(span.origin)
            segs = [(f"「{span.title}」：", "b"), *origin, ("起 ", ""), (self.duration(span.soft), ""), ("內", "")]
            if span.hard:
                segs.append((f"（最遲 {self.duration(span.hard)}）", ""))
            segs.append((f"完成 {self.ref(span.until)}", ""))
            for rung in span.rungs:
                segs.append((f"；{self.rung(self.wf.steps.get(span.until) or self.wf.start, rung)}", ""))
            self.item(segs + [("。", "")])

    def uses_working_time(self) -> bool:
        return any(d.business for s in self.wf.steps.values() for d in s.durations())

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
        return step.time_limit() or "—"

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
        if step.description:
            self.para([(str(step.description), "")])
        self.line("方式", [(self.kind(step), "")])
        lapses = [self.ref(s.id) for s in map(self.wf.steps.get, self.order)
                  if s and s.is_task and any(r.target == step.id for r in s.ladder)]
        if lapses:
            self.line("轉入", [(f"{'、'.join(lapses)}逾時失效時，由系統轉入本步驟", "")])
        if step.roles:
            self.line("辦理人", [(routing.in_words(step, self) if step.is_task else self.roles(step.roles), "")])
        step.manual(self)
        if step.is_task:
            self.deadlines(step)
        self.postings(step)
        if step.is_task and step.next:
            self.line("完成後", [(f"轉 {self.ref(step.next)}", "")])

    @staticmethod
    def kind(step: Step) -> str:
        return step.word if step.is_task or step.ends_with else f"{step.word}（系統自動）"

    def fields(self, step: Step, label: str = "填寫欄位") -> None:
        """The step's fields, `（必填）` after the required ones."""
        if not step.fields and not step.required:
            return
        names = list(step.fields) + sorted(step.required - set(step.fields))
        text = "、".join(self.field(f) + ("（必填）" if f in step.required else "") for f in names)
        self.line(label, [(text, "")])

    def outcomes(self, step: ChoiceStep, label: str = "處理結果", lead: str = "辦理人須選擇以下之一：",
                 note: str = "（須填寫原因）", how: Callable[[str], str] = lambda name: "") -> None:
        """A step's outcomes, each with where it leads (`how`: words before the target)."""
        if not step.outcomes:
            return
        self.line(label, [(lead, "")])
        for name, outcome in step.outcomes.items():
            needs = note if name in step.comment_required else ""
            self.item([(f"「{step.outcome_title(name)}」（{name}）{needs}：{how(name)}轉 {self.ref(outcome.to)}", "")])

    def count(self, n: int) -> str:
        return _count(n)

    def duration(self, duration: Duration) -> str:
        return duration_words(duration)

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
            alone = step.escalation_note
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
            segs: list[Seg] = [(f"《{ledger.title if ledger else post.ledger}》記入{_entry(ledger, post.entry)}，"
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
                where = [self.ref(s.id) for s in map(wf.steps.get, self.order) if s and s.prints == name]
                rows.append([f"《{spec.get('title', name)}》",
                             f"一式{_count(len(copies))}聯：{'、'.join(copies)}" if copies else "一聯",
                             "、".join(spec.get("signatures") or []) or "—", "、".join(where) or "隨時可列印"])
            _table(self.doc, ["名稱", "聯次", "簽署欄", "列印步驟"], rows, [44, 42, 34, 40])
        if wf.ledgers:
            self.doc.add_heading(f"{self.part['ledgers']} 臺帳", level=2)
            for ledger in wf.ledgers.values():
                entries = "、".join(_entry(ledger, e) for e in ledger.entries)
                steps = [self.no[s] for s in self.order if any(p.ledger == ledger.id for p in wf.steps[s].posts)]
                self.para([(f"《{ledger.title}》", "b"),
                           (f"：記帳項目 {entries}；餘額不得低於 {fen_text(ledger.floor)} 元，支出超過餘額時系統拒絕"
                            f"記帳；記帳步驟：{'、'.join(steps) or '—'}。每筆記錄註明表單編號。", "")])
        if wf.schedules:
            self.doc.add_heading(f"{self.part['schedules']} 定時發起", level=2)
            for schedule in wf.schedules:
                said = cron_words(schedule.cron)
                when: list[Seg] = [(said + "（", ""), (schedule.cron, "c"), ("）", "")] if said else \
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
        children = [s for s in map(wf.steps.get, self.order) if s and s.starts]
        self.para([("每一步驟的辦理人、辦理時間、填寫內容、審批簽署（含代理人）、勾選及列印記錄、暫停與恢復、到期提醒"
                    "與升級，均由系統記入不可修改的稽核日誌，可以 goldkey show 查閱、goldkey audit 核驗。", "")])
        for step in children:
            child = self.registry.workflows.get(step.starts or "")
            title = child.title if child else step.starts
            self.para([(f"相關流程：《{title}》（{step.starts}），於 {self.ref(step.id)}發起。", "")])

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


def _entry(ledger: Ledger | None, entry: str) -> str:
    """An entry as the work instruction names it: its words, then its id and direction."""
    if ledger is None:
        return f"「{entry}」"
    direction = words.DIRECTIONS.get(ledger.entries.get(entry) or "")
    return f"{ledger.entry_title(entry)}（{entry}{'，' + direction if direction else ''}）"


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
               "email": "電子郵件", "signature": "簽名（在手機或平板的簽名框內簽）"}
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
    names = {"string": "文字", "integer": "整數", "number": "數字", "boolean": "是／否", "object": "資料組"}
    text = names.get(kind if isinstance(kind, str) else "", "資料")
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
