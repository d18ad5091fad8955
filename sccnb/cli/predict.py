"""The `predict` command's arguments and dispatch (the library: :mod:`sccnb.inference.predict`)."""

from __future__ import annotations

import argparse
import csv
import json
from pathlib import Path

import numpy as np
import torch

from ..errors import DataError
from ..inference.predict import (boxes_from_pts, check_inputs, detected_overlay_names,
                                 expand_images, load_boxes, overlay_faces, overlay_names,
                                 predict_detected, predict_images, write_overlay)
from ..training.runs import Run


def _claim_out(args: argparse.Namespace, overlays: list[str], check: bool = False) -> None:
    """Refuse (or with ``--force`` keep renamed) an output file that is an input image or that
    sccnb did not write (:mod:`sccnb.inference.outputs`): ``check`` before any model is run (nothing
    written), then again before the first write (the folder claimed)."""
    from ..inference.outputs import check_outputs, claim_outputs

    out = Path(args.out)
    names = ["landmarks.csv", "landmarks.json", *overlays]
    inputs = {Path(p).resolve() for p in args.images}
    for name in names:
        if (out / name).resolve() in inputs:
            raise DataError(f"{out / name} is one of the input images and would be overwritten; "
                            "choose another --out")
    (check_outputs if check else claim_outputs)(out, names, "predict", force=args.force)


def _run_detected(args: argparse.Namespace) -> int:
    """``predict`` without boxes: the detector finds the faces (several per image allowed)."""
    from ..inference.detect import DetectorUnavailable
    from ..inference.zoo import Landmarker
    from ..training.runs import resolve_run

    device = ("cuda" if torch.cuda.is_available() else "cpu") if args.device == "auto" \
        else args.device
    run_ = resolve_run(args.checkpoint)
    overlays = detected_overlay_names(args.images)
    _claim_out(args, [] if args.no_overlay else overlays, check=True)
    try:
        landmarker = Landmarker(run_, device, args.detector, refine=args.refine)
        results = predict_detected(landmarker, args.images)
    except DetectorUnavailable as err:
        raise SystemExit(f"predict: {err}") from None
    _claim_out(args, [] if args.no_overlay else overlays)
    out = Path(args.out)
    with open(out / "landmarks.csv", "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["image", "face", "point", "x", "y"])
        for r in results:
            for f, face in enumerate(r["faces"]):
                for i, (x, y) in enumerate(face["landmarks"]):
                    writer.writerow([r["image"], f, i, f"{x:.3f}", f"{y:.3f}"])
    payload = [{"image": r["image"], "run": run_.id, "detector": args.detector,
                "faces": [{**face, "landmarks": np.round(face["landmarks"], 3).tolist()}
                          for face in r["faces"]]} for r in results]
    (out / "landmarks.json").write_text(json.dumps(payload, indent=1))
    for r, name in zip(results, overlays):
        if not r["faces"]:
            print(f"no face found in {r['image']}")
            continue
        if not args.no_overlay:
            print(overlay_faces(r, out / name))
    faces = sum(len(r["faces"]) for r in results)
    print(f"{faces} face(s) in {len(results)} image(s) ({run_.id}, {args.detector} boxes, "
          f"{landmarker.refine} re-crop passes): {out / 'landmarks.csv'}")
    return 0


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from ..inference.detect import DEFAULT_DETECTOR, DETECTORS
    from ..inference.zoo import DEFAULT_REFINE
    from ..training.runs import SHIPPED

    model = parser.add_mutually_exclusive_group(required=True)
    model.add_argument("--checkpoint", default=None,
                       help="a run folder (results/runs/<id>), a run id, or its best.pt")
    model.add_argument("--model", default=None, choices=sorted(SHIPPED),
                       help="a model that ships with the study (no training needed)")
    parser.add_argument("images", nargs="+",
                        help="image files, or folders (their images, recursively)")
    boxes = parser.add_mutually_exclusive_group()
    boxes.add_argument("--boxes", default=None, help="CSV: image,x_min,y_min,x_max,y_max")
    boxes.add_argument("--box-from-pts", action="store_true",
                       help="box = extent of the .pts annotation beside each image (300-W "
                       "protocol)")
    boxes.add_argument("--whole-image", action="store_true",
                       help="the image is the face (crop = its bounding square); for photos "
                       "that are already face crops")
    parser.add_argument("--detector", default=DEFAULT_DETECTOR, choices=sorted(DETECTORS),
                        help="without box options, this detector finds every face (default "
                        "%(default)s: dlib's HOG detector, `pip install -e .[detect]`)")
    parser.add_argument("--refine", type=int, default=None, metavar="PASSES",
                        help="re-crop each face on the extent of its predicted points this "
                        f"many times (300-W models); default: {DEFAULT_REFINE} on detector "
                        "boxes, 0 on boxes you give")
    parser.add_argument("--out", default="predictions", help="output folder")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--no-overlay", action="store_true", help="skip the PNG overlays")
    parser.add_argument("--force", action="store_true",
                        help="write into --out even where it holds files of the output names "
                        "that sccnb did not write (they are kept, renamed)")


def run(args: argparse.Namespace) -> int:
    if args.model:  # a shipped model: its run folder
        from ..training.runs import resolve_run

        args.checkpoint = str(resolve_run(args.model).path)
    args.images = expand_images(args.images)
    from ..errors import NotFound, resolve_device
    from ..training.runs import default_runs_root

    device = str(resolve_device(args.device))  # no CUDA: say so before a model is loaded
    from ..data.validate import check_image_file

    for image in args.images:  # a missing or truncated image is named, whatever finds faces
        check_image_file(image)
    if not (args.boxes or args.box_from_pts or args.whole_image):
        return _run_detected(args)

    ckpt, weights = Path(args.checkpoint), None
    if ckpt.suffix == ".pt":  # a weights file: that very file, with its run folder's config
        if not ckpt.is_file():
            raise NotFound(f"--checkpoint {ckpt}: no such file")
        run_dir, weights = ckpt.parent, ckpt
    else:
        run_dir = ckpt if ckpt.is_dir() else default_runs_root() / args.checkpoint
    if not (run_dir / "config.json").is_file():
        raise NotFound(f"--checkpoint {args.checkpoint}: no run there (no config.json in "
                       f"{run_dir}); give a run folder (results/runs/<id>), a run id, or a .pt "
                       "file inside a run folder")
    if weights is None:  # none, damaged, or not the run's own: weights_path says which
        Run(run_dir).weights_path()
    boxes = (load_boxes(args.boxes) if args.boxes else
             boxes_from_pts(args.images) if args.box_from_pts else None)
    out = Path(args.out)
    overlays = [out / n for n in overlay_names(args.images)]
    if boxes is not None or args.whole_image:  # every box and image checked before any output
        check_inputs(args.images, boxes)
    _claim_out(args, [] if args.no_overlay else [p.name for p in overlays], check=True)
    results = predict_images(Run(run_dir), args.images, boxes, device, weights=weights,
                             refine=args.refine or 0)
    _claim_out(args, [] if args.no_overlay else [p.name for p in overlays])
    with open(out / "landmarks.csv", "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["image", "point", "x", "y"])
        for r in results:
            for i, (x, y) in enumerate(r["landmarks"]):
                writer.writerow([r["image"], i, f"{x:.3f}", f"{y:.3f}"])
    payload = [{**r, "landmarks": np.round(r["landmarks"], 3).tolist(), "run": run_dir.name}
               for r in results]
    (out / "landmarks.json").write_text(json.dumps(payload, indent=1))
    if not args.no_overlay:
        for r, path in zip(results, overlays):
            print(write_overlay(r, out, path.name))
    print(f"{len(results)} image(s): {out / 'landmarks.csv'}")
    return 0
