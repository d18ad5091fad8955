"""What every table shares: configs from a profile, training (or loading) the runs, averaging
over seeds, paired bootstrap comparisons for the paper's claimed orderings, and provenance."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..metrics import summarise
from ..training.config import TrainConfig, portable_path, resolve_config
from ..training.runs import Run, run_id, stale_runs
from ..training.train import ensure_runs
from . import claims as claim_stats
from .report import write_table

__all__ = ["StudySetup", "plot_validation_curves", "split_nmes", "metric_value", "seed_mean",
           "per_image_nme", "claim_rows", "dataset_label", "table_provenance", "pm", "ablation",
           "arm_matrix", "converged_label", "window_epochs", "late_window", "late_trend",
           "late_trend_mean", "CLAIM_NOTES", "CONVERGENCE_NOTE", "CLAIM_COLUMNS",
           "adjust_families", "write_claims", "TABLE_FAMILY", "WORKERS"]

# Parallel training processes per profile (the CPU profiles train with 1 thread each: on 2
# cores two 1-thread runs side by side finish sooner than two 2-thread runs one after another)
WORKERS = {"cpu": 2, "real300w_cpu": 2}


@dataclasses.dataclass
class StudySetup:
    """The parameters every table notebook shares."""

    profile: str = "cpu"
    data_root: str = ""  # "" = SynthFace generated for the profile
    seeds: Sequence[int] = (0,)
    runs_root: str | None = None  # None = results/runs
    device: str = "auto"
    workers: int | None = None  # parallel training processes (None = profile default)
    overrides: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    # what to do about runs not in the store: "train" them, or "skip" them (tables then show the
    # arms whose runs exist and list the missing ones: for rendering committed results only)
    missing: str = "train"
    # "label (seed s)" of each run that ``missing="skip"`` left out, in the order asked for
    missing_runs: list[str] = dataclasses.field(default_factory=list, init=False, repr=False)

    def config(self, dataset: str = "wflw", **changes: Any) -> TrainConfig:
        """The profile's config for ``dataset`` with ``changes`` (one table variant)."""
        base = {"dataset": dataset, "device": self.device, **dict(self.overrides)}
        if self.data_root:
            base["data_root"] = self.data_root
        return resolve_config(self.profile, **{**base, **changes})

    def train(self, variants: Mapping[str, TrainConfig], need_weights: bool = False,
              seeds: Mapping[str, Sequence[int]] | None = None) -> dict[str, list[Run]]:
        """Ensure every variant x seed is trained (loading the runs that exist). ``seeds``
        gives some variants their own seeds (default: the setup's). With ``missing="skip"``
        nothing trains: variants keep the runs found, and :attr:`missing_runs` lists the rest."""
        workers = self.workers or WORKERS.get(self.profile, 1)
        if not self.workers and self.profile in ("gpu", "paper", "real300w"):
            import torch

            workers = max(1, torch.cuda.device_count())  # one run per GPU
        labels, configs = [], []
        for label, cfg in variants.items():
            for seed in (seeds or {}).get(label, self.seeds):
                labels.append(label)
                configs.append(dataclasses.replace(cfg, seed=int(seed)))
        out: dict[str, list[Run]] = {label: [] for label in variants}
        if self.missing == "skip":
            from ..training.runs import default_runs_root

            root = Path(self.runs_root or default_runs_root())
            for label, cfg in zip(labels, configs):
                run = Run(root / run_id(cfg))
                if run.ready(need_weights):
                    out[label].append(run)
                else:
                    self.missing_runs.append(f"{label} (seed {cfg.seed})")
            return out
        if self.missing != "train":
            raise ValueError(f"missing must be 'train' or 'skip', got {self.missing!r}")
        runs = ensure_runs(configs, self.runs_root, workers=workers, need_weights=need_weights)
        for label, run in zip(labels, runs):
            out[label].append(run)
        return out


def per_image_nme(runs: Sequence[Run], split: str) -> pd.DataFrame:
    """Per-image table of a split with the NME averaged over the seeds' runs (same images, same
    order in every run of one config)."""
    tables = [r.predictions(split) for r in runs]
    out = tables[0].copy()
    out["nme"] = np.mean([t["nme"].to_numpy() for t in tables], axis=0)
    return out


def split_nmes(run: Run, split: str, subset: str = "full") -> pd.Series:
    """Per-image NMEs of a run's test split, of a subset column of it, or -- for 300-W's
    ``"300w_full"`` -- of the common and challenging sets pooled."""
    if split == "300w_full":
        return pd.concat([run.predictions("common"), run.predictions("challenging")])["nme"]
    df = run.predictions(split)
    return df["nme"] if subset == "full" else df.loc[df[subset].astype(bool), "nme"]


def metric_value(nmes: pd.Series, metric: str) -> float:
    """``"nme"`` and ``"fr"`` in %, ``"auc"`` as a fraction."""
    if metric not in ("nme", "fr", "auc"):
        raise ValueError(f"unknown metric {metric!r}; supported: nme, fr, auc")
    value = summarise(nmes)[metric]
    return value if metric == "auc" else 100 * value


def seed_mean(runs: Sequence[Run], split: str, subset: str = "full", metric: str = "nme"
              ) -> tuple[float, float]:
    """Mean and sample standard deviation (ddof 1, as the claim statistics use) over seeds of a
    metric (NME / FR in %, AUC as a fraction); the deviation is NaN for a single seed."""
    values = [metric_value(split_nmes(r, split, subset), metric) for r in runs]
    return (float(np.mean(values)),
            float(np.std(values, ddof=1)) if len(values) > 1 else float("nan"))


def pm(mean: float, std: float, digits: int = 2) -> str:
    """``"4.40 ± 0.03"``, or just the mean for one seed."""
    if np.isnan(std):
        return f"{mean:.{digits}f}"
    return f"{mean:.{digits}f} ± {std:.{digits}f}"


def arm_matrix(runs: Sequence[Run], split: str, subset: str = "full"
               ) -> tuple[list[str], np.ndarray]:
    """(image names, ``(seeds, images)`` NMEs in points) of one arm's runs on a split/subset."""
    tables = [r.predictions(split) for r in runs]
    names = list(tables[0]["name"])
    for r, t in zip(runs, tables):
        if list(t["name"]) != names:
            raise ValueError(f"{r.id} was evaluated on other images than {runs[0].id}")
    if subset != "full":
        keep = tables[0][subset].astype(bool).to_numpy()
        tables = [t[keep] for t in tables]
        names = [n for n, k in zip(names, keep) if k]
    return names, 100 * np.stack([t["nme"].to_numpy() for t in tables])


CONVERGENCE_NOTE = (
    "converged: runs meeting sccnb.training.evaluate.convergence's criterion (the best "
    "validation NME of the last 20 % of epochs improves on the earlier best by < 1 % relative) "
    "/ all runs; late_trend: the least-squares trend of validation NME over those epochs, in "
    "points, mean over seeds (negative: still improving when training stopped; "
    "sccnb.study.common.late_trend)"
    ". The resolution report gives how often the criterion flags a run that has stopped "
    "improving, at the measured epoch-to-epoch noise.")

CLAIM_NOTES = [claim_stats.RULES,
               "seeds A/B: runs per arm; seed sd: standard deviation of the runs' mean NMEs "
               "across seeds; MDE: the smallest |Δ| this comparison detects with probability "
               "0.8 at α = 0.05 (blank below 2 seeds; for a claim below resolution by design, the "
               "MDE at the power plan's most seeds). Each interval is for its own claim: among m "
               "claims with no true effect, about 0.05·m would get agrees/disagrees by chance, "
               "so verdict_adjusted gives the verdict that survives Holm's correction over the "
               "claim's family.",
               claim_stats.ADJUST_RULES,
               "converged: runs meeting the convergence criterion, better arm / worse arm; "
               "late_trend_delta: how the difference itself was still moving over the last 20 % "
               "of epochs (late_trend of the better arm minus the worse arm's, points; near 0: "
               "more training would move both arms alike; negative: the better arm was pulling "
               "further ahead) — see the arm table's notes.",
               "paper_delta_in_ci: whether the paper's Δ lies inside our interval; 'no' beside "
               "an inconclusive verdict means our runs show no effect and also not the "
               "paper's."]


TABLE_FAMILY = "paper claims (this table)"  # the family when a table's claims stand alone
CLAIM_COLUMNS = ["claim", "better", "worse", "paper_delta", "ours_delta", "ci95_low",
                 "ci95_high", "seeds", "seed_sd_better", "seed_sd_worse", "mde", "converged",
                 "late_trend_delta", "paper_delta_in_ci", "verdict", "p", "family", "p_holm",
                 "verdict_adjusted"]


def claim_rows(claims: Sequence[tuple[str, str, str]], runs: Mapping[str, Sequence[Run]],
               paper_nme: Mapping[str, float], split: str, subset: str = "full",
               paper_deltas: Mapping[tuple[str, str], float] | None = None,
               family: str | Mapping[tuple[str, str], str] = TABLE_FAMILY,
               design_mde: Mapping[tuple[str, str], float] | None = None,
               seed_var_ref: float | None = None) -> pd.DataFrame:
    """One row per claimed ordering "``better`` has a lower NME than ``worse``", with the
    seed-aware interval, p-value and verdict of :mod:`sccnb.study.claims` (its rules:
    :data:`CLAIM_NOTES`), and the verdict adjusted by Holm over each ``family`` among these rows
    (:func:`adjust_families` re-adjusts over a family that spans several tables).

    ``paper_delta`` is the paper's NME(better) − NME(worse) in points (from ``paper_nme``, or
    ``paper_deltas`` for claims whose effect the paper states directly). ``family``: one name
    for every claim, or ``(better, worse) -> name``. ``design_mde``: ``(better, worse) ->`` the
    power plan's MDE at its most seeds, for claims below resolution by design
    (:mod:`sccnb.study.power`); with one seed they read so and show that MDE. ``seed_var_ref``:
    the study's typical seed variance, which caps each claim's degrees of freedom
    (:func:`sccnb.study.claims.compare_arms`). Claims whose arms have no runs (``missing="skip"``)
    are left out.
    """
    rows = []
    for better, worse, text in claims:
        if not runs.get(better) or not runs.get(worse):
            continue
        na, a = arm_matrix(runs[better], split, subset)
        nb, b = arm_matrix(runs[worse], split, subset)
        if na != nb:
            raise ValueError(f"{better} and {worse} were evaluated on different images")
        p = (paper_nme.get(better), paper_nme.get(worse))
        paper_delta = (paper_deltas or {}).get((better, worse),
                                                None if None in p else p[0] - p[1])
        r = claim_stats.compare_arms(a, b, paper_delta, seed_var_ref=seed_var_ref)
        design = (design_mde or {}).get((better, worse))
        verdict, mde = r.verdict, r.mde
        if design is not None and min(r.seeds_a, r.seeds_b) < claim_stats.MIN_SEEDS:
            verdict, mde = claim_stats.BY_DESIGN, design
        rows.append({"claim": text, "better": better, "worse": worse,
                     "paper_delta": paper_delta, "ours_delta": r.delta,
                     "ci95_low": r.ci_low, "ci95_high": r.ci_high,
                     "seeds": f"{r.seeds_a}/{r.seeds_b}", "seed_sd_better": r.seed_sd_a,
                     "seed_sd_worse": r.seed_sd_b, "mde": mde,
                     "converged": f"{converged_label(runs[better])} / "
                                  f"{converged_label(runs[worse])}",
                     "late_trend_delta": late_trend_mean(runs[better])
                     - late_trend_mean(runs[worse]),
                     "paper_delta_in_ci": _inside(paper_delta, r.ci_low, r.ci_high),
                     "verdict": verdict, "p": r.p,
                     "family": family if isinstance(family, str)
                     else family.get((better, worse), TABLE_FAMILY)})
    return adjust_families([pd.DataFrame(rows, columns=CLAIM_COLUMNS)])[0]


def adjust_families(frames: Sequence[pd.DataFrame]) -> list[pd.DataFrame]:
    """Holm-adjusted p (``p_holm``) and verdict (``verdict_adjusted``) for claim tables made by
    :func:`claim_rows`, each family adjusted over its claims in *all* ``frames`` together (the
    paper's claims on one data source span several tables). Returns new frames, same rows and
    ``attrs``."""
    frames = [f.copy() for f in frames]
    by_family: dict[str, list[tuple[int, int]]] = {}
    for k, f in enumerate(frames):
        for i, fam in enumerate(f["family"]):
            by_family.setdefault(fam, []).append((k, i))
    for f in frames:
        f["p_holm"] = pd.Series([None] * len(f), index=f.index, dtype=object)
        f["verdict_adjusted"] = f["verdict"]
    for members in by_family.values():
        ps = [_num(frames[k]["p"].iloc[i]) for k, i in members]
        for (k, i), adj in zip(members, claim_stats.holm(ps)):
            f = frames[k]
            row = f.index[i]
            f.at[row, "p_holm"] = adj
            f.at[row, "verdict_adjusted"] = claim_stats.adjusted_verdict(
                f.at[row, "verdict"], adj, float(f.at[row, "ours_delta"]),
                _num(f.at[row, "paper_delta"]), _num(f.at[row, "mde"]))
    for f in frames:
        f["p_holm"] = f["p_holm"].astype(float)
    return frames


def _num(value) -> float | None:
    """A table cell as a float, None when missing."""
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return None
    return float(value)


def _inside(value: float | None, low: float | None, high: float | None) -> str:
    """"yes"/"no": whether the paper's Δ lies in our interval ("—" without one of them). An
    inconclusive claim whose interval excludes the paper's Δ still says the paper's effect is
    not what these runs show."""
    if value is None or low is None or high is None or any(
            isinstance(v, float) and np.isnan(v) for v in (value, low, high)):
        return "—"
    return "yes" if low <= value <= high else "no"


def converged_label(runs: Sequence[Run]) -> str:
    """``"converged/all"`` runs of an arm by :func:`sccnb.training.evaluate.convergence`."""
    from ..training.evaluate import convergence

    flags = [convergence(r.history)["converged"] for r in runs]
    return f"{sum(bool(f) for f in flags)}/{len(flags)}"


def window_epochs(epochs: int) -> int:
    """Epochs in the convergence window of :func:`sccnb.training.evaluate.convergence` (its last 20
    %)."""
    from ..training.evaluate import CONVERGENCE_WINDOW

    return max(1, int(round(CONVERGENCE_WINDOW * epochs)))


def late_window(history: pd.DataFrame) -> pd.DataFrame:
    """The validation passes of a run's convergence window (:func:`window_epochs`)."""
    if "val_nme" not in history:
        return history.iloc[:0]
    return history.iloc[len(history) - window_epochs(len(history)):].dropna(subset=["val_nme"])


def late_trend(history: pd.DataFrame) -> float | None:
    """How much a run was still improving when it stopped: the least-squares slope of validation
    NME (points per epoch) over the convergence window of
    :func:`sccnb.training.evaluate.convergence` (the last 20 % of epochs), times the window's
    epochs. Negative: still improving.

    It complements the best-versus-best criterion, which compares the minimum of the window's
    epochs with the minimum of fewer epochs at the same learning rate and so, on a noisy plateau,
    reports a gain where there is no trend (:func:`sccnb.study.resolution.plateau_flag_rate`).
    None when the window has fewer than 3 validation passes."""
    late = late_window(history)
    if len(late) < 3:
        return None
    slope = np.polyfit(late["epoch"].to_numpy(float), 100 * late["val_nme"].to_numpy(float), 1)[0]
    return float(slope * window_epochs(len(history)))


def late_trend_mean(runs: Sequence[Run]) -> float:
    """:func:`late_trend` averaged over an arm's runs (NaN when none has one)."""
    values = [t for t in (late_trend(r.history) for r in runs) if t is not None]
    return float(np.mean(values)) if values else float("nan")


def plot_validation_curves(panels: Mapping[str, Mapping[str, Sequence[Run]]], title: str = ""):
    """Validation NME (%) against epoch, one panel per group of arms (e.g. per head): each seed
    a thin line, the arm's mean over seeds a thick one, and a dotted line where each arm's
    convergence window (:func:`window_epochs`) starts. The legend gives converged / all runs.
    The y-axis shows the second half of training, where convergence is decided. Returns the
    figure (a ``matplotlib.figure.Figure``; no pyplot state is touched)."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(5.2 * max(1, len(panels)), 3.8), layout="constrained")
    axes = fig.subplots(1, max(1, len(panels)), squeeze=False)[0]
    for ax, (panel, arms) in zip(axes, panels.items()):
        lows, highs = [], []
        for i, (label, runs) in enumerate(a for a in arms.items() if a[1]):
            curves = [r.history.dropna(subset=["val_nme"]).set_index("epoch")["val_nme"] * 100
                      for r in runs]
            for c in curves:
                ax.plot(c.index, c.values, color=f"C{i}", lw=0.6, alpha=0.45)
            mean = pd.concat(curves, axis=1).mean(axis=1)
            ax.plot(mean.index, mean.values, color=f"C{i}", lw=1.8,
                    label=f"{label} ({converged_label(runs)} converged)")
            n = len(runs[0].history)
            ax.axvline(n - window_epochs(n) - 0.5, color=f"C{i}", lw=0.9, ls=":")
            lows += [c[c.index >= n // 2].min() for c in curves]
            highs.append(mean[mean.index >= n // 2].quantile(0.9))
        if lows:
            pad = 0.15 * (max(highs) - min(lows))
            ax.set_ylim(min(lows) - pad, max(highs) + pad)
        ax.set_xlabel("epoch (dotted: start of each arm's convergence window)")
        ax.set_ylabel("validation NME (%)")
        ax.set_title(panel, fontsize=10)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    if title:
        fig.suptitle(title, fontsize=10)
    return fig


def dataset_label(setup: StudySetup, dataset: str) -> str:
    """How a table names its data: SynthFace is always flagged as not the paper's benchmark."""
    root = setup.config(dataset).data_root
    if not root:
        return f"SynthFace ({dataset} layout) — not the paper's benchmark"
    return f"{dataset} from {portable_path(root)}"


def table_provenance(setup: StudySetup, runs: Mapping[str, Sequence[Run]],
                     missing: Sequence[str] = (), **extra: Any) -> dict[str, Any]:
    """Provenance of a table or figure rendered from runs: the runs (ids) and, from their
    records, the code that trained them (``run_code``: the code fingerprints, ``run_commits``),
    the devices, epochs, input size, backbone and seeds; runs trained with other code than this
    checkout's (``stale_runs``) and planned runs not in the store (``missing_runs``).

    Nothing about the moment or the machine of rendering (time, device, commit, versions): the
    same runs render the same file, so a re-render with nothing new leaves ``git status``
    clean."""
    all_runs = [r for rs in runs.values() for r in rs]
    configs = [r.config for r in all_runs]
    trains = [c["train"] for c in configs]
    first = trains[0]
    stale = stale_runs(all_runs)
    return {
        "profile": setup.profile,
        "data": portable_path(first["data_root"]) or (
            f"SynthFace train={first['synth_train']} test={first['synth_test']} "
            f"size={first['synth_size']} seed={first['synth_seed']}"),
        "data_fingerprints": sorted({c["data"]["fingerprint"] for c in configs
                                     if c.get("data", {}).get("fingerprint")}),
        "epochs": sorted({t["epochs"] for t in trains}),
        "input_size": first["input_size"],
        "backbone": f"ResNet{first['depth']} width {first['width']}",
        "seeds": sorted({t["seed"] for t in trains}),
        "run_code": sorted({c["code"]["digest"] for c in configs
                            if c.get("code", {}).get("digest")}),
        "run_commits": sorted({c["provenance"]["commit"] for c in configs}),
        "run_devices": sorted({c["provenance"]["device"] for c in configs}),
        "runs": sorted({r.id for rs in runs.values() for r in rs}),
        "stale_runs": {r.id: reason for r, reason in stale},
        "missing_runs": list(missing),
        **extra,
    }


def ablation(setup: StudySetup, out_dir: str | Path, *, name: str, title: str,
             columns: Mapping[str, tuple[str, dict, float | None]],
             claims: Sequence[tuple[str, str, str]], dataset: str = "wflw",
             split: str | None = None, notes: Sequence[str] = (), need_weights: bool = False,
             seeds: Mapping[str, Sequence[int]] | None = None,
             paper_deltas: Mapping[tuple[str, str], float] | None = None,
             family: str | Mapping[tuple[str, str], str] = TABLE_FAMILY,
             design_mde: Mapping[tuple[str, str], float] | None = None,
             seed_var_ref: float | None = None, defer_claims: bool = False,
             ) -> tuple[pd.DataFrame, pd.DataFrame, dict[str, list[Run]]]:
    """The shared shape of Tables 5-8: one row per variant (paper NME beside ours), a mean-shape
    row, and a second table checking the paper's claimed orderings with seed-aware intervals.

    ``columns``: label -> (description, config changes, the paper's NME % or None).
    ``seeds``: per-variant seeds where they differ from the setup's. Writes ``<name>`` and
    ``<name>_claims``; returns both frames and the runs. ``split`` defaults to the dataset's
    first test split. The title gets the data's label appended (SynthFace is flagged as not the
    paper's benchmark). Variants without runs (``missing="skip"``) are left out and listed.
    ``family``/``design_mde``/``seed_var_ref``: as in :func:`claim_rows`. ``defer_claims``: do
    not write ``<name>_claims`` yet (the caller adjusts a family spanning several tables with
    :func:`adjust_families`, then calls :func:`write_claims`).
    """
    from ..data.datasets import test_splits

    split = split or test_splits(dataset)[0]
    before = len(setup.missing_runs)
    runs = setup.train({label: setup.config(dataset, **changes)
                        for label, (_, changes, _) in columns.items()}, need_weights, seeds)
    missing = setup.missing_runs[before:]
    rows = []
    for label, (desc, _, paper_nme) in columns.items():
        if not runs[label]:
            continue
        nme_m, nme_s = seed_mean(runs[label], split)
        fr_m, _ = seed_mean(runs[label], split, metric="fr")
        rows.append({"variant": label, "description": desc, "NME_paper": paper_nme,
                     "NME_ours": nme_m, "NME_ours_std": nme_s, "FR_ours": fr_m,
                     "seeds": len(runs[label]), "converged": converged_label(runs[label]),
                     "late_trend": late_trend_mean(runs[label])})
    found = {k: v for k, v in runs.items() if v}
    if not found:
        raise RuntimeError(f"{name}: no runs in the store for any variant "
                           f"(missing: {setup.missing_runs})")
    any_run = next(iter(found.values()))[0]
    base = any_run.metrics["splits"][split]["mean_shape_baseline"]["full"]
    rows.append({"variant": "mean-shape", "description": "mean training shape (no learning)",
                 "NME_paper": None, "NME_ours": 100 * base["nme"],
                 "NME_ours_std": float("nan"), "FR_ours": 100 * base["fr"], "seeds": 0,
                 "converged": "—", "late_trend": float("nan")})
    df = pd.DataFrame(rows)
    paper_nme = {label: col[2] for label, col in columns.items()}
    claim_df = claim_rows(claims, runs, paper_nme, split, paper_deltas=paper_deltas,
                          family=family, design_mde=design_mde, seed_var_ref=seed_var_ref)
    prov = table_provenance(setup, found, missing, table=name, dataset=dataset)
    title = f"{title} — {dataset_label(setup, dataset)}"
    all_notes = [f"Data: {dataset_label(setup, dataset)}; split '{split}'.",
                 f"Ours: profile '{setup.profile}' ({prov['backbone']}, {prov['input_size']}², "
                 f"epochs {prov['epochs']}, seeds {prov['seeds']}); NME_ours is the mean over "
                 "seeds, NME_ours_std their sample standard deviation (blank for one seed); "
                 + CONVERGENCE_NOTE,
                 *notes]
    write_table(df, out_dir, name, title=title, provenance=prov, notes=all_notes)
    claim_df.attrs["write"] = dict(
        out_dir=out_dir, name=f"{name}_claims", provenance=prov, notes=list(CLAIM_NOTES),
        title=f"{title.split(' — ')[0]} — the paper's orderings checked on our runs "
              "(Δ NME in points, seed-aware 95 % interval)")
    if not defer_claims:
        write_claims(claim_df)
    return df, claim_df, runs


def write_claims(claim_df: pd.DataFrame) -> None:
    """Write a claims table whose ``attrs["write"]`` holds where, title, provenance and notes (set
    by :func:`ablation`, the real-face Table 3 and Table 1). ``attrs`` survive
    :func:`adjust_families`, so a deferred table is written after its family is adjusted."""
    w = claim_df.attrs["write"]
    write_table(claim_df, w["out_dir"], w["name"], title=w["title"], provenance=w["provenance"],
                notes=w["notes"], digits={"p": 3, "p_holm": 3})
