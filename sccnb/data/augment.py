"""Training augmentation (paper Sec. 4.2) as one batched affine warp on the tensors' device.

The paper: "Data augmentation is performed with random rotation (+-40 deg), translation
(+-30 px), flipping (50 %), rescaling (+-10 %) and occlusion (20 % of image size)", on 256 x 256
crops. Every sample of a batch gets its own similarity transform (flip, then rotation and
scale about the crop centre, then translation); the image is resampled by ONE
``affine_grid`` + ``grid_sample`` call for the whole batch and the landmarks are mapped by the
same matrices, so both stay together by construction. Choices where the paper is silent:

* **Distributions.** Angle ~ U(-40, 40) deg, scale ~ U(0.9, 1.1), each translation component
  ~ U(-30, 30) px at 256 (``translation * S / ref_size`` px at side ``S``), flip ~ Bernoulli(0.5).
* **Flip.** ``x -> S - 1 - x`` (pixel centres), and the landmark indices are permuted with the
  layout's flip permutation so that the subject's left eye stays "left eye"
  (``sccnb.layouts.flip_permutation``; a generic keypoint flip gets this wrong).
* **Occlusion.** With probability ``occlusion_p = 0.5`` (the SCC authors' released code; the
  paper gives none) an axis-aligned rectangle covering ``occlusion = 20 %`` of the crop's
  AREA (as in that code), aspect ratio log-uniform in [1/2, 2], uniformly placed wholly inside
  the crop, is filled with one uniformly random RGB colour. It is drawn after the warp, in the
  network-input frame, and does not change the landmark targets.
* **Resampling.** Bilinear, ``align_corners=False``, zeros outside the crop (black, like the
  crop border in ``sccnb.data.crops``). With ``align_corners=False`` the normalised coordinate
  of pixel centre ``u`` is ``(2u + 1) / S - 1``; the pixel-space matrices are conjugated by
  that map, so pixel centres land on pixel centres (tests check it to sub-pixel accuracy).
* **Randomness.** Every random number is drawn on the CPU from the caller's
  ``torch.Generator`` (a fixed number per sample, whatever the config) and then moved to the
  images' device, so a given generator state yields the same augmentation on CPU and GPU and a
  config change does not shift the random stream of later batches.
* **Box jitter** (not in the paper; off unless ``TrainConfig.box_jitter`` names one). A
  photo's face box comes from a detector, and calibrated detector boxes scatter around the
  training boxes the model was trained on (``python -m sccnb detect spread``). With a
  :class:`BoxJitter`, each sample's crop is moved and rescaled as if cut from such a box: its
  centre offset ``(dx, dy)`` (training-box sides) and ``log_scale`` are drawn independently from
  the measured marginal histograms (their correlations are below 0.03 on the training faces),
  uniformly within a bin, and applied after the other transforms, in the output crop's frame
  (the detector sees the photo as it is): scale ``exp(-log_scale)`` about the centre, then
  shift ``-exp(-log_scale) * (dx, dy) * S / crop_scale``. Its three draws per sample come after
  the fixed ones, only when the jitter is on, so runs without it are unchanged.
* **Normalisation.** Per-image z-score over all channels and pixels, as the SCC authors' code
  does (``normalize``); it makes the input independent of global brightness and contrast.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

__all__ = [
    "AugmentConfig",
    "AugmentParams",
    "BoxJitter",
    "BOX_JITTERS",
    "load_box_jitter",
    "sample_params",
    "forward_matrices",
    "affine_grid",
    "warp_images",
    "transform_landmarks",
    "occlude",
    "augment_batch",
    "normalize",
    "to_input",
]

# Columns of the per-sample uniform draws (see sample_params); fixed so streams never shift.
_NUM_DRAWS = 12
_OCCLUSION_MAX_ASPECT = 2.0  # rectangle aspect ratio log-uniform in [1/2, 2]
_NORMALIZE_EPS = 1e-5


# Measured box spreads, by name (TrainConfig.box_jitter): files of sccnb/data/stats/ written by
# ``python -m sccnb detect spread RUN --jitter-out`` (histograms only: no face's data).
BOX_JITTERS = {"dlib-hog": "box_jitter_dlib-hog.json",
               "dlib-hog-refined": "box_jitter_dlib-hog-refined.json"}


@dataclass(frozen=True)
class BoxJitter:
    """Marginal histograms of a detector's calibrated-box offsets (see the module docstring):
    ``edges`` the common bin edges, ``counts`` one tuple per quantity (dx, dy, log_scale)."""

    edges: tuple[float, ...]
    counts: tuple[tuple[int, ...], tuple[int, ...], tuple[int, ...]]
    crop_scale: float = 1.25  # crop side / training-box side (TrainConfig.crop_scale)
    name: str = ""

    def __post_init__(self) -> None:
        if len(self.counts) != 3 or any(len(c) != len(self.edges) - 1 or sum(c) <= 0
                                        for c in self.counts):
            raise ValueError(f"BoxJitter {self.name!r}: need 3 histograms of "
                             f"{len(self.edges) - 1} bins with some counts")
        if self.crop_scale <= 0:
            raise ValueError(f"BoxJitter.crop_scale must be > 0, got {self.crop_scale}")

    def sample(self, u: torch.Tensor) -> torch.Tensor:
        """``(B, 3)`` float64 (dx, dy, log_scale) from ``(B, 3)`` uniforms in [0, 1): the
        inverse of each histogram's piecewise-linear CDF (uniform within a bin)."""
        edges = torch.tensor(self.edges, dtype=torch.float64)
        out = torch.empty_like(u)
        for i, counts in enumerate(self.counts):
            cdf = torch.cumsum(torch.tensor((0,) + tuple(counts), dtype=torch.float64), 0)
            cdf = cdf / cdf[-1]
            q = u[:, i].contiguous()
            j = torch.searchsorted(cdf, q, right=True).clamp(1, len(edges) - 1)
            lo, hi = cdf[j - 1], cdf[j]
            frac = torch.where(hi > lo, (q - lo) / (hi - lo).clamp_min(1e-300),
                               torch.zeros_like(q))
            out[:, i] = edges[j - 1] + frac * (edges[j] - edges[j - 1])
        return out


def load_box_jitter(name: str, crop_scale: float = 1.25) -> BoxJitter | None:
    """The measured spread called ``name`` (:data:`BOX_JITTERS`), or None for ``"none"``."""
    if name == "none":
        return None
    if name not in BOX_JITTERS:
        raise ValueError(f"unknown box jitter {name!r}; supported: none, "
                         f"{', '.join(sorted(BOX_JITTERS))}")
    import json
    from pathlib import Path

    data = json.loads((Path(__file__).parent / "stats" / BOX_JITTERS[name]).read_text())
    return BoxJitter(edges=tuple(data["edges"]),
                     counts=tuple(tuple(data["counts"][k]) for k in ("dx", "dy", "log_scale")),
                     crop_scale=crop_scale, name=name)


@dataclass(frozen=True)
class AugmentConfig:
    """Augmentation ranges; defaults are the paper's (Sec. 4.2) unless marked otherwise."""

    rotation: float = 40.0  # max |angle| in degrees
    translation: float = 30.0  # max |shift| per axis, in pixels of a ref_size crop
    scale: float = 0.10  # scale factor in [1 - scale, 1 + scale]
    flip: float = 0.5  # probability of a horizontal flip
    occlusion: float = 0.2  # occluding rectangle's share of the crop AREA (paper: "image size")
    occlusion_p: float = 0.5  # probability of an occlusion (authors' code; paper silent)
    ref_size: int = 256  # crop side the translation is expressed in (paper: 256)
    box_jitter: BoxJitter | None = None  # detector-box spread (not in the paper; off)

    def __post_init__(self) -> None:
        for name in ("rotation", "translation", "scale", "flip", "occlusion", "occlusion_p"):
            if getattr(self, name) < 0:
                raise ValueError(f"AugmentConfig.{name} must be >= 0, got {getattr(self, name)}")
        for name in ("flip", "occlusion", "occlusion_p"):
            if getattr(self, name) > 1:
                raise ValueError(f"AugmentConfig.{name} must be <= 1, got {getattr(self, name)}")
        if self.scale >= 1:
            raise ValueError(f"AugmentConfig.scale must be < 1, got {self.scale}")
        if self.ref_size < 1:
            raise ValueError(f"AugmentConfig.ref_size must be >= 1, got {self.ref_size}")

    @classmethod
    def none(cls) -> AugmentConfig:
        """Everything off: ``augment_batch`` then only converts to float in [0, 1]."""
        return cls(rotation=0.0, translation=0.0, scale=0.0, flip=0.0, occlusion=0.0,
                   occlusion_p=0.0)

    @property
    def is_geometric(self) -> bool:
        """Whether any geometric transform (and so a resampling) is switched on."""
        return bool(self.rotation or self.translation or self.scale or self.flip
                    or self.box_jitter is not None)


@dataclass
class AugmentParams:
    """One batch's random draws, on the CPU (``B`` samples).

    Attributes:
        angle: ``(B,)`` float64 rotation in degrees.
        scale: ``(B,)`` float64 scale factor.
        shift: ``(B, 2)`` float64 translation in pixels of the batch's crop side.
        flip: ``(B,)`` bool.
        occlude: ``(B,)`` bool, whether the sample gets an occluding rectangle.
        rect: ``(B, 4)`` float64 rectangle ``(x0, y0, x1, y1)`` in pixel-edge coordinates
            (``[0, S]``), meaningful where ``occlude``.
        colour: ``(B, 3)`` float32 RGB fill in [0, 1].
    """

    angle: torch.Tensor
    scale: torch.Tensor
    shift: torch.Tensor
    flip: torch.Tensor
    occlude: torch.Tensor
    rect: torch.Tensor
    colour: torch.Tensor


def sample_params(batch: int, size: int, cfg: AugmentConfig,
                  generator: torch.Generator) -> AugmentParams:
    """Draw the augmentation of ``batch`` samples of side ``size`` from a CPU ``generator``."""
    if generator.device.type != "cpu":
        raise ValueError("augment_batch draws its random numbers on the CPU (so that CPU and "
                         f"GPU runs agree); pass a CPU torch.Generator, got {generator.device}")
    u = torch.rand((batch, _NUM_DRAWS), generator=generator, dtype=torch.float64)
    sym = 2 * u - 1  # U(-1, 1)
    area = cfg.occlusion * size * size
    aspect = torch.exp(sym[:, 6] * math.log(_OCCLUSION_MAX_ASPECT))
    w = torch.sqrt(area * aspect).clamp(max=size)
    h = torch.sqrt(area / aspect).clamp(max=size)
    x0, y0 = u[:, 7] * (size - w), u[:, 8] * (size - h)
    scale = 1 + sym[:, 1] * cfg.scale
    shift = sym[:, 2:4] * (cfg.translation * size / cfg.ref_size)
    if cfg.box_jitter is not None:  # after the fixed draws: runs without it keep their stream
        j = cfg.box_jitter.sample(torch.rand((batch, 3), generator=generator,
                                             dtype=torch.float64))
        shrink = torch.exp(-j[:, 2])
        scale = scale * shrink
        shift = shrink[:, None] * (shift - j[:, :2] * (size / cfg.box_jitter.crop_scale))
    return AugmentParams(
        angle=sym[:, 0] * cfg.rotation,
        scale=scale,
        shift=shift,
        flip=u[:, 4] < cfg.flip,
        occlude=(u[:, 5] < cfg.occlusion_p) & (cfg.occlusion > 0),
        rect=torch.stack([x0, y0, x0 + w, y0 + h], dim=1),
        colour=u[:, 9:12].float(),
    )


def forward_matrices(params: AugmentParams, size: int) -> torch.Tensor:
    """``(B, 3, 3)`` float64 maps from input to output crop pixel coordinates.

    ``p_out = c + t + s R(angle) (F(p) - c)`` with ``c = ((S-1)/2, (S-1)/2)`` the crop centre and
    ``F`` the flip ``x -> S - 1 - x`` where ``params.flip`` (identity elsewhere).
    """
    b = params.angle.shape[0]
    c = (size - 1) / 2
    rad = torch.deg2rad(params.angle)
    cos, sin = torch.cos(rad) * params.scale, torch.sin(rad) * params.scale
    fx = torch.where(params.flip, -1.0, 1.0).double()  # x -> fx * x + (S - 1) where flipped
    fb = torch.where(params.flip, float(size - 1), 0.0).double()
    m = torch.zeros((b, 3, 3), dtype=torch.float64)
    # Linear part s R diag(fx, 1); translation s R (fb - c, -c) + c + t.
    m[:, 0, 0], m[:, 0, 1] = cos * fx, -sin
    m[:, 1, 0], m[:, 1, 1] = sin * fx, cos
    m[:, 0, 2] = cos * (fb - c) - sin * (-c) + c + params.shift[:, 0]
    m[:, 1, 2] = sin * (fb - c) + cos * (-c) + c + params.shift[:, 1]
    m[:, 2, 2] = 1.0
    return m


def _pixel_to_normalized(size: int) -> torch.Tensor:
    """``(3, 3)`` map from pixel centres to ``align_corners=False`` coordinates:
    ``u -> (2u + 1) / S - 1``."""
    k = 2.0 / size
    return torch.tensor([[k, 0.0, k / 2 - 1], [0.0, k, k / 2 - 1], [0.0, 0.0, 1.0]],
                        dtype=torch.float64)


def affine_grid(theta: torch.Tensor, size: int) -> torch.Tensor:
    """``F.affine_grid(theta, (B, C, S, S), align_corners=False)``, built separably.

    An affine map splits into a part that depends on the output column and one that depends on
    the output row; adding a ``(B, 1, S, 2)`` and a ``(B, S, 1, 2)`` tensor builds the grid
    about 3x faster on a CPU than the generic batched matrix product (same values).
    """
    base = (torch.arange(size, device=theta.device, dtype=theta.dtype) * 2 + 1) / size - 1
    cols = base[None, :, None] * theta[:, None, :, 0]  # (B, S, 2): x_out's contribution
    rows = base[None, :, None] * theta[:, None, :, 1] + theta[:, None, :, 2]  # (B, S, 2)
    return rows[:, :, None, :] + cols[:, None, :, :]  # (B, S_y, S_x, 2)


def warp_images(images: torch.Tensor, forward: torch.Tensor) -> torch.Tensor:
    """Resample float ``images`` ``(B, C, S, S)`` so that input pixel ``p`` moves to
    ``forward @ p``: one bilinear ``grid_sample`` for the whole batch, zeros outside.

    ``forward`` is ``(B, 3, 3)`` in pixel coordinates (any device; the grid is built on the
    images' device).
    """
    b, ch, h, w = images.shape
    if h != w:
        raise ValueError(f"warp_images expects square images, got {h} x {w}")
    norm = _pixel_to_normalized(h)
    # grid_sample needs, for every OUTPUT pixel, where to read in the INPUT: the inverse map,
    # expressed in normalised coordinates.
    theta = norm @ torch.linalg.inv(forward.double().cpu()) @ torch.linalg.inv(norm)  # (B,3,3)
    theta = theta[:, :2].to(device=images.device, dtype=images.dtype)  # (B, 2, 3)
    grid = affine_grid(theta, h)  # (B, S, S, 2)
    return F.grid_sample(images, grid, mode="bilinear", padding_mode="zeros",
                         align_corners=False)


def transform_landmarks(landmarks: torch.Tensor, forward: torch.Tensor, flip: torch.Tensor,
                        flip_perm: torch.Tensor) -> torch.Tensor:
    """Map ``(B, N, 2)`` landmarks by ``forward`` ``(B, 3, 3)`` and, for flipped samples,
    reorder them with ``flip_perm`` (mirrored point ``i`` is original point ``flip_perm[i]``)."""
    dev = landmarks.device
    mat = forward.to(device=dev, dtype=torch.float32)
    moved = landmarks @ mat[:, :2, :2].transpose(1, 2) + mat[:, None, :2, 2]  # (B, N, 2)
    perm = flip_perm.to(device=dev, dtype=torch.long)
    return torch.where(flip.to(dev)[:, None, None], moved[:, perm], moved)


def occlude(images: torch.Tensor, params: AugmentParams) -> torch.Tensor:
    """Fill each sample's rectangle (where ``params.occlude``) with its colour; no loop."""
    b, _, h, w = images.shape
    dev = images.device
    rect = params.rect.to(device=dev, dtype=torch.float32)
    cx = torch.arange(w, device=dev, dtype=torch.float32) + 0.5  # pixel centres, edge frame
    cy = torch.arange(h, device=dev, dtype=torch.float32) + 0.5
    inside_x = (cx[None] >= rect[:, 0:1]) & (cx[None] < rect[:, 2:3])  # (B, W)
    inside_y = (cy[None] >= rect[:, 1:2]) & (cy[None] < rect[:, 3:4])  # (B, H)
    mask = inside_y[:, :, None] & inside_x[:, None, :] & params.occlude.to(dev)[:, None, None]
    colour = params.colour.to(device=dev, dtype=images.dtype)[:, :, None, None]  # (B, 3, 1, 1)
    return torch.where(mask[:, None], colour, images)


def augment_batch(images_uint8: torch.Tensor, landmarks: torch.Tensor, flip_perm: torch.Tensor,
                  cfg: AugmentConfig, generator: torch.Generator,
                  ) -> tuple[torch.Tensor, torch.Tensor]:
    """Augment a batch of crops; image and landmarks are transformed together.

    Args:
        images_uint8: ``(B, 3, S, S)`` uint8 RGB crops, on any device.
        landmarks: ``(B, N, 2)`` crop pixel coordinates (same device).
        flip_perm: ``(N,)`` the layout's flip permutation (``sccnb.layouts.flip_permutation``).
        cfg: the ranges; ``AugmentConfig()`` is the paper's recipe.
        generator: a CPU ``torch.Generator``; results depend only on its state, not on the
            device the tensors are on.

    Returns:
        ``(images, landmarks)``: float32 ``(B, 3, S, S)`` in [0, 1] and float32 ``(B, N, 2)``,
        on the input's device.
    """
    if images_uint8.ndim != 4 or images_uint8.shape[1] != 3 or images_uint8.dtype != torch.uint8:
        raise ValueError(f"images must be uint8 (B, 3, S, S), got {images_uint8.dtype} "
                         f"{tuple(images_uint8.shape)}")
    b, _, size, _ = images_uint8.shape
    if landmarks.shape[0] != b or landmarks.ndim != 3 or landmarks.shape[2] != 2:
        raise ValueError(f"landmarks must be ({b}, N, 2), got {tuple(landmarks.shape)}")
    if flip_perm.shape != (landmarks.shape[1],):
        raise ValueError(f"flip_perm must have {landmarks.shape[1]} entries, got "
                         f"{tuple(flip_perm.shape)}")
    params = sample_params(b, size, cfg, generator)
    images = images_uint8.float().div_(255.0)
    points = landmarks.float()
    if cfg.is_geometric:
        forward = forward_matrices(params, size)
        images = warp_images(images, forward)
        points = transform_landmarks(points, forward, params.flip, flip_perm)
    if bool(params.occlude.any()):
        images = occlude(images, params)
    return images, points


def normalize(images: torch.Tensor) -> torch.Tensor:
    """Per-image z-score over channels and pixels: ``(x - mean) / std`` (network input).

    ``images``: float ``(B, C, H, W)``; a constant image maps to zeros.
    """
    flat = images.flatten(1)
    mean = flat.mean(dim=1)
    std = flat.std(dim=1, unbiased=False).clamp_min(_NORMALIZE_EPS)
    return (images - mean[:, None, None, None]) / std[:, None, None, None]


def to_input(images_uint8: torch.Tensor) -> torch.Tensor:
    """Evaluation input: uint8 ``(B, 3, S, S)`` crops -> normalised float32, no augmentation."""
    return normalize(images_uint8.float().div_(255.0))
