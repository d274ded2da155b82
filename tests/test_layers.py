"""The floors of ``core/``: every package imports only from its own floor or the ones below.

From the bottom up (docs/contracts.md draws the same order):

errors, infra
    the error types; atomic files, paths, locks, processes
data -> features
    match files to the neutral event table; segments and their named features
model
    the beta-VAE, its preprocessing, training loop and config
analysis
    pure maths over arrays and frames (correlations, quality classification, rotations,
    mixtures, baselines, sequence maths, matching): no file I/O, no run
runs
    the run store and the records it holds on disk (status, reading axes, states cache)
services
    what is read off a stored run: states, timeline, fingerprints, traversal, the
    stability report, the export
pipeline
    one training run filled stage by stage (train, analyses, projection, states)
jobs
    orchestration in background processes: training and extraction jobs, sweeps, seed runs
demo
    the demo dataset and default run, built once through jobs
views
    what pages draw and read, without Streamlit
cli, compat
    the command line; the notebook's import names (``core.config``, ``core.models``)

An import used only for type hints (under ``if TYPE_CHECKING:``) is exempt: it runs
nothing. Imports inside functions count: a lazy import upwards is still a floor broken.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

CORE = Path(__file__).resolve().parent.parent / "core"

FLOORS: tuple[tuple[str, ...], ...] = (
    ("errors",),
    ("infra",),
    ("data",),
    ("features",),
    ("model",),
    ("analysis",),
    ("runs",),
    ("services",),
    ("pipeline",),
    ("jobs",),
    ("demo",),
    ("views",),
    ("cli", "config", "models", "__main__", "__init__"),
)
LEVEL = {name: i for i, floor in enumerate(FLOORS) for name in floor}


def _package(module: str) -> str:
    """``core.runs.store`` -> ``runs``; ``core.errors`` -> ``errors``; ``core`` -> ``__init__``."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _runtime_nodes(tree: ast.AST) -> list[ast.AST]:
    """Every node of ``tree`` except the bodies of ``if TYPE_CHECKING:`` blocks."""
    out: list[ast.AST] = []
    todo: list[ast.AST] = [tree]
    while todo:
        node = todo.pop()
        out.append(node)
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and _is_type_checking(child.test):
                todo.extend(child.orelse)
                continue
            todo.append(child)
    return out


def runtime_imports(source: str, module: str, is_package: bool) -> set[str]:
    """The ``core.*`` modules imported by ``source`` at run time (relative ones resolved)."""
    package = module if is_package else module.rpartition(".")[0]
    found: set[str] = set()
    for node in _runtime_nodes(ast.parse(source)):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*parts, base] if base else parts)
            found.add(base)
    return {name for name in found if name == "core" or name.startswith("core.")}


def floor_breaks(files: dict[str, tuple[str, bool]]) -> list[str]:
    """``"core.x.y (floor) imports core.z (higher floor)"`` for every upward import."""
    breaks = []
    for module, (source, is_package) in sorted(files.items()):
        mine = LEVEL[_package(module)]
        for target in sorted(runtime_imports(source, module, is_package)):
            theirs = LEVEL.get(_package(target))
            if theirs is not None and theirs > mine:
                breaks.append(
                    f"{module} ({FLOORS[mine][0]}) imports {target} ({FLOORS[theirs][0]}, "
                    "a floor above)"
                )
    return breaks


def _core_files() -> dict[str, tuple[str, bool]]:
    files = {}
    for path in CORE.rglob("*.py"):
        name = ".".join(path.relative_to(CORE.parent).with_suffix("").parts)
        files[name.removesuffix(".__init__")] = (path.read_text(), path.name == "__init__.py")
    return files


def test_every_package_has_a_floor() -> None:
    packages = {_package(m) for m in _core_files()}
    assert packages <= set(LEVEL), f"packages with no floor in FLOORS: {packages - set(LEVEL)}"


def test_no_package_imports_one_above_it() -> None:
    breaks = floor_breaks(_core_files())
    assert not breaks, "imports that go up a floor:\n" + "\n".join(breaks)


@pytest.mark.parametrize(
    ("module", "source", "broken"),
    [
        # analysis is pure maths: reading the run store from it breaks the floor...
        ("core.analysis.quality", "from core.runs.store import Run\n", True),
        # ...even lazily, inside a function...
        ("core.analysis.quality", "def f():\n    from core.jobs import api\n", True),
        # ...but a hint for the type checker runs nothing.
        (
            "core.analysis.quality",
            "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from core.runs.store import Run\n",
            False,
        ),
        ("core.services.states", "from core.runs.store import Run\n", False),
        ("core.runs.store", "from ..services import states\n", True),
        ("core.features.datasets", "import core.model.config\n", True),
    ],
)
def test_the_floor_check_sees_a_break(module: str, source: str, broken: bool) -> None:
    """The check itself, on planted sources: it fires exactly on the runtime upward imports."""
    assert bool(floor_breaks({module: (source, False)})) is broken


# What a page's first visit must not wait for: each of these takes about a second to import,
# and only a training or states job (a process of its own) needs them.
JOB_ONLY = ("torch", "sklearn", "umap")


def test_the_pages_import_no_training_library() -> None:
    """Every ``core.views`` and ``pages._ui`` module imported in a fresh interpreter leaves
    torch, scikit-learn and umap unimported: the first visit to a page does not pay for them.
    (A page that truly needs one imports it where it is used.)"""
    import subprocess
    import sys

    root = CORE.parent
    modules = sorted(
        ".".join(p.relative_to(root).with_suffix("").parts)
        for folder in (root / "core" / "views", root / "pages" / "_ui")
        for p in folder.glob("*.py")
        if p.name != "__init__.py"
    )
    probe = (
        "import importlib, json, sys\n"
        f"for m in {modules!r}: importlib.import_module(m)\n"
        f"print(json.dumps([k for k in {list(JOB_ONLY)!r} if k in sys.modules]))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], cwd=root, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip().splitlines()[-1] == "[]", (
        f"imported by the pages' modules: {done.stdout.strip()}; import them where used"
    )
