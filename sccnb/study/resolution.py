"""What this setup can resolve: the minimum detectable effect (MDE) of a comparison of two arms,
as a function of the seeds per arm, from the variances measured on the committed runs.

For each profile and dataset:

* **seed variance** ``σ²_seed``: the variance of a run's mean test NME across training seeds of
  one config. Two estimates, both reported:

  - *robust* (:func:`robust_seed_sd`, the one the MDE uses): the median over arms with at least 2
    seeds of ``s_k / c(ν_k)``, where ``c(ν) = sqrt(median(χ²_ν) / ν)`` makes each arm's sd
    median-unbiased for a normal seed distribution (``c(2) ≈ 0.83``: with 3 seeds the sample sd
    falls below σ more often than above it). It describes a typical arm: one arm whose seeds
    fail in a different way (a seed that does not train) moves it by at most one rank;
  - *pooled* (``Σ (n_k − 1) s²_k / Σ (n_k − 1)``), the efficient estimate when every arm has the
    same normal seed spread, and the one a single failing arm dominates. The report names the arm
    with the largest sd beside it.

  The two agree when the arms share one seed spread; when they part, the pooled one describes an
  arm's failure mode, not the study's typical noise. Per-claim intervals, MDEs and verdicts never
  use either: each comparison uses its own two arms (:mod:`sccnb.study.claims`);
* **image variance** ``σ²_d``: the variance over test images of the paired per-image difference
  between two arms (seed-averaged), the median over the comparisons the study makes between
  arms with several seeds (a 1-seed arm's per-image errors carry one seed's noise);
* ``MDE(n) = (t(0.975, ν) + t(0.8, ν)) · sqrt(2 σ²_seed / n + σ²_d / M)`` for ``n`` seeds per arm
  and ``M`` test images (:func:`sccnb.study.claims.mde`; α = 0.05 two-sided, power 0.8, Welch ν).

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

from ..training.evaluate import CONVERGENCE_TOLERANCE
from ..training.runs import Run
from . import claims as claim_stats
from . import paper
from .common import (StudySetup, arm_matrix, converged_label, late_trend, late_window,
                     table_provenance, window_epochs)
from .report import save_figure, write_table

__all__ = ["variance_components", "robust_seed_sd", "sd_median_factor", "mde_curve",
           "paper_effects", "run", "SEEDS_AXIS",
           "epoch_noise", "final_lr_epochs_before_window", "plateau_flag_rate",
           "schedule_name"]

SEEDS_AXIS = (2, 3, 4, 5, 6, 8, 10, 15, 20)


def variance_components(arms: Mapping[str, Sequence[Run]], pairs: Sequence[tuple[str, str]],
                        split: str) -> dict:
    """Seed variance (points²) over arms with ≥ 2 seeds, pooled and robust
    (:func:`robust_seed_sd`), and the median paired image variance over ``pairs`` whose arms both
    have runs; with their degrees of freedom and each arm's sd."""
    num, dof, sds, dofs, seen = 0.0, 0, {}, {}, set()
    for label, runs in arms.items():
        ids = tuple(sorted(r.id for r in runs))
        if len(runs) >= 2 and ids not in seen:  # an arm shared by two comparisons counts once
            seen.add(ids)
            _, m = arm_matrix(runs, split)
            means = m.mean(1)
            num += (len(runs) - 1) * means.var(ddof=1)
            dof += len(runs) - 1
            sds[label] = float(means.std(ddof=1))
            dofs[label] = len(runs) - 1
    image_vars, images = [], None
    for a, b in pairs:
        if arms.get(a) and arms.get(b):
            _, ma = arm_matrix(arms[a], split)
            _, mb = arm_matrix(arms[b], split)
            image_vars.append(float((ma.mean(0) - mb.mean(0)).var(ddof=1)))
            images = ma.shape[1]
    robust = robust_seed_sd({k: (sds[k], dofs[k]) for k in sds})
    return {"seed_var": num / dof if dof else None, "seed_dof": dof,
            "seed_var_robust": None if robust is None else robust ** 2,
            "seed_sd_by_arm": sds, "seed_dof_by_arm": dofs,
            "image_var": float(np.median(image_vars)) if image_vars else None,
            "image_pairs": len(image_vars), "images": images}


def sd_median_factor(dof: int) -> float:
    """``c(ν) = sqrt(median(χ²_ν) / ν)``: the median of a normal sample's sd with ν degrees of
    freedom, in units of σ (0.83 for ν = 2, → 1 as ν grows)."""
    from scipy.stats import chi2

    return float(np.sqrt(chi2.median(dof) / dof))


def robust_seed_sd(sds: Mapping[str, tuple[float, int]]) -> float | None:
    """The seed sd of a typical arm: the median over arms of ``s_k / c(ν_k)``
    (:func:`sd_median_factor`), from ``label -> (sample sd, degrees of freedom)``. Median-unbiased
    for σ when every arm's seeds are normal with one σ; an arm with a failing seed moves it by
    one rank at most. None without an arm."""
    scaled = [sd / sd_median_factor(dof) for sd, dof in sds.values() if dof >= 1]
    return float(np.median(scaled)) if scaled else None


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
    """How often :func:`sccnb.training.evaluate.convergence` calls a run *unconverged* that has
    stopped improving: its validation NMEs at the final learning rate drawn independently around one
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
    rows, curves, pooled_curves, provs = [], {}, {}, {}
    effects = paper_effects()
    for name, (setup, arms, pairs, split, used) in sources.items():
        vc = variance_components(arms, pairs, split)
        by_arm = vc["seed_sd_by_arm"]
        largest = max(by_arm, key=by_arm.get) if by_arm else None
        row = {"data": name, "profile": setup.profile,
               "seed_sd": _sqrt(vc["seed_var_robust"]),
               "seed_sd_pooled": _sqrt(vc["seed_var"]),
               "seed_dof": vc["seed_dof"], "seed_arms": len(by_arm),
               "seed_sd_largest_arm": (f"{largest} {by_arm[largest]:.2f}" if largest else None),
               "image_sd": _sqrt(vc["image_var"]),
               "images": vc["images"], "seeds_used": max(used) if used else None}
        if vc["seed_var"] is not None and vc["image_var"] is not None:
            curve = mde_curve(vc["seed_var_robust"], vc["image_var"], vc["images"])
            pooled = mde_curve(vc["seed_var"], vc["image_var"], vc["images"])
            curves[name], pooled_curves[name] = curve, pooled
            row["mde_3_seeds"] = float(curve[3])
            row["mde_20_seeds"] = float(curve[20])
            row["mde_3_seeds_pooled"] = float(pooled[3])
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
                       "seeds per arm and M test images (sccnb.study.claims.mde, Welch ν); a paper "
                       "effect below the MDE at our seed count can be neither confirmed nor "
                       "refuted here (its claim reads 'below resolution').",
                       "seed_sd: standard deviation of a run's mean NME across seeds in a "
                       "typical arm (median over the seed_arms arms with ≥ 2 seeds of each "
                       "arm's sd made median-unbiased, sccnb.study.resolution.robust_seed_sd); "
                       "the MDE columns use it. seed_sd_pooled: the same pooled within arms "
                       "(seed_dof degrees of freedom), with mde_3_seeds_pooled; one arm whose "
                       "seeds fail differently dominates it, so seed_sd_largest_arm names the "
                       "arm with the largest sd. Per-claim MDEs use each comparison's own arms, "
                       "not these. image_sd: standard deviation of paired per-image differences "
                       "(median over the study's comparisons). MDE at α = 0.05 two-sided, "
                       "power 0.8.",
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
            pooled = pooled_curves[name]
            if not np.allclose(pooled.values, curve.values, rtol=0.05):
                ax.plot(pooled.index, pooled.values, "--", color=f"C{i}", lw=0.9, alpha=0.7,
                        label="  same, seed sd pooled over all arms")
        ordered = sorted(effects.items(), key=lambda kv: kv[1])
        for (k, v), y in zip(ordered, _spread_log([v for _, v in ordered], 0.09)):
            ax.axhline(v, color="0.6", lw=0.7, ls=":")
            ax.text(SEEDS_AXIS[-1], y, f" {k} ({v:.2f})", fontsize=6.5, va="center",
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


def _spread_log(values: Sequence[float], gap: float) -> list[float]:
    """Label heights for ascending ``values`` on a log axis, at least ``gap`` decades apart."""
    out: list[float] = []
    for v in values:
        y = np.log10(v)
        out.append(y if not out else max(y, out[-1] + gap))
    return [float(10 ** y) for y in out]


def _sqrt(var: float | None) -> float | None:
    return None if var is None else float(np.sqrt(var))


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


def schedule_name(cfg) -> str:
    """A probe schedule as the resolution table names it: ``"lr drops 30/40"`` at the profile's
    epochs, ``"100 epochs, lr drops 60/72"`` otherwise."""
    from ..training.config import PROFILES

    drops = "lr drops " + "/".join(str(m) for m in cfg.lr_milestones)
    base = PROFILES.get(cfg.profile, {}).get("epochs")
    return drops if cfg.epochs == base else f"{cfg.epochs} epochs, {drops}"


def default_sources(real_profile: str = "real300w_cpu", synth_profile: str = "cpu",
                    data_root: str = "") -> dict:
    """The committed evidence as :func:`run`'s ``sources``: the real-face arms of
    :data:`sccnb.study.real300w.EVIDENCE` (held-out faces), the schedule probe's arms with
    their own schedule (when stored) and Table 1's SynthFace arms (seeds 0-2).
    Loads runs only: nothing trains."""
    from .real300w import EVIDENCE, TABLES

    real = StudySetup(profile=real_profile, data_root=data_root, missing="skip")
    arms, pairs, seeds_used, key = {}, [], [], {}
    for name, entries in EVIDENCE.items():
        if name == "schedule":  # a probe of another schedule: not the profile's noise
            continue
        runs = real.train({f"{name}/{label}": real.config("real300w", **changes)
                           for label, changes, _ in entries},
                          seeds={f"{name}/{label}": seeds for label, _, seeds in entries})
        arms.update(runs)
        key.update({label: f"{name}/{label}" for label, _, _ in entries})
        seeds_used += [len(v) for v in runs.values() if v]
    # image variance from the pairs the claims compare, where both arms have several seeds: a
    # 1-seed arm's per-image errors carry one seed's noise, more than the seed means the MDE is
    # stated for
    for table, (_, comparisons, claims) in TABLES.items():
        if table == "real300w_schedule":
            continue
        labels = {label: f"{c}/{label}" for c in comparisons for label, _, _ in EVIDENCE[c]}
        for better, worse, *_ in claims:
            a, b = labels[better], labels[worse]
            if len(arms.get(a, [])) > 1 and len(arms.get(b, [])) > 1:
                pairs.append((a, b))
    # the schedule probe: each schedule other than the profile's is its own source (its own
    # noise and convergence), its arms compared within it
    probes: dict[str, list] = {}
    for label, changes, seeds in EVIDENCE["schedule"]:
        if changes.get("lr_milestones"):
            cfg = real.config("real300w", **changes)
            probes.setdefault(schedule_name(cfg), []).append((label, cfg, seeds))
    p_sources = {}
    for sched, entries in probes.items():
        p_arms = real.train({label: cfg for label, cfg, _ in entries},
                            seeds={label: seeds for label, _, seeds in entries})
        if any(p_arms.values()):
            p_sources[f"real 300-W faces, {sched} (schedule probe)"] = (
                real, p_arms, [tuple(p_arms)], "heldout",
                [len(v) for v in p_arms.values() if v])
    # SynthFace: Table 1's headline arms, the only SynthFace comparison with 3 seeds (its Tables
    # 5-8 come from real faces now)
    from .benchmarks import HEADLINE_SEEDS, METHODS

    synth = StudySetup(profile=synth_profile, seeds=HEADLINE_SEEDS, missing="skip")
    s_arms = synth.train({label: synth.config("wflw", **changes)
                          for label, changes in METHODS.items()})
    s_pairs = [tuple(METHODS)]
    sources = {"real 300-W faces (300w_mini, held-out)": (real, arms, pairs, "heldout",
                                                          seeds_used)}
    sources.update(p_sources)
    sources["SynthFace, WFLW layout (cpu profile)"] = (synth, s_arms, s_pairs, "test",
                                                       [len(v) for v in s_arms.values() if v])
    return sources
