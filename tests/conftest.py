"""Shared fixtures: the repository's definitions, real databases (SQLite files; PostgreSQL schemas when
GOLDKEY_TEST_PG names a server), a real engine on each, the real CLI, a pure-core driver."""

from __future__ import annotations

import atexit
import io
import json
import os
import shutil
import subprocess
import tempfile
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from engine import core, credentials, definitions
from engine.core import Actor
from engine.service import Engine

REPO = Path(__file__).resolve().parents[1]
# loaded definitions are cached by content (engine/defcache.py): in a folder of this run's own, shared by its tests
os.environ["GOLDKEY_CACHE"] = tempfile.mkdtemp(prefix="goldkey-test-cache-")
atexit.register(shutil.rmtree, os.environ["GOLDKEY_CACHE"], True)
# passwords hashed with the same code at a test's cost (the real one, 2^17, is half a second a hash; its own
# test checks it and the rehash at login)
credentials.COST = (2**10, 8, 1)
TOY = REPO / "tests" / "fixtures" / "toy"  # small workflows, one or two features each
T0 = datetime(2026, 11, 2, 1, 30, tzinfo=UTC)  # a Monday, 09:30 in Shanghai
# the storage-touching tests run once per backend: SQLite always, PostgreSQL when GOLDKEY_TEST_PG is a server's URL
# (e.g. postgresql://postgres@127.0.0.1:5432/test; .ci/run sets it, and then a server it cannot reach fails the run)
PG = os.environ.get("GOLDKEY_TEST_PG", "")
BACKENDS = ["sqlite", "postgresql"] if PG else ["sqlite"]
_RUN = uuid.uuid4().hex[:8]  # this run's schemas are gk_<run>_<n>: its own, dropped as each test ends


class Databases:
    """Empty databases for one test on one backend, by name (the same name, the same database): SQLite files in
    the test's folder, or PostgreSQL schemas of the GOLDKEY_TEST_PG database, dropped when the test ends."""

    made = 0

    def __init__(self, backend: str, folder: Path) -> None:
        self.backend, self.folder = backend, folder
        self.urls: dict[str, str] = {}

    def __call__(self, name: str = "goldkey.db") -> str:
        if name not in self.urls:
            self.urls[name] = str(self.folder / name) if self.backend == "sqlite" else self._schema()
        return self.urls[name]

    def _schema(self) -> str:
        Databases.made += 1
        schema = f"gk_{_RUN}_{Databases.made}"
        _admin().execute(f"CREATE SCHEMA {schema}")
        return f"{PG}{'&' if '?' in PG else '?'}options=-csearch_path%3D{schema}"

    def drop(self) -> None:
        if self.backend == "sqlite":
            return
        from engine import pgstore

        for url in self.urls.values():
            pgstore.close_pool(url)  # (also an engine the test left open)
            _admin().execute(f"DROP SCHEMA IF EXISTS {url.rsplit('%3D', 1)[1]} CASCADE")


_ADMIN: list = []


def _admin():
    """One connection to the GOLDKEY_TEST_PG server for making and dropping this run's schemas."""
    if not _ADMIN:
        import psycopg

        try:
            _ADMIN.append(psycopg.connect(PG, autocommit=True))
        except psycopg.OperationalError as exc:
            pytest.fail(f"GOLDKEY_TEST_PG={PG}: no PostgreSQL server there ({exc})", pytrace=False)
    return _ADMIN[0]


def pytest_terminal_summary(terminalreporter) -> None:
    """How many tests passed on each backend (a test on the database runs once per backend)."""
    passed = [r.nodeid for r in terminalreporter.stats.get("passed", []) if r.when == "call"]
    on_pg = sum(1 for nodeid in passed if "[" in nodeid and "postgresql" in nodeid.rsplit("[", 1)[1])
    terminalreporter.write_line(f"goldkey: {len(passed)} passed in all; {on_pg} of them on PostgreSQL"
                                + ("" if PG else " (GOLDKEY_TEST_PG not set: SQLite only)"))


def pytest_sessionfinish(session, exitstatus) -> None:
    for conn in _ADMIN:
        conn.close()


@pytest.fixture(params=BACKENDS)
def backend(request) -> str:
    return request.param


@pytest.fixture
def new_db(backend, tmp_path):
    """`new_db("name.db")`: the URL (or SQLite path) of an empty database of this test's backend."""
    databases = Databases(backend, tmp_path)
    yield databases
    databases.drop()


@pytest.fixture(scope="session")
def registry() -> definitions.Registry:
    return definitions.load_strict(REPO)


@pytest.fixture(scope="session")
def toy_registry() -> definitions.Registry:
    return definitions.load_strict(TOY)


def query(db: str | Path, sql: str, args: tuple = ()) -> list[tuple]:
    """The rows of one statement (`?` parameters) on the database at `db`, whichever backend it is."""
    from engine.store import open_store

    store = open_store(db)
    try:
        return [tuple(r) for r in store.conn.execute(sql, args).fetchall()]
    finally:
        store.close()


def kinds(events: list[dict]) -> list[tuple[str, str | None]]:
    """(type, step) of each event."""
    return [(e["type"], e["step"]) for e in events]


class Clock:
    """A clock tests move by hand."""

    def __init__(self, now: datetime = T0) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **kwargs) -> None:
        self.now += timedelta(**kwargs)


@pytest.fixture
def clock() -> Clock:
    return Clock()


# the test site's units register (records/unit.yaml): what the repair orders of the tests choose
UNITS = [{"building": "7棟", "unit": "602", "area": 96.0, "owner": "周先生", "phone": "13511112222"},
         {"building": "1棟", "unit": "101", "area": 89.2, "owner": "李先生", "phone": "13800000000"},
         {"building": "3棟", "unit": "601", "area": 118.6, "owner": "林小姐", "phone": "13900002222"}]


def add_units(db: str | Path, site: str = "default") -> None:
    """The test units into the database at `db` (made if new), as an import would write them."""
    from engine.recordservice import _search
    from engine.store import open_store

    rt = definitions.load_strict(REPO).records["unit"]
    store = open_store(db)
    try:
        with store.write():
            for data in UNITS:
                if store.record_at(site, "unit", rt.key_of(data)) is None:
                        store.save_record(None, site, "unit", rt.key_of(data), "自住", data, _search(rt, data),
                                      "imported", {"data": data, "state": "自住"}, None, "2026-11-01T00:00:00+00:00")
    finally:
        store.close()


@pytest.fixture
def engine(new_db, registry, clock):
    add_units(new_db())
    eng = Engine(new_db(), registry, clock=clock)
    yield eng
    eng.close()


class Cli:
    """Runs `goldkey` commands in-process (click's CliRunner) on a temporary database, as an outside client
    would: arguments in; the exit code, stdout and stderr out. (tests/test_cli.py runs the console script
    itself in a real process.)"""

    def __init__(self, db: Path | str, defs: Path = REPO) -> None:
        self.db, self.defs = db, defs

    def run(self, *args: str, ok: bool = True, input: str | None = None) -> subprocess.CompletedProcess:
        from click.testing import CliRunner

        from engine.cli import main

        result = CliRunner().invoke(main, ["--db", str(self.db), "--defs", str(self.defs), *args], input=input,
                                    catch_exceptions=False)
        proc = subprocess.CompletedProcess(["goldkey", *args], result.exit_code, result.stdout, result.stderr)
        if ok and proc.returncode != 0:
            raise AssertionError(f"{' '.join(args)} failed ({proc.returncode}): {proc.stderr}")
        return proc

    def json(self, *args: str):
        return json.loads(self.run(*args).stdout)

    def render(self, instance: str | int, printout: str, user: str) -> dict:
        """`goldkey render INSTANCE PRINTOUT -o FILE --as USER` (into a folder of its own, then dropped), as staff
        print a print step's paper before confirming it; its JSON (the code and the print number)."""
        with tempfile.TemporaryDirectory(prefix="goldkey-render-") as folder:
            return self.json("render", str(instance), printout, "-o", str(Path(folder) / f"{printout}.docx"),
                             "--as", user)

    def task(self, instance: dict, step: str) -> str:
        """The id of the open task at `step` of an instance (as printed by start/complete/show)."""
        ids = [t["id"] for t in instance["tasks"] if t["step"] == step]
        assert ids, f"no open task at {step}; open: {[t['step'] for t in instance['tasks']]}"
        return ids[0]


@pytest.fixture
def cli(new_db) -> Cli:
    add_units(new_db("cli.db"))
    return Cli(new_db("cli.db"))


class CoreRun:
    """Drives one instance through the pure core, no database: the state and every event are kept."""

    def __init__(self, registry: definitions.Registry, workflow: str, now: datetime = T0) -> None:
        self.registry = registry
        self.wf = registry.workflow(workflow)
        self.now = now
        self.state: dict = {}
        self.events: list[dict] = []
        self.children: dict[int, CoreRun] = {}
        self._child_ids = iter(range(1000, 10**6))

    def actor(self, user: str, roles=None) -> Actor:
        return Actor(user, frozenset(roles if roles is not None else self.registry.site.roles))

    def _apply(self, result: core.Result) -> dict:
        self.state, self.events = result.state, self.events + result.events
        for effect in result.effects:
            if effect["type"] == "start_child":
                child_id = next(self._child_ids)
                child = CoreRun(self.registry, effect["workflow"], self.now)
                child._apply(core.start(child.wf, child_id, "CHILD", self.actor("system"), effect["data"],
                                        self.now, as_child=True, delay=effect.get("after")))
                self.children[child_id] = child
                if effect.get("wait", True):
                    self.state = core.link_child(self.state, effect["token"], child_id)
        return self.state

    def start(self, data: dict, user: str = "starter", roles=None, number: str = "N-1") -> dict:
        return self._apply(core.start(self.wf, 1, number, self.actor(user, roles), data, self.now))

    def task_id(self, step: str) -> str:
        ids = [tid for tid, t in self.state["tasks"].items() if t["step"] == step]
        assert ids, f"no open task at {step}; open: {self.open_steps()}"
        return ids[0]

    def open_steps(self) -> list[str]:
        return sorted(t["step"] for t in self.state["tasks"].values())

    def act(self, step: str, outcome: str | None = None, data: dict | None = None, comment: str | None = None,
            user: str = "worker", roles=None) -> dict:
        printout = self.wf.steps[step].prints if self.wf.steps[step].kind == "print" else None
        if printout and not comment:  # a print step is confirmed once its paper is printed (as staff do)
            self.print(printout, user, roles)
        result = core.complete(self.wf, self.state, self.task_id(step), self.actor(user, roles), outcome, data,
                               comment, self.now)
        return self._apply(result)

    def print(self, printout: str, user: str = "worker", roles=None) -> dict:
        return self._apply(core.printed(self.wf, self.state, printout, self.actor(user, roles), "TESTCODE",
                                        "0" * 64, 1, self.now))

    def tick(self, **advance) -> dict:
        self.now += timedelta(**advance)
        return self._apply(core.fire_due(self.wf, self.state, self.now))

    def finish_child(self, child_id: int) -> dict:
        child = self.children[child_id]
        return self._apply(core.child_done(self.wf, self.state, child_id, child.state["outcome"], self.now))

    def ledger(self) -> list[tuple[str, int, int]]:
        """(entry, amount fen, balance fen) of every posting so far."""
        return [(e["payload"]["entry"], e["payload"]["amount"], e["payload"]["balance"])
                for e in self.events if e["type"] == "ledger_posted"]


class StoreRun:
    """The same driver over a real Engine on a database: every scenario written for the pure core also runs
    through the store (validation, role checks, revision check, audit log, projections)."""

    def __init__(self, registry: definitions.Registry, workflow: str, db: Path | str, now: datetime = T0) -> None:
        self.registry = registry
        self.wf = registry.workflow(workflow)
        self.clock = Clock(now)
        add_units(db)
        self.engine = Engine(db, registry, clock=self.clock)
        self.iid: int | None = None

    def close(self) -> None:
        self.engine.close()

    @property
    def now(self) -> datetime:
        return self.clock.now

    def _as(self, user: str, roles) -> str:
        self.engine.set_roles(user, sorted(roles if roles is not None else self.registry.site.roles))
        return user

    @property
    def state(self) -> dict:
        if self.iid is None:  # not started: nothing may have been written either
            assert self.engine.store.conn.execute("SELECT count(*) FROM instances").fetchone() == (0,)
            return {}
        return self.engine.store.instance_row(self.iid)["state"]

    @property
    def events(self) -> list[dict]:
        return self.engine.store.events(self.iid)

    def start(self, data: dict, user: str = "starter", roles=None, number: str | None = None) -> dict:
        self.iid = self.engine.start(self.wf.id, self._as(user, roles), data)["id"]
        return self.state

    def task_id(self, step: str) -> str:
        return CoreRun.task_id(self, step)

    def open_steps(self) -> list[str]:
        return CoreRun.open_steps(self)

    def act(self, step: str, outcome: str | None = None, data: dict | None = None, comment: str | None = None,
            user: str = "worker", roles=None) -> dict:
        printout = self.wf.steps[step].prints if self.wf.steps[step].kind == "print" else None
        if printout and not comment:  # a print step is confirmed once its paper is printed (as staff do)
            self.print(printout, user, roles)
        self.engine.complete(self.task_id(step), self._as(user, roles), outcome, data, comment)
        return self.state

    def print(self, printout: str, user: str = "worker", roles=None) -> dict:
        self.engine.render(self.iid, printout, self._as(user, roles))
        return self.state

    def tick(self, **advance) -> dict:
        self.clock.advance(**advance)
        self.engine.tick(self.clock.now)
        return self.state

    def ledger(self) -> list[tuple[str, int, int]]:
        return [(e["entry"], e["amount"], e["balance"]) for e in self.engine.store.ledger_entries(self.iid)]


def docx_text(body: bytes) -> str:
    """Every paragraph's text, tables included, as python-docx reads a .docx back."""
    import docx

    document = docx.Document(io.BytesIO(body))
    lines = [p.text for p in document.paragraphs]
    for table in document.tables:
        for row in table.rows:
            lines += [cell.text for cell in row.cells]
    return "\n".join(lines)


@pytest.fixture(params=["core", *BACKENDS])
def core_run(request, registry, tmp_path):
    """A scenario driver: the pure core, and the same scenario again through the engine on each backend."""
    runs: list[StoreRun] = []
    databases = Databases(request.param, tmp_path)

    def make(workflow, **kw):
        if request.param == "core":
            return CoreRun(registry, workflow, **kw)
        run = StoreRun(registry, workflow, databases(f"run{len(runs)}.db"), **kw)
        runs.append(run)
        return run

    yield make
    for run in runs:
        run.close()
    databases.drop()


def toy_texts(files: dict[str, str] | None = None) -> dict[str, str]:
    """The toy definitions' YAML texts by relative path, with `files` ({relative path: text}) added or replaced."""
    out = {p.relative_to(TOY).as_posix(): p.read_text(encoding="utf-8") for p in TOY.rglob("*.yaml")}
    out.update(files or {})
    return out


def toy_engine(db, folder: Path, files: dict[str, str], users: dict[str, list[str]], clock=None,
               titles: bool = False) -> Engine:
    """An Engine on a copy of the toy definitions (printouts too) in `folder`, with `files` written over it, and
    `users` ({name: roles}; `titles`: each titled by its name in capitals)."""
    shutil.copytree(TOY, folder)
    for rel, text in files.items():
        (folder / rel).parent.mkdir(parents=True, exist_ok=True)
        (folder / rel).write_text(text, encoding="utf-8")
    engine = Engine(db, folder, clock=clock) if clock is not None else Engine(db, folder)
    for name, roles in users.items():
        engine.add_user(name, roles, title=name.upper() if titles else None)
    return engine
