"""Label Studio and doccano interchange for the annotated corpus.

Quantities become spans labelled with their `kind`; metric, action, period
and baseline become spans labelled METRIC/ACTION/PERIOD/BASELINE, linked to
their quantity by a relation named after the field. The record's other
fields (value, unit, normalized, approx, upper, role, direction) travel in
the quantity region's `meta` (Label Studio) or in a `govmetrics` map keyed by
entity id (doccano), so a round trip changes nothing, offsets included.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from govmetrics_training.annotations import AnnotatedDoc

SPAN_LABELS = {"metric": "METRIC", "action": "ACTION", "period": "PERIOD", "baseline": "BASELINE"}
ATTRS = ("kind", "value", "unit", "normalized", "approx", "upper", "role", "direction")
DOC_FIELDS = ("id", "source", "regions", "kind", "split", "origin")


def _doc_meta(doc: AnnotatedDoc) -> dict[str, Any]:
    return {k: doc.raw[k] for k in DOC_FIELDS if k in doc.raw}


def _spans(doc: AnnotatedDoc) -> tuple[list[dict[str, Any]], dict[tuple[int, int, str], str]]:
    """Every distinct span once: quantities (q<i>) and linked spans (s<j>)."""
    regions: list[dict[str, Any]] = []
    span_ids: dict[tuple[int, int, str], str] = {}
    for i, rec in enumerate(doc.records):
        regions.append({"id": f"q{i}", "start": rec["start"], "end": rec["end"], "text": rec["text"],
                        "label": rec["kind"], "attrs": {k: rec[k] for k in ATTRS}})
    for rec in doc.records:
        for field, label in SPAN_LABELS.items():
            s = rec[field]
            if s and (s["start"], s["end"], label) not in span_ids:
                sid = f"s{len(span_ids)}"
                span_ids[(s["start"], s["end"], label)] = sid
                regions.append({"id": sid, "start": s["start"], "end": s["end"], "text": s["text"], "label": label})
    return regions, span_ids


def _relations(doc: AnnotatedDoc, span_ids: dict[tuple[int, int, str], str]) -> list[tuple[str, str, str]]:
    out = []
    for i, rec in enumerate(doc.records):
        for field, label in SPAN_LABELS.items():
            s = rec[field]
            if s:
                out.append((f"q{i}", span_ids[(s["start"], s["end"], label)], field))
    return out


def to_labelstudio(docs: list[AnnotatedDoc]) -> list[dict[str, Any]]:
    tasks = []
    for n, doc in enumerate(docs, 1):
        regions, span_ids = _spans(doc)
        result: list[dict[str, Any]] = []
        for r in regions:
            item = {"id": r["id"], "from_name": "label", "to_name": "text", "type": "labels",
                    "value": {"start": r["start"], "end": r["end"], "text": r["text"], "labels": [r["label"]]}}
            if "attrs" in r:
                item["meta"] = {"record": r["attrs"]}
            result.append(item)
        for src, dst, field in _relations(doc, span_ids):
            result.append({"type": "relation", "from_id": src, "to_id": dst, "direction": "right", "labels": [field]})
        tasks.append({"id": n, "data": {"text": doc.text, "govmetrics": _doc_meta(doc)},
                      "annotations": [{"id": n, "result": result}]})
    return tasks


def _records_from(regions: dict[str, dict[str, Any]], relations: list[tuple[str, str, str]]) -> list[dict[str, Any]]:
    records: dict[str, dict[str, Any]] = {}
    for rid, r in regions.items():
        if "attrs" in r:
            rec = {"kind": r["attrs"]["kind"], "text": r["text"], "start": r["start"], "end": r["end"]}
            rec.update({k: r["attrs"][k] for k in ATTRS if k != "kind"})
            rec.update({f: None for f in SPAN_LABELS})
            records[rid] = rec
    for src, dst, field in relations:
        s = regions[dst]
        records[src][field] = {"text": s["text"], "start": s["start"], "end": s["end"]}
    order = ("kind", "text", "start", "end", "value", "unit", "normalized", "approx", "upper", "role",
             "direction", "metric", "action", "period", "baseline")
    return [{k: rec[k] for k in order} for rec in sorted(records.values(), key=lambda r: (r["start"], r["end"]))]


def from_labelstudio(tasks: list[dict[str, Any]]) -> list[dict[str, Any]]:
    docs = []
    for task in tasks:
        result = task["annotations"][0]["result"] if task.get("annotations") else []
        regions: dict[str, dict[str, Any]] = {}
        relations: list[tuple[str, str, str]] = []
        for item in result:
            if item.get("type") == "relation":
                relations.append((item["from_id"], item["to_id"], (item.get("labels") or ["metric"])[0]))
                continue
            v = item["value"]
            region = {"start": v["start"], "end": v["end"], "text": v["text"], "label": v["labels"][0]}
            if item.get("meta", {}).get("record"):
                region["attrs"] = item["meta"]["record"]
            regions[item["id"]] = region
        docs.append(_doc_out(task["data"], task["data"]["text"], _records_from(regions, relations)))
    return docs


def to_doccano(docs: list[AnnotatedDoc]) -> list[dict[str, Any]]:
    out = []
    for doc in docs:
        regions, span_ids = _spans(doc)
        ids = {r["id"]: n for n, r in enumerate(regions, 1)}
        out.append({
            "text": doc.text,
            "entities": [{"id": ids[r["id"]], "label": r["label"], "start_offset": r["start"], "end_offset": r["end"]}
                         for r in regions],
            "relations": [{"id": n, "from_id": ids[s], "to_id": ids[d], "type": f}
                          for n, (s, d, f) in enumerate(_relations(doc, span_ids), 1)],
            "govmetrics": {**_doc_meta(doc), "records": {str(ids[r["id"]]): r["attrs"] for r in regions if "attrs" in r}},
        })
    return out


def from_doccano(lines: list[dict[str, Any]]) -> list[dict[str, Any]]:
    docs = []
    for line in lines:
        text = line["text"]
        meta = line.get("govmetrics", {})
        attrs = meta.get("records", {})
        regions = {str(e["id"]): {"start": e["start_offset"], "end": e["end_offset"], "label": e["label"],
                                  "text": text[e["start_offset"]:e["end_offset"]],
                                  **({"attrs": attrs[str(e["id"])]} if str(e["id"]) in attrs else {})}
                   for e in line["entities"]}
        relations = [(str(r["from_id"]), str(r["to_id"]), r["type"]) for r in line.get("relations", [])]
        docs.append(_doc_out(meta, text, _records_from(regions, relations)))
    return docs


def _doc_out(meta: dict[str, Any], text: str, records: list[dict[str, Any]]) -> dict[str, Any]:
    """An annotation line: real documents stay stand-off, authored ones carry their text."""
    gm = meta.get("govmetrics", meta)
    out = {k: gm[k] for k in DOC_FIELDS if k in gm}
    if "source" not in out:
        out["text"] = text
    out["records"] = records
    return out


def export(docs: list[AnnotatedDoc], fmt: str, path: Path) -> None:
    if fmt == "labelstudio":
        path.write_text(json.dumps(to_labelstudio(docs), ensure_ascii=False, indent=1), encoding="utf-8")
    else:
        path.write_text("".join(json.dumps(d, ensure_ascii=False) + "\n" for d in to_doccano(docs)), encoding="utf-8")


def import_(fmt: str, path: Path) -> list[dict[str, Any]]:
    raw = path.read_text(encoding="utf-8")
    if fmt == "labelstudio":
        return from_labelstudio(json.loads(raw))
    return from_doccano([json.loads(line) for line in raw.splitlines() if line.strip()])
