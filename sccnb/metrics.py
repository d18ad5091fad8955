"""Face-alignment metrics: NME, failure rate, AUC of the cumulative error distribution (CED).

Definitions (``shared/docs/protocol.md``, "Metrics"):

* NME of one image = mean over its N points of the L2 error, divided by the distance between
  the layout's normalising points in the *ground truth* (inter-ocular by default).
* FR@t = share of images whose NME is above ``t`` (strictly).
* AUC@t = area under the CED curve on [0, t], divided by ``t`` (so a perfect method scores 1).
  :func:`auc` integrates finely (thresholds every 1e-4, Simpson's rule), as PIPNet and STAR do;
  :func:`auc_coarse` is the SCC authors' estimate (20 thresholds 0.005 ... 0.1, trapezoid),
  kept as a named alternative so both can be shown side by side.

All functions take NMEs as fractions (0.044, not 4.4); tables multiply by 100 where they print %.
"""

from __future__ import annotations

import numpy as np
from scipy.integrate import simpson

from .layouts import Layout, get_layout

__all__ = ["nme", "failure_rate", "auc", "auc_coarse", "ced", "summarise", "paired_bootstrap"]


def nme(pred, target, layout: str | Layout, normaliser: str = "interocular",
        points=None) -> np.ndarray:
    """Per-image normalised mean error.

    Args:
        pred, target: landmarks, shape ``(B, N, 2)`` or ``(N, 2)``, same units.
        layout: the landmark layout (gives the normalising pair).
        normaliser: ``"interocular"`` (default) or ``"interpupil"``.
        points: optional bool mask ``(B, N)`` / ``(N,)``: average over these points only
            (e.g. the visible ones); NaN for an image with none.

    Returns:
        ``(B,)`` float64 array (a 0-d array for a single shape).
    """
    pred = np.asarray(pred, dtype=np.float64)
    target = np.asarray(target, dtype=np.float64)
    if pred.shape != target.shape or pred.shape[-1] != 2:
        raise ValueError(f"pred {pred.shape} and target {target.shape} must both be (..., N, 2)")
    lay = get_layout(layout)
    if pred.shape[-2] != lay.num_points:
        raise ValueError(f"layout {lay.name} has {lay.num_points} points, got {pred.shape[-2]}")
    a, b = lay.normaliser(normaliser)
    norm = np.linalg.norm(target[..., a, :] - target[..., b, :], axis=-1)
    if np.any(norm <= 0):
        raise ValueError("a ground-truth shape has zero normalising distance")
    err = np.linalg.norm(pred - target, axis=-1)
    if points is None:
        return err.mean(axis=-1) / norm
    points = np.broadcast_to(np.asarray(points, dtype=bool), err.shape)
    with np.errstate(invalid="ignore"):
        return (err * points).sum(axis=-1) / points.sum(axis=-1) / norm


def failure_rate(nmes, threshold: float = 0.1) -> float:
    """Share of images with NME strictly above ``threshold`` (a fraction in [0, 1])."""
    nmes = _as_1d(nmes)
    return float(np.mean(nmes > threshold))


def ced(nmes, threshold: float = 0.1, step: float = 1e-4) -> tuple[np.ndarray, np.ndarray]:
    """Cumulative error distribution: thresholds ``0, step, ..., threshold`` and the share of
    images with NME <= each threshold."""
    nmes = np.sort(_as_1d(nmes))
    xs = np.linspace(0.0, threshold, int(round(threshold / step)) + 1)
    ys = np.searchsorted(nmes, xs, side="right") / len(nmes)
    return xs, ys


def auc(nmes, threshold: float = 0.1, step: float = 1e-4) -> float:
    """AUC@threshold of the CED, Simpson's rule on a 1e-4 grid, divided by ``threshold``."""
    xs, ys = ced(nmes, threshold, step)
    return float(simpson(ys, x=xs) / threshold)


def auc_coarse(nmes, threshold: float = 0.1, points: int = 20) -> float:
    """The SCC authors' AUC estimate: the CED at ``points`` thresholds ``t/points ... t``
    (0.005 ... 0.1 for the defaults), trapezoid rule, times ``1/t`` (their ×10). The sliver
    [0, t/points] is left out, so it reads slightly lower than :func:`auc`."""
    nmes = np.sort(_as_1d(nmes))
    xs = np.linspace(threshold / points, threshold, points)
    ys = np.searchsorted(nmes, xs, side="right") / len(nmes)
    return float(np.trapezoid(ys, xs) / threshold)


def summarise(nmes, threshold: float = 0.1) -> dict[str, float]:
    """NME (mean), FR@t, AUC@t (fine) and AUC@t (coarse) of a set of per-image NMEs."""
    nmes = _as_1d(nmes)
    return {
        "count": int(nmes.size),
        "nme": float(nmes.mean()),
        "fr": failure_rate(nmes, threshold),
        "auc": auc(nmes, threshold),
        "auc_coarse": auc_coarse(nmes, threshold),
    }


def paired_bootstrap(a, b, n_boot: int = 2000, ci: float = 0.95, seed: int = 0) -> dict:
    """Bootstrap of the mean paired difference ``mean(a - b)`` over images.

    ``a`` and ``b`` are per-image errors of two methods on the *same* images in the same order.
    Returns the observed difference, its percentile confidence interval and the share of
    bootstrap resamples in which ``a`` has the lower mean (how often "a beats b").
    """
    a, b = _as_1d(a), _as_1d(b)
    if a.shape != b.shape:
        raise ValueError(f"paired bootstrap needs equal lengths, got {a.size} and {b.size}")
    d = a - b
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, d.size, size=(n_boot, d.size))
    means = d[idx].mean(axis=1)
    lo, hi = np.quantile(means, [(1 - ci) / 2, 1 - (1 - ci) / 2])
    return {"diff": float(d.mean()), "ci_low": float(lo), "ci_high": float(hi),
            "p_a_better": float(np.mean(means < 0))}


def _as_1d(x) -> np.ndarray:
    arr = np.asarray(x, dtype=np.float64).reshape(-1)
    if arr.size == 0:
        raise ValueError("no NMEs given")
    if not np.all(np.isfinite(arr)):
        raise ValueError("NMEs contain NaN or Inf")
    return arr
