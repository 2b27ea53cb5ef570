"""Settings from the environment, with defaults that work after `make setup`."""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from govmetrics.errors import GovMetricsError

PACKAGE_DIR = Path(__file__).resolve().parent
# service/govmetrics/settings.py: in a checkout the project root is three levels up.
PROJECT_ROOT = PACKAGE_DIR.parents[1]
DATA_DIR = PACKAGE_DIR / "data"
DEFAULT_MODEL_NAME = "govmetrics-zh-v1"


def _models_dir() -> Path:
    """The folder of the model registry and the shipped record model: GOVMETRICS_MODELS_DIR, else
    `govmetrics/models` in an installed wheel (pyproject.toml maps the checkout's models/ there),
    else the checkout's `models/`."""
    if os.environ.get("GOVMETRICS_MODELS_DIR"):
        return Path(os.environ["GOVMETRICS_MODELS_DIR"])
    installed = PACKAGE_DIR / "models"
    return installed if (installed / DEFAULT_MODEL_NAME).is_dir() else PROJECT_ROOT / "models"


MODELS_DIR = _models_dir()


def _env_path(name: str, default: Path) -> Path:
    value = os.environ.get(name)
    return Path(value) if value else default


@dataclass(frozen=True)
class Settings:
    pkuseg_model: Path = field(default_factory=lambda: _env_path(
        "GOVMETRICS_PKUSEG_MODEL", PROJECT_ROOT / "models" / "pkuseg" / "default"))
    user_dict: Path = field(default_factory=lambda: _env_path(
        "GOVMETRICS_USER_DICT", DATA_DIR / "gov_userdict.txt"))
    # GOVMETRICS_MODEL, else the default recorded in models/registry.json (govmetrics promote).
    model: str = field(default_factory=lambda: os.environ.get("GOVMETRICS_MODEL") or default_model())
    min_confidence: float = field(default_factory=lambda: env_float("GOVMETRICS_MIN_CONFIDENCE", 0.0))
    max_bytes: int = field(default_factory=lambda: env_int("GOVMETRICS_MAX_BYTES", 20 * 1024 * 1024))
    max_chars: int = field(default_factory=lambda: env_int("GOVMETRICS_MAX_CHARS", 5_000_000))


def default_model() -> str:
    """The registry's default model folder (the shipped model when nothing was promoted)."""
    from govmetrics.model.registry import Registry

    return str(Registry.load(MODELS_DIR).default_dir())


def get_settings() -> Settings:
    return Settings()


def env_int(name: str, default: int) -> int:
    """A whole number of 0 or more from the environment; a bad value is one line (E034), not a traceback."""
    value = os.environ.get(name)
    if not value:
        return default
    if not value.strip().isdigit():
        raise GovMetricsError.make("E034", name=name, value=value, expected="a whole number (0 or more)")
    return int(value)


def env_float(name: str, default: float) -> float:
    """A number of 0 or more from the environment (E034 otherwise)."""
    value = os.environ.get(name)
    if not value:
        return default
    try:
        number = float(value)
    except ValueError:
        number = -1.0
    if not 0 <= number < float("inf"):
        raise GovMetricsError.make("E034", name=name, value=value, expected="a number (0 or more)")
    return number


@dataclass(frozen=True)
class ServiceSettings:
    """The HTTP service's settings (`govmetrics serve`): environment first, flags override."""

    host: str = field(default_factory=lambda: os.environ.get("GOVMETRICS_HOST") or "127.0.0.1")
    port: int = field(default_factory=lambda: env_int("GOVMETRICS_PORT", 8000))
    # None: the shipped default; "rules": the rule baseline; else a model folder (Extractor(model=...)).
    model: str | None = field(default_factory=lambda: os.environ.get("GOVMETRICS_MODEL") or None)
    # Limits on what one request may hold; the text limit counts UTF-8 bytes of extracted text.
    max_text_bytes: int = field(default_factory=lambda: env_int("GOVMETRICS_MAX_TEXT_BYTES", 2 * 1024 * 1024))
    max_upload_bytes: int = field(default_factory=lambda: env_int("GOVMETRICS_MAX_UPLOAD_BYTES", 20 * 1024 * 1024))
    max_request_bytes: int = field(default_factory=lambda: env_int("GOVMETRICS_MAX_REQUEST_BYTES", 64 * 1024 * 1024))
    max_batch: int = field(default_factory=lambda: env_int("GOVMETRICS_MAX_BATCH", 16))
    # Extraction requests admitted at once (running + waiting); beyond it, 503 with Retry-After.
    queue_size: int = field(default_factory=lambda: env_int("GOVMETRICS_QUEUE_SIZE", 32))
    # Threads running extraction; CPU-bound under the GIL, so more rarely helps.
    workers: int = field(default_factory=lambda: env_int("GOVMETRICS_WORKERS", 1))
    retry_after_s: int = field(default_factory=lambda: env_int("GOVMETRICS_RETRY_AFTER", 2))
    # Seconds a client has to send its whole request body; a stalled upload is answered 408 (E070)
    # instead of holding its connection and memory for as long as it likes.
    body_timeout_s: float = field(default_factory=lambda: env_float("GOVMETRICS_BODY_TIMEOUT", 30.0))
    # Seconds one extraction request may take once admitted (waiting in the pool included); beyond it,
    # 504 (E071) and the work is cancelled at its next checkpoint. 0 turns the limit off.
    request_timeout_s: float = field(default_factory=lambda: env_float("GOVMETRICS_REQUEST_TIMEOUT", 60.0))
    log_level: str = field(default_factory=lambda: os.environ.get("GOVMETRICS_LOG_LEVEL") or "info")
    # POST /admin/reload needs it as a bearer token; unset, the admin endpoints are off (SIGHUP still reloads).
    admin_token: str | None = field(default_factory=lambda: os.environ.get("GOVMETRICS_ADMIN_TOKEN") or None)
