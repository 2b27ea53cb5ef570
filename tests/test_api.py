"""The REST service over real HTTP: `govmetrics serve` in a subprocess, called with httpx.

Every endpoint, every error code, the overload answer, the access log. Assertions hold
for any sensible extractor (structure, offsets, equality with the in-process Extractor).
"""
from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import threading
import time

import httpx
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from conftest import ROOT, SHARED
from service_server import ServiceProcess

from govmetrics.grammar import vocabulary

PDF = SHARED / "corpus" / "pdf" / "江苏省人大办公厅__江苏省人大常委会办公厅2019年部门预算公开表.pdf"
SPAN_KEYS = ("metric", "action", "period", "baseline")


@pytest.fixture(scope="module")
def tight_server():
    """Small limits, from flags and from the environment, to reach every limit cheaply."""
    with ServiceProcess.running("--queue-size", "1", "--max-upload-bytes", "5000", "--max-request-bytes", "200000",
                                env={"GOVMETRICS_MAX_BATCH": "2", "GOVMETRICS_RETRY_AFTER": "3"}) as server:
        yield server


@pytest.fixture(scope="module")
def broken_server(tmp_path_factory):
    missing = tmp_path_factory.mktemp("models") / "no-such-model"
    with ServiceProcess.running("--model", str(missing), ready=False) as server:
        deadline = time.monotonic() + 120
        while httpx.get(server.url + "/readyz").json()["error"]["code"] == "E045" and time.monotonic() < deadline:
            time.sleep(0.1)  # still importing the pipeline's modules
        yield server


def post_text(server: ServiceProcess, text: str, **body) -> httpx.Response:
    return httpx.post(server.url + "/v1/extract", json={"text": text, **body}, timeout=120)


def upload(server: ServiceProcess, name: str, data: bytes, path: str = "/v1/extract", **form) -> httpx.Response:
    return httpx.post(server.url + path, files={"file": (name, data)}, data=form, timeout=120)


def assert_error(response: httpx.Response, status: int, code: str) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message"}, body
    assert body["error"]["code"] == code, body
    assert body["error"]["message"] and "Traceback" not in response.text
    return body["error"]


def assert_offsets(records: list[dict], text: str) -> None:
    for r in records:
        assert text[r["start"]:r["end"]] == r["text"]
        for key in SPAN_KEYS:
            if r[key]:
                assert text[r[key]["start"]:r[key]["end"]] == r[key]["text"]


# ---------------------------------------------------------------- the endpoints


def test_health_ready_and_model_card(api_server):
    assert httpx.get(api_server.url + "/healthz").json() == {"status": "ok", "model": None}
    ready = httpx.get(api_server.url + "/readyz").json()
    assert ready["status"] == "ready"
    card = httpx.get(api_server.url + "/v1/model").json()
    assert {card["name"], card["version"]} == {ready["model"]["name"], ready["model"]["version"]}
    assert set(card["labels"]["kind"]) >= set(vocabulary.KINDS)
    assert set(card["labels"]["role"]) >= set(vocabulary.ROLES)


def test_readyz_is_503_while_the_model_loads(api_server):
    # The fixture polled /readyz from the moment /healthz answered: loading takes seconds.
    assert api_server.loading_answers, "the server was never seen loading"
    for response in api_server.loading_answers:
        assert_error(response, 503, "E045")
        assert int(response.headers["retry-after"]) > 0


def test_extract_json_equals_in_process_extractor(api_server, extractor, seed_text):
    response = post_text(api_server, seed_text, doc="自评报告")
    assert response.status_code == 200, response.text
    body = response.json()
    expected = extractor.extract_text(seed_text, "自评报告").to_json()
    assert body["doc"] == "自评报告"
    assert body["model"] == extractor.model_info
    assert body["records"] == expected["records"] and len(body["records"]) > 100
    assert body["checks"] == expected["checks"]
    assert body["timing_ms"] > 0 and body["text"] is None
    assert_offsets(body["records"], seed_text)


@pytest.mark.parametrize("encoding", ["gb18030", "utf-16", "utf-8-sig"])
def test_upload_text_in_chinese_encodings(api_server, seed_text, encoding):
    response = upload(api_server, "年度报告.txt", seed_text.encode(encoding), options=json.dumps({"include_text": True}))
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["doc"] == "年度报告" and body["text"] == seed_text
    assert body["records"] == post_text(api_server, seed_text).json()["records"]


def _docx_bytes(paragraphs: list[str]) -> bytes:
    import docx

    document = docx.Document()
    for p in paragraphs:
        document.add_paragraph(p)
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


def test_upload_docx_html_pdf(api_server, seed_text):
    paragraphs = [p for p in seed_text.splitlines() if p.strip()][:20]
    html = "<html><head><meta charset='gb2312'><title>报告</title></head><body>" + "".join(
        f"<p>{p}</p>" for p in paragraphs) + "</body></html>"
    uploads = [("报告.docx", _docx_bytes(paragraphs)), ("报告.html", html.encode("gb18030"))]
    if PDF.exists():
        uploads.append((PDF.name, PDF.read_bytes()))
    for name, data in uploads:
        response = upload(api_server, name, data, doc="上传", options='{"include_text": true}')
        assert response.status_code == 200, (name, response.text)
        body = response.json()
        assert body["doc"] == "上传" and body["records"], name
        assert_offsets(body["records"], body["text"])


def test_batch_in_order_with_a_failed_document(api_server, seed_text):
    parts = [seed_text[:3000], seed_text[3000:6000], "", seed_text[6000:]]
    documents = [{"text": t, "doc": f"第{i}篇"} for i, t in enumerate(parts)]
    response = httpx.post(api_server.url + "/v1/extract/batch", json={"documents": documents}, timeout=120)
    assert response.status_code == 200, response.text
    results = response.json()["results"]
    assert [r["doc"] for r in results] == ["第0篇", "第1篇", "第2篇", "第3篇"]
    assert results[2]["error"]["code"] == "E011" and results[2]["records"] is None
    for i in (0, 1, 3):
        assert results[i]["error"] is None
        assert results[i]["records"] == post_text(api_server, parts[i]).json()["records"]
    # Multipart: several files, results in the order sent; an unsupported one carries its own error.
    files = [("files", ("甲.txt", parts[0].encode("gb18030"))), ("files", ("乙.exe", b"MZ\x90\x00")),
             ("files", ("丙.txt", parts[1].encode("utf-8")))]
    response = httpx.post(api_server.url + "/v1/extract/batch", files=files, timeout=120)
    assert response.status_code == 200, response.text
    results = response.json()["results"]
    assert [r["doc"] for r in results] == ["甲", "乙", "丙"]
    assert results[1]["error"]["code"] == "E010"
    assert results[0]["records"] == post_text(api_server, parts[0]).json()["records"]


def test_openapi_docs_with_chinese_examples(api_server):
    docs = httpx.get(api_server.url + "/docs")
    assert docs.status_code == 200
    # Swagger UI comes from the service itself, so /docs works on a machine without internet.
    assert "/docs-assets/swagger-ui-bundle.js" in docs.text and "cdn." not in docs.text
    bundle = httpx.get(api_server.url + "/docs-assets/swagger-ui-bundle.js")
    assert bundle.status_code == 200 and "SwaggerUIBundle" in bundle.text
    assert httpx.get(api_server.url + "/docs-assets/swagger-ui.css").status_code == 200
    spec = httpx.get(api_server.url + "/openapi.json").json()
    assert {"/v1/extract", "/v1/extract/batch", "/healthz", "/readyz", "/v1/model"} <= set(spec["paths"])
    body = spec["paths"]["/v1/extract"]["post"]["requestBody"]["content"]
    assert {"application/json", "multipart/form-data"} <= set(body)
    example = spec["components"]["schemas"]["ExtractRequest"]["examples"][0]["text"]
    assert any("\u4e00" <= c <= "\u9fff" for c in example)


# ---------------------------------------------------------------- every error code

ERRORS = [
    # (label, request, status, code)
    ("unknown route", lambda u: httpx.get(u + "/v2/nothing"), 404, "E047"),
    ("wrong method", lambda u: httpx.get(u + "/v1/extract"), 405, "E048"),
    ("text over 2 MB", lambda u: httpx.post(u + "/v1/extract", json={"text": "数" * 700_000}, timeout=60), 413, "E014"),
    ("unsupported file", lambda u: httpx.post(u + "/v1/extract", files={"file": ("a.exe", b"MZ\x90")}), 415, "E010"),
    ("unsupported content type", lambda u: httpx.post(u + "/v1/extract", content="文本",
                                                      headers={"content-type": "text/plain"}), 415, "E042"),
    ("malformed JSON", lambda u: httpx.post(u + "/v1/extract", content=b'{"text": "abc',
                                            headers={"content-type": "application/json"}), 422, "E041"),
    ("JSON not UTF-8", lambda u: httpx.post(u + "/v1/extract", content='{"text": "收入"}'.encode("gb18030"),
                                            headers={"content-type": "application/json"}), 422, "E041"),
    ("missing text", lambda u: httpx.post(u + "/v1/extract", json={"doc": "x"}), 422, "E041"),
    ("text not a string", lambda u: httpx.post(u + "/v1/extract", json={"text": ["a"]}), 422, "E041"),
    ("unknown option", lambda u: httpx.post(u + "/v1/extract", json={"text": "a", "options": {"x": 1}}), 422, "E041"),
    ("batch not a list", lambda u: httpx.post(u + "/v1/extract/batch", json={"documents": "a"}), 422, "E041"),
    ("multipart without file", lambda u: httpx.post(u + "/v1/extract", data={"doc": "x"},
                                                    files={"other": ("a.txt", b"abc")}), 422, "E041"),
    ("two files to /v1/extract", lambda u: httpx.post(u + "/v1/extract", files=[("file", ("a.txt", b"1")),
                                                                                ("file", ("b.txt", b"2"))]), 422, "E041"),
    ("multipart without boundary", lambda u: httpx.post(u + "/v1/extract", content=b"xx",
                                                        headers={"content-type": "multipart/form-data"}), 422, "E041"),
    ("empty text", lambda u: httpx.post(u + "/v1/extract", json={"text": " \n\u3000"}), 422, "E011"),
    ("empty file", lambda u: httpx.post(u + "/v1/extract", files={"file": ("a.txt", b"")}), 422, "E002"),
    ("binary file", lambda u: httpx.post(u + "/v1/extract", files={"file": ("a.txt", bytes(range(256)) * 4)}), 422, "E004"),
    ("undecodable file", lambda u: httpx.post(u + "/v1/extract", files={"file": ("a.txt", b"\xfd\xfe\xfb\x80\x81\x82\x83")}),
     422, "E005"),
    ("not a pdf", lambda u: httpx.post(u + "/v1/extract", files={"file": ("a.pdf", "文本".encode())}), 422, "E006"),
    ("broken pdf", lambda u: httpx.post(u + "/v1/extract", files={"file": ("a.pdf", b"%PDF-1.4\n garbage")}), 422, "E007"),
    ("broken docx", lambda u: httpx.post(u + "/v1/extract", files={"file": ("a.docx", b"PK\x03\x04 nope")}), 422, "E009"),
    ("html the parser rejects", lambda u: httpx.post(u + "/v1/extract", files={"file": ("a.html", b"<p>\xe6\x95\xb0<!['")}),
     422, "E012"),
    ("html without text", lambda u: httpx.post(u + "/v1/extract", files={"file": ("a.html", b"<html><script>x</script></html>")}),
     422, "E011"),
]


@pytest.mark.parametrize("label,request_fn,status,code", ERRORS, ids=[e[0] for e in ERRORS])
def test_error_codes(api_server, label, request_fn, status, code):
    assert_error(request_fn(api_server.url), status, code)


def test_limits_from_flags_and_environment(tight_server):
    u = tight_server.url
    assert_error(upload(tight_server, "a.txt", "数".encode() * 2000), 413, "E003")  # --max-upload-bytes 5000
    big = json.dumps({"text": "数" * 100_000})  # 300 kB of JSON over --max-request-bytes 200000
    assert_error(httpx.post(u + "/v1/extract", content=big, headers={"content-type": "application/json"}), 413, "E040")

    def chunks():  # no Content-Length: the limit must hold on the stream too
        yield b'{"text": "'
        for _ in range(30):
            yield "数".encode() * 3000
        yield b'"}'
    assert_error(httpx.post(u + "/v1/extract", content=chunks(), headers={"content-type": "application/json"}), 413, "E040")
    three = {"documents": [{"text": "发放资料300份"}] * 3}  # GOVMETRICS_MAX_BATCH=2
    assert_error(httpx.post(u + "/v1/extract/batch", json=three), 413, "E043")
    assert httpx.post(u + "/v1/extract/batch", json={"documents": three["documents"][:2]}).status_code == 200


def test_overload_answers_503_with_retry_after(tight_server, seed_text):
    """--queue-size 1: while one extraction runs, the others are refused at once, not queued."""
    barrier = threading.Barrier(6)
    responses: list[httpx.Response] = []

    def client() -> None:
        with httpx.Client(timeout=120) as c:
            barrier.wait()
            responses.append(c.post(tight_server.url + "/v1/extract", json={"text": seed_text * 3}))

    threads = [threading.Thread(target=client) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    statuses = sorted(r.status_code for r in responses)
    assert 200 in statuses and 503 in statuses and set(statuses) <= {200, 503}, statuses
    for r in responses:
        if r.status_code == 503:
            assert_error(r, 503, "E044")
            assert r.headers["retry-after"] == "3"  # GOVMETRICS_RETRY_AFTER
    # The slots are given back: once the work is done the service takes requests again.
    assert post_text(tight_server, "发放资料300份").status_code == 200


def test_model_that_fails_to_load(broken_server):
    for path in ("/readyz", "/v1/model"):
        assert_error(httpx.get(broken_server.url + path), 503, "E046")
    error = assert_error(post_text(broken_server, "发放资料300份"), 503, "E046")
    assert "no-such-model" in error["message"]
    assert httpx.get(broken_server.url + "/healthz").status_code == 200


# ---------------------------------------------------------------- no input gives a 500


@settings(max_examples=40, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
@given(data=st.binary(max_size=3000), suffix=st.sampled_from([".txt", ".pdf", ".docx", ".html", ".md", ""]),
       text=st.text(max_size=300))
def test_arbitrary_input_never_gives_a_server_error(api_server, data, suffix, text):
    response = upload(api_server, "f" + suffix, data)
    assert response.status_code in (200, 413, 415, 422), response.text
    if response.status_code != 200:
        assert set(response.json()) == {"error"}
    response = post_text(api_server, text)
    if response.status_code == 200:
        assert_offsets(response.json()["records"], text)
    else:
        assert_error(response, 422, response.json()["error"]["code"])
    response = httpx.post(api_server.url + "/v1/extract", content=data, headers={"content-type": "application/json"})
    assert response.status_code in (200, 422), response.text


def test_access_log_is_structured_and_has_no_traceback(api_server):
    response = httpx.get(api_server.url + "/healthz")
    request_id = response.headers["x-request-id"]
    lines = [json.loads(line) for line in api_server.log_text().splitlines() if line.startswith("{")]
    access = [line for line in lines if line["logger"] == "govmetrics.access"]
    mine = [line for line in access if line["request_id"] == request_id]
    assert mine and mine[0]["path"] == "/healthz" and mine[0]["status"] == 200 and mine[0]["duration_ms"] >= 0
    assert {"method", "client", "bytes_in", "bytes_out", "ts"} <= set(mine[0])
    # Every request so far (the error battery, the fuzzing) was answered without an internal error.
    assert all(line["status"] < 500 or line["path"] == "/readyz" for line in access)
    assert "Traceback" not in api_server.log_text()


@pytest.mark.parametrize("args,env,message", [
    (["--port", "99999"], {}, "not a port"),
    (["--queue-size", "-1"], {}, "is negative"),
    ([], {"GOVMETRICS_PORT": "八千"}, "GOVMETRICS_PORT"),
])
def test_serve_refuses_bad_settings_in_one_line(args, env, message):
    p = subprocess.run([sys.executable, "-m", "govmetrics.cli", "serve", *args], cwd=ROOT, capture_output=True,
                       timeout=60, env={**os.environ, **env})
    assert p.returncode == 2 and message in p.stderr.decode() and "Traceback" not in p.stderr.decode()


def test_two_extraction_threads_give_the_same_records_as_one(api_server, seed_text):
    # `--workers 2`: two documents run at once in one process; results must not mix or change.
    from concurrent.futures import ThreadPoolExecutor

    texts = [seed_text, seed_text[:3000], seed_text[3000:], "今年来侦破电信诈骗案件30起，抓获犯罪嫌疑人83人。"]
    expected = [httpx.post(api_server.url + "/v1/extract", json={"text": t}, timeout=120).json()["records"]
                for t in texts]
    with ServiceProcess.running("--workers", "2") as server:
        def post(i: int) -> tuple[int, list]:
            r = httpx.post(server.url + "/v1/extract", json={"text": texts[i % 4]}, timeout=300)
            assert r.status_code == 200, r.text
            return i % 4, r.json()["records"]

        with ThreadPoolExecutor(8) as pool:
            results = list(pool.map(post, range(12)))
    assert all(records == expected[i] for i, records in results)
