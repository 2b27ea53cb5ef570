"""Which model folder is the default: `models/registry.json`, changed only by promote and rollback.

One small JSON file, written atomically (a temporary file renamed over it), so a
reader (the CLI, the service on reload) sees the old or the new default, never half
of one. Without the file the shipped model is the default.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from govmetrics.errors import GovMetricsError
from govmetrics.settings import DEFAULT_MODEL_NAME

REGISTRY_FILE = "registry.json"
SHIPPED_MODEL = DEFAULT_MODEL_NAME


@dataclass
class Registry:
    """The default model (a folder name under `models_dir`, or a path) and the defaults before it."""

    models_dir: Path
    default: str = SHIPPED_MODEL
    previous: list[str] = field(default_factory=list)
    history: list[dict[str, Any]] = field(default_factory=list)

    @property
    def path(self) -> Path:
        return self.models_dir / REGISTRY_FILE

    @classmethod
    def load(cls, models_dir: Path) -> "Registry":
        path = models_dir / REGISTRY_FILE
        if not path.is_file():
            return cls(models_dir)
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            return cls(models_dir, str(data["default"]), [str(p) for p in data.get("previous", [])],
                       list(data.get("history", [])))
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise GovMetricsError.make("E037", path=path, cause=f"unreadable ({exc}); fix or delete it") from None

    def resolve(self, name: str) -> Path:
        path = Path(name)
        return path if path.is_absolute() else self.models_dir / path

    def default_dir(self) -> Path:
        return self.resolve(self.default)

    def name_of(self, model_dir: Path) -> str:
        """Folders under models_dir are recorded by name, so the registry reads the same on every clone."""
        model_dir = model_dir.resolve()
        try:
            return str(model_dir.relative_to(self.models_dir.resolve()))
        except ValueError:
            return str(model_dir)

    def promote(self, model_dir: Path, scores: dict[str, Any], forced: bool = False) -> None:
        name = self.name_of(model_dir)
        self.previous.append(self.default)
        self.history.append({"at": _now(), "action": "promote", "default": name, "replaced": self.default,
                             "forced": forced, "scores": scores})
        self.default = name
        self.save()

    def rollback(self) -> str:
        if not self.previous:
            raise GovMetricsError.make("E037", path=self.path, cause="no earlier default to roll back to")
        replaced, self.default = self.default, self.previous.pop()
        self.history.append({"at": _now(), "action": "rollback", "default": self.default, "replaced": replaced})
        self.save()
        return self.default

    def save(self) -> None:
        data = {"default": self.default, "previous": self.previous, "history": self.history}
        tmp = self.path.with_name(f".{REGISTRY_FILE}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps(data, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
        os.replace(tmp, self.path)


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")
