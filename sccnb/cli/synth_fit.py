"""The `synth-fit` command: re-fit SynthFace's shape model from the real WFLW test subset lists.

    python -m sccnb synth-fit [--lists ../shared/data/wflw_annotations/list_98pt_test]
                              [--out sccnb/data/synth/shape_model.npz]

Writes the model (.npz, a few KB) and its provenance note (.json beside it). The lists
themselves are never copied into the repository. Method: :mod:`sccnb.data.synth.shape_model`.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from ..data.synth.shape_model import DEFAULT_MODEL_PATH, fit_shape_model, save_shape_model
from ..provenance import REPO_ROOT

DEFAULT_LISTS = REPO_ROOT.parent / "shared" / "data" / "wflw_annotations" / "list_98pt_test"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--lists", type=Path, default=DEFAULT_LISTS,
                        help="folder holding list_98pt_test_*.txt")
    parser.add_argument("--out", type=Path, default=DEFAULT_MODEL_PATH, help="model .npz path")


def run(args: argparse.Namespace) -> int:
    model = fit_shape_model(args.lists)
    path = save_shape_model(model, args.out)
    prov = model.provenance
    print(f"wrote {path} and {path.with_suffix('.json')}: {prov['distinct_faces']} faces "
          f"({prov['source_lines']} lines), {prov['num_modes']} modes, "
          f"{100 * prov['variance_kept']:.1f}% of the residual variance")
    return 0
