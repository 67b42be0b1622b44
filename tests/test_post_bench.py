"""bench/post.py --quick: every method measured, each table printed and saved (figures unchecked)."""

from __future__ import annotations

from tests.test_bench import run_quick


def test_the_post_benchmark_measures_every_method_and_the_minterpolate_bound(tmp_path, capsys):
    result = run_quick("post", tmp_path, capsys)

    speed, stillness = result["tables"]
    assert [row[0] for row in speed["rows"]] == [
        "smooth: minterpolate (mci)",
        "smooth: RIFE 4.25 IFNet",
        "hd: spandrel Compact ×4 (general-x4v3)",
    ]
    assert [row[1] for row in speed["rows"]] == [12, 12, 4], "4 frames: ×3 smoothed, 4 upscaled"
    assert any("minterpolate bound" in note for note in speed["notes"])
    assert stillness["rows"] and all(len(row) == 3 for row in stillness["rows"])
