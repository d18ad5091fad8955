"""What a run's data *is*, independent of where it lies: a fingerprint of the files a dataset's
reader reads, for the run store's identity (:mod:`sccnb.runs`).

Annotation files (``.pts``, WFLW's list files, COFW's ``.mat``) are hashed by content: removing a
line, moving a point or adding a face changes the fingerprint. Images enter as the sorted list
of their paths relative to the dataset folder with their byte sizes (hashing every image's bytes
would cost seconds per start on WFLW; a re-encoded image of the same name and size is the one
change this misses). Files are named relative to the dataset folder, so the same data under
another folder, on another machine, gives the same fingerprint.

Cost (``python -m sccnb runs --fingerprint-bench``, recorded in the README): a few milliseconds
for the 1,207 faces of ``300w_mini`` and well under a second for a WFLW-size folder; the result
is cached per process and folder state.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

__all__ = ["DataFingerprint", "data_fingerprint", "dataset_files"]

_IMAGE_EXT = {".jpg", ".jpeg", ".png", ".bmp", ".ppm", ".gif", ".tif", ".tiff", ".webp"}
_CHUNK = 1 << 20


@dataclass(frozen=True)
class DataFingerprint:
    """``digest`` (hex, 16 bytes of BLAKE2b) over ``files`` files, ``annotations`` of them
    hashed by content."""

    dataset: str
    digest: str
    files: int
    annotations: int

    def __str__(self) -> str:
        return f"{self.dataset}:{self.digest}"


def _walk(folder: Path) -> list[Path]:
    out: list[Path] = []
    if not folder.is_dir():
        return out
    for dirpath, dirnames, filenames in os.walk(folder):
        dirnames.sort()
        out += [Path(dirpath) / f for f in sorted(filenames) if not f.startswith(".")]
    return out


def dataset_files(dataset: str, root: str | Path) -> tuple[Path, list[Path], list[Path]]:
    """(the dataset's own folder, annotation files hashed by content, images listed by size).

    Only the named dataset's folder counts: adding COFW beside WFLW leaves a WFLW run's id alone.
    """
    root = Path(root)
    if dataset == "wflw":
        base = root / "WFLW"
        notes = [p for p in _walk(base / "WFLW_annotations") if p.suffix == ".txt"]
        images = [p for p in _walk(base / "WFLW_images") if p.suffix.lower() in _IMAGE_EXT]
    elif dataset in ("300w", "real300w"):
        base = root / "300W" if dataset == "300w" else root
        files = _walk(base)
        notes = [p for p in files if p.suffix == ".pts"]
        images = [p for p in files if p.suffix.lower() in _IMAGE_EXT]
    elif dataset == "cofw":
        base = root / "COFW"
        notes = [p for p in _walk(base) if p.suffix == ".mat"]  # images live inside the .mat
        images = []
    elif dataset == "cofw68":
        base = root
        notes = [p for p in _walk(root / "COFW68") if p.suffix == ".mat"]
        notes += [p for p in [root / "COFW" / "COFW_test_color.mat"] if p.is_file()]
        images = []
    else:
        raise ValueError(f"no fingerprint rule for dataset {dataset!r}")
    return base, notes, images


def _file_digest(path: Path) -> bytes:
    h = hashlib.blake2b(digest_size=16)
    with open(path, "rb") as f:
        while chunk := f.read(_CHUNK):
            h.update(chunk)
    return h.digest()


_CACHE: dict[tuple, DataFingerprint] = {}


def data_fingerprint(dataset: str, root: str | Path) -> DataFingerprint:
    """The fingerprint of ``dataset`` under ``root`` (see the module docstring).

    Raises ``FileNotFoundError`` naming the folder when the dataset has no files there.
    """
    base, notes, images = dataset_files(dataset, root)
    if not notes:
        raise FileNotFoundError(f"{dataset}: no annotation files under {base} (see README, "
                                "'Real datasets', for the expected layout)")
    stats = [(p, p.stat()) for p in (*notes, *images)]
    key = (dataset, str(Path(root).resolve()),
           tuple((str(p), s.st_size, s.st_mtime_ns) for p, s in stats))
    if key in _CACHE:
        return _CACHE[key]
    h = hashlib.blake2b(digest_size=16)
    h.update(f"sccnb-data-v1:{dataset}\n".encode())
    note_set = set(notes)
    for p, s in sorted(stats, key=lambda ps: ps[0].relative_to(base).as_posix()):
        rel = p.relative_to(base).as_posix()
        if p in note_set:
            h.update(f"A {rel}\n".encode() + _file_digest(p) + b"\n")
        else:
            h.update(f"I {rel} {s.st_size}\n".encode())
    fp = DataFingerprint(dataset, h.hexdigest(), len(stats), len(notes))
    _CACHE[key] = fp
    return fp
