"""The architecture's one hard rule: the core knows no platform, no GPU library, no queue engine."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

FORBIDDEN = {
    "discord",
    "telegram",
    "torch",
    "saq",
    "diffusers",
    "transformers",
    "av",
    "c2pa",
    "aiohttp",
    "prometheus_client",
}
CORE = Path(__file__).resolve().parent.parent / "bot" / "core"


def _imported_roots(path: Path) -> set[str]:
    roots: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            roots.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            roots.add(node.module.split(".")[0])
    return roots


def test_no_core_module_imports_a_platform_a_gpu_library_or_a_queue_engine() -> None:
    modules = sorted(CORE.glob("*.py"))
    assert len(modules) > 10, "the core's modules are where this test looks"
    offenders = {path.name: sorted(_imported_roots(path) & FORBIDDEN) for path in modules}
    assert {name: found for name, found in offenders.items() if found} == {}


def test_importing_the_whole_core_pulls_none_of_them_in_either() -> None:
    """Transitively too: a fresh interpreter imports every core module, then lists what came along."""
    names = [f"bot.core.{path.stem}" for path in sorted(CORE.glob("*.py")) if path.stem != "__init__"]
    script = (
        "import importlib, json, sys\n"
        f"for name in {names!r}: importlib.import_module(name)\n"
        f"print(json.dumps(sorted({{m.split('.')[0] for m in sys.modules}} & set({sorted(FORBIDDEN)!r}))))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, cwd=CORE.parent.parent
    )
    assert json.loads(out.stdout) == []
