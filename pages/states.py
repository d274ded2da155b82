"""States: Gaussian mixtures on the latent codes vs on the raw features, and what each state is."""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
import polars as pl
import streamlit as st

from core.analysis.mixtures import DEFAULT_K_RANGE
from core.analysis.states import get_states, load_states, states_cached
from core.errors import FingerprintError, StatesError
from core.features.names import display_name
from core.views.glossary import explain
from core.views.palettes import QUALITATIVE
from core.views.report import state_example
from core.views.table import filter_mask
from pages._ui.dims import dim_view
from pages._ui.errors import friendly_errors, show_error
from pages._ui.readers import with_registry
from pages._ui.routing import ensure_routed
from pages._ui.runs import require_run
from pages._ui.sidebar import current_filters
from pages._ui.widgets import open_segment_button

ensure_routed()

SPACE_NAMES = {"latent": "Latent codes", "features": "Z-scored features"}

st.title("Tactical states")
st.caption(
    "A Gaussian mixture groups segments into recurring states, once on the VAE's latent codes "
    "and once on the z-scored features. K is chosen by BIC (lower is better). The adjusted "
    "Rand index says how far the two agree; each state's label names its most distinctive "
    "features, with the numbers behind it below."
)

run = require_run()
with friendly_errors("the States page"):
    existing = load_states(run)
    default_range = (
        (existing.summary["params"]["k_values"][0], existing.summary["params"]["k_values"][-1])
        if existing is not None
        else DEFAULT_K_RANGE
    )
    c1, c2 = st.columns([3, 1])
    k_range = c1.slider(
        "Range of K tried (number of states)",
        min_value=2,
        max_value=16,
        value=default_range,
        key="states_k_range",
        help="Every K in the range is fitted on a seeded sample of up to 10,000 segments; "
        "the one with the lowest BIC is refitted on all segments.",
    )
    recompute = c2.button("Recompute", key="states_recompute", help="Fit the mixtures again.")
    try:
        if recompute or not states_cached(run, k_range=k_range):
            bar = st.progress(0.0, text="Fitting mixtures…")
            result = get_states(
                run,
                k_range=k_range,
                recompute=recompute,
                progress=lambda d, t, m: bar.progress(min(d / max(t, 1), 1.0), text=m),
            )
            bar.empty()
        else:
            result = get_states(run, k_range=k_range)
    except StatesError as exc:
        show_error("The tactical states cannot be computed for this run.", exc)
        st.stop()

summary = result.summary
m1, m2, m3, m4, m5 = st.columns(5)
m1.metric("States (latent)", summary["latent"]["best_k"])
m2.metric("States (features)", summary["features"]["best_k"])
m3.metric(
    "Agreement (ARI)",
    f"{summary['ari']:.2f}",
    help=explain("ARI"),
)
for col, space in ((m4, "latent"), (m5, "features")):
    sil = summary[space]["silhouette"]
    col.metric(
        f"Silhouette ({space})",
        "–" if sil is None else f"{sil:.2f}",
        help=f"Mean silhouette on a seeded sample of {summary[space]['silhouette_sample']:,} "
        "segments, in each space's own coordinates (higher = better separated).",
    )
st.caption(
    f"{summary['n_segments']:,} segments · latent space {summary['latent']['dims']} dims, "
    f"feature space {summary['features']['dims']} features · fitted in "
    f"{summary['latent']['fit_seconds']:.1f} s and {summary['features']['fit_seconds']:.1f} s."
    + "".join(
        f" {space.capitalize()} mixture: {summary[space]['plan']['method']}."
        for space in ("latent", "features")
        if "plan" in summary[space]
    )
)
view = dim_view(run)
used = result.dims_used
if used:
    left_out = [view.label(n) for n in view.names if n not in used]
    st.caption(
        f"The latent mixture is fitted on the run's {len(used)} distinct dimension(s) ("
        + ", ".join(used)
        + ")"
        + (f"; left out: {', '.join(left_out)}." if left_out else ".")
    )
if result.one_axis_message:
    st.info(f"{result.one_axis_message[:1].upper()}{result.one_axis_message[1:]}.")

tab_bic, tab_states, tab_agree = st.tabs(["BIC curves", "States and profiles", "Agreement"])

with tab_bic:
    cols = st.columns(2)
    for col, space in zip(cols, ("latent", "features"), strict=True):
        curve = result.bic.filter(pl.col("space") == space)
        best = summary[space]["best_k"]
        fig = go.Figure(
            go.Scatter(
                x=curve["k"].to_list(),
                y=curve["bic"].to_list(),
                mode="lines+markers",
                line={"color": QUALITATIVE[0 if space == "latent" else 1]},
                hovertemplate="K=%{x}<br>BIC=%{y:,.0f}<extra></extra>",
            )
        )
        fig.add_vline(x=best, line_dash="dot", annotation_text=f"K={best}")
        fig.update_layout(
            title=f"{SPACE_NAMES[space]}: BIC by K",
            xaxis_title="K (states)",
            yaxis_title="BIC",
            height=340,
            margin={"l": 10, "r": 10, "t": 50, "b": 10},
        )
        col.plotly_chart(fig, key=f"states_bic_{space}")

with tab_states:
    space = st.radio(
        "Mixture",
        ["latent", "features"],
        format_func=SPACE_NAMES.get,
        horizontal=True,
        key="states_space",
    )
    labels = result.labels.filter(pl.col("space") == space)
    filters = current_filters()
    table = labels.select("state", "label", "n", "share")
    if filters.active:
        # Shares within the sidebar's filter (a team, a match, ...) beside the overall ones.
        meta = run.latents().join(result.assignments, on="segment_id", how="inner")
        mask = filter_mask(meta, filters)
        sub = meta.filter(pl.Series(mask))
        counts = np.bincount(sub[f"{space}_state"].to_numpy(), minlength=labels.height)
        table = table.with_columns(pl.Series("share_in_filter", counts / max(int(counts.sum()), 1)))
        st.caption(
            f"Sidebar filters apply: 'share in filter' is over {sub.height:,} of "
            f"{meta.height:,} segments; the states themselves are fitted on all segments."
        )
    else:
        st.caption(
            "The states are fitted on all segments; set a sidebar filter (a team, a match) "
            "to see its shares beside the overall ones."
        )
    st.dataframe(
        table,
        hide_index=True,
        width="stretch",
        key="states_table",
        column_config={
            "share": st.column_config.ProgressColumn(
                "share", format="%.2f", min_value=0, max_value=1
            ),
            "share_in_filter": st.column_config.ProgressColumn(
                "share in filter", format="%.2f", min_value=0, max_value=1
            ),
        },
    )
    state = st.selectbox(
        "State to profile",
        labels["state"].to_list(),
        format_func=lambda s: f"{s}: {labels.filter(pl.col('state') == s)['label'][0]}",
        key="states_profile_state",
    )
    try:
        among = (
            run.latents().filter(pl.Series(filter_mask(run.latents(), filters)))["segment_id"]
            if filters.active
            else None
        )
        example = state_example(
            result.assignments, int(state), space=space,
            among=among.to_list() if among is not None else None,
        )  # fmt: skip
    except FingerprintError as exc:
        st.caption(str(exc))
    else:
        open_segment_button(
            run, example, key="states_open_example",
            label="Open the segment most typical of this state on the pitch",
        )  # fmt: skip
    prof = (
        result.profiles.filter((pl.col("space") == space) & (pl.col("state") == state))
        .sort(pl.col("effect").abs(), descending=True)
        .select("feature", "state_mean", "population_mean", "population_std", "effect")
    )
    prof = with_registry(prof, "unit", "direction", "definition")
    top = prof.head(12).reverse()
    fig = go.Figure(
        go.Bar(
            x=top["effect"].to_list(),
            y=[display_name(f) for f in top["feature"].to_list()],
            orientation="h",
            marker_color=[QUALITATIVE[1] if e > 0 else QUALITATIVE[3] for e in top["effect"]],
            customdata=np.stack(
                [top["state_mean"].to_numpy(), top["population_mean"].to_numpy()], axis=1
            ),
            hovertemplate="%{y}<br>state %{customdata[0]:.3g} vs all %{customdata[1]:.3g}"
            "<br>%{x:+.2f} sd<extra></extra>",
        )
    )
    fig.update_layout(
        title="Most distinctive features (state mean minus population mean, in sd)",
        xaxis_title="standardised difference",
        height=420,
        margin={"l": 10, "r": 10, "t": 50, "b": 10},
    )
    st.plotly_chart(fig, key="states_profile_chart")
    st.dataframe(
        prof,
        hide_index=True,
        width="stretch",
        key="states_profile_table",
        column_config={
            "state_mean": st.column_config.NumberColumn("state mean", format="%.3g"),
            "population_mean": st.column_config.NumberColumn("all segments", format="%.3g"),
            "population_std": st.column_config.NumberColumn("sd", format="%.3g"),
            "effect": st.column_config.NumberColumn("difference (sd)", format="%+.2f"),
        },
    )

with tab_agree:
    lat = result.labels.filter(pl.col("space") == "latent")["label"].to_list()
    feat = result.labels.filter(pl.col("space") == "features")["label"].to_list()
    table_counts = result.contingency
    fig = go.Figure(
        go.Heatmap(
            z=table_counts,
            x=[f"F{j}: {name}" for j, name in enumerate(feat)],
            y=[f"L{i}: {name}" for i, name in enumerate(lat)],
            colorscale="Blues",
            text=table_counts,
            texttemplate="%{text}",
            hovertemplate="latent %{y}<br>features %{x}<br>%{z} segments<extra></extra>",
        )
    )
    fig.update_layout(
        title=f"Segments per (latent state, feature state) · ARI {summary['ari']:.2f}",
        height=max(320, 60 * len(lat) + 160),
        margin={"l": 10, "r": 10, "t": 50, "b": 10},
        yaxis={"autorange": "reversed"},
    )
    st.plotly_chart(fig, key="states_contingency")
    st.caption(
        "Rows are the latent mixture's states, columns the feature mixture's. A row "
        "concentrated in one column means both views found the same state."
    )
