"""What a run's data *is*, independent of where it lies: a fingerprint of the files a dataset's
reader reads, for the run store's identity (:mod:`sccnb.training.runs`).

Annotation files (``.pts``, WFLW's list files, COFW's ``.mat``) are hashed by content: removing a
line, moving a point or adding a face changes the fingerprint. Images enter as the sorted list
of their paths relative to the dataset folder with their byte sizes (hashing every image's bytes
would cost seconds per start on WFLW; a re-encoded image of the same name and size is the one
change this misses). Files are named relative to the dataset folder, so the same data under
another folder, on another machine, gives the same fingerprint.

Cost (``python -m sccnb runs --fingerprint DATASET PATH``, recorded in docs/run-store.md): a few
milliseconds for the 1,207 faces of ``300w_mini`` and well under a second for a WFLW-size folder;
the result is cached per process and folder state.
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


def _walk(folder: Path, base: Path, keep) -> list[tuple[str, str, int, int]]:
    """``(path relative to base, absolute path, size, mtime_ns)`` of the files under ``folder``
    whose name ``keep`` accepts, sorted by relative path (strings and ``os.scandir``: a WFLW-size
    folder of 10,000 images costs tens of milliseconds, where pathlib costs seconds)."""
    out: list[tuple[str, str, int, int]] = []
    prefix = os.path.relpath(folder, base)
    prefix = "" if prefix == "." else prefix.replace(os.sep, "/") + "/"
    stack = [(str(folder), prefix)]
    while stack:
        path, rel = stack.pop()
        try:
            entries = list(os.scandir(path))
        except (FileNotFoundError, NotADirectoryError):
            continue
        for e in entries:
            if e.name.startswith("."):
                continue
            if e.is_dir():
                stack.append((e.path, rel + e.name + "/"))
            elif keep(e.name):
                st = e.stat()
                out.append((rel + e.name, e.path, st.st_size, st.st_mtime_ns))
    out.sort()
    return out


def _ext(*exts: str):
    exts = tuple(x.lower() for x in exts)
    return lambda name: name.lower().endswith(exts)


_IMAGE = _ext(*_IMAGE_EXT)


def dataset_files(dataset: str, root: str | Path):
    """(the dataset's own folder, annotation files hashed by content, images listed by size),
    each file as ``(path relative to the folder, absolute path, size, mtime_ns)``.

    Only the named dataset's folder counts: adding COFW beside WFLW leaves a WFLW run's id alone.
    """
    root = Path(root)
    if dataset == "wflw":
        base = root / "WFLW"
        notes = _walk(base / "WFLW_annotations", base, _ext(".txt"))
        images = _walk(base / "WFLW_images", base, _IMAGE)
    elif dataset in ("300w", "real300w"):
        base = root / "300W" if dataset == "300w" else root
        notes = _walk(base, base, _ext(".pts"))
        images = _walk(base, base, _IMAGE)
    elif dataset == "cofw":
        base = root / "COFW"
        notes = _walk(base, base, _ext(".mat"))  # the images live inside the .mat files
        images = []
    elif dataset == "cofw68":
        base = root
        notes = _walk(root / "COFW68", base, _ext(".mat"))
        notes += [f for f in _walk(root / "COFW", base, _ext(".mat"))
                  if f[0] == "COFW/COFW_test_color.mat"]
        images = []
    else:
        raise ValueError(f"no fingerprint rule for dataset {dataset!r}")
    return base, notes, images


def _file_digest(path: str) -> bytes:
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
    key = (dataset, str(Path(root).resolve()), tuple(notes), tuple(images))
    if key in _CACHE:
        return _CACHE[key]
    h = hashlib.blake2b(digest_size=16)
    h.update(f"sccnb-data-v1:{dataset}\n".encode())
    tagged = sorted([(rel, "A", path, size) for rel, path, size, _ in notes]
                    + [(rel, "I", path, size) for rel, path, size, _ in images])
    for rel, kind, path, size in tagged:  # one sequence, by relative path
        if kind == "A":
            h.update(f"A {rel}\n".encode() + _file_digest(path) + b"\n")
        else:
            h.update(f"I {rel} {size}\n".encode())
    fp = DataFingerprint(dataset, h.hexdigest(), len(notes) + len(images), len(notes))
    _CACHE[key] = fp
    return fp
