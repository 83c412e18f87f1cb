"""Engine benchmark: goldkey vs raw SQLite commits vs SpiffWorkflow, on one renovation process.

The process (apply -> engineering review -> approved? -> manager sign -> issue permits; instance i is
rejected at review when i % 5 == 0) is declared in YAML in bench/defs/ and, for SpiffWorkflow, in BPMN
in ../shared/peers/renovation.bpmn. One run measures, one after the other, on the same disk:

  goldkey  N instances driven in-process through engine.service.Engine: every start and every task
           completion is one SQLite transaction (BEGIN IMMEDIATE ... COMMIT, WAL, synchronous=FULL)
           with role checks, JSON Schema + rule validation and hash-chained audit events.
  raw      one-row INSERT + COMMIT per transaction on a separate file (WAL, synchronous=FULL): the
           ceiling for "one durable transaction per step" on this machine.
  spiff    ../shared/peers/bench_spiff.py sqlite N FULL: SpiffWorkflow 3.2.0 on the BPMN, the
           workflow JSON-serialized and written to SQLite after creation and after every task.

Transitions are counted like bench_spiff counts task completions: apply (goldkey's start), review,
sign, issue -- 4 per approved instance, 2 per rejected one.

A second, smaller comparison runs both without in-memory state, as a stateless web request would:
goldkey with its row cache off (every step reads the instance) against bench_spiff.py sqlite_reload
(every step loads and deserializes the workflow).

Usage: python bench/engine.py [--n 2000] [--raw-n 5000] [--spiff-n N] [--no-spiff] [--stateless-n 1000]
Peers folder: $GOLDKEY_PEERS, else <repo>/../shared/peers.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import platform
import resource
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEFS = ROOT / "bench" / "defs"
sys.path.insert(0, str(ROOT))  # before bench/ (the script's folder), whose engine.py would shadow the package

from engine.service import Engine  # noqa: E402

WORKFLOW = "bench_renovation"
SYNC = "FULL"
TARGET_VS_SPIFF = 3.0
TARGET_VS_RAW = 0.4
STARTER, REVIEWER, MANAGER, CLERK = "applicant1", "eng01", "mgr01", "asst01"


def peers_dir() -> Path:
    env = os.environ.get("GOLDKEY_PEERS")
    return Path(env).expanduser().resolve() if env else (ROOT.parent / "shared" / "peers").resolve()


def busy_cpus(seconds: float = 1.0) -> float | None:
    """How many CPUs other work kept busy just before the run (from /proc/stat; None where unavailable)."""
    def sample() -> tuple[int, int]:
        fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
        idle = fields[3] + (fields[4] if len(fields) > 4 else 0)
        return sum(fields[:8]), idle
    try:
        total0, idle0 = sample()
        time.sleep(seconds)
        total1, idle1 = sample()
    except (OSError, ValueError, IndexError):
        return None
    share = 1 - (idle1 - idle0) / max(total1 - total0, 1)
    return round(share * (os.cpu_count() or 1), 2)


def engine_revision() -> str | None:
    """The commit the engine was measured at, `+dirty` when engine/ has uncommitted edits."""
    try:
        head = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], capture_output=True,
                              text=True, timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(ROOT), "status", "--porcelain", "--", "engine"],
                               capture_output=True, text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return f"{head}{'+dirty' if dirty else ''}" if head else None


def db_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in (path, Path(f"{path}-wal")) if p.exists())


# --- goldkey ------------------------------------------------------------------------------------------
def application(i: int) -> dict:
    """The apply payload of bench_spiff.py's task_payload."""
    return {"applicant": f"住户{i}", "address": f"幸福小区 {i % 50} 栋 {i % 30} 室",
            "area_m2": 80 + i % 40, "scope": "kitchen+bath", "phone": "13800000000"}


def only_task(inst: dict, step: str) -> str:
    tasks = inst["tasks"]
    if len(tasks) != 1 or tasks[0]["step"] != step:
        raise AssertionError(f"instance {inst['id']}: expected one task {step}, got {tasks}")
    return tasks[0]["id"]


def run_goldkey(n: int, workdir: Path, cache_size: int = 4096) -> dict:
    db = workdir / f"goldkey-{cache_size}.db"
    eng = Engine(db, DEFS, synchronous=SYNC, cache_size=cache_size)
    try:
        for user, role in ((STARTER, "applicant"), (REVIEWER, "engineering"), (MANAGER, "manager"),
                           (CLERK, "assistant")):
            eng.add_user(user, [role])
        # one untimed warm-up instance so the first timed start does not pay for one-off work
        # (saving the workflow version, compiling validators); it is excluded from every figure
        warm = eng.start(WORKFLOW, STARTER, application(1))
        warm = eng.complete(only_task(warm, "engineering_review"), REVIEWER, "approve", {"review_notes": "ok"})
        warm = eng.complete(only_task(warm, "manager_sign"), MANAGER, "approve")
        eng.complete(only_task(warm, "issue_permits"), CLERK, data={"permit_no": "P-00000000"})
        first_id = warm["id"] + 1
        events_before = eng.store.conn.execute("SELECT count(*) FROM events").fetchone()[0]

        transitions = 0
        latencies: list[float] = []
        clock = time.perf_counter
        ru0 = resource.getrusage(resource.RUSAGE_SELF)
        t0 = clock()
        for i in range(n):
            t = clock()
            inst = eng.start(WORKFLOW, STARTER, application(i))
            latencies.append(clock() - t)
            review = only_task(inst, "engineering_review")
            t = clock()
            if i % 5 == 0:
                inst = eng.complete(review, REVIEWER, "reject", {"review_notes": "方案涉及承重牆，不予批准"},
                                    comment="涉及承重牆改動")
                latencies.append(clock() - t)
                transitions += 2
                if inst["status"] != "completed" or inst["outcome"] != "rejected":
                    raise AssertionError(f"instance {inst['id']} should be rejected: {inst['status']}")
                continue
            inst = eng.complete(review, REVIEWER, "approve", {"review_notes": "ok"}, comment="ok")
            latencies.append(clock() - t)
            t = clock()
            inst = eng.complete(only_task(inst, "manager_sign"), MANAGER, "approve")
            latencies.append(clock() - t)
            t = clock()
            inst = eng.complete(only_task(inst, "issue_permits"), CLERK, data={"permit_no": f"P-{i:08d}"})
            latencies.append(clock() - t)
            transitions += 4
            if inst["status"] != "completed" or inst["outcome"] != "completed":
                raise AssertionError(f"instance {inst['id']} should be completed: {inst['status']}")
        elapsed = clock() - t0
        ru1 = resource.getrusage(resource.RUSAGE_SELF)

        conn = eng.store.conn
        outcomes = dict(conn.execute("SELECT outcome, count(*) FROM instances WHERE id >= ? GROUP BY outcome",
                                     (first_id,)).fetchall())
        wrong = conn.execute("SELECT count(*) FROM instances WHERE id >= ? AND status = 'completed' AND "
                             "((id - ?) % 5 = 0) != (outcome = 'rejected')", (first_id, first_id)).fetchone()[0]
        events = conn.execute("SELECT count(*) FROM events").fetchone()[0] - events_before
        ok, checked, problem = eng.store.verify_chain()
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # size of the data, not of the WAL's high-water mark
        size = db_bytes(db)
    finally:
        eng.close()
    expect_rejected = len(range(0, n, 5))
    checks = {"completed": outcomes.get("completed", 0) == n - expect_rejected,
              "rejected": outcomes.get("rejected", 0) == expect_rejected,
              "i%5==0 rejected": wrong == 0, "chain": ok}
    if not all(checks.values()):
        raise AssertionError(f"goldkey verification failed: {checks} outcomes={outcomes} chain={problem}")
    latencies.sort()
    return {"N": n, "rejected": expect_rejected, "transitions": transitions, "elapsed_s": round(elapsed, 3),
            "transitions_per_s": round(transitions / elapsed, 1), "instances_per_s": round(n / elapsed, 1),
            "transactions": transitions, "audit_events": events,
            "user_cpu_us_per_transition": round((ru1.ru_utime - ru0.ru_utime) * 1e6 / transitions, 1),
            "sys_cpu_us_per_transition": round((ru1.ru_stime - ru0.ru_stime) * 1e6 / transitions, 1),
            "latency_ms_p50": round(statistics.median(latencies) * 1000, 3),
            "latency_ms_p99": round(latencies[int(len(latencies) * 0.99)] * 1000, 3),
            "db_bytes": size, "chain_events_checked": checked, "verified": True}


# --- raw sqlite3 --------------------------------------------------------------------------------------
class RawCommits:
    """One-row INSERT + COMMIT per transaction on its own file, same pragmas as the store. It runs in two
    slices, before goldkey and after SpiffWorkflow, so that a disk that drifts during the run (other
    jobs, write-back bursts) shows up as a spread instead of skewing the ratio one way."""

    def __init__(self, workdir: Path) -> None:
        self.path = workdir / "raw.db"
        self.conn = sqlite3.connect(self.path, isolation_level=None)
        if self.conn.execute("PRAGMA journal_mode=WAL").fetchone()[0] != "wal":
            raise RuntimeError("raw: WAL not available")
        self.conn.execute(f"PRAGMA synchronous={SYNC}")
        self.conn.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, at TEXT, payload TEXT)")
        self.row = json.dumps(application(7), ensure_ascii=False)
        self.done = 0
        self.slices: list[tuple[int, float]] = []
        self.run(1200)  # untimed warm-up: the WAL grows to its steady size (autocheckpoint at 1000 pages)
        self.slices.clear()

    def run(self, n: int) -> None:
        conn, row, first = self.conn, self.row, self.done
        clock = time.perf_counter
        t0 = clock()
        for i in range(first, first + n):
            conn.execute("BEGIN")
            conn.execute("INSERT INTO t (id, at, payload) VALUES (?,?,?)", (i, "2026-01-01T00:00:00+00:00", row))
            conn.execute("COMMIT")
        self.slices.append((n, clock() - t0))
        self.done += n

    def result(self) -> dict:
        count = self.conn.execute("SELECT count(*) FROM t").fetchone()[0]
        self.conn.close()
        if count != self.done:
            raise AssertionError(f"raw: {count} rows, expected {self.done}")
        timed = sum(n for n, _ in self.slices)
        elapsed = sum(e for _, e in self.slices)
        return {"N": timed, "elapsed_s": round(elapsed, 3), "commits_per_s": round(timed / elapsed, 1),
                "slices_commits_per_s": [round(n / e, 1) for n, e in self.slices], "db_bytes": db_bytes(self.path)}


# --- SpiffWorkflow ------------------------------------------------------------------------------------
def run_spiff(n: int, workdir: Path, mode: str = "sqlite") -> tuple[dict | None, str | None]:
    """(result, None) or (None, why it was skipped)."""
    if importlib.util.find_spec("SpiffWorkflow") is None:
        return None, (f"SpiffWorkflow is not importable by {sys.executable}; "
                      "install the bench extra: .venv/bin/pip install -e '.[bench]'")
    src = peers_dir()
    if not (src / "bench_spiff.py").is_file() or not (src / "renovation.bpmn").is_file():
        return None, f"peer benchmark not found in {src} (set GOLDKEY_PEERS to the peers folder)"
    peers = workdir / f"peers-{mode}"  # bench_spiff.py writes its database next to itself
    shutil.copytree(src, peers, ignore=shutil.ignore_patterns("*.db", "*.db-wal", "*.db-shm", "__pycache__"))
    proc = subprocess.run([sys.executable, str(peers / "bench_spiff.py"), mode, str(n), SYNC],
                          cwd=peers, capture_output=True, text=True, timeout=600)
    if proc.returncode != 0:
        return None, f"bench_spiff.py failed (exit {proc.returncode}): {proc.stderr.strip()[-800:]}"
    lines = [ln for ln in proc.stdout.splitlines() if ln.strip().startswith("{")]
    if not lines:
        return None, f"bench_spiff.py printed no JSON: {proc.stdout[-400:]}"
    result = json.loads(lines[-1])
    result["db_bytes"] = db_bytes(peers / f"spiff_{mode}_{SYNC}.db")
    expect = len(range(0, n, 5))
    if result.get("rejected") != expect or result.get("task_completions") != 4 * n - 2 * expect:
        return None, f"bench_spiff.py result does not match the process: {result}"
    return result, None


# --- report -------------------------------------------------------------------------------------------
def ratio(a: float | None, b: float | None) -> float | None:
    return round(a / b, 2) if a and b else None


def mib(size: int) -> str:
    return f"{size / 1048576:.1f} MiB"


def print_stateless(stateless: dict) -> None:
    """The same comparison without in-memory state: every step reads the instance from SQLite first."""
    gk, spiff = stateless["goldkey"], stateless["spiff"]
    print("\nstateless, as a web request would work: every step reads the instance from SQLite first")
    print(f"goldkey  transitions/s  {gk['transitions_per_s']:>10,.1f}   (no row cache; N={gk['N']})")
    if spiff:
        print(f"spiff    completions/s  {spiff['completions_per_s']:>10,.1f}   (bench_spiff.py sqlite_reload; "
              f"N={spiff['N']}: load, deserialize, complete, serialize, save)")
        print(f"goldkey / spiff  {stateless['goldkey_vs_spiff']}x")
    else:
        print(f"spiff    skipped: {stateless['spiff_skipped']}")


def report(gk: dict, raw: dict, spiff: dict | None, spiff_note: str | None, busy: float | None,
           stateless: dict | None = None) -> dict:
    vs_spiff = ratio(gk["transitions_per_s"], spiff["completions_per_s"]) if spiff else None
    vs_raw = ratio(gk["transitions_per_s"], raw["commits_per_s"])
    rows = [("goldkey  transitions/s", gk["transitions_per_s"], gk["N"], gk["transitions"], gk["elapsed_s"],
             gk["db_bytes"]),
            ("raw      commits/s", raw["commits_per_s"], raw["N"], raw["N"], raw["elapsed_s"], raw["db_bytes"])]
    if spiff:
        rows.append(("spiff    completions/s", spiff["completions_per_s"], spiff["N"], spiff["task_completions"],
                     spiff["elapsed_s"], spiff["db_bytes"]))
    rev = engine_revision()
    print(f"\nrenovation process, SQLite WAL synchronous={SYNC}, Python {platform.python_version()}, "
          f"SQLite {sqlite3.sqlite_version}, {os.cpu_count()} CPUs, engine at {rev or 'unknown revision'}")
    print(f"{'':24} {'rate':>10} {'N':>7} {'counted':>8} {'elapsed':>9} {'db size':>10}")
    for name, rate, n, counted, elapsed, size in rows:
        print(f"{name:24} {rate:>10,.1f} {n:>7} {counted:>8} {elapsed:>8.2f}s {mib(size):>10}")
    if spiff is None:
        print(f"spiff    skipped: {spiff_note}")
    low, high = min(raw["slices_commits_per_s"]), max(raw["slices_commits_per_s"])
    noisy = high > 1.25 * low or (busy or 0) > 0.5
    if noisy:
        print(f"note: the machine looks busy ({busy} CPUs busy before the run; raw commits/s before goldkey and "
              f"after spiff: {' and '.join(f'{x:,.0f}' for x in raw['slices_commits_per_s'])}); figures are noisy")
    print()
    marks = {True: "ok", False: "MISSED", None: "n/a"} if not noisy else \
        {True: "ok?  (noisy run, repeat)", False: "MISSED?  (noisy run, repeat)", None: "n/a"}
    print(f"goldkey / spiff  {f'{vs_spiff}x' if vs_spiff is not None else 'n/a':>7}   target >= {TARGET_VS_SPIFF}x   "
          f"{marks[vs_spiff >= TARGET_VS_SPIFF if vs_spiff is not None else None]}")
    print(f"goldkey / raw    {f'{vs_raw}x':>7}   target >= {TARGET_VS_RAW}x   {marks[vs_raw >= TARGET_VS_RAW]}")
    per = gk["audit_events"] / gk["transitions"]
    print(f"\ngoldkey  {gk['transactions']} transactions, one per transition (start = apply, then each task), "
          f"each with role checks, JSON Schema\n"
          f"         + rule validation and {per:.1f} hash-chained audit events; latency p50 "
          f"{gk['latency_ms_p50']} ms, p99 {gk['latency_ms_p99']} ms;\n"
          f"         CPU {gk['user_cpu_us_per_transition']} us user + {gk['sys_cpu_us_per_transition']} us sys "
          f"per transition; verified: {gk['N'] - gk['rejected']} completed, {gk['rejected']} rejected "
          f"(i % 5 == 0), hash chain ok over {gk['chain_events_checked']} events.")
    if spiff:
        writes = round(spiff["db_writes_per_s"] * spiff["elapsed_s"])
        print(f"spiff    completions counted the same way (apply, review, sign, issue = 4; 2 when rejected); it "
              f"commits once more per\n"
              f"         instance, at creation ({writes} commits for {spiff['task_completions']} completions, "
              f"{spiff['db_writes_per_s']:,.1f} commits/s), ~{spiff['avg_json_bytes']:,} bytes of workflow JSON "
              f"per write;\n"
              f"         no validation, role checks or audit trail.")
    print("raw      the durability ceiling: one INSERT of one small row per COMMIT, nothing else.")
    if stateless:
        print_stateless(stateless)
    summary = {"goldkey": gk, "raw": raw, "spiff": spiff, "spiff_skipped": spiff_note,
               "goldkey_vs_spiff": vs_spiff, "goldkey_vs_raw": vs_raw,
               "targets": {"vs_spiff": TARGET_VS_SPIFF, "vs_raw": TARGET_VS_RAW},
               "targets_met": {"vs_spiff": vs_spiff >= TARGET_VS_SPIFF if vs_spiff is not None else None,
                               "vs_raw": vs_raw >= TARGET_VS_RAW},
               "sync": SYNC, "python": platform.python_version(), "cpus": os.cpu_count(),
               "sqlite": sqlite3.sqlite_version,
               "engine_revision": rev, "busy_cpus_at_start": busy, "noisy": noisy, "stateless": stateless}
    print(json.dumps(summary, ensure_ascii=False))
    return summary


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=2000, help="instances for goldkey (and Spiff unless --spiff-n)")
    ap.add_argument("--raw-n", type=int, default=5000, help="raw one-row commits")
    ap.add_argument("--spiff-n", type=int, default=None, help="instances for SpiffWorkflow (default: --n)")
    ap.add_argument("--no-spiff", action="store_true", help="skip the SpiffWorkflow run")
    ap.add_argument("--stateless-n", type=int, default=1000,
                    help="instances for the stateless comparison (goldkey without its row cache vs Spiff "
                         "sqlite_reload); 0 skips it")
    args = ap.parse_args(argv)
    if args.n < 1 or args.raw_n < 2:
        ap.error("--n must be positive and --raw-n at least 2")
    busy = busy_cpus()
    with tempfile.TemporaryDirectory(prefix="goldkey-bench-") as tmp:
        work = Path(tmp)
        raw_bench = RawCommits(work)
        print(f"raw sqlite3: {args.raw_n // 2} commits ...", flush=True)
        raw_bench.run(args.raw_n // 2)
        print(f"goldkey: {args.n} instances ...", flush=True)
        gk = run_goldkey(args.n, work)
        if args.no_spiff:
            spiff, note = None, "--no-spiff"
        else:
            print(f"SpiffWorkflow: {args.spiff_n or args.n} instances ...", flush=True)
            spiff, note = run_spiff(args.spiff_n or args.n, work)
        print(f"raw sqlite3: {args.raw_n - args.raw_n // 2} commits ...", flush=True)
        raw_bench.run(args.raw_n - args.raw_n // 2)
        stateless = None
        if args.stateless_n:
            print(f"stateless: goldkey without row cache and SpiffWorkflow sqlite_reload, {args.stateless_n} "
                  "instances each ...", flush=True)
            gk_cold = run_goldkey(args.stateless_n, work, cache_size=0)
            spiff_reload, reload_note = (None, "--no-spiff") if args.no_spiff else \
                run_spiff(args.stateless_n, work, "sqlite_reload")
            stateless = {"goldkey": gk_cold, "spiff": spiff_reload, "spiff_skipped": reload_note,
                         "goldkey_vs_spiff": ratio(gk_cold["transitions_per_s"],
                                                   spiff_reload["completions_per_s"]) if spiff_reload else None}
        report(gk, raw_bench.result(), spiff, note, busy, stateless)
    return 0


if __name__ == "__main__":
    sys.exit(main())
