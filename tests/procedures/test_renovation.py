"""裝修管理: application, the three signatures (rework and reject at each), deposit, permits, parallel patrols,
acceptance with re-inspection, deposit refund in the ledger; the main and rejected paths via the CLI."""

from __future__ import annotations

import json

import pytest

from engine.errors import Forbidden, Invalid

APPLICATION = {
    "applicant_type": "業主", "applicant": "黃先生", "unit": "9-1101", "phone": "13622223333",
    "contractor": "安居裝飾工程有限公司", "contractor_licence": "91440300MA5F", "contractor_contact": "劉工",
    "contractor_phone": "13033334444", "scope": "客廳及兩間臥室鋪木地板，廚房更換櫥櫃，衛生間翻新防水",
    "design": "平面設計圖一張，水電佈置圖一張", "plan": "先做水電改造及防水，閉水試驗48小時後鋪貼",
    "structural_change": False, "hot_work": True, "workers": 6, "start_date": "2026-11-10",
    "end_date": "2027-01-20", "deposit": "3000"}
ASSISTANT, LEAD, SUPERVISOR, MANAGER = ["assistant"], ["engineering_lead"], ["supervisor"], ["manager"]
CASHIER, ENGINEERING, SECURITY, CLEANING = ["cashier"], ["engineering"], ["security"], ["cleaning"]
DOCUMENTS = ["id_copies", "contractor_licences", "floor_plan", "utility_plan"]
PASSES = ["material_pass", "worker_passes", "regulations"]
ENGINEERING_PATROL = ["permit_posted", "as_approved", "no_violations", "no_wiring_abuse"]
SECURITY_PATROL = ["extinguishers", "hot_work_notified", "worker_passes", "no_hazards", "no_violations", "materials"]
PATROLS = ["cleaning_patrol", "engineering_patrol", "security_patrol"]


def printed(run) -> list[str]:
    return [e["payload"]["printout"] for e in run.events
            if e["type"] == "task_completed" and "printout" in e["payload"]]


def receive(core_run, data=APPLICATION):
    run = core_run("renovation")
    run.start(data, user="xiao", roles=ASSISTANT, number="ZX-2026-00001")
    assert run.open_steps() == ["check_documents"]
    run.act("check_documents", data={"checked": DOCUMENTS[:2]}, user="xiao", roles=ASSISTANT)
    assert run.open_steps() == ["check_documents"]  # still missing the drawings
    run.act("check_documents", data={"checked": DOCUMENTS[2:]}, user="xiao", roles=ASSISTANT)
    assert run.open_steps() == ["print_application"]  # the structural drawings are optional
    run.act("print_application", user="xiao", roles=ASSISTANT)
    assert run.open_steps() == ["engineering_review"]
    return run


def review(run, outcome="approve", comment=None, data=None):
    run.act("engineering_review", outcome=outcome, comment=comment, data=data, user="gong", roles=LEAD)


def sign(run, outcome="approve", comment=None):
    run.act("supervisor_sign", outcome=outcome, comment=comment, user="zhu", roles=SUPERVISOR)


def approve(run, outcome="approve", comment=None, data=None):
    run.act("manager_approval", outcome=outcome, comment=comment, data=data, user="jing", roles=MANAGER)


def approvals(run) -> list[tuple[str, str, str]]:
    return [(a["step"], a["by"], a["outcome"]) for a in run.state["approvals"]]


def issue_and_patrol(run) -> None:
    assert run.open_steps() == ["collect_deposit"]
    run.act("collect_deposit", data={"deposit_receipt": "SJ-0088"}, user="chu", roles=CASHIER)
    assert run.ledger() == [("deposit", 300000, 300000)]
    assert run.open_steps() == ["issue_permit"]
    run.act("issue_permit", user="xiao", roles=ASSISTANT)
    run.act("issue_passes", data={"checked": PASSES[:2]}, user="xiao", roles=ASSISTANT)
    assert run.open_steps() == ["issue_passes"]
    run.act("issue_passes", data={"checked": PASSES[2:]}, user="xiao", roles=ASSISTANT)
    run.act("sign_agreement", user="xiao", roles=ASSISTANT)
    assert run.open_steps() == PATROLS  # the three departments inspect at once
    run.act("security_patrol", data={"checked": SECURITY_PATROL[:3]}, user="bao", roles=SECURITY)
    run.act("engineering_patrol", data={"checked": ENGINEERING_PATROL}, user="gcb", roles=ENGINEERING)
    assert run.open_steps() == ["cleaning_patrol", "security_patrol"]
    run.act("security_patrol", data={"checked": SECURITY_PATROL[3:]}, user="bao", roles=SECURITY)
    assert run.open_steps() == ["cleaning_patrol"]  # the join waits for every branch
    run.act("cleaning_patrol", data={"checked": ["debris_cleared"]}, user="jie", roles=CLEANING)
    assert run.open_steps() == ["request_acceptance"]
    run.act("request_acceptance", data={"completed_on": "2027-01-18"}, user="xiao", roles=ASSISTANT)
    assert run.open_steps() == ["final_acceptance"]


def refund(run, data=None) -> None:
    assert run.open_steps() == ["refund_deposit"]
    run.act("refund_deposit", data=data, user="chu", roles=CASHIER)
    assert run.open_steps() == ["print_refund"]
    run.act("print_refund", user="chu", roles=CASHIER)
    assert run.open_steps() == []
    assert (run.state["status"], run.state["outcome"]) == ("completed", "completed")
    assert run.state["balances"] == {"deposit": 0}


# --- every path of the graph -------------------------------------------------------------------------

def test_approved_renovation_is_inspected_accepted_and_the_deposit_refunded(core_run):
    run = receive(core_run)
    review(run, data={"review_opinion": "方案符合規定，注意衛生間防水"})
    assert run.open_steps() == ["supervisor_sign"]
    sign(run)
    assert run.open_steps() == ["manager_approval"]
    approve(run, data={"manager_note": "同意，按規定辦證"})
    issue_and_patrol(run)
    run.act("final_acceptance", outcome="pass", data={"acceptance_notes": "驗收合格"}, user="gcb", roles=ENGINEERING)
    assert run.open_steps() == ["manager_acceptance"]
    run.act("manager_acceptance", outcome="approve", user="jing", roles=MANAGER)
    refund(run)
    assert run.ledger() == [("deposit", 300000, 300000), ("refund", 300000, 0)]
    assert printed(run) == ["application", "permit", "agreement", "refund_voucher"]
    assert approvals(run) == [("engineering_review", "gong", "approve"), ("supervisor_sign", "zhu", "approve"),
                              ("manager_approval", "jing", "approve"), ("final_acceptance", "gcb", "pass"),
                              ("manager_acceptance", "jing", "approve")]
    memos = [e["payload"]["memo"] for e in run.events if e["type"] == "ledger_posted"]
    assert memos == ["收取裝修押金", "退還裝修押金"]
    assert {e["payload"]["number"] for e in run.events if e["type"] == "ledger_posted"} == {"ZX-2026-00001"}


def test_engineering_rework_goes_back_to_the_application(core_run):
    run = receive(core_run)
    with pytest.raises(Invalid) as err:
        review(run, outcome="rework")
    assert err.value.details == [{"field": "comment", "message": "請填寫意見（原因）"}]
    review(run, outcome="rework", comment="缺少結構改動施工圖")
    assert run.open_steps() == ["revise_application"]
    run.act("revise_application", data={"structural_change": True, "design": "平面圖、水電圖、拆除非承重牆施工圖"},
            user="xiao", roles=ASSISTANT)
    assert run.open_steps() == ["engineering_review"]
    assert run.state["data"]["structural_change"] is True
    review(run)
    sign(run)
    approve(run)
    assert run.open_steps() == ["collect_deposit"]
    assert approvals(run)[0] == ("engineering_review", "gong", "rework")


def test_engineering_rejection_is_explained_to_the_owner(core_run):
    run = receive(core_run)
    with pytest.raises(Invalid):
        review(run, outcome="reject")
    review(run, outcome="reject", comment="擬拆除承重牆，違反裝修管理規定")
    assert run.open_steps() == ["explain_refusal"]
    with pytest.raises(Invalid) as err:
        run.act("explain_refusal", user="gong", roles=LEAD)
    assert err.value.details == [{"field": "refusal_reason", "message": "「向業主解釋的拒絕理由」為必填"}]
    run.act("explain_refusal", data={"refusal_reason": "承重牆不得拆改，已電話告知黃先生"}, user="gong", roles=LEAD)
    assert run.open_steps() == []
    assert (run.state["status"], run.state["outcome"]) == ("completed", "rejected")
    assert run.ledger() == [] and printed(run) == ["application"]


def test_supervisor_rework_goes_back_through_engineering(core_run):
    run = receive(core_run)
    review(run)
    with pytest.raises(Invalid):
        sign(run, outcome="reject", comment="物業主任只能簽字或退回")
    sign(run, outcome="rework", comment="施工期限超過規定")
    assert run.open_steps() == ["revise_application"]
    run.act("revise_application", data={"end_date": "2026-12-31"}, user="xiao", roles=ASSISTANT)
    assert run.open_steps() == ["engineering_review"]
    review(run)
    sign(run)
    approve(run)
    assert run.open_steps() == ["collect_deposit"]
    assert [a[2] for a in approvals(run)] == ["approve", "rework", "approve", "approve", "approve"]


def test_manager_rework_and_rejection(core_run):
    run = receive(core_run)
    review(run)
    sign(run)
    approve(run, outcome="rework", comment="押金金額不足")
    assert run.open_steps() == ["revise_application"]
    run.act("revise_application", data={"deposit": "5000"}, user="xiao", roles=ASSISTANT)
    review(run)
    sign(run)
    approve(run, outcome="reject", comment="施工單位無資質證書")
    assert run.open_steps() == ["explain_refusal"]
    run.act("explain_refusal", data={"refusal_reason": "施工單位資質不符，請更換施工單位後重新申請"}, user="gong",
            roles=LEAD)
    assert run.state["outcome"] == "rejected" and run.ledger() == []


def test_failed_inspection_is_rectified_and_reinspected_then_a_deduction_is_kept(core_run):
    run = receive(core_run)
    review(run)
    sign(run)
    approve(run)
    issue_and_patrol(run)
    with pytest.raises(Invalid):
        run.act("final_acceptance", outcome="fail", user="gcb", roles=ENGINEERING)  # fail needs the reason
    run.act("final_acceptance", outcome="fail", comment="空調外機位置與審批不符", user="gcb", roles=ENGINEERING)
    assert run.open_steps() == ["rectify"]
    run.act("rectify", data={"rectification": "空調外機已移回規定位置"}, user="xiao", roles=ASSISTANT)
    assert run.open_steps() == ["final_acceptance"]  # 復驗
    run.act("final_acceptance", outcome="pass", data={"acceptance_notes": "復驗合格"}, user="gcb", roles=ENGINEERING)
    run.act("manager_acceptance", outcome="rework", comment="公共走廊牆面損壞未驗", user="jing", roles=MANAGER)
    assert run.open_steps() == ["final_acceptance"]
    run.act("final_acceptance", outcome="pass", data={"acceptance_notes": "走廊牆面損壞，須扣押金修復"}, user="gong",
            roles=["engineering_lead"])
    run.act("manager_acceptance", outcome="approve", user="jing", roles=MANAGER)
    with pytest.raises(Invalid) as err:
        run.act("refund_deposit", data={"deduction": "500"}, user="chu", roles=CASHIER)
    assert err.value.details == [{"field": "deduction_reason", "message": "從押金扣款時須註明扣款原因"}]
    with pytest.raises(Invalid) as err:
        run.act("refund_deposit", data={"deduction": "3000.01", "deduction_reason": "修復走廊"}, user="chu",
                roles=CASHIER)
    assert err.value.details == [{"field": "deduction", "message": "扣除金額不能超過裝修押金"}]
    assert run.ledger() == [("deposit", 300000, 300000)]  # nothing posted by the refused attempts
    refund(run, {"deduction": "500", "deduction_reason": "修復公共走廊牆面"})
    assert run.ledger() == [("deposit", 300000, 300000), ("deduct", 50000, 250000), ("refund", 250000, 0)]
    outcomes = [(a["step"], a["outcome"]) for a in run.state["approvals"] if a["step"] != "engineering_review"]
    assert outcomes[2:] == [("final_acceptance", "fail"), ("final_acceptance", "pass"),
                            ("manager_acceptance", "rework"), ("final_acceptance", "pass"),
                            ("manager_acceptance", "approve")]


def test_the_whole_deposit_may_be_kept(core_run):
    run = receive(core_run)
    review(run)
    sign(run)
    approve(run)
    issue_and_patrol(run)
    run.act("final_acceptance", outcome="pass", user="gcb", roles=ENGINEERING)
    run.act("manager_acceptance", outcome="approve", user="jing", roles=MANAGER)
    refund(run, {"deduction": "3000", "deduction_reason": "損壞消防設施，押金全數用於修復"})
    assert run.ledger() == [("deposit", 300000, 300000), ("deduct", 300000, 0)]


# --- who may act, and the rules of the application ---------------------------------------------------------

def test_signatures_come_from_their_roles_and_never_from_the_applicant_clerk(core_run):
    run = core_run("renovation")
    run.start(APPLICATION, user="xiao", roles=["assistant", "engineering_lead"])
    run.act("check_documents", data={"checked": DOCUMENTS}, user="xiao", roles=ASSISTANT)
    run.act("print_application", user="xiao", roles=ASSISTANT)
    with pytest.raises(Forbidden, match="不能由申請人"):
        run.act("engineering_review", outcome="approve", user="xiao", roles=["assistant", "engineering_lead"])
    with pytest.raises(Forbidden):
        run.act("engineering_review", outcome="approve", user="zhu", roles=SUPERVISOR)
    review(run)
    with pytest.raises(Forbidden):
        run.act("supervisor_sign", outcome="approve", user="jing", roles=MANAGER)
    sign(run)
    with pytest.raises(Forbidden):
        run.act("manager_approval", outcome="approve", user="zhu", roles=SUPERVISOR)
    approve(run)
    with pytest.raises(Forbidden):
        run.act("collect_deposit", data={"deposit_receipt": "SJ-1"}, user="xiao", roles=ASSISTANT)
    assert run.open_steps() == ["collect_deposit"]


def test_approvals_are_due_within_three_working_days_each(core_run):
    run = receive(core_run)  # Monday 2026-11-02 09:30 in Shanghai: due Thursday 09:30
    for step, act in (("engineering_review", review), ("supervisor_sign", sign), ("manager_approval", approve)):
        task = run.state["tasks"][run.task_id(step)]
        assert (task["opened_at"], task["due_at"]) == ("2026-11-02T01:30:00+00:00", "2026-11-05T01:30:00+00:00")
        act(run)


@pytest.mark.parametrize("change, details", [
    ({"end_date": "2026-11-09"}, [{"field": "end_date", "message": "施工結束日期不能早於開始日期"}]),
    ({"deposit": "0"}, [{"field": "deposit", "message": "須繳納裝修押金"}]),
    ({"structural_change": True, "design": None},
     [{"field": "design", "message": "改動結構須提供結構改動施工圖及文字說明"}]),
    ({"deposit": "12.345"},
     [{"field": "deposit", "message": "「裝修押金」應為金額（元，最多兩位小數），例如 1234.50"}]),
    ({"start_date": "2026-13-01"}, [{"field": "start_date", "message": "「施工開始日期」格式不正確，例如 2026-11-27"}]),
    ({"contractor": None}, [{"field": "contractor", "message": "「施工單位」為必填"}]),
])
def test_the_application_rules(core_run, change, details):
    data = {k: v for k, v in dict(APPLICATION, **change).items() if v is not None}
    with pytest.raises(Invalid) as err:
        core_run("renovation").start(data, user="xiao", roles=ASSISTANT)
    assert err.value.details == details


def test_acceptance_date_cannot_precede_the_works(core_run):
    run = receive(core_run)
    review(run)
    sign(run)
    approve(run)
    run.act("collect_deposit", data={"deposit_receipt": "SJ-0088", "deposit": "3500"}, user="chu", roles=CASHIER)
    assert run.ledger() == [("deposit", 350000, 350000)]  # the amount actually collected
    run.act("issue_permit", user="xiao", roles=ASSISTANT)
    run.act("issue_passes", data={"checked": PASSES}, user="xiao", roles=ASSISTANT)
    run.act("sign_agreement", user="xiao", roles=ASSISTANT)
    run.act("engineering_patrol", data={"checked": ENGINEERING_PATROL + ["illegal_structures"]}, user="gcb",
            roles=ENGINEERING)
    run.act("security_patrol", data={"checked": [i for i in SECURITY_PATROL if i != "hot_work_notified"]},
            user="bao", roles=["security_lead"])
    assert "security_patrol" in run.open_steps()  # hot work was declared: the notice must be ticked
    run.act("security_patrol", data={"checked": ["hot_work_notified"], "security_findings": "動火前已報備"},
            user="bao", roles=["security_lead"])
    assert run.state["data"]["security_findings"] == "動火前已報備"
    run.act("cleaning_patrol", data={"checked": ["debris_cleared", "littering_reported"]}, user="jie",
            roles=CLEANING)
    with pytest.raises(Invalid) as err:
        run.act("request_acceptance", data={"completed_on": "2026-11-01"}, user="xiao", roles=ASSISTANT)
    assert err.value.details == [{"field": "completed_on", "message": "完工日期不能早於施工開始日期"}]
    assert run.open_steps() == ["request_acceptance"]


# --- the CLI on a real SQLite file -----------------------------------------------------------------------

STAFF = {"xiao": "assistant", "gong": "engineering_lead", "zhu": "supervisor", "jing": "manager", "chu": "cashier",
         "gcb": "engineering", "bao": "security", "jie": "cleaning"}


def users(cli) -> None:
    for name, role in STAFF.items():
        cli.run("users", "add", name, "--role", role)


def steps(inst: dict) -> list[str]:
    return sorted(t["step"] for t in inst["tasks"])


def test_cli_walks_a_renovation_from_application_to_refund(cli):
    users(cli)
    inst = cli.json("start", "renovation", "--as", "xiao", "--data", json.dumps(APPLICATION, ensure_ascii=False))
    assert inst["number"].startswith("ZX-") and inst["balances"] == {"deposit": "0.00"}
    inst = cli.json("complete", cli.task(inst, "check_documents"), "--as", "xiao", "--data",
                    json.dumps({"checked": DOCUMENTS}))
    cli.render(inst["id"], "application", "xiao")
    inst = cli.json("complete", cli.task(inst, "print_application"), "--as", "xiao")
    inst = cli.json("complete", cli.task(inst, "engineering_review"), "--as", "gong", "--outcome", "approve",
                    "--data", '{"review_opinion": "同意"}', "--comment", "方案可行")
    inst = cli.json("complete", cli.task(inst, "supervisor_sign"), "--as", "zhu", "--outcome", "approve")
    inst = cli.json("complete", cli.task(inst, "manager_approval"), "--as", "jing", "--outcome", "approve")
    inst = cli.json("complete", cli.task(inst, "collect_deposit"), "--as", "chu", "--data",
                    '{"deposit": 3000.00, "deposit_receipt": "SJ-0088"}')
    assert inst["balances"] == {"deposit": "3000.00"}
    cli.render(inst["id"], "permit", "xiao")
    inst = cli.json("complete", cli.task(inst, "issue_permit"), "--as", "xiao")
    inst = cli.json("complete", cli.task(inst, "issue_passes"), "--as", "xiao", "--data",
                    json.dumps({"checked": PASSES}))
    cli.render(inst["id"], "agreement", "xiao")
    inst = cli.json("complete", cli.task(inst, "sign_agreement"), "--as", "xiao")
    assert steps(inst) == PATROLS
    inst = cli.json("complete", cli.task(inst, "engineering_patrol"), "--as", "gcb", "--data",
                    json.dumps({"checked": ENGINEERING_PATROL}))
    inst = cli.json("complete", cli.task(inst, "security_patrol"), "--as", "bao", "--data",
                    json.dumps({"checked": SECURITY_PATROL}))
    assert steps(inst) == ["cleaning_patrol"]
    inst = cli.json("complete", cli.task(inst, "cleaning_patrol"), "--as", "jie", "--data",
                    '{"checked": ["debris_cleared"]}')
    inst = cli.json("complete", cli.task(inst, "request_acceptance"), "--as", "xiao", "--data",
                    '{"completed_on": "2027-01-18"}')
    inst = cli.json("complete", cli.task(inst, "final_acceptance"), "--as", "gcb", "--outcome", "fail",
                    "--comment", "陽台防水未做閉水試驗")
    inst = cli.json("complete", cli.task(inst, "rectify"), "--as", "xiao", "--data",
                    '{"rectification": "已補做閉水試驗"}')
    inst = cli.json("complete", cli.task(inst, "final_acceptance"), "--as", "gcb", "--outcome", "pass")
    inst = cli.json("complete", cli.task(inst, "manager_acceptance"), "--as", "jing", "--outcome", "approve")
    inst = cli.json("complete", cli.task(inst, "refund_deposit"), "--as", "chu", "--data",
                    '{"deduction": 200, "deduction_reason": "電梯轎廂護板損壞"}')
    cli.render(inst["id"], "refund_voucher", "chu")
    inst = cli.json("complete", cli.task(inst, "print_refund"), "--as", "chu")
    assert (inst["status"], inst["outcome"], inst["tasks"]) == ("completed", "completed", [])
    assert inst["balances"] == {"deposit": "0.00"}
    assert inst["data"]["deduction"] == "200.00" and inst["data"]["rectification"] == "已補做閉水試驗"
    shown = cli.json("show", str(inst["id"]))
    assert [(e["entry"], e["amount"], e["balance"], e["number"]) for e in shown["ledger"]] == [
        ("deposit", 300000, 300000, inst["number"]), ("deduct", 20000, 280000, inst["number"]),
        ("refund", 280000, 0, inst["number"])]
    assert [(a["step"], a["by"], a["outcome"]) for a in shown["approvals"]] == [
        ("engineering_review", "gong", "approve"), ("supervisor_sign", "zhu", "approve"),
        ("manager_approval", "jing", "approve"), ("final_acceptance", "gcb", "fail"),
        ("final_acceptance", "gcb", "pass"), ("manager_acceptance", "jing", "approve")]


def test_cli_engineering_rejects_and_the_refusal_is_explained(cli):
    users(cli)
    inst = cli.json("start", "renovation", "--as", "xiao", "--data", json.dumps(APPLICATION, ensure_ascii=False))
    inst = cli.json("complete", cli.task(inst, "check_documents"), "--as", "xiao", "--data",
                    json.dumps({"checked": DOCUMENTS + ["structure_plan"]}))
    cli.render(inst["id"], "application", "xiao")
    inst = cli.json("complete", cli.task(inst, "print_application"), "--as", "xiao")
    refused = cli.run("complete", cli.task(inst, "engineering_review"), "--as", "xiao", "--outcome", "approve",
                      ok=False)
    assert refused.returncode == 3  # the assistant is not the engineering lead
    inst = cli.json("complete", cli.task(inst, "engineering_review"), "--as", "gong", "--outcome", "reject",
                    "--comment", "擬拆除承重牆")
    assert steps(inst) == ["explain_refusal"]
    inst = cli.json("complete", cli.task(inst, "explain_refusal"), "--as", "gong", "--data",
                    '{"refusal_reason": "承重牆不得拆改，已當面向業主解釋"}')
    assert (inst["status"], inst["outcome"], inst["tasks"]) == ("completed", "rejected", [])
    shown = cli.json("show", str(inst["id"]))
    assert shown["ledger"] == [] and shown["balances"] == {"deposit": "0.00"}
    assert shown["approvals"][0]["comment"] == "擬拆除承重牆"


def test_without_hot_work_the_hot_work_notice_is_not_needed(core_run):
    run = receive(core_run, dict(APPLICATION, hot_work=False))
    review(run)
    sign(run)
    approve(run)
    run.act("collect_deposit", data={"deposit_receipt": "SJ-0089"}, user="chu", roles=CASHIER)
    run.act("issue_permit", user="xiao", roles=ASSISTANT)
    run.act("issue_passes", data={"checked": PASSES}, user="xiao", roles=ASSISTANT)
    run.act("sign_agreement", user="xiao", roles=ASSISTANT)
    task = run.state["tasks"][run.task_id("security_patrol")]
    from engine.views import task_view
    items = {i["id"]: i["required"] for i in task_view(run.wf, "t", task, run.state["data"])["items"]}
    assert items["hot_work_notified"] is False and items["extinguishers"] is True
    run.act("security_patrol", data={"checked": [i for i in SECURITY_PATROL if i != "hot_work_notified"]},
            user="bao", roles=SECURITY)
    assert "security_patrol" not in run.open_steps()
