"""Read pip-audit's JSON report and say plainly how much of it was audited.

pip-audit prints "No known vulnerabilities found" and exits 0 even when it could audit none of
the dependencies (each one "skipped"), which reads as a clean bill of health. This script
counts the skipped ones and fails unless every dependency was audited:

    python tools/audit_deps.py .cache/pip-audit.json

Exit status: 0 every dependency audited, none with a known vulnerability; 1 known
vulnerabilities (listed); 2 some or all dependencies not audited, or no report.
Standard library only (it runs with any Python 3.11).
"""
from __future__ import annotations

import json
import sys
from pathlib import Path


def summarize(report: dict) -> tuple[int, list[str]]:
    """(exit status, lines to print) for one pip-audit JSON report."""
    # The project itself, installed editable (--skip-editable), is not one of its dependencies.
    deps = [d for d in report.get("dependencies", []) if "editable" not in d.get("skip_reason", "")]
    skipped = [d for d in deps if "skip_reason" in d]
    vulnerable = [d for d in deps if d.get("vulns")]
    audited = len(deps) - len(skipped)
    lines = [f"pip-audit: {audited} of {len(deps)} dependencies audited, "
             f"{len(vulnerable)} with known vulnerabilities, {len(skipped)} not audited"]
    for d in vulnerable:
        for v in d["vulns"]:
            fixed = ", ".join(v.get("fix_versions") or []) or "no fixed version"
            lines.append(f"  VULNERABLE {d['name']} {d.get('version', '?')}: {v.get('id')} (fixed in {fixed})")
    reasons: dict[str, list[str]] = {}
    for d in skipped:
        # "Dependency not found on PyPI and could not be audited: torch (2.13.0)" -> group by the cause.
        reasons.setdefault(d["skip_reason"].split(":")[0], []).append(d["name"])
    for reason, names in reasons.items():
        shown = ", ".join(sorted(names)[:12]) + (", ..." if len(names) > 12 else "")
        lines.append(f"  NOT AUDITED ({len(names)}): {reason}: {shown}")
    if vulnerable:
        return 1, lines
    if skipped or not deps:
        lines.append("  the audit is incomplete: nothing is known about the dependencies above (README.md, "
                     "\"Dependency audit\")")
        return 2, lines
    return 0, lines


def main(argv: list[str]) -> int:
    path = Path(argv[0]) if argv else Path(".cache/pip-audit.json")
    try:
        report = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        print(f"{path}: no pip-audit report ({exc}); pip-audit failed before it wrote one", file=sys.stderr)
        return 2
    status, lines = summarize(report)
    print("\n".join(lines), file=sys.stderr if status else sys.stdout)
    return status


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
