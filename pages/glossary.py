"""Glossary: every technical word of the dashboard in plain language."""

from __future__ import annotations

import polars as pl
import streamlit as st

from core.views.glossary import TOPICS, search_glossary
from pages._ui.routing import ensure_routed

ensure_routed()

st.title("Glossary")
st.caption(
    "What the technical words on these pages mean, in plain language. The same meanings "
    "appear as tooltips (the small question marks) beside numbers and controls. This page "
    "does not use the sidebar's run or filters."
)

query = st.text_input(
    "Find a word", key="glossary_query", placeholder="e.g. BIC, PPDA, silhouette"
).strip()
terms = search_glossary(query)
if query:
    st.caption(f"{terms.height} entr{'y' if terms.height == 1 else 'ies'} match “{query}”.")
if terms.is_empty():
    st.info("No entry matches; try a shorter word.")
for topic, title in TOPICS.items():
    part = terms.filter(pl.col("topic") == topic)
    if part.is_empty():
        continue
    st.subheader(title)
    for row in part.iter_rows(named=True):
        also = f" *(also: {row['also']})*" if row["also"] else ""
        st.markdown(f"**{row['term']}**{also}: {row['meaning']}")
        st.caption(row["more"])
