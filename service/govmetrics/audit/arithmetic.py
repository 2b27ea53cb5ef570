"""ArithmeticAudit: checks a report's figures against each other.

From a document's records (role, kind, units) and its sentence structure
(`其中` lists after a total, the budget sentence 预算A…决算B…完成C%,
`增加A，增长r%` after a figure) the audit rebuilds four relations:

- completion: C ≈ B / A (决算 over 预算);
- change: r ≈ A / (V − A) for an increase, A / (V + A) for a decrease;
- share: `占x%` ≈ part / total;
- sum: the parts of a `其中` list, of a numbered outline under a total
  (`支出预算总计A。包括：⏎1．…B⏎2．…C`) or the three 三公 items against their total.

Tolerance follows the text's own precision: a rate stated with d decimals is
consistent when the exact ratio rounds (half up) or truncates to it at d
decimals; a sum may differ from its total by one unit in the last written
digit of each rounded part. A relation whose inputs are missing, approximate
(约, 余, 以上) or ambiguous is not judged: the audit never guesses.

It only reads the records and the text, so any assembler or model that
writes records the same way can feed it. Arithmetic is Decimal throughout.
"""
from __future__ import annotations

import re
from bisect import bisect_left
from dataclasses import dataclass
from decimal import ROUND_DOWN, ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any, Iterable, Sequence

from govmetrics.records import Record
from govmetrics.grammar.vocabulary import normalize_decimal
from govmetrics.audit.figures import (BUDGET_CUE as _BUDGET_CUE, FINAL_CUE as _FINAL_CUE, HEADING_LINE as _HEADING_LINE,
                                      HEADING_RANKS as _HEADING_RANKS, HUNDRED, KINDS, SENT_END as _SENT_END, Check,
                                      Context as _Context, Figure as _Figure, figure_of as _figure, fmt as _fmt,
                                      is_rate as _is_rate, percent as _percent, ratio_matches)
from govmetrics.audit.section import section_checks


_LIST_OPENER = re.compile(r"^[\s，,、]*(其中|包括|主要用于以下方面|主要用于|分别为|分别是|具体为|具体如下)[：:，,]?")
_NESTED_OPENER = re.compile(r"其中|包括")
# `总计A。包括：⏎1．…`: a sentence of its own may open a list only where numbered items follow.
_OUTLINE_OPENER = re.compile(r"^[\s，,、]*。[\s]*(其中|包括)[：:]?")
_AVERAGE = re.compile(r"年均|平均")
# `食品抽检量超每千人6.6批次`: a figure per unit (per thousand people, per household) is a rate, no total
_PER_UNIT_TOTAL = re.compile(r"每[^，,。；;：:]{0,3}$|人均|户均|亩均")
_PREVIOUS_CUE = re.compile(r"上年|去年|上一年")
_CLAUSE_START = re.compile(r"[，,。；;：:（(][^，,。；;：:（(]*$")
_NAMED_TOTAL = re.compile(r"占(?P<name>[^，,。；;：:、\d]{2,24}?)(的比重|的比例|比重|比例|的)?(为|达|达到)?\s*$")
_SANGONG = re.compile(r"三公")
_OTHER_ITEM = re.compile(r"其他|其它")
_OUTLINE_SPAN = 4000  # characters after a total within which its outline items are looked for
_FROM_TO = re.compile(r"(从|由)[^，,。；;由从]{0,12}$|(提高|增加|增长|上升|下降|减少|降低|压减|调整|扩大)(到|至)$")
_RESTATED_TOTAL = re.compile(r"合计|总计|共计|累计|总额|总数|总量|总里程|总规模")
# The words of a figure that closes a list by restating the list's total (`…，共计下达A`).
_CLOSING_TOTAL = re.compile(r"合计|总计|共计|累计")
# The three 三公 items; the car item may be written as one or as its two halves.
_SANGONG_ITEMS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("abroad", re.compile(r"因公出国[（(]?境?[）)]?费?")),
    ("reception", re.compile(r"公务接待费?")),
    ("car", re.compile(r"公务用车购置(费)?(及|和)(公务用车)?运行(维护)?费?|公务用车费用|公务用车")),
)
_SANGONG_SPAN = 900  # characters after the total within which the three items are looked for
# Between `增加A` and `增长r%` only a comma and a change word: the rate continues the same change.
_CHANGE_GAP = re.compile(r"[，,、]?(同比|环比)?(增长|增加|上升|提高|上涨|下降|减少|降低|回落|下滑|增幅|降幅|幅度)?(了|为|达|达到)?")
# A change amount is written after a word of change (增加A, 减少A, 多支出A, 节约A); `_CHANGE_BEFORE`: right before it.
_CHANGE_VERB = re.compile(r"增|减|降|升|提高|多|少|节约|节省|超|压|涨|扩大|缩小|回落|下滑")
_CHANGE_BEFORE = re.compile(r"(增加|减少|增长|下降|降低|节约|节省|压减|上升|提高|超支|多支出?|少支出?)(了|为|达)?$")
# Planned or estimated figures are rounded: a change computed from them is not judged.
_ESTIMATE = re.compile(r"预计|估计|估算|可以达到|可达到|可达|力争|争取|将达到|预期")
# Output measures (GDP, value added) grow at comparable prices while their amounts are nominal: a rate
# stated for them is real growth, which the written amounts cannot check (`地区生产总值…增加A，增长r%`).
_REAL_GROWTH = re.compile(r"生产总值|GDP|增加值|可比价|不变价")
_VALUE_GAP = 120      # at most this many characters between the figure V and its change A
_SHARE_GAP = 24       # at most this many characters between a part and its `占x%`
_OPENER_GAP = 24      # at most this many characters between a total and its `其中`




def completion_checks(ctx: _Context) -> list[Check]:
    """`预算A…决算B…完成预算的C%`: C against B / A, the two figures found by their words."""
    out = []
    for c in ctx.figures:
        if c is None or c.role != "completion" or not _is_rate(c):
            continue
        budgets: list[_Figure] = []
        finals: list[_Figure] = []
        ambiguous = False
        for j in range(c.index - 1, -1, -1):
            r = ctx.records[j]
            if r.role == "completion" or not ctx.same_sentence(r.quantity.end, c.start):
                break
            if r.quantity.kind != "amount" or r.role != "value":
                continue
            f = ctx.figures[j]
            label = ctx.label(j)
            if f is None:
                ambiguous = ambiguous or label is not None
                continue
            if label == "budget":
                budgets.append(f)
            elif label == "final":
                finals.append(f)
        if ambiguous or len(budgets) != 1 or len(finals) != 1:
            continue
        budget, final = budgets[0], finals[0]
        if budget.value == 0 or budget.unit != final.unit:
            continue
        exact = _percent(final.value, budget.value)
        ok, computed = ratio_matches(c.written, c.decimals, exact)
        verdict = "相符" if ok else "不符"
        msg = (f"完成率{verdict}：决算数{final.text} ÷ 预算数{budget.text} = {_fmt(computed)}%，"
               f"文中为{c.text}。")
        out.append(Check("completion", "ok" if ok else "mismatch", (c.index, final.index, budget.index),
                         c.record.quantity.value, _fmt(computed), msg))
    return out


# --- change -------------------------------------------------------------------------------

def change_checks(ctx: _Context) -> list[Check]:
    """`V…增加A，增长r%`: r against A / (V − A) (increase) or A / (V + A) (decrease)."""
    out = []
    figs = ctx.figures
    for i in range(1, len(figs)):
        rate, change = figs[i], figs[i - 1]
        if rate is None or change is None or rate.role != "change_rate" or change.role != "change":
            continue
        direction = rate.record.direction
        if direction not in ("increase", "decrease") or change.record.direction != direction:
            continue
        if not _is_rate(rate) or change.record.quantity.kind == "percent":
            continue
        gap = re.sub(r"\n[ \t\u3000]*[—\-]*\s*\d{1,3}\s*[—\-]*[ \t\u3000]*(?=\n)|\s", "", ctx.text[change.end:rate.start])
        if not _CHANGE_GAP.fullmatch(gap) or _AVERAGE.search(ctx.prefix(rate.index)):
            continue
        if not _CHANGE_VERB.search(ctx.prefix(change.index)):
            continue  # `比一九五八年的五百四十八亿元增长19%`: a figure compared with, not the change itself
        found = _base_value(ctx, change)
        if found is None:
            continue
        base, stated_previous = found
        if _ESTIMATE.search(ctx.prefix(base.index)):
            continue  # `可以达到五百亿元，比上一年增加三十亿元`: a planned, rounded figure
        if _REAL_GROWTH.search(ctx.text[ctx.sentence_start(base.start):rate.start]):
            continue
        if stated_previous:
            previous = base.value
        else:
            previous = base.value - change.value if direction == "increase" else base.value + change.value
        if previous <= 0:
            continue
        exact = _percent(change.value, previous)
        ok, computed = ratio_matches(rate.written, rate.decimals, exact)
        verdict = "相符" if ok else "不符"
        word = "增加" if direction == "increase" else "减少"
        if stated_previous:
            basis = f"上期数{base.text}"
        else:
            sign = "−" if direction == "increase" else "+"
            basis = f"上期数（{base.text} {sign} {change.text}）"
        msg = f"增减率{verdict}：{word}{change.text} ÷ {basis} = {_fmt(computed)}%，文中为{rate.text}。"
        out.append(Check("change", "ok" if ok else "mismatch", (rate.index, change.index, base.index),
                         rate.record.quantity.value, _fmt(computed), msg))
    return out


def _is_previous(ctx: _Context, base: _Figure, change: _Figure) -> bool:
    """`（2016年度…为V），增加A`: V is the earlier period's figure when its words name the change's baseline."""
    # PDF line breaks (`（2016 年度部⏎门支出预算安排为V）`) do not end the clause
    before = ctx.text[max(0, base.start - 60):base.start].replace("\n", "")
    m = _CLAUSE_START.search(before)
    words = (before[m.start() + 1:] if m else before).replace(" ", "")
    baseline = change.record.baseline
    if baseline is not None and re.sub(r"\s", "", baseline.text) in words:
        return True
    return bool(_PREVIOUS_CUE.search(words))


_COMPARISON_START = re.compile(r"^[\s，,]*(此外，)?(与|比|较|同比|环比|相比|对比)")


def _base_value(ctx: _Context, change: _Figure) -> tuple[_Figure, bool] | None:
    """The figure a change refers to, and whether it is the earlier period's (True) or the current one.

    In the change's own sentence: the one plain value of the same unit; among
    several, the one 决算 figure or the one earlier-period figure, else none
    (ambiguous). A value in the sentence before counts only where the change's
    sentence has no subject of its own (`。与上年相比，减少A`).
    """
    candidates: list[_Figure] = []
    crossed = False
    for j in range(change.index - 1, -1, -1):
        r = ctx.records[j]
        if change.start - r.quantity.end > _VALUE_GAP:
            break
        if not ctx.same_sentence(r.quantity.end, change.start):
            if candidates:
                break
            crossed = True
        if r.quantity.normalized_unit != change.unit or r.quantity.kind != change.record.quantity.kind:
            continue
        f = ctx.figures[j]
        if r.role != "value" or f is None:
            if candidates:
                break
            return None
        candidates.append(f)
        if crossed:
            break
    if not candidates:
        return None
    if crossed:
        sentence = ctx.text[ctx.sentence_start(change.start):change.start]
        if not _COMPARISON_START.match(sentence):
            return None
    if len(candidates) == 1:
        return candidates[0], _is_previous(ctx, candidates[0], change)
    finals = [f for f in candidates if ctx.label(f.index) == "final"]
    if len(finals) == 1:
        return finals[0], False
    previous = [f for f in candidates if _is_previous(ctx, f, change)]
    if len(previous) == 1:
        return previous[0], True
    return None


# --- lists: a total followed by 其中/包括 and its parts --------------------------------------

@dataclass
class _List:
    total: _Figure
    parts: list[_Figure]
    end: int
    closed: str        # whether the parts make up the whole total: "stated", "assumed" or "" (see _closed)
    # `…B，C，共计下达A`: the figure that closes the list restating its total (never a part)
    restated: _Figure | None = None


def find_lists(ctx: _Context) -> list[_List]:
    """A value, then `其中：`/`包括：` in the same sentence, then parts of the same unit until the sentence ends."""
    lists = []
    text = ctx.text
    for t in ctx.figures:
        if t is None or t.role != "value" or t.record.quantity.kind == "percent":
            continue
        if _AVERAGE.search(ctx.prefix(t.index)) or _PER_UNIT_TOTAL.search(re.sub(r"\s", "", ctx.prefix(t.index))):
            continue  # `年均超收A，其中去年B`, `每千人6.6批次，其中…`: an average or a rate is no total of its parts
        window = text[t.end:t.end + _OPENER_GAP]
        m = _LIST_OPENER.match(window) or _OUTLINE_OPENER.match(window)
        if m is None:
            continue
        next_i = t.index + 1
        if next_i < len(ctx.records) and ctx.records[next_i].quantity.start < t.end + m.end():
            continue
        begin = t.end + m.end()
        outline = _outline_list(ctx, t, begin)
        if outline is not None:
            lists.append(outline)
            continue
        end = _list_end(ctx, t, begin)
        if m.group(0).lstrip(" \t").startswith("、"):
            # `新增铁路639公里、其中高铁370公里，新增高速公路2600公里`: an aside inside an enumeration
            # ends at the next comma, where the enumeration goes on with other figures
            comma = re.search(r"[，,；;]", text[begin:end])
            end = begin + comma.start() if comma else end
        parts: list[_Figure] = []
        restated: _Figure | None = None
        ambiguous = False
        labels = set()
        total_prefix = ctx.prefix(t.index)
        for j in range(next_i, len(ctx.records)):
            r = ctx.records[j]
            if r.quantity.start >= end:
                break
            if r.quantity.normalized_unit == t.unit and r.quantity.kind != t.record.quantity.kind:
                ambiguous = True  # the same unit read as two kinds: the figures are not understood
                break
            if not _same_measure(t, r):
                continue
            if r.quantity.kind == "count" and _breaks_down_sibling(ctx, t, j):
                # `处分1647人，移送司法机关73人，其中，处分厅局级干部54人`: the parts break down another count
                ambiguous = True
                break
            words = re.sub(r"\s", "", ctx.prefix(j))
            if _RESTATED_TOTAL.search(words) or _FROM_TO.search(words):
                # `合计…`, `总里程…`, `从A提高到B`: a total restated or another statement, not a part
                if _CLOSING_TOTAL.search(words) and r.role == "value" and not _FROM_TO.search(words):
                    restated = ctx.figures[j]
                    ambiguous = restated is None
                break
            if r.role in ("change", "change_rate", "completion", "share") or _written_as_change(ctx, j) \
                    or _contrasts(total_prefix, ctx.prefix(j)):
                continue
            f = ctx.figures[j]
            if f is None or r.role != "value":
                ambiguous = True
                break
            labels.add(ctx.label(j))
            parts.append(f)
        if ambiguous or not parts or len(labels - {None}) > 1 or _NESTED_OPENER.search(text, begin, end):
            continue
        if m.re is _OUTLINE_OPENER and restated is None:
            continue  # `总计A。其中：` with no numbered items: a list only where a 共计 closes it
        # a list its own 共计 closes says that its parts are the whole
        closed = "stated" if restated is not None and len(parts) >= 2 else _closed(ctx, t, parts)
        lists.append(_List(t, parts, end, closed=closed, restated=restated))
    return lists


def _clause_words(ctx: _Context, i: int) -> str:
    """The words of figure i's own clause (back to the previous comma or figure), without spaces."""
    return re.sub(r"\s", "", re.split(r"[，,、；;：:。]", ctx.prefix(i))[-1])


def _breaks_down_sibling(ctx: _Context, total: _Figure, j: int) -> bool:
    """Part j opens with the words of the figure before the total (its sibling), which the total's clause lacks."""
    i = total.index - 1
    if i < 0 or not ctx.same_sentence(ctx.records[i].quantity.end, total.start):
        return False
    sibling = _clause_words(ctx, i)[:2]
    part = re.sub(r"\s", "", ctx.prefix(j)).lstrip("，,、：:其中")
    return len(sibling) == 2 and part.startswith(sibling) and sibling not in _clause_words(ctx, total.index)


def _closed(ctx: _Context, total: _Figure, parts: list[_Figure]) -> str:
    """Whether the parts make up the whole total.

    "stated" where the text says so: every part states its share, or the last
    part is the rest (…、其他用车0辆). "assumed" for other money lists, complete
    by the convention of budget reports (本年支出合计A，其中：基本支出B；项目支出C),
    though prose may name a few uses only. "" for other lists of counts and
    measures, which often name a few kinds (不可移动文物367处，其中国家级2处、省级11处).
    """
    if len(parts) < 2:
        return ""
    if _all_shared(ctx, parts) or _OTHER_ITEM.search(ctx.prefix(parts[-1].index)):
        return "stated"
    return "assumed" if total.record.quantity.kind == "amount" else ""


def _heading_rank(text: str, line_start: int) -> int | None:
    """The outline depth of a heading that opens the line at line_start; None for a plain line."""
    pos = line_start
    while pos < len(text) and text[pos] in " \t\u3000":
        pos += 1
    for rank, pattern in enumerate(_HEADING_RANKS):
        if pattern.match(text, pos):
            return rank
    return None


def _outline_list(ctx: _Context, total: _Figure, begin: int) -> _List | None:
    """`支出预算总计A。包括：⏎1．…支出B…⏎2．…支出C…⏎（二）…`: a total whose parts head numbered items.

    Each item of the first heading's depth gives its first figure; deeper items
    (its own breakdown) and plain paragraphs under it are passed over; a heading
    of a higher level ends the list. An item whose first figure is not a plain
    value of the total's measure leaves the outline unjudged.
    """
    text = ctx.text
    first = re.match(r"[ \t\u3000]*\n", text[begin:begin + 40])
    if first is None:
        return None
    rank = _heading_rank(text, begin + first.end())
    if rank is None:
        return None
    starts = ctx.starts
    limit = min(len(text), begin + _OUTLINE_SPAN)
    parts: list[_Figure] = []
    labels = set()
    end = limit
    line_start = begin + first.end()
    while line_start < limit:
        line_end = text.find("\n", line_start)
        line_end = limit if line_end < 0 else line_end
        depth = _heading_rank(text, line_start)
        if depth is not None and depth < rank:
            end = line_start
            break
        if depth == rank:
            sentence = _SENT_END.search(text, line_start, line_end)
            item_end = sentence.start() if sentence else line_end
            j = bisect_left(starts, line_start)
            while j < len(starts) and starts[j] < item_end and not _same_measure(total, ctx.records[j]):
                j += 1
            if j >= len(starts) or starts[j] >= item_end:
                return None
            f = ctx.figures[j]
            if f is None or ctx.records[j].role != "value" or _contrasts(ctx.prefix(total.index), ctx.prefix(j)):
                return None
            labels.add(ctx.label(j))
            parts.append(f)
        line_start = line_end + 1
    if len(parts) < 2 or len(labels - {None}) > 1:
        return None
    return _List(total, parts, end, closed=_closed(ctx, total, parts))


def _written_as_change(ctx: _Context, j: int) -> bool:
    """`比2023年预算减少⏎876.75万元`: a change by its words, whatever role the record carries."""
    return bool(_CHANGE_BEFORE.search(re.sub(r"\s", "", ctx.prefix(j))))


def _all_shared(ctx: _Context, parts: list[_Figure]) -> bool:
    """Every part states its share (`A，占a%`): the parts claim the whole."""
    return all(p.index + 1 < len(ctx.records) and ctx.records[p.index + 1].role == "share" for p in parts)


def _same_measure(total: _Figure, r: Record) -> bool:
    """Same kind and unit; a bare count (`涉毒刑事案件1`) may stand in a list of counts."""
    q = r.quantity
    if q.kind != total.record.quantity.kind:
        return False
    return q.normalized_unit == total.unit or (q.kind == "count" and q.normalized_unit == "")


_CONTRASTS = (("刑事", "行政"), ("收入", "支出"), ("预算", "决算"), ("基本支出", "项目支出"))


def _contrasts(total_words: str, part_words: str) -> bool:
    """A part qualified opposite to its total (行政案件 under 刑事案件) is not one of its parts."""
    return any((a in total_words and b in part_words and a not in part_words)
               or (b in total_words and a in part_words and b not in part_words) for a, b in _CONTRASTS)


def _list_end(ctx: _Context, total: _Figure, begin: int) -> int:
    """The list runs to the sentence end or a blank line, and stops at the first `；` segment without a part."""
    text = ctx.text
    end_m = re.search(r"[。！？!?]|\n[ \t\u3000]*\n", text[begin:])
    end = begin + end_m.start() if end_m else len(text)
    # a blank line after a page number (`\n3\n\n`) is a page break, not a paragraph end
    while end_m and end_m.group(0).startswith("\n") and re.search(r"\n[ \t\u3000]*\d{1,3}[ \t\u3000]*$", text[:end]):
        nxt = re.search(r"[。！？!?]|\n[ \t\u3000]*\n", text[end + 1:])
        end_m = nxt
        end = end + 1 + nxt.start() if nxt else len(text)
    heading = _HEADING_LINE.search(text, begin, end)
    if heading is not None:
        if not text[begin:heading.start()].strip():
            return begin  # items under their own headings: a nested outline, not judged
        end = heading.start()
    starts = ctx.starts
    segments = re.split(r"(?<=[；;])", text[begin:end])

    def parts_in(lo: int, hi: int) -> int:
        """Plain values of the total's measure (a change written beside a part is not another part)."""
        return sum(1 for k, st in enumerate(starts)
                   if lo <= st < hi and ctx.records[k].role == "value" and _same_measure(total, ctx.records[k])
                   and not _written_as_change(ctx, k))

    # Items separated by `；` (`基本支出A，占a%；项目支出B，占b%；`) run on; a list written with
    # commas ends at its first `；`, where the sentence goes on to other work.
    one_per_segment = total.record.quantity.kind == "amount" and parts_in(begin, begin + len(segments[0])) == 1
    pos = begin
    for n, seg in enumerate(segments):
        seg_end = pos + len(seg)
        if n > 0 and (not one_per_segment or _NESTED_OPENER.search(seg) or not parts_in(pos, seg_end)):
            return pos
        pos = seg_end
    return end


def share_checks(ctx: _Context, lists: list[_List]) -> list[Check]:
    """`part，占x%`: x against part / total, the total being the list's or one named after 占."""
    owner = {p.index: lst for lst in lists for p in lst.parts}
    pairs: list[tuple[_Figure, _Figure, _Figure, _List | None]] = []
    for s in ctx.figures:
        if s is None or s.role != "share" or not _is_rate(s) or s.index == 0:
            continue
        part = ctx.figures[s.index - 1]
        prev = ctx.records[s.index - 1]
        gap = ctx.text[prev.quantity.end:s.start]
        if part is None or prev.role != "value" or prev.quantity.kind == "percent" or len(gap) > _SHARE_GAP \
                or re.search(r"[。；;]", gap):
            continue
        total = _named_total(ctx, part, gap)
        lst = None
        if total is None and "占" in gap and re.fullmatch(r"[\s，,]*占(比|比为)?[\s为]*", gap):
            lst = owner.get(part.index)
            total = lst.total if lst is not None else None
        if total is None or total.value == 0 or total.unit != part.unit:
            continue
        pairs.append((s, part, total, lst))
    adjusted = _rounding_adjusted(pairs)
    out = []
    for s, part, total, _ in pairs:
        exact = _percent(part.value, total.value)
        ok, computed = ratio_matches(s.written, s.decimals, exact)
        note = ""
        if not ok and s.index in adjusted:
            ok, note = True, "（各项占比按合计100%调整了尾差）"
        verdict = "相符" if ok else "不符"
        msg = f"占比{verdict}：{part.text} ÷ 总数{total.text} = {_fmt(computed)}%，文中为{s.text}{note}。"
        out.append(Check("share", "ok" if ok else "mismatch", (s.index, part.index, total.index),
                         s.record.quantity.value, _fmt(computed), msg))
    return out


def _rounding_adjusted(pairs: list[tuple[_Figure, _Figure, _Figure, _List | None]]) -> set[int]:
    """Shares of one list forced to add up to exactly 100% (尾差调整): each may be one unit off.

    Only where every part of the list states its share, the stated shares add up
    to 100 and the correctly rounded ones do not.
    """
    by_list: dict[int, list[tuple[_Figure, Decimal]]] = {}
    for s, part, total, lst in pairs:
        if lst is not None:
            by_list.setdefault(id(lst), []).append((s, _percent(part.value, total.value)))
    lists = {id(lst): lst for *_, lst in pairs if lst is not None}
    out: set[int] = set()
    for key, shares in by_list.items():
        if len(shares) != len(lists[key].parts) or len(shares) < 2:
            continue
        decimals = max(s.decimals for s, _ in shares)
        unit = Decimal(1).scaleb(-decimals)
        rounded = [e.quantize(unit, rounding=ROUND_HALF_UP) for _, e in shares]
        if sum(s.value for s, _ in shares) != HUNDRED:
            continue
        for (s, _), r in zip(shares, rounded):
            if abs(s.value - r) <= unit:
                out.add(s.index)
    return out


def _named_total(ctx: _Context, part: _Figure, gap: str) -> _Figure | None:
    """`…占本年支出合计的100%`: the earlier value written right after that name, if exactly one value fits."""
    m = _NAMED_TOTAL.search(gap)
    if m is None:
        return None
    name = m.group("name").strip()
    found: dict[Decimal, _Figure] = {}
    for j in range(part.index - 1, -1, -1):
        f = ctx.figures[j]
        r = ctx.records[j]
        if r.quantity.normalized_unit != part.unit or r.role != "value":
            continue
        before = ctx.prefix(j).replace("\n", "").replace(" ", "")
        named = re.search(re.escape(name) + r"(数|总额|为|是|达)?$", before)
        clause = re.split(r"[，,、；;：:]", before[:named.start()])[-1] if named else ""
        if named and not _CHANGE_VERB.search(clause):  # not `节减了预算支出A`
            if f is None:
                return None
            found.setdefault(f.value, f)
    if len(found) != 1:
        return None
    return next(iter(found.values()))


# --- sums ---------------------------------------------------------------------------------

def _judge_sum(total: _Figure, parts: list[_Figure], closed: str, label: str) -> Check | None:
    summed = sum((p.value for p in parts), Decimal(0))
    tolerance = sum((p.step for p in parts), Decimal(0))
    diff = summed - total.value
    if abs(diff) <= tolerance:
        status = "ok"
    elif diff > 0 or closed == "stated" or (closed == "assumed" and summed * 2 >= total.value):
        status = "mismatch"
    else:
        # fewer parts than the whole: an open list, or a money list whose parts cover less than
        # half of the total (`五年共计A，其中用于…B，用于…C`: prose names a few uses); not judged
        return None
    computed = Decimal(normalize_decimal(summed / total.scale if total.scale else summed))
    verdict = "相符" if status == "ok" else "不符"
    terms = " + ".join(p.text for p in parts)
    msg = f"{label}{verdict}：各分项之和（{terms}）= {_fmt(computed)}，文中总数为{total.text}。"
    if status == "mismatch" and diff > 0 and not closed:
        msg = f"{label}不符：分项{terms}大于总数{total.text}。"
    return Check("sum", status, (total.index, *(p.index for p in parts)), total.record.quantity.value,
                 _fmt(computed), msg)


def sum_checks(ctx: _Context, lists: list[_List]) -> list[Check]:
    out = []
    for lst in lists:
        total = lst.total
        if lst.restated is not None and lst.restated.value != lst.total.value:
            # `总投资A。其中：…B，C，共计下达D`: the parts make up D, the closing figure, not A
            total = lst.restated
        check = _judge_sum(total, lst.parts, lst.closed, "合计")
        if check is not None:
            out.append(check)
    return out


def sangong_checks(ctx: _Context, lists: list[_List]) -> list[Check]:
    """The 三公 total against its three items (因公出国（境）费, 公务接待费, 公务用车), budget and 决算 apart."""
    out = []
    list_totals = {lst.total.index for lst in lists}
    used: set[int] = set()
    for t in ctx.figures:
        if t is None or t.index in list_totals or t.index in used or t.role != "value" \
                or t.record.quantity.kind != "amount":
            continue
        before = ctx.text[ctx.sentence_start(t.start):t.start]
        if not _SANGONG.search(before) or _any_item(ctx.prefix(t.index)):
            continue
        label = ctx.label(t.index)
        if label is None:
            continue
        items: dict[str, _Figure] = {}
        ambiguous = False
        for j in range(t.index + 1, len(ctx.records)):
            r = ctx.records[j]
            if r.quantity.start - t.end > _SANGONG_SPAN:
                break
            if r.quantity.kind != "amount" or r.role != "value" or ctx.label(j) != label:
                continue
            item = _item_of(ctx, j)
            if item is None:
                if _SANGONG.search(ctx.prefix(j)):
                    break  # the next 三公 total begins
                continue
            if item in items:
                continue  # a later mention of the same item (another year, a detail): keep the first
            f = ctx.figures[j]
            if f is None:
                ambiguous = True
                break
            items[item] = f
        if ambiguous or len(items) != len(_SANGONG_ITEMS):
            continue
        parts = [items[k] for k, _ in _SANGONG_ITEMS]
        used.update(p.index for p in parts)
        check = _judge_sum(t, parts, "stated", "三公经费合计")
        if check is not None:
            out.append(check)
    return out


def _any_item(text: str) -> bool:
    return any(p.search(text) for _, p in _SANGONG_ITEMS)


def _item_of(ctx: _Context, j: int) -> str | None:
    """Which 三公 item figure j belongs to: the item named last in its clause or sentence before it."""
    q = ctx.records[j].quantity
    start = q.start
    lo = max(0, start - 120)
    seg = ctx.text[lo:start]
    cut = max(seg.rfind("。"), seg.rfind("；"), seg.rfind(";"))
    seg = seg[cut + 1:]
    best: tuple[int, str] | None = None
    for name, pattern in _SANGONG_ITEMS:
        for m in pattern.finditer(seg):
            if best is None or m.start() > best[0]:
                best = (m.start(), name)
    return best[1] if best else None


class ArithmeticAudit:
    """Rebuilds the arithmetic relations of one document and judges them."""

    version = "arithmetic_audit.v1"

    def check(self, text: str, records: Sequence[Record]) -> list[Check]:
        figures = [_figure(i, r) for i, r in enumerate(records)]
        ctx = _Context(text, records, figures)
        checks: list[Check] = []
        checks += completion_checks(ctx)
        checks += change_checks(ctx)
        lists = find_lists(ctx)
        checks += share_checks(ctx, lists)
        checks += sum_checks(ctx, lists)
        checks += sangong_checks(ctx, lists)
        checks += section_checks(ctx, {c.records[0] for c in checks})
        return sorted(checks, key=lambda c: (records[c.records[0]].quantity.start, KINDS.index(c.kind)))



def audit_records(text: str, records: Iterable[Record]) -> list[dict[str, Any]]:
    """Checks as JSON dicts, for callers that have records but no pipeline."""
    return [c.to_json() for c in ArithmeticAudit().check(text, list(records))]
