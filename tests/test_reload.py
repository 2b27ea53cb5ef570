"""Hot reload: a promoted model is picked up by the running service without a restart."""
from __future__ import annotations

import json
import os
import shutil
import signal
import threading
import time
from pathlib import Path

import httpx

from conftest import ROOT
from service_server import ServiceProcess

TOKEN = "a-token-for-this-test"
TEXT = "全年开展安全检查45次，发放宣传资料3000余份，同比增长12.5%。"


def _models(tmp_path: Path) -> Path:
    models = tmp_path / "models"
    shutil.copytree(ROOT / "models" / "govmetrics-zh-v1", models / "govmetrics-zh-v1")
    return models


def _new_default(models: Path, name: str, version: str) -> None:
    """What `govmetrics promote` leaves behind: a model folder and the registry naming it."""
    shutil.copytree(models / "govmetrics-zh-v1", models / name)
    config = json.loads((models / name / "config.json").read_text())
    config.update(name=name, version=version)
    (models / name / "config.json").write_text(json.dumps(config))
    (models / "registry.json").write_text(json.dumps({"default": name, "previous": ["govmetrics-zh-v1"]}))


def test_reload_under_eight_concurrent_clients_gives_no_errors(tmp_path: Path):
    models = _models(tmp_path)
    env = {"GOVMETRICS_MODELS_DIR": str(models), "GOVMETRICS_ADMIN_TOKEN": TOKEN, "GOVMETRICS_MODEL": ""}
    with ServiceProcess.running(env=env) as service:
        assert httpx.get(f"{service.url}/v1/model").json()["version"] == "1.0.0"
        statuses: list[int] = []
        versions: set[str] = set()
        stop = threading.Event()

        def client() -> None:
            with httpx.Client(timeout=120) as http:
                for _ in range(200):  # bounded; stopped earlier once the reloads are done
                    if stop.is_set():
                        return
                    r = http.post(f"{service.url}/v1/extract", json={"text": TEXT})
                    statuses.append(r.status_code)
                    if r.status_code == 200:
                        versions.add(r.json()["model"]["version"])

        threads = [threading.Thread(target=client) for _ in range(8)]
        for t in threads:
            t.start()
        time.sleep(2)
        _new_default(models, "govmetrics-zh-next", "2.0.0")
        reload = httpx.post(f"{service.url}/admin/reload", headers={"Authorization": f"Bearer {TOKEN}"}, timeout=300)
        assert reload.status_code == 200, reload.text
        assert reload.json()["version"] == "2.0.0"
        time.sleep(2)
        stop.set()
        for t in threads:
            t.join(300)
        assert statuses and set(statuses) == {200}, sorted(set(statuses))
        assert versions == {"1.0.0", "2.0.0"}  # requests before the swap on the old model, after it on the new
        assert httpx.get(f"{service.url}/v1/model").json()["name"] == "govmetrics-zh-next"


def test_a_failed_reload_keeps_the_old_model_and_says_why(tmp_path: Path):
    models = _models(tmp_path)
    env = {"GOVMETRICS_MODELS_DIR": str(models), "GOVMETRICS_ADMIN_TOKEN": TOKEN, "GOVMETRICS_MODEL": ""}
    with ServiceProcess.running(env=env) as service:
        assert httpx.post(f"{service.url}/admin/reload").status_code == 401
        assert httpx.post(f"{service.url}/admin/reload", headers={"Authorization": "Bearer wrong"}).status_code == 401
        (models / "registry.json").write_text(json.dumps({"default": "no-such-model"}))
        r = httpx.post(f"{service.url}/admin/reload", headers={"Authorization": f"Bearer {TOKEN}"}, timeout=120)
        assert r.status_code == 409 and r.json()["error"]["code"] == "E081"
        assert "no-such-model" in r.json()["error"]["message"] and "govmetrics-zh-v1" in r.json()["error"]["message"]
        assert httpx.get(f"{service.url}/v1/model").json()["name"] == "govmetrics-zh-v1"
        assert httpx.post(f"{service.url}/v1/extract", json={"text": TEXT}, timeout=120).status_code == 200


def test_sighup_reloads_and_admin_is_off_without_a_token(tmp_path: Path):
    models = _models(tmp_path)
    env = {"GOVMETRICS_MODELS_DIR": str(models), "GOVMETRICS_MODEL": "", "GOVMETRICS_ADMIN_TOKEN": ""}
    with ServiceProcess.running(env=env) as service:
        assert httpx.post(f"{service.url}/admin/reload", headers={"Authorization": "Bearer x"}).status_code == 404
        _new_default(models, "govmetrics-zh-hup", "3.0.0")
        os.kill(service.process.pid, signal.SIGHUP)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if httpx.get(f"{service.url}/v1/model").json()["version"] == "3.0.0":
                break
            time.sleep(0.5)
        assert httpx.get(f"{service.url}/v1/model").json()["name"] == "govmetrics-zh-hup"
