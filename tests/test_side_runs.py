"""Side runs (a Stability seed run, a Sweep cell) never become a visitor's default run, and
the run picker lists them under the run they serve."""

from __future__ import annotations

import pytest

from core.runs.side import SIDE_FILE, mark_side_run, side_run
from core.runs.store import Run
from core.views.runs import default_run, picker_order, run_label


def test_a_seed_run_is_never_the_default_and_sits_under_its_parent(
    demo_run: Run, seed_run: Run
) -> None:
    newest_first = [seed_run, demo_run]  # the seed run finished last
    assert default_run(newest_first) == seed_run  # unmarked: just the newest healthy run
    try:
        mark_side_run(seed_run, "seed", demo_run.run_id)
        mark = side_run(seed_run)
        assert mark is not None and mark.label == f"seed run of {demo_run.run_id}"
        assert default_run(newest_first) == demo_run
        assert picker_order(newest_first) == [demo_run, seed_run]
        assert run_label(seed_run).endswith(f"· seed run of {demo_run.run_id}")
        assert default_run([seed_run]) == seed_run  # the only run: still opened
    finally:
        seed_run.artifact_path(SIDE_FILE).unlink(missing_ok=True)
    assert side_run(seed_run) is None


def test_a_bad_mark_is_refused_or_ignored(demo_run: Run) -> None:
    with pytest.raises(ValueError, match="side-run kind"):
        mark_side_run(demo_run, "other", "x")
    path = demo_run.artifact_path(SIDE_FILE)
    try:
        path.write_text("{not json")
        assert side_run(demo_run) is None
    finally:
        path.unlink(missing_ok=True)
