"""Table 7 and Fig. 7: how many neighbours k each landmark keeps in the graph."""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt

from ..data.datasets import DATASETS
from ..layouts import get_layout
from . import paper
from .common import StudySetup, ablation
from .report import save_figure

__all__ = ["columns", "run", "plot_curve"]

K_VALUES = (1, 2, 3, 4, 5, 10, 20, 40)  # plus N - 1, the dense graph


def columns(dataset: str = "wflw") -> dict:
    n = get_layout(DATASETS[dataset].layout).num_points
    ks = [k for k in K_VALUES if k < n - 1] + [n - 1]
    # the paper's values are for WFLW (N - 1 = 97); other layouts get no paper column
    ref = paper.TABLE7 if n == 98 else {}
    return {f"k={k}": (f"top-{k} neighbours" + (" (dense graph)" if k == n - 1 else ""),
                       dict(k=k), ref.get(k)) for k in ks}


def claims(dataset: str = "wflw") -> list[tuple[str, str, str]]:
    return [("k=3", label, f"k = 3 beats {label}") for label in columns(dataset)
            if label != "k=3"]


def plot_curve(df, title: str = "Fig. 7 — NME vs k"):
    """NME against k for the paper and for us (log-scaled k axis)."""
    rows = df[df["variant"].str.startswith("k=")]
    ks = [int(v.split("=")[1]) for v in rows["variant"]]
    fig, ax = plt.subplots(figsize=(5.5, 3.6))
    if rows["NME_paper"].notna().any():
        ax.plot(ks, rows["NME_paper"], "s--", color="0.45", label="paper (WFLW)")
    ax.errorbar(ks, rows["NME_ours"], yerr=rows["NME_ours_std"].fillna(0), fmt="o-",
                color="C0", capsize=3, label="ours")
    ax.set_xscale("log")
    ax.set_xticks(ks, [str(k) for k in ks])
    ax.set_xlabel("k (neighbours per landmark)")
    ax.set_ylabel("NME (%)")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    return fig


def run(setup: StudySetup, out_dir: str | Path, dataset: str = "wflw"):
    """Train/load the k sweep; write ``table7``, ``table7_claims`` and ``figures/fig7_topk``."""
    df, claim_df, runs = ablation(
        setup, out_dir, name="table7", columns=columns(dataset), claims=claims(dataset),
        dataset=dataset, title="Table 7 — top-k neighbourhood size, NME (%)",
        notes=["Full model (semantic attention, {F3,F4,F5}, Soft Wing, dynamic weighting); "
               "only k changes. k = N − 1 keeps every landmark: a dense graph."])
    fig = plot_curve(df, title=f"Fig. 7 — NME vs k ({dataset}, profile {setup.profile})")
    save_figure(fig, out_dir, "fig7_topk")
    plt.close(fig)
    return df, claim_df, runs
