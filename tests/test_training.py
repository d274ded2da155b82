"""train_vae and friends: determinism, metrics, scheduler, warm-up, early stop, cancel, NaN, bad input.

Also the configs (round trips, validation) and device detection / assignment.
"""

from __future__ import annotations

import dataclasses
import itertools
import json
from pathlib import Path

import numpy as np
import numpy.typing as npt
import polars as pl
import pytest
import torch

from core.errors import ConfigError, TrainingError
from core.model.checks import check_trainable
from core.model.config import PreprocessConfig, VAEConfig
from core.model.devices import (
    DeviceInfo,
    assign_device,
    best_device,
    describe_devices,
    detect_devices,
)
from core.model.encoding import encode_means
from core.model.flat_params import FlatParameters
from core.model.metrics import (
    EpochMetrics,
    FunctionCallback,
    JsonlMetricsWriter,
    read_metrics_jsonl,
)
from core.model.precision import BF16_LOSS_RTOL, PRECISION_ENV, cpu_has_bf16, resolve_precision
from core.model.preprocessing import PreprocessingPipeline
from core.model.training import NonFiniteLossError, train_vae
from core.model.vae import TacticalVAEModule, vae_loss

SMALL = {"latent_dim": 3, "hidden_dims": (32, 16), "batch_size": 32, "n_epochs": 6, "dropout": 0.1}


@pytest.fixture(scope="module")
def X_demo(demo_dataset: Path) -> npt.NDArray[np.float32]:
    """The real demo segments, preprocessed as the notebook does (window, tiers 1-2)."""
    df = pl.read_parquet(demo_dataset / "features.parquet").filter(
        pl.col("segment_type") == "window"
    )
    df = df.drop([c for c in df.columns if c.startswith("t3_")])
    return PreprocessingPipeline().fit_transform(df)


def cfg(**over: object) -> VAEConfig:
    return VAEConfig(**{**SMALL, **over})  # type: ignore[arg-type]


class Recorder:
    """A callback that keeps what it is told."""

    def __init__(self) -> None:
        self.epochs: list[EpochMetrics] = []
        self.started: tuple[int, int] | None = None

    def on_train_start(self, module: TacticalVAEModule, n_rows: int, n_features: int) -> None:
        self.started = (n_rows, n_features)

    def on_epoch_end(self, metrics: EpochMetrics) -> None:
        self.epochs.append(metrics)


class TestTraining:
    def test_learns_on_real_segments_and_reports_every_epoch(
        self, X_demo: npt.NDArray[np.float32], tmp_path: Path
    ) -> None:
        rec = Recorder()
        writer = JsonlMetricsWriter(tmp_path / "metrics.jsonl")
        c = cfg(n_epochs=15, beta=1.0, learning_rate=5e-3)
        result = train_vae(X_demo, c, device="cpu", callbacks=[rec, writer])
        h = result.history
        assert [m.epoch for m in h] == list(range(1, 16))
        assert rec.epochs == h and rec.started == X_demo.shape
        assert read_metrics_jsonl(tmp_path / "metrics.jsonl") == h
        # 224 real windows x 51 features: the loss falls from ~52 to ~40 in 15 epochs
        assert h[-1].total < 0.85 * h[0].total, "the loss should fall on real data"
        for m in h:
            assert len(m.kl_per_dim) == 3
            assert sum(m.kl_per_dim) == pytest.approx(m.kl, rel=1e-9)
            assert m.total == pytest.approx(m.recon + 1.0 * m.kl, rel=1e-9)
            assert m.seconds > 0 and m.lr == pytest.approx(5e-3)
            assert json.loads(json.dumps(m.to_dict())) == m.to_dict()
        assert not result.stopped_early and not result.cancelled
        assert result.module.training is False
        assert next(result.module.parameters()).device.type == "cpu"
        assert result.final_loss == h[-1].total

    def test_deterministic_on_cpu_for_a_seed(self, X_demo: npt.NDArray[np.float32]) -> None:
        a = train_vae(X_demo, cfg(), device="cpu")
        b = train_vae(X_demo, cfg(), device="cpu")
        assert [m.total for m in a.history] == [m.total for m in b.history]
        for (k, va), vb in zip(
            a.module.state_dict().items(), b.module.state_dict().values(), strict=True
        ):
            assert torch.equal(va, vb), k
        other = train_vae(X_demo, cfg(random_state=43), device="cpu")
        assert [m.total for m in other.history] != [m.total for m in a.history]

    def test_callers_rng_is_left_alone(self, X_demo: npt.NDArray[np.float32]) -> None:
        torch.manual_seed(123)
        expected = torch.rand(3)
        torch.manual_seed(123)
        train_vae(X_demo, cfg(n_epochs=1), device="cpu")
        torch.testing.assert_close(torch.rand(3), expected)

    def test_reduce_lr_on_plateau_follows_the_epoch_loss(self) -> None:
        # Pure noise cannot be learned, so plateaus happen; patience 0 halves lr after each.
        X = np.random.default_rng(3).normal(size=(256, 8)).astype(np.float32)
        h = train_vae(X, cfg(n_epochs=25, learning_rate=1e-2, lr_patience=0), device="cpu").history
        lrs = [m.lr for m in h]
        assert min(lrs) < 1e-2, "a plateau should have halved the learning rate"
        best = float("inf")  # ReduceLROnPlateau's rule: a 1e-4 relative gain resets patience
        for prev, nxt in itertools.pairwise(h):
            improved = prev.total < best * (1 - 1e-4)
            if improved:
                best = prev.total
            assert nxt.lr == pytest.approx(prev.lr if improved else prev.lr * 0.5), prev.epoch

    def test_kl_warmup_ramps_beta(self, X_demo: npt.NDArray[np.float32]) -> None:
        h = train_vae(X_demo, cfg(beta=4.0, kl_warmup_epochs=4), device="cpu").history
        assert [m.beta for m in h] == [1.0, 2.0, 3.0, 4.0, 4.0, 4.0]
        for m in h:
            assert m.total == pytest.approx(m.recon + m.beta * m.kl, rel=1e-9)

    def test_early_stopping(self, X_demo: npt.NDArray[np.float32]) -> None:
        # min_delta so large that no epoch counts as an improvement after the first
        res = train_vae(
            X_demo, cfg(n_epochs=20, early_stopping_patience=2, early_stopping_min_delta=1e9)
        )
        assert res.stopped_early and len(res.history) == 3 and res.best_epoch == 1

    def test_should_stop_cancels_keeping_finished_epochs(
        self, X_demo: npt.NDArray[np.float32]
    ) -> None:
        rec = Recorder()
        res = train_vae(
            X_demo, cfg(n_epochs=50), callbacks=[rec], should_stop=lambda: len(rec.epochs) >= 2
        )
        assert res.cancelled and not res.stopped_early
        assert [m.epoch for m in res.history] == [1, 2]
        assert isinstance(res.module, TacticalVAEModule)

    def test_nan_loss_names_the_epoch_and_keeps_metrics(
        self, X_demo: npt.NDArray[np.float32]
    ) -> None:
        class Poison(Recorder):
            """Corrupts one weight after epoch 2, as a diverging optimiser would."""

            def on_train_start(
                self, module: TacticalVAEModule, n_rows: int, n_features: int
            ) -> None:
                self.module = module

            def on_epoch_end(self, metrics: EpochMetrics) -> None:
                super().on_epoch_end(metrics)
                if metrics.epoch == 2:
                    with torch.no_grad():
                        self.module.fc_mu.weight[0, 0] = float("nan")

        poison = Poison()
        with pytest.raises(NonFiniteLossError, match="epoch 3") as info:
            train_vae(X_demo, cfg(), callbacks=[poison])
        assert info.value.epoch == 3
        assert [m.epoch for m in info.value.history] == [1, 2] == [m.epoch for m in poison.epochs]
        assert all(np.isfinite(m.total) for m in info.value.history)

    def test_overflowing_features_fail_in_epoch_one(self) -> None:
        X = np.full((64, 4), 1e19, dtype=np.float32)
        X[::2] *= -1
        with pytest.raises(NonFiniteLossError, match="epoch 1") as info:
            train_vae(X, cfg(latent_dim=2))
        assert info.value.history == []

    def test_encode_means_matches_the_encoder_in_batches(
        self, X_demo: npt.NDArray[np.float32]
    ) -> None:
        res = train_vae(X_demo, cfg(n_epochs=2))
        module = res.module.train()  # encode_means must switch to eval and restore
        Z = encode_means(module, X_demo, batch_size=7)
        assert module.training
        module.eval()
        with torch.no_grad():
            mu, _ = module.encode(torch.from_numpy(X_demo))
        assert Z.dtype == np.float32 and Z.shape == (X_demo.shape[0], 3)
        np.testing.assert_allclose(Z, mu.numpy(), rtol=1e-5, atol=1e-6)
        with pytest.raises(TrainingError, match="expects"):
            encode_means(module, X_demo[:, :-1])


class TestBadInput:
    def test_too_few_rows(self) -> None:
        with pytest.raises(TrainingError, match="at least 2 segments"):
            train_vae(np.zeros((1, 5), dtype=np.float32), cfg(batch_size=1))

    def test_fewer_rows_than_a_batch(self) -> None:
        X = np.random.default_rng(0).normal(size=(20, 5))
        with pytest.raises(TrainingError, match=r"batch_size=32.*at most 20"):
            train_vae(X, cfg())

    def test_latent_dim_larger_than_features(self) -> None:
        X = np.random.default_rng(0).normal(size=(40, 2))
        with pytest.raises(TrainingError, match=r"latent_dim=3 .* 2 input features"):
            train_vae(X, cfg())

    def test_non_finite_input(self) -> None:
        X = np.random.default_rng(0).normal(size=(40, 5))
        X[3, 4] = np.nan
        with pytest.raises(TrainingError, match=r"column\(s\) \[4\]"):
            train_vae(X, cfg())

    def test_wrong_shape_and_device(self) -> None:
        with pytest.raises(TrainingError, match="2-D"):
            train_vae(np.zeros(10), cfg())
        if not torch.cuda.is_available():
            with pytest.raises(TrainingError, match="CUDA is not available"):
                train_vae(np.random.default_rng(0).normal(size=(40, 5)), cfg(), device="cuda:0")

    def test_check_trainable_is_cheap_and_early(self) -> None:
        check_trainable(100, 10, cfg())
        with pytest.raises(TrainingError, match="batch"):
            check_trainable(10, 10, VAEConfig())


class TestConfig:
    def test_notebook_defaults_and_round_trip(self) -> None:
        c = VAEConfig()
        assert (c.latent_dim, c.hidden_dims, c.beta, c.learning_rate) == (
            8,
            (256, 128, 64),
            4.0,
            1e-3,
        )
        assert (c.batch_size, c.n_epochs, c.dropout, c.random_state) == (512, 150, 0.2, 42)
        assert (c.lr_patience, c.lr_factor, c.kl_warmup_epochs) == (10, 0.5, 0)
        data = json.loads(json.dumps(c.to_dict()))
        assert VAEConfig.from_dict(data) == c
        assert hash(VAEConfig.from_dict({"hidden_dims": [256, 128, 64]})) == hash(c)
        p = PreprocessConfig()
        assert PreprocessConfig.from_dict(json.loads(json.dumps(p.to_dict()))) == p
        assert p.to_dict() == {
            "null_strategy": "impute_median",
            "pca_variance_threshold": None,
            "max_tier": 2,
            "segment_type": "window",
            "null_column_threshold": 0.5,
        }

    @pytest.mark.parametrize(
        ("field", "value"),
        [
            ("latent_dim", 0),
            ("beta", -1.0),
            ("learning_rate", 0.0),
            ("batch_size", 0),
            ("n_epochs", 0),
            ("dropout", 1.0),
            ("hidden_dims", ()),
            ("lr_factor", 1.0),
            ("early_stopping_patience", 0),
        ],
    )
    def test_invalid_values_name_the_field(self, field: str, value: object) -> None:
        with pytest.raises(ConfigError, match=field):
            VAEConfig(**{field: value})  # type: ignore[arg-type]

    def test_unknown_keys_and_frozen(self) -> None:
        with pytest.raises(ConfigError, match="latentdim"):
            VAEConfig.from_dict({"latentdim": 4})
        with pytest.raises(ConfigError, match="segment_type"):
            PreprocessConfig(segment_type="half")
        c = VAEConfig()
        with pytest.raises(AttributeError):
            c.beta = 1.0  # type: ignore[misc]
        assert dataclasses.replace(c, beta=1.0).beta == 1.0
        with pytest.raises(ConfigError, match="beta"):
            dataclasses.replace(c, beta=-2.0)


class TestDevices:
    def test_detects_cpu_and_any_gpus(self) -> None:
        devs = detect_devices()
        assert devs[-1].kind == "cpu" and devs[-1].total_memory_gb is None
        gpus = [d for d in devs if d.kind == "cuda"]
        assert len(gpus) == torch.cuda.device_count()
        assert str(best_device()) == ("cuda:0" if gpus else "cpu")
        text = describe_devices(devs)
        assert "cpu" in text and f"{len(gpus)} GPU(s)" in text

    def test_assign_device_spreads_jobs_over_free_gpus(self) -> None:
        gpus = [
            DeviceInfo(0, "cuda", "GPU A", 16.0),
            DeviceInfo(1, "cuda", "GPU B", 16.0),
            DeviceInfo(0, "cpu", "CPU", None),
        ]
        assert assign_device(set(), gpus) == "cuda:0"
        assert assign_device({"cuda:0"}, gpus) == "cuda:1"
        assert assign_device({"cuda:0", "cuda:1"}, gpus) is None  # wait for a free GPU
        assert assign_device({"cuda"}, gpus) == "cuda:1"  # bare "cuda" means cuda:0
        cpu_only = [DeviceInfo(0, "cpu", "CPU", None)]
        assert assign_device(set(), cpu_only) == "cpu"
        assert assign_device({"cpu"}, cpu_only) is None
        assert gpus[1].to_dict()["device"] == "cuda:1"


def test_function_callback_adapts_a_plain_function(X_demo: npt.NDArray[np.float32]) -> None:
    seen: list[int] = []
    train_vae(X_demo, cfg(n_epochs=2), callbacks=[FunctionCallback(lambda m: seen.append(m.epoch))])
    assert seen == [1, 2]


def test_flat_parameters_step_equals_per_tensor_adam() -> None:
    """One Adam over the flat vector is Adam over every tensor, and release() un-shares them."""
    torch.manual_seed(0)
    a = TacticalVAEModule(10, 3, (16, 8), dropout=0.0)
    b = TacticalVAEModule(10, 3, (16, 8), dropout=0.0)
    b.load_state_dict(a.state_dict())
    x = torch.randn(32, 10)
    eps = torch.randn(32, 3)
    opt_a = torch.optim.Adam(a.parameters(), lr=1e-2)
    flat = FlatParameters(b)
    opt_b = torch.optim.Adam([flat.flat], lr=1e-2, fused=True)
    for _ in range(3):
        for model, opt, zero in ((a, opt_a, opt_a.zero_grad), (b, opt_b, flat.zero_grad)):
            zero()
            recon, mu, logvar = model(x, eps)
            vae_loss(recon, x, mu, logvar, 2.0)[0].backward()
            opt.step()
    flat.release()
    for (k, va), vb in zip(a.state_dict().items(), b.state_dict().values(), strict=True):
        torch.testing.assert_close(vb, va, rtol=1e-5, atol=1e-7, msg=k)
        assert vb.untyped_storage().nbytes() == vb.numel() * 4, f"{k} still shares storage"


class TestBfloat16:
    def test_loss_curve_within_tolerance_of_float32(self, X_demo: npt.NDArray[np.float32]) -> None:
        c = cfg(n_epochs=30, hidden_dims=(256, 128, 64), latent_dim=8, dropout=0.0, batch_size=32)
        f32 = train_vae(X_demo, c, device="cpu")
        bf16 = train_vae(X_demo, c, device="cpu", precision="bfloat16")
        assert (f32.precision, bf16.precision) == ("float32", "bfloat16")
        a = np.array([m.total for m in f32.history])
        b = np.array([m.total for m in bf16.history])
        assert not np.array_equal(a, b)  # autocast really ran in bfloat16
        np.testing.assert_allclose(b, a, rtol=BF16_LOSS_RTOL)
        # Deterministic too: the same seed gives the same bfloat16 curve.
        again = train_vae(X_demo, c, device="cpu", precision="bfloat16")
        assert [m.total for m in again.history] == list(b)

    def test_auto_uses_bf16_only_on_a_native_cpu_in_one_process(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        cpu = torch.device("cpu")
        monkeypatch.delenv(PRECISION_ENV, raising=False)
        assert resolve_precision("auto", cpu) == ("bfloat16" if cpu_has_bf16() else "float32")
        assert resolve_precision("auto", cpu, world_size=2) == "float32"
        assert resolve_precision("float32", cpu) == "float32"
        assert resolve_precision("bfloat16", cpu) == "bfloat16"
        monkeypatch.setenv(PRECISION_ENV, "float32")
        assert resolve_precision("auto", cpu) == "float32"
        with pytest.raises(TrainingError, match="precision must be"):
            resolve_precision("half", cpu)
