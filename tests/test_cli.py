"""The CLI as a user runs it: a real subprocess, real files, exit codes, no tracebacks."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import ROOT, SEED


def run(*args: str, stdin: bytes | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "govmetrics.cli", *args], cwd=ROOT, input=stdin,
                          capture_output=True, timeout=300)


def test_extract_jsonl_and_bad_files(tmp_path: Path):
    good = tmp_path / "报告.txt"
    good.write_bytes("今年来侦破电信诈骗案件30起，抓获犯罪嫌疑人83人。".encode("gb18030"))
    empty = tmp_path / "empty.txt"
    empty.write_bytes(b"")
    fake = tmp_path / "fake.pdf"
    fake.write_bytes(b"hello")
    p = run("extract", str(empty), str(good), str(fake), "--format", "jsonl")
    assert p.returncode == 1
    err = p.stderr.decode()
    assert "Traceback" not in err
    assert "empty.txt: file is empty" in err and "fake.pdf: not a PDF" in err
    lines = [json.loads(line) for line in p.stdout.decode().splitlines()]
    assert [d["doc"] for d in lines] == ["报告"]
    recs = lines[0]["records"]
    assert [(r["text"], r["kind"], r["normalized"]["value"]) for r in recs] == [("30起", "count", "30"), ("83人", "count", "83")]
    assert recs[0]["action"]["text"] == "侦破" and recs[0]["metric"]["text"] == "电信诈骗案件"
    assert recs[1]["action"]["text"] == "抓获" and recs[1]["metric"]["text"] == "犯罪嫌疑人"


def test_extract_seed_json_offsets(seed_text: str):
    p = run("extract", str(SEED), "--format", "json")
    assert p.returncode == 0, p.stderr.decode()
    docs = json.loads(p.stdout)
    assert docs[0]["doc"] == SEED.stem
    records = docs[0]["records"]
    assert len(records) > 150
    for r in records:
        assert seed_text[r["start"]:r["end"]] == r["text"]
        for key in ("metric", "action", "period", "baseline"):
            if r[key]:
                assert seed_text[r[key]["start"]:r[key]["end"]] == r[key]["text"]
        assert 0.0 <= r["confidence"] <= 1.0  # the shipped model's calibrated confidence


def test_extract_with_the_rule_baseline_and_min_confidence(tmp_path: Path):
    good = tmp_path / "报告.txt"
    good.write_text("今年来侦破电信诈骗案件30起，抓获犯罪嫌疑人83人。", encoding="utf-8")
    p = run("extract", str(good), "--model", "rules")
    assert p.returncode == 0, p.stderr.decode()
    assert all(r["confidence"] is None for r in json.loads(p.stdout)["records"])  # rules claim no probability
    p = run("extract", str(good), "--min-confidence", "1.01")
    assert p.returncode == 0 and json.loads(p.stdout)["records"] == []
    assert "records below --min-confidence left out" in p.stderr.decode()
    p = run("extract", str(good), "--model", str(tmp_path / "no-such-model"))
    assert p.returncode == 2 and "Traceback" not in p.stderr.decode() and "no-such-model" in p.stderr.decode()


def test_extract_stdin_and_table():
    p = run("extract", "-", "--format", "table", stdin="公务接待费支出预算为30万元，支出决算为4.34万元，完成预算的14.57%。".encode())
    assert p.returncode == 0, p.stderr.decode()
    out = p.stdout.decode()
    assert "文档：stdin" in out and "完成率" in out and "300000" in out


def test_stdin_empty_is_an_error():
    p = run("extract", "-", stdin=b"")
    assert p.returncode == 1 and "stdin: file is empty" in p.stderr.decode()


def test_train_without_its_inputs_is_one_line(tmp_path: Path):
    p = run("train", "--out", str(tmp_path / "m"), "--base", str(tmp_path / "no-base"))
    assert p.returncode == 2 and "Traceback" not in p.stderr.decode() and "make base" in p.stderr.decode()
    p = run("train", "--out", str(tmp_path / "new"), "--init", str(tmp_path / "no-model"), "--recalibrate")
    assert p.returncode == 2 and "Traceback" not in p.stderr.decode() and "no-model" in p.stderr.decode()
    p = run("train", "--out", str(tmp_path / "new"), "--recalibrate")
    assert p.returncode == 2 and "Traceback" not in p.stderr.decode() and "--init" in p.stderr.decode()
    p = run("train", "--out", "models/govmetrics-zh-v1")
    assert p.returncode == 2 and "already exists" in p.stderr.decode()


@pytest.mark.parametrize("command,env", [
    (["extract", "-"], {"GOVMETRICS_MAX_BYTES": "20MB"}),
    (["extract", "-"], {"GOVMETRICS_MIN_CONFIDENCE": "high"}),
    (["extract", "-"], {"GOVMETRICS_MAX_CHARS": "-5"}),
    (["annotate", "-", "--out", "unused.db"], {"GOVMETRICS_DOC_TIMEOUT": "soon"}),
])
def test_a_bad_environment_value_is_one_line(command, env, tmp_path):
    p = subprocess.run([sys.executable, "-m", "govmetrics.cli", *command], cwd=tmp_path, input="收入总计5028.61万元。".encode(),
                       capture_output=True, timeout=300, env={**os.environ, **env, "PYTHONPATH": str(ROOT)})
    err = p.stderr.decode()
    name = next(iter(env))
    assert p.returncode == 2 and "Traceback" not in err, err
    assert f"{name}={env[name]!r} in the environment is not" in err
