"""Pose-based data balancing on real 300-W shapes and on synthetic ones."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from sccnb.data.pdb import (
    epoch_indices,
    pdb_repeats,
    plot_pose_histogram,
    pose_bins,
    pose_projection,
    procrustes_align,
)
from sccnb.layouts import flip_permutation


def _read_pts(path: Path) -> np.ndarray:
    """A minimal iBUG .pts reader (1-based file -> 0-based points)."""
    body = path.read_text().split("{")[1].split("}")[0]
    return np.array(body.split(), dtype=float).reshape(-1, 2) - 1.0


@pytest.fixture(scope="module")
def shapes_300w(shared_data) -> np.ndarray:
    files = sorted((shared_data / "300w_mini").rglob("*.pts"))
    assert len(files) > 1000
    return np.stack([_read_pts(f) for f in files])


def _yaw_proxy(shapes: np.ndarray) -> np.ndarray:
    """Horizontal offset of the nose tip (30) from the midpoint of the outer eye corners
    (36, 45), in inter-ocular units: > 0 when the nose points to the image right."""
    mid = (shapes[:, 36, 0] + shapes[:, 45, 0]) / 2
    return (shapes[:, 30, 0] - mid) / np.abs(shapes[:, 45, 0] - shapes[:, 36, 0])


def _flatness(counts: np.ndarray) -> float:
    """Coefficient of variation of the non-empty bins' counts (0 = perfectly flat)."""
    counts = counts[counts > 0].astype(float)
    return float(counts.std() / counts.mean())


def _random_similarity(shapes: np.ndarray, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    out = np.empty_like(shapes)
    for i, s in enumerate(shapes):
        a = rng.uniform(-np.pi, np.pi)
        rot = np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]])
        out[i] = rng.uniform(0.3, 3) * s @ rot.T + rng.uniform(-100, 100, 2)
    return out


def test_first_mode_is_yaw_on_real_faces(shapes_300w):
    for perm in (None, flip_permutation("300w68")):
        proj = pose_projection(shapes_300w, flip_perm=perm)
        assert abs(np.corrcoef(proj, _yaw_proxy(shapes_300w))[0, 1]) > 0.7


def test_balancing_flattens_the_real_pose_histogram(shapes_300w):
    index, edges = pose_bins(shapes_300w, bins=9)
    assert index.min() >= 0 and index.max() == 8 and len(edges) == 10
    repeats = pdb_repeats(shapes_300w, bins=9)
    assert repeats.dtype == np.int64 and repeats.min() >= 1 and repeats.max() > 1
    before = np.bincount(index, minlength=9)
    after = np.bincount(index, weights=repeats, minlength=9)
    assert _flatness(after) < 0.5 * _flatness(before)
    # Each bin ends near the largest one: count * round(max / count) is within count / 2 of max.
    full = before > 0
    assert (np.abs(after[full] - before.max()) <= before[full] / 2).all()
    # The most frontal bin (the fullest here) is not over-sampled.
    assert (repeats[index == np.argmax(before)] == 1).all()


def test_mirror_symmetric_model_projects_a_mirror_image_to_minus_p(shapes_300w):
    perm = flip_permutation("300w68")
    mirrored = shapes_300w[:, perm].copy()
    mirrored[..., 0] *= -1
    both = np.concatenate([shapes_300w[:200], mirrored[:200]])
    proj = pose_projection(both, flip_perm=perm)
    np.testing.assert_allclose(proj[200:], -proj[:200], atol=1e-6)


def test_procrustes_removes_similarity_transforms():
    rng = np.random.default_rng(0)
    shapes = rng.normal(size=(30, 10, 2)) + 3 * np.linspace(-1, 1, 20).reshape(10, 2)
    aligned = procrustes_align(shapes)
    moved = procrustes_align(_random_similarity(shapes, 1))
    # Same shapes, so the same aligned set up to one common rotation of the frame.
    common = np.linalg.lstsq(moved.reshape(-1, 2), aligned.reshape(-1, 2), rcond=None)[0]
    np.testing.assert_allclose(moved @ common, aligned, atol=1e-6)
    np.testing.assert_allclose(np.linalg.norm(aligned, axis=(1, 2)), 1.0)
    np.testing.assert_allclose(aligned.mean(axis=1), 0.0, atol=1e-12)
    proj = pose_projection(shapes)
    np.testing.assert_allclose(np.abs(pose_projection(_random_similarity(shapes, 2))),
                               np.abs(proj), atol=1e-6)


def test_epoch_indices_repeat_each_sample_and_are_deterministic():
    repeats = np.array([1, 3, 2, 1, 5])
    state = np.random.get_state()
    order = epoch_indices(repeats, epoch=4, seed=11)
    assert np.array_equal(np.bincount(order, minlength=5), repeats)
    assert np.array_equal(order, epoch_indices(repeats, epoch=4, seed=11))
    assert not np.array_equal(order, epoch_indices(repeats, epoch=5, seed=11))
    assert not np.array_equal(order, epoch_indices(repeats, epoch=4, seed=12))
    assert np.array_equal(np.random.get_state()[1], state[1])  # global RNG untouched


def test_plot_shows_counts_before_and_after(shapes_300w):
    fig = plot_pose_histogram(shapes_300w[:400], bins=9)
    ax = fig.axes[0]
    assert len(ax.containers) == 2
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert labels[0].startswith("original") and labels[1].startswith("after PDB")
    index, _ = pose_bins(shapes_300w[:400], bins=9)
    before = np.bincount(index, minlength=9)
    after = np.bincount(index, weights=pdb_repeats(shapes_300w[:400], bins=9), minlength=9)
    np.testing.assert_array_equal([b.get_height() for b in ax.containers[0]], before)
    np.testing.assert_array_equal([b.get_height() for b in ax.containers[1]], after)


def test_bad_shapes_are_refused():
    with pytest.raises(ValueError, match="shapes"):
        pose_projection(np.zeros((5, 3)))
    bad = np.ones((4, 5, 2))
    bad[0, 0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        pose_projection(bad)
