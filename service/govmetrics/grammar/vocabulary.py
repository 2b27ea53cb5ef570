"""The closed vocabularies of ../shared/spec/RECORDS.md and the unit tables.

Every stage (grammar, assembler, annotation checks, evaluation) reads these
tables, so a unit added here is known everywhere at once.
"""
from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Final

DATA_DIR: Final = Path(__file__).resolve().parents[1] / "data"
CLASSIFIER_FILE: Final = DATA_DIR / "classifiers_cc_cedict.txt"

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
# Tenths: 五成 = 50 %, 超两成 = at least 20 % (RECORDS.md section 4).
TENTHS_UNITS: Final = ("成",)
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
    "眼", "孔", "段", "剂", "床", "门", "科", "吨次", "口", "人份", "台件",
)
# Units that make a number a time expression, never a record. (届 is a count, `举办5届`;
# its edition use, `十九届六中全会`, is rejected by the grammar's edition rule.)
TIME_UNITS: Final = (
    "年度", "周年", "周岁", "年代", "世纪", "个月", "年", "月", "日", "号", "时",
)
EDITION_UNITS: Final = ("届",)


def load_classifiers(path: Path = CLASSIFIER_FILE) -> tuple[tuple[str, int, bool], ...]:
    """(classifier, nouns naming it in CC-CEDICT `CL:` notes, has a "classifier for" entry), file order."""
    rows: list[tuple[str, int, bool]] = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line or line.startswith("#") or line.startswith("classifier\t"):
            continue
        word, nouns, entry = line.split("\t")
        rows.append((word, int(nouns), entry == "1"))
    return tuple(rows)


# The complete classifier inventory (CC-CEDICT, see the data file's header for source and licence).
CLASSIFIER_INVENTORY: Final = load_classifiers()
# A classifier of the inventory is a count unit when nouns use it (named in at least this many
# `CL:` notes): the entries known only as "classifier for" are mostly literary (阕, 泓, 嘟噜).
MIN_CLASSIFIER_NOUNS: Final = 2
# Entry-only classifiers that government prose does use for counts (`推出金融产品8款`).
EXTRA_CLASSIFIERS: Final = ("款", "樘", "榀")
# Classifiers of the inventory that after a number in this register are mostly not a count;
# the reason says which non-record use wins.
NOT_COUNT_CLASSIFIERS: Final[dict[str, str]] = {
    "点": "clock time and list points (3点半, 三点意见)",
    "面": "方面, 面积, 面向 after a number",
    "方": "方面, 方案; colloquial cubic metres",
    "出": "出台, 出动, 出口 after a number",
    "通": "通过, 通知 after a number",
    "管": "管理, 管控 after a number",
    "身": "身份 after a number",
    "声": "声明 after a number",
    "服": "服务 after a number",
    "打": "打击, 打造; a dozen",
    "番": "翻一番 is read as a multiple; 三番五次 is an idiom",
    "阵": "阵地 after a number",
    "盘": "盘活 after a number",
    "列": "列入, 列为 after a number",
    "包": "包括, 包保 after a number",
    "对": "对接, 对象, 1对1 after a number",
    "股": "shares of stock (股份, 股权) rather than things counted",
    "则": "conditional conjunction (超过60则…)",
    "丝": "a tiny amount, not a count",
    "月": "time, never a count",
    "度": "degrees and 年度: time or a measure",
    "季": "time (quarters)",
    "岁": "age (a measure)",
}
# After a long-tail classifier these two-character words mean it begins a word, not a count (`3万群众`).
CLASSIFIER_WORDS: Final = (
    "道路", "道德", "道口", "双方", "双向", "双创", "双百", "双拥", "双随", "双减", "双碳", "双重",
    "顶层", "具体", "具有", "具备", "群众", "群体", "堆放", "堵点", "堵塞", "封闭", "封控", "席位",
    "餐饮", "餐厨", "把握", "把关", "杯赛", "尊重", "幅度", "款项", "副主", "副局", "副县", "副市",
    "副区", "副科", "副处", "副书", "副院", "副部", "副总", "副校", "副镇", "副乡", "副省", "副厅",
    "副所", "副会", "副队", "幕墙",
)

_COUNT_SET = frozenset(COUNT_UNITS)
# The inventory's classifiers that are not yet in the hand-vetted COUNT_UNITS: count units too,
# but only after Arabic digits (after Chinese numerals they are mostly idioms: 一把手, 三番五次).
LONG_TAIL_COUNT_UNITS: Final = tuple(
    word for word, nouns, _ in CLASSIFIER_INVENTORY
    if (nouns >= MIN_CLASSIFIER_NOUNS or word in EXTRA_CLASSIFIERS)
    and word not in _COUNT_SET and word not in NOT_COUNT_CLASSIFIERS
    and word not in MEASURE_UNITS and word not in TIME_UNITS and word not in SCORE_UNITS
    and word not in EDITION_UNITS
)
# Frequency compounds: a vetted classifier + 次 counts occurrences (检查车辆426台次, 1.2万辆次).
# Not where classifier + 次 is a word of its own: 名次/位次/座次 (ranks), 层次, 首次/本次/单次, 类次.
_NOT_FREQUENCY: Final = frozenset("名位层次个首本单座类种门科眼孔集节段口")
FREQUENCY_UNITS: Final = tuple(
    word + "次" for word in COUNT_UNITS
    if len(word) == 1 and word not in _NOT_FREQUENCY and word + "次" not in _COUNT_SET
)
# Classifiers that Chinese numerals may take beyond COUNT_UNITS (`两款产品`, `连续举办三届`).
CHINESE_OK_EXTRA: Final = ("款", "届")

UNIT_KIND: Final[dict[str, str]] = {
    **{u: "amount" for u in MONEY_UNITS},
    **{u: "percent" for u in PERCENT_UNITS},
    **{u: "count" for u in MULTIPLE_UNITS},
    **{u: "measure" for u in MEASURE_UNITS},
    **{u: "score" for u in SCORE_UNITS},
    **{u: "count" for u in COUNT_UNITS},
    **{u: "count" for u in LONG_TAIL_COUNT_UNITS},
    **{u: "count" for u in FREQUENCY_UNITS},
    **{u: "count" for u in EDITION_UNITS},
    **{u: "percent" for u in TENTHS_UNITS},
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
