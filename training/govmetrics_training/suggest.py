"""Choosing what to label next: the passages where the model is least sure, diverse.

    govmetrics annotations suggest reports/ more.zip --n 20 --out tasks.json
    govmetrics annotations suggest results.db --n 20 --out tasks.json

Documents (files, folders, archives) or the documents of a bulk results database
are cut into passages of whole paragraphs (about 1,500 characters); the model
reads every passage, and a passage's uncertainty is its least confident record.
The N least certain passages are chosen with a diversity rule: at most
`--per-doc` passages from one document, and none that shares more than half of
its character 4-grams with a passage already chosen, so one repetitive report
cannot fill the batch. The result is a Label Studio task list with the model's
predictions (scores per region and per task) for a labeller to correct; import
it back with `govmetrics annotations import`.
"""
from __future__ import annotations

import json
import re
import sqlite3
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from govmetrics.errors import GovMetricsError
from govmetrics.labelstudio import to_result

PASSAGE_CHARS = 1500
MAX_OVERLAP = 0.5


@dataclass
class Passage:
    doc: str  # the document's label (path, or archive!/member)
    index: int
    start: int
    text: str
    score: float | None = None  # least confident record; None: no record
    result: list[dict[str, Any]] | None = None

    @property
    def grams(self) -> set[str]:
        compact = re.sub(r"\s+", "", self.text)
        return {compact[i:i + 4] for i in range(max(0, len(compact) - 3))}


def passages(text: str, doc: str, max_chars: int = PASSAGE_CHARS) -> list[Passage]:
    """Whole lines grouped up to about `max_chars`; a longer line stands alone."""
    out: list[Passage] = []
    start = pos = 0
    for line in text.splitlines(keepends=True):
        if pos > start and pos + len(line) - start > max_chars:
            out.append(Passage(doc, len(out), start, text[start:pos]))
            start = pos
        pos += len(line)
    if pos > start:
        out.append(Passage(doc, len(out), start, text[start:pos]))
    return [p for p in out if p.text.strip()]


def documents_of(inputs: list[str], max_bytes: int) -> list[tuple[str, str]]:
    """(label, text) of every readable document; a results database gives the files it annotated."""
    from govmetrics.read.archive import iter_documents
    from govmetrics.read.readers import read_bytes

    paths: list[str] = []
    for item in inputs:
        if item.endswith(".db") and Path(item).is_file():
            paths.extend(_database_sources(Path(item)))
        else:
            paths.append(item)
    out = []
    for doc in iter_documents(paths, max_bytes):
        try:
            out.append((doc.label, read_bytes(doc.read(), doc.name, max_bytes=max_bytes).text))
        except GovMetricsError as exc:
            print(f"govmetrics: {exc.message} (left out)", file=sys.stderr)
    return out


def _database_sources(db: Path) -> list[str]:
    """The plain files a results database holds, least confident first (archive members are re-read from
    their archive by giving the archive itself)."""
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
            rows = conn.execute(
                "SELECT d.source, MIN(r.confidence) AS c FROM documents d LEFT JOIN records r ON r.document_id = d.id "
                "WHERE d.status = 'done' GROUP BY d.source ORDER BY c IS NULL, c").fetchall()
    except sqlite3.Error as exc:
        raise GovMetricsError.make("E053", path=db, cause=exc) from None
    return [source for source, _ in rows if Path(source).exists()]


def choose(candidates: list[Passage], n: int, per_doc: int) -> list[Passage]:
    """The n least certain passages under the diversity rule (passages without records never)."""
    picked: list[Passage] = []
    taken: dict[str, int] = {}
    for p in sorted((p for p in candidates if p.score is not None), key=lambda p: (p.score, p.doc, p.index)):
        if len(picked) >= n:
            break
        if taken.get(p.doc, 0) >= per_doc:
            continue
        grams = p.grams
        if any(len(grams & q.grams) > MAX_OVERLAP * max(1, min(len(grams), len(q.grams))) for q in picked):
            continue
        picked.append(p)
        taken[p.doc] = taken.get(p.doc, 0) + 1
    return picked


def suggest(inputs: list[str], n: int, per_doc: int, model: str | None, max_bytes: int) -> list[dict[str, Any]]:
    from govmetrics.extract import Extractor
    from tqdm import tqdm

    docs = documents_of(inputs, max_bytes)
    if not docs:
        raise GovMetricsError.make("E054", inputs=", ".join(inputs))
    extractor = Extractor(model=model)
    info = extractor.model_info
    version = f"{info['name']}-{info['version']}"
    candidates = [p for label, text in docs for p in passages(text, label)]
    for p in tqdm(candidates, desc="passages", unit="passage", disable=not sys.stderr.isatty()):
        records = [r.to_json() for r in extractor.extract_text(p.text, p.doc).records]
        confidences = [r["confidence"] for r in records if r.get("confidence") is not None]
        p.score = min(confidences) if confidences else None
        p.result = to_result(records, with_scores=True)
    return [{"data": {"text": p.text, "doc": f"{Path(p.doc.split('!/')[-1]).stem}-p{p.index}",
                      "source": p.doc, "offset": p.start},
             "predictions": [{"model_version": version, "score": p.score, "result": p.result}]}
            for p in choose(candidates, n, per_doc)]


def main(inputs: list[str], n: int, per_doc: int, out: Path, model: str | None, max_bytes: int) -> int:
    tasks = suggest(inputs, n, per_doc, model, max_bytes)
    out.write_text(json.dumps(tasks, ensure_ascii=False, indent=1), encoding="utf-8")
    scores = [t["predictions"][0]["score"] for t in tasks]
    shown = f"; least sure {min(scores):.3f}, most {max(scores):.3f}" if scores else ""
    print(f"wrote {len(tasks)} Label Studio tasks with predictions to {out}{shown}")
    return 0
