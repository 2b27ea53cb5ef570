"""Loading a shipped record model and running it on documents (no training code here)."""
from __future__ import annotations

import json
import math
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Sequence

import torch

from govmetrics.errors import GovMetricsError
from govmetrics.model.record_model import (
    ModelConfig,
    QuantityPrediction,
    RecordModel,
    batches,
    collate,
    decode,
    featurize,
    to_record,
)
from govmetrics.model.storage import int8_linears, load_int8_with_scales
from govmetrics.grammar.quantities import Quantity
from govmetrics.records import Record

if TYPE_CHECKING:
    from tokenizers import Tokenizer

WEIGHTS = "weights.int8.safetensors"


@dataclass
class Calibrator:
    """Logistic regression from the parts' log-probabilities to P(record right as a whole),
    fitted on the dev split (training/govmetrics_training/train.py)."""

    weights: list[float]
    bias: float

    def __call__(self, features: list[float]) -> float:
        z = self.bias + sum(w * x for w, x in zip(self.weights, features))
        return 1.0 / (1.0 + math.exp(-max(-30.0, min(30.0, z))))

    @classmethod
    def load(cls, path: Path) -> "Calibrator | None":
        if not path.exists():
            return None
        d = json.loads(path.read_text())
        return cls(d["weights"], d["bias"])


class RecordTagger:
    """A loaded model: candidate quantities in, records with calibrated confidence out."""

    def __init__(self, path: str | Path, quantize: bool = True, max_batch_tokens: int = 2048) -> None:
        from tokenizers import Tokenizer

        self.path = Path(path)
        if not (self.path / "config.json").is_file() or not (self.path / WEIGHTS).is_file():
            raise GovMetricsError.make("E030", path=self.path)
        self.config = ModelConfig.load(self.path / "config.json")
        self.tokenizer = Tokenizer.from_file(str(self.path / "tokenizer.json"))
        self.pad_id = self.tokenizer.token_to_id("<pad>")
        # Plain construction: a "meta" device would skip the random initialisation, but its
        # first use costs about a second of torch set-up, more than the initialisation itself.
        model = RecordModel(self.config)
        state, scales = load_int8_with_scales(self.path / WEIGHTS)
        model.load_state_dict(state)
        model.eval()
        if quantize:
            # int8 matmuls on the stored int8 rows: the speed the warm target needs (models/*/README.md).
            model = int8_linears(model, scales)
        self.model = model
        self.calibrator = Calibrator.load(self.path / "calibration.json")
        self.max_batch_tokens = max_batch_tokens

    @classmethod
    def from_model(cls, model: RecordModel, config: ModelConfig, tokenizer: "Tokenizer",
                   max_batch_tokens: int = 2048) -> "RecordTagger":
        """A tagger around a model in memory (training's per-epoch dev scores): fp32, no calibrator."""
        tagger = cls.__new__(cls)
        tagger.path = Path(".")
        tagger.config, tagger.tokenizer, tagger.model = config, tokenizer, model
        tagger.pad_id = tokenizer.token_to_id("<pad>")
        tagger.calibrator = None
        tagger.max_batch_tokens = max_batch_tokens
        return tagger

    @property
    def info(self) -> dict[str, str]:
        return {"name": self.config.name, "version": self.config.version}

    def predict(self, texts: Sequence[str], quantities: Sequence[Sequence[Quantity]]) -> list[list[QuantityPrediction]]:
        """Per document, one prediction per candidate quantity (role "none" included).

        Windows are batched within a document only: int8 activations are quantized per
        batch, so mixing documents would make one document's records depend on its
        neighbours in a batch. This way a document gives the same records from the CLI,
        the service and a bulk run."""
        out: list[list[QuantityPrediction]] = []
        with torch.inference_mode():
            for text, qs in zip(texts, quantities):
                preds: list[QuantityPrediction] = []
                for batch in batches(featurize(self.tokenizer, text, list(qs), self.config), self.max_batch_tokens):
                    logits = self.model(**collate(batch, self.pad_id))
                    preds.extend(decode(batch, logits, self.config, text))
                out.append(preds)
        return out

    def scored(self, text: str, quantities: Sequence[Quantity],
               predictions: Sequence[QuantityPrediction]) -> list[tuple[Record, QuantityPrediction]]:
        """The records in text order (candidates judged "none" left out), each beside its prediction."""
        out = []
        for p in sorted(predictions, key=lambda p: quantities[p.index].start):
            if p.role == "none":
                continue
            conf = self.calibrator(p.features()) if self.calibrator else None
            out.append((to_record(quantities[p.index], p, text, None if conf is None else round(conf, 4)), p))
        return out

    def records(self, text: str, quantities: Sequence[Quantity],
                predictions: Sequence[QuantityPrediction]) -> list[Record]:
        return [r for r, _ in self.scored(text, quantities, predictions)]


@lru_cache(maxsize=4)
def load_tagger(path: str) -> RecordTagger:
    return RecordTagger(path)
