"""Label Studio and doccano interchange for the annotated corpus, both ways, losslessly.

Export writes every document as a task (Label Studio JSON) or a line (doccano
JSONL) in the format of govmetrics.labelstudio (annotations/labelstudio_config.xml).
Import reads back whatever a labeller made of it: new, deleted, resized and
relabelled regions, changed choices, relations, tasks labelled from scratch and
documents whose text is inline (new reports that are not in ../shared/corpus).
Anything that cannot be read is an `ImportFailure` listing every problem by task
and region; the caller writes nothing then.

doccano has no per-region choices: an entity label `KIND` keeps the record's
other fields from the `govmetrics.records` map (when its text is unchanged), and
`KIND:ROLE` or `KIND:ROLE:DIRECTION` (e.g. `percent:change_rate:increase`) sets
them by hand.
"""
from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from govmetrics.grammar.quantities import Quantity, QuantityGrammar
from govmetrics.labelstudio import (
    FIELD_OF_LABEL,
    SPAN_LABELS,
    Region,
    records_from_regions,
    regions_from_result,
    to_result,
)
from govmetrics_training.annotations import DOC_KINDS, AnnotatedDoc, default_split, resolve_source

DOC_FIELDS = ("id", "source", "regions", "kind", "split", "origin")


class ImportFailure(ValueError):
    """Every task or region that could not be imported, one line each."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


def _doc_meta(doc: AnnotatedDoc) -> dict[str, Any]:
    return {k: doc.raw[k] for k in DOC_FIELDS if k in doc.raw}


def _grammar_index(text: str, grammar: QuantityGrammar) -> Callable[[], Mapping[tuple[int, int], Quantity]]:
    cache: dict[str, Mapping[tuple[int, int], Quantity]] = {}

    def quantities() -> Mapping[tuple[int, int], Quantity]:
        if "q" not in cache:
            cache["q"] = {(q.start, q.end): q for q in grammar.find(text)}
        return cache["q"]

    return quantities


# ------------------------------------------------------------------ Label Studio
def to_labelstudio(docs: list[AnnotatedDoc]) -> list[dict[str, Any]]:
    return [{"id": n, "data": {"text": doc.text, "govmetrics": _doc_meta(doc)},
             "annotations": [{"id": n, "result": to_result(doc.records)}]}
            for n, doc in enumerate(docs, 1)]


def _annotation(task: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """The labeller's latest annotation that was not cancelled (Label Studio keeps them all)."""
    kept = [a for a in task.get("annotations") or [] if not a.get("was_cancelled")]
    if not kept:
        return None
    return max(kept, key=lambda a: (str(a.get("updated_at") or a.get("created_at") or ""), kept.index(a)))


def from_labelstudio(tasks: list[dict[str, Any]], skipped: list[str] | None = None) -> list[dict[str, Any]]:
    """Annotation lines from a Label Studio JSON export; unlabelled tasks are listed in `skipped`."""
    grammar = QuantityGrammar()
    docs, problems = [], []
    for n, task in enumerate(tasks, 1):
        name = f"task {task.get('id', n)}"
        data = task.get("data") or {}
        text = data.get("text")
        if not isinstance(text, str) or not text:
            problems.append(f"{name}: no text in data.text")
            continue
        annotation = _annotation(task)
        if annotation is None:
            if skipped is not None:
                skipped.append(f"{name}: not labelled (no annotation that was not cancelled), left out")
            continue
        try:
            regions, relations = regions_from_result(annotation.get("result") or [])
            records = records_from_regions(text, regions, relations, _grammar_index(text, grammar))
            docs.append(_doc_out(data.get("govmetrics") or {}, data, text, records, task.get("id", n)))
        except ValueError as exc:  # RegionError included: it names the region
            problems.append(f"{name}: {exc}")
    if problems:
        raise ImportFailure(problems)
    return docs


# ------------------------------------------------------------------ doccano
def to_doccano(docs: list[AnnotatedDoc]) -> list[dict[str, Any]]:
    out = []
    for doc in docs:
        items = to_result(doc.records)
        spans = [i for i in items if i["type"] == "labels"]
        ids = {i["id"]: n for n, i in enumerate(spans, 1)}
        out.append({
            "text": doc.text,
            "entities": [{"id": ids[i["id"]], "label": i["value"]["labels"][0], "start_offset": i["value"]["start"],
                          "end_offset": i["value"]["end"]} for i in spans],
            "relations": [{"id": n, "from_id": ids[i["from_id"]], "to_id": ids[i["to_id"]], "type": i["labels"][0]}
                          for n, i in enumerate((i for i in items if i["type"] == "relation"), 1)],
            "govmetrics": {**_doc_meta(doc), "records": {
                str(ids[f"q{k}"]): {"text": r["text"], **{f: r[f] for f in ("value", "unit", "normalized", "upper",
                                                                             "approx", "role", "direction")}}
                for k, r in enumerate(doc.records)}},
        })
    return out


def _doccano_region(entity: Mapping[str, Any], attrs: Mapping[str, Any] | None) -> Region:
    rid = str(entity.get("id"))
    label, *rest = str(entity.get("label", "")).split(":")
    meta = dict(attrs) if attrs else None
    choices: dict[str, str | None] = {}
    if rest:  # KIND:ROLE[:DIRECTION] set by hand win over the exported fields
        choices["role"] = rest[0]
        choices["direction"] = rest[1] if len(rest) > 1 else None
    elif meta:
        choices = {k: meta.get(k) for k in ("role", "direction", "approx")}
    if label in FIELD_OF_LABEL:
        meta = None
    return Region(rid, entity.get("start_offset"), entity.get("end_offset"), label, choices, meta)


def from_doccano(lines: list[dict[str, Any]]) -> list[dict[str, Any]]:
    grammar = QuantityGrammar()
    docs, problems = [], []
    for n, line in enumerate(lines, 1):
        name = f"line {n}"
        text = line.get("text")
        if not isinstance(text, str) or not text:
            problems.append(f"{name}: no text")
            continue
        meta = line.get("govmetrics") or {}
        attrs = meta.get("records") or {}
        try:
            regions = {str(e.get("id")): _doccano_region(e, attrs.get(str(e.get("id")))) for e in line.get("entities", [])}
            relations = [(str(r.get("from_id")), str(r.get("to_id")), r.get("type")) for r in line.get("relations", [])]
            records = records_from_regions(text, regions, relations, _grammar_index(text, grammar))
            docs.append(_doc_out(meta, line, text, records, n))
        except ValueError as exc:  # RegionError included: it names the region
            problems.append(f"{name}: {exc}")
    if problems:
        raise ImportFailure(problems)
    return docs


# ------------------------------------------------------------------ documents
def _doc_out(meta: Mapping[str, Any], data: Mapping[str, Any], text: str, records: list[dict[str, Any]],
             task_id: Any) -> dict[str, Any]:
    """An annotation line. Documents we exported keep their id, split and stand-off source; a task
    labelled from scratch gets an id from its data (`id` or `doc`), the text inline, origin real,
    kind from its data (default work-summary) and a split by `default_split` (never none)."""
    out: dict[str, Any] = {k: meta[k] for k in DOC_FIELDS if k in meta}
    out.setdefault("id", str(data.get("doc") or data.get("id") or f"labelstudio-task-{task_id}"))
    kind = out.setdefault("kind", str(data.get("kind") or "work-summary"))
    if kind not in DOC_KINDS:
        raise ValueError(f"document kind {kind!r} is not one of {DOC_KINDS}")
    out.setdefault("origin", "real")
    out.setdefault("split", default_split(out["id"]))
    if "source" in out:
        if resolve_source(out["source"]["path"]).read_bytes().decode("utf-8") != text:
            raise ValueError(f"the task's text differs from {out['source']['path']}: its offsets would not index it")
    else:
        out["text"] = text
    out.setdefault("regions", [[0, len(text)]])
    out["records"] = records
    return out


def export(docs: list[AnnotatedDoc], fmt: str, path: Path) -> None:
    if fmt == "labelstudio":
        path.write_text(json.dumps(to_labelstudio(docs), ensure_ascii=False, indent=1), encoding="utf-8")
    else:
        path.write_text("".join(json.dumps(d, ensure_ascii=False) + "\n" for d in to_doccano(docs)), encoding="utf-8")


def import_(fmt: str, path: Path, skipped: list[str] | None = None) -> list[dict[str, Any]]:
    raw = path.read_text(encoding="utf-8")
    if fmt == "labelstudio":
        tasks = json.loads(raw)
        if not isinstance(tasks, list):
            raise ImportFailure(["a Label Studio export is a JSON list of tasks"])
        return from_labelstudio(tasks, skipped)
    return from_doccano([json.loads(line) for line in raw.splitlines() if line.strip()])


__all__ = ["ImportFailure", "SPAN_LABELS", "export", "from_doccano", "from_labelstudio", "import_",
           "to_doccano", "to_labelstudio"]
