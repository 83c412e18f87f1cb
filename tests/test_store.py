"""The store on real databases (SQLite files, PostgreSQL schemas): one writer wins, bad input writes nothing,
versions are pinned, the event log is append-only."""

from __future__ import annotations

import multiprocessing
import sqlite3
import threading

import psycopg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine import definitions
from engine.errors import Conflict, GoldkeyError, Invalid
from engine.service import Engine
from engine.store import open_store

from .conftest import Cli
from .test_definitions import TOY, copy_defs, edit


def snapshot(db) -> dict[str, list]:
    """Every row of every table: equal snapshots mean nothing was written."""
    store = open_store(db)
    try:
        return {t: sorted((tuple(r) for r in store.table_rows(t)), key=repr) for t in store.table_names()}
    finally:
        store.close()


@pytest.fixture
def toy_engine(new_db, tmp_path, clock):
    eng = Engine(new_db("toy.db"), definitions.load_strict(TOY), clock=clock)
    for name, roles in [("amy", ["clerk"]), ("ed", ["eng"]), ("sam", ["sec"]), ("bo", ["boss"]),
                        ("bea", ["boss"])]:
        eng.add_user(name, roles)
    yield eng
    eng.close()


def _race(db, defs, task, user, barrier, results):
    eng = Engine(db, definitions.load_strict(defs))
    barrier.wait()
    try:
        eng.complete(task, user, "approve")
        results.put("ok")
    except Conflict as exc:
        results.put("conflict: " + exc.message)
    finally:
        eng.close()


def test_two_processes_complete_the_same_task_one_wins(new_db, toy_engine, tmp_path):
    ctx = multiprocessing.get_context("spawn")
    for _ in range(3):
        inst = toy_engine.start("self_ok", "amy", {"subject": "競爭"})
        task = inst["tasks"][0]["id"]
        barrier, results = ctx.Barrier(2), ctx.Queue()
        procs = [ctx.Process(target=_race, args=(new_db("toy.db"), TOY, task, user, barrier, results))
                 for user in ("bo", "bea")]
        for p in procs:
            p.start()
        for p in procs:
            p.join(60)
        outcomes = sorted(results.get(timeout=5) for _ in procs)
        assert outcomes[0].startswith("conflict") and outcomes[1] == "ok", outcomes
        shown = toy_engine.show(inst["id"])
        assert shown["status"] == "completed"
        assert [e["type"] for e in shown["history"]].count("task_completed") == 1
    row = toy_engine.store.conn.execute("SELECT count(*) FROM tasks WHERE status='open'").fetchone()
    assert row == (0,)
    assert toy_engine.store.verify_chain()[0]


def test_threads_on_separate_connections_one_wins(new_db, toy_engine, tmp_path):
    inst = toy_engine.start("quorum", "amy", {"subject": "x"})
    task = inst["tasks"][0]["id"]
    engines = [Engine(new_db("toy.db"), toy_engine.registry) for _ in range(4)]
    outcomes: list[str] = []
    barrier = threading.Barrier(4)

    def go(eng, user):
        barrier.wait()
        try:
            eng.complete(task, user, "reject", comment="不同意")
            outcomes.append("ok")
        except Conflict:
            outcomes.append("conflict")

    threads = [threading.Thread(target=go, args=(e, u)) for e, u in zip(engines, ["ed", "sam", "bo", "bea"],
                                                                       strict=True)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for e in engines:
        e.close()
    assert sorted(outcomes) == ["conflict", "conflict", "conflict", "ok"]
    assert toy_engine.show(inst["id"])["outcome"] == "rejected"


def test_bad_input_changes_nothing(new_db, tmp_path):
    cli = Cli(new_db("bad.db"), TOY)
    for name, role in [("amy", "clerk"), ("ed", "eng"), ("bo", "boss")]:
        cli.run("users", "add", name, "--role", role)
    inst = cli.json("start", "quorum", "--as", "amy", "--data", '{"subject": "x"}')
    task = inst["tasks"][0]["id"]
    done = cli.json("start", "self_ok", "--as", "amy", "--data", '{"subject": "y"}')
    cli.json("complete", done["tasks"][0]["id"], "--as", "bo", "--outcome", "approve")
    cases = [
        (["start", "nope", "--as", "amy"], 4, "沒有流程「nope」"),
        (["start", "quorum", "--as", "nobody"], 4, "沒有使用者「nobody」"),
        (["start", "quorum", "--as", "ed", "--data", '{"subject": "x"}'], 3, "沒有啟動「三選二」的角色"),
        (["start", "quorum", "--as", "amy", "--data", '{"subject": 5}'], 1, "「主旨」應為文字"),
        (["start", "quorum", "--as", "amy", "--data", '{"subject": "x",}'], 1, "--data is not valid JSON"),
        (["start", "quorum", "--as", "amy", "--data", '[1]'], 1, "--data must be a JSON object"),
        (["start", "quorum", "--as", "amy", "--data", '@missing.json'], 1, "cannot read --data file"),
        (["start", "quorum", "--as", "amy", "--data", '{"subject": NaN}'], 1, "NaN is not a number JSON allows"),
        (["start", "quorum", "--as", "amy", "--data", '{"subject": "\\ud800"}'], 1, "含有無效的字元"),
        (["start", "quorum", "--as", "amy", "--data", '{"subject": ' + "[" * 40 + "]" * 40 + "}"], 1,
         "資料層次過深"),
        (["start", "quorum", "--as", "amy", "--data", '{"subject": ' + "[" * 5000 + "]" * 5000 + "}"], 1,
         "nested too deeply"),
        (["complete", task, "--as", "amy", "--outcome", "approve"], 3, "不能處理任務"),
        (["complete", task, "--as", "ed", "--outcome", "perhaps"], 1, "結果「perhaps」無效"),
        (["complete", task, "--as", "ed", "--outcome", "reject"], 1, "必須填寫意見"),
        (["complete", task, "--as", "ed", "--outcome", "approve", "--data", '{"note": "x"}'], 1, "只能填寫"),
        (["complete", done["tasks"][0]["id"], "--as", "bo", "--outcome", "approve"], 5, "案件已完成"),
        (["complete", "99-1", "--as", "ed"], 4, "沒有案件 99"),
        (["complete", f"{inst['id']}-77", "--as", "ed"], 4, "沒有任務"),
        (["complete", "bogus", "--as", "ed"], 4, "沒有任務 bogus"),
        (["show", "abc"], 4, "沒有案件 abc"),
        (["users", "add", "zed", "--role", "wizard"], 1, "沒有角色：wizard"),
        (["describe", "quorom"], 4, "did you mean 'quorum'"),
    ]
    for args, code, message in cases:
        before = snapshot(new_db("bad.db"))
        proc = cli.run(*args, ok=False)
        assert proc.returncode == code, (args, proc.stderr)
        assert message in proc.stderr, (args, proc.stderr)
        assert proc.stderr.count("\n") == 1 and proc.stdout == "", (args, proc.stderr)
        assert snapshot(new_db("bad.db")) == before, args


def test_an_instance_finishes_on_the_version_it_started_with(new_db, tmp_path, clock):
    (tmp_path / "defs").mkdir()
    root = copy_defs(TOY, tmp_path / "defs")
    db = new_db("v.db")
    eng = Engine(db, root, clock=clock)
    eng.add_user("amy", ["clerk"])
    eng.add_user("bo", ["boss"])
    old = eng.start("self_ok", "amy", {"subject": "舊版"})
    eng.close()
    edit(root / "workflows/self_ok.yaml", "outcomes: {approve: ok}", "outcomes: {approve: check}")
    edit(root / "workflows/self_ok.yaml", "  ok: {kind: end}",
         "  check: {kind: form, roles: [clerk], fields: [note], next: ok}\n  ok: {kind: end}")
    eng = Engine(db, root, clock=clock)
    new = eng.start("self_ok", "amy", {"subject": "新版"})
    assert new["version"] != old["version"]
    finished = eng.complete(old["tasks"][0]["id"], "bo", "approve")
    assert finished["status"] == "completed"  # the old graph: approve -> end
    moved = eng.complete(new["tasks"][0]["id"], "bo", "approve")
    assert [t["step"] for t in moved["tasks"]] == ["check"]  # the new graph
    versions = eng.store.conn.execute("SELECT version FROM versions ORDER BY created_at").fetchall()
    assert {v for (v,) in versions} == {old["version"], new["version"]}
    eng.close()


def test_event_log_is_append_only_and_hash_chained(toy_engine, backend):
    inst = toy_engine.start("self_ok", "amy", {"subject": "x"})
    toy_engine.complete(inst["tasks"][0]["id"], "bo", "approve")
    conn = toy_engine.store.conn
    refused = sqlite3.DatabaseError if backend == "sqlite" else psycopg.errors.RaiseException
    for statement in ("UPDATE events SET actor='mallory'", "DELETE FROM events",
                      *(["TRUNCATE events"] if backend == "postgresql" else [])):
        with pytest.raises(refused, match="append-only"):
            conn.execute(statement)
    assert toy_engine.store.verify_chain() == (True, 4, "")
    iid = inst["id"]
    # someone with the database's owner rights goes around the triggers
    conn.execute("DROP TRIGGER events_no_update" if backend == "sqlite" else "ALTER TABLE events DISABLE TRIGGER ALL")
    conn.execute("UPDATE events SET actor='mallory' WHERE instance_id=? AND seq=3", (iid,))
    ok, _, problem = toy_engine.store.verify_chain()
    assert not ok and problem == f"event {iid}/3 does not match the chain"
    conn.execute("UPDATE events SET actor='bo' WHERE instance_id=? AND seq=3", (iid,))
    assert toy_engine.store.verify_chain()[0]
    if backend == "sqlite":
        conn.execute("DROP TRIGGER events_no_delete")  # removing the last event is found through the head
    conn.execute("DELETE FROM events WHERE instance_id=? AND seq=4", (iid,))
    ok, _, problem = toy_engine.store.verify_chain()
    assert not ok and problem == f"instance {iid}: its events do not end at the recorded head"


def test_numbers_are_gap_free_per_form_and_year(toy_engine, clock):
    first = toy_engine.start("quorum", "amy", {"subject": "a"})
    with pytest.raises(Invalid):
        toy_engine.start("quorum", "amy", {"subject": 1})  # rejected: its number is not used up
    second = toy_engine.start("self_ok", "amy", {"subject": "b"})  # same form, same series
    clock.now = clock.now.replace(year=2027, month=1, day=1)
    third = toy_engine.start("quorum", "amy", {"subject": "c"})
    assert [first["number"], second["number"], third["number"]] == ["T-2026-0001", "T-2026-0002", "T-2027-0001"]


def test_year_of_a_number_is_the_local_year(toy_engine, clock):
    clock.now = clock.now.replace(year=2026, month=12, day=31, hour=17)  # 01:00 on 1 Jan 2027 in Shanghai
    assert toy_engine.start("quorum", "amy", {"subject": "a"})["number"] == "T-2027-0001"


def test_tasks_inbox_respects_roles_self_approval_and_delegation(toy_engine, clock):
    inst = toy_engine.start("quorum", "amy", {"subject": "x"})
    assert [t["id"] for t in toy_engine.tasks("ed")] == [inst["tasks"][0]["id"]]
    assert toy_engine.tasks("amy") == []
    toy_engine.add_user("dan", ["clerk"])
    assert toy_engine.tasks("dan") == []
    toy_engine.delegate("bo", "dan", "2026-11-01", "2026-11-05")
    [task] = toy_engine.tasks("dan")
    done = toy_engine.complete(task["id"], "dan", "approve")
    sig = done["tasks"][0]["signatures"][0]
    assert (sig["by"], sig["role"], sig["acting_for"]) == ("dan", "boss", "bo")
    history = toy_engine.show(inst["id"])["history"]
    assert [(e["actor"], e["acting_for"]) for e in history if e["type"] == "signed"] == [("dan", "bo")]
    clock.advance(days=10)
    assert toy_engine.tasks("dan") == []  # the delegation has ended


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.decimals() | st.text(max_size=30),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=12)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.dictionaries(st.sampled_from(["subject", "amount", "count", "note", "day", "spend", "x"]),
                            json_values, max_size=4),
       comment=st.none() | st.text(max_size=10) | st.integers())
def test_any_json_gives_a_result_or_a_named_error(toy_engine, data, comment):
    """Whatever a client sends, the engine answers or raises one of its named errors: never a crash."""
    before = toy_engine.store.conn.execute("SELECT count(*), max(revision) FROM instances").fetchone()
    try:
        inst = toy_engine.start("split", "amy", data)
    except GoldkeyError:
        assert toy_engine.store.conn.execute("SELECT count(*), max(revision) FROM instances").fetchone() == before
        return
    task = [t for t in inst["tasks"] if t["step"] == "right"][0]
    try:
        toy_engine.complete(task["id"], "sam", None, data, comment)
    except GoldkeyError:
        assert toy_engine.show(inst["id"])["tasks"] == inst["tasks"]


def test_a_subprocess_runs_as_its_own_instance_and_the_parent_follows_its_outcome(toy_engine):
    parent = toy_engine.start("parent", "amy", {"subject": "大修", "count": 2})
    [child] = parent["children"]
    assert child["instance"] != parent["id"] and parent["tasks"] == []
    shown = toy_engine.show(child["instance"])
    assert (shown["workflow"], shown["parent"], shown["data"]) == ("quorum", parent["id"], {"subject": "大修"})
    toy_engine.complete(shown["tasks"][0]["id"], "bo", "reject", comment="太貴")
    assert (toy_engine.show(parent["id"])["status"], toy_engine.show(parent["id"])["outcome"]) == ("completed", "bad")
    assert [e["type"] for e in toy_engine.show(parent["id"])["history"]][-2:] == ["child_finished", "instance_ended"]
    assert toy_engine.store.verify_chain()[0]


def test_a_sub_procedure_that_ends_as_it_starts(toy_engine):
    inst = toy_engine.start("chain", "amy", {"subject": "即時"})
    assert [t["step"] for t in inst["tasks"]] == ["note"] and inst["children"] == []
    history = [e["type"] for e in toy_engine.show(inst["id"])["history"]]
    assert history[:4] == ["instance_started", "child_started", "child_finished", "task_opened"]
    child = toy_engine.show(inst["id"] + 1)  # the parent's id was handed out first
    assert (child["workflow"], child["parent"], child["status"], child["outcome"]) == (
        "instant", inst["id"], "completed", "done")
    assert toy_engine.store.verify_chain()[0]


def test_ending_a_parent_cancels_its_running_child(toy_engine):
    inst = toy_engine.start("race", "amy", {"subject": "兩路"})
    [child] = inst["children"]
    quick = [t for t in inst["tasks"] if t["step"] == "quick"][0]
    done = toy_engine.complete(quick["id"], "amy", "stop")
    assert (done["status"], done["outcome"]) == ("cancelled", "stopped")
    shown = toy_engine.show(child["instance"])
    assert (shown["status"], shown["tasks"]) == ("cancelled", [])
    assert toy_engine.tasks("bo") == []  # the child's approval left every inbox
    assert toy_engine.store.verify_chain()[0]
