"""Benchmark: do StatsBomb and Wyscout agree on the same 64 World Cup 2018 matches?

Run from the project root: ``python -m bench.bench_agreement [--cache DIR] [--no-latent]``.
Both providers' World Cup is extracted with the product's extraction (cached under
``--cache``, keyed by the extraction code, so a rerun after no reader change is fast; the
Wyscout folder's gzip files are decompressed into the cache when the reader takes plain
JSON only). Feature level: each feature's minute-weighted team-match mean over window
segments, Pearson r across the paired team-matches and the ratio of means (Wyscout /
StatsBomb), with the target beside the ones that have one (xG as a per-team-match total).
Latent level: one run per provider (``python -m core train``, the recommended preset, window
segments) on the features both providers supply; in each run the dims that track
possession, directness and pressing (each excluding those taken), every team's mean code,
and the Spearman rank correlation of the 32 teams between providers; then each run's axes
matched to the other's over the window segments both providers cut alike (found again at
|r| >= 0.7, as across seeds) and the canonical correlations of the two code spaces. Writes
``bench/results/agreement.json``.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import json
import math
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
SHARED = ROOT.parent / "shared" / "data"
DEFAULT_STATSBOMB = SHARED / "statsbomb"
DEFAULT_WYSCOUT = SHARED / "wyscout" / "world-cup-2018"
DEFAULT_CACHE = ROOT / "bench" / "results" / "agreement-cache"

# Feature targets: (feature, aggregate) -> minimum Pearson r across the 128 team-matches.
FEATURE_TARGETS: dict[tuple[str, str], float] = {
    ("t1_possession_share", "mean"): 0.9,
    ("t1_passes_per_min", "mean"): 0.9,
    ("t1_shots_per_min", "mean"): 0.9,
    ("t2_long_ball_share", "mean"): 0.9,
    ("t2_mean_pass_length", "mean"): 0.9,
    ("t1_xg_per_min", "total"): 0.8,
}
# Team-rank Spearman targets per latent pattern.
PATTERN_TARGETS: dict[str, float] = {"possession": 0.8, "directness": 0.6, "pressing": 0.5}


def code_key() -> str:
    """A hash of the extraction code (readers and features): a reader change is a new key."""
    digest = hashlib.sha256()
    for folder in ("core/data", "core/features"):
        for path in sorted((ROOT / folder).glob("*.py")):
            digest.update(path.name.encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()[:12]


def _plain_wyscout(source: Path, cache: Path) -> Path:
    """The Wyscout match folders with plain ``events.json`` (decompressed once, in the cache)."""
    plain = cache / "wyscout-plain"
    for folder in sorted(p for p in source.iterdir() if p.is_dir()):
        gz = folder / "events.json.gz"
        target = plain / folder.name / "events.json"
        if gz.is_file() and not target.is_file():
            target.parent.mkdir(parents=True, exist_ok=True)
            tmp = target.with_suffix(".tmp")
            tmp.write_bytes(gzip.decompress(gz.read_bytes()))
            tmp.replace(target)
    return plain


def extract_both(statsbomb: Path, wyscout: Path, cache: Path, workers: int) -> dict[str, Path]:
    """Both providers' features folders under ``cache/<code key>/`` (extracted when missing)."""
    from core.features.extract import ExtractionError, extract_features

    key_dir = cache / code_key()
    for stale in cache.iterdir() if cache.is_dir() else []:
        if stale.is_dir() and len(stale.name) == 12 and stale != key_dir:
            shutil.rmtree(stale, ignore_errors=True)  # another version of the readers
    out = {"statsbomb": key_dir / "statsbomb", "wyscout": key_dir / "wyscout"}
    if not (out["statsbomb"] / "features.parquet").is_file():
        extract_features(
            statsbomb, out["statsbomb"], workers=workers, competitions=[43], seasons=[3]
        )
    if not (out["wyscout"] / "features.parquet").is_file():
        try:
            extract_features(wyscout, out["wyscout"], workers=workers, provider="wyscout")
        except ExtractionError:
            print("(the Wyscout reader takes no gzip files yet: decompressed into the cache)")
            plain = _plain_wyscout(wyscout, cache)
            extract_features(plain, out["wyscout"], workers=workers, provider="wyscout")
    return out


def _fmt(v: float, spec: str = ".3f") -> str:
    return "n/a" if v is None or (isinstance(v, float) and math.isnan(v)) else format(v, spec)


def feature_level(folders: dict[str, Path]) -> tuple[dict[str, Any], Any]:
    """Print and return the per-feature agreement (StatsBomb = A, Wyscout = B)."""
    from core.services.agreement import provider_agreement

    report = provider_agreement(
        folders["statsbomb"] / "features.parquet", folders["wyscout"] / "features.parquet"
    )
    p = report.pairing
    print(
        f"paired {p.n_matches} matches, {p.pairs.height} team-matches ({dict(p.paired_by)}); "
        f"unpaired: StatsBomb {p.unpaired_a}, Wyscout {p.unpaired_b}"
    )
    rows = report.table.to_dicts()
    print("\nTargets, feature level (minute-weighted team-match means over window segments):")
    for row in rows:
        target = FEATURE_TARGETS.get((row["feature"], row["aggregate"]))
        if target is None:
            continue
        label = row["feature"] + (" (per team-match)" if row["aggregate"] == "total" else "")
        if row["n"] == 0:
            why = "no xG" if "xg" in row["feature"] else "null in one provider"
            print(f"  {label:42s} n/a ({why})   target r >= {target}")
            continue
        verdict = "ok" if row["r"] >= target else "MISSED"
        print(
            f"  {label:42s} n={row['n']:3d} r={row['r']:.3f} ratio={_fmt(row['ratio'])}  "
            f"target r >= {target} {verdict}"
        )
    print("\nEvery other feature both supply (r, ratio W/S; * = r < 0.8, note in the JSON):")
    for row in rows:
        if (row["feature"], row["aggregate"]) in FEATURE_TARGETS or row["n"] == 0:
            continue
        flag = "*" if not row["r"] >= 0.8 else " "
        print(f"  {flag} {row['feature']:42s} r={_fmt(row['r'])} ratio={_fmt(row['ratio'])}")
    missing = [r["feature"] for r in rows if r["n"] == 0 and r["feature"].startswith("t")]
    print(f"\nnull in one provider ({len(missing)}): {', '.join(missing)}")
    return {"pairing": dict(p.paired_by), "features": rows, "shared": report.shared}, p.pairs


def _train(features: Path, runs_root: Path, epochs: int | None) -> Path:
    """One run of the recommended preset on window segments, through the command line."""
    env = {**os.environ, "TACTICAL_RUNS_ROOT": str(runs_root)}
    cmd = [sys.executable, "-m", "core", "train", "--features", str(features)]
    cmd += ["--preset", "recommended", "--segment-type", "window"]
    if epochs is not None:
        cmd += ["--epochs", str(epochs)]
    done = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, check=False)
    if done.returncode:
        raise RuntimeError(f"training failed:\n{done.stderr[-2000:]}")
    return Path(done.stdout.strip().splitlines()[-1])


def axis_level(runs: dict[str, Any], pairs: Any) -> dict[str, Any]:
    """Print which of each run's axes the other provider's run finds again over the paired
    window segments, and the canonical correlations of the two code spaces."""
    from core.analysis.ensemble import FOUND_R
    from core.services.agreement import axis_agreement, swap_sides

    out: dict[str, Any] = {}
    print(f"\nAxes found again in the other provider (paired windows, |r| >= {FOUND_R}):")
    for a, b, p in (("statsbomb", "wyscout", pairs), ("wyscout", "statsbomb", swap_sides(pairs))):
        axes = axis_agreement(runs[a], runs[b], p)
        ensemble = runs[a].ensemble()
        seeds = {x.dim: x.found_in for x in ensemble.axes} if ensemble is not None else {}
        shown = ", ".join(
            f"{d}->{m} {r:+.2f}" + (f" ({seeds[d]} seeds)" if d in seeds else "")
            for d, m, r in zip(axes.dims_a, axes.matched, axes.r, strict=True)
        )
        print(
            f"  {a} in {b}: {len(axes.found)} of {len(axes.dims_a)} found again "
            f"over {axes.n_windows} windows: {shown}"
        )
        out[a] = {
            "found": axes.found,
            "matched": axes.matched,
            "r": axes.r,
            "canonical": axes.canonical,
            "n_windows": axes.n_windows,
        }
    print(
        f"  the two code spaces share {axes.shared_directions()} directions at canonical "
        f"r >= {FOUND_R} (canonical r: {', '.join(f'{c:.2f}' for c in axes.canonical)})"
    )
    return out


def latent_level(
    folders: dict[str, Path], shared: list[str], cache: Path, epochs: int | None, pairs: Any
) -> dict[str, Any]:
    """Train one run per provider on the shared features; print the team-rank agreement."""
    import polars as pl

    from core.analysis.agreement import PATTERNS
    from core.features.registry import feature_columns
    from core.runs.store import Run
    from core.services.agreement import feature_team_ranks, latent_agreement

    runs: dict[str, Run] = {}
    for provider, folder in folders.items():
        table = pl.read_parquet(folder / "features.parquet")
        drop = [c for c in feature_columns(table.columns) if c not in shared]
        out = folder.parent / f"train-{provider}" / "features.parquet"
        out.parent.mkdir(parents=True, exist_ok=True)
        table.drop(drop).write_parquet(out)
        start = time.perf_counter()
        path = _train(out, cache / "runs", epochs)
        runs[provider] = Run(path.name, path)
        print(f"{provider}: run {path.name} ({time.perf_counter() - start:.0f} s)")
    table = latent_agreement(runs["statsbomb"], runs["wyscout"])
    print(f"\nLatent patterns ({len(shared)} shared features), team ranks StatsBomb vs Wyscout:")
    for row in table.to_dicts():
        target = PATTERN_TARGETS[row["pattern"]]
        rho = row["spearman"]
        verdict = "ok" if rho >= target else "MISSED"
        print(
            f"  {row['pattern']:10s} S {row['dim_a']} |r|={_fmt(row['abs_r_a'], '.2f')} "
            f"{row['feature_a']}; W {row['dim_b']} |r|={_fmt(row['abs_r_b'], '.2f')} "
            f"{row['feature_b']}; {row['n_teams']} teams: Spearman {_fmt(rho)}  "
            f"target >= {target} {verdict}"
        )
    ranks = feature_team_ranks(
        folders["statsbomb"] / "features.parquet",
        folders["wyscout"] / "features.parquet",
        [f for features in PATTERNS.values() for f in features],
    )
    print("  the same teams ranked by the raw features (Spearman, no target):")
    print("    " + ", ".join(f"{f[3:]} {_fmt(v)}" for f, v in ranks.items()))
    return {
        "runs": {p: r.run_id for p, r in runs.items()},
        "patterns": table.to_dicts(),
        "feature_team_ranks": ranks,
        "axes": axis_level(runs, pairs),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--statsbomb", type=Path, default=DEFAULT_STATSBOMB)
    parser.add_argument("--wyscout", type=Path, default=DEFAULT_WYSCOUT)
    parser.add_argument("--cache", type=Path, default=DEFAULT_CACHE, help="extractions, runs")
    parser.add_argument("--workers", type=int, default=2, help="extraction worker processes")
    parser.add_argument("--epochs", type=int, default=None, help="default: the preset's")
    parser.add_argument("--no-latent", action="store_true", help="skip the two trainings")
    args = parser.parse_args()
    if not (args.statsbomb / "events").is_dir() or not args.wyscout.is_dir():
        print(f"no data: {args.statsbomb} and {args.wyscout} are needed; nothing measured")
        return 0
    args.cache.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    folders = extract_both(args.statsbomb, args.wyscout, args.cache, args.workers)
    print(f"extraction (or cache): {time.perf_counter() - start:.1f} s, key {code_key()}")
    results, pairs = feature_level(folders)
    if not args.no_latent:
        results["latent"] = latent_level(folders, results["shared"], args.cache, args.epochs, pairs)
    out_dir = ROOT / "bench" / "results"
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "agreement.json").write_text(json.dumps(results, indent=2, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
