"""What every benchmark shares: its arguments, a line about the machine, its tables printed as
Markdown and saved as JSON, and the bot's set-up for a measurement.

A script is a thin scenario (diffusers' `benchmarks/` are the model):

    args = harness.parse(parser, quick={"reps": (30, 3)})    # --quick, --out, full/quick defaults
    report = harness.Report("web", args)
    report.table("Pages, 10,000 waiting", ["route", "median ms"], [["/", 4.2]])
    report.note("target: every page under 100 ms")
    report.finish()                 # prints the tables; writes bench/results/web.json

`--quick` is a smoke run of a few seconds (the test suite runs every script that way, so none
rots); its figures mean nothing.  Without it, each script measures what its docstring says.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import platform
import shutil
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
if str(ROOT) not in sys.path:  # `python bench/x.py` from anywhere
    sys.path.insert(0, str(ROOT))

_STARTED = time.perf_counter()  # the wall time reported is the whole run's
BIG = 10_000_000  # quotas and caps nobody reaches in a benchmark


# ----------------------------------------------------------------------------- arguments


def parser(doc: str | None) -> argparse.ArgumentParser:
    """An argument parser with the shared options; the script adds its own."""
    made = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    made.add_argument(
        "--quick", action="store_true", help="a smoke run of a few seconds (figures mean nothing)"
    )
    made.add_argument(
        "--out", type=Path, default=RESULTS, help=f"folder for the JSON results (default {RESULTS})"
    )
    return made


def parse(
    made: argparse.ArgumentParser,
    quick: dict[str, tuple[Any, Any]] | None = None,
    argv: Sequence[str] | None = None,
) -> argparse.Namespace:
    """Parse; each option in `quick` left unset gets its (full, quick) default."""
    args = made.parse_args(argv)
    for name, (full, small) in (quick or {}).items():
        if getattr(args, name, None) is None:
            setattr(args, name, small if args.quick else full)
    return args


# ----------------------------------------------------------------------------- results


@dataclass
class Table:
    title: str
    columns: list[str]
    rows: list[list[Any]]
    notes: list[str] = field(default_factory=list)


def machine() -> dict[str, Any]:
    """What the figures were measured on."""
    return {
        "cpus": os.cpu_count(),
        "processor": platform.processor() or platform.machine(),
        "system": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
    }


def cell(value: Any) -> str:
    """A table cell: floats to three significant digits (whole numbers from 1,000 up)."""
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        if math.isnan(value):
            return "—"
        return f"{value:.0f}" if abs(value) >= 1000 else f"{value:.3g}"
    return str(value)


class Report:
    """One run's tables: printed as Markdown, saved as `<out>/<name>.json`."""

    def __init__(self, name: str, args: argparse.Namespace | None = None, about: str = "") -> None:
        self.name = name
        self.args = args
        self.about = about
        self.tables: list[Table] = []
        self.notes: list[str] = []
        self.started = _STARTED

    def table(
        self, title: str, columns: Sequence[str], rows: Sequence[Sequence[Any]], notes: Sequence[str] = ()
    ) -> Table:
        made = Table(title, list(columns), [list(row) for row in rows], list(notes))
        self.tables.append(made)
        return made

    def note(self, text: str) -> None:
        self.notes.append(text)

    def markdown(self) -> str:
        lines = [f"# {self.name}: {self.about}" if self.about else f"# {self.name}", ""]
        for table in self.tables:
            lines += [f"### {table.title}", ""]
            lines.append("| " + " | ".join(table.columns) + " |")
            lines.append("|" + "|".join("---" for _ in table.columns) + "|")
            lines += ["| " + " | ".join(cell(value) for value in row) + " |" for row in table.rows]
            lines += [""] + [f"- {note}" for note in table.notes] + ([""] if table.notes else [])
        lines += [f"- {note}" for note in self.notes]
        return "\n".join(lines)

    def as_json(self) -> dict[str, Any]:
        args = {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(self.args or {}).items()}
        return {
            "bench": self.name,
            "about": self.about,
            "quick": bool(args.get("quick")),
            "args": args,
            "machine": machine(),
            "finished_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "wall_s": round(time.perf_counter() - self.started, 3),
            "tables": [asdict(table) for table in self.tables],
            "notes": self.notes,
        }

    def finish(self) -> Path:
        """Print the tables and write the JSON; returns its path."""
        print(self.markdown())
        folder = Path(getattr(self.args, "out", None) or RESULTS)
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{self.name}.json"
        path.write_text(json.dumps(self.as_json(), indent=1, default=str) + "\n")
        print(f"\n(results: {path}; {time.perf_counter() - self.started:.0f} s)")
        return path


# ----------------------------------------------------------------------------- statistics


def percentile(values: Sequence[float], p: float) -> float:
    """Nearest rank; NaN for no values."""
    ordered = sorted(values)
    if not ordered:
        return math.nan
    return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)]


def ms(seconds: float) -> float:
    return seconds * 1000


def verdict(ok: bool) -> str:
    return "met" if ok else "**NOT met**"


# ----------------------------------------------------------------------------- the bot


@contextlib.contextmanager
def data_dir(prefix: str = "videobot-bench-") -> Iterator[Path]:
    """A fresh folder for the bot's database and clips, removed afterwards."""
    path = Path(tempfile.mkdtemp(prefix=prefix))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def bot_settings(
    data: Path, *, frames: int = 8, steps: int = 2, size: int = 64, **sections: dict[str, Any]
) -> dict[str, Any]:
    """TOML-shaped settings: the tiny model at `size`², `frames` × `steps` by default, quotas
    and caps nobody reaches; `sections` are merged in."""
    settings: dict[str, Any] = {
        "model": {"id": "tiny"},
        "video": {
            "width": size,
            "height": size,
            "fps": 8,
            "min_frames": 1,
            "default_frames": frames,
            "max_frames": max(16, frames),
            "min_steps": 1,
            "default_steps": steps,
            "max_steps": max(50, steps),
        },
        "storage": {"dir": str(data)},
        "quota": {"daily": BIG, "max_queued": BIG, "per_minute": float(BIG), "burst": BIG},
        "queue": {"max_total": BIG},
    }
    for name, values in sections.items():
        settings.setdefault(name, {}).update(values)
    return settings
