"""Tables 1-3: the full model (and, for context, the FC baseline and the mean shape) on the
benchmarks' test splits, with the paper's numbers beside ours.

Each table's CSV is long and numeric (one row per method x metric x subset: ``value``,
``std`` over seeds, ``paper``); its Markdown shows the familiar wide layout.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from ..training.config import config_from_json
from ..training.evaluate import evaluate_run
from . import paper
from .common import StudySetup, dataset_label, metric_value, pm, seed_mean, table_provenance
from .report import write_table

__all__ = ["table1", "table2", "table3", "METHODS", "HEADLINE_SEEDS", "table1_seeds"]

# method label -> config changes from the profile's full model
METHODS = {"SCC (full model)": {}, "FC baseline (L1)": dict(head="fc", loss="l1")}
# Table 1's headline (the full model against the FC baseline on WFLW) is a claim of the paper
# (Table 5: 4.40 vs 5.95) that SynthFace can resolve (seed sd 0.45, MDE 1.38 at 3 seeds, the
# resolution report): it gets 3 seeds, so that it has a verdict (issue 20)
HEADLINE_SEEDS = (0, 1, 2)
SYNTH_FAMILY = "the paper's claims, SynthFace"


def table1_seeds(setup: StudySetup) -> tuple[int, ...]:
    """Table 1's seeds: the setup's and :data:`HEADLINE_SEEDS`."""
    return tuple(sorted({*map(int, setup.seeds), *HEADLINE_SEEDS}))
_METRIC_LABEL = {"nme": "NME (%)", "fr": "FR@0.1 (%)", "auc": "AUC@0.1"}


def _long_rows(column: str, runs: dict, where: list[tuple[str, str, str]], metrics: tuple,
               paper_values: dict, baseline_run=None) -> list[dict]:
    """Long rows: for every metric and (column label, split, subset), the paper value, each
    method's mean and std over seeds, and the mean shape's value."""
    rows = []
    for metric in metrics:
        for label, split, subset in where:
            ref = paper_values.get((metric, label))
            for method, rs in runs.items():
                mean, std = seed_mean(rs, split, subset, metric)
                rows.append({"table_column": column, "metric": metric, "subset": label,
                             "method": method, "value": mean, "std": std, "seeds": len(rs),
                             "paper": ref if method.startswith("SCC") else None})
            if baseline_run is not None:
                base = _mean_shape(baseline_run, split, subset)
                if base is not None:
                    rows.append({"table_column": column, "metric": metric, "subset": label,
                                 "method": "mean shape", "value": metric_value(base, metric),
                                 "std": np.nan, "seeds": 0, "paper": None})
    return rows


def _mean_shape(run, split: str, subset: str) -> pd.Series | None:
    """Per-image NMEs of the mean-shape baseline, recomputed from the saved predictions."""
    key = "300w_full" if split == "300w_full" else split
    keys = ["common", "challenging"] if key == "300w_full" else [key]
    parts = []
    for k in keys:
        path = run.path / f"mean_shape_{k}.csv"
        if not path.exists():
            return None
        df = pd.read_csv(path)
        parts.append(df["nme"] if subset == "full" else df.loc[df[subset].astype(bool), "nme"])
    return pd.concat(parts)


def _wide(long: pd.DataFrame, digits: dict[str, int]) -> pd.DataFrame:
    """The Markdown view: rows = metric x method (paper first), columns = subsets."""
    out = []
    for metric in dict.fromkeys(long["metric"]):
        part = long[long["metric"] == metric]
        d = digits.get(metric, 2)
        subsets = list(dict.fromkeys(part["subset"]))
        paper_row = {s: part[(part["subset"] == s)]["paper"].dropna() for s in subsets}
        if any(len(v) for v in paper_row.values()):
            out.append({"metric": _METRIC_LABEL[metric], "method": "SCC — paper",
                        **{s: (f"{v.iloc[0]:.{d}f}" if len(v) else "—")
                           for s, v in paper_row.items()}})
        for method in dict.fromkeys(part["method"]):
            rows = part[part["method"] == method].set_index("subset")
            out.append({"metric": _METRIC_LABEL[metric], "method": f"{method} — ours",
                        **{s: pm(rows.loc[s, "value"], rows.loc[s, "std"], d)
                           if s in rows.index else "—" for s in subsets}})
    return pd.DataFrame(out)


def _notes(setup: StudySetup, prov: dict) -> str:
    return (f"Ours: profile '{setup.profile}' ({prov['backbone']}, {prov['input_size']}², "
            f"epochs {prov['epochs']}, seeds {prov['seeds']}); mean ± std over seeds where "
            "more than one.")


def table1(setup: StudySetup, out_dir: str | Path) -> pd.DataFrame:
    """Table 1: WFLW full test set and its six subsets: NME, FR@0.1, AUC@0.1 (mean over
    :func:`table1_seeds`); and ``table1_claims``, the headline "SCC beats the FC baseline"
    with its seed-aware interval and verdict."""
    seeds = table1_seeds(setup)
    runs = setup.train({m: setup.config("wflw", **c) for m, c in METHODS.items()},
                       seeds={m: seeds for m in METHODS})
    where = [(s, "test", s) for s in paper.WFLW_SUBSETS]
    ref = {(metric, s): paper.TABLE1[metric][s] for metric in paper.TABLE1
           for s in paper.WFLW_SUBSETS}
    long = pd.DataFrame(_long_rows("wflw", runs, where, ("nme", "fr", "auc"), ref,
                                   runs["SCC (full model)"][0]))
    prov = table_provenance(setup, runs, table="table1", dataset="wflw")
    write_table(long, out_dir, "table1", provenance=prov,
                display=_wide(long, {"auc": 4}),
                title=f"Table 1 — {dataset_label(setup, 'wflw')}: NME, FR@0.1, AUC@0.1",
                notes=[_notes(setup, prov),
                       "NME normalised by the outer-eye-corner distance (60/72). AUC: the CED "
                       "integrated on [0, 0.1] in steps of 1e-4 (Simpson), / 0.1.",
                       "The paper's subset AUCs are illegible in our copy of its text (—)."])
    from .common import CLAIM_NOTES, claim_rows, write_claims

    claims = claim_rows([("SCC (full model)", "FC baseline (L1)",
                          "the full model beats the FC baseline (L1), full test set")], runs, {},
                        "test", paper_deltas={("SCC (full model)", "FC baseline (L1)"):
                                              paper.TABLE5["full"] - paper.TABLE5["fc"]},
                        family=SYNTH_FAMILY)
    claims.attrs["write"] = dict(
        out_dir=out_dir, name="table1_claims", provenance=prov,
        title=f"Table 1 — {dataset_label(setup, 'wflw')}: the headline claim "
              "(Δ NME in points, seed-aware 95 % interval)",
        notes=[*CLAIM_NOTES,
                       "The paper's Δ: its Table 5, full model (4.40) minus ResNet34 + FC with L1 "
                       "(5.95), on WFLW. Ours: SynthFace in the WFLW layout, "
               f"{len(seeds)} seeds per arm. The only claim of this family (SynthFace) "
               "with an interval, so Holm changes nothing."])
    write_claims(claims)
    return long


def _cross_dataset(run, test_dataset: str) -> None:
    """Evaluate a run on another dataset once (needs its weights)."""
    if not (run.path / f"predictions_{test_dataset}_test.csv").exists():
        evaluate_run(run, config_from_json(run.config["train"]), test_dataset=test_dataset)


def table2(setup: StudySetup, out_dir: str | Path) -> pd.DataFrame:
    """Table 2: COFW (29 points, trained on COFW) and COFW-68 (trained on 300-W)."""
    cofw = setup.train({m: setup.config("cofw", **c) for m, c in METHODS.items()})
    w300_variants = {m: setup.config("300w", **c) for m, c in METHODS.items()}
    w300 = setup.train(w300_variants)
    if not all((r.path / "predictions_cofw68_test.csv").exists()
               for rs in w300.values() for r in rs):  # not yet evaluated: needs the weights
        w300 = setup.train(w300_variants, need_weights=True)
    for rs in w300.values():
        for r in rs:
            _cross_dataset(r, "cofw68")
    ref_cofw = {(m, "COFW"): paper.TABLE2["cofw"][m] for m in ("nme", "fr")}
    ref_68 = {(m, "COFW-68"): paper.TABLE2["cofw68"][m] for m in ("nme", "fr")}
    long = pd.DataFrame(
        _long_rows("cofw", cofw, [("COFW", "test", "full")], ("nme", "fr"), ref_cofw,
                   cofw["SCC (full model)"][0])
        + _long_rows("cofw68", w300, [("COFW-68", "cofw68_test", "full")], ("nme", "fr"),
                     ref_68, w300["SCC (full model)"][0]))
    prov = table_provenance(setup, {**{f"cofw {k}": v for k, v in cofw.items()},
                                    **{f"300w {k}": v for k, v in w300.items()}},
                            table="table2", dataset="cofw; 300w -> cofw68")
    write_table(long, out_dir, "table2", provenance=prov, display=_wide(long, {}),
                title=f"Table 2 — COFW and cross-dataset COFW-68 "
                f"({dataset_label(setup, 'cofw')})",
                notes=["COFW: trained and tested on COFW's 29 points, NME normalised by points "
                       "8/9 (outer eye corners, as HRNet, PIPNet and the SCC code do).",
                       "COFW-68: the 68-point model trained on 300-W, tested on the COFW test "
                       "faces annotated with 68 points; NME normalised by points 36/45.",
                       _notes(setup, prov)])
    return long


def table3(setup: StudySetup, out_dir: str | Path) -> pd.DataFrame:
    """Table 3: 300-W common, challenging and full sets (NME %)."""
    runs = setup.train({m: setup.config("300w", **c) for m, c in METHODS.items()})
    where = [("common", "common", "full"), ("challenging", "challenging", "full"),
             ("full", "300w_full", "full")]
    ref = {("nme", k): paper.TABLE3[k] for k in ("common", "challenging", "full")}
    long = pd.DataFrame(_long_rows("300w", runs, where, ("nme", "fr"), ref,
                                   runs["SCC (full model)"][0]))
    prov = table_provenance(setup, runs, table="table3", dataset="300w")
    write_table(long, out_dir, "table3", provenance=prov, display=_wide(long, {}),
                title=f"Table 3 — 300-W NME and FR@0.1 ({dataset_label(setup, '300w')})",
                notes=["NME normalised by the outer eye corners (36/45). Full = common and "
                       "challenging pooled per image. The paper reports no FR for 300-W.",
                       _notes(setup, prov)])
    return long
