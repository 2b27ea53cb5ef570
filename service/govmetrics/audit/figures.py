"""Figures and context shared by the audit's relations.

A record seen as a number with its written precision (`Figure`), one judged
relation (`Check`), the rate tolerance (`ratio_matches`) and the look-ups
every relation needs (`Context`: sentences, the words before a figure).
Arithmetic is Decimal throughout.
"""
from __future__ import annotations

import re
from bisect import bisect_left
from dataclasses import dataclass
from decimal import ROUND_DOWN, ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any, Sequence

from govmetrics.records import Record
from govmetrics.grammar.vocabulary import split_scale

KINDS = ("completion", "change", "share", "sum", "rate", "over_target", "product", "target")
HUNDRED = Decimal(100)

# A sentence ends here; page-break lines (`\n3\n\n`) inside a sentence do not end it.
SENT_END = re.compile(r"[。！？!?]")
BUDGET_CUE = re.compile(r"预算|年初安排|计划数")
FINAL_CUE = re.compile(r"决算|实际支出|实际完成|执行数|实际执行|实际使用")
# Outline headings by depth: 第一部分 > 一、 > （一） > 1． > （1）.
HEADING_RANKS: tuple[re.Pattern[str], ...] = (
    re.compile(r"第[一二三四五六七八九十]+部分"),
    re.compile(r"[一二三四五六七八九十]+[、.．]"),
    re.compile(r"[（(][一二三四五六七八九十]+[）)]"),
    re.compile(r"\d{1,2}[、.．](?!\d)"),
    re.compile(r"[（(]\d+[）)]"),
)
# A line that opens with a heading of any depth.
HEADING_LINE = re.compile(r"\n[ \t\u3000]*(?:" + "|".join(p.pattern for p in HEADING_RANKS) + ")")


@dataclass(frozen=True)
class Check:
    """One reconstructed relation and its verdict.

    `records[0]` is the stated figure that is checked (the rate, the share or
    the total); the other indexes are the figures it is computed from.
    """

    kind: str
    status: str
    records: tuple[int, ...]
    stated: str
    computed: str
    message: str

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "status": self.status, "records": list(self.records),
                "stated": self.stated, "computed": self.computed, "message": self.message}


@dataclass(frozen=True)
class Figure:
    """A record seen as a number with its written precision."""

    index: int
    record: Record
    value: Decimal       # normalized value (元, %, the count's unit)
    written: Decimal     # the number as written (`4.34` of `4.34万元`)
    scale: Decimal       # normalized = written × scale
    decimals: int        # digits after the point as written
    rounded: bool        # may carry rounding (decimals, a scale word, money or measures)

    @property
    def start(self) -> int:
        return self.record.quantity.start

    @property
    def end(self) -> int:
        return self.record.quantity.end

    @property
    def unit(self) -> str:
        return self.record.quantity.normalized_unit

    @property
    def text(self) -> str:
        return self.record.quantity.text.replace("\n", "").replace(" ", "")

    @property
    def role(self) -> str:
        return self.record.role

    @property
    def step(self) -> Decimal:
        """One unit in the last written digit, in normalized units (0 for exact counts)."""
        if not self.rounded:
            return Decimal(0)
        return Decimal(1).scaleb(-self.decimals) * self.scale


def figure_of(index: int, record: Record) -> Figure | None:
    q = record.quantity
    if q.approx != "exact" or q.upper is not None:
        return None
    if re.search(r"\.\d[ \t\u3000]*\n\s*\d", q.text):
        # `668.7⏎9⏎万元`: the grammar reads the 9 as a page number, but money has two decimals, so
        # it may be the figure's last digit broken onto the next line; which, the text does not say
        return None
    try:
        written = Decimal(q.value)
    except (InvalidOperation, TypeError):
        return None
    if not written.is_finite():
        return None
    exponent = written.as_tuple().exponent
    decimals = -exponent if isinstance(exponent, int) and exponent < 0 else 0
    if written != 0:
        scale = q.normalized_value / written
    else:
        scale = split_scale(q.unit.replace("余", "").replace("多", ""))[0] if q.kind != "percent" else Decimal(1)
    rounded = decimals > 0 or scale != 1 or q.kind in ("amount", "measure", "percent")
    return Figure(index, record, q.normalized_value, written, scale, decimals, rounded)


def is_rate(f: Figure) -> bool:
    return f.record.quantity.kind == "percent" and f.unit == "%"


def ratio_matches(stated: Decimal, decimals: int, exact: Decimal) -> tuple[bool, Decimal]:
    """A rate written with `decimals` digits agrees with `exact` when `exact` rounds or truncates to it."""
    quantum = Decimal(1).scaleb(-decimals)
    rounded = exact.quantize(quantum, rounding=ROUND_HALF_UP)
    truncated = exact.quantize(quantum, rounding=ROUND_DOWN)
    if stated == rounded:
        return True, rounded
    if stated == truncated:
        return True, truncated
    return False, rounded


def percent(numerator: Decimal, denominator: Decimal) -> Decimal:
    return numerator * HUNDRED / denominator


def fmt(value: Decimal) -> str:
    """A quantized rate keeps its written decimals (`100.00`); a sum drops trailing zeros."""
    return format(value, "f")


class Context:
    """The text and records with the look-ups every relation needs."""

    def __init__(self, text: str, records: Sequence[Record], figures: list[Figure | None]) -> None:
        self.text = text
        self.records = records
        self.figures = figures
        self.sentence_ends = [m.start() for m in SENT_END.finditer(text)]
        self.starts = [r.quantity.start for r in records]  # records come in text order

    def same_sentence(self, a: int, b: int) -> bool:
        """No sentence-final punctuation between offsets a <= b."""
        return SENT_END.search(self.text, a, b) is None

    def sentence_start(self, pos: int) -> int:
        i = bisect_left(self.sentence_ends, pos)
        return self.sentence_ends[i - 1] + 1 if i > 0 else 0

    def prefix(self, i: int) -> str:
        """The text before record i back to the previous record or the sentence start."""
        start = self.records[i - 1].quantity.end if i > 0 else 0
        q = self.records[i].quantity
        m = None
        for m in SENT_END.finditer(self.text, start, q.start):
            pass
        if m is not None:
            start = m.end()
        return self.text[start:q.start]

    def label(self, i: int) -> str | None:
        """`final` (决算, 实际) or `budget` (预算) from the words before figure i; None if neither."""
        before = self.prefix(i)
        if FINAL_CUE.search(before):
            return "final"
        if BUDGET_CUE.search(before):
            return "budget"
        return None


