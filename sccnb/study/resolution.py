"""What this setup can resolve: the minimum detectable effect (MDE) of a comparison of two arms,
as a function of the seeds per arm, from the variances measured on the committed runs.

For each profile and dataset:

* **seed variance** ``σ²_seed``: the variance of a run's mean test NME across training seeds of
  one config, pooled over every arm with at least 2 seeds (``Σ (n_k − 1) s²_k / Σ (n_k − 1)``);
* **image variance** ``σ²_d``: the variance over test images of the paired per-image difference
  between two arms (seed-averaged), the median over the comparisons the study makes;
* ``MDE(n) = (t(0.975, ν) + t(0.8, ν)) · sqrt(2 σ²_seed / n + σ²_d / M)`` for ``n`` seeds per arm
  and ``M`` test images (:func:`sccnb.claims.mde`; α = 0.05 two-sided, power 0.8, Welch ν).

A paper effect smaller than the MDE at the seeds we ran cannot be confirmed or refuted by this
study: its claims table says "below resolution" rather than "inconclusive".

The report also says how far the convergence criterion can be read at this noise: the
epoch-to-epoch noise of validation NME at the final learning rate (:func:`epoch_noise`), the rate
at which the best-versus-best criterion calls a run that has stopped improving unconverged
(:func:`plateau_flag_rate`), and the runs' remaining trend
(:func:`sccnb.study.common.late_trend`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from .. import claims as claim_stats
from .. import paper
from ..report import save_figure, write_table
from ..runs import Run
from ..evaluate import CONVERGENCE_TOLERANCE
from .common import (StudySetup, arm_matrix, converged_label, late_trend, late_window,
                     table_provenance, window_epochs)

__all__ = ["variance_components", "mde_curve", "paper_effects", "run", "SEEDS_AXIS",
           "epoch_noise", "final_lr_epochs_before_window", "plateau_flag_rate"]

SEEDS_AXIS = (2, 3, 4, 5, 6, 8, 10, 15, 20)


def variance_components(arms: Mapping[str, Sequence[Run]], pairs: Sequence[tuple[str, str]],
                        split: str) -> dict:
    """Pooled seed variance (points²) over arms with ≥ 2 seeds, and the median paired image
    variance over ``pairs`` whose arms both have runs; with their degrees of freedom."""
    num, dof, sds, seen = 0.0, 0, {}, set()
    for label, runs in arms.items():
        ids = tuple(sorted(r.id for r in runs))
        if len(runs) >= 2 and ids not in seen:  # an arm shared by two comparisons counts once
            seen.add(ids)
            _, m = arm_matrix(runs, split)
            means = m.mean(1)
            num += (len(runs) - 1) * means.var(ddof=1)
            dof += len(runs) - 1
            sds[label] = float(means.std(ddof=1))
    image_vars, images = [], None
    for a, b in pairs:
        if arms.get(a) and arms.get(b):
            _, ma = arm_matrix(arms[a], split)
            _, mb = arm_matrix(arms[b], split)
            image_vars.append(float((ma.mean(0) - mb.mean(0)).var(ddof=1)))
            images = ma.shape[1]
    return {"seed_var": num / dof if dof else None, "seed_dof": dof,
            "seed_sd_by_arm": sds,
            "image_var": float(np.median(image_vars)) if image_vars else None,
            "image_pairs": len(image_vars), "images": images}


def epoch_noise(runs: Sequence[Run]) -> tuple[float | None, int]:
    """(relative sd, degrees of freedom) of validation NME about each run's least-squares line
    over the convergence window, pooled over ``runs``: the noise one epoch's validation pass
    adds, as a fraction of the NME. (None, 0) without a window of at least 3 passes."""
    ss, dof = 0.0, 0
    for r in runs:
        late = late_window(r.history)
        if len(late) < 3:
            continue
        x, y = late["epoch"].to_numpy(float), late["val_nme"].to_numpy(float)
        resid = y - np.polyval(np.polyfit(x, y, 1), x)
        ss += float(np.sum((resid / y.mean()) ** 2))
        dof += len(y) - 2
    return (float(np.sqrt(ss / dof)), dof) if dof else (None, 0)


def final_lr_epochs_before_window(epochs: int, milestones: Sequence[int]) -> int:
    """Epochs at the final learning rate that precede the convergence window (0 when the last
    learning-rate drop falls inside the window)."""
    return max(0, epochs - window_epochs(epochs) - max(milestones, default=0))


def plateau_flag_rate(noise_rel: float, before: int, late: int,
                      tolerance: float = CONVERGENCE_TOLERANCE, sims: int = 20000,
                      seed: int = 0) -> float:
    """How often :func:`sccnb.evaluate.convergence` calls a run *unconverged* that has stopped
    improving: its validation NMEs at the final learning rate drawn independently around one
    level with relative sd ``noise_rel``, ``before`` of them ahead of the window and ``late``
    inside it. The best of ``late`` draws beats the best of ``before`` draws by an order
    statistic alone (for 2 and 12 draws by about 1.1 sd), so at a noise near the tolerance the
    criterion flags runs that have nothing left to gain. Epochs at higher learning rates are left
    out of the earlier best: they could only lower the rate, so it is an upper bound. NaN when
    ``before`` is 0 (the criterion then measures the last learning-rate drop, not a plateau)."""
    if before < 1:
        return float("nan")
    rng = np.random.default_rng(seed)
    early = 1 + noise_rel * rng.standard_normal((sims, before)).min(1)
    last = 1 + noise_rel * rng.standard_normal((sims, late)).min(1)
    return float(np.mean((early - last) / early >= tolerance))


def mde_curve(seed_var: float, image_var: float, images: int,
              seeds: Sequence[int] = SEEDS_AXIS) -> pd.Series:
    """MDE (points) for ``n`` seeds in each arm."""
    return pd.Series({n: claim_stats.mde(seed_var, seed_var, image_var, n, n, images)
                      for n in seeds}, name="mde")


def paper_effects() -> dict[str, float]:
    """|Δ NME| of the paper's claimed orderings (WFLW, points), by claim."""
    t5, t6, t7, t8 = paper.TABLE5, paper.TABLE6, paper.TABLE7, paper.TABLE8
    return {
        "SCC vs FC (T5)": t5["fc"] - t5["full"],
        "GN vs FC (T5)": t5["fc"] - t5["gn"],
        "attention features (T5)": t5["gn"] - t5["gn+att"],
        "dynamic weighting (T5)": t5["gn+att+softwing-dw"] - t5["full"],
        "semantic vs self attention (T6)": t6["attention"]["self"] - t6["attention"]["semantic"],
        "k=3 vs k=1 (T7)": t7[1] - t7[3],
        "k=3 vs dense (T7)": t7[97] - t7[3],
        "Soft Wing vs Wing, ε=0.5 (T8)": t8["wing"][0.5] - t8["softwing"][0.5],
        "Soft Wing vs L1 (T8)": t8["l1"] - t8["softwing"][0.5],
    }


def run(sources: Mapping[str, tuple[StudySetup, Mapping[str, Sequence[Run]],
                                    Sequence[tuple[str, str]], str, Sequence[int]]],
        out_dir: str | Path) -> pd.DataFrame:
    """Write ``resolution`` (one row per data source: variances, seeds used, MDE at 3 seeds and at
    the seeds used, the smallest seed count resolving each paper effect) and
    ``figures/resolution_mde``.

    ``sources``: name -> (setup, arms label -> runs, pairs, split, seeds used per arm).
    """
    rows, curves, provs = [], {}, {}
    effects = paper_effects()
    for name, (setup, arms, pairs, split, used) in sources.items():
        vc = variance_components(arms, pairs, split)
        row = {"data": name, "profile": setup.profile,
               "seed_sd": None if vc["seed_var"] is None else float(np.sqrt(vc["seed_var"])),
               "seed_dof": vc["seed_dof"],
               "image_sd": None if vc["image_var"] is None else float(np.sqrt(vc["image_var"])),
               "images": vc["images"], "seeds_used": max(used) if used else None}
        if vc["seed_var"] is not None and vc["image_var"] is not None:
            curve = mde_curve(vc["seed_var"], vc["image_var"], vc["images"])
            curves[name] = curve
            row["mde_3_seeds"] = float(curve[3])
            row["mde_20_seeds"] = float(curve[20])
            resolved = [k for k, v in effects.items() if v >= curve[3]]
            row["paper_effects_resolved_at_3_seeds"] = (
                f"{len(resolved)}/{len(effects)}: " + ", ".join(resolved) if resolved
                else f"0/{len(effects)}")
        row.update(_convergence_columns(arms))
        rows.append(row)
        found = {k: v for k, v in arms.items() if v}
        if found:
            provs[name] = table_provenance(setup, found, table="resolution")
    df = pd.DataFrame(rows)
    first = next(iter(provs.values())) if provs else {}
    prov = {**first, "sources": {k: {"profile": v.get("profile"), "runs": v.get("runs")}
                                 for k, v in provs.items()}}
    write_table(df, out_dir, "resolution", provenance=prov,
                title="What this setup can resolve: minimum detectable effect (Δ NME, points)",
                notes=["MDE(n) = (t(0.975, ν) + t(0.8, ν)) · sqrt(2 σ²_seed / n + σ²_d / M) for n "
                       "seeds per arm and M test images (sccnb.claims.mde, Welch ν); a paper "
                       "effect below the MDE at our seed count can be neither confirmed nor "
                       "refuted here (its claim reads 'below resolution').",
                       "seed_sd: standard deviation of a run's mean NME across seeds (pooled "
                       "within arms, seed_dof degrees of freedom); image_sd: standard deviation "
                       "of paired per-image differences (median over the study's comparisons); "
                       "MDE at α = 0.05 two-sided, power 0.8.",
                       "Convergence at this noise: epoch_noise_pct, the sd of one epoch's "
                       "validation NME about its trend over the last 20 % of epochs (% of the "
                       "NME, pooled over runs; blank when that window holds under 3 epochs); "
                       "plateau_flagged, the rate at which the convergence "
                       "criterion (< 1 % gain of the window's best over the earlier best) calls a "
                       "run unconverged that has stopped improving, at that noise and the "
                       "profile's schedule (sccnb.study.resolution.plateau_flag_rate, an upper "
                       "bound); late_trend_median, the median over runs of the validation-NME "
                       "trend across those epochs (points; negative: still improving); converged, "
                       "runs meeting the criterion / all runs.",
                       "Paper effects (WFLW, points): " + ", ".join(
                           f"{k} {v:.2f}" for k, v in effects.items()) + "."])
    if curves:
        fig, ax = plt.subplots(figsize=(6.4, 4.0))
        for i, (name, curve) in enumerate(curves.items()):
            ax.plot(curve.index, curve.values, "o-", color=f"C{i}", label=f"MDE — {name}")
        for k, v in sorted(effects.items(), key=lambda kv: kv[1]):
            ax.axhline(v, color="0.6", lw=0.7, ls=":")
            ax.text(SEEDS_AXIS[-1], v, f" {k} ({v:.2f})", fontsize=6.5, va="center",
                    color="0.35")
        ax.axvline(3, color="C3", lw=0.8, ls="--")
        ax.set_yscale("log")
        ax.set_xlabel("training seeds per arm")
        ax.set_ylabel("minimum detectable |Δ NME| (points)")
        ax.set_title("What this study can detect (α 0.05, power 0.8); dotted: the paper's "
                     "effects", fontsize=9)
        ax.legend(fontsize=7, loc="lower left")
        ax.grid(alpha=0.3, which="both")
        fig.tight_layout()
        save_figure(fig, out_dir, "resolution_mde")
        plt.close(fig)
    return df


def _convergence_columns(arms: Mapping[str, Sequence[Run]]) -> dict:
    """The convergence columns of one data source's row (runs shared by arms count once)."""
    runs = list({r.id: r for rs in arms.values() for r in rs}.values())
    if not runs:
        return {}
    noise, _ = epoch_noise(runs)
    train = runs[0].config["train"]
    before = final_lr_epochs_before_window(train["epochs"], train.get("lr_milestones") or ())
    late = window_epochs(train["epochs"])
    trends = [t for t in (late_trend(r.history) for r in runs) if t is not None]
    return {"epoch_noise_pct": None if noise is None else 100 * noise,
            "plateau_flagged": None if noise is None else plateau_flag_rate(noise, before, late),
            "late_trend_median": float(np.median(trends)) if trends else None,
            "converged": converged_label(runs)}


def default_sources(real_profile: str = "real300w_cpu", synth_profile: str = "cpu",
                    data_root: str = "") -> dict:
    """The committed evidence as :func:`run`'s ``sources``: the real-face arms of
    :data:`sccnb.study.real300w.EVIDENCE` (held-out faces) and Table 5's SynthFace arms (seeds
    0-2 where they exist). Loads runs only: nothing trains."""
    from . import table5
    from .real300w import EVIDENCE

    real = StudySetup(profile=real_profile, data_root=data_root, missing="skip")
    arms, pairs, seeds_used = {}, [], []
    for name, entries in EVIDENCE.items():
        runs = real.train({f"{name}/{label}": real.config("real300w", **changes)
                           for label, changes, _ in entries},
                          seeds={f"{name}/{label}": seeds for label, _, seeds in entries})
        arms.update(runs)
        labels = [f"{name}/{label}" for label, _, _ in entries]
        pairs += [(labels[0], other) for other in labels[1:]]
        seeds_used += [len(v) for v in runs.values() if v]
    synth = StudySetup(profile=synth_profile, seeds=(0, 1, 2), missing="skip")
    s_arms = synth.train({label: synth.config("wflw", **changes)
                          for label, (_, changes, _) in table5.COLUMNS.items()})
    s_pairs = [(a, b) for a, b, _ in table5.CLAIMS]
    return {
        "real 300-W faces (300w_mini, held-out)": (real, arms, pairs, "heldout", seeds_used),
        "SynthFace, WFLW layout (cpu profile)": (synth, s_arms, s_pairs, "test",
                                                 [len(v) for v in s_arms.values() if v]),
    }
