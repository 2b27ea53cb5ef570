"""The record model: which candidate quantities are records, their role and direction,
and pointers to their metric, action, period and baseline spans.

One encoder pass per window (service/govmetrics/model/windows.py); every candidate
quantity in the window is then classified, and for each span field a pair of
pointers (start token, end token) is scored against every token of the
window, token 0 (`<s>`) meaning "no span". Pointer scores add a learned bias
by relative distance to the quantity, since metrics sit mostly just before
their figure.

`predict` returns plain numbers (no side effects); `decode` turns them into
`Record`s with offsets in the caller's text.
"""
from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Iterable, Sequence

import torch
from torch import nn

from govmetrics.model.encoder import BertEncoder, EncoderConfig
from govmetrics.model.windows import Window, make_windows
from govmetrics.grammar.quantities import Quantity
from govmetrics.records import Record, TextSpan
from govmetrics.grammar.vocabulary import DIRECTIONS, ROLES, SPAN_FIELDS

ROLE_LABELS: tuple[str, ...] = ("none", *ROLES)  # "none": the grammar's candidate is not a record
DIRECTION_LABELS: tuple[str, ...] = ("none", *DIRECTIONS)
NULL_THRESHOLD = 0.5  # decide "no span" on the start pointer's own probability of it
_STRIP = " \t\r\n\u3000，,。；;：:、（）()“”\"'《》"


@dataclass
class ModelConfig:
    encoder: dict[str, Any]
    name: str = "govmetrics-zh"
    version: str = "0.0.0"
    base: str = "multilingual-e5-small"
    pointer_dim: int = 64
    max_distance: int = 100
    max_span_tokens: int = 16
    window_left: int = 120
    window_chars: int = 320
    window_right: int = 40
    role_labels: list[str] = field(default_factory=lambda: list(ROLE_LABELS))
    direction_labels: list[str] = field(default_factory=lambda: list(DIRECTION_LABELS))
    span_fields: list[str] = field(default_factory=lambda: list(SPAN_FIELDS))

    @classmethod
    def load(cls, path: Path) -> "ModelConfig":
        d = json.loads(path.read_text(encoding="utf-8"))
        return cls(**{k: d[k] for k in cls.__dataclass_fields__ if k in d})

    def save(self, path: Path) -> None:
        path.write_text(json.dumps(asdict(self), ensure_ascii=False, indent=2), encoding="utf-8")


@dataclass
class WindowFeatures:
    """One window, tokenized, with the token ranges of its candidate quantities."""

    window: Window
    ids: list[int]
    offsets: list[tuple[int, int]]  # absolute character offsets in the document, (0, 0) for specials
    quantities: list[tuple[int, int, int]]  # (index into the document's quantities, first token, last token)


class _Pointer(nn.Module):
    def __init__(self, hidden: int, dim: int, max_distance: int) -> None:
        super().__init__()
        self.q = nn.Linear(hidden, dim)
        self.k = nn.Linear(hidden, dim)
        self.max_distance = max_distance
        self.distance_bias = nn.Embedding(2 * max_distance + 2, 1)  # the last bucket is token 0, "no span"
        self.scale = 1.0 / math.sqrt(dim)

    def forward(self, qrep: torch.Tensor, hidden: torch.Tensor, q_batch: torch.Tensor,
                q_start: torch.Tensor) -> torch.Tensor:
        # qrep [Q,H], hidden [B,T,H]; keys are computed once per window, then gathered: scores [Q,T]
        keys = self.k(hidden)[q_batch]
        scores = torch.einsum("qd,qtd->qt", self.q(qrep), keys) * self.scale
        t = torch.arange(hidden.shape[1], device=hidden.device).unsqueeze(0)
        rel = (t - q_start.unsqueeze(1)).clamp(-self.max_distance, self.max_distance) + self.max_distance
        rel[:, 0] = 2 * self.max_distance + 1
        return scores + self.distance_bias(rel).squeeze(-1)


class RecordModel(nn.Module):
    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.config = config
        enc = EncoderConfig.from_dict(config.encoder)
        self.encoder = BertEncoder(enc)
        h = enc.hidden_size
        self.quantity = nn.Sequential(nn.Linear(3 * h, h), nn.Tanh(), nn.Dropout(0.1))
        self.role = nn.Linear(h, len(config.role_labels))
        self.direction = nn.Linear(h, len(config.direction_labels))
        self.pointers = nn.ModuleDict({f"{f}_{side}": _Pointer(h, config.pointer_dim, config.max_distance)
                                       for f in config.span_fields for side in ("start", "end")})

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor, q_batch: torch.Tensor,
                q_start: torch.Tensor, q_end: torch.Tensor) -> dict[str, torch.Tensor]:
        hidden = self.encoder(input_ids, attention_mask)
        return self.heads(hidden, attention_mask, q_batch, q_start, q_end)

    def heads(self, hidden: torch.Tensor, attention_mask: torch.Tensor, q_batch: torch.Tensor,
              q_start: torch.Tensor, q_end: torch.Tensor) -> dict[str, torch.Tensor]:
        b, t, h = hidden.shape
        pos = torch.arange(t, device=hidden.device).unsqueeze(0)
        inside = ((pos >= q_start.unsqueeze(1)) & (pos <= q_end.unsqueeze(1))).to(hidden.dtype)  # [Q,T]
        # Mean over each quantity's tokens as one matmul against the flattened batch.
        spread = torch.zeros(len(q_start), b * t, dtype=hidden.dtype, device=hidden.device)
        spread.view(len(q_start), b, t)[torch.arange(len(q_start)), q_batch] = inside / inside.sum(1, keepdim=True)
        flat = hidden.reshape(b * t, h)
        mean = spread @ flat
        first = flat[q_batch * t + q_start]
        qrep = self.quantity(torch.cat([first, mean, hidden[q_batch, 0]], dim=-1))
        out = {"role": self.role(qrep), "direction": self.direction(qrep)}
        # A span never covers padding or the figure itself.
        blocked = (attention_mask[q_batch] == 0) | inside.bool()
        for name, pointer in self.pointers.items():
            out[name] = pointer(qrep, hidden, q_batch, q_start).masked_fill(blocked, -1e4)
        return out


def featurize(tokenizer: Any, text: str, quantities: Sequence[Quantity], config: ModelConfig,
              windows: list[Window] | None = None) -> list[WindowFeatures]:
    """Tokenize each window; map every quantity to the tokens that cover it."""
    windows = windows if windows is not None else make_windows(
        text, list(quantities), config.window_left, config.window_chars, config.window_right)
    feats = []
    encodings = tokenizer.encode_batch([text[w.start:w.end] for w in windows])
    for w, enc in zip(windows, encodings):
        offsets = [(w.start + s, w.start + e) if e > s else (0, 0) for s, e in enc.offsets]
        qs = []
        for qi in w.quantities:
            q = quantities[qi]
            toks = [i for i, (s, e) in enumerate(offsets) if e > s and s < q.end and e > q.start]
            if toks:
                qs.append((qi, toks[0], toks[-1]))
        feats.append(WindowFeatures(w, list(enc.ids), offsets, qs))
    return feats


def collate(feats: Sequence[WindowFeatures], pad_id: int) -> dict[str, torch.Tensor]:
    width = max(len(f.ids) for f in feats)
    ids = torch.full((len(feats), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(feats), width), dtype=torch.long)
    qb, qs, qe = [], [], []
    for b, f in enumerate(feats):
        ids[b, :len(f.ids)] = torch.tensor(f.ids)
        mask[b, :len(f.ids)] = 1
        for _, s, e in f.quantities:
            qb.append(b)
            qs.append(s)
            qe.append(e)
    return {"input_ids": ids, "attention_mask": mask, "q_batch": torch.tensor(qb, dtype=torch.long),
            "q_start": torch.tensor(qs, dtype=torch.long), "q_end": torch.tensor(qe, dtype=torch.long)}


@dataclass
class QuantityPrediction:
    """What the model says about one candidate quantity, with the probability of each part."""

    index: int
    role: str
    role_p: float
    direction: str | None
    direction_p: float
    spans: dict[str, tuple[int, int] | None]  # character offsets in the document
    span_p: dict[str, float]

    def features(self) -> list[float]:
        """Inputs of the calibrator. The model is sure of most parts, so log(1 - p) (how far
        from certain) separates right from wrong records better than log p; the role and
        whether a span was found shift the odds on their own."""
        eps = 1e-4
        doubt = [math.log(1.0 - min(p, 1.0 - eps) + eps) for p in
                 (self.role_p, self.direction_p, self.span_p["metric"], self.span_p["action"])]
        found = [float(self.spans.get("metric") is not None), float(self.spans.get("action") is not None)]
        role = [float(self.role == r) for r in ROLES]
        return doubt + found + role


def best_spans(start_lp: torch.Tensor, end_lp: torch.Tensor, max_len: int) -> list[tuple[int, int, float]]:
    """Per row: (0, 0) when "no span" is the likelier start, else the best (start, end) with
    start <= end < start + max_len; with the log-probability of the decision taken."""
    q, t = start_lp.shape
    ends = nn.functional.pad(end_lp, (0, max_len), value=-1e9).unfold(1, max_len, 1)[:, :t, :]  # [Q,T,L]
    score = start_lp.unsqueeze(-1) + ends
    score[:, 0, :] = -1e9  # token 0 only means "no span"
    flat = score.reshape(q, -1)
    best = flat.argmax(dim=1)
    p_null = start_lp[:, 0].exp()
    out = []
    for row in range(q):
        pn = float(p_null[row])
        if pn >= NULL_THRESHOLD:
            out.append((0, 0, math.log(max(pn, 1e-9))))
        else:
            s, length = divmod(int(best[row]), max_len)
            out.append((s, s + length, float(flat[row, best[row]])))
    return out


def decode(feats: Sequence[WindowFeatures], outputs: dict[str, torch.Tensor], config: ModelConfig,
           text: str) -> list[QuantityPrediction]:
    role_p = outputs["role"].softmax(-1)
    dir_p = outputs["direction"].softmax(-1)
    spans_of = {fld: best_spans(outputs[f"{fld}_start"].log_softmax(-1), outputs[f"{fld}_end"].log_softmax(-1),
                                config.max_span_tokens) for fld in config.span_fields}
    preds = []
    row = 0
    for f in feats:
        for qi, _, _ in f.quantities:
            r = int(role_p[row].argmax())
            role = config.role_labels[r]
            if role in ("change", "change_rate"):
                d = int(dir_p[row, 1:].argmax()) + 1  # a change always has a direction
                d_p = float(dir_p[row, d] / dir_p[row, 1:].sum())
            else:
                d, d_p = 0, float(dir_p[row, 0])
            spans: dict[str, tuple[int, int] | None] = {}
            span_p: dict[str, float] = {}
            for fld in config.span_fields:
                s, e, lp = spans_of[fld][row]
                span_p[fld] = math.exp(lp)
                spans[fld] = _trim(text, f.offsets[s][0], f.offsets[e][1]) if s else None
            preds.append(QuantityPrediction(qi, role, float(role_p[row, r]),
                                            config.direction_labels[d] if d else None, d_p, spans, span_p))
            row += 1
    return preds


def _trim(text: str, start: int, end: int) -> tuple[int, int] | None:
    while start < end and text[start] in _STRIP:
        start += 1
    while end > start and text[end - 1] in _STRIP:
        end -= 1
    return (start, end) if end > start else None


def to_record(q: Quantity, p: QuantityPrediction, text: str, confidence: float | None) -> Record:
    def span(fld: str) -> TextSpan | None:
        se = p.spans.get(fld)
        return TextSpan(se[0], se[1], text[se[0]:se[1]]) if se else None

    return Record(quantity=q, role=p.role, direction=p.direction, metric=span("metric"), action=span("action"),
                  period=span("period"), baseline=span("baseline"), confidence=confidence)


def batches(feats: list[WindowFeatures], max_tokens: int) -> Iterable[list[WindowFeatures]]:
    """Windows grouped by length so padding stays small; at most `max_tokens` padded tokens a batch."""
    order = sorted(range(len(feats)), key=lambda i: len(feats[i].ids))
    batch: list[WindowFeatures] = []
    for i in order:
        f = feats[i]
        if not f.quantities:
            continue
        if batch and len(f.ids) * (len(batch) + 1) > max_tokens:
            yield batch
            batch = []
        batch.append(f)
    if batch:
        yield batch
