"""The retraining loop end to end against a real Label Studio (README: Retraining on your own reports).

Label Studio (the PyPI package, its embedded SQLite, on 127.0.0.1) gets a project with
annotations/labelstudio_config.xml, our ML backend, tasks; it fetches pre-annotations from
`govmetrics serve`; corrected annotations go in through its API and come out of its export;
`govmetrics annotations import` reads them; a model is trained from the current one on them
and the corpus, promoted through the gate, and the running service reloads it.

Label Studio lives in its own virtual environment (its pins clash with ours): `.ci/run`
installs it into .cache/labelstudio and sets GOVMETRICS_REQUIRE_LABEL_STUDIO=1, so in CI this
test fails rather than skips when it is missing. Elsewhere set GOVMETRICS_LABEL_STUDIO to the
`label-studio` executable.
"""
from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from conftest import ROOT
from service_server import ServiceProcess

LABEL_STUDIO = Path(os.environ.get("GOVMETRICS_LABEL_STUDIO", ROOT / ".cache" / "labelstudio" / "bin" / "label-studio"))
TOKEN = "5e1f" * 10  # a legacy API token, 40 hex digits, set for the test instance only
ADMIN_TOKEN = "reload-secret-for-the-test"
TEXTS = [
    "2023年，全县共发放助学金120万元，资助学生600人，同比增长12.5%。",
    "今年来侦破电信诈骗案件30起，抓获犯罪嫌疑人83人，挽回损失56.8万元。",
]
# The two test documents the promotion gate compares on (kept small: the gate runs two models).
GATE_DOCS = "2026_单位预算_上海市普陀区司法局,2013_国务院政府工作报告"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait(url: str, seconds: float, headers: dict[str, str] | None = None) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, headers=headers, timeout=5).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(2)
    raise AssertionError(f"{url} did not answer within {seconds:.0f} s")


@pytest.fixture(scope="module")
def label_studio(tmp_path_factory: pytest.TempPathFactory):
    if not LABEL_STUDIO.is_file():
        if os.environ.get("GOVMETRICS_REQUIRE_LABEL_STUDIO") == "1":
            pytest.fail(f"Label Studio not installed at {LABEL_STUDIO} (.ci/run installs it)")
        pytest.skip("Label Studio is not installed (.ci/run installs it; or set GOVMETRICS_LABEL_STUDIO)")
    data = tmp_path_factory.mktemp("label-studio")
    port = _free_port()
    env = {**os.environ, "LABEL_STUDIO_BASE_DATA_DIR": str(data), "LABEL_STUDIO_ENABLE_LEGACY_API_TOKEN": "true",
           "LABEL_STUDIO_USER_TOKEN": TOKEN, "PYTHONPATH": "",
           # our backend is on 127.0.0.1: Label Studio refuses loopback backends unless told not to
           "ML_BLOCK_LOCAL_IP": "false", "SSRF_PROTECTION_ENABLED": "false"}
    log = (data / "label-studio.log").open("wb")
    proc = subprocess.Popen([str(LABEL_STUDIO), "start", "--no-browser", "--host", "127.0.0.1", "--port", str(port),
                             "--username", "labeller@example.com", "--password", "labeller-pass-1"],
                            cwd=data, env=env, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        _wait(f"{base}/api/projects", 420, {"Authorization": f"Token {TOKEN}"})
        yield httpx.Client(base_url=base, headers={"Authorization": f"Token {TOKEN}"}, timeout=120)
    finally:
        proc.terminate()
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A models folder of its own (registry included), so the test never changes the checkout's default."""
    folder = tmp_path_factory.mktemp("models")
    shutil.copytree(ROOT / "models" / "govmetrics-zh-v1", folder / "govmetrics-zh-v1")
    return folder


def _cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "govmetrics.cli", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=1800)


def test_label_studio_loop(label_studio: httpx.Client, models: Path, tmp_path: Path):
    env = {**os.environ, "GOVMETRICS_MODELS_DIR": str(models), "GOVMETRICS_ADMIN_TOKEN": ADMIN_TOKEN}
    env.pop("GOVMETRICS_MODEL", None)
    with ServiceProcess.running(env=env) as service:
        # 1. a project with our labelling config, our ML backend, tasks
        config = (ROOT / "annotations" / "labelstudio_config.xml").read_text(encoding="utf-8")
        project = label_studio.post("/api/projects", json={"title": "GovMetrics e2e", "label_config": config})
        assert project.status_code == 201, project.text
        pid = project.json()["id"]
        backend = label_studio.post("/api/ml", json={"project": pid, "url": f"{service.url}/labelstudio",
                                                     "title": "GovMetrics"})
        assert backend.status_code == 201, backend.text
        imported = label_studio.post(f"/api/projects/{pid}/import",
                                     json=[{"text": t, "doc": f"e2e-{i}"} for i, t in enumerate(TEXTS)])
        assert imported.status_code == 201, imported.text
        tasks = label_studio.get("/api/tasks", params={"project": pid, "fields": "all"}).json()
        tasks = tasks["tasks"] if isinstance(tasks, dict) else tasks
        assert len(tasks) == len(TEXTS)

        # 2. pre-annotations: Label Studio asks our backend
        action = label_studio.post("/api/dm/actions", params={"id": "retrieve_tasks_predictions", "project": pid},
                                   json={"selectedItems": {"all": True, "excluded": []}})
        assert action.status_code == 200, action.text
        predictions = label_studio.get("/api/predictions", params={"project": pid}).json()
        by_task = {p["task"]: p for p in predictions}
        assert set(by_task) == {t["id"] for t in tasks}
        first = by_task[tasks[0]["id"]]
        assert first["model_version"].startswith("govmetrics-zh-v1")
        regions = [r for r in first["result"] if r["type"] == "labels" and r["value"]["labels"][0] == "amount"]
        assert regions and all(0 <= r["score"] <= 1 for r in regions) and first["score"] is not None

        # 3. the labeller corrects: the first task's amount becomes a target, the rest as predicted
        for task in tasks:
            result = json.loads(json.dumps(by_task[task["id"]]["result"]))
            if task["id"] == tasks[0]["id"]:
                for item in result:
                    if item["type"] == "choices" and item["from_name"] == "role" and item["value"]["text"] == "120万元":
                        item["value"]["choices"] = ["target"]
            for item in result:
                item.pop("score", None)
            done = label_studio.post(f"/api/tasks/{task['id']}/annotations", json={"result": result})
            assert done.status_code == 201, done.text

        # 4. export from Label Studio, import into annotations/
        export = label_studio.get(f"/api/projects/{pid}/export", params={"exportType": "JSON"})
        assert export.status_code == 200, export.text
        export_file = tmp_path / "export.json"
        export_file.write_text(export.text, encoding="utf-8")
        new_labels = tmp_path / "new-labels.jsonl"
        p = _cli("annotations", "import", str(export_file), "--format", "labelstudio", "--out", str(new_labels), env=env)
        assert p.returncode == 0, p.stderr
        lines = [json.loads(x) for x in new_labels.read_text(encoding="utf-8").splitlines()]
        assert {x["id"] for x in lines} == {"e2e-0", "e2e-1"} and all(x["split"] in ("train", "dev") for x in lines)
        grant = next(r for x in lines for r in x["records"] if r["text"] == "120万元")
        assert grant["role"] == "target"

        # 5. train from the current model on the new labels mixed with the corpus, then promote
        new_model = models / "govmetrics-zh-e2e"
        p = _cli("train", "--init", str(models / "govmetrics-zh-v1"), "--out", str(new_model), "--data",
                 str(new_labels), str(ROOT / "annotations" / "data"), "--epochs", "1", "--limit-docs", "3",
                 "--lr", "1e-7", "--version", "1.1.0", env=env)
        assert p.returncode == 0, p.stderr[-3000:]
        assert "epoch 1 dev record F1" in p.stdout and (new_model / "metrics.json").is_file()
        # One epoch on three documents is no better model: the gate's verdict on it is whatever the
        # scores say (tests/test_retraining.py covers refusing and accepting); --force promotes it
        # anyway and the registry records that it was forced.
        p = _cli("promote", str(new_model), "--docs", GATE_DOCS, "--force", env=env)
        assert p.returncode == 0, p.stdout + p.stderr
        assert "govmetrics-zh-v1" in p.stdout and "govmetrics-zh-e2e" in p.stdout and "budget" in p.stdout
        registry = json.loads((models / "registry.json").read_text())
        assert registry["default"] == "govmetrics-zh-e2e" and registry["previous"] == ["govmetrics-zh-v1"]

        # 6. the running service reloads it without a restart
        before = httpx.get(f"{service.url}/v1/model", timeout=30).json()
        assert before["version"] == "1.0.0"
        reload = httpx.post(f"{service.url}/admin/reload", headers={"Authorization": f"Bearer {ADMIN_TOKEN}"},
                            timeout=300)
        assert reload.status_code == 200, reload.text
        after = httpx.get(f"{service.url}/v1/model", timeout=30).json()
        assert (after["name"], after["version"]) == ("govmetrics-zh-e2e", "1.1.0")
        health = httpx.get(f"{service.url}/labelstudio/health", timeout=30).json()
        assert health["model_version"] == "govmetrics-zh-e2e-1.1.0"
