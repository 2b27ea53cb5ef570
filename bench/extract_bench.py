"""Benchmark: extraction over ../shared/corpus (text files and PDFs).

Prints characters/s, documents/s and peak memory for the full pipeline
(read, segment, grammar, record model or rule assembler, audit), one
document at a time as `govmetrics extract` runs them, beside the grammar
alone on the same texts, as a baseline measured in the same run. Not a
test: figures only. `bench/bulk_bench.py` measures the bulk engines.

    .venv/bin/python bench/extract_bench.py [--corpus ../shared/corpus] [--no-pdf] [--model DIR|rules]
"""
from __future__ import annotations

import argparse
import resource
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from govmetrics.errors import GovMetricsError  # noqa: E402
from govmetrics.grammar.quantities import QuantityGrammar  # noqa: E402
from govmetrics.read.readers import read_path  # noqa: E402


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--corpus", default=str(ROOT.parent / "shared" / "corpus"))
    ap.add_argument("--no-pdf", action="store_true")
    ap.add_argument("--model", default=None, help="a model folder or 'rules' (default: the shipped model)")
    a = ap.parse_args()
    files = sorted(p for p in Path(a.corpus).rglob("*") if p.suffix == ".txt" or (p.suffix == ".pdf" and not a.no_pdf))
    t0 = time.perf_counter()
    texts, failed = [], 0
    for f in files:
        try:
            texts.append((f, read_path(f).text))
        except GovMetricsError as exc:
            failed += 1
            print(f"  unreadable: {exc.message}")
    t_read = time.perf_counter() - t0
    chars = sum(len(t) for _, t in texts)
    print(f"corpus: {len(files)} files ({failed} unreadable), {chars:,} characters; reading took {t_read:.2f} s")
    print(f"peak memory after reading: {peak_mb():.0f} MB")

    grammar = QuantityGrammar()
    t0 = time.perf_counter()
    n_q = sum(len(grammar.find(t)) for _, t in texts)
    t_g = time.perf_counter() - t0

    from govmetrics.extract import Extractor

    t0 = time.perf_counter()
    extractor = Extractor(model=a.model)
    name = "rules" if extractor.model == "rules" else Path(extractor.model).name
    t_load = time.perf_counter() - t0
    t0 = time.perf_counter()
    n_r = sum(len(extractor.extract_text(t, f.stem).records) for f, t in texts)
    t_p = time.perf_counter() - t0

    print(f"{'stage':34} {'seconds':>8} {'chars/s':>10} {'docs/s':>8} {'found':>7}")
    print(f"{'grammar only (baseline)':34} {t_g:8.2f} {chars / t_g:10,.0f} {len(texts) / t_g:8.1f} {n_q:7d}")
    print(f"{'full pipeline (' + name + ')':34} {t_p:8.2f} {chars / t_p:10,.0f} {len(texts) / t_p:8.1f} {n_r:7d}")
    print(f"pipeline load: {t_load:.2f} s")
    print(f"peak memory (RSS): {peak_mb():.0f} MB")


if __name__ == "__main__":
    main()
