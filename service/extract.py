"""Extraction entry points: text or file in, a document result out."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

from spacy.language import Language

from service import __version__
from service.errors import GovMetricsError
from service.pipeline import load_pipeline
from service.readers import ReadResult, read_path
from service.records import Record
from service.settings import get_settings


@dataclass
class DocumentResult:
    doc: str
    records: list[Record]
    text: str = ""
    read: ReadResult | None = None
    meta: dict[str, Any] = field(default_factory=dict)
    # Arithmetic consistency checks over `records` (issue 7); indexes point into `records`.
    checks: list[dict[str, Any]] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {"doc": self.doc, "records": [r.to_json() for r in self.records], "checks": self.checks}


def doc_name(path: str | Path) -> str:
    """The document's name in every output: the file name without extension."""
    return Path(str(path)).stem or str(path)


def _checks(parsed: Any) -> list[dict[str, Any]]:
    """The arithmetic audit's checks as JSON dicts (empty where a pipeline has no audit component)."""
    found = parsed._.checks if parsed.has_extension("checks") else None
    return [c.to_json() for c in found or []]


class Extractor:
    """Holds the loaded pipeline; one instance serves many documents."""

    def __init__(self, nlp: Language | None = None, model: str | Path | None = None) -> None:
        """`model`: None for the shipped default, "rules" for the rule baseline, or a model folder."""
        if model not in (None, "rules") and not Path(model).is_dir():
            raise GovMetricsError.make("E030", path=model)
        self.nlp = nlp or load_pipeline()
        self.settings = get_settings()

    @property
    def model_info(self) -> dict[str, str]:
        """Name and version of what assigns roles and links, reported beside every result."""
        return {"name": "rule-baseline", "version": __version__}

    def extract_text(self, text: str, doc: str = "text") -> DocumentResult:
        if len(text) > self.settings.max_chars:
            raise GovMetricsError.make("E013", name=doc, chars=len(text), limit=self.settings.max_chars)
        parsed = self.nlp(text)
        return DocumentResult(doc=doc, records=list(parsed._.records or []), text=text, checks=_checks(parsed))

    def extract_texts(self, items: Iterable[tuple[str, str]], batch_size: int = 8) -> list[DocumentResult]:
        items = list(items)
        docs = self.nlp.pipe((t for t, _ in items), batch_size=batch_size)
        return [DocumentResult(doc=name, records=list(d._.records or []), text=t, checks=_checks(d))
                for (t, name), d in zip(items, docs)]

    def extract_path(self, path: str | Path) -> DocumentResult:
        read = read_path(path, max_bytes=self.settings.max_bytes)
        result = self.extract_text(read.text, doc_name(path))
        result.read = read
        return result
