"""金鑰匙服務: every ledger case through the pure core and through the CLI on a real SQLite file."""

from __future__ import annotations

import pytest

from engine.errors import Invalid

PAID = {"owner": "李先生", "unit": "3-1201", "phone": "13800000000", "category": "訂票",
        "request": "訂兩張火車票", "nature": "有償", "prepaid": "500"}
FREE = dict(PAID, nature="無償", category="問詢", request="查詢社區附近的郵局")
del FREE["prepaid"]


def slip_issued(core_run, data=PAID):
    """A paid request registered and its slip issued: the prepayment is in the ledger."""
    run = core_run("golden_key_service")
    run.start(data)
    run.act("issue_slip")
    return run


def test_surplus_is_refunded(core_run):
    run = slip_issued(core_run)
    run.act("plan", data={"route": "樓宇管家獨立完成", "estimate": "300"})
    run.act("do_self", data={"result": "已訂票", "cost": "320.50"})
    run.act("record_expense", data={"expense_note": "車票及代辦費"})
    run.act("refund_surplus")
    run.act("redeem", data={"checked": ["verify_holder", "hand_over", "register"]})
    assert run.state["status"] == "completed"
    assert run.ledger() == [("deposit", 50000, 50000), ("expense", 32050, 17950), ("refund", 17950, 0)]


def test_exact_use_needs_no_refund(core_run):
    run = slip_issued(core_run)
    run.act("plan", data={"route": "客服中心協調各部門", "estimate": "500", "departments": ["工程部"]})
    run.act("coordinate", data={"result": "已完成", "cost": "500"})
    run.act("record_expense")
    assert run.open_steps() == ["redeem"]
    run.act("redeem", data={"checked": ["verify_holder", "hand_over", "register", "receipts"]})
    assert run.state["outcome"] == "completed"
    assert run.ledger() == [("deposit", 50000, 50000), ("expense", 50000, 0)]


def test_shortfall_with_top_up_continues(core_run):
    run = slip_issued(core_run)
    run.act("plan", data={"route": "金鑰匙聯盟網絡", "estimate": "800", "partner": "金鑰匙24小時服務中心"})
    assert run.open_steps() == ["tell_owner"]
    run.act("tell_owner", outcome="continue", data={"owner_reply": "同意加付"})
    run.act("top_up", data={"top_up": "300"})
    run.act("print_top_up")
    assert run.open_steps() == ["network"]
    run.act("network", data={"result": "已預訂", "cost": "780"})
    run.act("record_expense")
    run.act("refund_surplus")
    run.act("redeem", data={"checked": ["verify_holder", "hand_over", "register"]})
    assert run.ledger() == [("deposit", 50000, 50000), ("top_up", 30000, 80000), ("expense", 78000, 2000),
                            ("refund", 2000, 0)]
    printed = [e["payload"]["printout"] for e in run.events if e["type"] == "task_completed"
               and "printout" in e["payload"]]
    assert printed == ["slip", "top_up_voucher", "refund_voucher"]


def test_shortfall_with_cancellation_refunds_everything(core_run):
    run = slip_issued(core_run)
    run.act("plan", data={"route": "樓宇管家獨立完成", "estimate": "800"})
    run.act("tell_owner", outcome="stop", data={"owner_reply": "不再需要"})
    run.act("refund_all")
    run.act("take_back", data={"checked": ["slip_returned"]})
    assert run.open_steps() == ["take_back"]
    run.act("take_back", data={"checked": ["register_cancelled"]})
    assert (run.state["status"], run.state["outcome"]) == ("cancelled", "cancelled")
    assert run.ledger() == [("deposit", 50000, 50000), ("refund", 50000, 0)]


def test_cost_over_balance_after_the_work_goes_back_to_the_owner(core_run):
    run = slip_issued(core_run)
    run.act("plan", data={"route": "樓宇管家獨立完成", "estimate": "450"})
    run.act("do_self", data={"result": "完成", "cost": "620"})
    assert run.open_steps() == ["tell_owner"]
    run.act("tell_owner", outcome="continue")
    run.act("top_up", data={"top_up": "120"})
    run.act("print_top_up")
    assert run.open_steps() == ["record_expense"]
    run.act("record_expense")
    assert run.ledger()[-1] == ("expense", 62000, 0)


def test_free_service_posts_nothing(core_run):
    run = core_run("golden_key_service")
    run.start(FREE)
    run.act("issue_slip")
    run.act("plan", data={"route": "樓宇管家獨立完成"})
    run.act("do_self", data={"result": "已告知"})
    run.act("redeem", data={"checked": ["verify_holder", "hand_over", "register"]})
    assert run.state["status"] == "completed" and run.ledger() == []


def test_paid_service_needs_a_prepayment(core_run):
    run = core_run("golden_key_service")
    with pytest.raises(Invalid) as err:
        run.start(dict(PAID, prepaid="0"))
    assert err.value.details == [{"field": "prepaid", "message": "有償服務須登記業主預付金額"}]


def test_cli_walks_the_surplus_case_on_sqlite(cli):
    cli.run("users", "add", "wang", "--role", "concierge")
    inst = cli.json("start", "golden_key_service", "--as", "wang", "--data",
                    '{"owner": "李先生", "unit": "3-1201", "phone": "13800000000", "category": "訂票", '
                    '"request": "訂票", "nature": "有償", "prepaid": 500.00}')
    assert inst["number"].startswith("JYS-") and inst["data"]["prepaid"] == "500.00"
    assert [e["type"] for e in inst["history"]] == ["instance_started", "task_opened"] and inst["ledger"] == []
    cli.render(inst["id"], "slip", "wang")
    inst = cli.json("complete", cli.task(inst, "issue_slip"), "--as", "wang")
    inst = cli.json("complete", cli.task(inst, "plan"), "--as", "wang", "--data",
                    '{"route": "樓宇管家獨立完成", "estimate": 300}')
    inst = cli.json("complete", cli.task(inst, "do_self"), "--as", "wang", "--data",
                    '{"result": "已訂票", "cost": 199.99}')
    inst = cli.json("complete", cli.task(inst, "record_expense"), "--as", "wang")
    cli.render(inst["id"], "refund_voucher", "wang")
    inst = cli.json("complete", cli.task(inst, "refund_surplus"), "--as", "wang")
    inst = cli.json("complete", cli.task(inst, "redeem"), "--as", "wang", "--data",
                    '{"checked": ["verify_holder", "hand_over", "register"]}')
    assert inst["status"] == "completed" and inst["balances"] == {"prepaid": "0.00"}
    shown = cli.json("show", str(inst["id"]))
    assert [(e["entry"], e["amount"], e["balance"], e["number"]) for e in shown["ledger"]] == [
        ("deposit", 50000, 50000, inst["number"]), ("expense", 19999, 30001, inst["number"]),
        ("refund", 30001, 0, inst["number"])]
