"""What reproduces on real faces: the real-face study rendered whole (``make real300w``).

Every real-face table of :mod:`sccnb.study.real300w` with its claims, the claims adjusted over
their families *across* tables, the power plan that set their seeds (:mod:`sccnb.study.power`)
and the verdict figure.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from . import power, real300w
from .claims import forest_plot
from .common import StudySetup, adjust_families, write_claims
from .report import save_figure

__all__ = ["render"]


def render(setup: StudySetup, out_dir: str | Path, with_detector: bool = True,
           ablation_tables: bool = True) -> dict[str, pd.DataFrame]:
    """Every real-face table with its claims, the claims adjusted over their families *across*
    tables, the power plan (``power_plan``; skipped, saying so, where the profile's pre-plan
    runs are not in the store, e.g. at smoke size) and the verdict figure
    (``figures/verdicts``): what ``make real300w`` renders. Returns the claim tables by name."""
    try:
        plan = power.plan(setup)
    except FileNotFoundError as exc:  # another profile or data: no pre-plan runs to plan from
        print(f"power plan skipped: {exc}")
        design, ref = {}, None
    else:
        power.write_plan(plan, setup, out_dir)
        design = power.design_mde(plan)
        ref = plan.attrs["noise"]["seed_sd"] ** 2  # caps each claim's ν (sccnb.study.claims)
    frames = {"table3_real300w": real300w.run(setup, out_dir, with_detector, design, True,
                                              ref)[1]}
    if ablation_tables:
        frames.update(real300w.ablations(setup, out_dir, design, True, ref))
    names = [n for n in real300w.TABLES if n in frames]
    frames = dict(zip(names, adjust_families([frames[n] for n in names])))
    for claims in frames.values():
        write_claims(claims)
    fig = forest_plot({f"{real300w.TABLES[n][0]} — {real300w.SHORT_NAMES[n]}": f
                       for n, f in frames.items()},
                      title=f"What reproduces on real 300-W faces (profile {setup.profile}): "
                            "Δ NME = better − worse, points")
    save_figure(fig, out_dir, "verdicts")
    return frames
