"""Every stored artefact is checked when read (issue 24): a damaged file in a finished run
marks that run broken with the file named, and never breaks another run or the sidebar.

Each case damages a real copy of the demo run the way a disk fault or a bad copy does
(empty, truncated, bytes overwritten mid-file) and reads it through the real readers and
the real pages (Streamlit's AppTest).
"""

from __future__ import annotations

import json
import shutil
import struct
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from core.errors import BrokenRunError
from core.runs.store import Run, list_runs
from core.views.runs import default_run
from tests.conftest import _clone_run
from tests.helpers import healthy, open_app, texts


def _newest(cfg: dict[str, object]) -> None:
    cfg["created_at"] = "2999-01-01T00:00:00+00:00"  # listed first, as the newest run


@pytest.fixture
def copy(demo_run: Run) -> Iterator[Run]:
    """A finished copy of the demo run, listed as the newest run; removed afterwards."""
    run = _clone_run(demo_run, "da7a9e000024", _newest)
    assert run.status().state == "done"
    yield run
    shutil.rmtree(run.path, ignore_errors=True)


def _broken_naming(run: Run, name: str) -> str:
    st = run.status()
    assert st.state == "broken", st
    assert name in (st.error or ""), st.error
    return st.error or ""


def test_an_empty_umap_marks_its_run_broken_and_leaves_the_sidebar_working(copy: Run) -> None:
    # What opens without the copy: the demo run alone, or a run an earlier test trained.
    others = default_run([r for r in list_runs() if r != copy])
    assert others is not None and others.status().state == "done"
    (copy.path / "umap.parquet").write_bytes(b"")
    with pytest.raises(BrokenRunError, match=r"umap\.parquet is empty"):
        copy.umap()
    _broken_naming(copy, "umap.parquet")
    assert list_runs()[0] == copy  # still listed, so it can be seen and deleted
    assert default_run(list_runs()) == others  # the broken copy is passed over
    # Every page's sidebar over the store: the default run opens; the broken one says why.
    at = open_app()
    healthy(at, "overview, default run")
    at = open_app(copy, url="latent-map")
    healthy(at, "latent map, broken run")
    assert "umap.parquet" in texts(at)


def _patch_float(path: Path, old: float, new: float) -> None:
    """Overwrite the 8 bytes of the stored float ``old`` with ``new`` (a damaged page)."""
    data = bytearray(path.read_bytes())
    at = data.find(struct.pack("<d", old))
    assert at >= 0, "value not found in the file"
    data[at : at + 8] = struct.pack("<d", new)
    path.write_bytes(bytes(data))


def test_a_map_damaged_mid_file_is_refused_not_drawn(copy: Run) -> None:
    path = copy.path / "umap.parquet"
    umap = pl.read_parquet(path)
    umap.write_parquet(path, compression="uncompressed", statistics=False)
    _patch_float(path, float(umap["umap_y"][umap.height // 2]), 65974.0)
    assert pl.read_parquet(path)["umap_y"].max() == 65974.0  # readable, silently wrong
    with pytest.raises(BrokenRunError, match=r"umap\.parquet holds 65,974 in umap_y"):
        copy.umap()
    _broken_naming(copy, "umap.parquet")


def test_a_truncated_model_is_named(copy: Run) -> None:
    model = copy.path / "model.pt"
    model.write_bytes(model.read_bytes()[: model.stat().st_size // 2])
    with pytest.raises(BrokenRunError, match=r"model\.pt cannot be read as model weights"):
        copy.load_model()
    _broken_naming(copy, "model.pt")


@pytest.mark.parametrize("damage", ["not parquet", "nan", "missing column"])
def test_a_bad_latents_file_is_named(copy: Run, damage: str) -> None:
    path = copy.path / "latents.parquet"
    if damage == "not parquet":
        path.write_bytes(b"PAR1 this is not a parquet file")
        expected = r"latents\.parquet cannot be read as parquet"
    elif damage == "nan":
        frame = pl.read_parquet(path)
        z0 = frame["z0"].to_numpy().copy()
        z0[3] = np.nan
        frame.with_columns(pl.Series("z0", z0)).write_parquet(path)
        expected = r"latents\.parquet holds 1 missing or non-finite value\(s\) in z0"
    else:
        pl.read_parquet(path).drop("z1").write_parquet(path)
        expected = r"latents\.parquet lacks the column\(s\) \['z1'\]"
    with pytest.raises(BrokenRunError, match=expected):
        copy.latents()
    _broken_naming(copy, "latents.parquet")


def test_damaged_correlations_and_diagnostics_are_named(copy: Run, demo_run: Run) -> None:
    (copy.path / "correlations.npz").write_bytes(b"PK\x03\x04 torn")
    with pytest.raises(BrokenRunError, match=r"correlations\.npz cannot be read"):
        copy.correlations()
    (copy.path / "diagnostics.json").write_text(json.dumps([1, 2]))
    with pytest.raises(BrokenRunError, match=r"diagnostics\.json holds list"):
        copy.diagnostics()
    # The demo run beside it reads as before.
    assert demo_run.status().state == "done"
    assert demo_run.correlations().pearson_r.shape[0] == demo_run.config().vae.latent_dim
