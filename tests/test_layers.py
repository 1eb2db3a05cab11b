"""Imports run one way: console → screens → services → auth → logs → core.

import-linter reads the contract from pyproject.toml; a lower layer importing a higher
one makes this test fail. The second test proves the check can fail.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _lint(cwd: Path) -> subprocess.CompletedProcess[str]:
    exe = shutil.which("lint-imports", path=str(Path(sys.executable).parent))
    assert exe, "import-linter is not installed"
    return subprocess.run(
        [exe, "--no-cache"], cwd=cwd, capture_output=True, text=True, timeout=120,
        env={"PYTHONPATH": str(cwd), "PATH": str(Path(sys.executable).parent)},
    )


def test_layers_hold() -> None:
    result = _lint(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr


def test_a_lower_layer_importing_a_higher_one_is_caught(tmp_path: Path) -> None:
    copy = tmp_path / "tree"
    shutil.copytree(
        ROOT, copy,
        ignore=shutil.ignore_patterns(".venv", ".git", "var", "__pycache__", "*.egg-info",
                                      ".pytest_cache", ".hypothesis", ".ruff_cache"),
    )
    (copy / "logs" / "bad_import.py").write_text("import screens  # noqa\n", encoding="utf-8")
    result = _lint(copy)
    assert result.returncode != 0
    assert "logs.bad_import" in result.stdout
