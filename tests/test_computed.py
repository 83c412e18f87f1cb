"""Computed fields, the date and row functions of expressions, and what `goldkey check` now tells of an expression
from the schema (a choice a field does not have, values of another kind), of a template's ledger entries and of a
field nothing fills."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime

import pytest

from engine import definitions
from engine.errors import ExpressionError
from engine.expressions import Expression
from engine.exprfuncs import Clock
from engine.workcalendar import BusinessCalendar

from .conftest import REPO, TOY
from .test_definitions import copy_defs, edit

NATIONAL_DAY = Clock(datetime(2026, 9, 30, 8, tzinfo=UTC), BusinessCalendar())  # 16:00 in Shanghai


@pytest.mark.parametrize("text,expected", [
    ("add_days(day, 3)", "2026-12-04"),
    ("add_months(day, 2)", "2027-02-01"),
    ("add_months('2026-01-31', 1)", "2026-02-28"),
    ("add_months('2024-01-31', 1)", "2024-02-29"),
    ("add_months('2026-03-31', -1)", "2026-02-28"),
    ("days_between(day, '2026-12-25')", 24),
    ("days_between('2026-12-25', day)", -24),
    ("days_between(at, '2026-12-02')", 1),  # (a date-time counts as its date)
    ("today()", "2026-09-30"),
    ("add_working_days('2026-09-30', 1)", "2026-10-08"),  # (over the National Day holidays)
    ("working_days_between('2026-09-30', '2026-10-12')", 4),  # (8, 9, the make-up Saturday 10, 12 October)
    ("sum(rows, 'qty')", 3),
    ("sum(rows, 'price')", "12.50"),
    ("count(rows)", 2),
    ("count(rows, 'result', '不合格')", 1),
    ("count(rows, 'note')", 1),
    ("any(rows, 'result', '不合格')", True),
    ("all(rows, 'result', '合格')", False),
    ("count(None)", 0),
    ("sum([1, 2], 10)", 13),
])
def test_date_and_row_functions(text, expected):
    scope = {"day": "2026-12-01", "at": "2026-12-01T23:30:00+08:00",
             "rows": [{"qty": 1, "price": "10.00", "result": "合格", "note": "ok"},
                      {"qty": 2, "price": "2.50", "result": "不合格"}]}
    from decimal import Decimal

    from engine.forms import plain

    value = Expression(text).evaluate({k: ([dict(r, price=Decimal(r["price"])) for r in v] if k == "rows" else v)
                                       for k, v in scope.items()}, None, NATIONAL_DAY)
    assert plain(value) == expected


def test_the_time_functions_need_a_workflow_and_wrong_values_are_refused_in_words():
    with pytest.raises(ExpressionError, match="今天的日期與工作日只能在流程的步驟中計算"):
        Expression("today()").evaluate({})
    for text in ("add_days(day, 1.5)", "add_days('someday', 1)", "add_months(day, 10**9)", "sum(rows, 'name')"):
        with pytest.raises(ExpressionError, match="無法計算|不是有效金額"):
            Expression(text).evaluate({"day": "2026-12-01", "rows": [{"name": "x"}]}, None, NATIONAL_DAY)
    assert Expression("count > 1 and count(rows) > 0").names == {"count", "rows"}  # (a field named like a function)


# --- computed fields ------------------------------------------------------------------------------------------------

def test_a_computed_field_is_kept_current_from_the_others(engine):
    engine.add_user("all", sorted(engine.registry.site.roles))
    from engine import samples

    wf = engine.registry.workflow("renovation")
    data = dict(samples.data(wf.form, wf.start.fields), start_date="2026-12-01", end_date="2026-12-20",
                deposit="3000")
    made = engine.start("renovation", "all", data)
    assert (made["data"]["work_days"], made["data"]["refund_amount"]) == (20, "3000.00")
    assert engine.describe("renovation")["forms"]["renovation_application"]["computed"] == {
        "work_days": "days_between(start_date, end_date) + 1", "refund_amount": "deposit - (deduction or 0)"}


TOTAL = "    day: {type: string, format: date, title: 日期}\n    total: {type: string, format: money, title: 合計}\n" \
        "    total2: {type: string, format: money, title: 合計二}"


@pytest.mark.parametrize("computed,expected", [
    ("computed: {sum_all: \"amount + spend\"}",
     "forms/memo.yaml:16:12: computed field 'sum_all' is not in the schema; declare it under schema.properties with "
     "its type and title"),
    ("computed: {total: \"amount + spnd\"}",
     "forms/memo.yaml:16:19: computed 'amount + spnd' names unknown field 'spnd'; did you mean 'spend'?; it must be a "
     "field of the form"),
    ("computed: {total: \"total + 1\"}", "forms/memo.yaml:16:19: computed field 'total' reads itself"),
    ("computed: {total: \"total2\", total2: \"total\"}",
     "forms/memo.yaml:16:19: computed fields read each other in a circle: total → total2 → total"),
])
def test_a_computed_mistake_is_one_message_at_its_place(tmp_path, computed, expected):
    root = copy_defs(TOY, tmp_path)
    edit(root / "forms/memo.yaml", "    day: {type: string, format: date, title: 日期}", TOTAL)
    edit(root / "forms/memo.yaml", "rules:", computed + "\nrules:")
    assert [str(p) for p in definitions.load(root, display_root="").problems] == [expected]


def test_a_step_may_not_collect_a_computed_field(tmp_path):
    root = copy_defs(TOY, tmp_path)
    edit(root / "forms/memo.yaml", "rules:", "computed: {note: \"subject\"}\nrules:")
    found = [str(p) for p in definitions.load(root, display_root="").problems]
    assert "workflows/chain.yaml:7:47: field 'note' is computed (`computed:` of form 'memo'): no step collects it; " \
           "leave it out of `fields`" in found


# --- stronger lint --------------------------------------------------------------------------------------------------

TYPED = [
    ("subject == 'x' or count == '3'",
     "'count' is a number but is compared with the text '3': write it without quotes (3)"),
    ("amount > '0'", "'amount' is an amount of money but is compared with the text '0': write it without quotes (0)"),
    ("day > 20261201", "'day' is a date but is compared with the number 20261201: compare with a date in quotes, "
                       "e.g. '2026-12-01', or use days_between()"),
    ("day == '12/01'", "'day' is a date but is compared with '12/01', which is not a date (write e.g. '2026-12-01')"),
    ("subject == 3", "'subject' is text but is compared with the number 3: put it in quotes ('3') to compare text"),
    ("day < amount", "'day' (a date) is compared with 'amount' (an amount of money): compare values of one kind"),
]


@pytest.mark.parametrize("condition,message", TYPED, ids=[t[0] for t in TYPED])
def test_a_comparison_of_different_kinds_is_an_error_at_check(tmp_path, condition, message):
    root = copy_defs(TOY, tmp_path)
    edit(root / "forms/memo.yaml", "count is None or count < 100", condition)
    found = [str(p) for p in definitions.load(root, display_root="").problems]
    assert found == [f"forms/memo.yaml:15:13: rule '{condition}': {message}"]


def repository(tmp_path):
    root = tmp_path / "defs"
    shutil.copytree(REPO, root,
                    ignore=shutil.ignore_patterns(".venv", ".git", "tests", "bench", "docs", "*.db", "__pycache__"))
    return root


def test_a_choice_a_field_does_not_have_is_an_error_with_a_hint(tmp_path):
    root = repository(tmp_path)
    edit(root / "workflows/key_loan.yaml", "when: \"condition != '遺失'\"", "when: \"condition != '丟失'\"")
    edit(root / "workflows/key_loan.yaml", "when: \"condition == '遺失'\"", "when: \"condition in ['遺矢', '損壞']\"")
    found = [str(p) for p in definitions.load(root, display_root="").problems]
    assert found == [
        "workflows/key_loan.yaml:36:93: condition 'condition != '丟失'': 'condition' is compared with '丟失', which is "
        "not one of its choices (完好, 損壞, 遺失)",
        "workflows/key_loan.yaml:37:53: condition 'condition in ['遺矢', '損壞']': 'condition' is compared with "
        "'遺矢', which is not one of its choices (完好, 損壞, 遺失)"]


def test_a_field_nothing_fills_is_a_warning(tmp_path):
    root = copy_defs(TOY, tmp_path)
    edit(root / "forms/memo.yaml", "    day: {type: string, format: date, title: 日期}",
         "    day: {type: string, format: date, title: 日期}\n    orphan: {type: string, title: 孤兒}")
    registry = definitions.load(root, display_root="")
    assert not registry.problems
    assert "forms/memo.yaml:14:5: warning: field 'orphan' of form 'memo' is never filled: no step's `fields` " \
           "collects it, nothing computes or passes it in; add it to a step or remove it" in [
               str(w) for w in registry.warnings]


def test_a_ledger_entry_a_template_names_must_exist(tmp_path):
    import zipfile

    root = repository(tmp_path)
    path = root / "printouts/prepaid_refund_voucher.docx"
    with zipfile.ZipFile(path) as archive:
        parts = [(i, archive.read(i)) for i in archive.infolist()]
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for info, data in parts:
            archive.writestr(info, data.replace(b"e.entry in ['deposit', 'top_up']", b"e.entry in ['deposit', 'topup']")
                             if info.filename == "word/document.xml" else data)
    found = [str(p) for p in definitions.load(root, display_root="", templates=True).problems]
    assert len(found) == 1 and found[0].startswith("printouts/prepaid_refund_voucher.docx:")
    assert "no ledger has an entry 'topup'; did you mean 'top_up'? (word/document.xml); the entries are deposit, " \
           "expense, refund, top_up (near “" in found[0]


def test_a_child_reads_its_parent_s_number_and_open_data(engine):
    from engine.core import Run

    from .procedures.test_complaint import ANALYSIS, COMPLAINT

    engine.add_user("desk", ["concierge"])
    engine.add_user("zhu", ["supervisor"])
    inst = engine.start("complaint", "desk", COMPLAINT)
    inst = engine.complete(inst["tasks"][0]["id"], "zhu")
    engine.complete(inst["tasks"][0]["id"], "desk", data=dict(ANALYSIS, needs_repair=True, repair_location="陽台",
                                                               someone_home=True))
    child = engine.store.conn.execute("SELECT id FROM instances WHERE workflow = 'repair_order'").fetchone()[0]
    row = engine.store.instance_row(child)
    parent = row["state"]["parent"]
    assert (parent["id"], parent["number"], parent["workflow"]) == (inst["id"], inst["number"], "complaint")
    assert "phone" not in parent["data"] and "complainant" not in parent["data"]  # (its confidential fields stay)
    assert parent["data"]["department"] == COMPLAINT["department"]
    wf = engine.workflow_at(row["version"])
    run = Run(wf, row["state"], engine.clock(), None)
    # (the pure core's scope, what a child's conditions and values are evaluated on)
    assert Expression("'投訴單 ' + parent['number']").evaluate(run.scope()) == f"投訴單 {inst['number']}"
