"""Moving running instances to a new version (`goldkey migrate`, engine/migrate.py): on real databases, the dry run's
verdicts and reasons after a workflow's YAML changed (a step renamed, a required field added, a step added, a field
tightened), the move (one transaction and one audit event per instance, tasks kept, roles refreshed), the moved
instances going on on the new graph, the audit chain, a second run moving nothing; the pure checks (ledgers, timers,
sub-procedures, holds, parallels); the CLI's table and JSON; the admin page and the API."""

from __future__ import annotations

import json
import re
from datetime import timedelta
from html import unescape
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from engine import core, definitions, migrate
from engine.errors import Forbidden, Invalid
from engine.service import Engine

from .conftest import T0, Cli, CoreRun
from .test_definitions import TOY, copy_defs, edit

USERS = [("amy", ["clerk"]), ("ed", ["eng"]), ("sam", ["sec"]), ("bo", ["boss"])]
FIX = """id: fix
title: 報修
form: memo
start: {roles: [clerk], fields: [subject, amount], next: triage}
steps:
  triage: {kind: form, title: 分派, roles: [clerk], fields: [note], next: repair}
  repair: {kind: form, title: 維修, roles: [eng], fields: [count], next: sign}
  sign: {kind: approval, title: 驗收, roles: [eng, sec], approvals: all, outcomes: {approve: done, reject: done}}
  done: {kind: end, title: 完成}
"""


def make_defs(folder: Path) -> Path:
    """The toy definitions with administrators (經理) and the workflow `fix`."""
    folder.mkdir()
    root = copy_defs(TOY, folder)
    (root / "goldkey.yaml").write_text((root / "goldkey.yaml").read_text(encoding="utf-8") + "admin_roles: [boss]\n",
                                       encoding="utf-8")
    (root / "workflows" / "fix.yaml").write_text(FIX, encoding="utf-8")
    return root


def new_version(root: Path) -> None:
    """Fix the procedure: 維修 gets another id (a renamed step), 分派 asks for a date and 經理 may do it too, 驗收
    leads to a new step 覆核, and the subject is at most 6 characters."""
    wf = root / "workflows" / "fix.yaml"
    edit(wf, "repair: {kind: form, title: 維修", "mend: {kind: form, title: 維修")
    edit(wf, "triage: {kind: form, title: 分派, roles: [clerk], fields: [note], next: repair}",
         "triage: {kind: form, title: 分派, roles: [clerk, boss], fields: [note, day], required: [day], next: mend}")
    edit(wf, "outcomes: {approve: done, reject: done}}",
         "outcomes: {approve: review, reject: done}}\n  review: {kind: form, title: 覆核, roles: [boss], "
         "fields: [note], next: done}")
    edit(root / "forms" / "memo.yaml", "maxLength: 20", "maxLength: 6")


def running(eng: Engine) -> dict[str, dict]:
    """Four instances of `fix` on its first version: at 分派, at 維修, at 驗收 signed once, and at 分派 with a
    subject the new version finds too long."""
    out = {"triage": eng.start("fix", "amy", {"subject": "一號", "amount": "50"})}
    at_repair = eng.start("fix", "amy", {"subject": "二號"})
    out["repair"] = eng.complete(at_repair["tasks"][0]["id"], "amy", data={"note": "派工"})
    signing = eng.start("fix", "amy", {"subject": "三號"})
    signing = eng.complete(signing["tasks"][0]["id"], "amy", data={"note": "派工"})
    signing = eng.complete(signing["tasks"][0]["id"], "ed", data={"count": 2})
    out["signed"] = eng.complete(signing["tasks"][0]["id"], "ed", "approve", comment="修好了")
    out["long"] = eng.start("fix", "amy", {"subject": "很長很長的主旨"})
    return out


@pytest.fixture
def setup(new_db, tmp_path, clock):
    root = make_defs(tmp_path / "defs")
    eng = Engine(new_db("migrate.db"), root, clock=clock)
    for name, roles in USERS:
        eng.add_user(name, roles)
    yield root, eng
    eng.close()


def test_a_dry_run_says_which_can_move_and_why_not(setup):
    root, eng = setup
    inst = running(eng)
    old = inst["triage"]["version"]
    assert eng.migration_plan("fix")["instances"] == []  # nothing older than the current version yet
    new_version(root)
    assert eng.reload()["ok"]
    plan = eng.migration_plan("fix")
    assert plan["version"] != old and (plan["movable"], plan["blocked"]) == (2, 2)
    by_id = {i["instance"]: i for i in plan["instances"]}
    assert [i["instance"] for i in plan["instances"]] == [inst[k]["id"] for k in ("triage", "repair", "signed", "long")]
    triage, repair, signed, long = (by_id[inst[k]["id"]] for k in ("triage", "repair", "signed", "long"))
    assert triage == {"instance": inst["triage"]["id"], "number": inst["triage"]["number"], "site": "default",
                      "version": old, "steps": ["分派"], "movable": True, "reasons": [],
                      "notes": ["「分派」改由文員、經理辦理（原為文員）"]}
    assert repair["movable"] is False and repair["reasons"] == ["「維修」在新版本中已刪除（或已改了代號）"]
    assert signed["movable"] is True and signed["steps"] == ["驗收"] and signed["notes"] == []
    assert long["movable"] is False and long["reasons"] == ["資料不符合新版本的表單：「主旨」最多 6 個字"]
    assert eng.migration_plan("fix", old[:6])["movable"] == 2
    assert eng.migration_plan("fix", "abcd")["instances"] == []
    with pytest.raises(Invalid, match="版本「zz」格式不正確"):
        eng.migration_plan("fix", "zz")
    with pytest.raises(Forbidden, match="只有管理人員"):
        eng.migration_plan("fix", user="amy")
    assert [p["workflow"] for p in eng.migration_plans("bo")] == ["fix"]
    assert eng.show(inst["triage"]["id"])["version"] == old  # a dry run writes nothing


def test_migrate_moves_those_that_can_and_they_go_on_on_the_new_version(setup, backend):
    root, eng = setup
    inst = running(eng)
    old = inst["triage"]["version"]
    before = {k: eng.show(v["id"]) for k, v in inst.items()}
    new_version(root)
    assert eng.reload()["ok"]
    with pytest.raises(Forbidden):
        eng.migrate("fix", "amy")
    report = eng.migrate("fix", "bo")
    assert report["moved"] == 2 and [i["moved"] for i in report["instances"]] == [True, False, True, False]
    current = report["version"]
    for key in ("triage", "signed"):  # the same tasks (ids, due times, signatures), on the new version
        shown = eng.show(inst[key]["id"])
        assert shown["version"] == current and shown["status"] == "active"
        assert [(t["id"], t["step"], t["due_at"], t["opened_at"]) for t in shown["tasks"]] == \
            [(t["id"], t["step"], t["due_at"], t["opened_at"]) for t in before[key]["tasks"]]
        event = shown["history"][-1]
        assert (event["type"], event["actor"]) == ("instance_migrated", "bo")
        assert event["payload"]["from"] == old and event["payload"]["to"] == current
        assert shown["history"][:-1] == before[key]["history"]
    for key in ("repair", "long"):
        assert eng.show(inst[key]["id"])["version"] == old
    assert eng.audit()["ok"]
    # the refreshed roles are in the inbox's projection: 經理 may now do 分派
    triage_task = inst["triage"]["tasks"][0]["id"]
    assert triage_task in [t["id"] for t in eng.tasks("bo")]
    assert eng.show(inst["triage"]["id"])["history"][-1]["payload"]["roles"] == {triage_task: ["clerk", "boss"]}
    # 分派 now asks for the date the new version requires, then goes to the renamed step
    with pytest.raises(Invalid, match="日期"):
        eng.complete(triage_task, "bo", data={"note": "派工"})
    moved = eng.complete(triage_task, "bo", data={"note": "派工", "day": "2026-11-20"})
    assert [t["step"] for t in moved["tasks"]] == ["mend"]
    # the second signature of 驗收 leads to the new step 覆核
    signed = eng.complete(inst["signed"]["tasks"][0]["id"], "sam", "approve")
    assert [t["title"] for t in signed["tasks"]] == ["覆核"]
    assert eng.migrate("fix", "bo")["moved"] == 0  # a second run moves nothing
    # the one at 維修 finishes 維修 on its own version; at 驗收 it can move
    at_sign = eng.complete(inst["repair"]["tasks"][0]["id"], "ed", data={"count": 1})
    assert at_sign["version"] == old and [t["step"] for t in at_sign["tasks"]] == ["sign"]
    again = eng.migrate("fix", "bo")
    assert again["moved"] == 1 and eng.show(inst["repair"]["id"])["version"] == current
    assert eng.audit()["ok"]
    versions = {v for (v,) in eng.store.conn.execute("SELECT version FROM versions WHERE workflow='fix'")}
    assert versions == {old, current}


def test_the_history_says_so_in_words(setup):
    from server.views import _event_line

    root, eng = setup
    inst = running(eng)
    new_version(root)
    eng.reload()
    eng.migrate("fix", "bo")
    shown = eng.show(inst["triage"]["id"])
    wf = eng.workflow_at(shown["version"])
    line = _event_line(shown["history"][-1], wf, {"bo": "陳經理"}, eng.registry.site.tz, T0, eng.registry.site.roles)
    assert line["what"] == "流程定義已更新至新版本" and line["who"] == "陳經理（bo）"
    assert line["detail"] == "「分派」改由文員、經理辦理（原為文員）"


# --- the checks, on the pure core ---------------------------------------------------------------------------------

def versions(tmp_path: Path, *changes: tuple[str, str, str]) -> tuple[definitions.Registry, definitions.Registry]:
    """The toy definitions, and a copy changed by (file, old text, new text) edits."""
    (tmp_path / "new").mkdir()
    root = copy_defs(TOY, tmp_path / "new")
    for name, old, new in changes:
        edit(root / name, old, new)
    return definitions.load_strict(TOY), definitions.load_strict(root)


def test_ledgers_must_keep_their_entries_and_floor(tmp_path):
    old, new = versions(tmp_path, ("workflows/split.yaml", "cash: {title: 現金帳, entries: {in: in, out: out}}",
                                   "cash: {title: 現金帳, floor: 200, entries: {in: in, refund: out}}"),
                        ("workflows/split.yaml", "entry: out", "entry: refund"))
    run = CoreRun(old, "split")
    run.start({"subject": "x", "amount": "100"})
    move = migrate.plan(run.wf, new.workflow("split"), run.state, T0)
    assert move.reasons == ["臺帳「現金帳」在新版本中沒有「支出」",
                            "臺帳「現金帳」目前餘額 ¥100.00，低於新版本的下限 ¥200.00"]
    assert move.state is None


def test_a_timer_needs_a_wait_and_a_held_task_its_hold(tmp_path):
    old, new = versions(tmp_path, ("workflows/split.yaml", "later: {kind: wait, duration: 7d, next: visit}",
                                   "later: {kind: form, roles: [clerk], fields: [note], next: visit}"),
                        ("workflows/timed.yaml", "holds: {owner: 等待業主回覆}", "holds: {away: 業主出國}"))
    run = CoreRun(old, "split")
    run.start({"subject": "x", "amount": "10"})
    run.act("left", data={"checked": ["a"]})
    run.act("right", data={"spend": "4"})
    assert [t["step"] for t in run.state["tokens"].values()] == ["later"]
    move = migrate.plan(run.wf, new.workflow("split"), run.state, T0)
    assert move.reasons == ["「later」在新版本中由「等待」改為「填寫」"]
    held = CoreRun(old, "timed")
    held.start({"subject": "x"})
    task = held.task_id("handle")
    held._apply(core.hold(held.wf, held.state, task, held.actor("ed"), "owner", None, held.now))
    move = migrate.plan(held.wf, new.workflow("timed"), held.state, T0)
    assert move.reasons == ["「handle」暫停中（等待業主回覆），新版本沒有這個暫停狀態"]


def test_a_timer_keeps_its_time_when_the_wait_changes(tmp_path):
    old, new = versions(tmp_path, ("workflows/split.yaml", "duration: 7d", "duration: 14d"))
    run = CoreRun(old, "split")
    run.start({"subject": "x", "amount": "10"})
    run.act("left", data={"checked": ["a"]})
    run.act("right", data={"spend": "4"})
    until = next(iter(run.state["tokens"].values()))["until"]
    move = migrate.plan(run.wf, new.workflow("split"), run.state, T0)
    assert move.movable and move.notes == ["「later」的等待仍至原來的時間"]
    result = migrate.result(move, run.wf, new.workflow("split"), T0, "bo")
    assert next(iter(result.state["tokens"].values()))["until"] == until == result.state["wake_at"]
    assert result.state["version"] == new.workflow("split").version != run.state["version"]


def test_a_sub_procedure_waited_for_must_stay_the_same_workflow(tmp_path):
    old, new = versions(tmp_path, ("workflows/parent.yaml", "workflow: quorum", "workflow: approve_all"))
    run = CoreRun(old, "parent")
    run.start({"subject": "x"})
    assert any(t.get("child") for t in run.state["tokens"].values())
    move = migrate.plan(run.wf, new.workflow("parent"), run.state, T0)
    assert move.reasons == ["子流程「spawn」在新版本中改為啟動另一個流程"]


def test_a_changed_ladder_counts_again_from_the_due_time(tmp_path):
    old, new = versions(tmp_path, ("workflows/timed.yaml", "      - {after: 2 working hours, escalate: [boss]}\n", ""))
    run = CoreRun(old, "timed")
    run.start({"subject": "x"})
    task_id = run.task_id("handle")
    task = run.state["tasks"][task_id]
    later = T0 + timedelta(days=1)  # past the reminder and the due time, before the hard limit
    move = migrate.plan(run.wf, new.workflow("timed"), run.state, later)
    assert move.movable and move.notes == ["「handle」的期限提醒改按新版本；已過的時間點不再補發"]
    moved = move.state["tasks"][task_id]
    assert (moved["due_at"], moved["hard_at"]) == (task["due_at"], task["hard_at"])
    assert len(moved["ladder"]) == 3 and moved["fired"] == [0, 1]  # the reminder and the notice are past
    result = migrate.result(move, run.wf, new.workflow("timed"), later, "bo")
    assert result.state["wake_at"] == moved["ladder"][2] and result.events[0]["type"] == "instance_migrated"


# --- the CLI ------------------------------------------------------------------------------------------------------

def test_the_cli_prints_a_table_or_json_and_moves(new_db, tmp_path):
    root = make_defs(tmp_path / "defs")
    db = new_db("cli.db")
    eng = Engine(db, root)
    for name, roles in USERS:
        eng.add_user(name, roles)
    inst = running(eng)
    eng.close()
    new_version(root)
    cli = Cli(db, root)
    table = cli.run("migrate", "fix", "--dry-run").stdout
    lines = table.splitlines()
    assert lines[0].startswith("報修（fix）目前版本 ") and lines[-1] == "可移轉 2 件，不可移轉 2 件"
    assert re.search(r"^案件\s+編號\s+原版本\s+目前步驟\s+可否移轉\s+原因／變更$", lines[1])
    row = next(x for x in lines if x.startswith(str(inst["repair"]["id"]) + " "))
    assert "維修" in row and "不可移轉" in row and "「維修」在新版本中已刪除" in row
    plan = cli.json("migrate", "fix", "--dry-run", "--json")
    assert (plan["movable"], plan["blocked"]) == (2, 2)
    refused = cli.run("migrate", "fix", ok=False)
    assert refused.returncode == 2 and "--as USER" in refused.stderr
    assert cli.run("migrate", "fix", "--as", "amy", ok=False).returncode == 3
    bad = cli.run("migrate", "fix", "--from", "zz", "--dry-run", ok=False)
    assert bad.returncode == 1 and bad.stderr.startswith("goldkey: 版本「zz」格式不正確") and bad.stdout == ""
    assert cli.run("migrate", "nope", "--dry-run", ok=False).returncode == 4
    done = cli.run("migrate", "fix", "--as", "bo").stdout.splitlines()
    assert done[-1] == "已移轉 2 件，不可移轉 2 件" and sum("已移轉" in x for x in done[2:-1]) == 2
    again = cli.json("migrate", "fix", "--as", "bo", "--json")
    assert again["moved"] == 0 and again["blocked"] == 2
    assert cli.json("audit")["ok"]


# --- the admin page and the API -------------------------------------------------------------------------------------

@pytest.fixture
def app_site(new_db, tmp_path, clock):
    from server.app import create_app

    root = make_defs(tmp_path / "defs")
    app = create_app(new_db("ui.db"), definitions.load_strict(root), tick_seconds=0, clock=clock)
    with TestClient(app):
        eng = app.state.engine
        for name, roles in USERS:
            eng.add_user(name, roles)
            eng.set_password(name, "secret-pass")
        yield root, app, eng


def login(app, name: str) -> TestClient:
    client = TestClient(app, raise_server_exceptions=False, follow_redirects=False)
    page = client.get("/login").text
    resp = client.post("/login", data={"name": name, "password": "secret-pass", "csrf": csrf(page)})
    assert resp.status_code == 303
    return client


def csrf(html: str) -> str:
    return re.search(r'name="csrf" value="([^"]+)"', html).group(1)


def test_the_admin_page_lists_them_and_its_button_moves_them(app_site):
    root, app, eng = app_site
    inst = running(eng)
    boss = login(app, "bo")
    assert "沒有按舊版本進行中的案件" in boss.get("/admin").text
    new_version(root)
    assert eng.reload()["ok"]
    page = boss.get("/admin")
    assert page.status_code == 200
    text = unescape(page.text)
    assert "移轉進行中的案件" in text and "報修" in text and "可移轉 2 件，不可移轉 2 件" in text
    assert "「維修」在新版本中已刪除（或已改了代號）" in text and "資料不符合新版本的表單：「主旨」最多 6 個字" in text
    assert 'name="migrate" value="fix"' in page.text
    refused = boss.post("/admin", data={"migrate": "fix"})
    assert refused.status_code == 403 and eng.show(inst["triage"]["id"])["version"] == inst["triage"]["version"]
    moved = boss.post("/admin", data={"migrate": "fix", "csrf": csrf(page.text)})
    assert moved.status_code == 200 and "已移轉 2 件" in unescape(moved.text)
    assert eng.show(inst["triage"]["id"])["version"] != inst["triage"]["version"]
    assert "可移轉 0 件，不可移轉 2 件" in unescape(moved.text) and 'name="migrate"' not in moved.text
    unknown = boss.post("/admin", data={"migrate": "nope", "csrf": csrf(moved.text)})
    assert unknown.status_code == 404 and "沒有流程「nope」" in unescape(unknown.text)
    history = unescape(boss.get(f"/instances/{inst['triage']['id']}").text)
    assert "流程定義已更新至新版本" in history
    clerk = login(app, "amy")
    assert clerk.get("/admin").status_code == 403
    page = clerk.get("/")
    assert clerk.post("/admin", data={"migrate": "fix", "csrf": csrf(page.text)}).status_code == 403


def test_the_api_gives_the_dry_run_and_moves(app_site):
    root, app, eng = app_site
    inst = running(eng)
    new_version(root)
    eng.reload()
    tokens = {name: {"Authorization": f"Bearer {eng.new_token(name)}"} for name in ("bo", "amy")}
    client = TestClient(app, raise_server_exceptions=False)
    plan = client.get("/api/admin/migrations/fix", headers=tokens["bo"])
    assert plan.status_code == 200 and (plan.json()["movable"], plan.json()["blocked"]) == (2, 2)
    assert client.get("/api/admin/migrations/fix", headers=tokens["amy"]).status_code == 403
    assert client.get("/api/admin/migrations/fix").status_code == 401
    assert client.get("/api/admin/migrations/nope", headers=tokens["bo"]).status_code == 404
    bad = client.get("/api/admin/migrations/fix?from=zz", headers=tokens["bo"])
    assert bad.status_code == 422 and bad.json()["details"] == [{"field": "from", "message": "版本格式不正確"}]
    assert client.get("/api/admin/migrations/fix?form=1", headers=tokens["bo"]).status_code == 422
    assert client.post("/api/admin/migrations/fix", headers=tokens["amy"]).status_code == 403
    assert client.post("/api/admin/migrations/fix", headers=tokens["bo"], content=b"[1]").status_code == 422
    moved = client.post("/api/admin/migrations/fix", headers=tokens["bo"],
                        json={"from": inst["triage"]["version"][:8]})
    assert moved.status_code == 200 and moved.json()["moved"] == 2
    assert client.post("/api/admin/migrations/fix", headers=tokens["bo"]).json()["moved"] == 0
    session = login(app, "bo")
    assert session.post("/api/admin/migrations/fix").status_code == 403  # a session's post needs its CSRF token
    assert json.loads(client.get("/api/admin/migrations/fix", headers=tokens["bo"]).text)["movable"] == 0


def test_a_child_moves_only_where_its_waiting_parent_knows_its_outcomes(new_db, tmp_path, clock):
    root = make_defs(tmp_path / "defs")
    eng = Engine(new_db("child.db"), root, clock=clock)
    try:
        for name, roles in USERS:
            eng.add_user(name, roles)
        parent = eng.start("parent", "amy", {"subject": "上層"})
        child = parent["children"][0]["instance"]
        edit(root / "workflows" / "quorum.yaml", "outcomes: {approve: approved, reject: rejected}",
             "outcomes: {approve: approved, reject: rejected, withdraw: withdraw}")
        edit(root / "workflows" / "quorum.yaml", "  rejected: {kind: end, outcome: rejected}",
             "  rejected: {kind: end, outcome: rejected}\n  withdraw: {kind: end, title: 撤回, outcome: withdrawn}")
        edit(root / "workflows" / "parent.yaml", "outcomes: {approved: good, rejected: bad}",
             "outcomes: {approved: good, rejected: bad, withdrawn: bad}")
        assert eng.reload()["ok"]
        plan = eng.migration_plan("quorum")
        assert [(i["instance"], i["reasons"]) for i in plan["instances"]] == [
            (child, ["上層案件的「spawn」不接受新版本可能的結果：「撤回」"])]
        assert eng.migrate("parent", "bo")["moved"] == 1  # the parent may move: its sub-procedure is the same
        assert eng.migration_plan("quorum")["movable"] == 1  # and then the child too
        assert eng.migrate("quorum", "bo")["moved"] == 1
        done = eng.complete(eng.show(child)["tasks"][0]["id"], "bo", "withdraw", comment="撤回申請")
        assert done["status"] == "completed" and eng.show(parent["id"])["outcome"] == "bad"
        assert eng.audit()["ok"]
    finally:
        eng.close()
