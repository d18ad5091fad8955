"""Evaluation: predictions -> a tidy per-image table -> NME / FR@0.1 / AUC@0.1 per subset.

NME is computed in the crop frame. Crops are similarity transforms of the photos (one uniform
scale and a shift), so the normalised error is the same as in the original image; errors are
normalised by the ground truth's inter-ocular distance (outer eye corners: WFLW 60/72, 300-W
36/45, COFW 8/9 -- :mod:`sccnb.layouts`).

Per-image tables (one row per test image: name, NME, subset flags, dataset, split) are saved with
the run as ``predictions_<split>.csv``; the summaries in ``metrics.json``. Tables 1-3 read them.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch

from ..data.prepare import prepare_data
from ..metrics import nme, summarise
from ..provenance import atomic_write_bytes, atomic_write_text, write_json
from .runs import Run

__all__ = ["per_image_table", "summarise_table", "evaluate_run", "evaluate_crops",
           "mean_shape_baseline", "subset_columns", "predict", "convergence"]

REF = 256  # the model's output frame


@torch.no_grad()
def predict(model, crops, device: torch.device, batch_size: int = 128,
            ref_size: int = 256, bf16: bool | None = None,
            channels_last: bool | None = None) -> np.ndarray:
    """Landmarks ``(M, N, 2)`` in the ``ref_size`` crop frame for every face of a CropSet.
    ``bf16`` / ``channels_last``: None = on CUDA only (a config's ``amp`` / ``channels_last``
    decide them in training and evaluation)."""
    from ..data.augment import to_input

    model.eval()
    out = []
    bf16 = device.type == "cuda" if bf16 is None else bf16
    channels_last = device.type == "cuda" if channels_last is None else channels_last
    for start in range(0, len(crops), batch_size):
        x = to_input(crops.images[start:start + batch_size].to(device))
        if channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
            out.append(model(x).float().cpu())
    return torch.cat(out).numpy().astype(np.float64)


CONVERGENCE_WINDOW = 0.2  # the last 20 % of epochs ...
CONVERGENCE_TOLERANCE = 0.01  # ... may improve the best validation NME by less than 1 %


def convergence(history: pd.DataFrame, window: float = CONVERGENCE_WINDOW,
                tolerance: float = CONVERGENCE_TOLERANCE) -> dict:
    """Whether a run converged, by the study's stated criterion: the best validation NME of the
    last ``window`` of the epochs improves on the best of the epochs before by less than
    ``tolerance`` (relative). A run without validation passes in both parts (too short, or no
    validation split) is "unknown" (``converged`` None).

    Returns ``{"converged", "earlier_best", "late_best", "relative_gain", "window_epochs",
    "criterion"}``.
    """
    crit = (f"best validation NME of the last {window:.0%} of epochs improves on the earlier "
            f"best by < {tolerance:.0%} (relative)")
    val = history.dropna(subset=["val_nme"]) if "val_nme" in history else history.iloc[:0]
    n = len(history)
    cut = n - max(1, int(round(window * n)))
    early = val[val["epoch"] < history["epoch"].iloc[cut]] if n else val
    late = val.drop(early.index)
    if early.empty or late.empty:
        return {"converged": None, "earlier_best": None, "late_best": None,
                "relative_gain": None, "window_epochs": n - cut, "criterion": crit}
    e, l_ = float(early["val_nme"].min()), float(late["val_nme"].min())
    gain = (e - l_) / e
    return {"converged": bool(gain < tolerance), "earlier_best": e, "late_best": l_,
            "relative_gain": gain, "window_epochs": n - cut, "criterion": crit}


def subset_columns(crops) -> dict[str, np.ndarray]:
    """Subset flags of a test CropSet as columns: WFLW's six subsets (from the official subset
    lists when present, else from the attribute flags), 300-W common/challenging, and per-face
    occlusion where the format has per-point flags."""
    attrs = crops.attributes
    cols: dict[str, np.ndarray] = {}
    wflw = dict(largepose="pose", expression="expression", illumination="illumination",
                makeup="makeup", occlusion="occlusion", blur="blur")
    for subset, flag in wflw.items():
        if f"subset_{subset}" in attrs:
            cols[subset] = np.asarray(attrs[f"subset_{subset}"], bool)
        elif flag in attrs:
            cols[subset] = np.asarray(attrs[flag], bool)
    for name in ("common", "challenging"):
        if name in attrs:
            cols[name] = np.asarray(attrs[name], bool)
    return cols


def per_image_table(pred: np.ndarray, crops, ref_size: int = REF) -> pd.DataFrame:
    """One row per image: name, nme (fraction), the subset flags, dataset, split."""
    errors = nme(pred, crops.shapes_in(ref_size), crops.layout)
    df = pd.DataFrame({"name": crops.names, "nme": errors})
    for col, flags in subset_columns(crops).items():
        df[col] = flags
    df["dataset"], df["split"] = crops.dataset, crops.split
    return df


def summarise_table(df: pd.DataFrame, threshold: float = 0.1) -> dict[str, dict]:
    """Summary of the whole table ("full") and of every boolean subset column with members."""
    out = {"full": summarise(df["nme"], threshold)}
    for col in df.columns:
        if df[col].dtype == bool and df[col].any():
            out[col] = summarise(df.loc[df[col], "nme"], threshold)
    return out


def evaluate_crops(model, crops, device: torch.device, cfg=None
                   ) -> tuple[pd.DataFrame, np.ndarray]:
    """Per-image table and predictions of a model on a CropSet (numerics from ``cfg``)."""
    kw = {} if cfg is None else dict(bf16=cfg.uses_bf16(device.type),
                                     channels_last=cfg.uses_channels_last(device.type))
    pred = predict(model, crops, device, ref_size=REF, **kw)
    return per_image_table(pred, crops), pred


def mean_shape_baseline(train_crops, test_crops) -> pd.DataFrame:
    """The mean training shape placed in every test crop: what learning must beat."""
    template = train_crops.shapes_in(REF).mean(axis=0)
    pred = np.broadcast_to(template, (len(test_crops), *template.shape))
    return per_image_table(np.asarray(pred), test_crops)


def _save_split(run: Run, key: str, table: pd.DataFrame, pred: np.ndarray, crops) -> None:
    atomic_write_text(run.path / f"predictions_{key}.csv", table.to_csv(index=False))
    import io

    buf = io.BytesIO()
    np.savez_compressed(buf, names=np.asarray(crops.names), pred=pred.astype(np.float32),
                        target=crops.shapes_in(REF).astype(np.float32))
    atomic_write_bytes(run.path / f"predictions_{key}.npz", buf.getvalue())


def evaluate_run(run: Run, cfg, *, data=None, device: torch.device | None = None,
                 best: tuple[float, int] | None = None, test_dataset: str | None = None
                 ) -> dict:
    """Evaluate a run's best weights on its test splits (or ``test_dataset``'s), save the
    per-image tables and predictions, and merge the summaries into ``metrics.json``."""
    device = device or torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if data is None or test_dataset is not None:
        data = prepare_data(cfg, test_dataset=test_dataset)
    model = run.load_model(str(device))
    metrics = run.metrics if run.complete else {"splits": {}}
    prefix = f"{test_dataset}_" if test_dataset else ""
    for split, crops in data.tests.items():
        table, pred = evaluate_crops(model, crops, device, cfg)
        _save_split(run, prefix + split, table, pred, crops)
        base = mean_shape_baseline(data.train, crops)
        atomic_write_text(run.path / f"mean_shape_{prefix + split}.csv", base.to_csv(index=False))
        metrics["splits"][prefix + split] = {
            "dataset": crops.dataset, "layout": crops.layout, "summary": summarise_table(table),
            "mean_shape_baseline": summarise_table(base)}
    if best is not None:
        metrics["best_val_nme"], metrics["best_epoch"] = best
    if (run.path / "history.csv").is_file():
        metrics["convergence"] = convergence(run.history)
    metrics["train_faces"], metrics["val_faces"] = len(data.train), len(data.val)
    write_json(run.path / "metrics.json", metrics)
    return metrics
