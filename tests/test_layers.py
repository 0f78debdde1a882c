"""The package's layers import one way: cli -> nightly -> {sweeps, results} -> storage -> core -> errors.

Read from the source (every import, lazy ones inside functions included), so an arrow against the
direction fails here instead of becoming a cycle later."""

from __future__ import annotations

import ast
from pathlib import Path

import rnnppo

PACKAGE = Path(rnnppo.__file__).parent

# layer -> the layers it may import (itself always allowed)
ALLOWED = {
    "errors": set(),
    "core": {"errors"},
    "wrappers": {"errors", "core"},
    "storage": {"errors", "core"},
    "sweeps": {"errors", "core", "storage", "wrappers"},
    "results": {"errors", "core", "storage", "wrappers"},
    "nightly": {"errors", "core", "storage", "sweeps", "results", "wrappers"},
    "api": {"errors", "core", "storage", "sweeps", "results", "nightly", "wrappers"},
    "cli": {"errors", "core", "storage", "sweeps", "results", "nightly", "wrappers", "api"},
    "main": {"cli"},
}


def layer_of(module: str) -> str:
    """`rnnppo.results.report` -> results; the package itself is the Python API, `__main__` runs the CLI."""
    parts = module.split(".")
    if len(parts) == 1:
        return "api"
    name = parts[1]
    if name == "__main__":
        return "main"
    if name == "__init__":
        return "api"
    assert name in ALLOWED, f"{module}: a new top-level module; give it a layer in tests/test_layers.py"
    return name


def module_name(path: Path) -> str:
    relative = path.relative_to(PACKAGE.parent).with_suffix("")
    parts = list(relative.parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def imported_modules(path: Path) -> list[tuple[int, str]]:
    tree = ast.parse(path.read_text(), filename=str(path))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append((node.lineno, node.module))
            found += [(node.lineno, f"{node.module}.{alias.name}") for alias in node.names if node.module == "rnnppo"]
    return [(line, name) for line, name in found if name == "rnnppo" or name.startswith("rnnppo.")]


def violations() -> list[str]:
    out = []
    for path in sorted(PACKAGE.rglob("*.py")):
        source = layer_of(module_name(path))
        for line, target in imported_modules(path):
            if target == "rnnppo":
                target_layer = "api"
            else:
                target_layer = layer_of(target)
            if target_layer != source and target_layer not in ALLOWED[source]:
                out.append(f"{path.relative_to(PACKAGE.parent)}:{line} ({source}) imports {target} ({target_layer})")
    return out


def test_imports_point_one_way() -> None:
    assert violations() == []


def test_nothing_imports_the_cli() -> None:
    importers = [
        f"{path.relative_to(PACKAGE.parent)}:{line}"
        for path in PACKAGE.rglob("*.py")
        if layer_of(module_name(path)) not in ("cli", "main")
        for line, target in imported_modules(path)
        if target.startswith("rnnppo.cli")
    ]
    assert importers == []


def test_the_checker_sees_an_upward_import(tmp_path: Path) -> None:
    """The checker itself: an import of results from core (even inside a function) is found."""
    bad = tmp_path / "bad.py"
    bad.write_text("def f():\n    from rnnppo.results.report import build_report\n")
    assert imported_modules(bad) == [(2, "rnnppo.results.report")]
    assert "results" not in ALLOWED["core"]
    assert "results" not in ALLOWED["sweeps"] and "sweeps" not in ALLOWED["results"]


# Inside core: the environments sit below the algorithm, the analyses above it, one run's loop on top.
# room -> the rooms it may import ("base": config, spaces, presets, wrapper specs, conv plans: what every room
# needs)
CORE_BASE = {"config", "spaces", "presets", "wrapper_spec", "conv_plan", "footprint"}
CORE_ALLOWED = {
    "base": {"base"},
    "envs": {"base"},
    "algorithm": {"base", "envs"},
    "analysis": {"base", "envs", "algorithm"},
    "runs": {"base", "envs", "algorithm", "analysis"},
}


def core_room(module: str) -> str:
    """`rnnppo.core.runs.trainer` -> runs; `rnnppo.core.model` -> algorithm; `rnnppo.core.config` -> base."""
    parts = module.split(".")
    if len(parts) < 3:
        return "base"  # the core package itself
    if parts[2] in ("envs", "runs", "analysis"):
        return parts[2]
    return "base" if parts[2] in CORE_BASE else "algorithm"


def test_core_rooms_import_one_way() -> None:
    bad = []
    for path in sorted((PACKAGE / "core").rglob("*.py")):
        source = core_room(module_name(path))
        for line, target in imported_modules(path):
            if not target.startswith("rnnppo.core."):
                continue
            room = core_room(target)
            if room != source and room not in CORE_ALLOWED[source]:
                bad.append(f"{path.relative_to(PACKAGE.parent)}:{line} ({source}) imports {target} ({room})")
    assert bad == []
