"""Every benchmark's `--quick` run works, so none rots: each prints its tables and writes its
JSON through `bench/harness.py`.  The figures of a smoke run mean nothing and are not checked,
except SQLite's VM steps per ack, which do not depend on the machine."""

from __future__ import annotations

import json
import os
import runpy
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.harness.lanes import starts
from tests.harness.saq import redis_missing

BENCH = Path(__file__).resolve().parent.parent / "bench"
# bench/render.py has its own test (tests/test_bench_render.py) and output for now.
SCRIPTS = ["ack", "models", "overhead", "pictures", "queries", "scaleout", "signing", "web"]


# These start processes of their own (the bot, SAQ workers), so they run as a command; the rest
# run in this process, sharing its imports (torch, diffusers): seconds instead of tens.
OWN_PROCESS = {"ack", "scaleout"}


def run_quick(script: str, out: Path, capsys: pytest.CaptureFixture[str] | None = None) -> dict[str, Any]:
    argv = [str(BENCH / f"{script}.py"), "--quick", "--out", str(out)]
    if script in OWN_PROCESS or capsys is None:
        env = {**os.environ, "HF_HUB_OFFLINE": "1", "PTB_TIMEDELTA": "true"}
        done = subprocess.run(
            [sys.executable, *argv], capture_output=True, text=True, timeout=600, env=env, cwd=out
        )
        assert done.returncode == 0, done.stderr[-3000:]
        printed = done.stdout
    else:
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(sys, "argv", argv)
            patch.syspath_prepend(str(BENCH))
            try:
                runpy.run_path(argv[0], run_name="__main__")
            except SystemExit as ended:
                assert not ended.code, ended.code
        printed = capsys.readouterr().out
    result: dict[str, Any] = json.loads((out / f"{script}.json").read_text())
    for table in result["tables"]:
        assert table["title"] in printed  # the table was printed too
    return result


Quick = Callable[[str], dict[str, Any]]


_RESULTS: dict[str, dict[str, Any]] = {}


@pytest.fixture
@starts("bench", "render")  # most run in this process, on the tiny models
def quick(tmp_path_factory: pytest.TempPathFactory, capsys: pytest.CaptureFixture[str]) -> Quick:
    """`quick("ack")`: that script's --quick results, run once for this module's tests."""

    def get(script: str) -> dict[str, Any]:
        if script not in _RESULTS:
            _RESULTS[script] = run_quick(script, tmp_path_factory.mktemp(script), capsys)
        return _RESULTS[script]

    return get


@pytest.mark.parametrize("script", SCRIPTS)
def test_each_benchmark_runs_quick_and_writes_its_tables(script: str, quick: Quick) -> None:
    if script == "scaleout" and (why := redis_missing()):
        pytest.skip(why)
    result = quick(script)
    assert result["bench"] == script and result["quick"] is True
    assert result["tables"] and all(table["rows"] for table in result["tables"])
    for table in result["tables"]:
        assert all(len(row) == len(table["columns"]) for row in table["rows"]), table


def test_the_quick_ack_run_answers_everyone(quick: Quick) -> None:
    acks = quick("ack")["tables"][0]
    answered = acks["columns"].index("answered")
    assert all(row[answered].split("/")[0] == row[answered].split("/")[1] for row in acks["rows"]), acks


def test_an_acks_store_work_does_not_grow_with_the_queue(quick: Quick) -> None:
    """bench/queries.py --quick: 100 and 1,000 waiting, the same SQLite VM steps per ack."""
    table = quick("queries")["tables"][0]
    steps = table["columns"].index("VM steps (median)")
    small, large = (row[steps] for row in table["rows"])
    assert large <= small * 1.2 + 100, table["rows"]
