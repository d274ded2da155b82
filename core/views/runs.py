"""Runs as pages list them: one row per run, a one-line label, and the run to open when
none is chosen. Reads the run store only (no Streamlit), so each is tested on its own."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from core.errors import ArtifactMissingError, RunNotFoundError
from core.jobs.api import run_status
from core.runs.files import METRICS_FILE
from core.runs.side import side_run
from core.runs.store import Run

# Errors a run folder that cannot be read raises; such a run is listed as broken.
UNREADABLE: tuple[type[BaseException], ...] = (
    RunNotFoundError,
    ArtifactMissingError,
    ValueError,
    KeyError,
    TypeError,
    OSError,
)
# Preference of a run's state when the app picks the run to open (lower is better).
_STATE_RANK = {"done": 1, "running": 2, "queued": 2, "cancelled": 3, "failed": 4, "broken": 5}
_UNREADABLE_RANK = 6
_SIDE_RANK = 10  # a side run only when no run someone trained can be opened
DistinctCount = Callable[[Run], "int | None"]


def n_distinct(run: Run) -> int | None:
    """How many distinct latent dimensions a finished run found (None if unknown)."""
    try:
        return run.dim_quality().n_distinct
    except (ArtifactMissingError, RunNotFoundError, ValueError, KeyError, OSError):
        return None


def run_row(run: Run, distinct: DistinctCount = n_distinct) -> dict[str, Any]:
    """The Runs table's row of ``run``: state, configuration and final losses
    (``distinct`` counts a finished run's distinct dimensions; pages pass a cached one)."""
    cfg = run.config()
    status = run_status(run)
    row: dict[str, Any] = {
        "run": run.run_id,
        "state": status.state,
        "distinct dims": distinct(run) if status.state == "done" else None,
        "dataset": cfg.dataset,
        "beta": cfg.vae.beta,
        "latent_dim": cfg.vae.latent_dim,
        "hidden": "-".join(str(h) for h in cfg.vae.hidden_dims),
        "epochs": cfg.vae.n_epochs,
        "lr": cfg.vae.learning_rate,
        "batch": cfg.vae.batch_size,
        "dropout": cfg.vae.dropout,
        "seed": cfg.vae.random_state,
        "max_tier": cfg.preprocess.max_tier,
        "segments": cfg.preprocess.segment_type,
        "final_total": None,
        "final_recon": None,
        "final_kl": None,
        "created": cfg.created_at.replace("T", " ")[:19],
    }
    if run.has(METRICS_FILE):
        metrics = run.metrics()
        if metrics.height:
            last = metrics.row(-1, named=True)
            row.update(final_total=last["total"], final_recon=last["recon"], final_kl=last["kl"])
    return row


def broken_row(run_id: str) -> dict[str, Any]:
    """The row of a run folder that cannot be read: listed, so it can be seen and deleted."""
    return {"run": run_id, "state": "broken"}


def run_label(run: Run, distinct: DistinctCount = n_distinct) -> str:
    """``"3f9a0c1b2d4e · β 4 · 8 latents (1 distinct) · demo · done · 2026-11-26 08:40"``
    (``distinct`` counts a finished run's distinct dimensions; pages pass a cached one)."""
    try:
        cfg = run.config()
        state = run_status(run).state
    except UNREADABLE:
        return f"{run.run_id} · broken"
    created = cfg.created_at.replace("T", " ")[:16]
    count = distinct(run) if state == "done" else None
    shown = f" ({count} distinct)" if count is not None else ""
    side = side_run(run)
    return (
        f"{'  ↳ ' if side is not None else ''}{run.run_id} · β {cfg.vae.beta:g} · "
        f"{cfg.vae.latent_dim} latents{shown} · {cfg.dataset or 'features'} · {state} · "
        f"{created}" + (f" · {side.label}" if side is not None else "")
    )


def _default_rank(run: Run) -> int:
    """0 for a finished run with at least two distinct dimensions, then by state; a side
    run (a seed run, a sweep cell: :mod:`core.runs.side`) after every run someone trained."""
    side = _SIDE_RANK if side_run(run) is not None else 0
    try:
        state = run_status(run).state
    except (RunNotFoundError, ArtifactMissingError, ValueError, KeyError, OSError):
        return _UNREADABLE_RANK + side
    if state == "done":
        try:
            return side + (0 if run.dim_quality().healthy else 1)
        except (ArtifactMissingError, ValueError, KeyError, OSError):
            return side + 1
    return side + _STATE_RANK.get(state, _UNREADABLE_RANK)


def picker_order(runs: Sequence[Run]) -> list[Run]:
    """``runs`` (newest first) as the run picker lists them: each run someone trained, then
    the side runs that serve it (its seed runs; a sweep's cells after the newest of them)."""
    sides = {r.run_id: side_run(r) for r in runs}
    primary = [r for r in runs if sides[r.run_id] is None]
    out: list[Run] = []
    placed: set[str] = set()
    for run in primary:
        out.append(run)
        placed.add(run.run_id)
        for other in runs:
            mark = sides[other.run_id]
            if mark is not None and mark.parent == run.run_id and other.run_id not in placed:
                out.append(other)
                placed.add(other.run_id)
    out += [r for r in runs if r.run_id not in placed]  # sweep cells, orphans: last
    return out


def default_run(runs: Sequence[Run]) -> Run | None:
    """The run to open when none is chosen, from ``runs`` given newest first (as
    :func:`core.runs.store.list_runs` returns them).

    Never a failed, cancelled or unfinished run while a finished one exists; among finished
    runs a healthy one (at least two distinct dimensions) first; the newest within each
    group. Never a side run (a Stability seed run, a Sweep cell) while a run someone trained
    can be opened.
    """
    best: Run | None = None
    best_rank = _SIDE_RANK + _UNREADABLE_RANK + 1
    for run in runs:
        rank = _default_rank(run)
        if rank < best_rank:
            best, best_rank = run, rank
        if rank == 0:
            break
    return best
