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

from govmetrics_training.annotations import GENRES, PROJECT_ROOT, AnnotatedDoc, load_corpus

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
    """Scores overall, per genre and split, per split, per document kind and per gold role."""
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
        groups[f"genre={d.genre}"].add(d.id)
        groups[f"genre={d.genre} split={d.split}"].add(d.id)
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


def _ece(s: dict[str, Any]) -> str:
    return "  n/a" if s.get("ece") is None else f"{s['ece']:.3f}"


def _group_order(name: str) -> tuple[int, int, str]:
    """Genres in GENRES order, each as a whole and then test, dev, train; other groups after."""
    genre, _, split = name.removeprefix("genre=").partition(" split=")
    g = GENRES.index(genre) if genre in GENRES else len(GENRES)
    return g, ("", "test", "dev", "train").index(split) if split in ("", "test", "dev", "train") else 9, name


def format_report(report: dict[str, Any], others: dict[str, dict[str, Any]] | None = None,
                  model_label: str = "model") -> str:
    """One row per genre and split: the model's RECORDS.md scores, then record F1 and ECE of each other system."""
    others = others or {}
    head = (f"{'genre / split':32} {'gold':>5} {'qty F1':>6} {'value':>6} {'rec F1':>6} {'strict':>6} {'ECE':>5}"
            + "".join(f" | {label[:18]:>18} F1   ECE" for label in others))
    lines = [f"{'':32} {'':5} {model_label[:40]}", head]
    names = ["all"] + sorted((n for n in report if n.startswith("genre=")), key=_group_order)
    names += [n for n in report if n.startswith(("split=", "origin="))]
    for name in names:
        s = report[name]
        row = (f"{name.removeprefix('genre='):32} {s['gold']:5d} {s['quantity']['f1']:6.3f} {s['value_accuracy']:6.3f} "
               f"{s['record']['f1']:6.3f} {s['record_strict']['f1']:6.3f} {_ece(s):>5}")
        for other in others.values():
            o = other.get(name)
            row += f" | {'':>15}{o['record']['f1']:6.3f} {_ece(o):>5}" if o else f" | {'':>27}"
        lines.append(row)
    lines.append("")
    lines.append(f"{'gold role':32} {'gold':>5} {'qty R':>6} {'rec R':>6}" + "".join(f" | {label[:18]:>18} R" for label in others))
    for name, s in report.items():
        if name.startswith("role="):
            row = f"{name:32} {s['gold']:5d} {s['quantity_recall']:6.3f} {s['record_recall']:6.3f}"
            for other in others.values():
                row += f" | {other[name]['record_recall']:20.3f}" if name in other else f" | {'':>20}"
            lines.append(row)
    return "\n".join(lines)


def main(split: str | None, origin: str | None, kind: str | None, ids: set[str] | None,
         out_dir: Path | None, as_json: bool, model: str | None = None, baseline: bool = True,
         metrics_out: Path | None = None, compare: list[str] | None = None, genre: str | None = None) -> int:
    """Score `model` and, beside it, the rule baseline and every model folder in `compare`."""
    docs = [d for d in select(load_corpus(), split, origin, kind, ids) if genre is None or d.genre == genre]
    if not docs:
        print("no annotated documents match the selection")
        return 1
    report = evaluate(docs, extractor_predict(model), out_dir)
    others: dict[str, dict[str, Any]] = {}
    if baseline and model != "rules":
        others["rule baseline"] = evaluate(docs, rule_predict)
    for other in compare or []:
        others[Path(other).name or other] = evaluate(docs, extractor_predict(other))
    if metrics_out is not None:
        selection = {"split": split, "origin": origin, "kind": kind, "genre": genre, "docs": len(docs)}
        metrics_out.write_text(json.dumps({"selection": selection, "model": report, "baseline": others.get("rule baseline"),
                                           "compared": {k: v for k, v in others.items() if k != "rule baseline"}},
                                          ensure_ascii=False, indent=2), encoding="utf-8")
    if as_json:
        print(json.dumps({"model": report, "baseline": others.get("rule baseline"),
                          "compared": {k: v for k, v in others.items() if k != "rule baseline"}},
                         ensure_ascii=False, indent=2))
    else:
        print(format_report(report, others, model_label=f"model: {model or 'shipped default'}"))
    return 0
