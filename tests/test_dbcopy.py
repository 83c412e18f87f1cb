"""`goldkey db copy`: a site's SQLite file, every exemplar procedure run in it, copied whole into an empty database
of each backend: the audit passes there, balances are equal, printed codes still verify, the instances go on; a
target that holds data is refused and keeps what it had."""

from __future__ import annotations

import pytest

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

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


@pytest.fixture
def site(tmp_path, registry):
    """An SQLite file holding a run of every exemplar procedure (some ended, most still open), a printout and an
    attachment; (path, {workflow: instance id}, the print's code, the attachment's id)."""
    db = str(tmp_path / "site.db")
    runs: list[StoreRun] = []

    def make(workflow: str) -> StoreRun:
        runs.append(StoreRun(registry, workflow, db))
        return runs[-1]

    slip = golden.slip_issued(make)
    slip.act("plan", data={"route": "樓宇管家獨立完成", "estimate": "300"})
    slip.act("do_self", data={"result": "已訂票", "cost": "320.50"})
    made = {"golden_key_service": slip, "renovation": renovation.receive(make), "repair_order": repair.start(make),
            "special_incident": incident.start(make), "pet_registration": pet.start(make),
            "complaint": complaint.handle(make), "fee_collection": fees.arrears_run(make),
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
    assert report["audit"] == "ok" and report["events"] > 0 and report["tables"]["instances"] == len(ids)
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
