"""``python -m sccnb eval RUN``: a stored run re-evaluated on its test splits
(:func:`sccnb.training.evaluate.evaluate_run`); with ``--data FORMAT PATH``, a stored or shipped
model on your own annotated faces, with the protocol's boxes or a detector's
(:mod:`sccnb.inference.evalfolder`)."""

from __future__ import annotations

import argparse
import dataclasses
import json
from pathlib import Path

import pandas as pd
import torch

from ..data.datasets import DATASETS
from ..data.prepare import prepare_data
from ..data.records import DataFormatError
from ..errors import ConfigError, UserError
from ..inference.detect import DetectorUnavailable
from ..inference.evalfolder import evaluate_folder
from ..training.evaluate import evaluate_crops, evaluate_run, summarise_table
from ..training.runs import Run, default_runs_root, resolve_run

__all__ = ["add_arguments", "run"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The flags of both kinds of evaluation."""
    parser.add_argument("run", help="run id (under results/runs) or a run folder; with --data "
                        "also a shipped model's name (real300w-scc, real300w-fc)")
    parser.add_argument("--data", nargs=2, metavar=("FORMAT", "PATH"), default=None,
                        help="evaluate on your own annotated faces instead: 300w FOLDER (.pts + "
                        "images), wflw LIST (or a WFLW root), cofw FILE.mat "
                        "(sccnb.inference.evalfolder)")
    parser.add_argument("--boxes", default=None, choices=("protocol", "detector", "both"),
                        help="with --data: crop on the protocol's boxes (default), on the "
                        "detector's (calibrated to the run's training boxes), or both")
    parser.add_argument("--detector", default=None,
                        help="with --data --boxes detector (default dlib-hog)")
    parser.add_argument("--out", default=None, help="with --data: output folder (default "
                        "results/eval/<run>_<format>_<folder>)")
    parser.add_argument("--force", action="store_true",
                        help="with --data: write into --out even where it holds files of the "
                        "output names that sccnb did not write (they are kept, renamed)")
    parser.add_argument("--test-dataset", default=None, choices=sorted(DATASETS),
                        help="evaluate on another dataset of the same data root (e.g. cofw68 "
                        "for a 300w run)")
    parser.add_argument("--runs-root", default=None)
    parser.add_argument("--device", default="auto")


def run(args: argparse.Namespace) -> int:
    if args.data is None:  # the run's own test splits
        return _run_stored(args)
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


def _run_stored(args: argparse.Namespace) -> int:
    """``eval RUN`` without ``--data``: re-evaluate the run on its test splits (written to the
    run folder with its own weights; printed only with committed half-precision weights)."""
    from ..errors import ConfigError, NotFound, resolve_device

    folder_only = [f for f, v in (("--boxes", args.boxes), ("--detector", args.detector),
                                  ("--out", args.out), ("--force", args.force)) if v]
    if folder_only:  # they would be ignored, and the run re-evaluated
        raise ConfigError(f"{', '.join(folder_only)} applies only with --data FORMAT PATH (your "
                          "own annotated faces); `eval RUN` alone re-evaluates the run on its "
                          "test splits and writes nothing else")
    from ..training.runs import check_checkpoint

    path = Path(args.run)
    if not path.is_dir():
        path = Path(args.runs_root or default_runs_root()) / args.run
    if not (path / "config.json").is_file():
        raise NotFound(f"no run at {path} (expected config.json there); give a run folder or "
                       "the id of a run under the run store (--runs-root)")
    r = Run(path)
    cfg = r.train_config
    dev = resolve_device(args.device)
    if args.device != "auto":
        cfg = dataclasses.replace(cfg, device=args.device)
    if args.test_dataset is not None:
        want, have = DATASETS[cfg.dataset].layout, DATASETS[args.test_dataset].layout
        if want != have:
            same = sorted(d for d, spec in DATASETS.items() if spec.layout == want)
            raise ConfigError(f"--test-dataset {args.test_dataset}: its faces have the {have} "
                              f"layout, but run {r.id} predicts {cfg.num_landmarks} points "
                              f"({want}); test it on {', '.join(same)}")
    check_checkpoint(r.weights_path())  # no weights, or damaged: say so before reading data
    if cfg.data_root:
        from ..data.check import probe_files

        probe_files(args.test_dataset or cfg.dataset, cfg.data_root)
    weights = r.weights_path()
    if weights == r.best_weights:  # the weights the records came from: re-evaluate, store
        metrics = evaluate_run(r, cfg, device=dev, test_dataset=args.test_dataset)
        note = "stored in the run folder"
    else:  # committed half-precision weights: print only, the fp32 records stay as they are
        data = prepare_data(cfg, test_dataset=args.test_dataset)
        model = r.load_model(str(dev))
        metrics = {"splits": {split: {"summary": summarise_table(
            evaluate_crops(model, crops, dev, cfg)[0])} for split, crops in data.tests.items()}}
        note = (f"from {weights.name}; printed only -- the run's records (from its full-"
                "precision weights) are left as they are")
    rows = [{"split": s, **{k: v for k, v in m["summary"]["full"].items()}}
            for s, m in metrics["splits"].items()]
    print(pd.DataFrame(rows).to_string(index=False))
    print(json.dumps({"run": str(r.path), "weights": weights.name, "results": note}, indent=2))
    return 0
