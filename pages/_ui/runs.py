"""The active run: picking it, labelling it, requiring a finished one, lazy states."""

from __future__ import annotations

from collections.abc import Sequence

import streamlit as st

from core.analysis.states import get_states, states_cached
from core.errors import (
    ArtifactMissingError,
    RunNotFoundError,
    StatesError,
)
from core.jobs.api import run_status
from core.runs.store import Run, get_run, list_runs
from pages._ui.dims import quality_warning, run_quality
from pages._ui.errors import show_error
from pages._ui.state import PENDING_RUN_KEY, RUN_KEY

# --- runs ---------------------------------------------------------------------------------


def run_label(run: Run) -> str:
    """``"3f9a0c1b2d4e · β 4 · 8 latents (1 distinct) · demo · done · 2026-11-26 08:40"``."""
    try:
        cfg = run.config()
        state = run_status(run).state
    except (RunNotFoundError, ArtifactMissingError, ValueError, KeyError, TypeError, OSError):
        return f"{run.run_id} · broken"
    created = cfg.created_at.replace("T", " ")[:16]
    quality = run_quality(run) if state == "done" else None
    distinct = f" ({quality.n_distinct} distinct)" if quality is not None else ""
    return (
        f"{run.run_id} · β {cfg.vae.beta:g} · {cfg.vae.latent_dim} latents{distinct} · "
        f"{cfg.dataset or 'features'} · {state} · {created}"
    )


def available_runs() -> list[Run]:
    """Every run, newest first (reading the store is cheap: a few JSON files per run)."""
    return list_runs()


# Preference of a run's state when the app picks the run to open (lower is better).
_STATE_RANK = {"done": 1, "running": 2, "queued": 2, "cancelled": 3, "failed": 4, "broken": 5}
_UNREADABLE_RANK = 6


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
    group. Reads the runs' files only (no Streamlit), so it can be tested on its own.
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


def active_run() -> Run | None:
    """The run picked in the sidebar, or ``None`` (no runs, or it was deleted meanwhile)."""
    run_id = st.session_state.get(RUN_KEY)
    if not run_id:
        return None
    try:
        return get_run(str(run_id))
    except RunNotFoundError:
        return None


def require_run(done: bool = True) -> Run:
    """The active run, or stop the page with guidance; with ``done`` the run must be finished."""
    run = active_run()
    if run is None:
        st.info(
            "No run is selected. Pick one in the sidebar, train one on the **Train** page, "
            "or open **Overview** to build the demo run."
        )
        st.stop()
    assert run is not None
    if done:
        status = run_status(run)
        if status.state == "broken":
            st.error(
                f"{status.error or f'Run {run.run_id} is broken.'} Pick another run in the "
                "sidebar, or delete this one on the **Runs** page."
            )
            st.stop()
        if status.state == "failed":
            st.error(
                f"Run {run.run_id} failed: {status.error or 'no error recorded'}. "
                "Open the **Train** page to see its log, change the configuration and start "
                "again, or pick another run in the sidebar."
            )
            st.stop()
        if status.state != "done":
            st.info(
                f"Run {run.run_id} is {status.state} ({status.stage}, "
                f"{status.progress:.0%}). Its results appear here when it finishes; follow "
                "it on the **Train** page."
            )
            st.stop()
        quality_warning(run)
    return run


def ensure_states(run: Run) -> None:
    """Fit the run's tactical states on a page's first visit, with a progress bar.

    Stops the page with a clear error when the states cannot be computed.
    """

    try:
        if not states_cached(run):
            bar = st.progress(0.0, text="Fitting the state mixtures (first visit)…")
            get_states(run, progress=lambda d, t, m: bar.progress(min(d / max(t, 1), 1.0), text=m))
            bar.empty()
    except StatesError as exc:
        show_error("The tactical states cannot be computed for this run.", exc)
        st.stop()


def set_active_run(run_id: str) -> None:
    """Make ``run_id`` the sidebar's active run from the next script run on.

    The picker widget already exists when a page runs, so the change is parked and applied
    by :func:`sidebar` before it draws the widget; callers then ``st.rerun()``.
    """
    st.session_state[PENDING_RUN_KEY] = run_id


def apply_pending_run() -> None:
    """Apply a run parked by :func:`set_active_run` (called before the picker is drawn)."""
    pending = st.session_state.pop(PENDING_RUN_KEY, None)
    if pending:
        st.session_state[RUN_KEY] = pending
