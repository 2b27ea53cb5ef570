"""Hostile input to bulk annotation (issue 13): archive bombs, odd archive entries, odd names,
formula cells in exports, closed standard streams, two runs on one database, killed runs.

Most tests drive `BulkAnnotator` in-process with a fake engine (no model: the
point is what reaches the store, not the records); the memory and CLI tests
run the real command in a subprocess and measure it.
"""
from __future__ import annotations

import csv
import io
import os
import sqlite3
import subprocess
import sys
import tarfile
import threading
import time
import zipfile
from pathlib import Path
from typing import Iterator

import pytest

from conftest import ROOT

GOOD_TEXT = "收入总计5028.61万元，比上年增长12.5%。".encode("utf-8")
MiB = 1024 * 1024


def run_cli(*args: str, env: dict[str, str] | None = None, timeout: int = 120) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "govmetrics.cli", *args], cwd=ROOT, capture_output=True,
                          timeout=timeout, env={**os.environ, **(env or {})})


# -- a fake engine: every job read, never modelled ------------------------------
class FakeEngine:
    """Reads each job's bytes like a worker would, and reports it done without a model."""

    name = "fake"
    workers = 1

    def model_info(self) -> dict[str, str]:
        return {"name": "fake", "version": "0"}

    def process(self, jobs: Iterator) -> Iterator:
        from govmetrics.bulk.store import DocumentOutcome

        for job in jobs:
            yield DocumentOutcome(source=job.source, member=job.member, name=job.name, sha256=job.sha256,
                                  size=job.size, status="done", model_name="fake", model_version="0",
                                  result={"doc": job.name, "records": [], "checks": []})

    def close(self) -> None:
        pass


def annotate_fake(db: Path, inputs: list[Path], **limits: int):
    from govmetrics.bulk.engine import BulkAnnotator
    from govmetrics.bulk.store import ResultStore

    with ResultStore(db) as store:
        return BulkAnnotator(store, FakeEngine(), progress=False, **limits).run(inputs)


def document_rows(db: Path) -> dict[str, tuple[str, str | None]]:
    with sqlite3.connect(db) as conn:
        return {member or Path(source).name: (status, code) for source, member, status, code in
                conn.execute("SELECT source, member, status, error_code FROM documents")}


# -- archives built without ever holding their expanded size ---------------------
def _write_zeros(handle, size: int) -> None:
    block = bytes(MiB)
    left = size
    while left:
        n = min(left, len(block))
        handle.write(block[:n])
        left -= n


def zip_of_zeros(path: Path, expanded: int, compression: int = zipfile.ZIP_DEFLATED) -> None:
    """A zip whose one member is `expanded` zero bytes (deflated: the zip is about a thousandth of that)."""
    with zipfile.ZipFile(path, "w", compression, compresslevel=1) as z:  # level 1: fastest on zeros
        with z.open("zeros.txt", "w", force_zip64=True) as member:
            _write_zeros(member, expanded)


def nested_bomb(path: Path, expanded: int, inner_expanded: int) -> None:
    """A small zip holding (a) an inner zip that is itself `expanded` bytes (its member stored), deflated
    in the outer one, and (b) a small inner zip whose member inflates to `inner_expanded` bytes."""
    inner_small = path.with_name("inner_small.zip")
    zip_of_zeros(inner_small, inner_expanded)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as outer:
        outer.writestr("good.txt", GOOD_TEXT)
        with outer.open("stored_bomb.zip", "w", force_zip64=True) as stream:
            with zipfile.ZipFile(stream, "w", zipfile.ZIP_STORED) as inner:
                with inner.open("zeros.txt", "w", force_zip64=True) as member:
                    _write_zeros(member, expanded)
        outer.write(inner_small, "deflated_bomb.zip")
    inner_small.unlink()


# -- 1. nested archive bomb ------------------------------------------------------
def test_a_nested_2_gib_bomb_is_refused_with_bounded_memory(tmp_path):
    import psutil

    bomb = tmp_path / "bomb.zip"
    # (b) is refused per member (20 MB) whatever its size: 512 MiB keeps the test's own deflating short
    nested_bomb(bomb, 2 * 1024 * MiB, 512 * MiB)
    assert bomb.stat().st_size < 32 * MiB
    db = tmp_path / "r.db"
    proc = subprocess.Popen([sys.executable, "-m", "govmetrics.cli", "annotate", str(bomb), "--out", str(db),
                             "--workers", "1", "--model", "rules"], cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    peak = 0
    watched = psutil.Process(proc.pid)
    deadline = time.monotonic() + 120
    while proc.poll() is None and time.monotonic() < deadline:
        try:
            peak = max(peak, watched.memory_info().rss)
        except psutil.NoSuchProcess:
            break
        time.sleep(0.02)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err.decode()
    print(f"bomb {bomb.stat().st_size / MiB:.1f} MiB on disk; annotate peaked at {peak / MiB:.0f} MiB RSS")
    assert peak < 500 * MiB, f"annotate peaked at {peak / MiB:.0f} MiB"
    rows = document_rows(db)
    assert rows["good.txt"] == ("done", None)
    assert rows["stored_bomb.zip"] == ("failed", "E059")
    assert rows["deflated_bomb.zip!/zeros.txt"] == ("failed", "E003")
    assert len(rows) == 3


def test_one_byte_budget_for_every_nested_read(tmp_path):
    """The per-archive limit counts every byte read at any depth: later members are refused, not dropped."""
    from govmetrics.errors import GovMetricsError
    from govmetrics.read.archive import ReadLimits, iter_documents

    inner = io.BytesIO()
    with zipfile.ZipFile(inner, "w") as z:
        for i in range(3):
            z.writestr(f"in_{i}.txt", b"x" * 1000)
    path = tmp_path / "a.zip"
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("a.txt", b"y" * 1000)
        z.writestr("inner.zip", inner.getvalue())
        z.writestr("z.txt", b"z" * 1000)
    outcomes = {}
    limits = ReadLimits(max_bytes=10_000, max_archive_bytes=3500 + len(inner.getvalue()), max_nested_bytes=10**6)
    for doc in iter_documents([path], limits):
        try:
            outcomes[doc.member] = len(doc.read())
        except GovMetricsError as exc:
            outcomes[doc.member] = exc.code
    # a.txt (1000) + inner.zip spilled (its size) + in_0, in_1 (2000) fit; in_2 and z.txt do not
    assert outcomes == {"a.txt": 1000, "inner.zip!/in_0.txt": 1000, "inner.zip!/in_1.txt": 1000,
                        "inner.zip!/in_2.txt": "E058", "z.txt": "E058"}


def test_a_member_longer_than_it_says_is_cut_at_the_limit():
    from govmetrics.errors import GovMetricsError
    from govmetrics.read.archive import read_bounded

    assert read_bounded(io.BytesIO(b"a" * 100), 100, lambda: GovMetricsError.make("E003", name="x", size=101,
                                                                                     limit=100)) == b"a" * 100
    with pytest.raises(GovMetricsError) as caught:
        read_bounded(io.BytesIO(b"a" * 10**6), 100, lambda: GovMetricsError.make("E003", name="x", size=101,
                                                                                  limit=100))
    assert caught.value.code == "E003"


# -- 7. every entry of a hostile archive is one row ------------------------------
def _tar_entry(tar: tarfile.TarFile, name: str, data: bytes | None = None, **fields) -> None:
    info = tarfile.TarInfo(name)
    for key, value in fields.items():
        setattr(info, key, value)
    if data is not None:
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    else:
        tar.addfile(info)


def test_every_hostile_entry_is_one_row_with_its_reason(tmp_path):
    small_bomb = tmp_path / "small_bomb.zip"
    zip_of_zeros(small_bomb, 8 * MiB, zipfile.ZIP_STORED)  # an 8 MiB inner archive, over a 2 MiB limit
    path = tmp_path / "hostile.tar.gz"
    with tarfile.open(path, "w:gz", format=tarfile.GNU_FORMAT) as tar:
        _tar_entry(tar, "good.txt", GOOD_TEXT)
        _tar_entry(tar, "../escape.txt", GOOD_TEXT)
        _tar_entry(tar, "/etc/absolute.txt", GOOD_TEXT)
        _tar_entry(tar, "symlink.txt", type=tarfile.SYMTYPE, linkname="/etc/passwd")
        _tar_entry(tar, "hardlink.txt", type=tarfile.LNKTYPE, linkname="good.txt")
        _tar_entry(tar, "fifo", type=tarfile.FIFOTYPE)
        _tar_entry(tar, "tty", type=tarfile.CHRTYPE, devmajor=5, devminor=0)
        _tar_entry(tar, "中文.txt".encode("gbk").decode("utf-8", "surrogateescape"), GOOD_TEXT)
        _tar_entry(tar, b"\xff\xfe-bad.txt".decode("utf-8", "surrogateescape"), GOOD_TEXT)
        _tar_entry(tar, "oversize.txt", b"9" * 5000)
        _tar_entry(tar, "bomb.zip", small_bomb.read_bytes())
        _tar_entry(tar, ".DS_Store", b"junk")
        _tar_entry(tar, "folder", type=tarfile.DIRTYPE)
    db = tmp_path / "r.db"
    summary = annotate_fake(db, [path], max_bytes=4000, max_nested_bytes=2 * MiB)
    rows = document_rows(db)
    assert rows == {
        "good.txt": ("done", None),
        "../escape.txt": ("skipped", "E016"),
        "/etc/absolute.txt": ("skipped", "E016"),
        "symlink.txt": ("skipped", "E017"),
        "hardlink.txt": ("skipped", "E017"),
        "fifo": ("skipped", "E018"),
        "tty": ("skipped", "E018"),
        "中文.txt": ("done", None),  # GBK names (Chinese Windows) are decoded
        "\\xff\\xfe-bad.txt": ("done", None),  # undecodable bytes are shown escaped
        "oversize.txt": ("failed", "E003"),
        "bomb.zip": ("failed", "E059"),
        ".DS_Store": ("skipped", "E019"),
    }
    assert (summary.total, summary.done, summary.failed, summary.refused) == (12, 3, 2, 7)
    assert summary.refused_codes == {"E016": 2, "E017": 2, "E018": 2, "E019": 1}
    text = summary.render()
    assert "refused 7" in text and "E016 2" in text
    # a rerun skips every row, refused ones included: nothing redone, nothing new
    again = annotate_fake(db, [path], max_bytes=4000, max_nested_bytes=2 * MiB)
    assert (again.total, again.done, again.skipped, again.failed, again.refused) == (12, 0, 12, 0, 0)


def test_zip_entries_with_unsafe_paths_are_rows(tmp_path):
    path = tmp_path / "paths.zip"
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("ok/a.txt", GOOD_TEXT)
        z.writestr("../../up.txt", GOOD_TEXT)
        z.writestr("/root.txt", GOOD_TEXT)
        z.writestr("ok/../../sneaky.txt", GOOD_TEXT)
    db = tmp_path / "r.db"
    annotate_fake(db, [path])
    rows = document_rows(db)
    assert rows["ok/a.txt"] == ("done", None)
    assert sorted(code for status, code in rows.values() if status == "skipped") == ["E016"] * 3
    assert len(rows) == 4


# -- 3. a file name that is not UTF-8 -------------------------------------------
def test_a_file_name_that_is_not_utf8_is_annotated_and_resumed(tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "good.txt").write_bytes(GOOD_TEXT)
    os.close(os.open(os.fsencode(folder) + b"/\xff\xfe-bad.txt", os.O_WRONLY | os.O_CREAT, 0o644))
    with open(os.fsencode(folder) + b"/\xff\xfe-bad.txt", "wb") as f:
        f.write(GOOD_TEXT)
    db = tmp_path / "r.db"
    first = annotate_fake(db, [folder])
    assert (first.done, first.failed) == (2, 0)
    names = {Path(source).name for source in document_rows(db)}
    assert names == {"good.txt", "\\xff\\xfe-bad.txt"}
    again = annotate_fake(db, [folder])
    assert (again.done, again.skipped) == (0, 2)


# -- 6. formulas in exports -------------------------------------------------------
def _store_with_formulas(db: Path) -> None:
    from govmetrics.bulk.store import DocumentOutcome, ResultStore

    record = {"kind": "amount", "text": "=1+2", "start": 0, "end": 4, "value": "-5", "unit": "@元",
              "normalized": {"value": "-5", "unit": "+元"}, "approx": "exact", "role": "value",
              "direction": None, "metric": {"text": "\tcmd", "start": 0, "end": 1},
              "action": {"text": "\x01=SUM(1)", "start": 0, "end": 1}, "confidence": None}
    with ResultStore(db) as store:
        store.write_document(DocumentOutcome(
            source="/in/a.zip", member='=HYPERLINK("http://x.invalid","y").txt', name="\rname.txt",
            sha256="0" * 64, size=1, status="done", model_name="m", model_version="1",
            result={"doc": "d", "records": [record], "checks": []}))


def test_spreadsheet_safe_escapes_formula_leading_text_only():
    from govmetrics.bulk.export import spreadsheet_safe

    for text in ("=1+2", "+cmd", "-1+2", "@SUM(A1)", "\tx", "\rx", '=HYPERLINK("a")'):
        assert spreadsheet_safe(text) == "'" + text
    for value in ("-5", "+3.25", "-0.5", "收入", "", None, 12, 1.5, "a=b"):
        assert spreadsheet_safe(value) == value


def test_csv_and_xlsx_exports_hold_no_live_formula(tmp_path):
    from openpyxl import load_workbook

    from govmetrics.bulk.export import export

    db = tmp_path / "r.db"
    _store_with_formulas(db)
    export(db, "csv", tmp_path / "r.csv", "records")
    with open(tmp_path / "r.csv", encoding="utf-8-sig", newline="") as f:
        header, row = list(csv.reader(f))
    cells = dict(zip(header, row))
    assert cells["member"] == '\'=HYPERLINK("http://x.invalid","y").txt'
    assert cells["name"] == "'\rname.txt"
    assert (cells["text"], cells["unit"], cells["normalized_unit"], cells["metric_text"]) == (
        "'=1+2", "'@元", "'+元", "'\tcmd")
    assert cells["value"] == "-5"  # a number stays a number
    export(db, "xlsx", tmp_path / "r.xlsx")
    book = load_workbook(tmp_path / "r.xlsx")
    for sheet in book.worksheets:
        for row in sheet.iter_rows():
            for cell in row:
                assert cell.data_type != "f", (sheet.title, cell.coordinate, cell.value)
    sheet = book["documents"]
    header = [c.value for c in sheet[1]]
    assert sheet[2][header.index("member")].value.startswith("'=HYPERLINK")
    # jsonl keeps the data exact: it is not opened by a spreadsheet
    export(db, "jsonl", tmp_path / "r.jsonl", "documents")
    assert '"member": "=HYPERLINK' in (tmp_path / "r.jsonl").read_text(encoding="utf-8")


# -- 2. texts over spaCy's default max_length -----------------------------------
def test_the_pipeline_takes_every_text_the_limits_allow(monkeypatch):
    from govmetrics.pipeline import build_pipeline
    from govmetrics.settings import Settings

    monkeypatch.setenv("GOVMETRICS_MAX_CHARS", "7000000")
    nlp = build_pipeline(Settings(), segmenter="char", model="rules")
    assert nlp.max_length >= 7_000_000
    text = ("各项工作稳步推进。" * 125_000) + "收入总计5028.61万元。"  # 1,125,013 characters
    doc = nlp(text)
    assert len(doc.text) == len(text) > 1_000_000
    assert [r.to_json()["text"] for r in doc._.records] == ["5028.61万元"]


# -- 8. the CLI ------------------------------------------------------------------
def test_extract_with_stdin_closed_is_one_line():
    p = subprocess.run(f"exec {sys.executable} -m govmetrics.cli extract - --model rules <&-", shell=True,
                       cwd=ROOT, capture_output=True, timeout=120)
    err = p.stderr.decode()
    assert p.returncode == 1 and "Traceback" not in err, err
    assert "stdin: standard input is closed" in err


def test_extract_with_stdout_closed_is_one_line(tmp_path):
    good = tmp_path / "a.txt"
    good.write_bytes(GOOD_TEXT)
    p = subprocess.run(f"exec {sys.executable} -m govmetrics.cli extract {good} --model rules >&-", shell=True,
                       cwd=ROOT, capture_output=True, timeout=120)
    err = p.stderr.decode()
    assert p.returncode == 2 and "Traceback" not in err, err
    assert "standard output is closed" in err


@pytest.mark.parametrize("command", ["extract", "annotate"])
@pytest.mark.parametrize("flag", ["--max-bytes", "--max-archive-bytes", "--max-nested-bytes"])
def test_negative_limits_are_refused(command, flag):
    if command == "extract" and flag != "--max-bytes":
        pytest.skip("extract reads no archives")
    p = run_cli(command, "x.txt", flag, "-1")
    err = p.stderr.decode()
    assert p.returncode == 2 and "Traceback" not in err and "-1" in err and "whole number" in err, err


def test_a_second_annotate_on_the_same_database_is_refused(tmp_path):
    from govmetrics.bulk.store import ResultStore

    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "a.txt").write_bytes(GOOD_TEXT)
    db = tmp_path / "r.db"
    with ResultStore(db) as holder:
        holder.lock_for_run()
        p = run_cli("annotate", str(folder), "--out", str(db), "--model", "rules", "--workers", "1")
        err = p.stderr.decode()
        assert p.returncode == 2 and "Traceback" not in err, err
        assert "another `govmetrics annotate`" in err and str(os.getpid()) in err
        assert holder.count("documents") == 0
    # the lock goes with its holder: now the run goes ahead
    p = run_cli("annotate", str(folder), "--out", str(db), "--model", "rules", "--workers", "1")
    assert p.returncode == 0, p.stderr.decode()


def test_two_real_runs_one_refused(tmp_path):
    """Two `annotate` processes started together: exactly one runs, the other refuses at once."""
    folder = tmp_path / "in"
    folder.mkdir()
    for i in range(3):
        (folder / f"{i}.txt").write_bytes(GOOD_TEXT)
    db = tmp_path / "r.db"
    cmd = [sys.executable, "-m", "govmetrics.cli", "annotate", str(folder), "--out", str(db), "--model", "rules",
           "--workers", "1"]
    procs = [subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE) for _ in range(2)]
    results = [(p.wait(timeout=180), p.stderr.read().decode()) for p in procs]
    codes = sorted(code for code, _ in results)
    assert codes == [0, 2], results
    assert any("another `govmetrics annotate`" in err for _, err in results), results
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT count(*) FROM documents").fetchone()[0] == 3
        assert conn.execute("SELECT count(*) FROM runs").fetchone()[0] == 1


def test_a_run_left_running_by_a_killed_process_is_marked_interrupted(tmp_path):
    from govmetrics.bulk.store import ResultStore

    db = tmp_path / "r.db"
    # a child that starts a run and is killed with SIGKILL before it can finish it
    code = ("import os, signal, sys; from govmetrics.bulk.store import ResultStore; "
            f"s = ResultStore({str(db)!r}); s.lock_for_run(); s.start_run('local', 1, []); "
            "os.kill(os.getpid(), signal.SIGKILL)")
    p = subprocess.run([sys.executable, "-c", code], cwd=ROOT, timeout=60)
    assert p.returncode == -9
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT state FROM runs").fetchall() == [("running",)]
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "a.txt").write_bytes(GOOD_TEXT)
    annotate_fake(db, [folder])
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT id, state FROM runs ORDER BY id").fetchall() == [
            (1, "interrupted"), (2, "finished")]


def test_a_database_of_schema_1_is_migrated_with_its_documents(tmp_path):
    from govmetrics.bulk.export import export
    from govmetrics.bulk.store import MIGRATIONS, DocumentOutcome, ResultStore

    db = tmp_path / "old.db"
    with sqlite3.connect(db) as conn:
        for statement in MIGRATIONS[0]:
            conn.execute(statement)
        conn.execute("PRAGMA user_version = 1")
        conn.execute("INSERT INTO documents (source, member, name, status, model_name, model_version, finished_at) "
                     "VALUES ('/in/a.txt', '', 'a.txt', 'done', 'm', '1', 'then')")
    # an old database exports as it is, read-only
    assert export(db, "jsonl", tmp_path / "d.jsonl", "documents") == {"documents": 1}
    with ResultStore(db) as store:
        store.write_document(DocumentOutcome(source="/in/b.zip", member="link", name="link", status="skipped",
                                             error_code="E017", error="a link", model_name="m", model_version="1"))
        assert [tuple(r) for r in store.query("SELECT name, status FROM documents ORDER BY name")] == [
            ("a.txt", "done"), ("link", "skipped")]


def test_linear_word_alignment_matches_spacys():
    import random

    from spacy.util import get_words_and_spaces

    from govmetrics.pipeline import words_and_spaces

    rng = random.Random(1)
    for _ in range(2000):
        text = "".join(rng.choice("ab 中文\n\t。  ") for _ in range(rng.randint(0, 30)))
        words, i = [], 0
        while i < len(text):
            j = i + rng.randint(1, 4)
            piece, i = text[i:j], j
            if "".join(piece.split()):
                words.append("".join(piece.split()))
            elif rng.random() < 0.3:
                words.append(piece)
        assert _aligned(words_and_spaces, words, text) == _aligned(get_words_and_spaces, words, text)


def _aligned(align, words, text):
    try:
        return align(words, text)
    except ValueError:  # words that do not fit the text (E194): both must refuse
        return "E194"


def test_archives_nested_too_deep_are_one_failed_row(tmp_path):
    from govmetrics.read.archive import MAX_NESTING, iter_documents

    data = GOOD_TEXT
    name = "deepest.txt"
    for level in range(MAX_NESTING + 1):  # one level more than allowed
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w") as z:
            z.writestr(name, data)
        data, name = buf.getvalue(), f"level_{level}.zip"
    path = tmp_path / "deep.zip"
    path.write_bytes(data)
    docs = list(iter_documents([path], 10**6))
    assert len(docs) == 1
    with pytest.raises(Exception) as caught:
        docs[0].read()
    assert caught.value.code == "E061" and docs[0].member.count("!/") == MAX_NESTING - 1
