"""Face boxes from a packaged detector, and their calibration to the boxes a model was trained on.

**The detector.** dlib's HOG face detector (``dlib.get_frontal_face_detector``; Dalal & Triggs
HOG features, five linear filters: frontal, left- and right-looking, and frontal rotated either
way; trained by its author on Labeled Faces in the Wild, not on 300-W). Why this one:

* it installs from the package index with everything inside the wheel: ``dlib-bin`` is a 4 MB
  prebuilt dlib with no dependencies, and the detector's filters are compiled into the library
  (no model file, nothing downloaded at run time);
* it runs on a CPU (about 25 ms for a 320-px photo on one core);
* its licence (Boost Software License 1.0) allows use and redistribution, commercial or not.

OpenCV 5, which the study pins, no longer ships the Haar cascades, and its DNN detector (YuNet)
needs a model file that no wheel we found carries; the other packaged detectors we looked at
download their weights at run time or pin an old torch. Its detection rate on the 1,207 faces of
``shared/data/300w_mini``: ``python -m sccnb detect rate --data 300w ../shared/data/300w_mini
--out results/detector`` (the README quotes the file it writes).

Small photos: the HOG window is 80 × 80 px, so a photo whose longer side is under
:data:`UPSAMPLE_BELOW` px and where no face was found is searched again at twice its size. Photos
larger than :data:`DOWNSCALE_ABOVE` px are searched at that size (boxes scaled back), which keeps
a 12-megapixel photo under a second.

**Calibration.** A detector's box is not the box the model was trained with (300-W: the
landmark extent; WFLW and COFW: their own rectangles). The crop only depends on the box's centre
and its longer side (:func:`sccnb.data.crops.crop_matrix`), so the mapping has three numbers per
detector and run, fitted on the run's *training* faces (never its test or held-out faces):

    centre_train = centre_det + side_det · (dx, dy),     side_train = scale · side_det

with ``side_det`` the detector box's mean side and ``side_train`` the training box's longer
side; ``dx``, ``dy`` and ``log scale`` are the medians over the training faces whose box the
detector found (robust to the odd wrong match). It is stored with the run as
``results/runs/<id>/detector_<name>.json`` (``python -m sccnb detect calibrate RUN``;
:func:`run_calibration` loads it, fitting it first where it is missing).

**Which detection is a face's.** When fitting, the detection whose centre lies inside the
training box (the highest IoU with it if several). When evaluating, the calibrated detection
whose square has the highest IoU with the training box's square; the face counts as detected
when that IoU is at least :data:`MATCH_IOU` (the usual detection criterion, here in the frame
the model crops in).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import cv2
import numpy as np

__all__ = ["DETECTORS", "DEFAULT_DETECTOR", "MATCH_IOU", "DetectorUnavailable",
           "DlibHog", "get_detector", "Calibration", "fit_calibration", "calibrate_run",
           "run_calibration", "load_calibration", "calibration_path", "match_detection",
           "matched_boxes", "offsets_from", "box_offsets", "box_spread", "offset_spread",
           "training_detections", "jitter_histograms", "run_records", "detect_records", "square",
           "box_iou", "detection_rate"]

DEFAULT_DETECTOR = "dlib-hog"
MATCH_IOU = 0.5  # a calibrated detection is a face's when its square overlaps the face's this much
UPSAMPLE_BELOW = 1000  # px: small photos with no face found are searched again at 2x
DOWNSCALE_ABOVE = 1600  # px: larger photos are searched at this longer side


class DetectorUnavailable(ImportError):
    """The detector's package is not installed."""


# --- detectors -------------------------------------------------------------------------------
@lru_cache(maxsize=1)
def _dlib_detector():
    try:
        import dlib
    except ImportError as err:
        raise DetectorUnavailable(
            "face detection needs dlib, an optional dependency: `pip install -e .[detect]` "
            "(the prebuilt wheel dlib-bin; `make setup` installs it), or give the face boxes "
            "yourself (predict --boxes FILE / --box-from-pts, eval --boxes protocol)") from err
    return dlib.get_frontal_face_detector()


class DlibHog:
    """dlib's HOG face detector (see the module docstring)."""

    name = "dlib-hog"

    def __call__(self, image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Faces in an ``(H, W, 3)`` uint8 RGB image: boxes ``(F, 4)`` ``(x_min, y_min, x_max,
        y_max)`` in 0-based pixels and scores ``(F,)``, best first."""
        detector = _dlib_detector()
        h, w = image.shape[:2]
        factor = min(1.0, DOWNSCALE_ABOVE / max(h, w))
        small = image if factor == 1.0 else cv2.resize(
            image, (round(w * factor), round(h * factor)), interpolation=cv2.INTER_AREA)
        small = np.ascontiguousarray(small)
        rects, scores, _ = detector.run(small, 0, 0.0)
        if not rects and max(h, w) < UPSAMPLE_BELOW:
            rects, scores, _ = detector.run(small, 1, 0.0)
        boxes = np.array([[r.left(), r.top(), r.right(), r.bottom()] for r in rects],
                         dtype=np.float64).reshape(-1, 4)
        scores = np.asarray(scores, dtype=np.float64).reshape(-1)
        if factor != 1.0:  # pixel centres: x_small + 0.5 = factor (x + 0.5)
            boxes = (boxes + 0.5) / factor - 0.5
        order = np.argsort(-scores, kind="stable")
        return boxes[order], scores[order]


DETECTORS = {"dlib-hog": DlibHog}


def get_detector(name: str = DEFAULT_DETECTOR):
    """A detector by name (raises :class:`DetectorUnavailable` when its package is missing)."""
    if name not in DETECTORS:
        raise ValueError(f"unknown detector {name!r}; supported: {', '.join(DETECTORS)}")
    detector = DETECTORS[name]()
    if name == "dlib-hog":
        _dlib_detector()  # fail now, with the install hint, rather than at the first image
    return detector


# --- boxes -----------------------------------------------------------------------------------
def square(boxes: np.ndarray) -> np.ndarray:
    """The square the crop is built on: same centre, side = the longer side. ``(..., 4)``."""
    b = np.asarray(boxes, dtype=np.float64)
    c = (b[..., :2] + b[..., 2:]) / 2
    half = np.maximum(b[..., 2] - b[..., 0], b[..., 3] - b[..., 1])[..., None] / 2
    return np.concatenate([c - half, c + half], axis=-1)


def box_iou(boxes: np.ndarray, box: np.ndarray) -> np.ndarray:
    """IoU of each of ``boxes`` ``(F, 4)`` with ``box`` ``(4,)``."""
    b = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    a = np.asarray(box, dtype=np.float64)
    iw = np.clip(np.minimum(b[:, 2], a[2]) - np.maximum(b[:, 0], a[0]), 0, None)
    ih = np.clip(np.minimum(b[:, 3], a[3]) - np.maximum(b[:, 1], a[1]), 0, None)
    inter = iw * ih
    union = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1]) + (a[2] - a[0]) * (a[3] - a[1]) - inter
    return inter / np.maximum(union, 1e-12)


def _centre_inside(boxes: np.ndarray, box: np.ndarray) -> np.ndarray:
    c = (boxes[:, :2] + boxes[:, 2:]) / 2
    return (c[:, 0] >= box[0]) & (c[:, 0] <= box[2]) & (c[:, 1] >= box[1]) & (c[:, 1] <= box[3])


def _raw_match(boxes: np.ndarray, train_box: np.ndarray) -> int | None:
    """Index of the raw detection that is this face's (centre inside its training box, then
    the highest IoU), or None."""
    inside = np.flatnonzero(_centre_inside(boxes, train_box))
    if inside.size == 0:
        return None
    return int(inside[np.argmax(box_iou(boxes[inside], train_box))])


def match_detection(calibrated: np.ndarray, train_box: np.ndarray,
                    min_iou: float = MATCH_IOU) -> int | None:
    """Index of the calibrated detection that is this face's: the highest IoU of the squares,
    if at least ``min_iou``; else None (the face was not detected)."""
    if len(calibrated) == 0:
        return None
    iou = box_iou(square(calibrated), square(train_box))
    best = int(np.argmax(iou))
    return best if iou[best] >= min_iou else None


# --- calibration -----------------------------------------------------------------------------
@dataclass(frozen=True)
class Calibration:
    """Detector box -> training box (see the module docstring)."""

    detector: str
    dx: float  # centre offset, in detector box sides
    dy: float
    scale: float  # training box's longer side / detector box's side
    faces: int  # training faces it was fitted on (whose box the detector found)
    searched: int  # training faces searched
    spread: dict[str, float] | None = None  # interquartile ranges of dx, dy, log scale
    train_box: str = ""  # what the training box is ("landmark extent", "dataset box")
    run: str = ""

    def apply(self, boxes: np.ndarray) -> np.ndarray:
        """Calibrated boxes ``(F, 4)``: squares the model's crops expect."""
        b = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
        side = ((b[:, 2] - b[:, 0]) + (b[:, 3] - b[:, 1])) / 2
        cx = (b[:, 0] + b[:, 2]) / 2 + self.dx * side
        cy = (b[:, 1] + b[:, 3]) / 2 + self.dy * side
        half = self.scale * side / 2
        return np.stack([cx - half, cy - half, cx + half, cy + half], axis=1)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def fit_calibration(detections: list[np.ndarray], train_boxes: np.ndarray,
                    detector: str = DEFAULT_DETECTOR, **info: Any) -> Calibration:
    """Fit the mapping from raw detections (one ``(F_i, 4)`` array per face) to the faces'
    training boxes ``(M, 4)`` (medians over the faces with a matching detection)."""
    rows = []
    for boxes, tb in zip(detections, np.asarray(train_boxes, dtype=np.float64)):
        j = _raw_match(np.asarray(boxes).reshape(-1, 4), tb)
        if j is None:
            continue
        d = boxes[j]
        side = ((d[2] - d[0]) + (d[3] - d[1])) / 2
        t_side = max(tb[2] - tb[0], tb[3] - tb[1])
        rows.append([((tb[0] + tb[2]) - (d[0] + d[2])) / 2 / side,
                     ((tb[1] + tb[3]) - (d[1] + d[3])) / 2 / side, np.log(t_side / side)])
    if len(rows) < 3:
        raise ValueError(f"{detector}: found only {len(rows)} of {len(train_boxes)} training "
                         "faces; cannot calibrate (need at least 3)")
    r = np.asarray(rows)
    q75, q25 = np.percentile(r, [75, 25], axis=0)
    spread = dict(zip(("dx", "dy", "log_scale"), map(float, q75 - q25)))
    med = np.median(r, axis=0)
    return Calibration(detector=detector, dx=float(med[0]), dy=float(med[1]),
                       scale=float(np.exp(med[2])), faces=len(rows), searched=len(train_boxes),
                       spread=spread, **info)


def matched_boxes(detections: list[np.ndarray], train_boxes: np.ndarray,
                  calibration: Calibration) -> np.ndarray:
    """``(F, 4)``: each face's calibrated detection that matches its training box
    (:func:`match_detection`), NaN where none does."""
    out = np.full((len(detections), 4), np.nan)
    for i, (boxes, tb) in enumerate(zip(detections, np.asarray(train_boxes, dtype=np.float64))):
        calibrated = calibration.apply(np.asarray(boxes).reshape(-1, 4))
        j = match_detection(calibrated, tb)
        if j is not None:
            out[i] = calibrated[j]
    return out


def offsets_from(boxes: np.ndarray, train_boxes: np.ndarray) -> np.ndarray:
    """``(F, 3)`` rows ``(dx, dy, log_scale)`` of ``boxes`` from ``train_boxes`` (rows with a NaN
    box left out): the centre offset in training-box sides (the box's longer side, which sets
    the crop) and log(box side / training side), sides being longer sides."""
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    tb = np.asarray(train_boxes, dtype=np.float64).reshape(-1, 4)
    keep = np.isfinite(boxes).all(axis=1)
    c, tb = boxes[keep], tb[keep]
    side = np.maximum(tb[:, 2] - tb[:, 0], tb[:, 3] - tb[:, 1])
    return np.stack([((c[:, 0] + c[:, 2]) - (tb[:, 0] + tb[:, 2])) / 2 / side,
                     ((c[:, 1] + c[:, 3]) - (tb[:, 1] + tb[:, 3])) / 2 / side,
                     np.log(np.maximum(c[:, 2] - c[:, 0], c[:, 3] - c[:, 1]) / side)], axis=1)


def box_offsets(detections: list[np.ndarray], train_boxes: np.ndarray,
                calibration: Calibration) -> np.ndarray:
    """``(F, 3)`` rows ``(dx, dy, log_scale)``, one per face whose detection matches
    (:func:`match_detection`): the calibrated square's centre offset from the training box's
    centre, in training-box sides (the box's longer side, which sets the crop), and
    log(calibrated side / training side)."""
    return offsets_from(matched_boxes(detections, train_boxes, calibration), train_boxes)


def box_spread(detections: list[np.ndarray], train_boxes: np.ndarray,
               calibration: Calibration) -> dict[str, Any]:
    """How calibrated detector boxes scatter around the training boxes: for each face whose
    detection matches (:func:`match_detection`), the calibrated square's centre offset ``dx``,
    ``dy`` in training-box sides (the box's longer side, which sets the crop) and ``log_scale``
    = log(calibrated side / training side). Per quantity: mean, standard deviation, robust
    standard deviation (1.4826 x the median absolute deviation) and the 5/25/50/75/95th
    percentiles. A crop jitter that mimics the detector path draws from this spread
    (:func:`box_offsets` gives the per-face rows)."""
    r = box_offsets(detections, train_boxes, calibration)
    return {"faces": len(r), "searched": len(train_boxes),
            "unit": "dx, dy: training-box sides; log_scale: log(calibrated / training side)",
            **offset_spread(r), "calibration": calibration.to_json()}


def training_detections(run, detector: str = DEFAULT_DETECTOR, max_faces: int | None = None,
                        with_records: bool = False):
    """(detections, training boxes, calibration) on the run's training faces (a seeded sample of
    ``max_faces``): its stored calibration, fitted first when missing (without storing it); with
    ``with_records``, the training faces' records last."""
    from ..data.crops import face_box
    from ..data.datasets import DATASETS

    cfg = run.train_config
    records = _sample(run_records(run, "train"), max_faces)
    train_boxes = np.stack([face_box(r, DATASETS[cfg.dataset].center_on) for r in records])
    found = detect_records(records, get_detector(detector))
    cal = load_calibration(run, detector) or fit_calibration(
        found, train_boxes, detector, train_box=_train_box_kind(cfg.dataset), run=run.id)
    return (found, train_boxes, cal, records) if with_records else (found, train_boxes, cal)


def jitter_histograms(offsets: np.ndarray, bin_width: float = 0.01, limit: float = 0.35
                      ) -> dict[str, Any]:
    """The marginal histograms of ``(F, 3)`` offsets (:func:`box_offsets`) that a
    :class:`sccnb.data.augment.BoxJitter` samples from: common edges over ``[-limit, limit]``
    (values beyond it counted in the edge bins), counts per quantity, and the correlations
    between the quantities (the jitter draws them independently)."""
    offsets = np.asarray(offsets, dtype=np.float64).reshape(-1, 3)
    if len(offsets) < 2:
        raise ValueError(f"need at least 2 faces' offsets for a jitter histogram, got "
                         f"{len(offsets)}")
    n = int(round(2 * limit / bin_width))
    edges = np.linspace(-limit, limit, n + 1)
    clipped = np.clip(offsets, -limit + bin_width / 2, limit - bin_width / 2)
    names = ("dx", "dy", "log_scale")
    counts = {k: np.histogram(clipped[:, i], edges)[0].astype(int).tolist()
              for i, k in enumerate(names)}
    corr = np.corrcoef(offsets.T)
    return {"faces": len(offsets), "edges": [round(float(e), 6) for e in edges],
            "counts": counts, "clipped": int((np.abs(offsets) > limit).sum()),
            "correlation": {f"{names[a]}~{names[b]}": round(float(corr[a, b]), 4)
                            for a in range(3) for b in range(a + 1, 3)}}


def offset_spread(offsets: np.ndarray) -> dict[str, dict[str, float]]:
    """Per quantity of ``(F, 3)`` offsets (:func:`box_offsets`: ``dx``, ``dy``, ``log_scale``):
    mean, standard deviation, robust standard deviation (1.4826 x the median absolute
    deviation) and the 5/25/50/75/95th percentiles (an empty dict for no faces)."""
    return {k: _stats(offsets[:, i]) for i, k in enumerate(("dx", "dy", "log_scale"))}


def _stats(x: np.ndarray) -> dict[str, float]:
    if len(x) == 0:
        return {}
    q = np.percentile(x, [5, 25, 50, 75, 95])
    return {"mean": float(x.mean()), "std": float(x.std(ddof=1)) if len(x) > 1 else 0.0,
            "robust_std": float(1.4826 * np.median(np.abs(x - np.median(x)))),
            **{f"p{k}": float(v) for k, v in zip((5, 25, 50, 75, 95), q)}}


def calibration_path(run, detector: str = DEFAULT_DETECTOR) -> Path:
    return Path(run.path) / f"detector_{detector}.json"


def load_calibration(run, detector: str = DEFAULT_DETECTOR) -> Calibration | None:
    """The run's stored calibration for ``detector``, or None."""
    path = calibration_path(run, detector)
    if not path.is_file():
        return None
    return Calibration(**json.loads(path.read_text()))


def _train_box_kind(dataset: str) -> str:
    from ..data.datasets import DATASETS

    return "landmark extent" if DATASETS[dataset].center_on == "landmarks" else "dataset box"


def detect_records(records, detector) -> list[np.ndarray]:
    """Raw detections ``(F, 4)`` of each record's image (each image searched once)."""
    from ..data.crops import load_image

    cache: dict[str, np.ndarray] = {}
    out = []
    for rec in records:
        key = rec.image if isinstance(rec.image, str) else None
        if key is not None and key in cache:
            out.append(cache[key])
            continue
        boxes, _ = detector(load_image(rec))
        if key is not None:
            cache[key] = boxes
        out.append(boxes)
    return out


def _sample(records: list, max_faces: int | None, seed: int = 0) -> list:
    if not max_faces or len(records) <= max_faces:
        return records
    keep = np.sort(np.random.default_rng(seed).permutation(len(records))[:max_faces])
    return [records[i] for i in keep]


def calibrate_run(run, detector: str = DEFAULT_DETECTOR, max_faces: int | None = None,
                  write: bool = True) -> Calibration:
    """Fit ``detector``'s calibration on the run's training faces (the dataset's training split:
    for ``real300w`` the 80 % of photos that are not held out) and store it with the run.
    ``max_faces``: a seeded sample of that many faces (tests)."""
    from ..data.crops import face_box
    from ..data.datasets import DATASETS
    from ..provenance import write_json

    cfg = run.train_config
    records = _sample(run_records(run, "train"), max_faces)
    center_on = DATASETS[cfg.dataset].center_on
    train_boxes = np.stack([face_box(r, center_on) for r in records])
    det = get_detector(detector)
    cal = fit_calibration(detect_records(records, det), train_boxes, detector,
                          train_box=_train_box_kind(cfg.dataset), run=run.id)
    if write:
        write_json(calibration_path(run, detector), cal.to_json())
    return cal


def run_calibration(run, detector: str = DEFAULT_DETECTOR, fit_missing: bool = True
                    ) -> Calibration:
    """The run's stored calibration for ``detector``; when there is none, fitted on its training
    faces and stored (:func:`calibrate_run`), or with ``fit_missing=False`` a
    FileNotFoundError saying how to fit it."""
    cal = load_calibration(run, detector)
    if cal is None:
        if not fit_missing:
            raise FileNotFoundError(
                f"{run.id} has no {detector} calibration; fit it on its training faces with "
                f"`python -m sccnb detect calibrate {run.id}`")
        print(f"{run.id}: fitting the {detector} calibration on its training faces "
              "(once; stored with the run)")
        cal = calibrate_run(run, detector)
    return cal


def run_records(run, split: str) -> list:
    """The faces of a run's ``split`` (its dataset under its data root), without the expected
    warning that the 300-W folder is partial (300w_mini, SynthFace)."""
    import warnings

    from ..data import IncompleteDatasetWarning
    from ..data.datasets import load_records
    from ..data.prepare import data_root

    cfg = run.train_config
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", IncompleteDatasetWarning)
        return load_records(cfg.dataset, data_root(cfg), split)


def detection_rate(records, detector: str = DEFAULT_DETECTOR) -> dict[str, Any]:
    """Share of the records' faces the detector finds (a detection's centre inside the face's
    landmark extent), with the counts."""
    from ..data.crops import face_box

    det = get_detector(detector)
    found = sum(_raw_match(boxes, face_box(rec, "landmarks")) is not None
                for rec, boxes in zip(records, detect_records(records, det)))
    return {"detector": detector, "faces": len(records), "found": int(found),
            "rate": found / max(1, len(records))}
