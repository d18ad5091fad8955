"""Pictures for the notebooks: landmarks on faces, Pearson-correlation heatmaps ordered by face
part, the top-k graph drawn on the mean face, and a table of the tensor shapes of one forward
pass."""

from __future__ import annotations

import numpy as np
import pandas as pd

from .layouts import Layout, get_layout

__all__ = ["draw_landmarks", "correlation_heatmap", "graph_on_face", "forward_shapes",
           "PART_COLOURS", "part_order"]

PART_COLOURS = {
    "contour": "#1f77b4", "brow_left": "#8c564b", "brow_right": "#8c564b",
    "nose_bridge": "#2ca02c", "nose_base": "#2ca02c", "nose": "#2ca02c",
    "eye_left": "#9467bd", "eye_right": "#9467bd", "pupils": "#17becf",
    "lips_outer": "#d62728", "lips_inner": "#ff7f0e", "chin": "#1f77b4",
}


def draw_landmarks(ax, image, points, layout: str | Layout, *, color: str | None = None,
                   size: float = 6, lines: bool = True, label: str | None = None) -> None:
    """Show ``image`` (H, W, 3 uint8, or None) with ``points`` (N, 2) joined part by part.

    ``color=None`` colours each face part; otherwise everything in ``color``.
    """
    lay = get_layout(layout)
    if image is not None:
        ax.imshow(image)
    for part, (idx, closed) in lay.parts.items():
        pts = np.asarray(points)[list(idx)]
        c = color or PART_COLOURS.get(part, "w")
        if lines and len(idx) > 1:
            path = np.vstack([pts, pts[:1]]) if closed else pts
            ax.plot(path[:, 0], path[:, 1], "-", color=c, lw=0.8, alpha=0.8)
        ax.scatter(pts[:, 0], pts[:, 1], s=size, color=c, zorder=3,
                   label=label if part == next(iter(lay.parts)) else None)
    ax.set_axis_off()


def part_order(lay: Layout) -> tuple[np.ndarray, list[tuple[str, int, int]]]:
    """Landmark order grouped by face part, and (part, start, end) spans in that order."""
    order, spans = [], []
    for part, (idx, _) in lay.parts.items():
        spans.append((part, len(order), len(order) + len(idx)))
        order.extend(idx)
    return np.asarray(order), spans


def correlation_heatmap(corr: np.ndarray, layout: str | Layout, ax=None, title: str = ""):
    """Seaborn heatmap of an (N, N) correlation matrix with landmarks ordered and labelled by
    face part (ticks at part boundaries)."""
    import matplotlib.pyplot as plt
    import seaborn as sns

    lay = get_layout(layout)
    order, spans = part_order(lay)
    c = np.asarray(corr)[np.ix_(order, order)]
    if ax is None:
        _, ax = plt.subplots(figsize=(6.2, 5.4))
    sns.heatmap(c, ax=ax, vmin=0, vmax=1, cmap="viridis", square=True,
                cbar_kws={"label": "C = (|Cx| + |Cy|) / 2", "shrink": 0.8},
                xticklabels=False, yticklabels=False)
    mids = [(a + b) / 2 for _, a, b in spans]
    names = [p.replace("_", " ") for p, _, _ in spans]
    ax.set_xticks(mids, names, rotation=90, fontsize=7)
    ax.set_yticks(mids, names, rotation=0, fontsize=7)
    for _, a, _ in spans[1:]:
        ax.axhline(a, color="w", lw=0.4)
        ax.axvline(a, color="w", lw=0.4)
    ax.set_title(title, fontsize=10)
    return ax


def graph_on_face(mean_shape: np.ndarray, mask: np.ndarray, layout: str | Layout, ax=None,
                  title: str = ""):
    """Draw the neighbourhood graph M on the mean face: an edge i -> j for every off-diagonal
    non-zero (M is not symmetric: j may be among i's top-k without the reverse)."""
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=(4, 4))
    pts = np.asarray(mean_shape)
    rows, cols = np.nonzero(np.asarray(mask) - np.diag(np.diag(mask)))
    mutual = np.asarray(mask)[cols, rows] > 0
    for i, j, both in zip(rows, cols, mutual):
        ax.plot(pts[[i, j], 0], pts[[i, j], 1], "-", lw=0.6 if both else 0.4,
                color="C3" if both else "0.6", alpha=0.8 if both else 0.6, zorder=1)
    draw_landmarks(ax, None, pts, layout, size=8, lines=False)
    ax.invert_yaxis()
    ax.set_aspect("equal")
    ax.set_title(title, fontsize=10)
    return ax


def forward_shapes(model, images) -> pd.DataFrame:
    """One forward pass; the shape of every named intermediate tensor, in order."""
    import torch

    model.eval()
    with torch.no_grad():
        out, inter = model(images, return_intermediates=True)
    rows = [("input", tuple(images.shape))]
    for key, value in inter.items():
        if isinstance(value, dict):
            rows += [(f"{key}[{k}]", tuple(v.shape)) for k, v in value.items()]
        else:
            rows.append((key, tuple(value.shape)))
    rows.append(("output landmarks", tuple(out.shape)))
    return pd.DataFrame(rows, columns=["tensor", "shape"])
