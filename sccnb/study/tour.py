"""The teaching notebook's helpers: real and synthetic landmark shapes in a common frame, their
Pearson correlation (Eq. 4), and the small committed statistics used when the real data is not
on this machine.

Real shapes come from ``shared/data`` (not part of the repository): the 1,966 distinct faces of
the official WFLW test-subset lists (98 points) and the 1,207 faces of ``300w_mini`` (68
points). Before correlating, each shape is placed in a 256-px frame around its own landmark
extent (the same normalisation the 300-W crops use): otherwise the face's position in the
photo would dominate every correlation.

``sccnb/data/stats/real_shape_stats.npz`` holds, for each layout, the correlation matrix C
and the mean shape computed by :func:`compute_real_stats` from that data (a few tens of KB, no
image and no individual shape), with its provenance in ``real_shape_stats.json``.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from ..model.graph import pearson_correlation
from ..provenance import atomic_write_bytes, git_commit, write_json

__all__ = ["box_normalise", "real_shapes", "compute_real_stats", "load_real_stats",
           "STATS_PATH"]

STATS_PATH = Path(__file__).resolve().parents[1] / "data" / "stats" / "real_shape_stats.npz"


def box_normalise(shapes: np.ndarray, size: float = 256.0, scale: float = 1.25) -> np.ndarray:
    """Place every shape in a ``size``-px square of side ``scale`` × its landmark extent,
    centred on the extent (translation and one scale per shape; no rotation)."""
    shapes = np.asarray(shapes, dtype=np.float64)
    lo, hi = shapes.min(axis=1, keepdims=True), shapes.max(axis=1, keepdims=True)
    side = scale * (hi - lo).max(axis=2, keepdims=True)
    return (shapes - (lo + hi) / 2) * (size / side) + (size - 1) / 2


def real_shapes(shared_data: str | Path, layout: str) -> np.ndarray:
    """Real annotated shapes from ``shared/data``: ``"wflw98"`` (distinct faces of the WFLW
    test-subset lists) or ``"300w68"`` (300w_mini). Raw pixel coordinates, 0-based."""
    from ..data import read_300w, read_wflw_subset_list

    root = Path(shared_data)
    if layout == "wflw98":
        seen: dict[tuple, np.ndarray] = {}
        for path in sorted((root / "wflw_annotations" / "list_98pt_test").glob("*.txt")):
            for image, pts in read_wflw_subset_list(path):
                seen.setdefault((image, round(float(pts[0, 0]), 2)), pts)
        return np.stack(list(seen.values()))
    if layout == "300w68":
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # 300w_mini holds only afw + helen/trainset
            records = read_300w(root / "300w_mini", "train")
        return np.stack([r.landmarks for r in records])
    raise ValueError(f"real shapes exist for 'wflw98' and '300w68', not {layout!r}")


def compute_real_stats(shared_data: str | Path, path: Path = STATS_PATH) -> Path:
    """Compute and write the committed statistics (C and the mean shape per layout)."""
    import io

    arrays, counts = {}, {}
    for layout in ("wflw98", "300w68"):
        shapes = box_normalise(real_shapes(shared_data, layout))
        arrays[f"{layout}_corr"] = pearson_correlation(shapes).astype(np.float32)
        arrays[f"{layout}_mean"] = shapes.mean(axis=0).astype(np.float32)
        counts[layout] = int(len(shapes))
    buf = io.BytesIO()
    np.savez_compressed(buf, **arrays)
    atomic_write_bytes(path, buf.getvalue())
    write_json(path.with_suffix(".json"), {
        "what": "Pearson correlation C = (|Cx| + |Cy|) / 2 (Eq. 4) and mean shape of real "
                "annotated faces, each shape first placed in a 256-px frame of 1.25x its "
                "landmark extent (sccnb.study.tour.box_normalise).",
        "sources": {"wflw98": "shared/data/wflw_annotations/list_98pt_test/*.txt (the "
                              "official WFLW test-subset lists; distinct faces)",
                    "300w68": "shared/data/300w_mini (AFW + HELEN trainset, .pts files)"},
        "faces": counts,
        "made_by": "sccnb.study.tour.compute_real_stats",
        "commit": git_commit(),
        "note": "Only these aggregate statistics are in the repository; no image, crop or "
                "individual shape of the real datasets is.",
    })
    return path


def load_real_stats(path: Path = STATS_PATH) -> tuple[dict[str, np.ndarray], dict]:
    """The committed statistics and their provenance."""
    with np.load(path) as z:
        arrays = {k: z[k].astype(np.float64) for k in z.files}
    return arrays, json.loads(path.with_suffix(".json").read_text())
