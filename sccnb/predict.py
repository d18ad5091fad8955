"""``python -m sccnb predict``: landmarks on your own photos with a trained run.

Each image is cropped the way the model was trained (a square of ``crop_scale`` × the face
box, resized to the input size), the model predicts in the crop, and the points are mapped back
to the photo's pixel coordinates (0-based pixel centres). Without ``--boxes`` the whole image is
taken as the face: the crop is the image's bounding square (scale 1), which suits photos that
are already face crops.

A box file is CSV with a header ``image,x_min,y_min,x_max,y_max`` (0-based pixels; ``image`` as
given on the command line or its file name). The box should be of the kind the model was
trained on: the face box for WFLW/COFW models, the landmark extent for 300-W models. With
``--box-from-pts`` the box of each image is the extent of the ``.pts`` annotation beside it --
300-W's own evaluation protocol, which gives the model the face's location but not its shape.

Outputs under ``--out``: ``landmarks.csv`` (image, point, x, y), ``landmarks.json`` and one
overlay PNG per image.
"""

from __future__ import annotations

import argparse
import csv
import json
from pathlib import Path

import cv2
import numpy as np
import torch

from .data.crops import crop_matrix, warp_crop
from .data.records import DataFormatError
from .runs import Run

__all__ = ["load_boxes", "boxes_from_pts", "predict_images", "add_arguments", "run"]


def load_boxes(path: str | Path) -> dict[str, np.ndarray]:
    """``image -> (x_min, y_min, x_max, y_max)`` from a CSV box file (errors name the line)."""
    path = Path(path)
    boxes = {}
    with open(path, newline="") as fh:
        reader = csv.reader(fh)
        for line, row in enumerate(reader, start=1):
            if not row or row[0].strip().lower() == "image":
                continue
            if len(row) != 5:
                raise DataFormatError(path, f"expected 5 fields (image,x_min,y_min,x_max,"
                                      f"y_max), got {len(row)}", line)
            try:
                box = np.asarray([float(v) for v in row[1:]])
            except ValueError as err:
                raise DataFormatError(path, f"box is not numeric: {err}", line) from None
            if not np.isfinite(box).all() or box[2] <= box[0] or box[3] <= box[1]:
                raise DataFormatError(path, f"bad box {box.tolist()}", line)
            boxes[row[0].strip()] = box
    return boxes


def boxes_from_pts(images: list[str | Path]) -> dict[str, np.ndarray]:
    """``image -> landmark extent`` of the ``.pts`` file next to each image."""
    from .data import read_pts

    boxes = {}
    for image in map(Path, images):
        pts_path = image.with_suffix(".pts")
        if not pts_path.is_file():
            raise FileNotFoundError(f"--box-from-pts: no {pts_path.name} beside {image}")
        pts = read_pts(pts_path)
        boxes[str(image)] = np.concatenate([pts.min(axis=0), pts.max(axis=0)])
    return boxes


def _read_rgb(path: Path) -> np.ndarray:
    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if image is None:
        raise DataFormatError(path, "missing or undecodable image")
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


def predict_images(run: Run, images: list[str | Path], boxes: dict[str, np.ndarray] | None = None,
                   device: str = "cpu") -> list[dict]:
    """Predict landmarks for each image; returns dicts with the image path, its box, the
    landmarks ``(N, 2)`` in image pixels and the layout."""
    from .data.augment import to_input
    from .train import config_from_json

    cfg = config_from_json(run.config["train"])
    model = run.load_model(device)
    size = cfg.input_size
    results = []
    for image_path in map(Path, images):
        image = _read_rgb(image_path)
        h, w = image.shape[:2]
        box = None
        if boxes is not None:
            box = boxes.get(str(image_path), boxes.get(image_path.name))
            if box is None:
                raise KeyError(f"no box for {image_path} in the box file")
            matrix = crop_matrix(box, size, cfg.crop_scale)
        else:
            matrix = crop_matrix(np.array([0, 0, w - 1, h - 1], float), size, scale=1.0)
        crop = warp_crop(image, matrix, size)
        x = to_input(torch.as_tensor(crop).permute(2, 0, 1)[None].to(device))
        with torch.no_grad():
            pred = model(x)[0].cpu().double().numpy() * (size / 256)  # crop pixels
        inv = np.linalg.inv(np.vstack([matrix, [0, 0, 1]]))[:2]
        points = pred @ inv[:, :2].T + inv[:, 2]
        results.append({"image": str(image_path), "box": None if box is None else box.tolist(),
                        "landmarks": points, "layout": _layout(cfg)})
    return results


def _layout(cfg) -> str:
    from .data.datasets import DATASETS

    return DATASETS[cfg.dataset].layout


def _overlay(result: dict, out: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from .plots import draw_landmarks

    image = _read_rgb(Path(result["image"]))
    h, w = image.shape[:2]
    fig, ax = plt.subplots(figsize=(4, 4 * h / w))
    draw_landmarks(ax, image, result["landmarks"], result["layout"], size=4)
    path = out / f"{Path(result['image']).stem}_landmarks.png"
    fig.savefig(path, dpi=120, bbox_inches="tight")
    plt.close(fig)
    return path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--checkpoint", required=True,
                        help="a run folder (results/runs/<id>), a run id, or its best.pt")
    parser.add_argument("images", nargs="+", help="image files")
    boxes = parser.add_mutually_exclusive_group()
    boxes.add_argument("--boxes", default=None, help="CSV: image,x_min,y_min,x_max,y_max")
    boxes.add_argument("--box-from-pts", action="store_true",
                       help="box = extent of the .pts annotation beside each image (300-W "
                       "protocol)")
    parser.add_argument("--out", default="predictions", help="output folder")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--no-overlay", action="store_true", help="skip the PNG overlays")


def run(args: argparse.Namespace) -> int:
    from .runs import default_runs_root

    ckpt = Path(args.checkpoint)
    run_dir = ckpt.parent if ckpt.suffix == ".pt" else ckpt
    if not run_dir.is_dir():
        run_dir = default_runs_root() / args.checkpoint
    if not (run_dir / "best.pt").is_file():
        raise SystemExit(f"no trained weights at {run_dir}/best.pt")
    boxes = (load_boxes(args.boxes) if args.boxes else
             boxes_from_pts(args.images) if args.box_from_pts else None)
    results = predict_images(Run(run_dir), args.images, boxes, args.device)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
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
        for r in results:
            print(_overlay(r, out))
    print(f"{len(results)} image(s): {out / 'landmarks.csv'}")
    return 0
