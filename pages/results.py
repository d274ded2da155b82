"""Results: whether teams that sit higher on a pattern in a match got a better result, and
whether the patterns are enough to tell which team played."""

from __future__ import annotations

import streamlit as st

from core.errors import InspectError
from core.runs.files import DIAGNOSTICS_FILE, INTERPRETATION_FILE
from core.runs.store import get_run
from core.views.results import ResultsView, identity_frame, results_table, results_view
from core.views.table import Filters
from pages._ui.errors import friendly_errors
from pages._ui.readers import file_version, run_version
from pages._ui.routing import ensure_routed
from pages._ui.runs import require_run
from pages._ui.sidebar import current_filters

ensure_routed()

st.title("Results")
st.caption(
    "What a pattern means for results. Each row of the analysis is one team in one match: "
    "the mean of the team's codes over its segments in that match, beside the match's "
    "goal, xG and shot difference (team minus opponent). Pearson r says how the two go "
    "together; the 95% interval comes from resampling whole matches 2,000 times. An "
    "interval that excludes 0 is evidence; one that crosses 0 is not."
)

run = require_run()


@st.cache_resource(max_entries=8, show_spinner="Setting the patterns against the results…")
def _view(
    run_id: str, versions: tuple[str, ...], filters_key: str, _filters: Filters
) -> ResultsView:
    return results_view(get_run(run_id), _filters)


with friendly_errors("the Results page"):
    filters = current_filters()
    versions = (
        run_version(run),
        run_version(run, DIAGNOSTICS_FILE),
        run_version(run, INTERPRETATION_FILE),
        file_version(run.config().features_path),
    )
    try:
        view = _view(run.run_id, versions, repr(filters), filters)
    except InspectError as exc:
        st.warning(str(exc))
        st.stop()

report = view.report
if filters.active:
    st.caption(
        f"Sidebar filters apply: codes averaged over {report.n_segments:,} of "
        f"{report.n_total:,} segments; the outcomes are always the whole match's."
    )
else:
    st.caption(f"All {report.n_total:,} segments of the run (no sidebar filter set).")

st.markdown(view.headline)
st.info("\n".join(f"- {c}" for c in view.cautions))

st.subheader("Patterns and results")
st.caption(
    "Patterns found again across the run's seeds come first; the others follow, marked "
    'unconfirmed. "Higher on this pattern" means a higher mean code in that match.'
)
with st.container(key="results_sentences"):
    for pattern in view.patterns:
        st.markdown(f"**{pattern.title}**" + (f"  \n{pattern.reading}" if pattern.reading else ""))
        st.markdown("\n".join(f"- {s}" for s in pattern.sentences))

st.plotly_chart(view.figure, key="results_figure")
st.caption(
    "Each dot is r, each bar its 95% interval over resampled matches; green: the interval "
    "excludes 0 (evidence), grey: it crosses 0 (no evidence), orange: too few matches to "
    "judge. xG difference is per 90 minutes."
)

st.subheader("Do the patterns name the team?")
st.caption(
    "Leave one match out, then name each of its teams from its pattern means: the team "
    "whose average over its other matches is nearest (values z-scored). Beside it, the same "
    "from as many principal components of the features, and from all features."
)
if view.identity:
    for sentence in view.identity:
        st.markdown(f"- {sentence}")
    st.dataframe(
        identity_frame(report.identity),
        hide_index=True,
        width="stretch",
        key="results_identity",
        column_config={
            "accuracy": st.column_config.ProgressColumn(
                "accuracy", format="percent", min_value=0.0, max_value=1.0
            ),
            "chance": st.column_config.NumberColumn("chance", format="percent"),
        },
    )
else:
    st.info(
        "Naming the team needs at least two teams; the sidebar's filters leave one. Clear "
        "the **Team** filter to compare teams."
    )

with st.expander("The team-match table"):
    table = results_table(report)
    st.dataframe(table, hide_index=True, width="stretch", key="results_table")
    st.download_button(
        "Download the table (CSV)",
        data=table.write_csv(),
        file_name=f"results-{run.run_id}.csv",
        mime="text/csv",
        key="results_csv",
        icon=":material/download:",
    )
st.caption("Sources: " + " ".join(view.sources))
