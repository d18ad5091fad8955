"""Write SynthFace in the real benchmarks' file layouts, from the same faces.

``DIR/`` receives (formats as in ``shared/docs/protocol.md``):

* ``WFLW/WFLW_images/<folder>/<name>.jpg`` and
  ``WFLW/WFLW_annotations/list_98pt_rect_attr_train_test/list_98pt_rect_attr_{train,test}.txt``
  (207 fields a line: 196 coordinates, 0-based pixels, 6 decimals; box x_min y_min x_max y_max;
  flags pose expression illumination make-up occlusion blur; image path under WFLW_images/),
  plus ``WFLW/WFLW_annotations/list_98pt_test/list_98pt_test_<subset>.txt`` (196 coordinates
  and the path, one line per test face with that flag).
* 300-W (68 points, ``sccnb.layouts.WFLW98_TO_300W68``): ``.pts`` files, 1-based, with the
  image hard-linked (or copied) beside them: train faces in ``300W/helen/trainset/``; test faces
  without pose/expression/occlusion flags in ``300W/lfpw/testset/`` ("common"), the others in
  ``300W/ibug/`` ("challenging").
* COFW (29 points, ``WFLW98_TO_COFW29``): ``COFW/COFW_{train,test}_color.mat``, MATLAB v7.3
  (HDF5 with the 512-byte MATLAB user block): ``phisTr``/``phisT`` (h5py shape (87, M): x 1-based
  in rows 0-28, y in 29-57, occlusion flags in 58-86), ``bboxesTr``/``bboxesT`` ((4, M): x y w h,
  1-based) and ``IsTr``/``IsT`` ((1, M) object references to ``#refs#/<k>`` uint8 images of h5py
  shape (3, W, H), i.e. MATLAB H x W x 3); ``MATLAB_class`` attributes as MATLAB writes them.
  Like the real COFW images, each image is a crop around the face (:func:`cofw_crop`: a square
  of 1.5 times the box's longer side, clipped to the picture) of the decoded WFLW JPEG, and
  points and box are in that crop's frame. (Whole pictures would make the files three times as
  large: HDF5's deflate gains little on noisy photographs.) The deflate-compressed image chunks
  are made in the generator processes and written with ``write_direct_chunk``.
* COFW-68: ``COFW68/COFW68_Data/test_annotations/{i}_points.mat`` (MATLAB v5: ``Points`` 68 x 2
  float64 1-based, ``Occ`` 1 x 68 uint8, 1 = occluded) and ``cofw68_test_bboxes.mat``
  (``bboxes`` int16 M x 4, x y w h 1-based), in COFW test order and in the COFW images' frame.
* ``synthface.json``: generator version, parameters, counts, attribute rates, a content hash.
* ``.sccnb-synthface`` (:data:`MARKER`): says that synth made this folder, so a later
  generation may replace the entries above in it.

:func:`ensure_synthface` generates only when ``synthface.json`` is missing or its parameters
differ, in a temporary sibling folder that is moved into place when complete. It never deletes
what it did not make: a folder without the marker that holds anything (``synth --out
$DATA_ROOT`` with a real dataset there) is refused; with ``force`` it is written into and its
entries of the names above are kept, renamed ``<name>.before-synth-<time>``.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import multiprocessing
import os
import re
import shutil
import struct
import sys
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import cv2
import h5py
import numpy as np
import scipy.io
from tqdm.auto import tqdm

from ...errors import OwnershipError
from ...layouts import WFLW98_TO_300W68, WFLW98_TO_COFW29
from ...provenance import REPO_ROOT
from ..records import WFLW_ATTRIBUTES
from .generator import GENERATOR_VERSION, generate_face
from .shape_model import load_shape_model

__all__ = ["SUBSET_NAMES", "CHALLENGING", "MARKER", "image_relpath", "cofw_crop", "wflw_line",
           "pts_text", "write_synthface", "ensure_synthface", "read_params"]

# file-name suffix of each attribute's WFLW test subset list
SUBSET_NAMES = {"pose": "largepose", "expression": "expression", "illumination": "illumination",
                "makeup": "makeup", "occlusion": "occlusion", "blur": "blur"}
CHALLENGING = ("pose", "expression", "occlusion")  # a test face with any of these -> iBUG
_WFLW_LIST = "WFLW/WFLW_annotations/list_98pt_rect_attr_train_test/list_98pt_rect_attr_{}.txt"
_WFLW_SUBSET = "WFLW/WFLW_annotations/list_98pt_test/list_98pt_test_{}.txt"
_PTS_DIRS = {"train": "300W/helen/trainset", "common": "300W/lfpw/testset",
             "challenging": "300W/ibug"}
_COFW_KEYS = {"train": ("COFW/COFW_train_color.mat", "IsTr", "phisTr", "bboxesTr"),
              "test": ("COFW/COFW_test_color.mat", "IsT", "phisT", "bboxesT")}
_COFW68 = "COFW68/COFW68_Data"
_FACES_PER_FOLDER = 1000
MARKER = ".sccnb-synthface"  # in every folder synth made: its entries may be replaced
_ENTRIES = ("WFLW", "300W", "COFW", "COFW68", "synthface.json")  # what synth writes there


def image_relpath(split: str, index: int) -> str:
    """Image path under ``WFLW_images/``: WIDER-FACE-like ``<k>--SynthFace_<split>/<name>``."""
    return (f"{index // _FACES_PER_FOLDER}--SynthFace_{split}/"
            f"synthface_{split}_{index:06d}.jpg")


@dataclass
class _Face:
    """What the writer keeps of a generated face."""

    split: str
    index: int
    jpeg: bytes
    landmarks: np.ndarray
    box: np.ndarray
    flags: tuple[int, ...]
    occluded: np.ndarray
    cofw: tuple[tuple[int, int, int, int], tuple[int, int, int], bytes] | None = None

    @property
    def relpath(self) -> str:
        return image_relpath(self.split, self.index)

    @property
    def name(self) -> str:
        return Path(self.relpath).stem


def _make_face(task: tuple[int, str, int, int]) -> _Face:
    seed, split, index, size = task
    face = generate_face(seed, split, index, size)
    flags = tuple(int(face.attributes[a]) for a in WFLW_ATTRIBUTES)
    jpeg = face.jpeg()
    return _Face(split, index, jpeg, face.landmarks, face.box, flags, face.occluded,
                 _cofw_chunk(jpeg, face.box))


def _cofw_chunk(jpeg: bytes, box: np.ndarray) -> tuple[tuple[int, int, int, int],
                                                       tuple[int, int, int], bytes]:
    """The COFW crop of the JPEG's very pixels, as an HDF5 deflate chunk of h5py shape
    (3, W, H) (MATLAB H x W x 3): ``(crop, shape, zlib bytes)``."""
    rgb = cv2.cvtColor(cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR),
                       cv2.COLOR_BGR2RGB)
    crop = cofw_crop(box, rgb.shape[1], rgb.shape[0])
    data = np.ascontiguousarray(rgb[crop[1]:crop[3], crop[0]:crop[2]].transpose(2, 1, 0))
    return crop, data.shape, zlib.compress(data.tobytes(), 1)


def _init_worker() -> None:
    cv2.setNumThreads(1)
    load_shape_model()


def _faces(tasks: list[tuple[int, str, int, int]], workers: int) -> Iterator[_Face]:
    """Generate in order, in ``workers`` processes when > 1."""
    if workers <= 1:
        load_shape_model()
        yield from map(_make_face, tasks)
        return
    # "spawn": a forked child inherits OpenCV's thread pool in whatever state the parent left
    # it (locked mutexes included) and can hang in its first parallel cv2 call.
    with multiprocessing.get_context("spawn").Pool(workers, initializer=_init_worker) as pool:
        yield from pool.imap(_make_face, tasks, chunksize=8)


# --- format writers ------------------------------------------------------------------------------
def wflw_line(face: _Face) -> str:
    """One line of list_98pt_rect_attr_*.txt (207 fields)."""
    coords = " ".join(f"{v:.6f}" for v in face.landmarks.ravel())
    box = " ".join(str(int(v)) for v in face.box)
    flags = " ".join(str(f) for f in face.flags)
    return f"{coords} {box} {flags} {face.relpath}"


def pts_text(points_1based: np.ndarray) -> str:
    """An iBUG ``.pts`` file's text."""
    body = "\n".join(f"{x:.6f} {y:.6f}" for x, y in points_1based)
    return f"version: 1\nn_points: {len(points_1based)}\n{{\n{body}\n}}\n"


def _link_or_copy(src: Path, dst: Path) -> None:
    try:
        os.link(src, dst)
    except OSError:
        shutil.copyfile(src, dst)


def _xywh_1based(box: np.ndarray) -> np.ndarray:
    """``x_min y_min x_max y_max`` (0-based) -> ``x y w h`` (1-based)."""
    return np.array([box[0] + 1, box[1] + 1, box[2] - box[0], box[3] - box[1]], np.float64)


def cofw_crop(box: np.ndarray, width: int, height: int) -> tuple[int, int, int, int]:
    """``x0, y0, x1, y1`` (exclusive end) of the COFW crop: a square of 1.5 times the box's
    longer side around its centre, clipped to the ``width`` x ``height`` picture."""
    cx, cy = 0.5 * (box[0] + box[2]), 0.5 * (box[1] + box[3])
    half = 0.75 * float(max(box[2] - box[0], box[3] - box[1]))
    x0, y0 = max(0, int(np.floor(cx - half))), max(0, int(np.floor(cy - half)))
    x1, y1 = min(width, int(np.ceil(cx + half)) + 1), min(height, int(np.ceil(cy + half)) + 1)
    return x0, y0, x1, y1


def _in_crop(face: _Face, crop: tuple[int, int, int, int]) -> tuple[np.ndarray, np.ndarray]:
    """The face's landmarks and box shifted into a crop's frame."""
    x0, y0 = crop[:2]
    return face.landmarks - [x0, y0], face.box - np.array([x0, y0, x0, y0])


def _mat73_header() -> bytes:
    """The 128-byte MATLAB v7.3 header placed in the HDF5 user block."""
    now = _dt.datetime.now().strftime("%a %b %d %H:%M:%S %Y")
    text = f"MATLAB 7.3 MAT-file, Platform: GLNXA64, Created on: {now} HDF5 schema 1.00 ."
    return struct.pack("<116s8sH2s", text.ljust(116).encode("ascii"), b" " * 8, 0x0200, b"IM")


class _CofwWriter:
    """Streams one COFW .mat file: images as they come, point/box arrays at the end."""

    def __init__(self, path: Path, keys: tuple[str, str, str]) -> None:
        self.path, (self.images_key, self.phis_key, self.boxes_key) = path, keys
        path.parent.mkdir(parents=True, exist_ok=True)
        self.h5 = h5py.File(path, "w", userblock_size=512, libver="earliest")
        self.refs_group = self.h5.create_group("#refs#")
        self.refs: list = []
        self.phis: list[np.ndarray] = []
        self.boxes: list[np.ndarray] = []

    def add(self, face: _Face) -> None:
        crop, shape, chunk = face.cofw or _cofw_chunk(face.jpeg, face.box)
        face.cofw = None  # the chunk is written; do not keep it in memory
        ds = self.refs_group.create_dataset(str(len(self.refs)), shape=shape, dtype=np.uint8,
                                            chunks=shape, compression="gzip",
                                            compression_opts=1)
        ds.id.write_direct_chunk((0, 0, 0), chunk)
        ds.attrs["MATLAB_class"] = np.bytes_("uint8")
        self.refs.append(ds.ref)
        landmarks, box = _in_crop(face, crop)
        pts = landmarks[list(WFLW98_TO_COFW29)] + 1.0
        occ = face.occluded[list(WFLW98_TO_COFW29)].astype(np.float64)
        self.phis.append(np.concatenate([pts[:, 0], pts[:, 1], occ]))
        self.boxes.append(_xywh_1based(box))

    def close(self) -> None:
        m = len(self.refs)
        refs = self.h5.create_dataset(self.images_key, (1, m), dtype=h5py.ref_dtype)
        refs[0, :] = self.refs
        refs.attrs["MATLAB_class"] = np.bytes_("cell")
        for key, rows, width in ((self.phis_key, self.phis, 87), (self.boxes_key, self.boxes, 4)):
            data = np.stack(rows).T if rows else np.zeros((width, 0))
            ds = self.h5.create_dataset(key, data=data.astype(np.float64))
            ds.attrs["MATLAB_class"] = np.bytes_("double")
        self.h5.close()
        with open(self.path, "r+b") as fh:
            fh.write(_mat73_header())


def _write_cofw68(root: Path, test_faces: list[_Face], size: int) -> None:
    ann = root / _COFW68 / "test_annotations"
    ann.mkdir(parents=True, exist_ok=True)
    mapping = list(WFLW98_TO_300W68)
    boxes = np.zeros((len(test_faces), 4), np.int16)
    for i, face in enumerate(test_faces, start=1):
        landmarks, box = _in_crop(face, cofw_crop(face.box, size, size))
        scipy.io.savemat(ann / f"{i}_points.mat",
                         {"Points": landmarks[mapping] + 1.0,
                          "Occ": face.occluded[mapping].astype(np.uint8)[None, :]})
        boxes[i - 1] = np.round(_xywh_1based(box)).astype(np.int16)
    scipy.io.savemat(root / _COFW68 / "cofw68_test_bboxes.mat", {"bboxes": boxes})


# --- the whole data set --------------------------------------------------------------------------
def _params(train: int, test: int, size: int, seed: int) -> dict:
    return {"train": int(train), "test": int(test), "size": int(size), "seed": int(seed)}


def write_synthface(out: str | Path, train: int, test: int, size: int = 256, seed: int = 0,
                    workers: int = 1, progress: bool = True) -> dict:
    """Generate ``train`` + ``test`` faces and write every format into ``out`` (which should be
    empty or absent). Returns the summary that is also written to ``out/synthface.json``."""
    if train < 0 or test < 0 or train + test == 0:
        raise ValueError(f"need train >= 0, test >= 0 and some faces; got {train}, {test}")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    tasks = ([(seed, "train", i, size) for i in range(train)]
             + [(seed, "test", i, size) for i in range(test)])
    lines: dict[str, list[str]] = {"train": [], "test": []}
    subsets: dict[str, list[str]] = {a: [] for a in WFLW_ATTRIBUTES}
    flags: dict[str, list[tuple[int, ...]]] = {"train": [], "test": []}
    occluded_share: list[float] = []
    test_faces: list[_Face] = []
    counts_300w = {"train": 0, "common": 0, "challenging": 0}
    digest = hashlib.sha256()
    for d in _PTS_DIRS.values():
        (out / d).mkdir(parents=True, exist_ok=True)
    cofw = {split: _CofwWriter(out / keys[0], keys[1:]) for split, keys in _COFW_KEYS.items()}
    try:
        bar = tqdm(_faces(tasks, workers), total=len(tasks), desc="SynthFace", unit="face",
                   disable=not progress)
        for face in bar:
            image = out / "WFLW" / "WFLW_images" / face.relpath
            image.parent.mkdir(parents=True, exist_ok=True)
            image.write_bytes(face.jpeg)
            line = wflw_line(face)
            digest.update(face.relpath.encode() + face.jpeg + line.encode())
            lines[face.split].append(line)
            flags[face.split].append(face.flags)
            if face.split == "test":
                test_faces.append(face)
                occluded_share.append(float(face.occluded.mean()))
                coords = line.split(" ", 196)[:196]
                for a, f in zip(WFLW_ATTRIBUTES, face.flags):
                    if f:
                        subsets[a].append(" ".join(coords) + " " + face.relpath)
                challenging = any(face.flags[WFLW_ATTRIBUTES.index(a)] for a in CHALLENGING)
                group = "challenging" if challenging else "common"
            else:
                group = "train"
            counts_300w[group] += 1
            pts_dir = out / _PTS_DIRS[group]
            _link_or_copy(image, pts_dir / f"{face.name}.jpg")
            (pts_dir / f"{face.name}.pts").write_text(
                pts_text(face.landmarks[list(WFLW98_TO_300W68)] + 1.0))
            cofw[face.split].add(face)
    finally:
        for w in cofw.values():
            w.close()
    for split, rows in lines.items():
        path = out / _WFLW_LIST.format(split)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("".join(r + "\n" for r in rows))
    for a, rows in subsets.items():
        path = out / _WFLW_SUBSET.format(SUBSET_NAMES[a])
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("".join(r + "\n" for r in rows))
    _write_cofw68(out, test_faces, size)

    rates = {split: {a: (float(np.mean([f[i] for f in fl])) if fl else 0.0)
                     for i, a in enumerate(WFLW_ATTRIBUTES)} for split, fl in flags.items()}
    summary = {
        "name": "SynthFace",
        "generator_version": GENERATOR_VERSION,
        "parameters": _params(train, test, size, seed),
        "counts": {"train": train, "test": test,
                   "300w_train": counts_300w["train"], "300w_common": counts_300w["common"],
                   "300w_challenging": counts_300w["challenging"],
                   "cofw_train": train, "cofw_test": test, "cofw68_test": test,
                   **{f"wflw_test_{SUBSET_NAMES[a]}": len(r) for a, r in subsets.items()}},
        "attribute_rates": rates,
        "test_occluded_point_share": float(np.mean(occluded_share)) if occluded_share else 0.0,
        "content_sha256": digest.hexdigest(),
        "content_hash_covers": "image paths, JPEG bytes and WFLW annotation lines, in order",
        "shape_model": load_shape_model().provenance,
        "created": _dt.datetime.now().isoformat(timespec="seconds"),
    }
    (out / "synthface.json").write_text(json.dumps(summary, indent=2) + "\n")
    return summary


def read_params(root: str | Path) -> dict | None:
    """``(generator_version, parameters)`` of the SynthFace in ``root`` as a dict, or ``None``
    when ``root/synthface.json`` is missing or unreadable."""
    meta = Path(root) / "synthface.json"
    try:
        data = json.loads(meta.read_text())
        return {"generator_version": data["generator_version"],
                "parameters": data["parameters"]}
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _foreign(out: Path) -> list[str]:
    """The entries of ``out`` that synth may not replace without ``force``: none when ``out``
    is absent or empty, holds :data:`MARKER`, is a SynthFace folder written before the marker
    existed (``synthface.json`` and nothing but synth's own entries), or is a folder of
    sccnb's SynthFace cache; else every entry."""
    if not out.exists():
        return []
    if not out.is_dir():
        raise OwnershipError(f"--out {out} is a file, not a folder; choose a folder")
    entries = sorted(p.name for p in out.iterdir())
    if not entries or MARKER in entries:
        return []
    if "synthface.json" in entries and set(entries) <= set(_ENTRIES):
        return []  # made by synth before markers
    cache = Path(os.environ.get("SCCNB_CACHE", REPO_ROOT / ".cache")).resolve()
    if out.resolve().parent == cache and out.name.startswith("synthface_"):
        return []  # the training cache: folders named after their parameters, made by synth
    return entries


# The files synth writes under its entries (paths relative to the data set folder): in a folder
# synth made, only these are replaced; anything else a user put there is carried over.
_SYNTH_FILES = re.compile(
    r"^(WFLW/WFLW_images/\d+--SynthFace_(train|test)/synthface_(train|test)_\d+\.jpg"
    r"|WFLW/WFLW_annotations/list_98pt_rect_attr_train_test/list_98pt_rect_attr_\w+\.txt"
    r"|WFLW/WFLW_annotations/list_98pt_test/list_98pt_test_\w+\.txt"
    r"|300W/(helen/trainset|lfpw/testset|ibug)/synthface_(train|test)_\d+\.(jpg|pts)"
    r"|COFW/COFW_(train|test)_color\.mat"
    r"|COFW68/COFW68_Data/(test_annotations/\d+_points|cofw68_test_bboxes)\.mat)$")


def _carry_user_files(old: Path, new: Path, root: Path) -> list[str]:
    """Move every file under ``old`` (an entry synth wrote before) that synth did not write
    (:data:`_SYNTH_FILES`) to the same place under ``new`` (its replacement); returns their
    paths relative to ``root``."""
    if not old.is_dir() or old.is_symlink():
        return []
    carried = []
    for path in sorted(old.rglob("*")):
        if path.is_dir() and not path.is_symlink():
            continue
        rel = path.relative_to(old)
        name = (Path(old.name) / rel).as_posix()
        if _SYNTH_FILES.match(name):
            continue
        dest = new / rel
        if dest.exists() or dest.is_symlink():  # synth writes a file of that name now
            dest = dest.with_name(f"{dest.name}.before-synth-"
                                  f"{_dt.datetime.now().strftime('%Y%m%d-%H%M%S')}")
        dest.parent.mkdir(parents=True, exist_ok=True)
        path.rename(dest)
        carried.append((Path(old.name) / rel).as_posix())
    return carried


def _install(tmp: Path, out: Path, owned: bool = True) -> list[Path]:
    """Move the finished folder ``tmp``'s entries into ``out``, :data:`MARKER` first and
    synthface.json last (its presence marks a complete data set). Entries of ``out`` that they
    replace are deleted when ``owned`` -- after the files a user added inside them are moved
    into their replacements (a line on stderr names them) -- else kept under a new name
    (returned)."""
    out.mkdir(parents=True, exist_ok=True)
    (out / MARKER).write_text("This folder was made by `python -m sccnb synth`: the next "
                              "generation replaces its WFLW, 300W, COFW, COFW68 and "
                              "synthface.json (other files are left alone).\n")
    trash, kept = tmp / ".replaced", []
    stamp = _dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    for entry in [*(e for e in sorted(tmp.iterdir()) if e.name != "synthface.json"),
                  tmp / "synthface.json"]:
        if entry == trash:
            continue
        dest = out / entry.name
        if dest.exists() or dest.is_symlink():
            if owned:
                carried = _carry_user_files(dest, entry, out)
                if carried:
                    shown = ", ".join(carried[:3]) + (f" and {len(carried) - 3} more"
                                                      if len(carried) > 3 else "")
                    print(f"synth: kept {len(carried)} file(s) you added under {entry.name}/ "
                          f"({shown})", file=sys.stderr)
                trash.mkdir(exist_ok=True)
                dest.rename(trash / entry.name)
            else:
                keep, i = out / f"{entry.name}.before-synth-{stamp}", 2
                while keep.exists():
                    keep, i = out / f"{entry.name}.before-synth-{stamp}-{i}", i + 1
                dest.rename(keep)
                kept.append(keep)
        entry.rename(dest)
    shutil.rmtree(tmp, ignore_errors=True)
    return kept


def ensure_synthface(out: str | Path, train: int, test: int, size: int = 256, seed: int = 0,
                     workers: int = 1, force: bool = False, progress: bool = True) -> Path:
    """Make sure ``out`` holds SynthFace with these parameters; generate it if not.

    Nothing is generated when ``out/synthface.json`` records the same generator version and
    parameters (``workers`` does not change the data). Otherwise the data set is written to a
    temporary sibling folder and moved into ``out`` when complete, so an interrupted run leaves
    no ``synthface.json`` behind and the next call starts again. Other files in ``out`` are
    left alone. A folder synth did not make is refused (:class:`~sccnb.errors.OwnershipError`,
    before anything is generated) unless ``force``; with ``force``, what it holds under synth's
    names is kept, renamed (a line on stderr says so). Returns ``out``.
    """
    out = Path(out)
    wanted = {"generator_version": GENERATOR_VERSION,
              "parameters": _params(train, test, size, seed)}
    if not force and read_params(out) == wanted:
        return out
    foreign = _foreign(out)
    if foreign and not force:
        shown = ", ".join(foreign[:5]) + (f" and {len(foreign) - 5} more" if len(foreign) > 5
                                          else "")
        raise OwnershipError(f"{out} holds files that sccnb synth did not create ({shown}); "
                             "nothing was written. Choose a new or empty folder, or pass "
                             "--force to write into it (its WFLW, 300W, COFW, COFW68 would be "
                             "kept, renamed *.before-synth-<time>)")
    tmp = out.parent / f".{out.name}.tmp-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    out.parent.mkdir(parents=True, exist_ok=True)
    try:
        write_synthface(tmp, train, test, size, seed, workers, progress)
        for path in _install(tmp, out, owned=not foreign):
            print(f"synth: kept your {path.name.split('.before-synth-')[0]} as {path}",
                  file=sys.stderr)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return out
