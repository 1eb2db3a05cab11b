"""Imports run one way: console → screens → services → auth → logs → core, and the
narrower contracts beside it hold (docs/architecture.md §1).

import-linter reads the contracts from pyproject.toml; a lower layer importing a higher
one, a screen importing SQLAlchemy, a service importing Textual, the register importing
another service package or one workspace package importing another makes this test
fail. The planted imports below prove each contract can fail.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

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


@pytest.fixture(scope="module")
def tree(tmp_path_factory: pytest.TempPathFactory) -> Path:
    copy = tmp_path_factory.mktemp("layers") / "tree"
    shutil.copytree(
        ROOT, copy,
        ignore=shutil.ignore_patterns(".venv", ".git", "var", "__pycache__", "*.egg-info",
                                      ".pytest_cache", ".hypothesis", ".ruff_cache",
                                      ".mypy_cache", "tests", "bench"),
    )
    return copy


# (where the import is planted, what it imports, the contract that must break)
PLANTED = [
    ("logs/bad_import.py", "import screens", "Layers run one way"),
    ("screens/bad_import.py", "import sqlalchemy", "screens do not import sqlalchemy"),
    ("services/bad_import.py", "import textual", "Services do not import textual"),
    ("services/register/bad_import.py", "import services.linkage.models",
     "services.register imports no other service package"),
    ("services/lookup/bad_import.py", "import services.personnel.models",
     "Service workspaces are independent"),
]


@pytest.mark.parametrize(("where", "line", "contract"), PLANTED,
                         ids=[p[0].rsplit("/", 1)[0] for p in PLANTED])
def test_a_planted_import_breaks_its_contract(
    tree: Path, where: str, line: str, contract: str,
) -> None:
    planted = tree / where
    planted.write_text(f"{line}  # noqa\n", encoding="utf-8")
    try:
        result = _lint(tree)
    finally:
        planted.unlink()
    assert result.returncode != 0
    broken = [ln for ln in result.stdout.splitlines() if "BROKEN" in ln]
    assert any(contract in ln for ln in broken), result.stdout
    module = where.removesuffix(".py").replace("/", ".")
    assert module in result.stdout
