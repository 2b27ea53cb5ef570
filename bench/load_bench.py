"""Load benchmark of the REST service (not a test): N concurrent clients on loopback for T seconds.

Each client posts real documents from ../shared/corpus (a mix of sizes: whole short
documents and slices of long ones) to /v1/extract in a loop, and the run prints
latency percentiles, throughput and errors by status (503s, the service's deliberate
answer to overload, counted apart).

    .venv/bin/python bench/load_bench.py                      # starts `govmetrics serve` itself
    .venv/bin/python bench/load_bench.py --clients 16 --seconds 60
    .venv/bin/python bench/load_bench.py --url http://127.0.0.1:8000   # an already running service
"""
from __future__ import annotations

import argparse
import random
import statistics
import sys
import threading
import time
from collections import Counter
from contextlib import nullcontext
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from service_server import ServiceProcess  # noqa: E402

SIZES = (500, 2000, 8000, 20000)  # characters per request: paragraphs to a long report


def corpus_documents(corpus: Path, seed: int) -> list[tuple[str, str]]:
    """(name, text) pairs: for each size, slices of the corpus's text files of about that many characters."""
    rng = random.Random(seed)
    texts = [(p.stem, p.read_text(encoding="utf-8")) for p in sorted(corpus.rglob("*.txt"))]
    texts = [(n, t) for n, t in texts if t.strip()]
    if not texts:
        raise SystemExit(f"no .txt documents under {corpus}")
    docs = []
    for size in SIZES:
        for name, text in rng.sample(texts, min(8, len(texts))):
            start = rng.randrange(0, max(1, len(text) - size))
            docs.append((f"{name}@{start}", text[start:start + size]))
    return docs


def percentile(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1] if len(values) > 1 else values[0]


def run(url: str, docs: list[tuple[str, str]], clients: int, seconds: float) -> dict:
    latencies: list[float] = []
    statuses: Counter[str] = Counter()
    chars = [0]
    lock = threading.Lock()
    deadline = time.monotonic() + seconds

    def client(i: int) -> None:
        rng = random.Random(i)
        with httpx.Client(base_url=url, timeout=300) as session:
            while time.monotonic() < deadline:
                name, text = rng.choice(docs)
                started = time.perf_counter()
                try:
                    status = str(session.post("/v1/extract", json={"text": text, "doc": name}).status_code)
                except httpx.HTTPError as exc:
                    status = type(exc).__name__
                elapsed = time.perf_counter() - started
                with lock:
                    statuses[status] += 1
                    if status == "200":
                        latencies.append(elapsed)
                        chars[0] += len(text)

    threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
    started = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.monotonic() - started
    return {"latencies": latencies, "statuses": statuses, "wall": wall, "chars": chars[0]}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--url", help="a running service; default: start `govmetrics serve` on a free port")
    ap.add_argument("--clients", type=int, default=16)
    ap.add_argument("--seconds", type=float, default=60)
    ap.add_argument("--corpus", default=str(ROOT.parent / "shared" / "corpus"))
    ap.add_argument("--serve-args", default="", help="extra `govmetrics serve` flags, e.g. '--queue-size 8'")
    a = ap.parse_args()
    docs = corpus_documents(Path(a.corpus), seed=0)
    server = nullcontext(None) if a.url else ServiceProcess.running(*a.serve_args.split())
    with server as process:
        url = a.url or process.url
        print(f"{a.clients} clients × {a.seconds:.0f} s against {url}; {len(docs)} documents of "
              f"{min(len(t) for _, t in docs)}–{max(len(t) for _, t in docs)} characters", flush=True)
        result = run(url, docs, a.clients, a.seconds)
    lat, statuses = sorted(result["latencies"]), result["statuses"]
    ok = statuses.get("200", 0)
    refused = statuses.get("503", 0)
    errors = {k: v for k, v in statuses.items() if k not in ("200", "503")}
    print(f"requests: {sum(statuses.values())}  ok: {ok}  503 (deliberate overload): {refused}  "
          f"other errors: {sum(errors.values())} {dict(errors) if errors else ''}")
    if lat:
        print(f"latency (ok requests): p50 {percentile(lat, 50) * 1000:.0f} ms  p95 {percentile(lat, 95) * 1000:.0f} ms  "
              f"p99 {percentile(lat, 99) * 1000:.0f} ms  max {lat[-1] * 1000:.0f} ms")
    print(f"throughput: {ok / result['wall']:.2f} requests/s, {result['chars'] / result['wall']:.0f} characters/s "
          f"over {result['wall']:.1f} s")
    return 1 if errors else 0


if __name__ == "__main__":
    raise SystemExit(main())
