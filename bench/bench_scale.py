"""The map's projection at a five-league scale (issue 22, its first measured stage).

A season of five leagues is about 500k segments. Above ``UMAP_FIT_MAX`` (50k) codes a run
fits UMAP on a seeded sample and places the other codes from their nearest sampled
neighbours (``core.analysis.latents.umap_embedding``); the states stage fits its BIC curve
on a sample and refits the chosen K on every code (``core.analysis.mixtures``). This bench
times both on 10-D codes drawn from a mixture of 12 clusters of different spreads (shaped
like a run's latents), at 100k and 500k codes, each measurement in a fresh process (its
peak RSS is its own), and the baseline of fitting UMAP on all 100k.

    python -m bench.bench_scale [--sizes 100000,500000] [--no-baseline] [--train-epochs N]
        [--stream-rows N]

Training is timed over ``--train-epochs`` epochs of the recommended preset (3 seeds trained
together, bfloat16 where the CPU has it) on the same codes padded with noise to 49 inputs,
and extrapolated to the preset's 150 epochs. ``--stream-rows`` times one epoch on the same
rows read from a model matrix file, held in memory against streamed from it
(``core.model.streaming``), with each one's peak RSS.

Targets (issue 22, 2-core CPU): training + projection + states ready <= 20 min at 2,000
matches; each stage no worse than n log n from 500 to 2,000 matches; peak RSS <= 8 GiB.
After training, the time until the run's first layout (PCA of the codes) is on disk, shown
on the Train page while UMAP runs: target <= 30 s. Not measured here yet: extraction at that
scale, and states beyond their mixture.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from bench.fresh import fresh_json

ROOT = Path(__file__).resolve().parents[1]
PROBE = """
import json, resource, sys, time
from pathlib import Path
import numpy as np
from core.analysis.latents import UMAP_FIT_MAX, umap_embedding
from core.analysis.mixtures import select_mixture
n, mode = int(sys.argv[1]), sys.argv[2]
rng = np.random.default_rng(0)
centres = rng.normal(scale=3.0, size=(12, 10))
spread = rng.uniform(0.3, 1.5, size=12)
label = rng.integers(0, 12, size=n)
z = centres[label] + rng.normal(size=(n, 10)) * spread[label, None]
out = {"n": n, "mode": mode}
if mode.startswith("train"):  # the recommended preset (3 seeds together), a few epochs timed
    import dataclasses
    from core.model.presets import RECOMMENDED, batch_size_for
    from core.model.training import train_vae
    epochs = int(mode.split(":")[1])
    X = np.concatenate([z, rng.normal(size=(n, 39))], axis=1).astype(np.float32)  # 49 inputs
    cfg = dataclasses.replace(RECOMMENDED, batch_size=batch_size_for(n, RECOMMENDED))
    cfg = dataclasses.replace(cfg, n_epochs=epochs)
    t0 = time.perf_counter()
    result = train_vae(X, cfg, device="cpu", precision="auto")
    out["epoch_s"] = (time.perf_counter() - t0) / epochs
    out["batch"] = cfg.batch_size
    out["precision"] = result.precision
    # From training's end to the first layout on disk: what the encoding stage does (every
    # member's codes on its reading axes, the seeds matched, latents written) and the PCA.
    import polars as pl
    from core.analysis.ensemble import ensemble_report
    from core.analysis.latents import pca_layout
    from core.model.encoding import encode_means
    from core.pipeline.analyses import reading_axes_of
    t1 = time.perf_counter()
    feats = X[:, :20].astype(np.float64)
    kl = result.history[-1].kl_per_dim
    ref, q, _, _ = reading_axes_of(encode_means(result.module, X), kl, feats, cfg)
    others = [reading_axes_of(encode_means(m, X), k, feats, cfg)[:2]
              for m, k in zip(result.members, result.member_kl)]
    ensemble_report(ref, q, others, feats, [f"f{i}" for i in range(20)], result.seeds)
    xy = pca_layout(ref)
    import tempfile
    with tempfile.TemporaryDirectory() as tmp:
        pl.DataFrame({"z": ref[:, 0]}).write_parquet(f"{tmp}/latents.parquet")
        pl.DataFrame({"pc_1": xy[:, 0], "pc_2": xy[:, 1]}).write_parquet(f"{tmp}/first.parquet")
    out["first_layout_s"] = time.perf_counter() - t1
    t0 += out["first_layout_s"]  # "seconds" stays training's
elif mode.startswith(("matrix:", "resident:", "stream:")):  # the model matrix from parquet
    import dataclasses
    from core.model.presets import RECOMMENDED, batch_size_for
    from core.model.streaming import MatrixFile, read_matrix, write_matrix
    from core.model.training import train_vae
    kind, arg = mode.split(":", 1)
    if kind == "matrix":  # written in a process of its own: the trainers start from the file
        X = np.concatenate([z, rng.normal(size=(n, 39))], axis=1).astype(np.float32)
        write_matrix(arg, X)
        out["matrix_gib"] = X.nbytes / 2**30
    else:
        epochs, path = arg.split(":", 1)
        cfg = dataclasses.replace(RECOMMENDED, batch_size=batch_size_for(n, RECOMMENDED))
        cfg = dataclasses.replace(cfg, n_epochs=int(epochs))
        matrix = MatrixFile(Path(path))
        rows = read_matrix(matrix) if kind == "resident" else matrix  # held, or streamed
        t0 = time.perf_counter()
        result = train_vae(rows, cfg, device="cpu", precision="auto")
        out["epoch_s"] = (time.perf_counter() - t0) / int(epochs)
        out["data"] = result.extra["data"]
    t0 = time.perf_counter()
elif mode == "states":  # the run's states stage: BIC curve K=2..10 on a sample, refit on all
    t0 = time.perf_counter()
    fit = select_mixture(z, random_state=42)
    out["k"] = fit.best_k
else:
    umap_embedding(z[:300], random_state=42)  # numba's code loaded, as a warm job has it
    t0 = time.perf_counter()
    emb = umap_embedding(z, random_state=42, fit_max=n if mode == "full" else UMAP_FIT_MAX)
    assert emb.shape == (n, 2) and np.isfinite(emb).all()
    out["fitted_on"] = n if mode == "full" else min(n, UMAP_FIT_MAX)
out["seconds"] = time.perf_counter() - t0
out["peak_rss_gib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 ** 2
print(json.dumps(out))
"""
TARGET_RSS_GIB = 8.0
TARGET_FIRST_LAYOUT_S = 30.0


def measure(n: int, mode: str = "sample") -> dict[str, Any]:
    return fresh_json("-c", PROBE, str(n), mode)


def stream_figures(n: int) -> None:
    """One epoch of the recommended preset on the same ``n`` rows, held in memory against
    streamed from the model matrix's parquet file (each a fresh process)."""
    import tempfile

    with tempfile.TemporaryDirectory(prefix="bench-stream-") as tmp:
        path = str(Path(tmp) / "model_matrix.parquet")
        written = measure(n, f"matrix:{path}")
        resident = measure(n, f"resident:1:{path}")
        streamed = measure(n, f"stream:1:{path}")
    print(
        f"training {n:,} rows ({written['matrix_gib']:.2f} GiB matrix), one epoch: resident "
        f"{resident['epoch_s']:.1f} s, peak RSS {resident['peak_rss_gib']:.2f} GiB; streamed "
        f"from parquet {streamed['epoch_s']:.1f} s ({streamed['epoch_s'] / resident['epoch_s']:.2f}x "
        f"the time), peak RSS {streamed['peak_rss_gib']:.2f} GiB ({streamed['data']})"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="100000,500000")
    parser.add_argument("--no-baseline", action="store_true", help="skip UMAP on all 100k")
    parser.add_argument(
        "--stream-rows",
        type=int,
        default=1_000_000,
        help="rows of the resident-against-streamed training epoch (0: skip it)",
    )
    parser.add_argument(
        "--train-epochs",
        type=int,
        default=2,
        help="epochs of the recommended preset timed per size (0: skip training)",
    )
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    rows = [measure(n) for n in sizes]
    for row in rows:
        print(
            f"projection of {row['n']:,} codes: {row['seconds']:.1f} s (UMAP fitted on "
            f"{row['fitted_on']:,}{', the rest placed' if row['fitted_on'] < row['n'] else ''}); "
            f"peak RSS {row['peak_rss_gib']:.2f} GiB "
            f"(target <= {TARGET_RSS_GIB:g} GiB for the whole run)"
        )
    if len(rows) >= 2:
        a, b = rows[0], rows[-1]
        print(
            f"growth {a['n']:,} -> {b['n']:,} codes ({b['n'] / a['n']:.0f}x): time "
            f"{b['seconds'] / a['seconds']:.2f}x, peak RSS "
            f"{b['peak_rss_gib'] / a['peak_rss_gib']:.2f}x (target: no worse than n log n, "
            f"{b['n'] / a['n'] * 1.14:.1f}x here)"
        )
    states = [measure(n, "states") for n in sizes]
    for row in states:
        print(
            f"states of {row['n']:,} codes, the latent mixture (K=2..10 on a 10,000 sample, "
            f"refit on all): {row['seconds']:.1f} s, K={row['k']:.0f}, peak RSS "
            f"{row['peak_rss_gib']:.2f} GiB"
        )
    if len(states) >= 2:
        print(
            f"states growth {states[0]['n']:,} -> {states[-1]['n']:,}: time "
            f"{states[-1]['seconds'] / states[0]['seconds']:.2f}x"
        )
    if args.train_epochs > 0:
        from core.model.presets import RECOMMENDED

        for n in sizes:
            row = measure(n, f"train:{args.train_epochs}")
            total = row["epoch_s"] * RECOMMENDED.n_epochs
            print(
                f"training {n:,} segments x 49 inputs, 3 seeds together ({row['precision']}, "
                f"batch {row['batch']:.0f}): {row['epoch_s']:.1f} s per epoch, so about "
                f"{total / 60:.1f} min for {RECOMMENDED.n_epochs} epochs; peak RSS "
                f"{row['peak_rss_gib']:.2f} GiB"
            )
            print(
                f"first layout of {n:,} segments (PCA of the codes) on disk "
                f"{row['first_layout_s']:.1f} s after training ends (target <= "
                f"{TARGET_FIRST_LAYOUT_S:g} s; the UMAP map follows)"
            )
    if args.stream_rows > 0:
        stream_figures(args.stream_rows)
    if not args.no_baseline:
        base = measure(sizes[0], "full")
        sample = rows[0]
        print(
            f"baseline, UMAP fitted on all {base['n']:,}: {base['seconds']:.1f} s, peak RSS "
            f"{base['peak_rss_gib']:.2f} GiB; the sampled projection takes "
            f"{sample['seconds'] / base['seconds']:.2f}x its time"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
