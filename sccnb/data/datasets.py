"""Named datasets -> records for each split, with the folder layout every table expects.

A data root holds the benchmarks side by side, in their official layouts (the SynthFace
generator writes exactly this, so the embedded default runs through the same readers)::

    DATA_ROOT/WFLW/WFLW_annotations/...      WFLW_images/...
    DATA_ROOT/300W/{afw,helen,lfpw,ibug}/...  (.pts next to each image)
    DATA_ROOT/COFW/COFW_{train,test}_color.mat
    DATA_ROOT/COFW68/COFW68_Data/{test_annotations,cofw68_test_bboxes.mat}

``real300w`` is the 1,207 real 300-W faces in ``shared/data/300w_mini`` (AFW + HELEN train):
no official test split exists there, so :func:`real300w_split` holds out a fixed 20 % of the
*source photos* (seeded; faces of one photo never straddle the split).

Crops: WFLW and COFW crop around their face boxes; 300-W has no official box, so its crops
centre on the landmark extent (both × 1.25, HRNet's convention -- :mod:`sccnb.data.crops`).
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

from .records import FaceRecord

__all__ = ["photo_id", "DATASETS", "DatasetSpec", "load_records", "real300w_split", "test_splits",
           "REAL300W_DEFAULT"]

REAL300W_DEFAULT = Path(__file__).resolve().parents[3] / "shared" / "data" / "300w_mini"


@dataclass(frozen=True)
class DatasetSpec:
    """How a named dataset is read: its layout, its test splits, how crops are centred."""

    name: str
    layout: str
    tests: tuple[str, ...]  # test splits, evaluated and reported separately
    center_on: str  # "box" or "landmarks"
    subsets: tuple[str, ...] = ()  # attribute flags reported as subsets of the test split


DATASETS = {
    "wflw": DatasetSpec("wflw", "wflw98", ("test",), "box",
                        ("largepose", "expression", "illumination", "makeup", "occlusion",
                         "blur")),
    "300w": DatasetSpec("300w", "300w68", ("common", "challenging"), "landmarks"),
    "cofw": DatasetSpec("cofw", "cofw29", ("test",), "box"),
    "cofw68": DatasetSpec("cofw68", "300w68", ("test",), "box"),  # test only (cross-dataset)
    "real300w": DatasetSpec("real300w", "300w68", ("heldout",), "landmarks"),
}


def test_splits(dataset: str) -> tuple[str, ...]:
    return _spec(dataset).tests


def _spec(dataset: str) -> DatasetSpec:
    if dataset not in DATASETS:
        raise ValueError(f"unknown dataset {dataset!r}; supported: {sorted(DATASETS)}")
    return DATASETS[dataset]


def load_records(dataset: str, root: str | Path, split: str) -> list[FaceRecord]:
    """Records of one split. ``split`` is ``"train"`` or one of the dataset's test splits."""
    from . import read_300w, read_cofw, read_cofw68, read_wflw

    spec, root = _spec(dataset), Path(root)
    if split != "train" and split not in spec.tests:
        raise ValueError(f"{dataset} has splits train, {', '.join(spec.tests)}; got {split!r}")
    if dataset == "wflw":
        return list(read_wflw(root / "WFLW", split))
    if dataset == "300w":
        return list(read_300w(root / "300W", split))
    if dataset == "cofw":
        name = "COFW_train_color.mat" if split == "train" else "COFW_test_color.mat"
        return list(read_cofw(root / "COFW" / name, split))
    if dataset == "cofw68":
        if split == "train":
            raise ValueError("COFW-68 is a test set only (train on 300-W, test on COFW-68)")
        return list(read_cofw68(root / "COFW68", cofw_test_mat=root / "COFW" /
                                "COFW_test_color.mat"))
    # real300w: root is the 300w_mini folder (afw/, helen/trainset/)
    records = list(read_300w(root, "train"))
    train, heldout = real300w_split(records)
    return train if split == "train" else heldout


def photo_id(path: str) -> str:
    """The source photo of a face's image path or name. 300-W names a face ``<photo>_<k>``
    with a one- or two-digit face index ``k`` after a photo name that ends in a digit (AFW
    ``1051618982_1``, HELEN ``100032540_1``, iBUG ``image_003_1``); other names (LFPW
    ``image_0001``, SynthFace ``synthface_train_000123``) are one face per photo and stay whole."""
    return re.sub(r"(?<=\d)_\d{1,2}$", "", Path(path).stem)


def record_photo_id(record: FaceRecord) -> str:
    """The source photo of a face record (:func:`photo_id` of its image path, else its name)."""
    return photo_id(record.image if isinstance(record.image, str) and record.image
                    else record.name)


def real300w_split(records: list[FaceRecord], heldout: float = 0.2, seed: int = 0
                   ) -> tuple[list[FaceRecord], list[FaceRecord]]:
    """Deterministic split by source photo: a photo is held out when the hash of
    ``(seed, photo)`` falls in the lowest ``heldout`` fraction. Independent of file order and of
    which other files exist, so adding faces never reshuffles the existing ones."""
    def bucket(rec: FaceRecord) -> float:
        h = hashlib.sha256(f"{seed}:{record_photo_id(rec)}".encode()).digest()
        return int.from_bytes(h[:8], "big") / 2**64

    train = [r for r in records if bucket(r) >= heldout]
    test = [r for r in records if bucket(r) < heldout]
    for r in test:
        r.split = "heldout"
    return train, test
