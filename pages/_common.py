"""Shared UI pieces: cached readers keyed by run and file version, the sidebar, error display.

Every page imports from here so the active run, the filters and the way errors are shown
stay the same everywhere. Nothing here computes anything worth testing on its own: the
cached readers call ``core`` and the sidebar only moves values between widgets, session
state and the URL.
"""

from __future__ import annotations

import contextlib
import logging
import runpy
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import polars as pl
import streamlit as st

from core.errors import ArtifactMissingError, RunNotFoundError
from core.infra.paths import datasets_root
from core.jobs.api import run_status
from core.runs.store import LATENTS_FILE, Run, get_run, list_runs
from core.views.table import Filters, SegmentTable, build_segment_table, filter_options

logger = logging.getLogger(__name__)

# Session-state keys shared by app.py and the pages.
RUN_KEY = "active_run"
FILTER_KEYS = {
    "competitions": "filter_competitions",
    "match_ids": "filter_matches",
    "team_ids": "filter_teams",
    "periods": "filter_periods",
}
# URL query parameter for each session-state key (a link reproduces the view).
URL_PARAMS = {
    RUN_KEY: "run",
    "filter_competitions": "competition",
    "filter_matches": "match",
    "filter_teams": "team",
    "filter_periods": "period",
}
_URL_LOADED = "_url_loaded"
INSPECT_KEY = "inspect_row"  # table row of the segment the Latent map inspects

# Error types a page turns into guidance instead of a traceback.
RUN_ERRORS: tuple[type[BaseException], ...] = (RunNotFoundError, ArtifactMissingError)


# --- routing -----------------------------------------------------------------------------

APP_PATH = Path(__file__).resolve().parent.parent / "app.py"
_ROUTING = threading.local()


@contextlib.contextmanager
def routing() -> Iterator[None]:
    """Mark the page run as routed through ``app.py`` (which wraps ``page.run()`` in this)."""
    _ROUTING.active = True
    try:
        yield
    finally:
        _ROUTING.active = False


def ensure_routed() -> None:
    """Run the page through ``app.py`` when Streamlit started it directly.

    Because the page files live in ``pages/``, Streamlit's legacy multipage mode can run a
    page file on its own (the first request after a server start, and every AppTest rerun),
    skipping ``app.py``: no page config, no sidebar, no filters. Each page calls this first;
    it runs ``app.py`` instead (which runs the page again, routed) and stops the bare run.
    """
    if getattr(_ROUTING, "active", False):
        return
    runpy.run_path(str(APP_PATH), run_name="__main__")
    st.stop()


# --- file versions and cached readers -----------------------------------------------------


def file_version(path: Path) -> str:
    """Modification time and size of ``path`` ("missing" when absent): a cache key part."""
    try:
        st_ = path.stat()
    except OSError:
        return "missing"
    return f"{st_.st_mtime_ns}-{st_.st_size}"


def run_version(run: Run, name: str = LATENTS_FILE) -> str:
    """Version of one artifact of ``run``, so caches refresh when the run is rewritten."""
    return file_version(run.artifact_path(name))


@st.cache_resource(max_entries=4, show_spinner="Loading the run's segments…")
def _segment_table(run_id: str, version: str, features_version: str) -> SegmentTable:
    run = get_run(run_id)
    cfg = run.config()
    features_path = cfg.features_path
    latents = run.latents()
    projection = run.umap() if run.has("umap.parquet") else None
    features = None
    feature_names = None
    if features_path.is_file():
        from core.runs.pipeline import load_features  # heavy import, only when a table is built

        features = load_features(features_path)  # one read; adds segment_id when missing
        if run.has("correlations.npz"):
            feature_names = run.correlations().feature_names
    matches = None
    matches_path = features_path.parent / "matches.parquet"
    if matches_path.is_file():
        matches = pl.read_parquet(matches_path)
    return build_segment_table(
        latents, projection, features, feature_names=feature_names, matches=matches
    )


def segment_table(run: Run) -> SegmentTable:
    """The run's row-aligned segments (cached per run and latents/features file version)."""
    features_path = run.config().features_path
    return _segment_table(run.run_id, run_version(run), file_version(features_path))


@st.cache_resource(max_entries=2, show_spinner="Loading match events…")
def _events(path: str, version: str) -> pl.DataFrame:
    return pl.read_parquet(path)


def dataset_events(run: Run) -> pl.DataFrame | None:
    """The compact events (``events.parquet``) beside the run's features, or ``None``."""
    path = run.config().features_path.parent / "events.parquet"
    if not path.is_file():
        return None
    return _events(str(path), file_version(path))


@st.cache_data(max_entries=2, show_spinner=False)
def _registry(version: str) -> pl.DataFrame | None:
    try:
        from core.features.registry import registry_frame
    except ImportError:
        return None
    return registry_frame()


def registry() -> pl.DataFrame | None:
    """The feature registry (name, tier, definition, unit, direction), ``None`` if unavailable."""
    try:
        import core.features.registry as reg

        version = file_version(Path(reg.__file__))
    except ImportError:
        return None
    return _registry(version)


def definitions() -> dict[str, str]:
    """Feature name -> one-line definition (with unit), for hovers and tables."""
    reg = registry()
    if reg is None:
        return {}
    unit = reg["unit"] if "unit" in reg.columns else pl.Series([""] * reg.height)
    return {
        n: f"{d} [{u}]" if u else str(d)
        for n, d, u in zip(reg["name"], reg["definition"], unit, strict=True)
    }


def with_registry(frame: pl.DataFrame, *columns: str) -> pl.DataFrame:
    """``frame`` with the registry's ``columns`` (unit, definition, ...) joined on ``feature``.

    Rows keep their order; without a registry ``frame`` comes back unchanged.
    """
    reg = registry()
    if reg is None:
        return frame
    cols = [c for c in columns if c in reg.columns]
    return frame.join(
        reg.select(pl.col("name").alias("feature"), *cols),
        on="feature",
        how="left",
        maintain_order="left",
    )


# --- runs ---------------------------------------------------------------------------------


def run_label(run: Run) -> str:
    """``"3f9a0c1b2d4e · β 4 · 8 latents · done · 2026-11-26 08:40"`` for pickers."""
    try:
        cfg = run.config()
        state = run_status(run).state
    except (RunNotFoundError, ArtifactMissingError, ValueError, KeyError):
        return f"{run.run_id} · unreadable"
    created = cfg.created_at.replace("T", " ")[:16]
    return (
        f"{run.run_id} · β {cfg.vae.beta:g} · {cfg.vae.latent_dim} latents · "
        f"{cfg.dataset or 'features'} · {state} · {created}"
    )


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
    return run


@contextlib.contextmanager
def friendly_errors(what: str = "this page") -> Iterator[None]:
    """Turn our typed errors into a message that says what happened and what to do."""
    try:
        yield
    except RunNotFoundError as exc:
        st.error(
            f"The run shown on {what} no longer exists ({exc}). It was probably deleted; "
            "pick another run in the sidebar."
        )
        st.stop()
    except ArtifactMissingError as exc:
        st.warning(f"{exc}")
        st.stop()
    except FileNotFoundError as exc:
        st.error(
            f"A file {what} needs is missing: {exc}. If the dataset folder was moved or "
            "deleted, extract it again on the **Data** page."
        )
        st.stop()


def show_error(message: str, exc: BaseException | None = None) -> None:
    """One consistent error box: what happened (``message``) plus the error's own text."""
    detail = f"\n\n`{type(exc).__name__}`: {exc}" if exc is not None else ""
    st.error(f"{message}{detail}")


def ensure_states(run: Run) -> None:
    """Fit the run's tactical states on a page's first visit, with a progress bar.

    Stops the page with a clear error when the states cannot be computed.
    """
    from core.analysis.states import StatesError, get_states, states_cached

    try:
        if not states_cached(run):
            bar = st.progress(0.0, text="Fitting the state mixtures (first visit)…")
            get_states(run, progress=lambda d, t, m: bar.progress(min(d / max(t, 1), 1.0), text=m))
            bar.empty()
    except StatesError as exc:
        show_error("The tactical states cannot be computed for this run.", exc)
        st.stop()


# --- sidebar: run picker and filters, mirrored in the URL ---------------------------------


def _coerce(values: list[str], kind: type) -> list[Any]:
    out: list[Any] = []
    for v in values:
        with contextlib.suppress(ValueError):
            out.append(kind(v))
    return out


def load_url_state() -> None:
    """On a session's first run, copy the URL's query parameters into session state."""
    if st.session_state.get(_URL_LOADED):
        return
    st.session_state[_URL_LOADED] = True
    qp = st.query_params
    if qp.get("run"):
        st.session_state[RUN_KEY] = qp.get("run")
    st.session_state["_url_filters"] = {
        "filter_competitions": qp.get_all("competition"),
        "filter_matches": _coerce(qp.get_all("match"), int),
        "filter_teams": _coerce(qp.get_all("team"), int),
        "filter_periods": _coerce(qp.get_all("period"), int),
    }


def write_url_state() -> None:
    """Mirror the run and filters into the URL (only when they differ, to avoid reruns)."""
    wanted: dict[str, list[str]] = {}
    run_id = st.session_state.get(RUN_KEY)
    if run_id:
        wanted["run"] = [str(run_id)]
    for key, param in URL_PARAMS.items():
        if key == RUN_KEY:
            continue
        values = st.session_state.get(key) or []
        if values:
            wanted[param] = [str(v) for v in values]
    current = {k: st.query_params.get_all(k) for k in st.query_params}
    if current == wanted:
        return
    for key in list(st.query_params):
        if key not in wanted:
            del st.query_params[key]
    for key, values in wanted.items():
        if current.get(key) != values:
            st.query_params[key] = values if len(values) > 1 else values[0]


def _valid(key: str, options: list[Any]) -> None:
    """Drop values no longer offered (another run, narrower competition) before the widget."""
    pending = st.session_state.get("_url_filters", {}).pop(key, None)
    if pending is not None:
        st.session_state[key] = pending
    if key in st.session_state:
        st.session_state[key] = [v for v in st.session_state[key] if v in options]


def sidebar() -> tuple[Run | None, Filters]:
    """Draw the run picker and the filters; return the active run and the filters."""
    load_url_state()
    apply_pending_run()
    runs = available_runs()
    ids = [r.run_id for r in runs]
    labels = {r.run_id: run_label(r) for r in runs}
    with st.sidebar:
        st.subheader("Run")
        if not ids:
            st.caption("No runs yet: train one on the **Train** page.")
            st.session_state.pop(RUN_KEY, None)
            run = None
        else:
            current = st.session_state.get(RUN_KEY)
            if current not in ids:
                done = [r.run_id for r in runs if _state(r) == "done"]
                if current:
                    st.warning(f"Run {current} no longer exists; showing the newest finished run.")
                st.session_state[RUN_KEY] = (done or ids)[0]
            st.selectbox(
                "Active run",
                ids,
                key=RUN_KEY,
                format_func=lambda rid: labels.get(rid, rid),
                help="Every page shows this run. Runs are named by a hash of data + config.",
            )
            run = active_run()
        filters = _filter_widgets(run)
    write_url_state()
    return run, filters


def _state(run: Run) -> str:
    try:
        return run_status(run).state
    except RUN_ERRORS:
        return "missing"


def _filter_widgets(run: Run | None) -> Filters:
    st.subheader("Filters")
    if run is None or _state(run) != "done":
        st.caption("Filters appear once the active run has finished.")
        for key in FILTER_KEYS.values():
            _valid(key, [])
        return Filters()
    try:
        meta = segment_table(run).meta
    except (RunNotFoundError, ArtifactMissingError, ValueError, OSError) as exc:
        st.caption(f"Filters unavailable: {exc}")
        return Filters()
    selected = Filters(
        competitions=tuple(st.session_state.get(FILTER_KEYS["competitions"], [])),
        match_ids=tuple(st.session_state.get(FILTER_KEYS["match_ids"], [])),
    )
    # URL values apply before options narrow, so build options from pending values too.
    pending = st.session_state.get("_url_filters", {})
    if pending:
        selected = Filters(
            competitions=tuple(pending.get("filter_competitions") or selected.competitions),
            match_ids=tuple(pending.get("filter_matches") or selected.match_ids),
        )
    opts = filter_options(meta, selected)
    _filter_select("Competition", "competitions", opts.competitions, "All competitions")
    opts = filter_options(
        meta, Filters(competitions=tuple(st.session_state[FILTER_KEYS["competitions"]]))
    )
    _filter_select("Match", "match_ids", opts.matches, "All matches")
    opts = filter_options(
        meta,
        Filters(
            competitions=tuple(st.session_state[FILTER_KEYS["competitions"]]),
            match_ids=tuple(st.session_state[FILTER_KEYS["match_ids"]]),
        ),
    )
    _filter_select("Team", "team_ids", opts.teams, "All teams")
    _filter_select("Period", "periods", opts.periods, "Both halves")
    return current_filters()


def _filter_select(
    label: str, field: str, options: Mapping[Any, str] | list[Any], placeholder: str
) -> None:
    """One sidebar filter: drop stale values, then a multiselect (a mapping's values label it)."""
    key = FILTER_KEYS[field]
    values = list(options)
    _valid(key, values)
    labels = options if isinstance(options, Mapping) else {}
    st.multiselect(
        label,
        values,
        key=key,
        format_func=lambda v: str(labels.get(v, v)),
        placeholder=placeholder,
    )


def current_filters() -> Filters:
    """The sidebar's filters as a :class:`core.views.table.Filters`."""
    return Filters(
        **{field: tuple(st.session_state.get(key) or ()) for field, key in FILTER_KEYS.items()}
    )


# --- small display helpers ----------------------------------------------------------------


def fmt_seconds(seconds: float | None) -> str:
    """``"1 min 05 s"`` / ``"42 s"`` / ``"–"`` for a time left."""
    if seconds is None:
        return "–"
    s = max(round(seconds), 0)
    if s >= 3600:
        return f"{s // 3600} h {s % 3600 // 60:02d} min"
    if s >= 60:
        return f"{s // 60} min {s % 60:02d} s"
    return f"{s} s"


def poll(interval_s: float, still_running: Callable[[], bool]) -> None:
    """Rerun the whole script after ``interval_s`` while ``still_running()`` (page polling)."""
    if still_running():
        time.sleep(interval_s)
        st.rerun()


def dataset_folders() -> list[Path]:
    """Dataset folders (holding ``features.parquet``) under the data root, newest first."""
    root = datasets_root()
    found = [p.parent for p in root.glob("*/features.parquet")]
    return sorted(found, key=lambda p: p.stat().st_mtime, reverse=True)


def set_active_run(run_id: str) -> None:
    """Make ``run_id`` the sidebar's active run from the next script run on.

    The picker widget already exists when a page runs, so the change is parked and applied
    by :func:`sidebar` before it draws the widget; callers then ``st.rerun()``.
    """
    st.session_state[_PENDING_RUN] = run_id


_PENDING_RUN = "_pending_active_run"


def apply_pending_run() -> None:
    """Apply a run parked by :func:`set_active_run` (called before the picker is drawn)."""
    pending = st.session_state.pop(_PENDING_RUN, None)
    if pending:
        st.session_state[RUN_KEY] = pending


def job_table(kind: str, *, key_prefix: str) -> bool:
    """List the background jobs of ``kind`` with state, progress, time left, cancel and errors.

    Returns whether any of them is still queued or running (the caller keeps polling).
    """
    from core.errors import JobError, JobNotFoundError
    from core.jobs.api import cancel_job, list_jobs

    jobs = list_jobs(kind)
    if not jobs:
        st.caption("No jobs yet.")
        return False
    any_active = False
    for job in jobs[:12]:
        any_active |= job.is_active
        label = job.run_id or (job.params.get("name") if job.params else None) or job.job_id
        with st.container(border=True):
            c1, c2, c3, c4 = st.columns([3, 3, 2, 1])
            c1.markdown(f"**{label}** · `{job.state}`  \n{job.created_at.replace('T', ' ')[:19]}")
            if job.is_active:
                c2.progress(min(max(job.progress, 0.0), 1.0), text=job.message or job.state)
                c3.caption(f"time left: {fmt_seconds(job.eta_s)}")
                if c4.button("Cancel", key=f"{key_prefix}_cancel_{job.job_id}"):
                    try:
                        cancel_job(job.job_id, wait=False)
                    except (JobError, JobNotFoundError) as exc:
                        show_error("Could not cancel the job.", exc)
                    else:
                        st.toast(f"Cancelling job {job.job_id}…")
            else:
                c2.caption(job.message or job.state)
                finished = (job.finished_at or "").replace("T", " ")[:19]
                c3.caption(f"finished {finished}" if finished else "")
            if job.state == "failed":
                st.error(f"Failed: {job.error or 'no error recorded'}")
                if job.log_tail:
                    with st.expander("Log tail"):
                        st.code(job.log_tail, language=None)
    return any_active


def loss_figure(curves: dict[str, pl.DataFrame], *, height: int = 320) -> Any:
    """Total, reconstruction and KL loss per epoch, one line per run in ``curves``."""
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    from core.views.palettes import QUALITATIVE

    fig = make_subplots(
        rows=1, cols=3, subplot_titles=("Total loss", "Reconstruction", "KL divergence")
    )
    for i, (label, metrics) in enumerate(curves.items()):
        color = QUALITATIVE[i % len(QUALITATIVE)]
        for col, name in enumerate(("total", "recon", "kl"), start=1):
            fig.add_trace(
                go.Scatter(
                    x=metrics["epoch"].to_list(),
                    y=metrics[name].to_list(),
                    mode="lines+markers" if metrics.height < 60 else "lines",
                    marker={"size": 4},
                    line={"color": color, "width": 1.8},
                    name=label,
                    legendgroup=label,
                    showlegend=col == 1 and len(curves) > 1,
                    hovertemplate=f"{label}<br>epoch %{{x}}<br>{name} %{{y:.4g}}<extra></extra>",
                ),
                row=1,
                col=col,
            )
    fig.update_xaxes(title_text="epoch")
    fig.update_layout(height=height, margin={"l": 10, "r": 10, "t": 40, "b": 10})
    return fig


def kl_per_dim_figure(metrics: pl.DataFrame, *, height: int = 300) -> Any:
    """KL divergence of each latent dimension per epoch (a flat line near 0 = collapsed)."""
    import plotly.graph_objects as go

    from core.views.palettes import QUALITATIVE

    fig = go.Figure()
    kl_cols = [c for c in metrics.columns if c.startswith("kl_z")]
    for i, col in enumerate(kl_cols):
        fig.add_trace(
            go.Scatter(
                x=metrics["epoch"].to_list(),
                y=metrics[col].to_list(),
                mode="lines",
                name=col.removeprefix("kl_"),
                line={"color": QUALITATIVE[i % len(QUALITATIVE)], "width": 1.5},
            )
        )
    fig.update_layout(
        height=height,
        margin={"l": 10, "r": 10, "t": 30, "b": 10},
        title={"text": "KL per latent dimension (nats)"},
        xaxis={"title": {"text": "epoch"}},
    )
    return fig
