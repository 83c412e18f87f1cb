"""Reports on each backend: their lint at path:line:col, the figures of a month of complaints and repairs counted,
grouped (by a field, by the local day and week) and rated in SQL, the unit grid, parameters, sites and roles,
confidential fields, the outputs opened back (.xlsx, .csv, .docx), the CLI and the API, and the daily report drafted
from the day's work, corrected, signed and printed."""

from __future__ import annotations

import csv
import io
import shutil
from datetime import timedelta

import pytest

from engine import definitions, reportout
from engine.errors import Forbidden, Invalid, NotFound
from engine.reportservice import report_file
from engine.service import Engine

from .conftest import REPO, UNITS, Cli, docx_text
from .procedures.test_complaint import ANALYSIS, COMPLAINT, VISIT
from .procedures.test_repair import REPORT


def repository(tmp_path):
    root = tmp_path / "defs"
    shutil.copytree(REPO, root, ignore=shutil.ignore_patterns(".venv", ".git", "tests", "bench", "docs", "*.db",
                                                              "__pycache__", "*.files"))
    return root


# --- lint -----------------------------------------------------------------------------------------------------------

LINT = [
    ("reports/complaints_monthly.yaml", "workflow: complaint\n    period", "workflow: complaints\n    period",
     "reports/complaints_monthly.yaml:14:15: unknown workflow 'complaints'; did you mean 'complaint'?"),
    ("reports/complaints_monthly.yaml", "group: [department]", "group: [departmnt]",
     "reports/complaints_monthly.yaml:17:13: cannot group by 'departmnt': 'departmnt' is not a field of this table; "
     "did you mean 'department'?; write a field, or day:, week:, month: and a time field"),
    ("reports/complaints_monthly.yaml", "closed: {title: 已結案, count: {status: completed}}",
     "closed: {title: 已結案, count: {status: complete}}",
     "reports/complaints_monthly.yaml:22:44: 'status' is never 'complete'; did you mean 'completed'? (it is one of: "
     "active, completed, cancelled)"),
    ("reports/complaints_monthly.yaml", "where: {department: $department}\n    group",
     "where: {department: $dept}\n    group",
     "reports/complaints_monthly.yaml:16:25: '$dept' names no parameter of the report"),
    ("reports/complaints_monthly.yaml", "      important: {title: 重要投訴, count: {importance: 重要投訴}}",
     "      important: {title: 重要投訴, sum: importance}",
     "reports/complaints_monthly.yaml:21:37: cannot sum 'importance': it is not a number or an amount"),
    ("reports/complaints_monthly.yaml", "      department: {title: 被投訴部門}\n      total",
     "      channel: {title: 方式}\n      department: {title: 被投訴部門}\n      total",
     "reports/complaints_monthly.yaml:19:7: column 'channel' is neither grouped by nor counted: add 'channel' to "
     "`group`, or give it count/sum/avg/min/max/rate"),
    ("reports/complaints_monthly.yaml", "chart: {kind: bar, x: department, y: [total, important]}",
     "chart: {kind: bar, x: department, y: [total, importnt]}",
     "reports/complaints_monthly.yaml:24:12: the chart names 'importnt', not a column of the table; did you mean "
     "'important'?"),
    ("reports/unit_status.yaml", "record: unit\n    group: [state]", "record: units\n    group: [state]",
     "reports/unit_status.yaml:13:13: unknown record type 'units'; did you mean 'unit'?"),
    ("reports/service_levels.yaml", "period: {param: month, field: ended_at}", "period: {param: month, field: unit}",
     "reports/service_levels.yaml:52:35: 'unit' is not a time of this table (one of: started_at, ended_at, "
     "appointment, arrived_at)"),
    ("workflows/property_daily_report.yaml", "values: {received: received,", "values: {received: recieved,",
     "workflows/property_daily_report.yaml:19:24: report 'property_daily' has no table 'recieved'; did you mean "
     "'received'?"),
]


@pytest.mark.parametrize("file,old,new,expected", LINT, ids=[e[2][:40] for e in LINT])
def test_a_report_mistake_is_one_message_at_its_place(tmp_path, file, old, new, expected):
    root = repository(tmp_path)
    path = root / file
    text = path.read_text(encoding="utf-8")
    assert old in text, old
    path.write_text(text.replace(old, new, 1), encoding="utf-8")
    assert [str(p) for p in definitions.load(root, display_root="").problems] == [expected]


# --- figures --------------------------------------------------------------------------------------------------------

@pytest.fixture
def office(engine, clock):
    for user, roles, title in (("desk", ["concierge"], "前台小王"), ("zhu", ["supervisor"], "朱主任"),
                               ("jing", ["manager"], "景經理"), ("ban", ["repair_foreman"], "班長"),
                               ("zhang", ["repair_tech"], "張師傅"), ("xiao", ["assistant"], "蕭助理")):
        engine.add_user(user, roles, title)
    return engine


def complaint(engine, department: str, importance: str = "一般投訴", visited: bool = True) -> dict:
    inst = engine.start("complaint", "desk", dict(COMPLAINT, department=department, importance=importance))
    inst = engine.complete(inst["tasks"][0]["id"], "zhu")
    inst = engine.complete(inst["tasks"][0]["id"], "desk", data=ANALYSIS)
    inst = engine.complete(inst["tasks"][0]["id"], "desk", data={"resolution": "已整改"})
    inst = engine.complete(inst["tasks"][0]["id"], "desk", outcome="resolved", data={"confirmation": "業主確認"})
    if visited:
        who = "jing" if importance == "重要投訴" else "zhu"
        engine.set_roles(who, ["manager", "supervisor", "security_lead", "engineering_lead", "cs_supervisor"])
        inst = engine.complete(inst["tasks"][0]["id"], who, data=VISIT)
    return inst


def table(result: dict, tid: str) -> dict:
    return next(t for t in result["tables"] if t["id"] == tid)


def test_a_month_of_complaints_is_counted_by_department_with_its_return_visits(office, clock):
    complaint(office, "保安部", "重要投訴")
    complaint(office, "保安部")
    complaint(office, "工程部", visited=False)
    clock.advance(days=40)  # another month: not counted in the first
    complaint(office, "保潔部")
    result = office.run_report("complaints_monthly", "jing", {"month": "2026-11"})
    assert result["params"]["month"] == {"title": "月份", "value": "2026-11"}
    assert table(result, "by_department")["rows"] == [["保安部", 2, 1, 0, 0], ["工程部", 1, 0, 0, 0]]
    assert table(result, "visits")["rows"] == [[3, 2, pytest.approx(2 / 3, abs=1e-4)]]
    listed = table(result, "list")
    assert len(listed["rows"]) == 3 and {r[6] for r in listed["rows"]} == {"進行中"}  # (a status in words)
    only = office.run_report("complaints_monthly", "jing", {"month": "2026-11", "department": "工程部"})
    assert table(only, "visits")["rows"] == [[1, 0, 0.0]]
    december = office.run_report("complaints_monthly", "jing", {"month": "2026-12"})
    assert table(december, "by_department")["rows"] == [["保潔部", 1, 0, 0, 0]]


def test_a_day_and_a_week_are_the_site_s_local_ones(office, clock):
    office.start("repair_order", "desk", REPORT)  # 2026-11-02 09:30 in Shanghai
    clock.advance(hours=14, minutes=15)  # 23:45 the same local day, 15:45 UTC
    office.start("repair_order", "desk", dict(REPORT, emergency=True))
    clock.advance(minutes=30)  # 00:15 on the 3rd in Shanghai, still the 2nd in UTC
    office.start("repair_order", "desk", REPORT)
    second = office.run_report("repair_daily", "ban", {"day": "2026-11-02"})
    assert table(second, "summary")["rows"] == [[2, 1, 0, 2]]
    assert table(office.run_report("repair_daily", "ban", {"day": "2026-11-03"}), "summary")["rows"] == [[1, 0, 0, 1]]
    orders = table(second, "orders")
    assert [r[2] for r in orders["rows"]] == ["7棟 602", "7棟 602"] and orders["columns"][1]["kind"] == "date-time"
    for task in office.tasks("desk"):  # (each order printed, then confirmed as issued)
        office.render(task["instance"], task["printout"], "desk")
        office.complete(task["id"], "desk")
    weeks = table(office.run_report("service_levels", "jing", {"month": "2026-11"}), "by_week")
    # the first waited until 00:15 (late), the third was done at once; both in the week of Monday 2 November
    assert weeks["rows"] == [["2026-11-02", 2, 0.5, pytest.approx((14 * 60 + 45) / 2, abs=1)]]


def test_the_unit_register_by_state_and_as_a_colour_grid(office):
    office.add_user("amy", ["assistant"])
    for unit in ("101", "102", "201"):
        office.add_record("unit", "amy", {"building": "9棟", "unit": unit, "area": 100}, state="出租")
    result = office.run_report("unit_status", "amy")
    assert table(result, "by_state")["rows"] == [["出租", 3, 300],
                                                  ["自住", 3, pytest.approx(sum(u["area"] for u in UNITS))]]
    grid = table(result, "grid")["grid"]
    assert grid["rows"] == ["1棟", "3棟", "7棟", "9棟"] and grid["cols"] == ["101", "102", "201", "601", "602"]
    assert grid["cells"][3] == ["出租", "出租", "出租", None, None]
    assert {i["value"]: (i["colour"], i["count"]) for i in grid["legend"]}["出租"] == ("#2196f3", 3)
    assert grid["row_title"] == "樓棟" and grid["col_title"] == "房號"


def test_an_empty_database_renders_every_report_empty(new_db, registry):
    engine = Engine(new_db("empty.db"), registry)
    try:
        engine.add_user("boss", sorted(registry.site.roles))
        for report in engine.reports("boss"):
            result = engine.run_report(report["id"], "boss")
            for t in result["tables"]:
                assert all(v in (0, None) for row in t["rows"] for v in row) or t["rows"] == []
            for kind in ("csv", "xlsx", "docx"):
                assert report_file(engine, result, kind)[0]
    finally:
        engine.close()


def test_who_may_run_a_report_and_what_they_see(office):
    needed = "不能查看「住戶投訴匯總表」（需要角色：客服主管、物業主任、物業經理、物業助理）"
    with pytest.raises(Forbidden, match=needed):
        office.run_report("complaints_monthly", "desk")
    assert [r["id"] for r in office.reports("desk")] == []
    assert "repair_daily" in [r["id"] for r in office.reports("ban")]
    for params, message in (({"month": "11/2026"}, "「月份」不是月份，例如 2026-12"),
                            ({"department": "財務部"}, "「被投訴部門」只能是：客服部、工程部、保安部、保潔部、其他"),
                            ({"colour": "red"}, "「住戶投訴匯總表」沒有參數：colour")):
        with pytest.raises(Invalid, match=message):
            office.run_report("complaints_monthly", "jing", params)
    with pytest.raises(NotFound, match="沒有報表「nope」"):
        office.run_report("nope", "jing")


def test_a_site_sees_its_own_figures_and_the_company_every_site(office, clock):
    office.add_site("east", "東區管理處", "DQ")
    office.add_site("west", "西區管理處", "XQ")
    from .conftest import add_units

    add_units(office.store.url, "east")
    add_units(office.store.url, "west")
    office.add_user("desk_e", ["concierge"], site="east")
    office.add_user("fore_e", ["repair_foreman"], site="east")
    office.start("repair_order", "desk_e", REPORT, "east")
    office.start("repair_order", "desk", REPORT, "west")
    office.start("repair_order", "desk", REPORT, "west")
    mine = office.run_report("repair_daily", "fore_e", {"day": "2026-11-02"})
    assert table(mine, "summary")["rows"][0][0] == 1
    company = office.run_report("repair_daily", "ban", {"day": "2026-11-02"})
    assert table(company, "summary")["rows"][0][0] == 3
    west = office.run_report("repair_daily", "ban", {"day": "2026-11-02"}, "west")
    assert table(west, "summary")["rows"][0][0] == 2 and west["site"] == "西區管理處"
    with pytest.raises(Forbidden, match="不能查看管理處「西區管理處」"):
        office.run_report("repair_daily", "fore_e", {"day": "2026-11-02"}, "west")


# --- outputs --------------------------------------------------------------------------------------------------------

def test_the_outputs_open_back_typed_and_laid_out(office, tmp_path):
    from openpyxl import load_workbook

    office.add_user("amy", ["assistant", "cashier"])
    complaint(office, "保安部")
    result = office.run_report("complaints_monthly", "jing", {"month": "2026-11"})
    body, name = report_file(office, result, "xlsx")
    assert name == "住戶投訴匯總表_2026-11.xlsx"
    book = load_workbook(io.BytesIO(body))
    assert [s.title for s in book.worksheets] == ["各部門投訴件數", "回訪情況", "投訴明細"]
    visits, listed = book["回訪情況"], book["投訴明細"]
    assert visits.freeze_panes == "A2" and visits.auto_filter.ref == "A1:C2"
    assert visits["C2"].value == 1.0 and visits["C2"].number_format == "0.0%"
    assert listed["B2"].is_date and listed["B2"].value.strftime("%Y-%m-%d %H:%M") == "2026-11-02 09:30"
    assert listed.column_dimensions["F"].width > listed.column_dimensions["A"].width / 2
    text = body_csv = report_file(office, result, "csv")[0].decode("utf-8-sig")
    rows = list(csv.reader(io.StringIO(body_csv)))
    assert rows[0] == ["住戶投訴匯總表", "月份：2026-11"] and ["投訴件數", "已回訪", "回訪率"] in rows
    assert "1,1,100.0%" in text
    words = docx_text(report_file(office, result, "docx")[0])
    assert "住戶投訴匯總表" in words and "各部門投訴件數" in words and "保安部" in words
    grid = office.run_report("unit_status", "amy")
    sheet = load_workbook(io.BytesIO(report_file(office, grid, "xlsx")[0]))["房屋狀況圖"]
    assert sheet["A1"].value == "樓棟＼房號" and sheet["B2"].value == "自住"
    assert sheet["B2"].fill.fgColor.rgb.endswith("4caf50") and sheet.freeze_panes == "B2"
    assert "房屋狀況圖" in docx_text(report_file(office, grid, "docx")[0])


def test_a_chart_is_svg_with_its_labels_escaped():
    svg = reportout.chart_svg({"title": "<t>", "chart": {"kind": "bar", "x": "a", "y": "n"},
                               "columns": [{"id": "a", "title": "A", "kind": "text"},
                                           {"id": "n", "title": "件數", "kind": "number"}],
                               "rows": [["<b>", 3], ["乙", 1]]})
    assert svg.startswith("<svg") and "&lt;b&gt;" in svg and "<b>" not in svg and svg.count("<rect") == 3


def test_reports_from_the_command_line(new_db, tmp_path):
    from .conftest import add_units

    add_units(new_db("cli.db"))
    cli = Cli(new_db("cli.db"))
    out = cli.json("report", "unit_status", "--month", "2026-11")
    assert out["params"]["month"]["value"] == "2026-11" and table(out, "by_state")["rows"][0][:2] == ["自住", 3]
    made = cli.json("report", "unit_status", "-o", str(tmp_path / "u.xlsx"))
    assert made["tables"] == {"by_state": 1, "by_building": 3, "grid": 3} and (tmp_path / "u.xlsx").stat().st_size
    bad = cli.run("report", "repair_daily", "--day", "someday", ok=False)
    assert bad.returncode == 1 and bad.stderr == "goldkey: 「日期」不是日期，例如 2026-12-01\n"
    assert cli.run("report", "repair_daily", "-o", str(tmp_path / "x.pdf"), ok=False).returncode == 1


def test_reports_over_the_api(new_db, registry, clock):
    from starlette.testclient import TestClient

    from server.app import create_app

    app = create_app(new_db("api.db"), registry, tick_seconds=0, clock=clock)
    with TestClient(app) as client:
        engine = app.state.engine
        engine.add_user("jing", ["manager"])
        engine.add_user("desk", ["concierge"])
        boss = {"authorization": f"Bearer {engine.new_token('jing')}"}
        desk = {"authorization": f"Bearer {engine.new_token('desk')}"}
        assert [r["id"] for r in client.get("/api/reports", headers=boss).json()] == [
            "complaints_monthly", "property_daily", "repair_daily", "service_levels", "unit_status"]
        run = client.get("/api/reports/complaints_monthly?month=2026-11", headers=boss)
        assert run.status_code == 200 and run.json()["params"]["month"]["value"] == "2026-11"
        assert client.get("/api/reports/complaints_monthly?month=nov", headers=boss).status_code == 422
        assert client.get("/api/reports/complaints_monthly", headers=desk).status_code == 403
        assert client.get("/api/reports/nope", headers=boss).status_code == 404
        file = client.get("/api/reports/complaints_monthly.xlsx?month=2026-11", headers=boss)
        assert file.status_code == 200 and file.content[:2] == b"PK"
        assert client.get("/api/reports/complaints_monthly.pdf", headers=boss).status_code == 422


# --- a report seeds a step ------------------------------------------------------------------------------------------

def test_the_daily_report_is_drafted_from_the_day_s_work_corrected_signed_and_printed(office, clock):
    office.tick()  # (the schedule is seen from now on)
    complaint(office, "保安部")
    office.start("repair_order", "desk", REPORT)
    clock.advance(hours=8)  # 17:30 in Shanghai, a Monday: the schedule drafts it
    office.tick()
    drafted = [t for t in office.tasks("xiao") if t["workflow"] == "property_daily_report"]
    assert len(drafted) == 1
    inst = office.show(drafted[0]["instance"])
    assert inst["data"]["day"] == "2026-11-02" and inst["data"]["received_total"] == 2
    assert {r["workflow"]: (r["received"], r["finished"]) for r in inst["data"]["received"]} == {
        "投訴處理": (1, 0), "客戶報修": (1, 0)}
    assert [(r["workflow"], r["done"]) for r in inst["data"]["tasks_done"]] == [("投訴處理", 5)]
    corrected = [dict(r, received=r["received"] + 1) if r["workflow"] == "客戶報修" else r
                 for r in inst["data"]["received"]]
    inst = office.complete(drafted[0]["id"], "xiao", data={"received": corrected, "work_notes": "巡視3棟",
                                                           "open_issues": "電梯待修"})
    assert inst["data"]["received_total"] == 3  # (computed again from the corrected rows)
    inst = office.complete(inst["tasks"][0]["id"], "zhu", "approve", {"supervisor_note": "已檢查"})
    body, _ = office.render(inst["id"], "report", "xiao")
    printed = docx_text(body)
    assert "物業日報表" in printed and "電梯待修" in printed and "客戶報修" in printed
    done = office.complete(office.show(inst["id"])["tasks"][0]["id"], "xiao")
    assert done["status"] == "completed" and done["outcome"] == "filed"
    clock.advance(days=1)
    office.tick()  # Tuesday 17:30: the next working day's draft
    drafts = [t for t in office.tasks("xiao") if t["workflow"] == "property_daily_report"]
    assert [office.show(t["instance"])["data"]["day"] for t in drafts] == ["2026-11-03"]
    assert office.show(drafts[0]["instance"])["data"]["open_issues"] == "電梯待修"  # (carried from the day before)
    assert office.audit()["ok"]


def test_a_started_daily_report_keeps_what_its_starter_gave(office):
    inst = office.start("property_daily_report", "xiao", {"day": "2026-11-01"})
    assert inst["data"] == {"day": "2026-11-01", "received_total": 0}  # (a Sunday: nothing to draft)


def test_a_sampling_plan_visits_at_least_its_share_of_last_week_s_services_the_same_ones_each_time(new_db, registry):
    from .conftest import T0, Clock, StoreRun
    from .procedures import test_golden_key as golden

    db = new_db("sample.db")
    runs = []
    for _ in range(10):
        run = golden.slip_issued(lambda wf: runs.append(StoreRun(registry, wf, db)) or runs[-1])
        run.act("plan", data={"route": "客服中心協調各部門", "estimate": "500", "departments": ["工程部"]})
        run.act("coordinate", data={"result": "已完成", "cost": "500"})
        run.act("record_expense")
        run.act("redeem", data={"checked": ["verify_holder", "hand_over", "register", "receipts"]})
        assert run.state["status"] == "completed"
    for run in runs:
        run.close()
    clock = Clock(T0 + timedelta(days=1))
    engine = Engine(db, registry, clock=clock)
    try:
        engine.tick()  # (Tuesday: the plans are seen from now on)
        clock.now = T0 + timedelta(days=7, hours=-0.5)  # Monday 9 November, 09:00 in Shanghai
        first = engine.tick()
        assert first["started_by"].get("service_visit") == 6  # at least 60% of 10
        engine.add_user("boss", ["manager", "assistant"])
        visits = engine.register("service_visit", "boss")["rows"]
        numbers = sorted(r["data"]["source_number"] for r in visits)
        assert len(set(numbers)) == 6 and all(n.startswith("JYS-2026-") for n in numbers)
        assert engine.tick()["started_by"] == {}  # the run is made once
        again = engine._sampled(registry.workflow("service_visit").schedules[0], "service_visit:weekly",
                                "2026-11-09T01:00:00+00:00", clock.now.astimezone(registry.site.tz), "default")
        assert sorted(v["source_number"] for v in again) == numbers  # (reproducible: the same six)
        levels = engine.run_report("service_levels", None, {"month": "2026-11"})
        assert table(levels, "service_visits")["rows"] == [[6, 0, 0.0]]
        assert table(levels, "services_done")["rows"] == [[10]]
    finally:
        engine.close()



def test_dates_at_the_calendar_s_edges_are_refused_or_bound_nothing(office):
    for params in ({"month": "0001-01"}, {"month": "9999-12"}):
        with pytest.raises(Invalid, match="「月份」不是月份"):
            office.run_report("complaints_monthly", "jing", params)
    with pytest.raises(Invalid, match="「日期」不是日期"):
        office.run_report("repair_daily", "ban", {"day": "0001-01-01"})
    from datetime import date

    from engine.registers import bounds

    assert bounds(date(1, 1, 1), date(9999, 12, 31), office.registry.site.tz) == (None, None)
    assert office.register("complaint", "jing", first=date(1, 1, 1), last=date(9999, 12, 31))["total"] == 0
