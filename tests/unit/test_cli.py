"""The command line: fast help without heavy imports, and the documented entry points."""

from __future__ import annotations

import subprocess
import sys

PROBE = """
import sys
from sheetstream.cli import main
try:
    main(["--help"])
except SystemExit:
    pass
heavy = sorted(m for m in ("llama_cpp", "fastapi", "uvicorn", "httpx", "numpy") if m in sys.modules)
print("HEAVY", heavy)
"""


def test_help_imports_nothing_heavy() -> None:
    out = subprocess.run(
        [sys.executable, "-c", PROBE], capture_output=True, text=True, check=True
    ).stdout
    assert "serve" in out and "bench" in out
    assert "HEAVY []" in out


def test_python_dash_m_works_too() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "sheetstream", "serve", "--help"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert "--port" in result.stdout and "--host" in result.stdout
