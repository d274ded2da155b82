"""StatsBomb open data over HTTP, served from a copy of ../shared/data/statsbomb on 127.0.0.1.

The copy has the open-data repository's own layout (``data/`` prefix, plain ``.json``
events); a ``http.server`` in a thread serves it and counts the requests per path, and can
cut event downloads off halfway or answer 404, like a flaky or incomplete mirror.
"""

from __future__ import annotations

import contextlib
import gzip
import json
import shutil
import socket
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from polars.testing import assert_frame_equal
from streamlit.testing.v1 import AppTest

from core.__main__ import main as cli_main
from core.data.opendata import (
    BASE_URL_ENV,
    OpenDataClient,
    cache_dir,
    fetch_open_data,
    open_data_catalogue,
)
from core.data.opendata_catalogue import local_catalogue
from core.errors import SourceError
from core.features.extract import extract_features
from tests.helpers import APP, PROJECT_ROOT, healthy

SHARED = PROJECT_ROOT.parent / "shared" / "data" / "statsbomb"
WORLD_CUP = (43, 3)  # 64 matches
NWSL = (49, 3)  # 34 matches


@dataclass
class Mirror:
    """A served open-data copy: its URL, requests per path, and how it misbehaves."""

    url: str
    counts: Counter[str] = field(default_factory=Counter)
    drop: str = ""  # "first": cut each events file's first download off; "always": every one
    missing: set[str] = field(default_factory=set)  # paths answered with 404
    lock: threading.Lock = field(default_factory=threading.Lock)

    def event_requests(self) -> int:
        return sum(n for path, n in self.counts.items() if path.startswith("/data/events/"))


class _Handler(SimpleHTTPRequestHandler):
    mirror: Mirror

    def do_GET(self) -> None:
        path = self.path.split("?", 1)[0]
        with self.mirror.lock:
            self.mirror.counts[path] += 1
            n = self.mirror.counts[path]
        if path in self.mirror.missing:
            self.send_error(404)
            return
        drop = self.mirror.drop
        if path.startswith("/data/events/") and (drop == "always" or (drop == "first" and n == 1)):
            body = Path(self.translate_path(path)).read_bytes()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body[: len(body) // 2])
            self.wfile.flush()
            self.close_connection = True
            with contextlib.suppress(OSError):
                self.connection.shutdown(socket.SHUT_RDWR)
            return
        super().do_GET()

    def log_message(self, format: str, *args: Any) -> None:
        pass


@contextlib.contextmanager
def serve(root: Path, **behaviour: Any) -> Iterator[Mirror]:
    """Serve ``root`` on a free port of 127.0.0.1 in a thread for the ``with`` block."""
    mirror = Mirror(url="", **behaviour)
    handler = type("Handler", (_Handler,), {"mirror": mirror})
    server = ThreadingHTTPServer(("127.0.0.1", 0), partial(handler, directory=str(root)))
    mirror.url = f"http://127.0.0.1:{server.server_address[1]}/"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield mirror
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture(scope="session")
def open_data_copy(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The shared matches in the open-data repository's layout: data/..., plain events."""
    if not (SHARED / "competitions.json").is_file():
        pytest.fail(f"{SHARED} is missing: the shared StatsBomb open-data copy is needed.")
    root = tmp_path_factory.mktemp("open-data-copy")
    data = root / "data"
    data.mkdir()
    shutil.copy(SHARED / "competitions.json", data / "competitions.json")
    shutil.copytree(SHARED / "matches", data / "matches")
    shutil.copytree(SHARED / "lineups", data / "lineups")
    (data / "events").mkdir()
    for gz in (SHARED / "events").glob("*.json.gz"):
        (data / "events" / gz.name.removesuffix(".gz")).write_bytes(
            gzip.decompress(gz.read_bytes())
        )
    return root


@pytest.fixture(scope="module")
def mirror(open_data_copy: Path) -> Iterator[Mirror]:
    with serve(open_data_copy) as m:
        yield m


def _dead_url() -> str:
    """A URL on 127.0.0.1 where nothing listens."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/"


def _files_under(path: Path) -> list[Path]:
    return [p for p in path.rglob("*") if p.is_file()] if path.exists() else []


def _same_features(a: Path, b: Path) -> None:
    fa = pl.read_parquet(a / "features.parquet").sort("segment_id")
    fb = pl.read_parquet(b / "features.parquet").sort("segment_id")
    assert fa.height > 0
    assert_frame_equal(fa, fb)
    ma = pl.read_parquet(a / "matches.parquet").sort("match_id")
    mb = pl.read_parquet(b / "matches.parquet").sort("match_id")
    assert_frame_equal(ma, mb)


class TestCatalogue:
    def test_competitions_with_match_counts(self, mirror: Mirror) -> None:
        seasons = {(s.competition_id, s.season_id): s for s in open_data_catalogue(mirror.url)}
        assert set(seasons) == {WORLD_CUP, NWSL}
        wc = seasons[WORLD_CUP]
        assert (wc.competition, wc.season, wc.matches) == ("FIFA World Cup", "2018", 64)
        assert seasons[NWSL].matches == 34
        assert wc.matches_360 == 0 and not wc.has_360  # data version 1.0: no 360 files
        assert wc.dataset_name == "fifa-world-cup-2018"

    def test_cli_lists_each_season(
        self, mirror: Mirror, capsys: pytest.CaptureFixture[str]
    ) -> None:
        assert cli_main(["opendata", "competitions", "--base-url", mirror.url]) == 0
        out = capsys.readouterr().out
        line = next(x for x in out.splitlines() if "FIFA World Cup" in x)
        assert line.split()[:2] == ["43", "3"] and " 64 " in line
        assert "NWSL" in out and "StatsBomb" in out

    def test_local_folder_catalogue(self) -> None:
        seasons = {(s.competition_id, s.season_id): s for s in local_catalogue(SHARED)}
        assert seasons[WORLD_CUP].matches == 64 and seasons[NWSL].matches == 34
        assert seasons[WORLD_CUP].downloaded == 64


class TestDownload:
    def test_extraction_equals_the_local_folder_and_second_run_is_cached(
        self, mirror: Mirror, tmp_path: Path
    ) -> None:
        fetched = fetch_open_data([43], [3], url=mirror.url, max_matches=3)
        assert len(fetched.match_ids) == 3 and fetched.from_cache == 0
        assert fetched.folder == cache_dir(mirror.url) / "data"
        # gzipped like the shared copy, and readable as a local folder
        assert all(
            (fetched.folder / "events" / f"{m}.json.gz").is_file() for m in fetched.match_ids
        )
        remote = extract_features(fetched.folder, tmp_path / "remote", match_ids=fetched.match_ids)
        local = extract_features(
            SHARED, tmp_path / "local", competitions=[43], seasons=[3], max_matches=3
        )
        assert remote.matches == local.matches == 3
        _same_features(tmp_path / "remote", tmp_path / "local")

        events_before = mirror.event_requests()
        assert events_before == 3
        again = fetch_open_data([43], [3], url=mirror.url, max_matches=3)
        assert mirror.event_requests() == events_before  # no event request the second time
        assert again.match_ids == fetched.match_ids and again.from_cache == 3
        assert again.downloaded == 0

    def test_cli_features_from_open_data(
        self, mirror: Mirror, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        out = tmp_path / "wc"
        code = cli_main(
            [
                "features",
                "--source",
                "opendata",
                "--competition",
                "43",
                "--season",
                "3",
                "--max-matches",
                "2",
                "--base-url",
                mirror.url,
                "--out",
                str(out),
                "--workers",
                "1",
            ]
        )
        assert code == 0, capsys.readouterr().out
        matches = pl.read_parquet(out / "matches.parquet")
        assert matches.height == 2 and set(matches["competition"]) == {"FIFA World Cup"}

    def test_missing_events_file_is_skipped_with_its_reason(self, open_data_copy: Path) -> None:
        with serve(open_data_copy) as m:
            records = json.loads((open_data_copy / "data/matches/43/3.json").read_text())
            first = min(int(r["match_id"]) for r in records)
            m.missing.add(f"/data/events/{first}.json")
            fetched = fetch_open_data([43], [3], url=m.url, max_matches=2)
        assert first not in fetched.match_ids and len(fetched.match_ids) == 1
        [(url, reason)] = fetched.skipped
        assert url.endswith(f"data/events/{first}.json") and "404" in reason


class TestBadNetwork:
    def test_dropped_connections_are_retried(self, open_data_copy: Path, tmp_path: Path) -> None:
        with serve(open_data_copy, drop="first") as m:
            client = OpenDataClient(m.url, backoff_s=0.01)
            fetched = fetch_open_data([49], [3], max_matches=2, client=client)
            event_counts = [n for p, n in m.counts.items() if p.startswith("/data/events/")]
        assert event_counts == [2, 2]  # each cut off once, then whole
        extract_features(fetched.folder, tmp_path / "remote", match_ids=fetched.match_ids)
        extract_features(SHARED, tmp_path / "local", match_ids=fetched.match_ids)
        _same_features(tmp_path / "remote", tmp_path / "local")

    def test_always_dropped_is_a_clear_error_and_nothing_partial(
        self, open_data_copy: Path
    ) -> None:
        with serve(open_data_copy, drop="always") as m:
            client = OpenDataClient(m.url, backoff_s=0.01, retries=2)
            with pytest.raises(SourceError, match="failed 3 times") as err:
                fetch_open_data([49], [3], max_matches=2, client=client)
        assert f"{m.url}data/events/" in str(err.value)
        assert "local copy" in str(err.value)
        cached = _files_under(client.cache / "data" / "events")
        assert cached == []  # no half file, no temporary file left
        assert not [p for p in _files_under(client.cache) if p.name.endswith(".tmp")]

    def test_no_server_fails_fast_naming_the_url(self, capsys: pytest.CaptureFixture[str]) -> None:
        url = _dead_url()
        started = time.monotonic()
        with pytest.raises(SourceError) as err:
            fetch_open_data([43], [3], url=url)
        assert time.monotonic() - started < 5
        assert url in str(err.value) and "local" in str(err.value)
        assert _files_under(cache_dir(url)) == []

        started = time.monotonic()
        assert cli_main(["opendata", "competitions", "--base-url", url]) == 1
        assert time.monotonic() - started < 5
        assert url in capsys.readouterr().out

    def test_not_an_http_url(self) -> None:
        with pytest.raises(SourceError, match="not an http"):
            OpenDataClient("ftp://example.org/open-data")


class TestDataPage:
    def _data_page(self) -> AppTest:
        at = AppTest.from_file(APP, default_timeout=60)
        at.run()
        at.switch_page("pages/data.py").run()
        healthy(at)
        return at

    def test_catalogue_table_and_credit(
        self, mirror: Mirror, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setenv(BASE_URL_ENV, mirror.url)
        at = self._data_page()
        at.radio(key="data_source").set_value("opendata").run()  # not the offline default
        healthy(at)
        table = next(d.value for d in at.dataframe if "with 360" in d.value.columns)
        rows = dict(zip(table["competition"], table["matches"], strict=True))
        assert rows == {"FIFA World Cup": 64, "NWSL": 34}
        assert any("StatsBomb" in c.value for c in at.caption)

    def test_offline_catalogue_says_so_and_other_sources_work(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setenv(BASE_URL_ENV, _dead_url())
        at = self._data_page()
        assert at.radio(key="data_source").value != "opendata"  # opens on what works offline
        assert not any("not reachable" in w.value for w in at.warning)
        at.radio(key="data_source").set_value("opendata").run()
        assert any("not reachable" in w.value for w in at.warning)
        at.radio(key="data_source").set_value("upload").run()
        healthy(at)
        assert at.file_uploader(key="data_upload") is not None

    def test_folder_source_lists_its_seasons_and_says_when_it_has_no_matches(
        self, session_root: Path
    ) -> None:
        root = session_root / "data"
        local = root / "od-local"
        (local / "matches" / "43").mkdir(parents=True, exist_ok=True)
        (local / "events").mkdir(exist_ok=True)
        shutil.copy(SHARED / "competitions.json", local / "competitions.json")
        shutil.copy(SHARED / "matches/43/3.json", local / "matches/43/3.json")
        world_cup = json.loads((SHARED / "matches/43/3.json").read_text())
        for record in world_cup[:3]:
            name = f"{record['match_id']}.json.gz"
            shutil.copy(SHARED / "events" / name, local / "events" / name)
        empty = root / "od-empty"
        (empty / "matches").mkdir(parents=True, exist_ok=True)
        (empty / "competitions.json").write_text("[]")

        at = self._data_page()
        at.radio(key="data_source").set_value("folder").run()
        at.selectbox(key="data_folder").set_value("od-empty").run()
        assert any("No matches found in od-empty" in e.value for e in at.error)
        at.selectbox(key="data_folder").set_value("od-local").run()
        healthy(at)
        table = next(d.value for d in at.dataframe if "with 360" in d.value.columns)
        assert dict(zip(table["competition"], table["matches"], strict=True)) == {
            "FIFA World Cup": 3
        }

    def test_an_existing_name_is_never_proposed_and_is_refused_in_words(
        self, demo_dataset: Path
    ) -> None:
        at = self._data_page()
        at.radio(key="data_source").set_value("demo").run()
        proposed = at.text_input(key="data_name").value
        assert proposed is not None and proposed != demo_dataset.name
        assert proposed.startswith("demo")
        assert not at.button(key="data_extract").disabled
        at.text_input(key="data_name").input(demo_dataset.name).run()
        assert any("already exists" in w.value for w in at.warning)
        assert at.button(key="data_extract").disabled


@pytest.mark.slow
def test_whole_competition_equals_the_local_folder(mirror: Mirror, tmp_path: Path) -> None:
    """NWSL 2018, all 34 matches: downloaded then extracted = extracted from the folder."""
    fetched = fetch_open_data([49], [3], url=mirror.url)
    assert len(fetched.match_ids) == 34 and not fetched.skipped
    extract_features(fetched.folder, tmp_path / "remote", match_ids=fetched.match_ids)
    extract_features(SHARED, tmp_path / "local", competitions=[49], seasons=[3])
    _same_features(tmp_path / "remote", tmp_path / "local")


@pytest.mark.slow
def test_extraction_job_from_open_data(mirror: Mirror) -> None:
    from core.jobs.api import submit_extraction, wait_job

    job = submit_extraction(
        "opendata",
        "od-job-test",
        competitions=[43],
        seasons=[3],
        max_matches=2,
        open_data_url=mirror.url,
    )
    done = wait_job(job.job_id, timeout=120)
    assert done.state == "done", (done.error, done.log_tail)
    assert done.result is not None and done.result["matches"] == 2
    assert Path(done.result["out_dir"]).name == "od-job-test"
