"""Extraction entry points: text or file in, a document result out."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

from spacy.language import Language
from spacy.tokens import Doc

from govmetrics import __version__
from govmetrics.errors import GovMetricsError
from govmetrics.pipeline import load_pipeline
from govmetrics.read.readers import ReadResult, read_path
from govmetrics.records import Record
from govmetrics.settings import get_settings


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

    def __init__(self, nlp: Language | None = None, model: str | Path | None = None,
                 min_confidence: float | None = None) -> None:
        """`model`: None for the shipped default (GOVMETRICS_MODEL), "rules" for the rule
        baseline, or a model folder. `min_confidence` drops records below it; the count of
        dropped records is kept in each result's `meta` (never silent)."""
        self.settings = get_settings()
        chosen = str(model) if model is not None else self.settings.model
        if chosen != "rules" and not Path(chosen).is_dir():
            raise GovMetricsError.make("E030", path=chosen)
        self.model = chosen
        self.min_confidence = self.settings.min_confidence if min_confidence is None else min_confidence
        self.nlp = nlp or load_pipeline(model=chosen, min_confidence=self.min_confidence)

    @property
    def model_info(self) -> dict[str, str]:
        """Name and version of what assigns roles and links, reported beside every result."""
        if self.model == "rules":
            return {"name": "rule-baseline", "version": __version__}
        return dict(self.nlp.get_pipe("govmetrics_record_model_v1").tagger.info)

    def _result(self, parsed: Doc, name: str, text: str) -> DocumentResult:
        meta = {} if self.model == "rules" else {"dropped_below_confidence": parsed._.dropped_records}
        return DocumentResult(doc=name, records=list(parsed._.records or []), text=text, meta=meta,
                              checks=_checks(parsed))

    def extract_text(self, text: str, doc: str = "text") -> DocumentResult:
        if len(text) > self.settings.max_chars:
            raise GovMetricsError.make("E013", name=doc, chars=len(text), limit=self.settings.max_chars)
        return self._result(self.nlp(text), doc, text)

    def extract_texts(self, items: Iterable[tuple[str, str]], batch_size: int = 8) -> list[DocumentResult]:
        items = list(items)
        docs = self.nlp.pipe((t for t, _ in items), batch_size=batch_size)
        return [self._result(d, name, t) for (t, name), d in zip(items, docs)]

    def extract_path(self, path: str | Path) -> DocumentResult:
        read = read_path(path, max_bytes=self.settings.max_bytes)
        result = self.extract_text(read.text, doc_name(path))
        result.read = read
        return result
