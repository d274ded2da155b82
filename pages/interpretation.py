"""Interpretation: the five features each latent dimension tracks most strongly."""

from __future__ import annotations

import io

import plotly.graph_objects as go
import polars as pl
import streamlit as st
from plotly.subplots import make_subplots

from core.views.palettes import QUALITATIVE
from pages._ui.dims import dim_view, shown_rows
from pages._ui.errors import friendly_errors
from pages._ui.readers import with_registry
from pages._ui.routing import ensure_routed
from pages._ui.runs import require_run

ensure_routed()
st.title("Interpretation")
st.caption(
    "For every latent dimension, the five features with the largest absolute Pearson "
    "correlation: read a dimension by its top features and their signs. Click a column "
    "header to sort."
)

run = require_run()
with friendly_errors("the Interpretation page"):
    table = run.interpretation()
    pivot = run.interpretation_pivot()

view = dim_view(run, table["latent_dim"].unique(maintain_order=True).to_list())
table = shown_rows(table, view).select(
    "latent_dim", "dim_status", pl.exclude("latent_dim", "dim_status")
)
pivot = shown_rows(pivot, view, column="dim").select(
    "dim", "dim_status", pl.exclude("dim", "dim_status")
)
shown = with_registry(table, "tier", "definition", "unit")
view.caption()

tab_table, tab_pivot, tab_bars = st.tabs(["Top-5 table", "Pivot view", "Bar charts"])
with tab_table:
    st.dataframe(
        shown,
        key="interp_table",
        hide_index=True,
        width="stretch",
        column_config={
            "latent_dim": st.column_config.TextColumn("latent_dim", width=90),
            "dim_status": st.column_config.TextColumn(
                "dim_status",
                width=150,
                help="distinct: active and not a copy; redundant: copies a more informative "
                "dimension; inactive: collapsed (its code hardly varies).",
            ),
            "rank": st.column_config.NumberColumn("rank", width=60),
            "feature": st.column_config.TextColumn("feature", width=220),
            "pearson_r": st.column_config.NumberColumn("pearson_r", format="%+.3f", width=100),
            "abs_r": st.column_config.NumberColumn("abs_r", format="%.3f", width=90),
            "p_value": st.column_config.NumberColumn("p_value", format="%.2e", width=100),
            "definition": st.column_config.TextColumn("definition", width="large"),
        },
    )
    c1, c2 = st.columns(2)
    c1.download_button(
        "Download CSV",
        data=table.write_csv().encode(),
        file_name=f"interpretation_{run.run_id}.csv",
        mime="text/csv",
        key="dl_csv",
    )
    buf = io.BytesIO()
    table.write_parquet(buf)
    c2.download_button(
        "Download parquet",
        data=buf.getvalue(),
        file_name=f"interpretation_{run.run_id}.parquet",
        mime="application/octet-stream",
        key="dl_parquet",
    )

with tab_pivot:
    st.caption("One row per dimension; each cell is `feature (r)` for ranks 1 to 5.")
    st.dataframe(pivot, hide_index=True, width="stretch", key="interp_pivot")
    st.download_button(
        "Download pivot CSV",
        data=pivot.write_csv().encode(),
        file_name=f"interpretation_pivot_{run.run_id}.csv",
        mime="text/csv",
        key="dl_pivot",
    )

with tab_bars:
    dims = view.shown
    n_cols = min(4, max(len(dims), 1))
    n_rows = (len(dims) + n_cols - 1) // n_cols
    fig = make_subplots(
        rows=n_rows,
        cols=n_cols,
        subplot_titles=[view.label(d) for d in dims],
        horizontal_spacing=0.18,
        vertical_spacing=0.12,
    )
    for i, dim in enumerate(dims):
        part = table.filter(pl.col("latent_dim") == dim).sort("rank", descending=True)
        r = part["pearson_r"].to_list()
        fig.add_trace(
            go.Bar(
                x=r,
                y=part["feature"].to_list(),
                orientation="h",
                marker_color=[QUALITATIVE[3] if v < 0 else QUALITATIVE[1] for v in r],
                hovertemplate="%{y}: r = %{x:+.3f}<extra></extra>",
                showlegend=False,
            ),
            row=i // n_cols + 1,
            col=i % n_cols + 1,
        )
    fig.update_xaxes(range=[-1, 1], zeroline=True, zerolinecolor="#444")
    fig.update_yaxes(tickfont={"size": 9})
    fig.update_layout(height=260 * n_rows, margin={"l": 10, "r": 10, "t": 40, "b": 10})
    st.plotly_chart(fig, key="interp_bars")
    st.caption("Blue: the feature rises with the dimension; red: it falls. Axis from -1 to 1.")
