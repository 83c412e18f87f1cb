"""Printout benchmark: ms per 金鑰匙服務單 (the golden key slip), beside plain docxtpl in the same run.

One run, in-process, on one golden key instance (a paid service with its prepayment posted) on a fresh
SQLite file; the same context for everyone:

  docxtpl   the baseline: `DocxTemplate(path).render(ctx, jinja_env=sandbox); save(BytesIO)` -- what a
            straightforward integration does for every print (load the .docx, patch and compile its XML,
            render, rebuild the package). The sandboxed environment is the one goldkey must use anyway.
  render    goldkey's renderer with the template prepared once (`printouts.render`): the compiled parts
            rendered, the QR made, the parts zipped.
  print     `Engine.render`: the whole print as a user asks for it -- the role check, the verification code,
            the audit event committed (WAL, synchronous=FULL), the context built from the instance, the
            render above.
  prepare   preparing the template once (read, patch, compile), for the first print after a change.

Targets (the issue): faster than the baseline, and under 20 ms per printout.

Usage: python bench/printouts.py [--n 200] [--printout slip] [--workflow golden_key_service]
"""

from __future__ import annotations

import argparse
import io
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # before bench/ (the script's folder), whose engine.py would shadow the package

from docxtpl import DocxTemplate  # noqa: E402

from engine import definitions, printouts  # noqa: E402
from engine.service import Engine  # noqa: E402

TARGET_MS = 20.0
SLIP = {"owner": "王先生 & 太太", "unit": "5棟1203", "phone": "13800138000", "category": "訂票",
        "request": "代購機票兩張\n<急>", "nature": "有償", "prepaid": "1500.00"}


def timed(fn, n: int) -> list[float]:
    out = []
    for _ in range(n):
        t = time.perf_counter()
        fn()
        out.append((time.perf_counter() - t) * 1000)
    return out


def spread(ms: list[float]) -> dict:
    ms = sorted(ms)
    return {"median_ms": round(statistics.median(ms), 3), "p95_ms": round(ms[int(0.95 * (len(ms) - 1))], 3),
            "n": len(ms)}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=200, help="prints timed per figure")
    ap.add_argument("--workflow", default="golden_key_service")
    ap.add_argument("--printout", default="slip")
    args = ap.parse_args()
    registry = definitions.load_strict(ROOT)
    wf = registry.workflow(args.workflow)
    spec = wf.form.printouts[args.printout]
    path = ROOT / "printouts" / spec["template"]
    with tempfile.TemporaryDirectory() as tmp:
        engine = Engine(Path(tmp) / "bench.db", registry)
        roles = sorted(set(wf.roles))
        engine.add_user("bench", roles, "王小明")
        data = SLIP if args.workflow == "golden_key_service" else {}
        iid = engine.start(args.workflow, "bench", data)["id"]
        body, info = engine.render(iid, args.printout, "bench")  # warm: the template is prepared here
        row = engine.store.instance_row(iid)
        pinfo = printouts.PrintInfo(args.printout, spec.get("title", args.printout), spec.get("copies") or [""],
                                    spec.get("signatures", []), "bench", row["state"]["started_at"], info["code"],
                                    info["url"], False)
        ctx = printouts.context(wf, registry.site, row["state"], engine.store.ledger_entries(iid),
                                engine.store.display_names(), pinfo)
        sandbox = printouts.environment()

        def baseline() -> bytes:
            tpl = DocxTemplate(str(path))
            tpl.render(ctx, jinja_env=sandbox)
            out = io.BytesIO()
            tpl.save(out)
            return out.getvalue()

        template = printouts.load(path)
        check = baseline()  # both produce the document: the same text, as python-docx reads it back
        import docx

        def text(b: bytes) -> str:
            return "\n".join(p.text for p in docx.Document(io.BytesIO(b)).paragraphs)

        ours = printouts.render(template, ctx, info["url"])
        same = text(check) == text(ours)
        results = {
            "docxtpl": spread(timed(baseline, args.n)),
            "render": spread(timed(lambda: printouts.render(template, ctx, info["url"]), args.n)),
            "print": spread(timed(lambda: engine.render(iid, args.printout, "bench"), args.n)),
            "prepare": spread(timed(lambda: printouts._prepare(path), max(10, args.n // 10))),
            "qr": spread(timed(lambda: printouts.qr_png(info["url"]), args.n)),
        }
        engine.close()
    base = results["docxtpl"]["median_ms"]
    print(f"\nprintouts: {wf.title} / {spec.get('title', args.printout)} ({path.name}, {path.stat().st_size:,} bytes, "
          f"{len(spec.get('copies') or [''])} copies); Python {platform.python_version()}, {os.cpu_count()} CPUs")
    print(f"{'':48} {'median':>10} {'p95':>10}   vs docxtpl   target")
    rows = [("docxtpl: load, render, save (baseline)", "docxtpl", ""),
            ("goldkey render (template prepared once)", "render", "ms"),
            ("goldkey print: code, audit event, render", "print", "ms"),
            ("  of which the QR code (segno)", "qr", ""),
            ("prepare a template (first print after a change)", "prepare", "")]
    for label, key, target in rows:
        r = results[key]
        ratio = f"{base / r['median_ms']:>6.2f}x" if key in ("docxtpl", "render", "print") else ""
        verdict = ""
        if target:
            verdict = f"< {TARGET_MS:g} ms and faster: " + ("ok" if r["median_ms"] < min(TARGET_MS, base) else
                                                              "MISSED")
        print(f"{label:48} {r['median_ms']:>7.2f} ms {r['p95_ms']:>7.2f} ms   {ratio:>7}      {verdict}")
    print(f"\nthe two documents read back the same: {same}")
    print(json.dumps({"workflow": wf.id, "printout": args.printout, "results": results,
                      "speedup_render": round(base / results["render"]["median_ms"], 2),
                      "speedup_print": round(base / results["print"]["median_ms"], 2), "same_text": same,
                      "target_ms": TARGET_MS}, ensure_ascii=False))
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
