"""Input discovery for bulk runs: files, folders (recursive), .zip and .tar.gz archives.

`iter_documents(inputs)` yields one `SourceDocument` per document, in a stable
order (inputs as given, folders and archives sorted by path). Bytes are read
lazily: `SourceDocument.read()` loads one document when asked, so memory holds
one document (plus one nested archive) at a time, whatever the archive's size.
`read()` is valid until the iterator advances (a .tar.gz is a stream).

A document is keyed by `(source, member)`: `source` is the absolute path of the
file on disk, `member` the path inside an archive ("" for a plain file); a zip
inside a zip is `outer member!/inner member`. Something that cannot be listed
(a corrupt archive) is still yielded, as a document whose `read()` raises, so
that it ends up in the store as failed instead of vanishing.
"""
from __future__ import annotations

import io
import os
import tarfile
import zipfile
import zlib
from dataclasses import dataclass
from functools import partial
from pathlib import Path, PurePosixPath
from typing import Callable, Iterator

from govmetrics.errors import GovMetricsError

NESTED_SEPARATOR = "!/"
ZIP_SUFFIXES = (".zip",)
TAR_SUFFIXES = (".tar.gz", ".tgz", ".tar")
# Nested archives are opened in memory; a limit on depth stops a zip quine.
MAX_NESTING = 4
# Errors the zip/tar/gzip modules raise on damaged input.
ARCHIVE_ERRORS = (zipfile.BadZipFile, zipfile.LargeZipFile, tarfile.TarError, zlib.error, EOFError,
                  OSError, RuntimeError, ValueError, NotImplementedError, KeyError)


@dataclass(frozen=True)
class SourceDocument:
    """One document to annotate; `read()` gives its bytes or raises GovMetricsError."""

    source: str
    member: str
    name: str
    size: int | None
    data_loader: Callable[[], bytes]

    @property
    def label(self) -> str:
        return document_label(self.source, self.member)

    @property
    def suffix(self) -> str:
        return PurePosixPath(self.name).suffix.lower()

    def read(self) -> bytes:
        return self.data_loader()


def document_label(source: str, member: str) -> str:
    """How a document is named in messages: `/path/archive.zip!/dir/a.txt`, or the file's path."""
    return f"{source}{NESTED_SEPARATOR}{member}" if member else source


def archive_kind(name: str) -> str | None:
    lower = name.lower()
    if lower.endswith(ZIP_SUFFIXES):
        return "zip"
    if lower.endswith(TAR_SUFFIXES):
        return "tar"
    return None


def _hidden(parts: tuple[str, ...]) -> bool:
    # Finder and Windows leave these in folders and zips; they are never documents.
    return any(p.startswith(".") or p in ("__MACOSX", "Thumbs.db", "desktop.ini") for p in parts)


def iter_documents(inputs: list[str | Path], max_bytes: int,
                   exclude: frozenset[Path] = frozenset()) -> Iterator[SourceDocument]:
    """Every document under `inputs`, once each (a path given twice is read once).

    `exclude`: resolved paths that are not documents (the results database in
    the folder being annotated).
    """
    seen: set[tuple[str, str]] = set()
    for item in inputs:
        path = Path(item)
        if not path.exists():
            raise GovMetricsError.make("E001", name=str(item))
        files = [path] if not path.is_dir() else _walk(path)
        for file in files:
            if file.resolve() in exclude:
                continue
            for doc in _iter_file(file.resolve(), max_bytes):
                key = (doc.source, doc.member)
                if key not in seen:
                    seen.add(key)
                    yield doc


def count_documents(inputs: list[str | Path], max_bytes: int, exclude: frozenset[Path] = frozenset()) -> int:
    """The number `iter_documents` will yield (lists archives, reads no documents)."""
    return sum(1 for _ in iter_documents(inputs, max_bytes, exclude))


def _walk(folder: Path) -> list[Path]:
    found: list[Path] = []
    for root, dirs, files in os.walk(folder):  # does not follow links to folders: no loops
        dirs[:] = sorted(d for d in dirs if not _hidden((d,)))
        found.extend(Path(root) / f for f in sorted(files) if not _hidden((f,)))
    return found


def _iter_file(path: Path, max_bytes: int) -> Iterator[SourceDocument]:
    source = str(path)
    kind = archive_kind(path.name)
    if kind is None:
        size = _stat_size(path)
        yield SourceDocument(source, "", path.name, size, lambda: _read_file(path, size, max_bytes))
        return
    try:
        if kind == "zip":
            with zipfile.ZipFile(path) as archive:
                yield from _iter_zip(archive, source, "", max_bytes, depth=1)
        else:
            with tarfile.open(path, mode="r|*") as archive:
                yield from _iter_tar(archive, source, "", max_bytes, depth=1)
    except ARCHIVE_ERRORS as exc:
        yield _unreadable(source, "", path.name, exc)


def _stat_size(path: Path) -> int | None:
    try:
        return path.stat().st_size
    except OSError:
        return None


def _read_file(path: Path, size: int | None, max_bytes: int) -> bytes:
    if size is not None and size > max_bytes:
        # Refuse before reading: an oversized file must not be held in memory.
        raise GovMetricsError.make("E003", name=str(path), size=size, limit=max_bytes)
    try:
        return path.read_bytes()
    except OSError as exc:
        raise GovMetricsError.make("E012", name=str(path), cause=exc.strerror or exc) from None


def _unreadable(source: str, member: str, name: str, exc: BaseException) -> SourceDocument:
    error = GovMetricsError.make("E050", name=document_label(source, member), cause=_cause(exc))

    def fail() -> bytes:
        raise error

    return SourceDocument(source, member, name, None, fail)


def _cause(exc: BaseException) -> str:
    text = str(exc).splitlines()[0][:200] if str(exc) else ""
    return text or type(exc).__name__


def _member_path(prefix: str, name: str) -> str:
    return f"{prefix}{NESTED_SEPARATOR}{name}" if prefix else name


def _iter_nested(data: bytes, kind: str, source: str, member: str, max_bytes: int,
                 depth: int) -> Iterator[SourceDocument]:
    if depth > MAX_NESTING:
        yield _unreadable(source, member, member, ValueError(f"archives nested deeper than {MAX_NESTING}"))
        return
    try:
        if kind == "zip":
            with zipfile.ZipFile(io.BytesIO(data)) as archive:
                yield from _iter_zip(archive, source, member, max_bytes, depth)
        else:
            with tarfile.open(fileobj=io.BytesIO(data), mode="r:*") as archive:
                yield from _iter_tar(archive, source, member, max_bytes, depth)
    except ARCHIVE_ERRORS as exc:
        yield _unreadable(source, member, PurePosixPath(member).name, exc)


def _iter_zip(archive: zipfile.ZipFile, source: str, prefix: str, max_bytes: int,
              depth: int) -> Iterator[SourceDocument]:
    entries = ((_zip_name(info), info.file_size, partial(archive.read, info))
               for info in archive.infolist() if not info.is_dir())
    yield from _iter_members(entries, source, prefix, max_bytes, depth)


def _iter_tar(archive: tarfile.TarFile, source: str, prefix: str, max_bytes: int,
              depth: int) -> Iterator[SourceDocument]:
    entries = ((info.name, info.size, partial(_tar_read, archive, info)) for info in archive if info.isfile())
    yield from _iter_members(entries, source, prefix, max_bytes, depth)


def _iter_members(entries: Iterator[tuple[str, int, Callable[[], bytes]]], source: str, prefix: str,
                  max_bytes: int, depth: int) -> Iterator[SourceDocument]:
    """An archive's members as documents; nested archives are opened and walked in turn."""
    for filename, size, read in entries:
        if _hidden(PurePosixPath(filename).parts):
            continue
        member = _member_path(prefix, filename)
        name = PurePosixPath(filename).name
        kind = archive_kind(name)
        if kind is not None:
            try:
                data = read()
            except ARCHIVE_ERRORS as exc:
                yield _unreadable(source, member, name, exc)
                continue
            yield from _iter_nested(data, kind, source, member, max_bytes, depth + 1)
            continue
        yield SourceDocument(source, member, name, size,
                             _member_loader(read, size, document_label(source, member), max_bytes))


def _member_loader(read: Callable[[], bytes], size: int, label: str, max_bytes: int) -> Callable[[], bytes]:
    def load() -> bytes:
        if size > max_bytes:
            raise GovMetricsError.make("E003", name=label, size=size, limit=max_bytes)
        try:
            return read()
        except ARCHIVE_ERRORS as exc:  # bad CRC, encrypted member, truncated data
            raise GovMetricsError.make("E050", name=label, cause=_cause(exc)) from None

    return load


def _zip_name(info: zipfile.ZipInfo) -> str:
    """The member's name; zips made on Chinese Windows store GBK names without the UTF-8 flag."""
    if info.flag_bits & 0x800:
        return info.filename
    try:
        return info.filename.encode("cp437").decode("gb18030")
    except (UnicodeEncodeError, UnicodeDecodeError):
        return info.filename


def _tar_read(archive: tarfile.TarFile, info: tarfile.TarInfo) -> bytes:
    handle = archive.extractfile(info)
    if handle is None:
        raise tarfile.TarError(f"{info.name}: not a regular file")
    return handle.read()
