"""Benchmark (not a test): the seed end to end, warm and cold, for the shipped model,
the rule baseline and Microsoft Recognizers-Text, in one run on one machine.

    .venv/bin/python bench/model_bench.py [--runs 5]

cold: a fresh `govmetrics extract SEED` process (imports, model load, extraction).
warm: the extractor already loaded (as in the service), median of --runs.
Recognizers-Text (`pip install recognizers-text-suite emoji==0.6.0`) finds numbers,
currencies, percentages and dimensions only, so it is scored on quantities alone.
"""
from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

SEED = ROOT.parent / "shared" / "corpus" / "seed" / "000_0b63caf340faed07.txt"
SEED_ID = "000_0b63caf340faed07"


def cold(args: list[str], runs: int) -> float:
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        subprocess.run([sys.executable, "-m", "govmetrics.cli", "extract", str(SEED), *args], cwd=ROOT,
                       check=True, capture_output=True)
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def warm(fn: Any, runs: int) -> float:
    fn()
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def recognizers_records(text: str) -> list[dict[str, Any]]:
    from recognizers_number import Culture, recognize_number, recognize_percentage
    from recognizers_number_with_unit import recognize_currency, recognize_dimension

    kinds = [(recognize_currency, "amount"), (recognize_percentage, "percent"), (recognize_dimension, "measure"),
             (recognize_number, "count")]
    out: list[dict[str, Any]] = []
    taken: list[tuple[int, int]] = []
    for fn, kind in kinds:  # most specific first; a plain number inside a currency is not counted twice
        for r in fn(text, Culture.Chinese):
            s, e = r.start, r.end + 1
            if any(s < b and a < e for a, b in taken):
                continue
            taken.append((s, e))
            out.append({"kind": kind, "text": text[s:e], "start": s, "end": e, "role": "value", "direction": None,
                        "normalized": {"value": "", "unit": ""}, "approx": "exact", "metric": None, "action": None,
                        "confidence": None})
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=5)
    args = ap.parse_args()
    from govmetrics.extract import Extractor
    from govmetrics_training.annotations import load_corpus
    from govmetrics_training.evaluate import gold_of, in_regions, load_scorer

    text = SEED.read_text(encoding="utf-8")
    doc = next(d for d in load_corpus() if d.id == SEED_ID)
    gold = {SEED_ID: gold_of([doc])[0]}
    scorer = load_scorer()
    rows = []
    for label, model, flags in (("GovMetrics model (shipped, int8)", None, []),
                                ("rule baseline", "rules", ["--model", "rules"])):
        extractor = Extractor(model=model)
        t_warm = warm(lambda: extractor.extract_text(text, SEED_ID), args.runs)
        preds = in_regions(doc, [r.to_json() for r in extractor.extract_text(text, SEED_ID).records])
        s = scorer.score(gold, {SEED_ID: preds})
        rows.append((label, cold(flags, max(1, args.runs // 2)), t_warm, s["quantity"]["f1"], s["record"]["f1"]))
    try:
        t_warm = warm(lambda: recognizers_records(text), args.runs)
        t = time.perf_counter()
        subprocess.run([sys.executable, "-c", "import sys; sys.path.insert(0, 'bench'); from model_bench import "
                        f"recognizers_records; recognizers_records(open({str(SEED)!r}, encoding='utf-8').read())"],
                       cwd=ROOT, check=True, capture_output=True)
        t_cold = time.perf_counter() - t
        s = scorer.score(gold, {SEED_ID: in_regions(doc, recognizers_records(text))})
        rows.append(("Recognizers-Text (zh-cn)", t_cold, t_warm, s["quantity"]["f1"], s["record"]["f1"]))
    except ImportError as exc:
        print(f"Recognizers-Text not installed ({exc}); pip install recognizers-text-suite emoji==0.6.0")
    print(f"seed: {len(text)} characters, {len(gold[SEED_ID])} gold records; median of {args.runs} warm runs\n")
    print(f"{'system':34} {'cold s':>7} {'warm s':>7} {'qty F1':>7} {'rec F1':>7}")
    for label, c, w, q, r in rows:
        print(f"{label:34} {c:7.2f} {w:7.3f} {q:7.3f} {r:7.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
