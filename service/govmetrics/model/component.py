"""spaCy component `govmetrics_record_model_v1`: the record model over `doc.spans["quantities"]`.

`predict` (a batch of docs in, the model's predictions out, no side effects)
is kept apart from `set_annotations` (writes `doc._.records` and
`doc._.dropped_records`), as spaCy's trainable components do.
"""
from __future__ import annotations

from typing import Iterable, Iterator

from spacy.language import Language
from spacy.tokens import Doc
from spacy.util import minibatch

from govmetrics.model.inference import load_tagger
from govmetrics.model.record_model import QuantityPrediction
from govmetrics.grammar.quantities import SPAN_KEY, Quantity

if not Doc.has_extension("dropped_records"):
    Doc.set_extension("dropped_records", default=0)


def _quantities(doc: Doc) -> list[Quantity]:
    return [s._.quantity for s in doc.spans.get(SPAN_KEY, [])]


class RecordModelComponent:
    def __init__(self, nlp: Language, name: str, model: str, min_confidence: float = 0.0) -> None:
        self.name = name
        self.tagger = load_tagger(model)
        self.min_confidence = min_confidence

    def predict(self, docs: Iterable[Doc]) -> list[list[QuantityPrediction]]:
        docs = list(docs)
        return self.tagger.predict([d.text for d in docs], [_quantities(d) for d in docs])

    def set_annotations(self, docs: Iterable[Doc], predictions: list[list[QuantityPrediction]]) -> None:
        for doc, preds in zip(docs, predictions):
            quantities = _quantities(doc)
            everything = self.tagger.records(doc.text, quantities, preds)
            kept = [r for r in everything if r.confidence is None or r.confidence >= self.min_confidence]
            doc._.records = kept
            doc._.dropped_records = len(everything) - len(kept)

    def __call__(self, doc: Doc) -> Doc:
        self.set_annotations([doc], self.predict([doc]))
        return doc

    def pipe(self, stream: Iterable[Doc], batch_size: int = 16) -> Iterator[Doc]:
        for batch in minibatch(stream, size=batch_size):
            self.set_annotations(batch, self.predict(batch))
            yield from batch


@Language.factory("govmetrics_record_model_v1", default_config={"model": "", "min_confidence": 0.0})
def make_record_model(nlp: Language, name: str, model: str, min_confidence: float) -> RecordModelComponent:
    return RecordModelComponent(nlp, name, model, min_confidence)
