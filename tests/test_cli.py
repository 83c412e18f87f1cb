"""The CLI contract: every command documented with an example, JSON out, simulate, tick."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import click
import pytest

from engine import definitions
from engine.cli import main
from engine.simulate import simulate

from .conftest import REPO, UNITS, Cli
from .test_definitions import TOY


def commands(group: click.Group, prefix: tuple[str, ...] = ()):
    for name, cmd in group.commands.items():
        yield prefix + (name,), cmd
        if isinstance(cmd, click.Group):
            yield from commands(cmd, prefix + (name,))


@pytest.mark.parametrize("path,cmd", list(commands(main)), ids=lambda v: " ".join(v) if isinstance(v, tuple) else "")
def test_every_command_has_help_with_an_example(path, cmd):
    assert cmd.help and cmd.help.strip(), f"goldkey {' '.join(path)} has no help"
    if not isinstance(cmd, click.Group):
        assert "Example:" in cmd.help and "goldkey " in cmd.help, f"goldkey {' '.join(path)} has no example"


def test_readme_documents_the_commands():
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    for path, cmd in commands(main):
        if not isinstance(cmd, click.Group):
            assert f"goldkey {' '.join(path)}" in readme, f"README does not mention goldkey {' '.join(path)}"


def test_workflows_and_describe(cli):
    listed = cli.json("workflows")
    ids = [w["id"] for w in listed]
    assert "golden_key_service" in ids and all(len(w["version"]) == 16 for w in listed)
    described = cli.json("describe", "golden_key_service")
    assert described["start"] == {"roles": ["concierge"], "form": "golden_key_slip",
                                  "fields": ["owner", "unit", "phone", "category", "request", "nature", "prepaid",
                                             "owner_signature"],
                                  "required": ["category", "nature", "owner", "phone", "request", "unit"],
                                  "next": "issue_slip", "title": "登記服務需求"}
    schema = described["forms"]["golden_key_slip"]["schema"]
    assert schema["type"] == "object" and schema["properties"]["prepaid"]["pattern"] == "^\\d{1,12}(\\.\\d{1,2})?$"
    steps = {s["id"]: s for s in described["steps"]}
    assert steps["tell_owner"]["outcomes"] == {"continue": "top_up", "stop": "refund_all"}
    assert steps["tell_owner"]["outcome_titles"] == {"continue": "業主加付，繼續服務", "stop": "業主終止服務"}
    assert {p["name"] for p in described["printouts"]} == {"slip", "top_up_voucher", "refund_voucher"}
    assert described["ledgers"]["prepaid"]["entries"]["refund"] == "out"


@pytest.mark.parametrize("workflow", sorted(definitions.load_strict(REPO).workflows))
def test_simulate_finds_no_stuck_path_in_the_repository(workflow):
    proc = Cli(REPO / "unused.db").run("simulate", workflow)
    report = json.loads(proc.stdout)
    assert report["stuck"] == [] and not report["truncated"] and report["ends"]


def test_simulate_reports_a_path_that_cannot_end(tmp_path):
    texts = {p.relative_to(TOY).as_posix(): p.read_text(encoding="utf-8") for p in TOY.rglob("*.yaml")}
    texts["workflows/loop.yaml"] = """
id: loop
title: 死循環
form: memo
start: {roles: [clerk], fields: [subject], next: ask}
steps:
  ask:
    kind: decision
    branches: [{when: "subject == 'x'", to: done}]
    default: again
  again: {kind: form, roles: [clerk], fields: [note], next: again}
  done: {kind: end}
"""
    registry = definitions.load_texts(texts, lint_graph=False)
    report = simulate(registry.workflow("loop"), registry)
    assert report["ends"] == {"done": 1}
    assert report["stuck"] == [{"path": ["start [ask#1]"], "steps": ["again"],
                                "reason": "every way on loops back without reaching an end"}]


def test_tick_fires_due_waits(new_db, tmp_path):
    cli = Cli(new_db("tick.db"), TOY)
    for name, role in [("amy", "clerk"), ("ed", "eng"), ("sam", "sec")]:
        cli.run("users", "add", name, "--role", role)
    inst = cli.json("start", "split", "--as", "amy", "--data", '{"subject": "x", "amount": 10}')
    inst = cli.json("complete", cli.task(inst, "left"), "--as", "ed", "--data", '{"checked": ["a"]}')
    inst = cli.json("complete", cli.task(inst, "right"), "--as", "sam", "--data", '{"spend": 4}')
    assert inst["tasks"] == [] and len(inst["waiting"]) == 1
    until = inst["waiting"][0]["until"]
    assert cli.json("tick", "--now", "2020-01-01T00:00:00+08:00")["timers_fired"] == 0
    assert cli.json("tick", "--now", until)["timers_fired"] == 1
    assert cli.json("tick", "--now", until)["timers_fired"] == 0  # applied once, however often tick runs
    shown = cli.json("show", str(inst["id"]))
    assert [t["step"] for t in shown["tasks"]] == ["visit"]
    assert cli.run("tick", "--now", "yesterday", ok=False).stderr.startswith("goldkey: --now 'yesterday'")


def test_audit_and_users_list(cli):
    cli.run("users", "add", "wang", "--role", "concierge", "--title", "王小明")
    cli.run("users", "add", "wang", "--role", "cs_supervisor")
    assert cli.json("users", "list") == [{"name": "wang", "title": "王小明",
                                          "roles": ["concierge", "cs_supervisor"],
                                          "sites": {"*": ["concierge", "cs_supervisor"]}}]
    assert cli.json("audit") == {"ok": True, "events": 0, "record_events": len(UNITS), "problem": None}


def test_calendar_due_answers_when_something_is_due(cli):
    due = cli.json("calendar", "due", "2026-09-30T16:00", "3 working days")  # 10-08, 10-09, Sat 10-10 (調休)
    assert due["due"] == "2026-10-10T16:00:00+08:00" and due["due_utc"] == "2026-10-10T08:00:00+00:00"
    assert cli.json("calendar", "due", "2026-09-30T08:00:00Z", "4 working hours")["due"] == "2026-10-08T11:00:00+08:00"
    days = {d["date"]: (d["working"], d["name"]) for d in cli.json("calendar", "days", "2026-09-19", "2026-10-11")}
    assert days["2026-09-20"] == (True, "調休上班") and days["2026-10-10"] == (True, "調休上班")
    assert all(not days[f"2026-10-0{d}"][0] for d in range(1, 8)) and not days["2026-09-25"][0]
    assert days["2026-09-19"] == (False, "週末") and "2026-09-21" not in days  # an ordinary Monday is not listed


@pytest.mark.parametrize("args, code, message", [
    (("calendar", "due", "2026-09-30T16:00", "3 working dayz"), 1, "did you mean '3 working days'?"),
    (("calendar", "due", "yesterday", "3d"), 1, "is not an ISO time"),
    (("calendar", "days", "2026-10-01", "2026-13-01"), 1, "is not a date"),
    (("sla", "--from", "2026-11-31"), 1, "is not a date"),
    (("sla", "--workflow", "nope"), 4, "沒有流程"),
    (("hold", "1-2", "--as", "nobody", "--state", "owner"), 4, "沒有使用者"),
    (("notifications", "--as", "nobody"), 4, "沒有使用者"),
])
def test_time_commands_refuse_bad_input_in_one_line(cli, args, code, message):
    proc = cli.run(*args, ok=False)
    assert proc.returncode == code and message in proc.stderr and proc.stderr.count("\n") == 1, proc.stderr


def test_check_passes_with_calendar_warnings_on_stderr_only(cli):
    proc = cli.run("check")
    assert proc.stdout.startswith("ok:")
    assert all(": warning: the public holidays of " in line for line in proc.stderr.splitlines()), proc.stderr


def test_manual_writes_the_work_instruction(new_db, tmp_path):
    import docx

    out = tmp_path / "manual.docx"
    assert Cli(new_db("m.db")).json("manual", "renovation", "-o", str(out))["file"] == str(out)
    text = "\n".join(p.text for p in docx.Document(str(out)).paragraphs)
    assert "裝修管理作業指導書" in text and "工程部" in text


def test_the_console_script_runs_in_its_own_process(tmp_path):
    """The installed `goldkey` command itself (every other CLI test runs in-process)."""
    import subprocess
    import sys
    from pathlib import Path

    script = Path(sys.executable).with_name("goldkey")
    assert script.is_file(), f"the console script is not installed beside {sys.executable}"
    proc = subprocess.run([str(script), "--db", str(tmp_path / "c.db"), "--defs", str(REPO), "workflows"],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert "golden_key_service" in {w["id"] for w in json.loads(proc.stdout)}
    proc = subprocess.run([str(script), "--db", str(tmp_path / "c.db"), "--defs", str(REPO), "show", "99"],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 4 and proc.stderr.startswith("goldkey: ") and proc.stderr.count("\n") == 1


def test_serve_starts_with_demo_users_and_answers(tmp_path):
    import socket
    import subprocess
    import sys
    import time
    import urllib.request

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    cmd = [sys.executable, "-m", "engine.cli", "--db", str(tmp_path / "s.db"), "--defs", str(REPO), "serve",
           "--port", str(port), "--demo", "--tick", "0"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 60  # (the demo users' passwords are hashed first, half a second each)
        while True:
            try:
                assert urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1).read() == b"ok"
                break
            except OSError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise AssertionError("the server did not answer") from None
                time.sleep(0.1)
        api = urllib.request.urlopen(f"http://127.0.0.1:{port}/api/openapi.json", timeout=2)
        assert api.status == 200 and api.headers["x-content-type-options"] == "nosniff"
    finally:
        proc.terminate()
        out = proc.communicate(timeout=10)[0]
    assert "demo users" in out and "concierge" in out and "demo instances started:" in out


def test_serve_runs_several_worker_processes_on_one_database(new_db, tmp_path):
    """`serve --workers 2`: two processes answer on one port, each with its own engine on the one database."""
    import socket
    import sys
    import time
    import urllib.request

    db = new_db("w.db")
    cli = Cli(db)
    cli.run("users", "add", "wang", "--role", "concierge")
    token = cli.json("users", "token", "wang")["token"]
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    cmd = [sys.executable, "-m", "engine.cli", "--db", db, "--defs", str(REPO), "serve", "--port", str(port),
           "--tick", "0", "--workers", "2"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1)
                break
            except OSError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise AssertionError("the server did not answer") from None
                time.sleep(0.1)
        children = Path(f"/proc/{proc.pid}/task/{proc.pid}/children").read_text().split()
        assert len(children) >= 2, children  # (the workers; and a resource tracker, where one runs)
        asked = urllib.request.Request(f"http://127.0.0.1:{port}/api/tasks",
                                       headers={"Authorization": f"Bearer {token}"})
        assert all(urllib.request.urlopen(asked, timeout=5).status == 200 for _ in range(20))
    finally:
        proc.terminate()
        proc.communicate(timeout=20)


def test_a_postgresql_server_that_cannot_be_reached_is_told_in_words(tmp_path):
    """Exit 6 and one line in Chinese, the URL's password left out; nothing else is tried."""
    url = "postgresql://goldkey:s3cret-pw@127.0.0.1:1/goldkey?connect_timeout=2"
    proc = Cli(url).run("tasks", "--as", "wang", ok=False)
    assert proc.returncode == 6 and proc.stdout == ""
    assert proc.stderr.startswith("goldkey: 無法連線到 PostgreSQL 資料庫") and proc.stderr.count("\n") == 1
    assert "s3cret-pw" not in proc.stderr and "goldkey:***@127.0.0.1:1" in proc.stderr
    other = Cli("postgresql://goldkey@127.0.0.1:1/goldkey?password=s3cret-pw&connect_timeout=2").run(
        "tasks", "--as", "wang", ok=False)
    assert other.returncode == 6 and "s3cret-pw" not in other.stderr
