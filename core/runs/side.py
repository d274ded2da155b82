"""Side runs: the runs the product trains on its own behalf (a Stability seed run, a Sweep
cell), marked so that they never become a visitor's default run and the run picker lists
them under what they belong to.

The mark is a small ``side.json`` in the run folder (``kind``: ``"seed"`` or ``"sweep"``,
``parent``: the run or sweep it serves). It is written only when the side job created the
run: a configuration someone trained before stays theirs. The run id (a hash of the
configuration) never depends on it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING

from core.infra.io import atomic_write_json

if TYPE_CHECKING:
    from core.runs.store import Run

SIDE_FILE = "side.json"
KINDS = ("seed", "sweep")


@dataclass(frozen=True)
class SideRun:
    """What a side run serves: ``kind`` (``seed`` or ``sweep``) and its ``parent`` id."""

    kind: str
    parent: str

    @property
    def label(self) -> str:
        """``"seed run of 3f9a0c1b2d4e"`` / ``"sweep cell of 20261204T1803-ab12cd"``."""
        return f"{'seed run' if self.kind == 'seed' else 'sweep cell'} of {self.parent}"


def mark_side_run(run: Run, kind: str, parent: str) -> None:
    """Mark ``run`` as a side run of ``parent`` (see the module text)."""
    if kind not in KINDS:
        raise ValueError(f"side-run kind must be one of {KINDS}, got {kind!r}.")
    atomic_write_json(run.artifact_path(SIDE_FILE), {"kind": kind, "parent": str(parent)})


def side_run(run: Run) -> SideRun | None:
    """The mark of a side run, or None for a run someone trained (or an unreadable mark)."""
    path = run.artifact_path(SIDE_FILE)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict) or data.get("kind") not in KINDS:
        return None
    return SideRun(kind=str(data["kind"]), parent=str(data.get("parent", "")))
