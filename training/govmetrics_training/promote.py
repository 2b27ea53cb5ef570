"""The promotion gate: a new model becomes the default only if it is no worse where it counts.

    govmetrics promote models/NEW [--force] [--docs ID,...]
    govmetrics rollback

Both models are scored on the same frozen documents (the real test split of
annotations/), per genre. NEW is promoted when its overall record F1 is not
lower than the current default's, no genre's record F1 drops by more than one
point, and its overall ECE is at most 0.05. The default is recorded in
models/registry.json (govmetrics.model.registry); the one it replaces is kept
for `govmetrics rollback`. A running service picks the new default up on reload.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from govmetrics.errors import GovMetricsError
from govmetrics.model.registry import Registry
from govmetrics.settings import MODELS_DIR
from govmetrics_training.annotations import GENRES, load_corpus
from govmetrics_training.evaluate import evaluate, extractor_predict

MAX_GENRE_DROP = 0.01
MAX_ECE = 0.05


def gate(current: dict[str, Any], new: dict[str, Any]) -> list[str]:
    """The reasons NEW may not replace the current default (none: it may)."""
    reasons = []
    if new["all"]["record"]["f1"] < current["all"]["record"]["f1"]:
        reasons.append(f"overall record F1 {new['all']['record']['f1']:.3f} is lower than "
                       f"{current['all']['record']['f1']:.3f}")
    for name, s in current.items():
        if name.startswith("genre=") and " split=" not in name and name in new:
            drop = s["record"]["f1"] - new[name]["record"]["f1"]
            if drop > MAX_GENRE_DROP:
                reasons.append(f"{name.removeprefix('genre=')}: record F1 drops {drop:.3f} (more than {MAX_GENRE_DROP})")
    ece = new["all"].get("ece")
    if ece is None or ece > MAX_ECE:
        reasons.append(f"ECE {'n/a' if ece is None else f'{ece:.3f}'} is over {MAX_ECE}")
    return reasons


def side_by_side(current: dict[str, Any], new: dict[str, Any], current_name: str, new_name: str) -> str:
    rows = [f"{'genre (test split)':22} {'gold':>5} | {current_name[:22]:>22} F1   ECE | {new_name[:22]:>22} F1   ECE |  ΔF1"]
    names = ["all"] + [f"genre={g}" for g in GENRES if f"genre={g}" in current]
    for name in names:
        c, n = current[name], new[name]
        ece = lambda s: "  n/a" if s.get("ece") is None else f"{s['ece']:.3f}"  # noqa: E731
        rows.append(f"{name.removeprefix('genre='):22} {c['gold']:5d} | {'':>19}{c['record']['f1']:6.3f} {ece(c):>5} | "
                    f"{'':>19}{n['record']['f1']:6.3f} {ece(n):>5} | {n['record']['f1'] - c['record']['f1']:+.3f}")
    return "\n".join(rows)


def promote(new_dir: Path, force: bool = False, ids: set[str] | None = None,
            models_dir: Path = MODELS_DIR) -> int:
    registry = Registry.load(models_dir)
    current_dir = registry.default_dir()
    if not (new_dir / "config.json").is_file():
        raise GovMetricsError.make("E036", path=new_dir)
    if new_dir.resolve() == current_dir.resolve():
        raise GovMetricsError.make("E038", cause=f"{new_dir} is already the default")
    docs = [d for d in load_corpus() if d.split == "test" and d.origin == "real" and (ids is None or d.id in ids)]
    if not docs:
        raise GovMetricsError.make("E038", cause="no test documents to compare on")
    print(f"scoring {current_dir.name} (the default) and {new_dir.name} on {len(docs)} test documents ...", flush=True)
    current = evaluate(docs, extractor_predict(str(current_dir)))
    new = evaluate(docs, extractor_predict(str(new_dir)))
    print(side_by_side(current, new, current_dir.name, new_dir.name))
    reasons = gate(current, new)
    scores = {"record_f1": new["all"]["record"]["f1"], "ece": new["all"].get("ece"),
              "genres": {k.removeprefix("genre="): v["record"]["f1"] for k, v in new.items()
                         if k.startswith("genre=") and " split=" not in k},
              "documents": len(docs)}
    if reasons and not force:
        print("refused: " + "; ".join(reasons))
        return 1
    registry.promote(new_dir, scores, forced=bool(reasons))
    note = f" (forced past: {'; '.join(reasons)})" if reasons else ""
    print(f"promoted {registry.default} to the default model{note}; `govmetrics rollback` restores {current_dir.name}")
    return 0


def rollback(models_dir: Path = MODELS_DIR) -> int:
    registry = Registry.load(models_dir)
    replaced = registry.default
    restored = registry.rollback()
    print(f"the default model is {restored} again (was {replaced})")
    return 0
