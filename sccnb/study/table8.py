"""Table 8 and Fig. 4: L1 vs Wing vs Soft Wing on the FC baseline, for several epsilon."""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import torch

from ..training.losses import build_loss
from . import paper
from .common import StudySetup, ablation
from .report import save_figure

__all__ = ["EPSILONS", "COLUMNS", "run", "plot_losses"]

EPSILONS = (0.1, 0.2, 0.5, 1.0, 1.5, 2.0)
COLUMNS = {
    "l1": ("L1", dict(head="fc", loss="l1"), paper.TABLE8["l1"]),
    **{f"wing eps={e}": (f"Wing (ω = 20, ε = {e})", dict(head="fc", loss="wing",
                                                        loss_epsilon=e), paper.TABLE8["wing"][e])
       for e in EPSILONS},
    **{f"softwing eps={e}": (f"Soft Wing (ω1 = 2, ω2 = 20, ε = {e})",
                             dict(head="fc", loss="softwing", loss_epsilon=e),
                             paper.TABLE8["softwing"][e]) for e in EPSILONS},
}
CLAIMS = ([(f"softwing eps={e}", f"wing eps={e}", f"Soft Wing beats Wing at ε = {e}")
           for e in EPSILONS]
          + [("softwing eps=0.5", "l1", "Soft Wing (ε = 0.5) beats L1"),
             ("wing eps=2.0", "wing eps=0.1", "Wing degrades as ε shrinks (2.0 beats 0.1)")])


def plot_losses(omega: float = 20.0, omega1: float = 2.0, epsilon: float = 0.5,
                max_err: float = 30.0):
    """Fig. 4: L1, Wing and Soft Wing and their gradients against the error (px at 256)."""
    x = torch.linspace(-max_err, max_err, 1201, dtype=torch.float64, requires_grad=True)
    losses = {"L1": build_loss("l1"), f"Wing (ω={omega:g}, ε={epsilon:g})":
              build_loss("wing", epsilon=epsilon, omega=omega),
              f"Soft Wing (ω1={omega1:g}, ω2={omega:g}, ε={epsilon:g})":
              build_loss("softwing", epsilon=epsilon, omega1=omega1, omega2=omega)}
    fig, (ax_l, ax_g) = plt.subplots(1, 2, figsize=(10, 3.8))
    for name, fn in losses.items():
        values = torch.stack([fn(xi[None], torch.zeros(1, dtype=x.dtype)) for xi in x])
        grad, = torch.autograd.grad(values.sum(), x)
        ax_l.plot(x.detach(), values.detach(), label=name)
        ax_g.plot(x.detach(), grad, label=name)
    for ax, ylabel in ((ax_l, "loss"), (ax_g, "d loss / d x")):
        ax.axvline(omega1, color="0.7", lw=0.8, ls=":")
        ax.axvline(-omega1, color="0.7", lw=0.8, ls=":")
        ax.set_xlabel("error x (px in a 256 crop)")
        ax.set_ylabel(ylabel)
        ax.grid(alpha=0.3)
    ax_l.legend(fontsize=8)
    ax_g.set_ylim(-12, 12)
    ax_g.set_title(f"gradient (Wing's, clipped here, reaches ω/ε = {omega / epsilon:g} at 0; "
                   "Soft Wing's is 1 below ω1)", fontsize=8)
    ax_l.set_title("Fig. 4 — loss functions", fontsize=10)
    fig.tight_layout()
    return fig


def run(setup: StudySetup, out_dir: str | Path, dataset: str = "wflw"):
    """Train/load the 13 loss variants; write ``table8``, ``table8_claims``, Fig. 4."""
    df, claim_df, runs = ablation(
        setup, out_dir, name="table8", columns=COLUMNS, claims=CLAIMS, dataset=dataset,
        title="Table 8 — loss functions on the FC baseline, NME (%)",
        notes=["Losses act per coordinate in pixels of a 256 crop (whatever the input size), "
               "so ω1 = 2 means 2 px at 256 as in the paper; Wing uses ω = 20 (Fig. 4)."])
    fig = plot_losses()
    save_figure(fig, out_dir, "fig4_losses")
    plt.close(fig)
    return df, claim_df, runs
