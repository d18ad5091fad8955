"""Figures 1 and 6: robustness to progressive occlusion (FC vs SCC) and what the two attention
kinds look at."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import torch

from ..data.augment import to_input
from ..data.prepare import prepare_data
from ..metrics import nme
from ..plots import draw_landmarks
from ..provenance import write_json
from ..training.config import config_from_json
from ..training.evaluate import predict
from .common import StudySetup, dataset_label, table_provenance
from .report import save_figure, write_table

__all__ = ["occlude_bottom", "fig1", "fig6", "FRACTIONS", "FIG1_MODELS", "FIG6_MODELS"]

FRACTIONS = (0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6)
# label -> config changes from the profile's full model; the weights of these runs are kept
FIG1_MODELS = {"FC baseline (Soft Wing)": dict(head="fc", loss="softwing", loss_epsilon=0.5),
               "SCC (full model)": {}}
FIG6_MODELS = {"self-attention": dict(attention="self", loss="l1"),
               "semantic-guided": dict(loss="l1")}


def occlude_bottom(images: torch.Tensor, landmarks: torch.Tensor, fraction: float,
                   seed: int = 0) -> tuple[torch.Tensor, np.ndarray]:
    """Cover the lowest ``fraction`` of every face (of its landmark extent, from the chin up,
    across the whole crop width) with a fixed random texture.

    Returns the occluded uint8 images and an ``(M, N)`` bool array of the points left visible.
    """
    images = images.clone()
    m, _, s, _ = images.shape
    lm = landmarks.cpu().numpy()
    top, bottom = lm[..., 1].min(1), lm[..., 1].max(1)
    cut = bottom - fraction * (bottom - top)  # rows >= cut are covered
    rng = np.random.default_rng(seed)
    texture = torch.as_tensor(rng.integers(0, 256, (3, s, s), dtype=np.uint8))
    rows = torch.arange(s).view(1, s, 1).float()
    cover = (rows >= torch.as_tensor(cut).view(m, 1, 1)) if fraction > 0 else \
        torch.zeros(m, s, 1, dtype=torch.bool)
    cover = cover.expand(m, s, s)
    images = torch.where(cover[:, None], texture[None], images)
    visible = lm[..., 1] < cut[:, None] if fraction > 0 else np.ones(lm.shape[:2], bool)
    return images, visible


def fig1(setup: StudySetup, out_dir: str | Path, dataset: str = "wflw",
         fractions=FRACTIONS, examples: int = 3) -> pd.DataFrame:
    """NME against the occluded fraction of the face for the FC baseline and SCC.

    Both use Soft Wing, so only the head differs in the loss: the FC baseline is Table 8's
    Soft Wing (ε = 0.5) run, SCC the full model. Errors on all points and on the points left
    visible (the paper's claim: with FC, errors under the occluder spread to the visible parts).
    """
    runs = setup.train({label: setup.config(dataset, **changes)
                        for label, changes in FIG1_MODELS.items()}, need_weights=True)
    cfg = config_from_json(next(iter(runs.values()))[0].config["train"])
    test = prepare_data(cfg, splits=("test",)).tests["test"]
    device = torch.device("cuda" if torch.cuda.is_available() and setup.device != "cpu"
                          else "cpu")
    target = test.shapes_in(256)
    rows, shown = [], {}
    for frac in fractions:
        occluded, visible = occlude_bottom(test.images, test.landmarks, frac)
        view = dataclasses.replace(test, images=occluded)
        for label, rs in runs.items():
            for r in rs:
                pred = predict(r.load_model(str(device)), view, device)
                all_nme = nme(pred, target, test.layout)
                vis_nme = nme(pred, target, test.layout, points=visible)
                rows.append({"model": label, "seed": r.config["train"]["seed"],
                             "fraction": frac, "nme_all": 100 * all_nme.mean(),
                             "nme_visible": 100 * np.nanmean(vis_nme),
                             "nme_occluded": 100 * np.nanmean(
                                 nme(pred, target, test.layout, points=~visible))
                             if frac > 0 else np.nan})
                if r is rs[0]:
                    shown[(label, frac)] = (occluded[:examples], pred[:examples])
    df = pd.DataFrame(rows).groupby(["model", "fraction"], as_index=False).mean(
        numeric_only=True).drop(columns="seed")
    prov = table_provenance(setup, runs, figure="fig1", dataset=dataset)
    write_table(df, out_dir, "fig1_occlusion", provenance=prov,
                title=f"Fig. 1 — NME (%) under progressive occlusion "
                f"({dataset_label(setup, dataset)})",
                notes=["The lowest `fraction` of each face (of its landmark extent, chin "
                       "upwards) is covered by a random texture across the crop width.",
                       "nme_visible: error on the points above the occluder; nme_occluded: "
                       "on the covered points."])
    _plot_fig1(df, shown, target[:examples], test.layout, fractions, out_dir, setup, dataset)
    return df


def _plot_fig1(df, shown, target, layout, fractions, out_dir, setup, dataset) -> None:
    fig, ax = plt.subplots(figsize=(5.5, 3.8))
    for i, (label, part) in enumerate(df.groupby("model", sort=False)):
        ax.plot(part["fraction"], part["nme_all"], "o-", color=f"C{i}", label=f"{label}: all")
        ax.plot(part["fraction"], part["nme_visible"], "s--", color=f"C{i}", alpha=0.7,
                label=f"{label}: visible points")
    ax.set_xlabel("occluded fraction of the face (from the chin up)")
    ax.set_ylabel("NME (%)")
    ax.set_title(f"Fig. 1 — occlusion robustness ({dataset}, {setup.profile})", fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    fig.tight_layout()
    save_figure(fig, out_dir, "fig1_occlusion_curve")
    plt.close(fig)

    picks = [f for f in fractions if f in (0.0, 0.3, 0.5)] or list(fractions[:3])
    labels = list(dict.fromkeys(k[0] for k in shown))
    scale = 256 / shown[(labels[0], picks[0])][0].shape[-1]
    n = shown[(labels[0], picks[0])][0].shape[0]
    fig, axes = plt.subplots(n, len(picks) * len(labels),
                             figsize=(1.9 * len(picks) * len(labels), 2.0 * n), squeeze=False)
    for row in range(n):
        for j, (frac, label) in enumerate((f, l) for f in picks for l in labels):
            images, pred = shown[(label, frac)]
            ax = axes[row, j]
            img = images[row].permute(1, 2, 0).numpy()
            draw_landmarks(ax, img, target[row] / scale, layout, color="lime", size=3,
                           lines=False)
            draw_landmarks(ax, None, pred[row] / scale, layout, color="red", size=3,
                           lines=False)
            if row == 0:
                ax.set_title(f"{label.split(' (')[0]}\n{int(frac * 100)} % occluded",
                             fontsize=7)
    fig.suptitle("green: ground truth, red: prediction", fontsize=8)
    fig.tight_layout()
    save_figure(fig, out_dir, "fig1_occlusion_examples")
    plt.close(fig)


def _maps_path(run, examples: int) -> Path:
    return run.path / f"fig6_attention_F3_first{examples}.npy"


def _attention_maps(run, test, examples: int) -> np.ndarray:
    """Channel-wise max of the attended F3 maps of a run on the first ``examples`` test faces,
    ``(examples, H3, W3)``; computed once from the run's weights and kept with the run (a few
    KB, committed), so the figure re-renders without the weights."""
    from ..provenance import atomic_write_bytes

    path = _maps_path(run, examples)
    if path.is_file():
        return np.load(path)
    model = run.load_model("cpu")
    with torch.no_grad():
        _, inter = model(to_input(test.images[:examples]), return_intermediates=True)
    maps = inter["attended"]["F3"].amax(dim=1).numpy().astype(np.float32)
    import io

    buf = io.BytesIO()
    np.save(buf, maps)
    atomic_write_bytes(path, buf.getvalue())
    return maps


def fig6(setup: StudySetup, out_dir: str | Path, dataset: str = "wflw", examples: int = 4
         ) -> Path:
    """Channel-wise max of the attended F3 maps, self- vs semantic-guided attention (Table 6's
    two L1 runs), on a few test faces."""
    variants = {label: setup.config(dataset, **changes)
                for label, changes in FIG6_MODELS.items()}
    runs = setup.train(variants)
    if not all(_maps_path(rs[0], examples).is_file() for rs in runs.values()):
        runs = setup.train(variants, need_weights=True)  # maps not cached yet: need weights
    cfg = config_from_json(runs["semantic-guided"][0].config["train"])
    test = prepare_data(cfg, splits=("test",)).tests["test"]
    maps = {label: _attention_maps(rs[0], test, examples) for label, rs in runs.items()}
    fig, axes = plt.subplots(examples, 3, figsize=(6.6, 2.2 * examples), squeeze=False)
    for i in range(examples):
        axes[i, 0].imshow(test.images[i].permute(1, 2, 0).numpy())
        for j, (label, m) in enumerate(maps.items(), start=1):
            axes[i, j].imshow(m[i], cmap="jet")
            if i == 0:
                axes[i, j].set_title(f"{label}\nmax over channels of F3", fontsize=8)
        for ax in axes[i]:
            ax.set_axis_off()
    axes[0, 0].set_title("input", fontsize=8)
    fig.suptitle(f"Fig. 6 — attention on F3 ({dataset}, profile {setup.profile})", fontsize=9)
    fig.tight_layout()
    path = save_figure(fig, out_dir, "fig6_attention")
    plt.close(fig)
    write_json(Path(out_dir) / "figures" / "fig6_attention.json",
               table_provenance(setup, runs, figure="fig6", dataset=dataset), changed_only=True)
    return path

