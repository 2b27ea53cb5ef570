"""The annotated corpus: loading and validating `annotations/data/*.jsonl`.

A document is one JSON line (see annotations/GUIDELINE_NOTES.md). Real
documents are stand-off: their text is read from `source.path` (relative to
the project root) and must hash to `source.sha256`.
"""
from __future__ import annotations

import hashlib
import json
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import lru_cache
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from govmetrics.grammar.vocabulary import (
    APPROX,
    DIRECTIONS,
    KINDS,
    ROLES,
    SPAN_FIELDS,
    split_scale,
)

PROJECT_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_DIR = PROJECT_ROOT / "annotations" / "data"
SPLITS = ("train", "dev", "test")
ORIGINS = ("real", "authored")
# Genres: work-report is the national 政府工作报告, local-work-report the provincial ones.
DOC_KINDS = ("work-summary", "budget", "work-report", "local-work-report", "news", "annual-report")
# Genres scored apart (govmetrics evaluate): the real document kinds, and every authored document as one.
# Real work summaries are the seed today.
GENRES = ("budget", "work-report", "local-work-report", "news", "annual-report", "work-summary", "authored")
RECORD_FIELDS = (
    "kind", "text", "start", "end", "value", "unit", "normalized", "approx",
    "upper", "role", "direction", "metric", "action", "period", "baseline",
)


@dataclass
class AnnotatedDoc:
    id: str
    text: str
    records: list[dict[str, Any]]
    split: str
    origin: str
    kind: str
    regions: list[tuple[int, int]]
    source: dict[str, str] | None = None
    file: str = ""
    line: int = 0
    raw: dict[str, Any] = field(default_factory=dict)

    @property
    def genre(self) -> str:
        """The genre this document is scored under: its kind if real, `authored` otherwise."""
        return "authored" if self.origin == "authored" else self.kind

    def in_regions(self, start: int, end: int) -> bool:
        return any(s <= start and end <= e for s, e in self.regions)


class AnnotationError(ValueError):
    """A document line that cannot be loaded at all."""


def default_split(doc_id: str) -> str:
    """The split of a newly imported document that names none: one in ten by a hash of its id goes
    to dev, the rest to train; never test, so the test documents models are compared on stay frozen."""
    return "dev" if hashlib.sha256(doc_id.encode("utf-8")).digest()[0] % 10 == 0 else "train"


@lru_cache(maxsize=1)
def shared_corpus_digests() -> frozenset[str]:
    """sha256 of every text in ../shared/corpus: inline text must never be one of them."""
    corpus = PROJECT_ROOT.parent / "shared" / "corpus"
    return frozenset(hashlib.sha256(p.read_bytes()).hexdigest() for p in corpus.rglob("*.txt")) if corpus.is_dir() else frozenset()


def sha256_file(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def resolve_source(path: str) -> Path:
    return (PROJECT_ROOT / path).resolve()


def iter_files(paths: list[Path]) -> Iterator[Path]:
    for p in paths:
        if p.is_dir():
            yield from sorted(p.rglob("*.jsonl"))
        else:
            yield p


def load_doc(obj: dict[str, Any], file: str = "", line: int = 0) -> AnnotatedDoc:
    where = f"{file}:{line}"
    if "id" not in obj:
        raise AnnotationError(f"{where}: no 'id'")
    if "text" in obj:
        text = obj["text"]
        source = None
    elif "source" in obj:
        source = obj["source"]
        path = resolve_source(source["path"])
        if not path.is_file():
            raise AnnotationError(f"{where}: {obj['id']}: source file not found: {source['path']}")
        digest = sha256_file(path)
        if digest != source.get("sha256"):
            raise AnnotationError(f"{where}: {obj['id']}: sha256 mismatch for {source['path']}")
        text = path.read_bytes().decode("utf-8")
    else:
        raise AnnotationError(f"{where}: {obj['id']}: needs 'text' or 'source'")
    regions = [tuple(r) for r in obj.get("regions") or [(0, len(text))]]
    return AnnotatedDoc(
        id=obj["id"], text=text, records=obj.get("records", []), split=obj.get("split", ""),
        origin=obj.get("origin", ""), kind=obj.get("kind", ""), regions=regions,  # type: ignore[arg-type]
        source=source, file=file, line=line, raw=obj,
    )


def load_corpus(paths: list[Path] | None = None) -> list[AnnotatedDoc]:
    docs = []
    for f in iter_files(paths or [DEFAULT_DIR]):
        with f.open(encoding="utf-8") as fh:
            for n, line in enumerate(fh, 1):
                if line.strip():
                    docs.append(load_doc(json.loads(line), str(f), n))
    return docs


def _dec(x: Any) -> Decimal | None:
    try:
        return Decimal(str(x))
    except (InvalidOperation, TypeError, ValueError):
        return None


def expected_normalized(kind: str, unit: str) -> tuple[Decimal, set[str]]:
    """Scale factor and admissible normalized units for a record's written unit."""
    u = unit.replace(" ", "")
    if u.endswith("倍"):
        return Decimal(1), {"倍"}
    if kind == "percent":
        if u in ("个百分点", "百分点"):
            return Decimal(1), {"pp"}
        if u == "成":
            return Decimal(10), {"%"}
        return Decimal(1), {"%"}
    if kind == "score":
        return Decimal(1), {"分"}
    factor, rest = split_scale(u)
    if kind == "amount":
        return factor, ({"", "元"} if rest == "" else {rest})
    return factor, {rest}


def check_record(doc: AnnotatedDoc, i: int, rec: dict[str, Any]) -> list[str]:
    errs: list[str] = []
    tag = f"{doc.id} record {i} {rec.get('text')!r}"
    for key in RECORD_FIELDS:
        if key not in rec:
            errs.append(f"{tag}: missing field '{key}'")
    if "confidence" in rec:
        errs.append(f"{tag}: gold records carry no 'confidence'")
    if errs:
        return errs
    start, end = rec["start"], rec["end"]
    if not (isinstance(start, int) and isinstance(end, int) and 0 <= start < end <= len(doc.text)):
        return [f"{tag}: bad offsets {start}..{end}"]
    if doc.text[start:end] != rec["text"]:
        errs.append(f"{tag}: text != doc[{start}:{end}] ({doc.text[start:end]!r})")
    if not doc.in_regions(start, end):
        errs.append(f"{tag}: outside the annotated regions")
    if rec["kind"] not in KINDS:
        errs.append(f"{tag}: kind {rec['kind']!r} not in {KINDS}")
    if rec["approx"] not in APPROX:
        errs.append(f"{tag}: approx {rec['approx']!r} not in {APPROX}")
    if rec["role"] not in ROLES:
        errs.append(f"{tag}: role {rec['role']!r} not in {ROLES}")
    if rec["direction"] is not None and rec["direction"] not in DIRECTIONS:
        errs.append(f"{tag}: direction {rec['direction']!r} not in {DIRECTIONS}")
    if rec["role"] in ("change", "change_rate") and rec["direction"] is None:
        errs.append(f"{tag}: {rec['role']} needs a direction")
    if rec["role"] not in ("change", "change_rate") and rec["direction"] is not None:
        errs.append(f"{tag}: direction only for change/change_rate")
    for key in SPAN_FIELDS:
        s = rec[key]
        if s is None:
            continue
        if not isinstance(s, dict) or not {"text", "start", "end"} <= s.keys():
            errs.append(f"{tag}: {key} must be null or {{text,start,end}}")
            continue
        if doc.text[s["start"]:s["end"]] != s["text"] or not s["text"]:
            errs.append(f"{tag}: {key} text {s['text']!r} != doc[{s['start']}:{s['end']}]")
    value = _dec(rec["value"])
    norm = rec["normalized"] or {}
    nval = _dec(norm.get("value"))
    if value is None or nval is None:
        errs.append(f"{tag}: value/normalized.value not decimal strings")
        return errs
    if not isinstance(rec["value"], str) or not isinstance(norm.get("value"), str):
        errs.append(f"{tag}: value and normalized.value must be strings")
    factor, units = expected_normalized(rec["kind"], rec["unit"])
    if value * factor != nval:
        errs.append(f"{tag}: normalized {nval} != {value} x {factor} for unit {rec['unit']!r}")
    if norm.get("unit", "") not in units:
        errs.append(f"{tag}: normalized unit {norm.get('unit')!r} not in {sorted(units)}")
    if nval != nval.normalize() and "." in norm["value"] and norm["value"].endswith("0"):
        errs.append(f"{tag}: normalized value keeps trailing zeros")
    if rec["upper"] is not None:
        up = _dec(rec["upper"])
        nup = _dec(norm.get("upper"))
        if up is None or nup is None or up * factor != nup or up < value:
            errs.append(f"{tag}: upper {rec['upper']!r} / normalized.upper {norm.get('upper')!r} inconsistent")
    return errs


def check_doc(doc: AnnotatedDoc) -> list[str]:
    errs: list[str] = []
    if doc.split not in SPLITS:
        errs.append(f"{doc.id}: split {doc.split!r} not in {SPLITS}")
    if doc.origin not in ORIGINS:
        errs.append(f"{doc.id}: origin {doc.origin!r} not in {ORIGINS}")
    if doc.kind not in DOC_KINDS:
        errs.append(f"{doc.id}: kind {doc.kind!r} not in {DOC_KINDS}")
    if doc.source is None and hashlib.sha256(doc.text.encode("utf-8")).hexdigest() in shared_corpus_digests():
        errs.append(f"{doc.id}: this text is a file of ../shared/corpus: keep it stand-off (source), never inline")
    for s, e in doc.regions:
        if not (0 <= s < e <= len(doc.text)):
            errs.append(f"{doc.id}: bad region {s}..{e}")
    for i, rec in enumerate(doc.records):
        errs.extend(check_record(doc, i, rec))
    spans = sorted((r["start"], r["end"], i) for i, r in enumerate(doc.records)
                   if isinstance(r.get("start"), int) and isinstance(r.get("end"), int))
    for (s1, e1, i1), (s2, e2, i2) in zip(spans, spans[1:]):
        if s2 < e1:
            errs.append(f"{doc.id}: records {i1} and {i2} overlap ({s1}..{e1}, {s2}..{e2})")
    return errs


def check_corpus(paths: list[Path] | None = None) -> tuple[list[AnnotatedDoc], list[str]]:
    errs: list[str] = []
    docs: list[AnnotatedDoc] = []
    for f in iter_files(paths or [DEFAULT_DIR]):
        with f.open(encoding="utf-8") as fh:
            for n, line in enumerate(fh, 1):
                if not line.strip():
                    continue
                try:
                    doc = load_doc(json.loads(line), str(f), n)
                except (AnnotationError, json.JSONDecodeError, KeyError) as exc:
                    errs.append(f"{f}:{n}: {exc}")
                    continue
                docs.append(doc)
                errs.extend(f"{f}:{n}: {e}" for e in check_doc(doc))
    ids = [d.id for d in docs]
    for dup in sorted({i for i in ids if ids.count(i) > 1}):
        errs.append(f"document id {dup!r} appears more than once")
    return docs, errs


def main(argv: list[str] | None = None) -> int:
    args = argv if argv is not None else sys.argv[1:]
    if args and args[0] == "check":
        args = args[1:]
    docs, errs = check_corpus([Path(a) for a in args] or None)
    for e in errs:
        print(e)
    n = sum(len(d.records) for d in docs)
    print(f"{len(docs)} documents, {n} records, {len(errs)} problems")
    return 1 if errs else 0


if __name__ == "__main__":
    raise SystemExit(main())
