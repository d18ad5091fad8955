"""Models that ship with the study, loaded by name, and :class:`Landmarker`, which runs a model
on photos: find the faces, crop each as the model was trained, predict, map back to pixels.

The shipped models (:data:`sccnb.training.runs.SHIPPED`; :func:`sccnb.training.runs.resolve_run`
finds a run by such a name, id, folder or weights file) are the seed-0 runs of the long-schedule
arms of the committed real-faces evidence (:data:`sccnb.study.real300w.EVIDENCE`, its schedule
probe: profile ``real300w_cpu``, ResNet34 of width 16 at 64², 100 epochs instead of the profile's
60, trained on about 870 real 300-W faces of ``shared/data/300w_mini``). They replaced the 60-epoch
seed-0 runs because they are better on the validation faces that select checkpoints
(``best_val_nme`` in each run's ``metrics.json``; held-out errors in ``real300w_schedule``), and
they meet the convergence criterion. Their weights are committed
in half precision (``results/runs/<id>/best_fp16.pt``), so they load on a fresh clone without
training::

    python -m sccnb predict --model real300w-scc photo.jpg
    >>> import sccnb
    >>> faces = sccnb.load_model("real300w-scc")("photo.jpg")   # one dict per face found

They are small teaching models, not the paper's: their held-out error is in the
schedule-probe table (``results/real300w_cpu/tables/real300w_schedule.md``, 100-epoch arms).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from ..training.runs import SHIPPED, Run, resolve_run

__all__ = ["DEFAULT_REFINE", "load_model", "Landmarker", "whole_image_box", "points_extent",
           "draw_faces", "photo_grid", "shipped_status"]


# Re-crop passes on the detector's boxes (see Landmarker), chosen on the shipped models' held-out
# faces: NME and FR@0.1 for 0-4 passes are stored beside each model
# (results/runs/<id>/detector_vs_protocol_dlib-hog.json, "refine_passes"). 3 passes: the same
# NME as 2 (within 0.03 points) and fewer failures for every shipped model (docs/photos.md).
DEFAULT_REFINE = 3
MAX_REFINE = 10  # more passes than this is a mistake, not a setting


def whole_image_box(width: int, height: int, crop_scale: float) -> np.ndarray:
    """The box whose crop (``crop_scale`` x its longer side, :func:`sccnb.data.crops.crop_matrix`)
    is the image's bounding square: for photos that are already face crops."""
    side = max(width - 1, height - 1) / crop_scale
    cx, cy = (width - 1) / 2, (height - 1) / 2
    return np.array([cx - side / 2, cy - side / 2, cx + side / 2, cy + side / 2])


def points_extent(points: np.ndarray) -> np.ndarray:
    """Boxes ``(F, 4)``: the extent of each face's points ``(F, N, 2)`` (300-W's training box)."""
    return np.concatenate([points.min(axis=1), points.max(axis=1)], axis=1)


class Landmarker:
    """A trained run applied to photos: the one path from a photo to landmarks (the ``predict``
    command, ``eval --data``, the tour and ``make predict-samples`` all go through it).

    ``landmarker(photo)`` finds the faces with ``detector``, turns each detection into the box
    the model was trained with (the run's calibration, :mod:`sccnb.inference.detect`), crops it
    exactly as training and evaluation do (:func:`sccnb.data.crops.crop_records`), predicts and maps
    the points back to the photo's pixels (0-based pixel centres). ``landmarker(photo, boxes)``
    skips the detector: the boxes must then be of the training kind (300-W: the landmark
    extent; WFLW/COFW: their face boxes).

    **Refinement.** A calibrated detector box is a worse crop than the protocol's box (its centre
    and size scatter around the landmark extent), and most of the detector path's error comes
    from that. With ``refine=n``, the face is cropped again ``n`` times, each time on the extent
    of the points just predicted -- the training box of a 300-W model -- and predicted again.
    On detector boxes the default is :data:`DEFAULT_REFINE` passes; on boxes the caller gives, 0
    (they are of the training kind already). Only models trained on the landmark extent
    (300-W) can refine: for WFLW/COFW models the training box is the dataset's rectangle, which
    the points do not give.
    """

    def __init__(self, run: Run, device: str = "cpu", detector: str = "dlib-hog",
                 fit_missing: bool = True, refine: int | None = None, model=None) -> None:
        from ..data.datasets import DATASETS
        from ..errors import resolve_device

        self.run = run
        self.cfg = run.train_config
        self.device = str(resolve_device(device))  # a bad device is named as the CLI names it
        self.model = model if model is not None else run.load_model(self.device, run.weights)
        self.layout = DATASETS[self.cfg.dataset].layout
        self.can_refine = DATASETS[self.cfg.dataset].center_on == "landmarks"
        self.refine = (DEFAULT_REFINE if self.can_refine else 0) if refine is None \
            else self._passes(refine)
        self.detector_name = detector
        self.fit_missing = fit_missing
        self._detector = None
        self._calibration = None

    def _passes(self, refine: int) -> int:
        """``refine`` checked: a whole number of passes, 0 for a model that cannot refine (else
        a :class:`~sccnb.errors.ConfigError`, a ValueError)."""
        from ..errors import ConfigError

        if isinstance(refine, bool) or int(refine) != refine or not 0 <= refine <= MAX_REFINE:
            raise ConfigError(f"refine is a number of re-crop passes, 0 to {MAX_REFINE}; got "
                             f"{refine!r}")
        if refine and not self.can_refine:
            raise ConfigError(f"{self.run.id} was trained on {self.cfg.dataset}'s face boxes, "
                             "not the landmark extent: its points do not give its training "
                             "box, so it cannot refine (refine=0)")
        return int(refine)

    @property
    def calibration(self):
        """The run's detector calibration (fitted on its training faces when missing and
        ``fit_missing``)."""
        if self._calibration is None:
            from .detect import run_calibration

            self._calibration = run_calibration(self.run, self.detector_name, self.fit_missing)
        return self._calibration

    def detect(self, image: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(calibrated boxes ``(F, 4)``, raw detector boxes ``(F, 4)``, scores ``(F,)``), the
        faces ordered left to right."""
        from .detect import get_detector

        if self._detector is None:
            self._detector = get_detector(self.detector_name)
        raw, scores = self._detector(image)
        order = np.argsort(raw[:, 0], kind="stable")
        raw, scores = raw[order], scores[order]
        return self.calibration.apply(raw), raw, scores

    def predict_records(self, records: list, refine: int = 0, workers: int | None = None):
        """Crop every face on its ``box`` (a record's box, of the training kind) as training
        does, predict, and re-crop ``refine`` times on the extent of the points predicted.
        Returns the last pass's crops (a :class:`~sccnb.data.crops.CropSet`, whose ground truth
        the records' landmarks give) and the prediction ``(F, N, 2)`` in its 256-pixel frame,
        as :func:`sccnb.training.evaluate.predict` returns it (what ``eval`` scores)."""
        import dataclasses

        import torch

        from ..data.crops import crop_records
        from ..training.evaluate import predict

        refine = self._passes(refine)
        dev = torch.device(self.device)
        for step in range(refine + 1):
            crops = crop_records(records, self.cfg.input_size, self.cfg.crop_scale, "box",
                                 progress=False, workers=workers)
            pred = predict(self.model, crops, dev, bf16=self.cfg.uses_bf16(dev.type),
                           channels_last=self.cfg.uses_channels_last(dev.type))  # 256 frame
            if step < refine:  # the next crop: on the extent of these points
                boxes = points_extent(self.to_image(crops, pred))
                records = [dataclasses.replace(r, box=b) for r, b in zip(records, boxes)]
        return crops, pred

    def to_image(self, crops, pred: np.ndarray) -> np.ndarray:
        """Points ``(F, N, 2)`` in the 256 crop frame -> the photo's pixels."""
        pred = pred * (self.cfg.input_size / 256)  # crop pixels
        to_image = np.asarray(crops.to_image, dtype=np.float64)  # (F, 2, 3)
        return np.einsum("fij,fnj->fni", to_image[:, :, :2], pred) + to_image[:, None, :, 2]

    def landmarks(self, image: np.ndarray, boxes: np.ndarray, refine: int = 0) -> np.ndarray:
        """Landmarks ``(F, N, 2)`` in image pixels for training-kind ``boxes`` ``(F, 4)``, with
        ``refine`` re-crop passes."""
        from ..data.records import FaceRecord
        from ..data.validate import check_box, check_image
        from ..layouts import get_layout

        boxes = _boxes_array(boxes)
        refine = self._passes(refine)
        n = get_layout(self.layout).num_points
        if len(boxes) == 0:
            return np.zeros((0, n, 2))
        image = check_image(image)
        h, w = image.shape[:2]
        for i, box in enumerate(boxes):  # before any crop (sccnb.data.validate, as the CLI)
            check_box(box, w, h, what=f"box {i} of {len(boxes)}")
        records = [FaceRecord(name=f"face{i}", image=image, landmarks=np.zeros((n, 2)),
                              layout=self.layout, box=box) for i, box in enumerate(boxes)]
        crops, pred = self.predict_records(records, refine, workers=1)
        return self.to_image(crops, pred)

    def __call__(self, image: str | Path | np.ndarray, boxes: np.ndarray | None = None,
                 refine: int | None = None) -> list[dict[str, Any]]:
        """One dict per face: ``box`` (the first crop's box, training kind), ``detector_box``
        and ``score`` (None when ``boxes`` were given), ``landmarks`` ``(N, 2)``, ``layout``,
        ``refine`` (the re-crop passes made: by default :attr:`refine` on detector boxes, 0 on
        given ones). ``image``: a path, a PIL image (RGBA, 16-bit and grey ones converted as
        the command line reads the same file) or an ``(H, W, 3)`` uint8 array
        (:func:`sccnb.data.validate.as_rgb`)."""
        from ..data.validate import as_rgb

        array = as_rgb(image)
        if boxes is None:
            boxes, raw, scores = self.detect(array)
            passes = self.refine if refine is None else refine
        else:
            boxes = _boxes_array(boxes)
            raw, scores = [None] * len(boxes), [None] * len(boxes)
            passes = 0 if refine is None else refine
        points = self.landmarks(array, boxes, passes)
        return [{"box": b.tolist(), "detector_box": None if r is None else r.tolist(),
                 "score": None if s is None else float(s), "landmarks": p,
                 "layout": self.layout, "refine": int(passes)}
                for b, r, s, p in zip(boxes, raw, scores, points)]

    def __repr__(self) -> str:
        return (f"Landmarker({self.run.id}, layout={self.layout}, detector={self.detector_name}, "
                f"refine={self.refine})")


def _boxes_array(boxes: Any) -> np.ndarray:
    """Boxes ``(F, 4)`` as float64, or a DataError saying what a box is."""
    from ..errors import DataError

    try:
        return np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    except (TypeError, ValueError):
        raise DataError(f"boxes {boxes!r} are not (F, 4) numbers (x_min, y_min, x_max, y_max "
                        "per face, 0-based pixels)") from None


def load_model(name: str | Path, device: str = "cpu", detector: str = "dlib-hog",
               refine: int | None = None) -> Landmarker:
    """A shipped model by name (:data:`sccnb.training.runs.SHIPPED`), or any run (id, folder or
    weights file), ready to apply to photos. ``.model`` is the ``torch.nn.Module``; ``.run`` the
    stored run. Errors are those of the command line: a bad device is a
    :class:`~sccnb.errors.DeviceError`, damaged weights a :class:`~sccnb.errors.CheckpointError`
    naming the file, none a :class:`~sccnb.errors.NotFound`. ``refine``: re-crop passes on detector
    boxes (default :data:`DEFAULT_REFINE` for 300-W models; see :class:`Landmarker`)."""
    from ..errors import resolve_device

    resolve_device(device)  # before any file is read: a device is not a checkpoint problem
    run = resolve_run(name)
    run.weights_path()  # none, damaged or not the run's own: says which, naming the file
    return Landmarker(run, device, detector, refine=refine)


def draw_faces(ax, image: np.ndarray, faces: list[dict[str, Any]], *, boxes: bool = True,
               size: float = 4, box_color: str = "w") -> None:
    """``image`` with each face's landmarks (coloured by face part) and, with ``boxes``, the
    box its crop was built on (dashed) and its index."""
    from matplotlib.patches import Rectangle

    from ..plots import draw_landmarks

    ax.imshow(image)
    for i, face in enumerate(faces):
        draw_landmarks(ax, None, face["landmarks"], face["layout"], size=size)
        if boxes:
            x0, y0, x1, y1 = face["box"]
            ax.add_patch(Rectangle((x0, y0), x1 - x0, y1 - y0, fill=False, ls="--", lw=0.8,
                                   color=box_color, alpha=0.7))
            ax.text(x0, y0, str(i), color=box_color, fontsize=7, va="bottom")
    ax.set_axis_off()


def shipped_status(name: str, detector: str = "dlib-hog") -> str | None:
    """Why the shipped model ``name`` cannot run on photos here as committed (no run, no
    weights, no stored calibration, no detector), or None when it can. Names no path."""
    from .detect import DetectorUnavailable, get_detector, load_calibration

    try:
        run = resolve_run(name)
    except FileNotFoundError:
        return f"{name}: its run {SHIPPED[name].run_id} is not in the run store"
    if not (run.complete and run.has_weights):
        return f"{name}: run {run.id} is not trained here or its weights are not committed"
    if load_calibration(run, detector) is None:
        return (f"{name}: run {run.id} has no {detector} calibration (`python -m sccnb detect "
                f"calibrate {name}`)")
    try:
        get_detector(detector)
    except DetectorUnavailable as err:
        return str(err)
    return None


def photo_grid(landmarker: Landmarker, photos: list[str | Path], show_photos: bool = True,
               columns: int = 2):
    """A figure with every face ``landmarker`` finds in each photo. ``show_photos=False``
    draws the landmarks and boxes on a blank canvas of the photo's size: for a figure or an
    executed notebook that must not carry the photos (real photos are not ours to share)."""
    import matplotlib.pyplot as plt

    from ..data.validate import read_rgb

    rows = -(-len(photos) // columns)
    fig, axes = plt.subplots(rows, columns, figsize=(5 * columns, 4.2 * rows), squeeze=False)
    for ax in axes.flat[len(photos):]:
        ax.set_axis_off()
    for ax, photo in zip(axes.flat, photos):
        image = read_rgb(photo)
        faces = landmarker(image)
        shown = image if show_photos else np.full_like(image, 255)
        draw_faces(ax, shown, faces, size=max(1.0, 3 * min(1.0, 600 / max(image.shape[:2]))),
                   box_color="w" if show_photos else "0.3")
        if not show_photos:  # the canvas's edge
            from matplotlib.patches import Rectangle

            h, w = image.shape[:2]
            ax.add_patch(Rectangle((-0.5, -0.5), w, h, fill=False, lw=0.8, color="0.6"))
        ax.set_title(f"{Path(photo).name}: {len(faces)} face(s)", fontsize=9)
    fig.suptitle(f"{landmarker.run.id} ({landmarker.detector_name} boxes, calibrated; "
                 f"{landmarker.refine} re-crop passes)",
                 fontsize=10)
    fig.tight_layout()
    return fig
