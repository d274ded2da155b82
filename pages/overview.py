"""Overview: what data is loaded and what the active run learned; builds the demo on first start."""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any

import polars as pl
import streamlit as st

from core.analysis.quality import ACTIVE_UNIT_THRESHOLD, REDUNDANT_R
from core.analysis.states import load_states
from core.demo import DEMO_DATASET, demo_dataset_dir, ensure_demo
from core.errors import JobError, RunNotFoundError, StatesError
from core.features.datasets import Dataset
from core.features.summary import dataset_overview
from core.jobs.api import list_jobs, run_status, submit_extraction
from core.jobs.records import JobInfo
from core.runs.store import Run
from core.views.glossary import explain
from core.views.plain import run_headline, run_patterns
from pages._ui.dims import dim_view, dimension_table, pca_baseline, quality_warning, run_quality
from pages._ui.errors import RUN_ERRORS, friendly_errors, show_error
from pages._ui.readers import file_version
from pages._ui.routing import ensure_routed
from pages._ui.runs import active_run, available_runs, set_active_run
from pages._ui.widgets import dataset_folders, fmt_seconds

LINEAR_R2 = 0.9  # a dimension PCA's components explain this well is PCA-like
BOOT_KEY = "overview_bootstrap"  # this session started (or follows) the demo build
POLL_S = 1.5

ensure_routed()
st.title("Tactical states")
st.caption(
    "Find the recurring ways teams play, without labelling a single clip: every match is cut "
    "into short stretches per team (segments), each described by named numbers such as "
    "possession share or PPDA; a model (a beta-VAE) boils them down to a few patterns, and "
    "the pages on the left show what each pattern means and which teams play it. Unfamiliar "
    "word? See the **Glossary**."
)


def _demo_extraction() -> JobInfo | None:
    """The newest extraction job building the demo dataset, if any."""
    for job in list_jobs("extract"):
        if (job.params or {}).get("name") == DEMO_DATASET:
            return job
    return None


def _demo_features() -> Path:
    return Dataset(demo_dataset_dir()).features_path


def _start_demo() -> bool:
    """Submit the demo extraction and start the bootstrap; ``False`` (error shown) if refused."""
    try:
        submit_extraction("demo", DEMO_DATASET)
    except JobError as exc:
        show_error("The demo data could not be prepared.", exc)
        return False
    st.session_state[BOOT_KEY] = True
    return True


runs = available_runs()
folders = dataset_folders()
first_start = not runs and not folders
demo_job = _demo_extraction()
if (
    first_start
    and (demo_job is None or demo_job.is_final)
    and not st.session_state.get(BOOT_KEY)
    and _start_demo()
):
    demo_job = _demo_extraction()
if demo_job is not None and demo_job.is_active:
    st.session_state[BOOT_KEY] = True


@st.fragment(run_every=POLL_S if st.session_state.get(BOOT_KEY) else None)
def bootstrap() -> None:
    """First start: extract the demo matches, then train the default run, with progress."""
    if not st.session_state.get(BOOT_KEY):
        return
    with st.status("Building the demo: 3 StatsBomb matches and the default run…", expanded=True):
        job = _demo_extraction()
        if not _demo_features().is_file():
            if job is None:
                st.write("Waiting for the extraction job to start…")
            elif job.state == "failed":
                st.error(
                    f"Extracting the demo matches failed: {job.error}. Check that kloppy "
                    "3.19.1 is installed (its wheel ships the demo files), then reload."
                )
                st.session_state.pop(BOOT_KEY, None)
            else:
                st.progress(
                    min(max(job.progress, 0.0), 1.0),
                    text=f"Extracting features: {job.message or job.state} · "
                    f"time left {fmt_seconds(job.eta_s)}",
                )
            return
        st.write("Demo features ready.")
        try:
            run = ensure_demo(wait=False)
        except (JobError, RuntimeError, OSError, ValueError) as exc:
            show_error("The default run could not be started.", exc)
            st.session_state.pop(BOOT_KEY, None)
            return
        status = run_status(run)
        if status.state == "done":
            st.session_state.pop(BOOT_KEY, None)
            set_active_run(run.run_id)
            st.rerun()
        if status.state == "failed":
            st.error(f"Training the default run failed: {status.error}. Open **Train** to retry.")
            st.session_state.pop(BOOT_KEY, None)
            return
        st.progress(
            min(max(status.progress, 0.0), 1.0),
            text=f"Training run {run.run_id}: {status.message or status.stage} · "
            f"time left {fmt_seconds(status.eta_s)}",
        )
        st.caption("You can explore other pages meanwhile; training continues in the background.")


bootstrap()


NEXT_STEPS = (
    ("pages/states.py", "See the tactical states and what sets each apart", ":material/category:"),
    ("pages/report.py", "Pick a team and download its report (PDF)", ":material/description:"),
    ("pages/latent-map.py", "Click any segment on the map to watch it on the pitch",
     ":material/scatter_plot:"),
    ("pages/timeline.py", "Follow a match minute by minute", ":material/timeline:"),
    ("pages/glossary.py", "Look up a word (BIC, PPDA, latent, ...)", ":material/menu_book:"),
)  # fmt: skip


def _findings(run: Run) -> None:
    """What the active run found, in words, then where a new user goes next."""
    quality = run_quality(run)
    if quality is None:
        return
    states = None
    with contextlib.suppress(*RUN_ERRORS, StatesError):
        result = load_states(run)
        if result is not None:
            states = result.labels.filter(pl.col("space") == "latent")
    patterns = run_patterns(run.interpretation(), quality.distinct)
    st.subheader("What this run found")
    st.markdown(run_headline(patterns, states))
    if states is None and patterns:
        st.caption("Open **States** to group the segments into tactical states by these patterns.")
    for i, pattern in enumerate(patterns, 1):
        st.markdown(f"{i}. **{pattern.name}** ({pattern.reading}).")
    st.markdown("**Next steps**")
    left, right = st.columns(2)
    for i, (path, label, icon) in enumerate(NEXT_STEPS):
        (left if i < 3 else right).page_link(path, label=label, icon=icon)
    st.caption("Sidebar filters do not apply on this page: it describes the whole dataset and run.")


_found = active_run()
if _found is not None:
    with contextlib.suppress(*RUN_ERRORS):
        if run_status(_found).state == "done":
            _findings(_found)


@st.cache_data(max_entries=8, show_spinner=False)
def _overview(path: str, version: str) -> tuple[dict[str, Any], pl.DataFrame | None]:
    features = pl.read_parquet(path)
    return dataset_overview(features), Dataset.of_features(path).matches()


run = active_run()
dataset_dir: Path | None = None
if run is not None:
    with friendly_errors("the Overview"):
        dataset_dir = run.config().features_path.parent
elif folders:
    dataset_dir = folders[0]

st.subheader("Dataset")
if dataset_dir is None or not Dataset(dataset_dir).exists():
    if not st.session_state.get(BOOT_KEY):
        st.info("No dataset yet. Extract one on the **Data** page, or build the demo here.")
        if st.button("Build the demo", key="overview_build_demo", type="primary") and _start_demo():
            st.rerun()
else:
    fpath = Dataset(dataset_dir).features_path
    summary, matches = _overview(str(fpath), file_version(fpath))
    st.caption(f"`{dataset_dir.name}` · {fpath}")
    c = st.columns(6)
    c[0].metric("Matches", summary["matches"])
    c[1].metric("Teams", summary["teams"])
    c[2].metric("Competitions", summary["competitions"])
    c[3].metric("Segments", f"{summary['segments']:,}")
    c[4].metric(
        "Features",
        summary["features"],
        help=" · ".join(f"t{t}: {n}" for t, n in summary["features_by_tier"].items()),
    )
    c[5].metric(
        "360 coverage",
        f"{summary['coverage_360']:.0%}",
        help="Share of segments with at least one tier-3 (360 freeze-frame) feature.",
    )
    tiers = ", ".join(f"{n} tier-{t}" for t, n in summary["features_by_tier"].items())
    by_type = ", ".join(f"{n:,} {k}" for k, n in summary["segments_by_type"].items())
    st.caption(f"Features: {tiers}. Segments: {by_type}.")
    if matches is not None and matches.height:
        with st.expander(f"Matches ({matches.height})"):
            cols = [
                c for c in ("label", "competition", "season", "has_360") if c in matches.columns
            ]
            st.dataframe(matches.select(cols), hide_index=True, key="overview_matches")


def _headline(run: Run) -> None:
    cfg = run.config()
    status = run_status(run)
    st.markdown(f"Run **{run.run_id}** on `{cfg.dataset}` · state `{status.state}`")
    v, p = cfg.vae, cfg.preprocess
    st.caption(
        f"beta {v.beta:g} · {v.latent_dim} latents · hidden {'-'.join(map(str, v.hidden_dims))} · "
        f"{v.n_epochs} epochs · lr {v.learning_rate:g} · batch {v.batch_size} · dropout "
        f"{v.dropout:g} · seed {v.random_state} · tiers ≤ {p.max_tier} · {p.segment_type} segments"
    )
    if status.state == "failed":
        st.error(f"This run failed: {status.error}. Start it again on the **Train** page.")
        return
    if status.state != "done":
        st.info(f"This run is {status.state} ({status.progress:.0%}); follow it on **Train**.")
        return
    metrics = run.metrics()
    diag = run.diagnostics()
    quality = run_quality(run)
    quality_warning(run)
    c = st.columns(5)
    if metrics.height:
        last = metrics.row(-1, named=True)
        c[0].metric("Final total loss", f"{last['total']:.4g}")
        c[1].metric("Reconstruction", f"{last['recon']:.4g}", help=explain("Reconstruction error"))
        c[2].metric("KL", f"{last['kl']:.4g}", help=explain("KL"))
    if quality is not None:
        c[3].metric(
            "Distinct dimensions",
            f"{quality.n_distinct} / {len(quality.names)}",
            help="Active (the posterior mean varies across segments) and not a copy of a "
            "more informative dimension. Only these are worth reading.",
        )
        c[4].metric(
            "Redundant · inactive",
            f"{len(quality.redundant)} · {len(quality.inactive)}",
            help=f"Redundant: correlates |r| ≥ {REDUNDANT_R} with a more informative dimension "
            f"(a copy). Inactive: posterior-mean variance below {ACTIVE_UNIT_THRESHOLD} "
            "(collapsed to the prior).",
        )
    for warning in diag.get("warnings") or []:
        st.caption(f":material/info: {warning}")
    _dimensions(run, diag)


def _dimensions(run: Run, diag: dict[str, Any]) -> None:
    """What each dimension tracks, and what the VAE adds beyond a PCA of the same size."""
    view = dim_view(run)
    if view.quality is None:
        return
    st.markdown(f"**Dimensions in detail.** {view.quality.verdict}")
    rotation = diag.get("rotation")
    if isinstance(rotation, dict):
        st.caption(
            f"Reading axes ({str(rotation.get('method', '')).replace('_', ' ')}): the first "
            "dimension is the model's most informative one; the next are rotations of the "
            "rest of the distinct subspace toward simple structure, so they read the same "
            "from seed to seed."
        )
    baseline = pca_baseline(diag)
    st.dataframe(
        dimension_table(view, baseline),
        hide_index=True,
        width="stretch",
        key="overview_dims",
        column_config={
            "status": st.column_config.TextColumn("status", width="medium"),
            "tracks": st.column_config.TextColumn("tracks (top features, r)", width="large"),
            "abs_r": st.column_config.NumberColumn(
                "|r| with it",
                format="%.2f",
                help="Correlation with the principal component it follows most.",
            ),
            "r2_all_components": st.column_config.NumberColumn(
                "R² on all components",
                format="%.2f",
                help="How much of the dimension a linear mix of the principal components "
                "explains: near 1, PCA finds it too; well below 1, the VAE adds something.",
            ),
        },
    )
    view.caption()
    st.markdown("**Beside a linear baseline (PCA with as many components)**")
    if baseline is None:
        st.caption(
            "This run has no PCA baseline: it was trained before the baseline existed. "
            "Retrain it on the **Train** page to compare the VAE with PCA."
        )
        return
    k = baseline.n_components
    pca, vae = baseline.pca_recon_mse, baseline.vae_recon_mse
    b = st.columns(3)
    b[0].metric(
        f"Variance explained by {k} components",
        f"{baseline.cumulative_variance[-1]:.0%}",
        help=" · ".join(
            f"PC{i + 1} {v:.0%}" for i, v in enumerate(baseline.explained_variance_ratio)
        ),
    )
    b[1].metric("PCA reconstruction error", f"{pca:.4g}")
    b[2].metric(
        "VAE reconstruction error",
        "–" if vae is None else f"{vae:.4g}",
        delta=None if vae is None else f"{vae - pca:+.3g} vs PCA",
        delta_color="inverse",
        help="Decoding the posterior means, with PCA's reduction.",
    )
    if vae is None:
        verdict = "The VAE's reconstruction error at the posterior means was not recorded."
    elif vae <= pca:
        verdict = (
            f"With the same {k} dimensions the VAE reconstructs the inputs better than PCA "
            f"({vae:.4g} vs {pca:.4g}): it captures structure a linear projection misses."
        )
    else:
        verdict = (
            f"With the same {k} dimensions PCA reconstructs the inputs better than the VAE "
            f"({pca:.4g} vs {vae:.4g}): the VAE's value is in its few readable dimensions, "
            "not in compression."
        )
    linear = [
        a["latent"]
        for a in baseline.alignment
        if a["latent"] in view.quality.distinct and a["r2_all_components"] >= LINEAR_R2
    ]
    st.caption(
        f"{verdict} Errors are squared errors summed over the z-scored inputs, averaged over "
        f"segments (predicting every segment by the mean costs {baseline.total_variance:.4g}). "
        f"{len(linear)} of {view.quality.n_distinct} distinct dimensions are almost linear in "
        f"the principal components (R² ≥ {LINEAR_R2}): there the VAE finds what PCA finds, "
        "possibly rotated."
    )


st.subheader("Active run")
if run is None:
    st.info(
        "No run yet. Train one on the **Train** page"
        + (" — the demo run is being built above." if st.session_state.get(BOOT_KEY) else ".")
    )
else:
    try:
        _headline(run)
    except RunNotFoundError:
        st.error("The active run was deleted. Pick another run in the sidebar.")
    except RUN_ERRORS as exc:
        st.warning(f"{exc}")
