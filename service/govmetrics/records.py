"""The record: the output contract of ../shared/spec/RECORDS.md as a dataclass."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from govmetrics.grammar.quantities import Quantity


@dataclass(frozen=True)
class TextSpan:
    """A span of the caller's text: `text == input[start:end]`."""

    start: int
    end: int
    text: str

    def to_json(self) -> dict[str, Any]:
        return {"text": self.text, "start": self.start, "end": self.end}


@dataclass
class Record:
    quantity: Quantity
    role: str = "value"
    direction: str | None = None
    metric: TextSpan | None = None
    action: TextSpan | None = None
    period: TextSpan | None = None
    baseline: TextSpan | None = None
    confidence: float | None = None

    def to_json(self) -> dict[str, Any]:
        q = self.quantity
        return {
            "kind": q.kind,
            "text": q.text,
            "start": q.start,
            "end": q.end,
            "value": q.value,
            "unit": q.unit,
            "normalized": q.normalized(),
            "approx": q.approx,
            "upper": q.upper,
            "role": self.role,
            "direction": self.direction,
            "metric": self.metric.to_json() if self.metric else None,
            "action": self.action.to_json() if self.action else None,
            "period": self.period.to_json() if self.period else None,
            "baseline": self.baseline.to_json() if self.baseline else None,
            "confidence": self.confidence,
        }
