"""Engine commands: ``train`` (headless, same pipeline as the app), ``export``, ``demo``, ``jobs``.

Also the hidden ``job-worker JOB_ID`` that background jobs run in their own process.
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from core.cli.progress import ProgressBar

if TYPE_CHECKING:
    from core.model.config import PreprocessConfig, VAEConfig
    from core.runs.status import RunStatus
    from core.runs.store import Run

logger = logging.getLogger(__name__)


def _hidden_dims(text: str) -> tuple[int, ...]:
    from core.errors import ConfigError
    from core.model.config import parse_hidden_dims

    try:
        return parse_hidden_dims(text)
    except ConfigError as exc:
        raise argparse.ArgumentTypeError(f"--hidden-dims: {exc}") from None


def register(subparsers: Any) -> None:
    """Add the engine commands to ``python -m core``."""
    from core.model.config import ROTATIONS, PreprocessConfig
    from core.model.presets import DEFAULT_PRESET, PRESET_HELP, PRESETS

    pd = PreprocessConfig()
    p = subparsers.add_parser(
        "train",
        help="train a beta-VAE run headless (same pipeline as the app) and print its folder",
        description="Train a run on a features file, compute every analysis, print the run "
        "folder. An existing run with the same configuration is reused at once.",
    )
    p.add_argument("--features", required=True, type=Path, help="features.parquet to train on")
    p.add_argument(
        "--preset",
        choices=sorted(PRESETS),
        default=DEFAULT_PRESET,
        help="starting configuration; the options below override it (default "
        f"{DEFAULT_PRESET}: {PRESET_HELP[DEFAULT_PRESET]}; notebook: {PRESET_HELP['notebook']})",
    )
    p.add_argument("--beta", type=float, default=None, help="KL weight (preset's by default)")
    p.add_argument("--latent-dim", type=int, default=None)
    p.add_argument("--epochs", type=int, default=None)
    p.add_argument("--lr", type=float, default=None)
    p.add_argument(
        "--batch-size",
        type=int,
        default=None,
        help="segments per step (preset's; smaller on small data so training takes ~1000 steps)",
    )
    p.add_argument("--dropout", type=float, default=None)
    p.add_argument(
        "--hidden-dims",
        type=_hidden_dims,
        default=None,
        help="encoder widths, e.g. 256,128,64",
    )
    p.add_argument("--seed", type=int, default=None)
    p.add_argument(
        "--seeds",
        type=int,
        default=None,
        metavar="N",
        help="seeds trained together; a pattern counts as reproduced when found again in at "
        "least 2 of them (preset's: 3 for recommended; 1 = a single model)",
    )
    p.add_argument("--kl-warmup", type=int, default=None, help="KL warm-up epochs")
    p.add_argument(
        "--rotation",
        choices=ROTATIONS,
        default=None,
        help="reading axes: anchored_varimax (recommended) or none (model dims as learned)",
    )
    p.add_argument(
        "--fast-map",
        action="store_true",
        help="lay out the map's UMAP on every core: faster on large data, but a different "
        "layout on every run (default: one core, reproducible from --seed); recorded in the "
        "run's config as reproducible_map: false",
    )
    p.add_argument(
        "--early-stopping",
        type=int,
        default=None,
        metavar="PATIENCE",
        help="stop after PATIENCE epochs without improvement (default: off)",
    )
    p.add_argument("--max-tier", type=int, default=pd.max_tier)
    p.add_argument("--segment-type", choices=("window", "possession"), default=pd.segment_type)
    p.add_argument(
        "--null-strategy", choices=("impute_median", "drop_rows"), default=pd.null_strategy
    )
    p.add_argument(
        "--pca", type=float, default=None, help="PCA variance threshold (default: no PCA)"
    )
    p.add_argument("--device", default=None, help="torch device (default: best available)")
    p.add_argument(
        "--ddp", type=int, default=1, metavar="N", help="train data-parallel over N processes"
    )
    p.set_defaults(func=_cmd_train)

    e = subparsers.add_parser(
        "export", help="write a run's artifacts in the notebook's layout (model, codes, PNGs)"
    )
    e.add_argument("run", help="run id (12 hex characters)")
    e.add_argument("--out", required=True, type=Path, help="folder to write into")
    e.set_defaults(func=_cmd_export)

    d = subparsers.add_parser("demo", help="extract the demo matches and train the default run")
    d.set_defaults(func=_cmd_demo)

    wu = subparsers.add_parser(
        "warmup", help="compile (or load from cache) the UMAP code, so no job waits for it"
    )
    wu.set_defaults(func=_cmd_warmup)

    j = subparsers.add_parser("jobs", help="list background jobs")
    j.add_argument("--cancel", metavar="JOB_ID", help="cancel this job")
    j.set_defaults(func=_cmd_jobs)

    # Internal: no help text, so it is not listed among the commands.
    w = subparsers.add_parser("job-worker", description="(internal) run one background job")
    w.add_argument("job_id")
    w.set_defaults(func=_cmd_job_worker)


def _cmd_train(args: argparse.Namespace) -> int:
    from core.errors import ConfigError, FeaturesFileError
    from core.model.config import check_world_size
    from core.pipeline.prepare import check_training_input
    from core.runs.config import run_id_for
    from core.runs.store import create_run

    try:
        check_world_size(args.ddp)  # before any run exists: --ddp 1000 starts nothing
        vae, prep = _configs(args)
        run_id = run_id_for(args.features, vae, prep)
    except (ConfigError, FeaturesFileError, FileNotFoundError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    code = _existing_run_exit(run_id)
    if code is not None:
        return code
    try:
        n, d = check_training_input(args.features, vae, prep)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    run, _ = create_run(args.features, vae, prep)
    print(f"Run {run.run_id}: {n:,} segments x {d} inputs -> {run.path}", file=sys.stderr)
    return _train_new_run(run, args)


_VAE_OPTIONS = {
    "latent_dim": "latent_dim",
    "hidden_dims": "hidden_dims",
    "beta": "beta",
    "lr": "learning_rate",
    "batch_size": "batch_size",
    "epochs": "n_epochs",
    "dropout": "dropout",
    "seed": "random_state",
    "kl_warmup": "kl_warmup_epochs",
    "early_stopping": "early_stopping_patience",
    "rotation": "rotation",
    "seeds": "ensemble",
}


def _configs(args: argparse.Namespace) -> tuple[VAEConfig, PreprocessConfig]:
    """The run's configuration from the ``train`` options (raises ``ConfigError``): the
    preset, overridden by every option given; on small data the batch is shrunk (unless
    ``--batch-size`` was given) so that training still takes about a thousand steps."""
    from core.features.datasets import count_segments
    from core.model.config import PreprocessConfig
    from core.model.presets import batch_size_for, preset

    overrides = {
        field: getattr(args, opt)
        for opt, field in _VAE_OPTIONS.items()
        if getattr(args, opt, None) is not None
    }
    if getattr(args, "fast_map", False):
        overrides["reproducible_map"] = False
    vae = preset(args.preset, **overrides)
    prep = PreprocessConfig(
        null_strategy=args.null_strategy,
        pca_variance_threshold=args.pca,
        max_tier=args.max_tier,
        segment_type=args.segment_type,
    )
    if args.batch_size is None and Path(args.features).is_file():
        n_rows = count_segments(Path(args.features), prep.segment_type)
        if n_rows > 0:
            vae = dataclasses.replace(vae, batch_size=batch_size_for(n_rows, vae))
    return vae, prep


def _existing_run_exit(run_id: str) -> int | None:
    """Exit code when run ``run_id`` exists and is done (0) or being computed (followed to
    its end: 0 done, 1 not); None to train it."""
    from core.infra.process import process_alive
    from core.jobs.api import run_status
    from core.runs.store import get_run

    try:
        existing = get_run(run_id)
        st = run_status(existing)
        if st.state == "done":
            print(f"Run {run_id} already exists (done): {existing.path}", file=sys.stderr)
            print(existing.path)
            return 0
        busy = st.state == "running" and process_alive(st.pid, st.pid_start)
        if st.is_active and st.job_id:
            from core.jobs.api import get_job

            busy = busy or get_job(st.job_id).is_active
        if busy:
            return _follow(existing)
    except LookupError:
        pass
    return None


def _train_new_run(run: Run, args: argparse.Namespace) -> int:
    """Execute the created run with a progress bar; print its folder when it ends done."""
    from core.errors import RunBusyError
    from core.pipeline.execute import execute_run

    bar = ProgressBar("train", unit="step")
    try:
        execute_run(run.run_id, device=args.device, progress=bar, world_size=args.ddp)
    except RunBusyError:
        bar.close()  # another process took the run first: follow it instead
        return _follow(run)
    except KeyboardInterrupt:
        print(f"\ninterrupted; run {run.run_id} marked cancelled", file=sys.stderr)
        return 130
    except Exception as exc:  # noqa: BLE001 - the CLI reports any failure as exit 1
        print(f"\nerror: {exc}", file=sys.stderr)
        return 1
    finally:
        bar.close()
    return _report_end(run, run.status())


def _follow(run: Run, poll_s: float = 0.5) -> int:
    """Follow a run another process is computing until it ends: its progress on a bar, then
    its folder (0) or why it did not finish (1). Ctrl-C stops following, not the run."""
    import time

    from core.jobs.api import run_status

    st = run_status(run)
    who = f"job {st.job_id}" if st.job_id else f"process {st.pid}"
    print(
        f"Run {run.run_id} is already training in {who}; following it (Ctrl-C stops "
        "following, not the training).",
        file=sys.stderr,
    )
    bar = ProgressBar("train (following)", unit="%")
    try:
        while not st.is_final:
            bar(round(st.progress * 100), 100, st.message or st.stage)
            time.sleep(poll_s)
            st = run_status(run)
    except KeyboardInterrupt:
        print(f"\nstopped following run {run.run_id}; it keeps training", file=sys.stderr)
        return 130
    finally:
        bar.close()
    return _report_end(run, st)


def _report_end(run: Run, st: RunStatus) -> int:
    """How a run the CLI trained or followed ended: its folder (0), or why not (1)."""
    if st.state != "done":
        print(f"run {run.run_id} ended {st.state}: {st.error or st.message}", file=sys.stderr)
        return 1
    print(st.message, file=sys.stderr)
    print(run.path)
    return 0


def _cmd_export(args: argparse.Namespace) -> int:
    from core.errors import ArtifactMissingError
    from core.services.export import export_run

    try:
        written = export_run(args.run, args.out)
    except (LookupError, ArtifactMissingError, ValueError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    for path in written:
        print(path)
    return 0


def _cmd_demo(args: argparse.Namespace) -> int:
    from core.demo import ensure_demo

    bar = ProgressBar("demo")
    try:
        run = ensure_demo(progress=bar, wait=True)
    except Exception as exc:  # noqa: BLE001 - the CLI reports any failure as exit 1
        print(f"\nerror: {exc}", file=sys.stderr)
        return 1
    finally:
        bar.close()
    print(run.path)
    return 0


def _cmd_warmup(args: argparse.Namespace) -> int:
    import time

    from core.analysis.latents import warm_projection
    from core.infra.numba_cache import setup_numba_cache

    folder = setup_numba_cache()
    started = time.perf_counter()
    seconds = warm_projection()
    paths = ", ".join(f"{name} {s:.1f} s" for name, s in seconds.items())
    print(f"UMAP warm in {time.perf_counter() - started:.1f} s ({paths}); numba cache: {folder}")
    return 0


def _cmd_jobs(args: argparse.Namespace) -> int:
    from core.jobs.api import cancel_job, list_jobs

    if args.cancel:
        try:
            job = cancel_job(args.cancel)
        except LookupError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        print(f"{job.job_id} {job.state}")
        return 0
    jobs = list_jobs()
    if not jobs:
        print("no jobs")
        return 0
    print(f"{'job':24} {'kind':8} {'state':10} {'progress':>8}  {'run':12}  message")
    for job in jobs:
        print(
            f"{job.job_id:24} {job.kind:8} {job.state:10} {job.progress:8.0%}  "
            f"{job.run_id or '-':12}  {(job.error or job.message).splitlines()[0] if (job.error or job.message) else ''}"
        )
    return 0


def _cmd_job_worker(args: argparse.Namespace) -> int:
    from core.jobs.api import run_worker

    return run_worker(args.job_id)
