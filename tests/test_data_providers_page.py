"""The Data page's provider source: a folder of Wyscout match folders under the data root is
listed with its provider detected, shows what the provider cannot supply, and extracts in a
background job into a dataset whose rows name the provider (issue 12)."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import kloppy
import polars as pl
import pytest

from core.features.datasets import Dataset
from core.infra.paths import data_root
from core.jobs.api import list_jobs, wait_job
from tests.helpers import healthy, open_app

KLOPPY_FILES = Path(kloppy.__file__).parent / "tests" / "files"


@pytest.fixture
def wyscout_folder() -> Iterator[Path]:
    folder = data_root() / "club-wyscout"
    match = folder / "2852835"
    match.mkdir(parents=True, exist_ok=True)
    shutil.copy(KLOPPY_FILES / "wyscout_events_v3.json", match / "events.json")
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


@pytest.mark.slow
def test_provider_folder_is_detected_and_extracted(wyscout_folder: Path) -> None:
    at = open_app()
    at.switch_page("pages/data.py").run()
    at.radio(key="data_source").set_value("provider").run()
    healthy(at)
    folders = at.selectbox(key="data_provider_folder")
    assert "club-wyscout (wyscout)" in folders.options  # detected
    folders.set_value("club-wyscout").run()
    assert at.selectbox(key="data_provider_club-wyscout").value == "wyscout"
    page = "\n".join(m.value for m in at.markdown)
    assert "**wyscout** supplies" in page
    assert "built differently from StatsBomb's" in page  # and which, in a table
    differs = next(d.value for d in at.dataframe if "not comparable across providers" in d.value)
    assert "defensive action height" in differs["feature"].tolist()
    name = at.text_input(key="data_name").value
    assert name == "club-wyscout"
    at.button(key="data_extract").click().run()
    healthy(at)
    job = next(j for j in list_jobs("extract") if j.params.get("name") == name)
    done = wait_job(job.job_id, timeout=240)
    assert done.state == "done", (done.error, done.log_tail)
    features = pl.read_parquet(Dataset.named(name).features_path)
    assert features["provider"].unique().to_list() == ["wyscout"]
    shutil.rmtree(Dataset.named(name).path)


def test_features_built_differently_are_named_per_provider() -> None:
    """Features a provider supplies under another definition than StatsBomb's are listed with
    how they differ; StatsBomb, the reference, has none; unavailable ones are not listed."""
    from core.features.support import not_comparable, unavailable_features
    from core.views.datasets import provider_supply

    wyscout = not_comparable("wyscout")
    assert {"t2_defensive_action_height", "t1_crosses_per_min"} <= set(wyscout)
    assert "pressure" in wyscout["t2_defensive_action_height"]
    assert not set(wyscout) & set(unavailable_features("wyscout"))
    assert not_comparable("statsbomb") == {}
    supply = provider_supply("wyscout")
    assert supply.differs.height == len(wyscout)
    assert f"{len(wyscout)} of them are built differently" in supply.sentence
    assert provider_supply("statsbomb").differs.is_empty()
