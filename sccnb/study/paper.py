"""The paper's reported numbers -- the one place they live.

Source: Zhu et al., "Fast and Accurate: Structure Coherence Component for Face Alignment",
ECCV 2020 (arXiv 2006.11697), text in ``shared/paper/scc_face_alignment_eccv2020.txt``.
Every value here is the paper's, typed from that text; tables show them beside ours in columns
labelled "paper". Where the source text is not legible (part of Table 1's AUC row is garbled in
our copy) the value is ``None`` rather than a guess.

NMEs and FRs are in percent, as printed in the paper; AUC is a fraction.
"""

from __future__ import annotations

__all__ = ["TABLE1", "TABLE2", "TABLE3", "TABLE4", "TABLE5", "TABLE6", "TABLE7", "TABLE8",
           "CLAIMS", "WFLW_SUBSETS"]

WFLW_SUBSETS = ("full", "largepose", "expression", "illumination", "makeup", "occlusion", "blur")

# Table 1: WFLW, SCC ("Ours") row. NME (%) inter-ocular, FR@0.1 (%), AUC@0.1.
TABLE1 = {
    "nme": dict(zip(WFLW_SUBSETS, (4.40, 7.52, 4.65, 4.31, 4.36, 5.23, 5.04))),
    "fr": dict(zip(WFLW_SUBSETS, (2.88, 13.80, 2.55, 2.29, 2.43, 5.98, 4.14))),
    # Full-set AUC from Sec. 4.3's text ("0.5666 AUC"); the subset AUCs are garbled in our copy.
    "auc": dict(zip(WFLW_SUBSETS, (0.5666, None, None, None, None, None, None))),
}

# Table 2: COFW (29 points, trained on COFW) and COFW-68 (trained on 300-W). NME %, FR@0.1 %.
TABLE2 = {
    "cofw": {"nme": 3.63, "fr": 0.0},
    "cofw68": {"nme": 4.18, "fr": 0.0},
}

# Table 3: 300-W, NME (%) inter-ocular.
TABLE3 = {"common": 2.88, "challenging": 4.93, "full": 3.28}

# Table 4: efficiency at 256 x 256, 98 landmarks. Runtime measured on a GTX 1080 Ti.
TABLE4 = {
    "scc": {"params_m": 24.68, "gmacs": 5.165, "runtime_ms": 23.0, "device": "GTX 1080 Ti"},
    # The paper's Wing [14] row (a ResNet-50 based regressor), kept for context only.
    "wing": {"params_m": 24.75, "gmacs": 5.396, "runtime_ms": 30.0, "device": "GTX 1080 Ti"},
}
# The paper calls the counts "FLOPS (G)"; 5.165 G matches multiply-accumulates of ResNet34 plus
# the SCC head at 256 x 256, so we compare them with multiply-adds (flop_counter's FLOPs / 2).

# Table 5: component ablation on WFLW, NME (%). Keys name the columns left to right.
TABLE5 = {
    "fc": 5.95,  # ResNet34 + FC, L1 loss
    "gn": 4.64,  # graph network, L1
    "gn+att": 4.53,  # + attention-guided multi-scale features, L1
    "gn+softwing": 4.52,  # graph network + Soft Wing, no attention
    "gn+att+softwing-dw": 4.47,  # full model without dynamic weighting
    "full": 4.40,  # graph network + attention + Soft Wing (+ dynamic weighting)
}

# Table 6: attention and feature-set ablations on WFLW, NME (%), L1 loss (the values match
# Table 5's "gn+att" = 4.53 and "gn" = 4.64 columns).
TABLE6 = {
    "attention": {"self": 4.61, "semantic": 4.53},
    "features": {"F5": 4.64, "F4F5": 4.57, "F3F4F5": 4.53, "F2F3F4F5": 4.56},
}

# Table 7 / Fig. 7: top-k neighbours on WFLW, NME (%); k = 97 = N - 1 is the dense graph.
TABLE7 = {1: 4.44, 2: 4.43, 3: 4.40, 4: 4.46, 5: 4.50, 10: 4.59, 20: 4.69, 40: 4.71, 97: 4.75}

# Table 8: losses on the FC baseline (WFLW), NME (%) by epsilon. L1 has no epsilon.
TABLE8 = {
    "l1": 5.95,
    "wing": {0.1: 6.52, 0.2: 5.98, 0.5: 5.81, 1.0: 5.78, 1.5: 5.75, 2.0: 5.72},
    "softwing": {0.1: 5.70, 0.2: 5.66, 0.5: 5.67, 1.0: 5.71, 1.5: 5.70, 2.0: 5.71},
}

# The orderings the paper claims from its ablations (checked against ours in each table).
CLAIMS = {
    "table5": "each component lowers NME: FC > GN > GN+att > full; dynamic weighting helps",
    "table6": "semantic-guided attention beats self-attention; {F3,F4,F5} is the best set",
    "table7": "k = 3 is best; too sparse or too dense graphs are worse",
    "table8": "Soft Wing beats Wing at every epsilon and beats L1; Wing degrades as eps shrinks",
    "fig1": "under progressive occlusion the graph head degrades less than the FC head",
}
