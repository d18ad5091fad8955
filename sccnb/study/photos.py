"""The photo path measured: held-out NME and FR@0.1 of each shipped model, and of the box-jitter
retrainings that were tried and not shipped, for each kind of box (protocol boxes, calibrated
detector boxes, detector boxes refined by re-cropping on the predicted points).

Nothing is predicted here: the numbers come from the evaluations committed beside the runs,

* ``results/runs/<id>/detector_vs_protocol_dlib-hog.json`` for the shipped models
  (:func:`sccnb.inference.evalfolder.detector_vs_protocol`, which the real-face table also reads);
* ``results/photos/<id>_heldout_boxes.json`` for the retrainings
  (``python -m sccnb eval RUN --data 300w <held-out folder> --boxes both --out DIR``: its
  ``summary.json``).

:func:`photo_table` renders them as the markdown table of the README's photo section
(``python -m sccnb readme``); docs/photos.md explains the rows.
"""

from __future__ import annotations

import json
from pathlib import Path

from ..training.runs import SHIPPED, default_runs_root

__all__ = ["photo_rows", "photo_table", "RETRAININGS"]

# Retrainings of the shipped models with a box jitter (sccnb.data.augment.BOX_JITTERS), tried for
# the photo path and not shipped: run id -> what it is. Their evaluations are in results/photos/.
RETRAININGS = {
    "real300w_cpu-real300w-scc-58780c8fb5": "real300w-scc retrained, box_jitter=dlib-hog",
    "real300w_cpu-real300w-fc-bd97e688e0": "real300w-fc retrained, box_jitter=dlib-hog",
    "real300w_cpu-real300w-scc-72d1a04fdc": "real300w-scc retrained, box_jitter=dlib-hog-refined",
    "real300w_cpu-real300w-fc-959307b663": "real300w-fc retrained, box_jitter=dlib-hog-refined",
}


def _cell(summary: dict | None) -> str:
    if not summary or "nme" not in summary:
        return "—"
    return f"{100 * summary['nme']:.2f} / {100 * summary['fr']:.1f}"


def photo_rows(runs_root: str | Path | None = None,
               photos_dir: str | Path | None = None) -> list[dict]:
    """One dict per model: ``model``, ``shipped`` (bool), ``source`` (the evaluation file,
    relative to the repository when inside it), ``faces``, ``detected``, ``refine`` and the four
    summaries ``protocol`` (all faces), ``protocol_on_detected``, ``detector``, ``refined``
    (each ``{"count", "nme", "fr", ...}`` as fractions). Models whose evaluation is missing are
    left out."""
    from ..provenance import REPO_ROOT

    runs_root = Path(runs_root or default_runs_root())
    photos_dir = Path(photos_dir or REPO_ROOT / "results" / "photos")

    def rel(path: Path) -> str:
        try:
            return str(path.resolve().relative_to(REPO_ROOT))
        except ValueError:
            return str(path)

    rows = []
    for name, shipped in SHIPPED.items():
        path = runs_root / shipped.run_id / "detector_vs_protocol_dlib-hog.json"
        if not path.is_file():
            continue
        d = json.loads(path.read_text())
        rows.append({"model": f"`{name}`", "shipped": True, "source": rel(path),
                     "faces": d["faces"], "detected": d["detected"], "refine": d.get("refine"),
                     "protocol": d["protocol"], "protocol_on_detected": d["protocol_on_detected"],
                     "detector": d["detector_boxes"], "refined": d.get("detector_refined")})
    for run_id, what in RETRAININGS.items():
        path = photos_dir / f"{run_id}_heldout_boxes.json"
        if not path.is_file():
            continue
        s = json.loads(path.read_text())["summary"]
        det, ref = s["detector"], s.get("detector_refined")
        rows.append({"model": what, "shipped": False, "source": rel(path),
                     "faces": det["faces"], "detected": det["detected"],
                     "refine": ref["refine"] if ref else None, "protocol": s["protocol"],
                     "protocol_on_detected": det["protocol_on_detected"], "detector": det,
                     "refined": ref})
    return rows


def photo_table(runs_root: str | Path | None = None, photos_dir: str | Path | None = None,
                shipped_only: bool = False, link_prefix: str = "") -> str:
    """The markdown table of :func:`photo_rows` (NME % / FR@0.1 %), each model linked to its
    evaluation file (``link_prefix`` + its path from the repository root: ``"../"`` for a page
    under docs/), with a one-line note on what the columns are; ``shipped_only``: without the
    retrainings."""
    rows = [r for r in photo_rows(runs_root, photos_dir) if r["shipped"] or not shipped_only]
    if not rows:
        return "_No photo-path evaluation is committed yet (`make eval-heldout`)._"
    lines = ["| model | protocol boxes, all faces | protocol boxes, detected faces | detector "
             "boxes | detector boxes, refined (the default) |",
             "|---|---|---|---|---|"]
    for r in rows:
        refined = _cell(r["refined"]) + (f" ({r['refine']} passes)" if r["refined"] else "")
        model = r["model"] + ("" if r["shipped"] else " (not shipped)")
        lines.append(f"| [{model}]({link_prefix}{r['source']}) | {_cell(r['protocol'])} | "
                     f"{_cell(r['protocol_on_detected'])} | {_cell(r['detector'])} | {refined} |")
    first = rows[0]
    lines += ["", f"NME % / FR@0.1 % on the {first['faces']} held-out faces; the detector columns "
              f"on the {first['detected']} faces dlib's HOG detector finds. Each model's row "
              "links the evaluation it is read from (`python -m sccnb readme` renders this "
              "table)."]
    return "\n".join(lines)
