"""SynthFace geometry: a posed 98-point face plus the head parts the renderer needs.

A face is built in the *frontal head frame* of :mod:`.shape_model` (x right, y down, z towards
the camera, unit inter-ocular distance): the 98 landmarks come from the shape model; the parts
that WFLW does not annotate (forehead and hairline, skull, ears, neck, nostrils, lid creases) are
placed relative to those landmarks in the same frame. Everything then goes through one
weak-perspective camera ``p = s * R[:2] @ X + t`` (``R`` from yaw/pitch/roll), so the drawn face
and its landmarks cannot disagree: the renderer draws the contour polygon *through* landmarks
0-32, the eyes *as* polygons 60-67/68-75, and so on.

Weak perspective (no foreshortening with depth) matches the shape model, which was fitted with
the same camera.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field

import numpy as np

from .shape_model import ShapeModel, rotation_matrix

__all__ = ["HeadPose", "FaceGeometry", "frontal_face", "tidy_frontal", "head_parts",
           "pose_face", "ellipsoid_silhouette"]

# Frontal-frame constants (units: inter-ocular distance). Chosen by eye against the mean shape
# (eyes at y = -0.40, brows -0.60, nose base +0.12, chin +0.92, temples x = +-0.85).
FOREHEAD_HEIGHT = 0.85  # hairline above the temple line (rule of thirds: ~ brow-to-nose-base)
SKULL_CENTRE = (0.0, -0.55, -0.75)
SKULL_RADII = (0.98, 1.22, 1.15)
EAR_CENTRE = (0.90, -0.20, -0.70)  # x for the image-right ear; mirrored for the left one
EAR_SIZE = (0.30, 0.17)  # half height, half depth
NECK_RADIUS = 0.52
SHADING_CENTRE = (0.0, -0.25, -0.45)  # ellipsoid whose normals shade the face
SHADING_RADII = (0.92, 1.30, 0.90)


@dataclass(frozen=True)
class HeadPose:
    """Rigid pose: angles in degrees (convention in :mod:`.shape_model`), ``scale`` in pixels
    per inter-ocular distance, ``centre`` the image position of the frontal frame's origin."""

    yaw: float
    pitch: float
    roll: float
    scale: float
    centre: tuple[float, float]

    @functools.cached_property
    def rotation(self) -> np.ndarray:
        """``R = Rz(roll) @ Rx(pitch) @ Ry(yaw)`` (computed once)."""
        return rotation_matrix(self.yaw, self.pitch, self.roll)

    def project(self, points: np.ndarray) -> np.ndarray:
        """``(..., 3)`` frontal-frame points -> ``(..., 2)`` image pixels."""
        return self.scale * points @ self.rotation[:2].T + np.asarray(self.centre)

    def direction(self, vectors: np.ndarray) -> np.ndarray:
        """Rotate ``(..., 3)`` direction vectors into the camera frame."""
        return vectors @ self.rotation.T


@dataclass
class FaceGeometry:
    """A posed face: the 98 landmarks and the extra parts, all in image pixels.

    Attributes:
        landmarks: ``(98, 2)`` WFLW points.
        frontal: ``(98, 3)`` the same face in the frontal head frame (before pose).
        pose: the :class:`HeadPose` that maps ``frontal`` to ``landmarks``.
        parts: name -> ``(n, 2)`` polygon or point set (see :func:`head_parts`).
        facing: name -> cosine between a part's outward normal and the view direction
            (ears: drawn only when visible).
    """

    landmarks: np.ndarray
    frontal: np.ndarray
    pose: HeadPose
    parts: dict[str, np.ndarray] = field(default_factory=dict)
    facing: dict[str, float] = field(default_factory=dict)

    @property
    def iod(self) -> float:
        """Inter-ocular distance in pixels as drawn (outer eye corners 60, 72)."""
        return float(np.linalg.norm(self.landmarks[60] - self.landmarks[72]))


def frontal_face(model: ShapeModel, coeffs: np.ndarray, expression: np.ndarray,
                 yaw: float = 0.0, pitch: float = 0.0) -> np.ndarray:
    """``(98, 3)`` face in the frontal frame from mode coefficients, expression handles and the
    view-dependent correction for (yaw, pitch), made valid by :func:`tidy_frontal`."""
    return tidy_frontal(model.frontal(coeffs, expression, yaw, pitch))


def tidy_frontal(face: np.ndarray) -> np.ndarray:
    """Repair what a random draw can break: crossed lips or lids, pupils outside the eyes, brows
    sunk into the eyes. Works in the frontal frame, in place on a copy."""
    f = face.copy()
    # inner lips: the lower inner lip may not rise above the upper one
    for up, lo in ((89, 95), (90, 94), (91, 93)):
        if f[lo, 1] < f[up, 1]:
            f[[up, lo], 1] = f[[up, lo], 1].mean()
    # outer lips must enclose the inner ones
    for out, inn in ((78, 89), (79, 90), (80, 91)):
        f[out, 1] = min(f[out, 1], f[inn, 1] - 0.02)
    for out, inn in ((86, 95), (85, 94), (84, 93)):
        f[out, 1] = max(f[out, 1], f[inn, 1] + 0.02)
    # eyelids: at least a slit between upper and lower lid
    for up, lo in ((61, 67), (62, 66), (63, 65), (69, 75), (70, 74), (71, 73)):
        gap = f[lo, 1] - f[up, 1]
        if gap < 0.015:
            mid = 0.5 * (f[lo, 1] + f[up, 1])
            f[up, 1], f[lo, 1] = mid - 0.0075, mid + 0.0075
    # pupils inside the eye opening
    for pupil, eye in ((96, slice(60, 68)), (97, slice(68, 76))):
        pts = f[eye, :2]
        lo, hi = pts.min(0), pts.max(0)
        centre, half = 0.5 * (lo + hi), 0.5 * (hi - lo)
        f[pupil, :2] = centre + np.clip(f[pupil, :2] - centre, -0.45 * half, 0.45 * half)
    # brows above the upper lids
    for brow, lid in ((slice(33, 42), slice(60, 65)), (slice(42, 51), slice(68, 73))):
        overlap = f[brow, 1].max() - (f[lid, 1].min() - 0.03)
        if overlap > 0:
            f[brow, 1] -= overlap
    return f


def _arc(a: np.ndarray, b: np.ndarray, top: np.ndarray, n: int) -> np.ndarray:
    """``n`` points from ``a`` over ``top`` to ``b`` (a quadratic Bezier through ``top``)."""
    t = np.linspace(0.0, 1.0, n)[:, None]
    ctrl = 2.0 * top - 0.5 * (a + b)
    return (1 - t) ** 2 * a + 2 * (1 - t) * t * ctrl + t**2 * b


def head_parts(f: np.ndarray, hairline: float = 1.0) -> dict[str, np.ndarray]:
    """The un-annotated head parts, in the frontal frame, placed relative to the face ``f``.

    ``hairline`` scales the forehead height (1 = :data:`FOREHEAD_HEIGHT`). Returns:
    ``forehead`` (arc from point 32 over the top back to point 0, so contour + forehead is the
    skin outline), ``fringe_line`` (a lower arc for bangs), ``ear_l``/``ear_r`` (discs),
    ``neck_top`` (two points under the jaw), ``nostrils`` (two centres), ``crease_l``/``crease_r``
    (upper-lid creases), ``socket_l``/``socket_r`` (eye-socket centres), ``chin_tip``.
    """
    parts: dict[str, np.ndarray] = {}
    left, right = f[0], f[32]
    mid = 0.5 * (left + right)
    brow_top = f[33:51, 1].min()
    height = FOREHEAD_HEIGHT * hairline
    top = np.array([mid[0], min(brow_top - 0.25, mid[1] - height), mid[2] + 0.55])
    # a rounder arc: go through two shoulders at 70% width as well
    n = 15
    t = np.linspace(0.0, np.pi, n)
    half = 0.5 * (right[0] - left[0])
    sx = np.cos(t)  # 1 .. -1 : from the right temple to the left one
    lift = np.sin(t) ** 0.7
    fh = np.column_stack([
        mid[0] + half * sx * (1.0 + 0.04 * np.sin(t)),
        mid[1] + (top[1] - mid[1]) * lift,
        right[2] + (top[2] - right[2]) * np.sin(t) ** 0.5 - 0.25 * lift**2,
    ])
    parts["forehead"] = fh[1:-1]
    parts["fringe_line"] = _arc(right + [0.05, -0.35, 0.2], left + [-0.05, -0.35, 0.2],
                                np.array([mid[0], brow_top - 0.18, top[2] + 0.05]), 11)
    for side, sign, idx in (("ear_l", -1.0, 2), ("ear_r", 1.0, 30)):
        cx, cy, cz = EAR_CENTRE
        centre = np.array([sign * max(cx, abs(f[idx, 0]) + 0.03), cy + f[idx, 1] + 0.2, cz])
        a = np.linspace(0.0, 2 * np.pi, 16, endpoint=False)
        # a disc in the (y, z) plane, its outer face turned 25 degrees towards the camera
        disc = np.column_stack([np.zeros_like(a), EAR_SIZE[0] * np.sin(a),
                                EAR_SIZE[1] * np.cos(a)])
        tilt = rotation_matrix(-sign * 25.0, 0.0, 0.0)
        parts[side] = centre + disc @ tilt.T
    jaw = 0.5 * (f[6] + f[26])
    parts["neck_top"] = np.array([[f[6, 0] * 0.7, jaw[1] - 0.1, -0.5],
                                  [f[26, 0] * 0.7, jaw[1] - 0.1, -0.5]])
    parts["neck_axis"] = np.array([[0.0, jaw[1], -0.5], [0.0, jaw[1] + 1.0, -0.5]])
    up = np.array([0.0, -0.035, 0.02])
    parts["nostrils"] = np.stack([0.55 * f[56] + 0.45 * 0.5 * (f[55] + f[57]) + up,
                                  0.55 * f[58] + 0.45 * 0.5 * (f[59] + f[57]) + up])
    for name, lid in (("crease_l", f[60:65]), ("crease_r", f[68:73])):
        crease = lid.copy()
        crease[:, 1] -= 0.045 * np.sin(np.linspace(0.15, np.pi - 0.15, 5))
        parts[name] = crease
    parts["socket_l"] = 0.5 * (f[60] + f[64]) + [0.0, -0.04, -0.05]
    parts["socket_r"] = 0.5 * (f[68] + f[72]) + [0.0, -0.04, -0.05]
    parts["skull_centre"] = np.array(SKULL_CENTRE) + [0.0, mid[1] + 0.45, 0.0]
    parts["shading_centre"] = np.array(SHADING_CENTRE)
    return parts


def ellipsoid_silhouette(centre: np.ndarray, radii: np.ndarray, pose: HeadPose,
                         n: int = 48) -> np.ndarray:
    """Image polygon ``(n, 2)`` outlining the orthographic projection of an axis-aligned
    frontal-frame ellipsoid (the Schur complement of its quadric over z)."""
    rot = pose.rotation
    q = rot @ np.diag(1.0 / np.asarray(radii) ** 2) @ rot.T
    m = q[:2, :2] - np.outer(q[:2, 2], q[2, :2]) / q[2, 2]  # projected conic x^T m x = 1
    evals, evecs = np.linalg.eigh(m)
    a = np.linspace(0.0, 2 * np.pi, n, endpoint=False)
    unit = np.column_stack([np.cos(a), np.sin(a)]) / np.sqrt(evals)
    return pose.scale * unit @ evecs.T + pose.project(np.asarray(centre))


def pose_face(frontal: np.ndarray, pose: HeadPose, hairline: float = 1.0) -> FaceGeometry:
    """Project a frontal face and its head parts with ``pose``."""
    parts3d = head_parts(frontal, hairline)
    parts = {k: pose.project(v) for k, v in parts3d.items()}
    parts["skull"] = ellipsoid_silhouette(parts3d["skull_centre"], np.array(SKULL_RADII), pose)
    facing = {}
    for side, sign in (("ear_l", -1.0), ("ear_r", 1.0)):
        normal = rotation_matrix(-sign * 25.0, 0.0, 0.0) @ np.array([sign, 0.0, 0.0])
        facing[side] = float(pose.direction(normal)[2])
    return FaceGeometry(pose.project(frontal), frontal, pose, parts, facing)
