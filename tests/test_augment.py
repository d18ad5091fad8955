"""Batched augmentation: image and landmarks move together, flips swap left/right indices,
``AugmentConfig.none()`` is the identity, results depend only on the generator."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from sccnb.data.augment import (
    AugmentConfig,
    AugmentParams,
    affine_grid,
    augment_batch,
    forward_matrices,
    normalize,
    sample_params,
    to_input,
    transform_landmarks,
    warp_images,
)
from sccnb.layouts import flip_permutation

# A toy 6-point layout: two mirrored pairs and two points on the midline.
TOY_PERM = torch.tensor([1, 0, 3, 2, 4, 5])
TOY_POINTS = torch.tensor([[40.0, 45.0], [88.0, 45.0], [34.0, 80.0], [94.0, 80.0],
                           [64.0, 62.0], [64.0, 100.0]])
NO_OCCLUSION = dict(occlusion=0.0, occlusion_p=0.0)


def _gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _dotted_batch(batch: int, size: int = 128):
    """Dark noise images with a 7x7 block of a distinct colour on every toy landmark."""
    rng = np.random.default_rng(0)
    colours = torch.tensor([[255, 0, 0], [0, 255, 0], [0, 0, 255], [255, 255, 0],
                            [255, 0, 255], [0, 255, 255]], dtype=torch.uint8)
    images = torch.from_numpy(rng.integers(0, 40, (batch, 3, size, size), dtype=np.uint8))
    for (x, y), c in zip(TOY_POINTS.long(), colours):
        images[:, :, y - 3:y + 4, x - 3:x + 4] = c[None, :, None, None]
    return images, TOY_POINTS.expand(batch, -1, -1).clone(), colours


def _colour_at(images: torch.Tensor, points: torch.Tensor) -> torch.Tensor:
    """Colour (B, N, 3) of the pixel nearest each landmark."""
    b = images.shape[0]
    idx = points.round().long()
    return images[torch.arange(b)[:, None], :, idx[..., 1], idx[..., 0]]


@pytest.mark.parametrize("flip", [0.0, 1.0])
def test_landmarks_stay_on_their_image_content(flip):
    images, points, colours = _dotted_batch(16)
    cfg = AugmentConfig(flip=flip, **NO_OCCLUSION)
    out, moved = augment_batch(images, points, TOY_PERM, cfg, _gen(1))
    expected = colours[TOY_PERM] if flip else colours  # mirrored point i = original perm[i]
    got = (_colour_at(out, moved) * 255).round().to(torch.uint8)
    assert torch.equal(got, expected.expand(16, -1, -1))
    assert (moved != points).any()  # something did move


def test_flip_swaps_left_and_right_indices_so_the_left_eye_stays_left():
    perm = torch.as_tensor(flip_permutation("300w68"))
    size = 256
    rng = np.random.default_rng(0)
    pts = torch.from_numpy(rng.uniform(60, 200, (4, 68, 2))).float()
    pts[:, 36:42, 0] = torch.linspace(70, 100, 6)  # the eye on the image left ...
    pts[:, 42:48, 0] = torch.linspace(150, 180, 6)  # ... and the one on the image right
    images = torch.zeros((4, 3, size, size), dtype=torch.uint8)
    cfg = AugmentConfig(rotation=0, translation=0, scale=0, flip=1.0, **NO_OCCLUSION)
    _, out = augment_batch(images, pts, perm, cfg, _gen())
    assert (out[:, 36:42, 0].mean(1) < out[:, 42:48, 0].mean(1)).all()
    mirrored = pts[:, perm].clone()
    mirrored[..., 0] = size - 1 - mirrored[..., 0]  # pixel centres: x -> S - 1 - x
    torch.testing.assert_close(out, mirrored, atol=1e-4, rtol=0)


def test_flipping_the_image_mirrors_its_pixels_exactly():
    images = torch.randint(0, 256, (3, 3, 32, 32), dtype=torch.uint8)
    cfg = AugmentConfig(rotation=0, translation=0, scale=0, flip=1.0, **NO_OCCLUSION)
    out, _ = augment_batch(images, torch.zeros(3, 6, 2), TOY_PERM, cfg, _gen())
    torch.testing.assert_close(out, images.flip(-1).float() / 255, atol=1e-5, rtol=0)


def test_none_is_the_identity():
    images, points, _ = _dotted_batch(4, 64)
    out, moved = augment_batch(images, points, TOY_PERM, AugmentConfig.none(), _gen())
    assert torch.equal(out, images.float() / 255)
    assert torch.equal(moved, points)


def test_the_identity_warp_and_integer_shifts_keep_pixel_centres():
    images = torch.rand(2, 3, 24, 24)
    eye = torch.eye(3, dtype=torch.float64).expand(2, 3, 3)
    torch.testing.assert_close(warp_images(images, eye), images, atol=1e-5, rtol=0)
    shift = eye.clone()
    shift[:, 0, 2], shift[:, 1, 2] = 3.0, -2.0  # input pixel (x, y) -> (x + 3, y - 2)
    out = warp_images(images, shift)
    torch.testing.assert_close(out[:, :, :-2, 3:], images[:, :, 2:, :-3], atol=1e-5, rtol=0)
    assert out[:, :, :, :3].abs().max() == 0  # zeros enter from outside


def test_a_blob_centroid_follows_its_landmark_under_rotation_scale_and_flip():
    # Sub-pixel check of the pixel-centre mapping: a half-pixel error in the normalised
    # coordinates moves the rotation/scale centre and hence the blob by >= 0.2 px here.
    size, target = 64, torch.tensor([22.3, 40.6])
    ys, xs = torch.meshgrid(torch.arange(size), torch.arange(size), indexing="ij")
    blob = torch.exp(-((xs - target[0]) ** 2 + (ys - target[1]) ** 2) / (2 * 1.5**2))
    images = blob.expand(3, 3, size, size).float()
    params = AugmentParams(angle=torch.tensor([30.0, -25.0, 0.0], dtype=torch.float64),
                           scale=torch.tensor([1.4, 0.8, 1.0], dtype=torch.float64),
                           shift=torch.tensor([[2.5, -1.5], [0.0, 0.0], [0.0, 0.0]],
                                              dtype=torch.float64),
                           flip=torch.tensor([False, True, True]),
                           occlude=torch.zeros(3, dtype=torch.bool),
                           rect=torch.zeros(3, 4, dtype=torch.float64), colour=torch.zeros(3, 3))
    forward = forward_matrices(params, size)
    out = warp_images(images, forward)[:, 0]
    moved = transform_landmarks(target.expand(3, 1, 2), forward, params.flip, torch.tensor([0]))
    w = out / out.sum(dim=(1, 2), keepdim=True)
    centroid = torch.stack([(w * xs).sum(dim=(1, 2)), (w * ys).sum(dim=(1, 2))], dim=1)
    torch.testing.assert_close(centroid, moved[:, 0], atol=0.05, rtol=0)


def test_separable_grid_equals_affine_grid():
    theta = torch.randn(5, 2, 3, generator=_gen(3))
    torch.testing.assert_close(affine_grid(theta, 17),
                               F.affine_grid(theta, [5, 3, 17, 17], align_corners=False))


def test_rotation_and_scale_are_about_the_crop_centre_and_within_range():
    size = 64
    cfg = AugmentConfig(**NO_OCCLUSION)
    params = sample_params(512, size, cfg, _gen())
    assert params.angle.abs().max() <= 40 and params.angle.abs().max() > 35
    assert ((params.scale >= 0.9) & (params.scale <= 1.1)).all()
    assert params.shift.abs().max() <= 30 * size / 256
    assert 0.4 < params.flip.float().mean() < 0.6
    params.shift.zero_()
    params.flip.zero_()
    m = forward_matrices(params, size)
    centre = torch.tensor([(size - 1) / 2, (size - 1) / 2, 1.0], dtype=torch.float64)
    torch.testing.assert_close(m @ centre, centre.expand(512, 3))
    det = torch.linalg.det(m[:, :2, :2])
    torch.testing.assert_close(det, params.scale**2)
    angle = torch.rad2deg(torch.atan2(m[:, 1, 0], m[:, 0, 0]))
    torch.testing.assert_close(angle, params.angle)


def test_occlusion_fills_a_fifth_of_the_crop_with_one_colour():
    size = 64
    images = torch.zeros((16, 3, size, size), dtype=torch.uint8)
    points = torch.rand(16, 6, 2) * size
    cfg = AugmentConfig(rotation=0, translation=0, scale=0, flip=0, occlusion=0.2,
                        occlusion_p=1.0)
    out, moved = augment_batch(images, points, TOY_PERM, cfg, _gen(2))
    assert torch.equal(moved, points)
    for img in out:
        mask = img.abs().sum(0) > 0
        ys, xs = mask.nonzero(as_tuple=True)
        box_area = (ys.max() - ys.min() + 1) * (xs.max() - xs.min() + 1)
        assert int(mask.sum()) == int(box_area)  # an axis-aligned rectangle
        assert abs(int(mask.sum()) / size**2 - 0.2) < 0.03
        colours = img[:, mask]
        assert torch.equal(colours, colours[:, :1].expand_as(colours))
    half = AugmentConfig(rotation=0, translation=0, scale=0, flip=0, occlusion_p=0.5)
    out, _ = augment_batch(torch.zeros((200, 3, 8, 8), dtype=torch.uint8),
                           torch.zeros(200, 6, 2), TOY_PERM, half, _gen(4))
    assert 0.4 < (out.flatten(1).abs().sum(1) > 0).float().mean() < 0.6


def test_results_depend_only_on_the_generator():
    images, points, _ = _dotted_batch(8, 64)
    cfg = AugmentConfig()
    a = augment_batch(images, points, TOY_PERM, cfg, _gen(7))
    b = augment_batch(images, points, TOY_PERM, cfg, _gen(7))
    c = augment_batch(images, points, TOY_PERM, cfg, _gen(8))
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])
    assert not torch.equal(a[1], c[1])
    g = _gen(7)
    first, second = (augment_batch(images, points, TOY_PERM, cfg, g) for _ in range(2))
    assert not torch.equal(first[1], second[1])  # the generator advances


def test_batched_output_types_and_device():
    images = torch.randint(0, 256, (16, 3, 64, 64), dtype=torch.uint8)
    points = torch.rand(16, 6, 2) * 64
    out, moved = augment_batch(images, points, TOY_PERM, AugmentConfig(), _gen())
    assert out.shape == (16, 3, 64, 64) and out.dtype == torch.float32
    assert moved.shape == (16, 6, 2) and moved.dtype == torch.float32
    assert out.device == images.device and moved.device == images.device
    assert out.min() >= 0 and out.max() <= 1


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cpu_and_gpu_agree_for_the_same_generator():
    images, points, _ = _dotted_batch(8, 64)
    cpu = augment_batch(images, points, TOY_PERM, AugmentConfig(), _gen(5))
    gpu = augment_batch(images.cuda(), points.cuda(), TOY_PERM.cuda(), AugmentConfig(), _gen(5))
    assert gpu[0].is_cuda and gpu[1].is_cuda
    torch.testing.assert_close(gpu[0].cpu(), cpu[0], atol=2e-3, rtol=0)
    torch.testing.assert_close(gpu[1].cpu(), cpu[1], atol=1e-3, rtol=0)


def test_bad_inputs_are_refused():
    images = torch.zeros((2, 3, 8, 8), dtype=torch.uint8)
    with pytest.raises(ValueError, match="flip_perm"):
        augment_batch(images, torch.zeros(2, 6, 2), torch.arange(5), AugmentConfig(), _gen())
    with pytest.raises(ValueError, match="landmarks"):
        augment_batch(images, torch.zeros(3, 6, 2), TOY_PERM, AugmentConfig(), _gen())
    with pytest.raises(ValueError, match="uint8"):
        augment_batch(images.float(), torch.zeros(2, 6, 2), TOY_PERM, AugmentConfig(), _gen())
    with pytest.raises(ValueError, match="flip"):
        AugmentConfig(flip=1.5)
    with pytest.raises(ValueError, match="rotation"):
        AugmentConfig(rotation=-1)


def test_normalize_is_a_per_image_z_score():
    x = torch.rand(4, 3, 16, 16, generator=_gen())
    z = normalize(x)
    torch.testing.assert_close(z.flatten(1).mean(1), torch.zeros(4), atol=1e-5, rtol=0)
    torch.testing.assert_close(z.flatten(1).std(1, unbiased=False), torch.ones(4))
    torch.testing.assert_close(normalize(0.5 * x + 0.2), z, atol=1e-4, rtol=0)
    assert torch.isfinite(normalize(torch.full((1, 3, 4, 4), 0.7))).all()
    u8 = (x * 255).to(torch.uint8)
    torch.testing.assert_close(to_input(u8), normalize(u8.float() / 255))
    assert math.isclose(float(to_input(u8)[0].std(unbiased=False)), 1.0, rel_tol=1e-4)
