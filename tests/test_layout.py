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


BOT = CORE.parent


def _module_name(path: Path) -> str:
    parts = path.relative_to(BOT.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _bot_imports(path: Path, name: str, modules: set[str]) -> set[str]:
    """Every bot module `path` imports, anywhere in it (inside functions and TYPE_CHECKING too)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                package = name.split(".")[: len(name.split(".")) - node.level + (path.stem == "__init__")]
                base = ".".join([*package, base] if base else package)
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names)
    return {module for module in found if module in modules and module != name}


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected groups of more than one node (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for other in graph.get(node, set()):
            if other not in index:
                visit(other)
                low[node] = min(low[node], low[other])
            elif other in stack:
                low[node] = min(low[node], index[other])
        if low[node] == index[node]:
            group = []
            while True:
                other = stack.pop()
                group.append(other)
                if other == node:
                    break
            if len(group) > 1:
                found.append(sorted(group))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_no_import_cycle_between_modules_or_between_packages() -> None:
    """`bot.settings` ⇄ `bot.core`, `bot.core` ⇄ `bot.store` and the like: shared plain types live in
    leaf modules (`bot.domain`, `bot.moderation`, `bot.signals`) so each dependency points one way."""
    paths = {_module_name(path): path for path in BOT.rglob("*.py")}
    graph = {name: _bot_imports(path, name, set(paths)) for name, path in paths.items()}

    def package(name: str) -> str:
        parts = name.split(".")
        return ".".join(parts[:2]) if len(parts) > 1 and (BOT / parts[1]).is_dir() else name

    packages: dict[str, set[str]] = {}
    for name, imported in graph.items():
        packages.setdefault(package(name), set()).update(
            package(other) for other in imported if package(other) != package(name)
        )
    assert _cycles(graph) == []
    assert _cycles(packages) == []
