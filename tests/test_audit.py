"""The arithmetic audit: relations rebuilt from real pipeline output, judged at the text's precision."""
from __future__ import annotations

import subprocess
import sys
from decimal import Decimal

import pytest

from conftest import ROOT, SEED
from govmetrics.audit.arithmetic import ratio_matches


def checks_of(extractor, text: str) -> list[dict]:
    return extractor.extract_text(text).to_json()["checks"]


def only(checks: list[dict], kind: str) -> list[dict]:
    return [c for c in checks if c["kind"] == kind]


def test_seed_flags_the_completion_slip_and_nothing_else(extractor, seed_text: str):
    result = extractor.extract_text(seed_text).to_json()
    bad = [c for c in result["checks"] if c["status"] == "mismatch"]
    assert [(c["kind"], c["stated"], c["computed"]) for c in bad] == [("completion", "14.57", "14.47")]
    stated = result["records"][bad[0]["records"][0]]
    assert stated["text"] == "14.57%" and seed_text[stated["start"]:stated["end"]] == "14.57%"
    assert "14.47%" in bad[0]["message"] and "14.57%" in bad[0]["message"]
    kinds = {c["kind"] for c in result["checks"] if c["status"] == "ok"}
    assert kinds == {"completion", "change", "share", "sum"}
    for c in result["checks"]:
        assert all(0 <= i < len(result["records"]) for i in c["records"])


@pytest.mark.parametrize("stated,decimals,exact,ok", [
    ("14.57", 2, Decimal("14.4666"), False),
    ("14.47", 2, Decimal("14.4666"), True),    # rounds half up
    ("100.98", 2, Decimal("100.9875"), True),  # truncated
    ("100.99", 2, Decimal("100.9875"), True),  # rounded
    ("101", 0, Decimal("100.9875"), True),
    ("100.9", 1, Decimal("100.9875"), True),
    ("100.8", 1, Decimal("100.9875"), False),
])
def test_precision_follows_the_written_decimals(stated, decimals, exact, ok):
    assert ratio_matches(Decimal(stated), decimals, exact)[0] is ok


def test_completion_ok_mismatch_and_ambiguous(extractor):
    ok = only(checks_of(extractor, "培训费年初预算为20万元，支出决算为15万元，完成年初预算的75%。"), "completion")
    assert [(c["status"], c["computed"]) for c in ok] == [("ok", "75")]
    bad = only(checks_of(extractor, "培训费年初预算为20万元，支出决算为15万元，完成年初预算的57%。"), "completion")
    assert [(c["status"], c["stated"], c["computed"]) for c in bad] == [("mismatch", "57", "75")]
    # two budget figures before the rate: which one it refers to is not known, so nothing is judged
    two = checks_of(extractor, "培训费年初预算为20万元，调整预算为18万元，支出决算为15万元，完成预算的75%。")
    assert only(two, "completion") == []


def test_change_ok_mismatch_and_average(extractor):
    text = "会议费支出120万元，与上年相比增加20万元，增长{r}%。"
    assert [c["status"] for c in only(checks_of(extractor, text.format(r="20")), "change")] == ["ok"]
    bad = only(checks_of(extractor, text.format(r="25")), "change")
    assert [(c["status"], c["computed"]) for c in bad] == [("mismatch", "20")]
    down = only(checks_of(extractor, "差旅费支出80万元，与上年相比减少20万元，下降20%。"), "change")
    assert [(c["status"], c["computed"]) for c in down] == [("ok", "20")]  # 20 / (80 + 20)
    avg = checks_of(extractor, "会议费支出120万元，比上年增加20万元，年均增长7%。")
    assert only(avg, "change") == []


def test_share_ok_mismatch_and_rounding_adjustment(extractor):
    text = "本年支出合计200万元，其中：基本支出150万元，占{a}%；项目支出50万元，占{b}%。"
    shares = only(checks_of(extractor, text.format(a="75", b="25")), "share")
    assert [c["status"] for c in shares] == ["ok", "ok"]
    shares = only(checks_of(extractor, text.format(a="57", b="25")), "share")
    assert [(c["status"], c["computed"]) for c in shares] == [("mismatch", "75"), ("ok", "25")]
    # three equal thirds round to 33.33 each; writing the last as 33.34 so that the list adds up to
    # 100% is the usual forced rounding (尾差调整), not an error; without it, 33.34 is one
    thirds = "本年支出合计300万元，其中：基本支出100万元，占33.33%；项目支出100万元，占33.33%；其他支出100万元，占{c}%。"
    assert [c["status"] for c in only(checks_of(extractor, thirds.format(c="33.34")), "share")] == ["ok"] * 3
    halves = "本年支出合计300万元，其中：基本支出150万元，占50.00%；项目支出150万元，占{c}%。"
    assert [c["status"] for c in only(checks_of(extractor, halves.format(c="50.01")), "share")] == ["ok", "mismatch"]

def test_sum_ok_mismatch_and_open_lists(extractor):
    text = "本年支出合计{t}万元，其中：基本支出150.25万元；项目支出49.75万元。"
    assert [c["status"] for c in only(checks_of(extractor, text.format(t="200.00")), "sum")] == ["ok"]
    bad = only(checks_of(extractor, text.format(t="210.00")), "sum")
    assert [(c["status"], c["stated"], c["computed"]) for c in bad] == [("mismatch", "210.00", "200")]
    counts = "共侦破刑事案件{t}起，其中盗窃案件7起，诈骗案件2起。"
    assert [c["status"] for c in only(checks_of(extractor, counts.format(t="9")), "sum")] == ["ok"]
    # a list of counts may name only some kinds: fewer parts than the total is not judged ...
    assert only(checks_of(extractor, counts.format(t="12")), "sum") == []
    # ... but parts that exceed their total are an error
    over = only(checks_of(extractor, counts.format(t="8")), "sum")
    assert [c["status"] for c in over] == ["mismatch"]


def test_sum_tolerates_one_unit_per_rounded_part(extractor):
    text = "本年支出合计{t}万元，其中：基本支出100.01万元；项目支出100.01万元；其他支出100.01万元。"
    assert [c["status"] for c in only(checks_of(extractor, text.format(t="300.00")), "sum")] == ["ok"]
    assert [c["status"] for c in only(checks_of(extractor, text.format(t="299.99")), "sum")] == ["mismatch"]


def test_cli_table_lists_mismatches_in_chinese():
    text = "公务接待费支出预算为30万元，支出决算为4.34万元，完成预算的14.57%。"
    p = subprocess.run([sys.executable, "-m", "govmetrics.cli", "extract", "-", "--format", "table"], cwd=ROOT,
                       input=text.encode(), capture_output=True, timeout=300)
    assert p.returncode == 0, p.stderr.decode()
    out = p.stdout.decode()
    assert "算术核对：发现1处不一致" in out and "14.47%" in out


def test_outline_items_sum_to_their_total(extractor):
    # `总计A。包括：` followed by numbered items: each item's first figure is a part; the deeper
    # `（1）` line under item 2 is that item's own breakdown, not a third part
    text = ("（二）支出预算总计{t}万元。包括：\n"
            "1．一般公共服务（类）支出200.00万元，主要用于机关运转。\n"
            "2．住房保障（类）支出100.00万元，主要用于住房公积金和提租补贴。\n"
            "（1）住房公积金（项）支出60.00万元。\n"
            "（三）其他说明\n")
    ok = only(checks_of(extractor, text.format(t="300.00")), "sum")
    assert [(c["status"], c["computed"]) for c in ok] == [("ok", "300")]
    assert len(ok[0]["records"]) == 3
    bad = only(checks_of(extractor, text.format(t="310.00")), "sum")
    assert [(c["status"], c["stated"], c["computed"]) for c in bad] == [("mismatch", "310.00", "300")]


def test_a_list_ending_with_the_rest_is_complete(extractor):
    other = "共有车辆{t}辆，其中：执法执勤用车3辆、其他用车2辆。"
    assert [c["status"] for c in only(checks_of(extractor, other.format(t="5")), "sum")] == ["ok"]
    # `其他…` names the rest, so fewer parts than the total is an error here ...
    assert [c["status"] for c in only(checks_of(extractor, other.format(t="7")), "sum")] == ["mismatch"]
    # ... while a list of named kinds only may leave some out
    named = "共有车辆7辆，其中：执法执勤用车3辆、应急保障用车2辆。"
    assert only(checks_of(extractor, named), "sum") == []


def test_a_change_beside_a_part_is_not_another_part(extractor):
    text = ("收入预算{t}万元，其中：财政拨款收入900.00万元，比上年预算减少20.00万元；"
            "事业收入100.00万元；其他收入0万元。")
    ok = only(checks_of(extractor, text.format(t="1000.00")), "sum")
    assert [(c["status"], len(c["records"])) for c in ok] == [("ok", 4)]
    assert [c["status"] for c in only(checks_of(extractor, text.format(t="1100.00")), "sum")] == ["mismatch"]


@pytest.mark.parametrize("text,kind,statuses", [
    # a part on a new line that starts with digits and a point is no numbered heading
    ("政府采购预算1662.44万元，其中：政府采购货物预算93.98万元、政府采购工程预算815.87万元、政府采购服务预算\n"
     "752.59万元。", "sum", ["ok"]),
    # prose names a few uses of a total, not all of them
    ("五年共计12319亿元，其中用于地方“两个确保”和“低保”的资金1777亿元，用于地方增加机关事业单位职工工资1755亿元。",
     "sum", []),
    # `668.7⏎9⏎万元`: a page number or the figure's last digit; not judged either way
    ("住房保障支出1512.23万元，与上年相比增加668.7\n9\n万元，增长79.29%。", "change", []),
    # a planned, rounded figure
    ("一九五八年供应社会的商品总量，可以达到五百亿元，比上一年增加三十亿元，增长百分之六点五。", "change", []),
    # the earlier period's figure in brackets, across a PDF line break
    ("2017 年度部门支出预算安排与 2016 年度相比（2016 年度部\n门支出预算安排为8,648.07 万元），增加498.72 万元，"
     "增长5.77%。", "change", ["ok"]),
    # Chinese numerals with 亿 and 千万: 427.4 / 766.4
    ("全国经济建设和文化教育建设的支出总数为七百六十六亿四千万元。在五年经济建设和文化教育建设的支出总数中，"
     "属于基本建设投资的是四百二十七亿四千万元，占支出总数的百分之五十五点八。", "share", ["ok"]),
])
def test_prose_and_pdf_layouts_raise_no_false_alarm(extractor, text, kind, statuses):
    assert [c["status"] for c in only(checks_of(extractor, text), kind)] == statuses


def test_a_figure_written_as_a_change_is_no_part_whatever_its_role():
    # an assembler that misses the change across a PDF line break (`减少⏎876.75万元`) must not turn it into
    # a fourth part: the audit reads the words before the figure too
    from govmetrics.audit.arithmetic import audit_records
    from govmetrics.grammar.quantities import QuantityGrammar
    from govmetrics.records import Record

    text = ("收入预算15621.11万元，其中：财政拨款收入15621.11万元，比2023年预算减少\n876.75万元；"
            "事业收入0.00万元；事业单位经营收入0.00万元；其他收入0.00万元。")
    records = [Record(q) for q in QuantityGrammar().find(text)]  # every figure a plain value
    sums = [c for c in audit_records(text, records) if c["kind"] == "sum"]
    assert [(c["status"], len(c["records"])) for c in sums] == [("ok", 5)]


# --- 绩效自评 reports: restated totals and relations within a section ------------------------------

RESTATED = ("（一）资金投入\n项目批复总投资1566.00万元。其中：下达中央财政资金1096.20万元，县财政资金469.80万元，"
            "共计下达{closing}万元。\n")


def test_a_closing_total_restates_the_list_and_is_never_a_part(extractor):
    # the shape: the closing 共计 figure is the list's total, not a third part (which made 2A against A)
    checks = checks_of(extractor, RESTATED.format(closing="1566.00"))
    assert [c["status"] for c in checks if c["status"] == "mismatch"] == []
    sums = only(checks, "sum")
    assert [(c["status"], c["computed"], len(c["records"])) for c in sums] == [("ok", "1566", 3)]
    # a closing figure that differs from the heading figure is checked against the parts
    bad = only(checks_of(extractor, RESTATED.format(closing="1656.00")), "sum")
    assert [(c["status"], c["stated"], c["computed"]) for c in bad] == [("mismatch", "1656.00", "1566")]


@pytest.mark.parametrize("text", [
    "项目总投资1200万元，其中：中央资金800万元，县级资金400万元，合计1200万元，已全部到位。",
    "下达资金1200万元，其中：2023年下达中央财政资金800万元，县财政资金400万元，累计下达1200万元。",
    "全年筹集资金1300万元，其中：中央资金800万元，省级资金100万元，县级资金400万元，总计1300万元。",
])
def test_restated_totals_in_similar_shapes(extractor, text):
    sums = only(checks_of(extractor, text), "sum")
    assert [c["status"] for c in sums] == ["ok"]
    records = extractor.extract_text(text).to_json()["records"]
    closing = max(i for i, r in enumerate(records) if r["kind"] == "amount")
    assert closing not in sums[0]["records"][1:]  # the closing figure is no part


SECTION = ("（二）产出情况\n1.数量指标\n年初省下达我县农村危房改造任务数250户。\n"
           "截至11月底，全县实际完成改造574户，全部通过竣工验收。\n"
           "按任务数计算，全县危房改造超任务{rate}%，提前完成年度任务。\n")


def test_an_over_target_rate_is_checked_against_figures_lines_earlier_in_the_section(extractor):
    ok = only(checks_of(extractor, SECTION.format(rate="129.6")), "over_target")
    assert [(c["status"], c["computed"]) for c in ok] == [("ok", "129.6")]
    bad = only(checks_of(extractor, SECTION.format(rate="43")), "over_target")
    assert [(c["status"], c["stated"], c["computed"]) for c in bad] == [("mismatch", "43", "130")]
    # under another heading the figures are another section's: nothing is judged
    split = SECTION.format(rate="43").replace("按任务数计算", "2.质量指标\n按任务数计算")
    assert only(checks_of(extractor, split), "over_target") == []


FUNDS = ("（二）资金使用情况\n项目年初预算1200.00万元，调整后预算1300.00万元。\n"
         "全年实际支出1250.00万元，预算执行率{rate}%。\n")


def test_named_rates_within_a_section(extractor):
    ok = only(checks_of(extractor, FUNDS.format(rate="96.15")), "rate")
    assert [(c["status"], c["computed"]) for c in ok] == [("ok", "96.15")]  # on the adjusted budget
    bad = only(checks_of(extractor, FUNDS.format(rate="94.15")), "rate")
    assert [(c["status"], c["computed"]) for c in bad] == [("mismatch", "96.15")]
    issued = ("（三）资金发放\n全年应发放职业培训补贴386.40万元，实际发放362.10万元，发放率{r}%。\n")
    assert [c["status"] for c in only(checks_of(extractor, issued.format(r="93.71")), "rate")] == ["ok"]
    assert [c["status"] for c in only(checks_of(extractor, issued.format(r="95.71")), "rate")] == ["mismatch"]


def test_ambiguous_inputs_are_not_judged(extractor):
    # two spending figures of different values in the section: which one is the numerator, the text does not say
    two = ("（二）资金使用情况\n项目调整后预算1300.00万元。\n全年实际支出1250.00万元。\n"
           "另一口径实际支出1200.00万元。\n预算执行率{r}%。\n")
    assert only(checks_of(extractor, two.format(r="90.00")), "rate") == []
    # ... while a sentence that names its own inputs is explicit: the nearest level decides
    own = two.format(r="90.00").replace("1200.00万元。\n预算", "1200.00万元，预算")
    assert [c["status"] for c in only(checks_of(extractor, own), "rate")] == ["mismatch"]
    # a rate another pair of the section's figures reproduces may be defined that way: not judged
    other = ("（二）资金使用情况\n项目调整后预算1300.00万元，实际到位资金1250.00万元。\n"
             "全年实际支出1200.00万元，资金执行率96.00%。\n")
    assert only(checks_of(extractor, other), "rate") == []


PRODUCT = "（1）按每卷2元的标准测算，全年完成馆藏档案数字化扫描46800卷，共需扫描经费{a}万元。\n"


def test_unit_price_times_quantity(extractor):
    # 卷 is no measure word the grammar knows: the quantity is read from the text after the price names its unit
    ok = only(checks_of(extractor, PRODUCT.format(a="9.36")), "product")
    assert [(c["status"], c["computed"]) for c in ok] == [("ok", "9.36")]
    bad = only(checks_of(extractor, PRODUCT.format(a="9.63")), "product")
    assert [(c["status"], c["stated"], c["computed"]) for c in bad] == [("mismatch", "9.63", "9.36")]
    per = "按每户补助2.70万元的标准，共补助574户，发放补助资金{a}万元。"
    assert [c["status"] for c in only(checks_of(extractor, per.format(a="1549.80")), "product")] == ["ok"]
    assert [c["status"] for c in only(checks_of(extractor, per.format(a="1594.80")), "product")] == ["mismatch"]
    # a price per two units (每人每月) or two amounts besides the price: not judged
    assert only(checks_of(extractor, "按每人每月300元的标准，共补助120人，发放补助资金4.32万元。"), "product") == []
    assert only(checks_of(extractor, "按每户800元的标准，改造3450户，预算300万元，补助资金276.00万元。"),
                "product") == []


TARGET = "（1）资助对象认定准确率：年度指标值≥98%，实际完成值{a}%，{claim}。\n"


def test_target_attainment(extractor):
    bad = only(checks_of(extractor, TARGET.format(a="97.2", claim="已完成年度目标")), "target")
    assert [(c["status"], c["stated"]) for c in bad] == [("mismatch", "97.2")]
    assert "低于" in bad[0]["message"]
    ok = only(checks_of(extractor, TARGET.format(a="99.2", claim="已完成年度目标")), "target")
    assert [c["status"] for c in ok] == ["ok"]
    # the text does not claim the target was met: no relation to judge
    assert only(checks_of(extractor, TARGET.format(a="97.2", claim="未完成年度目标")), "target") == []
    assert only(checks_of(extractor, TARGET.format(a="97.2", claim="主要原因是部分材料不全")), "target") == []
    # a target where less is better
    cost = "（2）投诉率：年度指标值≤5%，实际完成值3%，完成年度目标。\n"
    assert only(checks_of(extractor, cost), "target") == []


def test_authored_reports_slips_are_found_and_nothing_else(extractor):
    from govmetrics_training.audit_eval import judge_authored, load_authored_audit

    docs = load_authored_audit()
    assert len(docs) >= 15
    for d in docs:
        assert 1500 <= len(d.text) <= 4000, d.id
        for s in d.slips:
            assert d.text[s["start"]:s["end"]] == s["stated"], (d.id, s)
    kinds = {s["kind"] for d in docs for s in d.slips}
    assert {"rate", "over_target", "product", "target", "sum"} <= kinds
    report = judge_authored(docs, extractor.extract_texts([(d.text, d.id) for d in docs]))
    for kind, row in report["per_kind"].items():
        assert row["recall"] >= 0.9, (kind, report["missed"])
    assert report["false_alarms"] == []


def test_a_figure_per_unit_is_no_total(extractor):
    text = "食品抽检量超每千人6.6批次，其中开展“你点我检”食品抽检超5万批次。"
    assert only(checks_of(extractor, text), "sum") == []


@pytest.mark.parametrize("text", [
    "新增铁路运营里程639公里、其中高铁370公里，新增高速（一级）公路2600公里、农村公路3000公里。",
    "新增营造林148万亩、其中南北山绿化工程43万亩，修复治理退化草原517万亩，治理水土流失23万亩。",
])
def test_an_aside_in_an_enumeration_ends_at_the_comma(extractor, text):
    assert [c for c in only(checks_of(extractor, text), "sum") if c["status"] == "mismatch"] == []


def test_parts_of_another_action_and_plans_of_other_places_are_not_judged(extractor):
    text = "立案纪检监察干部2482人，处分1647人，移送司法机关73人，其中，处分厅局级干部54人、县处级285人。"
    assert [c for c in only(checks_of(extractor, text), "sum") if c["status"] == "mismatch"] == []
    news = ("在宁波，今年计划筹集建设保障性租赁住房5万套（间），截至目前已完成4.06万套（间）。而在上海，前八个月"
            "已完成筹集建设保障性租赁住房6.2万套（间），完成年度目标任务的83%。")
    assert only(checks_of(extractor, news), "target") == []


def test_real_growth_of_an_output_measure_is_not_judged_against_nominal_amounts():
    # 2026 甘肃 report: GDP 13697.5 after +4374.4 is +46.9% nominal, stated +33.6% at comparable prices.
    from govmetrics.audit.arithmetic import audit_records
    from govmetrics.grammar.quantities import QuantityGrammar
    from govmetrics.records import Record

    def change_checks(text: str) -> list[str]:
        qs = QuantityGrammar().find(text)
        records = [Record(q, role=role, direction="increase" if role != "value" else None)
                   for q, role in zip(qs, ["value", "change", "change_rate"])]
        return [c["status"] for c in audit_records(text, records) if c["kind"] == "change"]

    assert change_checks("全省地区生产总值达到13697.5亿元，比上年增加4374.4亿元，增长33.6%。") == []
    assert change_checks("全省工业增加值达到13697.5亿元，比上年增加4374.4亿元，增长33.6%。") == []
    # the same shape for a nominal amount is judged
    assert change_checks("全省一般公共预算支出达到13697.5亿元，比上年增加4374.4亿元，增长33.6%。") == ["mismatch"]
