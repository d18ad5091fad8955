"""Face crops: the fixed-size tensors the training engine reads every epoch.

The paper (Sec. 4.2) says only "All training images are center-cropped and resized to 256x256".
We follow HRNet-Facial, the usual reference for these benchmarks:

* the crop is a square centred on the face box, of side ``scale * max(box width, box height)``
  with ``scale = 1.25`` (HRNet multiplies its WFLW box by 1.25; its 300-W "scale" is the landmark
  extent / 200, also multiplied by 1.25 -- checked against ``shared/data/300w_csv``);
* where a record has no box (300-W, the WFLW subset lists) or ``center_on="landmarks"``, the
  box is the landmarks' extent.

Each crop is ONE affine warp of the original image (``cv2.warpAffine``, bilinear), and the
landmarks are mapped by exactly the same matrix. Choices where the paper is silent:

* **Pixel convention.** Coordinates are 0-based pixel centres (``FaceRecord``): pixel ``i``
  covers ``[i - 0.5, i + 0.5]``. OpenCV's warp uses the same convention, so the box centre maps
  to the crop's centre ``((S - 1) / 2, (S - 1) / 2)`` and ``u = s (x - c) + (S - 1) / 2`` with
  ``s = S / side``; no half-pixel fudge is needed anywhere (a test checks it to 0.05 px).
* **Border.** Parts of the crop outside the photo are black (constant 0), as in HRNet; the
  on-GPU augmentation pads with zeros too, so both borders look alike.
* **Anti-aliasing.** Bilinear sampling aliases when it shrinks (``s < 1``, e.g. 64-px crops of
  large WFLW faces). Before the warp, the crop's region is blurred with a Gaussian of
  ``sigma = (1/s - 1) / 2`` source pixels (the rule scikit-image uses for ``rescale``); the
  kernel is symmetric, so it moves no landmark. Pass ``antialias=False`` to skip it.
* **EXIF.** Images are decoded ignoring EXIF orientation: annotations were made on the stored
  pixels (PIL, used by HRNet, and MATLAB ignore the tag too).
* **Points outside the photo** (some WFLW ground truth) are kept as they are, mapped exactly.

``cached_crops`` stores a split's crops once as a torch file, so an epoch decodes no JPEG.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import warnings
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path

import cv2
import numpy as np
import torch
from tqdm.auto import tqdm

from sccnb.data.records import DataFormatError, FaceRecord

__all__ = [
    "CROP_VERSION",
    "DEFAULT_SCALE",
    "CropSet",
    "load_image",
    "face_box",
    "crop_matrix",
    "warp_crop",
    "crop_records",
    "cache_key",
    "default_cache_dir",
    "cached_crops",
]

# Bump when the crop code changes what it produces: every cached file is then rebuilt.
CROP_VERSION = 1
# Crop side = DEFAULT_SCALE * max(box w, h) (HRNet-Facial's factor for WFLW and 300-W).
DEFAULT_SCALE = 1.25
_CENTER_ON = ("box", "landmarks")
_REPO = Path(__file__).resolve().parents[2]


@dataclass
class CropSet:
    """A split's faces as fixed-size crops (``M`` faces, ``N`` points, side ``S = size``).

    Attributes:
        images: ``(M, 3, S, S)`` uint8 RGB.
        landmarks: ``(M, N, 2)`` float32, crop pixel coordinates (0-based pixel centres).
        to_image: ``(M, 2, 3)`` float32 affine map from crop to original image coordinates:
            ``x_image = to_image[:, :, :2] @ u + to_image[:, :, 2]``.
        names: record names, length ``M``.
        attributes: flag name -> ``(M,)`` bool array (a flag a record lacks is ``False``).
        occluded: ``(M, N)`` bool per-point occlusion, or ``None`` when no record has it.
        layout: landmark layout name (``"wflw98"``, ``"300w68"``, ``"cofw29"``).
        dataset: dataset name; ``"a+b"`` when records from several datasets were mixed.
        split: split name; ``"a+b"`` when several splits were mixed.
        size: ``S``, the crop side in pixels.
    """

    images: torch.Tensor
    landmarks: torch.Tensor
    to_image: torch.Tensor
    names: list[str]
    attributes: dict[str, np.ndarray]
    occluded: torch.Tensor | None
    layout: str
    dataset: str
    split: str
    size: int

    def __post_init__(self) -> None:
        m = len(self.names)
        if self.images.shape != (m, 3, self.size, self.size):
            raise ValueError(f"images must be ({m}, 3, {self.size}, {self.size}), "
                             f"got {tuple(self.images.shape)}")
        if self.landmarks.ndim != 3 or self.landmarks.shape[0] != m or self.landmarks.shape[2] != 2:
            raise ValueError(f"landmarks must be ({m}, N, 2), got {tuple(self.landmarks.shape)}")
        if self.to_image.shape != (m, 2, 3):
            raise ValueError(f"to_image must be ({m}, 2, 3), got {tuple(self.to_image.shape)}")

    def __len__(self) -> int:
        return len(self.names)

    @property
    def num_points(self) -> int:
        return int(self.landmarks.shape[1])

    def subset(self, indices: Sequence[int] | np.ndarray | torch.Tensor) -> CropSet:
        """The faces at ``indices`` (integer indices, repeats allowed, or a boolean mask)."""
        if isinstance(indices, torch.Tensor):
            indices = indices.detach().cpu()
        idx = torch.as_tensor(np.asarray(indices))
        if idx.dtype == torch.bool:
            if idx.numel() != len(self):
                raise ValueError(f"boolean mask has {idx.numel()} entries for {len(self)} faces")
            idx = idx.nonzero().flatten()
        idx = idx.long().flatten()
        np_idx = idx.numpy()
        dev = self.images.device
        return replace(
            self,
            images=self.images[idx.to(dev)],
            landmarks=self.landmarks[idx.to(self.landmarks.device)],
            to_image=self.to_image[idx.to(self.to_image.device)],
            names=[self.names[i] for i in np_idx],
            attributes={k: v[np_idx] for k, v in self.attributes.items()},
            occluded=None if self.occluded is None else self.occluded[
                idx.to(self.occluded.device)],
        )

    def shapes_in(self, ref_size: int = 256) -> np.ndarray:
        """Landmarks ``(M, N, 2)`` float64 scaled to a ``ref_size`` crop: ``x * ref_size / S``.

        A pure scale (about the top-left pixel centre), the frame the loss and PDB use; it is
        not the exact pixel-centre resampling ``(x + 0.5) * r - 0.5``, which only adds the
        constant ``0.5 (r - 1)`` to every coordinate and so changes no error or shape statistic.
        """
        return self.landmarks.detach().cpu().double().numpy() * (ref_size / self.size)

    def to(self, device: torch.device | str) -> CropSet:
        """A copy with every tensor on ``device`` (names and attributes stay on the host)."""
        return replace(
            self,
            images=self.images.to(device),
            landmarks=self.landmarks.to(device),
            to_image=self.to_image.to(device),
            occluded=None if self.occluded is None else self.occluded.to(device),
        )


# --- one crop ----------------------------------------------------------------------------------
def _record_where(record: FaceRecord) -> str:
    """The record's provenance for error messages."""
    return record.source or (record.image if isinstance(record.image, str) else record.name)


def load_image(record: FaceRecord) -> np.ndarray:
    """The record's image as an ``(H, W, 3)`` uint8 RGB array (paths decoded with OpenCV).

    Grey-scale arrays (COFW holds a few) are repeated to three channels. Raises
    ``DataFormatError`` naming ``record.source`` when the file is missing or undecodable.
    """
    if isinstance(record.image, (str, os.PathLike)):
        path = os.fspath(record.image)
        bgr = cv2.imread(path, cv2.IMREAD_COLOR | cv2.IMREAD_IGNORE_ORIENTATION)
        if bgr is None:
            why = "missing" if not os.path.exists(path) else "not a decodable image"
            raise DataFormatError(_record_where(record),
                                  f"image {path} of face {record.name!r} is {why}")
        return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
    image = np.asarray(record.image)
    if image.ndim == 3 and image.shape[2] == 1:
        image = image[:, :, 0]
    if image.ndim == 2:
        image = np.repeat(image[:, :, None], 3, axis=2)
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise DataFormatError(_record_where(record),
                              f"image of face {record.name!r} must be (H, W, 3) uint8, got "
                              f"{image.shape} {image.dtype}")
    return image


def face_box(record: FaceRecord, center_on: str = "box") -> np.ndarray:
    """The box ``(x_min, y_min, x_max, y_max)`` a crop is built around: the record's box, or
    the landmarks' extent when it has none or ``center_on="landmarks"``."""
    if center_on not in _CENTER_ON:
        raise ValueError(f"unknown center_on {center_on!r}; supported: {_CENTER_ON}")
    if center_on == "box" and record.box is not None:
        box = np.asarray(record.box, dtype=np.float64)
    else:
        pts = record.landmarks[np.isfinite(record.landmarks).all(axis=1)]
        if len(pts) == 0:
            raise DataFormatError(_record_where(record),
                                  f"face {record.name!r} has no finite landmark to crop around")
        box = np.concatenate([pts.min(axis=0), pts.max(axis=0)])
    if not np.isfinite(box).all() or box[2] < box[0] or box[3] < box[1]:
        raise DataFormatError(_record_where(record), f"face {record.name!r} has a bad box {box}")
    return box


def crop_matrix(box: np.ndarray, size: int, scale: float = DEFAULT_SCALE) -> np.ndarray:
    """The ``(2, 3)`` affine matrix from image to crop pixel coordinates.

    The square of side ``scale * max(w, h)`` centred on the box maps onto the ``size x size``
    crop: ``u = s (x - c) + (size - 1) / 2`` with ``s = size / side`` (pixel centres map to
    pixel centres; see the module docstring).
    """
    x0, y0, x1, y1 = (float(v) for v in box)
    side = scale * max(x1 - x0, y1 - y0)
    if side <= 0:
        raise ValueError(f"degenerate box {box}: the crop side would be {side}")
    s = size / side
    mid = (size - 1) / 2
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    return np.array([[s, 0.0, mid - s * cx], [0.0, s, mid - s * cy]])


def _invert_affine(matrix: np.ndarray) -> np.ndarray:
    """Inverse of a ``(2, 3)`` affine matrix, as ``(2, 3)``."""
    full = np.vstack([matrix, [0.0, 0.0, 1.0]])
    return np.linalg.inv(full)[:2]


def warp_crop(image: np.ndarray, matrix: np.ndarray, size: int,
              antialias: bool = True) -> np.ndarray:
    """Warp ``image`` (H, W, 3) into a ``size x size`` crop with the similarity ``matrix``.

    Only the part of the image the crop covers is read (an integer-offset slice, which keeps
    the mapping exact); it is Gaussian-blurred first when the warp shrinks it (``antialias``).
    """
    s = float(np.sqrt(abs(np.linalg.det(matrix[:, :2]))))
    sigma = max(0.0, (1.0 / s - 1.0) / 2.0) if antialias else 0.0
    # Source region the crop covers, plus room for the blur kernel and bilinear neighbours.
    inv = _invert_affine(matrix)
    corners = np.array([[-0.5, -0.5, 1], [size - 0.5, -0.5, 1], [-0.5, size - 0.5, 1],
                        [size - 0.5, size - 0.5, 1]]) @ inv.T
    pad = int(np.ceil(3 * sigma)) + 2
    h, w = image.shape[:2]
    x0 = int(np.clip(np.floor(corners[:, 0].min()) - pad, 0, w))
    x1 = int(np.clip(np.ceil(corners[:, 0].max()) + pad + 1, 0, w))
    y0 = int(np.clip(np.floor(corners[:, 1].min()) - pad, 0, h))
    y1 = int(np.clip(np.ceil(corners[:, 1].max()) + pad + 1, 0, h))
    if x1 <= x0 or y1 <= y0:  # the crop lies wholly outside the photo
        return np.zeros((size, size, 3), dtype=np.uint8)
    roi = image[y0:y1, x0:x1]
    if sigma > 0.1:
        roi = cv2.GaussianBlur(roi, (0, 0), sigmaX=sigma, sigmaY=sigma,
                               borderType=cv2.BORDER_REFLECT_101)
    shifted = matrix.copy()
    shifted[:, 2] += matrix[:, :2] @ np.array([x0, y0], dtype=np.float64)  # roi -> crop
    return cv2.warpAffine(np.ascontiguousarray(roi), shifted, (size, size),
                          flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT,
                          borderValue=(0, 0, 0))


def _crop_one(record: FaceRecord, size: int, scale: float, center_on: str,
              antialias: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(crop (S, S, 3) uint8, landmarks (N, 2) in the crop, image->crop matrix (2, 3))."""
    matrix = crop_matrix(face_box(record, center_on), size, scale)
    crop = warp_crop(load_image(record), matrix, size, antialias=antialias)
    landmarks = record.landmarks @ matrix[:, :2].T + matrix[:, 2]
    return crop, landmarks, matrix


# --- a split of crops --------------------------------------------------------------------------
def _joined(values: list[str]) -> str:
    """The single value, or the sorted distinct values joined with ``+``."""
    return "+".join(sorted(set(values)))


def _check_records(records: Sequence[FaceRecord]) -> None:
    if len(records) == 0:
        raise ValueError("no records to crop")
    layouts = {r.layout for r in records}
    counts = {r.num_points for r in records}
    if len(layouts) != 1 or len(counts) != 1:
        raise ValueError(f"records mix layouts {sorted(layouts)} / point counts "
                         f"{sorted(counts)}; crop each layout separately")


def crop_records(records: Sequence[FaceRecord], size: int, scale: float = DEFAULT_SCALE,
                 center_on: str = "box", progress: bool = True, *, antialias: bool = True,
                 workers: int | None = None) -> CropSet:
    """Crop every record to a ``size x size`` face crop (see the module docstring).

    Args:
        records: faces of one layout.
        size: crop side ``S`` in pixels.
        scale: crop side / ``max(box w, h)`` (default 1.25, HRNet's).
        center_on: ``"box"`` (the record's box, or the landmark extent where it has none) or
            ``"landmarks"`` (always the landmark extent).
        progress: show a tqdm bar.
        antialias: Gaussian pre-blur when the crop shrinks the face.
        workers: decoding threads (OpenCV releases the GIL); default ``min(8, cpu count)``.
    """
    _check_records(records)
    if center_on not in _CENTER_ON:
        raise ValueError(f"unknown center_on {center_on!r}; supported: {_CENTER_ON}")
    if size < 1 or scale <= 0:
        raise ValueError(f"need size >= 1 and scale > 0, got size={size}, scale={scale}")
    m, n = len(records), records[0].num_points
    images = torch.empty((m, 3, size, size), dtype=torch.uint8)
    landmarks = np.empty((m, n, 2), dtype=np.float64)
    to_image = np.empty((m, 2, 3), dtype=np.float64)

    def work(record: FaceRecord) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        return _crop_one(record, size, scale, center_on, antialias)

    workers = workers or min(8, os.cpu_count() or 1)
    desc = f"cropping {_joined([r.dataset for r in records])} {_joined([r.split for r in records])}"
    pool = ThreadPoolExecutor(max_workers=workers)
    try:
        results = tqdm(pool.map(work, records), total=m, desc=desc, disable=not progress,
                       unit="face")
        for i, (crop, pts, matrix) in enumerate(results):
            images[i] = torch.from_numpy(crop).permute(2, 0, 1)
            landmarks[i] = pts
            to_image[i] = _invert_affine(matrix)
    finally:  # on an error, do not decode the rest of the split before raising
        pool.shutdown(wait=True, cancel_futures=True)

    keys = sorted({k for r in records for k in r.attributes})
    attributes = {k: np.array([bool(r.attributes.get(k, False)) for r in records]) for k in keys}
    occluded = None
    if any(r.occluded is not None for r in records):
        occ = np.zeros((m, n), dtype=bool)
        for i, r in enumerate(records):
            if r.occluded is not None:
                occ[i] = r.occluded
        occluded = torch.from_numpy(occ)
    return CropSet(images=images, landmarks=torch.from_numpy(landmarks).float(),
                   to_image=torch.from_numpy(to_image).float(), names=[r.name for r in records],
                   attributes=attributes, occluded=occluded, layout=records[0].layout,
                   dataset=_joined([r.dataset for r in records]),
                   split=_joined([r.split for r in records]), size=int(size))


# --- the on-disk cache -------------------------------------------------------------------------
def _image_fingerprint(record: FaceRecord) -> str:
    """A path's size and mtime (cheap: no decoding), or a hash of an in-memory array."""
    if isinstance(record.image, (str, os.PathLike)):
        path = os.fspath(record.image)
        try:
            st = os.stat(path)
        except OSError as err:
            raise DataFormatError(_record_where(record),
                                  f"image {path} of face {record.name!r} is missing") from err
        return f"{os.path.abspath(path)}|{st.st_size}|{st.st_mtime_ns}"
    arr = np.ascontiguousarray(record.image)
    return f"array|{arr.shape}|{arr.dtype}|{hashlib.sha1(arr.tobytes()).hexdigest()}"


def cache_key(records: Sequence[FaceRecord], size: int, scale: float = DEFAULT_SCALE,
              center_on: str = "box", antialias: bool = True) -> str:
    """SHA-1 of everything a crop set depends on (see ``cached_crops``)."""
    h = hashlib.sha1()
    h.update(json.dumps({"version": CROP_VERSION, "size": int(size), "scale": float(scale),
                         "center_on": center_on, "antialias": bool(antialias)}).encode())
    for r in records:
        h.update(f"\0{r.name}\0{r.layout}\0{r.dataset}\0{r.split}\0".encode())
        h.update(_image_fingerprint(r).encode())
        h.update(np.ascontiguousarray(r.landmarks, dtype=np.float64).tobytes())
        h.update(b"nobox" if r.box is None else np.asarray(r.box, dtype=np.float64).tobytes())
        h.update(json.dumps(sorted((k, bool(v)) for k, v in r.attributes.items())).encode())
        h.update(b"noocc" if r.occluded is None else np.asarray(r.occluded, bool).tobytes())
    return h.hexdigest()


def default_cache_dir() -> Path:
    """``$SCCNB_CACHE`` if set, else ``<repo>/.cache/crops``."""
    env = os.environ.get("SCCNB_CACHE")
    return Path(env) if env else _REPO / ".cache" / "crops"


def _to_payload(crops: CropSet, key: str) -> dict:
    """The crop set as types ``torch.load(weights_only=True)`` accepts."""
    return {
        "key": key, "version": CROP_VERSION, "images": crops.images,
        "landmarks": crops.landmarks, "to_image": crops.to_image, "names": list(crops.names),
        "attributes": {k: torch.from_numpy(v) for k, v in crops.attributes.items()},
        "occluded": crops.occluded, "layout": crops.layout, "dataset": crops.dataset,
        "split": crops.split, "size": crops.size,
    }


def _from_payload(payload: dict) -> CropSet:
    return CropSet(images=payload["images"], landmarks=payload["landmarks"],
                   to_image=payload["to_image"], names=list(payload["names"]),
                   attributes={k: v.numpy().astype(bool) for k, v in payload["attributes"].items()},
                   occluded=payload["occluded"], layout=payload["layout"],
                   dataset=payload["dataset"], split=payload["split"], size=int(payload["size"]))


def _safe_name(text: str) -> str:
    return "".join(c if c.isalnum() or c in "-_" else "-" for c in text) or "x"


def cached_crops(records: Sequence[FaceRecord], size: int, scale: float = DEFAULT_SCALE,
                 center_on: str = "box", cache_dir: str | Path | None = None, *,
                 antialias: bool = True, progress: bool = True,
                 workers: int | None = None) -> CropSet:
    """``crop_records`` through an on-disk cache, one torch file per crop set.

    The file is named ``<dataset>_<split>_<size>px_<key>.pt``, where ``key`` hashes every
    record's name, layout, dataset, split, image (path + file size + mtime_ns, or the bytes of
    an in-memory array), landmarks, box, attributes and occlusion flags, plus ``size``,
    ``scale``, ``center_on``, ``antialias`` and ``CROP_VERSION``: when any of them changes the
    key changes and the crops are rebuilt (old files are left for the user to delete). Files
    are written atomically (temporary file + ``os.replace``) and read with
    ``torch.load(weights_only=True)``; an unreadable file is rebuilt with a warning.
    """
    _check_records(records)
    key = cache_key(records, size, scale, center_on, antialias)
    folder = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    stem = (f"{_safe_name(_joined([r.dataset for r in records]))}_"
            f"{_safe_name(_joined([r.split for r in records]))}_{int(size)}px_{key[:20]}")
    path = folder / f"{stem}.pt"
    if path.exists():
        try:
            payload = torch.load(path, map_location="cpu", weights_only=True)
            if payload.get("key") == key:
                return _from_payload(payload)
            warnings.warn(f"crop cache {path} holds other crops (key mismatch); rebuilding")
        except Exception as err:  # a truncated or foreign file: rebuild it
            warnings.warn(f"crop cache {path} is unreadable ({err}); rebuilding")
    crops = crop_records(records, size, scale, center_on, progress, antialias=antialias,
                         workers=workers)
    folder.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{stem}.", suffix=".tmp", dir=folder)
    try:
        with os.fdopen(fd, "wb") as f:
            torch.save(_to_payload(crops, key), f)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return crops
