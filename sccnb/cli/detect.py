"""``python -m sccnb detect ACTION``: the face detector's tools (:mod:`sccnb.inference.detect`).

* ``calibrate RUN``: fit the run's detector-to-training-box mapping on its training faces and
  store it with the run (:func:`sccnb.inference.detect.calibrate_run`);
* ``spread RUN``: how calibrated detector boxes -- or, with ``--refine``, the boxes of the photo
  path's last crop -- scatter around the run's training boxes
  (:func:`sccnb.inference.evalfolder.run_box_spread`); ``--jitter-out`` writes the histograms a
  :class:`~sccnb.data.augment.BoxJitter` draws from;
* ``rate --data FORMAT PATH``: the share of a folder's annotated faces the detector finds
  (:func:`sccnb.inference.detect.detection_rate`).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from ..data.folder import read_folder
from ..inference.detect import (DEFAULT_DETECTOR, DETECTORS, DetectorUnavailable, calibrate_run,
                                calibration_path, detection_rate, jitter_histograms)
from ..inference.evalfolder import run_box_spread
from ..inference.outputs import check_outputs, claim_outputs
from ..provenance import provenance, write_json
from ..training.config import portable_path
from ..training.runs import resolve_run
from . import at_least

__all__ = ["add_arguments", "run"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    cal = sub.add_parser("calibrate", help="fit a run's detector-to-training-box mapping on its "
                         "training faces; stored as results/runs/<id>/detector_<name>.json")
    cal.add_argument("run", help="a shipped model name (e.g. real300w-scc), a run id or folder")
    cal.add_argument("--max-faces", type=at_least(1), default=None,
                     help="fit on a seeded sample of this many training faces")
    spread = sub.add_parser("spread", help="how calibrated detector boxes scatter around a "
                            "run's training boxes, on its training faces (JSON)")
    spread.add_argument("run", help="a shipped model name, a run id or folder")
    spread.add_argument("--max-faces", type=at_least(1), default=None,
                        help="a seeded sample of this many training faces")
    spread.add_argument("--out", default=None, help="also write this JSON file, with provenance")
    spread.add_argument("--jitter-out", default=None, metavar="JSON",
                        help="also write the offsets' marginal histograms, with provenance: "
                        "the file a TrainConfig.box_jitter reads (sccnb/data/stats/)")
    spread.add_argument("--refine", type=at_least(0), default=0, metavar="PASSES",
                        help="the spread of the box after this many re-crop passes from the "
                        "calibrated detector box (the last crop of the photo path), not of the "
                        "detector box itself")
    rate = sub.add_parser("rate", help="share of a folder's annotated faces the detector finds")
    rate.add_argument("--data", nargs=2, metavar=("FORMAT", "PATH"), required=True,
                      help="300w PATH (.pts + images), wflw LIST, cofw FILE.mat")
    rate.add_argument("--out", default=None, help="also write <out>/<detector>_<folder>.json "
                      "with provenance")
    for p in (cal, spread, rate):
        p.add_argument("--detector", default=DEFAULT_DETECTOR, choices=sorted(DETECTORS))


def run(args: argparse.Namespace) -> int:
    try:
        if args.action == "calibrate":
            r = resolve_run(args.run)
            cal = calibrate_run(r, args.detector, args.max_faces)
            print(json.dumps(cal.to_json(), indent=1))
            print(f"wrote {calibration_path(r, args.detector)}")
            return 0
        if args.action == "spread":
            result = run_box_spread(resolve_run(args.run), args.detector, args.max_faces,
                                    with_offsets=bool(args.jitter_out), refine=args.refine)
            offsets = result.pop("offsets", None)
            print(json.dumps(result, indent=1))
            if args.out:
                write_json(args.out, {**result, "provenance": provenance("cpu")})
                print(f"wrote {args.out}")
            if args.jitter_out:
                hist = jitter_histograms(offsets)
                write_json(args.jitter_out, {
                    "what": "marginal histograms of calibrated detector-box offsets from the "
                    "training boxes (dx, dy in training-box sides; log_scale = log(calibrated / "
                    "training side)), the spread sccnb.data.augment.BoxJitter draws from"
                    + (f"; here of the box after {args.refine} re-crop passes from the "
                       "calibrated detector box (the photo path's last crop)"
                       if args.refine else ""),
                    "made_by": "python -m sccnb detect spread "
                    f"{args.run} --detector {args.detector}"
                    + (f" --refine {args.refine}" if args.refine else "") + " --jitter-out ...",
                    "refine": args.refine,
                    "run": result["run"], "split": "train", "detector": args.detector,
                    "searched": result["searched"], **hist,
                    "note": "aggregate histograms only: no face's box, shape or image",
                    "provenance": provenance("cpu")})
                print(f"wrote {args.jitter_out}")
            return 0
        fmt, path = args.data
        name = f"{args.detector}_{Path(path).resolve().name}.json"
        if args.out:  # a file of that name that sccnb did not write is refused, before any work
            check_outputs(args.out, [name], "detect")
        result = {**detection_rate(read_folder(fmt, path), args.detector), "format": fmt,
                  "data": portable_path(path),
                  "criterion": "a detection's centre inside the face's landmark extent"}
        print(json.dumps(result, indent=1))
        if args.out:
            claim_outputs(args.out, [name], "detect")
            out = Path(args.out) / name
            write_json(out, {**result, "provenance": provenance("cpu")})
            print(f"wrote {out}")
        return 0
    except DetectorUnavailable as err:
        raise SystemExit(str(err)) from None
