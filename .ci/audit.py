"""Audit every pinned dependency (constraints.txt) for known vulnerabilities with pip-audit.

    python .ci/audit.py PIP_AUDIT CONSTRAINTS [--strict]

Exits 1 when pip-audit reports a vulnerability, and prints each with its fix version. When
the vulnerability service cannot be reached (a store network, a sealed CI machine), nothing
could be checked: that is printed as BLOCKED with the count, and exits 0 unless ``--strict``
(set AUDIT_STRICT=1 through make), so an offline CI run says so instead of pretending.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path


def pinned(constraints: Path) -> list[str]:
    """Return the ``name==version`` lines of a constraints file."""
    lines = (line.split("#")[0].strip() for line in constraints.read_text("utf-8").splitlines())
    return [line for line in lines if "==" in line]


def main(argv: list[str]) -> int:
    tool, constraints, strict = argv[0], Path(argv[1]), "--strict" in argv[2:]
    requirements = pinned(constraints)
    with tempfile.NamedTemporaryFile("w", suffix=".txt") as req:
        req.write("\n".join(requirements) + "\n")
        req.flush()
        run = subprocess.run(  # noqa: S603 - our own pip-audit, argv list, no shell
            [tool, "-r", req.name, "--no-deps", "--disable-pip", "--vulnerability-service",
             "pypi", "--format", "json", "--progress-spinner", "off"],
            capture_output=True, text=True, check=False, timeout=900)
    try:
        report = json.loads(run.stdout)
    except json.JSONDecodeError:
        print(f"dependency audit: FAILED to run pip-audit (exit {run.returncode}):")
        print(run.stderr.strip()[-2000:])
        return 1
    deps = report.get("dependencies", [])
    skipped = [d for d in deps if d.get("skip_reason")]
    found = [(d, v) for d in deps for v in d.get("vulns", [])]
    for dep, vuln in found:
        fixes = ", ".join(vuln.get("fix_versions", [])) or "no fixed version yet"
        print(f"  {dep['name']} {dep.get('version', '?')}: {vuln['id']} (fixed in {fixes})")
    audited = len(deps) - len(skipped)
    print(f"dependency audit: {len(requirements)} pinned, {audited} audited, "
          f"{len(found)} known vulnerabilities, {len(skipped)} not audited")
    if found:
        return 1
    if deps and not audited:
        print("dependency audit: BLOCKED - the vulnerability service could not be reached "
              f"from this machine ({skipped[0]['skip_reason']}); run `make audit` where it can")
        return 1 if strict else 0
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
