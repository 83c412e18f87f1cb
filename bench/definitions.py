"""Definitions benchmark: what one `goldkey` command pays to load and lint the definitions, beside baselines
measured in the same run.

  python -c pass        the floor: starting Python at all
  yaml.safe_load        a bare `import yaml; yaml.safe_load` of the same files (what reading them costs)
  workflows cold        `goldkey workflows` on the repository with an empty definitions cache
  workflows warm        the same again: the unchanged folder loads from the cache
  check cold / warm     `goldkey check` (templates linted too)
  load+lint 80          `definitions.load` in-process of 80 forms and 80 workflows (the repository's,
                        copied under other ids), cache off: what an edit of a big site costs

Targets (issue 9): warm CLI call under 250 ms; cold load+lint of 80 definitions under 1 s.

Usage: python bench/definitions.py [--n 5] [--copies 10] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # before bench/ (the script's folder), whose engine.py would shadow the package

GOLDKEY = [sys.executable, "-m", "engine.cli"]
TARGET_WARM_MS, TARGET_COLD_80_MS = 250.0, 1000.0


def wall(cmd: list[str], env: dict, cwd: Path, n: int, before=None) -> list[float]:
    """Milliseconds of each of `n` runs of `cmd` (`before()` runs ahead of each, untimed)."""
    out = []
    for _ in range(n):
        if before:
            before()
        start = time.perf_counter()
        subprocess.run(cmd, env=env, cwd=cwd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        out.append((time.perf_counter() - start) * 1000)
    return out


def copies(dst: Path, n: int) -> Path:
    """The repository's definitions n times over, each copy's ids suffixed (`repair_order_c3`)."""
    dst.mkdir()
    shutil.copy(ROOT / "goldkey.yaml", dst / "goldkey.yaml")
    shutil.copytree(ROOT / "printouts", dst / "printouts", ignore=shutil.ignore_patterns("*.py", "*.md"))
    flows = sorted(p.stem for p in (ROOT / "workflows").glob("*.yaml"))
    for kind in ("forms", "workflows"):
        (dst / kind).mkdir()
        for path in sorted((ROOT / kind).glob("*.yaml")):
            text = path.read_text(encoding="utf-8")
            for i in range(n):
                copy = re.sub(r"^id: (\w+)", rf"id: \1_c{i}", text, flags=re.M)
                copy = re.sub(r"^form: (\w+)", rf"form: \1_c{i}", copy, flags=re.M)
                copy = re.sub(r"(\bworkflow: )(" + "|".join(flows) + r")\b", rf"\1\2_c{i}", copy)
                (dst / kind / f"{path.stem}_c{i}.yaml").write_text(copy, encoding="utf-8")
    return dst


def median(ms: list[float]) -> float:
    return round(statistics.median(ms), 1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=5, help="runs of each measurement (the median is shown)")
    parser.add_argument("--copies", type=int, default=10, help="copies of the repository for the big load")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args()

    from engine import definitions

    work = Path(tempfile.mkdtemp(prefix="gk-bench-defs-"))
    cache = work / "cache"
    env = dict(os.environ, GOLDKEY_CACHE=str(cache), GOLDKEY_DB=str(work / "bench.db"), GOLDKEY_DEFS=str(ROOT),
               PYTHONPATH=str(ROOT))
    files = [ROOT / "goldkey.yaml", *sorted((ROOT / "forms").glob("*.yaml")),
             *sorted((ROOT / "workflows").glob("*.yaml"))]
    script = "import sys, yaml\nfor p in sys.argv[1:]: yaml.safe_load(open(p, encoding='utf-8'))"
    yaml_cmd = [sys.executable, "-c", script, *map(str, files)]
    try:
        subprocess.run([*GOLDKEY, "workflows"], env=env, cwd=work, check=True, stdout=subprocess.DEVNULL)  # the db
        clear = lambda: shutil.rmtree(cache, ignore_errors=True)  # noqa: E731
        figures = {
            "python -c pass": median(wall([sys.executable, "-c", "pass"], env, work, args.n)),
            "yaml.safe_load of the same files": median(wall(yaml_cmd, env, work, args.n)),
            "goldkey workflows, cold": median(wall([*GOLDKEY, "workflows"], env, work, args.n, clear)),
            "goldkey workflows, warm": median(wall([*GOLDKEY, "workflows"], env, work, args.n)),
            "goldkey check, cold": median(wall([*GOLDKEY, "check", str(ROOT)], env, work, args.n, clear)),
            "goldkey check, warm": median(wall([*GOLDKEY, "check", str(ROOT)], env, work, args.n)),
        }
        big = copies(work / "big", args.copies)
        os.environ["GOLDKEY_CACHE"] = "off"
        registry = definitions.load(big)  # imports and first-use costs, outside the timing
        assert not registry.problems, registry.problems[:3]
        size = f"{len(registry.forms)} forms + {len(registry.workflows)} workflows"
        runs = []
        for _ in range(args.n):
            start = time.perf_counter()
            definitions.load(big)
            runs.append((time.perf_counter() - start) * 1000)
        figures[f"load+lint of {size}, in-process, no cache"] = median(runs)
        runs = []
        for _ in range(args.n):
            start = time.perf_counter()
            definitions.load(big, templates=True)
            runs.append((time.perf_counter() - start) * 1000)
        figures["the same with the templates (as check), no cache"] = median(runs)
        big_env = dict(env, GOLDKEY_DEFS=str(big))
        figures[f"goldkey workflows on {size}, cold"] = median(wall([*GOLDKEY, "workflows"], big_env, work, args.n,
                                                                     clear))
        figures[f"goldkey workflows on {size}, warm"] = median(wall([*GOLDKEY, "workflows"], big_env, work, args.n))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    floor = figures["python -c pass"]
    if args.json:
        print(json.dumps({"figures_ms": figures, "machine": platform.platform()}, ensure_ascii=False, indent=1))
        return
    print(f"definitions benchmark ({platform.python_implementation()} {platform.python_version()}, "
          f"{os.cpu_count()} cores; median of {args.n} runs)")
    for name, ms in figures.items():
        print(f"  {name:<58} {ms:8.1f} ms  ({ms / floor:5.1f}x python -c pass)")
    warm = figures["goldkey workflows, warm"]
    cold80 = next(v for k, v in figures.items() if k.startswith("load+lint"))
    print(f"targets: warm CLI {warm:.0f} ms (< {TARGET_WARM_MS:.0f}: {'met' if warm < TARGET_WARM_MS else 'NOT met'});"
          f" cold load+lint of 80 {cold80:.0f} ms (< {TARGET_COLD_80_MS:.0f}: "
          f"{'met' if cold80 < TARGET_COLD_80_MS else 'NOT met'})")


if __name__ == "__main__":
    main()
