"""RecordAssembler: the rule baseline that turns quantities into records.

It fills role, direction, metric, action, period and baseline from the
segmented sentence: comparison words (与…相比, 同比, 较上年), change verbs
(增加/减少/增长/下降), 占 for shares, 完成…的 for completion, target cues, the
nearest action verb and the nearest noun phrase. It is the baseline the
learned model must beat, so it sets no confidence: `confidence` stays null.
"""
from __future__ import annotations

import re
from bisect import bisect_left, bisect_right
from dataclasses import dataclass

from govmetrics.grammar.quantities import Quantity
from govmetrics.records import Record, TextSpan

# Verbs whose result a count or amount is. Longest first for matching.
ACTION_VERBS: tuple[str, ...] = tuple(sorted({
    "侦破", "破获", "抓获", "发放", "检查", "刑事拘留", "刑拘", "逮捕", "移送起诉", "查处", "处罚",
    "行政拘留", "行政处罚", "办理", "办结", "开展", "召开", "组织", "培训", "走访", "排查", "整治",
    "整改", "收缴", "缴获", "核查", "采集", "下发", "下达", "发布", "拦截", "劝返", "获取", "解决",
    "提供", "录入", "慰问", "受理", "审结", "执结", "立案", "查获", "查纠", "救助", "接种", "签约",
    "新增", "建成", "新建", "改造", "印发", "举办", "出动", "接待", "调解", "化解", "督办", "约谈",
    "问责", "处置", "核减", "强制隔离戒毒", "提起公诉", "取保候审", "刑事措施", "审查", "审核", "审批",
    "发现", "清理", "拆除", "查办", "办理户籍业务", "购买", "购置", "资助", "补贴", "培育", "引进",
    "招聘", "录用", "安置", "帮扶", "投入", "拨付", "下拨", "完成", "实施", "推广", "种植", "植树",
    "造林", "治理", "修复", "修建", "建设", "新开工", "开工", "竣工", "上报", "报送", "推送", "通报",
    "宣传", "讲授", "上党课", "谈心谈话", "评选", "表彰", "处分", "查询", "管控", "列管", "送治",
    "侦办", "打掉", "摧毁", "抓捕", "破案", "起诉", "判处", "执行", "结案", "审理", "受教育",
    "处理", "巡查", "抽检", "抽查", "检测", "监测", "执法检查", "现场检查", "自查", "核发", "颁发",
    "登记", "注册", "认定", "评审", "验收", "回访", "征收", "征缴", "减免", "退税", "追回", "挽回",
    "追缴", "罚没", "罚款", "收治", "救治", "诊疗", "筛查", "体检", "签订", "举报", "投诉",
}, key=len, reverse=True))

_VERB_SUFFIX = re.compile("(?:" + "|".join(re.escape(v) for v in ACTION_VERBS if len(v) >= 2) + ")$")
_DIRECTION_VERBS = (
    ("增加", "increase"), ("增长", "increase"), ("提高", "increase"), ("上升", "increase"),
    ("扩大", "increase"), ("上涨", "increase"), ("提升", "increase"), ("增", "increase"),
    ("减少", "decrease"), ("下降", "decrease"), ("降低", "decrease"), ("下滑", "decrease"),
    ("回落", "decrease"), ("缩小", "decrease"), ("压减", "decrease"), ("节约", "decrease"),
    ("节省", "decrease"), ("减", "decrease"), ("降", "decrease"), ("持平", "flat"),
)
_SKIP_BEFORE = ("分别为", "分别", "共计", "总计为", "累计", "合计为", "达到", "高达", "多达", "约为",
                "大约", "超过", "至少", "不足", "不到", "将近", "接近", "为", "是", "达", "共", "计",
                "约", "近", "逾", "有", "了", "均", "仅", "只", "已", "各", "总", "再")
_CLAUSE_BREAK = re.compile(r"[，,。；;：:！!？?\n、（）()]")
_SENT_BREAK = re.compile(r"[。！!？?；;\n]")
_SHARE_CUE = re.compile(r"(占|占比|比重|所占比例|占比为)[^，,。；;]*$")
_COMPLETION_CUE = re.compile(r"((完成|执行)[^，,。；;]{0,12}的|执行率(为|达|达到)?|完成率(为|达|达到)?|执行进度(为)?)\s*$")
_TARGET_CUE = re.compile(r"力争|预期目标|目标(是|为|：|:|任务)|争取|力求|确保.{0,6}(达到|控制在)|计划(于|在|到|用|新增|完成)|预计(全年|今年|明年|到)")
_BASELINE = re.compile(
    r"与(?P<a>[^，,。；;]{1,16}?)相比|较(?P<b>上年|去年|上年度|同期|\d{4}年度?|年初)|"
    r"比(?P<c>上年|去年|上年度|同期|上一年|\d{4}年度?[^，,。；;增减下上提降多少]{0,10})|(?P<d>同比|环比)"
)
_PERIOD = re.compile(
    r"\d{4}\s*年度|\d{4}\s*年(?:[上下]半年|[一二三四]季度|\d{1,2}月)?|今年以来|今年来|全年|本年度|"
    r"上半年|下半年|[一二三四]季度|过去五年|五年来|近五年|十年来"
)
_NOUN_STOP = re.compile(r"^(的|和|与|及|或|对|向|从|在|将|把|被|由|以|于|并|等|其中|其|我局|我们|全年|今年来|今年以来|目前|现|共有|设|有|相比|比|较|同比|环比|通过)$")
_PERIOD_TOKEN = re.compile(r"^(\d{4}年度?|年度|年|今年来|今年以来|全年|本年度?|目前|当年|年内)$")


@dataclass
class _Token:
    text: str
    start: int
    end: int


class RecordAssembler:
    """Rule-based roles and links for the quantities of one document."""

    version = "rule_assembler.v1"

    def assemble(self, text: str, quantities: list[Quantity], tokens: list[_Token] | list[tuple[str, int, int]],
                 sentences: list[tuple[int, int]]) -> list[Record]:
        toks = [t if isinstance(t, _Token) else _Token(*t) for t in tokens]
        self._starts = [t.start for t in toks]
        records: list[Record] = []
        prev: Record | None = None
        prev_sent = -1
        for q in quantities:
            sent = next(((s, e) for s, e in sentences if s <= q.start < e), (0, len(text)))
            if sent[0] != prev_sent and _paragraph_break(text, prev, q):
                prev = None
            prev_sent = sent[0]
            rec = self._one(text, q, toks, sent, prev)
            records.append(rec)
            prev = rec
        return records

    def _one(self, text: str, q: Quantity, toks: list[_Token], sent: tuple[int, int],
             prev: Record | None) -> Record:
        clause_start = _clause_start(text, q.start, sent[0])
        prefix = text[clause_start:q.start]
        core = _strip_qualifiers(prefix)
        role, direction, verb_at = self._role(text, q, core, clause_start, sent)
        rec = Record(quantity=q, role=role, direction=direction)
        limit = verb_at if verb_at is not None else q.start
        lo = bisect_left(self._starts, clause_start)
        hi = bisect_right(self._starts, limit)
        before = [t for t in toks[lo:hi] if t.end <= limit]
        metric, action = _noun_and_verb(before)
        if q.kind == "count" and role in ("value", "target"):
            metric = _noun_after(text, q, toks) or metric
        if role in ("share", "completion") and prev is not None and prev.metric is not None:
            metric = prev.metric
            action = None
        elided = role in ("change", "change_rate") or prefix.lstrip().startswith("其中") or action is None
        if metric is None and elided and prev is not None and prev.metric is not None and _continues(text, prev, q):
            metric = prev.metric
        if action is None and prev is not None and prev.action is not None and q.kind == "count" \
                and role == "value" and _continues(text, prev, q) and not _has_verb(prefix):
            action = prev.action
        if role in ("change", "change_rate", "share", "completion"):
            action = None
        rec.metric = metric
        rec.action = action
        rec.period = _search_back(_PERIOD, text, sent[0], q.start)
        if role in ("change", "change_rate"):
            rec.baseline = _baseline(text, sent[0], q.start)
        return rec

    def _role(self, text: str, q: Quantity, core: str, clause_start: int,
              sent: tuple[int, int]) -> tuple[str, str | None, int | None]:
        if q.kind == "percent" and _SHARE_CUE.search(core):
            return "share", None, None
        if q.kind == "percent" and _COMPLETION_CUE.search(core):
            return "completion", None, None
        for verb, direction in _DIRECTION_VERBS:
            if core.endswith(verb) or core.endswith(verb + "了"):
                if len(verb) == 1 and not re.search(r"(比|较|同比|环比|相比)[^，,。；;]*$", core):
                    continue
                verb_at = clause_start + text[clause_start:q.start].rfind(verb)
                if q.unit.endswith("倍") or (q.kind == "percent" and q.normalized_unit != "pp"):
                    return "change_rate", direction, verb_at
                return "change", direction, verb_at
        if _TARGET_CUE.search(text[sent[0]:q.start]):
            return "target", None, None
        return "value", None, None


def _paragraph_break(text: str, prev: Record | None, q: Quantity) -> bool:
    return prev is None or "\n" in text[prev.quantity.end:q.start]


def _clause_start(text: str, pos: int, floor: int) -> int:
    i = pos - 1
    while i >= floor:
        if _CLAUSE_BREAK.match(text[i]):
            return i + 1
        i -= 1
    return floor


def _strip_qualifiers(prefix: str) -> str:
    core = prefix.rstrip(" \t\u3000")
    changed = True
    while changed:
        changed = False
        for w in _SKIP_BEFORE:
            if core.endswith(w) and len(core) > len(w):
                core = core[: -len(w)].rstrip(" \t\u3000")
                changed = True
    return core


def _is_action(tok: str) -> bool:
    return tok in ACTION_VERBS


def _noun_and_verb(before: list[_Token]) -> tuple[TextSpan | None, TextSpan | None]:
    """Walk back from the figure: the noun phrase, then the verb that governs it."""
    i = len(before) - 1
    while i >= 0 and (before[i].text.strip() == "" or before[i].text in _SKIP_BEFORE):
        i -= 1
    end_i = i
    action = None
    # the verb may stand right before the figure (刑事拘留63人)
    if i >= 0:
        joined = _verb_ending_at(before, i)
        if joined is not None:
            action, i = joined
            return None, action
    while i >= 0:
        t = before[i].text
        if not t.strip() or _NOUN_STOP.match(t) or _PERIOD_TOKEN.match(t) or re.search(r"[\d０-９%％]", t):
            break
        joined = _verb_ending_at(before, i)
        if joined is not None:
            action = joined[0]
            break
        i -= 1
    metric: TextSpan | None = None
    if i < end_i:
        # whitespace tokens between the noun's tokens stay inside the span
        parts = before[i + 1:end_i + 1]
        metric = TextSpan(parts[0].start, parts[-1].end, "".join(t.text for t in parts))
    if action is None and i >= 0:
        # a verb further back in the clause (开展…行动，检查…): nearest one
        for j in range(i, -1, -1):
            joined = _verb_ending_at(before, j)
            if joined is not None:
                action = joined[0]
                break
    return metric, action


def _verb_ending_at(before: list[_Token], i: int) -> tuple[TextSpan, int] | None:
    """A lexicon verb made of one to three tokens ending at token i."""
    for n in (3, 2, 1):
        if i - n + 1 < 0:
            continue
        parts = before[i - n + 1:i + 1]
        word = "".join(p.text for p in parts)
        if word in ACTION_VERBS:
            return TextSpan(parts[0].start, parts[-1].end, word), i - n
    # a token that ends with a verb (我局侦破): accept the verb suffix
    t = before[i]
    m = _VERB_SUFFIX.search(t.text)
    if m and m.start() > 0:
        v = m.group(0)
        return TextSpan(t.end - len(v), t.end, v), i - 1
    return None


def _noun_after(text: str, q: Quantity, toks: list[_Token]) -> TextSpan | None:
    """`5起现行命案`, `19个职能股室`: the counted noun follows the figure."""
    after = [t for t in toks if t.start >= q.end][:6]
    span_toks = []
    for t in after:
        if not t.text.strip() or _CLAUSE_BREAK.match(t.text[0]) or _NOUN_STOP.match(t.text) or _is_action(t.text) \
                or re.search(r"[\d０-９]", t.text) or t.text in ("全部", "均", "已", "都", "进行", "得到", "受到"):
            break
        span_toks.append(t)
    if not span_toks or span_toks[0].start != q.end:
        return None
    s, e = span_toks[0].start, span_toks[-1].end
    return TextSpan(s, e, text[s:e])


def _continues(text: str, prev: Record, q: Quantity) -> bool:
    gap = text[prev.quantity.end:q.start]
    return "\n\n" not in gap and len(gap) < 120


def _has_verb(prefix: str) -> bool:
    return any(v in prefix for v in ACTION_VERBS)


def _search_back(pattern: re.Pattern[str], text: str, start: int, end: int) -> TextSpan | None:
    found = None
    for m in pattern.finditer(text, start, end):
        found = m
    if found is None:
        return None
    return TextSpan(found.start(), found.end(), found.group(0))


def _baseline(text: str, start: int, end: int) -> TextSpan | None:
    found = None
    for m in _BASELINE.finditer(text, start, end):
        found = m
    if found is None:
        return None
    for g in ("a", "b", "c", "d"):
        if found.group(g):
            s, e = found.span(g)
            return TextSpan(s, e, text[s:e])
    return None
