"""``python -m sccnb synth``: generate SynthFace in the WFLW, 300-W, COFW and COFW-68 layouts.

Example::

    python -m sccnb synth --out data/synthface --train 2000 --test 500 --size 256 --seed 0

Generation is skipped when ``OUT/synthface.json`` already records the same parameters (use
``--force`` to regenerate). See :mod:`sccnb.data.synth.writer` for the files written. A folder
that synth did not create (no ``.sccnb-synthface`` marker) and that is not empty is refused,
so ``--out $DATA_ROOT`` cannot replace a real dataset; ``--force`` writes into it and keeps
what it held under synth's names, renamed.
"""

from __future__ import annotations

import argparse
import json

from . import at_least
from ..data.synth.writer import ensure_synthface

__all__ = ["add_arguments", "run"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", required=True, help="output folder (created if needed)")
    parser.add_argument("--train", type=at_least(1), default=7500,
                        help="number of training faces (default: 7500, as WFLW)")
    parser.add_argument("--test", type=at_least(1), default=2500,
                        help="number of test faces (default: 2500, as WFLW)")
    parser.add_argument("--size", type=at_least(32), default=256,
                        help="image side in pixels (at least 32)")
    parser.add_argument("--seed", type=at_least(0), default=0, help="data set seed")
    parser.add_argument("--workers", type=at_least(1), default=1,
                        help="generator processes (the output does not depend on it)")
    parser.add_argument("--force", action="store_true",
                        help="regenerate even if OUT/synthface.json matches, and write into a "
                        "folder synth did not create (what it holds is kept, renamed)")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")


def run(args: argparse.Namespace) -> int:
    out = ensure_synthface(args.out, args.train, args.test, args.size, args.seed,
                           workers=args.workers, force=args.force,
                           progress=not args.quiet)
    meta = json.loads((out / "synthface.json").read_text())
    rates = meta["attribute_rates"]["test" if args.test else "train"]
    print(f"SynthFace in {out}: {meta['counts']['train']} train / {meta['counts']['test']} "
          f"test faces, {meta['parameters']['size']} px, seed {meta['parameters']['seed']}")
    print("attribute rates: " + ", ".join(f"{k} {v:.2f}" for k, v in rates.items()))
    return 0
