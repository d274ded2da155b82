"""Session-state keys shared by app.py and the pages, and their URL query parameters."""

from __future__ import annotations

# Session-state keys shared by app.py and the pages.
RUN_KEY = "active_run"
FILTER_KEYS = {
    "competitions": "filter_competitions",
    "match_ids": "filter_matches",
    "team_ids": "filter_teams",
    "periods": "filter_periods",
    "score_states": "filter_score",
}
# URL query parameter for each session-state key (a link reproduces the view).
URL_PARAMS = {
    RUN_KEY: "run",
    "filter_competitions": "competition",
    "filter_matches": "match",
    "filter_teams": "team",
    "filter_periods": "period",
    "filter_score": "score",
}
URL_LOADED_KEY = "_url_loaded"
URL_RUN_KEY = "_url_run"  # the run the session's first URL asked for (``?run=``), if any
INSPECT_KEY = "inspect_row"  # table row of the segment the Latent map inspects


PENDING_RUN_KEY = "_pending_active_run"  # a run to activate before the picker is drawn
