"""``python -m sccnb eval RUN``: a stored run re-evaluated on its test splits
(:func:`sccnb.evaluate.run`); with ``--data FORMAT PATH``, a stored or shipped model on your own
annotated faces, with the protocol's boxes or a detector's (:mod:`sccnb.evalfolder`)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pandas as pd
import torch

from .. import evaluate
from ..data.records import DataFormatError
from ..detect import DetectorUnavailable
from ..errors import ConfigError, UserError
from ..evalfolder import evaluate_folder
from ..runs import resolve_run

__all__ = ["add_arguments", "run"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The flags of both kinds of evaluation (:func:`sccnb.evaluate.add_arguments`)."""
    evaluate.add_arguments(parser)


def run(args: argparse.Namespace) -> int:
    if args.data is None:  # the run's own test splits
        return evaluate.run(args)
    if args.test_dataset is not None:
        raise ConfigError("--test-dataset applies only without --data (the run's own data "
                          "root); with --data the faces are those at PATH")
    return _run_folder(args, resolve_run(args.run, args.runs_root))


def _run_folder(args: argparse.Namespace, run_) -> int:
    """``eval RUN --data FORMAT PATH [--boxes ...] [--out DIR]``."""
    fmt, path = args.data
    device = ("cuda" if torch.cuda.is_available() else "cpu") if args.device == "auto" \
        else args.device
    out = Path(args.out or Path("results") / "eval" / f"{run_.id}_{fmt}_{Path(path).name}")
    try:
        result = evaluate_folder(run_, fmt, path, args.boxes or "protocol",
                                 args.detector or "dlib-hog", device, out, force=args.force)
    except UserError:
        raise  # its own one line
    except (DataFormatError, ValueError, FileNotFoundError, DetectorUnavailable) as err:
        raise SystemExit(f"eval: {err}") from None
    rows = []
    for kind, s in result["summary"].items():
        if kind == "refine_passes":
            continue
        rows.append({"boxes": kind + (f" ({s['refine']} passes)" if s.get("refine") else ""),
                     "faces": s.get("count", 0),
                     "NME %": 100 * s["nme"] if "nme" in s else float("nan"),
                     "FR@0.1 %": 100 * s["fr"] if "fr" in s else float("nan"),
                     "AUC@0.1": s.get("auc", float("nan")),
                     "detected": f"{s['detected']}/{s['faces']}" if "detected" in s else "all"})
    print(pd.DataFrame(rows).to_string(index=False, float_format=lambda v: f"{v:.3f}"))
    print(json.dumps({"run": str(run_.path), "out": str(out)}, indent=2))
    return 0
