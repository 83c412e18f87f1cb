"""Templates: every case of templates.txt is reported by goldkey check (a lint message, or the rehearsal print
refused within its limits) in a few seconds, never a traceback; and printing it changes nothing."""

from __future__ import annotations

import shutil
import time

import docx
import pytest
from docx.shared import Cm

from engine import definitions, printouts
from engine.errors import Invalid
from engine.service import Engine

from ..conftest import TOY
from . import corpus

CASES = corpus("templates.txt")


def make(path, line: str) -> None:
    """The toy memo template with `line` as its second paragraph (and the copies loop, and a QR picture)."""
    document = docx.Document()
    for text in ("{{ title }}", line, "{%p for copy in copies %}", "{{ copy }}", "{%p endfor %}"):
        document.add_paragraph(text)
    png = path.with_suffix(".png")
    png.write_bytes(printouts.qr_png("x"))
    document.add_paragraph().add_run().add_picture(str(png), width=Cm(2))._inline.docPr.set("descr", "goldkey:qr")
    document.save(str(path))


@pytest.fixture
def defs(tmp_path):
    return shutil.copytree(TOY, tmp_path / "defs")


@pytest.mark.parametrize("line", CASES, ids=[c[:40] for c in CASES])
def test_check_reports_each_case_quickly(defs, line):
    make(defs / "printouts" / "memo.docx", line)
    started = time.perf_counter()
    problems = [str(p) for p in definitions.load(defs, "", templates=True).problems]
    assert time.perf_counter() - started < 6
    assert problems and all(p.startswith("printouts/memo.docx:") for p in problems), problems
    assert all("Traceback" not in p and len(p) < 600 for p in problems)


@pytest.mark.parametrize("line", CASES, ids=[c[:40] for c in CASES])
def test_a_print_with_it_is_refused_and_changes_nothing(new_db, defs, tmp_path, clock, line):
    make(defs / "printouts" / "memo.docx", line)
    engine = Engine(new_db("p.db"), definitions.load_strict(defs), clock=clock)  # (check would refuse it)
    engine.add_user("c", ["clerk"])
    iid = engine.start("approve_all", "c", {"subject": "x", "amount": "10"})["id"]
    events = len(engine.show(iid)["history"])
    started = time.perf_counter()
    try:
        engine.render(iid, "memo", "c")
    except Invalid as exc:
        assert exc.message.startswith("列印範本 printouts/memo.docx 無法") and "Traceback" not in exc.message
    else:  # what the sandbox defuses prints as nothing (no Python object reaches the document)
        assert "__" in line or "cycler" in line
    assert time.perf_counter() - started < 5
    if engine.show(iid)["history"][-1]["type"] != "printout_issued":
        assert len(engine.show(iid)["history"]) == events
    engine.close()
