"""Findings that hold up (issue 21), per competition and provider: reproducible patterns of
a 3-seed ensemble, the possession / directness / pressing axes among them, ensemble training
time against one seed, and how well the patterns name a team (against PCA and raw features).

Datasets (each skipped with a note when its shared data is absent):

- StatsBomb World Cup 2018 and NWSL 2018 (``../shared/data/statsbomb``),
- Wyscout World Cup 2018 (``../shared/data/wyscout/world-cup-2018``, the same matches).

Features are extracted once into ``bench/results/findings/<name>/`` (cached; the cache key is
the extractor version), a run of the recommended preset (3 seeds trained together) is trained
into a private runs folder, and the same prepared matrix is trained again with one seed in
the same process for the time ratio. The cross-provider comparison of features and team
ranks is ``bench/bench_agreement.py``.

    python -m bench.bench_findings [--only sb_wc,sb_nwsl,wy_wc] [--epochs N]

Targets: ensemble training <= 2.0x one seed on the CPU; patterns name the team above chance.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results" / "findings"
SHARED = HERE.parent.parent / "shared" / "data"
DATASETS: dict[str, tuple[str, list[str]]] = {
    "sb_wc": ("StatsBomb World Cup 2018", ["--source", str(SHARED / "statsbomb"),
                                           "--competition", "43", "--season", "3"]),
    "sb_nwsl": ("StatsBomb NWSL 2018", ["--source", str(SHARED / "statsbomb"),
                                        "--competition", "49", "--season", "3"]),
    "wy_wc": ("Wyscout World Cup 2018", ["--source", str(SHARED / "wyscout" / "world-cup-2018")]),
}  # fmt: skip
POSSESSION = ["t1_possession_share"]
DIRECTNESS = ["t2_long_ball_share", "t2_passes_per_possession", "t2_mean_pass_length"]
PRESSING = [
    "t2_pressure_height", "t2_defensive_action_height", "t2_high_press_share", "t2_ppda",
    "t1_pressures_per_min",
]  # fmt: skip
RATIO_TARGET = 2.0
log = logging.getLogger("bench.findings")


def features_for(name: str, args: list[str]) -> Path | None:
    """The dataset's features, extracted once (None when the shared data is absent)."""
    from core.features.extract import EXTRACTOR_VERSION

    if not Path(args[1]).exists():
        return None
    out = RESULTS / name
    path = out / "features.parquet"
    stamp = out / "extractor_version"
    if path.exists() and stamp.exists() and stamp.read_text() == EXTRACTOR_VERSION:
        return path
    cmd = [sys.executable, "-m", "core", "features", *args, "--out", str(out), "--workers", "2"]
    subprocess.run(cmd, check=True, cwd=HERE.parent, stdout=subprocess.DEVNULL)
    stamp.write_text(EXTRACTOR_VERSION)
    return path


def best_axis(r: Any, names: list[str], dims: list[int], feats: list[str], taken: set[int]) -> tuple[float, int | None]:  # fmt: skip
    cand = [
        (abs(float(r[d, names.index(f)])), d)
        for d in dims
        if d not in taken
        for f in feats
        if f in names
    ]
    return max(cand) if cand else (0.0, None)


def measure(name: str, label: str, features: Path, epochs: int | None) -> dict[str, Any]:
    import numpy as np

    from core.features.datasets import load_features
    from core.model.config import PreprocessConfig
    from core.model.presets import RECOMMENDED, batch_size_for
    from core.model.training import train_vae
    from core.pipeline.execute import execute_run
    from core.pipeline.prepare import prepare
    from core.runs.store import create_run
    from core.services.results import results_report
    from core.views.plain import patterns_of

    prep = PreprocessConfig()
    data = prepare(load_features(features), prep)
    vae = dataclasses.replace(RECOMMENDED, batch_size=batch_size_for(data.X.shape[0], RECOMMENDED))
    if epochs:
        vae = dataclasses.replace(vae, n_epochs=epochs)
    # Warm up both (first-call costs), then the best of two timings each. CPU seconds of
    # this process (all its threads) as well as wall seconds: on a shared machine the wall
    # clock also counts other processes' work, the CPU time does not.
    times: dict[int, float] = {}
    cpu: dict[int, float] = {}
    for n in (1, 3):
        train_vae(data.X, dataclasses.replace(vae, ensemble=n, n_epochs=1), precision="auto")
    for _ in range(2):
        for n in (1, 3):
            t, c = time.perf_counter(), time.process_time()
            train_vae(data.X, dataclasses.replace(vae, ensemble=n), precision="auto")
            times[n] = min(times.get(n, float("inf")), time.perf_counter() - t)
            cpu[n] = min(cpu.get(n, float("inf")), time.process_time() - c)
    run, existed = create_run(features, vae, prep)
    if not (existed and run.is_done):
        execute_run(run.run_id)
    quality = run.dim_quality()
    ens = run.ensemble()
    assert ens is not None
    corr = run.correlations()
    fnames = list(corr.feature_names)
    r = corr.pearson_r if corr.pearson_r.shape[1] == len(fnames) else corr.pearson_r.T
    rep_idx = [quality.names.index(d) for d in quality.reproduced]
    taken: set[int] = set()
    axes = {}
    for what, feats in (("possession", POSSESSION), ("directness", DIRECTNESS),
                        ("pressing", PRESSING)):  # fmt: skip
        v, d = best_axis(r, fnames, rep_idx, feats, taken)
        if d is not None:
            taken.add(d)
        axes[what] = v
    report = results_report(run)
    identity = {s.source: (s.accuracy, s.chance) for s in report.identity}
    return {
        "dataset": label,
        "segments": int(data.X.shape[0]),
        "features": len(data.feature_names),
        "run": run.run_id,
        "distinct": quality.n_distinct,
        "reproduced": len(quality.reproduced),
        "in_all_3": sum(a.found_in == ens.n_seeds for a in ens.axes),
        "patterns": [p.name for p in patterns_of(run) if p.reproduced],
        "axes_r": axes,
        "train_1_s": round(times[1], 2),
        "train_3_s": round(times[3], 2),
        "ratio": round(times[3] / times[1], 2),
        "cpu_1_s": round(cpu[1], 2),
        "cpu_3_s": round(cpu[3], 2),
        "cpu_ratio": round(cpu[3] / cpu[1], 2),
        "identity": identity,
        "mean_abs_r": [a.mean_abs_r for a in ens.axes],
        "np_check": bool(np.isfinite(r).all()),
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--only", default=",".join(DATASETS))
    p.add_argument("--epochs", type=int, default=None, help="fewer epochs for a quick look")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    RESULTS.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("TACTICAL_RUNS_ROOT", str(RESULTS / "runs"))
    rows = []
    for name in args.only.split(","):
        label, cli = DATASETS[name]
        features = features_for(name, cli)
        if features is None:
            print(f"{label}: skipped (no shared data at {cli[1]})")
            continue
        row = measure(name, label, features, args.epochs)
        rows.append(row)
        print(
            f"\n{label}: {row['segments']:,} segments x {row['features']} features, run {row['run']}"
        )
        print(
            f"  reproducible patterns: {row['reproduced']} of {row['distinct']} distinct axes "
            f"found again in >= 2 of 3 trainings ({row['in_all_3']} in all 3)"
        )
        print("  named: " + "; ".join(row["patterns"]))
        a = row["axes_r"]
        print(
            f"  among them: possession |r|={a['possession']:.2f} directness |r|="
            f"{a['directness']:.2f} pressing |r|={a['pressing']:.2f}"
        )
        print(
            f"  ensemble training, CPU time: 3 seeds {row['cpu_3_s']:.1f} s vs 1 seed "
            f"{row['cpu_1_s']:.1f} s = {row['cpu_ratio']:.2f}x (target <= {RATIO_TARGET}x); "
            f"wall {row['train_3_s']:.1f} s vs {row['train_1_s']:.1f} s = {row['ratio']:.2f}x"
        )
        for source, (acc, chance) in row["identity"].items():
            print(f"  team named from {source}: {acc:.0%} (chance {chance:.0%}; target > chance)")
    (RESULTS / "findings.json").write_text(json.dumps(rows, indent=1, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
