"""Where an extraction runs (issue 22): this machine's process pool or a Dask cluster, the
same features either way. The cluster is a real ``distributed.LocalCluster`` of two worker
processes on this machine, reached through its TCP address as a remote one would be."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from core.errors import ConfigError, JobError
from core.features.datasets import Dataset
from core.features.executors import Executor, parse_executor
from core.features.extract import extract_features
from core.jobs.api import list_jobs, submit_extraction, wait_job
from tests.helpers import cli, healthy, open_app, wait_for

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data"
STATSBOMB = SHARED / "statsbomb"
WYSCOUT_WC = SHARED / "wyscout" / "world-cup-2018"


def test_executor_addresses_are_parsed_or_refused_with_what_works() -> None:
    assert parse_executor(None) == parse_executor("local") == Executor()
    assert parse_executor("dask://10.0.0.5:8786") == Executor("dask", "tcp://10.0.0.5:8786")
    assert parse_executor(" dask://scheduler.club.lan:8786 ").address == (
        "tcp://scheduler.club.lan:8786"
    )
    with pytest.raises(ConfigError, match=r"Ray is not supported.*dask://HOST:8786"):
        parse_executor("ray://head:10001")
    for bad in ("dask://host", "dask://host:0", "dask://host:99999", "spark://x:1", "dask://a b:1"):
        with pytest.raises(ConfigError, match=r"local.*dask://HOST:PORT"):
            parse_executor(bad)


def test_the_cli_refuses_an_unknown_executor_before_any_work(tmp_path: Path) -> None:
    done = cli("features", "--out", str(tmp_path / "out"), "--executor", "ray://head:10001")
    assert done.returncode == 2
    assert "Ray is not supported" in done.stdout
    assert not (tmp_path / "out").exists()


@pytest.mark.slow
def test_an_unreachable_scheduler_is_a_message(tmp_path: Path) -> None:
    done = cli("features", "--out", str(tmp_path / "out"), "--executor", "dask://127.0.0.1:9")
    assert done.returncode == 2, done.stdout + done.stderr
    assert "Could not reach the Dask scheduler at tcp://127.0.0.1:9" in done.stdout


def test_an_extraction_job_refuses_a_bad_executor_before_it_exists() -> None:
    before = len(list_jobs("extract"))
    with pytest.raises(JobError, match="Ray is not supported"):
        submit_extraction("demo", "on-ray", executor="ray://head:10001")
    with pytest.raises(JobError, match=r"not understood.*dask://HOST:PORT"):
        submit_extraction("demo", "on-spark", executor="spark://head:7077")
    assert len(list_jobs("extract")) == before


def test_the_data_page_says_what_is_wrong_with_a_cluster_address() -> None:
    at = open_app(url="data")
    at.radio(key="data_source").set_value("demo").run()
    before = len(list_jobs("extract"))
    at.text_input(key="data_ex").set_value("dask://head").run()
    at.button(key="data_extract").click().run()
    healthy(at)
    assert any("dask://HOST:PORT" in e.value for e in at.error), [e.value for e in at.error]
    assert len(list_jobs("extract")) == before


@pytest.fixture(scope="module")
def dask_address() -> Iterator[str]:
    distributed = pytest.importorskip("distributed")
    # The workers are new processes: they import the product from this checkout.
    previous = os.environ.get("PYTHONPATH")
    os.environ["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), previous) if p)
    cluster = distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
    )
    try:
        yield str(cluster.scheduler_address).replace("tcp://", "dask://")
    finally:
        cluster.close()
        if previous is None:
            os.environ.pop("PYTHONPATH", None)
        else:
            os.environ["PYTHONPATH"] = previous


def _read(out: Path) -> dict[str, pl.DataFrame]:
    def sort(frame: pl.DataFrame) -> pl.DataFrame:
        keys = [c for c in ("match_id", "team", "segment_type", "start_s", "index") if c in frame]
        return frame.sort(keys) if keys else frame

    return {
        name: sort(pl.read_parquet(out / f"{name}.parquet"))
        for name in ("features", "matches", "events")
    }


@pytest.mark.slow
@pytest.mark.parametrize(
    ("source", "filters"),
    [
        (STATSBOMB, {"competitions": ["43"], "max_matches": 4}),  # World Cup 2018, StatsBomb
        (WYSCOUT_WC, {"max_matches": 4, "provider": "wyscout"}),  # the same, Wyscout v2
    ],
    ids=["statsbomb", "wyscout"],
)
def test_a_dask_cluster_gives_the_local_features(
    dask_address: str, source: Path, filters: dict[str, object], tmp_path: Path
) -> None:
    if not source.is_dir():
        pytest.skip(f"shared data missing beside the checkout ({source})")
    local = extract_features(source, tmp_path / "local", workers=1, **filters)  # type: ignore[arg-type]
    remote = extract_features(
        source,
        tmp_path / "dask",
        executor=dask_address,
        **filters,  # type: ignore[arg-type]
    )
    assert remote.matches == local.matches == 4 and not remote.skipped
    assert remote.segments == local.segments > 0
    assert remote.features_available == local.features_available
    ours, theirs = _read(tmp_path / "local"), _read(tmp_path / "dask")
    for name, frame in ours.items():
        assert_frame_equal(theirs[name], frame, check_exact=True)
    # Each match went through the cluster into the dataset's cache, as the pool does.
    assert len(list((tmp_path / "dask" / "cache").glob("*.match.json"))) == 4


@pytest.mark.slow
def test_the_data_page_extracts_on_a_dask_cluster(dask_address: str, demo_dataset: Path) -> None:
    """The Data page's "Where to extract" sends the job's matches to the cluster; the
    dataset equals the one extracted on this machine's cores."""
    at = open_app(url="data")
    at.radio(key="data_source").set_value("demo").run()
    name = str(at.text_input(key="data_name").value)
    at.text_input(key="data_ex").set_value(dask_address).run()
    at.button(key="data_extract").click().run()
    healthy(at)
    job = next(j for j in list_jobs("extract") if j.params.get("name") == name)
    assert job.params["filters"]["executor"] == dask_address
    done = wait_job(job.job_id, timeout=240)
    assert done.state == "done", (done.error, done.log_tail)
    try:
        ours = _read(demo_dataset)["features"]
        theirs = _read(Dataset.named(name).path)["features"]
        assert_frame_equal(theirs, ours, check_exact=True)
    finally:
        shutil.rmtree(Dataset.named(name).path, ignore_errors=True)


@pytest.mark.slow
def test_a_killed_extraction_resumes_where_it_stopped(tmp_path: Path) -> None:
    """``kill -9`` of an extraction (and its pool workers) half-way: the next run reads the
    matches already done from the cache, parses only the rest, and writes the dataset a
    clean extraction writes."""
    if not (STATSBOMB / "events").is_dir():
        pytest.skip(f"shared data missing beside the checkout ({STATSBOMB})")
    out = tmp_path / "killed"
    args = ["--source", str(STATSBOMB), "--competition", "43", "--max-matches", "8"]
    proc = subprocess.Popen(
        [sys.executable, "-m", "core", "features", *args, "--workers", "2", "--out", str(out)],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,  # its pool workers share its process group
    )
    try:
        wait_for(lambda: len(list(out.glob("cache/*.match.json"))) >= 2, 240, "2 cached matches")
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    cached = len(list(out.glob("cache/*.match.json")))
    assert 2 <= cached < 8, cached  # killed half-way
    assert not (out / "features.parquet").exists()  # nothing half-written
    resumed = extract_features(STATSBOMB, out, competitions=["43"], max_matches=8, workers=2)
    assert resumed.matches == 8 and resumed.from_cache == cached
    clean = extract_features(STATSBOMB, tmp_path / "clean", competitions=["43"], max_matches=8)
    assert clean.from_cache == 0
    ours, theirs = _read(tmp_path / "clean"), _read(out)
    for name, frame in ours.items():
        assert_frame_equal(theirs[name], frame, check_exact=True)
