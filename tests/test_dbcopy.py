"""`goldkey db copy`: a site's SQLite file, every exemplar procedure run in it, copied whole into an empty database
of each backend: the audit passes there, balances are equal, printed codes still verify, the instances go on; a
target that holds data is refused and keeps what it had, unless the source joins it as one more site (its
instances renumbered, their chains computed again)."""

from __future__ import annotations

import pytest

from engine import database, renumber
from engine.errors import Forbidden
from engine.service import Engine

from .conftest import Cli, StoreRun
from .procedures import test_complaint as complaint
from .procedures import test_fee_collection as fees
from .procedures import test_fire as fire
from .procedures import test_golden_key as golden
from .procedures import test_pet as pet
from .procedures import test_renovation as renovation
from .procedures import test_repair as repair
from .procedures import test_special_incident as incident

# a complaint whose analysis opens a repair order (a child instance)
REPAIRED = dict(complaint.ANALYSIS, needs_repair=True, repair_location="陽台水管", someone_home=True)
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


@pytest.fixture
def site(tmp_path, registry):
    """An SQLite file holding a run of every exemplar procedure (some ended, most still open), a printout and an
    attachment; (path, {workflow: instance id}, the print's code, the attachment's id)."""
    return site_db(str(tmp_path / "site.db"), registry)


def site_db(db: str, registry) -> tuple[str, dict[str, int], str, str]:
    runs: list[StoreRun] = []

    def make(workflow: str) -> StoreRun:
        runs.append(StoreRun(registry, workflow, db))
        return runs[-1]

    slip = golden.slip_issued(make)
    slip.act("plan", data={"route": "樓宇管家獨立完成", "estimate": "300"})
    slip.act("do_self", data={"result": "已訂票", "cost": "320.50"})
    made = {"golden_key_service": slip, "renovation": renovation.receive(make), "repair_order": repair.start(make),
            "special_incident": incident.start(make), "pet_registration": pet.start(make),
            "complaint": complaint.handle(make, REPAIRED), "fee_collection": fees.arrears_run(make),
            "fire_emergency": fire.start(make)}
    engine = slip.engine
    engine.add_user("printer", sorted(registry.site.roles))
    code = engine.render(slip.iid, "slip", "printer")[1]["code"]
    photo = engine.attach("printer", PNG, "photo.png")["id"]
    ids = {wf: run.iid for wf, run in made.items()}
    for run in runs:
        run.close()
    return db, ids, code, photo


def test_a_site_copied_whole_audits_balances_and_goes_on(site, new_db, registry):
    source, ids, code, photo = site
    target = new_db("company.db")
    report = Cli(source).json("db", "copy", source, target)
    assert report["audit"] == "ok" and report["events"] > 0 and report["tables"]["instances"] == len(ids) + 1
    assert report["ledgers"] >= 1
    there = Cli(target)
    assert there.json("audit")["ok"]
    before, after = Engine(source, registry), Engine(target, registry)
    try:
        for iid in ids.values():
            old, new = before.show(iid), after.show(iid)
            assert (new["number"], new["status"], new["data"], new["balances"]) == (
                old["number"], old["status"], old["data"], old["balances"])
            assert new["history"] == old["history"]
        assert after.verify(code)["genuine"]  # printed before the move: still verifies
        assert after.attachment(photo, "printer")[1] == PNG  # the bytes came along
        # the instances continue on the copy, and new ones are numbered after the copied ones
        slip = after.show(ids["golden_key_service"])
        task = next(t["id"] for t in slip["tasks"] if t["step"] == "record_expense")
        after.complete(task, "printer", data={"expense_note": "車票及代辦費"})
        fresh = after.start("golden_key_service", "printer", golden.PAID)
        assert fresh["id"] > max(ids.values())
        assert fresh["number"] != slip["number"]
        assert after.audit()["ok"]
    finally:
        before.close()
        after.close()


def test_a_target_holding_data_is_refused_and_keeps_it(site, new_db):
    source, ids, _, _ = site
    target = new_db("company.db")
    Cli(target).run("users", "add", "wang", "--role", "concierge")
    proc = Cli(source).run("db", "copy", source, target, ok=False)
    assert proc.returncode == 5 and "不會覆蓋" in proc.stderr and proc.stdout == ""
    assert [u["name"] for u in Cli(target).json("users", "list")] == ["wang"]
    assert Cli(target).run("show", str(ids["complaint"]), ok=False).returncode == 4
    missing = Cli(source).run("db", "copy", source + ".nope", target, ok=False)
    assert missing.returncode == 4 and "沒有來源資料庫" in missing.stderr


def test_a_site_database_becomes_one_site_of_the_company(site, new_db, registry):
    """`--site`: the copied instances, roles and number series are that site's; the company adds others beside."""
    source, ids, code, _ = site
    target = new_db("company.db")
    report = Cli(source).json("db", "copy", source, target, "--site", "yilin", "--title", "意林小鎮管理處",
                              "--prefix", "YL")
    assert report["site"] == "yilin" and report["audit"] == "ok"
    after = Engine(target, registry)
    try:
        after.add_site("lake", "湖畔花園管理處", "HB")
        after.add_user("li", ["concierge"], site="lake")
        assert {s["id"] for s in after.sites()} == {"default", "yilin", "lake"}
        assert {after.show(i)["site"] for i in ids.values()} == {"yilin"}
        assert after.users()[[u["name"] for u in after.users()].index("printer")]["sites"].keys() == {"yilin"}
        with pytest.raises(Forbidden):
            after.show(ids["complaint"], "li")  # another site's concierge
        assert after.tasks("li") == []
        old = after.show(ids["golden_key_service"])["number"]
        fresh = after.start("golden_key_service", "printer", golden.PAID)  # printer's one site: yilin
        assert fresh["site"] == "yilin" and fresh["number"].startswith("YL-")
        assert int(fresh["number"].rsplit("-", 1)[1]) == int(old.rsplit("-", 1)[1]) + 1  # the series goes on
        assert after.verify(code)["genuine"]
    finally:
        after.close()
    bad = Cli(source).run("db", "copy", source, new_db("other.db"), "--site", "Yi Lin", "--title", "x", ok=False)
    assert bad.returncode == 1 and "管理處代號" in bad.stderr


def test_a_second_site_joins_a_company_that_holds_one_under_new_ids(site, new_db, registry, tmp_path):
    """Two sites' files, both numbered from 1, into one company database: the second's instances get the next ids,
    their chains are computed again and audit, balances, children, printed codes and number series come along."""
    first, first_ids, _, _ = site
    second, ids, code, photo = site_db(str(tmp_path / "lake.db"), registry)
    assert set(first_ids.values()) == set(ids.values())  # (the same ids in both files)
    target = new_db("company.db")
    Cli(first).json("db", "copy", first, target, "--site", "yilin", "--title", "意林小鎮管理處", "--prefix", "YL")
    args = ("db", "copy", second, target, "--site", "lake", "--title", "湖畔花園管理處", "--prefix", "HB")
    refused = Cli(second).run(*args, ok=False)  # both have the user "printer" (and the exemplars' staff)
    assert refused.returncode == 5 and "--same-users" in refused.stderr and "printer" in refused.stderr
    report = Cli(second).json(*args, "--same-users")
    assert report["audit"] == "ok" and report["site"] == "lake" and "printer" in report["shared_users"]
    moved = {int(k): v for k, v in report["instances"].items()}
    assert min(moved.values()) > max(first_ids.values())
    assert Cli(target).json("audit")["ok"]
    before, after = Engine(second, registry), Engine(target, registry)
    try:
        children = 0
        for old_id in ids.values():
            old, new = before.show(old_id), after.show(moved[old_id])
            assert (new["site"], new["number"], new["status"], new["data"], new["balances"]) == (
                "lake", old["number"], old["status"], old["data"], old["balances"])
            assert [t["id"] for t in new["tasks"]] == [renumber.task(t["id"], moved) for t in old["tasks"]]
            assert len(new["history"]) == len(old["history"])
            for was, now in zip(old["history"], new["history"], strict=True):
                assert now["task"] == renumber.task(was["task"], moved)
                assert now["payload"] == (dict(was["payload"], child=moved[was["payload"]["child"]])
                                          if "child" in was["payload"] else was["payload"])
            for event in old["history"]:
                if event["type"] == "child_started":  # (the complaint's repair order)
                    children += 1
                    assert after.show(moved[event["payload"]["child"]])["parent"] == moved[old_id]
        assert children == 1
        assert after.show(first_ids["complaint"])["site"] == "yilin"  # the first site's are where they were
        assert after.verify(code)["genuine"] and after.verify(code)["instance"] == moved[ids["golden_key_service"]]
        assert after.attachment(photo, "printer")[1] == PNG
        slip = after.show(moved[ids["golden_key_service"]])
        task = next(t["id"] for t in slip["tasks"] if t["step"] == "record_expense")
        assert task not in [t["id"] for t in after.complete(task, "printer", data={"expense_note": "車票"})["tasks"]]
        fresh = after.start("golden_key_service", "printer", golden.PAID, site="lake")
        assert fresh["number"].startswith("HB-")
        assert int(fresh["number"].rsplit("-", 1)[1]) == int(slip["number"].rsplit("-", 1)[1]) + 1
        assert after.audit()["ok"]
        copied = after.store.conn.execute("SELECT source_id, instance_id, source_events FROM copied_instances "
                                          "ORDER BY source_id").fetchall()
        assert [(s, i) for s, i, _ in copied] == sorted(moved.items())
    finally:
        before.close()
        after.close()
    again = Cli(second).run(*args, "--same-users", ok=False)  # the site is there now: nothing is written twice
    assert again.returncode == 5 and "已有管理處 lake" in again.stderr
    assert Cli(target).json("audit")["ok"]


def test_every_table_says_how_its_rows_join_a_company(tmp_path):
    """A migration that adds a table adds its rule for `db copy --site` (else such a copy is refused)."""
    store = database.open_store(str(tmp_path / "fresh.db"))
    try:
        tables = set(store.table_names()) - database._NOT_ROWS
    finally:
        store.close()
    assert tables <= set(database._rules("x", {}, {}))


def test_renumbering_touches_ids_only_where_the_engine_writes_them():
    """A unit written "12-3" in a form is not task 3 of instance 12."""
    state = {"instance": 12, "data": {"unit": "12-3", "parent": 12}, "tasks": {"12-3": {"step": "a", "token": "t1"}},
             "tokens": {"t1": {"step": "a", "task": "12-3"}, "t2": {"step": "b", "child": 13}}}
    new = renumber.state(state, {12: 40, 13: 41})
    assert new == {"instance": 40, "data": {"unit": "12-3", "parent": 12}, "tasks": {"40-3": state["tasks"]["12-3"]},
                   "tokens": {"t1": {"step": "a", "task": "40-3"}, "t2": {"step": "b", "child": 41}}}
    assert renumber.payload("task_completed", '{"data":{"unit":"12-3"}}', {12: 40}) == '{"data":{"unit":"12-3"}}'
    assert renumber.event_key(12 << 24 | 5, {12: 40}) == 40 << 24 | 5
