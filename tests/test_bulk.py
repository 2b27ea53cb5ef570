"""Bulk annotation as a user runs it: `govmetrics annotate` over a 200+ document archive.

The archive is built at run time from real corpus files (short snippets as
UTF-8/GBK text, docx and html, two real PDFs) plus the failures users send:
a corrupt PDF, an empty file, binary junk, undecodable bytes, an unsupported
type, a broken zip, a duplicate under another name, a zip inside a zip and a
.tar.gz. `--model rules` keeps the runs short.
"""
from __future__ import annotations

import io
import os
import random
import shutil
import signal
import sqlite3
import subprocess
import sys
import tarfile
import time
import zipfile
from pathlib import Path

import pytest

from conftest import ROOT, SHARED

CORPUS = SHARED / "corpus"
SNIPPET_CHARS = 250
# name -> the error code its document must fail with
EXPECTED_FAILURES = {
    "corrupt.pdf": "E007", "empty.txt": "E002", "junk.txt": "E004", "undecodable.txt": "E005",
    "image.png": "E010", "not_a_pdf.pdf": "E006", "broken.zip": "E050",
}


def run_cli(*args: str, timeout: int = 300) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "govmetrics.cli", *args], cwd=ROOT, capture_output=True,
                          timeout=timeout)


def _snippets() -> list[str]:
    files = sorted((CORPUS / "seed").glob("*.txt")) + sorted((CORPUS / "budget").glob("*.txt")) \
        + sorted((CORPUS / "work-reports").glob("*.txt"))
    out = []
    for f in files:
        text = f.read_bytes().decode("utf-8")
        for k in range(3):
            # past the title page, where the figures are
            piece = text[1000 + k * SNIPPET_CHARS:1000 + (k + 1) * SNIPPET_CHARS]
            if piece.strip():
                out.append(piece)
    return out


def _docx(text: str) -> bytes:
    import docx

    document = docx.Document()
    for line in text.splitlines():
        document.add_paragraph(line)
    buf = io.BytesIO()
    document.save(buf)
    return buf.getvalue()


def _zip(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        for name, data in members.items():
            z.writestr(name, data)
    return buf.getvalue()


@pytest.fixture(scope="session")
def archive(tmp_path_factory) -> dict:
    """The test archive: an inbox folder, a zip (with a nested zip), a .tar.gz, a broken zip."""
    root = tmp_path_factory.mktemp("bulk")
    rng = random.Random(6)
    snippets = iter(_snippets())
    inbox = root / "inbox"
    for sub in ("txt", "gbk", "docx", "html", "pdf", "bad", "dup"):
        (inbox / sub).mkdir(parents=True)
    for i in range(80):
        (inbox / "txt" / f"utf8_{i:03}.txt").write_text(next(snippets), encoding="utf-8")
    n_gbk = 0
    while n_gbk < 20:
        try:
            data = next(snippets).encode("gbk")
        except UnicodeEncodeError:
            continue
        (inbox / "gbk" / f"gbk_{n_gbk:03}.txt").write_bytes(data)
        n_gbk += 1
    for i in range(8):
        (inbox / "docx" / f"doc_{i}.docx").write_bytes(_docx(next(snippets)))
    for i in range(5):
        body = "".join(f"<p>{line}</p>" for line in next(snippets).splitlines())
        (inbox / "html" / f"page_{i}.html").write_text(
            f'<html><head><meta charset="utf-8"><title>t</title></head><body>{body}</body></html>', encoding="utf-8")
    pdfs = sorted((p for p in (CORPUS / "pdf").glob("*.pdf") if p.stat().st_size > 10_000), key=lambda p: p.stat().st_size)
    for i, pdf in enumerate(pdfs[:2]):
        shutil.copy(pdf, inbox / "pdf" / f"real_{i}.pdf")
    real_pdf = pdfs[0].read_bytes()
    bad = inbox / "bad"
    (bad / "corrupt.pdf").write_bytes(real_pdf[: len(real_pdf) // 2])
    (bad / "empty.txt").write_bytes(b"")
    (bad / "junk.txt").write_bytes(bytes(rng.randrange(256) for _ in range(4096)))
    (bad / "undecodable.txt").write_bytes(bytes(range(0x80, 0x100)) * 16)
    (bad / "image.png").write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(rng.randrange(256) for _ in range(512)))
    (bad / "not_a_pdf.pdf").write_bytes("这不是PDF文件".encode("utf-8"))
    shutil.copy(inbox / "txt" / "utf8_000.txt", inbox / "dup" / "copy_of_utf8_000.txt")
    (inbox / ".hidden.txt").write_text("隐藏文件不是文档", encoding="utf-8")

    nested = _zip({f"inner/nested_{i:02}.txt": next(snippets).encode("utf-8") for i in range(15)})
    members = {f"reports/2021/zip_{i:02}.txt": next(snippets).encode("utf-8") for i in range(40)}
    members["reports/nested.zip"] = nested
    members["__MACOSX/reports/._zip_00.txt"] = b"\x00\x05\x16\x07"
    (root / "bundle.zip").write_bytes(_zip(members))
    with tarfile.open(root / "bundle.tar.gz", "w:gz") as tar:
        for i in range(30):
            data = next(snippets).encode("utf-8")
            info = tarfile.TarInfo(f"tarred/tar_{i:02}.txt")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    (root / "broken.zip").write_bytes(b"PK\x03\x04" + bytes(rng.randrange(256) for _ in range(300)))
    inputs = [str(inbox), str(root / "bundle.zip"), str(root / "bundle.tar.gz"), str(root / "broken.zip")]
    # every archive entry is a row (issue 13): the __MACOSX junk too, skipped with E019
    expected = 80 + 20 + 8 + 5 + 2 + 6 + 1 + 40 + 15 + 30 + 1 + 1
    return {"root": root, "inputs": inputs, "expected": expected, "inbox": inbox}


def db_rows(db: Path) -> tuple[list[tuple], list[tuple]]:
    """(documents, records) as sorted tuples, without ids, times and run ids."""
    from govmetrics.bulk.store import QUOTED_RECORD_COLUMNS

    with sqlite3.connect(db) as conn:
        docs = sorted(conn.execute(
            "SELECT source, member, name, sha256, size, reader, chars, status, error_code, record_count, "
            "model_name, model_version FROM documents"))
        records = sorted(conn.execute(
            f"SELECT d.source, d.member, r.record_index, {QUOTED_RECORD_COLUMNS} FROM records r "
            "JOIN documents d ON d.id = r.document_id"), key=repr)
    return docs, records


@pytest.fixture(scope="session")
def full_run(archive, tmp_path_factory) -> Path:
    """One uninterrupted run over the whole archive (2 workers)."""
    db = tmp_path_factory.mktemp("full") / "results.db"
    p = run_cli("annotate", *archive["inputs"], "--out", str(db), "--workers", "2", "--model", "rules")
    assert p.returncode == 0, p.stderr.decode()
    assert "Traceback" not in p.stderr.decode()
    return db


def test_discovery_lists_every_document_once(archive):
    from govmetrics.read.archive import iter_documents

    docs, nested_text = [], []
    for doc in iter_documents(archive["inputs"] + [archive["inputs"][0]], 10**7):
        docs.append(doc)
        if doc.member.startswith("reports/nested.zip!/"):  # read() is valid until the iterator moves on
            nested_text.append(doc.read().decode("utf-8"))
    keys = [(d.source, d.member) for d in docs]
    assert len(keys) == len(set(keys)) == archive["expected"] >= 200
    names = {d.name for d in docs}
    assert ".hidden.txt" not in names  # hidden files in folders are left out
    junk = [d for d in docs if d.name == "._zip_00.txt"]  # in an archive, a row refused as hidden
    assert len(junk) == 1 and junk[0].refusal is not None and junk[0].refusal.code == "E019"
    assert len(nested_text) == 15 and all(t.strip() for t in nested_text)
    tarred = [d for d in docs if d.source.endswith("bundle.tar.gz")]
    assert len(tarred) == 30


def test_every_document_done_or_failed_with_its_reason(archive, full_run):
    from govmetrics.read.readers import read_bytes

    docs, records = db_rows(full_run)
    assert len(docs) == archive["expected"]
    assert len({(d[0], d[1]) for d in docs}) == len(docs)  # one row per document
    by_name = {d[2]: d for d in docs}
    failed = {d[2]: d[8] for d in docs if d[7] == "failed"}
    assert failed == EXPECTED_FAILURES
    assert {d[2]: d[8] for d in docs if d[7] == "skipped"} == {"._zip_00.txt": "E019"}
    assert all(d[7] == "done" for d in docs if d[2] not in EXPECTED_FAILURES and d[7] != "skipped")
    assert {d[5] for d in docs if d[7] == "done"} == {"text", "docx", "html", "pdf"}
    # the duplicate is a document of its own, with the same content and the same records
    original, copy = by_name["utf8_000.txt"], by_name["copy_of_utf8_000.txt"]
    assert original[3] == copy[3] and original[9] == copy[9] and original[0] != copy[0]
    # record counts agree with the records table; offsets index the text the reader gives
    per_doc: dict[tuple[str, str], list[tuple]] = {}
    for r in records:
        per_doc.setdefault((r[0], r[1]), []).append(r)
    assert sum(d[9] for d in docs) == len(records) > 500
    for d in docs:
        assert len(per_doc.get((d[0], d[1]), [])) == d[9]
    for d in docs:
        if d[1] or d[7] != "done" or d[2].endswith(".pdf"):
            continue
        text = read_bytes(Path(d[0]).read_bytes(), d[2]).text
        for r in per_doc.get((d[0], d[1]), []):
            assert text[r[5]:r[6]] == r[4]  # after the key and index: kind, text, start, end


def test_rerun_skips_retry_failed_and_force(archive, full_run, tmp_path):
    db = tmp_path / "copy.db"
    with sqlite3.connect(full_run) as src, sqlite3.connect(db) as dst:
        src.backup(dst)
    before = db_rows(db)
    n, n_failed = archive["expected"], len(EXPECTED_FAILURES)
    p = run_cli("annotate", *archive["inputs"], "--out", str(db), "--workers", "1", "--model", "rules")
    assert p.returncode == 0, p.stderr.decode()
    out = p.stdout.decode()
    assert f"{n} documents; done 0, skipped {n}, failed 0" in out
    assert (f"{n - n_failed - 1} already done with the same content and model, {n_failed} failed before "
            "(--retry-failed retries them), 1 refused before") in out
    assert db_rows(db) == before

    bad = archive["inbox"] / "bad"
    p = run_cli("annotate", str(bad), "--out", str(db), "--workers", "1", "--model", "rules", "--retry-failed")
    assert p.returncode == 0, p.stderr.decode()
    assert f"{len(list(bad.iterdir()))} documents; done 0, skipped 0, failed {len(list(bad.iterdir()))}" in p.stdout.decode()
    assert "E002" in p.stdout.decode() and str(bad / "empty.txt") in p.stdout.decode()

    txt = archive["inbox"] / "txt"
    p = run_cli("annotate", str(txt), "--out", str(db), "--workers", "1", "--model", "rules", "--force")
    assert p.returncode == 0, p.stderr.decode()
    assert "80 documents; done 80, skipped 0, failed 0" in p.stdout.decode()
    assert db_rows(db) == before  # same content, same model: redone, same results
    with sqlite3.connect(db) as conn:
        runs = conn.execute("SELECT state, done, skipped, failed FROM runs ORDER BY id").fetchall()
    assert runs[-3:] == [("finished", 0, n, 0), ("finished", 0, 0, 6), ("finished", 80, 0, 0)]


def test_sigkill_midway_then_resume_matches_uninterrupted_run(archive, full_run, tmp_path):
    import psutil

    db = tmp_path / "killed.db"
    proc = subprocess.Popen([sys.executable, "-m", "govmetrics.cli", "annotate", *archive["inputs"], "--out", str(db),
                             "--workers", "1", "--model", "rules"], cwd=ROOT, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        assert _wait_for_documents(db, proc, 40) >= 40
        workers = psutil.Process(proc.pid).children(recursive=True)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
        # orphaned workers notice and exit instead of holding a model each
        _, alive = psutil.wait_procs(workers, timeout=15)
        assert alive == []
    finally:
        try:
            os.killpg(proc.pid, signal.SIGKILL)  # the orphaned workers, if any
        except ProcessLookupError:
            pass
    assert proc.returncode == -signal.SIGKILL
    partial_docs, partial_records = db_rows(db)
    assert 40 <= len(partial_docs) < archive["expected"]  # killed part-way
    # nothing half-written: every document row has all its records
    with sqlite3.connect(db) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        mismatched = conn.execute(
            "SELECT count(*) FROM documents d WHERE record_count != "
            "(SELECT count(*) FROM records r WHERE r.document_id = d.id)").fetchone()[0]
        assert mismatched == 0

    p = run_cli("annotate", *archive["inputs"], "--out", str(db), "--workers", "2", "--model", "rules")
    assert p.returncode == 0, p.stderr.decode()
    n_failed = sum(1 for d in partial_docs if d[7] == "failed")
    n_refused = sum(1 for d in partial_docs if d[7] == "skipped")
    assert f"skipped {len(partial_docs)}" in p.stdout.decode()
    assert f"{len(partial_docs) - n_failed - n_refused} already done" in p.stdout.decode()
    # the killed run was left 'running'; the resuming run, holding the lock, marked it
    with sqlite3.connect(db) as conn:
        assert [state for (state,) in conn.execute("SELECT state FROM runs ORDER BY id")] == [
            "interrupted", "finished"]
    assert db_rows(db) == db_rows(full_run)


def _wait_for_documents(db: Path, proc: subprocess.Popen, n: int, seconds: float = 240) -> int:
    """Poll the database until it holds `n` documents (or the run ends); returns the count."""
    count = 0
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and proc.poll() is None:
        if db.exists():
            try:
                with sqlite3.connect(db, timeout=1) as conn:
                    count = conn.execute("SELECT count(*) FROM documents").fetchone()[0]
            except sqlite3.OperationalError:  # schema not created yet
                count = 0
            if count >= n:
                break
        time.sleep(0.05)
    return count


def test_ctrl_c_keeps_what_was_finished_and_says_so(archive, tmp_path):
    import psutil

    db = tmp_path / "interrupted.db"
    # a terminal's Ctrl-C: SIGINT to the whole process group, workers included
    proc = subprocess.Popen([sys.executable, "-m", "govmetrics.cli", "annotate", str(archive["inbox"] / "txt"),
                             "--out", str(db), "--workers", "1", "--model", "rules"], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
    try:
        assert _wait_for_documents(db, proc, 10) >= 10
        workers = psutil.Process(proc.pid).children(recursive=True)
        os.killpg(proc.pid, signal.SIGINT)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert proc.returncode == 130, err.decode()
    assert "Traceback" not in err.decode()
    assert out.decode().startswith("interrupted in") and "rerun the same command to resume" in out.decode()
    _, alive = psutil.wait_procs(workers, timeout=15)
    assert alive == []
    with sqlite3.connect(db) as conn:
        done = conn.execute("SELECT count(*) FROM documents").fetchone()[0]
        assert conn.execute("SELECT state, done FROM runs").fetchall() == [("interrupted", done)]
        assert conn.execute("SELECT count(*) FROM documents d WHERE record_count != "
                            "(SELECT count(*) FROM records r WHERE r.document_id = d.id)").fetchone()[0] == 0
    assert 10 <= done < 80


def test_ray_engine_gives_the_same_records_as_local(archive, full_run, tmp_path):
    db = tmp_path / "ray.db"
    inbox = archive["inbox"]
    inputs = [str(inbox / sub) for sub in ("gbk", "docx", "bad", "html", "pdf")]
    p = run_cli("annotate", *inputs, "--out", str(db), "--workers", "2", "--engine", "ray", "--model", "rules",
                timeout=500)
    assert p.returncode == 0, p.stderr.decode()
    assert "41 documents; done 35, skipped 0, failed 6" in p.stdout.decode()
    ray_docs, ray_records = db_rows(db)
    local_docs, local_records = db_rows(full_run)
    keys = {(d[0], d[1]) for d in ray_docs}
    assert len(keys) == 41
    assert ray_docs == [d for d in local_docs if (d[0], d[1]) in keys]
    assert ray_records == [r for r in local_records if (r[0], r[1]) in keys]
    assert len(ray_records) > 50


def test_export_formats_hold_every_record(full_run, tmp_path):
    import openpyxl
    import pandas as pd

    from govmetrics.bulk.export import spreadsheet_safe
    from govmetrics.bulk.store import RECORD_COLUMNS

    _, records = db_rows(full_run)
    expected = sorted((r[0], r[1], r[2], r[4], r[9]) for r in records)  # key, index, text, normalized value
    # csv and xlsx: text that starts like a formula ("-0.5个百分点") has a leading ' (issue 13)
    in_sheets = sorted((a, b, i, spreadsheet_safe(t), spreadsheet_safe(v)) for a, b, i, t, v in expected)

    def keyed(frame) -> list[tuple]:
        return sorted(zip(frame["source"], frame["member"].fillna(""), frame["record_index"].astype(int),
                          frame["text"], frame["normalized_value"].astype(str)))

    paths = {}
    for fmt in ("jsonl", "csv", "xlsx", "parquet"):
        paths[fmt] = tmp_path / f"records.{fmt}"
        p = run_cli("export", str(full_run), "--format", fmt, "--out", str(paths[fmt]))
        assert p.returncode == 0, p.stderr.decode()
        assert f"exported {len(records)} records" in p.stdout.decode()

    assert paths["csv"].read_bytes()[:3] == b"\xef\xbb\xbf"
    csv_frame = pd.read_csv(paths["csv"], encoding="utf-8-sig", dtype={"normalized_value": str, "member": str})
    jsonl_frame = pd.read_json(paths["jsonl"], lines=True, dtype={"normalized_value": str})
    parquet_frame = pd.read_parquet(paths["parquet"])
    for frame, want in ((csv_frame, in_sheets), (jsonl_frame, expected), (parquet_frame, expected)):
        assert set(RECORD_COLUMNS) <= set(frame.columns) and {"source", "member", "sha256", "model_version"} <= set(frame.columns)
        assert keyed(frame) == want

    book = openpyxl.load_workbook(paths["xlsx"], read_only=True)
    assert book.sheetnames == ["records", "checks", "documents"]
    rows = list(book["records"].iter_rows(values_only=True))
    header = list(rows[0])
    got = sorted((r[header.index("source")], r[header.index("member")] or "", r[header.index("record_index")],
                  r[header.index("text")], r[header.index("normalized_value")]) for r in rows[1:])
    assert got == in_sheets
    assert list(next(book["checks"].iter_rows(values_only=True)))[-6:] == ["kind", "check_status", "records",
                                                                          "stated", "computed", "message"]

    docs_csv = tmp_path / "documents.csv"
    assert run_cli("export", str(full_run), "--format", "csv", "--table", "documents", "--out", str(docs_csv)).returncode == 0
    documents = pd.read_csv(docs_csv, encoding="utf-8-sig")
    assert sorted(documents["status"].value_counts().items()) == [
        ("done", len(documents) - len(EXPECTED_FAILURES) - 1), ("failed", len(EXPECTED_FAILURES)), ("skipped", 1)]


def test_export_refuses_what_is_not_a_results_database(tmp_path):
    other = tmp_path / "other.db"
    with sqlite3.connect(other) as conn:
        conn.execute("CREATE TABLE t (x)")
    p = run_cli("export", str(other), "--format", "csv", "--out", str(tmp_path / "x.csv"))
    assert p.returncode == 2 and "Traceback" not in p.stderr.decode()
    assert "cannot use the results database" in p.stderr.decode()
    p = run_cli("export", str(tmp_path / "missing.db"), "--format", "csv", "--out", str(tmp_path / "x.csv"))
    assert p.returncode == 2 and "no such file" in p.stderr.decode()


def annotate_or_die(job):
    """A worker function that dies like a reader crashing the interpreter on one document."""
    from govmetrics.bulk.engine import _worker_annotate

    if job.name == "kills_the_worker.txt":
        os._exit(3)
    return _worker_annotate(job)


def _run_with_one_bad_document(tmp_path, bad: str, good: int, annotate, **engine_options):
    """Annotate `good` real snippets and one document named `bad` with a worker function that fails on it."""
    from govmetrics.bulk.engine import BulkAnnotator, LocalEngine, WorkerOptions
    from govmetrics.bulk.store import ResultStore

    folder = tmp_path / "in"
    folder.mkdir()
    snippets = _snippets()
    for i in range(good):
        (folder / f"good_{i}.txt").write_text(snippets[i * 5], encoding="utf-8")
    (folder / bad).write_text(snippets[1], encoding="utf-8")
    engine = LocalEngine(2, WorkerOptions("rules", 10**7, **engine_options), annotate=annotate)
    try:
        with ResultStore(tmp_path / "r.db") as store:
            summary = BulkAnnotator(store, engine, progress=False).run([folder])
    finally:
        engine.close()
    with sqlite3.connect(tmp_path / "r.db") as conn:
        rows = dict(conn.execute("SELECT name, coalesce(error_code, status) FROM documents"))
        error = conn.execute("SELECT error FROM documents WHERE name = ?", (bad,)).fetchone()[0]
    return summary, rows, error


def test_a_document_that_kills_its_worker_is_failed_and_the_run_goes_on(tmp_path):
    summary, rows, _ = _run_with_one_bad_document(tmp_path, "kills_the_worker.txt", 6, annotate_or_die)
    assert (summary.done, summary.failed) == (6, 1)
    assert rows == {**{f"good_{i}.txt": "done" for i in range(6)}, "kills_the_worker.txt": "E051"}


def test_zip_member_names_in_gbk_and_oversized_members(tmp_path):
    from govmetrics.read.archive import iter_documents
    from govmetrics.errors import GovMetricsError

    # Chinese Windows writes member names in GBK without the UTF-8 flag; zipfile cannot, so patch the bytes.
    raw = _zip({"XXXX.txt": "收入总计5028.61万元".encode("utf-8"), "big.txt": b"1" * 5000})
    path = tmp_path / "windows.zip"
    path.write_bytes(raw.replace(b"XXXX.txt", "报告.txt".encode("gbk")))
    seen = {}
    for doc in iter_documents([path], 1000):
        try:
            seen[doc.member] = doc.read().decode("utf-8")
        except GovMetricsError as exc:
            seen[doc.member] = exc.code
    assert seen == {"报告.txt": "收入总计5028.61万元", "big.txt": "E003"}


def test_store_replaces_a_document_whole_and_keeps_checks(tmp_path, extractor):
    from govmetrics.bulk.store import DocumentOutcome, ResultStore

    text = "2021年度收入总计5028.61万元，与2019年相比，减少761.39万元，减少13.15%。"
    result = extractor.extract_text(text, "doc").to_json()
    assert len(result["records"]) == 3
    result["checks"] = [{"kind": "change", "status": "mismatch", "records": [0, 1], "stated": "761.39",
                         "computed": "761.40", "message": "stated and computed differ"}]
    model = {"model_name": "m", "model_version": "1"}
    with ResultStore(tmp_path / "r.db") as store:
        store.write_document(DocumentOutcome(source="/a.zip", member="x.txt", name="x.txt", status="done",
                                             result=result, **model))
        store.write_document(DocumentOutcome(source="/a.zip", member="y.txt", name="y.txt", status="done",
                                             result=result, **model))
        # the same document again, now failed: its old records and checks go with it
        store.write_document(DocumentOutcome(source="/a.zip", member="x.txt", name="x.txt", status="failed",
                                             error_code="E002", error="x.txt: file is empty", **model))
        assert store.count("documents") == 2 and store.count("records") == 3 and store.count("checks") == 1
        rows = list(store.query('SELECT r.text, r."start", r."end", r.normalized_value, r.normalized_unit, r.role, '
                                "r.metric_text, r.metric_start, r.metric_end FROM records r ORDER BY record_index"))
        check = next(store.query("SELECT kind, status, records, stated, computed FROM checks"))
    assert [r["normalized_value"] for r in rows] == ["50286100", "7613900", "13.15"]
    for r in rows:
        assert text[r["start"]:r["end"]] == r["text"]
        if r["metric_text"] is not None:
            assert text[r["metric_start"]:r["metric_end"]] == r["metric_text"]
    assert tuple(check) == ("change", "mismatch", "[0, 1]", "761.39", "761.40")


def test_store_refuses_a_newer_schema(tmp_path):
    from govmetrics.errors import GovMetricsError
    from govmetrics.bulk.store import SCHEMA_VERSION, ResultStore

    ResultStore(tmp_path / "r.db").close()
    with sqlite3.connect(tmp_path / "r.db") as conn:
        conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    with pytest.raises(GovMetricsError) as info:
        ResultStore(tmp_path / "r.db")
    assert info.value.code == "E053" and "newer" in info.value.message


def test_skip_decision():
    from govmetrics.bulk.engine import skip_reason
    from govmetrics.bulk.store import KnownDocument

    model = {"name": "m", "version": "2"}
    done = KnownDocument("abc", "m", "2", "done")
    failed = KnownDocument("abc", "m", "2", "failed")
    assert skip_reason(None, "abc", model, retry_failed=False, force=False) is None
    assert skip_reason(done, "abc", model, retry_failed=False, force=False) == "done"
    assert skip_reason(done, "abc", model, retry_failed=True, force=False) == "done"
    assert skip_reason(done, "abc", model, retry_failed=False, force=True) is None
    assert skip_reason(done, "changed", model, retry_failed=False, force=False) is None
    assert skip_reason(done, "abc", {"name": "m", "version": "3"}, retry_failed=False, force=False) is None
    assert skip_reason(failed, "abc", model, retry_failed=False, force=False) == "failed"
    assert skip_reason(failed, "abc", model, retry_failed=True, force=False) is None


def test_annotate_usage_errors_are_one_line(tmp_path):
    empty = tmp_path / "empty_folder"
    empty.mkdir()
    for args, message in (([str(tmp_path / "missing")], "missing: file not found"),
                          ([str(empty)], "no documents found in"),
                          ([str(empty), "--workers", "0"], "--workers: '0' is not a whole number")):
        p = run_cli("annotate", *args, "--out", str(tmp_path / "r.db"), "--model", "rules")
        err = p.stderr.decode()
        assert p.returncode == 2 and message in err and "Traceback" not in err, err


class _Stuck:
    """An extractor caught in an endless loop, as pypdf is on some damaged PDFs."""

    model_info = {"name": "stuck", "version": "0"}

    def extract_text(self, text, name):
        while True:
            pass


def annotate_or_hang(job):
    """A worker function that never finishes one document."""
    from govmetrics.bulk.engine import _WORKER, _worker_annotate, annotate_job

    if job.name == "hangs.txt":
        return annotate_job(_Stuck(), job, _WORKER["options"])
    return _worker_annotate(job)


def test_a_document_past_its_time_limit_is_failed_and_the_run_goes_on(tmp_path):
    summary, rows, error = _run_with_one_bad_document(tmp_path, "hangs.txt", 4, annotate_or_hang, time_limit=3)
    assert (summary.done, summary.failed) == (4, 1)
    assert rows == {**{f"good_{i}.txt": "done" for i in range(4)}, "hangs.txt": "E057"}
    assert "gave up after 3 s" in error and "--doc-timeout" in error


def test_doc_timeout_option_is_checked():
    p = run_cli("annotate", "x.txt", "--doc-timeout", "soon")
    assert p.returncode == 2 and "Traceback" not in p.stderr.decode()
    assert "is not a number of seconds" in p.stderr.decode()


def test_time_limit_stops_a_loop_in_the_main_thread_and_in_another():
    # Pool workers run documents in their main thread (an alarm); Ray Data actors in another (a timer).
    import threading

    from govmetrics.bulk.engine import _DocumentTimeout, _time_limit

    stopped: list[str] = []

    def spin(where: str) -> None:
        try:
            with _time_limit(0.5):
                while True:
                    pass
        except _DocumentTimeout:
            stopped.append(where)

    spin("main")
    worker = threading.Thread(target=spin, args=("thread",))
    worker.start()
    worker.join(30)
    assert stopped == ["main", "thread"]
    with _time_limit(0.2):  # finishing in time leaves nothing behind
        pass
    time.sleep(0.5)
