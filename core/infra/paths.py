"""Where data and runs live, and the one guard that keeps user paths inside them."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

from core.errors import UnsafePathError

PROJECT_ROOT = Path(__file__).resolve().parents[2]  # core/infra/paths.py -> the checkout

DATA_ROOT_ENV = "TACTICAL_DATA_ROOT"
RUNS_ROOT_ENV = "TACTICAL_RUNS_ROOT"


def data_root() -> Path:
    """Folder holding feature datasets and local match data (env ``TACTICAL_DATA_ROOT``)."""
    root = Path(os.environ.get(DATA_ROOT_ENV) or PROJECT_ROOT / "data").expanduser().resolve()
    root.mkdir(parents=True, exist_ok=True)
    return root


def runs_root() -> Path:
    """Folder holding one sub-folder per trained run (env ``TACTICAL_RUNS_ROOT``)."""
    root = Path(os.environ.get(RUNS_ROOT_ENV) or PROJECT_ROOT / "runs").expanduser().resolve()
    root.mkdir(parents=True, exist_ok=True)
    return root


def jobs_root() -> Path:
    """Folder holding one sub-folder per background job (state, params, log)."""
    root = runs_root() / "_jobs"
    root.mkdir(parents=True, exist_ok=True)
    return root


def datasets_root() -> Path:
    """Folder holding one sub-folder per extracted feature dataset."""
    root = data_root() / "datasets"
    root.mkdir(parents=True, exist_ok=True)
    return root


def resolve_under(root: Path, user_path: str | os.PathLike[str]) -> Path:
    """Resolve ``user_path`` relative to ``root`` and refuse anything that escapes it.

    Absolute paths are accepted only when they already lie inside ``root``; symlinks are
    resolved before the check, so a link pointing outside is refused too.
    """
    root = Path(root).resolve()
    candidate = Path(user_path).expanduser()
    full = (candidate if candidate.is_absolute() else root / candidate).resolve()
    if full != root and root not in full.parents:
        lexical = Path(os.path.normpath(root / candidate))  # ".." applied, links not followed
        via_link = lexical == root or root in lexical.parents
        link = " (through a symbolic link)" if via_link else ""
        raise UnsafePathError(
            f"{_shown(candidate)!r} leads outside the {_root_name(root)}{link}, so it is "
            "refused. Use a file or folder inside it."
        )
    return full


def _shown(candidate: Path) -> str:
    """A refused path as an error may show it: relative inside a root, else its name."""
    shown = display_path(candidate)
    return candidate.name if Path(shown).is_absolute() else shown


def _root_name(root: Path) -> str:
    for name, fn in (("data folder", data_root), ("runs folder", runs_root)):
        with contextlib.suppress(OSError):
            if root == fn() or fn() in root.parents:
                return name
    return "folder it must stay in"


def display_path(path: str | os.PathLike[str]) -> str:
    """``path`` as a page may show it: relative to the data or runs folder when inside one
    (``datasets/demo/features.parquet``), never the server's absolute layout; a path
    outside both (given on the command line) is shown as given."""
    p = Path(path).expanduser()
    if not p.is_absolute():
        return str(p)
    for fn in (data_root, runs_root):
        with contextlib.suppress(OSError, ValueError):
            return str(Path(os.path.normpath(p)).relative_to(fn()))
    return str(p)
