"""The web page in a real headless Chromium (Debian's `chromium`, driven by Playwright).

Without Chromium the test skips, unless GOVMETRICS_REQUIRE_BROWSER=1 (set by .ci/run): then it fails.
"""
from __future__ import annotations

import os
from pathlib import Path

import httpx
import pytest

from conftest import SEED

CHROMIUM = Path(os.environ.get("GOVMETRICS_CHROMIUM", "/usr/bin/chromium"))


def _browser_or_skip():
    missing = None
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        missing = "the playwright package is not installed (pip install -e '.[test]')"
    if missing is None and not CHROMIUM.exists():
        missing = f"{CHROMIUM} not found (apt-get install chromium; .ci/run does it)"
    if missing:
        if os.environ.get("GOVMETRICS_REQUIRE_BROWSER") == "1":
            pytest.fail(f"browser test required (GOVMETRICS_REQUIRE_BROWSER=1) but {missing}")
        pytest.skip(missing)
    return sync_playwright


@pytest.fixture(scope="module")
def page(api_server):
    sync_playwright = _browser_or_skip()
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"])
        context = browser.new_context(accept_downloads=True)
        page = context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto(api_server.url + "/")
        yield page
        browser.close()
        assert not errors, errors


def test_seed_is_highlighted_and_tabled(page, api_server, seed_text):
    expected = httpx.post(api_server.url + "/v1/extract", json={"text": seed_text}, timeout=120).json()["records"]
    assert expected
    assert page.title() == "GovMetrics 指标抽取"
    page.fill("#text-input", seed_text)
    page.click("#submit")
    page.wait_for_selector("body[data-state=done]", timeout=60_000)

    marks = page.locator("#doc-view mark[data-rec]")
    assert marks.count() == len(expected)
    assert page.locator("#records-table tbody tr").count() == len(expected)
    # The highlighted text is the record's text, and the page shows the document unchanged.
    assert [m for m in marks.all_inner_texts()] == [r["text"] for r in expected]
    assert page.inner_text("#doc-view").replace("\n", "") == seed_text.replace("\n", "").replace("\r", "")
    kinds = {r["kind"] for r in expected}
    for kind in kinds:
        assert page.locator(f"#doc-view mark.kind-{kind}").count() == sum(r["kind"] == kind for r in expected)
    assert page.locator("#doc-view .metric").count() > 0

    # Click a record that has a metric: its details appear and its metric span is marked as linked.
    index = next(i for i, r in enumerate(expected) if r["metric"])
    page.locator(f'#doc-view mark[data-rec="{index}"]').click()
    details = page.inner_text("#details")
    assert f"记录 {index + 1}" in details and expected[index]["text"] in details
    assert expected[index]["metric"]["text"] in details and "置信度" in details
    assert page.locator("#doc-view .metric.linked").count() >= 1
    assert expected[index]["text"] in (page.locator(f'#doc-view mark[data-rec="{index}"]').get_attribute("title") or "")


def test_csv_download_has_bom_and_every_record(page, tmp_path: Path):
    rows = page.locator("#records-table tbody tr").count()
    assert rows > 0, "runs after the seed was extracted"
    with page.expect_download() as info:
        page.click("#download-csv")
    path = tmp_path / "records.csv"
    info.value.save_as(path)
    data = path.read_bytes()
    assert data.startswith(b"\xef\xbb\xbf")
    import csv
    import io

    table = list(csv.reader(io.StringIO(data[3:].decode("utf-8"))))
    assert table[0][:2] == ["序号", "原文"] and len(table) == rows + 1
    with page.expect_download() as info:
        page.click("#download-json")
    import json

    assert len(json.loads(Path(info.value.path()).read_text(encoding="utf-8"))["records"]) == rows


def test_file_upload_and_error_message(page, tmp_path: Path):
    upload = tmp_path / "报告.txt"
    upload.write_bytes(SEED.read_bytes().decode("utf-8")[:2000].encode("gb18030"))
    page.set_input_files("#file-input", str(upload))
    page.click("#submit")
    # A selector, not wait_for_function: Playwright evaluates a string predicate with eval, which the CSP refuses.
    page.wait_for_selector("body[data-state=done] #summary:has-text('报告')", timeout=60_000)
    assert page.locator("#doc-view mark[data-rec]").count() == page.locator("#records-table tbody tr").count() > 0
    empty = tmp_path / "空.txt"
    empty.write_bytes(b"")
    page.set_input_files("#file-input", str(empty))
    page.click("#submit")
    page.wait_for_selector("body[data-state=error]")
    assert "E002" in page.inner_text("#error")


def test_mismatch_checks_are_marked(page, api_server):
    """Until the arithmetic audit fills `checks`, feed the page a result with one mismatch."""
    text = "本年支出合计100万元，其中：基本支出60万元，项目支出30万元。"
    result = httpx.post(api_server.url + "/v1/extract", json={"text": text}, timeout=60).json()
    assert len(result["records"]) == 3
    result["checks"] = [{"kind": "sum", "status": "mismatch", "records": [0, 1, 2], "stated": "1000000",
                         "computed": "900000", "message": "合计100万元与分项之和90万元不符"},
                        {"kind": "sum", "status": "ok", "records": [1], "stated": "1", "computed": "1", "message": ""}]
    page.evaluate("([result, text]) => render(result, text)", [result, text])
    assert page.locator("#doc-view mark.mismatch").count() == 3
    assert page.locator("#records-table tbody tr.mismatch").count() == 3
    assert "90万元不符" in page.locator('#doc-view mark[data-rec="0"]').get_attribute("title")
    page.locator('#doc-view mark[data-rec="2"]').click()
    assert "90万元不符" in page.inner_text("#details")


def test_api_docs_render_offline(page, api_server):
    # Swagger UI from the service's own assets renders the OpenAPI 3.1 document, no CDN involved.
    requests: list[str] = []
    page.on("request", lambda r: requests.append(r.url))
    page.goto(api_server.url + "/docs")
    page.wait_for_selector(".swagger-ui .opblock-summary-path", timeout=30_000)
    paths = page.locator(".swagger-ui .opblock-summary-path").all_inner_texts()
    assert any("/v1/extract" in p for p in paths)
    assert all(u.startswith(api_server.url) for u in requests), [u for u in requests if not u.startswith(api_server.url)]
    page.goto(api_server.url + "/")
