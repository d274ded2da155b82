"""Where data and runs live, and the one guard that keeps user paths inside them."""

from __future__ import annotations

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
        raise UnsafePathError(
            f"{str(user_path)!r} resolves to {full}, which is outside {root}. "
            f"Use a path inside {root}."
        )
    return full
