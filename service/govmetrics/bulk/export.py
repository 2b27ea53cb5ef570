"""Export a results database: one row per record (or check, or document) with its document's fields.

Formats: `jsonl`, `csv` (UTF-8 with BOM, so Excel and WPS read the Chinese
text), `xlsx` (openpyxl; sheets "records", "checks" and "documents") and
`parquet` (pyarrow). In the spreadsheet formats (csv, xlsx) text that starts
like a formula is written with a leading `'` (`spreadsheet_safe`); jsonl and
parquet keep every value exact. Rows are streamed from the database: memory does not grow
with the number of records (xlsx in write-only mode; Parquet in row groups).
Figures stay the exact decimal strings of RECORDS.md in every format.
"""
from __future__ import annotations

import csv
import json
import re
from pathlib import Path
from typing import Any, Iterator, Literal

from govmetrics.errors import GovMetricsError
from govmetrics.bulk.store import CHECK_COLUMNS, DOCUMENT_COLUMNS, QUOTED_RECORD_COLUMNS, RECORD_COLUMNS, ResultStore

Table = Literal["records", "checks", "documents"]
FORMATS = ("jsonl", "csv", "xlsx", "parquet")
TABLES: tuple[Table, ...] = ("records", "checks", "documents")
XLSX_MAX_ROWS = 1_048_575  # one row is the header
BATCH_ROWS = 50_000

_DOC_FIELDS = ", ".join(f"d.{c}" for c in DOCUMENT_COLUMNS)
_QUERIES: dict[str, str] = {
    "records": f"SELECT {_DOC_FIELDS}, r.record_index, {', '.join(f'r.{c}' for c in QUOTED_RECORD_COLUMNS.split(', '))} "
               "FROM records r JOIN documents d ON d.id = r.document_id ORDER BY d.source, d.member, r.record_index",
    "checks": f"SELECT {_DOC_FIELDS}, c.check_index, {', '.join(f'c.{c}' for c in CHECK_COLUMNS)} "
              "FROM checks c JOIN documents d ON d.id = c.document_id ORDER BY d.source, d.member, c.check_index",
    "documents": f"SELECT {_DOC_FIELDS} FROM documents d ORDER BY d.source, d.member",
}
COLUMNS: dict[str, tuple[str, ...]] = {
    "records": (*DOCUMENT_COLUMNS, "record_index", *RECORD_COLUMNS),
    "checks": (*DOCUMENT_COLUMNS, "check_index", *(f"check_{c}" if c in DOCUMENT_COLUMNS else c for c in CHECK_COLUMNS)),
    "documents": DOCUMENT_COLUMNS,
}


# A cell starting with one of these runs as a formula in Excel, WPS and LibreOffice (a tab or CR before one too).
FORMULA_LEADS = ("=", "+", "-", "@", "\t", "\r")
_NUMBER = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?")


def spreadsheet_safe(value: Any) -> Any:
    """`value` as a spreadsheet cell that cannot run: text starting like a formula gets a leading `'`.

    The one guard for every spreadsheet format (csv, xlsx), as the web page's
    own CSV does (static/app.js): an archive member named `=HYPERLINK(...).txt`
    or a record text `=1+2` stays text. A plain number (`-5`, the decimal
    strings of RECORDS.md) is left as it is: it runs nothing.
    """
    if isinstance(value, str) and value.startswith(FORMULA_LEADS) and not _NUMBER.fullmatch(value):
        return "'" + value
    return value


def iter_rows(store: ResultStore, table: Table) -> Iterator[tuple[Any, ...]]:
    yield from (tuple(row) for row in store.query(_QUERIES[table]))


def export(db: str | Path, fmt: str, out: str | Path, table: Table = "records") -> dict[str, int]:
    """Write `table` (xlsx: every table, one sheet each) to `out`; returns rows written per table."""
    with ResultStore(db, readonly=True) as store:
        if fmt == "xlsx":
            return _write_xlsx(store, Path(out))
        writer = {"jsonl": _write_jsonl, "csv": _write_csv, "parquet": _write_parquet}[fmt]
        return {table: writer(store, table, Path(out))}


def _write_jsonl(store: ResultStore, table: Table, out: Path) -> int:
    columns = COLUMNS[table]
    n = 0
    with open(out, "w", encoding="utf-8") as f:
        for row in iter_rows(store, table):
            f.write(json.dumps(dict(zip(columns, row)), ensure_ascii=False) + "\n")
            n += 1
    return n


def _write_csv(store: ResultStore, table: Table, out: Path) -> int:
    n = 0
    # utf-8-sig writes the BOM that Excel and WPS need to see UTF-8.
    with open(out, "w", encoding="utf-8-sig", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(COLUMNS[table])
        for row in iter_rows(store, table):
            writer.writerow([spreadsheet_safe(v) for v in row])
            n += 1
    return n


def _write_xlsx(store: ResultStore, out: Path) -> dict[str, int]:
    from openpyxl import Workbook
    from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE

    counts = {table: store.count(table) for table in TABLES}
    for table, rows in counts.items():
        if rows > XLSX_MAX_ROWS:
            raise GovMetricsError.make("E056", rows=rows, limit=XLSX_MAX_ROWS)
    book = Workbook(write_only=True)
    for table in TABLES:
        sheet = book.create_sheet(table)
        sheet.append(list(COLUMNS[table]))
        for row in iter_rows(store, table):
            # Control characters from PDF text are not allowed in xlsx cells; removed before the formula
            # guard, so that "\x01=cmd" cannot become "=cmd" after it.
            sheet.append([spreadsheet_safe(ILLEGAL_CHARACTERS_RE.sub("", v) if isinstance(v, str) else v)
                          for v in row])
    book.save(out)
    return counts


def _arrow_schema(table: Table) -> Any:
    import pyarrow as pa

    integer = {"size", "chars", "record_count", "run_id", "record_index", "check_index", "start", "end",
               *(f"{s}_{p}" for s in ("metric", "action", "period", "baseline") for p in ("start", "end"))}
    real = {"read_seconds", "extract_seconds", "confidence"}
    return pa.schema([(c, pa.int64() if c in integer else pa.float64() if c in real else pa.string())
                      for c in COLUMNS[table]])


def _write_parquet(store: ResultStore, table: Table, out: Path) -> int:
    import pyarrow as pa
    import pyarrow.parquet as pq

    schema = _arrow_schema(table)
    n = 0
    with pq.ParquetWriter(out, schema) as writer:
        batch: list[tuple[Any, ...]] = []
        for row in iter_rows(store, table):
            batch.append(row)
            if len(batch) >= BATCH_ROWS:
                writer.write_table(_arrow_table(batch, schema))
                n += len(batch)
                batch = []
        if batch or not n:
            writer.write_table(_arrow_table(batch, schema))
            n += len(batch)
    return n


def _arrow_table(rows: list[tuple[Any, ...]], schema: Any) -> Any:
    import pyarrow as pa

    columns = list(zip(*rows)) if rows else [[] for _ in schema.names]
    return pa.table([pa.array(list(col), type=field.type) for col, field in zip(columns, schema)], schema=schema)
