"""The import rules of docs/architecture.md, checked with import-linter (contracts in pyproject.toml)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LINT = Path(sys.executable).parent / "lint-imports"


def _lint(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(LINT), *args], cwd=ROOT, capture_output=True, text=True, timeout=300)


def test_import_rules_are_kept():
    proc = _lint()
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    assert "2 kept, 0 broken" in proc.stdout


def test_a_broken_rule_is_reported(tmp_path: Path):
    # the same checker with one layer order reversed (errors above io, which imports it) must fail
    cfg = tmp_path / "inverted.toml"
    cfg.write_text('[tool.importlinter]\nroot_packages = ["driftcaps"]\n\n'
                   '[[tool.importlinter.contracts]]\nname = "inverted"\ntype = "layers"\n'
                   'layers = ["driftcaps.errors", "driftcaps.io"]\n')
    proc = _lint("--config", str(cfg))
    assert proc.returncode == 1
    assert "driftcaps.io -> driftcaps.errors" in proc.stdout


def test_no_stage_reads_its_settings_from_the_environment():
    # the judge reaches the lm-eval task stage as task metadata, never as an environment variable
    sources = [p for p in (ROOT / "driftcaps").rglob("*.py")] + [ROOT / "tasks" / "driftcaps" / "utils.py"]
    offenders = [str(p.relative_to(ROOT)) for p in sources if "DRIFTCAPS_REFUSAL_JUDGE" in p.read_text()]
    assert offenders == []
