"""The sidebar: run picker and filters, mirrored in the URL so a link reproduces a view."""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from typing import Any

import streamlit as st

from core.errors import (
    ArtifactMissingError,
    RunNotFoundError,
)
from core.jobs.api import run_status
from core.runs.store import Run
from core.views.glossary import explain
from core.views.runs import default_run, picker_order
from core.views.table import SCORE_STATE_LABELS, SCORE_STATES, Filters, filter_options
from core.views.text import md_escape
from pages._ui.dims import run_quality, show_all_toggle
from pages._ui.errors import RUN_ERRORS
from pages._ui.readers import segment_table
from pages._ui.runs import active_run, apply_pending_run, available_runs, run_label
from pages._ui.state import FILTER_KEYS, RUN_KEY, URL_LOADED_KEY, URL_PARAMS, URL_RUN_KEY

# --- sidebar: run picker and filters, mirrored in the URL ---------------------------------


def _coerce(values: list[str], kind: type) -> list[Any]:
    out: list[Any] = []
    for v in values:
        with contextlib.suppress(ValueError):
            out.append(kind(v))
    return out


def load_url_state() -> None:
    """On a session's first run, copy the URL's query parameters into session state."""
    if st.session_state.get(URL_LOADED_KEY):
        return
    st.session_state[URL_LOADED_KEY] = True
    qp = st.query_params
    if qp.get("run"):
        st.session_state[RUN_KEY] = qp.get("run")
        st.session_state[URL_RUN_KEY] = qp.get("run")
    st.session_state["_url_filters"] = {
        "filter_competitions": qp.get_all("competition"),
        "filter_matches": _coerce(qp.get_all("match"), int),
        "filter_teams": _coerce(qp.get_all("team"), int),
        "filter_periods": _coerce(qp.get_all("period"), int),
        "filter_score": [v for v in qp.get_all("score") if v in SCORE_STATES],
    }


def write_url_state() -> None:
    """Mirror the run and filters into the URL (only when they differ, to avoid reruns)."""
    wanted: dict[str, list[str]] = {}
    run_id = st.session_state.get(RUN_KEY)
    if run_id:
        wanted["run"] = [str(run_id)]
    for key, param in URL_PARAMS.items():
        if key == RUN_KEY:
            continue
        values = st.session_state.get(key) or []
        if values:
            wanted[param] = [str(v) for v in values]
    current = {k: st.query_params.get_all(k) for k in st.query_params}
    if current == wanted:
        return
    for key in list(st.query_params):
        if key not in wanted:
            del st.query_params[key]
    for key, values in wanted.items():
        if current.get(key) != values:
            st.query_params[key] = values if len(values) > 1 else values[0]


def _valid(key: str, options: list[Any]) -> None:
    """Drop values no longer offered (another run, narrower competition) before the widget."""
    pending = st.session_state.get("_url_filters", {}).pop(key, None)
    if pending is not None:
        st.session_state[key] = pending
    if key in st.session_state:
        st.session_state[key] = [v for v in st.session_state[key] if v in options]


def sidebar() -> tuple[Run | None, Filters]:
    """Draw the run picker and the filters; return the active run and the filters."""
    load_url_state()
    apply_pending_run()
    runs = picker_order(available_runs())  # side runs under what they serve
    ids = [r.run_id for r in runs]
    labels = {r.run_id: run_label(r) for r in runs}
    with st.sidebar:
        st.subheader("Run")
        if not ids:
            st.caption("No runs yet: train one on the **Train** page.")
            st.session_state.pop(RUN_KEY, None)
            run = None
        else:
            current = st.session_state.get(RUN_KEY)
            if current not in ids:
                if current:
                    st.warning(f"Run {md_escape(current)} was not found; showing the default run.")
                chosen = default_run(runs)
                st.session_state[RUN_KEY] = chosen.run_id if chosen is not None else ids[0]
            st.selectbox(
                "Active run",
                ids,
                key=RUN_KEY,
                format_func=lambda rid: labels.get(rid, rid),
                help="Every page shows this run. Runs are named by a hash of data + config.",
            )
            run = active_run()
            _quality_note(run)
        show_all_toggle()
        filters = _filter_widgets(run)
    write_url_state()
    return run, filters


def _quality_note(run: Run | None) -> None:
    """Under the picker: how many distinct dimensions the finished active run found."""
    if run is None or _state(run) != "done" or (quality := run_quality(run)) is None:
        return
    n, k = quality.n_distinct, len(quality.names)
    if quality.healthy:
        st.caption(f"{n} distinct of {k} latent dimensions.")
    else:
        found = "no usable dimension" if n == 0 else "a single axis"
        st.warning(
            f"Only {n} distinct of {k} latent dimensions: this run found {found}. "
            "Retrain with the recommended preset; **Overview** has the details.",
            icon=":material/warning:",
        )


def _state(run: Run) -> str:
    try:
        return run_status(run).state
    except RUN_ERRORS:
        return "missing"


def _filter_widgets(run: Run | None) -> Filters:
    st.subheader("Filters")
    if run is None or _state(run) != "done":
        st.caption("Filters appear once the active run has finished.")
        for key in FILTER_KEYS.values():
            _valid(key, [])
        return Filters()
    try:
        meta = segment_table(run).meta
    except (RunNotFoundError, ArtifactMissingError, ValueError, OSError) as exc:
        st.caption(f"Filters unavailable: {md_escape(exc)}")
        return Filters()
    selected = Filters(
        competitions=tuple(st.session_state.get(FILTER_KEYS["competitions"], [])),
        match_ids=tuple(st.session_state.get(FILTER_KEYS["match_ids"], [])),
    )
    # URL values apply before options narrow, so build options from pending values too.
    pending = st.session_state.get("_url_filters", {})
    if pending:
        selected = Filters(
            competitions=tuple(pending.get("filter_competitions") or selected.competitions),
            match_ids=tuple(pending.get("filter_matches") or selected.match_ids),
        )
    opts = filter_options(meta, selected)
    _filter_select("Competition", "competitions", opts.competitions, "All competitions")
    opts = filter_options(
        meta, Filters(competitions=tuple(st.session_state[FILTER_KEYS["competitions"]]))
    )
    _filter_select("Match", "match_ids", opts.matches, "All matches")
    opts = filter_options(
        meta,
        Filters(
            competitions=tuple(st.session_state[FILTER_KEYS["competitions"]]),
            match_ids=tuple(st.session_state[FILTER_KEYS["match_ids"]]),
        ),
    )
    _filter_select("Team", "team_ids", opts.teams, "All teams")
    _filter_select("Period", "periods", opts.periods, "Both halves")
    _filter_select(
        "Score state",
        "score_states",
        {s: SCORE_STATE_LABELS[s] for s in opts.score_states},
        "Any score",
        help=explain("Score state"),
    )
    return current_filters()


def _filter_select(
    label: str,
    field: str,
    options: Mapping[Any, str] | list[Any],
    placeholder: str,
    help: str | None = None,
) -> None:
    """One sidebar filter: drop stale values, then a multiselect (a mapping's values label it)."""
    key = FILTER_KEYS[field]
    values = list(options)
    _valid(key, values)
    labels = options if isinstance(options, Mapping) else {}
    st.multiselect(
        label,
        values,
        key=key,
        format_func=lambda v: str(labels.get(v, v)),
        placeholder=placeholder,
        help=help,
    )


def current_filters() -> Filters:
    """The sidebar's filters as a :class:`core.views.table.Filters`."""
    return Filters(
        **{field: tuple(st.session_state.get(key) or ()) for field, key in FILTER_KEYS.items()}
    )
