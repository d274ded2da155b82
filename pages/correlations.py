"""Correlations: every latent dimension against every named feature, as a heatmap."""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
import streamlit as st

from core.features.names import display_names
from core.features.registry import feature_tier
from core.views.correlations import adjust_pvalues, feature_order, p_text
from core.views.glossary import explain
from pages._ui.dims import dim_view
from pages._ui.errors import friendly_errors
from pages._ui.readers import definitions
from pages._ui.routing import ensure_routed
from pages._ui.runs import require_run
from pages._ui.scope import scoped_correlations

ensure_routed()
st.title("Correlations")
st.caption(
    "Each cell is the correlation between one latent dimension (rows) and one feature "
    "(columns) over the segments: blue means the feature rises with the dimension, red that "
    "it falls. A dimension is readable when a few features light up in its row."
)

run = require_run()
with friendly_errors("the Correlations page"):
    corr = run.correlations()
    sub = scoped_correlations(run, "corr_filtered", "correlations")
    pearson_r, pearson_p = corr.pearson_r, corr.pearson_p
    spearman_r, spearman_p = corr.spearman_r, corr.spearman_p
    names = corr.feature_names
    if sub is not None:
        pearson_r, pearson_p, spearman_r, spearman_p = (
            sub.pearson_r, sub.pearson_p, sub.spearman_r, sub.spearman_p,
        )  # fmt: skip
        names = sub.feature_names
view = dim_view(run, corr.latent_names)
rows = view.indices  # heatmap rows: the distinct dimensions (all with the sidebar toggle)

c1, c2, c3, c4 = st.columns([1, 1, 1, 1])
method = c1.radio(
    "Coefficient",
    ["pearson", "spearman"],
    horizontal=True,
    key="corr_method",
    format_func=str.capitalize,
    help=explain("Pearson r", "Spearman"),
)
order_by = c2.radio(
    "Feature order",
    ["tier", "cluster"],
    horizontal=True,
    key="corr_order",
    format_func=lambda o: "By tier" if o == "tier" else "Clustered",
    help=explain(
        "Tier", extra="Clustered puts features that load on the same dimensions side by side."
    ),
)
mask_cells = c3.toggle(
    "Hide non-significant cells",
    value=False,
    key="corr_mask",
    help=explain("p-value", "Multiple-testing correction"),
)
CORRECTIONS = {"bh": "Benjamini-Hochberg", "bonferroni": "Bonferroni", "none": "no"}
correction = str(
    c4.selectbox(
        "Multiple-comparison correction",
        list(CORRECTIONS),
        key="corr_correction",
        format_func=lambda c: CORRECTIONS[c] + (" (FDR)" if c == "bh" else ""),
        disabled=not mask_cells,
        help=explain("Multiple-testing correction"),
    )
)
alpha = 0.05

r = (pearson_r if method == "pearson" else spearman_r)[rows]
p = (pearson_p if method == "pearson" else spearman_p)[rows]
order = feature_order(r, names, by=order_by)  # type: ignore[arg-type]
r_o, p_o = r[:, order], p[:, order]
names_o = [names[i] for i in order]
shown_names = display_names(names_o)
p_adj = adjust_pvalues(p_o, correction if mask_cells else "none")  # type: ignore[arg-type]
shown = np.where(p_adj <= alpha, r_o, np.nan) if mask_cells else r_o
defs = definitions()
hover_def = np.array(
    [f"<i>{n}</i>: {defs.get(n, 'no definition in the registry')}" for n in names_o],
    dtype=object,
)
custom = np.dstack(
    [
        p_text(p_o).astype(object),
        p_text(p_adj).astype(object),
        np.broadcast_to(hover_def, r_o.shape),
    ]
)
fig = go.Figure(
    go.Heatmap(
        z=shown,
        x=[shown_names[n] for n in names_o],
        y=[view.label(n) for n in view.shown],
        zmin=-1,
        zmax=1,
        zmid=0,
        colorscale="RdBu",
        customdata=custom,
        colorbar={"title": {"text": f"{method.capitalize()} r"}},
        hovertemplate=(
            "<b>%{y} × %{x}</b><br>r = %{z:+.3f}<br>p = %{customdata[0]}"
            + ("<br>adjusted p = %{customdata[1]}" if mask_cells and correction != "none" else "")
            + "<br>%{customdata[2]}<extra></extra>"
        ),
        xgap=1,
        ygap=1,
    )
)
fig.update_layout(
    height=max(380, 200 + 40 * len(rows)),
    margin={"l": 10, "r": 10, "t": 10, "b": 10},
    xaxis={"tickangle": -45, "tickfont": {"size": 12}, "automargin": True},
    yaxis={"autorange": "reversed", "tickfont": {"size": 13}, "automargin": True},
)
st.plotly_chart(fig, key="corr_heatmap")
view.caption()

n_cells = r.size
if mask_cells:
    kept = int(np.isfinite(shown).sum())
    st.caption(
        f"{kept} of {n_cells} cells are significant at α = {alpha} after "
        f"{CORRECTIONS[correction]} "
        "correction; the others are blank."
    )
tiers = sorted({feature_tier(n) or 0 for n in names})
st.caption(
    f"{len(names)} features (tiers {', '.join(f't{t}' for t in tiers)}) × "
    f"{len(rows)} latent dimensions. Hover a cell for r, p, the feature's code name and "
    "its definition. Words: see the **Glossary** page."
)
