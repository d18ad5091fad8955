"""Table 6: self vs semantic-guided attention, and which feature maps feed the fusion.

The paper's Table 6 values match Table 5's L1 columns (semantic = "GN + att" = 4.53, {F5} =
"GN" = 4.64), so these variants use the L1 loss; {F5} and semantic/{F3,F4,F5} are the very same
runs as Table 5's.
"""

from __future__ import annotations

from pathlib import Path

from . import paper
from .common import StudySetup, ablation

__all__ = ["COLUMNS", "CLAIMS", "run"]

_A, _F = paper.TABLE6["attention"], paper.TABLE6["features"]
COLUMNS = {
    "self": ("self-attention (CBAM on the branch's own features)",
             dict(attention="self", loss="l1"), _A["self"]),
    "semantic": ("semantic-guided attention", dict(loss="l1"), _A["semantic"]),
    "F5": ("feature maps {F5}", dict(features="F5", loss="l1"), _F["F5"]),
    "F4F5": ("feature maps {F4, F5}", dict(features="F4F5", loss="l1"), _F["F4F5"]),
    "F3F4F5": ("feature maps {F3, F4, F5}", dict(features="F3F4F5", loss="l1"), _F["F3F4F5"]),
    "F2F3F4F5": ("feature maps {F2, F3, F4, F5}", dict(features="F2F3F4F5", loss="l1"),
                 _F["F2F3F4F5"]),
}
CLAIMS = [
    ("semantic", "self", "semantic-guided attention beats self-attention"),
    ("F3F4F5", "F5", "{F3,F4,F5} beats {F5}"),
    ("F3F4F5", "F4F5", "{F3,F4,F5} beats {F4,F5}"),
    ("F3F4F5", "F2F3F4F5", "{F3,F4,F5} beats {F2,...,F5}"),
]


def run(setup: StudySetup, out_dir: str | Path, dataset: str = "wflw", need_weights=False):
    """Train/load the variants; write ``table6`` and ``table6_claims``."""
    return ablation(setup, out_dir, name="table6", columns=COLUMNS, claims=CLAIMS,
                    dataset=dataset, need_weights=need_weights,
                    title="Table 6 — attention and feature-map ablation, NME (%)",
                    notes=["All variants use the L1 loss, as the paper's values imply "
                           "(semantic/{F3,F4,F5} = Table 5's GN + att; {F5} = Table 5's GN)."])
