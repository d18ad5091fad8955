"""``python -m sccnb predict``: landmarks on your own photos with a trained run.

Each image is cropped the way the model was trained (a square of ``crop_scale`` × the face
box, resized to the input size), the model predicts in the crop, and the points are mapped back
to the photo's pixel coordinates (0-based pixel centres). Without box options a face detector
finds every face (:mod:`sccnb.inference.detect`: dlib's HOG detector, its boxes mapped to the kind
the model was trained on by the run's calibration); ``--whole-image`` takes the whole image as the
face: the crop is the image's bounding square (scale 1), which suits photos that are already
face crops. ``--model NAME`` uses a model that ships with the study (:mod:`sccnb.inference.zoo`).
Every path goes through :class:`sccnb.inference.zoo.Landmarker`, the one way from a photo to
landmarks. On detector boxes each face is cropped again on the extent of its predicted points
(``--refine PASSES``, default :data:`sccnb.inference.zoo.DEFAULT_REFINE` for 300-W models; 0 on
boxes you give).

A box file is CSV with a header ``image,x_min,y_min,x_max,y_max`` (0-based pixels; ``image`` as
given on the command line or its file name), or ``image,x,y,w,h`` (``x_max = x + w``); without a
header the numbers are corners. A box must overlap its image and be at least
``MIN_BOX_SIDE`` pixels a side; images are decoded in full (a truncated file is refused). The
box should be of the kind the model was trained on: the face box for WFLW/COFW models, the
landmark extent for 300-W models. With ``--box-from-pts`` the box of each image is the extent
of the ``.pts`` annotation beside it -- 300-W's own evaluation protocol, which gives the model
the face's location but not its shape.

Outputs under ``--out``: ``landmarks.csv`` (image, point, x, y), ``landmarks.json`` and one
overlay PNG per image (``<name>_landmarks.png``; images of the same name get distinct ones).
With the detector, ``landmarks.csv`` has a ``face`` column (faces numbered left to right, as in
the overlays), ``landmarks.json`` lists each image's faces with their boxes, and an image where
no face was found is named on the console.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

from ..data.records import DataFormatError
from ..data.validate import MIN_SIDE as MIN_BOX_SIDE  # a face box's least side, shared
from ..errors import DataError
from ..training.runs import Run

__all__ = ["BoxFile", "load_boxes", "boxes_from_pts", "predict_images", "predict_detected",
           "expand_images"]


# header of a box file (after "image") -> how its four numbers read
_BOX_HEADERS = {("x_min", "y_min", "x_max", "y_max"): "corners", ("x", "y", "w", "h"): "xywh",
                ("x", "y", "width", "height"): "xywh"}


class BoxFile(dict):
    """``image -> box`` as read from a box file, with where each came from (``path``, and the
    1-based ``lines``), so that a box refused later is named by its line."""

    def __init__(self, path: str | Path | None = None) -> None:
        super().__init__()
        self.path = path
        self.lines: dict[str, int] = {}
        self.points: dict[str, tuple[Path, np.ndarray]] = {}  # --box-from-pts: (.pts, points)


def load_boxes(path: str | Path) -> dict[str, np.ndarray]:
    """``image -> (x_min, y_min, x_max, y_max)`` from a CSV box file (errors name the line):
    corners, or ``x,y,w,h`` when the header says so (see the module docstring). The result is
    a :class:`BoxFile` (a dict that knows each box's line)."""
    path = Path(path)
    boxes = BoxFile(path)
    first_line: dict[str, int] = {}
    kind, seen_row = "corners", False
    with open(path, newline="", encoding="utf-8-sig") as fh:  # a spreadsheet's BOM too
        reader = csv.reader(fh)
        for line, row in enumerate(reader, start=1):
            if not row or not "".join(row).strip():
                continue
            if not seen_row and _is_header(row):
                seen_row = True
                columns = tuple(c.strip().lower() for c in row[1:])
                if columns not in _BOX_HEADERS:
                    raise DataFormatError(path, f"header {','.join(row)!r} not understood; "
                                          "expected image,x_min,y_min,x_max,y_max or "
                                          "image,x,y,w,h", line)
                kind = _BOX_HEADERS[columns]
                continue
            seen_row = True
            if len(row) != 5:
                raise DataFormatError(path, f"expected 5 fields (image,x_min,y_min,x_max,"
                                      f"y_max), got {len(row)}", line)
            try:
                box = np.asarray([float(v) for v in row[1:]])
            except ValueError as err:
                raise DataFormatError(path, f"box is not numeric: {err}", line) from None
            if kind == "xywh":
                box[2:] += box[:2]
            if not np.isfinite(box).all() or box[2] <= box[0] or box[3] <= box[1]:
                raise DataFormatError(path, f"bad box {box.tolist()} (x_min, y_min, x_max, "
                                      "y_max): the max must exceed the min", line)
            if min(box[2] - box[0], box[3] - box[1]) < MIN_BOX_SIDE:
                raise DataFormatError(path, f"box {box.tolist()} is "
                                      f"{box[2] - box[0]:g} x {box[3] - box[1]:g} px; a face box "
                                      f"is at least {MIN_BOX_SIDE:g} px a side", line)
            name = row[0].strip()
            if name in boxes:
                raise DataFormatError(path, f"a second box for {name} (the first is on line "
                                      f"{first_line[name]}); give one box per image", line)
            boxes[name], first_line[name] = box, line
    boxes.lines = first_line
    return boxes


def _is_header(row: list[str]) -> bool:
    """A first row whose first field is "image", or none of whose other fields is a number."""
    def number(text: str) -> bool:
        try:
            float(text)
        except ValueError:
            return False
        return True

    return row[0].strip().lower() == "image" or not any(number(v) for v in row[1:])


def boxes_from_pts(images: list[str | Path]) -> dict[str, np.ndarray]:
    """``image -> landmark extent`` of the ``.pts`` file next to each image."""
    from ..data import read_pts

    boxes = BoxFile()
    for image in map(Path, images):
        pts_path = image.with_suffix(".pts")
        if not pts_path.is_file():
            raise FileNotFoundError(f"--box-from-pts: no {pts_path.name} beside {image}")
        pts = read_pts(pts_path)
        boxes[str(image)] = np.concatenate([pts.min(axis=0), pts.max(axis=0)])
        boxes.points[str(image)] = (pts_path, pts)
    return boxes


def _box_of(image_path: Path, boxes: dict[str, np.ndarray], names: list[str], width: int,
            height: int) -> np.ndarray:
    """The box of ``image_path`` in ``boxes`` (by the path as given, then by the file name),
    checked against its ``width x height`` image (:func:`sccnb.data.validate.check_box`)."""
    from ..data.validate import check_box

    key = str(image_path)
    if key not in boxes and image_path.name in boxes:
        if names.count(image_path.name) > 1:
            raise DataError(f"the box file names {image_path.name}, but several images "
                            "have that name; name them by the paths given here")
        key = image_path.name
    if key not in boxes:
        raise DataError(f"no box for {image_path} in the box file (rows are matched by "
                        "the path as given, then by the file name)")
    source = getattr(boxes, "path", None)
    line = getattr(boxes, "lines", {}).get(key)
    return check_box(boxes[key], width, height, source if source else image_path, line,
                     what=f"the box of {image_path}" if source else "the box")


def check_inputs(images: list[str], boxes: dict[str, np.ndarray] | None) -> None:
    """Every image's box (or, without boxes, the image itself) checked from the image's size
    alone, before a model is loaded or an output written."""
    from ..data.validate import MIN_SIDE, check_points, image_size, pts_point_line

    names = [Path(p).name for p in images]
    for image in map(Path, images):
        w, h = image_size(image)
        pts_path, points = getattr(boxes, "points", {}).get(str(image), (None, None))
        if points is not None:  # --box-from-pts: the annotation's points, by their lines
            check_points(points, w, h, pts_path, lambda i: pts_point_line(pts_path, i))
        if boxes is not None:
            _box_of(image, boxes, names, w, h)
        elif min(w, h) < MIN_SIDE:
            raise DataError(f"{image}: the image is {w} x {h} px; a face image is at least "
                            f"{MIN_SIDE:g} px a side")


def predict_images(run: Run, images: list[str | Path], boxes: dict[str, np.ndarray] | None = None,
                   device: str = "cpu", weights: str | Path | None = None,
                   refine: int = 0) -> list[dict]:
    """Landmarks for each image through :class:`sccnb.inference.zoo.Landmarker` (the one inference
    path): on its box in ``boxes`` (training kind), or without boxes on the whole image (its
    bounding square is the crop). Returns dicts with the image path, its box (None for the whole
    image), the landmarks ``(N, 2)`` in image pixels and the layout. ``weights``: a weights file
    of the run other than its best (default: best.pt, else best_fp16.pt); ``refine``: re-crop
    passes."""
    from ..data.validate import read_rgb
    from .zoo import Landmarker, whole_image_box

    if weights is not None:
        run = Run(run.path, weights=weights)
    landmarker = Landmarker(run, device, refine=refine)
    names = [Path(p).name for p in images]
    results = []
    for image_path in map(Path, images):
        image = read_rgb(image_path)
        h, w = image.shape[:2]
        box = None if boxes is None else _box_of(image_path, boxes, names, w, h)
        crop_box = box if box is not None else whole_image_box(w, h, landmarker.cfg.crop_scale)
        [points] = landmarker.landmarks(image, crop_box[None], refine)
        results.append({"image": str(image_path), "box": None if box is None else box.tolist(),
                        "landmarks": points, "layout": landmarker.layout})
    return results


def _layout(cfg) -> str:
    from ..data.datasets import DATASETS

    return DATASETS[cfg.dataset].layout


def overlay_names(images: list[str]) -> list[str]:
    """A distinct overlay file name per image: ``<stem>_landmarks.png``; images that share a
    stem get their folder's name in front, then a counter, so none overwrites another."""
    paths = [Path(p) for p in images]
    stems = [p.stem for p in paths]
    names, used = [], set()
    for p in paths:
        name = p.stem if stems.count(p.stem) == 1 else f"{p.parent.name or 'image'}_{p.stem}"
        base, i = name, 2
        while name in used:
            name, i = f"{base}_{i}", i + 1
        used.add(name)
        names.append(f"{name}_landmarks.png")
    return names


def write_overlay(result: dict, out: Path, name: str | None = None) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from ..data.validate import read_rgb
    from ..plots import draw_landmarks

    image = read_rgb(result["image"])
    h, w = image.shape[:2]
    fig, ax = plt.subplots(figsize=(4, 4 * h / w))
    draw_landmarks(ax, image, result["landmarks"], result["layout"], size=4)
    path = out / (name or f"{Path(result['image']).stem}_landmarks.png")
    fig.savefig(path, dpi=120, bbox_inches="tight")
    plt.close(fig)
    return path


IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".ppm", ".bmp", ".tif", ".tiff", ".webp")


def expand_images(paths: list[str | Path]) -> list[str]:
    """Image paths, with each folder replaced by the images under it (recursively, sorted)."""
    out: list[str] = []
    for p in map(Path, paths):
        if p.is_dir():
            found = sorted(str(f) for f in p.rglob("*") if f.suffix.lower() in IMAGE_SUFFIXES)
            if not found:
                raise FileNotFoundError(f"no images ({', '.join(IMAGE_SUFFIXES)}) under {p}")
            out += found
        else:
            out.append(str(p))
    return out


def predict_detected(landmarker, images: list[str | Path], refine: int | None = None
                     ) -> list[dict]:
    """Every face the detector finds in each image: one dict per image, ``{"image", "faces":
    [{"box", "detector_box", "score", "landmarks", "layout", "refine"}, ...]}`` (faces left to
    right); ``refine``: re-crop passes (default: the landmarker's)."""
    return [{"image": str(path), "faces": landmarker(path, refine=refine)}
            for path in map(Path, images)]


def overlay_faces(result: dict, path: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from ..data.validate import read_rgb
    from .zoo import draw_faces

    image = read_rgb(result["image"])
    h, w = image.shape[:2]
    fig, ax = plt.subplots(figsize=(5, 5 * h / w))
    draw_faces(ax, image, result["faces"], size=max(1.0, 4 * min(1.0, 600 / max(h, w))))
    fig.savefig(path, dpi=150, bbox_inches="tight")
    plt.close(fig)
    return path


def detected_overlay_names(images: list[str]) -> list[str]:
    """The overlay file of each image under the detector: ``<stem>_landmarks.png``, with a
    counter where stems repeat."""
    used: set[str] = set()
    names = []
    for image in images:
        stem, name, k = Path(image).stem, Path(image).stem, 2
        while name in used:
            name, k = f"{stem}_{k}", k + 1
        used.add(name)
        names.append(f"{name}_landmarks.png")
    return names
