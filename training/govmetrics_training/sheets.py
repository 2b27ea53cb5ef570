"""Annotation sheets: a compact, hand-written form of stand-off gold.

An annotator writes one line per record, in reading order, naming the quantity
and its spans by their text; this module finds the offsets, fills the parsed
fields from the quantity grammar (or from the annotator's explicit values where
the grammar does not read the figure), and writes the JSONL of
annotations/GUIDELINE_NOTES.md. Sheets hold no document text beyond the spans
that the JSONL holds anyway; keep them outside the repository all the same.

    python -m govmetrics_training.sheets candidates ../shared/corpus/news/2018-01.txt --para 2
    python -m govmetrics_training.sheets build SHEET [SHEET ...] --out annotations/data/real-news-a.jsonl

Sheet format::

    # a comment
    @doc path=../shared/corpus/news/2018-01.txt id=2018-01 kind=news split=train
    @doc path=/work/authored/jiaoyu-1.txt id=authored-jiaoyu-1 kind=work-summary split=train origin=authored
    @region 120 560            # annotated range [start, end) of the decoded text
    @para 3                    # or: paragraph 3 (0-based; paragraphs are split on blank lines)
    30起 | value | m=电信诈骗案件 | a=侦破 | p=今年来
    761.39万元 | change dec | m=收入总计 | b=2019年
    3批 | value | m=项目 | k=count v=3 u=批
    50万元@1234 | target | m=专项资金@1200

A record line is `QUANTITY | ROLE [DIRECTION] | key=value | ...`. The quantity
text is searched forward from the end of the previous record of the region
(`@N` pins its start offset). Span keys: `m` metric, `a` action, `p` period,
`b` baseline; each is searched nearest the quantity, before it first (up to
300 characters), then after it (up to 120); `@N` pins its start. Directions:
`inc`, `dec`, `flat`. A line break inside a figure or span is written `⏎`, as
`candidates` prints it (`7⏎期`). Quantity keys, needed only where the grammar does not
read the span as one figure: `k` kind, `v` value, `u` unit, `n` normalized
value, `nu` normalized unit, `ap` approx (exact, at_least, about, at_most),
`up` upper, `nup` normalized upper. A given key always overrides the grammar.
"""
from __future__ import annotations

import argparse
import json
import re
import sys
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

from govmetrics.grammar.quantities import Quantity, QuantityGrammar
from govmetrics.grammar.vocabulary import normalize_decimal
from govmetrics_training.annotations import (
    PROJECT_ROOT,
    AnnotatedDoc,
    check_doc,
    expected_normalized,
    resolve_source,
    sha256_file,
)

SPAN_KEYS = {"m": "metric", "a": "action", "p": "period", "b": "baseline"}
QUANTITY_KEYS = ("k", "v", "u", "n", "nu", "ap", "up", "nup")
DIRECTION_WORDS = {"inc": "increase", "dec": "decrease", "flat": "flat",
                   "increase": "increase", "decrease": "decrease"}
SPAN_BEFORE = 300
SPAN_AFTER = 120
# Qualifiers outside the span (RECORDS.md section 4), for figures the grammar does not read.
_PREFIX_QUALIFIERS = (("不低于", "at_least"), ("不少于", "at_least"), ("不超过", "at_most"), ("超过", "at_least"),
                      ("至少", "at_least"), ("突破", "at_least"), ("约", "about"), ("近", "at_most"),
                      ("不足", "at_most"), ("不到", "at_most"), ("最多", "at_most"), ("逾", "at_least"),
                      ("超", "at_least"), ("≥", "at_least"), ("≤", "at_most"), ("上", "at_least"))
_SUFFIX_QUALIFIERS = (("以上", "at_least"), ("左右", "about"), ("以内", "at_most"), ("以下", "at_most"))


class SheetError(ValueError):
    """A sheet line that cannot be turned into a record; names the file and line."""


@dataclass
class SheetDoc:
    path: str
    id: str
    kind: str
    split: str
    origin: str = "real"
    regions: list[tuple[int, int]] = field(default_factory=list)
    lines: list[tuple[int, int, str]] = field(default_factory=list)  # (sheet line no, region index, text)


def paragraphs(text: str) -> list[tuple[int, int]]:
    """Paragraph ranges split on blank lines, stripped of surrounding white space."""
    out = []
    for m in re.finditer(r"(?:[^\n]|\n(?![ \t\u3000]*\n))+", text):
        s, e = m.start(), m.end()
        while s < e and text[s].isspace():
            s += 1
        while e > s and text[e - 1].isspace():
            e -= 1
        if e > s:
            out.append((s, e))
    return out


def read_text(path: str) -> str:
    return resolve_source(path).read_bytes().decode("utf-8")


def parse_sheets(files: list[Path]) -> list[SheetDoc]:
    docs: list[SheetDoc] = []
    for f in files:
        for n, raw in enumerate(f.read_text(encoding="utf-8").splitlines(), 1):
            line = raw.split(" #", 1)[0].strip() if not raw.lstrip().startswith("#") else ""
            if not line:
                continue
            where = f"{f}:{n}"
            if line.startswith("@doc"):
                opts = dict(tok.split("=", 1) for tok in line.split()[1:])
                missing = {"path", "id", "kind", "split"} - opts.keys()
                if missing:
                    raise SheetError(f"{where}: @doc needs {sorted(missing)}")
                docs.append(SheetDoc(path=opts["path"], id=opts["id"], kind=opts["kind"], split=opts["split"],
                                     origin=opts.get("origin", "real")))
                continue
            if not docs:
                raise SheetError(f"{where}: a line before the first @doc")
            doc = docs[-1]
            if line.startswith("@region"):
                _, s, e = line.split()
                doc.regions.append((int(s), int(e)))
            elif line.startswith("@para"):
                index = int(line.split()[1])
                paras = paragraphs(read_text(doc.path))
                if not 0 <= index < len(paras):
                    raise SheetError(f"{where}: {doc.path} has {len(paras)} paragraphs, no {index}")
                doc.regions.append(paras[index])
            else:
                if not doc.regions:
                    raise SheetError(f"{where}: a record before the first @region/@para of {doc.id}")
                doc.lines.append((n, len(doc.regions) - 1, line))
    return docs


LINE_BREAK = "⏎"  # how `candidates` prints a line break; a sheet line cannot hold a real one


def _pinned(token: str) -> tuple[str, int | None]:
    """Text and pinned offset of a quantity or span token; `⏎` stands for a line break inside
    the figure as printed (`7⏎期`, a figure that PDF extraction split over two lines)."""
    m = re.fullmatch(r"(.*?)@(\d+)", token)
    text, pin = (m.group(1), int(m.group(2))) if m else (token, None)
    return text.replace(LINE_BREAK, "\n"), pin


def _find_span(text: str, needle: str, pin: int | None, q_start: int, q_end: int,
               region: tuple[int, int]) -> int:
    if pin is not None:
        return pin
    lo = max(region[0], q_start - SPAN_BEFORE)
    before = text.rfind(needle, lo, q_start)
    if before >= 0:
        return before
    hi = min(region[1], q_end + SPAN_AFTER)
    after = text.find(needle, q_end, hi)
    return after


def _approx_around(text: str, start: int, end: int, written: str) -> str:
    head = text[max(0, start - 3):start]
    for word, approx in _PREFIX_QUALIFIERS:
        if head.endswith(word):
            return approx
    tail = text[end:end + 2]
    for word, approx in _SUFFIX_QUALIFIERS:
        if tail.startswith(word):
            return approx
    return "at_least" if re.search(r"[余多]", written) else "exact"


def _quantity_fields(text: str, start: int, end: int, q: Quantity | None, keys: dict[str, str],
                     where: str) -> dict[str, Any]:
    written = text[start:end]
    if q is not None:
        fields: dict[str, Any] = {"kind": q.kind, "value": q.value, "unit": q.unit,
                                  "normalized": q.normalized(), "approx": q.approx, "upper": q.upper}
    else:
        if "k" not in keys or "v" not in keys:
            raise SheetError(f"{where}: the grammar does not read {written!r} as one figure: give k= and v=")
        fields = {"kind": keys["k"], "value": keys["v"], "unit": keys.get("u", ""), "upper": None,
                  "approx": _approx_around(text, start, end, written), "normalized": {}}
    for key, name in (("k", "kind"), ("v", "value"), ("u", "unit"), ("ap", "approx"), ("up", "upper")):
        if key in keys:
            fields[name] = keys[key]
    if q is None or any(k in keys for k in ("k", "v", "u", "n", "nu", "up", "nup")):
        factor, units = expected_normalized(fields["kind"], fields["unit"])
        default_unit = "元" if "元" in units else sorted(units)[0]
        norm = {"value": keys.get("n") or normalize_decimal(Decimal(fields["value"]) * factor),
                "unit": keys.get("nu", default_unit)}
        if fields["upper"] is not None:
            norm["upper"] = keys.get("nup") or normalize_decimal(Decimal(fields["upper"]) * factor)
        fields["normalized"] = norm
    return fields


def build_doc(sheet: SheetDoc, grammar: QuantityGrammar, sheet_file: str = "") -> dict[str, Any]:
    text = read_text(sheet.path)
    found = {(q.start, q.end): q for q in grammar.find(text)}
    cursors = [s for s, _ in sheet.regions]
    records: list[dict[str, Any]] = []
    for n, region_index, line in sheet.lines:
        where = f"{sheet_file}:{n} ({sheet.id})"
        region = sheet.regions[region_index]
        parts = [p.strip() for p in line.split("|")]
        if len(parts) < 2:
            raise SheetError(f"{where}: needs at least `QUANTITY | ROLE`")
        q_text, pin = _pinned(parts[0])
        start = pin if pin is not None else text.find(q_text, cursors[region_index], region[1])
        if start < 0 or text[start:start + len(q_text)] != q_text:
            raise SheetError(f"{where}: {q_text!r} not found after offset {cursors[region_index]} in region {region}")
        end = start + len(q_text)
        cursors[region_index] = end
        role_words = parts[1].split()
        role = role_words[0]
        direction = DIRECTION_WORDS.get(role_words[1]) if len(role_words) > 1 else None
        if len(role_words) > 1 and direction is None:
            raise SheetError(f"{where}: unknown direction {role_words[1]!r} (inc, dec, flat)")
        keys: dict[str, str] = {}
        for part in parts[2:]:
            for token in part.split():
                if "=" not in token:
                    raise SheetError(f"{where}: {token!r} is not key=value")
                k, v = token.split("=", 1)
                if k not in SPAN_KEYS and k not in QUANTITY_KEYS:
                    raise SheetError(f"{where}: unknown key {k!r}")
                keys[k] = v
        record = {"text": q_text, "start": start, "end": end,
                  **_quantity_fields(text, start, end, found.get((start, end)), keys, where),
                  "role": role, "direction": direction}
        for key, name in SPAN_KEYS.items():
            if key not in keys:
                record[name] = None
                continue
            needle, span_pin = _pinned(keys[key])
            s = _find_span(text, needle, span_pin, start, end, region)
            if s < 0 or text[s:s + len(needle)] != needle:
                raise SheetError(f"{where}: {name} {needle!r} not found near {q_text!r}")
            record[name] = {"text": needle, "start": s, "end": s + len(needle)}
        records.append(record)
    records.sort(key=lambda r: r["start"])
    fields = ("kind", "text", "start", "end", "value", "unit", "normalized", "approx", "upper",
              "role", "direction", "metric", "action", "period", "baseline")
    # Real documents are stand-off; authored ones (written by the team) carry their text inline.
    where_text: dict[str, Any] = ({"text": text} if sheet.origin == "authored" else
                                  {"source": {"path": sheet.path, "sha256": sha256_file(resolve_source(sheet.path))}})
    return {"id": sheet.id, **where_text,
            "regions": [list(r) for r in sheet.regions], "kind": sheet.kind, "split": sheet.split,
            "origin": sheet.origin, "records": [{k: r[k] for k in fields} for r in records]}


def build(files: list[Path]) -> tuple[list[dict[str, Any]], list[str]]:
    grammar = QuantityGrammar()
    objs: list[dict[str, Any]] = []
    problems: list[str] = []
    for f in files:
        for sheet in parse_sheets([f]):
            obj = build_doc(sheet, grammar, str(f))
            doc = AnnotatedDoc(id=obj["id"], text=read_text(sheet.path), records=obj["records"],
                               split=obj["split"], origin=obj["origin"], kind=obj["kind"],
                               regions=[tuple(r) for r in obj["regions"]], source=obj.get("source"))  # type: ignore[misc]
            problems.extend(f"{f}: {p}" for p in check_doc(doc))
            objs.append(obj)
    return objs, problems


def candidates(path: str, region: tuple[int, int] | None) -> str:
    """A draft sheet for one region: every figure the grammar reads, with its context as a comment.

    The draft names quantities only: role, direction and spans are the annotator's to write, and
    figures the grammar misses are the annotator's to add."""
    text = read_text(path)
    s, e = region or (0, len(text))
    out = [f"@region {s} {e}"]
    for q in QuantityGrammar().find(text[s:e]):
        qs, qe = q.start + s, q.end + s
        context = text[max(s, qs - 30):qs].replace("\n", "⏎") + "【" + q.text + "】" + text[qe:qe + 12].replace("\n", "⏎")
        out.append(f"{q.text} | ? #{qs} {q.kind} {q.value} {q.unit} {q.approx}   {context}")
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m govmetrics_training.sheets", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    c = sub.add_parser("candidates", help="print a draft sheet of the grammar's figures in a region")
    c.add_argument("path", help="corpus file, relative to the project root (../shared/corpus/...)")
    c.add_argument("--para", type=int, help="paragraph index (blank-line separated)")
    c.add_argument("--region", type=int, nargs=2, metavar=("START", "END"))
    c.add_argument("--list-paras", action="store_true", help="list paragraph ranges and their first characters")
    b = sub.add_parser("build", help="turn sheets into annotation JSONL (checked)")
    b.add_argument("sheets", nargs="+", type=Path)
    b.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    if args.command == "candidates":
        text = read_text(args.path)
        if args.list_paras:
            for i, (s, e) in enumerate(paragraphs(text)):
                print(f"{i}\t{s}\t{e}\t{text[s:s + 40].replace(chr(10), '⏎')}")
            return 0
        region = paragraphs(text)[args.para] if args.para is not None else (tuple(args.region) if args.region else None)
        print(candidates(args.path, region))
        return 0
    try:
        objs, problems = build(args.sheets)
    except SheetError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    for p in problems:
        print(p, file=sys.stderr)
    if problems:
        print(f"{len(problems)} problems: nothing written", file=sys.stderr)
        return 1
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with args.out.open("w", encoding="utf-8") as fh:
        for obj in objs:
            fh.write(json.dumps(obj, ensure_ascii=False) + "\n")
    print(f"{len(objs)} documents, {sum(len(o['records']) for o in objs)} records -> {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
