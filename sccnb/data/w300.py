"""300-W readers (68 points, layout ``"300w68"``): iBUG ``.pts`` files and HRNet's CSVs.

Facts used (``shared/docs/protocol.md``; Sagonas et al., "300 Faces In-The-Wild Challenge",
IMAVIS 2016):

* ``.pts``: ``version: 1`` / ``n_points: 68`` / ``{`` / 68 lines ``x y`` / ``}``; some
  redistributions drop the header, so it is optional here.
* Coordinates are 1-based (MATLAB: the centre of the top-left pixel is (1, 1)); dlib's converted
  XML equals the ``.pts`` values minus 1. HRNet's CSVs store the same raw 1-based values. Both
  are converted to the project's 0-based frame once, here, by subtracting 1.
* Splits of the paper's protocol (Sec. 4.1; 3,148 / 554 / 135 / 689 faces): train = afw +
  helen/trainset + lfpw/trainset; common = helen/testset + lfpw/testset; challenging = ibug;
  full = common + challenging. The image sits next to its ``.pts`` (.jpg, or .png for LFPW).
* 300-W has no official face box: records carry ``box=None`` and crops use the landmark extent.
"""

from __future__ import annotations

import csv
import warnings
from pathlib import Path

import numpy as np

from ._io import (NO_IMAGE, ErrorPolicy, IncompleteDatasetWarning, ReadResult, find_image,
                  parse_floats, require_finite, unique_names)
from .records import DataFormatError, FaceRecord

__all__ = ["read_pts", "read_300w", "read_300w_csv", "W300_FOLDERS", "W300_SPLITS",
           "W300_POINTS"]

W300_POINTS = 68

# subset -> its folders under the 300-W root, in the order they are read.
W300_FOLDERS: dict[str, tuple[str, ...]] = {
    "train": ("afw", "helen/trainset", "lfpw/trainset"),
    "common": ("helen/testset", "lfpw/testset"),
    "challenging": ("ibug",),
}
# split -> the subsets it is made of.
W300_SPLITS: dict[str, tuple[str, ...]] = {
    "train": ("train",),
    "common": ("common",),
    "challenging": ("challenging",),
    "full": ("common", "challenging"),
}


# --- .pts ------------------------------------------------------------------------------------
def read_pts(path: str | Path, num_points: int | None = None) -> np.ndarray:
    """Read an iBUG ``.pts`` file as ``(N, 2)`` float64, 0-based (file values minus 1).

    The ``version`` / ``n_points`` / ``{ }`` header is optional. Raises DataFormatError naming
    the file and line for: a line that is not two numbers, NaN/inf, a point count that differs
    from the header's ``n_points`` or from ``num_points``, a missing ``}``, text after ``}``.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8", errors="strict")
    except UnicodeDecodeError as err:
        raise DataFormatError(path, f"not a text .pts file ({err})") from None
    except OSError as err:
        raise DataFormatError(path, f"cannot read: {err.strerror or err}") from None

    points: list[np.ndarray] = []
    n_points: tuple[int, int] | None = None  # (value, line)
    opened = closed = None  # line numbers of "{" and "}"
    for lineno, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line:
            continue
        if closed is not None:
            raise DataFormatError(path, f"unexpected text after '}}' (line {closed}): {line!r}",
                                  lineno)
        if line == "{":
            if opened is not None or points:
                raise DataFormatError(path, "unexpected '{'", lineno)
            opened = lineno
        elif line == "}":
            if opened is None:
                raise DataFormatError(path, "'}' without a matching '{'", lineno)
            closed = lineno
        elif ":" in line and opened is None and not points:
            key, _, value = (part.strip() for part in line.partition(":"))
            if key == "n_points":
                try:
                    n_points = (int(value), lineno)
                except ValueError:
                    raise DataFormatError(path, f"n_points is not an integer: {value!r}",
                                          lineno) from None
        else:
            tokens = line.split()
            if len(tokens) != 2:
                raise DataFormatError(path, f"expected a point 'x y', got {len(tokens)} "
                                            f"field(s): {line!r}", lineno)
            xy = parse_floats(tokens, path, lineno, what="coordinate")
            require_finite(xy, path, lineno)
            points.append(xy)

    end = closed or len(text.splitlines())
    if opened is not None and closed is None:
        raise DataFormatError(path, "missing closing '}'", end)
    if not points:
        raise DataFormatError(path, "no points", end)
    if n_points is not None and n_points[0] != len(points):
        raise DataFormatError(path, f"n_points (line {n_points[1]}) says {n_points[0]} but "
                                    f"{len(points)} points follow", end)
    if num_points is not None and len(points) != num_points:
        raise DataFormatError(path, f"expected {num_points} points, got {len(points)}", end)
    return np.stack(points) - 1.0  # 1-based (MATLAB) -> 0-based


# --- folders of .pts + images ----------------------------------------------------------------
def read_300w(root: str | Path, split: str, *, on_error: str = "raise") -> ReadResult[FaceRecord]:
    """Read a 300-W split from the standard folders under ``root``.

    ``split``: ``"train"``, ``"common"``, ``"challenging"`` or ``"full"`` (see
    :data:`W300_FOLDERS`, :data:`W300_SPLITS`). Folders of the split that are absent are not
    read; they are listed in the result's ``.notes`` and an IncompleteDatasetWarning is issued
    (so a partial copy such as ``shared/data/300w_mini``, which holds only afw and
    helen/trainset, reads as a partial train split). No folder of the split at all is an error.

    Records: ``name`` = the image path relative to ``root``, ``box=None``, ``split`` = the split
    asked for, and for the test splits ``attributes = {"common": ..., "challenging": ...}``.
    Every ``.pts`` needs an image next to it. ``on_error="skip"`` drops bad faces and lists
    them in ``.skipped``.
    """
    root = Path(root)
    if split not in W300_SPLITS:
        raise ValueError(f"unknown 300-W split {split!r}; supported: {sorted(W300_SPLITS)}")
    wanted = [(subset, folder) for subset in W300_SPLITS[split] for folder in W300_FOLDERS[subset]]
    present = [(s, f) for s, f in wanted if (root / f).is_dir()]
    absent = [f for s, f in wanted if not (root / f).is_dir()]
    if not present:
        raise DataFormatError(root, f"no folder of 300-W split {split!r} found; expected "
                                    f"{', '.join(f for _, f in wanted)} under this root")
    notes = []
    if absent:
        notes.append(f"300-W {split}: absent under {root}: {', '.join(absent)} "
                     f"(read only {', '.join(f for _, f in present)})")
        warnings.warn(notes[-1], IncompleteDatasetWarning, stacklevel=2)

    policy = ErrorPolicy(on_error)
    records: list[FaceRecord] = []
    for subset, folder in present:
        pts_files = sorted((root / folder).glob("*.pts"))
        if not pts_files:
            policy.fail(DataFormatError(root / folder, "folder holds no .pts files"))
        for pts in pts_files:
            try:
                records.append(_pts_record(pts, root, split, subset))
            except DataFormatError as err:
                policy.fail(err)
    return policy.result(records, f"300-W {split} under {root}", notes)


def _pts_record(pts: Path, root: Path, split: str, subset: str) -> FaceRecord:
    """One face: its .pts and the image next to it."""
    landmarks = read_pts(pts, W300_POINTS)
    image = find_image(pts)
    if image is None:
        raise DataFormatError(pts, f"no image next to it (looked for {pts.stem}.jpg, .png, ...)")
    attributes = {} if subset == "train" else {"common": subset == "common",
                                                "challenging": subset == "challenging"}
    return FaceRecord(name=image.relative_to(root).as_posix(), image=str(image.resolve()),
                      landmarks=landmarks, layout="300w68", box=None, attributes=attributes,
                      source=str(pts), split=split, dataset="300w")


# --- HRNet CSV -------------------------------------------------------------------------------
_CSV_LEAD = ("image_name", "scale", "center_w", "center_h")
_CSV_FIELDS = len(_CSV_LEAD) + 2 * W300_POINTS


def read_300w_csv(path: str | Path, images_root: str | Path | None = None, *,
                  split: str | None = None, on_error: str = "raise") -> ReadResult[FaceRecord]:
    """Read an HRNet-Facial 300-W CSV: ``image_name, scale, center_w, center_h,
    original_0_x, original_0_y, ...`` (68 points, 1-based; converted to 0-based here).

    HRNet's ``center`` is the middle of the landmark box and ``scale`` its longer side / 200.
    The record keeps both, exactly, as its box: the square ``center +- 100 * scale`` (0-based),
    so ``center = box midpoint`` and ``scale = box side / 200``.

    ``images_root``: folder the ``image_name`` paths are relative to; each image must exist.
    Without it the records are annotation-only (``image == ""``, for statistics).
    ``split`` defaults to the file name without ``face_landmarks_300w_`` (e.g.
    ``"valid_challenge"``). Faces whose path starts with ``ibug/`` get the attribute
    ``challenging``, ``helen/testset`` or ``lfpw/testset`` ``common`` (as in :func:`read_300w`).
    """
    path = Path(path)
    split = split or path.stem.removeprefix("face_landmarks_300w_")
    policy = ErrorPolicy(on_error)
    rows: list[tuple[int, list[str]]] = []
    try:
        with path.open(newline="", encoding="utf-8") as handle:
            reader = csv.reader(handle)
            header = next(reader, None)
            _check_csv_header(header, path)
            for row in reader:
                if row and any(cell.strip() for cell in row):
                    rows.append((reader.line_num, row))
    except OSError as err:
        raise DataFormatError(path, f"cannot read: {err.strerror or err}") from None

    records = []
    for line, row in rows:
        try:
            records.append(_csv_record(row, path, line, images_root, split))
        except DataFormatError as err:
            policy.fail(err)
    for record, name in zip(records, unique_names([r.name for r in records])):
        record.name = name
    return policy.result(records, f"300-W CSV {path}")


def _check_csv_header(header: list[str] | None, path: Path) -> None:
    if header is None:
        raise DataFormatError(path, "empty file (expected an HRNet CSV header)", 1)
    names = [h.strip() for h in header]
    if tuple(names[:4]) != _CSV_LEAD or len(names) != _CSV_FIELDS:
        raise DataFormatError(path, f"not an HRNet 300-W CSV header: expected "
                                    f"{', '.join(_CSV_LEAD)} and {2 * W300_POINTS} coordinate "
                                    f"columns ({_CSV_FIELDS} in all), got {len(names)} columns "
                                    f"starting {names[:4]}", 1)


def _csv_record(row: list[str], path: Path, line: int, images_root: str | Path | None,
                split: str) -> FaceRecord:
    if len(row) != _CSV_FIELDS:
        raise DataFormatError(path, f"expected {_CSV_FIELDS} fields, got {len(row)}", line)
    name = row[0].strip()
    numbers = parse_floats(row[1:], path, line, what="field")
    require_finite(numbers, path, line, what="numbers")
    scale, cx, cy = numbers[0], numbers[1] - 1.0, numbers[2] - 1.0
    if scale <= 0:
        raise DataFormatError(path, f"scale must be positive, got {scale:g}", line)
    landmarks = numbers[3:].reshape(W300_POINTS, 2) - 1.0  # 1-based -> 0-based
    half = 100.0 * scale  # HRNet: scale = box side / 200
    box = np.array([cx - half, cy - half, cx + half, cy + half])
    image: str = NO_IMAGE
    if images_root is not None:
        image_path = Path(images_root) / name
        if not image_path.is_file():
            raise DataFormatError(path, f"image not found: {image_path}", line)
        image = str(image_path.resolve())
    return FaceRecord(name=name, image=image, landmarks=landmarks, layout="300w68", box=box,
                      attributes=_subset_attributes(name), source=f"{path}:{line}", split=split,
                      dataset="300w")


def _subset_attributes(image_name: str) -> dict[str, bool]:
    """300-W test subset membership from the image's relative path (empty if none applies)."""
    for subset in ("common", "challenging"):
        if any(image_name.startswith(folder + "/") for folder in W300_FOLDERS[subset]):
            return {"common": subset == "common", "challenging": subset == "challenging"}
    return {}
