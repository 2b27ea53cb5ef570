"""Packaging around the code: the optional Ray extra, the Dockerfile and its build context.

No Docker engine runs here, so the Dockerfile is checked by reading it (and by hadolint through
`make lint-docker`); the image itself has not been built.
"""
from __future__ import annotations

import json
import subprocess
import sys
import tomllib
from pathlib import Path

from conftest import ROOT, SEED


def _instructions(dockerfile: Path) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) of a Dockerfile, continuation lines joined, comments dropped."""
    out: list[tuple[str, str]] = []
    pending = ""
    for raw in dockerfile.read_text().splitlines():
        line = raw.strip()
        if not pending and (not line or line.startswith("#")):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        line = pending + line
        pending = ""
        keyword, _, args = line.partition(" ")
        out.append((keyword.upper(), args.strip()))
    return out


def test_ray_is_an_extra_not_a_dependency():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert not [d for d in project["dependencies"] if d.startswith("ray")]
    assert "ray[data]==2.60.0" in project["optional-dependencies"]["ray"]
    # The tests (and so CI's `make test`) still get Ray.
    assert "govmetrics[ray]" in project["optional-dependencies"]["test"]


def test_engine_ray_without_ray_is_one_line_naming_the_extra(tmp_path: Path):
    # `None` in sys.modules makes `import ray` fail exactly as if Ray were not installed.
    script = ("import sys; sys.modules['ray'] = None; from govmetrics.cli import main; "
              "raise SystemExit(main(sys.argv[1:]))")
    p = subprocess.run([sys.executable, "-c", script, "annotate", str(SEED), "--out", str(tmp_path / "r.db"),
                        "--engine", "ray", "--workers", "1"], cwd=tmp_path, capture_output=True, text=True,
                       timeout=120)
    assert p.returncode == 2, (p.stdout, p.stderr)
    lines = p.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in p.stderr, p.stderr
    assert "--engine ray needs Ray" in lines[0] and "pip install 'govmetrics[ray]'" in lines[0]


def test_dockerfile_runs_the_service_as_pid_1_without_root_on_cpu_torch():
    steps = _instructions(ROOT / "Dockerfile")
    final = steps[max(i for i, (k, _) in enumerate(steps) if k == "FROM"):]
    users = [a for k, a in final if k == "USER"]
    assert users and users[-1].split(":")[0] not in ("root", "0")
    # Exec form (a JSON list): `govmetrics serve` is PID 1 and gets SIGTERM, not make or a shell.
    cmd = [a for k, a in final if k == "CMD"]
    assert len(cmd) == 1
    argv = json.loads(cmd[0])
    assert Path(argv[0]).name == "govmetrics" and argv[1:] == ["serve"]
    assert not [a for k, a in final if k == "ENTRYPOINT" and not a.startswith("[")]
    health = [a for k, a in final if k == "HEALTHCHECK"]
    assert len(health) == 1 and "/readyz" in health[0]
    # USER comes after every RUN that needs root, before CMD.
    kinds = [k for k, _ in final]
    assert kinds.index("USER") > max(i for i, k in enumerate(kinds) if k == "RUN")
    setup = [a for k, a in steps if k == "RUN" and "make setup" in a]
    assert len(setup) == 1 and "TORCH_INDEX=https://download.pytorch.org/whl/cpu" in setup[0]


def test_dockerignore_keeps_the_context_small_but_complete():
    patterns = {line.strip().rstrip("/") for line in (ROOT / ".dockerignore").read_text().splitlines()
                if line.strip() and not line.startswith("#")}
    assert {".git", ".venv", ".cache", "models/base", "models/pkuseg"} <= patterns
    # What `make setup` and the service need must reach the image.
    needed = ["Makefile", "pyproject.toml", "README.md", "service", "service/govmetrics", "training",
              "models", "models/govmetrics-zh-v1", "models/govmetrics-zh-v1/weights.int8.safetensors"]
    for path in needed:
        parts = Path(path).parts
        prefixes = {"/".join(parts[:i]) for i in range(1, len(parts) + 1)}
        assert not prefixes & patterns, path
        assert (ROOT / path).exists(), path


def test_audit_summary_fails_unless_every_dependency_was_audited():
    sys.path.insert(0, str(ROOT / "tools"))
    try:
        from audit_deps import summarize
    finally:
        sys.path.remove(str(ROOT / "tools"))
    clean = {"name": "idna", "version": "3.10", "vulns": []}
    skipped = {"name": "torch", "skip_reason": "Dependency not found on PyPI and could not be audited: torch (2.13.0)"}
    editable = {"name": "govmetrics", "skip_reason": "distribution marked as editable"}
    bad = {"name": "jinja2", "version": "3.1.0",
           "vulns": [{"id": "GHSA-xxxx", "fix_versions": ["3.1.6"], "aliases": [], "description": ""}]}
    # pip-audit says "No known vulnerabilities found" for this one; it audited nothing.
    status, lines = summarize({"dependencies": [skipped, editable], "fixes": []})
    assert status == 2 and lines[0].startswith("pip-audit: 0 of 1 dependencies audited")
    assert summarize({"dependencies": [clean, editable], "fixes": []})[0] == 0
    status, lines = summarize({"dependencies": [clean, skipped, bad], "fixes": []})
    assert status == 1 and any("VULNERABLE jinja2 3.1.0: GHSA-xxxx (fixed in 3.1.6)" in line for line in lines)
    assert summarize({"dependencies": [], "fixes": []})[0] == 2


def _healthcheck_argv() -> list[str]:
    health = [a for k, a in _instructions(ROOT / "Dockerfile") if k == "HEALTHCHECK"][0]
    return json.loads(health[health.index("CMD") + len("CMD"):].strip())


def test_dockerfile_healthcheck_command_passes_on_a_ready_service_and_fails_without_one(api_server):
    argv = _healthcheck_argv()
    assert argv[0] == "python3"
    port = api_server.url.rsplit(":", 1)[1]
    command = [sys.executable, *argv[1:]]
    ok = subprocess.run(command, env={"GOVMETRICS_PORT": port}, capture_output=True, text=True, timeout=30)
    assert ok.returncode == 0, ok.stderr
    from service_server import free_port

    down = subprocess.run(command, env={"GOVMETRICS_PORT": str(free_port())}, capture_output=True, timeout=30)
    assert down.returncode != 0
