"""The adapter → core boundary is typed: `answers_errors` keeps each method's signature, so
mypy refuses a wrongly typed call into the core (tests/typing/wrong_calls.py)."""

from __future__ import annotations

import re
import sys
from pathlib import Path

from tests.harness.console import ChildProcesses

REPO = Path(__file__).resolve().parent.parent
SNIPPET = REPO / "tests" / "typing" / "wrong_calls.py"


def test_mypy_refuses_wrongly_typed_calls_into_the_core_and_accepts_the_right_one(
    child_processes: ChildProcesses,
) -> None:
    out = child_processes.run(
        [sys.executable, "-m", "mypy", "--no-error-summary", "--hide-error-context", str(SNIPPET)],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=600,
    )
    lines = SNIPPET.read_text(encoding="utf-8").splitlines()
    flagged = {int(n) for n in re.findall(rf"{re.escape(SNIPPET.name)}:(\d+): error", out.stdout)}
    wrong = {n for n, line in enumerate(lines, 1) if "# wrong" in line}
    right = {n for n, line in enumerate(lines, 1) if "# right" in line}
    assert wrong and right
    assert wrong <= flagged, out.stdout
    assert not right & flagged, out.stdout
    assert 'Argument 1 to "cancel" of "VideoService" has incompatible type "str"' in out.stdout
