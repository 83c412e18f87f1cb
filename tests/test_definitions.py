"""Loading and linting definitions: every problem once, as `path:line:col: message`, never a crash."""

from __future__ import annotations

import json
import shutil

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine import definitions

from .conftest import REPO, TOY, Cli


def copy_defs(src, dst):
    for name in ("goldkey.yaml", "records", "forms", "workflows", "reports", "printouts"):
        if (src / name).is_dir():
            shutil.copytree(src / name, dst / name)
        elif (src / name).exists():
            shutil.copy(src / name, dst / name)
    return dst


def edit(path, old, new):
    text = path.read_text(encoding="utf-8")
    assert old in text, f"{old!r} not in {path}"
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


def lines(registry) -> list[str]:
    return [str(p) for p in registry.problems]


def test_repository_definitions_are_clean():
    proc = Cli(REPO / "unused.db").run("check")
    assert proc.stdout.startswith("ok: ") and proc.returncode == 0


def test_benchmark_definitions_are_clean():
    assert lines(definitions.load(REPO / "bench" / "defs")) == []


def test_toy_definitions_are_clean():
    assert lines(definitions.load(TOY)) == []


def test_broken_copy_reports_each_problem_once_with_its_position(tmp_path):
    """Missing step target, misspelled key, bad expression and bad indentation, in one copy."""
    root = copy_defs(TOY, tmp_path)
    edit(root / "workflows/approve_all.yaml", "amount], next: sign}\n  approved", "amount], next: sigm}\n  approved")
    edit(root / "workflows/quorum.yaml", "    required_roles: [boss]", "    required_role: [boss]")
    edit(root / "workflows/split.yaml", "balance('cash') > 0", "balance('cash') > amont")
    edit(root / "workflows/self_ok.yaml", "steps:\n  sign:", "steps:\n   sign:")
    proc = Cli(tmp_path / "x.db", root).run("check", str(root), ok=False)
    assert proc.returncode == 1
    assert proc.stdout.splitlines() == [
        f"{root}/workflows/approve_all.yaml:12:70: step 'fix' goes to 'sigm', which is not a step; "
        "did you mean 'sign'?",
        f"{root}/workflows/quorum.yaml:10:5: unknown key 'required_role' in step 'vote'; "
        "did you mean 'required_roles'?",
        f"{root}/workflows/self_ok.yaml:7:3: YAML syntax error: did not find expected key (while parsing a block "
        "mapping); check the indentation and quoting on this line and the one before",
        f"{root}/workflows/split.yaml:14:23: condition 'balance('cash') > amont' names unknown field 'amont'; "
        "did you mean 'amount'?; it must be a field of the form",
    ]


def test_relative_paths_when_checking_the_current_folder(tmp_path, monkeypatch):
    """Run in the definitions folder, paths are relative; a JSON Schema keyword typo is caught."""
    root = copy_defs(TOY, tmp_path)
    edit(root / "forms/memo.yaml", "maxLength: 20}", "maxLenght: 20}")
    monkeypatch.chdir(root)
    proc = Cli(tmp_path / "x.db", defs=".").run("check", ok=False)
    assert proc.returncode == 1
    assert proc.stdout.splitlines() == [
        "forms/memo.yaml:8:40: unknown JSON Schema keyword 'maxLenght'; did you mean 'maxLength'?"]
    proc = Cli(tmp_path / "x.db", defs=".").run("check", "--json", ok=False)
    errors = [p for p in json.loads(proc.stdout) if p.pop("severity") == "error"]  # (warnings depend on the date)
    assert proc.returncode == 1 and errors == [
        {"path": "forms/memo.yaml", "line": 8, "col": 40,
         "message": "unknown JSON Schema keyword 'maxLenght'; did you mean 'maxLength'?"}]


def test_the_metaschema_is_assembled_from_the_step_kinds():
    from jsonschema import Draft202012Validator

    from engine import metaschema
    from engine.steps import KINDS

    document = metaschema.document()
    Draft202012Validator.check_schema(document)
    assert document["$defs"]["step"]["properties"]["kind"]["enum"] == list(KINDS)
    for kind, cls in KINDS.items():
        assert document["$defs"][f"step_{kind}"]["properties"]["kind"] == {"const": kind}
        assert set(cls.schema()["properties"]) | {"kind"} == set(document["$defs"][f"step_{kind}"]["properties"])


EXACT = [
    ("workflows/approve_all.yaml", "kind: approval", "kind: aproval",
     "workflows/approve_all.yaml:7:11: kind 'aproval' is not allowed; did you mean 'approval'? (expected one of: "
     "form, approval, decision, parallel, join, checklist, print, wait, subprocess, foreach, include, state, "
     "end)"),
    ("workflows/approve_all.yaml", "roles: [eng, sec]", "roles: [eng, security]",
     "workflows/approve_all.yaml:8:18: unknown role 'security'; declare it under `roles` in goldkey.yaml"),
    ("workflows/approve_all.yaml", "fix: {kind: form, roles: [clerk], fields: [subject, amount]",
     "fix: {kind: form, roles: [clerk], fields: [subject, amonut]",
     "workflows/approve_all.yaml:12:55: unknown field 'amonut'; did you mean 'amount'?; form 'memo' has no such "
     "field"),
    ("workflows/parent.yaml", "workflow: quorum", "workflow: quorun",
     "workflows/parent.yaml:8:15: unknown workflow 'quorun'; did you mean 'quorum'?"),
    ("workflows/parent.yaml", "approved: good", "accepted: good",
     "workflows/parent.yaml:10:16: workflow 'quorum' never ends with outcome 'accepted' (its outcomes: app"
     "roved, rejected)"),
    ("workflows/split.yaml", "join: meet, post", "join: left, post",
     "workflows/split.yaml:8:57: parallel 'fork' names 'left' as its join, but that step is a checklist; m"
     "ake it `kind: join`"),
    ("workflows/split.yaml", "  fork: {kind: parallel, branches: [left, right], join: meet, ",
     "  fork: {kind: parallel, branches: [left, right], ",
     "workflows/split.yaml:8:9: parallel split in step 'fork' has no join: add `join: <join step id>` nami"
     "ng the step where its branches meet"),
    ("workflows/split.yaml", "{ledger: cash, entry: out, amount: spend}", "{ledger: cash, entry: outt, amount: spend}",
     "workflows/split.yaml:11:40: ledger 'cash' has no entry type 'outt'; did you mean 'out'?"),
    ("workflows/split.yaml", "amount: spend}", "amount: spend * 1.5 +}",
     "workflows/split.yaml:11:53: amount: syntax error in expression 'spend * 1.5 +' at column 14: invalid"
     " syntax"),
    ("workflows/split.yaml", "amount: spend}", "amount: spend.__class__}",
     "workflows/split.yaml:11:53: amount: 'spend.__class__' uses Attribute, which expressions do not allow"
     " (attribute access is not allowed; use data['key'])"),
    ("workflows/split.yaml", "duration: 7d", "duration: 7 dayz",
     "workflows/split.yaml:17:33: '7 dayz' is not a duration; did you mean '7 days'?; write e.g. 15m, 24h, 7d, "
     "1 month, 3 working days, 4 working hours or PT15M"),
    ("workflows/self_ok.yaml", "  ok: {kind: end}", "  ok: {kind: end}\n  lost: {kind: end}",
     "workflows/self_ok.yaml:8:3: step 'lost' cannot be reached from the start; link to it from another step or "
     "remove it"),
    ("workflows/approve_all.yaml", "amount], next: sign}\n  approved", "amount], next: fix}\n  approved",
     "workflows/approve_all.yaml:12:3: from step 'fix' no end can be reached; add a transition that leads to an "
     "end step"),
    ("workflows/quorum.yaml", "vote:", "vote:\n    kind: form",
     "workflows/quorum.yaml:8:5: duplicate key 'kind': each key may appear only once in a mapping; remove or "
     "rename one"),
    ("forms/memo.yaml", "id: memo", "id: memo\nid: memo2",
     "forms/memo.yaml:2:1: duplicate key 'id': each key may appear only once in a mapping; remove or rename one"),
    ("forms/memo.yaml", "count is None or count < 100", "count is None or cnt < 100",
     "forms/memo.yaml:15:13: rule 'count is None or cnt < 100' names unknown field 'cnt'; did you mean 'co"
     "unt'?; it must be a field of the form"),
    ("forms/memo.yaml", '"T-{year}-{seq:04}"', '"T-{yr}-{seq:04}"',
     "forms/memo.yaml:3:9: number pattern 'T-{yr}-{seq:04}' may use only {year} and {seq} (e.g. "
     "JYS-{year}-{seq:05}) and must use {seq}"),
    ("forms/memo.yaml", "{type: integer, title: 數量, minimum: 0}", "{type: integr, title: 數量, minimum: 0}",
     None),  # an invalid JSON Schema: checked by prefix below
]


@pytest.mark.parametrize("file,old,new,expected", EXACT, ids=[e[2][:30] for e in EXACT])
def test_single_problem_gives_one_exact_message(tmp_path, file, old, new, expected):
    root = copy_defs(TOY, tmp_path)
    edit(root / file, old, new)
    found = lines(definitions.load(root, display_root=""))
    if expected is None:
        assert len(found) == 1
        assert found[0].startswith("forms/memo.yaml:11:19: schema is not valid JSON Schema: 'integr'")
    else:
        assert found == [expected]


def test_duplicate_workflow_ids_across_files(tmp_path):
    root = copy_defs(TOY, tmp_path)
    shutil.copy(root / "workflows/quorum.yaml", root / "workflows/quorum_copy.yaml")
    assert lines(definitions.load(root, display_root="")) == [
        "workflows/quorum_copy.yaml:1:5: duplicate workflow id 'quorum': already defined in workflows/quorum.yaml"]


def test_yaml_booleans_as_step_references_are_explained(tmp_path):
    root = copy_defs(TOY, tmp_path)
    edit(root / "workflows/quorum.yaml", "reject: rejected}", "reject: no}")
    assert lines(definitions.load(root, display_root="")) == [
        "workflows/quorum.yaml:11:43: step 'vote' (outcomes.reject): expected text, found true/false (YAML reads "
        "yes/no/on/off/true/false as true or false: put the word in quotes)"]


def test_version_is_content_hash_of_workflow_and_form(tmp_path):
    root = copy_defs(TOY, tmp_path)
    before = definitions.load(root).workflows
    edit(root / "forms/memo.yaml", "title: 測試單", "title: 測試單（新）")
    after = definitions.load(root).workflows
    assert all(before[w].version != after[w].version for w in before)
    assert len({wf.version for wf in after.values()}) == len(after)
    assert definitions.load(root).workflows["quorum"].version == after["quorum"].version


def _repo_texts() -> dict[str, str]:
    paths = [REPO / "goldkey.yaml", *sorted((REPO / "forms").glob("*.yaml")),
             *sorted((REPO / "workflows").glob("*.yaml"))]
    return {p.relative_to(REPO).as_posix(): p.read_text(encoding="utf-8") for p in paths}


REPO_TEXTS = _repo_texts()


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rel=st.sampled_from(sorted(REPO_TEXTS)), data=st.data())
def test_mangled_yaml_never_crashes_the_loader(rel, data):
    """Random damage to a real definition gives problems with positions, never an exception."""
    texts = dict(REPO_TEXTS)
    text = texts[rel]
    lines_ = text.splitlines()
    i = data.draw(st.integers(0, len(lines_) - 1))
    damage = data.draw(st.sampled_from(["delete", "indent", "dedent", "truncate", "swap", "junk"]))
    if damage == "delete":
        del lines_[i]
    elif damage == "indent":
        lines_[i] = " " + lines_[i]
    elif damage == "dedent":
        lines_[i] = lines_[i].lstrip()
    elif damage == "truncate":
        lines_[i] = lines_[i][: data.draw(st.integers(0, max(0, len(lines_[i]) - 1)))]
    elif damage == "swap" and i + 1 < len(lines_):
        lines_[i], lines_[i + 1] = lines_[i + 1], lines_[i]
    else:
        lines_[i] += data.draw(st.sampled_from([": x", " {", " ]", " - y", " '", " &a", " *b", ": [1, {2"]))
    texts[rel] = "\n".join(lines_)
    registry = definitions.load_texts(texts)
    for problem in registry.problems:
        assert problem.line >= 1 and problem.col >= 1 and problem.message
