"""The Chinese spaCy pipeline: segmentation, sentences, quantities, records, checks.

Components are registered under versioned factory names and composed by
config; each has one job. Data flows one way:
tokenizer (characters; pkuseg for the rules) -> govmetrics_sentencizer_v1 -> govmetrics_quantities_v1
-> govmetrics_record_model_v1 (service/govmetrics/model/component.py) or govmetrics_rule_assembler_v1
   (either writes `doc._.records`)
-> govmetrics_arithmetic_audit_v1 (reads `doc._.records`, writes `doc._.checks`).
"""
from __future__ import annotations

import re
from bisect import bisect_right
from functools import lru_cache
from pathlib import Path
from typing import Iterable

import numpy
import spacy
from spacy.attrs import SENT_START
from spacy.language import Language
from spacy.tokens import Doc, Span

from govmetrics.rules.assembler import RecordAssembler
from govmetrics.audit.arithmetic import ArithmeticAudit, Check
from govmetrics.errors import GovMetricsError
from govmetrics.grammar.quantities import SPAN_KEY, Quantity, QuantityGrammar
from govmetrics.records import Record
from govmetrics.settings import Settings, get_settings


if not Doc.has_extension("records"):
    Doc.set_extension("records", default=None)
if not Doc.has_extension("checks"):
    Doc.set_extension("checks", default=None)
if not Span.has_extension("quantity"):
    Span.set_extension("quantity", default=None)

_FINAL = "。！？!?；;"
_HEADING = re.compile(r"^\s*([一二三四五六七八九十]+、|（[一二三四五六七八九十]+）|\([一二三四五六七八九十]+\)|\d+[、.．]|第[一二三四五六七八九十]+部分)")


class GovSentencizer:
    """Sentence starts that survive PDF line breaks.

    A newline ends a sentence only where the line before ends in final
    punctuation, the next line is a heading, or a blank line follows;
    otherwise it is a line wrap inside a sentence.
    """

    def __init__(self, nlp: Language, name: str) -> None:
        self.name = name

    def __call__(self, doc: Doc) -> Doc:
        text = doc.text
        starts = {0}
        for m in re.finditer(r"[。！？!?]+[”’」』）)]*", text):
            starts.add(m.end())
        for m in re.finditer(r"\n", text):
            before = text[:m.start()].rstrip(" \t\u3000")
            nxt_line = text[m.end():m.end() + 40]
            if not before or before[-1] in _FINAL + "：:" or _HEADING.match(nxt_line) or nxt_line.startswith("\n") \
                    or len(before) - before.rfind("\n") < 30:
                starts.add(m.end())
        # One array write: setting token.is_sent_start one by one is quadratic in spaCy.
        if len(doc):
            flags = numpy.array([1 if (tok.i == 0 or tok.idx in starts) else -1 for tok in doc], dtype="int32")
            doc.from_array([SENT_START], flags.astype("uint64").reshape(len(doc), 1))
        return doc


class QuantityTagger:
    """Runs the QuantityGrammar and aligns each quantity with whole tokens."""

    def __init__(self, nlp: Language, name: str) -> None:
        self.name = name
        self.grammar = QuantityGrammar()

    def predict(self, docs: Iterable[Doc]) -> list[list[Quantity]]:
        return [self.grammar.find(doc.text) for doc in docs]

    def set_annotations(self, docs: Iterable[Doc], found: list[list[Quantity]]) -> None:
        for doc, quantities in zip(docs, found):
            split_at_boundaries(doc, [b for q in quantities for b in (q.start, q.end)])
            spans = []
            for q in quantities:
                span = doc.char_span(q.start, q.end, label=q.kind, alignment_mode="strict")
                if span is None:  # whitespace-only edge cases: keep the record, widen the span
                    span = doc.char_span(q.start, q.end, label=q.kind, alignment_mode="expand")
                span._.quantity = q
                spans.append(span)
            doc.spans[SPAN_KEY] = spans

    def __call__(self, doc: Doc) -> Doc:
        self.set_annotations([doc], self.predict([doc]))
        return doc


class RuleAssemblerComponent:
    """The rule baseline: quantities in, records (role, links) out."""

    def __init__(self, nlp: Language, name: str) -> None:
        self.name = name
        self.assembler = RecordAssembler()

    def predict(self, docs: Iterable[Doc]) -> list[list[Record]]:
        out = []
        for doc in docs:
            quantities = [s._.quantity for s in doc.spans.get(SPAN_KEY, [])]
            tokens = [(t.text, t.idx, t.idx + len(t.text)) for t in doc]
            sents = [(s.start_char, s.end_char) for s in doc.sents] if doc.has_annotation("SENT_START") \
                else [(0, len(doc.text))]
            out.append(self.assembler.assemble(doc.text, quantities, tokens, sents))
        return out

    def set_annotations(self, docs: Iterable[Doc], records: list[list[Record]]) -> None:
        for doc, recs in zip(docs, records):
            doc._.records = recs

    def __call__(self, doc: Doc) -> Doc:
        self.set_annotations([doc], self.predict([doc]))
        return doc


class ArithmeticAuditComponent:
    """Checks the records' arithmetic against each other (issue 7); needs only `doc._.records` and the text."""

    def __init__(self, nlp: Language, name: str) -> None:
        self.name = name
        self.audit = ArithmeticAudit()

    def predict(self, docs: Iterable[Doc]) -> list[list[Check]]:
        return [self.audit.check(doc.text, list(doc._.records or [])) for doc in docs]

    def set_annotations(self, docs: Iterable[Doc], checks: list[list[Check]]) -> None:
        for doc, found in zip(docs, checks):
            doc._.checks = found

    def __call__(self, doc: Doc) -> Doc:
        self.set_annotations([doc], self.predict([doc]))
        return doc


@Language.factory("govmetrics_sentencizer_v1")
def make_sentencizer(nlp: Language, name: str) -> GovSentencizer:
    return GovSentencizer(nlp, name)


@Language.factory("govmetrics_quantities_v1")
def make_quantities(nlp: Language, name: str) -> QuantityTagger:
    return QuantityTagger(nlp, name)


@Language.factory("govmetrics_rule_assembler_v1")
def make_rule_assembler(nlp: Language, name: str) -> RuleAssemblerComponent:
    return RuleAssemblerComponent(nlp, name)


@Language.factory("govmetrics_arithmetic_audit_v1")
def make_arithmetic_audit(nlp: Language, name: str) -> ArithmeticAuditComponent:
    return ArithmeticAuditComponent(nlp, name)


def split_at_boundaries(doc: Doc, boundaries: Iterable[int]) -> None:
    """Split tokens so that every boundary falls between tokens (`编12` -> `编` `12`)."""
    starts = [t.idx for t in doc]
    cuts: dict[int, list[int]] = {}
    for b in sorted(set(boundaries)):
        i = bisect_right(starts, b) - 1
        if i < 0:
            continue
        tok = doc[i]
        if tok.idx < b < tok.idx + len(tok.text):
            cuts.setdefault(i, []).append(b - tok.idx)
    if not cuts:
        return
    with doc.retokenize() as retok:
        for i, offsets in cuts.items():
            tok = doc[i]
            edges = [0, *offsets, len(tok.text)]
            orths = [tok.text[a:b] for a, b in zip(edges, edges[1:])]
            retok.split(tok, orths, heads=[(tok, 0)] * len(orths))


def build_pipeline(settings: Settings | None = None, segmenter: str | None = None, model: str = "rules",
                   min_confidence: float = 0.0) -> Language:
    """A blank `zh` pipeline with the GovMetrics components.

    `model`: "rules" for the rule baseline, else a record-model folder. The rule
    baseline reads words, so it runs on pkuseg; the model reads its own subword
    tokens, so by default it runs on spaCy's character segmenter and skips
    loading pkuseg's 180 MB (seconds of cold start).
    """
    settings = settings or get_settings()
    segmenter = segmenter or ("pkuseg" if model == "rules" else "char")
    config = {"nlp": {"tokenizer": {"@tokenizers": "spacy.zh.ChineseTokenizer", "segmenter": segmenter}}}
    nlp = spacy.blank("zh", config=config)
    nlp.max_length = settings.max_chars  # spaCy's own 1,000,000 would turn a longer text the limits allow into E088
    if segmenter == "pkuseg":
        pkuseg_dir = Path(settings.pkuseg_model)
        if not (pkuseg_dir / "features.pkl").exists() and not (pkuseg_dir / "features.msgpack").exists():
            raise GovMetricsError.make("E031", path=pkuseg_dir)
        nlp.tokenizer.initialize(pkuseg_model=str(pkuseg_dir), pkuseg_user_dict=str(settings.user_dict))
    nlp.add_pipe("govmetrics_sentencizer_v1")
    nlp.add_pipe("govmetrics_quantities_v1")
    if model == "rules":
        nlp.add_pipe("govmetrics_rule_assembler_v1")
    else:
        import govmetrics.model.component  # noqa: F401  (registers govmetrics_record_model_v1)

        nlp.add_pipe("govmetrics_record_model_v1", config={"model": model, "min_confidence": min_confidence})
    nlp.add_pipe("govmetrics_arithmetic_audit_v1")
    return nlp


@lru_cache(maxsize=4)
def load_pipeline(segmenter: str | None = None, model: str = "rules", min_confidence: float = 0.0) -> Language:
    return build_pipeline(segmenter=segmenter, model=model, min_confidence=min_confidence)
