"""The checks every face passes before a crop is made: its image, its points and its box.

One place for the command line (``predict``, ``eval --data``) and the Python API
(:class:`sccnb.inference.zoo.Landmarker`), so that the same input gets the same one-line message
(:class:`~sccnb.errors.DataError`, naming the file and, where there is one, the line).

* An image is ``(H, W, 3)`` uint8 RGB, at least :data:`MIN_SIDE` pixels a side.
  :func:`as_rgb` turns what a user may hold into that, the way ``cv2.imread`` reads the same file
  on the command line: a path, a PIL image (RGBA: alpha dropped; 16-bit: the high byte; grey:
  repeated; EXIF orientation applied) or an array.
* Points are finite, and none lies farther outside the image than :data:`FAR_OUTSIDE` of its
  longer side (a wrong coordinate, not a face cut by the border: ``data check`` flags the same
  points); not every point may lie outside it.
* A box ``(x_min, y_min, x_max, y_max)`` is finite, at least :data:`MIN_SIDE` pixels a side,
  overlaps its image, and lies within :data:`FAR_BOX` of the image's longer side around it.

Without these, a coordinate of 1e9 makes the crop's anti-aliasing blur a kernel of a billion
pixels (``warp_crop`` runs for minutes with growing memory), and a face whose points all lie
outside its image is averaged into the NME at 100 %.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

import numpy as np

from ..errors import DataError

__all__ = ["MIN_SIDE", "FAR_OUTSIDE", "FAR_BOX", "check_image_file", "read_rgb", "as_rgb",
           "check_image", "check_points", "check_box", "check_record", "image_size",
           "pts_point_line", "where"]

MIN_SIDE = 4.0  # pixels: a smaller face box (or image) is a mistake, not a face
FAR_OUTSIDE = 0.5  # a point farther outside its image than this share of its longer side
FAR_BOX = 1.0  # a box corner farther outside its image than this share of its longer side


def where(file: str | Path | None, line: int | None = None) -> str:
    """``file:line``, ``file``, or ``"the image"`` when there is no file."""
    if file is None or str(file) == "":
        return "the image"
    return f"{file}:{line}" if line is not None else str(file)


# --- images ------------------------------------------------------------------------------------
def check_image(image: Any, source: str | Path | None = None) -> np.ndarray:
    """``image`` as an ``(H, W, 3)`` uint8 array of at least :data:`MIN_SIDE` pixels a side, or
    a :class:`DataError` naming ``source`` and saying what it got."""
    name = where(source)
    if image is None:
        raise DataError(f"{name}: no image (got None); give a file path, a PIL image or an "
                        "(H, W, 3) uint8 array")
    array = np.asarray(image)
    if array.dtype == object or array.ndim not in (2, 3):
        raise DataError(f"{name}: not an image (got {type(image).__name__} of shape "
                        f"{getattr(array, 'shape', '?')}); give a file path, a PIL image or an "
                        "(H, W, 3) uint8 array")
    if array.ndim == 3 and array.shape[2] not in (1, 3, 4):
        raise DataError(f"{name}: an image has 1, 3 or 4 channels, got shape {array.shape}")
    h, w = array.shape[:2]
    if min(h, w) < MIN_SIDE:
        raise DataError(f"{name}: the image is {w} x {h} px; a face image is at least "
                        f"{MIN_SIDE:g} px a side")
    if array.dtype == np.uint16:  # as cv2.imread reads a 16-bit file: the high byte
        array = (array >> 8).astype(np.uint8)
    if array.dtype != np.uint8:
        raise DataError(f"{name}: image pixels are {array.dtype}; give uint8 (0-255) or uint16")
    if array.ndim == 2:
        array = array[:, :, None]
    if array.shape[2] == 1:
        array = np.repeat(array, 3, axis=2)
    elif array.shape[2] == 4:  # as cv2.imread(IMREAD_COLOR): the alpha channel is dropped
        array = array[:, :, :3]
    return np.ascontiguousarray(array)


def check_image_file(path: str | Path) -> None:
    """Decode every pixel of an image file once (Pillow): a missing, undecodable or truncated
    file is a :class:`~sccnb.data.records.DataFormatError` naming it (OpenCV alone would fill a
    truncated JPEG's missing rows with grey)."""
    from PIL import Image

    from .records import DataFormatError

    try:
        with Image.open(path) as im:
            im.load()  # decodes every pixel: a truncated file fails here
    except FileNotFoundError:
        raise DataFormatError(path, "no such image file") from None
    except Exception as err:  # noqa: BLE001 -- any decoder failure means an unusable image
        raise DataFormatError(path, f"cannot decode the image ({type(err).__name__}: {err}); "
                              "it is truncated or not an image") from None


def read_rgb(path: str | Path) -> np.ndarray:
    """An image file as ``(H, W, 3)`` uint8 RGB, EXIF orientation applied (as a viewer shows
    it): the one reader of photos (``predict``, :class:`sccnb.inference.zoo.Landmarker`, the
    overlays), refusing a missing, undecodable or truncated file (:func:`check_image_file`)."""
    import cv2

    from .records import DataFormatError

    check_image_file(path)
    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if image is None:
        raise DataFormatError(path, "missing or undecodable image")
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


def as_rgb(image: Any) -> np.ndarray:
    """What the API is given -- a path, a PIL image or an array -- as an ``(H, W, 3)`` uint8 RGB
    array, converted as the command line reads the same file (see the module docstring)."""
    if isinstance(image, (str, Path)):
        return check_image(read_rgb(image), image)
    try:
        from PIL import Image, ImageOps
    except ImportError:  # pragma: no cover -- Pillow is a dependency
        Image = None
    if Image is not None and isinstance(image, Image.Image):
        source = getattr(image, "filename", None) or None
        image = ImageOps.exif_transpose(image)
        if image.mode in ("I;16", "I;16B", "I;16L", "I"):
            array = np.asarray(image).astype(np.int64)
            if image.mode == "I" and array.max(initial=0) <= 255:
                array = array.astype(np.uint8)
            else:
                array = np.clip(array, 0, 65535).astype(np.uint16)
            return check_image(array, source)
        return check_image(np.asarray(image.convert("RGB")), source)
    return check_image(image)


def image_size(path: str | Path) -> tuple[int, int]:
    """``(width, height)`` of an image file from its header (nothing decoded)."""
    from PIL import Image

    try:
        with Image.open(path) as im:
            return im.size
    except FileNotFoundError:
        raise DataError(f"{path}: no such image file") from None
    except Exception as err:  # noqa: BLE001 -- any decoder failure means an unusable image
        raise DataError(f"{path}: cannot read the image ({type(err).__name__}: {err})") from None


# --- points and boxes --------------------------------------------------------------------------
def _beyond(x: np.ndarray, y: np.ndarray, w: int, h: int) -> np.ndarray:
    """How far each point lies outside the image's pixel area (0 inside)."""
    return np.maximum.reduce([-0.5 - x, x - (w - 0.5), -0.5 - y, y - (h - 0.5),
                              np.zeros_like(x)])


def check_points(points: np.ndarray, width: int, height: int, source: str | Path | None = None,
                 line_of: Callable[[int], int | None] | None = None) -> None:
    """Refuse (:class:`DataError`) points that are not finite, one far outside the
    ``width x height`` image, or a face none of whose points lies inside it. ``line_of``: the
    1-based line of the i-th point in ``source``, where the format has one."""
    pts = np.asarray(points, dtype=np.float64).reshape(-1, 2)
    w, h = int(width), int(height)

    def at(i: int) -> str:
        return where(source, line_of(i) if line_of is not None else None)

    bad = np.flatnonzero(~np.isfinite(pts).all(axis=1))
    if len(bad):
        i = int(bad[0])
        raise DataError(f"{at(i)}: point {i + 1} is {pts[i].tolist()}, not a finite "
                        "coordinate")
    x, y = pts[:, 0], pts[:, 1]
    beyond = _beyond(x, y, w, h)
    far = np.flatnonzero(beyond > FAR_OUTSIDE * max(w, h))
    if len(far):
        i = int(far[np.argmax(beyond[far])])
        more = f" ({len(far) - 1} more such point(s))" if len(far) > 1 else ""
        raise DataError(f"{at(i)}: point {i + 1} at ({x[i]:.6g}, {y[i]:.6g}) lies far outside "
                        f"the {w} x {h} image{more}; a wrong coordinate? (`python -m sccnb "
                        "data check` lists every such point)")
    if len(pts) and (beyond > 0).all():
        raise DataError(f"{where(source)}: all {len(pts)} points lie outside the {w} x {h} "
                        "image; the annotation belongs to another image, or its coordinates "
                        "are shifted")


def check_box(box: Any, width: int, height: int, source: str | Path | None = None,
              line: int | None = None, what: str = "the box") -> np.ndarray:
    """The box as a float64 ``(4,)`` array, or a :class:`DataError` naming ``source:line`` when
    it is not finite, smaller than :data:`MIN_SIDE`, outside its ``width x height`` image or
    far beyond it (:data:`FAR_BOX`)."""
    name = where(source, line)
    try:
        b = np.asarray(box, dtype=np.float64).reshape(4)
    except (TypeError, ValueError):
        raise DataError(f"{name}: {what} {box!r} is not four numbers (x_min, y_min, x_max, "
                        "y_max)") from None
    w, h = int(width), int(height)
    shown = np.round(b, 1).tolist()
    if not np.isfinite(b).all() or b[2] <= b[0] or b[3] <= b[1]:
        raise DataError(f"{name}: {what} {shown} is not a box (x_min, y_min, x_max, y_max: "
                        "finite numbers, the max above the min)")
    if min(b[2] - b[0], b[3] - b[1]) < MIN_SIDE:
        raise DataError(f"{name}: {what} {shown} is {b[2] - b[0]:g} x {b[3] - b[1]:g} px; a "
                        f"face box is at least {MIN_SIDE:g} px a side")
    if b[2] < -0.5 or b[3] < -0.5 or b[0] > w - 0.5 or b[1] > h - 0.5:
        raise DataError(f"{name}: {what} {shown} lies entirely outside its {w} x {h} image; "
                        "boxes are 0-based pixels x_min,y_min,x_max,y_max")
    reach = FAR_BOX * max(w, h)
    if b[0] < -0.5 - reach or b[1] < -0.5 - reach or b[2] > w - 0.5 + reach \
            or b[3] > h - 0.5 + reach:
        raise DataError(f"{name}: {what} {shown} reaches far beyond its {w} x {h} image (more "
                        f"than {FAR_BOX:g} x its longer side); a wrong coordinate?")
    return b


def pts_point_line(path: str | Path, index: int) -> int | None:
    """The 1-based line of the ``index``-th (0-based) point of a ``.pts`` file."""
    seen = -1
    try:
        for lineno, raw in enumerate(Path(path).read_text().splitlines(), start=1):
            parts = raw.split()
            if len(parts) == 2 and ":" not in raw:
                seen += 1
                if seen == index:
                    return lineno
    except (OSError, UnicodeDecodeError):
        pass
    return None


def check_record(record, size: tuple[int, int] | None = None) -> None:
    """Check a :class:`~sccnb.data.records.FaceRecord`'s points and box against its image
    (``size``: ``(width, height)``; default: read from the image's header or array)."""
    if size is None:
        if isinstance(record.image, (str, Path)):
            size = image_size(record.image)
        else:
            shape = np.asarray(record.image).shape
            size = (shape[1], shape[0])
    w, h = size
    file, _, line = str(record.source).rpartition(":")
    file, line = (file, int(line)) if line.isdigit() else (record.source or record.name, None)
    if line is None and str(file).endswith(".pts"):
        def line_of(i: int) -> int | None:
            return pts_point_line(file, i)
    else:
        def line_of(i: int) -> int | None:
            return line
    check_points(record.landmarks, w, h, file, line_of)
    if record.box is not None:
        check_box(record.box, w, h, file, line, what=f"the box of face {record.name!r}")
