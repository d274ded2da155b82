"""Every page app.py declares, rendered by Streamlit's AppTest, once per kind of run.

- over ``demo_run`` (the quick loop): the page renders without an exception under its own
  title, the sidebar keeps the active run, and with the sidebar's team filter set to Italy
  it says how it uses the filters (issue 15's one filter model);
- over a run that found one axis at most (slow): the sidebar warns on every page, and
  every page that shows a run names the run's own warning;
- beside damaged run folders (slow): with each of them active the page still renders,
  says what is wrong instead of failing, and the Runs page lists the damage.

The page list is app.py's own (``tests.helpers.PAGES``), so a new page is swept as soon
as it is declared, and one the sweep does not know how to judge fails here.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import polars as pl
import pytest

from tests.helpers import APP, PAGES, PROJECT_ROOT, RUN_KEY, PageSpec, healthy, open_app

if TYPE_CHECKING:
    from streamlit.testing.v1 import AppTest

    from core.runs.store import Run

ITALY = 914
# How each page uses the sidebar's filters: it follows them (and says over how many
# segments), or it says in one line that they do not apply.
FOLLOW = {
    "correlations", "interpretation", "latent-map", "states", "timeline", "teams", "report",
    "results",
}  # fmt: skip
EXPLAIN = {"overview", "traversal", "stability", "glossary", "data", "train", "sweep", "runs"}
# Pages that show one run (and so its quality warning); the others show the sidebar's only.
RUN_PAGES = {
    "overview", "correlations", "interpretation", "latent-map", "states", "timeline",
    "teams", "report", "traversal", "stability", "results",
}  # fmt: skip
KINDS = [
    "demo",
    pytest.param("collapsed", marks=pytest.mark.slow),  # fits states on one more run
    pytest.param("damaged", marks=pytest.mark.slow),  # four sessions per page
]


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("spec", PAGES, ids=[p.url for p in PAGES])
def test_page(spec: PageSpec, kind: str, request: pytest.FixtureRequest) -> None:
    # app.py lists only the page files it finds: a missing one would vanish unnoticed.
    assert (PROJECT_ROOT / spec.file).is_file(), f"{spec.file} is missing"
    if kind == "demo":
        _over_the_demo_run(spec, request.getfixturevalue("demo_run"))
    elif kind == "collapsed":
        _over_a_collapsed_run(spec, request.getfixturevalue("collapsed_run"))
    else:
        _beside_damaged_runs(
            spec, request.getfixturevalue("demo_run"), request.getfixturevalue("bad_runs")
        )


def _titled(at: AppTest, spec: PageSpec, where: str) -> None:
    healthy(at, where)
    assert [t.value for t in at.title][:1] == [spec.heading], where


def _over_the_demo_run(spec: PageSpec, demo_run: Run) -> None:
    at = open_app(demo_run, spec.url)
    _titled(at, spec, spec.url)
    # The shared sidebar is drawn on every page, and keeps the run on every rerun.
    assert at.selectbox(key=RUN_KEY).value == demo_run.run_id
    at.multiselect(key="filter_teams").set_value([ITALY]).run()
    _titled(at, spec, f"{spec.url} with the team filter")
    assert at.selectbox(key=RUN_KEY).value == demo_run.run_id
    latents = demo_run.latents()
    n, total = latents.filter(pl.col("team_id") == ITALY).height, latents.height
    text = "\n".join(str(c.value) for c in at.caption)
    assert spec.url in FOLLOW | EXPLAIN, f"say how /{spec.url} uses the filters"
    if spec.url in EXPLAIN:
        assert "Sidebar filters do not apply" in text or "does not use the sidebar" in text, text
    elif spec.url == "latent-map":
        assert f"Showing {n:,} of {total:,} segments" in text, text
    elif spec.url == "states":
        assert f"'share in filter' is over {n:,} of {total:,} segments" in text, text
    elif spec.url == "timeline":
        assert "Sidebar filters apply" in text and f"({n:,} windows shown)" in text, text
    elif spec.url == "report":
        assert "preselect" in text
        assert at.selectbox(key="report_team").value == ITALY
    else:
        assert "Sidebar filters apply: " in text and f"{n:,} of {total:,} segments" in text, text


def _over_a_collapsed_run(spec: PageSpec, collapsed_run: Run) -> None:
    text = collapsed_run.dim_quality().warning()
    assert text is not None and "distinct of 4" in text
    at = open_app(collapsed_run, spec.url)
    _titled(at, spec, spec.url)
    warnings = [w.value for w in at.warning]
    assert any("distinct of 4 latent dimensions" in w for w in warnings), (spec.url, warnings)
    if spec.url in RUN_PAGES:
        assert text in warnings, (spec.url, warnings)


def _beside_damaged_runs(spec: PageSpec, demo_run: Run, bad_runs: dict[str, Run]) -> None:
    """With the damaged runs in the store, the page renders with the healthy run active and
    with each damaged run active, and says what is wrong instead of failing."""
    from streamlit.testing.v1 import AppTest

    for active in (demo_run, *bad_runs.values()):
        where = f"{spec.url} with {active.run_id}"
        at = AppTest.from_file(APP, default_timeout=180)
        at.query_params["run"] = active.run_id
        at.switch_page(spec.file).run()
        _titled(at, spec, where)
        if spec.url == "overview" and active.run_id == bad_runs["config"].run_id:
            assert any("broken" in e.value for e in at.error), [e.value for e in at.error]
        if spec.url == "runs":  # it lists the broken runs and the corrupt loss log
            warnings = " ".join(w.value for w in at.warning)
            assert bad_runs["config"].run_id in warnings, (where, warnings)
            assert "corrupt line" in warnings, (where, warnings)
