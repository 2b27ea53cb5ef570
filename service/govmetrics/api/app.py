"""The REST service: `create_app(settings)` builds the FastAPI app that `govmetrics serve` runs.

Data flows one way: request → documents (text or uploaded bytes) → a job in the
bounded extraction pool → records. Handlers stay thin; every error a client can
see is `{"error": {"code", "message"}}` with a code from govmetrics/errors.py.
"""
from __future__ import annotations

import asyncio
import base64
import copy
import hashlib
import hmac
from importlib import resources
import json
import logging
import re
import signal
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, TypeVar

from fastapi import APIRouter, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.utils import get_openapi
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel, ValidationError
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import ClientDisconnect
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from govmetrics.grammar import vocabulary
from govmetrics.api.cancel import CancelToken, Cancelled, checkpoint, install_checkpoints, running_under
from govmetrics.api.labelstudio import router as labelstudio_router
from govmetrics.api.models import (
    EXAMPLE_TEXT, BatchItem, BatchRequest, BatchResponse, Check, ErrorResponse, ExtractOptions, ExtractRequest,
    ExtractResponse, Health, ModelCard, ModelInfo, RecordModel,
)
from govmetrics.errors import GovMetricsError
from govmetrics.settings import MODELS_DIR, ServiceSettings

STATIC_DIR = Path(__file__).resolve().parent.parent / "static"
# Swagger UI 5 (MIT) as shipped inside the fastapi-swagger wheel: /docs needs no CDN.
SWAGGER_ASSETS = Path(str(resources.files("fastapi_swagger") / "resources"))
log = logging.getLogger("govmetrics.service")
access_log = logging.getLogger("govmetrics.access")
T = TypeVar("T")

# One table from error code to HTTP status; codes not listed are input errors (422).
STATUS_BY_CODE: dict[str, int] = {
    "E003": 413, "E013": 413, "E014": 413, "E040": 413, "E043": 413,
    "E010": 415, "E042": 415,
    "E030": 503, "E031": 503, "E044": 503, "E045": 503, "E046": 503,
    "E047": 404, "E048": 405, "E049": 500,
    "E070": 408, "E071": 504,
    "E081": 409, "E082": 401, "E083": 404,
}


def error_response(exc: GovMetricsError, retry_after_s: int | None = None) -> JSONResponse:
    status = STATUS_BY_CODE.get(exc.code, 422)
    headers = {"Retry-After": str(retry_after_s)} if status == 503 and retry_after_s else None
    return JSONResponse({"error": {"code": exc.code, "message": exc.message}}, status_code=status, headers=headers)


# --------------------------------------------------------------------------- model and pool


def model_card(model: str | None, info: dict[str, str]) -> ModelCard:
    """Name, version, label sets and scores: from the model folder where it has them, else the vocabulary."""
    folder = Path(model) if model not in (None, "rules") else MODELS_DIR / info["name"]
    labels: dict[str, list[str]] = {"kind": list(vocabulary.KINDS), "role": list(vocabulary.ROLES),
                                    "direction": list(vocabulary.DIRECTIONS), "approx": list(vocabulary.APPROX)}
    scores: dict[str, Any] | None = None
    config, metrics = _read_json(folder / "config.json"), _read_json(folder / "metrics.json")
    if isinstance(config, dict) and isinstance(config.get("labels"), dict):
        labels.update({k: [str(x) for x in v] for k, v in config["labels"].items() if isinstance(v, list)})
    if metrics is not None:
        scores = metrics if isinstance(metrics, dict) else {"metrics": metrics}
    return ModelCard(name=info["name"], version=info["version"], labels=labels, scores=scores,
                     source=str(folder) if folder.is_dir() else None)


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:  # a broken card must not stop the service
        log.warning("cannot read %s: %s", path, exc)
        return None


class ExtractionService:
    """The loaded Extractor, a bounded pool that runs it off the event loop, and admission control."""

    def __init__(self, settings: ServiceSettings) -> None:
        self.settings = settings
        self.extractor: Any = None
        self.card: ModelCard | None = None
        self.load_error: GovMetricsError | None = None
        self.pending = 0  # admitted requests, running or waiting; touched on the event loop only
        self.pool = ThreadPoolExecutor(max_workers=max(1, settings.workers), thread_name_prefix="extract")
        self.reload_lock = asyncio.Lock()

    def start_loading(self) -> threading.Thread:
        # In a thread so that /healthz answers at once while spaCy and the model load.
        thread = threading.Thread(target=self._load, name="model-loader", daemon=True)
        thread.start()
        return thread

    def _load(self) -> None:
        started = time.perf_counter()
        try:
            self.extractor, self.card = self._build()
        except GovMetricsError as exc:
            self.load_error = exc
        except Exception as exc:  # logged in full; clients see one line
            log.exception("model load failed")
            self.load_error = GovMetricsError.make("E046", cause=f"{type(exc).__name__}: {exc}")
        if self.load_error is not None:
            log.error("model failed in %.1f s: %s", time.perf_counter() - started, self.load_error.message)
        else:
            log.info("model loaded in %.1f s", time.perf_counter() - started)

    def _build(self) -> tuple[Any, ModelCard]:
        """A warmed-up Extractor for the configured model: `--model`/GOVMETRICS_MODEL, else the registry's
        default (models/registry.json, read anew each time, so a promoted model is picked up)."""
        from govmetrics.extract import Extractor
        from govmetrics.settings import default_model

        model = self.settings.model or default_model()
        extractor = Extractor(model=model)
        install_checkpoints(extractor.nlp)  # cancellation points for timed-out and abandoned requests
        extractor.extract_text(EXAMPLE_TEXT, "warm-up")  # first-call initialisation off the request path
        return extractor, model_card(model, extractor.model_info)

    async def reload(self) -> ModelCard:
        """Load the configured model again beside the one serving, then swap them.

        Requests that already hold the old Extractor finish on it; new ones get the new one. If
        the load fails the old model keeps serving and the error says why (E081)."""
        async with self.reload_lock:
            old = self.card
            try:
                extractor, card = await asyncio.to_thread(self._build)
            except Exception as exc:  # a bad folder, a broken registry: the old model stays
                cause = exc.message if isinstance(exc, GovMetricsError) else f"{type(exc).__name__}: {exc}"
                log.error("reload failed: %s", cause)
                raise GovMetricsError.make("E081", name=old.name if old else "no model",
                                           version=old.version if old else "", cause=cause) from None
            self.extractor, self.card, self.load_error = extractor, card, None
            log.info("reloaded: now serving %s %s (was %s)", card.name, card.version,
                     f"{old.name} {old.version}" if old else "none")
            return card

    def require_ready(self) -> Any:
        if self.extractor is not None:
            return self.extractor
        if self.load_error is not None:
            raise GovMetricsError.make("E046", cause=self.load_error.message)
        raise GovMetricsError.make("E045", retry_after=self.settings.retry_after_s)

    def admit(self) -> None:
        if self.pending >= self.settings.queue_size:
            raise GovMetricsError.make("E044", pending=self.pending, retry_after=self.settings.retry_after_s)
        self.pending += 1

    def release(self) -> None:
        self.pending -= 1

    async def run_limited(self, request: Request, job: Callable[[], T]) -> T:
        """Admission, then `job` in the pool within the request time limit; work whose answer nobody will
        read (time limit, client gone) is cancelled at its next checkpoint. Call it once the body is in."""
        self.admit()
        token = CancelToken()
        work = self.submit_admitted(job, token)
        gone = asyncio.ensure_future(_disconnected(request))
        try:
            await asyncio.wait({work, gone}, timeout=self.settings.request_timeout_s or None,
                               return_when=asyncio.FIRST_COMPLETED)
        finally:
            gone.cancel()
        if work.done():
            return work.result()
        work.cancel()  # frees the slot at once if the job had not started
        if gone.done() and not gone.cancelled():
            token.cancel("client disconnected")
            raise ClientGone()
        token.cancel(f"over the {self.settings.request_timeout_s:g} s limit")
        log.warning("request over GOVMETRICS_REQUEST_TIMEOUT=%g s; extraction cancelled", self.settings.request_timeout_s)
        raise GovMetricsError.make("E071", seconds=self.settings.request_timeout_s)

    def submit_admitted(self, job: Callable[[], T], token: CancelToken) -> "asyncio.Future[T]":
        """Run `job` in the pool under `token`; the admission slot is freed when the job ends, not when the
        request is answered: cancelled work keeps its thread until its next checkpoint."""
        loop = asyncio.get_running_loop()

        def run() -> T:
            started = time.perf_counter()
            with running_under(token):
                try:
                    checkpoint()  # cancelled while it waited for a thread
                    return job()
                except Cancelled:
                    log.info("extraction cancelled (%s); the thread was free again after %.2f s",
                             token.reason, time.perf_counter() - started)
                    raise

        try:
            future = self.pool.submit(run)
        except BaseException:
            self.release()
            raise
        future.add_done_callback(lambda _: loop.call_soon_threadsafe(self.release))
        return asyncio.wrap_future(future)


# --------------------------------------------------------------------------- documents in


@dataclass
class DocumentInput:
    """One document as the client sent it: text, or an uploaded file's bytes and name."""

    doc: str
    text: str | None = None
    data: bytes | None = None
    filename: str = ""


def document_text(item: DocumentInput, settings: ServiceSettings) -> str:
    """The text to extract from, within the limits; raises GovMetricsError (runs in the pool)."""
    from govmetrics.read.readers import read_bytes

    text = item.text
    if item.data is not None:
        name = item.filename or item.doc
        try:
            text = read_bytes(item.data, name, max_bytes=settings.max_upload_bytes).text
        except GovMetricsError:
            raise
        except Exception as exc:  # a third-party parser choking on a crafted file is the file's fault
            log.warning("reader failed on %s", name, exc_info=exc)
            raise GovMetricsError.make("E012", name=name, cause=f"{type(exc).__name__}: {exc}"[:200]) from None
    assert text is not None
    try:
        size = len(text.encode("utf-8"))
    except UnicodeEncodeError:
        raise GovMetricsError.make("E015", name=item.doc) from None
    if size > settings.max_text_bytes:
        raise GovMetricsError.make("E014", name=item.doc, size=size, limit=settings.max_text_bytes)
    if not text.strip():
        raise GovMetricsError.make("E011", name=item.doc)
    return text


def _validation_message(exc: ValidationError | RequestValidationError) -> str:
    parts = []
    for err in exc.errors()[:3]:
        loc = ".".join(str(x) for x in err.get("loc", ()) if x != "body") or "body"
        parts.append(f"{loc}: {err.get('msg', 'invalid')}")
    return "; ".join(parts) or "invalid request"


M = TypeVar("M", bound=BaseModel)


def parse_json(body: bytes, model: type[M]) -> M:
    try:
        return model.model_validate_json(body)
    except ValidationError as exc:
        raise GovMetricsError.make("E041", cause=_validation_message(exc)) from None


async def read_documents(request: Request, settings: ServiceSettings, batch: bool
                         ) -> tuple[list[DocumentInput], ExtractOptions]:
    """The documents of a JSON or multipart request, in order, at most `settings.max_batch` of them."""
    items, options = await _read_request(request, settings, batch)
    if len(items) > settings.max_batch:
        raise GovMetricsError.make("E043", count=len(items), limit=settings.max_batch)
    return items, options


async def _read_request(request: Request, settings: ServiceSettings, batch: bool
                        ) -> tuple[list[DocumentInput], ExtractOptions]:
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type == "application/json":
        body = await request.body()
        if batch:
            req = parse_json(body, BatchRequest)
            return [DocumentInput(doc=d.doc or f"text-{i + 1}", text=d.text)
                    for i, d in enumerate(req.documents)], req.options
        one = parse_json(body, ExtractRequest)
        return [DocumentInput(doc=one.doc or "text", text=one.text)], one.options
    if content_type == "multipart/form-data":
        return await _read_multipart(request, settings, batch)
    raise GovMetricsError.make("E042", content_type=content_type or "(none)")


async def _read_multipart(request: Request, settings: ServiceSettings, batch: bool
                          ) -> tuple[list[DocumentInput], ExtractOptions]:
    try:
        form = await request.form(max_files=settings.max_batch + 1, max_fields=20)
    except GovMetricsError:
        raise
    except Exception as exc:  # starlette turns multipart errors into HTTP 400; a client error here
        detail = getattr(exc, "detail", None) or str(exc) or type(exc).__name__
        raise GovMetricsError.make("E041", cause=f"multipart: {detail}") from None
    try:
        uploads = [v for k, v in form.multi_items() if k in ("file", "files")]
        if not uploads or not all(isinstance(u, UploadFile) for u in uploads):
            raise GovMetricsError.make("E041", cause="multipart: no file part named 'file'")
        if not batch and len(uploads) > 1:
            raise GovMetricsError.make("E041", cause="multipart: one file per request; use /v1/extract/batch")
        raw_options = form.get("options")
        options = parse_json(str(raw_options).encode(), ExtractOptions) if raw_options else ExtractOptions()
        doc = form.get("doc") if isinstance(form.get("doc"), str) else None
        items = []
        for upload in uploads:
            name = upload.filename or "upload"
            label = str(doc) if doc and not batch else Path(name).stem or name
            items.append(DocumentInput(doc=label, data=await upload.read(), filename=name))
        return items, options
    finally:
        await form.close()


# --------------------------------------------------------------------------- records out


def _result_parts(result: Any) -> tuple[list[RecordModel], list[Check]]:
    js = result.to_json()
    return ([RecordModel.model_validate(r) for r in js["records"]],
            [Check.model_validate(c) for c in js.get("checks") or []])


def extract_one(extractor: Any, item: DocumentInput, settings: ServiceSettings, options: ExtractOptions
                ) -> ExtractResponse:
    started = time.perf_counter()
    text = document_text(item, settings)
    records, checks = _result_parts(extractor.extract_text(text, item.doc))
    return ExtractResponse(doc=item.doc, model=ModelInfo(**extractor.model_info), records=records, checks=checks,
                           timing_ms=round((time.perf_counter() - started) * 1000, 2),
                           text=text if options.include_text else None)


def extract_batch(extractor: Any, items: list[DocumentInput], settings: ServiceSettings,
                  options: ExtractOptions) -> BatchResponse:
    """Every document in order; one that cannot be read or is over a limit carries its error, the others
    still run. One document at a time, so that cancelled work stops between documents."""
    started = time.perf_counter()
    results: list[BatchItem] = []
    for item in items:
        checkpoint()
        out = BatchItem(doc=item.doc)
        try:
            text = document_text(item, settings)
            out.records, out.checks = _result_parts(extractor.extract_text(text, item.doc))
            out.text = text if options.include_text else None
        except GovMetricsError as exc:
            out = BatchItem(doc=item.doc, error={"code": exc.code, "message": exc.message})
        results.append(out)
    return BatchResponse(model=ModelInfo(**extractor.model_info), results=results,
                         timing_ms=round((time.perf_counter() - started) * 1000, 2))


# --------------------------------------------------------------------------- HTTP


def _service(request: Request) -> ExtractionService:
    return request.app.state.service


_ERRORS: dict[int | str, dict[str, Any]] = {
    413: {"model": ErrorResponse, "description": "超过大小限制（文本默认 2 MB）或批量文档数上限"},
    415: {"model": ErrorResponse, "description": "不支持的文件类型或请求内容类型"},
    422: {"model": ErrorResponse, "description": "空文本、无法解码或格式错误的输入"},
    408: {"model": ErrorResponse, "description": "请求体未在时限内传完（GOVMETRICS_BODY_TIMEOUT）"},
    503: {"model": ErrorResponse, "description": "模型加载中或服务繁忙，请按 Retry-After 重试"},
    504: {"model": ErrorResponse, "description": "抽取未在时限内完成（GOVMETRICS_REQUEST_TIMEOUT）"},
}


def _request_body(model: type[BaseModel], multipart: dict[str, Any], required: str) -> dict[str, Any]:
    return {"requestBody": {"required": True, "content": {
        "application/json": {"schema": {"$ref": f"#/components/schemas/{model.__name__}"}},
        "multipart/form-data": {"schema": {"type": "object", "properties": multipart, "required": [required]},
                                # the options part is JSON text, so that generated requests send JSON there
                                "encoding": {"options": {"contentType": "application/json"}}},
    }}}


_OPTIONS_FIELD = {"$ref": "#/components/schemas/ExtractOptions", "description": "JSON 格式的选项，如 {\"include_text\": true}"}
EXTRACT_BODY = _request_body(ExtractRequest, {
    "file": {"type": "string", "format": "binary", "description": "txt（任意中文编码）、docx、pdf、html 文件"},
    "doc": {"type": "string", "description": "文档名称（默认取文件名）"}, "options": _OPTIONS_FIELD}, "file")
BATCH_BODY = _request_body(BatchRequest, {
    "files": {"type": "array", "items": {"type": "string", "format": "binary"}, "description": "多个文件，按顺序处理"},
    "options": _OPTIONS_FIELD}, "files")

router = APIRouter()


class ClientGone(Exception):
    """The client disconnected while its extraction ran; nobody is left to answer."""


async def _disconnected(request: Request) -> None:
    """Returns when the client disconnects (the body is read by then, so `receive` only waits for that)."""
    while (await request.receive())["type"] != "http.disconnect":
        pass


async def _run_extraction(request: Request, batch: bool,
                          job: Callable[[Any, list[DocumentInput], ServiceSettings, ExtractOptions], T]) -> T:
    """Ready check, the request's documents, admission, then `job` in the pool within the request time limit.

    The slot is taken only once the body is in: clients that send slowly (or stall) hold no slot, so
    they cannot lock the others out. Work whose answer nobody will read (time limit, client gone) is
    cancelled at its next checkpoint."""
    service = _service(request)
    settings = service.settings
    extractor = service.require_ready()
    items, options = await read_documents(request, settings, batch=batch)
    return await service.run_limited(request, lambda: job(extractor, items, settings, options))


@router.post("/v1/extract", response_model=ExtractResponse, responses=_ERRORS, openapi_extra=EXTRACT_BODY,
             summary="抽取一篇文档的指标记录", tags=["抽取"])
async def extract(request: Request) -> ExtractResponse:
    """提交 JSON 文本或上传一个文件，返回 RECORDS.md 定义的指标记录。"""
    return await _run_extraction(request, False, lambda ex, items, st, opt: extract_one(ex, items[0], st, opt))


@router.post("/v1/extract/batch", response_model=BatchResponse, responses=_ERRORS, openapi_extra=BATCH_BODY,
             summary="批量抽取多篇文档（结果顺序与请求一致）", tags=["抽取"])
async def extract_batch_route(request: Request) -> BatchResponse:
    """最多 GOVMETRICS_MAX_BATCH 篇文档；读取失败的文档单独给出 error，其余照常抽取。"""
    return await _run_extraction(request, True, extract_batch)


@router.get("/healthz", response_model=Health, summary="进程存活", tags=["运维"])
async def healthz() -> Health:
    return Health(status="ok")


@router.get("/readyz", response_model=Health, responses={503: _ERRORS[503]}, summary="模型已加载", tags=["运维"])
async def readyz(request: Request) -> Health:
    extractor = _service(request).require_ready()
    return Health(status="ready", model=ModelInfo(**extractor.model_info))


@router.get("/v1/model", response_model=ModelCard, responses={503: _ERRORS[503]}, summary="模型卡片", tags=["模型"])
async def model(request: Request) -> ModelCard:
    service = _service(request)
    service.require_ready()
    assert service.card is not None
    return service.card


@router.post("/admin/reload", response_model=ModelCard, summary="重新加载默认模型（需管理令牌）", tags=["运维"],
             responses={401: {"model": ErrorResponse}, 404: {"model": ErrorResponse}, 409: {"model": ErrorResponse}})
async def admin_reload(request: Request) -> ModelCard:
    """载入注册表中的默认模型（`govmetrics promote` 之后），无需重启；进行中的请求仍用旧模型完成。"""
    service = _service(request)
    token = service.settings.admin_token
    if token is None:
        raise GovMetricsError.make("E083")
    given = request.headers.get("authorization", "")
    if not hmac.compare_digest(given.encode(), f"Bearer {token}".encode()):
        raise GovMetricsError.make("E082")
    return await service.reload()


@router.get("/", include_in_schema=False)
async def index() -> FileResponse:
    return FileResponse(STATIC_DIR / "index.html", media_type="text/html; charset=utf-8")


class RequestGuard:
    """ASGI middleware: request id, security headers, the request-body limits (size and time), the answer
    to any unexpected error, and one JSON access-log line per request.

    It sits outside the routes' exception handlers, so that every answer, a 500 included, carries the
    request id and the headers, and a client that left is one log line, not a traceback."""

    def __init__(self, app: ASGIApp, max_body: int, body_timeout_s: float, headers: list[tuple[bytes, bytes]]
                 ) -> None:
        self.app = app
        self.max_body = max_body
        self.body_timeout_s = body_timeout_s
        self.headers = headers

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        loop = asyncio.get_running_loop()
        body_deadline = loop.time() + self.body_timeout_s
        request_id = uuid.uuid4().hex[:12]
        scope.setdefault("state", {})["request_id"] = request_id
        seen = {"in": 0, "out": 0, "status": 0, "body_done": False}

        async def limited_receive() -> Message:
            if seen["body_done"] or not self.body_timeout_s:
                message = await receive()
            else:  # the whole body within the time limit: a stalled upload must not hold on for ever
                try:
                    message = await asyncio.wait_for(receive(), max(0.0, body_deadline - loop.time()))
                except asyncio.TimeoutError:
                    raise GovMetricsError.make("E070", seconds=self.body_timeout_s) from None
            if message["type"] == "http.request":
                seen["in"] += len(message.get("body", b""))
                seen["body_done"] = not message.get("more_body", False)
                if seen["in"] > self.max_body:  # chunked bodies have no Content-Length to check up front
                    raise GovMetricsError.make("E040", limit=self.max_body)
            return message

        async def logged_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                seen["status"] = message["status"]
                message["headers"] = [*message.get("headers", []), (b"x-request-id", request_id.encode()),
                                      *self.headers]
            elif message["type"] == "http.response.body":
                seen["out"] += len(message.get("body", b""))
            await send(message)

        fields: dict[str, Any] = {"request_id": request_id, "method": scope["method"], "path": scope["path"]}
        try:
            declared = dict(scope["headers"]).get(b"content-length", b"")
            if declared.isdigit() and int(declared) > self.max_body:
                await error_response(GovMetricsError.make("E040", limit=self.max_body))(scope, receive, logged_send)
            else:
                await self.app(scope, limited_receive, logged_send)
        except (ClientDisconnect, ClientGone):
            # The client went away (mid-upload or while its extraction ran): nobody to answer, nothing broken.
            seen["status"] = seen["status"] or 499
            log.info("client disconnected before the answer (%s)", "body incomplete" if not seen["body_done"]
                     else "extraction cancelled", extra={"fields": fields})
        except Exception as exc:
            log.error("unhandled error", exc_info=exc, extra={"fields": fields})
            if not seen["status"]:  # else the answer has begun: uvicorn closes the connection
                await error_response(GovMetricsError.make("E049", request_id=request_id))(
                    scope, receive, logged_send)
        finally:
            client = scope.get("client")
            access_log.info("request", extra={"fields": {
                **fields, "client": client[0] if client else None, "status": seen["status"] or 500,
                "bytes_in": seen["in"], "bytes_out": seen["out"],
                "duration_ms": round((time.perf_counter() - started) * 1000, 2)}})


class JsonLogFormatter(logging.Formatter):
    """One JSON object per line: structured logs for the access log and the service's own messages."""

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {"ts": datetime.fromtimestamp(record.created, timezone.utc).isoformat(timespec="milliseconds"),
                               "level": record.levelname.lower(), "logger": record.name, "msg": record.getMessage()}
        out.update(getattr(record, "fields", {}))
        if record.exc_info:
            out["exc"] = self.formatException(record.exc_info)
        return json.dumps(out, ensure_ascii=False)


def configure_logging(level: str = "info") -> None:
    handler = logging.StreamHandler()
    handler.setFormatter(JsonLogFormatter())
    root = logging.getLogger("govmetrics")
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    root.propagate = False


def _install_error_handlers(app: FastAPI, settings: ServiceSettings) -> None:
    async def on_govmetrics_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, GovMetricsError)
        return error_response(exc, settings.retry_after_s)

    async def on_validation_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        return error_response(GovMetricsError.make("E041", cause=_validation_message(exc)))

    async def on_http_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, StarletteHTTPException)
        if exc.status_code == 404:
            err = GovMetricsError.make("E047", method=request.method, path=request.url.path)
        elif exc.status_code == 405:
            err = GovMetricsError.make("E048", method=request.method, path=request.url.path)
        else:
            err = GovMetricsError(f"HTTP{exc.status_code}", str(exc.detail))
        response = error_response(err)
        response.status_code = exc.status_code
        response.headers.update(exc.headers or {})  # 405 names the allowed methods in `Allow`
        return response

    # Unexpected errors are answered by RequestGuard (E049 with the request id), outside these handlers.
    app.add_exception_handler(GovMetricsError, on_govmetrics_error)
    app.add_exception_handler(RequestValidationError, on_validation_error)
    app.add_exception_handler(StarletteHTTPException, on_http_error)


def security_headers(docs_html: str) -> list[tuple[bytes, bytes]]:
    """Headers for every answer: no MIME sniffing, and a CSP that allows the service's own files only.

    The page at / loads its script and style from /static; the /docs page has one inline script (Swagger
    UI's start-up), allowed by its hash. Swagger UI sets styles from its script and draws icons from
    data: URLs, hence `'unsafe-inline'` for styles and `data:` for images (no script can come that way)."""
    inline = re.findall(r"<script>(.*?)</script>", docs_html, flags=re.S)
    hashes = " ".join(f"'sha256-{base64.b64encode(hashlib.sha256(s.encode()).digest()).decode()}'" for s in inline)
    csp = ("default-src 'self'; "
           f"script-src 'self' {hashes}; "
           "style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; "
           "object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'")
    return [(b"x-content-type-options", b"nosniff"), (b"content-security-policy", csp.encode())]


def _openapi(app: FastAPI, settings: ServiceSettings) -> Callable[[], dict[str, Any]]:
    def build() -> dict[str, Any]:
        if app.openapi_schema is None:
            # A copy: the routes' openapi_extra dicts are shared by every app built in this process.
            schema = copy.deepcopy(get_openapi(title=app.title, version=app.version, description=app.description,
                                               routes=app.routes))
            components = schema.setdefault("components", {}).setdefault("schemas", {})
            for model in (ExtractRequest, BatchRequest):  # bodies read by hand, so FastAPI did not collect them
                js = model.model_json_schema(ref_template="#/components/schemas/{model}")
                components.update(js.pop("$defs", {}))
                components[model.__name__] = js
            # This service's batch limit, so that the schema describes what it accepts.
            components["BatchRequest"]["properties"]["documents"]["maxItems"] = settings.max_batch
            multipart = schema["paths"]["/v1/extract/batch"]["post"]["requestBody"]["content"]["multipart/form-data"]
            multipart["schema"]["properties"]["files"].update(minItems=1, maxItems=settings.max_batch)
            app.openapi_schema = schema
        return app.openapi_schema
    return build


def _reload_on_sighup(service: ExtractionService) -> None:
    """`kill -HUP PID` reloads the default model, as the admin endpoint does (errors are logged)."""
    loop = asyncio.get_running_loop()

    async def reload() -> None:
        try:
            await service.reload()
        except GovMetricsError:
            pass  # logged by reload; the old model keeps serving

    try:
        loop.add_signal_handler(signal.SIGHUP, lambda: loop.create_task(reload()))
    except (NotImplementedError, RuntimeError, ValueError):  # not the main thread, or no signals here
        log.info("SIGHUP reload not available; use POST /admin/reload")


def create_app(settings: ServiceSettings | None = None, load_model: bool = True) -> FastAPI:
    """The service. With `load_model` the Extractor loads in a background thread at start-up."""
    from contextlib import asynccontextmanager

    from govmetrics import __version__

    settings = settings or ServiceSettings()
    service = ExtractionService(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI):  # type: ignore[no-untyped-def]
        if load_model:
            service.start_loading()
            _reload_on_sighup(service)
        yield
        service.pool.shutdown(wait=False, cancel_futures=True)

    app = FastAPI(title="GovMetrics 指标抽取服务", version=__version__, lifespan=lifespan,
                  docs_url=None, redoc_url=None,  # served below from local assets: no CDN
                  description="从中文政府文件（绩效自评报告、决算说明、工作报告）中抽取指标记录。"
                              "记录字段见 RECORDS.md；错误统一为 `{\"error\": {\"code\", \"message\"}}`。")
    app.state.service = service
    app.include_router(router)
    app.include_router(labelstudio_router)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    app.mount("/docs-assets", StaticFiles(directory=str(SWAGGER_ASSETS)), name="docs-assets")

    docs_page = get_swagger_ui_html(openapi_url=app.openapi_url or "/openapi.json", title=f"{app.title} – API 文档",
                                    swagger_js_url="/docs-assets/swagger-ui-bundle.js",
                                    swagger_css_url="/docs-assets/swagger-ui.css",
                                    swagger_favicon_url="/docs-assets/favicon-32x32.png")

    @app.get("/docs", include_in_schema=False)
    async def swagger_ui() -> HTMLResponse:
        return docs_page

    app.add_middleware(RequestGuard, max_body=settings.max_request_bytes, body_timeout_s=settings.body_timeout_s,
                       headers=security_headers(docs_page.body.decode()))
    _install_error_handlers(app, settings)
    app.openapi = _openapi(app, settings)  # type: ignore[method-assign]
    return app
