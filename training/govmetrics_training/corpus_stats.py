"""Counts of the annotated corpus per split, origin, kind and role, and the targets they must meet."""
from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

from govmetrics_training.annotations import PROJECT_ROOT, AnnotatedDoc, check_corpus

SPLITS_FILE = PROJECT_ROOT / "annotations" / "splits.json"

# The counts issue "Annotated corpus" asks for.
TARGETS = {
    "real records": 3000,
    "authored records": 2000,
    "authored documents": 30,
    "real budget documents": 20,
    "real work reports with >= 3000 annotated chars": 10,
}


def apply_splits(path: Path = SPLITS_FILE, data_dir: Path = PROJECT_ROOT / "annotations" / "data") -> int:
    """Rewrite each document's `split` from annotations/splits.json (default: train)."""
    spec = json.loads(path.read_text(encoding="utf-8"))
    where = {doc_id: split for split, ids in spec.items() for doc_id in ids}
    changed = 0
    for f in sorted(data_dir.glob("*.jsonl")):
        lines = []
        for line in f.read_text(encoding="utf-8").splitlines():
            if not line.strip():
                continue
            obj = json.loads(line)
            split = where.get(obj["id"], "train")
            changed += obj.get("split") != split
            obj["split"] = split
            lines.append(json.dumps(obj, ensure_ascii=False))
        f.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return changed


def annotated_chars(doc: AnnotatedDoc) -> int:
    return sum(e - s for s, e in doc.regions)


def corpus_counts(docs: list[AnnotatedDoc]) -> dict[str, object]:
    by = Counter()
    roles: Counter[tuple[str, str]] = Counter()
    kinds: Counter[tuple[str, str]] = Counter()
    for d in docs:
        by[("docs", d.split, d.origin, d.kind)] += 1
        by[("records", d.split, d.origin, d.kind)] += len(d.records)
        for r in d.records:
            roles[(d.split, r["role"])] += 1
            kinds[(d.split, r["kind"])] += 1
    real = [d for d in docs if d.origin == "real"]
    authored = [d for d in docs if d.origin == "authored"]
    test_real = sum(len(d.records) for d in real if d.split == "test")
    totals = {
        "real records": sum(len(d.records) for d in real),
        "authored records": sum(len(d.records) for d in authored),
        "authored documents": len(authored),
        "real budget documents": sum(1 for d in real if d.kind == "budget"),
        "real work reports with >= 3000 annotated chars": sum(
            1 for d in real if d.kind == "work-report" and annotated_chars(d) >= 3000),
    }
    return {"by": by, "roles": roles, "kinds": kinds, "totals": totals,
            "test share of real records": test_real / max(1, totals["real records"])}


def print_stats(paths: list[Path] | None = None) -> int:
    docs, errs = check_corpus(paths)
    c = corpus_counts(docs)
    print(f"{'split':6} {'origin':9} {'kind':13} {'docs':>5} {'records':>8}")
    for key in sorted(k for k in c["by"] if k[0] == "docs"):
        _, split, origin, kind = key
        print(f"{split:6} {origin:9} {kind:13} {c['by'][key]:5d} {c['by'][('records', split, origin, kind)]:8d}")
    print()
    roles = sorted({r for _, r in c["roles"]})
    print(f"{'role':12} " + " ".join(f"{s:>6}" for s in ("train", "dev", "test")))
    for role in roles:
        print(f"{role:12} " + " ".join(f"{c['roles'][(s, role)]:6d}" for s in ("train", "dev", "test")))
    print()
    kinds = sorted({k for _, k in c["kinds"]})
    print(f"{'kind':12} " + " ".join(f"{s:>6}" for s in ("train", "dev", "test")))
    for kind in kinds:
        print(f"{kind:12} " + " ".join(f"{c['kinds'][(s, kind)]:6d}" for s in ("train", "dev", "test")))
    print()
    short = 0
    for name, target in TARGETS.items():
        have = c["totals"][name]
        ok = have >= target
        short += not ok
        print(f"{'ok ' if ok else 'SHORT'} {name}: {have} (target {target})")
    share = c["test share of real records"]
    print(f"{'ok ' if share >= 0.25 else 'SHORT'} test share of real records: {share:.1%} (target 25%)")
    if errs:
        print(f"{len(errs)} validation problems: run `govmetrics annotations check`")
    return 1 if errs else 0
