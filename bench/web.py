"""Web benchmark: the goldkey server under a bounded load, beside a static page and a plain Jinja2 page.

One run, on 127.0.0.1:

  servers  the real server, `python -m engine.cli --db TMP serve --tick 0 --demo` (uvicorn with httptools and
           uvloop, access log on, as `goldkey serve` runs it), on a database prepared beforehand through the
           Engine; and, for the baseline, a bare Starlette app with one Jinja2-rendered page (the inbox's tasks
           as an HTML table, of similar size to the inbox JSON), run by uvicorn.run with the same arguments in
           another process.
  load     a second process (this file with --client): CLIENTS concurrent HTTP/1.1 keep-alive connections, each
           a loop of request -> read the whole response -> next request, written on asyncio streams (uvloop).
           Each scenario runs --warmup seconds unrecorded, then --seconds recorded; every request's latency is
           timed in the client.
  scenarios
           healthz     GET /healthz on the goldkey server (a static "ok": the cost of uvicorn + Starlette + the
                       app's middleware)
           small page  GET /small on the baseline server: the same template with 5 rows (~3 KB), the kind of page
                       the issue's "bare Starlette+Jinja2 page, ~3,200 req/s" reference suggests
           plain page  GET /page on the baseline server (the baseline of the inbox)
           inbox       GET /api/tasks with a bearer token: a concierge's open tasks (--inbox of them, plus those of
                       the demo instances), with the database also holding --history completed service requests
                       and --background open renovation applications (another role's tasks)
           complete    POST /api/tasks/{id}/complete with {} and a bearer token: each request takes a fresh open
                       `issue_slip` task of a golden_key_service instance from a pool made beforehand

The completion pool is made after the inbox scenario (its tasks are concierge tasks too, and would otherwise be
in the inbox), by this process through the Engine while the server runs. Its size is measured, not guessed: a
calibration run (2 s, on CLIENTS x 150 tasks) gives the rate, and the pool then holds 2x what that rate (at least
1,000/s) needs for warm-up + recorded seconds; a run that empties it says so. Afterwards the run checks in the
database that exactly the tasks that answered 2xx were completed, each once, and verifies the audit hash chain.

The run also reads, from /proc, the server's RSS (after start with --demo seeding, and after the load) and how
many CPUs the server, the load generator and everything else kept busy in each recorded window: a target met or
missed while other work took more than 0.3 CPU is marked with `?`.

If `wrk` is on PATH, the GET scenarios are also run with `wrk -t1 -c CLIENTS --latency` as a cross-check
(a C client costs the shared CPUs less).

Usage: python bench/web.py [--seconds 20] [--warmup 2] [--clients 20] [--inbox 100] [--history 1000]
                           [--background 1000] [--no-wrk] [--profile] [--keep]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import platform
import re
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # before bench/ (the script's folder), whose engine.py would shadow the package

HOST = "127.0.0.1"
CLIENTS = 20
TARGET_INBOX_VS_PLAIN = 3.0  # inbox p99 within 3x the plain page's p99
TARGET_COMPLETE_P99_MS = 50.0
TARGET_RSS_MB = 120.0  # MB = 10^6 bytes
CALIBRATION_S = 2.0
POOL_FLOOR_PER_S = 1000.0  # the pool is sized for at least this rate (2x the calibrated rate)
SMALL_ROWS = 5  # the small page: the same template with the first 5 tasks (~3 KB)

PAID = {"owner": "李先生", "unit": "3-1201", "phone": "13800000000", "category": "訂票",
        "request": "訂兩張火車票", "nature": "有償", "prepaid": "500"}
# the whole path of a paid request done by the concierge alone, with a surplus refunded (tests/test_golden_key.py)
PAID_PATH = [("issue_slip", {}), ("plan", {"route": "樓宇管家獨立完成", "estimate": "300"}),
             ("do_self", {"result": "已訂票", "cost": "320.50"}), ("record_expense", {"expense_note": "車票及代辦費"}),
             ("refund_surplus", {}), ("redeem", {"checked": ["verify_holder", "hand_over", "register"]})]
RENOVATION = {"applicant_type": "業主", "applicant": "黃先生", "unit": "9-1101", "phone": "13622223333",
              "contractor": "安居裝飾工程有限公司", "contractor_licence": "91440300MA5F", "contractor_contact": "劉工",
              "contractor_phone": "13033334444", "scope": "客廳及兩間臥室鋪木地板，廚房更換櫥櫃，衛生間翻新防水",
              "design": "平面設計圖一張，水電佈置圖一張", "plan": "先做水電改造及防水，閉水試驗48小時後鋪貼",
              "structural_change": False, "hot_work": True, "workers": 6, "start_date": "2026-11-10",
              "end_date": "2027-01-20", "deposit": "3000"}

# the baseline page: an inbox as an HTML table, rendered by Jinja2 on every request (autoescape on)
PAGE = """<!doctype html>
<html lang="zh-Hant"><head><meta charset="utf-8"><title>待辦事項</title>
<link rel="stylesheet" href="/static/site.css"></head>
<body><header><h1>待辦事項</h1><p>{{ tasks|length }} 項任務</p></header>
<table class="inbox"><thead><tr><th>編號</th><th>流程</th><th>步驟</th><th>角色</th><th>欄位</th>
<th>期限</th><th>開始</th><th></th></tr></thead><tbody>
{% for t in tasks %}<tr class="{{ 'overdue' if t.overdue else 'open' }}" data-task="{{ t.id }}">
<td><a href="/instances/{{ t.instance }}">{{ t.number }}</a></td><td>{{ t.workflow_title }}</td>
<td>{{ t.title }}<br><small>{{ t.step }}{% if t.printout %} · {{ t.printout }} ×{{ t.copies }}{% endif %}</small></td>
<td>{{ t.roles|join('、') }}</td><td>{% for f in t.fields %}<span class="field{{ ' req' if f in t.required }}">\
{{ f }}</span> {% endfor %}</td>
<td>{{ t.due_at or '—' }}{% if t.hard_at %}<br>{{ t.hard_at }}{% endif %}</td><td>{{ t.opened_at }}</td>
<td><form method="post" action="/tasks/{{ t.id }}"><input type="hidden" name="csrf" value="{{ csrf }}">
<button>辦理</button></form></td></tr>
{% endfor %}</tbody></table></body></html>
"""


# --- small helpers --------------------------------------------------------------------------------------------
def cpu_sample() -> tuple[int, int] | None:
    """(all, idle) CPU ticks of the machine so far, from /proc/stat."""
    try:
        fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
        return sum(fields[:8]), fields[3] + (fields[4] if len(fields) > 4 else 0)
    except (OSError, ValueError, IndexError):
        return None


def cpus_busy(first: tuple[int, int] | None, last: tuple[int, int] | None) -> float | None:
    """How many CPUs were busy between two samples."""
    if not first or not last:
        return None
    share = 1 - (last[1] - first[1]) / max(last[0] - first[0], 1)
    return round(share * (os.cpu_count() or 1), 2)


def busy_cpus(seconds: float = 1.0) -> float | None:
    """How many CPUs other work kept busy just before the run."""
    first = cpu_sample()
    time.sleep(seconds)
    return cpus_busy(first, cpu_sample())


def revision() -> str | None:
    """The commit measured, `+dirty` when engine/ or server/ have uncommitted edits."""
    try:
        head = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], capture_output=True,
                              text=True, timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(ROOT), "status", "--porcelain", "--", "engine", "server"],
                               capture_output=True, text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return f"{head}{'+dirty' if dirty else ''}" if head else None


def proc_status(pid: int) -> dict[str, int]:
    """VmRSS and VmHWM (peak RSS) of a process, in bytes."""
    out = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            out[key] = int(value.split()[0]) * 1024
    return out


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def fetch(port: int, path: str, token: str | None = None, timeout: float = 10) -> tuple[int, bytes]:
    req = urllib.request.Request(f"http://{HOST}:{port}{path}",
                                 headers={"Authorization": f"Bearer {token}"} if token else {})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def percentile(ordered: list[float], p: float) -> float:
    """Nearest rank."""
    return ordered[max(0, math.ceil(p * len(ordered)) - 1)] if ordered else float("nan")


def mib(size: int) -> str:
    return f"{size / 1048576:.1f} MiB"


# --- the database ---------------------------------------------------------------------------------------------
def prepare(db: Path, registry, inbox: int, history: int, background: int, clients: int) -> dict:
    """Users and tokens; `history` completed paid requests; `inbox` open concierge tasks (half issue_slip, half
    plan); `background` renovation applications waiting for the assistant (not in a concierge's inbox)."""
    from engine.service import Engine

    eng = Engine(db, registry, synchronous="OFF")  # building only; the server opens it with FULL
    try:
        readers = [f"inbox{i:02d}" for i in range(1, clients + 1)]
        desks = [f"desk{i:02d}" for i in range(1, clients + 1)]
        for name in readers + desks:
            eng.add_user(name, ["concierge"])
        eng.add_user("asst01", ["assistant"])
        tokens = {"inbox": [eng.new_token(n) for n in readers], "complete": [eng.new_token(n) for n in desks]}
        for i in range(history):
            user = desks[i % len(desks)]
            inst = eng.start("golden_key_service", user, dict(PAID, owner=f"業主{i}"))
            for step, data in PAID_PATH:
                (task,) = inst["tasks"]
                if task["step"] != step:
                    raise AssertionError(f"history {inst['id']}: expected {step}, got {task['step']}")
                inst = eng.complete(task["id"], user, data=data)
            if inst["status"] != "completed":
                raise AssertionError(f"history {inst['id']} did not complete: {inst['status']}")
        for i in range(inbox):
            inst = eng.start("golden_key_service", desks[i % len(desks)], dict(PAID, owner=f"客戶{i}"))
            if i % 2:
                eng.complete(inst["tasks"][0]["id"], desks[i % len(desks)], data={})
        for i in range(background):
            eng.start("renovation", "asst01", dict(RENOVATION, unit=f"{i % 30 + 1}-{i % 20 + 1:02d}01"))
    finally:
        eng.close()
    return {"tokens": tokens, "desks": desks}


def make_pool(eng, n: int, desks: list[str]) -> list[str]:
    """`n` fresh golden_key_service instances; their open `issue_slip` task ids."""
    ids = []
    for i in range(n):
        inst = eng.start("golden_key_service", desks[i % len(desks)], dict(PAID, owner=f"住戶{i}"))
        (task,) = inst["tasks"]
        ids.append(task["id"])
    return ids


def verify_completions(db: Path, first_pool_id: int, done: list[list]) -> dict:
    """The pool's issue_slip tasks completed in the database are exactly those that answered 2xx, each once."""
    ok = {tid for tid, status in done if 200 <= status < 300}
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        completed = {r[0] for r in conn.execute("SELECT id FROM tasks WHERE instance_id >= ? AND step = 'issue_slip' "
                                                "AND status = 'done'", (first_pool_id,))}
        events = conn.execute("SELECT count(*), count(DISTINCT task) FROM events WHERE id >= ? AND "
                              "type = 'task_completed' AND step = 'issue_slip'", (first_pool_id << 24,)).fetchone()
        plans = conn.execute("SELECT count(*) FROM tasks WHERE instance_id >= ? AND step = 'plan'",
                             (first_pool_id,)).fetchone()[0]
    finally:
        conn.close()
    return {"answered_2xx": len(ok), "answered_other": len(done) - len(ok), "completed_in_db": len(completed),
            "task_completed_events": events[0], "distinct_tasks_in_events": events[1], "plan_tasks_opened": plans,
            "same_tasks": ok == completed,
            "verified": ok == completed and events[0] == events[1] == len(ok) and plans == len(ok)}


# --- the servers ----------------------------------------------------------------------------------------------
def plain_app(data_path: str):
    """The baseline: a bare Starlette app, one route, the page rendered by Jinja2 on every request."""
    from jinja2 import DictLoader, Environment
    from starlette.applications import Starlette
    from starlette.routing import Route
    from starlette.templating import Jinja2Templates

    tasks = json.loads(Path(data_path).read_text(encoding="utf-8"))
    templates = Jinja2Templates(env=Environment(loader=DictLoader({"inbox.html": PAGE}), autoescape=True))

    async def page(request):
        return templates.TemplateResponse(request, "inbox.html", {"tasks": tasks, "csrf": "x" * 32})

    async def small(request):
        return templates.TemplateResponse(request, "inbox.html", {"tasks": tasks[:SMALL_ROWS], "csrf": "x" * 32})

    return Starlette(routes=[Route("/page", page), Route("/small", small)])


def serve_plain(data_path: str, port: int) -> None:
    import uvicorn

    # the arguments of `goldkey serve` (engine/cli.py)
    uvicorn.run(plain_app(data_path), host=HOST, port=port, log_level="info", proxy_headers=False)


class Server:
    def __init__(self, name: str, cmd: list[str], port: int, log: Path) -> None:
        self.name, self.port, self.log = name, port, log
        with open(log, "wb") as out:
            self.proc = subprocess.Popen(cmd, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT)
        self.pid = self.proc.pid

    def wait_ready(self, path: str, timeout: float = 60) -> float:
        t0 = time.perf_counter()
        while time.perf_counter() - t0 < timeout:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited ({self.proc.returncode}):\n{self.tail()}")
            try:
                if fetch(self.port, path, timeout=2)[0] == 200:
                    return time.perf_counter() - t0
            except OSError:
                time.sleep(0.1)
        raise RuntimeError(f"{self.name} not ready after {timeout} s:\n{self.tail()}")

    def tail(self) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-20:])

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)  # uvicorn shuts down gracefully (cProfile then writes its file)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


# --- the load generator (a second process) --------------------------------------------------------------------
class Conn:
    """One HTTP/1.1 keep-alive connection: send a request, read the whole response."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def open(self) -> None:
        self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        self.writer.transport.get_extra_info("socket").setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            self.reader = self.writer = None

    async def request(self, data: bytes) -> tuple[int, int]:
        """(status, body bytes)."""
        if self.writer is None:
            await self.open()
        self.writer.write(data)
        head = await self.reader.readuntil(b"\r\n\r\n")
        status = int(head[9:12])
        length, chunked, close = 0, False, False
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            name = name.strip().lower()
            if name == b"content-length":
                length = int(value)
            elif name == b"transfer-encoding":
                chunked = b"chunked" in value.lower()
            elif name == b"connection":
                close = value.strip().lower() == b"close"
        if chunked:
            length = 0
            while size := int((await self.reader.readuntil(b"\r\n")).split(b";")[0], 16):
                length += len(await self.reader.readexactly(size + 2)) - 2
            await self.reader.readuntil(b"\r\n")
        else:
            await self.reader.readexactly(length)
        if close:
            self.close()
        return status, length


async def load(spec: dict) -> dict:
    clock = time.perf_counter
    host, port, kind = spec["host"], spec["port"], spec["kind"]
    pool = list(reversed(spec.get("tasks", [])))
    conns = [Conn(host, port) for _ in range(spec["clients"])]
    await asyncio.gather(*(c.open() for c in conns))
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    done: list[list] = []  # completions: [task id, status]
    state = {"errors": 0, "bytes": 0, "exhausted": None, "last": 0.0, "warm": 0}
    t_start = clock()
    t_measure = t_start + spec["warmup"]
    t_end = t_measure + spec["seconds"]

    async def worker(i: int) -> None:
        conn, token = conns[i], spec["tokens"][i % len(spec["tokens"])] if spec.get("tokens") else None
        auth = f"Authorization: Bearer {token}\r\n" if token else ""
        get = f"GET {spec.get('path')} HTTP/1.1\r\nHost: {host}:{port}\r\n{auth}\r\n".encode()
        while (t0 := clock()) < t_end:
            if kind == "complete":
                if not pool:
                    state["exhausted"] = state["exhausted"] or t0 - t_measure
                    return
                tid = pool.pop()
                data = (f"POST /api/tasks/{tid}/complete HTTP/1.1\r\nHost: {host}:{port}\r\n{auth}"
                        "Content-Type: application/json\r\nContent-Length: 2\r\n\r\n{}").encode()
            else:
                data = get
            try:
                status, size = await conn.request(data)
            except (OSError, EOFError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError):
                status, size = 0, 0
                state["errors"] += 1
                conn.close()
            t1 = clock()
            if kind == "complete":
                done.append([tid, status])
            if t0 >= t_measure:
                latencies.append(t1 - t0)
                statuses[status] = statuses.get(status, 0) + 1
                state["bytes"] = state["bytes"] or size
                state["last"] = max(state["last"], t1)
            else:
                state["warm"] += 1

    server_pid = spec.get("server_pid")
    marks: dict[str, tuple] = {}

    def mark() -> tuple:
        return time.process_time(), cpu_seconds(server_pid) if server_pid else None, cpu_sample()

    async def mark_at_measure() -> None:
        await asyncio.sleep(max(0.0, t_measure - clock()))
        marks["start"] = mark()

    await asyncio.gather(mark_at_measure(), *(worker(i) for i in range(len(conns))))
    marks["end"] = mark()
    for c in conns:
        c.close()
    window = (state["last"] or clock()) - t_measure
    return {"latencies": latencies, "statuses": {str(k): v for k, v in sorted(statuses.items())},
            "connection_errors": state["errors"], "window_s": window, "bytes": state["bytes"],
            "warmup_requests": state["warm"], "exhausted_after_s": state["exhausted"], "completions": done,
            "pool_left": len(pool), "client_cpu_s": marks["end"][0] - marks["start"][0],
            "server_cpu_s": (marks["end"][1] - marks["start"][1]) if server_pid else None,
            "machine_busy_cpus": cpus_busy(marks["start"][2], marks["end"][2])}


def client_main(spec_path: str, out_path: str) -> None:
    spec = json.loads(Path(spec_path).read_text())
    try:
        import uvloop

        factory = uvloop.new_event_loop
    except ImportError:
        factory = None
    with asyncio.Runner(loop_factory=factory) as runner:
        result = runner.run(load(spec))
    Path(out_path).write_text(json.dumps(result))


def run_client(workdir: Path, name: str, spec: dict) -> dict:
    """Run one scenario in a second process; its figures."""
    spec = dict(spec, host=HOST)
    spec_path, out_path = workdir / f"{name}.spec.json", workdir / f"{name}.out.json"
    spec_path.write_text(json.dumps(spec))
    proc = subprocess.run([sys.executable, str(Path(__file__).resolve()), "--client", str(spec_path), str(out_path)],
                          capture_output=True, text=True, timeout=spec["warmup"] + spec["seconds"] + 300)
    if proc.returncode != 0:
        raise RuntimeError(f"load generator failed on {name} (exit {proc.returncode}): {proc.stderr[-2000:]}")
    raw = json.loads(out_path.read_text())
    lat = sorted(raw.pop("latencies"))
    n = len(lat)
    ok = sum(v for k, v in raw["statuses"].items() if k.startswith("2"))
    window = raw["window_s"]
    figures = {"requests": n, "req_per_s": round(n / window, 1) if window > 0 else None,
               "p50_ms": round(percentile(lat, 0.50) * 1000, 2), "p99_ms": round(percentile(lat, 0.99) * 1000, 2),
               "max_ms": round(lat[-1] * 1000, 2) if lat else None, "errors": n - ok + raw["connection_errors"],
               "statuses": raw["statuses"], "bytes": raw["bytes"], "window_s": round(window, 2),
               "warmup_requests": raw["warmup_requests"],
               "server_cpu_ms_per_req": round(raw["server_cpu_s"] * 1000 / n, 3) if n and raw["server_cpu_s"] else None,
               "server_cpu_share": round(raw["server_cpu_s"] / window, 2) if raw["server_cpu_s"] and window else None,
               "client_cpu_share": round(raw["client_cpu_s"] / window, 2) if window else None,
               "machine_busy_cpus": raw["machine_busy_cpus"]}
    if figures["machine_busy_cpus"] is not None and figures["server_cpu_share"] is not None:
        figures["other_cpus"] = round(max(0.0, figures["machine_busy_cpus"] - figures["server_cpu_share"]
                                          - (figures["client_cpu_share"] or 0)), 2)
    if spec["kind"] == "complete":
        figures.update(exhausted_after_s=raw["exhausted_after_s"], pool_left=raw["pool_left"])
        figures["_completions"] = raw["completions"]
    return figures


# --- wrk (optional cross-check) -------------------------------------------------------------------------------
def run_wrk(port: int, path: str, seconds: float, clients: int, token: str | None) -> dict | None:
    cmd = ["wrk", "-t1", f"-c{clients}", f"-d{max(1, round(seconds))}s", "--latency"]
    if token:
        cmd += ["-H", f"Authorization: Bearer {token}"]
    proc = subprocess.run([*cmd, f"http://{HOST}:{port}{path}"], capture_output=True, text=True,
                          timeout=seconds + 60)
    text = proc.stdout

    def ms(label: str) -> float | None:
        m = re.search(rf"^\s+{label}\s+([\d.]+)(us|ms|s)\s*$", text, re.M)
        return round(float(m[1]) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[m[2]], 2) if m else None

    rate = re.search(r"Requests/sec:\s+([\d.]+)", text)
    if proc.returncode != 0 or not rate:
        return {"failed": (proc.stderr or text)[-400:]}
    non2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", text)
    sock = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text)
    return {"req_per_s": float(rate[1]), "p50_ms": ms("50%"), "p99_ms": ms("99%"),
            "errors": (int(non2xx[1]) if non2xx else 0) + (sum(int(x) for x in sock.groups()) if sock else 0)}


# --- the run --------------------------------------------------------------------------------------------------
def ratio(a: float | None, b: float | None) -> float | None:
    return round(a / b, 2) if a and b else None


def num(value, spec: str) -> str:
    return "-" if value is None else format(value, spec)


def verdict(ok: bool | None) -> str:
    return "n/a" if ok is None else ("ok" if ok else "MISSED")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seconds", type=float, default=20.0, help="recorded seconds per scenario (default 20)")
    ap.add_argument("--warmup", type=float, default=2.0, help="unrecorded seconds before each (default 2)")
    ap.add_argument("--clients", type=int, default=CLIENTS, help=f"concurrent connections (default {CLIENTS})")
    ap.add_argument("--inbox", type=int, default=100, help="open tasks in the concierge's inbox (default 100)")
    ap.add_argument("--history", type=int, default=1000, help="completed service requests (default 1000)")
    ap.add_argument("--background", type=int, default=1000,
                    help="open renovation applications, another role's tasks (default 1000)")
    ap.add_argument("--no-wrk", action="store_true", help="skip the wrk cross-check")
    ap.add_argument("--profile", action="store_true", help="run the goldkey server under cProfile (slower figures)")
    ap.add_argument("--keep", action="store_true", help="keep the temporary folder")
    ap.add_argument("--client", nargs=2, metavar=("SPEC", "OUT"), help=argparse.SUPPRESS)
    ap.add_argument("--plain-server", nargs=2, metavar=("DATA", "PORT"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.client:
        return client_main(*args.client)
    if args.plain_server:
        return serve_plain(args.plain_server[0], int(args.plain_server[1]))

    from engine import definitions
    from engine.service import Engine

    workdir = Path(tempfile.mkdtemp(prefix="goldkey-bench-web-"))
    db = workdir / "goldkey.db"
    servers: list[Server] = []
    wrk = shutil.which("wrk") if not args.no_wrk else None
    common = {"clients": args.clients, "warmup": args.warmup, "seconds": args.seconds}
    try:
        busy = busy_cpus()
        registry = definitions.load_strict(ROOT)
        t0 = time.perf_counter()
        prep = prepare(db, registry, args.inbox, args.history, args.background, args.clients)
        prep_s = time.perf_counter() - t0

        gk_port = free_port()
        cmd = [sys.executable, "-m", "engine.cli", "--db", str(db), "--defs", str(ROOT), "serve", "--host", HOST,
               "--port", str(gk_port), "--tick", "0", "--demo"]
        if args.profile:
            cmd[1:3] = ["-m", "cProfile", "-o", str(workdir / "server.prof"), "-m", "engine.cli"]
        gk = Server("goldkey server", cmd, gk_port, workdir / "goldkey.log")
        servers.append(gk)
        gk_ready = gk.wait_ready("/healthz")
        time.sleep(0.5)
        rss_start = proc_status(gk.pid)

        status, body = fetch(gk_port, "/api/tasks", prep["tokens"]["inbox"][0])
        if status != 200:
            raise RuntimeError(f"GET /api/tasks answered {status}: {body[:300]!r}")
        inbox = json.loads(body)
        data_path = workdir / "inbox.json"
        data_path.write_text(json.dumps(inbox, ensure_ascii=False), encoding="utf-8")
        pl_port = free_port()
        plain = Server("plain server", [sys.executable, str(Path(__file__).resolve()), "--plain-server",
                                        str(data_path), str(pl_port)], pl_port, workdir / "plain.log")
        servers.append(plain)
        plain.wait_ready("/page")
        status, page = fetch(pl_port, "/page")
        if status != 200 or page.count(b"<tr class=") != len(inbox):
            raise RuntimeError(f"the plain page is not the inbox: {status}, {page[:300]!r}")

        results: dict[str, dict] = {}
        wrk_results: dict[str, dict | None] = {}
        gets = [("healthz", gk_port, "/healthz", None, gk.pid),
                ("small page", pl_port, "/small", None, plain.pid),
                ("plain page", pl_port, "/page", None, plain.pid),
                ("inbox", gk_port, "/api/tasks", prep["tokens"]["inbox"], gk.pid)]
        for name, port, path, tokens, pid in gets:
            print(f"running {name} ...", file=sys.stderr, flush=True)
            results[name] = run_client(workdir, name.replace(" ", "_"), dict(
                common, kind="get", port=port, path=path, tokens=tokens or [], server_pid=pid))
            if wrk:
                wrk_results[name] = run_wrk(port, path, args.seconds, args.clients, tokens[0] if tokens else None)
            results[name]["server_rss_after"] = proc_status(pid)["VmRSS"]  # and after wrk's run

        # wrk stops with requests in flight, which the server still answers: wait for them before making the pool
        # (an inbox answered after the pool exists would list its thousands of tasks)
        fetch(gk_port, "/healthz", timeout=60)
        # the completion pool: calibrate the rate on a small pool, then make enough for warm-up + recorded seconds
        print("running complete (calibration, pool) ...", file=sys.stderr, flush=True)
        eng = Engine(db, registry, synchronous="OFF")
        try:
            first_pool_id = eng.store.conn.execute("SELECT max(id) FROM instances").fetchone()[0] + 1
            small = make_pool(eng, args.clients * 150, prep["desks"])
            calib = run_client(workdir, "calibration", dict(
                common, warmup=0.0, seconds=min(CALIBRATION_S, args.seconds), kind="complete", port=gk_port,
                tokens=prep["tokens"]["complete"], tasks=small, server_pid=gk.pid))
            used = {tid for tid, _ in calib["_completions"]}
            left = [tid for tid in small if tid not in used]
            rate = max(calib["req_per_s"] or 0.0, POOL_FLOOR_PER_S)
            want = math.ceil(rate * (args.warmup + args.seconds) * 2) + args.clients
            t0 = time.perf_counter()
            pool = left + make_pool(eng, max(0, want - len(left)), prep["desks"])
            pool_s = time.perf_counter() - t0
        finally:
            eng.close()
        print("running complete ...", file=sys.stderr, flush=True)
        results["complete"] = run_client(workdir, "complete", dict(
            common, kind="complete", port=gk_port, tokens=prep["tokens"]["complete"], tasks=pool,
            server_pid=gk.pid))
        results["complete"]["server_rss_after"] = proc_status(gk.pid)["VmRSS"]
        done = calib.pop("_completions") + results["complete"].pop("_completions")
        check = verify_completions(db, first_pool_id, done)
        rss_end = proc_status(gk.pid)
        rss_plain = proc_status(plain.pid)
        for s in servers:
            s.stop()
        eng = Engine(db, registry)
        try:
            chain_ok, chain_events, _ = eng.store.verify_chain()
        finally:
            eng.close()
        check["audit_chain"] = chain_ok
        check["verified"] = check["verified"] and chain_ok

        out = report(args, results, wrk_results, calib, len(pool), pool_s, check, rss_start, rss_end, rss_plain,
                     busy, len(inbox), len(page), prep_s, gk_ready, chain_events)
        if args.profile:
            import pstats

            stats = pstats.Stats(str(workdir / "server.prof"))
            print("\ngoldkey server under cProfile (the figures above are slowed by it; the event loop's own time,"
                  " uvloop's C code, shows as asyncio/runners.py run), top 25 by own time:")
            stats.sort_stats("tottime").print_stats(25)
            print("goldkey's own functions by cumulative time:")
            stats.sort_stats("cumulative").print_stats(r"/(engine|server)/", 25)
        print(json.dumps(out, ensure_ascii=False))
    finally:
        for s in servers:
            s.stop()
        if args.keep:
            print(f"kept {workdir}", file=sys.stderr)
        else:
            shutil.rmtree(workdir, ignore_errors=True)


def report(args, results: dict, wrk_results: dict, calib: dict, pool: int, pool_s: float, check: dict,
           rss_start: dict, rss_end: dict, rss_plain: dict, busy: float | None, inbox_tasks: int, page_bytes: int,
           prep_s: float, ready_s: float, chain_events: int) -> dict:
    cpus = os.cpu_count()
    rev = revision()
    print(f"\ngoldkey web benchmark: {args.clients} keep-alive clients, {args.warmup:g} s warm-up + {args.seconds:g} s "
          f"recorded per scenario; Python {platform.python_version()}, SQLite {sqlite3.sqlite_version}, "
          f"{cpus} CPUs, at {rev or 'unknown revision'}" + (" -- PROFILED" if args.profile else ""))
    print(f"the load generator is one asyncio process on the same machine: it shares the {cpus} CPUs with the "
          "server (the server's single event loop can use at most one); latencies are timed in the client")
    if busy is not None:
        note = "  -- the machine was not idle: repeat on a quiet machine" if busy > 0.3 else ""
        print(f"CPUs busy with other work just before the run: {busy}{note}")
    print(f"database: {args.history} completed service requests, {args.background} open renovation applications "
          f"(another role), {inbox_tasks} open tasks in the concierge's inbox ({args.inbox} made here, "
          f"{inbox_tasks - args.inbox} by the demo seed); "
          f"built in {prep_s:.1f} s; server ready {ready_s:.1f} s after launch (with --demo seeding)\n")
    head = (f"{'scenario':<22} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8} {'errors':>7} "
            f"{'requests':>9} {'bytes':>7} {'srv CPU ms/req':>15} {'CPUs srv/cli/other':>19} {'srv RSS MiB':>12}")
    print(head)

    labels = {"healthz": "healthz", "small page": f"small page ({SMALL_ROWS} rows)",
              "plain page": "plain page (baseline)", "inbox": "inbox GET /api/tasks",
              "complete": "task completion POST"}
    for name, r in results.items():
        cpu = f"{r['server_cpu_share']}/{r['client_cpu_share']}/{r.get('other_cpus')}"
        print(f"{labels[name]:<22} {num(r['req_per_s'], '>8,.1f')} {num(r['p50_ms'], '>8.2f')} "
              f"{num(r['p99_ms'], '>8.2f')} {num(r['max_ms'], '>8.2f')} {r['errors']:>7} {r['requests']:>9,} "
              f"{r['bytes']:>7,} {num(r['server_cpu_ms_per_req'], '>15.3f')} {cpu:>19} "
              f"{r['server_rss_after'] / 1048576:>12.1f}")
    print("(CPUs: how many CPUs the server, the load generator and everything else kept busy in the recorded "
          "window; srv RSS: the serving process's RSS after the scenario; both from /proc)")
    if wrk_results:
        print(f"\nwrk -t1 -c{args.clients} --latency, {args.seconds:g} s each, right after the same scenario above")
        for name, w in wrk_results.items():
            if w and "failed" not in w:
                print(f"{labels[name]:<22} {w['req_per_s']:>8,.1f} {num(w['p50_ms'], '>8.2f')} "
                      f"{num(w['p99_ms'], '>8.2f')} {'':>8} {w['errors']:>7}")
            else:
                print(f"{labels[name]:<22} failed: {w}")
    inbox, plain, comp = results["inbox"], results["plain page"], results["complete"]
    p99_ratio = ratio(inbox["p99_ms"], plain["p99_ms"])
    rate_ratio = ratio(inbox["req_per_s"], plain["req_per_s"])
    print(f"\ninbox / plain page: p99 {p99_ratio}x, p50 {ratio(inbox['p50_ms'], plain['p50_ms'])}x, "
          f"req/s {rate_ratio}x (bytes: inbox JSON {inbox['bytes']:,}, page {page_bytes:,})")
    wrk_in, wrk_plain = wrk_results.get("inbox") or {}, wrk_results.get("plain page") or {}
    wrk_ratio = ratio(wrk_in.get("p99_ms"), wrk_plain.get("p99_ms"))
    if wrk_ratio is not None:
        print(f"inbox / plain page with wrk: p99 {wrk_ratio}x, req/s "
              f"{ratio(wrk_in['req_per_s'], wrk_plain['req_per_s'])}x")
    print(f"completions: calibration {num(calib['req_per_s'], ',.1f')}/s over {calib['window_s']} s (p99 "
          f"{calib['p99_ms']} ms, max {calib['max_ms']} ms, other work {calib.get('other_cpus')} CPU), then a pool of "
          f"{pool:,} open tasks made in {pool_s:.1f} s; {comp['pool_left']:,} left"
          + (f"; POOL EXHAUSTED after {comp['exhausted_after_s']:.1f} s" if comp["exhausted_after_s"] else ""))
    print(f"checked in the database: {check['answered_2xx']:,} completions answered 2xx ({check['answered_other']} "
          f"other), {check['completed_in_db']:,} issue_slip tasks completed, {check['task_completed_events']:,} "
          f"task_completed events for {check['distinct_tasks_in_events']:,} tasks, {check['plan_tasks_opened']:,} "
          f"next tasks opened; same tasks: {check['same_tasks']}; audit chain ({chain_events:,} events): "
          f"{check['audit_chain']} -> {'verified' if check['verified'] else 'NOT VERIFIED'}")
    print(f"goldkey server RSS: {mib(rss_start['VmRSS'])} after start with --demo seeding, {mib(rss_end['VmRSS'])} "
          f"after the load (peak {mib(rss_end['VmHWM'])}); plain server {mib(rss_plain['VmRSS'])}")

    def disturbed(*names: str) -> str:
        """'?' when the figure was profiled or other work kept more than 0.3 CPU busy during its scenarios."""
        return "?" if args.profile or any((results[n].get("other_cpus") or 0) > 0.3 for n in names) else ""

    rss_mb = round(rss_end["VmRSS"] / 1e6, 1)
    targets = {"inbox_p99_vs_plain": (p99_ratio, None if p99_ratio is None else p99_ratio <= TARGET_INBOX_VS_PLAIN,
                                      disturbed("inbox", "plain page")),
               "complete_p99_ms": (comp["p99_ms"], None if comp["p99_ms"] is None
                                   else comp["p99_ms"] < TARGET_COMPLETE_P99_MS, disturbed("complete")),
               "rss_after_load_mb": (rss_mb, rss_mb < TARGET_RSS_MB, "")}
    print("\ntargets (? = profiled, or other work kept > 0.3 CPU busy during the scenario: repeat on a quiet machine):")
    print(f"  inbox p99 <= {TARGET_INBOX_VS_PLAIN:g}x plain page p99 : {p99_ratio}x "
          f"({inbox['p99_ms']} / {plain['p99_ms']} ms)  {verdict(targets['inbox_p99_vs_plain'][1])}"
          f"{targets['inbox_p99_vs_plain'][2]}")
    print(f"  task completion p99 < {TARGET_COMPLETE_P99_MS:g} ms   : {comp['p99_ms']} ms  "
          f"{verdict(targets['complete_p99_ms'][1])}{targets['complete_p99_ms'][2]}")
    print(f"  server RSS after load < {TARGET_RSS_MB:g} MB  : {rss_mb} MB  {verdict(targets['rss_after_load_mb'][1])}")
    return {"bench": "web", "revision": rev, "python": platform.python_version(), "sqlite": sqlite3.sqlite_version,
            "cpus": cpus, "busy_cpus_before": busy, "profiled": args.profile, "clients": args.clients,
            "warmup_s": args.warmup, "seconds": args.seconds, "inbox_tasks": inbox_tasks, "history": args.history,
            "background": args.background, "page_bytes": page_bytes, "scenarios": results, "wrk": wrk_results,
            "inbox_vs_plain_p99": p99_ratio, "inbox_vs_plain_req_per_s": rate_ratio,
            "wrk_inbox_vs_plain_p99": wrk_ratio,
            "calibration_req_per_s": calib["req_per_s"], "pool": pool, "check": check,
            "rss_bytes": {"goldkey_start": rss_start["VmRSS"], "goldkey_after_load": rss_end["VmRSS"],
                          "goldkey_peak": rss_end["VmHWM"], "plain": rss_plain["VmRSS"]},
            "targets": {k: {"value": v, "ok": ok, "disturbed": bool(q)} for k, (v, ok, q) in targets.items()}}


if __name__ == "__main__":
    main()
