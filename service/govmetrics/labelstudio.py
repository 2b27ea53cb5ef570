"""Records as Label Studio results and back, for annotations/labelstudio_config.xml.

One format, used by the ML backend (`/labelstudio/predict`: pre-annotations with
scores) and by `govmetrics annotations export|import` (training side):

- a quantity is a `labels` region named after its kind (`amount`, `count`, …), with
  per-region `choices` results `role`, `direction` and `approx` under the same id,
  and its parsed value in the region's `meta.record` (value, unit, normalized, upper,
  and the text they were parsed from);
- metric, action, period and baseline are `labels` regions METRIC, ACTION, PERIOD,
  BASELINE, linked from their quantity by a relation named after the field.

Reading results back (`records_from_regions`) accepts everything a labeller can do
in that config: new regions (parsed by the quantity grammar), deleted and resized
regions, changed labels and choices, relations drawn either way. What cannot be
read is a `RegionError` naming the region and the cause, never a silent drop.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from govmetrics.grammar.quantities import Quantity
from govmetrics.grammar.vocabulary import APPROX, DIRECTIONS, KINDS, ROLES, SPAN_FIELDS

SPAN_LABELS: dict[str, str] = {f: f.upper() for f in SPAN_FIELDS}
FIELD_OF_LABEL: dict[str, str] = {v: k for k, v in SPAN_LABELS.items()}
CHOICE_NAMES = ("role", "direction", "approx")
CHOICE_VALUES: dict[str, tuple[str, ...]] = {"role": ROLES, "direction": DIRECTIONS, "approx": APPROX}
CHANGE_ROLES = ("change", "change_rate")
QUANTITY_META = ("value", "unit", "normalized", "upper")
RECORD_ORDER = ("kind", "text", "start", "end", "value", "unit", "normalized", "approx", "upper", "role",
                "direction", "metric", "action", "period", "baseline")
# The names of annotations/labelstudio_config.xml.
FROM_NAME, TO_NAME = "label", "text"


class RegionError(ValueError):
    """A region (or relation) that cannot become part of a record; `region` is its id."""

    def __init__(self, region: str, cause: str) -> None:
        super().__init__(f"region {region}: {cause}")
        self.region = region
        self.cause = cause


@dataclass
class Region:
    """A labelled span as a labeller left it, with the per-region choices and our meta if any."""

    id: str
    start: int
    end: int
    label: str
    choices: dict[str, str | None] = field(default_factory=dict)
    meta: Mapping[str, Any] | None = None
    written: str | None = None  # the text the tool showed, to catch offsets counted another way


def _span_item(rid: str, start: int, end: int, text: str, label: str) -> dict[str, Any]:
    return {"id": rid, "from_name": FROM_NAME, "to_name": TO_NAME, "type": "labels",
            "value": {"start": start, "end": end, "text": text, "labels": [label]}}


def to_result(records: Iterable[Mapping[str, Any]], with_scores: bool = False) -> list[dict[str, Any]]:
    """Label Studio result items for records in RECORDS.md JSON (a `score` per quantity region when asked)."""
    items: list[dict[str, Any]] = []
    links: list[dict[str, Any]] = []
    span_ids: dict[tuple[int, int, str], str] = {}
    for i, rec in enumerate(records):
        qid = f"q{i}"
        item = _span_item(qid, rec["start"], rec["end"], rec["text"], rec["kind"])
        item["meta"] = {"record": {"text": rec["text"], **{k: rec[k] for k in QUANTITY_META}}}
        if with_scores and rec.get("confidence") is not None:
            item["score"] = rec["confidence"]
        items.append(item)
        for name in CHOICE_NAMES:
            if rec[name] is not None:
                items.append({"id": qid, "from_name": name, "to_name": TO_NAME, "type": "choices",
                              "value": {"start": rec["start"], "end": rec["end"], "text": rec["text"],
                                        "choices": [rec[name]]}})
        for fld, label in SPAN_LABELS.items():
            span = rec.get(fld)
            if not span:
                continue
            key = (span["start"], span["end"], label)
            if key not in span_ids:
                span_ids[key] = f"s{len(span_ids)}"
                items.append(_span_item(span_ids[key], span["start"], span["end"], span["text"], label))
            links.append({"type": "relation", "from_id": qid, "to_id": span_ids[key], "direction": "right",
                          "labels": [fld]})
    return items + links


def records_from_regions(text: str, regions: Mapping[str, Region], relations: Iterable[tuple[str, str, str | None]],
                         quantities: Callable[[], Mapping[tuple[int, int], Quantity]]) -> list[dict[str, Any]]:
    """Records (RECORDS.md JSON, no confidence) from labelled regions and relations; RegionError otherwise.

    `quantities()` gives the grammar's figures of `text` by (start, end); it is called only when
    a quantity region has no up-to-date meta (a new or resized region)."""
    records: dict[str, dict[str, Any]] = {}
    for region in regions.values():
        if not (isinstance(region.start, int) and isinstance(region.end, int) and 0 <= region.start < region.end <= len(text)):
            raise RegionError(region.id, f"offsets {region.start}..{region.end} outside the text")
        if region.written is not None and text[region.start:region.end] != region.written:
            raise RegionError(region.id, f"its text {region.written!r} is not the document's "
                                         f"{text[region.start:region.end]!r} at {region.start}..{region.end}")
        for name, value in region.choices.items():
            if value is not None and value not in CHOICE_VALUES[name]:
                raise RegionError(region.id, f"{name} {value!r} is not one of {CHOICE_VALUES[name]}")
        if region.label in KINDS:
            records[region.id] = _quantity_record(text, region, quantities)
        elif region.label not in FIELD_OF_LABEL:
            raise RegionError(region.id, f"unknown label {region.label!r}")
        elif region.choices:
            raise RegionError(region.id, f"{region.label} spans take no {', '.join(region.choices)}")
    linked: set[str] = set()
    for a, b, label in relations:
        if a not in regions or b not in regions:
            raise RegionError(a if a not in regions else b, "a relation points to a region that does not exist")
        quantity, span = (a, b) if a in records else (b, a)
        if quantity not in records or span in records:
            raise RegionError(a, "a relation must link one quantity and one METRIC/ACTION/PERIOD/BASELINE span")
        fld = FIELD_OF_LABEL[regions[span].label]
        if label is not None and label != fld:
            raise RegionError(span, f"a {regions[span].label} span linked by a {label!r} relation")
        s = regions[span]
        value = {"text": text[s.start:s.end], "start": s.start, "end": s.end}
        if records[quantity][fld] is not None and records[quantity][fld] != value:
            raise RegionError(quantity, f"two {fld} spans linked to one quantity")
        records[quantity][fld] = value
        linked.add(span)
    for region in regions.values():
        if region.label in FIELD_OF_LABEL and region.id not in linked:
            raise RegionError(region.id, f"{region.label} span {text[region.start:region.end]!r} is linked to no quantity")
    return [{k: r[k] for k in RECORD_ORDER} for r in sorted(records.values(), key=lambda r: (r["start"], r["end"]))]


def _quantity_record(text: str, region: Region, quantities: Callable[[], Mapping[tuple[int, int], Quantity]]) -> dict[str, Any]:
    written = text[region.start:region.end]
    meta = dict(region.meta or {})
    if meta and meta.get("text", written) == written:
        parsed = {k: meta[k] for k in QUANTITY_META}
        approx = meta.get("approx")
    else:  # a new or resized region: the grammar reads it, exactly as for extraction
        q = quantities().get((region.start, region.end))
        if q is None:
            raise RegionError(region.id, f"{written!r} is not one figure the quantity grammar reads; "
                                         "select the whole figure with its unit (RECORDS.md)")
        if q.kind != region.label:
            raise RegionError(region.id, f"{written!r} is labelled {region.label} but reads as {q.kind}")
        parsed = {"value": q.value, "unit": q.unit, "normalized": q.normalized(), "upper": q.upper}
        approx = q.approx
    role = region.choices.get("role") or meta.get("role") or "value"
    direction = region.choices.get("direction", meta.get("direction"))
    if role not in CHANGE_ROLES:
        direction = None  # a direction left selected after the role changed means nothing
    elif direction is None:
        raise RegionError(region.id, f"{written!r} has role {role} but no direction")
    return {"kind": region.label, "text": written, "start": region.start, "end": region.end, **parsed,
            "approx": region.choices.get("approx") or approx or "exact", "role": role, "direction": direction,
            **{f: None for f in SPAN_FIELDS}}


def regions_from_result(items: Iterable[Mapping[str, Any]]) -> tuple[dict[str, Region], list[tuple[str, str, str | None]]]:
    """Label Studio result items as regions (labels + per-region choices) and relations."""
    regions: dict[str, Region] = {}
    choices: dict[str, dict[str, str | None]] = {}
    relations: list[tuple[str, str, str | None]] = []
    for item in items:
        kind = item.get("type")
        rid = str(item.get("id"))
        value = item.get("value") or {}
        if kind == "relation":
            labels = item.get("labels") or []
            relations.append((str(item.get("from_id")), str(item.get("to_id")), labels[0] if labels else None))
        elif kind == "labels":
            labels = value.get("labels") or []
            if len(labels) != 1:
                raise RegionError(rid, f"needs exactly one label, has {labels}")
            meta = (item.get("meta") or {}).get("record")
            regions[rid] = Region(rid, value.get("start"), value.get("end"), labels[0], meta=meta,
                                  written=value.get("text"))
        elif kind == "choices":
            name = item.get("from_name")
            if name not in CHOICE_NAMES:
                raise RegionError(rid, f"unknown choices {name!r} (expected {CHOICE_NAMES})")
            picked = value.get("choices") or []
            if len(picked) > 1:
                raise RegionError(rid, f"{name}: one choice only, not {picked}")
            choices.setdefault(rid, {})[name] = picked[0] if picked else None
        else:
            raise RegionError(rid, f"result type {kind!r} ({item.get('from_name')}) is not in the labelling config")
    for rid, picked in choices.items():
        if rid not in regions:
            raise RegionError(rid, "choices for a region that does not exist")
        regions[rid].choices = picked
    return regions, relations
