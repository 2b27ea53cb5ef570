"""Windows of text around candidate quantities, so long documents fit the encoder.

Every quantity belongs to exactly one window that holds it whole, with up to
`left` characters of context before it (elided metrics point back to an
earlier clause) and at least `right` after it (`5起现行命案`: the noun may
follow the number). No figure is lost or cut at a window edge.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field

from govmetrics.grammar.quantities import Quantity

_SENTENCE_END = re.compile(r"[。！？!?；;\n]")


@dataclass
class Window:
    start: int
    end: int
    quantities: list[int] = field(default_factory=list)  # indexes into the document's quantity list


def make_windows(text: str, quantities: list[Quantity], left: int = 120, max_chars: int = 320,
                 right: int = 40) -> list[Window]:
    """Greedy left-to-right packing of quantities (sorted by start) into windows."""
    windows: list[Window] = []
    order = sorted(range(len(quantities)), key=lambda k: quantities[k].start)
    i = 0
    while i < len(order):
        first = quantities[order[i]]
        a = max(0, first.start - left)
        limit = max(a + max_chars, first.end + right)
        members = [order[i]]
        i += 1
        while i < len(order) and quantities[order[i]].end + right <= limit:
            members.append(order[i])
            i += 1
        last_end = max(quantities[k].end for k in members)
        # Close the window at the end of the last figure's sentence, keeping `right` characters at least.
        m = _SENTENCE_END.search(text, last_end, limit)
        b = min(len(text), max(m.end() if m else limit, last_end + right))
        windows.append(Window(a, b, members))
    return windows
