"""Bad YAML: every case of yaml.txt, as a workflow and as a form, makes goldkey check report one-line
path:line:col problems quickly; a running server answers its admin endpoints without a 500 and keeps the
running definitions."""

from __future__ import annotations

import re
import shutil
import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from starlette.testclient import TestClient

from engine import definitions
from server.app import create_app

from ..conftest import TOY, Cli
from . import corpus

CASES = corpus("yaml.txt")
LINE = re.compile(r"^[^:\n]+:\d+:\d+: \S.*$")


@pytest.mark.parametrize("where", ["workflows/bad.yaml", "forms/memo.yaml"])
@pytest.mark.parametrize("index", range(len(CASES)))
def test_check_reports_each_case_in_lines_with_places(tmp_path, index, where):
    root = shutil.copytree(TOY, tmp_path / "defs")
    (root / where).write_bytes(CASES[index])
    started = time.perf_counter()
    proc = Cli(tmp_path / "x.db", root).run("check", ok=False)
    assert time.perf_counter() - started < 3
    assert proc.returncode == 1, proc.stdout
    lines = proc.stdout.splitlines()
    assert lines and all(LINE.match(line) and len(line) < 500 for line in lines), lines
    assert any(line.startswith(f"{root}/{where}:") for line in lines), lines


def test_the_admin_endpoints_answer_and_keep_the_running_version(new_db, tmp_path, clock):
    root = shutil.copytree(TOY, tmp_path / "defs")
    app = create_app(new_db("a.db"), definitions.load_strict(root), tick_seconds=0, clock=clock)
    engine = app.state.engine
    engine.add_user("boss", ["boss"])
    site = (root / "goldkey.yaml").read_text(encoding="utf-8")
    (root / "goldkey.yaml").write_text(site + "admin_roles: [boss]\n", encoding="utf-8")
    engine.reload()
    token = {"authorization": f"Bearer {engine.new_token('boss')}"}
    with TestClient(app, raise_server_exceptions=False) as client:
        for case in CASES:
            (root / "workflows" / "bad.yaml").write_bytes(case)
            shown = client.get("/api/admin/definitions", headers=token)
            assert shown.status_code == 200 and shown.json()["problems"], shown.text
            reloaded = client.post("/api/admin/reload", headers=token)
            assert reloaded.status_code == 422 and not reloaded.json()["ok"]
            assert sorted(engine.registry.workflows) == sorted(definitions.load(TOY).workflows)


REAL = {p.relative_to(TOY).as_posix(): p.read_bytes() for p in [TOY / "goldkey.yaml", *sorted(TOY.rglob("*.yaml"))]}


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rel=st.sampled_from(sorted(REAL)), at=st.floats(0, 1), junk=st.binary(min_size=1, max_size=12))
def test_random_bytes_in_a_real_file_give_problems_never_an_exception(rel, at, junk):
    texts = {k: v.decode("utf-8") for k, v in REAL.items()}
    body = REAL[rel]
    cut = int(len(body) * at)
    texts[rel] = (body[:cut] + junk + body[cut:]).decode("utf-8", errors="surrogateescape")
    registry = definitions.load_texts(texts)
    for problem in registry.problems:
        assert problem.line >= 1 and problem.col >= 1 and "\n" not in problem.message
