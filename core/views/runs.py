"""Runs as pages list them: one row per run, a one-line label, and the run to open when
none is chosen. Reads the run store only (no Streamlit), so each is tested on its own."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from core.errors import ArtifactMissingError, RunNotFoundError
from core.jobs.api import run_status
from core.runs.files import METRICS_FILE
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
    return (
        f"{run.run_id} · β {cfg.vae.beta:g} · {cfg.vae.latent_dim} latents{shown} · "
        f"{cfg.dataset or 'features'} · {state} · {created}"
    )


def _default_rank(run: Run) -> int:
    """0 for a finished run with at least two distinct dimensions, then by state."""
    try:
        state = run_status(run).state
    except (RunNotFoundError, ArtifactMissingError, ValueError, KeyError, OSError):
        return _UNREADABLE_RANK
    if state == "done":
        try:
            return 0 if run.dim_quality().healthy else 1
        except (ArtifactMissingError, ValueError, KeyError, OSError):
            return 1
    return _STATE_RANK.get(state, _UNREADABLE_RANK)


def default_run(runs: Sequence[Run]) -> Run | None:
    """The run to open when none is chosen, from ``runs`` given newest first (as
    :func:`core.runs.store.list_runs` returns them).

    Never a failed, cancelled or unfinished run while a finished one exists; among finished
    runs a healthy one (at least two distinct dimensions) first; the newest within each
    group.
    """
    best: Run | None = None
    best_rank = _UNREADABLE_RANK + 1
    for run in runs:
        rank = _default_rank(run)
        if rank < best_rank:
            best, best_rank = run, rank
        if rank == 0:
            break
    return best
