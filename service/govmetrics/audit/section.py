"""Relations within a section: the figures a 绩效自评 report relates across its lines.

A section is the text under one outline heading (`（二）`, `2.`, …, a line of
its own that opens with a heading), up to the next heading line. Inside it
the audit links figures by what the words right before them say they are
(their cue: 年初预算, 调整后预算, 到位, 执行, 发放, 应发放, 计划/任务/指标值,
实际完成) and by their measure (same kind and unit), and judges:

- rate: a named rate (`执行率`, `到位率`, `发放率`, `兑付率`, `支付率`,
  `使用率`, `完成率`) against numerator ÷ denominator;
- over_target: `超任务x%` = (actual − plan) ÷ plan, `低于计划x%` =
  (plan − actual) ÷ plan, `完成计划的x%` = actual ÷ plan;
- product: `每卷2元 … N卷 … A万元` or `1200元/户 … N户 … A万元`: A = price × N;
- target: an achieved value below its stated 指标值/目标值 where the text
  says the target was met (`已完成年度目标`, `达标`); only for targets where
  more is better (a target written `≤`, `以内`, a cost or a complaint rate
  is passed over).

Inputs are looked for in the stated figure's sentence, then its line, then
its section, the nearest level where any is found deciding: two candidates
of different values there (two numerators) leave the relation unjudged. A
rate that the conventional pair (执行率 on the adjusted budget) does not
reproduce but another pair of the section's figures does is not judged
either: the text may define it that way. Rates keep the written precision
(`ratio_matches`); a product may differ by one unit in the last written
digit of the amount.
"""
from __future__ import annotations

import re
from bisect import bisect_right
from dataclasses import dataclass
from decimal import Decimal
from typing import Iterable

from govmetrics.audit.figures import (HEADING_LINE, SENT_END, Check, Context, Figure, fmt, is_rate, percent,
                                      ratio_matches)

# Sentence for these relations: table-like lines often end without `。`.
_UNIT_END = re.compile(r"[。！？!?\n]")
# The words before a figure back to the previous figure or comma (a colon does not end them:
# `年初预算数：1200万元` keeps its label).
_SECTION_REACH = 600  # characters on each side of the stated figure within its section
_CLAUSE_END = re.compile(r"[，,。；;！？!?\n]")

# Cues of a figure, from the words before it. 应发放 (what is due) and 计划/任务/指标值 (the plan)
# decide alone; otherwise the cue word nearest the figure does (`到位资金中已支出A`: spent).
_DUE = re.compile(r"应(发放|发|兑付|补助|拨付|支付|到位)")
_PLAN = re.compile(r"计划|任务|目标|指标值|预期")
_CUES = re.compile(r"(?P<arrived>到位|下达)|(?P<issued>发放|兑付)|(?P<executed>执行|支出|支付|使用|拨付)"
                   r"|(?P<actual>实际|完成|已)|(?P<budget>预算|批复|安排)")
_ADJUSTED = re.compile(r"调整|全年")

# numerator cues, then the denominator cues in order of preference (the first that has a figure)
_RATE_DEFS: dict[str, tuple[tuple[str, ...], tuple[tuple[str, ...], ...]]] = {
    "执行率": (("executed",), (("budget_adj",), ("budget",), ("arrived",))),
    "到位率": (("arrived",), (("budget_adj",), ("budget",), ("plan",))),
    "发放率": (("issued",), (("due",), ("arrived",), ("budget_adj",), ("budget",), ("plan",))),
    "完成率": (("actual", "executed"), (("plan",), ("budget_adj",), ("budget",))),
}
_RATE_NAMES = {"执行率": "执行率", "支出率": "执行率", "支付率": "执行率", "使用率": "执行率",
               "到位率": "到位率", "发放率": "发放率", "兑付率": "发放率", "完成率": "完成率"}
_RATE_NAME = re.compile(r"(?P<name>执行率|支出率|支付率|使用率|到位率|发放率|兑付率|完成率)[)）]?"
                        r"(为|达|达到|是|约为)?[：:]?\s*$")
# the rates of 预算 itself (`完成预算的x%`) belong to the sentence-level completion check
_OVER = re.compile(r"超(额)?(完成)?(了)?(年度|全年|年初)?(计划|任务|目标)(数)?(的)?(为|达)?\s*$")
_UNDER = re.compile(r"(低于|未完成|差)(年度|全年|年初)?(计划|任务|目标)(数)?(的)?\s*$")
_OF_PLAN = re.compile(r"完成(了)?(年度|全年|年初)?(计划|任务|目标)(数)?的\s*$")

# `按每卷2元` / `每户补助1200元`: the price of one unit, named after 每.
_PER_UNITS = r"公里|千米|平方米|立方米|公斤|千克|人次|户次|吨|米|亩|户|人|名|生|卷|册|份|个|所|辆|台|套|件|张|头|只|株|盏|座|处|间|床|村|家|场|本|箱|袋|次"
_PER_BEFORE = re.compile(r"每(?P<unit>" + _PER_UNITS + r")(补助|补贴|奖励|标准|给予|发放|资助|计|支付|按|投入|养护)?"
                         r"(资金|经费|费用)?(为|是)?[：:]?\s*$")
_PER_MANY = re.compile(r"每[\u4e00-\u9fff][^，,。；;]{0,6}每")  # 每人每月: a price per two units is not judged

# a target where less is better, or a figure not meant as reached
_LOWER_BETTER = re.compile(r"[≤＜<]|不高于|不超过|以内|以下|控制在|成本|费用|投诉|事故|发生率|差错|下降|降低|减少|时限"
                           r"|用时|超支|损失|空置|违规|违纪")
_CLAIM = re.compile(r"(完成|达到|实现|达成)(了)?(年度|全年|预期|既定|年初)?(绩效)?(目标任务|目标|指标|计划|任务)(?![数的任])|达标"
                    r"|目标(已)?(完成|实现|达成)")
_DENIAL = re.compile(r"未|没有|没|尚|不|偏差|差距|差")
_TARGET_CUE = re.compile(r"指标值|目标值|目标|计划")
# beyond the achieved figure's sentence only a figure the text names as the indicator's value is its target
# (news paragraphs run several places' plans and results together: `宁波计划5万套…上海已完成6.2万套`)
_NAMED_TARGET = re.compile(r"指标值|目标值")
_ACTUAL_CUE = re.compile(r"实际|完成值|完成")


@dataclass(frozen=True)
class _Unit:
    """The spans a figure's inputs are looked for in, nearest first."""

    sentence: tuple[int, int]
    line: tuple[int, int]
    section: tuple[int, int]

    def levels(self) -> tuple[tuple[int, int], ...]:
        return self.sentence, self.line, self.section


class _Sections:
    def __init__(self, text: str) -> None:
        self.text = text
        self.starts = [0] + [m.start() + 1 for m in HEADING_LINE.finditer(text)]

    def unit(self, pos: int) -> _Unit:
        i = bisect_right(self.starts, pos) - 1
        sec = (self.starts[i], self.starts[i + 1] if i + 1 < len(self.starts) else len(self.text))
        text = self.text
        line = (text.rfind("\n", 0, pos) + 1, _find(text, "\n", pos))
        s0 = 0
        for m in _UNIT_END.finditer(text, line[0], pos):
            s0 = m.end()
        sentence = (max(s0, line[0]), _search_end(text, pos, line[1]))
        # an unheaded text (news, a speech) is one long section: inputs are looked for close by only
        sec = (max(sec[0], pos - _SECTION_REACH), min(sec[1], pos + _SECTION_REACH))
        return _Unit(sentence, (max(line[0], sec[0]), min(line[1], sec[1])), sec)


def _find(text: str, ch: str, pos: int) -> int:
    i = text.find(ch, pos)
    return len(text) if i < 0 else i


def _search_end(text: str, pos: int, limit: int) -> int:
    m = _UNIT_END.search(text, pos, limit)
    return m.start() if m else limit


def clause(ctx: Context, i: int) -> str:
    """The words before figure i back to the previous figure or comma, without spaces."""
    q = ctx.records[i].quantity
    start = ctx.records[i - 1].quantity.end if i > 0 else 0
    for m in _CLAUSE_END.finditer(ctx.text, start, q.start):
        start = m.end()
    return re.sub(r"\s", "", ctx.text[start:q.start])


def cue(words: str) -> str | None:
    """What a figure is by the words before it: due, plan, arrived, issued, executed, actual, budget(_adj)."""
    if _DUE.search(words):
        return "due"
    if "实际" not in words and _PLAN.search(words):
        return "plan"
    last = None
    for last in _CUES.finditer(words):
        pass
    if last is None:
        return None
    kind = last.lastgroup
    if kind == "budget" and _ADJUSTED.search(words):
        return "budget_adj"
    return kind


@dataclass(frozen=True)
class _Input:
    index: int
    cue: str
    figure: Figure | None   # None: approximate or unreadable, its value unknown


def _inputs(ctx: Context, stated: int, sections: _Sections) -> list[_Input]:
    """The plain figures of the stated figure's section with their cues (rates, changes, shares left out)."""
    u = sections.unit(ctx.records[stated].quantity.start)
    lo, hi = u.section
    out = []
    for j, r in enumerate(ctx.records):
        q = r.quantity
        if q.start < lo or q.start >= hi or j == stated or q.kind == "percent":
            continue
        if r.role not in ("value", "completion", "target"):
            continue
        c = cue(clause(ctx, j))
        if c is not None:
            out.append(_Input(j, c, ctx.figures[j]))
    return out


def _pick(ctx: Context, inputs: list[_Input], cues: Iterable[str], unit: _Unit,
          measure: tuple[str, str]) -> Figure | None | bool:
    """The one input with one of these cues at the nearest level that has any: a Figure; False when
    none; None when ambiguous (different values, or one whose value is unknown)."""
    wanted = set(cues)
    for lo, hi in unit.levels():
        found = [x for x in inputs if x.cue in wanted and lo <= ctx.records[x.index].quantity.start < hi
                 and _measure(ctx, x.index) == measure]
        if not found:
            continue
        if any(x.figure is None for x in found):
            return None
        values = {x.figure.value for x in found if x.figure is not None}
        if len(values) != 1:
            return None
        return found[-1].figure
    return False


def _measure(ctx: Context, j: int) -> tuple[str, str]:
    q = ctx.records[j].quantity
    return q.kind, q.normalized_unit


def _measures(ctx: Context, inputs: list[_Input], money_only: bool) -> list[tuple[str, str]]:
    seen = []
    for x in inputs:
        m = _measure(ctx, x.index)
        if m not in seen and (not money_only or m[0] == "amount"):
            seen.append(m)
    return seen


def _pair(ctx: Context, inputs: list[_Input], unit: _Unit, num_cues: tuple[str, ...],
          den_prefs: tuple[tuple[str, ...], ...], money_only: bool) -> tuple[Figure, Figure] | None:
    """The numerator and denominator of one measure; None when missing or ambiguous."""
    pairs = []
    for measure in _measures(ctx, inputs, money_only):
        num = _pick(ctx, inputs, num_cues, unit, measure)
        if num is None:
            return None
        if num is False:
            continue
        den: Figure | None | bool = False
        for cues in den_prefs:
            den = _pick(ctx, inputs, cues, unit, measure)
            if den is not False:
                break
        if den is None:
            return None
        if den is False:
            continue
        pairs.append((num, den))
    if len(pairs) != 1:
        return None  # none, or numerator and denominator in two measures: which one is meant, the text does not say
    num, den = pairs[0]
    if den.value <= 0 or num.index == den.index:
        return None
    return num, den


def _explained_otherwise(ctx: Context, inputs: list[_Input], stated: Figure, num: Figure, den: Figure,
                         formula: str) -> bool:
    """Another pair of the section's figures (same measure) reproduces the stated rate."""
    measure = _measure(ctx, num.index)
    figs = [x.figure for x in inputs if x.figure is not None and _measure(ctx, x.index) == measure]
    for a in figs:
        for b in figs:
            if a.index == b.index or b.value <= 0 or (a.index, b.index) == (num.index, den.index):
                continue
            if ratio_matches(stated.written, stated.decimals, _formula(formula, a.value, b.value))[0]:
                return True
    return False


def _formula(kind: str, num: Decimal, den: Decimal) -> Decimal:
    if kind == "over":
        return percent(num - den, den)
    if kind == "under":
        return percent(den - num, den)
    return percent(num, den)


def rate_checks(ctx: Context, sections: _Sections, judged: set[int]) -> list[Check]:
    """Named rates and rates against a plan, each against the figures its definition names."""
    out = []
    for s in ctx.figures:
        # the words name the relation, whatever role the record carries (`超计划15%` is often read as a change)
        if s is None or not is_rate(s) or s.index in judged:
            continue
        before = re.sub(r"\s", "", ctx.text[max(0, s.start - 30):s.start])
        m = _RATE_NAME.search(before)
        if m is not None:
            kind, formula = "rate", "ratio"
            num_cues, den_prefs = _RATE_DEFS[_RATE_NAMES[m.group("name")]]
            money_only = _RATE_NAMES[m.group("name")] != "完成率"
            label = m.group("name")
        elif _OVER.search(before) or _UNDER.search(before) or _OF_PLAN.search(before):
            kind = "over_target"
            formula = "over" if _OVER.search(before) else "under" if _UNDER.search(before) else "ratio"
            num_cues, den_prefs, money_only = ("actual", "executed", "issued"), (("plan",),), False
            label = {"over": "超计划", "under": "低于计划", "ratio": "完成计划"}[formula]
        else:
            continue
        unit = sections.unit(s.start)
        inputs = _inputs(ctx, s.index, sections)
        pair = _pair(ctx, inputs, unit, num_cues, den_prefs, money_only)
        if pair is None:
            continue
        num, den = pair
        exact = _formula(formula, num.value, den.value)
        if exact < 0:
            continue  # `超任务` where the plan was not reached: the words and the figures disagree on more than arithmetic
        ok, computed = ratio_matches(s.written, s.decimals, exact)
        if not ok and _explained_otherwise(ctx, inputs, s, num, den, formula):
            continue
        verdict = "相符" if ok else "不符"
        if formula == "over":
            how = f"（{num.text} − {den.text}）÷ {den.text}"
        elif formula == "under":
            how = f"（{den.text} − {num.text}）÷ {den.text}"
        else:
            how = f"{num.text} ÷ {den.text}"
        msg = f"{label}{verdict}：{how} = {fmt(computed)}%，文中为{s.text}。"
        out.append(Check(kind, "ok" if ok else "mismatch", (s.index, num.index, den.index),
                         s.record.quantity.value, fmt(computed), msg))
    return out


# --- products -------------------------------------------------------------------------------

_NUMBER = r"(?P<n>\d+(?:\.\d+)?)(?P<scale>万|千)?"


def _per_unit(ctx: Context, i: int) -> str | None:
    """The unit a price is per: `1200元/户` or `每户补助1200元`; None for a price per two units."""
    r = ctx.records[i]
    q = r.quantity
    if q.kind != "amount":
        return None
    if "/" in q.normalized_unit:
        units = q.normalized_unit.split("/")[1:]
        return units[0] if len(units) == 1 and re.fullmatch(_PER_UNITS, units[0]) else None
    words = clause(ctx, i)
    if _PER_MANY.search(words):
        return None
    m = _PER_BEFORE.search(words)
    return m.group("unit") if m else None


def _count_in(ctx: Context, lo: int, hi: int, per: str, price: int) -> tuple[Decimal, Decimal, str, int | None] | None:
    """The one quantity of `per` units in [lo, hi): (value, one unit of its last digit, text, record index)."""
    found: dict[Decimal, tuple[Decimal, Decimal, str, int | None]] = {}
    covered = []
    for j, r in enumerate(ctx.records):
        q = r.quantity
        if lo <= q.start < hi and j != price:
            covered.append((q.start, q.end))
            if q.kind in ("count", "measure") and q.normalized_unit == per:
                f = ctx.figures[j]
                if f is None or r.role != "value":
                    return None
                found.setdefault(f.value, (f.value, f.step, f.text, j))
    # a measure word the grammar does not know (`12500卷`): read from the text
    for m in re.finditer(_NUMBER + re.escape(per), ctx.text[lo:hi]):
        a, b = lo + m.start(), lo + m.end()
        if any(s <= a < e for s, e in covered) or (a > 0 and ctx.text[a - 1] in "每第.0123456789"):
            continue
        written = Decimal(m.group("n"))
        scale = {"万": Decimal(10000), "千": Decimal(1000)}.get(m.group("scale") or "", Decimal(1))
        exponent = written.as_tuple().exponent
        decimals = -exponent if isinstance(exponent, int) and exponent < 0 else 0
        step = Decimal(1).scaleb(-decimals) * scale if (decimals or scale != 1) else Decimal(0)
        found.setdefault(written * scale, (written * scale, step, m.group(0), None))
    if len(found) != 1:
        return None
    return next(iter(found.values()))


def product_checks(ctx: Context, sections: _Sections) -> list[Check]:
    """Unit price × quantity = amount, the three in one sentence, each the only one of its kind there."""
    out = []
    for p in ctx.figures:
        if p is None or p.role != "value":
            continue
        per = _per_unit(ctx, p.index)
        if per is None:
            continue
        lo, hi = sections.unit(p.start).sentence
        prices = [j for j, r in enumerate(ctx.records) if lo <= r.quantity.start < hi and _per_unit(ctx, j)]
        if prices != [p.index]:
            continue
        count = _count_in(ctx, lo, hi, per, p.index)
        if count is None:
            continue
        n, n_step, n_text, n_index = count
        totals = [ctx.figures[j] for j, r in enumerate(ctx.records)
                  if lo <= r.quantity.start < hi and j != p.index and r.quantity.kind == "amount"
                  and "/" not in r.quantity.normalized_unit and r.role == "value"]
        if len(totals) != 1 or totals[0] is None:
            continue
        total = totals[0]
        exact = p.value * n
        tolerance = total.step + p.value * n_step
        diff = abs(total.value - exact)
        ok = diff < tolerance if tolerance else diff == 0
        computed = format((exact / total.scale if total.scale else exact).normalize(), "f")
        verdict = "相符" if ok else "不符"
        msg = f"单价×数量{verdict}：{p.text} × {n_text} = {computed}{total.record.quantity.unit}，文中为{total.text}。"
        records = (total.index, p.index) + ((n_index,) if n_index is not None else ())
        out.append(Check("product", "ok" if ok else "mismatch", records, total.record.quantity.value,
                         computed, msg))
    return out


# --- target attainment ------------------------------------------------------------------------

def _target_value(ctx: Context, j: int) -> Decimal | None:
    """A target's value: exact or written as a floor (`≥95%`, `不低于`); None otherwise."""
    r = ctx.records[j]
    q = r.quantity
    if q.upper is not None or q.approx not in ("exact", "at_least"):
        return None
    return q.normalized_value


def target_checks(ctx: Context, sections: _Sections) -> list[Check]:
    """An achieved value and its 指标值 where the text then says the target was met."""
    out = []
    for a in ctx.figures:
        if a is None or a.role == "target":
            continue
        words = clause(ctx, a.index)
        if not _ACTUAL_CUE.search(words) or _TARGET_CUE.search(words.replace("完成值", "")):
            continue
        unit = sections.unit(a.start)
        line = ctx.text[unit.line[0]:unit.line[1]]
        if _LOWER_BETTER.search(line):
            continue
        claim = _claim_after(ctx, a, unit)
        if not claim:
            continue
        target = None
        for level, (lo, hi) in enumerate(unit.levels()):
            cue_words = _TARGET_CUE if level == 0 else _NAMED_TARGET
            cands = [j for j, r in enumerate(ctx.records) if lo <= r.quantity.start < hi and j != a.index
                     and _measure(ctx, j) == _measure(ctx, a.index) and r.quantity.start < a.start
                     and cue_words.search(clause(ctx, j)) and "实际" not in clause(ctx, j)]
            if not cands:
                continue
            values = {_target_value(ctx, j) for j in cands}
            if len(values) == 1 and None not in values:
                target = cands[-1]
            break
        if target is None:
            continue
        t_value = _target_value(ctx, target)
        assert t_value is not None
        tq = ctx.records[target].quantity
        ok = a.value >= t_value
        verdict = "相符" if ok else "不符"
        msg = (f"目标完成{verdict}：实际完成值{a.text}{'不低于' if ok else '低于'}指标值{tq.text}，"
               f"文中称{claim}。")
        out.append(Check("target", "ok" if ok else "mismatch", (a.index, target), a.record.quantity.value,
                         fmt(t_value / a.scale if a.scale else t_value), msg))
    return out


def _claim_after(ctx: Context, a: Figure, unit: _Unit) -> str:
    """`…，已完成年度目标。` after the achieved figure: the rest of its sentence, or the next one when it has no figure."""
    text = ctx.text
    end = unit.sentence[1]
    spans = [(a.end, end)]
    nxt = _search_end(text, end + 1, unit.line[1]) if end < unit.line[1] else end
    if nxt > end + 1 and not any(end < r.quantity.start < nxt for r in ctx.records):
        spans.append((end + 1, nxt))
    for lo, hi in spans:
        seg = text[lo:hi]
        if any(lo <= r.quantity.start < hi for r in ctx.records if r.quantity.start != a.start) and lo == a.end:
            # another figure follows in the sentence: the claim would be about it
            nxt_fig = min(r.quantity.start for r in ctx.records if lo <= r.quantity.start < hi)
            seg = text[lo:nxt_fig]
        for m in _CLAIM.finditer(seg):
            before = seg[max(0, m.start() - 4):m.start()]
            if _DENIAL.search(before):
                return ""
            return m.group(0)
    return ""


def section_checks(ctx: Context, judged: set[int]) -> list[Check]:
    """All relations within sections; `judged`: stated figures another check already judges."""
    sections = _Sections(ctx.text)
    return rate_checks(ctx, sections, judged) + product_checks(ctx, sections) + target_checks(ctx, sections)
