"""Data and run roots: overridable by environment, and user paths never escape them."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from core.infra.paths import UnsafePathError, data_root, jobs_root, resolve_under, runs_root


def test_roots_follow_environment(session_root: Path) -> None:
    assert data_root() == (session_root / "data").resolve()
    assert runs_root() == (session_root / "runs").resolve()
    assert jobs_root().parent == runs_root()


def test_roots_default_under_project(monkeypatch: pytest.MonkeyPatch) -> None:
    from core.infra import paths

    monkeypatch.delenv("TACTICAL_DATA_ROOT")
    assert data_root() == paths.PROJECT_ROOT / "data"


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
