"""The one record type every dataset reader returns, and the error they raise on bad input."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

__all__ = ["FaceRecord", "DataFormatError", "WFLW_ATTRIBUTES"]

# WFLW's six attribute flags, in the order of the annotation file's fields 201..206.
WFLW_ATTRIBUTES = ("pose", "expression", "illumination", "makeup", "occlusion", "blur")


class DataFormatError(ValueError):
    """Bad input in a dataset file. The message names the file and, where there is one, the
    1-based line (``path:line: what is wrong``)."""

    def __init__(self, path: str | Path, message: str, line: int | None = None) -> None:
        self.path, self.line = str(path), line
        where = f"{path}:{line}" if line is not None else str(path)
        super().__init__(f"{where}: {message}")


@dataclass
class FaceRecord:
    """One annotated face.

    Attributes:
        name: identifier, unique within a split (usually the image's relative path, with a
            face index where one image holds several faces).
        image: absolute image path, or an ``(H, W, 3)`` uint8 RGB array (COFW stores images
            inside its .mat files).
        landmarks: ``(N, 2)`` float64, 0-based pixel coordinates in that image (the centre of
            the top-left pixel is (0, 0)); readers convert other conventions once, here.
        layout: ``"wflw98"``, ``"300w68"`` or ``"cofw29"``.
        box: face box ``(x_min, y_min, x_max, y_max)`` in the same pixel frame, or ``None``
            where the format has none (crops then use the landmark extent).
        attributes: boolean flags, e.g. WFLW's six attributes or 300-W's subset membership.
        occluded: ``(N,)`` bool per-point occlusion where the format has it, else ``None``.
        source: where the record came from, ``"file:line"`` or a file path (for error messages
            and provenance).
        split: the split it was read as (``"train"``, ``"test"``, ...).
        dataset: the dataset's name (``"wflw"``, ``"300w"``, ...).
    """

    name: str
    image: str | np.ndarray
    landmarks: np.ndarray
    layout: str
    box: np.ndarray | None = None
    attributes: dict[str, bool] = field(default_factory=dict)
    occluded: np.ndarray | None = None
    source: str = ""
    split: str = ""
    dataset: str = ""

    def __post_init__(self) -> None:
        self.landmarks = np.asarray(self.landmarks, dtype=np.float64)
        if self.landmarks.ndim != 2 or self.landmarks.shape[1] != 2:
            raise DataFormatError(self.source or self.name,
                                  f"landmarks must be (N, 2), got {self.landmarks.shape}")
        if self.box is not None:
            self.box = np.asarray(self.box, dtype=np.float64).reshape(4)
        if self.occluded is not None:
            self.occluded = np.asarray(self.occluded, dtype=bool).reshape(-1)

    @property
    def num_points(self) -> int:
        return int(self.landmarks.shape[0])
