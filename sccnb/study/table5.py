"""Table 5: component ablation on WFLW -- FC baseline -> graph network -> + attention multi-scale
features -> + Soft Wing -> without dynamic weighting -> the full model."""

from __future__ import annotations

from pathlib import Path

from . import paper
from .common import StudySetup, ablation

__all__ = ["COLUMNS", "CLAIMS", "run"]

# label -> (what the column is, config changes from the profile's full model, paper NME %)
COLUMNS = {
    "fc": ("backbone + FC head, L1", dict(head="fc", loss="l1"), paper.TABLE5["fc"]),
    "gn": ("graph network (GN), L1", dict(features="F5", loss="l1"), paper.TABLE5["gn"]),
    "gn+att": ("GN + attention multi-scale features, L1", dict(loss="l1"),
               paper.TABLE5["gn+att"]),
    "gn+softwing": ("GN + Soft Wing", dict(features="F5"), paper.TABLE5["gn+softwing"]),
    "gn+att+softwing-dw": ("GN + attention + Soft Wing, no dynamic weighting",
                           dict(dynamic=False), paper.TABLE5["gn+att+softwing-dw"]),
    "full": ("GN + attention + Soft Wing + dynamic weighting (full)", dict(),
             paper.TABLE5["full"]),
}
# (better, worse, claim): the orderings Table 5 implies
CLAIMS = [
    ("gn", "fc", "a graph network beats the FC head"),
    ("gn+att", "gn", "attention multi-scale features help"),
    ("gn+softwing", "gn", "Soft Wing beats L1 on the graph network"),
    ("full", "gn+att+softwing-dw", "dynamic weighting helps"),
    ("full", "fc", "the full model beats the FC baseline"),
]


def run(setup: StudySetup, out_dir: str | Path, dataset: str = "wflw"):
    """Train/load the six variants; write ``table5`` and ``table5_claims``."""
    return ablation(setup, out_dir, name="table5", columns=COLUMNS, claims=CLAIMS,
                    dataset=dataset,
                    title="Table 5 — component ablation, NME (%)")
