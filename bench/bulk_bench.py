"""Benchmark: `govmetrics annotate` over the whole ../shared/corpus (text and PDFs).

Runs the CLI as a user would, into a fresh database each time, with the local
engine on 1 and 2 workers and the Ray engine in local mode, and prints side by
side: documents/s and characters/s (over the run's own elapsed time, start-up
and model loading included, and over the wall time of the whole command),
and the peak memory of the process tree. Not a test: figures only.

Peak memory is the largest sum of RSS over the command's process and all its
descendants (workers; for Ray also raylet, GCS and actors), sampled with
psutil every 0.2 s; pages shared between processes count once per process.

    .venv/bin/python bench/bulk_bench.py [--corpus ../shared/corpus] [--model rules] [--configs local1,local2,ray2]
"""
from __future__ import annotations

import argparse
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parent.parent
CONFIGS = {
    "local1": ["--engine", "local", "--workers", "1"],
    "local2": ["--engine", "local", "--workers", "2"],
    "ray2": ["--engine", "ray", "--workers", "2"],
}


def tree_rss(proc: psutil.Process) -> int:
    total = 0
    for p in [proc, *proc.children(recursive=True)]:
        try:
            total += p.memory_info().rss
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            pass
    return total


def run(corpus: str, extra: list[str], model: str | None, db: Path) -> dict[str, float]:
    cmd = [sys.executable, "-m", "govmetrics.cli", "annotate", corpus, "--out", str(db), *extra]
    if model:
        cmd += ["--model", model]
    t0 = time.perf_counter()
    child = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    proc = psutil.Process(child.pid)
    peak = 0
    while child.poll() is None:
        try:
            peak = max(peak, tree_rss(proc))
        except psutil.NoSuchProcess:
            break
        time.sleep(0.2)
    out, err = child.communicate()
    wall = time.perf_counter() - t0
    if child.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{err.decode()[-2000:]}")
    with sqlite3.connect(db) as conn:
        done, failed, chars, records = conn.execute(
            "SELECT sum(status = 'done'), sum(status = 'failed'), coalesce(sum(chars), 0), sum(record_count) "
            "FROM documents").fetchone()
        elapsed = conn.execute("SELECT elapsed_seconds FROM runs ORDER BY id DESC LIMIT 1").fetchone()[0]
    return {"done": done, "failed": failed, "chars": chars, "records": records, "elapsed": elapsed,
            "wall": wall, "peak_mb": peak / 2**20}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--corpus", default=str(ROOT.parent / "shared" / "corpus"))
    ap.add_argument("--model", default=None, help="as `annotate --model` (default: the shipped model)")
    ap.add_argument("--configs", default=",".join(CONFIGS), help=f"comma-separated, from {', '.join(CONFIGS)}")
    a = ap.parse_args()
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name in a.configs.split(","):
            print(f"running {name} ...", file=sys.stderr, flush=True)
            results[name] = run(a.corpus, CONFIGS[name], a.model, Path(tmp) / f"{name}.db")
    first = next(iter(results.values()))
    print(f"corpus {a.corpus}: {first['done'] + first['failed']} documents ({first['failed']} failed), "
          f"{first['chars']:,} characters, {first['records']:,} records; cores: {psutil.cpu_count()}")
    header = f"{'engine':<8} {'run s':>7} {'docs/s':>7} {'chars/s':>8} {'wall s':>7} {'docs/s':>7} {'chars/s':>8} {'peak MB':>8}"
    print(f"{'':<8} {'-- the run (summary) --':>24} {'-- the whole command --':>24}")
    print(header)
    for name, r in results.items():
        docs = r["done"] + r["failed"]
        print(f"{name:<8} {r['elapsed']:>7.1f} {docs / r['elapsed']:>7.2f} {r['chars'] / r['elapsed']:>8,.0f} "
              f"{r['wall']:>7.1f} {docs / r['wall']:>7.2f} {r['chars'] / r['wall']:>8,.0f} {r['peak_mb']:>8,.0f}")


if __name__ == "__main__":
    main()
