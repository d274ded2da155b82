# The notebook's own code keeps unused imports, a set and a loop variable: left verbatim.
# ruff: noqa: F401, F841, B007
# mypy: disable-error-code="unused-ignore"
"""The seed notebook (``../shared/seed/vae_discovery_notebook.txt``) runs against ``core``.

Sections 2-9 are copied cell by cell with only these changes: ``tactical`` -> ``core`` in
the imports, ``FEATURES_PATH`` -> the demo features, ``OUTPUT_DIR`` -> a temp folder,
``n_epochs`` 150 -> 3, the ``sys.path`` lines dropped, ``plt.show`` a no-op (Agg backend).
Section 1's first two lines define ``n_gpus`` and ``device``; its print loop (which reads
``total_mem``, a name torch does not have) is not run. Then the artifacts are checked.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")

import numpy as np
import polars as pl
import pytest
import torch
from scipy.stats import pearsonr as scipy_pearsonr

from core.models.preprocessing import PreprocessingPipeline as CorePipeline

pytestmark = pytest.mark.slow


def run_notebook(FEATURES_PATH: Path, OUTPUT_DIR: Path) -> dict[str, Any]:
    """The notebook's cells, verbatim apart from the changes listed in the module docstring."""
    # fmt: off
    # -- header cell -------------------------------------------------------------------------
    import re
    import sys
    import warnings
    from pathlib import Path

    import matplotlib.pyplot as plt
    import numpy as np
    import polars as pl
    import seaborn as sns
    import torch
    import torch.nn as nn
    from scipy.stats import pearsonr
    from torch.utils.data import DataLoader, TensorDataset
    from tqdm.auto import tqdm
    from umap import UMAP

    from core.config import VAEConfig
    from core.models.preprocessing import PreprocessingPipeline
    from core.models.vae import TacticalVAEModule, vae_loss

    sns.set_theme(style="whitegrid", font_scale=0.9)
    plt.rcParams["figure.dpi"] = 120
    warnings.filterwarnings("ignore", category=FutureWarning)

    OUTPUT_DIR.mkdir(parents=True, exist_ok=True)

    METADATA_COLS: set[str] = {
        "match_id",
        "team_id",
        "segment_type",
        "start_time",
        "end_time",
        "period",
        "match_minute",
    }

    TIER_PATTERN = re.compile(r"^t(\d+)_")
    MAX_FEATURE_TIER = 2

    # -- 1. (first two lines only) ------------------------------------------------------------
    n_gpus = torch.cuda.device_count()
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")

    # -- 2. Data loading & preprocessing --------------------------------------------------------
    if FEATURES_PATH.exists():
        df_raw = pl.read_parquet(FEATURES_PATH)
        print(f"Loaded {FEATURES_PATH}")
    else:
        print(
            f"{FEATURES_PATH} not found.\n"
            "Run `python scripts/run_feature_extraction.py` first."
        )
        raise SystemExit(1)

    # Keep window segments only (consistent segment length)
    df_win = df_raw.filter(pl.col("segment_type") == "window")

    # Drop Tier 3+ feature columns (sparse 360 data)
    tier3_cols = [
        c for c in df_win.columns
        if (m := TIER_PATTERN.match(c)) and int(m.group(1)) > MAX_FEATURE_TIER
    ]
    df_win = df_win.drop(tier3_cols)

    print(f"Window rows: {df_win.height:,}")
    print(f"Dropped {len(tier3_cols)} Tier 3+ columns")

    # Preprocess: z-score scaling, median imputation, NO PCA
    pipeline = PreprocessingPipeline(
        feature_prefix="t",
        null_strategy="impute_median",
        pca_variance_threshold=None,
    )
    X = pipeline.fit_transform(df_win)
    feature_names: list[str] = pipeline._feature_columns
    retained_mask = pipeline.get_retained_row_mask(df_win)
    df_retained = df_win.filter(pl.Series(retained_mask))

    print(f"Samples : {X.shape[0]:,}")
    print(f"Features: {X.shape[1]} ({len(feature_names)} named columns)")

    # -- 3. VAE training ------------------------------------------------------------------------
    cfg = VAEConfig(
        latent_dim=8,
        hidden_dims=(256, 128, 64),
        beta=4.0,
        learning_rate=1e-3,
        batch_size=512,
        n_epochs=3,
        dropout=0.2,
        random_state=42,
    )
    print(cfg)

    torch.manual_seed(cfg.random_state)
    np.random.seed(cfg.random_state)  # noqa: NPY002

    input_dim = X.shape[1]
    module = TacticalVAEModule(
        input_dim=input_dim,
        latent_dim=cfg.latent_dim,
        hidden_dims=cfg.hidden_dims,
        dropout=cfg.dropout,
    ).to(device)

    # Wrap with DataParallel when multiple GPUs are available
    if n_gpus > 1:
        module_dp: nn.Module = nn.DataParallel(module)
        print(f"DataParallel enabled across {n_gpus} GPUs")
    else:
        module_dp = module
        print("Single-device training")

    tensor_X = torch.as_tensor(X, dtype=torch.float32, device=device)
    dataset = TensorDataset(tensor_X)
    loader = DataLoader(
        dataset,
        batch_size=cfg.batch_size,
        shuffle=True,
        drop_last=False,
    )

    optimiser = torch.optim.Adam(module.parameters(), lr=cfg.learning_rate)
    scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(
        optimiser, mode="min", factor=0.5, patience=10,
    )

    epoch_losses: list[float] = []
    epoch_recon_losses: list[float] = []
    epoch_kl_losses: list[float] = []

    module_dp.train()

    for epoch in tqdm(range(cfg.n_epochs), desc="VAE training"):
        total_loss = 0.0
        total_recon = 0.0
        total_kl = 0.0
        n_batches = 0

        for (batch,) in loader:
            recon, mu, logvar = module_dp(batch)
            loss, recon_l, kl_l = vae_loss(recon, batch, mu, logvar, beta=cfg.beta)

            optimiser.zero_grad()
            loss.backward()  # type: ignore[no-untyped-call]
            optimiser.step()

            total_loss += loss.item()
            total_recon += recon_l.item()
            total_kl += kl_l.item()
            n_batches += 1

        mean_loss = total_loss / max(n_batches, 1)
        mean_recon = total_recon / max(n_batches, 1)
        mean_kl = total_kl / max(n_batches, 1)
        epoch_losses.append(mean_loss)
        epoch_recon_losses.append(mean_recon)
        epoch_kl_losses.append(mean_kl)
        scheduler.step(mean_loss)

    module_dp.eval()
    print(f"Final loss: {epoch_losses[-1]:.6f}  (recon={epoch_recon_losses[-1]:.6f}, kl={epoch_kl_losses[-1]:.6f})")

    # -- 4. Training diagnostics ----------------------------------------------------------------
    fig, axes = plt.subplots(1, 3, figsize=(15, 4))
    epochs_arr = np.arange(1, len(epoch_losses) + 1)

    axes[0].plot(epochs_arr, epoch_losses, linewidth=1.2)
    axes[0].set_title("Total Loss")
    axes[0].set_xlabel("Epoch")
    axes[0].set_ylabel("Loss")

    axes[1].plot(epochs_arr, epoch_recon_losses, linewidth=1.2, color="#dd8452")
    axes[1].set_title("Reconstruction Loss (MSE)")
    axes[1].set_xlabel("Epoch")
    axes[1].set_ylabel("Loss")

    axes[2].plot(epochs_arr, epoch_kl_losses, linewidth=1.2, color="#55a868")
    axes[2].set_title("KL Divergence")
    axes[2].set_xlabel("Epoch")
    axes[2].set_ylabel("Loss")

    fig.suptitle("VAE Training Curves", fontsize=13, y=1.02)
    fig.tight_layout()
    fig.savefig(OUTPUT_DIR / "vae_training_curves.png", dpi=150, bbox_inches="tight")
    plt.show()

    # -- 5. Latent code extraction --------------------------------------------------------------
    ENCODE_BATCH = 2048

    encode_loader = DataLoader(
        TensorDataset(tensor_X),
        batch_size=ENCODE_BATCH,
        shuffle=False,
    )

    latent_parts: list[np.ndarray] = []
    module.eval()  # use unwrapped module for encoding (single-device, deterministic)
    with torch.no_grad():
        for (batch,) in tqdm(encode_loader, desc="Encoding latent codes"):
            mu, _ = module.encode(batch)
            latent_parts.append(mu.cpu().numpy())

    Z = np.concatenate(latent_parts, axis=0)
    print(f"Latent codes: {Z.shape}  (samples x latent_dim)")

    # -- 6. Latent-feature Pearson correlation --------------------------------------------------
    n_latent = Z.shape[1]
    n_features = len(feature_names)

    corr_matrix = np.empty((n_latent, n_features), dtype=np.float64)
    pval_matrix = np.empty((n_latent, n_features), dtype=np.float64)

    for zi in tqdm(range(n_latent), desc="Computing correlations"):
        z_col = Z[:, zi]
        for fi in range(n_features):
            r, p = pearsonr(z_col, X[:, fi])
            corr_matrix[zi, fi] = r
            pval_matrix[zi, fi] = p

    print(f"Correlation matrix: {corr_matrix.shape}")

    # Heatmap of full correlation matrix
    fig, ax = plt.subplots(figsize=(max(14, n_features * 0.35), max(4, n_latent * 0.6)))
    im = ax.imshow(corr_matrix, cmap="RdBu_r", vmin=-1, vmax=1, aspect="auto")

    ax.set_yticks(range(n_latent))
    ax.set_yticklabels([f"z{i}" for i in range(n_latent)])
    ax.set_xticks(range(n_features))
    ax.set_xticklabels(feature_names, rotation=90, fontsize=6)
    ax.set_title("Pearson Correlation: Latent Dimensions vs Features")
    fig.colorbar(im, ax=ax, label="Pearson r", shrink=0.8)
    fig.tight_layout()
    fig.savefig(OUTPUT_DIR / "vae_correlation_heatmap.png", dpi=150, bbox_inches="tight")
    plt.show()

    # -- 7. Interpretation table -----------------------------------------------------------------
    TOP_K = 5

    table_rows: list[dict[str, object]] = []
    for zi in range(n_latent):
        abs_corr = np.abs(corr_matrix[zi])
        top_idx = np.argsort(abs_corr)[::-1][:TOP_K]
        for rank, fi in enumerate(top_idx, start=1):
            table_rows.append({
                "latent_dim": f"z{zi}",
                "rank": rank,
                "feature": feature_names[fi],
                "pearson_r": round(float(corr_matrix[zi, fi]), 4),
                "abs_r": round(float(abs_corr[fi]), 4),
                "p_value": float(pval_matrix[zi, fi]),
            })

    df_interp = pl.DataFrame(table_rows)
    print(df_interp)

    # Compact pivot view: one row per latent dim, columns = rank
    pivot_rows: list[dict[str, object]] = []
    for zi in range(n_latent):
        dim_df = df_interp.filter(pl.col("latent_dim") == f"z{zi}").sort("rank")
        row: dict[str, object] = {"dim": f"z{zi}"}
        for rank_i in range(TOP_K):
            feat = dim_df["feature"][rank_i]
            r_val = dim_df["pearson_r"][rank_i]
            row[f"#{rank_i + 1}"] = f"{feat} ({r_val:+.3f})"
        pivot_rows.append(row)

    df_pivot = pl.DataFrame(pivot_rows)
    print(df_pivot)

    # Save artifacts
    df_interp.write_parquet(OUTPUT_DIR / "latent_interpretation.parquet")
    df_pivot.write_csv(OUTPUT_DIR / "latent_interpretation_pivot.csv")
    print(f"Saved interpretation tables to {OUTPUT_DIR}")

    # Bar chart: top-5 absolute correlations per latent dim
    fig, axes = plt.subplots(
        2, (n_latent + 1) // 2,
        figsize=(4 * ((n_latent + 1) // 2), 7),
        sharey=False,
    )
    axes_flat = axes.flatten()

    for zi in range(n_latent):
        ax = axes_flat[zi]
        dim_df = df_interp.filter(pl.col("latent_dim") == f"z{zi}").sort("rank")
        features_top = dim_df["feature"].to_list()
        r_vals = dim_df["pearson_r"].to_list()
        colors = ["#c44e52" if r < 0 else "#4c72b0" for r in r_vals]
        ax.barh(range(TOP_K - 1, -1, -1), r_vals, color=colors)
        ax.set_yticks(range(TOP_K - 1, -1, -1))
        ax.set_yticklabels(features_top, fontsize=7)
        ax.set_xlim(-1, 1)
        ax.axvline(0, color="black", linewidth=0.5)
        ax.set_title(f"z{zi}", fontsize=10)
        ax.set_xlabel("Pearson r", fontsize=8)

    # Hide unused axes
    for i in range(n_latent, len(axes_flat)):
        axes_flat[i].set_visible(False)

    fig.suptitle("Top-5 Feature Correlates per Latent Dimension", fontsize=13, y=1.01)
    fig.tight_layout()
    fig.savefig(OUTPUT_DIR / "vae_top5_correlations.png", dpi=150, bbox_inches="tight")
    plt.show()

    # -- 8. Latent space UMAP --------------------------------------------------------------------
    umap_model = UMAP(n_components=2, random_state=cfg.random_state, n_jobs=-1)
    Z_2d = umap_model.fit_transform(Z)
    print(f"UMAP embedding: {Z_2d.shape}")

    # Colour by the latent dimension with highest absolute activation
    dominant_dim = np.argmax(np.abs(Z), axis=1)

    fig, ax = plt.subplots(figsize=(9, 7))
    scatter = ax.scatter(
        Z_2d[:, 0], Z_2d[:, 1],
        c=dominant_dim,
        cmap="tab10",
        s=4,
        alpha=0.5,
        rasterized=True,
    )
    cbar = fig.colorbar(scatter, ax=ax, label="Dominant Latent Dim")
    cbar.set_ticks(range(n_latent))
    cbar.set_ticklabels([f"z{i}" for i in range(n_latent)])
    ax.set_title("UMAP of VAE Latent Space (coloured by dominant dimension)")
    ax.set_xlabel("UMAP-1")
    ax.set_ylabel("UMAP-2")
    fig.tight_layout()
    fig.savefig(OUTPUT_DIR / "vae_umap_latent.png", dpi=150, bbox_inches="tight")
    plt.show()

    # Per-dimension activation maps
    fig, axes = plt.subplots(
        2, (n_latent + 1) // 2,
        figsize=(4 * ((n_latent + 1) // 2), 7),
    )
    axes_flat = axes.flatten()

    for zi in range(n_latent):
        ax = axes_flat[zi]
        sc = ax.scatter(
            Z_2d[:, 0], Z_2d[:, 1],
            c=Z[:, zi],
            cmap="coolwarm",
            s=2,
            alpha=0.4,
            rasterized=True,
        )
        ax.set_title(f"z{zi}", fontsize=10)
        ax.set_xticks([])
        ax.set_yticks([])
        fig.colorbar(sc, ax=ax, shrink=0.7)

    for i in range(n_latent, len(axes_flat)):
        axes_flat[i].set_visible(False)

    fig.suptitle("UMAP coloured by individual latent activations", fontsize=13, y=1.01)
    fig.tight_layout()
    fig.savefig(OUTPUT_DIR / "vae_umap_per_dim.png", dpi=150, bbox_inches="tight")
    plt.show()

    # -- 9. Save model artifacts -----------------------------------------------------------------
    # Save trained VAE state dict + config for downstream use
    model_path = OUTPUT_DIR / "vae_model.pt"
    torch.save(
        {
            "state_dict": module.state_dict(),
            "input_dim": input_dim,
            "config_latent_dim": cfg.latent_dim,
            "config_hidden_dims": cfg.hidden_dims,
            "config_beta": cfg.beta,
            "config_learning_rate": cfg.learning_rate,
            "config_batch_size": cfg.batch_size,
            "config_n_epochs": cfg.n_epochs,
            "config_dropout": cfg.dropout,
            "config_random_state": cfg.random_state,
            "training_losses": epoch_losses,
        },
        model_path,
    )

    # Save latent codes for hybrid GMM/HMM experiments
    np.save(OUTPUT_DIR / "latent_codes.npy", Z)

    # Save preprocessing pipeline
    pipeline.save(OUTPUT_DIR / "preprocessing_pipeline.pkl")

    # Save correlation matrix
    np.savez(
        OUTPUT_DIR / "correlation_matrix.npz",
        corr=corr_matrix,
        pval=pval_matrix,
        feature_names=np.array(feature_names),
    )

    print(f"All artifacts saved to {OUTPUT_DIR}")
    # fmt: on
    return {
        "X": X,
        "Z": Z,
        "df_win": df_win,
        "df_retained": df_retained,
        "feature_names": feature_names,
        "epoch_losses": epoch_losses,
        "module": module,
    }


def test_notebook_sections_2_to_9_run_on_the_demo_features(
    demo_dataset: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import matplotlib.pyplot as plt

    monkeypatch.setattr(plt, "show", lambda *a, **k: None)
    out = tmp_path / "vae_discovery"
    ns = run_notebook(demo_dataset / "features.parquet", out)

    X, Z, names = ns["X"], ns["Z"], ns["feature_names"]
    n = ns["df_win"].height
    assert n > 100 and X.shape == (n, len(names)) and Z.shape == (n, 8)
    assert ns["df_retained"].height == n
    assert all(name.startswith(("t1_", "t2_")) for name in names)
    assert "team_id" not in names
    assert len(ns["epoch_losses"]) == 3 and all(np.isfinite(ns["epoch_losses"]))
    plt.close("all")

    expected = {
        "vae_training_curves.png",
        "vae_correlation_heatmap.png",
        "vae_top5_correlations.png",
        "vae_umap_latent.png",
        "vae_umap_per_dim.png",
        "vae_model.pt",
        "latent_codes.npy",
        "preprocessing_pipeline.pkl",
        "correlation_matrix.npz",
        "latent_interpretation.parquet",
        "latent_interpretation_pivot.csv",
    }
    assert {p.name for p in out.iterdir()} == expected
    for png in out.glob("*.png"):
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 10_000

    # The checkpoint loads safely and holds the trained weights.
    ckpt = torch.load(out / "vae_model.pt", weights_only=True)
    assert ckpt["input_dim"] == len(names) and ckpt["config_n_epochs"] == 3
    for k, v in ns["module"].state_dict().items():
        assert torch.equal(ckpt["state_dict"][k].cpu(), v.cpu()), k

    # The notebook's ".pkl" holds JSON, never a pickle, and reloads to the same transform.
    data = json.loads((out / "preprocessing_pipeline.pkl").read_text())
    assert data["feature_columns"] == names
    reloaded = CorePipeline.load(out / "preprocessing_pipeline.pkl")
    np.testing.assert_array_equal(reloaded.transform(ns["df_win"]), X)

    np.testing.assert_array_equal(np.load(out / "latent_codes.npy"), Z)
    with np.load(out / "correlation_matrix.npz", allow_pickle=False) as npz:
        corr = npz["corr"]
        assert corr.shape == (8, len(names))
        assert [str(s) for s in npz["feature_names"]] == names
        r, _ = scipy_pearsonr(Z[:, 0], X[:, 0])
        assert corr[0, 0] == pytest.approx(r)

    interp = pl.read_parquet(out / "latent_interpretation.parquet")
    assert interp.columns == ["latent_dim", "rank", "feature", "pearson_r", "abs_r", "p_value"]
    assert interp.height == 8 * 5
    top = interp.filter((pl.col("latent_dim") == "z0") & (pl.col("rank") == 1))
    assert top["abs_r"][0] == pytest.approx(np.abs(corr[0]).max(), abs=1e-4)
    pivot = pl.read_csv(out / "latent_interpretation_pivot.csv")
    assert pivot.columns == ["dim", "#1", "#2", "#3", "#4", "#5"] and pivot.height == 8
