"""Gzipped provider files: match folders read ``events.json.gz`` (and ``.xml.gz``) like plain
files, detection sniffs inside them, on the shared Wyscout World Cup and on gzipped copies
of kloppy's own fixtures."""

from __future__ import annotations

import gzip
import importlib.resources
import shutil
from pathlib import Path

import polars as pl
import pytest

from core.data.providers import (
    ProviderError,
    ProviderMatch,
    detect_provider,
    provider_match_files,
    read_provider_match,
    sniff_file,
)
from core.features.extract import extract_features

FILES = Path(str(importlib.resources.files("kloppy"))) / "tests" / "files"
WYSCOUT_WC = Path(__file__).resolve().parents[2] / "shared" / "data" / "wyscout" / "world-cup-2018"
needs_wyscout = pytest.mark.skipif(
    not WYSCOUT_WC.is_dir(), reason="shared Wyscout World Cup 2018 data not present"
)


def _gzip(src: Path, dst: Path) -> Path:
    dst.parent.mkdir(parents=True, exist_ok=True)
    with src.open("rb") as fin, gzip.open(dst, "wb") as fout:
        shutil.copyfileobj(fin, fout)
    return dst


@needs_wyscout
def test_shared_wyscout_folder_is_gzipped_and_detected() -> None:
    first = sorted(p for p in WYSCOUT_WC.iterdir() if p.is_dir())[0]
    events = first / "events.json.gz"
    assert events.read_bytes()[:2] == b"\x1f\x8b"
    assert not (first / "events.json").exists()
    assert sniff_file(events) == ("wyscout", "events")
    assert detect_provider(WYSCOUT_WC) == "wyscout"
    found = provider_match_files(WYSCOUT_WC, None)
    assert (found.provider, len(found.matches), found.skipped) == ("wyscout", 64, [])
    match = found.matches[0]
    assert isinstance(match, ProviderMatch) and match.files["events"].name == "events.json.gz"
    parsed = read_provider_match(match)
    passes = parsed.events.filter(pl.col("type") == "pass").height
    assert passes > 500  # a whole match: both teams' passes
    assert parsed.match["home_team_name"] and parsed.match["away_team_name"]


def test_gzipped_and_plain_fixture_give_the_same_events(tmp_path: Path) -> None:
    """Opta's F24 + F7 XML, gzipped, read as the plain files are."""
    plain, zipped = tmp_path / "plain" / "1001", tmp_path / "zipped" / "1001"
    plain.mkdir(parents=True)
    shutil.copy(FILES / "opta_f24.xml", plain / "f24.xml")
    shutil.copy(FILES / "opta_f7.xml", plain / "f7.xml")
    _gzip(FILES / "opta_f24.xml", zipped / "f24.xml.gz")
    _gzip(FILES / "opta_f7.xml", zipped / "f7.xml.gz")
    assert sniff_file(zipped / "f24.xml.gz") == ("opta", "f24")
    assert sniff_file(zipped / "f7.xml.gz") == ("opta", "f7")
    assert detect_provider(zipped.parent) == "opta"
    events = {}
    for name in ("plain", "zipped"):
        found = provider_match_files(tmp_path / name, None)
        assert found.provider == "opta" and not found.skipped
        match = found.matches[0]
        assert isinstance(match, ProviderMatch)
        events[name] = read_provider_match(match).events
    assert events["zipped"].height > 0
    assert events["zipped"].equals(events["plain"])


def test_gzipped_fixture_extracts_end_to_end(tmp_path: Path) -> None:
    """A gzipped Wyscout v2 fixture through the product's extraction, provider detected."""
    _gzip(FILES / "wyscout_events_v2.json", tmp_path / "src" / "2499773" / "events.json.gz")
    summary = extract_features(tmp_path / "src", tmp_path / "out", provider=None, workers=1)
    assert (summary.provider, summary.matches, summary.skipped) == ("wyscout", 1, [])
    features = pl.read_parquet(tmp_path / "out" / "features.parquet")
    assert features["t1_take_ons_per_min"].drop_nulls().sum() > 0


def test_a_broken_gzip_file_is_named(tmp_path: Path) -> None:
    folder = tmp_path / "src" / "1"
    folder.mkdir(parents=True)
    data = gzip.compress((FILES / "wyscout_events_v2.json").read_bytes())
    (folder / "events.json.gz").write_bytes(data[: len(data) // 2])  # cut short
    found = provider_match_files(tmp_path / "src", "wyscout")
    match = found.matches[0]
    assert isinstance(match, ProviderMatch)
    with pytest.raises(ProviderError, match=r"events\.json\.gz"):
        read_provider_match(match)


def test_a_missing_file_says_gzip_is_accepted(tmp_path: Path) -> None:
    folder = tmp_path / "src" / "1001"
    folder.mkdir(parents=True)
    _gzip(FILES / "opta_f24.xml", folder / "f24.xml.gz")
    found = provider_match_files(tmp_path / "src", "opta")
    assert not found.matches
    assert "f7.xml" in found.skipped[0][1] and ".gz" in found.skipped[0][1]
