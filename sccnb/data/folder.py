"""A folder of a user's annotated faces, read by format: what ``python -m sccnb eval RUN --data
FORMAT PATH`` (:mod:`sccnb.inference.evalfolder`) and ``detect rate --data FORMAT PATH`` evaluate.

Formats (:data:`FORMATS`):

* ``300w`` -- a folder of iBUG ``.pts`` files (1-based, 68 points) with the image beside each,
  searched recursively (any folder structure);
* ``wflw`` -- a WFLW annotation list (207 fields a line: 196 coordinates, the box, six flags,
  the image path), images relative to a ``WFLW_images/`` folder next to or above the list (else
  to the list's folder); or a WFLW root holding ``WFLW_annotations/`` (its test list is read);
* ``cofw`` -- a COFW ``.mat`` (its test keys ``IsT``/``phisT``/``bboxesT``, else the training
  keys).
"""

from __future__ import annotations

from pathlib import Path

from ..errors import DataError
from ._io import ErrorPolicy, find_image
from .cofw import read_cofw
from .records import DataFormatError, FaceRecord
from .w300 import read_pts
from .wflw import read_full_list, read_wflw

__all__ = ["FORMATS", "read_folder"]

FORMATS = {"300w": "300w", "wflw": "wflw", "cofw": "cofw"}  # format -> dataset (its protocol)


def read_folder(fmt: str, path: str | Path) -> list[FaceRecord]:
    """The annotated faces at ``path`` in format ``fmt`` (see the module docstring); a
    :class:`~sccnb.data.records.DataFormatError` when there are none."""
    if fmt not in FORMATS:
        raise ValueError(f"unknown format {fmt!r}; supported: {', '.join(FORMATS)}")
    path = Path(path).expanduser()
    if not path.exists():
        raise FileNotFoundError(f"{path} does not exist")
    records = {"300w": _read_300w_folder, "wflw": _read_wflw, "cofw": _read_cofw}[fmt](path)
    if not records:
        raise DataFormatError(path, f"no {fmt} faces found")
    return records


def _read_300w_folder(path: Path) -> list[FaceRecord]:
    files = [path] if path.is_file() else sorted(path.rglob("*.pts"))
    root = path.parent if path.is_file() else path
    records = []
    for pts in files:
        landmarks = read_pts(pts)
        image = find_image(pts)
        if image is None:
            raise DataFormatError(pts, f"no image next to it (looked for {pts.stem}.jpg, "
                                  ".png, ...)")
        records.append(FaceRecord(name=image.relative_to(root).as_posix(),
                                  image=str(image.resolve()), landmarks=landmarks,
                                  layout="300w68" if len(landmarks) == 68 else
                                  f"{len(landmarks)} points", source=str(pts), split="folder",
                                  dataset="300w"))
    return records


def _read_wflw(path: Path) -> list[FaceRecord]:
    if path.is_dir():
        return list(read_wflw(path, "test"))
    images = next((p / "WFLW_images" for p in path.parents[:3] if (p / "WFLW_images").is_dir()),
                  path.parent)
    return read_full_list(path, images, "folder", ErrorPolicy("raise"))


def _read_cofw(path: Path) -> list[FaceRecord]:
    try:
        try:
            return list(read_cofw(path, "test"))
        except DataFormatError as err:
            if "missing key" not in str(err):
                raise
            return list(read_cofw(path, "train"))
    except DataFormatError:
        raise
    except Exception as err:  # noqa: BLE001 -- scipy and h5py fail in many ways on a bad file
        raise DataError(f"{path}: not a readable COFW .mat file ({type(err).__name__}: "
                        f"{str(err).strip()}); give COFW_test_color.mat or "
                        "COFW_train_color.mat") from None
