"""Readers: every encoding and format a user sends, and a clear error for every bad file."""
from __future__ import annotations

import io
from pathlib import Path

import pytest

from govmetrics.errors import GovMetricsError
from govmetrics.read.readers import read_bytes, read_path

from conftest import SHARED

SAMPLE = "2021年度收入总计5028.61万元，\r\n与2019年相比，减少761.39万元。"


@pytest.mark.parametrize("encoding,prefix", [
    ("utf-8", b""), ("utf-8", b"\xef\xbb\xbf"), ("gb18030", b""), ("gbk", b""),
    ("utf-16-le", b"\xff\xfe"), ("utf-16-be", b"\xfe\xff"), ("utf-16-le", b""), ("utf-16-be", b""),
])
def test_text_encodings_decode_unchanged(tmp_path: Path, encoding: str, prefix: bytes):
    f = tmp_path / "doc.txt"
    f.write_bytes(prefix + SAMPLE.encode(encoding))
    result = read_path(f)
    assert result.text == SAMPLE  # line endings kept: offsets index this text
    assert result.reader == "text"


def test_docx(tmp_path: Path):
    import docx

    d = docx.Document()
    d.add_paragraph("公务接待费支出决算为4.34万元。")
    t = d.add_table(rows=1, cols=2)
    t.rows[0].cells[0].text = "项目"
    t.rows[0].cells[1].text = "30万元"
    f = tmp_path / "a.docx"
    d.save(str(f))
    result = read_path(f)
    assert "公务接待费支出决算为4.34万元。" in result.text and "30万元" in result.text
    assert result.reader == "docx"


def test_html_gbk(tmp_path: Path):
    html = '<html><head><meta charset="gbk"><title>报告</title><style>p{}</style></head>' \
           '<body><p>侦破案件30起</p><div>抓获83人</div><script>var x=1</script></body></html>'
    f = tmp_path / "a.html"
    f.write_bytes(html.encode("gbk"))
    result = read_path(f)
    assert "侦破案件30起" in result.text and "抓获83人" in result.text and "var x" not in result.text


def test_pdf_with_text_layer():
    pdf = SHARED / "corpus" / "pdf" / "dept_budget.pdf"
    if not pdf.exists():
        pytest.skip("corpus PDF not present")
    result = read_path(pdf)
    assert result.reader == "pdf" and result.metadata["pages"] > 0
    assert "万元" in result.text


@pytest.mark.parametrize("name,data,code", [
    ("empty.txt", b"", "E002"),
    ("blank.txt", b"  \n\t ", "E002"),
    ("junk.txt", bytes(range(256)) * 20, "E004"),
    ("fake.pdf", "这不是PDF".encode(), "E006"),
    ("broken.pdf", b"%PDF-1.4\n garbage garbage", "E007"),
    ("bad.docx", b"PK\x03\x04 not really a zip", "E009"),
    ("a.xlsx", b"whatever", "E010"),
    ("undecodable.txt", b"\x81\x30\x81" * 3 + b"\xff\xfe\xfd" * 50 + b"abc", None),
])
def test_bad_input_gives_one_line_error(tmp_path: Path, name: str, data: bytes, code: str | None):
    f = tmp_path / name
    f.write_bytes(data)
    with pytest.raises(GovMetricsError) as info:
        read_path(f)
    if code:
        assert info.value.code == code
    assert name in info.value.message and "\n" not in info.value.message


def test_size_limit_refused_before_reading(tmp_path: Path):
    f = tmp_path / "big.txt"
    with f.open("wb") as fh:
        fh.seek(50 * 1024 * 1024)
        fh.write(b"x")
    with pytest.raises(GovMetricsError) as info:
        read_path(f)
    assert info.value.code == "E003" and "limit" in info.value.message


def test_missing_file():
    with pytest.raises(GovMetricsError) as info:
        read_path("/nonexistent/报告.txt")
    assert info.value.code == "E001"


def test_read_bytes_uses_suffix():
    assert read_bytes(SAMPLE.encode("gb18030"), name="x", suffix=".txt").text == SAMPLE
