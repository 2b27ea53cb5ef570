"""The Label Studio ML backend, under /labelstudio: a user enters `http://HOST:PORT/labelstudio`
as the backend URL of a project labelled with annotations/labelstudio_config.xml.

Label Studio appends `health`, `setup`, `predict` and `webhook` to that URL (the
conventions of label_studio_ml/api.py). Predictions are the records of the model in
service, as govmetrics.labelstudio writes them: a `score` per quantity region (its
calibrated confidence) and a task score, the document's least confident record, so
that the Data Manager sorts the tasks to label first to the top.
"""
from __future__ import annotations

import logging
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from govmetrics.labelstudio import to_result

log = logging.getLogger("govmetrics.labelstudio")
router = APIRouter(prefix="/labelstudio", tags=["Label Studio"])


class LabelStudioHealth(BaseModel):
    status: str = Field(examples=["UP"])
    model_class: str = "GovMetrics"
    model_version: str | None = None


class SetupRequest(BaseModel):
    model_config = ConfigDict(extra="allow")
    project: str | None = None
    schema_: str | None = Field(default=None, alias="schema")


class SetupResponse(BaseModel):
    model_version: str


class PredictRequest(BaseModel):
    model_config = ConfigDict(extra="allow")
    tasks: list[dict[str, Any]] = Field(default_factory=list)


class Prediction(BaseModel):
    result: list[dict[str, Any]]
    score: float | None = Field(description="the task's least confident record (None: no record)")
    model_version: str


class PredictResponse(BaseModel):
    results: list[Prediction]
    model_version: str


def model_version(extractor: Any) -> str:
    info = extractor.model_info
    return f"{info['name']}-{info['version']}"


def predictions(extractor: Any, tasks: list[dict[str, Any]], max_text_bytes: int) -> PredictResponse:
    """One prediction per task, in order; a task without usable text gets an empty one (logged)."""
    version = model_version(extractor)
    texts: list[tuple[int, str]] = []
    for n, task in enumerate(tasks):
        text = (task.get("data") or {}).get("text")
        if not isinstance(text, str) or not text.strip():
            log.warning("task %s: no text in data.text; empty prediction", task.get("id"))
        elif len(text.encode("utf-8", "surrogatepass")) > max_text_bytes:
            log.warning("task %s: text over %d bytes; empty prediction", task.get("id"), max_text_bytes)
        else:
            texts.append((n, text))
    results = [Prediction(result=[], score=None, model_version=version) for _ in tasks]
    extracted = extractor.extract_texts([(text, f"task-{n}") for n, text in texts])
    for (n, _), doc in zip(texts, extracted):
        records = [r.to_json() for r in doc.records]
        confidences = [r["confidence"] for r in records if r.get("confidence") is not None]
        results[n] = Prediction(result=to_result(records, with_scores=True),
                                score=min(confidences) if confidences else None, model_version=version)
    return PredictResponse(results=results, model_version=version)


def _service(request: Request) -> Any:
    return request.app.state.service


@router.get("/health", response_model=LabelStudioHealth, summary="ML backend health (Label Studio)")
@router.get("/", response_model=LabelStudioHealth, include_in_schema=False)
async def health(request: Request) -> LabelStudioHealth:
    service = _service(request)
    extractor = service.extractor
    return LabelStudioHealth(status="UP" if extractor is not None else "LOADING",
                             model_version=model_version(extractor) if extractor is not None else None)


@router.post("/setup", response_model=SetupResponse, summary="ML backend set-up (Label Studio)")
async def setup(request: Request, body: SetupRequest) -> SetupResponse:
    extractor = _service(request).require_ready()
    log.info("Label Studio project %s connected", body.project)
    return SetupResponse(model_version=model_version(extractor))


@router.post("/predict", response_model=PredictResponse, summary="pre-annotations with scores (Label Studio)")
async def predict(request: Request, body: PredictRequest) -> PredictResponse:
    service = _service(request)
    extractor = service.require_ready()
    settings = service.settings
    # the same admission, time limit and cancellation as /v1/extract
    return await service.run_limited(request, lambda: predictions(extractor, body.tasks, settings.max_text_bytes))


@router.post("/webhook", status_code=201, summary="Label Studio events (annotations, training requests)")
async def webhook(request: Request) -> JSONResponse:
    """Events are acknowledged and logged; training runs as `govmetrics train` (README: Retraining),
    never inside the service, so a labelling session cannot stall extraction."""
    try:
        event = await request.json()
    except ValueError:
        event = {}
    action = event.get("action") if isinstance(event, dict) else None
    log.info("Label Studio event %s", action)
    return JSONResponse({"status": "ok", "action": action,
                         "training": "run `govmetrics annotations import` and `govmetrics train` (README)"},
                        status_code=201)


@router.get("/metrics", include_in_schema=False)
async def metrics() -> dict[str, Any]:
    return {}
