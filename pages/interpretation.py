"""Interpretation: the five features each latent dimension tracks most strongly."""

from __future__ import annotations

import io

import plotly.graph_objects as go
import polars as pl
import streamlit as st
from plotly.subplots import make_subplots

from core.analysis.latents import interpretation_pivot, interpretation_table
from core.features.names import display_name
from core.views.correlations import p_text
from core.views.dims import shown_rows
from core.views.glossary import explain
from core.views.latent_map import dim_meanings, with_meaning
from core.views.palettes import QUALITATIVE
from pages._ui.dims import dim_view
from pages._ui.errors import friendly_errors
from pages._ui.readers import with_registry
from pages._ui.routing import ensure_routed
from pages._ui.runs import require_run
from pages._ui.scope import scoped_correlations

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
    sub = scoped_correlations(run, "interp_filtered", "the top-5 features")
    if sub is not None:
        table = interpretation_table(sub.pearson_r, sub.pearson_p, sub.feature_names)

view = dim_view(run, table["latent_dim"].unique(maintain_order=True).to_list())
table = shown_rows(table, view).select(
    "latent_dim", "dim_status", pl.exclude("latent_dim", "dim_status")
)
# The pivot reads in display names: "possession share (+0.812)".
pivot = interpretation_pivot(
    table.drop("dim_status").with_columns(
        pl.col("feature").replace_strict(
            {f: display_name(f) for f in table["feature"].unique().to_list()},
            return_dtype=pl.String,
        )
    )
)
pivot = shown_rows(pivot, view, column="dim").select(
    "dim", "dim_status", pl.exclude("dim", "dim_status")
)
shown = with_registry(table, "tier", "definition", "unit").with_columns(
    pl.col("feature")
    .replace_strict(
        {f: display_name(f) for f in table["feature"].unique().to_list()},
        return_dtype=pl.String,
    )
    .alias("name")
)
meanings = dim_meanings(run)  # "z3" -> the pattern's name; p as text, never "0.0e+0"
shown = shown.with_columns(
    pl.Series("p_value", p_text(shown["p_value"].to_numpy()), dtype=pl.String),
    pl.col("latent_dim").replace_strict(meanings, default="", return_dtype=pl.String)
    .alias("pattern"),
).select("latent_dim", "pattern", "dim_status", "rank", "name", pl.exclude(
    "latent_dim", "pattern", "dim_status", "rank", "name"))  # fmt: skip
view.caption()

tab_table, tab_pivot, tab_bars = st.tabs(["Top-5 table", "Pivot view", "Bar charts"])
with tab_table:
    st.dataframe(
        shown,
        key="interp_table",
        hide_index=True,
        width="stretch",
        column_config={
            "latent_dim": st.column_config.TextColumn(
                "dim", width=60, help=explain("Latent dimension")
            ),
            "dim_status": st.column_config.TextColumn(
                "status",
                width=90,
                help="distinct: active and not a copy; redundant: copies a more informative "
                "dimension; inactive: collapsed (its code hardly varies).",
            ),
            "rank": st.column_config.NumberColumn("rank", width=50),
            "name": st.column_config.TextColumn("feature", width=190),
            "feature": st.column_config.TextColumn(
                "code name", width=170, help="The feature's column name in the data."
            ),
            "pearson_r": st.column_config.NumberColumn(
                "r", format="%+.3f", width=75, help=explain("Pearson r")
            ),
            "abs_r": st.column_config.NumberColumn("abs_r", format="%.3f", width=70),
            "p_value": st.column_config.TextColumn("p", width=80, help=explain("p-value")),
            "pattern": st.column_config.TextColumn("pattern", width=190),
            "tier": st.column_config.NumberColumn("tier", width=45, help=explain("Tier")),
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
    slots = [c for c in pivot.columns if c.startswith("#")]
    st.dataframe(
        pivot,
        hide_index=True,
        width="stretch",
        key="interp_pivot",
        column_config={
            "dim": st.column_config.TextColumn("dim", width=50),
            "dim_status": st.column_config.TextColumn("status", width=80),
            **{c: st.column_config.TextColumn(c, width=190) for c in slots},
        },
    )
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
        subplot_titles=[with_meaning(view.label(d), d, meanings) for d in dims],
        horizontal_spacing=0.22,
        vertical_spacing=0.12,
    )
    for i, dim in enumerate(dims):
        part = table.filter(pl.col("latent_dim") == dim).sort("rank", descending=True)
        r = part["pearson_r"].to_list()
        codes = part["feature"].to_list()
        fig.add_trace(
            go.Bar(
                x=r,
                y=[display_name(f) for f in codes],
                customdata=codes,
                orientation="h",
                marker_color=[QUALITATIVE[3] if v < 0 else QUALITATIVE[1] for v in r],
                hovertemplate="%{y} (%{customdata}): r = %{x:+.3f}<extra></extra>",
                showlegend=False,
            ),
            row=i // n_cols + 1,
            col=i % n_cols + 1,
        )
    fig.update_xaxes(range=[-1, 1], zeroline=True, zerolinecolor="#444")
    fig.update_yaxes(tickfont={"size": 12}, automargin=True)
    fig.update_layout(height=280 * n_rows, margin={"l": 10, "r": 10, "t": 40, "b": 10})
    st.plotly_chart(fig, key="interp_bars")
    st.caption("Blue: the feature rises with the dimension; red: it falls. Axis from -1 to 1.")
