"""The active run: picking it, labelling it, requiring a finished one, lazy states."""

from __future__ import annotations

import streamlit as st

from core.errors import RunNotFoundError, StatesError
from core.jobs.api import run_status
from core.runs.states_store import StatesResult
from core.runs.store import Run, get_run, list_runs
from core.views import runs as views
from core.views.states import request_states
from pages._ui.dims import quality_warning, run_quality
from pages._ui.errors import show_error
from pages._ui.state import PENDING_RUN_KEY, RUN_KEY
from pages._ui.widgets import poll

# --- runs ---------------------------------------------------------------------------------


def run_distinct(run: Run) -> int | None:
    """How many distinct latent dimensions a finished run found (cached; None if unknown)."""
    quality = run_quality(run)
    return None if quality is None else quality.n_distinct


def run_label(run: Run) -> str:
    """``"3f9a0c1b2d4e · β 4 · 8 latents (1 distinct) · demo · done · 2026-11-26 08:40"``."""
    return views.run_label(run, run_distinct)


def available_runs() -> list[Run]:
    """Every run, newest first (reading the store is cheap: a few JSON files per run)."""
    return list_runs()


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


def states_or_wait(
    run: Run, k_range: tuple[int, int] | None = None, *, recompute: bool = False
) -> StatesResult:
    """The run's tactical states over ``k_range`` (any cached range when None).

    Never fits in the script thread: when they are not cached (or ``recompute``), a
    background states job fits them and the page shows its progress and refreshes until
    they are ready; a failed job or a run with nothing to fit stops the page with the reason.
    """
    try:
        request = request_states(run, k_range, recompute=recompute)
    except StatesError as exc:
        show_error("The tactical states cannot be computed for this run.", exc)
        st.stop()
    if request.result is not None:
        return request.result
    if request.failure is not None:
        show_error(request.failure)
        st.stop()
    st.progress(request.progress, text=request.progress_text)
    st.caption(
        "The tactical states are fitted in a background job; this page refreshes until they "
        "are ready (leaving it does not stop the job)."
    )
    poll(1.0, lambda: True)
    st.stop()


def ensure_states(run: Run) -> None:
    """Stop the page until the run's states exist (they normally do: a run's last stage fits
    them); see :func:`states_or_wait`."""
    states_or_wait(run)


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
