"""A picture of SynthFace: one row of samples per WFLW attribute, landmarks drawn.

Used for the README and the teaching notebook (``results/figures/synthface_grid.png``).
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from ..records import WFLW_ATTRIBUTES
from .generator import SynthFace, generate_face
from .shape_model import load_shape_model

__all__ = ["GRID_ROWS", "draw_landmarks", "sample_grid"]

GRID_ROWS = ("normal",) + WFLW_ATTRIBUTES
_ROW_LABELS = {"normal": "normal", "pose": "large pose", "expression": "expression",
               "illumination": "illumination", "makeup": "make-up", "occlusion": "occlusion",
               "blur": "blur"}
_VISIBLE, _OCCLUDED = (40, 230, 60), (255, 50, 40)


def draw_landmarks(face: SynthFace, radius: float = 1.3) -> np.ndarray:
    """The face's image with its 98 points drawn (green; red where occluded)."""
    img = face.image.copy()
    for (x, y), occ in zip(face.landmarks, face.occluded):
        cv2.circle(img, (int(round(x * 16)), int(round(y * 16))), int(round(radius * 16)),
                   _OCCLUDED if occ else _VISIBLE, -1, cv2.LINE_AA, 4)
    return img


def _row_attributes(row: str) -> dict[str, bool]:
    """Only the row's attribute on (all off for "normal")."""
    return {name: name == row for name in WFLW_ATTRIBUTES}


def sample_grid(path: str | Path | None = None, per_row: int = 6, size: int = 256,
                seed: int = 0, cell: int = 160, landmarks: bool = True,
                rows: tuple[str, ...] = GRID_ROWS) -> np.ndarray:
    """Render ``per_row`` faces for each row in ``rows`` (``"normal"`` or a WFLW attribute,
    that attribute forced on and the others off), landmarks drawn, each face shrunk to
    ``cell`` px, with row labels. Saves a PNG at ``path`` if given; returns the RGB grid."""
    unknown = set(rows) - set(GRID_ROWS)
    if unknown:
        raise ValueError(f"unknown rows {sorted(unknown)}; supported: {GRID_ROWS}")
    model = load_shape_model()
    label_w = 120
    out = np.full((len(rows) * cell, label_w + per_row * cell, 3), 255, np.uint8)
    for r, row in enumerate(rows):
        for c in range(per_row):
            face = generate_face(seed, f"grid-{row}", c, size, _row_attributes(row), model)
            img = draw_landmarks(face) if landmarks else face.image
            img = cv2.resize(img, (cell, cell), interpolation=cv2.INTER_AREA)
            out[r * cell:(r + 1) * cell, label_w + c * cell:label_w + (c + 1) * cell] = img
        cv2.putText(out, _ROW_LABELS[row], (8, r * cell + cell // 2 + 6),
                    cv2.FONT_HERSHEY_SIMPLEX, 0.55, (0, 0, 0), 1, cv2.LINE_AA)
    if path is not None:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        if not cv2.imwrite(str(path), cv2.cvtColor(out, cv2.COLOR_RGB2BGR),
                           [cv2.IMWRITE_PNG_COMPRESSION, 9]):
            raise OSError(f"could not write {path}")
    return out
