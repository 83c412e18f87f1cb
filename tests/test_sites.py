"""Sites (管理處): one deployment, many sites. A role is held at a site or for the whole company ('*'); a 客服 of one
site neither sees nor acts on another's tasks, records, registers or printouts; numbers are gap-free per site;
a single-site installation needs none of it."""

from __future__ import annotations

import pytest
from starlette.testclient import TestClient

from engine import definitions
from engine.errors import Forbidden, Invalid, NotFound
from engine.service import Engine
from server.app import create_app

from .conftest import REPO, Cli

PAID = {"owner": "李先生", "unit": "3-1201", "phone": "13800000000", "category": "訂票",
        "request": "訂兩張火車票", "nature": "有償", "prepaid": "500"}


def test_a_single_site_needs_no_site_configuration(cli):
    made = cli.json("users", "add", "wang", "--role", "concierge")
    assert made["sites"] == {"*": ["concierge"]}
    started = cli.json("start", "golden_key_service", "--as", "wang", "--data", '{"owner": "李先生", "unit": "1-1", '
                       '"phone": "13800000000", "category": "訂票", "request": "x", "nature": "無償"}')
    assert started["site"] == "default" and started["number"].startswith("JYS-")
    assert cli.json("sites", "list") == [{"id": "default", "title": "意林小鎮管理處", "number_prefix": None,
                                          "timezone": None, "calendar": {}}]


@pytest.fixture
def company(new_db, clock):
    """Two sites with a concierge each, and a manager for the whole company, on one database; served."""
    app = create_app(new_db("company.db"), definitions.load_strict(REPO), tick_seconds=0, clock=clock)
    engine: Engine = app.state.engine
    engine.add_site("yilin", "意林小鎮管理處", "YL")
    engine.add_site("lake", "湖畔花園管理處", "HB")
    engine.add_user("wang", ["concierge"], "王小明", site="yilin")
    engine.add_user("li", ["concierge"], "李小紅", site="lake")
    engine.add_user("zhou", ["concierge", "manager"], "周經理", site="*")
    tokens = {name: {"authorization": f"Bearer {engine.new_token(name)}"} for name in ("wang", "li", "zhou")}
    with TestClient(app, raise_server_exceptions=False) as client:
        client.engine, client.tokens = engine, tokens
        yield client


def test_roles_are_granted_per_site_and_said_where(company):
    with pytest.raises(Invalid, match="請指定角色所屬的管理處"):
        company.engine.add_user("chen", ["concierge"])
    with pytest.raises(NotFound, match="沒有管理處「moon」"):
        company.engine.add_user("chen", ["concierge"], site="moon")
    with pytest.raises(Invalid, match="管理處代號"):
        company.engine.add_site("Bad Id", "x")
    users = {u["name"]: u["sites"] for u in company.engine.users()}
    assert users["wang"] == {"yilin": ["concierge"]} and users["zhou"] == {"*": ["concierge", "manager"]}


def test_a_site_sees_and_acts_on_its_own_only_and_numbers_are_per_site(company):
    api, t = company, company.tokens
    first = api.post("/api/instances", headers=t["wang"], json={"workflow": "golden_key_service", "data": PAID})
    second = api.post("/api/instances", headers=t["wang"], json={"workflow": "golden_key_service", "data": PAID})
    other = api.post("/api/instances", headers=t["li"], json={"workflow": "golden_key_service", "data": PAID})
    assert [r.status_code for r in (first, second, other)] == [201, 201, 201]
    first, second, other = first.json(), second.json(), other.json()
    assert (first["site"], other["site"]) == ("yilin", "lake")
    assert [first["number"], second["number"], other["number"]] == ["YL-JYS-2026-00001", "YL-JYS-2026-00002",
                                                                    "HB-JYS-2026-00001"]
    inbox = {name: {task["instance"] for task in api.get("/api/tasks", headers=t[name]).json()}
             for name in ("wang", "li", "zhou")}
    assert inbox == {"wang": {first["id"], second["id"]}, "li": {other["id"]},
                     "zhou": {first["id"], second["id"], other["id"]}}
    # another site's record, task, printout and register rows: refused or not there
    assert api.get(f"/api/instances/{other['id']}", headers=t["wang"]).status_code == 403
    task = other["tasks"][0]["id"]
    assert api.post(f"/api/tasks/{task}/complete", headers=t["wang"], json={}).status_code == 403
    assert api.get(f"/api/instances/{other['id']}/printouts/slip", headers=t["wang"]).status_code == 403
    rows = {name: {r["id"] for r in api.get("/api/registers/golden_key_slip", headers=t[name]).json()["rows"]}
            for name in ("wang", "li", "zhou")}
    assert rows == {"wang": {first["id"], second["id"]}, "li": {other["id"]},
                    "zhou": {first["id"], second["id"], other["id"]}}
    # the company's concierge may act at either site (prints the slip, then confirms it), and must say where to start
    assert api.get(f"/api/instances/{other['id']}/printouts/slip", headers=t["zhou"]).status_code == 200
    assert api.post(f"/api/tasks/{task}/complete", headers=t["zhou"], json={}).status_code == 200
    ask = api.post("/api/instances", headers=t["zhou"], json={"workflow": "golden_key_service", "data": PAID})
    assert ask.status_code == 422 and "請選擇在哪個管理處" in ask.json()["message"]
    assert "湖畔花園管理處" in ask.json()["message"] and "意林小鎮管理處" in ask.json()["message"]
    there = api.post("/api/instances", headers=t["zhou"],
                     json={"workflow": "golden_key_service", "data": PAID, "site": "lake"})
    assert there.status_code == 201 and there.json()["number"] == "HB-JYS-2026-00002"
    # a site's concierge cannot start at another site
    assert api.post("/api/instances", headers=t["wang"],
                    json={"workflow": "golden_key_service", "data": PAID, "site": "lake"}).status_code == 403


def test_schedules_run_once_per_site(new_db, registry, clock):
    engine = Engine(new_db("sched.db"), registry, clock=clock)
    try:
        engine.add_site("yilin", "意林小鎮管理處", "YL")
        engine.add_site("lake", "湖畔花園管理處", "HB")
        engine.tick()  # first sight of each schedule at each site
        clock.advance(days=30)
        started = engine.tick()["started"]
        per_site = Cli(engine.store.url).json("sites", "list")
        assert [s["id"] for s in per_site] == ["default", "lake", "yilin"]
        assert started > 0 and started % 2 == 0  # each run once at each of the two sites, none at the default
        assert engine.tick()["started"] == 0
    finally:
        engine.close()


def test_the_start_page_asks_for_the_site_when_the_user_has_several(company):
    from .hostile.test_access import PASSWORD
    from .test_web_ui import SLIP, Page

    browsers = {}
    for name, sites in (("zhou", ["意林小鎮管理處", "湖畔花園管理處"]), ("wang", [])):
        company.engine.set_password(name, PASSWORD)
        browser = browsers[name] = TestClient(company.app, raise_server_exceptions=False)
        page = Page(browser.get("/login").text)
        browser.post("/login", data={"name": name, "password": PASSWORD, "csrf": page.csrf()})
        form = browser.get("/start/golden_key_service").text
        assert [t for t in sites if t in form] == sites and ('name="site"' in form) == bool(sites)
    zhou, wang = browsers["zhou"], browsers["wang"]
    csrf = Page(zhou.get("/start/golden_key_service").text).csrf()
    asked = zhou.post("/start/golden_key_service", data=dict(SLIP, csrf=csrf), follow_redirects=False)
    assert asked.status_code == 422 and "請選擇在哪個管理處" in asked.text and "李先生" in asked.text  # kept
    chosen = zhou.post("/start/golden_key_service", data=dict(SLIP, csrf=csrf, site="lake"), follow_redirects=False)
    assert chosen.status_code == 303
    assert company.engine.show(chosen.headers["location"].rsplit("/", 1)[1])["site"] == "lake"
    csrf = Page(wang.get("/start/golden_key_service").text).csrf()
    mine = wang.post("/start/golden_key_service", data=dict(SLIP, csrf=csrf), follow_redirects=False)
    assert mine.status_code == 303  # wang: his one site, nothing asked
    assert company.engine.show(mine.headers["location"].rsplit("/", 1)[1])["site"] == "yilin"


def test_sla_figures_per_site(company):
    engine = company.engine
    for user, times in (("wang", 2), ("li", 1)):
        for _ in range(times):
            inst = engine.start("golden_key_service", user, PAID)
            engine.render(inst["id"], "slip", user)
            engine.complete(inst["tasks"][0]["id"], user, data={})
    done = {site: sum(f["count"] for f in engine.sla(site=site)["steps"]) for site in ("yilin", "lake", None)}
    assert done == {"yilin": 2, "lake": 1, None: 3}
    with pytest.raises(NotFound, match="沒有管理處"):
        engine.sla(site="moon")


def test_the_instance_page_names_its_site(company):
    from .hostile.test_access import PASSWORD
    from .test_web_ui import Page

    inst = company.engine.start("golden_key_service", "wang", PAID)
    company.engine.set_password("wang", PASSWORD)
    browser = TestClient(company.app, raise_server_exceptions=False)
    browser.post("/login", data={"name": "wang", "password": PASSWORD, "csrf": Page(browser.get("/login").text).csrf()})
    page = browser.get(f"/instances/{inst['id']}").text
    assert '<span class="site">意林小鎮管理處</span>' in page and "yilin" not in page


def test_the_demo_company_of_three_sites_keeps_each_site_to_itself(new_db):
    """`serve --demo --sites 3`: the staff of one site see only their site's work, in the UI and the API; the
    company's see all three; numbers are per site."""
    from server.demo import seed

    from .test_web_ui import Page

    registry = definitions.load_strict(REPO)
    db = new_db("demo.db")
    lines = list(seed(db, registry, 3))
    passwords = {parts[0]: parts[1] for parts in (line.split() for line in lines if line.startswith("  "))}
    app = create_app(db, registry, tick_seconds=0)
    with TestClient(app, raise_server_exceptions=False):
        engine = app.state.engine
        rows = engine.store.conn.execute("SELECT id, site, number FROM instances ORDER BY id").fetchall()
        by_site: dict[str, list] = {}
        for iid, site, number in rows:
            by_site.setdefault(site, []).append((iid, number))
        assert sorted(by_site) == ["s1", "s2", "s3"]
        numbers = {site: {n.split("-", 1)[0] for _, n in made if n} for site, made in by_site.items()}
        assert numbers == {"s1": {"S1"}, "s2": {"S2"}, "s3": {"S3"}}
        role = engine.show(by_site["s1"][0][0])["tasks"][0]["roles"][0]  # who works on the first demo record
        desks = {name: TestClient(app, raise_server_exceptions=False) for name in (f"{role}-1", f"{role}-2", role)}
        for name, browser in desks.items():
            browser.post("/login", data={"name": name, "password": passwords[name],
                                         "csrf": Page(browser.get("/login").text).csrf()})
        one, other = by_site["s1"][0][0], by_site["s2"][0][0]
        mine, theirs = desks[f"{role}-1"], desks[f"{role}-2"]
        assert mine.get(f"/instances/{one}").status_code == 200
        assert mine.get(f"/instances/{other}").status_code == 403  # the UI
        assert mine.get(f"/api/instances/{other}").status_code == 403  # the API
        assert theirs.get(f"/instances/{other}").status_code == 200
        seen = {name: {t["instance"] for t in b.get("/api/tasks").json()} for name, b in desks.items()}
        assert one in seen[f"{role}-1"] and seen[f"{role}-1"] <= {i for i, _ in by_site["s1"]}
        assert other in seen[f"{role}-2"] and seen[f"{role}-2"] <= {i for i, _ in by_site["s2"]}
        third = {t["instance"] for t in engine.tasks(f"{role}-3")}
        assert seen[role] == seen[f"{role}-1"] | seen[f"{role}-2"] | third and third
        inbox = mine.get("/").text  # the inbox page lists only the site's own numbers
        assert "S1-" in inbox and "S2-" not in inbox and "S3-" not in inbox


def test_the_register_page_names_each_rows_site_for_the_company(company):
    from .hostile.test_access import PASSWORD
    from .test_web_ui import Page

    for user in ("wang", "li"):
        company.engine.start("golden_key_service", user, PAID)
    company.engine.set_password("zhou", PASSWORD)
    browser = TestClient(company.app, raise_server_exceptions=False)
    browser.post("/login", data={"name": "zhou", "password": PASSWORD, "csrf": Page(browser.get("/login").text).csrf()})
    page = browser.get("/registers/golden_key_slip").text
    assert "<th>管理處</th>" in page and "<td>意林小鎮管理處</td>" in page and "<td>湖畔花園管理處</td>" in page
    export = browser.get("/registers/golden_key_slip.csv").text.lstrip("\ufeff").splitlines()  # (a BOM, for Excel)
    assert export[0].split(",")[:3] == ["編號", "流程", "管理處"]
    assert sorted(line.split(",")[2] for line in export[1:]) == sorted(["湖畔花園管理處", "意林小鎮管理處"])


def test_a_printed_document_verifies_with_the_name_of_its_site(company):
    inst = company.engine.start("golden_key_service", "wang", PAID)
    code = company.engine.render(inst["id"], "slip", "wang")[1]["code"]
    assert company.engine.render(inst["id"], "slip", "zhou")[1]["code"]  # the company may print it too
    with pytest.raises(Forbidden):
        company.engine.render(inst["id"], "slip", "li")  # another site may not
    result = company.engine.verify(code)
    assert result["genuine"] and result["site"] == "意林小鎮管理處"
    page = company.get(f"/verify/{code}").text
    assert "<dd>意林小鎮管理處</dd>" in page


def test_each_site_counts_deadlines_on_its_own_calendar(new_db, clock):
    """A local holiday of one site moves its due times, not the other site's; a bad date or zone is refused."""
    from .conftest import TOY

    engine = Engine(new_db("cal.db"), definitions.load_strict(TOY), clock=clock)
    try:
        cli = Cli(engine.store.url, TOY)
        cli.run("sites", "add", "yilin", "--title", "意林小鎮管理處")
        cli.run("sites", "add", "lake", "--title", "湖畔花園管理處", "--holiday", "2026-11-03=社區活動日")
        for site in ("yilin", "lake"):
            engine.add_user(f"clerk-{site}", ["clerk"], site=site)
        due = {}
        for site in ("yilin", "lake"):
            inst = engine.start("timed", f"clerk-{site}", {"subject": "時限"})
            due[site] = engine.show(inst["id"])["tasks"][0]["hard_at"]
        # started Monday 09:30 (Shanghai); 2 working days: Wednesday, or Thursday where Tuesday is a holiday
        assert due == {"yilin": "2026-11-04T01:30:00+00:00", "lake": "2026-11-05T01:30:00+00:00"}
        bad = cli.run("sites", "add", "moon", "--title", "月球管理處", "--holiday", "2026-13-01=x", ok=False)
        assert bad.returncode == 1 and "不是日期" in bad.stderr
        zone = cli.run("sites", "add", "moon", "--title", "月球管理處", "--timezone", "Moon/Base", ok=False)
        assert zone.returncode == 1 and "沒有時區" in zone.stderr
        assert [s["id"] for s in engine.sites()] == ["default", "lake", "yilin"]
    finally:
        engine.close()
