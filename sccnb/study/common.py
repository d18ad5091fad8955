"""What every table shares: configs from a profile, training (or loading) the runs, averaging
over seeds, paired bootstrap comparisons for the paper's claimed orderings, and provenance."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..metrics import paired_bootstrap, summarise
from ..provenance import provenance
from ..report import write_table
from ..runs import Run
from ..train import TrainConfig, ensure_runs, resolve_config

__all__ = ["StudySetup", "split_nmes", "metric_value", "seed_mean", "per_image_nme",
           "claim_rows", "dataset_label", "table_provenance", "pm", "ablation"]

# parallel training processes per profile (the CPU profiles train with 1 thread each: on 2
# cores two 1-thread runs side by side finish sooner than two 2-thread runs one after another)
_WORKERS = {"cpu": 2, "real300w_cpu": 2}


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

    def config(self, dataset: str = "wflw", **changes: Any) -> TrainConfig:
        """The profile's config for ``dataset`` with ``changes`` (one table variant)."""
        base = {"dataset": dataset, "device": self.device, **dict(self.overrides)}
        if self.data_root:
            base["data_root"] = self.data_root
        return resolve_config(self.profile, **{**base, **changes})

    def train(self, variants: Mapping[str, TrainConfig], need_weights: bool = False
              ) -> dict[str, list[Run]]:
        """Ensure every variant x seed is trained (loading the runs that exist)."""
        workers = self.workers or _WORKERS.get(self.profile, 1)
        if not self.workers and self.profile in ("gpu", "paper", "real300w"):
            import torch

            workers = max(1, torch.cuda.device_count())  # one run per GPU
        labels, configs = [], []
        for label, cfg in variants.items():
            for seed in self.seeds:
                labels.append(label)
                configs.append(dataclasses.replace(cfg, seed=int(seed)))
        runs = ensure_runs(configs, self.runs_root, workers=workers, need_weights=need_weights)
        out: dict[str, list[Run]] = {label: [] for label in variants}
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
    """Mean and standard deviation over seeds of a metric (NME / FR in %, AUC as a fraction);
    the deviation is NaN for a single seed."""
    values = [metric_value(split_nmes(r, split, subset), metric) for r in runs]
    return float(np.mean(values)), float(np.std(values)) if len(values) > 1 else float("nan")


def pm(mean: float, std: float, digits: int = 2) -> str:
    """``"4.40 ± 0.03"``, or just the mean for one seed."""
    if np.isnan(std):
        return f"{mean:.{digits}f}"
    return f"{mean:.{digits}f} ± {std:.{digits}f}"


def claim_rows(claims: Sequence[tuple[str, str, str]], runs: Mapping[str, Sequence[Run]],
               paper_nme: Mapping[str, float], split: str, subset: str = "full",
               seed: int = 0) -> pd.DataFrame:
    """One row per claimed ordering "``better`` has a lower NME than ``worse``".

    ``paper_delta`` is the paper's NME(better) - NME(worse) in %; ``ours_delta`` ours, with a 95 %
    paired bootstrap interval over test images (NMEs averaged over seeds first). The verdict:
    "agrees" when the whole interval is below 0, "disagrees" when it is above 0, otherwise
    "inconclusive".
    """
    rows = []
    for better, worse, text in claims:
        a, b = per_image_nme(runs[better], split), per_image_nme(runs[worse], split)
        if list(a["name"]) != list(b["name"]):
            raise ValueError(f"{better} and {worse} were evaluated on different images")
        if subset != "full":
            keep = a[subset].astype(bool).to_numpy()
            a, b = a[keep], b[keep]
        boot = paired_bootstrap(a["nme"].to_numpy(), b["nme"].to_numpy(), seed=seed)
        lo, hi = 100 * boot["ci_low"], 100 * boot["ci_high"]
        verdict = "agrees" if hi < 0 else ("disagrees" if lo > 0 else "inconclusive")
        p = (paper_nme.get(better), paper_nme.get(worse))
        rows.append({"claim": text, "better": better, "worse": worse,
                     "paper_delta": None if None in p else p[0] - p[1],
                     "ours_delta": 100 * boot["diff"], "ci95_low": lo, "ci95_high": hi,
                     "p_better": boot["p_a_better"], "verdict": verdict})
    return pd.DataFrame(rows)


def dataset_label(setup: StudySetup, dataset: str) -> str:
    """How a table names its data: SynthFace is always flagged as not the paper's benchmark."""
    root = setup.config(dataset).data_root
    if not root:
        return f"SynthFace ({dataset} layout) — not the paper's benchmark"
    return f"{dataset} from {root}"


def table_provenance(setup: StudySetup, runs: Mapping[str, Sequence[Run]], **extra: Any
                     ) -> dict[str, Any]:
    """Provenance of a table: the table-making commit and device plus, from the runs, the
    commits and devices that trained them, the epochs, input size, backbone, seeds."""
    configs = [r.config for rs in runs.values() for r in rs]
    trains = [c["train"] for c in configs]
    first = trains[0]
    return provenance(
        setup.device if setup.device != "auto" else None,
        profile=setup.profile,
        data=first["data_root"] or (f"SynthFace train={first['synth_train']} "
                                    f"test={first['synth_test']} size={first['synth_size']} "
                                    f"seed={first['synth_seed']}"),
        epochs=sorted({t["epochs"] for t in trains}),
        input_size=first["input_size"],
        backbone=f"ResNet{first['depth']} width {first['width']}",
        seeds=sorted({t["seed"] for t in trains}),
        run_commits=sorted({c["provenance"]["commit"] for c in configs}),
        run_devices=sorted({c["provenance"]["device"] for c in configs}),
        runs=sorted({r.id for rs in runs.values() for r in rs}),
        **extra,
    )


def ablation(setup: StudySetup, out_dir: str | Path, *, name: str, title: str,
             columns: Mapping[str, tuple[str, dict, float | None]],
             claims: Sequence[tuple[str, str, str]], dataset: str = "wflw",
             split: str | None = None, notes: Sequence[str] = (), need_weights: bool = False
             ) -> tuple[pd.DataFrame, pd.DataFrame, dict[str, list[Run]]]:
    """The shared shape of Tables 5-8: one row per variant (paper NME beside ours), a mean-shape
    row, and a second table checking the paper's claimed orderings.

    ``columns``: label -> (description, config changes, the paper's NME % or None).
    Writes ``<name>`` and ``<name>_claims``; returns both frames and the runs. ``split``
    defaults to the dataset's first test split. The title gets the data's label appended
    (SynthFace is flagged as not the paper's benchmark).
    """
    from ..data.datasets import test_splits

    split = split or test_splits(dataset)[0]
    runs = setup.train({label: setup.config(dataset, **changes)
                        for label, (_, changes, _) in columns.items()}, need_weights)
    rows = []
    for label, (desc, _, paper_nme) in columns.items():
        nme_m, nme_s = seed_mean(runs[label], split)
        fr_m, _ = seed_mean(runs[label], split, metric="fr")
        rows.append({"variant": label, "description": desc, "NME_paper": paper_nme,
                     "NME_ours": nme_m, "NME_ours_std": nme_s, "FR_ours": fr_m,
                     "seeds": len(runs[label])})
    any_run = next(iter(runs.values()))[0]
    base = any_run.metrics["splits"][split]["mean_shape_baseline"]["full"]
    rows.append({"variant": "mean-shape", "description": "mean training shape (no learning)",
                 "NME_paper": None, "NME_ours": 100 * base["nme"],
                 "NME_ours_std": float("nan"), "FR_ours": 100 * base["fr"], "seeds": 0})
    df = pd.DataFrame(rows)
    paper_nme = {label: col[2] for label, col in columns.items()}
    claim_df = claim_rows(claims, runs, paper_nme, split)
    prov = table_provenance(setup, runs, table=name, dataset=dataset)
    title = f"{title} — {dataset_label(setup, dataset)}"
    all_notes = [f"Data: {dataset_label(setup, dataset)}; split '{split}'.",
                 f"Ours: profile '{setup.profile}' ({prov['backbone']}, {prov['input_size']}², "
                 f"epochs {prov['epochs']}, seeds {prov['seeds']}); NME_ours is the mean over "
                 "seeds, NME_ours_std their standard deviation (blank for one seed).",
                 *notes]
    write_table(df, out_dir, name, title=title, provenance=prov, notes=all_notes)
    write_table(claim_df, out_dir, f"{name}_claims",
                title=f"{title.split(' — ')[0]} — the paper's orderings checked on our runs "
                "(Δ NME in %, paired bootstrap 95 % CI over test images)",
                provenance=prov,
                notes=["A claim 'A beats B' agrees when the CI of NME(A) − NME(B) lies below "
                       "0, disagrees when it lies above 0, and is inconclusive otherwise."])
    return df, claim_df, runs
