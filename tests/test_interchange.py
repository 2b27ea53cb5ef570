"""Label Studio and doccano round trips on Chinese text: not one offset may change."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from govmetrics_training.annotations import check_corpus, check_doc, load_corpus, load_doc
from govmetrics_training.interchange import from_doccano, from_labelstudio, to_doccano, to_labelstudio

from conftest import ROOT


@pytest.fixture(scope="module")
def docs():
    return load_corpus()


@pytest.mark.parametrize("there,back", [(to_labelstudio, from_labelstudio), (to_doccano, from_doccano)])
def test_round_trip_is_exact(docs, there, back):
    exported = json.loads(json.dumps(there(docs), ensure_ascii=False))
    for original, line in zip(docs, back(exported)):
        assert line["records"] == sorted(original.records, key=lambda r: (r["start"], r["end"]))
        assert line["id"] == original.id
        if original.source:
            assert line["source"] == original.source and "text" not in line
        else:
            assert line["text"] == original.text


def test_labelstudio_regions_index_the_chinese_text(docs):
    task = to_labelstudio(docs[:1])[0]
    text = task["data"]["text"]
    for item in task["annotations"][0]["result"]:
        if item.get("type") != "relation":
            v = item["value"]
            assert text[v["start"]:v["end"]] == v["text"]


def test_cli_export_import_check(tmp_path: Path):
    src = ROOT / "annotations" / "data" / "real-seed-js2017.jsonl"
    ls = tmp_path / "ls.json"
    back = tmp_path / "back.jsonl"
    run = lambda *a: subprocess.run([sys.executable, "-m", "govmetrics.cli", *a], cwd=ROOT, capture_output=True, timeout=300)
    assert run("annotations", "export", str(src), "--format", "labelstudio", "--out", str(ls)).returncode == 0
    assert run("annotations", "import", str(ls), "--format", "labelstudio", "--out", str(back)).returncode == 0
    docs, errs = check_corpus([back])
    assert errs == []
    original = {d.id: d.records for d in load_corpus([src])}
    assert {d.id: d.records for d in docs} == {k: sorted(v, key=lambda r: (r["start"], r["end"])) for k, v in original.items()}


# ------------------------------------------------------------------ edits a labeller makes
def _authored(docs):
    return next(d for d in docs if d.origin == "authored" and len(d.records) > 20)


def _pick_addable(doc):
    """A record the grammar reads exactly as the gold has it (so a labeller can add it by selecting it)."""
    from govmetrics.grammar.quantities import QuantityGrammar

    found = {(q.start, q.end): q for q in QuantityGrammar().find(doc.text)}
    for i, r in enumerate(doc.records):
        q = found.get((r["start"], r["end"]))
        if q and q.kind == r["kind"] and q.normalized() == r["normalized"] and q.approx == r["approx"] and r["metric"]:
            return i
    raise AssertionError("no addable record")


def test_labelstudio_added_deleted_and_changed_regions_import_exactly(docs):
    import copy

    doc = copy.deepcopy(_authored(docs))
    add = _pick_addable(doc)
    added = doc.records.pop(add)  # the pre-annotation lacks it: the labeller adds it by hand
    task = to_labelstudio([doc])[0]
    result = task["annotations"][0]["result"]
    # delete the first quantity: its region, its choices and its relations
    result[:] = [i for i in result if i.get("id") != "q0" and i.get("from_id") != "q0"]
    used = {i["to_id"] for i in result if i["type"] == "relation"}
    result[:] = [i for i in result if not (i["type"] == "labels" and i["id"].startswith("s") and i["id"] not in used)]
    # change the role of the second quantity to target (its direction left selected means nothing)
    for item in result:
        if item.get("id") == "q1" and item["type"] == "choices" and item["from_name"] == "role":
            item["value"]["choices"] = ["target"]
    # add the missing record as Label Studio would: new ids, the region, its role, a METRIC span and a relation drawn backwards
    m = added["metric"]
    result += [
        {"id": "Ab12Cd", "from_name": "label", "to_name": "text", "type": "labels",
         "value": {"start": added["start"], "end": added["end"], "text": added["text"], "labels": [added["kind"]]}},
        {"id": "Ab12Cd", "from_name": "role", "to_name": "text", "type": "choices",
         "value": {"start": added["start"], "end": added["end"], "choices": [added["role"]]}},
        {"id": "Zz99Yy", "from_name": "label", "to_name": "text", "type": "labels",
         "value": {"start": m["start"], "end": m["end"], "text": m["text"], "labels": ["METRIC"]}},
        {"type": "relation", "from_id": "Zz99Yy", "to_id": "Ab12Cd", "direction": "left"},
    ]
    if added["direction"]:
        result.append({"id": "Ab12Cd", "from_name": "direction", "to_name": "text", "type": "choices",
                       "value": {"start": added["start"], "end": added["end"], "choices": [added["direction"]]}})
    [line] = from_labelstudio(json.loads(json.dumps([task], ensure_ascii=False)))
    expected = copy.deepcopy(doc.records[1:])
    expected[0]["role"], expected[0]["direction"] = "target", None
    expected.append({**added, "action": None, "period": None, "baseline": None})
    key = lambda r: (r["start"], r["end"])
    assert sorted(line["records"], key=key) == sorted(expected, key=key)
    assert line["id"] == doc.id and line["text"] == doc.text


def test_a_task_labelled_from_scratch_with_inline_text():
    text = "全年开展安全检查45次，发放宣传资料3000余份，同比增长12.5%。"
    task = {"id": 7, "data": {"text": text, "doc": "新报告"}, "annotations": [{"id": 1, "result": [
        {"id": "a", "from_name": "label", "to_name": "text", "type": "labels",
         "value": {"start": 8, "end": 11, "text": "45次", "labels": ["count"]}},
        {"id": "b", "from_name": "label", "to_name": "text", "type": "labels",
         "value": {"start": 4, "end": 8, "text": "安全检查", "labels": ["METRIC"]}},
        {"type": "relation", "from_id": "a", "to_id": "b", "labels": ["metric"]},
        {"id": "c", "from_name": "label", "to_name": "text", "type": "labels",
         "value": {"start": 29, "end": 34, "text": "12.5%", "labels": ["percent"]}},
        {"id": "c", "from_name": "role", "to_name": "text", "type": "choices", "value": {"choices": ["change_rate"]}},
        {"id": "c", "from_name": "direction", "to_name": "text", "type": "choices", "value": {"choices": ["increase"]}},
    ]}]}
    [line] = from_labelstudio([task])
    assert line["id"] == "新报告" and line["text"] == text and line["origin"] == "real"
    assert line["split"] in ("train", "dev") and line["regions"] == [[0, len(text)]]
    first, second = line["records"]
    assert (first["text"], first["value"], first["normalized"], first["role"]) == ("45次", "45", {"value": "45", "unit": "次"}, "value")
    assert first["metric"] == {"text": "安全检查", "start": 4, "end": 8}
    assert (second["role"], second["direction"], second["normalized"]["unit"]) == ("change_rate", "increase", "%")
    assert check_doc(load_doc(line)) == []


@pytest.mark.parametrize("item,needle", [
    ({"id": "r1", "from_name": "label", "to_name": "text", "type": "labels",
      "value": {"start": 2, "end": 4, "text": "开展", "labels": ["count"]}}, "region r1"),
    ({"id": "r2", "from_name": "label", "to_name": "text", "type": "labels",
      "value": {"start": 4, "end": 8, "text": "安全检查", "labels": ["METRIC"]}}, "linked to no quantity"),
    ({"id": "r3", "from_name": "comment", "to_name": "text", "type": "textarea", "value": {"text": ["?"]}}, "region r3"),
])
def test_what_cannot_be_imported_names_the_task_and_region_and_nothing_is_written(tmp_path: Path, item, needle):
    text = "全年开展安全检查45次。"
    export_file = tmp_path / "ls.json"
    export_file.write_text(json.dumps([{"id": 42, "data": {"text": text}, "annotations": [{"result": [item]}]}],
                                      ensure_ascii=False), encoding="utf-8")
    out = tmp_path / "out.jsonl"
    p = subprocess.run([sys.executable, "-m", "govmetrics.cli", "annotations", "import", str(export_file),
                        "--format", "labelstudio", "--out", str(out)], cwd=ROOT, capture_output=True, timeout=120)
    err = p.stderr.decode()
    assert p.returncode == 1 and "task 42" in err and needle in err and "nothing written" in err
    assert "Traceback" not in err and not out.exists()


def test_doccano_edits_by_label_import_exactly(docs):
    import copy

    doc = copy.deepcopy(_authored(docs))
    [line] = to_doccano([doc])
    quantity = next(e for e in line["entities"] if e["label"] in ("amount", "count", "percent"))
    quantity["label"] = f"{quantity['label']}:target"
    [back] = from_doccano(json.loads(json.dumps([line], ensure_ascii=False)))
    changed = next(r for r in back["records"] if r["start"] == quantity["start_offset"])
    assert changed["role"] == "target" and changed["direction"] is None
    others = [r for r in back["records"] if r["start"] != quantity["start_offset"]]
    assert others == [r for r in sorted(doc.records, key=lambda r: (r["start"], r["end"])) if r["start"] != quantity["start_offset"]]
