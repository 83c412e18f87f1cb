"""Many processes on one database (each backend; the point of PostgreSQL is several app servers): eight processes
completing the same tasks, one winner each and one ledger posting each; two servers serving the same user."""

from __future__ import annotations

import multiprocessing
import random
import shutil

from starlette.testclient import TestClient

from engine import definitions
from engine.errors import Conflict
from engine.service import Engine
from server.app import create_app

from .conftest import TOY, query
from .hostile.test_access import ACCESS, PASSWORD, login
from .test_web_ui import Page

WORKERS = 8
TASKS = 12


def _complete_all(db: str, tasks: list[str], seed: int, barrier, results) -> None:
    """One process: try every task (in its own order) as soon as all are ready; what happened to each."""
    engine = Engine(db, definitions.load_strict(TOY))
    random.Random(seed).shuffle(tasks)
    outcomes = {}
    barrier.wait()
    try:
        for task in tasks:
            try:
                engine.complete(task, f"s{seed}", data={"spend": 3})
                outcomes[task] = "won"
            except Conflict:
                outcomes[task] = "lost"
            except Exception as exc:  # noqa: BLE001 - reported to the test, which fails on it
                outcomes[task] = f"{type(exc).__name__}: {exc}"
    finally:
        engine.close()
        results.put(outcomes)


def test_eight_processes_on_the_same_tasks_one_winner_each_and_one_posting(new_db):
    db = new_db("race.db")
    engine = Engine(db, definitions.load_strict(TOY))
    engine.add_user("amy", ["clerk"])
    for seed in range(WORKERS):
        engine.add_user(f"s{seed}", ["sec"])
    tasks = []
    for i in range(TASKS):
        inst = engine.start("split", "amy", {"subject": f"並行 {i}", "amount": 10})
        tasks += [t["id"] for t in inst["tasks"] if t["step"] == "right"]
    engine.close()
    ctx = multiprocessing.get_context("spawn")
    barrier, results = ctx.Barrier(WORKERS), ctx.Queue()
    procs = [ctx.Process(target=_complete_all, args=(db, list(tasks), seed, barrier, results))
             for seed in range(WORKERS)]
    for p in procs:
        p.start()
    reports = [results.get(timeout=120) for _ in procs]
    for p in procs:
        p.join(30)
    for task in tasks:
        seen = [r[task] for r in reports]
        assert sorted(seen) == ["lost"] * (WORKERS - 1) + ["won"], (task, seen)
    postings = query(db, "SELECT instance_id, count(*) FROM ledger_entries WHERE entry = 'out' GROUP BY instance_id")
    assert sorted(n for _, n in postings) == [1] * TASKS  # no double posting
    assert query(db, "SELECT count(*) FROM events WHERE type = 'task_completed' AND step = 'right'") == [(TASKS,)]
    check = Engine(db, definitions.load_strict(TOY))
    try:
        assert check.audit()["ok"]
        for iid, _ in postings:
            assert check.show(iid)["balances"]["cash"] == "7.00"  # 10 in, 3 out: once
    finally:
        check.close()


def test_two_servers_serve_the_same_user(new_db, tmp_path):
    """A session begun on one server is valid on the other, its CSRF token too; signing out on one ends it on
    both; definitions reloaded on one are picked up by the other."""
    defs = tmp_path / "defs"
    shutil.copytree(ACCESS, defs)
    db = new_db("shared.db")
    one = create_app(db, definitions.load_strict(defs), tick_seconds=0)
    two = create_app(db, definitions.load_strict(defs), tick_seconds=0)
    one.state.engine.add_user("desk", ["desk"])
    one.state.engine.set_password("desk", PASSWORD)
    one.state.engine.add_user("boss", ["boss"])
    with TestClient(one, raise_server_exceptions=False), TestClient(two, raise_server_exceptions=False):
        phone = login(one, "desk")
        other = TestClient(two, raise_server_exceptions=False)
        other.cookies.update(phone.cookies)  # the load balancer sends the next request to the other server
        assert other.get("/api/tasks").status_code == 200
        csrf = Page(phone.get("/").text).csrf()  # a page from the first server: its form goes to the second
        other.cookies.update(phone.cookies)
        assert other.post("/logout", data={"csrf": csrf}, follow_redirects=False).status_code == 303
        assert phone.get("/api/tasks").status_code == 401
        # the definitions change on disk and one server reloads them: the other follows
        path = next((defs / "workflows").glob("*.yaml"))
        text = path.read_text(encoding="utf-8")
        title = next(line for line in text.splitlines() if line.startswith("title:"))
        path.write_text(text.replace(title, title + "（新）"), encoding="utf-8")
        assert one.state.engine.reload()["ok"]
        two.state.engine.follow_every = 0  # (it looks again at most once a second)
        two.state.engine.follow_reloads()
        wid = next(line for line in text.splitlines() if line.startswith("id:")).split(":", 1)[1].strip()
        assert two.state.engine.registry.workflows[wid].title.endswith("（新）")
