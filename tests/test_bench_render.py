"""bench/render.py's full-size configs: built on the meta device (no memory, no weights), they
have the published parameter counts, and its arithmetic matches issue #13's figures; its dry run
(tiny models on the CPU) runs a section end to end in its own process."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path
from types import ModuleType

import pytest
import torch

from tests.harness.console import ChildProcesses
from tests.harness.lanes import starts

BENCH = Path(__file__).resolve().parent.parent / "bench" / "render.py"


@pytest.fixture(scope="module")
@starts("bench")
def bench() -> ModuleType:
    spec = importlib.util.spec_from_file_location("bench_render", BENCH)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["bench_render"] = module  # its dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def billions(module: torch.nn.Module) -> float:
    return round(sum(p.numel() for p in module.parameters()) / 1e9, 2)


def test_the_arithmetic_is_the_issues(bench: ModuleType) -> None:
    lines = bench.arithmetic()
    assert "1.411 B parameters; 4.887 TFLOP a forward" in lines[0]
    assert "9.77 TFLOP a step, 244 TFLOP for 25 steps" in lines[1] and "= 254 TFLOP a clip" in lines[1]
    assert "0.32 s a clip" in lines[2]


@pytest.mark.parametrize(
    ("family", "expected"),
    [
        ("wan", {"transformer": 1.42, "vae": 0.13, "text_encoder": 5.68}),  # Wan 2.1 "1.3B", umt5-xxl
        ("ltx", {"transformer": 1.92, "vae": 0.42, "text_encoder": 4.76}),  # LTX-Video 2B, t5-xxl
    ],
)
def test_the_full_size_dit_configs_have_their_published_sizes(
    bench: ModuleType, family: str, expected: dict[str, float]
) -> None:
    parts = bench.build_full(family, "meta", torch.bfloat16)
    assert {name: billions(module) for name, module in parts.items()} == expected


def test_the_dry_run_runs_a_section_in_its_own_process_and_writes_the_table_and_json(
    tmp_path: Path, bench_processes: ChildProcesses
) -> None:
    """A reduced `--dry-run` (the full one runs every family, ~2-3 min on 2 cores): LTX alone, one
    round, which has every kind of row (plain, memory modes, compile, both caches, a batch)."""
    results = tmp_path / "render.json"
    command = [sys.executable, str(BENCH), "--dry-run", "--families", "ltx", "--rounds", "1"]
    run = bench_processes.run(
        [*command, "--budget-s", "600", "--json", str(results)],
        capture_output=True, text=True, timeout=900, check=False, cwd=tmp_path,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr[-2000:]
    assert "ltx         plain diffusers call" in run.stdout and "results in" in run.stdout
    (section,) = json.loads(results.read_text())["sections"]
    assert section["status"] == "done" and section["freed"] is True, section
    rows = {row["label"]: row for row in section["rows"]}
    assert set(rows) == {
        "plain diffusers call", "bot: memory fast", "bot: memory balanced", "bot: fast + compile",
        "bot: cache first-block 0.1", "bot: cache pab", "bot: fast, batch 2", "bot: memory low (last)",
    }  # fmt: skip
    assert all(row["s_clip"] and row["s_clip"] > 0 for row in rows.values()), rows
    assert rows["bot: memory fast"]["delta"] == 0, "the bot's clip is the plain call's for the seed"
    assert rows["bot: fast, batch 2"]["delta"] <= 2, "a batch's clips equal their solo renders"
    assert any("recompiles" in note for note in rows["bot: fast + compile"]["notes"])


def test_the_modes_table_renders_each_declared_mode_plain_beside_the_bot(
    tmp_path: Path, bench_processes: ChildProcesses
) -> None:
    """bench/render_modes.py (the `modes` section of bench/render.py), reduced to LTX and LTX-2: every
    mode they declare renders both ways, each component keeps its dtype and size, and a one-call
    mode's clip is the plain call's for the seed."""
    results = tmp_path / "modes.json"
    script = BENCH.with_name("render_modes.py")
    run = bench_processes.run(
        [sys.executable, str(script), "--models", "tiny-ltx", "tiny-ltx2", "--rounds", "1", "--json", str(results)],
        capture_output=True, text=True, timeout=600, check=False, cwd=tmp_path,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr[-2000:]
    rows = {(row["model"], row["label"]): row for row in json.loads(results.read_text())["rows"]}
    assert set(rows) == {
        ("tiny-ltx", label) for label in ("text", "picture", "extend", "loop", "picture loop")
    } | {("tiny-ltx2", "sound")}
    assert all(row["kept"] and row["bot"] and row["plain"] for row in rows.values()), rows
    assert rows["tiny-ltx", "text"]["delta"] == rows["tiny-ltx", "picture"]["delta"] == 0
    assert rows["tiny-ltx", "extend"]["frames"] == 17 and rows["tiny-ltx", "loop"]["frames"] == 16
