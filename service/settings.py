"""Settings from the environment, with defaults that work after `make setup`."""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DATA_DIR = Path(__file__).resolve().parent / "data"


def _env_path(name: str, default: Path) -> Path:
    value = os.environ.get(name)
    return Path(value) if value else default


@dataclass(frozen=True)
class Settings:
    pkuseg_model: Path = field(default_factory=lambda: _env_path(
        "GOVMETRICS_PKUSEG_MODEL", PROJECT_ROOT / "models" / "pkuseg" / "default"))
    user_dict: Path = field(default_factory=lambda: _env_path(
        "GOVMETRICS_USER_DICT", DATA_DIR / "gov_userdict.txt"))
    model: str = field(default_factory=lambda: os.environ.get(
        "GOVMETRICS_MODEL", str(PROJECT_ROOT / "models" / "govmetrics-zh-v1")))
    min_confidence: float = field(default_factory=lambda: float(os.environ.get("GOVMETRICS_MIN_CONFIDENCE", 0)))
    max_bytes: int = field(default_factory=lambda: int(os.environ.get("GOVMETRICS_MAX_BYTES", 20 * 1024 * 1024)))
    max_chars: int = field(default_factory=lambda: int(os.environ.get("GOVMETRICS_MAX_CHARS", 5_000_000)))


def get_settings() -> Settings:
    return Settings()
