"""``python -m sccnb eval RUN --data FORMAT PATH``: a stored or shipped model on your own
annotated faces, with the protocol's boxes or a detector's. The faces are read by format
(``300w``, ``wflw``, ``cofw``: :mod:`sccnb.data.folder`).

A model only evaluates faces of its own landmark layout (a 68-point model on 68-point faces).

Boxes (``--boxes``): ``protocol`` crops around the box the dataset's protocol gives (300-W: the
landmark extent; WFLW and COFW: their rectangles), exactly as the run's own evaluation does, so a
run's test faces give its committed NME; ``detector`` crops around the detector's boxes mapped by
the run's calibration (:mod:`sccnb.inference.detect`), scored on the faces the detector found, once
as they are and once re-cropped on the predicted points (``detector_refined``,
:data:`sccnb.inference.zoo.DEFAULT_REFINE` passes: what ``predict`` does with a photo); ``both``
does both. Every prediction goes through :class:`sccnb.inference.zoo.Landmarker`, the path photos
take. Outputs under ``--out``: ``per_image.csv`` (one row per face and box kind: name, NME,
detected, the box), ``summary.json`` (NME, FR@0.1, AUC@0.1 per box kind, detection rate, the
calibration, provenance) and ``ced.png`` (the cumulative error distribution).

:func:`detector_vs_protocol` gives the real-faces table its numbers: a run's held-out NME
with protocol boxes, with detector boxes and with refined detector boxes, and the detection
rate. :func:`run_box_spread` measures how the detector path's boxes scatter around a run's
training boxes (``detect spread``). ``python -m sccnb link-split RUN heldout DIR``
makes a folder of links to a run's held-out faces (nothing copied).
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..data.folder import FORMATS, read_folder
from ..data.records import FaceRecord

__all__ = ["BOX_KINDS", "OUTPUTS", "check_records", "evaluate_records", "evaluate_folder",
           "detector_vs_protocol", "refined_boxes", "run_box_spread", "link_split", "plot_ced"]

BOX_KINDS = ("protocol", "detector", "both")


def _check_layout(run, records: list[FaceRecord], where: str) -> None:
    from ..data.datasets import DATASETS
    from ..layouts import get_layout

    layout = DATASETS[run.train_config.dataset].layout
    found = sorted({r.layout for r in records})
    if found != [layout]:
        n = get_layout(layout).num_points
        raise ValueError(f"{run.id} predicts {n} points (layout {layout}) but {where} holds "
                         f"faces of layout {', '.join(found)}; evaluate it on {n}-point "
                         "faces, or use a model trained on that layout")


# --- evaluation ------------------------------------------------------------------------------
def _box_columns(df: pd.DataFrame, boxes: np.ndarray) -> pd.DataFrame:
    for i, col in enumerate(("box_x_min", "box_y_min", "box_x_max", "box_y_max")):
        df[col] = boxes[:, i]
    return df


def evaluate_records(run, records: list[FaceRecord], center_on: str, boxes: str = "protocol",
                     detector: str = "dlib-hog", device: str = "cpu", model=None,
                     fit_missing: bool = True, where: str = "the data",
                     refine: int | None = None, sweep: tuple[int, ...] = ()
                     ) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Evaluate ``run`` on ``records`` (one layout) through :class:`sccnb.inference.zoo.Landmarker`,
    the path photos take. Returns the per-image table (a ``boxes`` column says which box kind each
    row used; ``nme`` is NaN where the detector missed the face) and the summary: per box kind,
    ``{"count", "nme", "fr", "auc", "auc_coarse"}`` over the faces it scored (fractions, like
    ``metrics.json``), plus for detector boxes the detection rate, the protocol boxes' summary
    on the same detected faces and the calibration.

    Box kinds: ``protocol``; ``detector`` (calibrated detector boxes, no re-crop); and, for a
    model that can refine (300-W), ``detector_refined``: the same boxes with ``refine`` re-crop
    passes (default :data:`sccnb.inference.zoo.DEFAULT_REFINE`), the photo path's default.
    ``sweep``: also score these numbers of passes on the detected faces
    (``summary["refine_passes"]``)."""
    from ..data.crops import face_box
    from ..metrics import summarise
    from ..training.evaluate import per_image_table
    from .detect import detect_records, get_detector, matched_boxes
    from .zoo import Landmarker

    if boxes not in BOX_KINDS:
        raise ValueError(f"unknown boxes {boxes!r}; supported: {', '.join(BOX_KINDS)}")
    _check_layout(run, records, where)
    landmarker = Landmarker(run, device, detector, fit_missing, refine=refine, model=model)
    train_boxes = np.stack([face_box(r, center_on) for r in records])

    def score(recs: list[FaceRecord], passes: int = 0) -> pd.DataFrame:
        crops, pred = landmarker.predict_records(recs, passes)
        return per_image_table(pred, crops)  # NME in the last crop's frame, as `eval` scores

    tables, summary = [], {}
    protocol = score([dataclasses.replace(r, box=b) for r, b in zip(records, train_boxes)])
    if boxes in ("protocol", "both"):
        tables.append(_box_columns(protocol.assign(boxes="protocol", detected=True),
                                   train_boxes))
        summary["protocol"] = summarise(protocol["nme"])
    if boxes in ("detector", "both"):
        cal = landmarker.calibration
        found = detect_records(records, get_detector(detector))
        matched = matched_boxes(found, train_boxes, cal)
        hit = np.flatnonzero(np.isfinite(matched).all(axis=1))
        detected = [dataclasses.replace(records[i], box=matched[i]) for i in hit]
        kinds = {"detector": 0}
        if landmarker.refine:
            kinds["detector_refined"] = landmarker.refine
        common = {"faces": len(records), "detected": int(len(hit)),
                  "detection_rate": len(hit) / len(records), "detector": detector}
        scored: dict[int, pd.DataFrame] = {}  # passes -> the detected faces' table

        def score_detected(passes: int) -> pd.DataFrame:
            if passes not in scored:
                scored[passes] = score(detected, passes)
            return scored[passes]

        for kind, passes in kinds.items():
            det = protocol[["name", "dataset", "split"]].copy()
            det["nme"] = np.nan
            if len(hit):
                det.loc[hit, "nme"] = score_detected(passes)["nme"].to_numpy()
            tables.append(_box_columns(det.assign(boxes=kind, detected=False), matched))
            tables[-1].loc[hit, "detected"] = True
            summary[kind] = {
                **(summarise(det.loc[hit, "nme"]) if len(hit) else {"count": 0}), **common,
                "refine": passes,
                "protocol_on_detected": (summarise(protocol.loc[hit, "nme"]) if len(hit)
                                         else {"count": 0}),
                "calibration": cal.to_json()}
        if sweep and len(hit):
            summary["refine_passes"] = {str(n): summarise(score_detected(n)["nme"])
                                        for n in sweep if n == 0 or landmarker.can_refine}
    table = pd.concat(tables, ignore_index=True)
    front = ["boxes", "name", "nme", "detected"]
    return table[front + [c for c in table.columns if c not in front]], summary


def plot_ced(table: pd.DataFrame, title: str, path: str | Path, threshold: float = 0.1) -> Path:
    """The CED of each box kind in ``table`` (NME up to ``threshold``) as a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from ..metrics import auc, ced

    fig, ax = plt.subplots(figsize=(5, 4))
    for kind, group in table.groupby("boxes", sort=False):
        nmes = group["nme"].dropna()
        if nmes.empty:
            continue
        xs, ys = ced(nmes, threshold)
        ax.plot(100 * xs, ys, label=f"{kind} boxes: NME {100 * nmes.mean():.2f} %, "
                f"AUC@{threshold:g} {auc(nmes, threshold):.3f} ({len(nmes)} faces)")
    ax.set(xlabel="NME (%)", ylabel="share of faces", xlim=(0, 100 * threshold), ylim=(0, 1),
           title=title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="lower right")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120, bbox_inches="tight")
    plt.close(fig)
    return path


OUTPUTS = ("per_image.csv", "summary.json", "ced.png")  # what evaluate_folder writes in out


def check_records(records: list[FaceRecord]) -> None:
    """Every face's points and box checked against its image (:mod:`sccnb.data.validate`:
    finite, not far outside it, not all outside it; the message names the file and line)
    before any crop is made."""
    from ..data.validate import check_record

    for record in records:
        check_record(record)


def evaluate_folder(run, fmt: str, path: str | Path, boxes: str = "protocol",
                    detector: str = "dlib-hog", device: str = "cpu",
                    out: str | Path | None = None, force: bool = False,
                    refine: int | None = None) -> dict[str, Any]:
    """Evaluate ``run`` on the faces at ``path`` (format ``fmt``); with ``out``, write
    ``per_image.csv``, ``summary.json`` and ``ced.png`` there (files of those names that sccnb
    did not write are refused, or with ``force`` kept renamed: :mod:`sccnb.inference.outputs`).
    Returns the summary dict."""
    from ..data.datasets import DATASETS
    from ..provenance import atomic_write_text, provenance, write_json
    from ..training.config import portable_path
    from .outputs import check_outputs, claim_outputs

    records = read_folder(fmt, path)
    check_records(records)
    if out is not None:
        check_outputs(out, OUTPUTS, "eval", force=force)
    table, summary = evaluate_records(run, records, DATASETS[FORMATS[fmt]].center_on, boxes,
                                      detector, device, where=f"{path} ({fmt})",
                                      refine=refine)
    result = {"run": run.id, "weights": run.weights_path().name, "format": fmt,
              "data": portable_path(path), "faces": len(records), "boxes": boxes,
              "summary": summary,
              "metrics": "NME normalised by the outer eye corners, as fractions; FR and AUC at "
                         "0.1", "provenance": provenance(device)}
    if out is not None:
        out = Path(out)
        claim_outputs(out, OUTPUTS, "eval", force=force)
        atomic_write_text(out / "per_image.csv", table.to_csv(index=False))
        write_json(out / "summary.json", result)
        plot_ced(table, f"{run.id} on {Path(path).name} ({fmt})", out / "ced.png")
    return result


# --- a run's held-out faces ------------------------------------------------------------------
def _test_records(run, split: str | None) -> tuple[list[FaceRecord], str]:
    from ..data.datasets import DATASETS
    from .detect import run_records

    splits = DATASETS[run.train_config.dataset].tests if split is None else (split,)
    return [r for s in splits for r in run_records(run, s)], "+".join(splits)


REFINE_SWEEP = (0, 1, 2, 3, 4)  # re-crop passes scored beside each run (choosing the default)


def detector_vs_protocol(run, detector: str = "dlib-hog", device: str = "cpu",
                         split: str | None = None, fit_missing: bool = True,
                         sweep: tuple[int, ...] = REFINE_SWEEP) -> dict[str, Any]:
    """A run's test faces (``split``; default all its test splits -- ``heldout`` for the real
    300-W runs) with protocol boxes and with calibrated detector boxes. Returns::

        {"run", "split", "detector", "faces", "detected", "detection_rate",
         "protocol":             summary over all faces (= the run's committed numbers),
         "protocol_on_detected": summary over the faces the detector found,
         "detector_boxes":       summary over the same faces, cropped on the detector's boxes,
         "detector_refined":     the same, re-cropped ``refine`` times on the predicted points
                                 (300-W models: :data:`sccnb.inference.zoo.DEFAULT_REFINE`),
         "refine": that number, "refine_passes": {passes: summary} for each of ``sweep``,
         "calibration":          the run's calibration (fitted on its training faces)}

    each summary ``{"count", "nme", "fr", "auc", "auc_coarse"}`` with NME and FR as fractions.
    A missing calibration is fitted and stored first (``fit_missing``)."""
    from ..data.datasets import DATASETS

    records, split_name = _test_records(run, split)
    _, summary = evaluate_records(run, records, DATASETS[run.train_config.dataset].center_on,
                                  "both", detector, device, fit_missing=fit_missing,
                                  sweep=sweep)
    d = summary["detector"]
    keys = ("count", "nme", "fr", "auc", "auc_coarse")
    refined = {"detector_refined": {k: summary["detector_refined"][k] for k in keys
                                    if k in summary["detector_refined"]},
               "refine": summary["detector_refined"]["refine"]} \
        if "detector_refined" in summary else {}
    return {"run": run.id, "split": split_name, "detector": detector, "faces": d["faces"],
            "detected": d["detected"], "detection_rate": d["detection_rate"],
            "protocol": summary["protocol"], "protocol_on_detected": d["protocol_on_detected"],
            "detector_boxes": {k: d[k] for k in keys if k in d}, **refined,
            "refine_passes": summary.get("refine_passes", {}),
            "calibration": d["calibration"]}


def link_split(run, split: str, out: str | Path) -> Path:
    """A folder of symbolic links to a 300-W-format run's ``split`` faces (image + ``.pts``),
    for ``eval --data 300w``: e.g. the real-faces runs' held-out faces. Nothing is copied."""
    records, _ = _test_records(run, split)
    out = Path(out)
    for rec in records:
        if not rec.source.endswith(".pts"):
            raise ValueError(f"{run.id}: {split} faces are not .pts files")
        target = out / rec.name
        target.parent.mkdir(parents=True, exist_ok=True)
        for src, dst in ((Path(rec.image), target), (Path(rec.source),
                                                     target.with_suffix(".pts"))):
            if dst.is_symlink() or dst.exists():
                dst.unlink()
            os.symlink(src.resolve(), dst)
    return out


# --- a run's training faces: how the detector path's boxes scatter -------------------------
def refined_boxes(run, records: list[FaceRecord], boxes: np.ndarray, refine: int,
                  device: str = "cpu") -> np.ndarray:
    """The box of the last crop the photo path makes with ``refine`` re-crop passes from
    ``boxes`` (training kind; NaN rows kept as NaN): the extent of the points predicted on the
    pass before (:class:`sccnb.inference.zoo.Landmarker`)."""
    from .zoo import Landmarker, points_extent

    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    out = boxes.copy()
    hit = np.flatnonzero(np.isfinite(boxes).all(axis=1))
    if refine == 0 or len(hit) == 0:
        return out
    landmarker = Landmarker(run, device, refine=refine)
    recs = [dataclasses.replace(records[i], box=boxes[i]) for i in hit]
    crops, pred = landmarker.predict_records(recs, refine - 1)
    out[hit] = points_extent(landmarker.to_image(crops, pred))
    return out


def run_box_spread(run, detector: str = "dlib-hog", max_faces: int | None = None,
                   with_offsets: bool = False, refine: int = 0) -> dict[str, Any]:
    """:func:`sccnb.inference.detect.box_spread` on the run's training faces (those its calibration
    is fitted on), with its stored calibration (fitted first when missing, without storing it).
    With ``with_offsets``, also ``"offsets"``: the per-face rows of
    :func:`sccnb.inference.detect.box_offsets`. With ``refine`` > 0, the spread is that of the box
    the photo path's last crop uses after that many re-crop passes from the calibrated detector box
    (:func:`refined_boxes`), the boxes the run's own predictions give."""
    from .detect import (box_offsets, box_spread, matched_boxes, offset_spread, offsets_from,
                         training_detections)

    found, train_boxes, cal, records = training_detections(run, detector, max_faces,
                                                           with_records=True)
    out = {"run": run.id, "split": "train", "detector": detector, "refine": int(refine),
           **box_spread(found, train_boxes, cal)}
    if refine:
        boxes = refined_boxes(run, records, matched_boxes(found, train_boxes, cal), refine)
        r = offsets_from(boxes, train_boxes)
        out.update(offset_spread(r))
        out["unit"] = ("dx, dy: training-box sides; log_scale: log(refined / training side); "
                       f"the box after {refine} re-crop passes")
    else:
        r = box_offsets(found, train_boxes, cal)
    if with_offsets:
        out["offsets"] = r
    return out
