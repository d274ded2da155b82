"""Dashboard entry point: declares the pages, draws the shared sidebar, runs the chosen page.

Thin by design: the sidebar (active run and filters, mirrored in the URL) comes from
``pages._ui`` and every page file lays out widgets over ``core`` calls.
"""

from __future__ import annotations

import logging
from pathlib import Path

import streamlit as st

from core.errors import BrokenRunError
from pages._ui.routing import routing
from pages._ui.sidebar import sidebar

HERE = Path(__file__).resolve().parent
logger = logging.getLogger("tactical.app")

st.set_page_config(
    page_title="Tactical states",
    # A local file: a material-icon favicon is fetched from a font CDN, which offline
    # deployments (and the test machines) cannot reach.
    page_icon=str(HERE / ".streamlit" / "favicon.png"),
    layout="wide",
    initial_sidebar_state="expanded",
)

# (file, title, url path, icon); url paths are part of the public links.
CORE_PAGES = [
    ("pages/overview.py", "Overview", "overview", ":material/home:"),
    ("pages/data.py", "Data", "data", ":material/database:"),
    ("pages/train.py", "Train", "train", ":material/model_training:"),
    ("pages/sweep.py", "Sweep", "sweep", ":material/tune:"),
]
EXPLORE_PAGES = [
    ("pages/correlations.py", "Correlations", "correlations", ":material/grid_on:"),
    ("pages/interpretation.py", "Interpretation", "interpretation", ":material/table_chart:"),
    ("pages/latent-map.py", "Latent map", "latent-map", ":material/scatter_plot:"),
    ("pages/results.py", "Results", "results", ":material/emoji_events:"),
]
# Pages built on the tactical states (issue 6); listed only once their files exist.
STATE_PAGES = [
    ("pages/states.py", "States", "states", ":material/category:"),
    ("pages/timeline.py", "Match timeline", "timeline", ":material/timeline:"),
    ("pages/teams.py", "Team fingerprints", "teams", ":material/groups:"),
    ("pages/report.py", "Team report", "report", ":material/description:"),
    ("pages/traversal.py", "Latent traversal", "traversal", ":material/swap_horiz:"),
    ("pages/stability.py", "Stability", "stability", ":material/verified:"),
]
MANAGE_PAGES = [
    ("pages/runs.py", "Runs", "runs", ":material/folder_open:"),
    ("pages/glossary.py", "Glossary", "glossary", ":material/menu_book:"),
]


DEFAULT_URL = "overview"
# Streamlit serves the default page at "/" only and matches "/overview" against the other
# pages' url paths, so a link to "/overview?run=..." said "Page not found". A hidden page
# serves the same file at "/overview"; the default page's own (unused) path must differ.
OVERVIEW_ALIAS = st.Page(
    "pages/overview.py", title="Overview", url_path=DEFAULT_URL, visibility="hidden"
)


def _pages(spec: list[tuple[str, str, str, str]]) -> list[st.Page]:
    return [
        st.Page(
            path,
            title=title,
            url_path=f"{url}-home" if url == DEFAULT_URL else url,
            icon=icon,
            default=(url == DEFAULT_URL),
        )
        for path, title, url, icon in spec
        if (HERE / path).is_file()
    ]


sections = {
    "Set up": [*_pages(CORE_PAGES), OVERVIEW_ALIAS],
    "Explore": _pages(EXPLORE_PAGES) + _pages(STATE_PAGES),
    "Manage": _pages(MANAGE_PAGES),
}
page = st.navigation({name: pages for name, pages in sections.items() if pages}, position="top")
try:
    sidebar()
except Exception as exc:  # one bad run folder must never take every page down
    logger.exception("The sidebar failed")
    st.sidebar.error(
        f"The run picker could not be drawn ({type(exc).__name__}: {exc}). Pick another run "
        "on the **Runs** page, or delete the broken one there."
    )
try:
    with routing():
        page.run()
except BrokenRunError as exc:  # a damaged run folder: say so, the other runs still work
    st.error(f"{exc} Pick another run in the sidebar.")
except Exception as exc:  # last resort: our pages catch our typed errors themselves
    logger.exception("Unexpected error on page %s", page.title)
    st.error(
        f"Unexpected error on the {page.title} page: {type(exc).__name__}: {exc}. "
        "Reload the page; if it persists, the server log has the details."
    )
