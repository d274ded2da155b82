"""Correlations: every latent dimension against every named feature, as a heatmap."""

from __future__ import annotations

import streamlit as st

from core.views.correlations import (
    ALPHA,
    CORRECTIONS,
    correlation_heatmap,
    heatmap_matrices,
)
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
view = dim_view(run, corr.latent_names)

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

r, p, names = heatmap_matrices(corr, sub, method)  # type: ignore[arg-type]
heatmap = correlation_heatmap(
    r,
    p,
    names,
    rows=view.indices,  # the distinct dimensions (all with the sidebar toggle)
    row_labels=[view.label(n) for n in view.shown],
    method=method,  # type: ignore[arg-type]
    order_by=order_by,  # type: ignore[arg-type]
    correction=correction if mask_cells else None,  # type: ignore[arg-type]
    definitions=definitions(),
)
st.plotly_chart(heatmap.figure, key="corr_heatmap")
view.caption()

if heatmap.n_significant is not None:
    st.caption(
        f"{heatmap.n_significant} of {heatmap.n_cells} cells are significant at α = {ALPHA} "
        f"after {CORRECTIONS[correction]} correction; the others are blank."
    )
st.caption(
    f"{len(names)} features (tiers {', '.join(f't{t}' for t in heatmap.tiers)}) × "
    f"{len(view.indices)} latent dimensions. Hover a cell for r, p, the feature's code name and "
    "its definition. Words: see the **Glossary** page."
)
