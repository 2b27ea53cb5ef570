"""Set-up helper for the pkuseg `default` model: write `features.msgpack` beside `features.pkl`.

spacy-pkuseg prefers msgpack features and otherwise prints a warning on every
load before falling back to the pickle; converting once at set-up removes the
warning from every command's output.

    python -m govmetrics.rules.segmenter_model models/pkuseg/default
"""
from __future__ import annotations

import pickle
import sys
from pathlib import Path

import srsly


def convert(model_dir: Path) -> Path:
    target = model_dir / "features.msgpack"
    if target.exists():
        return target
    with (model_dir / "features.pkl").open("rb") as f:
        data = pickle.load(f)  # the file ships in the PyPI sdist of pkuseg 0.0.25
    srsly.write_msgpack(target, {
        "unigram": sorted(data["unigram"]),
        "bigram": sorted(data["bigram"]),
        "feature_to_idx": data["feature_to_idx"],
        "tag_to_idx": data["tag_to_idx"],
    })
    return target


if __name__ == "__main__":
    print(convert(Path(sys.argv[1] if len(sys.argv) > 1 else "models/pkuseg/default")))
