"""Models that ship with the study, loaded by name, and :class:`Landmarker`, which runs a model
on photos: find the faces, crop each as the model was trained, predict, map back to pixels.

The shipped models are the seed-0 runs of the long-schedule arms of the committed real-faces
evidence (:data:`sccnb.study.real300w.EVIDENCE`, its schedule probe: profile ``real300w_cpu``,
ResNet34 of width 16 at 64², 100 epochs instead of the profile's 60, trained on about 870 real
300-W faces of ``shared/data/300w_mini``). They replaced the 60-epoch seed-0 runs because they
are better on the validation faces that select checkpoints (``best_val_nme`` in each run's
``metrics.json``; held-out errors in ``real300w_schedule``), and they meet the convergence
criterion. Their weights are committed
in half precision (``results/runs/<id>/best_fp16.pt``), so they load on a fresh clone without
training::

    python -m sccnb predict --model real300w-scc photo.jpg
    >>> import sccnb
    >>> faces = sccnb.load_model("real300w-scc")("photo.jpg")   # one dict per face found

They are small teaching models, not the paper's: their held-out error is in the
schedule-probe table (``results/real300w_cpu/tables/real300w_schedule.md``, 100-epoch arms).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .runs import Run, default_runs_root

__all__ = ["SHIPPED", "ShippedModel", "resolve_run", "load_model", "Landmarker",
           "draw_faces", "photo_grid", "shipped_status"]


@dataclass(frozen=True)
class ShippedModel:
    run_id: str  # the run under results/runs/ (the seed-0 run of its evidence arm)
    description: str


# name -> run. A test checks that the ids are those of the long-schedule evidence configs'
# seed-0 runs (sccnb.study.real300w.SHIPPED_ARMS).
SHIPPED: dict[str, ShippedModel] = {
    "real300w-scc": ShippedModel("real300w_cpu-real300w-scc-0e7940cb2e",
                                 "SCC (full model), 68 points, real 300-W faces, profile "
                                 "real300w_cpu at 100 epochs (drops 60/72), seed 0"),
    "real300w-fc": ShippedModel("real300w_cpu-real300w-fc-7e76961e0b",
                                "FC baseline (Soft Wing), 68 points, real 300-W faces, profile "
                                "real300w_cpu at 100 epochs (drops 60/72), seed 0"),
}


def _shipped_dirs(run_id: str) -> list[Path]:
    from .provenance import REPO_ROOT

    dirs = [default_runs_root() / run_id, REPO_ROOT / "results" / "runs" / run_id]
    return list(dict.fromkeys(dirs))


def resolve_run(name: str | Path, runs_root: str | Path | None = None) -> Run:
    """A run from a shipped model's name, a run folder, a run id (under ``runs_root``, default
    ``results/runs``) or a weights file inside a run folder."""
    text = str(name)
    if text in SHIPPED:
        for d in _shipped_dirs(SHIPPED[text].run_id):
            if (d / "config.json").is_file():
                return Run(d)
        raise FileNotFoundError(f"shipped model {text!r}: its run {SHIPPED[text].run_id} is not "
                                f"in {' or '.join(map(str, _shipped_dirs(SHIPPED[text].run_id)))}")
    path, weights = Path(text).expanduser(), None
    if path.suffix == ".pt":  # that very weights file, with its run folder's config
        if not path.is_file():
            raise FileNotFoundError(f"no weights file {path}")
        path, weights = path.parent, path
    if not path.is_dir():
        path = Path(runs_root or default_runs_root()) / text
    if not (path / "config.json").is_file():
        raise FileNotFoundError(f"no run at {path} (expected config.json there); shipped "
                                f"models: {', '.join(SHIPPED)}")
    return Run(path, weights=weights)


def _read_rgb(path: str | Path) -> np.ndarray:
    """A photo as ``(H, W, 3)`` uint8 RGB, EXIF orientation applied (as a viewer shows it)."""
    import cv2

    from .data.records import DataFormatError

    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if image is None:
        raise DataFormatError(path, "missing or undecodable image")
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


class Landmarker:
    """A trained run applied to photos.

    ``landmarker(photo)`` finds the faces with ``detector``, turns each detection into the box
    the model was trained with (the run's calibration, :mod:`sccnb.detect`), crops it exactly
    as training and evaluation do (:func:`sccnb.data.crops.crop_records`), predicts and maps
    the points back to the photo's pixels (0-based pixel centres). ``landmarker(photo, boxes)``
    skips the detector: the boxes must then be of the training kind (300-W: the landmark
    extent; WFLW/COFW: their face boxes).
    """

    def __init__(self, run: Run, device: str = "cpu", detector: str = "dlib-hog",
                 fit_missing: bool = True) -> None:
        from .data.datasets import DATASETS
        from .errors import resolve_device

        self.run = run
        self.cfg = run.train_config
        self.device = str(resolve_device(device))  # a bad device is named as the CLI names it
        self.model = run.load_model(self.device)
        self.layout = DATASETS[self.cfg.dataset].layout
        self.detector_name = detector
        self.fit_missing = fit_missing
        self._detector = None
        self._calibration = None

    @property
    def calibration(self):
        """The run's detector calibration (fitted on its training faces when missing and
        ``fit_missing``)."""
        if self._calibration is None:
            from .evalfolder import _calibration

            self._calibration = _calibration(self.run, self.detector_name, self.fit_missing)
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

    def landmarks(self, image: np.ndarray, boxes: np.ndarray) -> np.ndarray:
        """Landmarks ``(F, N, 2)`` in image pixels for training-kind ``boxes`` ``(F, 4)``."""
        import torch

        from .data.crops import crop_records
        from .data.records import FaceRecord
        from .data.validate import check_box, check_image
        from .evaluate import predict
        from .layouts import get_layout

        boxes = _boxes_array(boxes)
        if len(boxes) == 0:
            return np.zeros((0, get_layout(self.layout).num_points, 2))
        image = check_image(image)
        h, w = image.shape[:2]
        for i, box in enumerate(boxes):  # before any crop (sccnb.data.validate, as the CLI)
            check_box(box, w, h, what=f"box {i} of {len(boxes)}")
        n = get_layout(self.layout).num_points
        records = [FaceRecord(name=f"face{i}", image=image, landmarks=np.zeros((n, 2)),
                              layout=self.layout, box=box) for i, box in enumerate(boxes)]
        crops = crop_records(records, self.cfg.input_size, self.cfg.crop_scale, "box",
                             progress=False, workers=1)
        dev = torch.device(self.device)
        pred = predict(self.model, crops, dev, bf16=self.cfg.uses_bf16(dev.type),
                       channels_last=self.cfg.uses_channels_last(dev.type))  # 256 frame
        pred = pred * (self.cfg.input_size / 256)  # crop pixels
        to_image = crops.to_image.double().numpy()  # (F, 2, 3)
        return np.einsum("fij,fnj->fni", to_image[:, :, :2], pred) + to_image[:, None, :, 2]

    def __call__(self, image: str | Path | np.ndarray, boxes: np.ndarray | None = None
                 ) -> list[dict[str, Any]]:
        """One dict per face: ``box`` (the crop's box, training kind), ``detector_box`` and
        ``score`` (None when ``boxes`` were given), ``landmarks`` ``(N, 2)``, ``layout``.
        ``image``: a path, a PIL image (RGBA, 16-bit and grey ones converted as the command
        line reads the same file) or an ``(H, W, 3)`` uint8 array
        (:func:`sccnb.data.validate.as_rgb`)."""
        from .data.validate import as_rgb

        array = as_rgb(image)
        if boxes is None:
            boxes, raw, scores = self.detect(array)
        else:
            boxes = _boxes_array(boxes)
            raw, scores = [None] * len(boxes), [None] * len(boxes)
        points = self.landmarks(array, boxes)
        return [{"box": b.tolist(), "detector_box": None if r is None else r.tolist(),
                 "score": None if s is None else float(s), "landmarks": p,
                 "layout": self.layout} for b, r, s, p in zip(boxes, raw, scores, points)]

    def __repr__(self) -> str:
        return f"Landmarker({self.run.id}, layout={self.layout}, detector={self.detector_name})"


def _boxes_array(boxes: Any) -> np.ndarray:
    """Boxes ``(F, 4)`` as float64, or a DataError saying what a box is."""
    from .errors import DataError

    try:
        return np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    except (TypeError, ValueError):
        raise DataError(f"boxes {boxes!r} are not (F, 4) numbers (x_min, y_min, x_max, y_max "
                        "per face, 0-based pixels)") from None


def load_model(name: str | Path, device: str = "cpu", detector: str = "dlib-hog") -> Landmarker:
    """A shipped model by name (:data:`SHIPPED`), or any run (id, folder or weights file), ready
    to apply to photos. ``.model`` is the ``torch.nn.Module``; ``.run`` the stored run. Errors
    are those of the command line: a bad device is a :class:`~sccnb.errors.DeviceError`, damaged
    weights a :class:`~sccnb.errors.CheckpointError` naming the file, none a
    :class:`~sccnb.errors.NotFound`."""
    from .errors import resolve_device

    resolve_device(device)  # before any file is read: a device is not a checkpoint problem
    run = resolve_run(name)
    run.weights_path()  # none, damaged or not the run's own: says which, naming the file
    return Landmarker(run, device, detector)


def draw_faces(ax, image: np.ndarray, faces: list[dict[str, Any]], *, boxes: bool = True,
               size: float = 4, box_color: str = "w") -> None:
    """``image`` with each face's landmarks (coloured by face part) and, with ``boxes``, the
    box its crop was built on (dashed) and its index."""
    from matplotlib.patches import Rectangle

    from .plots import draw_landmarks

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

    rows = -(-len(photos) // columns)
    fig, axes = plt.subplots(rows, columns, figsize=(5 * columns, 4.2 * rows), squeeze=False)
    for ax in axes.flat[len(photos):]:
        ax.set_axis_off()
    for ax, photo in zip(axes.flat, photos):
        image = _read_rgb(photo)
        faces = landmarker(image)
        shown = image if show_photos else np.full_like(image, 255)
        draw_faces(ax, shown, faces, size=max(1.0, 3 * min(1.0, 600 / max(image.shape[:2]))),
                   box_color="w" if show_photos else "0.3")
        if not show_photos:  # the canvas's edge
            from matplotlib.patches import Rectangle

            h, w = image.shape[:2]
            ax.add_patch(Rectangle((-0.5, -0.5), w, h, fill=False, lw=0.8, color="0.6"))
        ax.set_title(f"{Path(photo).name}: {len(faces)} face(s)", fontsize=9)
    fig.suptitle(f"{landmarker.run.id} ({landmarker.detector_name} boxes, calibrated)",
                 fontsize=10)
    fig.tight_layout()
    return fig
