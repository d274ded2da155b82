"""StatsBomb open data over HTTP: the catalogue of competitions, and matches fetched into a cache.

StatsBomb publishes its free data as a repository of JSON files (``data/competitions.json``,
``data/matches/<competition>/<season>.json``, ``data/events/<id>.json``,
``data/lineups/<id>.json``, ``data/three-sixty/<id>.json``). This module downloads them,
several at a time with retries, into a cache under the data root keyed by their path.
The cache is itself an open-data folder (events and 360 files gzipped like the shared
copy), so extraction reads it exactly as it reads a local folder, and a second extraction
asks the server for nothing it already has. Every file is checked to be whole JSON before
it is written (atomically), so a dropped connection never leaves half a file.
"""

from __future__ import annotations

import gzip
import hashlib
import logging
import os
import re
import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import FIRST_EXCEPTION, Future, ThreadPoolExecutor, wait
from pathlib import Path
from typing import Any, Final

import orjson
import requests
from urllib3.exceptions import ConnectTimeoutError, NewConnectionError

from core.data.opendata_catalogue import OpenDataFetch, Season, season_row
from core.errors import SourceError
from core.infra.io import atomic_write_bytes, atomic_write_json, read_json
from core.infra.paths import data_root

logger = logging.getLogger(__name__)

DEFAULT_BASE_URL: Final = "https://raw.githubusercontent.com/statsbomb/open-data/master/"
BASE_URL_ENV: Final = "TACTICAL_OPEN_DATA_URL"
# The ``source`` name commands and jobs use for the open-data catalogue.
OPEN_DATA_SOURCE: Final = "opendata"
CREDIT: Final = (
    "Match data: StatsBomb open data (https://github.com/statsbomb/open-data), free to use "
    "with credit to StatsBomb as the data source, under its user agreement."
)
CACHE_FOLDER: Final = "open-data"  # under the data root
MAX_PARALLEL: Final = 8  # downloads at once: raw.githubusercontent.com copes well with 8
RETRIES: Final = 3  # attempts after the first, on a dropped connection, a timeout or a 5xx
BACKOFF_S: Final = 0.25  # wait before retry n: BACKOFF_S * 2**(n-1)
CONNECT_TIMEOUT_S: Final = 3.05
READ_TIMEOUT_S: Final = 60.0
# competitions.json and the matches files change as StatsBomb adds data: re-asked after this.
INDEX_MAX_AGE_S: Final = 24 * 3600.0
_GZIPPED: Final = ("events", "three-sixty")  # stored as .json.gz, like ../shared/data

Progress = Callable[[int, int, str], None]


def base_url(override: str | None = None) -> str:
    """The open-data root: ``override``, else ``$TACTICAL_OPEN_DATA_URL``, else StatsBomb's."""
    url = (override or os.environ.get(BASE_URL_ENV) or DEFAULT_BASE_URL).strip()
    if not re.match(r"^https?://", url):
        raise SourceError(
            f"Open-data URL {url!r} is not an http(s) URL. Give the root that holds "
            "data/competitions.json, or use a local folder with --source DIR."
        )
    return url if url.endswith("/") else url + "/"


def cache_dir(url: str) -> Path:
    """The cache folder of one base URL: ``<data root>/open-data/<host-and-path>-<hash>``."""
    slug = re.sub(r"[^A-Za-z0-9.]+", "_", re.sub(r"^https?://", "", url)).strip("_")[:60]
    digest = hashlib.blake2b(url.encode(), digest_size=4).hexdigest()
    return data_root() / CACHE_FOLDER / f"{slug}-{digest}"


class _Absent(Exception):
    """The server answered 404 for a path."""


class OpenDataClient:
    """Downloads open-data paths into the cache of one base URL.

    ``requests`` (one session per thread) fetches; the first request that cannot even
    connect fails at once (no network, wrong URL), later ones are retried with backoff.
    """

    def __init__(
        self,
        url: str | None = None,
        *,
        max_parallel: int = MAX_PARALLEL,
        retries: int = RETRIES,
        backoff_s: float = BACKOFF_S,
        timeout_s: tuple[float, float] = (CONNECT_TIMEOUT_S, READ_TIMEOUT_S),
        index_max_age_s: float = INDEX_MAX_AGE_S,
    ) -> None:
        self.url = base_url(url)
        self.cache = cache_dir(self.url)
        self.max_parallel = max(1, int(max_parallel))
        self.retries = max(0, int(retries))
        self.backoff_s = backoff_s
        self.timeout_s = timeout_s
        self.index_max_age_s = index_max_age_s
        self.requests = 0  # requests sent (attempts), for reports and tests
        self._reached = False  # a response came back once: connect errors are then retried
        self._local = threading.local()
        self._lock = threading.Lock()
        self._absent_path = self.cache / "absent.json"
        self._absent: set[str] = set(self._read_absent())

    # --- paths and cache ------------------------------------------------------------------

    @property
    def data_dir(self) -> Path:
        """The cache's ``data/`` folder: an open-data folder ``discover`` reads."""
        return self.cache / "data"

    def local_path(self, path: str) -> Path:
        """Where ``path`` (``data/...json``) lives in the cache (``.json.gz`` for events, 360)."""
        local = self.cache / path
        return local.with_name(local.name + ".gz") if path.split("/")[1] in _GZIPPED else local

    def _read_absent(self) -> list[str]:
        try:
            data = read_json(self._absent_path)
        except (OSError, ValueError):
            return []
        return [str(p) for p in data] if isinstance(data, list) else []

    def _save_absent(self) -> None:
        with self._lock:
            atomic_write_json(self._absent_path, sorted(self._absent))

    # --- HTTP ---------------------------------------------------------------------------

    def _session(self) -> requests.Session:
        session: requests.Session | None = getattr(self._local, "session", None)
        if session is None:
            session = requests.Session()
            session.headers["User-Agent"] = "tactical-states (StatsBomb open data reader)"
            self._local.session = session
        return session

    def _get_once(self, url: str) -> bytes:
        with self._lock:
            self.requests += 1
        self._local.sent = getattr(self._local, "sent", 0) + 1
        response = self._session().get(url, timeout=self.timeout_s)
        with self._lock:
            self._reached = True
        if response.status_code == 404:
            raise _Absent(url)
        response.raise_for_status()
        return response.content

    def _fail_fast(self, url: str, exc: Exception) -> SourceError:
        return SourceError(
            f"Cannot reach the StatsBomb open data at {url} ({type(exc).__name__}: {exc}). "
            "Check the network, or set --base-url / TACTICAL_OPEN_DATA_URL to a reachable "
            "mirror; offline, copy the open-data folder under the data root and extract it "
            "as a local folder (--source DIR, or 'Folder' on the Data page)."
        )

    def fetch_bytes(self, path: str) -> bytes:
        """The JSON bytes at ``path`` (relative to the base URL), checked to parse.

        Retries a dropped connection, a timeout, a 5xx or a truncated body with backoff;
        raises :class:`SourceError` when it keeps failing, and ``_Absent`` on a 404.
        """
        url = self.url + path
        last: Exception | None = None
        for attempt in range(self.retries + 1):
            if attempt:
                time.sleep(self.backoff_s * 2 ** (attempt - 1))
            try:
                data = self._get_once(url)
                orjson.loads(data)  # a cut-off body is not JSON: retried, never stored
                return data
            except (requests.ConnectionError, requests.Timeout) as exc:
                with self._lock:
                    reached = self._reached
                if not reached and _cannot_connect(exc):
                    raise self._fail_fast(url, exc) from exc
                last = exc
            except requests.HTTPError as exc:
                status = exc.response.status_code if exc.response is not None else 0
                if status < 500 and status != 429:
                    raise SourceError(f"{url} answered HTTP {status}; check the URL.") from exc
                last = exc
            except (requests.RequestException, orjson.JSONDecodeError) as exc:
                last = exc
            logger.info("retrying %s after %s", url, type(last).__name__)
        raise SourceError(
            f"Downloading {url} failed {self.retries + 1} times ({type(last).__name__}: "
            f"{last}); nothing of it was kept. Try again later, or use a local copy of the "
            "open-data folder (--source DIR, or 'Folder' on the Data page)."
        ) from last

    def fetch(self, path: str, *, max_age_s: float | None = None) -> Path | None:
        """The cached file of ``path``, downloaded first when missing (or older than
        ``max_age_s``); None when the server has no such file (404, remembered)."""
        local = self.local_path(path)
        if local.is_file() and (
            max_age_s is None or time.time() - local.stat().st_mtime < max_age_s
        ):
            return local
        if path in self._absent and max_age_s is None:
            return None
        try:
            data = self.fetch_bytes(path)
        except _Absent:
            with self._lock:
                self._absent.add(path)
            return None
        except SourceError:
            if local.is_file():  # an index file we still hold: stale beats nothing offline
                logger.warning("using the cached %s: the server cannot be reached", path)
                return local
            raise
        atomic_write_bytes(local, gzip.compress(data, 6) if local.suffix == ".gz" else data)
        with self._lock:
            self._absent.discard(path)
        return local

    def fetch_json(self, path: str) -> Any:
        """An index file (competitions, matches) parsed, refreshed after ``index_max_age_s``."""
        local = self.fetch(path, max_age_s=self.index_max_age_s)
        if local is None:
            raise SourceError(
                f"{self.url}{path} does not exist (HTTP 404): {self.url} is not the root of "
                "a StatsBomb open-data copy (it must hold data/competitions.json)."
            )
        try:
            return orjson.loads(local.read_bytes())
        except orjson.JSONDecodeError as exc:
            local.unlink(missing_ok=True)
            raise SourceError(f"{local} was corrupt and is removed; ask again.") from exc

    # --- catalogue ------------------------------------------------------------------------

    def competitions(self) -> list[dict[str, Any]]:
        """The records of ``data/competitions.json``."""
        data = self.fetch_json("data/competitions.json")
        if not isinstance(data, list):
            raise SourceError(f"{self.url}data/competitions.json is not a list of seasons.")
        return [c for c in data if isinstance(c, dict) and "competition_id" in c]

    def matches(self, competition_id: int, season_id: int) -> list[dict[str, Any]]:
        """The match records of one season (``data/matches/<competition>/<season>.json``)."""
        data = self.fetch_json(f"data/matches/{competition_id}/{season_id}.json")
        return [m for m in data if isinstance(m, dict)] if isinstance(data, list) else []

    def catalogue(self, progress: Progress | None = None) -> list[Season]:
        """Every competition season with its match count and 360 coverage."""
        comps = self.competitions()
        pairs = [(int(c["competition_id"]), int(c["season_id"])) for c in comps]
        per_season = self._parallel(
            pairs, lambda p: self.matches(*p), progress, lambda p: f"matches {p[0]}/{p[1]}"
        )
        return [
            season_row(
                c, per_season[(int(c["competition_id"]), int(c["season_id"]))], self.data_dir
            )
            for c in comps
        ]

    # --- matches --------------------------------------------------------------------------

    def select(
        self,
        competitions: Iterable[str | int] | None,
        seasons: Iterable[str | int] | None,
        *,
        match_ids: Iterable[int] | None = None,
        max_matches: int | None = None,
    ) -> list[dict[str, Any]]:
        """Match records of the seasons whose id or name is in the filters, by match id."""
        comp_list = [str(c).lower() for c in competitions or []]
        season_list = [str(s).lower() for s in seasons or []]
        if not comp_list:
            raise SourceError(
                "Name the competition to fetch (--competition ID or name; "
                "`python -m core opendata competitions` lists them)."
            )
        chosen = [
            c
            for c in self.competitions()
            if _wanted(comp_list, c.get("competition_id"), c.get("competition_name"))
            and (not season_list or _wanted(season_list, c.get("season_id"), c.get("season_name")))
        ]
        if not chosen:
            raise SourceError(
                f"No season of {self.url}data/competitions.json matches competitions="
                f"{list(competitions or [])} seasons={list(seasons or [])}; "
                "`python -m core opendata competitions` lists them."
            )
        records = [
            m for c in chosen for m in self.matches(int(c["competition_id"]), int(c["season_id"]))
        ]
        records.sort(key=lambda m: int(m["match_id"]))
        if match_ids:
            wanted = {int(i) for i in match_ids}
            records = [m for m in records if int(m["match_id"]) in wanted]
        if max_matches:
            records = records[: max(0, int(max_matches))]
        return records

    def fetch_matches(
        self, records: list[dict[str, Any]], progress: Progress | None = None
    ) -> OpenDataFetch:
        """Download the events, lineup and 360 files of ``records`` into the cache."""
        started = time.perf_counter()
        out = OpenDataFetch(folder=self.data_dir)
        before = self.requests

        def one(record: dict[str, Any]) -> tuple[int, bool, str]:
            mid = int(record["match_id"])
            sent = getattr(self._local, "sent", 0)
            if self.fetch(f"data/events/{mid}.json") is None:
                return mid, False, "no events file on the server (HTTP 404)"
            self.fetch(f"data/lineups/{mid}.json")
            if str(record.get("match_status_360", "available")) == "available":
                self.fetch(f"data/three-sixty/{mid}.json")
            return mid, getattr(self._local, "sent", 0) == sent, ""

        try:
            results = self._parallel(
                records, one, progress, lambda r: f"downloading {r['match_id']}"
            )
        finally:
            self._save_absent()
        for mid, cached, reason in (results[_key(r)] for r in records):
            if reason:
                out.skipped.append((f"{self.url}data/events/{mid}.json", reason))
            else:
                out.match_ids.append(mid)
                out.from_cache += cached
        out.downloaded = self.requests - before
        out.seconds = round(time.perf_counter() - started, 3)
        logger.info(
            "open data: %d matches ready (%d from cache), %d requests, %.1f s",
            len(out.match_ids),
            out.from_cache,
            out.downloaded,
            out.seconds,
        )
        return out

    def _parallel(
        self,
        items: list[Any],
        work: Callable[[Any], Any],
        progress: Progress | None,
        describe: Callable[[Any], str],
    ) -> dict[Any, Any]:
        """``work`` over ``items`` on at most ``max_parallel`` threads, results by item key.

        The first failure (or a progress callback raising, as a cancelled job's does)
        cancels what has not started and is raised once the running ones finish.
        """
        results: dict[Any, Any] = {}
        if not items:
            return results
        # The first item alone: an unreachable server fails once, not once per thread.
        results[_key(items[0])] = work(items[0])
        done = 1
        if progress is not None:
            progress(done, len(items), describe(items[0]))
        with ThreadPoolExecutor(max_workers=self.max_parallel) as pool:
            futures: dict[Future[Any], Any] = {pool.submit(work, it): it for it in items[1:]}
            pending = set(futures)
            try:
                while pending:
                    finished, pending = wait(pending, return_when=FIRST_EXCEPTION)
                    for fut in finished:
                        item = futures[fut]
                        results[_key(item)] = fut.result()
                        done += 1
                        if progress is not None:
                            progress(done, len(items), describe(item))
            except BaseException:
                for fut in pending:
                    fut.cancel()
                raise
        return results


def _key(item: Any) -> Any:
    return int(item["match_id"]) if isinstance(item, dict) else item


def _cannot_connect(exc: Exception) -> bool:
    """Whether the request never connected (refused, no route, no DNS, connect timeout)."""
    if isinstance(exc, requests.ConnectTimeout):
        return True
    reason = getattr(exc.args[0], "reason", None) if exc.args else None
    return isinstance(reason, NewConnectionError | ConnectTimeoutError)


def _wanted(wanted: list[str], value: Any, name: Any) -> bool:
    return str(value).lower() in wanted or str(name).lower() in wanted


# --- what commands, jobs and pages call --------------------------------------------------------


def open_data_catalogue(url: str | None = None, progress: Progress | None = None) -> list[Season]:
    """The seasons the open data at ``url`` offers, with match counts and 360 coverage."""
    return OpenDataClient(url).catalogue(progress)


def fetch_open_data(
    competitions: Iterable[str | int] | None,
    seasons: Iterable[str | int] | None = None,
    *,
    url: str | None = None,
    match_ids: Iterable[int] | None = None,
    max_matches: int | None = None,
    progress: Progress | None = None,
    client: OpenDataClient | None = None,
) -> OpenDataFetch:
    """Download the matches of these seasons (the first ``max_matches`` by id) to the cache.

    Extract ``result.folder`` with ``match_ids=result.match_ids``: it is a local open-data
    folder. Raises :class:`SourceError` when the server cannot be reached or no match is
    there; a match whose events the server lacks is listed in ``skipped``.
    """
    client = client or OpenDataClient(url)
    records = client.select(competitions, seasons, match_ids=match_ids, max_matches=max_matches)
    if not records:
        raise SourceError(
            f"The matches file of competitions={list(competitions or [])} "
            f"seasons={list(seasons or [])} at {client.url} lists no match."
        )
    result = client.fetch_matches(records, progress)
    if not result.match_ids:
        raise SourceError(
            f"None of the {len(records)} matches could be downloaded from {client.url}: "
            + "; ".join(f"{u}: {r}" for u, r in result.skipped[:3])
        )
    return result
