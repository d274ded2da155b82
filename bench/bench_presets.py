"""Recommended preset vs the notebook's: distinct dimensions, what they track, seed
stability and time per run, on real competitions.

For each competition (default: World Cup 2018 and NWSL 2018 from ``../shared``) the window
segments are prepared exactly as a run does (``core.pipeline.execute.prepare``), then each
preset is trained at three seeds in this process with the same data and thread count; the
codes are put on the run's reading axes as the pipeline does, written as minimal run
folders (``latents.parquet`` + ``correlations.npz``) and judged by
``shared/tools/latent_truth.py`` with each seed's run as the reference in turn. The last
lines print the ratios recommended / notebook (distinct dims, seconds per run).

    python -m bench.bench_presets [--competition 43 --competition 49] [--seeds 1,2,3]
"""

from __future__ import annotations

import argparse
import dataclasses
import re
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import polars as pl
import torch

from core.analysis.latents import pearson_matrix
from core.infra.io import atomic_write_npz, atomic_write_parquet
from core.model.config import PreprocessConfig
from core.model.encoding import encode_means
from core.model.latents import latent_names
from core.model.presets import PRESETS
from core.model.training import train_vae
from core.pipeline.analyses import reading_axes_of
from core.pipeline.prepare import PreparedData, prepare

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results" / "presets"
SHARED = HERE.parent.parent / "shared"
STATSBOMB = SHARED / "data" / "statsbomb"
TOOL = SHARED / "tools" / "latent_truth.py"
SUMMARY = re.compile(
    r"distinct=(\d+) possession=([\d.]+) directness=([\d.]+) pressing=([\d.]+) stable=(\d+)/(\d+)"
)
NAMES = {"43": "World Cup 2018", "49": "NWSL 2018"}


def features_for(competition: str) -> Path:
    """Extract the competition's matches once into ``bench/results/presets/<id>/``."""
    out = RESULTS / f"competition_{competition}"
    path = out / "features.parquet"
    if not path.exists():
        from core.features.extract import extract_features

        print(f"extracting competition {competition} into {out} (once) ...", flush=True)
        extract_features(str(STATSBOMB), out, competitions=[competition], workers=2)
    return path


def train_one(data: PreparedData, name: str, seed: int, folder: Path) -> float:
    """Train preset ``name`` at ``seed``; write the minimal run folder; return seconds."""
    cfg = dataclasses.replace(PRESETS[name], random_state=seed)
    X = data.X
    started = time.perf_counter()
    result = train_vae(X, cfg, device="cpu")
    Z_model = encode_means(result.module, X)
    Z, _, _, _ = reading_axes_of(Z_model, result.history[-1].kl_per_dim, data.features, cfg)
    seconds = time.perf_counter() - started
    folder.mkdir(parents=True, exist_ok=True)
    names = latent_names(Z.shape[1])
    segments = data.segments
    atomic_write_parquet(
        folder / "latents.parquet",
        segments.select("segment_id").with_columns(
            [pl.Series(n, Z[:, i]) for i, n in enumerate(names)]
        ),
    )
    r, _ = pearson_matrix(Z, data.features)
    atomic_write_npz(
        folder / "correlations.npz",
        pearson_r=r,
        feature_names=np.array(data.feature_names, dtype=str),
    )
    return seconds


def judge(folders: list[Path]) -> list[tuple[int, float, float, float, int]]:
    """The tool's summary with each folder as the reference in turn."""
    out = []
    for i in range(len(folders)):
        order = [str(p) for p in folders[i:] + folders[:i]]
        done = subprocess.run(
            [sys.executable, str(TOOL), *order], capture_output=True, text=True, check=False
        )
        lines = done.stdout.strip().splitlines()
        m = SUMMARY.search(lines[-1]) if lines else None
        if m is None:  # the tool stops on a reference run with no active dimension at all
            first = lines[0] if lines else done.stderr.strip().splitlines()[-1]
            print(f"  (tool gave no summary with {Path(order[0]).name} as reference: {first})")
            out.append((0, 0.0, 0.0, 0.0, 0))
            continue
        out.append((int(m[1]), float(m[2]), float(m[3]), float(m[4]), int(m[5])))
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--competition", action="append", help="competition id (repeatable)")
    parser.add_argument("--seeds", default="1,2,3")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    seeds = [int(s) for s in args.seeds.split(",")]
    competitions = args.competition or ["43", "49"]
    seconds: dict[str, list[float]] = {"notebook": [], "recommended": []}
    distinct: dict[str, list[int]] = {"notebook": [], "recommended": []}
    print(
        f"{'competition':16s} {'preset':12s} {'distinct':>10s} {'possession':>18s} "
        f"{'directness':>18s} {'pressing':>18s} {'stable':>8s} {'s/run':>6s}"
    )
    for comp in competitions:
        data = prepare(pl.read_parquet(features_for(comp)), PreprocessConfig())
        for name in ("notebook", "recommended"):
            folders = [RESULTS / comp / f"{name}_s{s}" for s in seeds]
            secs = [train_one(data, name, s, f) for s, f in zip(seeds, folders, strict=True)]
            res = judge(folders)
            seconds[name] += secs
            distinct[name] += [r[0] for r in res]

            def col(i: int, res: list[tuple[int, float, float, float, int]] = res) -> str:
                return "/".join(
                    f"{r[i]:.2f}" if isinstance(r[i], float) else str(r[i]) for r in res
                )

            print(
                f"{NAMES.get(comp, comp):16s} {name:12s} {col(0):>10s} {col(1):>18s} "
                f"{col(2):>18s} {col(3):>18s} {col(4):>8s} {np.mean(secs):6.1f}",
                flush=True,
            )
    print(
        f"ratio recommended/notebook: distinct dims "
        f"{np.mean(distinct['recommended']) / max(float(np.mean(distinct['notebook'])), 1e-9):.1f}x, "
        f"seconds per run {np.mean(seconds['recommended']) / np.mean(seconds['notebook']):.2f}x "
        f"({data.X.shape[0]:,} segments in the last competition, {len(seeds)} seeds, "
        f"{args.threads} threads)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
