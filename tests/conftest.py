from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared"
SEED = SHARED / "corpus" / "seed" / "000_0b63caf340faed07.txt"


@pytest.fixture(scope="session")
def extractor():
    from govmetrics.extract import Extractor

    return Extractor()


@pytest.fixture(scope="session")
def seed_text() -> str:
    return SEED.read_bytes().decode("utf-8")


@pytest.fixture(scope="session")
def api_server():
    """`govmetrics serve` with default settings, shared by the API and browser tests."""
    from service_server import ServiceProcess

    with ServiceProcess.running() as server:
        yield server
