"""States: Gaussian mixtures on the latent codes vs on the raw features, and what each state is."""

from __future__ import annotations

import streamlit as st

from core.errors import FingerprintError
from core.views.glossary import explain
from core.views.states import (
    SPACE_NAMES,
    TABLE_HINT,
    bic_figure,
    contingency_figure,
    fit_caption,
    profile_figure,
    readable_profile,
    state_profile,
    state_shares,
    states_k_range,
    typical_state_segment,
)
from pages._ui.dims import dim_view
from pages._ui.errors import friendly_errors
from pages._ui.readers import with_registry
from pages._ui.routing import ensure_routed
from pages._ui.runs import require_run, states_or_wait
from pages._ui.sidebar import current_filters
from pages._ui.widgets import open_segment, open_segment_button, selected_row

ensure_routed()

st.title("Tactical states")
st.caption(
    "A Gaussian mixture groups segments into recurring states, once on the VAE's latent codes "
    "and once on the z-scored features. K is chosen by BIC (lower is better). The adjusted "
    "Rand index says how far the two agree; each state's label names its most distinctive "
    "features, with the numbers behind it below."
)

run = require_run()
with friendly_errors("the States page"):
    c1, c2 = st.columns([3, 1])
    k_range = c1.slider(
        "Range of K tried (number of states)",
        min_value=2,
        max_value=16,
        value=states_k_range(run),
        key="states_k_range",
        help="Every K in the range is fitted on a seeded sample of up to 10,000 segments; "
        "the one with the lowest BIC is refitted on all segments.",
    )
    recompute = c2.button("Recompute", key="states_recompute", help="Fit the mixtures again.")
result = states_or_wait(run, k_range, recompute=recompute)
summary = result.summary
m1, m2, m3, m4, m5 = st.columns(5)
m1.metric("States (latent)", summary["latent"]["best_k"])
m2.metric("States (features)", summary["features"]["best_k"])
m3.metric("Agreement (ARI)", f"{summary['ari']:.2f}", help=explain("ARI"))
for col, space in ((m4, "latent"), (m5, "features")):
    sil = summary[space]["silhouette"]
    col.metric(
        f"Silhouette ({space})",
        "–" if sil is None else f"{sil:.2f}",
        help=f"Mean silhouette on a seeded sample of {summary[space]['silhouette_sample']:,} "
        "segments, in each space's own coordinates (higher = better separated).",
    )
st.caption(fit_caption(result))
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

tab_states, tab_bic, tab_agree = st.tabs(["States and profiles", "BIC curves", "Agreement"])

with tab_states:
    space = st.radio(
        "Mixture",
        ["latent", "features"],
        format_func=SPACE_NAMES.get,
        horizontal=True,
        key="states_space",
    )
    filters = current_filters()
    latents = run.latents()
    shares = state_shares(result, latents, space, filters)
    if filters.active:
        # Shares within the sidebar's filter (a team, a match, ...) beside the overall ones.
        st.caption(
            f"Sidebar filters apply: 'share in filter' is over {shares.n_filtered:,} of "
            f"{shares.n_total:,} segments; the states themselves are fitted on all segments."
        )
    else:
        st.caption(
            "The states are fitted on all segments; set a sidebar filter (a team, a match) "
            "to see its shares beside the overall ones."
        )
    st.caption(TABLE_HINT)
    event = st.dataframe(
        shares.table,
        hide_index=True,
        width="stretch",
        key="states_table",
        on_select="rerun",
        selection_mode="single-row",
        column_config={
            "share": st.column_config.ProgressColumn(
                "share", format="%.2f", min_value=0, max_value=1
            ),
            "share_in_filter": st.column_config.ProgressColumn(
                "share in filter", format="%.2f", min_value=0, max_value=1
            ),
        },
    )
    if (picked := selected_row(event)) is not None and picked < shares.table.height:
        try:
            seg = typical_state_segment(
                result, latents, space, int(shares.table["state"][picked]), filters
            )
        except FingerprintError as exc:
            st.info(str(exc))
        else:
            open_segment(run, seg)
    label_of = dict(zip(shares.table["state"], shares.table["label"], strict=True))
    state = st.selectbox(
        "State to profile",
        list(label_of),
        format_func=lambda s: f"{s}: {label_of[s]}",
        key="states_profile_state",
    )
    try:
        example = typical_state_segment(result, latents, space, int(state), filters)
    except FingerprintError as exc:
        st.caption(str(exc))
    else:
        open_segment_button(
            run, example, key="states_open_example",
            label="Open the segment most typical of this state on the pitch",
        )  # fmt: skip
    prof = readable_profile(
        with_registry(state_profile(result, space, int(state)), "unit", "direction", "definition")
    )
    st.plotly_chart(profile_figure(prof), key="states_profile_chart")
    st.dataframe(
        prof,
        hide_index=True,
        width="stretch",
        key="states_profile_table",
        column_config={
            "name": st.column_config.TextColumn("feature"),
            "feature": st.column_config.TextColumn("code name"),
            "state_mean": st.column_config.NumberColumn("state mean", format="%.3g"),
            "population_mean": st.column_config.NumberColumn("all segments", format="%.3g"),
            "population_std": st.column_config.NumberColumn("sd", format="%.3g"),
            "effect": st.column_config.NumberColumn("difference (sd)", format="%+.2f"),
        },
    )

with tab_bic:
    cols = st.columns(2)
    for col, space in zip(cols, ("latent", "features"), strict=True):
        col.plotly_chart(bic_figure(result, space), key=f"states_bic_{space}")

with tab_agree:
    st.plotly_chart(contingency_figure(result), key="states_contingency")
    st.caption(
        "Rows are the latent mixture's states, columns the feature mixture's. A row "
        "concentrated in one column means both views found the same state."
    )
