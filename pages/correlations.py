"""Correlations: every latent dimension against every named feature, as a heatmap."""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
import streamlit as st

from core.features.registry import feature_tier
from core.views.correlations import adjust_pvalues, feature_order
from pages._ui.dims import dim_view
from pages._ui.errors import friendly_errors
from pages._ui.readers import definitions
from pages._ui.routing import ensure_routed
from pages._ui.runs import require_run

ensure_routed()
st.title("Correlations")
st.caption(
    "Each cell is the correlation between one latent dimension (rows) and one feature "
    "(columns) over the run's segments: blue means the feature rises with the latent, red "
    "that it falls. A dimension is readable when a few features light up in its row."
)

run = require_run()
with friendly_errors("the Correlations page"):
    corr = run.correlations()
view = dim_view(run, corr.latent_names)
rows = view.indices  # heatmap rows: the distinct dimensions (all with the sidebar toggle)

c1, c2, c3, c4 = st.columns([1, 1, 1, 1])
method = c1.radio(
    "Coefficient",
    ["pearson", "spearman"],
    horizontal=True,
    key="corr_method",
    format_func=str.capitalize,
)
order_by = c2.radio(
    "Feature order",
    ["tier", "cluster"],
    horizontal=True,
    key="corr_order",
    format_func=lambda o: "By tier" if o == "tier" else "Clustered",
    help="Clustered puts features that load on the same latents side by side.",
)
mask = c3.toggle("Hide non-significant cells", value=False, key="corr_mask")
CORRECTIONS = {"bh": "Benjamini-Hochberg", "bonferroni": "Bonferroni", "none": "no"}
correction = str(
    c4.selectbox(
        "Multiple-comparison correction",
        list(CORRECTIONS),
        key="corr_correction",
        format_func=lambda c: CORRECTIONS[c] + (" (FDR)" if c == "bh" else ""),
        disabled=not mask,
    )
)
alpha = 0.05

r = (corr.pearson_r if method == "pearson" else corr.spearman_r)[rows]
p = (corr.pearson_p if method == "pearson" else corr.spearman_p)[rows]
names = corr.feature_names
order = feature_order(r, names, by=order_by)  # type: ignore[arg-type]
r_o, p_o = r[:, order], p[:, order]
names_o = [names[i] for i in order]
p_adj = adjust_pvalues(p_o, correction if mask else "none")  # type: ignore[arg-type]
shown = np.where(p_adj <= alpha, r_o, np.nan) if mask else r_o
defs = definitions()
hover_def = np.array([defs.get(n, "no definition in the registry") for n in names_o], dtype=object)
custom = np.dstack(
    [
        np.round(p_o, 6).astype(object),
        np.round(p_adj, 6).astype(object),
        np.broadcast_to(hover_def, r_o.shape),
    ]
)
fig = go.Figure(
    go.Heatmap(
        z=shown,
        x=names_o,
        y=[view.label(n) for n in view.shown],
        zmin=-1,
        zmax=1,
        zmid=0,
        colorscale="RdBu",
        customdata=custom,
        colorbar={"title": {"text": f"{method.capitalize()} r"}},
        hovertemplate=(
            "<b>%{y} × %{x}</b><br>r = %{z:+.3f}<br>p = %{customdata[0]:.2g}"
            + ("<br>adjusted p = %{customdata[1]:.2g}" if mask and correction != "none" else "")
            + "<br>%{customdata[2]}<extra></extra>"
        ),
        xgap=1,
        ygap=1,
    )
)
fig.update_layout(
    height=max(320, 60 + 34 * len(rows)),
    margin={"l": 10, "r": 10, "t": 10, "b": 10},
    xaxis={"tickangle": -60, "tickfont": {"size": 10}},
    yaxis={"autorange": "reversed"},
)
st.plotly_chart(fig, key="corr_heatmap")
view.caption()

n_cells = r.size
if mask:
    kept = int(np.isfinite(shown).sum())
    st.caption(
        f"{kept} of {n_cells} cells are significant at α = {alpha} after "
        f"{CORRECTIONS[correction]} "
        "correction; the others are blank."
    )
tiers = sorted({feature_tier(n) or 0 for n in names})
st.caption(
    f"{len(names)} features (tiers {', '.join(f't{t}' for t in tiers)}) × "
    f"{len(rows)} latent dimensions. Hover a cell for r, p and the feature's "
    "definition."
)
