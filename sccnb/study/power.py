"""Seeds planned by power analysis before training (issue 20): how many seeds each real-face claim
of the paper gets, and which claims this setup cannot see at any affordable seed count.

The rule, for every claim of the paper in :data:`sccnb.study.real300w.TABLES`:

* take the noise measured before the plan (:func:`plan_noise`): the seed sd of a typical arm
  (:func:`sccnb.study.resolution.robust_seed_sd`) and the median paired image variance, from the
  arms that had 3 seeds before the plan (:data:`PRE_PLAN`) -- a fixed set of committed runs, so
  the plan does not move as the runs it asks for land;
* find the fewest seeds per arm ``n`` in :data:`MIN_SEEDS`..:data:`MAX_SEEDS` at which the
  minimum detectable effect (:func:`sccnb.study.claims.mde`, α 0.05 two-sided, power 0.8, both arms
  with ``n`` seeds, the held-out faces) reaches the paper's |Δ|;
* when even :data:`MAX_SEEDS` leave the paper's |Δ| under the MDE, the claim is **below
  resolution by design**: it keeps one descriptive seed and its table shows the MDE at
  :data:`MAX_SEEDS` seeds. Seeds there would buy no verdict.

An arm serves several claims (the full model is in most of them), so it gets the most seeds any
of its claims needs; arms that had 3 seeds before the plan keep them. The seeds themselves are
written in :data:`sccnb.study.real300w.EVIDENCE`, and ``tests/test_power.py`` checks them
against this plan. Cost: each run's minutes from the stored runs' own per-epoch seconds
(:func:`sccnb.study.plan.regeneration_estimate`), each run counted once, at the first claim
that needs it.

A claim of ours that is not the paper's (a probe) has no paper |Δ| to plan for and is not in the
plan.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pandas as pd

from . import claims as claim_stats
from .claims import BY_DESIGN
from .common import StudySetup, table_provenance

__all__ = ["PRE_PLAN", "MIN_SEEDS", "MAX_SEEDS", "plan_noise", "seeds_needed", "plan",
           "design_mde", "write_plan", "format_plan"]

MIN_SEEDS, MAX_SEEDS = claim_stats.MIN_SEEDS, 6
# The arms with 3 seeds (0, 1, 2) before the plan, by EVIDENCE comparison: the plan's noise is
# measured on these runs only (each comparison's first arm paired with the others for the image
# variance, as in the resolution report).
PRE_PLAN = {"scc_vs_fc": ("SCC (full model)", "FC baseline (Soft Wing)"),
            "loss": ("softwing eps=0.5", "l1", "wing eps=0.5"),
            "attention": ("semantic", "self", "none"),
            "topk": ("k=3", "k=1", "k=10", "k=67")}
PRE_PLAN_SEEDS = (0, 1, 2)


def plan_noise(setup: StudySetup) -> dict:
    """``{"seed_sd", "image_sd", "images", "seed_arms", "image_pairs", "runs"}`` measured on the
    :data:`PRE_PLAN` runs (loaded, never trained). Raises if any is missing from the store."""
    from .real300w import EVIDENCE
    from .resolution import variance_components

    loader = dataclasses.replace(setup, missing="skip")
    loader.missing_runs = []
    arms, pairs = {}, []
    for comparison, labels in PRE_PLAN.items():
        changes = {label: ch for label, ch, _ in EVIDENCE[comparison]}
        keys = [f"{comparison}/{label}" for label in labels]
        arms.update(loader.train({k: loader.config("real300w", **changes[label])
                                  for k, label in zip(keys, labels)},
                                 seeds={k: PRE_PLAN_SEEDS for k in keys}))
        pairs += [(keys[0], other) for other in keys[1:]]
    if loader.missing_runs:
        raise FileNotFoundError(
            "the power plan's noise comes from the committed pre-plan runs, and "
            f"{len(loader.missing_runs)} are not in the store ({loader.missing_runs[0]}, ...): "
            "check out results/runs from the repository")
    vc = variance_components(arms, pairs, "heldout")
    return {"seed_sd": vc["seed_var_robust"] ** 0.5, "image_sd": vc["image_var"] ** 0.5,
            "images": vc["images"], "seed_arms": len(vc["seed_sd_by_arm"]),
            "image_pairs": vc["image_pairs"], "runs": arms}


def seeds_needed(effect: float, seed_sd: float, image_sd: float, images: int,
                 lo: int = MIN_SEEDS, hi: int = MAX_SEEDS) -> tuple[int | None, float]:
    """(the fewest seeds per arm in ``lo..hi`` whose MDE is ≤ ``|effect|``, that MDE), or
    (None, the MDE at ``hi``) when none is."""
    var_s, var_d = seed_sd ** 2, image_sd ** 2
    for n in range(lo, hi + 1):
        m = claim_stats.mde(var_s, var_s, var_d, n, n, images)
        if m <= abs(effect):
            return n, m
    return None, m


def plan(setup: StudySetup | None = None, noise: dict | None = None) -> pd.DataFrame:
    """One row per claim of the paper on real faces: the seeds the plan gives each arm, the MDE
    there, the status (resolvable, or below resolution by design), the seeds the evidence has
    (better/worse), the runs the claim adds (each run counted at the first claim that needs it),
    their cost in worker-minutes, and how many of them are not finished yet."""
    from ..training.runs import Run, default_runs_root, run_id
    from .plan import regeneration_estimate
    from .real300w import PAPER_FAMILY, TABLES, table_arms

    setup = setup or StudySetup(profile="real300w_cpu")
    noise = noise or plan_noise(setup)
    root = Path(setup.runs_root or default_runs_root())
    rows, seen, configs = [], set(), []
    for table, (paper_table, _, claims) in TABLES.items():
        arms = table_arms(table)
        for better, worse, text, delta, family in claims:
            if family != PAPER_FAMILY or delta is None:
                continue
            n, mde = seeds_needed(delta, noise["seed_sd"], noise["image_sd"], noise["images"])
            new = []
            for label in (better, worse):
                changes, seeds = arms[label]
                for seed in seeds:
                    cfg = dataclasses.replace(setup.config("real300w", **changes), seed=seed)
                    if cfg not in seen:
                        seen.add(cfg)
                        new.append(cfg)
            configs += new
            rows.append({"paper_table": paper_table, "table": table, "claim": text,
                         "better": better, "worse": worse, "paper_delta": delta,
                         "seeds_planned": n if n else 1, "mde_planned": mde,
                         "status": f"resolvable at {n} seeds" if n else BY_DESIGN,
                         "seeds_evidence": f"{len(arms[better][1])}/{len(arms[worse][1])}",
                         "runs": len(new), "_new": new})
    est = regeneration_estimate(configs, root, workers=1)
    minutes = est["per_run_min"]
    for row in rows:
        new = row.pop("_new")
        row["cost_worker_min"] = (sum(minutes[c.head] for c in new)
                                  if all(c.head in minutes for c in new) else None)
        row["not_finished"] = sum(not Run(root / run_id(c)).complete for c in new)
    df = pd.DataFrame(rows)
    df.attrs.update(noise={k: v for k, v in noise.items() if k != "runs"},
                    noise_runs=noise.get("runs"), configs=configs)
    return df


def design_mde(plan_df: pd.DataFrame) -> dict[tuple[str, str, str], float]:
    """``(table, better, worse) -> MDE at MAX_SEEDS`` for the claims below resolution by
    design (what their claims tables show)."""
    rows = plan_df[plan_df["status"] == BY_DESIGN]
    return {(r.table, r.better, r.worse): float(r.mde_planned) for r in rows.itertuples()}


def _notes(plan_df: pd.DataFrame) -> list[str]:
    nz = plan_df.attrs.get("noise", {})
    return [f"Noise measured before the plan (sccnb.study.power.plan_noise): seed sd of a "
            f"typical arm {nz.get('seed_sd', float('nan')):.3f} points "
            f"({nz.get('seed_arms')} arms with seeds 0-2), image sd "
            f"{nz.get('image_sd', float('nan')):.3f} ({nz.get('image_pairs')} paired "
            f"comparisons), {nz.get('images')} held-out faces.",
            f"seeds_planned: the fewest seeds per arm, {MIN_SEEDS} to {MAX_SEEDS}, whose MDE "
            f"(α 0.05 two-sided, power 0.8, sccnb.study.claims.mde) reaches the paper's |Δ|; "
            f"mde_planned: that MDE. '{BY_DESIGN}': even {MAX_SEEDS} seeds leave the paper's "
            f"|Δ| under the MDE (mde_planned is the MDE at {MAX_SEEDS}); the claim keeps one "
            "seed. seeds_evidence: seeds per arm in sccnb.study.real300w.EVIDENCE "
            "(better/worse; an arm gets the most any of its claims needs, and arms trained "
            "with 3 seeds before the plan keep them).",
            "runs: the runs this claim adds, each counted once at the first claim that needs "
            "it; cost_worker_min: their training time as one 1-thread worker (each head's 10th "
            "percentile of the stored runs' seconds per epoch, sccnb.study.plan."
            "regeneration_estimate); not_finished: those not yet in the store."]


def write_plan(plan_df: pd.DataFrame, setup: StudySetup, out_dir: str | Path) -> None:
    """Write ``tables/power_plan`` (csv, md, json) with the provenance of the noise runs."""
    from .report import write_table

    runs = plan_df.attrs.get("noise_runs") or {}
    prov = table_provenance(setup, {k: v for k, v in runs.items() if v}, table="power_plan",
                            dataset="real300w")
    write_table(plan_df, out_dir, "power_plan", provenance=prov, notes=_notes(plan_df),
                digits={"mde_planned": 3, "paper_delta": 2, "cost_worker_min": 0},
                title="Power plan — seeds per arm for each claim of the paper on real faces, "
                      "decided before training")


def format_plan(plan_df: pd.DataFrame, workers: int = 2) -> str:
    """The plan as text for ``runs --estimate``: one line per claim and the totals."""
    lines = [f"{'table':8} {'claim':48} {'paper Δ':>8} {'seeds':>5} {'MDE':>6}  "
             f"{'status':30} {'runs':>4} {'cost':>8} {'to do':>5}"]
    for r in plan_df.itertuples():
        cost = "—" if pd.isna(r.cost_worker_min) else f"{r.cost_worker_min:.0f} min"
        lines.append(f"{r.paper_table:8} {r.claim[:48]:48} {r.paper_delta:+8.2f} "
                     f"{r.seeds_planned:5d} {r.mde_planned:6.3f}  {r.status:30} {r.runs:4d} "
                     f"{cost:>8} {r.not_finished:5d}")
    total = plan_df["cost_worker_min"].sum()
    lines.append(f"{len(plan_df)} claims: "
                 f"{(plan_df['status'] != BY_DESIGN).sum()} resolvable, "
                 f"{(plan_df['status'] == BY_DESIGN).sum()} below resolution by design; "
                 f"{int(plan_df['runs'].sum())} runs, {total / 60:.1f} worker-hours "
                 f"(≈ {total / 60 / max(1, workers):.1f} h as {workers} workers), "
                 f"{int(plan_df['not_finished'].sum())} runs not finished")
    return "\n".join(lines)
