"""``python -m sccnb data check FORMAT PATH [--images P] [--json]``: validate a downloaded
dataset folder before a long run.

It reads every split with the project's readers in ``on_error="skip"`` mode, so that EVERY bad
record is listed (file and 1-based line), not only the first; then decodes every image once
(a progress bar on stderr) and reports, per split: the number of faces (and per folder or test
subset), the point count, the coordinate range, the share of points outside the image and the
number of boxes that leave it partly. A point far outside its image (by more than half the
image's longer side: a wrong coordinate, not a face cut by the border), an empty split and a
file its library cannot open are problems too. Output is human-readable, or JSON with
``--json``; the exit status is 0 when no problem was found and 1 otherwise. Facts that are not
problems (a 300-W folder absent from a partial copy, annotation-only data) are printed as notes.

FORMAT and PATH:

* ``wflw``: the folder holding ``WFLW_annotations/`` and ``WFLW_images/``; or an annotations
  folder holding only ``list_98pt_test/`` (the subset lists: annotation-only statistics).
* ``300w``: the 300-W root (``afw/``, ``helen/``, ``lfpw/``, ``ibug/``); absent folders are notes.
* ``300w-csv``: one HRNet CSV, or a folder of them; ``--images``: the folder the CSV's
  ``image_name`` paths are relative to (without it: annotation-only).
* ``cofw``: a COFW ``.mat`` or a folder holding ``COFW_{train,test}_color.mat`` (or the grey
  ``COFW_{train,test}.mat``).
* ``cofw68``: the folder holding ``COFW68_Data/``; ``--images``: COFW's test ``.mat``.
"""

from __future__ import annotations

import os
import warnings
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from ._io import NO_IMAGE, ReadResult
from .cofw import COFW_KEYS, read_cofw, read_cofw68
from .records import WFLW_ATTRIBUTES, DataFormatError, FaceRecord
from .validate import FAR_OUTSIDE, pts_point_line  # the limits crops are checked against
from .w300 import W300_FOLDERS, read_300w, read_300w_csv
from .wflw import WFLW_SUBSETS, read_wflw, read_wflw_subset_list, wflw_list_path

__all__ = ["FORMATS", "Problem", "SplitStats", "CheckReport", "check_dataset",
           "format_report", "probe_files"]

FORMATS = ("wflw", "300w", "300w-csv", "cofw", "cofw68")


@dataclass
class Problem:
    """One thing wrong, located: ``file:line: message`` (``line`` None for whole files)."""

    file: str
    line: int | None
    message: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line is not None else self.file
        return f"{where}: {self.message}"

    @classmethod
    def from_error(cls, err: DataFormatError) -> Problem:
        where = f"{err.path}:{err.line}" if err.line is not None else err.path
        return cls(err.path, err.line, str(err).removeprefix(f"{where}: "))


@dataclass
class SplitStats:
    """What one split holds (coordinates 0-based; the image covers [-0.5, W - 0.5])."""

    name: str
    faces: int
    points: list[int]  # distinct point counts (one value for a sound split)
    groups: dict[str, int] = field(default_factory=dict)  # faces per folder / test subset
    x_range: tuple[float, float] | None = None
    y_range: tuple[float, float] | None = None
    faces_with_image_size: int = 0  # faces whose image was decoded (the shares below use them)
    points_outside_share: float | None = None
    boxes_partly_outside: int | None = None
    occluded_share: float | None = None


@dataclass
class CheckReport:
    format: str
    path: str
    splits: list[SplitStats] = field(default_factory=list)
    images_checked: int = 0
    notes: list[str] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def to_dict(self) -> dict:
        return {**asdict(self), "ok": self.ok}


# --- reading, per format ---------------------------------------------------------------------
# A gatherer turns (path, images option) into [(split name, records, groups)] and fills the
# report's notes and problems with what the readers say.
Split = tuple[str, list[FaceRecord], dict[str, int]]


def _read(report: CheckReport, reader: Callable[..., ReadResult], *args, **kwargs) -> ReadResult:
    """Run a reader in skip mode; its skipped errors and notes go into the report; an error
    that stops the whole file becomes one problem (and an empty result)."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the report lists what the warnings would say
            result = reader(*args, on_error="skip", **kwargs)
    except DataFormatError as err:
        report.problems.append(Problem.from_error(err))
        return ReadResult()
    except Exception as err:  # noqa: BLE001 -- a file the reader's library cannot open at all
        report.problems.append(Problem(str(args[0]), None, f"cannot read the file "
                                       f"({type(err).__name__}: {err}); it is truncated or not "
                                       "in the expected format"))
        return ReadResult()
    report.problems.extend(Problem.from_error(e) for e in result.skipped)
    report.notes.extend(result.notes)
    return result


def _gather_wflw(path: Path, images: Path | None, report: CheckReport) -> list[Split]:
    if not (path / "WFLW_annotations").is_dir():
        return _gather_wflw_subsets(path, report)
    splits = []
    for split in ("train", "test"):
        if not wflw_list_path(path, split).is_file():
            report.problems.append(Problem(str(wflw_list_path(path, split)), None,
                                           f"WFLW {split} list not found"))
            continue
        records = _read(report, read_wflw, path, split)
        groups = {s: sum(r.attributes.get(f"subset_{s}", False) for r in records)
                  for s in WFLW_SUBSETS if records and f"subset_{s}" in records[0].attributes}
        for subset, flag in zip(WFLW_SUBSETS, WFLW_ATTRIBUTES):
            odd = sum(r.attributes.get(f"subset_{subset}", False) and not r.attributes[flag]
                      for r in records)
            if odd:  # the official README says list members carry the flag; say so if not
                report.notes.append(f"{odd} face(s) of the {subset} list have {flag} = 0")
        splits.append((split, list(records), groups))
    return splits


def _gather_wflw_subsets(path: Path, report: CheckReport) -> list[Split]:
    """Only the test subset lists (as in shared/data/wflw_annotations): annotation-only."""
    folder = next((p for p in (path / "list_98pt_test", path) if
                   any(p.glob("list_98pt_test_*.txt"))), None)
    if folder is None:
        report.problems.append(Problem(str(path), None, "neither WFLW_annotations/ nor "
                                                        "list_98pt_test/ subset lists found"))
        return []
    records, groups, seen = [], {}, set()
    for subset in WFLW_SUBSETS:
        list_path = folder / f"list_98pt_test_{subset}.txt"
        if not list_path.is_file():
            report.notes.append(f"subset list absent: {list_path}")
            continue
        lines = _read(report, read_wflw_subset_list, list_path)
        groups[subset] = len(lines)
        for image, coords in lines:
            key = (image, coords.tobytes())
            if key not in seen:
                seen.add(key)
                records.append(FaceRecord(name=image, image=NO_IMAGE, landmarks=coords,
                                          layout="wflw98", source=str(list_path),
                                          split="test", dataset="wflw"))
    report.notes.append(f"WFLW subset lists only (annotation-only, no images): "
                        f"{sum(groups.values())} lines, {len(records)} distinct faces")
    return [("test (subset lists)", records, groups)]


def _gather_300w(path: Path, images: Path | None, report: CheckReport) -> list[Split]:
    splits = []
    for split, folders in W300_FOLDERS.items():
        if not any((path / f).is_dir() for f in folders):
            report.notes.append(f"300-W {split}: absent ({', '.join(folders)})")
            continue
        records = _read(report, read_300w, path, split)
        groups = Counter(r.name.rsplit("/", 1)[0] for r in records)
        splits.append((split, list(records), dict(groups)))
    if not splits:
        report.problems.append(Problem(str(path), None, "no 300-W folder found (expected "
                                       "afw, helen/{train,test}set, lfpw/{train,test}set, ibug)"))
    return splits


def _gather_300w_csv(path: Path, images: Path | None, report: CheckReport) -> list[Split]:
    files = sorted(path.glob("*.csv")) if path.is_dir() else [path]
    if not files:
        report.problems.append(Problem(str(path), None, "no .csv file found"))
    if images is None:
        report.notes.append("no --images folder: annotation-only, images not checked")
    splits = []
    for csv_path in files:
        records = _read(report, read_300w_csv, csv_path, images)
        groups = {s: sum(r.attributes.get(s, False) for r in records)
                  for s in ("common", "challenging")}
        splits.append((csv_path.stem, list(records), {k: v for k, v in groups.items() if v}))
    return splits


def _gather_cofw(path: Path, images: Path | None, report: CheckReport) -> list[Split]:
    if path.is_dir():  # the colour release, else the grey one (COFW.zip)
        found = []
        for split in COFW_KEYS:
            mats = [path / f"COFW_{split}_color.mat", path / f"COFW_{split}.mat"]
            found += [(split, m) for m in mats if m.is_file()][:1]
        if not found:
            report.problems.append(Problem(str(path), None, "no COFW_{train,test}_color.mat "
                                                            "(nor COFW_{train,test}.mat)"))
    else:
        found = [(split, path) for split in _cofw_splits_in(path, report)]
    return [(split, list(_read(report, read_cofw, mat, split)), {}) for split, mat in found]


def _cofw_splits_in(mat: Path, report: CheckReport) -> list[str]:
    """The COFW splits whose keys a .mat holds."""
    import h5py
    from scipy.io import whosmat

    try:
        if h5py.is_hdf5(mat):
            with h5py.File(mat, "r") as f:
                keys = set(f.keys())
        else:
            keys = {name for name, _, _ in whosmat(mat)}
    except Exception as err:  # noqa: BLE001 -- h5py and scipy fail in many ways on a bad file
        report.problems.append(Problem(str(mat), None, f"not a readable .mat file: {err}"))
        return []
    splits = [s for s, (im, phis, _) in COFW_KEYS.items() if im in keys or phis in keys]
    if not splits:
        report.problems.append(Problem(str(mat), None, "holds neither the COFW train keys "
                                       "(IsTr, phisTr, bboxesTr) nor the test keys"))
    return splits


def _gather_cofw68(path: Path, images: Path | None, report: CheckReport) -> list[Split]:
    if images is None:
        report.notes.append("no --images (COFW test .mat): annotation-only, images not checked")
    return [("test", list(_read(report, read_cofw68, path, images)), {})]


_GATHER: dict[str, Callable[[Path, Path | None, CheckReport], list[Split]]] = {
    "wflw": _gather_wflw, "300w": _gather_300w, "300w-csv": _gather_300w_csv,
    "cofw": _gather_cofw, "cofw68": _gather_cofw68,
}


# --- images and statistics -------------------------------------------------------------------
def _decode(path: str) -> tuple[int, int] | str:
    """Fully decode an image: its ``(width, height)``, or the reason it cannot be read."""
    from PIL import Image

    try:
        with Image.open(path) as im:
            im.load()
            if min(im.size) == 0:
                return "image has zero size"
            return im.size
    except FileNotFoundError:
        return "image not found"
    except Exception as err:  # noqa: BLE001 -- any decoder failure is the finding itself
        return f"cannot decode image: {type(err).__name__}: {err}"


def _image_sizes(records: list[FaceRecord], workers: int,
                 report: CheckReport) -> dict[str, tuple[int, int]]:
    """Decode every distinct image file once (threads; progress on stderr); failures become
    problems located at the first annotation that uses the image."""
    from tqdm import tqdm

    users: dict[str, list[FaceRecord]] = {}
    for record in records:
        if isinstance(record.image, str) and record.image != NO_IMAGE:
            users.setdefault(record.image, []).append(record)
    sizes: dict[str, tuple[int, int]] = {}
    report.images_checked = len(users)
    if not users:
        return sizes
    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        results = pool.map(_decode, users)
        for image, result in tqdm(zip(users, results), total=len(users), desc="decoding images",
                                  unit="img", leave=False):
            if isinstance(result, str):
                first = users[image][0]
                file, _, line = first.source.rpartition(":")
                located = (file, int(line)) if line.isdigit() else (first.source, None)
                others = f" (used by {len(users[image])} faces)" if len(users[image]) > 1 else ""
                report.problems.append(Problem(*located, f"{result}: {image}{others}"))
            else:
                sizes[image] = result
    return sizes


def _record_size(record: FaceRecord, sizes: dict[str, tuple[int, int]]) -> tuple[int, int] | None:
    if isinstance(record.image, np.ndarray):
        return record.image.shape[1], record.image.shape[0]
    return sizes.get(record.image)


def _split_stats(name: str, records: list[FaceRecord], groups: dict[str, int],
                 sizes: dict[str, tuple[int, int]]) -> SplitStats:
    stats = SplitStats(name=name, faces=len(records),
                       points=sorted({r.num_points for r in records}), groups=groups)
    if not records:
        return stats
    allpts = np.concatenate([r.landmarks for r in records])
    stats.x_range = (float(allpts[:, 0].min()), float(allpts[:, 0].max()))
    stats.y_range = (float(allpts[:, 1].min()), float(allpts[:, 1].max()))
    outside = total = partly = sized = 0
    for record in records:
        size = _record_size(record, sizes)
        if size is None:
            continue
        w, h = size
        x, y = record.landmarks[:, 0], record.landmarks[:, 1]
        outside += int(((x < -0.5) | (x > w - 0.5) | (y < -0.5) | (y > h - 0.5)).sum())
        total += record.num_points
        sized += 1
        if record.box is not None:
            x0, y0, x1, y1 = record.box
            partly += bool(x0 < -0.5 or y0 < -0.5 or x1 > w - 0.5 or y1 > h - 0.5)
    stats.faces_with_image_size = sized
    if sized:
        stats.points_outside_share = outside / total
        if any(r.box is not None for r in records):
            stats.boxes_partly_outside = partly
    occluded = [r.occluded for r in records if r.occluded is not None]
    if occluded:
        stats.occluded_share = float(np.concatenate(occluded).mean())
    return stats


def _far_points(records: list[FaceRecord], sizes: dict[str, tuple[int, int]]) -> list[Problem]:
    """One problem per face with a point far outside its image (:data:`FAR_OUTSIDE`), located
    at the point's line where the format has one (``.pts``, list files)."""
    problems = []
    for record in records:
        size = _record_size(record, sizes)
        if size is None:
            continue
        w, h = size
        x, y = record.landmarks[:, 0], record.landmarks[:, 1]
        beyond = np.maximum.reduce([-0.5 - x, x - (w - 0.5), -0.5 - y, y - (h - 0.5),
                                    np.zeros_like(x)])
        far = np.flatnonzero(beyond > FAR_OUTSIDE * max(w, h))
        if not len(far):
            continue
        i = int(far[np.argmax(beyond[far])])
        file, _, line = record.source.rpartition(":")
        file, line = (file, int(line)) if line.isdigit() else (record.source, None)
        if line is None and file.endswith(".pts"):
            line = pts_point_line(file, i)
        others = f" ({len(far) - 1} more such point(s))" if len(far) > 1 else ""
        problems.append(Problem(file, line, f"point {i + 1} at ({x[i]:.1f}, {y[i]:.1f}) lies far "
                                f"outside the {w} x {h} image{others}; a wrong coordinate?"))
    return problems


def check_dataset(fmt: str, path: str | Path, *, images: str | Path | None = None,
                  workers: int | None = None) -> CheckReport:
    """Validate a dataset folder (see the module docstring); never raises on bad data."""
    if fmt not in _GATHER:
        raise ValueError(f"unknown format {fmt!r}; supported: {', '.join(FORMATS)}")
    path = Path(path)
    report = CheckReport(format=fmt, path=str(path))
    if not path.exists():
        report.problems.append(Problem(str(path), None, "path does not exist"))
        return report
    splits = _GATHER[fmt](path, None if images is None else Path(images), report)
    every = [r for _, records, _ in splits for r in records]
    sizes = _image_sizes(every, workers or min(8, os.cpu_count() or 1), report)
    report.problems.extend(_far_points(every, sizes))
    report.splits = [_split_stats(name, records, groups, sizes)
                     for name, records, groups in splits]
    for stats in report.splits:
        if stats.faces == 0:  # an empty list or folder is not a dataset, even when readable
            report.problems.append(Problem(str(path), None, f"split {stats.name} has no faces"))
    return report


def probe_files(dataset: str, root: str | Path) -> None:
    """Open the header of every ``.mat`` a run of ``dataset`` under ``root`` reads (COFW,
    COFW-68), before training: a file its library cannot open (truncated, not a MATLAB file)
    is a :class:`~sccnb.errors.DataError` naming it. Headers only, so it costs milliseconds."""
    import h5py
    from scipy.io import whosmat

    from ..errors import DataError
    from .fingerprint import dataset_files

    if dataset not in ("cofw", "cofw68"):
        return
    for _, path, _, _ in dataset_files(dataset, root)[1]:  # (relative, absolute, size, mtime)
        mat = Path(path)
        if mat.suffix != ".mat":
            continue
        try:
            if h5py.is_hdf5(mat):
                with h5py.File(mat, "r"):
                    pass
            else:
                whosmat(mat)
        except Exception as err:  # noqa: BLE001 -- h5py and scipy fail in many ways
            raise DataError(f"{mat}: cannot be opened ({err}); it is truncated or not a MATLAB "
                            f"file (`python -m sccnb data check {dataset} {mat.parent}` lists "
                            "every problem)") from None


# --- output and CLI --------------------------------------------------------------------------
def format_report(report: CheckReport) -> str:
    """The human-readable report."""
    out = [f"data check {report.format} {report.path}"]
    for s in report.splits:
        groups = f"  [{', '.join(f'{k} {v}' for k, v in s.groups.items())}]" if s.groups else ""
        points = "/".join(map(str, s.points)) or "-"
        out.append(f"split {s.name}: {s.faces} faces, {points} points{groups}")
        if s.x_range is not None:
            out.append(f"  x {s.x_range[0]:.1f} .. {s.x_range[1]:.1f}, "
                       f"y {s.y_range[0]:.1f} .. {s.y_range[1]:.1f} (0-based px)")
        if s.points_outside_share is not None:
            line = (f"  points outside the image: {100 * s.points_outside_share:.3f}% "
                    f"(over {s.faces_with_image_size} faces with images)")
            if s.boxes_partly_outside is not None:
                line += f"; boxes partly outside: {s.boxes_partly_outside}"
            out.append(line)
        if s.occluded_share is not None:
            out.append(f"  occluded points: {100 * s.occluded_share:.1f}%")
    out.append(f"images decoded: {report.images_checked}")
    out.extend(f"note: {note}" for note in report.notes)
    if report.ok:
        out.append("OK: no problems found")
    else:
        out.append(f"problems ({len(report.problems)}):")
        out.extend(f"  {p}" for p in report.problems)
        out.append(f"FAILED: {len(report.problems)} problem(s)")
    return "\n".join(out)
