"""Run `govmetrics serve` as a user would: a real process on a free loopback port (tests and bench)."""
from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import httpx

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class ServiceProcess:
    """A running server: its base URL, its log, and the /readyz answers seen while it loaded."""

    def __init__(self, url: str, process: subprocess.Popen, log_path: Path) -> None:
        self.url = url
        self.process = process
        self.log_path = log_path
        self.loading_answers: list[httpx.Response] = []

    def log_text(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def _wait(self, path: str, timeout: float) -> httpx.Response:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"server exited with {self.process.returncode}:\n{self.log_text()[-3000:]}")
            try:
                response = httpx.get(self.url + path, timeout=5)
                if response.status_code == 200:
                    return response
                if path == "/readyz":
                    self.loading_answers.append(response)
            except httpx.TransportError:
                pass
            time.sleep(0.05)
        raise RuntimeError(f"{path} not ready after {timeout} s:\n{self.log_text()[-3000:]}")

    @classmethod
    @contextmanager
    def running(cls, *args: str, env: dict[str, str] | None = None, ready: bool = True,
                timeout: float = 240) -> Iterator["ServiceProcess"]:
        """`govmetrics serve --port <free> ARGS`; waits for /healthz (and /readyz when `ready`)."""
        port = free_port()
        log_dir = Path(tempfile.mkdtemp(prefix="govmetrics-serve-"))
        log_path = log_dir / "server.log"
        with open(log_path, "wb") as log:
            process = subprocess.Popen(
                [sys.executable, "-m", "govmetrics.cli", "serve", "--port", str(port), *args], cwd=ROOT,
                stdout=log, stderr=subprocess.STDOUT, env={**os.environ, **(env or {})})
        server = cls(f"http://127.0.0.1:{port}", process, log_path)
        try:
            server._wait("/healthz", timeout)
            if ready:
                server._wait("/readyz", timeout)
            yield server
        finally:
            process.terminate()
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
