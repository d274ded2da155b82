"""The map of a run above UMAP_FIT_MAX segments says that its UMAP was fitted on a sample
(issue 22); the placement itself is tested in ``tests/test_analysis.py``."""

from __future__ import annotations

import json
import shutil

from core.analysis.latents import UMAP_FIT_MAX
from core.runs.store import Run
from core.views.map_panels import projection_note
from tests.conftest import _clone_run
from tests.helpers import healthy, open_app, texts


def test_a_sampled_projection_is_said_on_the_map(demo_run: Run) -> None:
    run = _clone_run(demo_run, "5ca1e0000001", lambda cfg: None)
    try:
        n = run.latents().height
        assert n <= UMAP_FIT_MAX
        assert projection_note(run, n) is None  # fitted on every segment: nothing to say
        path = run.path / "diagnostics.json"
        diag = json.loads(path.read_text())
        diag["projection"] = {**diag["projection"], "fitted_on": 100}
        path.write_text(json.dumps(diag))
        note = projection_note(run, n)
        assert note is not None and f"100 of the {n:,} segments" in note
        at = open_app(run, "latent-map")
        healthy(at, no_errors=True)
        assert note in texts(at)
        (run.path / "diagnostics.json").unlink()
        assert projection_note(run, n) is None  # unreadable diagnostics: the map still shows
    finally:
        shutil.rmtree(run.path, ignore_errors=True)
