"""The REST service under hostile input and overload (issue 13), over real HTTP on 127.0.0.1.

Oversize texts, stalled uploads, requests that run too long, clients that leave, and the
headers every answer carries. Every wait is bounded; raw sockets only talk to the test server.
"""
from __future__ import annotations

import json
import logging
import os
import re
import socket
import threading
import time
from contextlib import ExitStack
from pathlib import Path

import httpx
import pytest

from service_server import ServiceProcess
from test_api import assert_error, assert_offsets

SENTENCE = "全年开展安全检查45次，发放宣传资料3000余份。"
# Figure-dense text: one candidate quantity every 8 characters keeps the record model busy for seconds.
DENSE = "开展检查45次。"
CHROMIUM = Path(os.environ.get("GOVMETRICS_CHROMIUM", "/usr/bin/chromium"))


@pytest.fixture(scope="module")
def strict_server():
    """A short body time limit and a small character limit, from the environment."""
    env = {"GOVMETRICS_BODY_TIMEOUT": "2", "GOVMETRICS_MAX_CHARS": "100000"}
    with ServiceProcess.running(env=env) as server:
        yield server


@pytest.fixture(scope="module")
def hurried_server():
    """GOVMETRICS_REQUEST_TIMEOUT=3; its own server, as ordinary requests on a loaded machine can take that long."""
    with ServiceProcess.running(env={"GOVMETRICS_REQUEST_TIMEOUT": "3"}) as server:
        yield server


def log_after(server: ServiceProcess, mark: int, needle: str, timeout: float = 20) -> str:
    """The server's log from byte `mark` on, once it contains `needle` (or after `timeout` s)."""
    deadline = time.monotonic() + timeout
    while True:
        tail = server.log_text()[mark:]
        if needle in tail or time.monotonic() > deadline:
            return tail
        time.sleep(0.1)


def stalled_upload(server: ServiceProcess, declared: int = 2000) -> socket.socket:
    """A client that sends the headers and half of a JSON body, then nothing."""
    port = int(server.url.rsplit(":", 1)[1])
    sock = socket.create_connection(("127.0.0.1", port), timeout=30)
    head = (f"POST /v1/extract HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {declared}\r\n\r\n")
    body = ('{"text": "' + "数" * declared).encode()[:declared // 2]
    sock.sendall(head.encode() + body)
    return sock


def concurrent_posts(url: str, texts: list[str]) -> tuple[list[httpx.Response], float]:
    """All `texts` posted at once, one client each; the answers and the wall time until the last."""
    barrier = threading.Barrier(len(texts))
    responses: list[httpx.Response] = []

    def client(text: str) -> None:
        with httpx.Client(timeout=120) as c:
            barrier.wait()
            responses.append(c.post(url + "/v1/extract", json={"text": text}))

    threads = [threading.Thread(target=client, args=(t,)) for t in texts]
    started = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=180)
    return responses, time.perf_counter() - started


# ---------------------------------------------------------------- 2. texts over 1,000,000 characters


def test_text_over_a_million_characters_is_processed(api_server):
    # 1 MB of UTF-8 is within the 2 MB text limit, but over spaCy's own 1,000,000-character default.
    text = " " * 1_000_000 + SENTENCE
    response = httpx.post(api_server.url + "/v1/extract", json={"text": text}, timeout=180)
    assert response.status_code == 200, response.text[:500]
    records = response.json()["records"]
    assert records and all(r["start"] >= 1_000_000 for r in records)
    assert_offsets(records, text)
    batch = {"documents": [{"text": SENTENCE, "doc": "短"}, {"text": text, "doc": "长"}]}
    response = httpx.post(api_server.url + "/v1/extract/batch", json=batch, timeout=180)
    assert response.status_code == 200, response.text[:500]
    short, long = response.json()["results"]
    assert short["error"] is None and long["error"] is None
    assert [r["text"] for r in long["records"]] == [r["text"] for r in short["records"]]


def test_oversize_text_is_an_error_of_its_own_document(strict_server):
    """GOVMETRICS_MAX_CHARS=100000: one text over it is 413 alone, and in a batch the others still run."""
    over = "数" * 120_000  # 360 kB: within the byte limits, over the character limit
    assert_error(httpx.post(strict_server.url + "/v1/extract", json={"text": over}, timeout=60), 413, "E013")
    documents = [{"text": SENTENCE, "doc": "甲"}, {"text": over, "doc": "乙"}, {"text": SENTENCE, "doc": "丙"}]
    response = httpx.post(strict_server.url + "/v1/extract/batch", json={"documents": documents}, timeout=60)
    assert response.status_code == 200, response.text[:500]
    results = response.json()["results"]
    assert [r["doc"] for r in results] == ["甲", "乙", "丙"]
    assert results[1]["error"]["code"] == "E013" and results[1]["records"] is None
    assert "100000" in results[1]["error"]["message"]
    for i in (0, 2):
        assert results[i]["error"] is None and results[i]["records"]
    # A text at the limit is processed, not refused.
    at_limit = " " * (100_000 - len(SENTENCE)) + SENTENCE
    assert httpx.post(strict_server.url + "/v1/extract", json={"text": at_limit}, timeout=60).status_code == 200


# ---------------------------------------------------------------- 4. stalled uploads


def test_stalled_clients_do_not_lock_the_others_out(api_server):
    """32 clients (the default queue size) stuck half-way through their bodies, and 4 ordinary ones."""
    texts = [SENTENCE, "今年来侦破电信诈骗案件30起，抓获犯罪嫌疑人83人。", SENTENCE * 3, "培训费支出决算为20.1万元。"]
    _, baseline = concurrent_posts(api_server.url, texts)
    with ExitStack() as stack:
        for _ in range(32):
            stack.callback(stalled_upload(api_server).close)
        time.sleep(1.0)  # every stalled request has reached the app
        responses, elapsed = concurrent_posts(api_server.url, texts)
    assert sorted(r.status_code for r in responses) == [200] * 4, [r.text[:200] for r in responses]
    # Their usual time, give or take a loaded machine: not the stalled clients' time.
    assert elapsed < 3 * baseline + 3.0, (elapsed, baseline)


def test_a_stalled_upload_is_answered_408_after_the_body_timeout(strict_server):
    sock = stalled_upload(strict_server)
    started = time.monotonic()
    answer = b""
    with sock:
        sock.settimeout(15)
        try:
            while b"\r\n\r\n" not in answer or not answer.rstrip().endswith(b"}"):
                chunk = sock.recv(65536)
                if not chunk:
                    break
                answer += chunk
        except socket.timeout:
            pass
    waited = time.monotonic() - started
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 408"), answer[:300]
    assert json.loads(body)["error"]["code"] == "E070"
    assert 1.5 <= waited < 10, waited  # GOVMETRICS_BODY_TIMEOUT=2


def test_client_leaving_mid_upload_is_one_log_line(api_server):
    mark = len(api_server.log_text())
    sock = stalled_upload(api_server)
    time.sleep(0.5)
    sock.close()
    tail = log_after(api_server, mark, "client disconnected")
    lines = [json.loads(line) for line in tail.splitlines() if line.startswith("{")]
    gone = [line for line in lines if line["msg"].startswith("client disconnected")]
    assert len(gone) == 1 and gone[0]["level"] == "info" and gone[0]["path"] == "/v1/extract", tail
    assert "Traceback" not in tail and "unhandled error" not in tail and '"level": "error"' not in tail


# ---------------------------------------------------------------- 5. time limit and cancelled work


def test_request_over_the_time_limit_is_504_and_its_work_stops(hurried_server):
    # 160,000 figure-dense characters: minutes of record-model work on a 2-core machine, tens of seconds on a fast one.
    mark = len(hurried_server.log_text())
    started = time.monotonic()
    response = httpx.post(hurried_server.url + "/v1/extract", json={"text": DENSE * 20_000}, timeout=300)
    answered = time.monotonic() - started
    error = assert_error(response, 504, "E071")
    assert "GOVMETRICS_REQUEST_TIMEOUT" in error["message"]
    assert answered < 15, answered  # GOVMETRICS_REQUEST_TIMEOUT=3, plus reading the body
    # The one extraction thread is free again soon: the cancelled work stopped at a checkpoint.
    tail = log_after(hurried_server, mark, "extraction cancelled (over", timeout=60)
    freed = re.search(r"extraction cancelled \(over the 3 s limit\); the thread was free again after ([\d.]+) s", tail)
    assert freed and float(freed.group(1)) < 30, tail
    started = time.monotonic()
    assert httpx.post(hurried_server.url + "/v1/extract", json={"text": SENTENCE}, timeout=60).status_code == 200
    assert time.monotonic() - started < 10


def test_work_for_a_client_that_left_is_cancelled(api_server):
    mark = len(api_server.log_text())
    with pytest.raises(httpx.ReadTimeout):  # the client gives up after 1 s and closes its connection
        httpx.post(api_server.url + "/v1/extract", json={"text": DENSE * 20_000}, timeout=httpx.Timeout(30, read=1))
    tail = log_after(api_server, mark, "extraction cancelled (client disconnected)", timeout=60)
    freed = re.search(r"extraction cancelled \(client disconnected\); the thread was free again after ([\d.]+) s", tail)
    assert freed and float(freed.group(1)) < 30, tail
    assert "Traceback" not in tail and "unhandled error" not in tail
    started = time.monotonic()
    assert httpx.post(api_server.url + "/v1/extract", json={"text": SENTENCE}, timeout=60).status_code == 200
    assert time.monotonic() - started < 10


# ---------------------------------------------------------------- 8. what every answer carries


def test_every_answer_has_request_id_and_security_headers(api_server):
    answers = [httpx.get(api_server.url + path) for path in ("/", "/docs", "/openapi.json", "/healthz", "/nothing",
                                                              "/static/app.js")]
    answers.append(httpx.post(api_server.url + "/v1/extract", json={"text": ""}))
    for response in answers:
        assert re.fullmatch(r"[0-9a-f]{12}", response.headers["x-request-id"])
        assert response.headers["x-content-type-options"] == "nosniff"
        csp = response.headers["content-security-policy"]
        assert "default-src 'self'" in csp and "'unsafe-inline'" not in csp.split("script-src")[1].split(";")[0]
        assert "object-src 'none'" in csp and "frame-ancestors 'none'" in csp


def test_405_names_the_allowed_methods(api_server):
    response = httpx.get(api_server.url + "/v1/extract")
    assert_error(response, 405, "E048")
    assert response.headers["allow"] == "POST"
    assert httpx.post(api_server.url + "/healthz").headers["allow"] == "GET"


def test_multipart_schema_requires_the_file(api_server):
    spec = httpx.get(api_server.url + "/openapi.json").json()
    for path, part in (("/v1/extract", "file"), ("/v1/extract/batch", "files")):
        schema = spec["paths"][path]["post"]["requestBody"]["content"]["multipart/form-data"]["schema"]
        assert schema["required"] == [part] and part in schema["properties"]
        assert {"408", "504"} <= set(spec["paths"][path]["post"]["responses"])
    # What the service accepts, so that schema-valid requests are not refused (schemathesis' check).
    assert spec["components"]["schemas"]["BatchRequest"]["properties"]["documents"]["maxItems"] == 16
    batch = spec["paths"]["/v1/extract/batch"]["post"]["requestBody"]["content"]["multipart/form-data"]
    assert batch["schema"]["properties"]["files"]["maxItems"] == 16
    assert batch["encoding"]["options"]["contentType"] == "application/json"


class _Kept(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


def test_unexpected_error_is_500_with_request_id_and_no_traceback_for_the_client():
    """In process: a route that fails unexpectedly (no input reaches one over HTTP any more)."""
    from fastapi.testclient import TestClient

    from govmetrics.api.app import create_app

    app = create_app(load_model=False)

    @app.get("/fails")
    async def fails() -> None:
        raise RuntimeError("a bug")

    kept = _Kept()
    service_log = logging.getLogger("govmetrics.service")
    service_log.addHandler(kept)
    try:
        with TestClient(app, raise_server_exceptions=False) as client:
            response = client.get("/fails")
    finally:
        service_log.removeHandler(kept)
    error = assert_error(response, 500, "E049")
    request_id = response.headers["x-request-id"]
    assert request_id in error["message"] and response.headers["x-content-type-options"] == "nosniff"
    logged = [r for r in kept.records if r.levelname == "ERROR"]
    assert logged and logged[0].exc_info and logged[0].fields["request_id"] == request_id


def test_pages_work_under_the_content_security_policy(api_server):
    """The page at / and Swagger UI at /docs, in Chromium, with no CSP violation reported."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        sync_playwright = None
    if sync_playwright is None or not CHROMIUM.exists():
        if os.environ.get("GOVMETRICS_REQUIRE_BROWSER") == "1":
            pytest.fail("browser test required (GOVMETRICS_REQUIRE_BROWSER=1) but playwright or chromium is missing")
        pytest.skip("playwright or chromium missing")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"])
        try:
            page = browser.new_page()
            console: list[str] = []
            page.on("console", lambda m: console.append(m.text))
            page.goto(api_server.url + "/docs")
            page.wait_for_selector(".swagger-ui .opblock-summary-path", timeout=30_000)
            page.goto(api_server.url + "/")
            page.fill("#text-input", SENTENCE)
            page.click("#submit")
            page.wait_for_selector("body[data-state=done]", timeout=60_000)
            assert page.locator("#doc-view mark[data-rec]").count() >= 1
        finally:
            browser.close()
    violations = [m for m in console if "Content Security Policy" in m]
    assert not violations, violations


def test_request_fields_are_not_coerced(api_server):
    """The schema says boolean: 0 or "true" is refused, as schemathesis' negative cases expect."""
    for options in ({"include_text": 0}, {"include_text": "true"}):
        response = httpx.post(api_server.url + "/v1/extract", json={"text": SENTENCE, "options": options})
        assert_error(response, 422, "E041")
    response = httpx.post(api_server.url + "/v1/extract/batch", files={"files": ("a.txt", SENTENCE.encode())},
                          data={"options": '{"include_text": 1}'})
    assert_error(response, 422, "E041")
