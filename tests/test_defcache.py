"""Loading definitions is cached by content: an unchanged folder loads from the cache; any change loads and lints
afresh with the same messages and exit codes as without a cache."""

from __future__ import annotations

import pytest

from engine import defcache, definitions

from .conftest import TOY, Cli
from .test_definitions import EXACT, edit
from .test_definitions import copy_defs as _copy


def copy_defs(src, dst):
    dst.mkdir(parents=True)
    return _copy(src, dst)


@pytest.fixture
def cache(tmp_path, monkeypatch):
    folder = tmp_path / "cache"
    monkeypatch.setenv("GOLDKEY_CACHE", str(folder))
    return folder


def test_an_unchanged_folder_loads_from_the_cache(cache, tmp_path, monkeypatch):
    root = copy_defs(TOY, tmp_path / "defs")
    first = definitions.load(root, templates=True)
    assert len(list(cache.glob("*.pickle"))) == 1
    monkeypatch.setattr(definitions, "load_texts", lambda *a, **k: pytest.fail("loaded afresh"))
    again = definitions.load(root, templates=True)
    assert again is not first and sorted(again.workflows) == sorted(first.workflows)
    assert [str(p) for p in again.warnings] == [str(p) for p in first.warnings] and again.problems == []
    assert again.root == root


@pytest.mark.parametrize("file,old,new,expected", EXACT[:8], ids=[e[2][:30] for e in EXACT[:8]])
def test_a_change_relints_exactly_as_without_the_cache(cache, tmp_path, monkeypatch, file, old, new, expected):
    root = copy_defs(TOY, tmp_path / "defs")
    definitions.load(root, display_root="")  # cached as it was
    edit(root / file, old, new)
    cached = [str(p) for p in definitions.load(root, display_root="").problems]
    monkeypatch.setenv("GOLDKEY_CACHE", "off")
    assert cached == [str(p) for p in definitions.load(root, display_root="").problems] == [expected]
    monkeypatch.setenv("GOLDKEY_CACHE", str(cache))
    proc = Cli(tmp_path / "x.db", root).run("check", ok=False)  # and again through the CLI, from the cache
    assert proc.returncode == 1 and len(proc.stdout.splitlines()) == 1 and proc.stdout.endswith(
        expected.split(":", 3)[3] + "\n")


def test_a_template_edit_is_a_change(cache, tmp_path):
    root = copy_defs(TOY, tmp_path / "defs")
    assert definitions.load(root, display_root="", templates=True).problems == []
    (root / "printouts" / "memo.docx").write_bytes(b"not a zip")
    assert [str(p) for p in definitions.load(root, display_root="", templates=True).problems] == [
        "printouts/memo.docx:1:1: not a Word .docx file: File is not a zip file"]


def test_a_damaged_cache_is_not_used_and_off_writes_nothing(cache, tmp_path, monkeypatch):
    root = copy_defs(TOY, tmp_path / "defs")
    definitions.load(root)
    [entry] = cache.glob("*.pickle")
    entry.write_bytes(b"\x80\x05garbage")
    assert sorted(definitions.load(root).workflows) == sorted(definitions.load(TOY).workflows)
    monkeypatch.setenv("GOLDKEY_CACHE", "off")
    assert defcache.folder() is None
    other = copy_defs(TOY, tmp_path / "other")
    edit(other / "forms/memo.yaml", "title: 測試單", "title: 另一張")
    definitions.load(other)
    assert len(list(cache.glob("*.pickle"))) == 2  # the two loads before `off` only
