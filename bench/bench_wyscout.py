"""Benchmark: right numbers on real Wyscout data (issue 24) against StatsBomb's same 64 matches.

Run from the project root: ``python -m bench.bench_wyscout [--cache DIR] [--workers N]``.
Both providers' World Cup 2018 is extracted with the product's extraction (cached by
``bench.bench_agreement``, keyed by the extraction code). Prints, each next to its target:

- score agreement: how many of the 64 paired matches have the same final score in
  Wyscout's ``matches.parquet`` as in StatsBomb's (target: 64 of 64);
- field tilt per team-match, Pearson r (target >= 0.95);
- every feature both providers supply: Pearson r of the minute-weighted team-match means
  (``core.services.agreement.provider_agreement``), target >= 0.9 for a comparable feature;
  a feature whose definition differs by provider (``core.features.support.definition_differs``
  / ``feature_source``) is listed with the reason instead of a target;
- the Wyscout goal kicks (start, length, forward share, completion) against StatsBomb's.

Writes ``bench/results/wyscout.json``.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.bench_agreement import (  # noqa: E402 - after the path insert
    DEFAULT_CACHE,
    DEFAULT_STATSBOMB,
    DEFAULT_WYSCOUT,
    code_key,
    extract_both,
)

SCORE_TARGET = 64
FIELD_TILT = "t2_field_tilt"
FIELD_TILT_TARGET = 0.95
FEATURE_TARGET = 0.9


def _fmt(v: float | None, spec: str = ".3f") -> str:
    return "n/a" if v is None or (isinstance(v, float) and math.isnan(v)) else format(v, spec)


def score_agreement(folders: dict[str, Path]) -> dict[str, Any]:
    """Paired matches whose final scores are equal in both providers' ``matches.parquet``."""
    import polars as pl

    from core.services.agreement import pair_matches, teams_from_matches

    sb = teams_from_matches(pl.read_parquet(folders["statsbomb"] / "matches.parquet"))
    wy = teams_from_matches(pl.read_parquet(folders["wyscout"] / "matches.parquet"))
    pairing = pair_matches(sb, wy)
    by_id_sb = {m.match_id: m for m in sb}
    by_id_wy = {m.match_id: m for m in wy}
    pairs = pairing.pairs.select("match_id_a", "match_id_b").unique()
    differ = []
    for a, b in pairs.iter_rows():
        ma, mb = by_id_sb[a], by_id_wy[b]
        if ma.goals != mb.goals:
            differ.append(
                {"statsbomb": a, "wyscout": b, "teams": ma.key, "sb": ma.goals, "wy": mb.goals}
            )
    equal = pairs.height - len(differ)
    verdict = "ok" if equal >= SCORE_TARGET else "MISSED"
    print(
        f"scores equal: {equal} of {pairs.height} paired matches (Wyscout {len(wy)}, "
        f"StatsBomb {len(sb)})   target {SCORE_TARGET} of 64 {verdict}"
    )
    for d in differ:
        print(f"  differ: {d}")
    return {"equal": equal, "paired": pairs.height, "differ": differ}


def feature_agreement(folders: dict[str, Path]) -> list[dict[str, Any]]:
    """Per shared feature: r next to its target, or why it is not comparable."""
    from core.features.support import definition_differs, feature_source
    from core.services.agreement import provider_agreement

    report = provider_agreement(
        folders["statsbomb"] / "features.parquet", folders["wyscout"] / "features.parquet"
    )
    rows = {r["feature"]: r for r in report.table.to_dicts() if r["aggregate"] == "mean"}
    tilt = rows[FIELD_TILT]
    verdict = "ok" if tilt["r"] >= FIELD_TILT_TARGET else "MISSED"
    print(
        f"field tilt per team-match: n={tilt['n']} r={_fmt(tilt['r'])}   "
        f"target r >= {FIELD_TILT_TARGET} {verdict}"
    )
    out = []
    print(
        f"\nFeatures both providers supply ({len(report.shared)}), r of team-match means "
        "(ratio Wyscout / StatsBomb):"
    )
    for name in report.shared:
        row = rows[name]
        comparable = not definition_differs(name)
        entry = {**row, "comparable": comparable}
        if comparable:
            ok = row["r"] >= FEATURE_TARGET
            entry["verdict"] = "ok" if ok else "MISSED"
            print(
                f"  {name:42s} r={_fmt(row['r'])} ratio={_fmt(row['ratio'])}  "
                f"target r >= {FEATURE_TARGET} {entry['verdict']}"
            )
        else:
            entry["verdict"] = "not comparable"
            entry["why"] = feature_source(name, "wyscout")
            print(
                f"  {name:42s} r={_fmt(row['r'])} ratio={_fmt(row['ratio'])}  "
                f"no target: {entry['why'][:110]}"
            )
        out.append(entry)
    missed = [e["feature"] for e in out if e["verdict"] == "MISSED"]
    print(f"\ncomparable features below r {FEATURE_TARGET}: {len(missed)} {missed}")
    return out


def _neutral_events(statsbomb: Path, wyscout: Path) -> dict[str, Any]:
    """The neutral event tables of both providers' World Cup (events.parquet keeps no set
    piece column, so the readers run again)."""
    import polars as pl

    from core.data.providers import ProviderMatch, provider_match_files, read_provider_match
    from core.data.statsbomb import read_events

    records = json.loads((statsbomb / "matches" / "43" / "3.json").read_text())
    sb = [
        read_events(statsbomb / "events" / f"{m['match_id']}.json.gz", m["match_id"]).events
        for m in records
    ]
    wy = [
        read_provider_match(m).events
        for m in provider_match_files(wyscout, "wyscout").matches
        if isinstance(m, ProviderMatch)
    ]
    return {
        "statsbomb": pl.concat(sb, how="diagonal_relaxed"),
        "wyscout": pl.concat(wy, how="diagonal_relaxed"),
    }


def goal_kicks(statsbomb: Path, wyscout: Path) -> dict[str, Any]:
    """Both providers' goal kicks: start, length, forward share, completion."""
    import polars as pl

    out = {}
    for provider, events in _neutral_events(statsbomb, wyscout).items():
        gk = events.filter((pl.col("type") == "pass") & (pl.col("set_piece") == "goal_kick"))
        stats = gk.select(
            pl.len().alias("n"),
            pl.col("x").mean().alias("start_x"),
            pl.col("y").mean().alias("start_y"),
            pl.col("pass_length").mean().alias("length"),
            (pl.col("end_x") > pl.col("x")).mean().alias("forward"),
            pl.col("success").fill_null(False).mean().alias("complete"),
        ).row(0, named=True)
        out[provider] = stats
        print(
            f"goal kicks {provider:9s} n={stats['n']:4d} start=({_fmt(stats['start_x'], '.1f')}, "
            f"{_fmt(stats['start_y'], '.1f')}) length={_fmt(stats['length'], '.1f')} yd "
            f"forward={_fmt(stats['forward'], '.2f')} complete={_fmt(stats['complete'], '.2f')}"
        )
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--statsbomb", type=Path, default=DEFAULT_STATSBOMB)
    parser.add_argument("--wyscout", type=Path, default=DEFAULT_WYSCOUT)
    parser.add_argument("--cache", type=Path, default=DEFAULT_CACHE, help="extractions")
    parser.add_argument("--workers", type=int, default=2, help="extraction worker processes")
    args = parser.parse_args()
    if not (args.statsbomb / "events").is_dir() or not args.wyscout.is_dir():
        print(f"no data: {args.statsbomb} and {args.wyscout} are needed; nothing measured")
        return 0
    args.cache.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    folders = extract_both(args.statsbomb, args.wyscout, args.cache, args.workers)
    print(f"extraction (or cache): {time.perf_counter() - start:.1f} s, key {code_key()}\n")
    results = {
        "scores": score_agreement(folders),
        "features": feature_agreement(folders),
    }
    print()
    results["goal_kicks"] = goal_kicks(args.statsbomb, args.wyscout)
    out_dir = ROOT / "bench" / "results"
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "wyscout.json").write_text(json.dumps(results, indent=2, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
