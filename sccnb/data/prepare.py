"""From a config to crops: the data root (a real folder, or SynthFace generated once into the
cache), the training faces split into training and model-selection faces by source photo, and
each test split, all as cached crops (:mod:`sccnb.data.crops`).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..provenance import REPO_ROOT, file_lock
from .datasets import DATASETS, load_records

__all__ = ["Data", "prepare_data", "data_root", "synth_root"]


def synth_root(cfg) -> Path:
    """Generate (once) and return the SynthFace folder for this config's synth settings."""
    from .synth import ensure_synthface

    cache = Path(os.environ.get("SCCNB_CACHE", REPO_ROOT / ".cache"))
    folder = cache / (f"synthface_{cfg.synth_train}_{cfg.synth_test}_{cfg.synth_size}px_"
                      f"seed{cfg.synth_seed}")
    with file_lock(folder):
        return Path(ensure_synthface(folder, cfg.synth_train, cfg.synth_test, cfg.synth_size,
                                     cfg.synth_seed))


def data_root(cfg) -> Path:
    if cfg.data_root:
        root = Path(cfg.data_root).expanduser()
        if not root.exists():
            raise FileNotFoundError(f"data_root {root} does not exist (see README, 'Real "
                                    "datasets', for the expected layout)")
        return root
    return synth_root(cfg)


def _group_key(record) -> str:
    """Faces from one photo share a key (validation never splits a photo)."""
    from .datasets import record_photo_id

    if record.layout == "300w68":
        return record_photo_id(record)
    return record.image if isinstance(record.image, str) and record.image else record.name


@dataclass
class Data:
    """Crops for training, validation (model selection) and each test split."""

    train: Any
    val: Any
    tests: dict[str, Any] = field(default_factory=dict)
    root: Path | None = None


def prepare_data(cfg, splits: tuple[str, ...] | None = None,
                 test_dataset: str | None = None) -> Data:
    """Read, crop (cached) and split the data of ``cfg``.

    ``splits`` restricts the test splits loaded; ``test_dataset`` evaluates on another dataset
    of the same root (COFW-68 for a 300-W model).
    """
    import warnings

    from . import IncompleteDatasetWarning

    root = data_root(cfg)
    spec = DATASETS[cfg.dataset]
    with warnings.catch_warnings():
        # SynthFace writes 300-W's helen/lfpw/ibug folders only; 300w_mini is AFW + HELEN
        if not cfg.data_root or cfg.dataset == "real300w":
            warnings.simplefilter("ignore", IncompleteDatasetWarning)
        return _prepare(cfg, root, spec, splits, test_dataset)


def _prepare(cfg, root: Path, spec, splits, test_dataset) -> Data:
    from .crops import cached_crops

    records = load_records(cfg.dataset, root, "train")
    rng = np.random.default_rng(cfg.seed)
    if cfg.max_train and len(records) > cfg.max_train:
        keep = np.sort(rng.permutation(len(records))[: cfg.max_train])
        records = [records[i] for i in keep]
    # validation: whole groups (photos), chosen by a seeded permutation of the groups
    keys = [_group_key(r) for r in records]
    groups = sorted(set(keys))
    if cfg.val_fraction == 0:  # no model selection: the last epoch's weights are kept
        is_val = np.zeros(len(records), dtype=bool)
    else:
        n_val = max(1, int(round(cfg.val_fraction * len(groups))))
        val_groups = set(np.asarray(groups, dtype=object)[rng.permutation(len(groups))[:n_val]])
        is_val = np.array([k in val_groups for k in keys])
    if is_val.all() or (cfg.val_fraction > 0 and not is_val.any()):
        raise ValueError(f"{cfg.dataset}: cannot carve a validation split from {len(records)} "
                         f"training faces in {len(groups)} photo group(s); add faces or change "
                         "val_fraction")
    crops = cached_crops(records, cfg.input_size, cfg.crop_scale, spec.center_on,
                         progress=cfg.progress)
    data = Data(train=crops.subset(np.flatnonzero(~is_val)),
                val=crops.subset(np.flatnonzero(is_val)), root=root)
    tspec = DATASETS[test_dataset or cfg.dataset]
    for split in splits if splits is not None else tspec.tests:
        recs = load_records(tspec.name, root, split)
        data.tests[split] = cached_crops(recs, cfg.input_size, cfg.crop_scale, tspec.center_on,
                                         progress=cfg.progress)
    return data
