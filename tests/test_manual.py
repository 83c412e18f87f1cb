"""The work instruction (作業指導書) generated from a workflow's YAML, written to .docx and read back."""

from __future__ import annotations

import io
from datetime import date
from pathlib import Path

import docx
import pytest
from docx.oxml.ns import qn
from docx.table import Table
from docx.text.paragraph import Paragraph

from engine import definitions
from engine.definitions import Workflow
from engine.durations import parse_duration
from engine.expressions import Expression
from engine.manual import build_manual, condition_words, cron_words, duration_words, step_order, write_manual

from .conftest import REPO

TOY = REPO / "tests" / "fixtures" / "toy"
TODAY = date(2026, 11, 2)
WORKFLOWS = sorted(definitions.load(REPO).workflows)
TOY_WORKFLOWS = sorted(definitions.load(TOY).workflows)


@pytest.fixture(scope="module")
def toy() -> definitions.Registry:
    return definitions.load_strict(TOY)


def written(wf: Workflow, registry: definitions.Registry, tmp_path: Path):
    """Write the manual to a file and open it again, as Word would get it."""
    path = tmp_path / f"{wf.id}.docx"
    write_manual(wf, registry, path, today=TODAY)
    assert path.stat().st_size > 0
    return docx.Document(str(path))


def blocks(document) -> list[tuple[str, str]]:
    """(style, text) of every paragraph in body order, table cells included (style 'cell')."""
    out = []
    for block in document.iter_inner_content():
        if isinstance(block, Paragraph):
            out.append((block.style.name, block.text))
        elif isinstance(block, Table):
            out += [("cell", cell.text) for row in block.rows for cell in row.cells]
    return out


def full_text(document) -> str:
    return "\n".join(text for _, text in blocks(document))


def headings_between(document, first: str, last: str) -> list[str]:
    """The level-2 headings between two level-1 headings."""
    out, inside = [], False
    for style, text in blocks(document):
        if style == "Heading 1":
            inside = text == first if not inside else text != last
        elif inside and style == "Heading 2":
            out.append(text)
    return out


def sections(document) -> dict[str, str]:
    """The text under each level-2 heading (until the next heading), keyed by the heading's number."""
    out: dict[str, list[str]] = {}
    current = None
    for style, text in blocks(document):
        if style.startswith("Heading"):
            current = text.split(" ", 1)[0] if style == "Heading 2" else None
            if current:
                out[current] = []
        elif current:
            out[current].append(text)
    return {key: "\n".join(lines) for key, lines in out.items()}


def table(document, header: list[str]) -> list[list[str]]:
    for t in document.tables:
        rows = [[cell.text for cell in row.cells] for row in t.rows]
        if rows and rows[0] == header:
            return rows[1:]
    raise AssertionError(f"no table with header {header}")


def numbers(wf: Workflow) -> dict[str, str]:
    return {sid: f"4.{i}" for i, sid in enumerate(step_order(wf), start=2)}


def all_roles(wf: Workflow) -> list[str]:
    roles = dict.fromkeys(wf.roles)
    for step in wf.steps.values():
        for rung in step.ladder if step.is_task else ():
            roles.update(dict.fromkeys(rung.roles))
    return list(roles)


def check_manual(wf: Workflow, registry: definitions.Registry, tmp_path: Path) -> None:
    """What every manual must say, read back from the file."""
    document = written(wf, registry, tmp_path)
    text = full_text(document)
    first = document.paragraphs[0]
    assert (first.text, first.style.name) == (f"{wf.title}作業指導書", "Title")
    assert document.core_properties.title == f"{wf.title}作業指導書"
    for expected in (registry.site.name, wf.version, "由 goldkey 依流程定義自動生成", "2026年11月2日",
                     "一、目的", "二、適用範圍", "三、職責", "四、工作程序", "五、表單與記錄"):
        assert expected in text
    if wf.description:
        assert wf.description in text

    # 四、工作程序: the start, then every step once, in the order of the walk
    order = step_order(wf)
    assert sorted(order) == sorted(wf.steps) and len(order) == len(wf.steps)
    expected = [f"4.1 {wf.start.title}"] + [f"4.{i} {wf.steps[s].title}" for i, s in enumerate(order, start=2)]
    assert headings_between(document, "四、工作程序", "五、表單與記錄") == expected

    # 三、職責: one row per role that acts, escalated to or is notified, by its title
    duties = table(document, ["職務", "本程序中的職責"])
    assert [row[0] for row in duties] == [registry.site.roles.get(r, r) for r in all_roles(wf)]
    assert all(row[1] for row in duties)

    no = numbers(wf)
    under = sections(document)
    start = under["4.1"]
    for name in wf.start.fields:
        title = wf.form.properties[name].get("title", name)
        assert title + ("（必填）" if name in wf.start.required else "") in start
    for sid, step in wf.steps.items():
        section = under[no[sid]]
        for role in step.roles:
            assert registry.site.roles.get(role, role) in section, (sid, role)
        for name in step.fields:
            title = wf.form.properties[name].get("title", name)
            assert title + ("（必填）" if name in step.required else "") in section, (sid, name)
        for edge in step.edges():
            assert f"{no[edge.to]}「{wf.steps[edge.to].title}」" in section, (sid, edge.to)
        for when, _ in getattr(step, "branches", ()):
            assert when.text in section
        if step.is_task and step.due:
            assert f"期限 {step.due.soft.text}" in section
            if step.due.hard:
                assert f"最後期限 {step.due.hard.text}" in section
        for rung in step.ladder if step.is_task else ():
            if rung.message:
                assert rung.message in section
            for role in rung.roles:
                assert registry.site.roles.get(role, role) in section
        for title in step.holds.values() if step.is_task else ():
            assert title in section
        for item in getattr(step, "items", ()):
            assert item["title"] in section
        if step.prints:
            assert wf.form.printouts[step.prints].get("title", step.prints) in section
        for post in step.posts:
            assert wf.ledgers[post.ledger].title in section and post.amount.text in section
        if step.kind == "end":
            assert "流程結束" in section
    # 五、表單與記錄
    assert f"表單《{wf.form.title}》" in text
    if wf.form.number:
        assert wf.form.number in text and wf.form.number.format(year=2026, seq=1) in text
    for name, spec in wf.form.printouts.items():
        assert spec.get("title", name) in text
        for copy in spec.get("copies", []):
            assert copy in text
        for signature in spec.get("signatures", []):
            assert signature in text
    for ledger in wf.ledgers.values():
        assert ledger.title in text
    for target in wf.targets:
        assert target.title in text and f"{target.target * 100:g}%" in text
    for schedule in wf.schedules:
        assert schedule.cron in text and schedule.title in text

    # Chinese renders: the East Asian font and language are set on Normal and the headings, no theme fonts
    for style, font in (("Normal", "SimSun"), ("Heading 1", "SimHei"), ("Heading 2", "SimHei"), ("Title", "SimHei")):
        rpr = document.styles[style].element.rPr
        assert rpr.rFonts.get(qn("w:eastAsia")) == font, style
        assert rpr.find(qn("w:lang")).get(qn("w:eastAsia")) == "zh-TW"
        assert rpr.rFonts.get(qn("w:eastAsiaTheme")) is None
    assert "eastAsiaTheme" not in document.styles.element.xml


@pytest.mark.parametrize("workflow", WORKFLOWS)
def test_manual_of_each_workflow(workflow, registry, tmp_path):
    check_manual(registry.workflow(workflow), registry, tmp_path)


@pytest.mark.parametrize("workflow", TOY_WORKFLOWS)
def test_manual_of_each_toy_workflow(workflow, toy, tmp_path):
    check_manual(toy.workflow(workflow), toy, tmp_path)


def test_the_repository_and_toy_lists_are_not_empty():
    assert "renovation" in WORKFLOWS and "special_incident" in WORKFLOWS and len(TOY_WORKFLOWS) >= 10


@pytest.mark.parametrize("workflow", WORKFLOWS)
def test_the_walk_puts_each_step_after_a_step_that_leads_to_it(workflow, registry):
    wf = registry.workflow(workflow)
    order = step_order(wf)
    assert order[0] == wf.start.next
    position = {sid: i for i, sid in enumerate(order)}
    sources: dict[str, list[str]] = {}
    for sid, step in wf.steps.items():
        for edge in step.edges():
            sources.setdefault(edge.to, []).append(sid)
    for sid in order[1:]:
        assert any(position[s] < position[sid] for s in sources[sid]), sid
    for step in wf.steps.values():
        if step.kind == "parallel":  # the join comes after every branch, the branches right after the split
            assert all(position[step.id] < position[b] < position[step.join] for b in step.split)
            assert [order[position[step.id] + 1 + i] for i in range(len(step.split))] == list(step.split)


def test_renovation_reads_along_the_main_line_first(registry):
    order = step_order(registry.workflow("renovation"))
    assert order[:10] == ["check_documents", "print_application", "engineering_review", "supervisor_sign",
                          "manager_approval", "collect_deposit", "issue_permit", "issue_passes", "sign_agreement",
                          "inspections"]
    assert order[-4:] == ["rectify", "revise_application", "explain_refusal", "rejected"]


def test_renovation_deadlines_in_words(registry, tmp_path):
    wf = registry.workflow("renovation")
    document = written(wf, registry, tmp_path)
    no = numbers(wf)
    review = sections(document)[no["engineering_review"]]
    assert "期限 3 working days（3個工作日）" in review
    assert "自流程發起（4.1「受理裝修申請」）時起計" in review
    assert "到期前 4 working hours（4個工作小時）：提醒本步驟辦理人（工程部負責人）" in review
    assert "到期時：升級至物業經理（可直接辦理本步驟，其簽署即可單獨決定）" in review
    assert f"「不同意」（reject）（須填寫意見）：一經選擇即作決定，轉 {no['explain_refusal']}" in review
    duties = dict((row[0], row[1]) for row in table(document, ["職務", "本程序中的職責"]))
    assert f"逾時升級接手辦理：{no['engineering_review']}「工程部負責人審核裝修方案」" in duties["物業經理"]
    assert f"登記《裝修押金臺帳》：{no['collect_deposit']}；{no['refund_deposit']}" in duties["出納"]
    # a step description from the YAML is printed under its step
    assert "初驗不合格的，通知業主整改，整改後復驗。" in sections(document)[no["final_acceptance"]]
    join = sections(document)[no["inspections_done"]]
    assert join.startswith("方式：匯合") and "4.12「工程部巡檢裝修戶」" in join


def test_special_incident_deadlines_in_words(registry, tmp_path):
    wf = registry.workflow("special_incident")
    document = written(wf, registry, tmp_path)
    no = numbers(wf)
    report = sections(document)[no["written_report"]]
    assert "期限 24h（24小時），最後期限 36h（36小時）" in report
    assert "自「發生時間」所填時間起計" in report
    assert (f"最後期限時：本步驟逾時失效，流程轉 {no['late_report']}「逾36小時公司仍未收到書面報告：物業經理說明逾時"
            "原因並補交書面報告」") in report
    late = sections(document)[no["late_report"]]
    assert f"轉入：{no['written_report']}「事件穩定後寫成書面報告（時間、地點、經過、處理結果）」逾時失效時" in late
    send = sections(document)[no["send_report"]]
    assert "工程主管向公司工程顧問書面匯報（僅當事件性質為「工程事故」〔nature == '工程事故'〕時須辦理）" in send
    sign = sections(document)[no["manager_sign"]]
    assert "發起人本人亦可簽署" in sign


def test_schedules_targets_and_parents_in_words(registry, tmp_path):
    fees = full_text(written(registry.workflow("fee_collection"), registry, tmp_path))
    assert "每月1日 09:00（0 9 1 * *）：每月1號打印繳費清單" in fees
    assert "所屬月份＝{run:%Y-%m}（按發起時間填入，如 2026-11）" in fees
    assert "另由系統按排程自動發起（見 5.3）" in fees
    repair = full_text(written(registry.workflow("repair_order"), registry, tmp_path))
    assert "維修回訪率：" in repair and "的比例不低於 60%" in repair
    assert "每日報修回訪率：" in repair and "每日均須達到" in repair
    assert "另由《投訴處理》流程的 4.5「開出工程維修單交維修部」步驟自動發起" in repair
    complaint = full_text(written(registry.workflow("complaint"), registry, tmp_path))
    assert "系統自動發起《客戶報修》流程（repair_order" in complaint
    assert "本流程不等待其結束" in complaint
    assert "是否緊急情況＝「否」〔False〕" in complaint


def test_golden_key_ledger_postings(registry, tmp_path):
    wf = registry.workflow("golden_key_service")
    document = written(wf, registry, tmp_path)
    issue = sections(document)[numbers(wf)["issue_slip"]]
    assert ("《金鑰匙服務預付金使用臺帳》記入存入（deposit，收入），金額：預付金額〔prepaid〕；"
            "僅當服務性質為「有償」〔nature == '有償'〕時記帳；摘要「業主預付金」") in issue
    assert "一式兩聯（存根聯、業主聯）" in issue


def test_approval_rules_in_words(toy, tmp_path):
    def step_text(workflow: str, step: str) -> str:
        wf = toy.workflow(workflow)
        return sections(written(wf, toy, tmp_path))[numbers(wf)[step]]

    assert "須 2 位不同人員（工程部、保安部、經理）簽署同意，其中須包括經理；同一人不得重複簽署" in \
        step_text("quorum", "vote")
    assert "須依序由 工程部 → 保安部 各一人簽署同意" in step_text("approve_all", "sign")
    late = step_text("late_sign", "sign")
    assert "須 工程部、保安部 每一職務各一人簽署同意（不分先後）" in late
    assert "發起人不得審批自己發起的流程" in late
    assert "逾期 1 working day（1個工作日）後：改由文員承辦" in late
    assert "到期時：升級至經理" in late  # `after: 0m` is the due time itself
    timed = step_text("timed", "handle")
    assert "可暫停：等待業主回覆（owner）" in timed
    assert "逾期 2 working hours（2個工作小時）後：升級至經理（可直接辦理本步驟）" in timed
    assert "最後期限時：本步驟逾時失效，流程轉 4.3「late」" in timed
    follow = step_text("followup", "visit_later")
    assert "於本步驟到達 7d（7天）後才開始" in follow and "本流程不等待其結束，隨即轉 4.4「done」" in follow
    parent = step_text("parent", "spawn")
    assert "待該流程結束，依其結果繼續" in parent and "轉 4.3「good」" in parent and "轉 4.4「bad」" in parent


def test_written_to_a_file_object_and_a_text_path(registry, tmp_path):
    wf = registry.workflow("pet_registration")
    buffer = io.BytesIO()
    write_manual(wf, registry, buffer, today=TODAY)
    from_buffer = docx.Document(io.BytesIO(buffer.getvalue()))
    write_manual(wf, registry, str(tmp_path / "pet.docx"), today=TODAY)
    from_path = docx.Document(str(tmp_path / "pet.docx"))
    assert full_text(from_buffer) == full_text(from_path) == full_text(build_manual(wf, registry, today=TODAY))
    assert "寵物登記作業指導書" in full_text(from_path)


def test_expressions_in_words(registry):
    wf = registry.workflow("golden_key_service")
    assert condition_words(Expression("nature == '無償'"), wf) == "服務性質為「無償」"
    assert condition_words(Expression("estimate <= balance('prepaid')"), wf) == \
        "費用預算小於或等於《金鑰匙服務預付金使用臺帳》餘額"
    assert condition_words(Expression("cost is None"), wf) == "實際費用（支出及有償服務費）未填"
    assert condition_words(Expression("nature != '有償' or prepaid > 0"), wf) == "服務性質不為「有償」，或預付金額大於0"
    assert condition_words(Expression("nature in ['有償', '無償'] and not (cost is None)"), wf) == \
        "服務性質為「有償」或「無償」，且並非（實際費用（支出及有償服務費）未填）"
    assert condition_words(Expression("prepaid[0] > 1"), wf) is None  # shown as written instead


def test_cron_and_durations_in_words():
    assert cron_words("0 9 1 * *") == "每月1日 09:00"
    assert cron_words("30 8 * * *") == "每天 08:30"
    assert cron_words("0 9 * * 1-5") == "每週一至週五 09:00"
    assert cron_words("0 9 1 1 *") == "每年1月1日 09:00"
    assert cron_words("*/5 * * * *") is None
    assert duration_words(parse_duration("3 working days")) == "3 working days（3個工作日）"
    assert duration_words(parse_duration("36h")) == "36h（36小時）"
    assert duration_words(parse_duration("15m")) == "15m（15分鐘）"
    assert duration_words(parse_duration("3個工作日")) == "3個工作日"
