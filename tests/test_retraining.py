"""The retraining loop: staged training, --init, the promotion gate and rollback (README: Retraining)."""
from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import pytest

from govmetrics.errors import GovMetricsError
from govmetrics.model.registry import SHIPPED_MODEL, Registry

ROOT = Path(__file__).resolve().parent.parent
SHIPPED = ROOT / "models" / SHIPPED_MODEL
# Two small real test documents: a budget disclosure and a national work report region.
GATE_DOCS = {"2026_单位预算_上海市普陀区司法局", "2013_国务院政府工作报告"}


def _digest(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())}


def _tiny_train(tmp: Path, out: Path, *extra: str) -> int:
    from test_model import _tiny_base
    from govmetrics_training.train import main as train_main

    base = tmp / "base" if (tmp / "base").is_dir() else _tiny_base(tmp)
    return train_main(["--base", str(base), "--out", str(out), "--epochs", "1", "--layers", "1",
                       "--limit-docs", "2", "--seed", "7", *extra])


def test_training_refuses_an_existing_model_folder_and_leaves_it_byte_identical(tmp_path: Path):
    from govmetrics_training.train import main as train_main

    before = _digest(SHIPPED)
    with pytest.raises(GovMetricsError) as err:
        train_main(["--out", str(SHIPPED), "--epochs", "1"])
    assert err.value.code == "E035"
    assert _digest(SHIPPED) == before


def test_an_interrupted_training_run_leaves_nothing_that_loads(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    import govmetrics_training.train as train

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(train, "train_model", interrupted)
    before = _digest(SHIPPED)
    out = tmp_path / "models" / "new"
    with pytest.raises(KeyboardInterrupt):  # Ctrl-C while continuing from the shipped model
        _tiny_train(tmp_path, out, "--init", str(SHIPPED))
    assert not out.exists()
    assert list((tmp_path / "models").iterdir()) == []  # the staging folder is gone too
    assert _digest(SHIPPED) == before


def test_training_writes_metrics_with_dev_scores_per_epoch_and_continues_from_a_model(tmp_path: Path):
    first = tmp_path / "m1"
    assert _tiny_train(tmp_path, first) == 0
    metrics = json.loads((first / "metrics.json").read_text())
    assert [e["epoch"] for e in metrics["epochs"]] == [1]
    assert "all" in metrics["epochs"][0]["dev_record_f1"] and "all" in metrics["dev"]
    second = tmp_path / "m2"
    assert _tiny_train(tmp_path, second, "--init", str(first)) == 0
    assert (second / "tokenizer.json").read_bytes() == (first / "tokenizer.json").read_bytes()
    assert json.loads((second / "config.json").read_text())["name"] == "m2"
    assert (second / "weights.int8.safetensors").read_bytes() != (first / "weights.int8.safetensors").read_bytes()


def _report(f1: float, ece: float | None, genres: dict[str, float]) -> dict:
    out = {"all": {"record": {"f1": f1}, "ece": ece, "gold": 10}}
    out.update({f"genre={g}": {"record": {"f1": v}, "ece": ece, "gold": 5} for g, v in genres.items()})
    return out


def test_the_gate_rules():
    from govmetrics_training.promote import gate

    current = _report(0.90, 0.03, {"budget": 0.95, "news": 0.80})
    assert gate(current, _report(0.90, 0.04, {"budget": 0.945, "news": 0.81})) == []
    assert "lower" in gate(current, _report(0.899, 0.03, {"budget": 0.95, "news": 0.80}))[0]
    assert "news" in gate(current, _report(0.91, 0.03, {"budget": 0.99, "news": 0.78}))[0]
    assert "ECE" in gate(current, _report(0.95, 0.06, {"budget": 0.99, "news": 0.90}))[0]


def test_promote_refuses_a_worse_model_accepts_an_equal_one_and_rollback_restores(tmp_path: Path):
    from govmetrics.settings import Settings
    from govmetrics_training.promote import promote, rollback

    models = tmp_path / "models"
    shutil.copytree(SHIPPED, models / SHIPPED_MODEL)
    worse = models / "worse"
    shutil.copytree(SHIPPED, worse)
    calib = json.loads((worse / "calibration.json").read_text())
    calib["bias"] += 8.0  # every record near certain: the confidence lies
    (worse / "calibration.json").write_text(json.dumps(calib))
    assert promote(worse, ids=GATE_DOCS, models_dir=models) == 1
    assert Registry.load(models).default == SHIPPED_MODEL

    same = models / "same"
    shutil.copytree(SHIPPED, same)
    assert promote(same, ids=GATE_DOCS, models_dir=models) == 0
    registry = Registry.load(models)
    assert registry.default == "same" and registry.previous == [SHIPPED_MODEL]
    assert registry.history[-1]["forced"] is False

    assert promote(worse, force=True, ids=GATE_DOCS, models_dir=models) == 0
    assert Registry.load(models).history[-1]["forced"] is True
    assert rollback(models) == 0 and Registry.load(models).default == "same"
    assert rollback(models) == 0 and Registry.load(models).default == SHIPPED_MODEL
    with pytest.raises(GovMetricsError):
        rollback(models)
    # The real default follows the checkout's registry, which this test never wrote.
    assert Settings().model.endswith(SHIPPED_MODEL) or "GOVMETRICS_MODEL" in __import__("os").environ


@pytest.mark.parametrize("stop", ["SIGINT", "SIGTERM"])
def test_stopping_govmetrics_train_leaves_nothing_and_the_shipped_model_byte_identical(tmp_path: Path, stop: str):
    import signal
    import subprocess
    import sys
    import time

    before = _digest(SHIPPED)
    out = tmp_path / "models" / "interrupted"
    proc = subprocess.Popen([sys.executable, "-m", "govmetrics.cli", "train", "--init", str(SHIPPED), "--out", str(out),
                             "--epochs", "3", "--limit-docs", "4"], cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    lines = []
    deadline = time.monotonic() + 600
    assert proc.stdout is not None
    for line in proc.stdout:  # wait until the weights are being trained, then press Ctrl-C
        lines.append(line)
        if line.startswith("device:") or time.monotonic() > deadline:
            break
    time.sleep(1)
    proc.send_signal(getattr(signal, stop))
    rest, _ = proc.communicate(timeout=120)
    assert proc.returncode == 130, "".join(lines) + rest
    assert "interrupted" in rest and "Traceback" not in rest
    assert not out.exists() and list(out.parent.iterdir()) == []
    assert _digest(SHIPPED) == before
