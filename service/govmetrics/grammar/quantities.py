"""QuantityGrammar: every figure RECORDS.md calls a record, parsed exactly.

The grammar works on characters, not tokens, so that a segmentation error can
never cut a number in two; offsets index the caller's text. Values are
`Decimal`, never float.

A candidate is a number (Arabic, full width, grouped, Chinese numerals,
百分之…) followed by an optional scale word, 余/多 and a unit. Candidates that
the guideline excludes (dates, ordinals, slogans, quoted titles, category
descriptors, document and phone numbers) are dropped here, with the reason
kept for debugging (`QuantityGrammar.explain`).
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from typing import Iterable

from govmetrics.grammar.vocabulary import (
    CHINESE_OK_EXTRA,
    CLASSIFIER_WORDS,
    COUNT_UNITS,
    EDITION_UNITS,
    FREQUENCY_UNITS,
    LONG_TAIL_COUNT_UNITS,
    MEASURE_UNITS,
    MONEY_UNITS,
    MULTIPLE_UNITS,
    PERCENT_UNITS,
    SCALES,
    SCORE_UNITS,
    TENTHS_UNITS,
    TIME_UNITS,
    UNIT_KIND,
    normalize_decimal,
)

_FW_DIGITS = str.maketrans("０１２３４５６７８９．，", "0123456789.,")
_CN_DIGIT = {
    "零": 0, "〇": 0, "○": 0, "一": 1, "壹": 1, "二": 2, "贰": 2, "两": 2, "三": 3, "叁": 3,
    "四": 4, "肆": 4, "五": 5, "伍": 5, "六": 6, "陆": 6, "七": 7, "柒": 7, "八": 8, "捌": 8,
    "九": 9, "玖": 9,
}
_CN_SMALL_UNIT = {"十": 10, "拾": 10, "百": 100, "佰": 100, "千": 1000, "仟": 1000}
_CN_BIG_UNIT = {"万": 10**4, "萬": 10**4, "亿": 10**8, "億": 10**8}
_CN_CHARS = "".join(_CN_DIGIT) + "".join(_CN_SMALL_UNIT) + "".join(_CN_BIG_UNIT)

_SPACE = "[ \t\u3000\u00a0]"
# A decimal point followed by a stray space is a PDF typo (`68. 6%`) when a percent sign follows.
_ARABIC = r"[0-9０-９]+(?:[,，][0-9０-９]{3})*(?:[.．](?: (?=[0-9０-９]+ ?[%％]))?[0-9０-９]+)?"
_CHINESE = rf"[{_CN_CHARS}]+(?:[点點][{''.join(_CN_DIGIT)}]+)?"
_MIXED = r"[0-9]+[亿万][0-9][千百]"
_DOUBLING = r"翻了?[一两二三四五]番"
# 三分之一, 千分之五: a fraction, read as a percentage (GUIDELINE_NOTES.md, "Fractions").
_FRACTION = rf"[{''.join(_CN_DIGIT)}十百千万]+分之{_CHINESE}"
_HALF = rf"(?<![{_CN_CHARS}另])一半"
# 数十万, 数百, 数万: `数` is "several" of the next magnitude; read as at least that magnitude.
_SEVERAL = r"数[十百千](?!分之)|数(?=[万亿])"
# 上亿人, 逾万人, 近千家, 超百万元: a scale word with no digit after a qualifier is one of that scale.
# Not after 以上/之上/千上 (成千上万)/马上/向上/线上/网上/路上 or 附近/最近/靠近, where 上/近 is no qualifier.
_SCALE_ONLY = r"(?<=[上逾近超])(?<!以上)(?<!之上)(?<!千上)(?<!马上)(?<!向上)(?<!线上)(?<!网上)(?<!路上)" \
    r"(?<!附近)(?<!最近)(?<!靠近)" \
    r"(?:[十百千]?[万亿]|[百千](?![分之]))"
_NUMBER_RE = re.compile(
    rf"{_DOUBLING}|百分之(?:{_ARABIC}|{_CHINESE})|{_FRACTION}|{_HALF}|{_SEVERAL}|(?P<scale_only>{_SCALE_ONLY})|{_MIXED}|"
    rf"{_ARABIC}|{_CHINESE}")
# A page break between a number and its unit in PDF text: newline, an optional
# page-number line (`— 7 —`, `- 15 -`, `27`), blank lines.
_PAGE_GAP = re.compile(r"[ \t\u3000]*(?:\n[ \t\u3000]*(?:[—\-─]+ ?\d{1,3} ?[—\-─]*|\d{1,3})?[ \t\u3000]*)*\n[ \t\u3000]*")

_SCALE_WORDS = tuple(w for w, _ in SCALES)
_UNITS_LONGEST = sorted(
    set(MONEY_UNITS + PERCENT_UNITS + MULTIPLE_UNITS + MEASURE_UNITS + SCORE_UNITS + COUNT_UNITS
        + LONG_TAIL_COUNT_UNITS + FREQUENCY_UNITS + EDITION_UNITS + TENTHS_UNITS),
    key=len,
    reverse=True,
)
_TIME_LONGEST = sorted(TIME_UNITS, key=len, reverse=True)
_LONG_TAIL = frozenset(LONG_TAIL_COUNT_UNITS)
_CHINESE_OK = frozenset(COUNT_UNITS + CHINESE_OK_EXTRA)
# 成 after a number that begins a word, not tenths: 3成员单位, 5成熟, 10成果.
_CHENG_WORDS = ("成员", "成熟", "成果", "成本", "成效", "成功", "成绩", "成立", "成都", "成品", "成型", "成片",
                "成为", "成交", "成长", "成就", "成人", "成年", "成色", "成分", "成套", "成规", "成像", "成材",
                "成不")
# After an Arabic number, 届 followed by these is an edition (`14届全国人大`), not a count.
_EDITION_AFTER = ("全会", "中央", "全国", "人大", "政协", "代表", "委员", "党代", "市委", "省委", "县委", "区委",
                  "中共", "一中", "二中", "三中", "四中", "五中", "六中", "七中", "八中", "九中", "毕业")
_EDITION_COUNT_BEFORE = re.compile(r"连续(?:举办|举行|召开|获得?)?了?$")
_PLENUM_AFTER = re.compile(r"[一二三四五六七八九十]+中全会|全国|全会")
# Pieces that may follow a slash in a compound unit (元/月/人, 人次/年).
_PER_PIECES = sorted(
    set(COUNT_UNITS + MEASURE_UNITS + ("月", "年", "日", "季度", "人", "户", "辆", "平方米")),
    key=len,
    reverse=True,
)

_PREFIX_APPROX = (
    ("大约", "about"), ("约合", "about"), ("约为", "about"), ("约", "about"), ("近似", "about"),
    ("不低于", "at_least"), ("不少于", "at_least"), ("略高于", "at_least"), ("不超过", "at_most"),
    ("将近", "at_most"), ("接近", "at_most"), ("不足", "at_most"), ("不到", "at_most"),
    ("最多", "at_most"), ("近", "at_most"),
    ("超过", "at_least"), ("逾", "at_least"), ("至少", "at_least"), ("突破", "at_least"),
    ("多达", "at_least"), ("高达", "at_least"), ("超", "at_least"),
    ("不小于", "at_least"), ("不大于", "at_most"), ("不高于", "at_most"),
    ("≥", "at_least"), ("≧", "at_least"), (">=", "at_least"), ("≤", "at_most"), ("≦", "at_most"),
    ("<=", "at_most"),
)
_SUFFIX_APPROX = (
    ("以上", "at_least"), ("之多", "at_least"), ("有余", "at_least"),
    ("左右", "about"), ("上下", "about"),
    ("以内", "at_most"), ("以下", "at_most"),
)
_RANGE_LINKS = ("-", "－", "—", "–", "~", "～", "至", "到")
_QUOTES = {"“": "”", "《": "》", "「": "」", '"': '"', "‘": "’", "〈": "〉"}
_SLOGANS = re.compile(
    "两个维护|两个确立|四个意识|四个自信|四个全面|三个代表|两个一百年|八项规定|两个大局|"
    "五位一体|四个铁一般|两学一做|三严三实|两不愁三保障|三大攻坚战|一岗双责|四种形态|"
    "三会一课|五个必谈|六稳|六保|两会|三公经费|“三公”|十四五|十三五|十二五|十一五|"
    "三去一降一补|双随机、一公开|一网通办|一网统管|两新|两重|"
    # idioms whose numerals meet a measure word (三番五次 -> 五次)
    "三番五次|三令五申|五湖四海|四面八方|千家万户|千辛万苦|一五一十"
)
_CHANGE_VERBS_FOR_BARE = ("增长", "下降", "提高", "降低", "上升", "减少")
_CJK = re.compile(r"[\u4e00-\u9fff]")
_LEADING_SPACE_MAX = 3


@dataclass(frozen=True)
class Quantity:
    """One figure as written and as parsed."""

    start: int
    end: int
    text: str
    kind: str
    value: str
    unit: str
    normalized_value: Decimal
    normalized_unit: str
    approx: str = "exact"
    upper: str | None = None
    normalized_upper: Decimal | None = None
    # Where a qualifier outside the span (约, 超过, …以上) sits, for the assembler.
    qualifier: str | None = None

    def normalized(self) -> dict[str, str]:
        out = {"value": normalize_decimal(self.normalized_value), "unit": self.normalized_unit}
        if self.normalized_upper is not None:
            out["upper"] = normalize_decimal(self.normalized_upper)
        return out


@dataclass
class _Candidate:
    start: int
    end: int
    number: str  # as written
    value: Decimal
    value_text: str
    is_chinese: bool
    is_percent_words: bool
    scale: str = ""
    unit: str = ""
    inner_approx: bool = False
    reason: str | None = None
    extra: dict[str, str] = field(default_factory=dict)


def parse_arabic(text: str) -> Decimal:
    """`21,955.35` / `１２．５` -> Decimal; spaces and grouping are dropped."""
    clean = text.translate(_FW_DIGITS).replace(",", "").replace(" ", "")
    return Decimal(clean)


def parse_chinese(text: str) -> Decimal:
    """Chinese numerals to Decimal: 一万二千三百, 两, 十余 (without 余), 三十六點九, 二〇二一."""
    text = text.replace("點", "点")
    if "点" in text:
        whole, frac = text.split("点", 1)
        digits = "".join(str(_CN_DIGIT[c]) for c in frac)
        return parse_chinese(whole) + Decimal("0." + digits)
    if text and all(c in _CN_DIGIT for c in text) and len(text) > 1:
        return Decimal("".join(str(_CN_DIGIT[c]) for c in text))
    total = Decimal(0)
    section = Decimal(0)
    digit: Decimal | None = None
    for c in text:
        if c in _CN_DIGIT:
            digit = Decimal(_CN_DIGIT[c])
        elif c in _CN_SMALL_UNIT:
            section += (digit if digit is not None else Decimal(1)) * _CN_SMALL_UNIT[c]
            digit = None
        elif c in _CN_BIG_UNIT:
            section += digit or 0
            big = Decimal(_CN_BIG_UNIT[c])
            if section == 0:
                section = Decimal(1)
            if big > 10**4 and total:
                total = (total + section) * big
            else:
                total += section * big
            section = Decimal(0)
            digit = None
        else:
            raise ValueError(f"not a Chinese numeral: {text!r}")
    return total + section + (digit or 0)


def _quoted_ranges(text: str) -> list[tuple[int, int]]:
    out = []
    stack: list[tuple[str, int]] = []
    for i, c in enumerate(text):
        if stack and c == _QUOTES[stack[-1][0]] and not (c == '"' and stack[-1][0] != '"'):
            opener, s = stack.pop()
            if i - s <= 60:
                out.append((s, i + 1))
        elif c in _QUOTES:
            if c == '"' and stack and stack[-1][0] == '"':
                continue
            stack.append((c, i))
            if len(stack) > 8:
                stack.pop(0)
        elif c in "\n。":
            stack.clear()
    return out


# Where the pipeline keeps the grammar's quantities: `doc.spans[SPAN_KEY]`, each with `Span._.quantity`.
SPAN_KEY = "quantities"


class QuantityGrammar:
    """Finds and parses quantities in Chinese government prose."""

    version = "quantity_grammar.v1"

    def find(self, text: str) -> list[Quantity]:
        return [q for q in self._scan(text) if isinstance(q, Quantity)]

    def explain(self, text: str) -> list[tuple[str, str, str | None]]:
        """(text, kind-or-empty, rejection reason) for every candidate, for debugging."""
        out: list[tuple[str, str, str | None]] = []
        for q in self._scan(text, keep_rejected=True):
            if isinstance(q, Quantity):
                out.append((q.text, q.kind, None))
            else:
                out.append((text[q.start:q.end], "", q.reason))
        return out

    # -- scanning -----------------------------------------------------------

    def _scan(self, text: str, keep_rejected: bool = False) -> Iterable[Quantity | _Candidate]:
        quoted = _quoted_ranges(text)
        slogans = [m.span() for m in _SLOGANS.finditer(text)]
        results: list[Quantity | _Candidate] = []
        pos = 0
        for m in _NUMBER_RE.finditer(text):
            if m.start() < pos:
                continue
            cand = self._candidate(text, m)
            if cand is None:
                continue
            self._read_unit(text, cand)
            self._reject(text, cand, quoted, slogans)
            if cand.reason is None:
                q = self._to_quantity(text, cand)
                prev = results[-1] if results else None
                if isinstance(prev, Quantity) or (isinstance(prev, _Candidate) and prev.reason == "bare"):
                    merged = self._merge_range(text, prev, cand, q)
                    if merged is not None:
                        results[-1] = merged
                        pos = merged.end
                        continue
                results.append(q)
                pos = cand.end
            else:
                if keep_rejected or cand.reason in ("bare", "scale-only-range-head"):
                    results.append(cand)
                pos = max(pos, m.end())
        return [r for r in results if keep_rejected or isinstance(r, Quantity)]

    def _candidate(self, text: str, m: re.Match[str]) -> _Candidate | None:
        raw = m.group(0)
        start, end = m.span()
        if raw.startswith("翻"):
            times = Decimal(2) ** int(parse_chinese(raw[-2]))
            return _Candidate(start=start, end=end, number=raw, value=times, value_text=normalize_decimal(times),
                              is_chinese=True, is_percent_words=False, unit="倍", extra={"fixed": "1"})
        if "分之" in raw and not raw.startswith("百分之"):
            return self._fraction(raw, start, end)
        if raw == "一半":
            return _Candidate(start=start, end=end, number=raw, value=Decimal(50), value_text="50",
                              is_chinese=True, is_percent_words=False,
                              extra={"fixed": "1", "kind": "percent"})
        if raw.startswith("数"):
            value = parse_chinese("一" + raw[1:]) if len(raw) > 1 else Decimal(1)
            return _Candidate(start=start, end=end, number=raw, value=value, value_text=normalize_decimal(value),
                              is_chinese=True, is_percent_words=False, extra={"several": "1", "needs_unit": "1"})
        if m.group("scale_only"):
            # the number is empty: the scale word is read with the unit (`逾万人` -> 1 x 万人)
            return _Candidate(start=start, end=start, number="", value=Decimal(1), value_text="1",
                              is_chinese=True, is_percent_words=False, extra={"scale_only": "1", "needs_unit": "1"})
        if re.fullmatch(_MIXED, raw):
            return self._mixed(text, raw, start, end)
        percent_words = raw.startswith("百分之")
        body = raw[3:] if percent_words else raw
        is_chinese = not re.match(r"[0-9０-９]", body)
        if is_chinese:
            if not body:
                return None
            if not any(c in _CN_DIGIT for c in body) and not (
                body.startswith("十") and text[end:end + 1] in ("余", "多", "几")
            ) and not percent_words:
                # 万家灯火, 千方百计, 十分: scale characters alone are words, not numbers.
                return None
            if not percent_words and body and body[-1] in _CN_BIG_UNIT and len(body) > 1 and not any(
                    _CN_BIG_UNIT.get(c, 0) > _CN_BIG_UNIT[body[-1]] for c in body[:-1]):
                # 三万余份: the trailing 万/亿 is a scale word kept with the unit; but in 四百二十七亿四千万
                # the 万 after a 亿 belongs to the numeral (427亿 + 4千万), not to the unit.
                scale_char = body[-1]
                body = body[:-1]
                end -= 1
                if not body or body[-1] in _CN_BIG_UNIT:
                    body += scale_char
                    end += 1
            try:
                value = parse_chinese(body)
            except (ValueError, KeyError):
                return None
        else:
            try:
                value = parse_arabic(body)
            except ArithmeticError:
                return None
        cand = _Candidate(
            start=start, end=end, number=text[start:end], value=value,
            value_text=normalize_written(body) if not is_chinese else normalize_decimal(value),
            is_chinese=is_chinese, is_percent_words=percent_words,
        )
        return cand

    @staticmethod
    def _fraction(raw: str, start: int, end: int) -> _Candidate | None:
        """`三分之二` -> 66.67 (%), rounded to hundredths as the annotated gold writes it."""
        den_text, num_text = raw.split("分之", 1)
        try:
            den, num = parse_chinese(den_text), parse_chinese(num_text)
        except (ValueError, KeyError):
            return None
        if den == 0 or num > den:
            return None
        value = (num / den * 100).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
        return _Candidate(start=start, end=end, number=raw, value=value, value_text=normalize_decimal(value),
                          is_chinese=True, is_percent_words=False, extra={"fixed": "1", "kind": "percent"})

    @staticmethod
    def _mixed(text: str, raw: str, start: int, end: int) -> _Candidate:
        """`2万5千公里` = 25000; `1亿3千多万` = 13000 (in 万): the last scale word scales the tail."""
        big = Decimal(10) ** (8 if "亿" in raw else 4)
        head, tail = re.split("[亿万]", raw)
        small = Decimal(1000 if tail[-1] == "千" else 100)
        tail_digit = Decimal(tail[:-1])
        after = text[end:end + 2]
        trailing = "万" if after[:1] == "万" or after[:2] in ("多万", "余万") else ""
        if trailing:
            value = (Decimal(head) * big + tail_digit * small * Decimal(10) ** 4) / Decimal(10) ** 4
        else:
            value = Decimal(head) * big + tail_digit * small
        return _Candidate(start=start, end=end, number=raw, value=value, value_text=normalize_decimal(value),
                          is_chinese=False, is_percent_words=False)

    def _read_unit(self, text: str, c: _Candidate) -> None:
        p = c.end
        n = len(text)
        if c.is_percent_words:
            c.unit = "%"
            return
        if c.extra.get("fixed"):
            return
        gap = _PAGE_GAP.match(text, p)
        if gap and (self._match_unit(text, gap.end()) or text.startswith(_SCALE_WORDS, gap.end())
                    or text[gap.end():gap.end() + 1] in ("余", "多")):
            p = gap.end()
        # spaces that PDF extraction puts before units
        q = p
        while q < n and q - p < _LEADING_SPACE_MAX and re.match(_SPACE, text[q]):
            q += 1
        if q < n and text[q] in "余多" and not text.startswith("多元化", q) and not _is_multi_word(text, q):
            c.inner_approx = True
            q += 1
        for word in _TIME_LONGEST:
            if text.startswith(word, q):
                if word == "年" and (text.startswith("年均", q) or "年限" in text[max(0, c.start - 10):c.start]):
                    break
                c.reason = f"time:{word}"
                c.end = q + len(word)
                return
        unit = self._match_unit(text, q)
        if unit is None:
            for word in _SCALE_WORDS:
                if text.startswith(word, q) and not (word == "千" and text[q + 1:q + 2] in "克米瓦"):
                    c.scale = word
                    q += len(word)
                    break
            if c.scale:
                if q < n and text[q] in "余多" and not text.startswith("多元化", q):
                    c.inner_approx = True
                    q += 1
                    if text.startswith("亿", q) and c.scale == "万":  # 4万多亿元
                        c.scale = "万亿"
                        q += 1
                r = q
                while r < n and r - q < _LEADING_SPACE_MAX and re.match(_SPACE, text[r]):
                    r += 1
                if r < n and text[r] == "\n" and text.startswith("元", r + 1) \
                        and not text.startswith(("元旦", "元宵", "元月", "元素"), r + 1):
                    r += 1  # `30.40万⏎元`: a PDF line break inside 万元
                unit = self._match_unit(text, r)
                if unit is not None:
                    q = r
        if unit is not None:
            q += len(unit)
            # compound units: 元/月/人, 人次/年
            while q < n and text[q] in "/／":
                piece = next((u for u in _PER_PIECES if text.startswith(u, q + 1)), None)
                if piece is None:
                    break
                unit += "/" + piece
                q += 1 + len(piece)
            c.unit = unit
            c.end = q
        elif c.scale and (not c.extra.get("needs_unit") or self._scale_before_noun(text, c, q)):
            c.end = q
        elif c.extra.get("needs_unit"):
            c.reason = "scale-word-without-unit"  # 成千上万, 数十 alone: no figure to report
        else:
            if c.inner_approx:
                c.end = q
            c.reason = "bare"

    @staticmethod
    def _scale_before_noun(text: str, c: _Candidate, q: int) -> bool:
        """上亿市场主体, 近千万家庭: a scale of 万 or more after a qualifier counts the noun after it (unit "")."""
        return bool(c.extra.get("scale_only")) and ("万" in c.scale or "亿" in c.scale) \
            and bool(_CJK.match(text[q:q + 1])) and text[q:q + 1] not in "的年月日多余" + _CN_CHARS

    @staticmethod
    def _match_unit(text: str, q: int) -> str | None:
        for u in _UNITS_LONGEST:
            if text.startswith(u, q):
                if u in ("元",) and text.startswith("元素", q):
                    return None
                if u == "人" and text.startswith(("人民", "人员", "人大", "人社", "人口", "人工"), q):
                    return "人" if text.startswith("人员", q) else None
                if u == "度" and text.startswith(("度过", "度假"), q):
                    return None
                if u == "分" and text.startswith(("分之", "分别", "分类", "分局", "分钟"), q):
                    return None
                if u == "天" and text.startswith(("天然", "天气"), q):
                    return None
                if u == "周" and text.startswith(("周边", "周期"), q):
                    return None
                if u == "成" and text.startswith(_CHENG_WORDS, q):
                    return None
                if text.startswith(("名次", "位次", "首次", "座次", "席次"), q):
                    return None  # ranks and 首次 (first time), not counts
                if u == "家" and text.startswith(("家庭", "家属", "家长"), q):
                    return None
                if u in _LONG_TAIL and text.startswith(CLASSIFIER_WORDS, q):
                    return None
                return u
        return None

    def _reject(self, text: str, c: _Candidate, quoted: list[tuple[int, int]],
                slogans: list[tuple[int, int]]) -> None:
        if c.reason and c.reason != "bare":
            return
        before = text[max(0, c.start - 1):c.start]
        if before == "第" or text[max(0, c.start - 2):c.start] in ("第 ", "No", "NO"):
            c.reason = "ordinal"
            return
        if re.match(r"[A-Za-z]", before):
            c.reason = "code"
            return
        after2 = text[c.end:c.end + 2]
        if c.unit == "次" and after2 in ("会议", "全会", "产业", "党代", "人代"):
            c.reason = "ordinal"
            return
        if after2 in ("不漏", "不落", "不缺", "不少"):
            c.reason = "idiom"
            return
        if c.extra.get("needs_unit") and c.unit in ("年", "天", "周", "小时", "分钟", "秒", "岁"):
            c.reason = "time-span"  # 近百年来, 数千年: spans used as time
            return
        if c.unit == "届" and self._is_edition(text, c):
            c.reason = "edition"
            return
        if c.unit in ("款", "类", "项") and (
                (text[c.start - 1:c.start] in ("（", "(") and text[c.end:c.end + 1] in ("）", ")"))
                or (c.number[:1] in ("0", "０") and len(c.number) > 1 and c.number[1:2] not in (".", "．"))):
            c.reason = "budget-code"  # 支出功能分类 `（204类）司法（06款）`: a code, not a count
            return
        if (c.extra.get("fixed") and c.unit != "倍") and text.startswith(("世纪", "个世纪"), c.end):
            c.reason = "time-span"  # 不到四分之一世纪
            return
        if c.unit in TENTHS_UNITS and (c.value > 10 or c.scale):
            c.reason = "not-tenths"  # 20成: not a share in tenths
            return
        if c.is_chinese and c.unit.split("/", 1)[0] in _LONG_TAIL and c.unit not in _CHINESE_OK \
                and c.value <= 10 and not c.scale and not c.inner_approx:
            # 一把手, 两袋, 三堂会审: after Chinese numerals the long tail is mostly idiom
            c.reason = "chinese-long-tail-classifier"
            return
        if text[max(0, c.start - 2):c.start] == "单价":
            c.reason = "threshold"
            return
        if c.is_chinese and c.value <= 10 and not c.inner_approx and not c.scale \
                and c.unit in ("个", "项", "大", "类", "条", "种") and (_CJK.match(text[c.end:c.end + 1] or " ")
                                                                  or text[c.end:c.end + 1] in "“\"《"):
            c.reason = "descriptor"
            return
        if any(s <= c.start < e for s, e in quoted):
            c.reason = "quoted"
            return
        if any(s <= c.start < e or s < c.end <= e for s, e in slogans):
            c.reason = "slogan"
            return
        after = text[c.end:c.end + 1]
        if (before and before in "+＋") or after in ("+", "＋") or (
                before and before in "-－" and re.match(r"[0-9]", text[c.start - 2:c.start - 1] or "x")):
            c.reason = "formula-or-phone"
            return
        digits = re.sub(r"\D", "", c.number.translate(_FW_DIGITS))
        if not c.is_chinese and len(digits) >= 7 and not c.unit and not c.scale and "." not in c.number:
            c.reason = "phone-or-id"
            return
        if c.unit in ("类", "个") and _CJK.match(after or " ") and c.unit == "类":
            c.reason = "category"
            return
        if c.is_chinese and not c.unit and not c.scale and not c.is_percent_words and not c.extra.get("fixed"):
            c.reason = "bare-chinese"
            return
        if c.is_chinese and c.value == 1 and c.unit in COUNT_UNITS and not c.inner_approx and not c.scale:
            # 一个, 一次, 一起: almost always an article or adverb, not a count.
            c.reason = "one"
            return
        if c.is_chinese and c.unit == "分":
            c.reason = "chinese-score"
            return
        if c.is_chinese and c.unit in ("度", "周", "天", "米", "节", "门", "口", "科", "层", "集", "首", "班"):
            c.reason = "chinese-ambiguous-unit"
            return
        if c.reason == "bare":
            prev = text[max(0, c.start - 1):c.start]
            nxt = text[c.end:c.end + 1]
            if c.is_chinese or not _CJK.match(prev or " ") or nxt not in "，。；;,、":
                return
            if re.fullmatch(r"(19|20)\d\d", digits) and "." not in c.number:
                return
            if text[max(0, c.start - 2):c.start] in _CHANGE_VERBS_FOR_BARE and "." in c.number:
                c.unit = ""
                c.extra["kind"] = "percent"
            elif _money_context(text, c.start, c.end):
                c.extra["kind"] = "amount"
            else:
                c.extra["kind"] = "count"
            c.reason = None

    @staticmethod
    def _is_edition(text: str, c: _Candidate) -> bool:
        """十九届, 14届全国人大, 2021届: an edition or cohort; 连续举办三届, 举办5届: a count."""
        if _PLENUM_AFTER.match(text, c.end):
            return True
        if c.is_chinese:
            # 十一届, 举办一届有特色的…: Chinese numerals before 届 are editions or an article
            return not _EDITION_COUNT_BEFORE.search(text[max(0, c.start - 6):c.start])
        digits = re.sub(r"\D", "", c.number)
        if re.fullmatch(r"(19|20)\d\d", digits):
            return True
        return text.startswith(_EDITION_AFTER, c.end)

    def _to_quantity(self, text: str, c: _Candidate) -> Quantity:
        unit = c.scale + c.unit
        kind = c.extra.get("kind") or self._kind(text, c)
        factor = Decimal(1)
        for word, f in SCALES:
            if c.scale == word:
                factor = f
                break
        nunit = c.unit
        nvalue = c.value * factor
        if c.is_percent_words:
            kind, nunit = "percent", "%"
        elif c.unit in ("个百分点", "百分点"):
            nunit = "pp"
        elif c.unit in ("%", "％"):
            nunit = "%"
        elif kind == "percent" and c.unit == "":
            nunit = "%"
        elif c.unit in TENTHS_UNITS:
            nvalue, nunit = nvalue * 10, "%"
        elif kind == "amount" and c.unit == "" and c.scale:
            nunit = "元"  # `0.39 万` in a money sentence is 3900 元 (RECORDS.md section 4)
        approx = "at_least" if c.inner_approx or c.extra.get("several") else "exact"
        qualifier = None
        if c.extra.get("scale_only") and text[c.start - 1:c.start] == "上":
            approx, qualifier = "at_least", "上"  # 上亿人: reaching a hundred million
        pre = text[max(0, c.start - 4):c.start].rstrip(" \t\u3000")
        for word, a in _PREFIX_APPROX:
            if pre.endswith(word):
                if word == "近" and re.search(r"近[年期日来]", text[c.start - 1:c.end + 2]):
                    continue
                approx, qualifier = a, word
                break
        if approx == "exact" and re.search(r"(至少|不少于|不低于)[\u4e00-\u9fff]{1,3}$", text[max(0, c.start - 7):c.start]):
            approx, qualifier = "at_least", "至少"
        post = text[c.end:c.end + 3].lstrip(" \t\u3000")
        for word, a in _SUFFIX_APPROX:
            if post.startswith(word):
                approx, qualifier = a, word
                break
        return Quantity(
            start=c.start, end=c.end, text=text[c.start:c.end], kind=kind, value=c.value_text,
            unit=unit, normalized_value=nvalue, normalized_unit=nunit, approx=approx,
            qualifier=qualifier,
        )

    @staticmethod
    def _kind(text: str, c: _Candidate) -> str:
        if c.is_percent_words:
            return "percent"
        if c.unit:
            head = c.unit.split("/", 1)[0]
            return UNIT_KIND.get(head, "count")
        return "amount" if _money_context(text, c.start, c.end) else "count"

    def _merge_range(self, text: str, prev: Quantity | _Candidate, cand: _Candidate,
                     q: Quantity) -> Quantity | None:
        gap = text[prev.end:cand.start].strip(" \t\u3000")
        if gap not in _RANGE_LINKS:
            return None
        if isinstance(prev, _Candidate):
            low_value, low_text, low_scale, low_unit = prev.value, prev.value_text, "", ""
        else:
            low_value = Decimal(prev.value)
            low_text = prev.value
            low_scale = prev.unit[: len(prev.unit) - len(_strip_scale(prev.unit))]
            low_unit = _strip_scale(prev.unit)
        if low_unit and low_unit != cand.unit:
            return None
        if low_scale and low_scale != cand.scale:
            return None
        if low_value > cand.value:
            return None
        factor = q.normalized_value / cand.value if cand.value else Decimal(1)
        return Quantity(
            start=prev.start, end=q.end, text=text[prev.start:q.end], kind=q.kind,
            value=low_text, unit=q.unit, normalized_value=low_value * factor,
            normalized_unit=q.normalized_unit, approx=q.approx, upper=q.value,
            normalized_upper=q.normalized_value, qualifier=q.qualifier,
        )


_MONEY_WORDS = re.compile(r"资金|经费|收入|支出|预算|决算|金额|投资|拨付|补助|财政|费用|资产|债|拨款|合计|专项|购置|采购|元")
_PEOPLE_AFTER = re.compile(r"[\u4e00-\u9fff]")


def _money_context(text: str, start: int, end: int) -> bool:
    """A figure without a money unit (`1720.00万`, `为0`) is money when its clause talks money."""
    if _PEOPLE_AFTER.match(text[end:end + 1] or " ") and not text.startswith(("元", "以上", "左右", "以下", "以内"), end):
        return False  # 6600多万农村人口: the noun after it is what is counted
    i = start - 1
    while i >= 0 and text[i] not in "，,。；;\n":
        i -= 1
    clause = text[i + 1:start]
    if re.search(r"人口|人次|群众|学生|家庭|户|人$", clause):
        return False
    return bool(_MONEY_WORDS.search(clause)) or bool(re.search(r"[万亿]元", text[max(0, start - 40):start]))


def _strip_scale(unit: str) -> str:
    for word in _SCALE_WORDS:
        if unit.startswith(word) and not (word == "千" and unit[1:2] in ("克", "米", "瓦")):
            return unit[len(word):]
    return unit


def _is_multi_word(text: str, q: int) -> bool:
    # 多 starting a word (多种, 多措并举, 多部门) is not the approximation 多.
    return text[q] == "多" and text[q + 1:q + 2] in ("种", "措", "部", "方", "项", "渠", "样", "重", "维")


def normalize_written(number: str) -> str:
    """The number as written with Arabic digits and no grouping: `21,955.35` -> `21955.35`."""
    return number.translate(_FW_DIGITS).replace(",", "").replace(" ", "")
