"""`bench/enhance.py --quick` runs and writes its table (tests/test_bench.py's runner), so it never rots."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.test_bench import run_quick


def test_the_enhance_benchmark_runs_quick_and_writes_its_table(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    result = run_quick("enhance", tmp_path, capsys)

    assert result["bench"] == "enhance" and result["quick"] is True
    (table,) = result["tables"]
    writers = {row[0] for row in table["rows"]}
    assert {"tiny-qwen3 (random)", "tiny-qwen3 (scripted)"} <= writers
    scripted = next(row for row in table["rows"] if row[0] == "tiny-qwen3 (scripted)")
    assert scripted[-1] == "2/2"  # the scripted writer's rewrites were used
