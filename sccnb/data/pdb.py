"""Pose-based Data Balancing (PDB; Feng et al., "Wing loss", CVPR 2018, Sec. 5).

The SCC paper (Sec. 4.2) uses PDB with 9 bins "to mitigate the issue of pose variations".
Feng et al.: align the training shapes with Procrustes analysis, run PCA, project every shape
on the eigenvector that controls pose (the first one, ~ yaw), histogram the projections into
K bins and over-sample the sparse bins. The SCC authors' code repeats each sample
``round(max bin count / its bin count)`` times and bins the ABSOLUTE projection. Here:

* **Alignment.** Generalised Procrustes analysis with similarity transforms (translation,
  rotation, scale to unit size, no reflection), iterated against the mean shape until it
  settles. (The authors' code skips it because its shapes come from pre-aligned crops.)
* **Mirror-symmetric model** (optional, ``flip_perm``). The network sees every face mirrored
  half the time, so the model can be fitted on the shapes and their mirror images: the mean
  shape is then exactly symmetric (frontal) and a face and its mirror project to ``+p`` and
  ``-p``. Without it the mean shape carries the set's average yaw.
* **Absolute projection** (``absolute=True``, the default, as in the authors' code). With
  50 % flip augmentation a face looking left is as often seen looking right, so the training
  distribution over the sign of yaw is symmetric whatever the data; binning the signed value
  would over-sample, say, left profiles beyond right ones for no effect. Binning ``|p|``
  balances what the network actually sees: frontal versus increasingly large yaw.
  ``absolute=False`` gives Feng et al.'s signed histogram.
* **Bins.** ``bins`` equal-width bins over ``[min, max]`` of the (absolute) projection.
* **Rounding.** Half up (``floor(x + 0.5)``), so a sample is repeated at least once.
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "procrustes_align",
    "pose_projection",
    "pose_bins",
    "pdb_repeats",
    "epoch_indices",
    "plot_pose_histogram",
]


def _check_shapes(shapes: np.ndarray) -> np.ndarray:
    shapes = np.asarray(shapes, dtype=np.float64)
    if shapes.ndim != 3 or shapes.shape[2] != 2 or shapes.shape[0] < 2:
        raise ValueError(f"shapes must be (M >= 2, N, 2), got {shapes.shape}")
    if not np.isfinite(shapes).all():
        raise ValueError("shapes contain NaN or inf; PDB needs every point of every shape")
    return shapes


def _normalise(shapes: np.ndarray) -> np.ndarray:
    """Centre each shape on its centroid and scale it to unit Frobenius norm."""
    centred = shapes - shapes.mean(axis=1, keepdims=True)
    norms = np.linalg.norm(centred, axis=(1, 2), keepdims=True)
    if (norms < 1e-12).any():
        raise ValueError("a shape has all its points at one place; cannot align it")
    return centred / norms


def _rotate_onto(shapes: np.ndarray, target: np.ndarray) -> np.ndarray:
    """Rotate each centred shape (M, N, 2) onto ``target`` (N, 2): orthogonal Procrustes with
    the reflection excluded (Kabsch), batched over M."""
    h = np.einsum("mni,nj->mij", shapes, target)  # (M, 2, 2) cross-covariance
    u, _, vt = np.linalg.svd(h)
    d = np.sign(np.linalg.det(u @ vt))  # -1 where the best orthogonal map would reflect
    u[:, :, 1] *= d[:, None]
    return shapes @ (u @ vt)


def procrustes_align(shapes: np.ndarray, iterations: int = 20, tol: float = 1e-10) -> np.ndarray:
    """Generalised Procrustes analysis: ``(M, N, 2)`` shapes aligned to their mean shape.

    Each shape is centred, scaled to unit norm and rotated onto the current mean; the mean is
    re-estimated (and re-normalised) until it moves less than ``tol``.
    """
    aligned = _normalise(_check_shapes(shapes))
    mean = aligned[0]
    for _ in range(iterations):
        aligned = _rotate_onto(aligned, mean)
        new_mean = _normalise(aligned.mean(axis=0)[None])[0]
        new_mean = _rotate_onto(new_mean[None], mean)[0]  # keep the mean's orientation fixed
        moved = np.linalg.norm(new_mean - mean)
        mean = new_mean
        if moved < tol:
            break
    return _rotate_onto(aligned, mean)


def _mirror(shapes: np.ndarray, flip_perm: np.ndarray) -> np.ndarray:
    """Mirror images of the shapes: x -> -x and left/right indices swapped."""
    mirrored = shapes[:, np.asarray(flip_perm, dtype=np.int64)].copy()
    mirrored[..., 0] *= -1
    return mirrored


def pose_projection(shapes: np.ndarray, *, flip_perm: np.ndarray | None = None) -> np.ndarray:
    """Signed projection ``(M,)`` of each Procrustes-aligned shape on the first PCA mode.

    Args:
        shapes: ``(M, N, 2)`` landmarks in any frame (one scale per shape is irrelevant).
        flip_perm: the layout's flip permutation; when given, the PCA model is fitted on the
            shapes and their mirror images (see the module docstring).

    The sign of a PCA axis is arbitrary; it is fixed so that the component's largest-magnitude
    entry is positive, which makes the result deterministic.
    """
    shapes = _check_shapes(shapes)
    m = len(shapes)
    if flip_perm is not None:
        shapes = np.concatenate([shapes, _mirror(shapes, flip_perm)])
    aligned = procrustes_align(shapes).reshape(len(shapes), -1)  # (M', 2N)
    centred = aligned - aligned.mean(axis=0)
    _, vectors = np.linalg.eigh(centred.T @ centred)  # ascending eigenvalues; (2N, 2N) only
    mode = vectors[:, -1]
    mode = mode * np.sign(mode[np.argmax(np.abs(mode))])
    return (centred @ mode)[:m]


def pose_bins(shapes: np.ndarray, bins: int = 9, *, absolute: bool = True,
              flip_perm: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Bin index ``(M,)`` (0 .. bins-1) of every shape's pose projection, and the ``bins + 1``
    equal-width bin edges over the range of the (absolute, by default) projection."""
    if bins < 1:
        raise ValueError(f"bins must be >= 1, got {bins}")
    proj = pose_projection(shapes, flip_perm=flip_perm)
    if absolute:
        proj = np.abs(proj)
    edges = np.linspace(proj.min(), proj.max(), bins + 1)
    index = np.clip(np.searchsorted(edges, proj, side="right") - 1, 0, bins - 1)
    return index, edges


def pdb_repeats(shapes: np.ndarray, bins: int = 9, *, absolute: bool = True,
                flip_perm: np.ndarray | None = None) -> np.ndarray:
    """How often each sample appears per epoch: ``round(max bin count / its bin count)``,
    an ``(M,)`` int64 array, every entry >= 1."""
    index, _ = pose_bins(shapes, bins, absolute=absolute, flip_perm=flip_perm)
    counts = np.bincount(index, minlength=bins)
    return np.floor(counts.max() / counts[index] + 0.5).astype(np.int64)


def epoch_indices(repeats: np.ndarray, epoch: int, seed: int) -> np.ndarray:
    """The shuffled sample order of one epoch: sample ``i`` appears ``repeats[i]`` times.

    Depends only on ``(seed, epoch)`` (a fresh ``numpy`` Generator seeded with both), so a run
    resumed at any epoch sees the same order; the global RNG is untouched.
    """
    repeats = np.asarray(repeats)
    if repeats.ndim != 1 or (repeats < 0).any():
        raise ValueError("repeats must be a 1-D array of non-negative counts")
    if epoch < 0 or seed < 0:
        raise ValueError(f"epoch and seed must be >= 0, got epoch={epoch}, seed={seed}")
    order = np.repeat(np.arange(len(repeats), dtype=np.int64), repeats.astype(np.int64))
    return np.random.default_rng([int(seed), int(epoch)]).permutation(order)


def plot_pose_histogram(shapes: np.ndarray, bins: int = 9, ax=None, *, absolute: bool = True,
                        flip_perm: np.ndarray | None = None):
    """Bar chart of the samples per pose bin before and after PDB; returns the figure.

    Draws into ``ax`` when given, else into a new ``matplotlib.figure.Figure`` (no pyplot
    state is touched).
    """
    from matplotlib.figure import Figure

    index, edges = pose_bins(shapes, bins, absolute=absolute, flip_perm=flip_perm)
    counts = np.bincount(index, minlength=bins)
    repeats = np.floor(counts.max() / np.maximum(counts, 1) + 0.5).astype(np.int64)
    balanced = counts * repeats
    if ax is None:
        fig = Figure(figsize=(6, 3.5), layout="constrained")
        ax = fig.add_subplot()
    else:
        fig = ax.figure
    x = np.arange(bins)
    ax.bar(x - 0.2, counts, width=0.4, label=f"original ({counts.sum()} faces)")
    ax.bar(x + 0.2, balanced, width=0.4, label=f"after PDB ({balanced.sum()} per epoch)")
    ax.set_xticks(x, [f"{(a + b) / 2:.2f}" for a, b in zip(edges[:-1], edges[1:])],
                  rotation=45)
    what = "|projection|" if absolute else "projection"
    ax.set_xlabel(f"bin centre: {what} on the first shape mode (~ yaw)")
    ax.set_ylabel("samples per epoch")
    ax.set_title(f"Pose-based data balancing, {bins} bins")
    ax.legend()
    return fig
