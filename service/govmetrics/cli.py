"""The `govmetrics` command line.

    govmetrics extract PATH... [--format jsonl|json|table]
    govmetrics annotations check|stats [PATH...]
    govmetrics annotations export|import [PATH...] --format labelstudio|doccano --out FILE
    govmetrics evaluate [--split test] [--kind budget] [--model DIR|rules] [--out DIR] [--json]
    govmetrics train [--out models/NEW] [--init models/CURRENT | --base DIR] [--data annotations/data] [--epochs N]
    govmetrics promote models/NEW [--force]; govmetrics rollback
    govmetrics audit evaluate [--max-mutations N] [--seed S] [--json] [--model rules]
    govmetrics serve [--host 127.0.0.1] [--port 8000] [--model rules|DIR] [--max-text-bytes N] ...
    govmetrics annotate INPUT... --out results.db [--workers N] [--engine local|ray] [--retry-failed] [--force]
                       [--doc-timeout SECONDS] [--max-bytes N] [--max-nested-bytes N] [--max-archive-bytes N]
    govmetrics export results.db --format jsonl|csv|xlsx|parquet --out FILE [--table records|checks|documents]

Errors about the input are one line each on stderr, never a traceback; the
exit status is non-zero when any input failed, after the rest were processed.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any, TextIO

from govmetrics.errors import GovMetricsError

KIND_ZH = {"amount": "金额", "count": "计数", "percent": "比率", "measure": "计量", "score": "评分"}
ROLE_ZH = {"value": "数值", "change": "变化量", "change_rate": "变化率", "share": "占比",
           "completion": "完成率", "target": "目标"}
DIRECTION_ZH = {"increase": "增加", "decrease": "减少", "flat": "持平", None: ""}
APPROX_ZH = {"exact": "", "at_least": "≥", "about": "约", "at_most": "≤"}


def _err(message: str) -> None:
    print(f"govmetrics: error: {message}", file=sys.stderr)


def _span(rec: dict[str, Any], key: str) -> str:
    return (rec.get(key) or {}).get("text", "")


def render_table(result: dict[str, Any], out: TextIO) -> None:
    records = result["records"]
    out.write(f"文档：{result['doc']}　记录数：{len(records)}\n")
    header = ["序号", "原文", "类型", "规范值", "单位", "约数", "角色", "方向", "指标", "动作", "时期", "基期"]
    rows = [header]
    for i, r in enumerate(records, 1):
        n = r["normalized"]
        value = n["value"] + (f"–{n['upper']}" if n.get("upper") else "")
        rows.append([str(i), r["text"].replace("\n", " "), KIND_ZH.get(r["kind"], r["kind"]), value, n["unit"],
                     APPROX_ZH.get(r["approx"], r["approx"]), ROLE_ZH.get(r["role"], r["role"]),
                     DIRECTION_ZH.get(r["direction"], ""), _span(r, "metric"), _span(r, "action"),
                     _span(r, "period"), _span(r, "baseline")])
    widths = [max(_width(row[c]) for row in rows) for c in range(len(header))]
    for row in rows:
        out.write("  ".join(cell + " " * (w - _width(cell)) for cell, w in zip(row, widths)).rstrip() + "\n")
    render_mismatches(result, out)
    out.write("\n")


def render_mismatches(result: dict[str, Any], out: TextIO) -> None:
    """The arithmetic audit's mismatches under the table, in Chinese (序号 as in the table)."""
    bad = [c for c in result.get("checks", []) if c["status"] == "mismatch"]
    if not bad:
        return
    out.write(f"\n算术核对：发现{len(bad)}处不一致\n")
    for c in bad:
        refs = "、".join(str(i + 1) for i in c["records"])
        out.write(f"  [序号 {refs}] {c['message']}\n")


def _width(s: str) -> int:
    import unicodedata

    return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in s)


def cmd_extract(args: argparse.Namespace) -> int:
    from govmetrics.read.readers import decode_text, read_path
    from govmetrics.extract import Extractor, doc_name

    try:
        extractor = Extractor(model=args.model, min_confidence=args.min_confidence)
    except GovMetricsError as exc:
        _err(exc.message)
        return 2
    failed = 0
    results: list[dict[str, Any]] = []
    paths: list[str] = args.paths
    progress = _progress(len(paths), "extract")
    for path in paths:
        try:
            if path == "-":
                data = _read_stdin()
                if not data.strip():
                    raise GovMetricsError.make("E002", name="stdin")
                text, _ = decode_text(data, "stdin")
                doc_result = extractor.extract_text(text, "stdin")
                result = doc_result.to_json()
                _report_dropped(doc_result.meta, doc_result.doc)
            else:
                read = read_path(path, max_bytes=args.max_bytes)
                doc_result = extractor.extract_text(read.text, doc_name(path))
                result = doc_result.to_json()
                _report_dropped(doc_result.meta, doc_result.doc)
        except GovMetricsError as exc:
            failed += 1
            _err(exc.message)
            progress.update(1)
            continue
        except Exception as exc:  # a bug must not lose the other files' results
            failed += 1
            _err(f"{path}: internal error: {type(exc).__name__}: {exc}")
            progress.update(1)
            continue
        progress.update(1)
        if args.format == "jsonl":
            sys.stdout.write(json.dumps(result, ensure_ascii=False) + "\n")
            sys.stdout.flush()
        elif args.format == "table":
            render_table(result, sys.stdout)
        else:
            results.append(result)
    progress.close()
    if args.format == "json":
        json.dump(results, sys.stdout, ensure_ascii=False, indent=2)
        sys.stdout.write("\n")
    return 1 if failed else 0


def _read_stdin() -> bytes:
    """Standard input's bytes; closed (`<&-`) is one line (E062), not a traceback."""
    if sys.stdin is None:  # Python sets it to None when descriptor 0 was closed at start
        raise GovMetricsError.make("E062", name="stdin")
    try:
        return sys.stdin.buffer.read()
    except (OSError, ValueError):  # closed after start: EBADF, or "I/O operation on closed file"
        raise GovMetricsError.make("E062", name="stdin") from None


def _report_dropped(meta: dict[str, Any], doc: str) -> None:
    dropped = meta.get("dropped_below_confidence", 0)
    if dropped:
        print(f"govmetrics: {doc}: {dropped} records below --min-confidence left out", file=sys.stderr)


def _progress(total: int, desc: str) -> Any:
    from tqdm import tqdm

    # Only on a terminal and only for real batches: pipes and single files stay clean.
    return tqdm(total=total, desc=desc, unit="doc", file=sys.stderr,
                disable=total < 2 or not sys.stderr.isatty())


def cmd_annotations(args: argparse.Namespace) -> int:
    from govmetrics_training.annotations import main as annotations_main
    from govmetrics_training.corpus_stats import print_stats

    if args.action == "check":
        return annotations_main(["check", *args.paths])
    if args.action == "stats":
        return print_stats([Path(p) for p in args.paths] or None)
    from govmetrics_training.annotations import load_corpus
    from govmetrics_training.interchange import export, import_

    if not args.out:
        _err(f"annotations {args.action} needs --out FILE")
        return 2
    if args.action == "suggest":
        from govmetrics.read.readers import max_bytes_from_env
        from govmetrics_training.suggest import main as suggest_main

        if not args.paths:
            _err("annotations suggest needs documents, folders, archives or a results database")
            return 2
        return suggest_main(args.paths, args.n, args.per_doc, Path(args.out), args.model, max_bytes_from_env())
    if args.action == "export":
        docs = load_corpus([Path(p) for p in args.paths] or None)
        export(docs, args.format, Path(args.out))
        print(f"exported {len(docs)} documents to {args.out} ({args.format})")
        return 0
    if len(args.paths) != 1:
        _err("annotations import takes exactly one FILE")
        return 2
    from govmetrics_training.annotations import AnnotationError, check_doc, load_doc
    from govmetrics_training.interchange import ImportFailure

    skipped: list[str] = []
    try:
        docs_out = import_(args.format, Path(args.paths[0]), skipped)
        problems = [p for d in docs_out for p in check_doc(load_doc(d, args.paths[0]))]
    except ImportFailure as exc:
        problems = exc.problems
    except (OSError, ValueError, KeyError, AnnotationError) as exc:
        problems = [str(exc)]
    for line in skipped:
        _err(f"{args.paths[0]}: {line}")
    if problems:
        for line in problems:
            _err(f"{args.paths[0]}: {line}")
        _err(f"{args.paths[0]}: cannot import {args.format}: {len(problems)} problems; nothing written")
        return 1
    tmp = Path(args.out).with_name(Path(args.out).name + ".partial")
    with open(tmp, "w", encoding="utf-8") as f:
        for d in docs_out:
            f.write(json.dumps(d, ensure_ascii=False) + "\n")
    tmp.replace(args.out)
    print(f"imported {len(docs_out)} documents ({sum(len(d['records']) for d in docs_out)} records) to {args.out}")
    return 0


def cmd_evaluate(args: argparse.Namespace) -> int:
    from govmetrics_training.evaluate import main as evaluate_main

    ids = set(args.docs.split(",")) if args.docs else None
    return evaluate_main(args.split, args.origin, args.kind, ids, Path(args.out) if args.out else None, args.json,
                         args.model, not args.no_baseline, Path(args.metrics_out) if args.metrics_out else None,
                         args.compare, args.genre)


def cmd_train(args: argparse.Namespace) -> int:
    from govmetrics_training.train import main as train_main

    try:
        return train_main(args.train_args)
    except GovMetricsError as exc:  # a missing base or model folder: one line, no traceback
        _err(exc.message)
        return 2


def cmd_promote(args: argparse.Namespace) -> int:
    from govmetrics_training.promote import promote

    return promote(Path(args.model), args.force, set(args.docs.split(",")) if args.docs else None)


def cmd_rollback(args: argparse.Namespace) -> int:
    from govmetrics_training.promote import rollback

    return rollback()


def cmd_audit(args: argparse.Namespace) -> int:
    from govmetrics_training.audit_eval import main as audit_main

    return audit_main(args.max_mutations, args.seed, args.json, args.model)


def cmd_serve(args: argparse.Namespace) -> int:
    import dataclasses

    import uvicorn

    from govmetrics.api.app import configure_logging, create_app
    from govmetrics.settings import ServiceSettings

    overrides = {k: v for k, v in vars(args).items()
                 if v is not None and k in {f.name for f in dataclasses.fields(ServiceSettings)}}
    try:
        settings = dataclasses.replace(ServiceSettings(), **overrides)  # a bad environment value: E034, in main()
    except ValueError as exc:  # a flag out of range (`--port 99999`)
        _err(str(exc))
        return 2
    configure_logging(settings.log_level)
    # uvicorn's own access log is off: govmetrics.api.app logs one JSON line per request instead.
    uvicorn.run(create_app(settings), host=settings.host, port=settings.port, access_log=False,
                log_level=settings.log_level, timeout_graceful_shutdown=5)
    return 0


def _count(value: str) -> int:
    number = int(value)
    if number < 0:
        raise argparse.ArgumentTypeError(f"{value} is negative")
    return number


def _port(value: str) -> int:
    number = int(value)
    if not 0 <= number <= 65535:
        raise argparse.ArgumentTypeError(f"{value} is not a port (0-65535)")
    return number


def cmd_annotate(args: argparse.Namespace) -> int:
    import sqlite3

    from govmetrics.bulk.engine import BulkAnnotator, WorkerOptions, doc_timeout_from_env, make_engine
    from govmetrics.read.readers import max_bytes_from_env
    from govmetrics.bulk.store import ResultStore

    max_bytes = args.max_bytes if args.max_bytes is not None else max_bytes_from_env()
    engine = None
    try:
        store = ResultStore(args.out)
        with store:
            time_limit = args.doc_timeout if args.doc_timeout is not None else doc_timeout_from_env()
            options = WorkerOptions(args.model, max_bytes, time_limit)
            engine = make_engine(args.engine, args.workers, options, args.address)
            summary = BulkAnnotator(store, engine, retry_failed=args.retry_failed, force=args.force,
                                    max_bytes=max_bytes, max_nested_bytes=args.max_nested_bytes,
                                    max_archive_bytes=args.max_archive_bytes).run(args.inputs)
    except GovMetricsError as exc:
        _err(exc.message)
        return 2
    except (OSError, sqlite3.Error) as exc:  # the disk filled up, the database was locked for too long
        _err(f"{args.out}: {exc}; what was finished is kept, rerun to resume")
        return 2
    finally:
        if engine is not None:
            engine.close()
    print(summary.render())
    print(f"results: {args.out} (govmetrics export {args.out} --format csv --out records.csv)")
    return 130 if summary.interrupted else 0


def cmd_export(args: argparse.Namespace) -> int:
    from govmetrics.bulk.export import export

    try:
        counts = export(args.db, args.format, args.out, args.table)
    except GovMetricsError as exc:
        _err(exc.message)
        return 2
    except OSError as exc:
        _err(f"{args.out}: cannot write: {exc.strerror or exc}")
        return 2
    print(f"exported {', '.join(f'{n} {table}' for table, n in counts.items())} to {args.out} ({args.format})")
    return 0


def _byte_count(text: str) -> int:
    """A limit in bytes: a whole number, 0 or more (`--max-bytes -1` is refused, not read as "no limit")."""
    if not text.isdigit():
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number of bytes (0 or more)")
    return int(text)


def _positive_int(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number of at least 1")
    return int(text)


def _non_negative_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not value >= 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds (0 or more)")
    return value


def build_parser() -> argparse.ArgumentParser:
    # The corpus vocabulary is small to import (no torch, no spaCy): the choices stay in one place.
    from govmetrics_training.annotations import DOC_KINDS, GENRES

    parser = argparse.ArgumentParser(prog="govmetrics", description="Metric records from Chinese government documents.")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("extract", help="extract records from files (txt in any Chinese encoding, docx, pdf, html)")
    p.add_argument("paths", nargs="+", metavar="PATH", help="input files; - reads standard input")
    p.add_argument("--format", choices=("jsonl", "json", "table"), default="jsonl")
    p.add_argument("--max-bytes", type=_byte_count, default=None, help="refuse files larger than this (default 20 MB)")
    p.add_argument("--model", default=None,
                   help="model folder, or 'rules' for the rule baseline (default: the shipped model, GOVMETRICS_MODEL)")
    p.add_argument("--min-confidence", type=float, default=None,
                   help="leave out records whose confidence is below this (the count is reported on stderr)")
    p.set_defaults(func=cmd_extract)

    p = sub.add_parser("annotations", help="validate, count, exchange the annotated corpus; suggest what to label")
    p.add_argument("action", choices=("check", "stats", "export", "import", "suggest"))
    p.add_argument("paths", nargs="*", metavar="PATH",
                   help="JSONL files or folders (default annotations/data); for import, the file to import; "
                        "for suggest, documents, folders, archives or a results database")
    p.add_argument("--n", type=_positive_int, default=20, help="suggest: how many passages (default 20)")
    p.add_argument("--per-doc", type=_positive_int, default=2, help="suggest: at most this many per document (default 2)")
    p.add_argument("--model", default=None, help="suggest: model folder (default: the default model)")
    p.add_argument("--format", choices=("labelstudio", "doccano"), default="labelstudio",
                   help="export/import: Label Studio JSON or doccano JSONL")
    p.add_argument("--out", help="export/import: the file to write")
    p.set_defaults(func=cmd_annotations)

    p = sub.add_parser("evaluate", help="score the extractor against the annotated corpus (RECORDS.md scores)")
    p.add_argument("--split", choices=("train", "dev", "test"))
    p.add_argument("--origin", choices=("real", "authored"))
    p.add_argument("--kind", choices=DOC_KINDS)
    p.add_argument("--genre", choices=GENRES, help="real documents of one kind, or `authored`")
    p.add_argument("--docs", help="comma-separated document ids")
    p.add_argument("--out", help="write gold.jsonl and pred.jsonl here (for ../shared/tools/score.py)")
    p.add_argument("--json", action="store_true")
    p.add_argument("--model", default=None, help="model folder or 'rules' (default: the shipped model)")
    p.add_argument("--no-baseline", action="store_true", help="skip scoring the rule baseline beside the model")
    p.add_argument("--compare", action="append", metavar="MODEL_DIR",
                   help="also score this model folder beside it, e.g. the previously shipped model (repeatable)")
    p.add_argument("--metrics-out", help="also write the scores as JSON here (e.g. models/NAME/metrics.json)")
    p.set_defaults(func=cmd_evaluate)

    p = sub.add_parser("train", help="train the record model (see `govmetrics train --help`)", add_help=False)
    p.add_argument("train_args", nargs=argparse.REMAINDER)
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("promote", help="make a model the default if it is no worse than the current one (per genre)")
    p.add_argument("model", help="the new model folder")
    p.add_argument("--force", action="store_true", help="promote even where the gate refuses (recorded as forced)")
    p.add_argument("--docs", help="compare on these test document ids only (comma-separated)")
    p.set_defaults(func=cmd_promote)

    p = sub.add_parser("rollback", help="make the model the last promotion replaced the default again")
    p.set_defaults(func=cmd_rollback)

    p = sub.add_parser("audit", help="evaluate the arithmetic audit on the annotated documents")
    p.add_argument("action", choices=("evaluate",))
    p.add_argument("--max-mutations", type=int, default=1000, help="at most this many perturbations (default 1000)")
    p.add_argument("--seed", type=int, default=7, help="random seed for choosing and changing digits")
    p.add_argument("--json", action="store_true")
    p.add_argument("--model", help='"rules" for the rule baseline\'s records (default: the shipped model)')
    p.set_defaults(func=cmd_audit)

    p = sub.add_parser("serve", help="run the REST service and web page (README: REST service)")
    p.add_argument("--host", help="address to bind (env GOVMETRICS_HOST, default 127.0.0.1)")
    p.add_argument("--port", type=_port, help="port (env GOVMETRICS_PORT, default 8000)")
    p.add_argument("--model", help="'rules' or a model folder (env GOVMETRICS_MODEL, default the shipped model)")
    p.add_argument("--max-text-bytes", type=_count, help="UTF-8 bytes of text per document (default 2 MB)")
    p.add_argument("--max-upload-bytes", type=_count, help="bytes per uploaded file (default 20 MB)")
    p.add_argument("--max-request-bytes", type=_count, help="bytes per request body (default 64 MB)")
    p.add_argument("--max-batch", type=_count, help="documents per batch request (default 16)")
    p.add_argument("--queue-size", type=_count, help="extraction requests admitted at once; beyond it 503 (default 32)")
    p.add_argument("--workers", type=_count, help="extraction threads (default 1)")
    p.add_argument("--log-level", choices=("debug", "info", "warning", "error"))
    p.set_defaults(func=cmd_serve)

    p = sub.add_parser("annotate", help="annotate files, folders and .zip/.tar.gz archives into a results database")
    p.add_argument("inputs", nargs="+", metavar="INPUT", help="files, folders (recursive), .zip, .tar.gz/.tgz archives")
    p.add_argument("--out", default="results.db", help="the SQLite results database (default results.db); "
                   "rerunning into it skips documents already done")
    p.add_argument("--workers", type=_positive_int, default=None, help="worker processes (default: all cores)")
    p.add_argument("--engine", choices=("local", "ray"), default="local",
                   help="local: processes on this machine; ray: Ray Data (local Ray, or a cluster with --address)")
    p.add_argument("--address", default=None, help="ray engine: the cluster to use, e.g. ray://head:10001 (default: "
                   "start Ray on this machine)")
    p.add_argument("--model", default=None, help="model folder, or 'rules' for the rule baseline (default: shipped model)")
    p.add_argument("--retry-failed", action="store_true", help="retry documents that failed in an earlier run")
    p.add_argument("--force", action="store_true", help="redo every document, done or not")
    p.add_argument("--max-bytes", type=_byte_count, default=None,
                   help="refuse documents larger than this, at any depth in an archive (default 20 MB, "
                   "or GOVMETRICS_MAX_BYTES)")
    p.add_argument("--max-nested-bytes", type=_byte_count, default=None,
                   help="refuse an archive inside an archive larger than this; it is spilled to a temporary file "
                   "(default 1 GiB, or GOVMETRICS_MAX_NESTED_BYTES)")
    p.add_argument("--max-archive-bytes", type=_byte_count, default=None,
                   help="read at most this many bytes from one input archive, at every depth together; the "
                   "entries past it are failed, E058 (default 4 GiB, or GOVMETRICS_MAX_ARCHIVE_BYTES)")
    p.add_argument("--doc-timeout", type=_non_negative_float, default=None, metavar="SECONDS",
                   help="give up on a document after this many seconds and record it as failed (E057); 0: no limit "
                   "(default 300, or GOVMETRICS_DOC_TIMEOUT)")
    p.set_defaults(func=cmd_annotate)

    p = sub.add_parser("export", help="export a results database: one row per record with its document's fields")
    p.add_argument("db", metavar="DB", help="the results database written by `govmetrics annotate`")
    p.add_argument("--format", choices=("jsonl", "csv", "xlsx", "parquet"), required=True,
                   help="csv is UTF-8 with BOM (Excel, WPS); xlsx holds every table, one sheet each")
    p.add_argument("--out", required=True, help="the file to write")
    p.add_argument("--table", choices=("records", "checks", "documents"), default="records",
                   help="jsonl/csv/parquet: which rows to write (default records)")
    p.set_defaults(func=cmd_export)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["train"]:
        # training/govmetrics_training/train.py owns its options; argparse's REMAINDER would refuse a leading --option.
        args = argparse.Namespace(func=cmd_train, train_args=argv[1:])
    else:
        args = build_parser().parse_args(argv)
    if sys.stdout is None and args.func is not cmd_serve:
        # `>&-`: Python sets sys.stdout to None; say so before any work, instead of a traceback after it
        _err(GovMetricsError.make("E063").message)
        return 2
    try:
        return int(args.func(args))
    except GovMetricsError as exc:  # set-up errors raised before any input was read (E030, E034, ...)
        _err(exc.message)
        return 2
    except KeyboardInterrupt:
        _err("interrupted")
        return 130
    except BrokenPipeError:
        return 0


if __name__ == "__main__":
    raise SystemExit(main())
