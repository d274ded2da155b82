"""Tactical states: Gaussian mixtures on latent codes and on z-scored features, compared.

The notebook's own next step. The math lives in :mod:`core.analysis.mixtures`;
:func:`get_states` runs it for one run and
caches the result in the run folder under ``states/`` (parquet, JSON, npz), computed on the
first request with progress.

The latent mixture is fitted on the run's *distinct* dimensions only
(``run.dim_quality().distinct``, see :mod:`core.analysis.quality`): an inactive dimension
is noise around the prior and a redundant one counts the same axis twice. The dims used are
recorded in ``summary.json`` (``dims_used``) and are part of the cache's validity, so a cache
fitted on other dims is recomputed. With a single distinct dim the states are still computed
on it, flagged ``one_axis`` with a message a page can show; with none there is nothing to
fit and :class:`~core.errors.StatesError` says so.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import polars as pl
from tqdm.auto import tqdm

from core.analysis.mixtures import (
    DEFAULT_K_RANGE,
    SILHOUETTE_SAMPLE,
    MixtureFit,
    feature_zscores,
    k_values,
    plan_space,
    select_mixture,
    silhouette_on_sample,
    state_agreement,
    state_labels,
    state_profiles,
)
from core.errors import StatesError
from core.infra.locks import file_lock
from core.runs.states_store import (
    SPACES,
    STATES_FORMAT,
    StatesResult,
    load_states,
    states_dir,
    write_states,
)

if TYPE_CHECKING:
    from core.runs.store import Run

logger = logging.getLogger(__name__)

Progress = Callable[[int, int, str], object]  # progress(done, total, message)


# --- per run, cached --------------------------------------------------------------------------


def states_dims(run: Run) -> list[str]:
    """The latent columns the run's latent states are fitted on: its distinct dimensions,
    most informative first.

    Raises :class:`StatesError` when the run has no distinct dimension (every latent
    collapsed): latent states would only slice noise.
    """
    quality = run.dim_quality()
    if not quality.distinct:
        raise StatesError(
            f"Run {getattr(run, 'run_id', '?')} has no distinct latent dimension "
            f"({len(quality.inactive)} of {len(quality.names)} inactive): latent states would "
            "only slice noise. Retrain the run with the recommended preset (lower beta, no "
            "dropout)."
        )
    return list(quality.distinct)


def one_axis_message(dims: Sequence[str]) -> str | None:
    """The flag text for states fitted on fewer than two dimensions, else None."""
    if len(dims) >= 2:
        return None
    return f"the states are slices of one axis ({', '.join(dims)})"


def _params(k_range: Sequence[int] | tuple[int, int], random_state: int) -> dict[str, Any]:
    return {"k_values": k_values(k_range), "random_state": int(random_state)}


def _run_seed(run: Run) -> int:
    return int(run.config().seed)


def _registry_directions(features: Sequence[str]) -> dict[str, str | None]:
    try:
        from core.features.registry import feature_info
    except ImportError:  # registry not available: labels fall back to high/low
        return {}
    out: dict[str, str | None] = {}
    for f in features:
        try:
            out[f] = feature_info(f).direction
        except (KeyError, ValueError, LookupError):
            out[f] = None
    return out


def run_feature_values(run: Run, segment_ids: pl.Series) -> tuple[np.ndarray, list[str]]:
    """Raw values (NaN where missing) of the run's model features for ``segment_ids``, in order."""
    pipeline = run.load_pipeline()
    columns = list(pipeline.feature_columns_)
    feats = pl.read_parquet(run.features_path, columns=["segment_id", *columns])
    joined = pl.DataFrame({"segment_id": segment_ids}).join(
        feats, on="segment_id", how="left", maintain_order="left"
    )
    values = joined.select(pl.col(c).cast(pl.Float64) for c in columns).to_numpy()
    return np.asarray(values, dtype=np.float64), columns


def compute_states(
    run: Run,
    *,
    k_range: Sequence[int] | tuple[int, int] = DEFAULT_K_RANGE,
    random_state: int | None = None,
    progress: Progress | None = None,
) -> StatesResult:
    """Fit both mixtures for ``run``, compare them, profile and label the states; cache them.

    Writes ``states/`` in the run folder atomically (a temporary folder renamed into place)
    and returns what it wrote.
    """
    seed = _run_seed(run) if random_state is None else int(random_state)
    params = _params(k_range, seed)
    latents = run.latents()
    ks = [k for k in params["k_values"] if k < latents.height]  # as select_mixture does
    total = 2 * (len(ks) + 1) + 3
    done = 0
    bar = tqdm(total=total, desc="tactical states", disable=None, leave=False)

    def step(message: str) -> None:
        nonlocal done
        done += 1
        bar.update(1)
        bar.set_postfix_str(message)
        if progress is not None:
            progress(min(done, total), total, message)

    zcols = [c for c in latents.columns if re.fullmatch(r"z\d+", c)]
    quality = run.dim_quality()
    dims = states_dims(run)
    missing = [d for d in dims if d not in zcols]
    if missing:
        raise StatesError(
            f"Run {getattr(run, 'run_id', '?')}: distinct dimension(s) {missing} are not "
            f"columns of its latents ({zcols}); the run's files disagree, retrain it."
        )
    Z = latents.select(dims).to_numpy().astype(np.float64)
    pipeline = run.load_pipeline()
    raw, features = run_feature_values(run, latents["segment_id"])
    Xf = feature_zscores(raw, pipeline.medians_, pipeline.mean_, pipeline.scale_)

    summary: dict[str, Any] = {
        "format": STATES_FORMAT,
        "params": params,
        "n_segments": int(latents.height),
        "n_features": len(features),
        "latent_dim": len(zcols),
        "dims_used": dims,
        "dim_status": {c: quality.status.get(c, "distinct") for c in zcols},
        "one_axis": len(dims) < 2,
        "one_axis_message": one_axis_message(dims),
    }
    fits: dict[str, MixtureFit] = {}
    try:
        for space, X in (("latent", Z), ("features", Xf)):
            t0 = time.perf_counter()

            def sub(_d: int, _t: int, msg: str, space: str = space) -> None:
                step(f"{space}: {msg}")

            X_fit, plan = plan_space(X)  # all columns, or principal components if too many
            fit = select_mixture(X_fit, ks or params["k_values"], random_state=seed, progress=sub)
            t1 = time.perf_counter()
            sil = silhouette_on_sample(X, fit.labels, random_state=seed)  # on every column
            step(f"{space}: silhouette")
            fits[space] = fit
            summary[space] = {
                "best_k": fit.best_k,
                "silhouette": None if np.isnan(sil) else sil,
                "selection_sample": fit.sample_size,
                "silhouette_sample": min(SILHOUETTE_SAMPLE, X.shape[0]),
                "covariance_type": fit.covariance_type,
                "dims": int(X.shape[1]),
                "plan": plan.to_dict(),
                "fit_seconds": round(t1 - t0, 3),
                "silhouette_seconds": round(time.perf_counter() - t1, 3),
            }
        ari, table = state_agreement(fits["latent"].labels, fits["features"].labels)
        summary["ari"] = ari
        directions = _registry_directions(features)
        profile_parts = []
        label_parts = []
        for space, fit in fits.items():
            prof = state_profiles(raw, fit.labels, features, fit.best_k)
            lab = state_labels(prof, directions=directions)
            profile_parts.append(prof.with_columns(pl.lit(space).alias("space")))
            label_parts.append(lab.with_columns(pl.lit(space).alias("space")))
        step("profiles and labels")
    finally:
        bar.close()

    result = StatesResult(
        assignments=pl.DataFrame(
            {
                "segment_id": latents["segment_id"],
                "latent_state": fits["latent"].labels,
                "latent_prob": fits["latent"].probabilities,
                "features_state": fits["features"].labels,
                "features_prob": fits["features"].probabilities,
            }
        ),
        bic=pl.concat(
            [
                pl.DataFrame({"space": space, "k": f.k_values, "bic": f.bic})
                for space, f in fits.items()
            ]
        ),
        profiles=pl.concat(profile_parts).select("space", pl.exclude("space")),
        labels=pl.concat(label_parts).select("space", pl.exclude("space")),
        contingency=table,
        mixtures={
            space: {"means": f.means, "covariances": f.covariances, "weights": f.weights}
            for space, f in fits.items()
        },
        summary=summary,
    )
    write_states(states_dir(run), result)
    logger.info(
        "States for run %s on %s: latent K=%d, features K=%d, ARI %.3f",
        getattr(run, "run_id", "?"),
        ",".join(dims),
        fits["latent"].best_k,
        fits["features"].best_k,
        ari,
    )
    return result


def get_states(
    run: Run,
    *,
    k_range: Sequence[int] | tuple[int, int] | None = None,
    random_state: int | None = None,
    progress: Progress | None = None,
    recompute: bool = False,
) -> StatesResult:
    """The run's states: from ``states/`` when cached, else computed (and cached).

    With ``k_range=None`` any cached result is accepted (pages that only read states do
    not undo a K range chosen on the States page); when nothing is cached the default
    range ``DEFAULT_K_RANGE`` is computed. With an explicit ``k_range`` (or seed) the cache
    must match it, else the states are recomputed. A cache fitted on other latent dims than
    the run's distinct ones (an older format, or a run whose quality changed) is always
    recomputed.
    """
    states_dims(run)  # nothing to fit (no distinct dim): say so before any lock
    seed = _run_seed(run) if random_state is None else int(random_state)

    def cached() -> StatesResult | None:
        return cached_states(run, k_range=k_range, random_state=random_state)

    if not recompute and (hit := cached()) is not None:
        return hit
    # One computation per run at a time: a second session waits, then reads the cache.
    with file_lock(Path(run.path) / ".states.lock"):
        if not recompute and (hit := cached()) is not None:
            return hit
        return compute_states(
            run,
            k_range=DEFAULT_K_RANGE if k_range is None else k_range,
            random_state=seed,
            progress=progress,
        )


def cached_states(
    run: Run,
    *,
    k_range: Sequence[int] | tuple[int, int] | None = None,
    random_state: int | None = None,
) -> StatesResult | None:
    """The states :func:`get_states` with these arguments would read from the cache, or None
    when it would have to fit them. Never fits: what a page reads while a job computes.

    The one rule of the cache: it must be fitted on the run's distinct dims, and, when a K
    range or a seed is asked for, with those parameters (the default range for a seed alone).
    """
    found = load_states(run)
    if found is None:
        return None
    try:
        if found.dims_used != states_dims(run):
            return None
    except StatesError:  # no distinct dim: get_states will say so
        return None
    if k_range is None and random_state is None:
        return found
    seed = _run_seed(run) if random_state is None else int(random_state)
    wanted = _params(DEFAULT_K_RANGE if k_range is None else k_range, seed)
    return found if found.summary.get("params") == wanted else None


def states_cached(run: Run, *, k_range: Sequence[int] | tuple[int, int] | None = None) -> bool:
    """True when :func:`get_states` with ``k_range`` would read the cache (no computing)."""
    return cached_states(run, k_range=k_range) is not None


def states_frame(run: Run, result: StatesResult, *, space: str = "latent") -> pl.DataFrame:
    """The run's latents with ``state``, ``state_prob`` and ``state_label`` of one space."""
    if space not in SPACES:
        raise StatesError(f"space must be one of {SPACES}, got {space!r}.")
    labels = result.labels.filter(pl.col("space") == space).select(
        "state", pl.col("label").alias("state_label")
    )
    assign = result.assignments.select(
        "segment_id",
        pl.col(f"{space}_state").alias("state"),
        pl.col(f"{space}_prob").alias("state_prob"),
    )
    return (
        run.latents()
        .join(assign, on="segment_id", how="inner", maintain_order="left")
        .join(labels, on="state", how="left", maintain_order="left")
    )
