"""Input discovery for bulk runs: files, folders (recursive), .zip and .tar.gz archives.

`iter_documents(inputs, limits)` yields one `SourceDocument` per entry, in a
stable order (inputs as given, folders and archives sorted by path). Bytes are
read lazily: `SourceDocument.read()` loads one document when asked, so memory
holds one document at a time, whatever the archive's size. `read()` is valid
until the iterator advances (a .tar.gz is a stream).

Every byte read from an archive, at any depth, goes through one bounded read
(`read_bounded`, `_spill`) and counts against `ReadLimits`: a document against
`max_bytes`, an archive inside an archive against `max_nested_bytes` (it is
spilled to a temporary file, never held in memory), and everything read from
one input archive against `max_archive_bytes`. Declared sizes are checked
first (nothing is read for a member that says it is too big) and the bounded
read enforces the limit when a header lies.

A document is keyed by `(source, member)`: `source` is the absolute path of the
file on disk, `member` the path inside an archive ("" for a plain file); a zip
inside a zip is `outer member!/inner member`. Names that are not valid UTF-8
are decoded as GB18030 when they are (Chinese Windows), else shown with
`\\xNN` escapes (`printable_name`), so that they can be stored and resumed.

Every entry is yielded, never dropped: something that cannot be listed (a
corrupt archive) or read becomes a document whose `read()` raises, and an
entry that is not a document (a link, a device, a FIFO, an unsafe path, a
hidden or system file) a document with `refusal` set (stored as `skipped`).
Directory entries are structure, not content, and are not yielded.
"""
from __future__ import annotations

import os
import re
import tarfile
import tempfile
import zipfile
import zlib
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path, PurePosixPath
from typing import IO, Callable, Iterator

from govmetrics.errors import GovMetricsError

NESTED_SEPARATOR = "!/"
ZIP_SUFFIXES = (".zip",)
TAR_SUFFIXES = (".tar.gz", ".tgz", ".tar")
# A limit on depth stops a zip quine.
MAX_NESTING = 4
DEFAULT_MAX_BYTES = 20 * 1024 * 1024
DEFAULT_MAX_NESTED_BYTES = 1024 * 1024 * 1024
DEFAULT_MAX_ARCHIVE_BYTES = 4 * 1024 * 1024 * 1024
SPILL_CHUNK = 1024 * 1024
# Errors the zip/tar/gzip modules raise on damaged input.
ARCHIVE_ERRORS = (zipfile.BadZipFile, zipfile.LargeZipFile, tarfile.TarError, zlib.error, EOFError,
                  OSError, RuntimeError, ValueError, NotImplementedError, KeyError)
_SYSTEM_FILES = ("__MACOSX", "Thumbs.db", "desktop.ini")


@dataclass(frozen=True)
class ReadLimits:
    """How many bytes may be read: per document, per nested archive, per input archive in total (all depths)."""

    max_bytes: int = DEFAULT_MAX_BYTES
    max_nested_bytes: int = DEFAULT_MAX_NESTED_BYTES
    max_archive_bytes: int = DEFAULT_MAX_ARCHIVE_BYTES

    @classmethod
    def from_env(cls, max_bytes: int | None = None, max_nested_bytes: int | None = None,
                 max_archive_bytes: int | None = None) -> "ReadLimits":
        """The environment's limits (GOVMETRICS_MAX_BYTES, ..._NESTED_BYTES, ..._ARCHIVE_BYTES); arguments override."""
        from govmetrics.settings import env_int

        return cls(
            max_bytes if max_bytes is not None else env_int("GOVMETRICS_MAX_BYTES", DEFAULT_MAX_BYTES),
            max_nested_bytes if max_nested_bytes is not None
            else env_int("GOVMETRICS_MAX_NESTED_BYTES", DEFAULT_MAX_NESTED_BYTES),
            max_archive_bytes if max_archive_bytes is not None
            else env_int("GOVMETRICS_MAX_ARCHIVE_BYTES", DEFAULT_MAX_ARCHIVE_BYTES))


@dataclass(frozen=True)
class SourceDocument:
    """One entry to annotate; `read()` gives its bytes or raises GovMetricsError.

    `refusal`: set for an entry that is not a document (a link, a device, an
    unsafe path...); it is stored as skipped with this reason, never read.
    """

    source: str
    member: str
    name: str
    size: int | None
    data_loader: Callable[[], bytes]
    refusal: GovMetricsError | None = None

    @property
    def label(self) -> str:
        return document_label(self.source, self.member)

    @property
    def suffix(self) -> str:
        return PurePosixPath(self.name).suffix.lower()

    def read(self) -> bytes:
        if self.refusal is not None:
            raise self.refusal
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


def printable_name(name: str) -> str:
    """A name that can be stored as UTF-8: bytes that were not UTF-8 (surrogate escapes from the file system
    or tarfile) decoded as GB18030 when they are valid GB18030, else written as `\\xNN`. The same input always
    gives the same name, so a rerun finds the row again."""
    if not re.search("[\ud800-\udfff]", name):
        return name
    raw = name.encode("utf-8", "surrogateescape")
    try:
        return raw.decode("gb18030")
    except UnicodeDecodeError:
        return raw.decode("utf-8", "backslashreplace")


def _hidden(parts: tuple[str, ...]) -> bool:
    # Finder and Windows leave these in folders and zips; they are never documents.
    return any((p.startswith(".") and p not in (".", "..")) or p in _SYSTEM_FILES for p in parts)


def iter_documents(inputs: list[str | Path], limits: ReadLimits | int,
                   exclude: frozenset[Path] = frozenset()) -> Iterator[SourceDocument]:
    """Every entry under `inputs`, once each (a path given twice is read once).

    `limits`: a `ReadLimits`, or a whole number for the per-document limit with the other defaults.
    `exclude`: resolved paths that are not documents (the results database in the folder being annotated).
    """
    if isinstance(limits, int):
        limits = ReadLimits(max_bytes=limits)
    seen: set[tuple[str, str]] = set()
    for item in inputs:
        path = Path(item)
        if not path.exists():
            raise GovMetricsError.make("E001", name=printable_name(str(item)))
        files = [path] if not path.is_dir() else _walk(path)
        for file in files:
            if file.resolve() in exclude:
                continue
            for doc in _iter_file(file.resolve(), limits):
                key = (doc.source, doc.member)
                if key in seen and doc.member:
                    # an archive may hold two entries of one name: both are rows, the second one renamed
                    n = 2
                    while (doc.source, f"{doc.member}~{n}") in seen:
                        n += 1
                    doc = replace(doc, member=f"{doc.member}~{n}")
                    key = (doc.source, doc.member)
                if key not in seen:
                    seen.add(key)
                    yield doc


def count_documents(inputs: list[str | Path], limits: ReadLimits | int,
                    exclude: frozenset[Path] = frozenset()) -> int:
    """The number `iter_documents` will yield (lists archives, reads no documents)."""
    return sum(1 for _ in iter_documents(inputs, limits, exclude))


def _walk(folder: Path) -> list[Path]:
    found: list[Path] = []
    for root, dirs, files in os.walk(folder):  # does not follow links to folders: no loops
        dirs[:] = sorted(d for d in dirs if not _hidden((d,)))
        found.extend(Path(root) / f for f in sorted(files) if not _hidden((f,)))
    return found


class _Budget:
    """What is left of one input archive's `max_archive_bytes`, shared by every depth inside it."""

    def __init__(self, source: str, limit: int) -> None:
        self.source = source
        self.limit = limit
        self.used = 0

    @property
    def left(self) -> int:
        return max(0, self.limit - self.used)

    def error(self, label: str) -> GovMetricsError:
        return GovMetricsError.make("E058", name=label, archive=self.source, limit=self.limit)


def read_bounded(stream: IO[bytes], limit: int, too_big: Callable[[], GovMetricsError]) -> bytes:
    """At most `limit` bytes of `stream`; `too_big()` is raised when there are more (a header that lied).

    One `read(limit + 1)`: zipfile and tarfile decompress no further than asked, so memory holds at most
    `limit + 1` bytes whatever the stream would expand to.
    """
    data = stream.read(limit + 1)
    if len(data) > limit:
        raise too_big()
    return data


def _iter_file(path: Path, limits: ReadLimits) -> Iterator[SourceDocument]:
    source = printable_name(str(path))
    kind = archive_kind(path.name)
    if kind is None:
        size = _stat_size(path)
        yield SourceDocument(source, "", printable_name(path.name), size,
                             lambda: _read_file(path, source, size, limits.max_bytes))
        return
    budget = _Budget(source, limits.max_archive_bytes)
    try:
        with open(path, "rb") as handle:
            yield from _iter_archive(handle, kind, source, "", limits, budget, depth=1)
    except OSError as exc:
        yield _unreadable(source, "", printable_name(path.name), exc)


def _stat_size(path: Path) -> int | None:
    try:
        return path.stat().st_size
    except OSError:
        return None


def _read_file(path: Path, label: str, size: int | None, max_bytes: int) -> bytes:
    def too_big(actual: int | str) -> GovMetricsError:
        return GovMetricsError.make("E003", name=label, size=actual, limit=max_bytes)

    if size is not None and size > max_bytes:
        # Refuse before reading: an oversized file must not be held in memory.
        raise too_big(size)
    try:
        with open(path, "rb") as handle:  # bounded too: the file may have grown since it was listed
            return read_bounded(handle, max_bytes, lambda: too_big(f"more than {max_bytes}"))
    except OSError as exc:
        raise GovMetricsError.make("E012", name=label, cause=exc.strerror or exc) from None


def _failing(source: str, member: str, name: str, error: GovMetricsError) -> SourceDocument:
    def fail() -> bytes:
        raise error

    return SourceDocument(source, member, name, None, fail)


def _unreadable(source: str, member: str, name: str, exc: BaseException) -> SourceDocument:
    return _failing(source, member, name,
                    GovMetricsError.make("E050", name=document_label(source, member), cause=_cause(exc)))


def _cause(exc: BaseException) -> str:
    text = str(exc).splitlines()[0][:200] if str(exc) else ""
    return text or type(exc).__name__


def _member_path(prefix: str, name: str) -> str:
    return f"{prefix}{NESTED_SEPARATOR}{name}" if prefix else name


@dataclass(frozen=True)
class _Entry:
    """One archive entry, whatever the format: its name, what it is, its declared size and how to open it."""

    name: str
    kind: str  # "file", "dir", "symlink", "hardlink" or "special" (device, FIFO, ...)
    size: int
    open: Callable[[], IO[bytes]]
    detail: str = ""  # a link's target, a special file's type
    raw_name: str = ""  # the name as the archive holds it, when `name` had to be escaped

    @property
    def path(self) -> str:
        """The name whose parts decide safety: an escape's backslashes are ours, not the archive's."""
        return self.raw_name or self.name


def _iter_archive(handle: IO[bytes], kind: str, source: str, prefix: str, limits: ReadLimits,
                  budget: _Budget, depth: int) -> Iterator[SourceDocument]:
    """The entries of the archive in `handle` (a file on disk or a spilled nested archive) as documents."""
    name = PurePosixPath(prefix.rsplit(NESTED_SEPARATOR, 1)[-1]).name if prefix else Path(source).name
    try:
        if kind == "zip":
            with zipfile.ZipFile(handle) as archive:
                yield from _iter_entries(_zip_entries(archive), source, prefix, limits, budget, depth)
        else:
            with tarfile.open(fileobj=handle, mode="r|*") as archive:
                yield from _iter_entries(_tar_entries(archive), source, prefix, limits, budget, depth)
    except ARCHIVE_ERRORS as exc:
        yield _unreadable(source, prefix, name, exc)


def _zip_entries(archive: zipfile.ZipFile) -> Iterator[_Entry]:
    for info in archive.infolist():
        mode = info.external_attr >> 16
        kind = "dir" if info.is_dir() else "symlink" if (info.create_system == 3 and (mode & 0o170000) == 0o120000) \
            else "file"
        yield _Entry(_zip_name(info), kind, info.file_size, lambda info=info: archive.open(info),
                     "(the target is stored as its data)" if kind == "symlink" else "")


def _tar_entries(archive: tarfile.TarFile) -> Iterator[_Entry]:
    for info in archive:
        if info.isfile():
            kind, detail = "file", ""
        elif info.isdir():
            kind, detail = "dir", ""
        elif info.issym():
            kind, detail = "symlink", info.linkname
        elif info.islnk():
            kind, detail = "hardlink", info.linkname
        else:
            kind = "special"
            detail = {tarfile.CHRTYPE: "character device", tarfile.BLKTYPE: "block device",
                      tarfile.FIFOTYPE: "FIFO"}.get(info.type, f"type {info.type!r}")
        yield _Entry(printable_name(info.name), kind, info.size,
                     lambda info=info: _tar_open(archive, info), printable_name(detail), info.name)


def _tar_open(archive: tarfile.TarFile, info: tarfile.TarInfo) -> IO[bytes]:
    handle = archive.extractfile(info)
    if handle is None:
        raise tarfile.TarError(f"{info.name}: not a regular file")
    return handle


def _unsafe(filename: str) -> str | None:
    """Why a member path could escape the folder it is unpacked in, or None."""
    parts = re.split(r"[/\\]", filename)
    if filename.startswith(("/", "\\")) or re.match(r"^[A-Za-z]:", filename):
        return "absolute"
    if ".." in parts:
        return "climbing out with '..'"
    return None


def _refusal(entry: _Entry, label: str) -> GovMetricsError | None:
    """Why an entry is not a document, or None for a regular file with a safe path."""
    why = _unsafe(entry.path)
    if why:
        return GovMetricsError.make("E016", name=label, why=why)
    if entry.kind in ("symlink", "hardlink"):
        return GovMetricsError.make("E017", name=label, kind=entry.kind, target=entry.detail)
    if entry.kind == "special":
        return GovMetricsError.make("E018", name=label, kind=entry.detail)
    if _hidden(PurePosixPath(entry.path).parts):
        return GovMetricsError.make("E019", name=label)
    return None


def _iter_entries(entries: Iterator[_Entry], source: str, prefix: str, limits: ReadLimits, budget: _Budget,
                  depth: int) -> Iterator[SourceDocument]:
    """An archive's entries as documents; nested archives are spilled to a temporary file and walked in turn."""
    for entry in entries:
        if entry.kind == "dir":
            continue
        member = _member_path(prefix, entry.name)
        label = document_label(source, member)
        name = PurePosixPath(entry.name).name or entry.name
        refusal = _refusal(entry, label)
        if refusal is not None:
            yield SourceDocument(source, member, name, entry.size, lambda: b"", refusal)
            continue
        kind = archive_kind(name)
        if kind is None:
            yield SourceDocument(source, member, name, entry.size, _member_loader(entry, label, limits, budget))
            continue
        if depth + 1 > MAX_NESTING:
            yield _failing(source, member, name, GovMetricsError.make("E061", name=label, limit=MAX_NESTING))
            continue
        try:
            with _spill(entry, label, limits.max_nested_bytes, budget) as spilled:
                yield from _iter_archive(spilled, kind, source, member, limits, budget, depth + 1)
        except GovMetricsError as exc:  # over a limit: the nested archive is one failed row
            yield _failing(source, member, name, exc)
        except ARCHIVE_ERRORS as exc:  # bad CRC, encrypted, truncated
            yield _unreadable(source, member, name, exc)


@contextmanager
def _spill(entry: _Entry, label: str, limit: int, budget: _Budget) -> Iterator[IO[bytes]]:
    """The nested archive copied to a temporary file (deleted after), a chunk at a time, within both limits."""
    def too_big(size: int | str) -> GovMetricsError:
        return GovMetricsError.make("E059", name=label, size=size, limit=limit)

    if entry.size > limit:
        raise too_big(entry.size)  # refused on the declared size: nothing is read
    if entry.size > budget.left:
        raise budget.error(label)
    allowed = min(limit, budget.left)
    with tempfile.TemporaryFile(prefix="govmetrics-nested-") as spill:
        copied = 0
        try:
            with entry.open() as stream:
                while chunk := stream.read(min(SPILL_CHUNK, allowed - copied + 1)):
                    copied += len(chunk)
                    if copied > allowed:
                        raise too_big(f"more than {limit}") if allowed == limit else budget.error(label)
                    spill.write(chunk)
        finally:
            budget.used += copied  # what was read counts, refused or not
        spill.seek(0)
        yield spill


def _member_loader(entry: _Entry, label: str, limits: ReadLimits, budget: _Budget) -> Callable[[], bytes]:
    def load() -> bytes:
        if entry.size > limits.max_bytes:
            raise GovMetricsError.make("E003", name=label, size=entry.size, limit=limits.max_bytes)
        if entry.size > budget.left:
            raise budget.error(label)
        allowed = min(limits.max_bytes, budget.left)

        def too_big() -> GovMetricsError:
            if allowed < limits.max_bytes:
                return budget.error(label)
            return GovMetricsError.make("E003", name=label, size=f"more than {allowed}", limit=limits.max_bytes)

        try:
            with entry.open() as stream:
                data = read_bounded(stream, allowed, too_big)
        except ARCHIVE_ERRORS as exc:  # bad CRC, encrypted member, truncated data
            raise GovMetricsError.make("E050", name=label, cause=_cause(exc)) from None
        budget.used += len(data)
        return data

    return load


def _zip_name(info: zipfile.ZipInfo) -> str:
    """The member's name; zips made on Chinese Windows store GBK names without the UTF-8 flag."""
    if info.flag_bits & 0x800:
        return info.filename
    try:
        return info.filename.encode("cp437").decode("gb18030")
    except (UnicodeEncodeError, UnicodeDecodeError):
        return info.filename
