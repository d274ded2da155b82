"""Data and run roots: overridable by environment, and user paths never escape them."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from core.infra.paths import (
    DATA_ROOT_ENV,
    RUNS_ROOT_ENV,
    UnsafePathError,
    data_root,
    jobs_root,
    resolve_under,
    runs_root,
)

PROJECT_ROOT = Path(__file__).resolve().parent.parent


def test_roots_follow_environment(session_root: Path) -> None:
    assert data_root() == (session_root / "data").resolve()
    assert runs_root() == (session_root / "runs").resolve()
    assert jobs_root().parent == runs_root()


def test_roots_default_under_project(tmp_path: Path) -> None:
    """Without the variables, the roots are ``data/`` and ``runs/`` of the checkout holding
    ``core``. Checked on a copy of ``core`` in a temporary checkout, so nothing is created
    in this one."""
    from core.infra import paths

    assert paths.PROJECT_ROOT == PROJECT_ROOT
    checkout = tmp_path / "checkout"
    shutil.copytree(
        PROJECT_ROOT / "core", checkout / "core", ignore=shutil.ignore_patterns("__pycache__")
    )
    env = {k: v for k, v in os.environ.items() if k not in (DATA_ROOT_ENV, RUNS_ROOT_ENV)}
    env["PYTHONPATH"] = str(checkout)
    script = (
        "from core.infra.paths import PROJECT_ROOT, data_root, runs_root\n"
        "print(PROJECT_ROOT); print(data_root()); print(runs_root())\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", script],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    root = checkout.resolve()
    assert out.stdout.split("\n")[:3] == [str(root), str(root / "data"), str(root / "runs")]
    assert (root / "data").is_dir() and (root / "runs").is_dir()


@pytest.mark.parametrize("bad", ["../outside", "a/../../outside", "/etc/passwd", "~/x"])
def test_resolve_under_refuses_escapes(tmp_path: Path, bad: str) -> None:
    with pytest.raises(UnsafePathError, match="outside"):
        resolve_under(tmp_path, bad)


def test_resolve_under_refuses_symlink_out(tmp_path: Path) -> None:
    root = tmp_path / "root"
    root.mkdir()
    (root / "link").symlink_to(tmp_path)
    with pytest.raises(UnsafePathError):
        resolve_under(root, "link/elsewhere")


def test_resolve_under_accepts_inside(tmp_path: Path) -> None:
    assert resolve_under(tmp_path, "a/b/../c") == tmp_path.resolve() / "a" / "c"
    inside = tmp_path / "x"
    assert resolve_under(tmp_path, os.fspath(inside)) == inside.resolve()
