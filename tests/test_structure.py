"""The shape of ``core/``: no import cycles between its modules, no grab-bag modules.

Imports inside functions count too: a lazy import that closes a cycle is still a cycle a
reader has to untangle. Re-exports by a package's ``__init__`` of its own children are not
edges (``core.jobs`` naming ``core.jobs.api`` is the package, not a dependency).
"""

from __future__ import annotations

import ast
import graphlib
from pathlib import Path

CORE = Path(__file__).resolve().parent.parent / "core"
MAX_MODULE_LINES = 500
MAX_PAGE_LINES = 250  # a page lays out widgets; what it shows is computed in core.views


def _modules() -> dict[str, Path]:
    mods: dict[str, Path] = {}
    for path in CORE.rglob("*.py"):
        name = ".".join(path.relative_to(CORE.parent).with_suffix("").parts)
        mods[name.removesuffix(".__init__")] = path
    return mods


def _imports(path: Path, me: str, mods: dict[str, Path]) -> set[str]:
    """The core modules ``me`` imports anywhere in its body (relative imports resolved)."""
    package = me if path.name == "__init__.py" else me.rpartition(".")[0]
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*parts, base] if base else parts)
            names = [base, *(f"{base}.{a.name}" for a in node.names)]
        else:
            continue
        for name in names:
            while name and name not in mods:
                name = name.rpartition(".")[0]
            if name and name != me and not me.startswith(name + "."):
                out.add(name)
    return out


def import_graph() -> dict[str, set[str]]:
    mods = _modules()
    return {name: _imports(path, name, mods) for name, path in mods.items()}


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle of ``graph`` (its modules in order), or None."""
    try:
        tuple(graphlib.TopologicalSorter(graph).static_order())
    except graphlib.CycleError as exc:
        return list(exc.args[1])
    return None


def test_core_has_no_import_cycle() -> None:
    cycle = find_cycle(import_graph())
    assert cycle is None, "import cycle in core/: " + " -> ".join(cycle or [])


def test_the_cycle_check_sees_a_cycle() -> None:
    """The check itself: a planted cycle (through a function-level import) is reported."""
    graph = import_graph()
    graph["core.infra.paths"] = {*graph["core.infra.paths"], "core.runs.store"}
    cycle = find_cycle(graph)
    assert cycle is not None and "core.infra.paths" in cycle and "core.runs.store" in cycle


def test_no_grab_bag_module() -> None:
    sizes = {name: len(path.read_text().splitlines()) for name, path in _modules().items()}
    big = {name: n for name, n in sizes.items() if n > MAX_MODULE_LINES}
    assert not big, f"modules over {MAX_MODULE_LINES} lines (split them by concept): {big}"


def test_core_is_organised_in_subpackages() -> None:
    packages = [p for p in CORE.iterdir() if (p / "__init__.py").is_file()]
    assert len(packages) >= 5, packages


def test_every_page_url_is_its_file_name() -> None:
    """A shared link opened as the first request of a fresh server is resolved by
    Streamlit's file-based page names (``pages/<name>.py`` -> ``/<name>``) before app.py's
    ``st.navigation`` has run: a url path that differs from its file's name showed a "Page
    not found" dialog over the page (it did for ``/latent-map`` while the file was
    ``latent_map.py``). So every page's url path is its file's name."""
    from tests.helpers import PAGES

    assert len(PAGES) >= 10, PAGES
    mismatched = [(p.file, p.url) for p in PAGES if Path(p.file).stem != p.url]
    assert not mismatched, f"url path differs from the page file's name: {mismatched}"


def test_pages_stay_thin() -> None:
    """Every page file and every shared page helper stays small: logic lives in core."""
    root = Path(__file__).resolve().parents[1]
    files = [root / "app.py", *sorted((root / "pages").rglob("*.py"))]
    big = {
        str(p.relative_to(root)): n
        for p in files
        if (n := len(p.read_text().splitlines())) > MAX_PAGE_LINES
    }
    assert not big, f"page files over {MAX_PAGE_LINES} lines (move the logic to core.views): {big}"
