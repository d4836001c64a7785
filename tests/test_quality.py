"""The code base stays lint-clean, formatted and type-checked (ruff and mypy --strict)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import REPO

BIN = Path(sys.executable).parent
PYTHON_DIRS = [d for d in ("ankigen", "tests", "benchmarks") if (REPO / d).is_dir()]


@pytest.mark.parametrize(
    "command",
    [
        ["ruff", "check", *PYTHON_DIRS],
        ["ruff", "format", "--check", *PYTHON_DIRS],
        ["mypy"],
    ],
    ids=["ruff-check", "ruff-format", "mypy"],
)
def test_tool_is_clean(command: list[str]) -> None:
    executable = BIN / command[0]
    assert executable.exists(), f"{command[0]} is a test dependency: pip install -e '.[test]'"
    process = subprocess.run(
        [str(executable), *command[1:]], cwd=REPO, capture_output=True, text=True, check=False
    )
    assert process.returncode == 0, process.stdout + process.stderr
