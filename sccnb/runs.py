"""The run store: a run is a pure function of its resolved config, and its id is a hash of it.

``results/runs/<id>/`` holds::

    config.json        the resolved TrainConfig, plus provenance (commit, device, versions)
    metrics.json       summary per test split / subset (NME, FR@0.1, AUC@0.1), best epoch
    history.csv        one row per epoch: lr, train loss, validation NME, images/s, seconds
    predictions_<split>.csv   one row per test image: name, NME, subset flags
    predictions_<split>.npz   predicted and true landmarks (git-ignored: large)
    mean_shape_<split>.csv    the mean-shape baseline's per-image table
    checkpoint.pt      last epoch, for resuming (git-ignored)
    best.pt            weights of the epoch with the lowest validation NME (git-ignored)

Asking for a run that exists loads it instead of training it again, so tables share runs
(Table 1's model is Table 5's last column and Table 7's k = 3). Concurrent requests for the same
run (``make -j``) serialise on a lock file; the second one then finds the finished run.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
from dataclasses import asdict
from pathlib import Path
from typing import Any, Iterator

import pandas as pd

from .provenance import REPO_ROOT

__all__ = ["default_runs_root", "run_id", "Run", "run_lock"]


def default_runs_root() -> Path:
    """``$SCCNB_RUNS`` or ``<repo>/results/runs``."""
    return Path(os.environ.get("SCCNB_RUNS", REPO_ROOT / "results" / "runs"))


def _identity(cfg) -> dict[str, Any]:
    d = asdict(cfg)
    return {k: v for k, v in d.items() if k not in getattr(cfg, "RUNTIME_FIELDS", ())}


def run_id(cfg) -> str:
    """``<profile>-<dataset>-<head>-<10 hex of the config hash>``: readable and unique."""
    blob = json.dumps(_identity(cfg), sort_keys=True, default=str).encode()
    digest = hashlib.sha256(blob).hexdigest()[:10]
    return f"{cfg.profile}-{cfg.dataset}-{cfg.head}-{digest}"


@contextlib.contextmanager
def run_lock(path: Path) -> Iterator[None]:
    """Exclusive advisory lock on ``<run dir>.lock`` (released on exit, even on error)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.with_name(path.name + ".lock"), "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


class Run:
    """A finished (or partly finished) run on disk."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)

    @property
    def id(self) -> str:
        return self.path.name

    @property
    def complete(self) -> bool:
        return (self.path / "metrics.json").is_file()

    @property
    def config(self) -> dict[str, Any]:
        return json.loads((self.path / "config.json").read_text())

    @property
    def metrics(self) -> dict[str, Any]:
        return json.loads((self.path / "metrics.json").read_text())

    @property
    def history(self) -> pd.DataFrame:
        return pd.read_csv(self.path / "history.csv")

    def predictions(self, split: str) -> pd.DataFrame:
        """Per-image table of a test split: name, nme, subset flags, dataset, split."""
        return pd.read_csv(self.path / f"predictions_{split}.csv")

    def landmarks(self, split: str) -> dict[str, Any]:
        """Predicted and true landmarks of a test split (arrays; crop frame, 256 px)."""
        import numpy as np

        with np.load(self.path / f"predictions_{split}.npz") as z:
            return {k: z[k] for k in z.files}

    @property
    def best_weights(self) -> Path:
        return self.path / "best.pt"

    def load_model(self, device: str = "cpu"):
        """Rebuild the model and load the best weights (``torch.load(weights_only=True)``)."""
        import torch

        from .train import config_from_json, model_from_state

        state = torch.load(self.best_weights, map_location=device, weights_only=True)
        return model_from_state(config_from_json(self.config["train"]), state).to(device).eval()

    def __repr__(self) -> str:
        return f"Run({self.path})"
