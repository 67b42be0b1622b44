"""Kill the bot mid-render; the next start finishes the job and delivers it exactly once."""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Callable
from pathlib import Path

from bot.encode import read_clip
from bot.store import DB_FILE
from tests.harness.console import CLIP_READY, Child, write_config

STEPS = 100  # slow enough to be killed mid-render: ~3 s on the tiny model (the kill follows in ms)


def job_row(db: Path, job_id: int = 1) -> sqlite3.Row:
    with contextlib.closing(sqlite3.connect(db)) as conn:
        conn.row_factory = sqlite3.Row
        row = conn.execute("SELECT * FROM jobs WHERE id = ?", (job_id,)).fetchone()
    assert row is not None
    return row


def test_a_clip_killed_mid_render_is_finished_and_delivered_once_after_a_restart(
    tmp_path: Path, children: Callable[..., Child]
) -> None:
    write_config(tmp_path)
    db = tmp_path / "data" / DB_FILE

    first = children("console", "--config", "config.toml", cwd=tmp_path)
    first.send(f"/video a cat that survives a crash --seed 21 --steps {STEPS}")
    first.wait_for("Queued: place 1 in line")
    first.wait_for("Rendering", timeout=60)
    first.kill()  # SIGKILL: no clean-up, no requeue

    assert first.proc.returncode == -9
    row = job_row(db)
    assert (row["status"], row["attempts"]) == ("running", 1)
    assert not any("clip ready" in line for line in first.out)

    second = children("console", "--config", "config.toml", cwd=tmp_path)
    second.close_stdin()  # end of input: the console waits for unfinished jobs, then exits

    assert second.wait(120) == 0, second.stderr
    ready = [line for line in first.out + second.out if "clip ready" in line]
    assert len(ready) == 1, "delivered exactly once across both runs"
    assert any(f"{STEPS}/{STEPS} steps" in line for line in second.out), "the render ran from the start"
    row = job_row(db)
    assert (row["status"], row["attempts"]) == ("done", 2)
    match = CLIP_READY.search(ready[0])
    assert match is not None and Path(match.group(1)) == Path(row["clip_path"])
    frames, _, tags = read_clip(Path(row["clip_path"]))
    assert frames.shape == (8, 64, 64, 3)
    assert (tags["videobot_seed"], tags["videobot_steps"]) == ("21", str(STEPS))
    assert "Traceback" not in second.stderr
