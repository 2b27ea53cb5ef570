"""Label Studio and doccano round trips on Chinese text: not one offset may change."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from govmetrics_training.annotations import check_corpus, load_corpus, load_doc
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
