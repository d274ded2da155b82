"""Stability: does each latent dimension mean the same thing when the seed changes?"""

from __future__ import annotations

import plotly.graph_objects as go
import polars as pl
import streamlit as st

from core.errors import FeaturesFileError, StabilityError
from core.features.names import display_name
from core.jobs.api import run_status
from core.jobs.seeds import seed_runs, start_seed_runs
from core.runs.store import get_run
from core.services.stability import DEFAULT_SEEDS, stability_report
from core.views.dims import shown_rows
from core.views.ensemble import ensemble_view
from core.views.glossary import explain
from core.views.palettes import QUALITATIVE
from core.views.plain import stability_reading
from core.views.providers import ProviderView, provider_runs, provider_view
from pages._ui.dims import dim_view
from pages._ui.errors import friendly_errors, show_error
from pages._ui.readers import run_version
from pages._ui.routing import ensure_routed
from pages._ui.runs import available_runs, require_run, run_label
from pages._ui.scope import ignores_filters
from pages._ui.widgets import poll

ensure_routed()

st.title("Stability across seeds")
st.caption(
    "Every run trains several seeds together and reads only the patterns they find again "
    "(below). For more, train the active run's configuration again under other seeds "
    "(background jobs), match "
    "each seed's dimensions to this run's by the absolute correlation of their codes "
    "(Hungarian assignment, signs aligned), and check whether each dimension keeps its top-5 "
    "features. A dimension whose top features agree across seeds (Jaccard near 1) means "
    "something stable; one that does not is an artefact of the seed."
)

run = require_run()
ignores_filters("stability compares whole trainings, each fitted on all of the run's segments.")

with friendly_errors("the seed ensemble"):
    ens = ensemble_view(run)
if ens is not None:
    st.subheader("The run's own seeds")
    st.markdown(ens.summary)
    st.dataframe(ens.table, hide_index=True)


@st.cache_data(ttl=30, show_spinner=False)
def _provider_runs(run_id: str, run_ids: tuple[str, ...]) -> list[tuple[str, str]]:
    return [(r.run_id, p) for r, p in provider_runs(get_run(run_id), map(get_run, run_ids))]


@st.cache_resource(max_entries=4, show_spinner="Comparing the two providers' runs…")
def _provider_view(run_id: str, other_id: str, versions: tuple[str, ...]) -> ProviderView:
    return provider_view(get_run(run_id), get_run(other_id))


st.subheader("Across providers")
pv: ProviderView | None = None
with friendly_errors("the comparison across providers"):
    others = dict(_provider_runs(run.run_id, tuple(r.run_id for r in available_runs())))
    if not others:
        st.caption(
            "No finished run of another provider's data on the same matches to compare with. "
            "Extract these matches from another provider on the **Data** page and train on "
            "them: the patterns both models find are properties of the teams' play, not of "
            "one provider's event definitions."
        )
    else:
        other_id = st.selectbox(
            "Compare with the run of another provider",
            list(others),
            format_func=lambda r: f"{others[r]} · {run_label(get_run(r))}",
            key="stab_provider",
        )
        other = get_run(other_id)
        try:
            pv = _provider_view(run.run_id, other_id, (run_version(run), run_version(other)))
        except FeaturesFileError as exc:
            st.info(f"These two runs cannot be compared: {exc}")
            pv = None
    if pv is not None:
        st.markdown(pv.summary)
        if pv.axes is not None:
            st.dataframe(pv.axes, hide_index=True, width="stretch", key="stab_provider_axes")
        else:
            st.info(pv.axes_note)
        st.caption(
            "Team ranks: each team's mean code on the axis that tracks the pattern in each "
            "run, and the Spearman correlation of the two rankings (1: the same order)."
        )
        st.dataframe(pv.patterns, hide_index=True, key="stab_provider_patterns")
        with st.expander("Feature by feature: team-match means in both providers"):
            st.dataframe(pv.features, hide_index=True, width="stretch", key="stab_provider_f")

st.subheader("Separate seed runs")
st.caption("A further check: whole runs of this configuration under other seeds.")


def _parse_seeds(text: str) -> list[int]:
    return sorted({int(tok) for tok in text.replace(",", " ").split() if tok.strip()})


with friendly_errors("the Stability page"):
    own_seed = run.config().seed
    default = " ".join(str(s) for s in DEFAULT_SEEDS if s != own_seed)
    c1, c2 = st.columns([3, 1])
    text = c1.text_input(
        "Seeds to compare with",
        value=default,
        key="stab_seeds",
        help=explain(
            "Seed",
            extra=f"Integers separated by spaces or commas. This run's own seed is {own_seed}.",
        ),
    )
    try:
        seeds = [s for s in _parse_seeds(text) if s != own_seed]
    except ValueError:
        st.error(f"Seeds must be whole numbers separated by spaces or commas, got {text!r}.")
        st.stop()
    if not seeds:
        st.info("Enter at least one seed other than this run's own.")
        st.stop()
    found = seed_runs(run, seeds)
    missing = [s for s in found if s.state in ("missing", "failed", "cancelled")]
    if c2.button(
        f"Train {len(missing)} seed run(s)" if missing else "All seed runs started",
        disabled=not missing,
        key="stab_start",
        type="primary",
    ):
        try:
            start_seed_runs(run, [s.seed for s in missing])
        except (ValueError, RuntimeError) as exc:
            show_error("Could not start the seed runs.", exc)
        else:
            st.rerun()

    states = pl.DataFrame(
        {
            "seed": [s.seed for s in found],
            "run_id": [s.run_id for s in found],
            "state": [s.state for s in found],
            "progress": [run_status(s.run).progress if s.run is not None else 0.0 for s in found],
        }
    )
    st.dataframe(
        states,
        hide_index=True,
        key="stab_runs",
        column_config={
            "progress": st.column_config.ProgressColumn("progress", min_value=0, max_value=1)
        },
    )
    active = [s for s in found if s.state in ("queued", "running")]
    follow = False
    if active:
        st.caption(
            f"{len(active)} seed run(s) still training (follow them on the **Train** page); "
            "the report below uses the finished ones."
        )
        follow = st.toggle("Refresh while they train", value=True, key="stab_follow")

    try:
        report = stability_report(run, seed_runs(run, seeds))
    except StabilityError as exc:
        st.info(str(exc))
        poll(3.0, lambda: follow)
        st.stop()

# The report compares the distinct dimensions only; its notes name the others.
view = dim_view(run)
dims = shown_rows(report.dimensions, view, column="dim")
st.subheader("Per dimension")
st.caption(
    f"Compared over {report.n_segments:,} shared segments with "
    f"{len(report.run_ids) - 1} seed run(s). Jaccard = |A∩B| / |A∪B| of two runs' top-5 "
    "feature sets, averaged over every pair of runs; |r| of codes = how closely the matched "
    "dimension's codes follow this run's; profile r = correlation of the sign-aligned "
    "feature-correlation profiles."
)
fig = go.Figure(
    go.Bar(
        x=[view.label(d) for d in dims["dim"].to_list()],
        y=dims["mean_jaccard"].to_list(),
        marker_color=[
            QUALITATIVE[0] if j >= 0.6 else QUALITATIVE[2] if j >= 0.3 else QUALITATIVE[3]
            for j in dims["mean_jaccard"].fill_null(0).to_list()
        ],
        hovertemplate="%{x}: mean Jaccard %{y:.2f}<extra></extra>",
    )
)
fig.update_layout(
    yaxis={"range": [0, 1], "title": "mean top-5 Jaccard"},
    height=320,
    margin={"l": 10, "r": 10, "t": 20, "b": 10},
)
st.plotly_chart(fig, key="stab_chart")
for note in report.notes:
    st.caption(note[:1].upper() + note[1:])
st.markdown("**In plain words**")
for row in dims.iter_rows(named=True):
    reading = stability_reading(row["mean_jaccard"], row["mean_abs_corr"], row.get("n_runs"))
    tops = row.get("top_features") or []
    named = ", ".join(display_name(str(f)) for f in list(tops)[:2])
    st.markdown(f"- **{view.label(row['dim'])}** ({named}): {reading}")
st.dataframe(
    dims.select(
        "dim",
        "dim_status",
        "top_features",
        "mean_jaccard",
        "min_jaccard",
        "mean_abs_corr",
        "profile_r",
        "n_runs",
    ),
    hide_index=True,
    width="stretch",
    key="stab_table",
    column_config={
        "mean_jaccard": st.column_config.ProgressColumn(
            "mean Jaccard", format="%.2f", min_value=0, max_value=1, help=explain("Jaccard")
        ),
        "min_jaccard": st.column_config.NumberColumn("min Jaccard", format="%.2f"),
        "mean_abs_corr": st.column_config.NumberColumn(
            "|r| of codes", format="%.2f", help=explain("Hungarian matching", "Pearson r")
        ),
        "profile_r": st.column_config.NumberColumn("profile r", format="%+.2f"),
    },
)
with st.expander("How each seed's dimensions were matched"):
    st.dataframe(
        report.matches,
        hide_index=True,
        width="stretch",
        key="stab_matches",
        column_config={"abs_corr": st.column_config.NumberColumn("|r|", format="%.2f")},
    )

poll(3.0, lambda: follow)
