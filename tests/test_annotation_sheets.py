"""Annotation sheets: a figure that PDF extraction split over two lines can be named in a sheet."""
from pathlib import Path

from govmetrics.grammar.quantities import QuantityGrammar
from govmetrics_training.sheets import SheetError, build_doc, parse_sheets


def _sheet(tmp_path: Path, text: str, record_line: str) -> Path:
    doc = tmp_path / "doc.txt"
    doc.write_text(text, encoding="utf-8")
    sheet = tmp_path / "a.sheet"
    sheet.write_text(f"@doc path={doc} id=doc kind=annual-report split=train\n"
                     f"@region 0 {len(text)}\n{record_line}\n", encoding="utf-8")
    return sheet


def test_line_break_marker_matches_a_figure_split_over_two_lines(tmp_path: Path) -> None:
    text = "今年公开政府常务会议 7\n期，解读信息发布 7 条。"
    sheet = _sheet(tmp_path, text, "7⏎期 | value | m=政府常务会议 | a=公开")
    obj = build_doc(parse_sheets([sheet])[0], QuantityGrammar())
    (record,) = obj["records"]
    assert record["text"] == "7\n期" == text[record["start"]:record["end"]]
    assert (record["kind"], record["value"], record["normalized"]) == ("count", "7", {"value": "7", "unit": "期"})
    assert record["metric"]["text"] == "政府常务会议"


def test_line_break_marker_in_a_span(tmp_path: Path) -> None:
    text = "区政府受理政府\n信息公开申请 17 件。"
    sheet = _sheet(tmp_path, text, "17 件 | value | m=政府⏎信息公开申请 | a=受理")
    (record,) = build_doc(parse_sheets([sheet])[0], QuantityGrammar())["records"]
    assert text[record["metric"]["start"]:record["metric"]["end"]] == "政府\n信息公开申请"


def test_a_figure_without_the_line_break_is_not_found(tmp_path: Path) -> None:
    sheet = _sheet(tmp_path, "公开政府常务会议 7\n期。", "7期 | value | m=政府常务会议")
    try:
        build_doc(parse_sheets([sheet])[0], QuantityGrammar())
    except SheetError as exc:
        assert "not found" in str(exc)
    else:
        raise AssertionError("a quantity text absent from the document must be refused")
