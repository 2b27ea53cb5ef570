"""The closed vocabularies of ../shared/spec/RECORDS.md and the unit tables.

Every stage (grammar, assembler, annotation checks, evaluation) reads these
tables, so a unit added here is known everywhere at once.
"""
from __future__ import annotations

from decimal import Decimal
from typing import Final

KINDS: Final = ("amount", "count", "percent", "measure", "score")
APPROX: Final = ("exact", "at_least", "about", "at_most")
ROLES: Final = ("value", "change", "change_rate", "share", "completion", "target")
DIRECTIONS: Final = ("increase", "decrease", "flat")
SPAN_FIELDS: Final = ("metric", "action", "period", "baseline")

# Scale words, longest first so that 万亿 wins over 万 and 亿.
SCALES: Final[tuple[tuple[str, Decimal], ...]] = (
    ("万亿", Decimal(10) ** 12),
    ("千亿", Decimal(10) ** 11),
    ("百亿", Decimal(10) ** 10),
    ("千万", Decimal(10) ** 7),
    ("百万", Decimal(10) ** 6),
    ("十万", Decimal(10) ** 5),
    ("亿", Decimal(10) ** 8),
    ("万", Decimal(10) ** 4),
    ("千", Decimal(10) ** 3),
    ("百", Decimal(10) ** 2),
)

MONEY_UNITS: Final = ("美元", "欧元", "港元", "港币", "日元", "英镑", "元")
PERCENT_UNITS: Final = ("个百分点", "百分点", "%", "％")
MULTIPLE_UNITS: Final = ("倍",)
MEASURE_UNITS: Final = (
    "平方公里", "平方千米", "平方米", "立方米", "万千瓦时", "千瓦时", "千瓦", "公里", "千米",
    "千克", "公斤", "公顷", "个工作日", "工作日", "小时", "分钟", "毫升", "厘米", "毫米",
    "标箱", "吨", "克", "米", "亩", "天", "升", "秒", "周", "斤", "岁", "年",
)
SCORE_UNITS: Final = ("分",)
COUNT_UNITS: Final = (
    "台（套）", "台(套)", "台/套", "人次", "家次", "户次", "批次", "场次", "车次", "架次", "件次", "册次", "期次",
    "张次", "项次", "剂次", "篇次", "课时", "学时", "人日",
    "起", "人", "名", "份", "次", "家", "辆", "台", "条", "处", "期", "张", "件", "个",
    "所", "支", "场", "批", "项", "户", "轮", "类", "篇", "本", "套", "部", "间", "座",
    "只", "头", "株", "棵", "册", "位", "宗", "笔", "例", "组", "队", "趟", "架", "艘",
    "栋", "幢", "层", "块", "片", "种", "单", "首", "集", "根", "盏", "枚", "节", "班",
    "眼", "孔", "段", "剂", "床", "门", "科", "吨次", "口",
)
# Units that make a number a time expression, never a record.
TIME_UNITS: Final = (
    "年度", "周年", "周岁", "年代", "世纪", "个月", "年", "月", "日", "号", "时", "届",
)

UNIT_KIND: Final[dict[str, str]] = {
    **{u: "amount" for u in MONEY_UNITS},
    **{u: "percent" for u in PERCENT_UNITS},
    **{u: "count" for u in MULTIPLE_UNITS},
    **{u: "measure" for u in MEASURE_UNITS},
    **{u: "score" for u in SCORE_UNITS},
    **{u: "count" for u in COUNT_UNITS},
}


def split_scale(unit: str) -> tuple[Decimal, str]:
    """Split a leading scale word off a unit: `万元` -> (10000, `元`)."""
    for word, factor in SCALES:
        if unit.startswith(word) and not _is_metric_prefix(unit, word):
            return factor, unit[len(word):]
    return Decimal(1), unit


def _is_metric_prefix(unit: str, word: str) -> bool:
    # 千克, 千米, 千瓦 are units of their own, not 千 x 克.
    return word == "千" and unit[1:2] in ("克", "米", "瓦")


def normalize_decimal(value: Decimal) -> str:
    """Decimal string without exponent or trailing zeros (`100.00` -> `100`)."""
    text = format(value.normalize(), "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text or "0"
