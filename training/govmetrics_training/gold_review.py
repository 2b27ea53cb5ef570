"""List gold records that contradict RECORDS.md section 4, and figures the grammar reads that the gold
left out, for an annotator to judge (nothing here edits the gold).

Classes:
- approx: the grammar reads a qualifier (超, ≥, 不低于, …以上) the gold record's `approx` does not carry;
- money-unit: an amount written with a bare scale (`0.39 万`) whose normalized unit is not `元`;
- target / completion: a role cue in the clause before the figure (年初指标值, 年度目标, 力争, 下一步 /
  执行率, 到位率, 指标完成) that the record's role does not follow;
- missing: a quantity of the new grammar forms (fractions, 一半, 成, long-tail classifiers, 届, scale
  words without digits) inside an annotated region that no gold record overlaps.

    python -m govmetrics_training.gold_review [FILE.jsonl ...]
"""
from __future__ import annotations

import re
import sys
from pathlib import Path
from typing import Iterator

from govmetrics.grammar.quantities import Quantity, QuantityGrammar
from govmetrics.grammar.vocabulary import EDITION_UNITS, LONG_TAIL_COUNT_UNITS, TENTHS_UNITS
from govmetrics_training.annotations import AnnotatedDoc, load_corpus

TARGET_CUES = re.compile(r"年初指标值|指标值|年度目标|目标值|目标为|目标任务|计划|力争|下一步|预计|拟|争取|确保")
COMPLETION_CUES = re.compile(r"执行率|到位率|指标完成|完成率")
_NEW_UNITS = set(LONG_TAIL_COUNT_UNITS) | set(EDITION_UNITS) | set(TENTHS_UNITS)


def clause_before(text: str, start: int, limit: int = 40) -> str:
    """The text from the last sentence or clause break before `start` (at most `limit` characters)."""
    i = start - 1
    while i >= 0 and start - i <= limit and text[i] not in "。；;\n，,":
        i -= 1
    return text[i + 1:start]


def context(text: str, start: int, end: int, width: int = 24) -> str:
    return (text[max(0, start - width):start] + "[" + text[start:end] + "]" + text[end:end + 10]).replace("\n", "⏎")


def is_new_form(q: Quantity) -> bool:
    head = q.unit.split("/", 1)[0].lstrip("十百千万亿")
    return ("分之" in q.text and not q.text.startswith("百分之")) or q.text == "一半" or head in _NEW_UNITS \
        or q.text.startswith("数") or (q.value == "1" and q.text[:1] in "十百千万亿")


def review(doc: AnnotatedDoc, grammar: QuantityGrammar) -> Iterator[tuple[str, int, str, str]]:
    """(class, record index or -1, proposal, context) for one document."""
    found = grammar.find(doc.text)
    for i, rec in enumerate(doc.records):
        s, e = rec["start"], rec["end"]
        q = next((q for q in found if q.start < e and s < q.end), None)
        if q is not None and q.approx != rec["approx"] and q.qualifier is not None:
            yield "approx", i, f"{rec['approx']} -> {q.approx} ({q.qualifier})", context(doc.text, s, e)
        if rec["kind"] == "amount" and rec["normalized"]["unit"] == "":
            yield "money-unit", i, "'' -> 元", context(doc.text, s, e)
        before = clause_before(doc.text, s)
        if doc.origin == "authored" and rec["role"] not in ("target", "completion") and TARGET_CUES.search(before):
            yield "target", i, f"{rec['role']} -> target?", context(doc.text, s, e)
        if rec["role"] != "completion" and COMPLETION_CUES.search(before):
            yield "completion", i, f"{rec['role']} -> completion?", context(doc.text, s, e)
    for q in found:
        if not doc.in_regions(q.start, q.end) or not is_new_form(q):
            continue
        if not any(r["start"] < q.end and q.start < r["end"] for r in doc.records):
            yield "missing", -1, f"{q.kind} {q.value} {q.unit} {q.normalized()} {q.approx}", \
                context(doc.text, q.start, q.end)


def main(argv: list[str]) -> int:
    docs = load_corpus([Path(a) for a in argv] or None)
    grammar = QuantityGrammar()
    counts: dict[str, int] = {}
    for doc in docs:
        for cls, i, proposal, ctx in review(doc, grammar):
            counts[cls] = counts.get(cls, 0) + 1
            print(f"{cls}\t{Path(doc.file).name}\t{doc.id}\t{i}\t{proposal}\t{ctx}")
    print(f"# {counts}", file=sys.stderr)
    return 0




if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
