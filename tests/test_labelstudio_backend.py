"""The Label Studio ML backend under /labelstudio, spoken to as Label Studio does (over HTTP)."""
from __future__ import annotations

import httpx

from govmetrics.labelstudio import records_from_regions, regions_from_result

TEXT = "2023年，全县共发放助学金120万元，资助学生600人，同比增长12.5%。"


def test_health_and_setup(api_server):
    health = httpx.get(f"{api_server.url}/labelstudio/health", timeout=30).json()
    assert health["status"] == "UP" and health["model_version"].startswith("govmetrics-zh-v1")
    setup = httpx.post(f"{api_server.url}/labelstudio/setup", json={"project": "1.1", "schema": "<View/>"}, timeout=30)
    assert setup.status_code == 200 and setup.json()["model_version"] == health["model_version"]


def test_predict_gives_scored_regions_in_the_config_s_names_and_a_task_score(api_server):
    tasks = [{"id": 1, "data": {"text": TEXT}}, {"id": 2, "data": {}}]
    r = httpx.post(f"{api_server.url}/labelstudio/predict", json={"tasks": tasks}, timeout=120)
    assert r.status_code == 200, r.text
    first, empty = r.json()["results"]
    assert empty == {"result": [], "score": None, "model_version": first["model_version"]}
    regions = [i for i in first["result"] if i["type"] == "labels" and i["value"]["labels"][0] in ("amount", "count", "percent")]
    assert {i["value"]["text"] for i in regions} >= {"120万元", "600人", "12.5%"}
    assert first["score"] == min(i["score"] for i in regions)
    assert {i["from_name"] for i in first["result"] if i["type"] == "choices"} <= {"role", "direction", "approx"}
    # what the backend predicts reads back into the same records (the labeller's starting point)
    parsed, relations = regions_from_result(first["result"])
    records = records_from_regions(TEXT, parsed, relations, lambda: {})
    assert [r["text"] for r in records] == sorted((i["value"]["text"] for i in regions), key=TEXT.index)


def test_webhook_acknowledges_events(api_server):
    r = httpx.post(f"{api_server.url}/labelstudio/webhook", json={"action": "ANNOTATION_CREATED"}, timeout=30)
    assert r.status_code == 201 and r.json()["action"] == "ANNOTATION_CREATED"
