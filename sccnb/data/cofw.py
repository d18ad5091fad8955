"""COFW readers: COFW (29 points, layout ``"cofw29"``; Burgos-Artizzu et al., ICCV 2013) and
COFW-68 (the COFW test faces re-annotated with 68 points, layout ``"300w68"``; Ghiasi &
Fowlkes, arXiv:1506.08347).

COFW ``.mat`` files (``shared/docs/protocol.md``): ``COFW_train_color.mat`` (keys ``IsTr``,
``phisTr``, ``bboxesTr``; 1,345 faces) and ``COFW_test_color.mat`` (``IsT``, ``phisT``,
``bboxesT``; 507 faces) are MATLAB v7.3, i.e. HDF5, read with h5py. h5py shows MATLAB arrays
transposed:

* ``phis``: h5py ``(87, M)`` = MATLAB ``M x 87``: x in columns 0..28, y in 29..57, occlusion
  flags (1 = occluded) in 58..86;
* ``bboxes``: h5py ``(4, M)`` = MATLAB ``M x 4``: x, y, w, h;
* ``Is``: h5py ``(1, M)`` object references; each image is h5py ``(3, W, H)`` (colour, MATLAB
  ``H x W x 3`` uint8) or ``(W, H)`` (grey).

Older copies saved as MATLAB v5 (read with scipy.io.loadmat, arrays in MATLAB orientation, the
images a cell array) are read too. Coordinates and boxes are 1-based (MATLAB) and converted to
0-based once, here; a box ``x, y, w, h`` becomes ``(x - 1, y - 1, x - 1 + w, y - 1 + h)``.
Images are returned as ``(H, W, 3)`` uint8 RGB arrays (grey replicated to three channels).

COFW-68 (``COFW68_Data/``): ``test_annotations/{i}_points.mat`` (MATLAB v5: ``Points`` 68 x 2,
1-based; ``Occ`` 1 x 68, 1 = occluded) and ``cofw68_test_bboxes.mat`` (``bboxes`` 507 x 4:
x, y, w, h, 1-based), face ``i`` being COFW test face ``i`` (in COFW's combined numbering,
image 1345 + i).

For a ``.mat`` file, the "line" of an error message is the 1-based face index.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ._io import NO_IMAGE, ErrorPolicy, ReadResult, check_box, require_finite
from .records import DataFormatError, FaceRecord

__all__ = ["read_cofw", "read_cofw68", "COFW_KEYS", "COFW_POINTS", "COFW68_POINTS"]

COFW_POINTS = 29
COFW68_POINTS = 68
# split -> (images, points, boxes) keys of the .mat
COFW_KEYS = {"train": ("IsTr", "phisTr", "bboxesTr"), "test": ("IsT", "phisT", "bboxesT")}


def read_cofw(path: str | Path, split: str, *, on_error: str = "raise") -> ReadResult[FaceRecord]:
    """Read a COFW ``.mat`` (``split`` ``"train"``: keys IsTr/phisTr/bboxesTr; ``"test"``:
    IsT/phisT/bboxesT) into records with the image array, 29 points, per-point occlusion
    (``occluded``) and the box. ``name`` = ``"cofw_{split}_{i:04d}"`` (1-based ``i``)."""
    if split not in COFW_KEYS:
        raise ValueError(f"unknown COFW split {split!r}; supported: {sorted(COFW_KEYS)}")
    path = Path(path)
    images, phis, boxes = _load_cofw_mat(path, *COFW_KEYS[split])
    policy = ErrorPolicy(on_error)
    records = []
    for i, (image, phi, box) in enumerate(zip(images, phis, boxes), start=1):
        try:
            records.append(_cofw_record(i, image, phi, box, path, split))
        except DataFormatError as err:
            policy.fail(err)
    return policy.result(records, f"COFW {split} {path}")


def _cofw_record(i: int, image: np.ndarray, phi: np.ndarray, box_xywh: np.ndarray, path: Path,
                 split: str) -> FaceRecord:
    rgb = _as_rgb(image, path, i)
    require_finite(phi, path, i, what="point values")
    require_finite(box_xywh, path, i, what="box values")
    landmarks = np.stack([phi[:COFW_POINTS], phi[COFW_POINTS:2 * COFW_POINTS]], axis=1) - 1.0
    flags = phi[2 * COFW_POINTS:]
    if not np.isin(flags, (0.0, 1.0)).all():
        raise DataFormatError(path, f"occlusion flags (values 58..86) must be 0 or 1, got "
                                    f"{sorted(set(flags.tolist()))}", i)
    box = _xywh_to_box(box_xywh)
    check_box(box, (rgb.shape[1], rgb.shape[0]), path, i)
    return FaceRecord(name=f"cofw_{split}_{i:04d}", image=rgb, landmarks=landmarks,
                      layout="cofw29", box=box, occluded=flags > 0.5, source=f"{path}:{i}",
                      split=split, dataset="cofw")


def _xywh_to_box(xywh: np.ndarray) -> np.ndarray:
    """1-based MATLAB ``x, y, w, h`` -> 0-based ``(x_min, y_min, x_max, y_max)``."""
    x, y, w, h = (float(v) for v in xywh)
    return np.array([x - 1.0, y - 1.0, x - 1.0 + w, y - 1.0 + h])


def _as_rgb(image: np.ndarray, path: Path, i: int) -> np.ndarray:
    """An ``(H, W)`` or ``(H, W, 3)`` uint8 image (MATLAB orientation) -> ``(H, W, 3)``."""
    if image.dtype != np.uint8:
        raise DataFormatError(path, f"image is {image.dtype}, expected uint8", i)
    if image.ndim == 2:
        image = np.repeat(image[:, :, None], 3, axis=2)
    if image.ndim != 3 or image.shape[2] != 3 or min(image.shape[:2]) == 0:
        raise DataFormatError(path, f"image has shape {image.shape}, expected (H, W) or "
                                    "(H, W, 3)", i)
    return np.ascontiguousarray(image)


def _load_cofw_mat(path: Path, images_key: str, phis_key: str,
                   boxes_key: str) -> tuple[list[np.ndarray], np.ndarray, np.ndarray]:
    """Images (MATLAB orientation), points ``(M, 87)`` and boxes ``(M, 4)`` of a COFW .mat, in
    MATLAB orientation whatever the file version."""
    import h5py

    if not path.is_file():
        raise DataFormatError(path, "COFW .mat file not found")
    if h5py.is_hdf5(path):
        images, phis, boxes = _load_v73(path, images_key, phis_key, boxes_key)
    else:
        images, phis, boxes = _load_v5(path, images_key, phis_key, boxes_key)
    if phis.ndim != 2 or phis.shape[1] != 3 * COFW_POINTS:
        raise DataFormatError(path, f"{phis_key} is MATLAB {phis.shape}, expected M x "
                                    f"{3 * COFW_POINTS}")
    if boxes.ndim != 2 or boxes.shape[1] != 4:
        raise DataFormatError(path, f"{boxes_key} is MATLAB {boxes.shape}, expected M x 4")
    if not len(images) == len(phis) == len(boxes):
        raise DataFormatError(path, f"{images_key}, {phis_key}, {boxes_key} hold {len(images)}, "
                                    f"{len(phis)}, {len(boxes)} faces; expected the same count")
    return images, phis.astype(np.float64), boxes.astype(np.float64)


def _load_v73(path: Path, images_key: str, phis_key: str,
              boxes_key: str) -> tuple[list[np.ndarray], np.ndarray, np.ndarray]:
    import h5py

    with h5py.File(path, "r") as f:
        _require_keys(f.keys(), (images_key, phis_key, boxes_key), path)
        phis = np.asarray(f[phis_key]).T  # h5py (87, M) -> MATLAB M x 87
        boxes = np.asarray(f[boxes_key]).T  # h5py (4, M) -> M x 4
        refs = np.asarray(f[images_key]).reshape(-1)  # (1, M) cell of references
        images = []
        for i, ref in enumerate(refs, start=1):
            if not isinstance(ref, h5py.Reference) or not ref:
                raise DataFormatError(path, f"{images_key} entry is not an image reference", i)
            data = np.asarray(f[ref])
            # h5py (3, W, H) -> MATLAB H x W x 3; (W, H) -> H x W
            images.append(data.transpose(2, 1, 0) if data.ndim == 3 else data.T)
    return images, phis, boxes


def _load_v5(path: Path, images_key: str, phis_key: str,
             boxes_key: str) -> tuple[list[np.ndarray], np.ndarray, np.ndarray]:
    from scipy.io import loadmat

    try:
        mat = loadmat(path)
    except (ValueError, OSError, NotImplementedError) as err:
        raise DataFormatError(path, f"not a readable MATLAB file: {err}") from None
    _require_keys(mat.keys(), (images_key, phis_key, boxes_key), path)
    images = [np.asarray(im) for im in np.asarray(mat[images_key], dtype=object).reshape(-1)]
    return images, np.asarray(mat[phis_key]), np.asarray(mat[boxes_key])


def _require_keys(present, keys: tuple[str, ...], path: Path) -> None:
    missing = [k for k in keys if k not in present]
    if missing:
        found = ", ".join(sorted(k for k in present if not k.startswith("_")))
        raise DataFormatError(path, f"missing key(s) {', '.join(missing)}; found {found}")


# --- COFW-68 ---------------------------------------------------------------------------------
def read_cofw68(root: str | Path, cofw_test_mat: str | Path | None = None, *,
                on_error: str = "raise") -> ReadResult[FaceRecord]:
    """Read the 507 COFW-68 test faces (68 points, ``occluded`` per point, box).

    ``root``: the folder holding ``COFW68_Data/`` (or ``COFW68_Data`` itself).
    ``cofw_test_mat``: COFW's test .mat (see :func:`read_cofw`); its images become the records'
    images, face ``i`` with face ``i`` (the counts must agree). Without it the records are
    annotation-only (``image == ""``): fine for statistics (shapes, occlusion rates), not for
    training or evaluation. ``name`` = ``"cofw68_{i:03d}"``, ``source`` = the points file.
    """
    data = Path(root)
    if (data / "COFW68_Data").is_dir():
        data = data / "COFW68_Data"
    boxes = _load_cofw68_boxes(data / "cofw68_test_bboxes.mat")
    images: list[np.ndarray] | None = None
    if cofw_test_mat is not None:
        mat_images, _, _ = _load_cofw_mat(Path(cofw_test_mat), *COFW_KEYS["test"])
        if len(mat_images) != len(boxes):
            raise DataFormatError(cofw_test_mat, f"holds {len(mat_images)} test faces but "
                                                 f"COFW-68 has {len(boxes)}")
        images = mat_images
    policy = ErrorPolicy(on_error)
    records = []
    for i, box in enumerate(boxes, start=1):
        try:
            image = NO_IMAGE if images is None else _as_rgb(images[i - 1], Path(cofw_test_mat), i)
            records.append(_cofw68_record(data, i, box, image))
        except DataFormatError as err:
            policy.fail(err)
    return policy.result(records, f"COFW-68 under {data}")


def _load_cofw68_boxes(path: Path) -> np.ndarray:
    from scipy.io import loadmat

    if not path.is_file():
        raise DataFormatError(path, "COFW-68 box file not found (expected "
                                    "COFW68_Data/cofw68_test_bboxes.mat)")
    mat = loadmat(path)
    _require_keys(mat.keys(), ("bboxes",), path)
    boxes = np.asarray(mat["bboxes"], dtype=np.float64)
    if boxes.ndim != 2 or boxes.shape[1] != 4:
        raise DataFormatError(path, f"bboxes has shape {boxes.shape}, expected (M, 4)")
    return boxes


def _cofw68_record(data: Path, i: int, box_xywh: np.ndarray,
                   image: str | np.ndarray) -> FaceRecord:
    from scipy.io import loadmat

    path = data / "test_annotations" / f"{i}_points.mat"
    if not path.is_file():
        raise DataFormatError(path, f"points file of face {i} not found")
    try:
        mat = loadmat(path)
    except (ValueError, OSError, NotImplementedError) as err:
        raise DataFormatError(path, f"not a readable MATLAB file: {err}") from None
    _require_keys(mat.keys(), ("Points", "Occ"), path)
    points = np.asarray(mat["Points"], dtype=np.float64)
    occ = np.asarray(mat["Occ"]).reshape(-1)
    if points.shape != (COFW68_POINTS, 2):
        raise DataFormatError(path, f"Points has shape {points.shape}, expected (68, 2)")
    if occ.shape != (COFW68_POINTS,) or not np.isin(occ, (0, 1)).all():
        raise DataFormatError(path, f"Occ must be 68 values 0/1, got shape {occ.shape}")
    require_finite(points, path, None)
    boxes_path = data / "cofw68_test_bboxes.mat"
    require_finite(box_xywh, boxes_path, i, what="box values")
    box = _xywh_to_box(box_xywh)
    size = None if isinstance(image, str) else (image.shape[1], image.shape[0])
    check_box(box, size, boxes_path, i)
    return FaceRecord(name=f"cofw68_{i:03d}", image=image, landmarks=points - 1.0,
                      layout="300w68", box=box, occluded=occ.astype(bool), source=str(path),
                      split="test", dataset="cofw68")
