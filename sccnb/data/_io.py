"""Small pieces shared by the dataset readers: number parsing with located errors, the
``on_error`` policy, the list type readers return, and cheap image checks.

Every check here raises :class:`~sccnb.data.records.DataFormatError`, whose message starts
with ``path:line`` (1-based line; for ``.mat`` files the "line" is the 1-based face index).
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Generic, TypeVar

import numpy as np

from .records import DataFormatError

__all__ = ["ReadResult", "ErrorPolicy", "SkippedRecordsWarning", "IncompleteDatasetWarning",
           "parse_floats", "require_finite", "unique_names", "image_size", "find_image",
           "check_box", "IMAGE_SUFFIXES", "NO_IMAGE"]

T = TypeVar("T")

# Suffixes tried, in this order, when an annotation file names no image (300-W: the image
# sits next to its .pts). 300-W uses .jpg (afw, helen, ibug) and .png (lfpw).
IMAGE_SUFFIXES = (".jpg", ".png", ".jpeg", ".bmp", ".JPG", ".PNG", ".JPEG")

# ``FaceRecord.image`` of an annotation-only record (a reader given no images, e.g. COFW-68
# without the COFW test .mat, or an HRNet CSV without an image folder). Such records are for
# statistics (mean shapes, point ranges), not for training or evaluation.
NO_IMAGE = ""


class SkippedRecordsWarning(UserWarning):
    """A reader run with ``on_error="skip"`` dropped bad records (listed in ``.skipped``)."""


class IncompleteDatasetWarning(UserWarning):
    """Part of what a split is made of is absent (listed in the result's ``.notes``)."""


class ReadResult(list, Generic[T]):
    """What a reader returns: a plain list of the items read, plus

    * ``skipped``: one :class:`DataFormatError` per item dropped under ``on_error="skip"``
      (each names its file and line), empty otherwise;
    * ``notes``: facts the caller should know that are not errors (e.g. 300-W folders that are
      absent from the root and were therefore not read).
    """

    def __init__(self, items: Iterable[T] = (), skipped: Sequence[DataFormatError] = (),
                 notes: Sequence[str] = ()) -> None:
        super().__init__(items)
        self.skipped: list[DataFormatError] = list(skipped)
        self.notes: list[str] = list(notes)


class ErrorPolicy:
    """Applies a reader's ``on_error`` argument: ``"raise"`` (default everywhere) raises the
    first bad record's error; ``"skip"`` keeps each error and lets the reader go on."""

    def __init__(self, on_error: str) -> None:
        if on_error not in ("raise", "skip"):
            raise ValueError(f"on_error must be 'raise' or 'skip', got {on_error!r}")
        self.on_error = on_error
        self.skipped: list[DataFormatError] = []

    def fail(self, error: DataFormatError) -> None:
        """Raise ``error``, or record it and return (the caller then drops the item)."""
        if self.on_error == "raise":
            raise error
        self.skipped.append(error)

    def result(self, items: Iterable[T], what: str, notes: Sequence[str] = ()) -> ReadResult[T]:
        """Wrap the items read; warn once (naming the first error) if any were skipped."""
        out = ReadResult(items, self.skipped, notes)
        if self.skipped:
            warnings.warn(f"{what}: skipped {len(self.skipped)} bad record(s), e.g. "
                          f"{self.skipped[0]}; all are listed in the result's .skipped",
                          SkippedRecordsWarning, stacklevel=3)
        return out


def unique_names(names: Sequence[str]) -> list[str]:
    """Names made unique within a split: a name that occurs k > 1 times (several faces in one
    image) becomes ``name#0`` ... ``name#{k-1}`` in order of appearance; others are kept."""
    counts: dict[str, int] = {}
    for name in names:
        counts[name] = counts.get(name, 0) + 1
    seen: dict[str, int] = {}
    out = []
    for name in names:
        if counts[name] == 1:
            out.append(name)
        else:
            out.append(f"{name}#{seen.get(name, 0)}")
            seen[name] = seen.get(name, 0) + 1
    return out


def parse_floats(tokens: Sequence[str], path: str | Path, line: int | None,
                 what: str = "value") -> np.ndarray:
    """Tokens -> float64 array; a token that is not a number is an error naming it."""
    try:
        return np.array([float(t) for t in tokens], dtype=np.float64)
    except ValueError:
        bad = next(i for i, t in enumerate(tokens) if not _is_float(t))
        raise DataFormatError(path, f"{what} {bad + 1} is not a number: {tokens[bad]!r}",
                              line) from None


def _is_float(token: str) -> bool:
    try:
        float(token)
    except ValueError:
        return False
    return True


def require_finite(values: np.ndarray, path: str | Path, line: int | None,
                   what: str = "coordinates") -> None:
    """NaN or infinite values are an error (they would poison every loss and metric)."""
    bad = ~np.isfinite(values)
    if bad.any():
        first = int(np.flatnonzero(bad.reshape(-1))[0])
        raise DataFormatError(path, f"{int(bad.sum())} non-finite {what} (first at flat index "
                                    f"{first}: {values.reshape(-1)[first]})", line)


def find_image(stem_path: Path) -> Path | None:
    """The image next to an annotation file (same name, one of :data:`IMAGE_SUFFIXES`)."""
    for suffix in IMAGE_SUFFIXES:
        candidate = stem_path.with_suffix(suffix)
        if candidate.is_file():
            return candidate
    return None


def image_size(image: Path, path: str | Path, line: int | None) -> tuple[int, int]:
    """``(width, height)`` from the image header only (no decoding). A missing file or an
    unreadable header is an error at the annotation's ``path:line``."""
    from PIL import Image, UnidentifiedImageError

    if not image.is_file():
        raise DataFormatError(path, f"image not found: {image}", line)
    try:
        with Image.open(image) as im:
            return im.size
    except (UnidentifiedImageError, OSError) as err:
        raise DataFormatError(path, f"cannot read image {image}: {err}", line) from None


def check_box(box: np.ndarray, size: tuple[int, int] | None, path: str | Path,
              line: int | None) -> None:
    """A face box must be non-empty and, when the image size ``(W, H)`` is known, overlap the
    image. A box that only partly leaves the image is accepted: faces at the border have such
    boxes in the real lists and crops pad; ``data check`` counts them."""
    x0, y0, x1, y1 = (float(v) for v in box)
    if not (x1 > x0 and y1 > y0):
        raise DataFormatError(path, f"empty or inverted box ({x0:g}, {y0:g}, {x1:g}, {y1:g}); "
                                    "expected x_min y_min x_max y_max", line)
    if size is None:
        return
    w, h = size
    # Pixel centres run 0..W-1, so the image covers [-0.5, W - 0.5] x [-0.5, H - 0.5].
    if x1 < -0.5 or y1 < -0.5 or x0 > w - 0.5 or y0 > h - 0.5:
        raise DataFormatError(path, f"box ({x0:g}, {y0:g}, {x1:g}, {y1:g}) lies outside the "
                                    f"{w} x {h} image", line)
