"""Choosing what to label: least sure passages first, at most a few per document, no near-duplicates."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from conftest import ROOT
from govmetrics_training.suggest import Passage, choose, passages


def test_passages_are_whole_lines_covering_the_text():
    text = "".join(f"第{i}行，开展检查{i}次。\n" for i in range(200))
    parts = passages(text, "d", max_chars=300)
    assert len(parts) > 5 and all(len(p.text) <= 300 for p in parts)
    assert "".join(p.text for p in parts) == text
    assert all(text[p.start:p.start + len(p.text)] == p.text and p.text.endswith("\n") for p in parts)


def test_choose_prefers_the_least_sure_and_keeps_the_batch_diverse():
    repetitive = [Passage("long-report", i, 0, "全年开展安全检查45次，发放宣传资料3000余份。" * 5, score=0.10 + i / 1000)
                  for i in range(10)]
    others = [Passage(f"doc{i}", 0, 0, f"第{i}篇：受理群众来信{i * 7}件，办结率{90 + i}%，新建公厕{i}座。", score=0.30 + i / 100)
              for i in range(5)]
    unscored = [Passage("empty", 0, 0, "没有数字的段落。", score=None)]
    picked = choose(repetitive + others + unscored, n=4, per_doc=2)
    assert [p.doc for p in picked] == ["long-report", "doc0", "doc1", "doc2"]  # the repeats of one report are left out
    assert all(p.score is not None for p in picked)
    two_per_doc = choose([Passage("a", i, 0, f"内容{i}" * 30 + str(i), score=i / 10) for i in range(5)], n=5, per_doc=2)
    assert len(two_per_doc) == 2


def test_suggest_writes_label_studio_tasks_with_predictions(tmp_path: Path):
    folder = tmp_path / "reports"
    folder.mkdir()
    (folder / "a.txt").write_text("今年来侦破电信诈骗案件30起，抓获犯罪嫌疑人83人。\n全年发放宣传资料3000余份。\n", encoding="utf-8")
    (folder / "b.txt").write_text("2023年收入总计5028.61万元，比上年减少761.39万元，下降13.15%。\n", encoding="utf-8")
    out = tmp_path / "tasks.json"
    p = subprocess.run([sys.executable, "-m", "govmetrics.cli", "annotations", "suggest", str(folder), "--n", "5",
                        "--out", str(out)], cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert p.returncode == 0, p.stderr
    tasks = json.loads(out.read_text(encoding="utf-8"))
    assert {t["data"]["doc"] for t in tasks} == {"a-p0", "b-p0"}
    scores = [t["predictions"][0]["score"] for t in tasks]
    assert scores == sorted(scores) and all(0 <= s <= 1 for s in scores)
    for task in tasks:
        text = task["data"]["text"]
        for item in task["predictions"][0]["result"]:
            if item["type"] == "labels":
                assert text[item["value"]["start"]:item["value"]["end"]] == item["value"]["text"]
