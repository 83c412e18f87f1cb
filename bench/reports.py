"""Reports benchmark: each example report over 100,000 instances beside the bare SQL it needs, in the same run, and
the import rate of records.

  data      A few hundred real complaints and repair orders are made through the Engine on a moving clock (every step
            of a visited complaint; repairs reported, some urgent, some closed), then cloned in SQL — instances and
            their tasks, with new ids and their times moved — until there are --instances of them spread over a
            year; 2,000 units are imported from an .xlsx file through `goldkey records import`'s path (read_sheet +
            Engine.import_records), which gives the import rate.
  reports   Each report of reports/ is run through Engine.run_report (parameters read, its queries built and run,
            values put in words), --repeat times; beside it, the same figures by the bare SQL a person would write
            for them on the same connection. The figure is the median of each and their ratio (target: a report
            within 3x its bare queries). The bare queries' answers are checked against the report's.

Usage: python bench/reports.py [--instances 100000] [--units 2000] [--repeat 15]
"""

from __future__ import annotations

import argparse
import io
import json
import sqlite3
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from engine import definitions, recordio  # noqa: E402
from engine.service import Engine  # noqa: E402

T0 = datetime(2026, 1, 5, 1, 30, tzinfo=UTC)  # a Monday, 09:30 in Shanghai
DEPARTMENTS = ["客服部", "工程部", "保安部", "保潔部", "其他"]
TARGET = 3.0
MONTH, DAY = "2026-06", "2026-06-15"


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now


def templates(db: Path, registry, n: int) -> int:
    """`n` complaints and `n` repair orders made through the Engine; the highest instance id."""
    clock = Clock()
    eng = Engine(db, registry, synchronous="OFF", clock=clock)
    try:
        everyone = sorted(registry.site.roles)
        for user in ("desk", "zhu", "jing", "ban", "zhang", "amy"):
            eng.add_user(user, everyone, f"示範{user}")
        for i in range(n):
            clock.now += timedelta(minutes=37)
            data = {"complainant": "陳女士", "unit": f"{i % 9 + 1}-{i % 30 + 101}", "phone": "13800001111",
                    "channel": "來電", "department": DEPARTMENTS[i % 5],
                    "importance": "重要投訴" if i % 4 == 0 else "一般投訴", "content": "夜間噪音"}
            inst = eng.start("complaint", "desk", data)
            if i % 3:
                inst = eng.complete(inst["tasks"][0]["id"], "zhu")
                inst = eng.complete(inst["tasks"][0]["id"], "desk", data={
                    "cause": "原因", "measures": "措施", "promised_by": "2026-12-01T18:00:00+08:00",
                    "owner_agreed": True})
                inst = eng.complete(inst["tasks"][0]["id"], "desk", data={"resolution": "已整改"})
                inst = eng.complete(inst["tasks"][0]["id"], "desk", outcome="resolved",
                                    data={"confirmation": "業主確認"})
                if i % 2:
                    clock.now += timedelta(hours=30 if i % 5 else 90)
                    eng.complete(inst["tasks"][0]["id"], "jing", data={
                        "visit_method": "電話", "satisfaction": "滿意" if i % 7 else "不滿意", "visit_notes": "好"})
            eng.add_record("unit", "amy", {"building": "T棟", "unit": f"{i}", "area": 90}) if i == 0 else None
        for i in range(n):
            clock.now += timedelta(minutes=41)
            inst = eng.start("repair_order", "desk", {
                "source": "業主報修", "unit": "T棟 0", "location": "廚房", "description": "漏水",
                "someone_home": True, "emergency": i % 6 == 0, "reporter": "周先生", "phone": "13511112222"})
            if i % 2 and inst["tasks"] and inst["tasks"][0]["step"] == "open_order":
                eng.complete(inst["tasks"][0]["id"], "desk")
        return eng.store.conn.execute("SELECT max(id) FROM instances").fetchone()[0]
    finally:
        eng.close()


def clone(db: Path, top: int, wanted: int) -> int:
    """Instances 1..top copied with new ids until there are `wanted`, each copy's times moved later (a year in all);
    their tasks too. The number of instances."""
    copies = max(wanted // top - 1, 0)
    hours = 365 * 24 / max(copies + 1, 1)
    conn = sqlite3.connect(db, isolation_level=None)
    try:
        conn.execute("PRAGMA synchronous=OFF")
        conn.execute("BEGIN")
        cols = [r[1] for r in conn.execute("PRAGMA table_info(instances)")]
        tcols = [r[1] for r in conn.execute("PRAGMA table_info(tasks)")]
        shift = "strftime('%Y-%m-%dT%H:%M:%S+00:00', {c}, '+' || ? || ' minutes')"
        moved = {"started_at", "ended_at", "updated_at"}
        for k in range(1, copies + 1):
            minutes = int(k * hours * 60)
            offset = k * top
            select = [f"id + {offset}" if c == "id" else f"number || '-{k}'" if c == "number" else
                      "NULL" if c == "wake_at" else f"CASE WHEN {c} IS NULL THEN NULL ELSE {shift.format(c=c)} END"
                      if c in moved else c for c in cols]
            args = [minutes for c in cols if c in moved]
            conn.execute(f"INSERT INTO instances ({', '.join(cols)}) SELECT {', '.join(select)} FROM instances "
                         f"WHERE id <= {top}", args)
            tmoved = {"opened_at", "closed_at", "due_at"}
            tselect = [f"((instance_id + {offset}) << 24) | (key & 16777215)" if c == "key" else
                       f"(instance_id + {offset}) || '-' || (key & 16777215)" if c == "id" else
                       f"instance_id + {offset}" if c == "instance_id" else
                       f"CASE WHEN {c} IS NULL THEN NULL ELSE {shift.format(c=c)} END" if c in tmoved else c
                       for c in tcols]
            targs = [minutes for c in tcols if c in tmoved]
            conn.execute(f"INSERT INTO tasks ({', '.join(tcols)}) SELECT {', '.join(tselect)} FROM tasks "
                         f"WHERE instance_id <= {top}", targs)
        conn.execute("COMMIT")
        conn.execute("ANALYZE")
        return conn.execute("SELECT count(*) FROM instances").fetchone()[0]
    finally:
        conn.close()


def import_units(db: Path, registry, n: int) -> dict:
    from openpyxl import Workbook

    book = Workbook()
    sheet = book.active
    sheet.append(["樓棟", "房號", "建築面積（㎡）", "業主", "業主電話", "狀態"])
    states = ["自住", "自住", "出租", "裝修中", "已入伙未裝修", "空置", "未售"]
    for i in range(n):
        sheet.append([f"{i // 200 + 1}棟", f"{(i % 200) // 4 + 1}{i % 4 + 1:02d}", 80 + i % 60,
                      f"業主{i}", f"138{i:08d}", states[i % len(states)]])
    out = io.BytesIO()
    book.save(out)
    body = out.getvalue()
    eng = Engine(db, registry)
    try:
        rt = eng.record_type("unit")
        t = time.perf_counter()
        rows = recordio.read_sheet(rt, body, "units.xlsx")
        read_s = time.perf_counter() - t
        report = eng.import_records("unit", "amy", rows)
        total_s = time.perf_counter() - t
    finally:
        eng.close()
    assert report["created"] == n and not report["failed"], report
    return {"units": n, "xlsx_kb": len(body) // 1024, "read_s": round(read_s, 3), "total_s": round(total_s, 3),
            "rate": round(n / total_s)}


def bare_queries(month: str, day: str) -> dict[str, list[tuple[str, tuple]]]:
    """The SQL a person would write for each report's figures (SQLite), in UTC bounds of Shanghai's month and day."""
    def bounds(first: str, after: str) -> tuple[str, str]:
        return tuple((datetime.fromisoformat(d) - timedelta(hours=8)).strftime("%Y-%m-%dT%H:%M:%S+00:00")
                     for d in (first, after))

    year, mon = map(int, month.split("-"))
    m = bounds(f"{month}-01", f"{year + mon // 12}-{mon % 12 + 1:02d}-01")
    d0 = datetime.fromisoformat(day)
    d = bounds(day, (d0 + timedelta(days=1)).date().isoformat())
    dept = "json_extract(state, '$.data.department')"
    wfs = ("golden_key_service", "repair_order", "complaint", "renovation", "pet_registration", "special_incident",
           "fire_emergency", "key_loan")
    marks = ",".join("?" * len(wfs))
    return {
        "unit_status": [
            ("SELECT state, count(*), sum(json_extract(data, '$.area')) FROM records WHERE type = 'unit' "
             "GROUP BY state ORDER BY 1", ()),
            ("SELECT json_extract(data, '$.building'), count(*), sum(state = '自住'), sum(state = '出租'), "
             "sum(state = '裝修中'), sum(state IN ('空置', '未售')), sum(json_extract(data, '$.area')) FROM records "
             "WHERE type = 'unit' GROUP BY 1 ORDER BY 1", ()),
            ("SELECT json_extract(data, '$.building'), json_extract(data, '$.unit'), state FROM records "
             "WHERE type = 'unit' ORDER BY 1, 2", ()),
        ],
        "complaints_monthly": [
            (f"SELECT {dept}, count(*), sum(json_extract(state, '$.data.importance') = '重要投訴'), "
             "sum(status = 'completed'), sum(json_extract(state, '$.data.satisfaction') = '不滿意') FROM instances "
             "WHERE workflow = 'complaint' AND started_at >= ? AND started_at < ? GROUP BY 1 ORDER BY 1", m),
            ("SELECT count(*), sum(json_extract(state, '$.data.visit_method') IS NOT NULL), "
             "avg(json_extract(state, '$.data.visit_method') IS NOT NULL) FROM instances "
             "WHERE workflow = 'complaint' AND started_at >= ? AND started_at < ?", m),
            ("SELECT number, started_at, json_extract(state, '$.data.unit'), " + dept + ", "
             "json_extract(state, '$.data.importance'), json_extract(state, '$.data.content'), status, "
             "json_extract(state, '$.data.satisfaction') FROM instances WHERE workflow = 'complaint' AND "
             "started_at >= ? AND started_at < ? ORDER BY started_at DESC LIMIT 500", m),
        ],
        "repair_daily": [
            ("SELECT count(*), sum(json_extract(state, '$.data.emergency') = 1), sum(status = 'completed'), "
             "sum(status = 'active') FROM instances WHERE workflow = 'repair_order' AND started_at >= ? AND "
             "started_at < ?", d),
            ("SELECT number, started_at, json_extract(state, '$.data.unit'), json_extract(state, '$.data.location'), "
             "json_extract(state, '$.data.description'), json_extract(state, '$.data.technician'), status, "
             "json_extract(state, '$.data.temporary_measures') FROM instances WHERE workflow = 'repair_order' AND "
             "started_at >= ? AND started_at < ? ORDER BY started_at DESC LIMIT 500", d),
        ],
        "property_daily": [
            (f"SELECT workflow, count(*), sum(status = 'completed') FROM instances WHERE workflow IN ({marks}) AND "
             "started_at >= ? AND started_at < ? GROUP BY workflow ORDER BY 1", (*wfs, *d)),
            (f"SELECT i.workflow, count(*), sum(NOT (t.due_at IS NULL OR t.closed_at <= t.due_at)) FROM tasks t "
             f"JOIN instances i ON i.id = t.instance_id WHERE i.workflow IN ({marks}) AND t.closed_at >= ? AND "
             "t.closed_at < ? AND t.status = 'done' GROUP BY i.workflow ORDER BY 1", (*wfs, *d)),
        ],
        "service_levels": [
            ("SELECT date(t.closed_at, '+480 minutes', '-6 days', 'weekday 1'), count(*), "
             "avg(t.due_at IS NULL OR t.closed_at <= t.due_at), "
             "avg((julianday(t.closed_at) - julianday(t.opened_at)) * 1440) FROM tasks t JOIN instances i ON "
             "i.id = t.instance_id WHERE i.workflow IN ('repair_order', 'complaint') AND t.closed_at >= ? AND "
             "t.closed_at < ? AND t.status = 'done' GROUP BY 1 ORDER BY 1", m),
            ("SELECT i.workflow, t.step, count(*), avg(t.due_at IS NULL OR t.closed_at <= t.due_at), "
             "avg((julianday(t.closed_at) - julianday(t.opened_at)) * 1440) FROM tasks t JOIN instances i ON "
             "i.id = t.instance_id WHERE i.workflow IN ('repair_order', 'complaint') AND t.closed_at >= ? AND "
             "t.closed_at < ? AND t.status = 'done' GROUP BY 1, 2 ORDER BY 1, 2", m),
            ("SELECT t.closed_by, count(*), avg(t.due_at IS NULL OR t.closed_at <= t.due_at) FROM tasks t JOIN "
             "instances i ON i.id = t.instance_id WHERE i.workflow IN ('repair_order', 'complaint') AND "
             "t.closed_at >= ? AND t.closed_at < ? AND t.status = 'done' GROUP BY 1 ORDER BY 2 DESC", m),
            ("SELECT count(*), sum(json_extract(state, '$.data.satisfaction') IS NOT NULL), "
             "avg(json_extract(state, '$.data.satisfaction') IS NOT NULL) FROM instances WHERE "
             "workflow = 'repair_order' AND status = 'completed' AND ended_at >= ? AND ended_at < ?", m),
        ],
    }


def median_ms(fn, repeat: int) -> float:
    fn()  # (warm)
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--instances", type=int, default=100_000)
    parser.add_argument("--templates", type=int, default=200, help="complaints and repairs made through the Engine")
    parser.add_argument("--units", type=int, default=2000)
    parser.add_argument("--repeat", type=int, default=15)
    args = parser.parse_args()
    registry = definitions.load_strict(ROOT)
    with tempfile.TemporaryDirectory(prefix="goldkey-bench-reports-") as tmp:
        db = Path(tmp) / "reports.db"
        t = time.perf_counter()
        top = templates(db, registry, args.templates // 2)
        made = time.perf_counter() - t
        total = clone(db, top, args.instances)
        print(f"data: {total:,} instances ({top} made through the Engine in {made:.1f} s, the rest cloned) "
              f"in {time.perf_counter() - t:.1f} s")
        imported = import_units(db, registry, args.units)
        print(f"import: {imported['units']:,} units from a {imported['xlsx_kb']} KB .xlsx in {imported['total_s']} s "
              f"(reading it {imported['read_s']} s): {imported['rate']:,} units/s")
        eng = Engine(db, registry)
        raw = sqlite3.connect(db)
        figures = []
        try:
            params = {"unit_status": {"month": MONTH}, "complaints_monthly": {"month": MONTH},
                      "repair_daily": {"day": DAY}, "property_daily": {"day": DAY}, "service_levels": {"month": MONTH}}
            bare = bare_queries(MONTH, DAY)
            print(f"\n{'report':<20}{'rows':>8}{'report ms':>12}{'bare SQL ms':>13}{'ratio':>8}  target ≤{TARGET}x")
            for rid, p in params.items():
                result = eng.run_report(rid, "amy", p)
                answers = [raw.execute(sql, a).fetchall() for sql, a in bare[rid]]
                check(rid, result, answers)
                report_ms = median_ms(lambda rid=rid, p=p: eng.run_report(rid, "amy", p), args.repeat)
                bare_ms = median_ms(lambda rid=rid: [raw.execute(sql, a).fetchall() for sql, a in bare[rid]],
                                    args.repeat)
                rows = sum(len(t["rows"]) or len((t.get("grid") or {}).get("rows", [])) for t in result["tables"])
                ratio = report_ms / bare_ms
                figures.append({"report": rid, "rows": rows, "report_ms": round(report_ms, 2),
                                "bare_ms": round(bare_ms, 2), "ratio": round(ratio, 2)})
                print(f"{rid:<20}{rows:>8}{report_ms:>12.2f}{bare_ms:>13.2f}{ratio:>7.2f}x"
                      f"  {'ok' if ratio <= TARGET else 'MISSED'}")
        finally:
            raw.close()
            eng.close()
        print(json.dumps({"instances": total, "import": imported, "reports": figures}, ensure_ascii=False))


def check(rid: str, result: dict, answers: list[list[tuple]]) -> None:
    """The report's first figures equal the bare queries' (so the comparison is of the same work)."""
    first = result["tables"][0]
    if first.get("grid"):
        return
    got = [row[1] for row in first["rows"]] if first["rows"] and len(first["rows"][0]) > 1 else []
    want = [row[1] for row in answers[0]]
    if rid in ("repair_daily",):
        got, want = first["rows"][0][:1], [answers[0][0][0]]
    if got != want:
        raise AssertionError(f"{rid}: the report says {got}, the bare query {want}")


if __name__ == "__main__":
    main()
