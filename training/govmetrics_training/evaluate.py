"""Evaluation against the annotated corpus, scored exactly as the work is accepted.

Scores come from `../shared/tools/score.py` itself (imported, not copied).
Predictions outside a document's annotated regions are dropped before
scoring, since nothing outside a region was annotated.
"""
from __future__ import annotations

import importlib.util
import json
from collections import defaultdict
from pathlib import Path
from types import ModuleType
from typing import Any, Callable

from govmetrics_training.annotations import PROJECT_ROOT, AnnotatedDoc, load_corpus

SCORER = PROJECT_ROOT.parent / "shared" / "tools" / "score.py"
GOLD_FIELDS = ("kind", "text", "start", "end", "value", "unit", "normalized", "approx", "upper",
               "role", "direction", "metric", "action", "period", "baseline")

Predict = Callable[[list[AnnotatedDoc]], list[list[dict[str, Any]]]]


def load_scorer(path: Path = SCORER) -> ModuleType:
    if not path.is_file():
        raise FileNotFoundError(f"scorer not found at {path} (expected ../shared/tools/score.py)")
    spec = importlib.util.spec_from_file_location("govmetrics_score", path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def select(docs: list[AnnotatedDoc], split: str | None = None, origin: str | None = None,
           kind: str | None = None, ids: set[str] | None = None) -> list[AnnotatedDoc]:
    return [d for d in docs if (split is None or d.split == split) and (origin is None or d.origin == origin)
            and (kind is None or d.kind == kind) and (ids is None or d.id in ids)]


def extractor_predict(model: str | None) -> Predict:
    """Predictions of the extractor with `model` (None: the shipped default; "rules": the baseline)."""

    def predict(docs: list[AnnotatedDoc]) -> list[list[dict[str, Any]]]:
        from govmetrics.extract import Extractor

        extractor = Extractor(model=model)
        results = extractor.extract_texts([(d.text, d.id) for d in docs])
        return [[r.to_json() for r in res.records] for res in results]

    return predict


rule_predict = extractor_predict("rules")


def in_regions(doc: AnnotatedDoc, records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [r for r in records if doc.in_regions(r["start"], r["end"])]


def write_jsonl(path: Path, docs: list[AnnotatedDoc], records: list[list[dict[str, Any]]]) -> None:
    with path.open("w", encoding="utf-8") as f:
        for d, recs in zip(docs, records):
            f.write(json.dumps({"doc": d.id, "records": recs}, ensure_ascii=False) + "\n")


def gold_of(docs: list[AnnotatedDoc]) -> list[list[dict[str, Any]]]:
    return [[{k: r[k] for k in GOLD_FIELDS} for r in d.records] for d in docs]


def evaluate(docs: list[AnnotatedDoc], predict: Predict = rule_predict,
             out_dir: Path | None = None) -> dict[str, Any]:
    """Scores overall, per split, per document kind and per gold role."""
    scorer = load_scorer()
    preds = [in_regions(d, p) for d, p in zip(docs, predict(docs))]
    gold = gold_of(docs)
    if out_dir is not None:
        out_dir.mkdir(parents=True, exist_ok=True)
        write_jsonl(out_dir / "gold.jsonl", docs, gold)
        write_jsonl(out_dir / "pred.jsonl", docs, preds)
    g_all = {d.id: g for d, g in zip(docs, gold)}
    p_all = {d.id: p for d, p in zip(docs, preds)}
    report: dict[str, Any] = {"all": scorer.score(g_all, p_all)}
    groups: dict[str, set[str]] = defaultdict(set)
    for d in docs:
        groups[f"split={d.split}"].add(d.id)
        groups[f"kind={d.kind}"].add(d.id)
        groups[f"origin={d.origin}"].add(d.id)
    for name, ids in sorted(groups.items()):
        report[name] = scorer.score(g_all, p_all, ids)
    roles = sorted({r["role"] for g in gold for r in g})
    for role in roles:
        g_role = {k: [r for r in v if r["role"] == role] for k, v in g_all.items()}
        # recall-style view per role: all predictions compete, gold restricted to the role
        s = scorer.score(g_role, p_all)
        report[f"role={role}"] = {"gold": s["gold"], "record_recall": s["record"]["r"],
                                  "quantity_recall": s["quantity"]["r"]}
    return report


def format_report(report: dict[str, Any], baseline: dict[str, Any] | None = None) -> str:
    base_cols = f" {'base F1':>7} {'gain':>6}" if baseline else ""
    lines = [f"{'group':24} {'gold':>6} {'pred':>6} {'qty P':>6} {'qty R':>6} {'qty F1':>6} {'value':>6} "
             f"{'rec P':>6} {'rec R':>6} {'rec F1':>6} {'ECE':>6}{base_cols}"]
    for name, s in report.items():
        if name.startswith("role="):
            continue
        q, r = s["quantity"], s["record"]
        ece = "n/a" if s.get("ece") is None else f"{s['ece']:.3f}"
        extra = ""
        if baseline and name in baseline:
            b = baseline[name]["record"]["f1"]
            extra = f" {b:7.3f} {r['f1'] - b:+6.3f}"
        lines.append(f"{name:24} {s['gold']:6d} {s['pred']:6d} {q['p']:6.3f} {q['r']:6.3f} {q['f1']:6.3f} "
                     f"{s['value_accuracy']:6.3f} {r['p']:6.3f} {r['r']:6.3f} {r['f1']:6.3f} {ece:>6}{extra}")
    lines.append("")
    base_role = f" {'base R':>6}" if baseline else ""
    lines.append(f"{'gold role':24} {'gold':>6} {'qty R':>6} {'rec R':>6}{base_role}")
    for name, s in report.items():
        if name.startswith("role="):
            extra = f" {baseline[name]['record_recall']:6.3f}" if baseline and name in baseline else ""
            lines.append(f"{name:24} {s['gold']:6d} {s['quantity_recall']:6.3f} {s['record_recall']:6.3f}{extra}")
    return "\n".join(lines)


def main(split: str | None, origin: str | None, kind: str | None, ids: set[str] | None,
         out_dir: Path | None, as_json: bool, model: str | None = None, baseline: bool = True,
         metrics_out: Path | None = None) -> int:
    docs = select(load_corpus(), split, origin, kind, ids)
    if not docs:
        print("no annotated documents match the selection")
        return 1
    report = evaluate(docs, extractor_predict(model), out_dir)
    base = evaluate(docs, rule_predict) if baseline and model != "rules" else None
    if metrics_out is not None:
        selection = {"split": split, "origin": origin, "kind": kind, "docs": len(docs)}
        metrics_out.write_text(json.dumps({"selection": selection, "model": report, "baseline": base},
                                          ensure_ascii=False, indent=2), encoding="utf-8")
    if as_json:
        print(json.dumps({"model": report, "baseline": base}, ensure_ascii=False, indent=2))
    else:
        print(format_report(report, base))
    return 0
