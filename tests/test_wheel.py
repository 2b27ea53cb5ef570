"""The built wheel, installed where no checkout is in sight: every module, the shipped model,
data/ and static/ are inside it, and `govmetrics extract` runs from it.

The wheel is built from a copy of the project's sources (not in the checkout, so that a stale
build/ folder cannot leak files into it) and installed without its dependencies into a fresh
venv. That venv sees the dependencies through a .pth line naming this interpreter's
site-packages: a plain path line, so the .pth files there (the checkout's editable install of
govmetrics) are not run, and the venv's own site-packages, holding the wheel, comes first.
No network is used.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

from conftest import ROOT, SEED

MODEL = ROOT / "models" / "govmetrics-zh-v1"


def _clean_env() -> dict[str, str]:
    """The environment without anything that points Python or the service at the checkout."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("PYTHON", "GOVMETRICS_")) and k != "VIRTUAL_ENV"}
    env["PYTHONNOUSERSITE"] = "1"
    return env


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    src = tmp_path_factory.mktemp("src")
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(ROOT / name, src / name)
    junk = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info", "pkuseg", "base")
    for name in ("service", "training", "models"):
        shutil.copytree(ROOT / name, src / name, ignore=junk)
    out = tmp_path_factory.mktemp("wheel")
    p = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index",
                        "--quiet", str(src), "-w", str(out)], capture_output=True, text=True, timeout=300,
                       env=_clean_env())
    assert p.returncode == 0, p.stderr[-3000:]
    wheels = list(out.glob("govmetrics-*.whl"))
    assert len(wheels) == 1, wheels
    return wheels[0]


@pytest.fixture(scope="module")
def venv(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    home = tmp_path_factory.mktemp("venv") / "env"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(home)], check=True, timeout=120,
                   env=_clean_env())
    py = home / "bin" / "python"
    site = Path(subprocess.run([str(py), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                               capture_output=True, text=True, check=True, env=_clean_env()).stdout.strip())
    # The wheel goes in first, with no PYTHONPATH: were the checkout's govmetrics 0.1.0 (editable, or
    # its egg-info on PYTHONPATH) visible, pip would take it for "already installed" and do nothing.
    p = subprocess.run([sys.executable, "-m", "pip", "--python", str(py), "install", "--no-deps", "--no-index",
                        "--quiet", str(wheel)], capture_output=True, text=True, timeout=300, env=_clean_env())
    assert p.returncode == 0, p.stderr[-3000:]
    assert (site / "govmetrics" / "__init__.py").is_file() and (home / "bin" / "govmetrics").is_file()
    deps = {sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]}
    (site / "zz_govmetrics_test_deps.pth").write_text("".join(f"{d}\n" for d in sorted(deps)))
    return home


def test_wheel_holds_every_module_and_the_shipped_model(wheel: Path):
    names = set(zipfile.ZipFile(wheel).namelist())
    expected = {f"govmetrics/{p.relative_to(ROOT / 'service' / 'govmetrics').as_posix()}"
                for p in (ROOT / "service" / "govmetrics").rglob("*")
                if p.is_file() and "__pycache__" not in p.parts}
    expected |= {f"govmetrics_training/{p.relative_to(ROOT / 'training' / 'govmetrics_training').as_posix()}"
                 for p in (ROOT / "training" / "govmetrics_training").rglob("*.py")}
    expected |= {f"govmetrics/models/govmetrics-zh-v1/{p.name}" for p in MODEL.iterdir() if p.is_file()}
    assert {"govmetrics/model/inference.py", "govmetrics/data/gov_userdict.txt", "govmetrics/static/index.html",
            "govmetrics/models/govmetrics-zh-v1/weights.int8.safetensors"} <= expected
    assert sorted(expected - names) == []
    # Only the shipped model: not the pkuseg model or the base encoder (hundreds of MB).
    assert not [n for n in names if n.startswith("govmetrics/models/") and "govmetrics-zh-v1/" not in n]
    size = zipfile.ZipFile(wheel).getinfo("govmetrics/models/govmetrics-zh-v1/weights.int8.safetensors").file_size
    assert size == (MODEL / "weights.int8.safetensors").stat().st_size


def test_installed_wheel_finds_its_own_model_and_extracts(venv: Path, tmp_path: Path):
    env = _clean_env()
    # The service's model card (/v1/model) reads the same folder: its scores come from metrics.json.
    probe = ("import json, govmetrics, govmetrics.settings as s; from govmetrics.api.app import model_card; "
             "card = model_card(None, {'name': s.DEFAULT_MODEL_NAME, 'version': '?'}); "
             "print(json.dumps({'file': govmetrics.__file__, 'models': str(s.MODELS_DIR), "
             "'model': s.get_settings().model, 'card': card.source, 'scores': card.scores is not None}))")
    p = subprocess.run([str(venv / "bin" / "python"), "-c", probe], cwd=tmp_path, env=env,
                       capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr[-3000:]
    where = json.loads(p.stdout)
    assert where["scores"]
    for key in ("file", "models", "model", "card"):
        assert Path(where[key]).resolve().is_relative_to(venv.resolve()), (key, where[key])
        assert not Path(where[key]).resolve().is_relative_to(ROOT.resolve()), (key, where[key])
    assert Path(where["model"], "weights.int8.safetensors").is_file()

    # The console script the wheel installed, run from a folder that is not the checkout.
    p = subprocess.run([str(venv / "bin" / "govmetrics"), "extract", str(SEED), "--format", "jsonl"],
                       cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stderr[-3000:]
    assert "Traceback" not in p.stderr
    docs = [json.loads(line) for line in p.stdout.splitlines()]
    assert len(docs) == 1
    records = docs[0]["records"]
    assert len(records) > 150  # the seed has 185 gold records
    assert "5028.61万元" in {r["text"] for r in records}


def test_checkout_keeps_its_models_folder(monkeypatch: pytest.MonkeyPatch):
    from govmetrics import settings

    monkeypatch.delenv("GOVMETRICS_MODEL", raising=False)
    if not Path(settings.__file__).resolve().is_relative_to(ROOT.resolve()):
        pytest.skip("govmetrics is not imported from this checkout")
    assert settings.MODELS_DIR == ROOT / "models"
    assert Path(settings.get_settings().model) == MODEL
