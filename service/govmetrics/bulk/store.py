"""The results store of bulk runs: one SQLite file (the embedded default).

Tables: `documents` (one row per document, keyed by `(source, member)`),
`records` (every RECORDS.md field, flattened, with the document's id),
`checks` (the arithmetic audit's checks, with record indexes as JSON) and
`runs` (one row per `govmetrics annotate`). Each document is written in one
transaction together with its records and checks, so a run killed at any
moment (Ctrl-C, kill -9, power loss) leaves every document either fully
written or absent: WAL journal with `synchronous=FULL`, so a committed
document survives power loss too. The parent process is the only writer.

Numbers from the text (`value`, `normalized_value`, ...) are stored as the
decimal strings of RECORDS.md, never as floats.
"""
from __future__ import annotations

import json
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator, Literal

from pydantic import BaseModel

from govmetrics.errors import GovMetricsError

SPAN_FIELDS = ("metric", "action", "period", "baseline")
RECORD_COLUMNS: tuple[str, ...] = (
    "kind", "text", "start", "end", "value", "unit", "normalized_value", "normalized_unit",
    "normalized_upper", "approx", "upper", "role", "direction",
    *(f"{span}_{part}" for span in SPAN_FIELDS for part in ("text", "start", "end")),
    "confidence",
)
# `end` is an SQL keyword: record columns are always quoted.
QUOTED_RECORD_COLUMNS = ", ".join(f'"{c}"' for c in RECORD_COLUMNS)
CHECK_COLUMNS: tuple[str, ...] = ("kind", "status", "records", "stated", "computed", "message")
DOCUMENT_COLUMNS: tuple[str, ...] = (
    "source", "member", "name", "sha256", "size", "reader", "chars", "status", "error_code", "error",
    "record_count", "model_name", "model_version", "read_seconds", "extract_seconds", "finished_at", "run_id",
)
_INTEGER_RECORD_COLUMNS = {"start", "end", *(f"{s}_{p}" for s in SPAN_FIELDS for p in ("start", "end"))}


def _record_column_type(column: str) -> str:
    if column in _INTEGER_RECORD_COLUMNS:
        return "INTEGER"
    return "REAL" if column == "confidence" else "TEXT"


def _documents_table(table: str, statuses: tuple[str, ...]) -> str:
    allowed = ", ".join(f"'{s}'" for s in statuses)
    return f"""CREATE TABLE {table} (
            id INTEGER PRIMARY KEY,
            source TEXT NOT NULL,
            member TEXT NOT NULL DEFAULT '',
            name TEXT NOT NULL,
            sha256 TEXT,
            size INTEGER,
            reader TEXT,
            chars INTEGER,
            status TEXT NOT NULL CHECK (status IN ({allowed})),
            error_code TEXT,
            error TEXT,
            record_count INTEGER NOT NULL DEFAULT 0,
            model_name TEXT NOT NULL,
            model_version TEXT NOT NULL,
            read_seconds REAL,
            extract_seconds REAL,
            finished_at TEXT NOT NULL,
            run_id INTEGER REFERENCES runs(id),
            UNIQUE (source, member)
        )"""


# Schema versions, in order; `PRAGMA user_version` says how many have been applied.
MIGRATIONS: tuple[tuple[str, ...], ...] = (
    (
        """CREATE TABLE runs (
            id INTEGER PRIMARY KEY,
            started_at TEXT NOT NULL,
            finished_at TEXT,
            state TEXT NOT NULL CHECK (state IN ('running', 'finished', 'interrupted', 'failed')),
            engine TEXT NOT NULL,
            workers INTEGER NOT NULL,
            model_name TEXT,
            model_version TEXT,
            inputs TEXT NOT NULL,
            done INTEGER NOT NULL DEFAULT 0,
            skipped INTEGER NOT NULL DEFAULT 0,
            failed INTEGER NOT NULL DEFAULT 0,
            records INTEGER NOT NULL DEFAULT 0,
            elapsed_seconds REAL
        )""",
        _documents_table("documents", ("done", "failed")),
        "CREATE TABLE records (document_id INTEGER NOT NULL REFERENCES documents(id), "
        "record_index INTEGER NOT NULL, "
        + ", ".join(f'"{c}" {_record_column_type(c)}' for c in RECORD_COLUMNS)
        + ", PRIMARY KEY (document_id, record_index))",
        """CREATE TABLE checks (
            document_id INTEGER NOT NULL REFERENCES documents(id),
            check_index INTEGER NOT NULL,
            kind TEXT, status TEXT, records TEXT, stated TEXT, computed TEXT, message TEXT,
            PRIMARY KEY (document_id, check_index)
        )""",
        "CREATE INDEX documents_status ON documents(status)",
    ),
    (
        # status 'skipped': an archive entry that is not a document (a link, a device, an unsafe path), with
        # its reason code. SQLite cannot change a CHECK constraint in place: the table is rebuilt.
        _documents_table("documents_v2", ("done", "failed", "skipped")),
        "INSERT INTO documents_v2 SELECT * FROM documents",
        "DROP TABLE documents",
        "ALTER TABLE documents_v2 RENAME TO documents",
        "CREATE INDEX documents_status ON documents(status)",
        "ALTER TABLE runs ADD COLUMN refused INTEGER NOT NULL DEFAULT 0",
    ),
)
SCHEMA_VERSION = len(MIGRATIONS)


class DocumentOutcome(BaseModel):
    """What a worker reports for one document; the store writes exactly this."""

    source: str
    member: str = ""
    name: str
    sha256: str | None = None
    size: int | None = None
    reader: str | None = None
    chars: int | None = None
    status: Literal["done", "failed", "skipped"]
    error_code: str | None = None
    error: str | None = None
    model_name: str
    model_version: str
    read_seconds: float | None = None
    extract_seconds: float | None = None
    # `DocumentResult.to_json()`: {"doc", "records", "checks"}; None when the document failed.
    result: dict[str, Any] | None = None

    @property
    def records(self) -> list[dict[str, Any]]:
        return list((self.result or {}).get("records") or [])

    @property
    def checks(self) -> list[dict[str, Any]]:
        return list((self.result or {}).get("checks") or [])


@dataclass(frozen=True)
class KnownDocument:
    """What the store holds about a document, for the resume decision."""

    sha256: str | None
    model_name: str
    model_version: str
    status: str


def flatten_record(record: dict[str, Any]) -> dict[str, Any]:
    """A RECORDS.md record as one flat row (`normalized.value` -> `normalized_value`, ...)."""
    normalized = record.get("normalized") or {}
    row: dict[str, Any] = {
        "kind": record.get("kind"), "text": record.get("text"), "start": record.get("start"),
        "end": record.get("end"), "value": _decimal_text(record.get("value")), "unit": record.get("unit"),
        "normalized_value": _decimal_text(normalized.get("value")), "normalized_unit": normalized.get("unit"),
        "normalized_upper": _decimal_text(normalized.get("upper")), "approx": record.get("approx"),
        "upper": _decimal_text(record.get("upper")), "role": record.get("role"),
        "direction": record.get("direction"), "confidence": record.get("confidence"),
    }
    for span in SPAN_FIELDS:
        value = record.get(span) or {}
        for part in ("text", "start", "end"):
            row[f"{span}_{part}"] = value.get(part)
    return row


def _decimal_text(value: Any) -> str | None:
    return None if value is None else str(value)


def _check_row(check: dict[str, Any]) -> dict[str, Any]:
    return {"kind": check.get("kind"), "status": check.get("status"),
            "records": json.dumps(check.get("records") or []),
            "stated": _decimal_text(check.get("stated")), "computed": _decimal_text(check.get("computed")),
            "message": check.get("message")}


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S%z")


class ResultStore:
    """The results database; open it with `ResultStore(path)` (created when absent)."""

    def __init__(self, path: str | Path, readonly: bool = False) -> None:
        self.path = Path(path)
        self._lock: Any = None
        try:
            if readonly:
                if not self.path.is_file():
                    raise GovMetricsError.make("E053", path=str(path), cause="no such file")
                self.conn = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True, isolation_level=None)
            else:
                self.conn = sqlite3.connect(self.path, isolation_level=None, timeout=30)
                self.conn.execute("PRAGMA journal_mode=WAL")
                # FULL: a committed document survives power loss, not only a killed process.
                self.conn.execute("PRAGMA synchronous=FULL")
            self.conn.row_factory = sqlite3.Row
            self._migrate(readonly)
        except sqlite3.DatabaseError as exc:
            raise GovMetricsError.make("E053", path=str(path), cause=str(exc)) from None

    def _migrate(self, readonly: bool) -> None:
        version = self.conn.execute("PRAGMA user_version").fetchone()[0]
        if version > SCHEMA_VERSION:
            raise GovMetricsError.make("E053", path=str(self.path),
                                       cause=f"schema version {version} is newer than this govmetrics ({SCHEMA_VERSION})")
        if version == SCHEMA_VERSION:
            return
        if readonly:
            if version >= 1:  # an older schema reads the same (later versions only widen it)
                return
            raise GovMetricsError.make("E053", path=str(self.path), cause="not a govmetrics results database")
        if version == 0 and self.conn.execute("SELECT count(*) FROM sqlite_master").fetchone()[0]:
            raise GovMetricsError.make("E053", path=str(self.path), cause="a database of something else")
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            # read again under the write lock: another process may have migrated while we waited for it
            version = self.conn.execute("PRAGMA user_version").fetchone()[0]
            for statements in MIGRATIONS[version:]:
                for statement in statements:
                    self.conn.execute(statement)
            self.conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
            self.conn.execute("COMMIT")
        except BaseException:
            if self.conn.in_transaction:
                self.conn.execute("ROLLBACK")
            raise

    def files(self) -> frozenset[Path]:
        """The database's own files, never to be annotated as documents."""
        base = self.path.resolve()
        return frozenset([base, *(base.with_name(base.name + end) for end in ("-wal", "-shm", "-journal", ".lock"))])

    def lock_for_run(self) -> None:
        """Hold the database for one `annotate` run, or refuse at once (E060) when another process holds it.

        An advisory lock (flock) on `<database>.lock`, which holds the holder's
        process id for the message. The kernel drops it when the process ends,
        however it ends (kill -9 included), so a lock is never left stale.
        Two runs would otherwise both redo every document.
        """
        import fcntl
        import os

        if self._lock is not None:
            return
        path = self.path.with_name(self.path.name + ".lock")
        handle = open(path, "a+", encoding="utf-8")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "unknown"
            handle.close()
            raise GovMetricsError.make("E060", path=str(self.path), pid=holder) from None
        handle.seek(0)
        handle.truncate()
        handle.write(str(os.getpid()))
        handle.flush()
        self._lock = handle

    def mark_stale_runs(self) -> int:
        """Runs still `running` while we hold the lock were killed (kill -9, power cut): mark them `interrupted`."""
        if self._lock is None:
            raise RuntimeError("mark_stale_runs needs lock_for_run first")
        cur = self.conn.execute("UPDATE runs SET state = 'interrupted' WHERE state = 'running'")
        return int(cur.rowcount)

    def close(self) -> None:
        self.conn.close()
        if self._lock is not None:
            self._lock.close()  # releases the flock
            self._lock = None

    def __enter__(self) -> "ResultStore":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- runs ---------------------------------------------------------------
    def start_run(self, engine: str, workers: int, inputs: list[str]) -> int:
        cur = self.conn.execute(
            "INSERT INTO runs (started_at, state, engine, workers, inputs) VALUES (?, 'running', ?, ?, ?)",
            (_now(), engine, workers, json.dumps(inputs, ensure_ascii=False)))
        return int(cur.lastrowid)

    def finish_run(self, run_id: int, state: str, counts: dict[str, int], elapsed: float,
                   model: dict[str, str] | None) -> None:
        self.conn.execute(
            "UPDATE runs SET finished_at = ?, state = ?, done = ?, skipped = ?, failed = ?, refused = ?, records = ?, "
            "elapsed_seconds = ?, model_name = ?, model_version = ? WHERE id = ?",
            (_now(), state, counts.get("done", 0), counts.get("skipped", 0), counts.get("failed", 0),
             counts.get("refused", 0),
             counts.get("records", 0), elapsed, (model or {}).get("name"), (model or {}).get("version"), run_id))

    # -- documents ----------------------------------------------------------
    def known_documents(self) -> dict[tuple[str, str], KnownDocument]:
        rows = self.conn.execute("SELECT source, member, sha256, model_name, model_version, status FROM documents")
        return {(r["source"], r["member"]): KnownDocument(r["sha256"], r["model_name"], r["model_version"], r["status"])
                for r in rows}

    def write_document(self, outcome: DocumentOutcome, run_id: int | None = None) -> int:
        """Replace the document's row, records and checks in one transaction; returns its id."""
        records = outcome.records
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            old = self.conn.execute("SELECT id FROM documents WHERE source = ? AND member = ?",
                                    (outcome.source, outcome.member)).fetchone()
            if old is not None:
                for table in ("records", "checks", "documents"):
                    column = "id" if table == "documents" else "document_id"
                    self.conn.execute(f"DELETE FROM {table} WHERE {column} = ?", (old["id"],))
            values = outcome.model_dump(exclude={"result"})
            values.update(record_count=len(records), finished_at=_now(), run_id=run_id)
            cur = self.conn.execute(
                f"INSERT INTO documents ({', '.join(DOCUMENT_COLUMNS)}) VALUES ({', '.join('?' * len(DOCUMENT_COLUMNS))})",
                [values[c] for c in DOCUMENT_COLUMNS])
            doc_id = int(cur.lastrowid)
            record_sql = (f"INSERT INTO records (document_id, record_index, {QUOTED_RECORD_COLUMNS}) "
                          f"VALUES ({', '.join('?' * (len(RECORD_COLUMNS) + 2))})")
            self.conn.executemany(record_sql, [
                [doc_id, i, *(flat[c] for c in RECORD_COLUMNS)]
                for i, flat in enumerate(flatten_record(r) for r in records)])
            check_sql = (f"INSERT INTO checks (document_id, check_index, {', '.join(CHECK_COLUMNS)}) "
                         f"VALUES ({', '.join('?' * (len(CHECK_COLUMNS) + 2))})")
            self.conn.executemany(check_sql, [
                [doc_id, i, *(row[c] for c in CHECK_COLUMNS)]
                for i, row in enumerate(_check_row(c) for c in outcome.checks)])
            self.conn.execute("COMMIT")
        except BaseException:
            if self.conn.in_transaction:
                self.conn.execute("ROLLBACK")
            raise
        return doc_id

    # -- reading ------------------------------------------------------------
    def query(self, sql: str, params: tuple[Any, ...] = ()) -> Iterator[sqlite3.Row]:
        yield from self.conn.execute(sql, params)

    def count(self, table: str) -> int:
        return int(self.conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0])
