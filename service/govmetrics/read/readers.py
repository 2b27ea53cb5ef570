"""Readers: a file (or bytes) in, text and metadata out.

Offsets everywhere downstream index the text a reader returns. For plain
text that is the decoded file unchanged (line endings kept; a byte-order mark
is an encoding marker, not text, and is dropped).
"""
from __future__ import annotations

import codecs
import io
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from govmetrics.errors import GovMetricsError

DEFAULT_MAX_BYTES = 20 * 1024 * 1024
TEXT_SUFFIXES = (".txt", ".text", ".md", ".csv", "")
HTML_SUFFIXES = (".html", ".htm", ".xhtml")
SUPPORTED_SUFFIXES = TEXT_SUFFIXES + HTML_SUFFIXES + (".docx", ".pdf")


@dataclass
class ReadResult:
    """A document's text, the reader that produced it and what it learnt."""

    name: str
    text: str
    reader: str
    metadata: dict[str, object] = field(default_factory=dict)


def max_bytes_from_env() -> int:
    from govmetrics.settings import env_int

    return env_int("GOVMETRICS_MAX_BYTES", DEFAULT_MAX_BYTES)


def read_path(path: str | Path, max_bytes: int | None = None) -> ReadResult:
    """Read one file into text; raises GovMetricsError with a one-line cause."""
    p = Path(path)
    limit = max_bytes if max_bytes is not None else max_bytes_from_env()
    try:
        size = p.stat().st_size
    except FileNotFoundError:
        raise GovMetricsError.make("E001", name=str(path)) from None
    except OSError as exc:
        raise GovMetricsError.make("E012", name=str(path), cause=exc.strerror or exc) from None
    if p.is_dir():
        raise GovMetricsError.make("E012", name=str(path), cause="is a directory")
    if size > limit:
        # Refuse before reading: a 50 MB upload must not be held in memory twice.
        raise GovMetricsError.make("E003", name=str(path), size=size, limit=limit)
    try:
        data = p.read_bytes()
    except OSError as exc:
        raise GovMetricsError.make("E012", name=str(path), cause=exc.strerror or exc) from None
    return read_bytes(data, name=str(path), suffix=p.suffix.lower(), max_bytes=limit)


def read_bytes(data: bytes, name: str, suffix: str | None = None,
               max_bytes: int | None = None) -> ReadResult:
    """Read a document held in memory; `suffix` picks the reader (default: from `name`)."""
    limit = max_bytes if max_bytes is not None else max_bytes_from_env()
    if suffix is None:
        suffix = Path(name).suffix.lower()
    if len(data) > limit:
        raise GovMetricsError.make("E003", name=name, size=len(data), limit=limit)
    if not data.strip():
        raise GovMetricsError.make("E002", name=name)
    if suffix == ".pdf":
        result = _read_pdf(data, name)
    elif suffix == ".docx":
        result = _read_docx(data, name)
    elif suffix in HTML_SUFFIXES:
        result = _read_html(data, name)
    elif suffix in TEXT_SUFFIXES:
        text, encoding = decode_text(data, name)
        result = ReadResult(name=name, text=text, reader="text", metadata={"encoding": encoding})
    else:
        raise GovMetricsError.make("E010", name=name, suffix=suffix)
    if not result.text.strip():
        raise GovMetricsError.make("E011", name=name)
    result.metadata.setdefault("bytes", len(data))
    result.metadata["chars"] = len(result.text)
    return result


_BOMS = (
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def decode_text(data: bytes, name: str) -> tuple[str, str]:
    """Decode the encodings Chinese users send: UTF-8 (BOM or not), UTF-16, GB18030."""
    for bom, encoding in _BOMS:
        if data.startswith(bom):
            try:
                return _checked(data.decode(encoding), name), encoding
            except UnicodeDecodeError:
                raise GovMetricsError.make("E005", name=name) from None
    utf16 = _guess_utf16(data)
    if utf16:
        try:
            return _checked(data.decode(utf16), name), utf16
        except UnicodeDecodeError:
            pass
    if b"\x00" in data:
        raise GovMetricsError.make("E004", name=name)
    for encoding in ("utf-8", "gb18030"):
        try:
            text = data.decode(encoding)
        except UnicodeDecodeError:
            continue
        if encoding == "gb18030" and not _plausible_chinese(text):
            break
        return _checked(text, name), encoding
    if _looks_binary(data):
        raise GovMetricsError.make("E004", name=name)
    raise GovMetricsError.make("E005", name=name)


def _guess_utf16(data: bytes) -> str | None:
    # UTF-16 without BOM: ASCII and CJK text both put NULs at a regular parity.
    sample = data[:4096]
    if len(sample) < 4 or len(sample) % 2:
        return None
    even = sample[0::2].count(0)
    odd = sample[1::2].count(0)
    half = len(sample) // 2
    if odd > half * 0.3 and even < half * 0.05:
        return "utf-16-le"
    if even > half * 0.3 and odd < half * 0.05:
        return "utf-16-be"
    return None


def _checked(text: str, name: str) -> str:
    if text and len(_CONTROL.findall(text[:20000])) > max(8, len(text[:20000]) // 50):
        raise GovMetricsError.make("E004", name=name)
    return text


def _plausible_chinese(text: str) -> bool:
    """GB18030 decodes almost any bytes; demand mostly common CJK and ASCII."""
    if not text:
        return False
    sample = text[:20000]
    good = sum(1 for c in sample if c.isascii() or "\u4e00" <= c <= "\u9fff" or "\u3000" <= c <= "\u303f"
               or "\uff00" <= c <= "\uffef" or c in "“”‘’…—·")
    return good / len(sample) > 0.9 and not _CONTROL.search(sample)


def _looks_binary(data: bytes) -> bool:
    sample = data[:4096]
    return sum(1 for b in sample if b < 9 or 13 < b < 32) > len(sample) * 0.05


def _read_pdf(data: bytes, name: str) -> ReadResult:
    if not data.lstrip()[:5].startswith(b"%PDF-"):
        raise GovMetricsError.make("E006", name=name)
    from pypdf import PdfReader
    from pypdf.errors import PyPdfError

    try:
        reader = PdfReader(io.BytesIO(data))
        pages = [page.extract_text() or "" for page in reader.pages]
    except (PyPdfError, ValueError, KeyError, TypeError, AttributeError, IndexError,
            RecursionError, OSError, AssertionError, ZeroDivisionError) as exc:
        raise GovMetricsError.make("E007", name=name, cause=str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__) from None
    text = "\n".join(pages)
    if not text.strip():
        raise GovMetricsError.make("E008", name=name)
    return ReadResult(name=name, text=text, reader="pdf", metadata={"pages": len(pages)})


def _read_docx(data: bytes, name: str) -> ReadResult:
    import zipfile

    try:
        import docx

        document = docx.Document(io.BytesIO(data))
    except (zipfile.BadZipFile, KeyError, ValueError, OSError) as exc:
        raise GovMetricsError.make("E009", name=name, cause=str(exc) or type(exc).__name__) from None
    except Exception as exc:  # python-docx raises its own zoo on corrupt parts
        raise GovMetricsError.make("E009", name=name, cause=str(exc)[:200] or type(exc).__name__) from None
    lines = [p.text for p in document.paragraphs]
    for table in document.tables:
        for row in table.rows:
            lines.append("\t".join(cell.text for cell in row.cells))
    return ReadResult(name=name, text="\n".join(lines), reader="docx",
                      metadata={"paragraphs": len(document.paragraphs), "tables": len(document.tables)})


_BLOCK_TAGS = ("p", "div", "br", "li", "tr", "h1", "h2", "h3", "h4", "h5", "h6", "table", "section", "article")


def _read_html(data: bytes, name: str) -> ReadResult:
    from bs4 import BeautifulSoup
    from bs4.exceptions import ParserRejectedMarkup

    raw, encoding = _decode_html(data, name)
    try:
        soup = BeautifulSoup(raw, "html.parser")
    except ParserRejectedMarkup:  # e.g. a bogus `<![` declaration
        raise GovMetricsError.make("E012", name=name, cause="the HTML parser rejected the markup") from None
    for tag in soup(["script", "style", "noscript", "template"]):
        tag.decompose()
    for tag in soup.find_all(_BLOCK_TAGS):
        tag.insert_before("\n")
    text = re.sub(r"\n[ \t\u3000]*\n+", "\n", soup.get_text()).strip()
    title = soup.title.get_text(strip=True) if soup.title else ""
    return ReadResult(name=name, text=text, reader="html", metadata={"encoding": encoding, "title": title})


def _decode_html(data: bytes, name: str) -> tuple[str, str]:
    head = data[:2048].decode("ascii", errors="ignore").lower()
    m = re.search(r"charset=[\"']?([a-z0-9_-]+)", head)
    if m:
        declared = {"gb2312": "gb18030", "gbk": "gb18030"}.get(m.group(1), m.group(1))
        try:
            return data.decode(declared), declared
        except (UnicodeDecodeError, LookupError):
            pass
    return decode_text(data, name)
