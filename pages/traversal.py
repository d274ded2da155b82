"""Latent traversal: decode a sweep of one dimension and read the features it moves, in their units."""

from __future__ import annotations

import plotly.graph_objects as go
import polars as pl
import streamlit as st

from core.analysis.timeline import match_minute
from core.analysis.traversal import traversal_changes, traversal_text
from core.features.names import display_name
from core.model.latents import latent_name, latent_names
from core.services.traversal import run_traversal
from core.views.glossary import explain
from core.views.palettes import QUALITATIVE
from pages._ui.dims import dim_view
from pages._ui.errors import friendly_errors
from pages._ui.readers import segment_table, with_registry
from pages._ui.routing import ensure_routed
from pages._ui.runs import require_run
from pages._ui.scope import ignores_filters

ensure_routed()

st.title("Latent traversal")
st.caption(
    'The VAE\'s own answer to "what does this dimension mean": hold every other dimension '
    "fixed, sweep one from -3 to +3, decode, and read how the features change in their own "
    "units. Compare with the correlation answer beside it."
)

run = require_run()
ignores_filters(
    "a traversal decodes the model itself, which is trained on all segments; pick a "
    "segment below to start from one."
)
with friendly_errors("the Latent traversal page"):
    k = run.config().vae.latent_dim
    interp = run.interpretation()
    view = dim_view(run, latent_names(k))
    c1, c2, c3 = st.columns([1, 2, 1])
    # Distinct dimensions first, most informative first: the page opens on that one.
    dim = c1.selectbox(
        "Dimension",
        view.indices,
        format_func=lambda i: view.label(latent_name(i)),
        key="trav_dim",
        help=explain("Latent dimension", "Traversal"),
    )
    hold = c2.radio(
        "Other dimensions held at",
        ["zero", "segment"],
        format_func={"zero": "zero (the prior's centre)", "segment": "a chosen segment's code"}.get,
        horizontal=True,
        key="trav_hold",
    )
    at = c3.select_slider(
        "Read the change at",
        options=[-3.0, -2.0, -1.0, 1.0, 2.0, 3.0],
        value=2.0,
        format_func=lambda v: f"{v:+g}",
        key="trav_at",
    )
    segment_id = None
    if hold == "segment":
        meta = segment_table(run).meta.with_columns(
            match_minute(pl.col("period"), pl.col("start_time")).alias("_minute")
        )
        label_col = "match_label" if "match_label" in meta.columns else "match_id"
        match_names = dict(meta.select("match_id", label_col).unique("match_id").iter_rows())
        s1, s2 = st.columns(2)
        match_id = s1.selectbox(
            "Match",
            sorted(match_names),
            format_func=lambda m: str(match_names.get(m, m)),
            key="trav_match",
        )
        in_match = meta.filter(pl.col("match_id") == match_id).sort("team_id", "_minute")
        labels = {
            sid: f"{team} · {minute:.0f}'"
            for sid, team, minute in in_match.select(
                "segment_id", "team_name", "_minute"
            ).iter_rows()
        }
        segment_id = s2.selectbox(
            "Segment",
            in_match["segment_id"].to_list(),
            format_func=lambda s: labels.get(s, s),
            key="trav_segment",
        )
    trav = run_traversal(run, int(dim), segment_id=segment_id)
    changes = traversal_changes(trav, at=float(at))

st.markdown(f"**{traversal_text(trav, at=float(at), n=4)}**")
if view.status(latent_name(dim)) in ("redundant", "inactive"):
    st.caption(
        f"{view.label(latent_name(dim))}: "
        + (
            "its code hardly varies across segments, so this sweep goes where no segment is."
            if view.status(latent_name(dim)) == "inactive"
            else "it moves with a more informative dimension; read that one instead."
        )
    )
view.caption()
if segment_id is not None:
    st.caption(
        f"Sweep starts from the segment's own code (z{dim} = {trav.base[dim]:+.2f}); the "
        "change is read from there."
    )

n_show = st.slider("Features on the chart", 3, 15, 6, key="trav_n")
top = changes.head(n_show)["feature"].to_list()
fig = go.Figure()
for i, feature in enumerate(top):
    col = trav.feature_names.index(feature)
    fig.add_trace(
        go.Scatter(
            x=trav.values,
            y=trav.z_scores[:, col],
            mode="lines+markers",
            name=display_name(feature),
            line={"color": QUALITATIVE[i % len(QUALITATIVE)]},
            customdata=trav.units[:, col],
            hovertemplate=f"{display_name(feature)} ({feature})<br>z{dim}=%{{x:+.2f}}<br>"
            "%{customdata:.3g} "
            "(%{y:+.2f} sd)<extra></extra>",
        )
    )
fig.add_vline(x=float(trav.base[dim]), line_dash="dot")
fig.update_layout(
    title=f"Decoded features along z{dim} (in population sd; hover for their units)",
    xaxis_title=latent_name(dim),
    yaxis_title="decoded value (sd from the mean)",
    height=420,
    margin={"l": 10, "r": 10, "t": 50, "b": 10},
)
c1, c2 = st.columns([3, 2])
c1.plotly_chart(fig, key="trav_chart")
with c2:
    st.markdown("**Correlation answer** (top-5 features by |Pearson r|)")
    st.dataframe(
        interp.filter(pl.col("latent_dim") == latent_name(dim)).select(
            "rank", "feature", "pearson_r"
        ),
        hide_index=True,
        width="stretch",
        key="trav_corr",
        column_config={"pearson_r": st.column_config.NumberColumn("r", format="%+.3f")},
    )
    # Agreement of the two answers: do the traversal's top movers include the top correlates?
    corr_top = set(interp.filter(pl.col("latent_dim") == latent_name(dim))["feature"].to_list())
    moved = set(changes.head(len(corr_top))["feature"].to_list())
    if corr_top:
        st.caption(
            f"{len(corr_top & moved)} of the {len(corr_top)} top correlates are also among the "
            f"{len(corr_top)} features the decoder moves most."
        )

shown = with_registry(changes, "unit", "definition")
shown = shown.select(
    pl.col("feature").map_elements(display_name, return_dtype=pl.String).alias("feature_name"),
    pl.all(),
)
st.dataframe(
    shown,
    hide_index=True,
    width="stretch",
    key="trav_table",
    column_config={
        "from_value": st.column_config.NumberColumn(
            f"at z{dim}={trav.base[dim]:+.2g}", format="%.3g"
        ),
        "to_value": st.column_config.NumberColumn(f"at z{dim}={float(at):+g}", format="%.3g"),
        "change": st.column_config.NumberColumn("change", format="%+.3g"),
        "feature_name": st.column_config.TextColumn("feature"),
        "feature": st.column_config.TextColumn("code name"),
        "change_z": st.column_config.NumberColumn(
            "change (sd)", format="%+.2f", help=explain("sd", "z-scored")
        ),
        "range_z": st.column_config.NumberColumn("range over sweep (sd)", format="%.2f"),
    },
)
st.download_button(
    "Download the sweep (CSV)",
    data=trav.frame().write_csv().encode(),
    file_name=f"traversal_{run.run_id}_z{dim}.csv",
    mime="text/csv",
    key="trav_download",
)
