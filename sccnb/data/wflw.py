"""WFLW readers (98 points, layout ``"wflw98"``; Wu et al., "Look at Boundary", CVPR 2018).

Files (``shared/docs/protocol.md`` and the official READMEs in ``shared/data/wflw_annotations``):

* ``WFLW_annotations/list_98pt_rect_attr_train_test/list_98pt_rect_attr_{train,test}.txt``:
  207 whitespace-separated fields a line: 196 coordinates ``x0 y0 ... x97 y97``, the box
  ``x_min y_min x_max y_max``, six 0/1 flags (pose, expression, illumination, make-up,
  occlusion, blur) and the image path relative to ``WFLW_images/``. 7,500 / 2,500 faces.
* ``WFLW_annotations/list_98pt_test/list_98pt_test_{largepose,...,blur}.txt``: 196 coordinates
  and the image path; the test subsets the paper reports (Table 1).

Coordinates and boxes are already 0-based pixel coordinates in the WIDER FACE image and are
kept as they are. Some ground-truth points lie outside the image; that is not an error.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ._io import (ErrorPolicy, ReadResult, check_box, image_size, parse_floats, require_finite,
                  unique_names)
from .records import WFLW_ATTRIBUTES, DataFormatError, FaceRecord

__all__ = ["read_wflw", "read_wflw_subset_list", "WFLW_SUBSETS", "WFLW_POINTS",
           "wflw_list_path", "wflw_subset_path"]

WFLW_POINTS = 98
_COORDS = 2 * WFLW_POINTS  # 196
_FIELDS = _COORDS + 4 + len(WFLW_ATTRIBUTES) + 1  # 207
# Subset list name suffixes, in the order of WFLW_ATTRIBUTES; membership is recorded as the
# attribute "subset_<name>".
WFLW_SUBSETS = ("largepose", "expression", "illumination", "makeup", "occlusion", "blur")
# Two lines describe the same face when their image paths agree and no coordinate differs by
# more than this (px). The files print 6 decimals; different faces differ by pixels.
_MATCH_TOLERANCE = 1e-2


def wflw_list_path(root: str | Path, split: str) -> Path:
    """The full annotation list of ``split`` (``"train"`` or ``"test"``) under ``root``."""
    return (Path(root) / "WFLW_annotations" / "list_98pt_rect_attr_train_test"
            / f"list_98pt_rect_attr_{split}.txt")


def wflw_subset_path(root: str | Path, subset: str) -> Path:
    """The test subset list ``subset`` (one of :data:`WFLW_SUBSETS`) under ``root``."""
    return Path(root) / "WFLW_annotations" / "list_98pt_test" / f"list_98pt_test_{subset}.txt"


def read_wflw(root: str | Path, split: str, *, on_error: str = "raise") -> ReadResult[FaceRecord]:
    """Read WFLW's ``split`` (``"train"`` or ``"test"``) from ``root``, the folder that holds
    ``WFLW_annotations/`` and ``WFLW_images/``.

    Records: ``name`` = image path relative to ``WFLW_images/`` (``#k`` appended when an image
    holds several faces), ``box`` from the file, ``attributes`` = the six flags
    (:data:`~sccnb.data.records.WFLW_ATTRIBUTES`), ``source`` = ``file:line``. Every image must
    exist; its header (not its pixels) is read to check that the box overlaps the image.

    For ``"test"`` the six subset lists are read too when present: each line is matched to a
    test face by image path and coordinates and membership is recorded as the attributes
    ``subset_largepose``, ..., ``subset_blur``. A subset line that matches no test face is an
    error at its ``file:line``. Lists that are absent are named in the result's ``.notes`` and
    their attributes are not set.
    """
    if split not in ("train", "test"):
        raise ValueError(f"unknown WFLW split {split!r}; supported: 'train', 'test'")
    root = Path(root)
    list_path = wflw_list_path(root, split)
    if not list_path.is_file():
        raise DataFormatError(list_path, f"WFLW {split} list not found (expected "
                                         "WFLW_annotations/ and WFLW_images/ under the root)")
    policy = ErrorPolicy(on_error)
    records = read_full_list(list_path, root / "WFLW_images", split, policy)
    notes: list[str] = []
    if split == "test":
        notes = _add_subsets(records, root, policy)
    return policy.result(records, f"WFLW {split} list {list_path}", notes)


def _lines(path: Path) -> list[tuple[int, list[str]]]:
    """Non-blank lines of a list file as (1-based line, whitespace-split fields)."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        raise DataFormatError(path, f"cannot read: {err}") from None
    return [(i, line.split()) for i, line in enumerate(text.splitlines(), 1) if line.strip()]


def read_full_list(path: Path, images: Path, split: str,
                    policy: ErrorPolicy) -> list[FaceRecord]:
    records: list[FaceRecord] = []
    sizes: dict[Path, tuple[int, int]] = {}  # image headers read once per image
    for line, fields in _lines(path):
        try:
            records.append(_full_record(fields, path, line, images, split, sizes))
        except DataFormatError as err:
            policy.fail(err)
    for record, name in zip(records, unique_names([r.name for r in records])):
        record.name = name
    return records


def _full_record(fields: list[str], path: Path, line: int, images: Path, split: str,
                 sizes: dict[Path, tuple[int, int]]) -> FaceRecord:
    if len(fields) != _FIELDS:
        raise DataFormatError(path, f"expected {_FIELDS} fields, got {len(fields)} (196 "
                                    "coordinates, 4 box, 6 flags, image path)", line)
    numbers = parse_floats(fields[:-1], path, line, what="field")
    require_finite(numbers, path, line, what="numbers")
    landmarks = numbers[:_COORDS].reshape(WFLW_POINTS, 2)
    box = numbers[_COORDS:_COORDS + 4]
    flags = numbers[_COORDS + 4:]
    if not np.isin(flags, (0.0, 1.0)).all():
        raise DataFormatError(path, f"attribute flags must be 0 or 1, got {fields[-7:-1]}", line)
    relative = fields[-1]
    image = images / relative
    if image not in sizes:
        sizes[image] = image_size(image, path, line)
    check_box(box, sizes[image], path, line)
    return FaceRecord(name=relative, image=str(image.resolve()), landmarks=landmarks,
                      layout="wflw98", box=box,
                      attributes={a: bool(f) for a, f in zip(WFLW_ATTRIBUTES, flags)},
                      source=f"{path}:{line}", split=split, dataset="wflw")


def read_wflw_subset_list(path: str | Path, *,
                          on_error: str = "raise") -> ReadResult[tuple[str, np.ndarray]]:
    """Read a bare WFLW subset list: one ``(image_path, (98, 2) float64)`` per line, in file
    order (the same face may appear in several lists; duplicates within a list are kept)."""
    path = Path(path)
    policy = ErrorPolicy(on_error)
    out = []
    for line, fields in _lines(path):
        try:
            out.append(_subset_line(fields, path, line))
        except DataFormatError as err:
            policy.fail(err)
    return policy.result(out, f"WFLW subset list {path}")


def _subset_line(fields: list[str], path: Path, line: int) -> tuple[str, np.ndarray]:
    if len(fields) != _COORDS + 1:
        raise DataFormatError(path, f"expected {_COORDS + 1} fields, got {len(fields)} (196 "
                                    "coordinates, image path)", line)
    coords = parse_floats(fields[:-1], path, line, what="coordinate")
    require_finite(coords, path, line)
    return fields[-1], coords.reshape(WFLW_POINTS, 2)


def _add_subsets(records: list[FaceRecord], root: Path, policy: ErrorPolicy) -> list[str]:
    """Set ``subset_<name>`` on every test record from the subset lists present; returns notes
    naming the lists that are absent."""
    images = root / "WFLW_images"
    by_image: dict[str, list[int]] = {}  # resolved image path -> indices of its faces
    for i, record in enumerate(records):
        by_image.setdefault(str(record.image), []).append(i)
    absent = []
    for subset in WFLW_SUBSETS:
        path = wflw_subset_path(root, subset)
        if not path.is_file():
            absent.append(path.name)
            continue
        members: set[int] = set()
        for line, fields in _lines(path):
            try:
                image, coords = _subset_line(fields, path, line)
                key = str((images / image).resolve())
                members.add(_match(image, key, coords, by_image, records, path, line))
            except DataFormatError as err:
                policy.fail(err)
        for i, record in enumerate(records):
            record.attributes[f"subset_{subset}"] = i in members
    if absent:
        return [f"WFLW test subset lists absent (their subset_* attributes are not set): "
                f"{', '.join(absent)}"]
    return []


def _match(image: str, key: str, coords: np.ndarray, by_image: dict[str, list[int]],
           records: list[FaceRecord], path: Path, line: int) -> int:
    """Index of the test record with this image and these coordinates (the closest one when
    several faces of the image are within tolerance, which only exact duplicates can be)."""
    candidates = by_image.get(key, [])
    if not candidates:
        raise DataFormatError(path, f"image {image} is not in the test list", line)
    errors = [np.abs(records[i].landmarks - coords).max() for i in candidates]
    best = int(np.argmin(errors))
    if errors[best] > _MATCH_TOLERANCE:
        raise DataFormatError(path, f"no test face of {image} has these coordinates (closest "
                                    f"differs by {errors[best]:.3g} px)", line)
    return candidates[best]
