"""SynthFace's statistical shape model: a rigid 3-D mean face plus 2-D identity/expression modes.

The model is fitted to the real 98-point WFLW shapes of the official test subset lists
(``wflw_annotations/list_98pt_test/list_98pt_test_*.txt``: 3,053 lines, 1,966 distinct faces;
Wu et al., "Look at Boundary", CVPR 2018). Only the fitted model -- a few KB of statistics -- is
committed, as ``shape_model.npz`` with the provenance note ``shape_model.json`` beside it; the
data stay outside the repository. Anyone with the lists re-creates both files with
``python -m sccnb synth-fit`` (which calls :func:`fit_shape_model` and
:func:`save_shape_model`).

How pose is separated from identity and expression (the brief leaves the method open):

1. Faces are de-duplicated (a face in several subset lists counts once) and every face is also
   mirrored (x -> -x with the WFLW flip permutation), so the model is left/right symmetric.
2. **Rigid 3-D part.** A 3-D mean shape ``S`` (98 x 3) and one weak-perspective camera per face
   (scale ``s_i``, rotation ``R_i``) are fitted by alternating least squares to
   ``y_i ~ s_i * R_i[:2] @ S`` (rigid structure-from-motion: Tomasi-Kanade's rank-3 model with
   the metric constraint imposed at every step). The depths of the mean shape are therefore
   *estimated from the data's pose variation*, not designed by hand; ``S`` is kept mirror
   symmetric, the remaining gauge (a rotation about the x axis) is fixed by making the median
   pitch zero, and the depth sign by putting the nose tip in front.
3. **Identity/expression part.** The residual of each face after its rigid fit is mapped back
   to the frontal frame by inverting ``s_i * R_i[:2, :2]`` (exact for a deformation that moves
   points in x/y and not in depth) and PCA is run on these frontal residuals of the faces whose
   yaw/pitch are small enough for that inversion to be well conditioned (|yaw| < 45 deg,
   |pitch| < 35 deg). Generated faces deform the mean in x/y, then rotate in 3-D (yaw, pitch)
   and in plane (roll): pose is an explicit, separate control.
4. **View-dependent correction.** A rigid shape cannot follow the contour annotation: WFLW
   annotators put contour points on the visible silhouette, which slides over the cheek as the
   head turns (in the real faces the far contour stays level with the far eye corner at 35 deg
   yaw, where a rigid model would hide it behind the eye). So the frontal residuals are
   regressed on a cubic polynomial of yaw and pitch (``t = yaw / 30 deg``, ``u = pitch / 20
   deg``: ``t, t^2, t^3, u, u^2, u^3``); the fitted deformation is added to a face before it is
   rotated (:meth:`ShapeModel.pose_correction`) and removed from the residuals before PCA.
5. **Expression handles.** Four named deformations -- ``mouth_open``, ``brow_raise``, ``smile``
   and ``eye_open`` -- are found by multivariate least squares of the frontal residuals on four
   standardised geometric measurements (inner-lip gap, brow-to-eye height, mouth-corner lift,
   eyelid gap). Each is the deformation for +1 standard deviation of its measurement with the
   other three held fixed; the generator pushes them to several standard deviations for the
   "exaggerated expression" attribute.

Rotation convention (used everywhere in SynthFace): x to the image right, y down, z towards the
camera; ``R = Rz(roll) @ Rx(pitch) @ Ry(yaw)``. Positive yaw turns the nose towards the image
right, positive pitch lifts it (looking up), positive roll turns the face clockwise on screen.
The mean shape has unit inter-ocular distance (outer eye corners 60 and 72) and zero centroid.
"""

from __future__ import annotations

import datetime as _dt
import functools
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ...layouts import flip_permutation
from ..records import DataFormatError

__all__ = [
    "ShapeModel",
    "EXPRESSIONS",
    "rotation_matrix",
    "euler_angles",
    "read_wflw_subset_shapes",
    "procrustes_align",
    "fit_rigid_3d",
    "fit_shape_model",
    "save_shape_model",
    "load_shape_model",
    "DEFAULT_MODEL_PATH",
]

DEFAULT_MODEL_PATH = Path(__file__).with_name("shape_model.npz")
SUBSET_GLOB = "list_98pt_test_*.txt"
EXPRESSIONS = ("mouth_open", "brow_raise", "smile", "eye_open")
_N = 98
_ARRAYS = ("mean3d", "modes", "variances", "expressions", "pose_basis", "pose_quantiles",
           "quantile_levels")
# Pairs (upper, lower) used by the expression measurements.
_INNER_LIP_PAIRS = ((89, 95), (90, 94), (91, 93))
_EYELID_PAIRS = ((61, 67), (62, 66), (63, 65), (69, 75), (70, 74), (71, 73))
# Poses at which the frontal residual is trusted for PCA (see the module docstring, step 3).
_MAX_YAW_FOR_PCA, _MAX_PITCH_FOR_PCA = 45.0, 35.0


# --- rotations -------------------------------------------------------------------------------
def rotation_matrix(yaw: float, pitch: float, roll: float) -> np.ndarray:
    """``Rz(roll) @ Rx(pitch) @ Ry(yaw)`` for angles in degrees (convention: module docstring)."""
    y, p, r = np.deg2rad([yaw, pitch, roll])
    ry = np.array([[np.cos(y), 0, np.sin(y)], [0, 1, 0], [-np.sin(y), 0, np.cos(y)]])
    rx = np.array([[1, 0, 0], [0, np.cos(p), -np.sin(p)], [0, np.sin(p), np.cos(p)]])
    rz = np.array([[np.cos(r), -np.sin(r), 0], [np.sin(r), np.cos(r), 0], [0, 0, 1]])
    return rz @ rx @ ry


def euler_angles(rot: np.ndarray) -> np.ndarray:
    """Inverse of :func:`rotation_matrix`: ``(..., 3, 3)`` -> ``(..., 3)`` yaw, pitch, roll
    in degrees."""
    pitch = np.arcsin(np.clip(rot[..., 2, 1], -1.0, 1.0))
    yaw = np.arctan2(-rot[..., 2, 0], rot[..., 2, 2])
    roll = np.arctan2(-rot[..., 0, 1], rot[..., 1, 1])
    return np.rad2deg(np.stack([yaw, pitch, roll], axis=-1))


# --- reading the real shapes ------------------------------------------------------------------
def read_wflw_subset_shapes(list_dir: str | Path) -> tuple[np.ndarray, dict[str, np.ndarray],
                                                           list[str]]:
    """Read and de-duplicate the faces of WFLW's six test subset lists.

    A face appears in every subset whose attribute it has; it is identified by its image path and
    its first two points (to 0.01 px). Returns ``(shapes (F, 98, 2), flags, files)`` where
    ``flags[name]`` is an ``(F,)`` bool array saying which faces are in
    ``list_98pt_test_<name>.txt`` and ``files`` lists the files read.
    """
    list_dir = Path(list_dir)
    files = sorted(list_dir.glob(SUBSET_GLOB))
    if not files:
        raise FileNotFoundError(f"no {SUBSET_GLOB} files in {list_dir}")
    shapes: dict[tuple, np.ndarray] = {}
    member: dict[str, set[tuple]] = {}
    for path in files:
        name = path.stem.removeprefix("list_98pt_test_")
        member[name] = set()
        for lineno, line in enumerate(path.read_text().splitlines(), start=1):
            fields = line.split()
            if not fields:
                continue
            if len(fields) != 197:
                raise DataFormatError(path, f"expected 197 fields, got {len(fields)}", lineno)
            try:
                pts = np.asarray(fields[:196], dtype=np.float64).reshape(_N, 2)
            except ValueError as err:
                raise DataFormatError(path, f"bad coordinate: {err}", lineno) from None
            key = (fields[196], tuple(np.round(pts[:2].ravel(), 2)))
            shapes.setdefault(key, pts)
            member[name].add(key)
    keys = sorted(shapes)
    flags = {name: np.array([k in m for k in keys]) for name, m in member.items()}
    return np.stack([shapes[k] for k in keys]), flags, [str(f) for f in files]


def mirror_shapes(shapes: np.ndarray) -> np.ndarray:
    """Mirror ``(..., 98, D)`` shapes about x = 0 and swap left/right labels."""
    out = shapes[..., flip_permutation("wflw98"), :].copy()
    out[..., 0] = -out[..., 0]
    return out


# --- 2-D Procrustes ----------------------------------------------------------------------------
def _similarity_to(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """``src`` (..., P, 2) centred, scaled and rotated onto the centred ``dst`` (P, 2), each
    shape by its own least-squares similarity."""
    a, b = src - src.mean(-2, keepdims=True), dst - dst.mean(0)
    # complex-number form: the optimal similarity is z -> c z with c = <a, b> / <a, a>
    za, zb = a[..., 0] + 1j * a[..., 1], b[:, 0] + 1j * b[:, 1]
    c = (np.conj(za) @ zb) / (np.abs(za) ** 2).sum(-1)
    z = c[..., None] * za
    return np.stack([z.real, z.imag], axis=-1)


def procrustes_align(shapes: np.ndarray, n_iter: int = 10) -> tuple[np.ndarray, np.ndarray]:
    """Generalised Procrustes analysis (similarity transforms) of ``(F, P, 2)`` shapes.

    Returns ``(aligned, mean)``; the mean is centred with unit Frobenius norm.
    """
    mean = shapes[0] - shapes[0].mean(0)
    mean = mean / np.linalg.norm(mean)
    aligned = shapes
    for _ in range(n_iter):
        aligned = _similarity_to(shapes, mean)
        new = aligned.mean(0)
        new = _similarity_to(new, mean)
        new /= np.linalg.norm(new)
        if np.abs(new - mean).max() < 1e-10:
            break
        mean = new
    return aligned, mean


# --- rigid 3-D fit -----------------------------------------------------------------------------
def _symmetrise(shape3d: np.ndarray) -> np.ndarray:
    """Average a (98, 3) shape with its mirror image (x -> -x, left/right labels swapped)."""
    return 0.5 * (shape3d + mirror_shapes(shape3d))


def _depth_template(mean2d: np.ndarray) -> np.ndarray:
    """A rough starting depth: an ellipsoid over the face width, the nose in front."""
    half = 0.5 * (mean2d[:, 0].max() - mean2d[:, 0].min())
    z = 0.6 * half * np.sqrt(np.clip(1.0 - (mean2d[:, 0] / (1.05 * half)) ** 2, 0.0, None))
    z[51:60] += 0.25 * half * np.linspace(0.3, 1.0, 9)
    return z


def _fit_cameras(shapes: np.ndarray, shape3d: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Weak-perspective camera per face: least-squares affine 2x3, projected to ``s * R[:2]``.

    ``shapes`` (F, P, 2) and ``shape3d`` (P, 3) are centred. Returns scales (F,) and full
    rotations (F, 3, 3) (third row = cross product of the first two).
    """
    pinv = np.linalg.solve(shape3d.T @ shape3d, shape3d.T)  # (3, P) pseudo-inverse
    affine = shapes.transpose(0, 2, 1) @ pinv.T  # (F, 2, 3)
    # polar decomposition A = sqrt(A A^T) R2 in closed form for 2x2: with M = A A^T,
    # sqrt(M) = (M + sqrt(det M) I) / sqrt(tr M + 2 sqrt(det M)), whose trace is the sum of
    # A's singular values.
    m = affine @ affine.transpose(0, 2, 1)
    root_det = np.sqrt(np.clip(np.linalg.det(m), 0.0, None))
    norm = np.sqrt(np.trace(m, axis1=1, axis2=2) + 2.0 * root_det)
    sqrt_m = (m + root_det[:, None, None] * np.eye(2)) / norm[:, None, None]
    r2 = np.linalg.solve(sqrt_m, affine)
    rot = np.concatenate([r2, np.cross(r2[:, 0], r2[:, 1])[:, None]], axis=1)
    return 0.5 * norm, rot


def _fit_structure(shapes: np.ndarray, scales: np.ndarray, rot: np.ndarray) -> np.ndarray:
    """Least-squares 3-D shape given the cameras (one 3x3 normal equation per point)."""
    a = scales[:, None, None] * rot[:, :2]  # (F, 2, 3)
    flat = a.reshape(-1, 3)  # (F * 2, 3)
    lhs = flat.T @ flat  # the same for every point
    rhs = shapes.transpose(1, 0, 2).reshape(shapes.shape[1], -1) @ flat  # (P, 3)
    return np.linalg.solve(lhs, rhs.T).T


def fit_rigid_3d(shapes: np.ndarray, n_iter: int = 50) -> tuple[np.ndarray, np.ndarray,
                                                                np.ndarray]:
    """Fit a symmetric 3-D mean shape and weak-perspective cameras to ``(F, 98, 2)`` shapes.

    The shapes should contain every face and its mirror image. Returns ``(shape3d (98, 3),
    scales (F,), rotations (F, 3, 3))`` with ``shapes[i] - centroid ~ scales[i] *
    rotations[i][:2] @ shape3d.T``; the shape has zero centroid and unit inter-ocular distance.
    """
    centred = shapes - shapes.mean(1, keepdims=True)
    _, mean2d = procrustes_align(centred)
    shape3d = np.column_stack([mean2d, _depth_template(mean2d)])
    shape3d = _symmetrise(shape3d - shape3d.mean(0))
    for _ in range(n_iter):
        scales, rot = _fit_cameras(centred, shape3d)
        new = _symmetrise(_fit_structure(centred, scales, rot))
        new -= new.mean(0)
        if np.abs(new - shape3d).max() < 1e-9 * np.abs(new).max():
            shape3d = new
            break
        shape3d = new
    # gauge: median pitch zero (rotation about x keeps the symmetry), nose tip in front
    scales, rot = _fit_cameras(centred, shape3d)
    pitch0 = float(np.median(euler_angles(rot)[:, 1]))
    shape3d = shape3d @ rotation_matrix(0.0, pitch0, 0.0).T
    if shape3d[54, 2] < shape3d[:, 2].mean():
        shape3d[:, 2] = -shape3d[:, 2]
    shape3d /= np.linalg.norm(shape3d[60] - shape3d[72])
    scales, rot = _fit_cameras(centred, shape3d)
    return shape3d, scales, rot


# --- the model ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class ShapeModel:
    """Mean 3-D face, frontal deformation modes and named expression handles.

    Attributes:
        mean3d: ``(98, 3)`` mean shape (x right, y down, z towards the camera; unit
            inter-ocular distance, zero centroid).
        modes: ``(K, 98, 2)`` orthonormal PCA modes of the frontal x/y residuals.
        variances: ``(K,)`` variance of each mode's coefficient.
        expressions: ``(4, 98, 2)`` deformation for +1 std of each measurement in
            :data:`EXPRESSIONS` (same order).
        pose_basis: ``(6, 98, 2)`` frontal deformation per term of the view-dependent
            correction (module docstring, step 4).
        pose_quantiles: ``(3, 3, Q)`` quantiles of |yaw|, |pitch|, |roll| (axis 1) for all
            faces, faces in the large-pose list and the others (axis 0) at ``quantile_levels``.
        quantile_levels: ``(Q,)`` the levels of ``pose_quantiles``.
        provenance: where the model came from (files, counts, date, code).
    """

    mean3d: np.ndarray
    modes: np.ndarray
    variances: np.ndarray
    expressions: np.ndarray
    pose_basis: np.ndarray
    pose_quantiles: np.ndarray
    quantile_levels: np.ndarray
    provenance: dict

    @property
    def num_modes(self) -> int:
        return int(self.modes.shape[0])

    def expression(self, name: str) -> np.ndarray:
        """The ``(98, 2)`` deformation handle called ``name`` (see :data:`EXPRESSIONS`)."""
        if name not in EXPRESSIONS:
            raise ValueError(f"unknown expression {name!r}; supported: {EXPRESSIONS}")
        return self.expressions[EXPRESSIONS.index(name)]

    def pose_correction(self, yaw: float, pitch: float) -> np.ndarray:
        """``(98, 2)`` frontal deformation that makes the rotated face follow WFLW's
        silhouette-contour convention at this yaw/pitch (degrees; clamped to +-48/+-35)."""
        return np.tensordot(_pose_terms(np.array([yaw]), np.array([pitch]))[0],
                            self.pose_basis, axes=1)

    def frontal(self, coeffs: np.ndarray, expression: np.ndarray | None = None,
                yaw: float = 0.0, pitch: float = 0.0) -> np.ndarray:
        """A ``(98, 3)`` face in the frontal frame: the mean deformed in x/y by ``coeffs``
        (K,) times the modes, plus ``expression`` (4,) times the handles (both in units of the
        mode/handle), plus the view-dependent correction for the pose it will be shown in."""
        shape = self.mean3d.copy()
        shape[:, :2] += np.tensordot(coeffs, self.modes, axes=1)
        if expression is not None:
            shape[:, :2] += np.tensordot(expression, self.expressions, axes=1)
        if yaw or pitch:
            shape[:, :2] += self.pose_correction(yaw, pitch)
        return shape


def _pose_terms(yaw: np.ndarray, pitch: np.ndarray) -> np.ndarray:
    """``(F, 6)`` regressors of the view-dependent correction (yaw/pitch in degrees)."""
    t = np.clip(yaw / 30.0, -1.6, 1.6)
    u = np.clip(pitch / 20.0, -1.75, 1.75)
    return np.stack([t, t**2, t**3, u, u**2, u**3], axis=1)


def _frontal_residuals(shapes: np.ndarray, shape3d: np.ndarray, scales: np.ndarray,
                       rot: np.ndarray) -> np.ndarray:
    """Residual of each face after its rigid fit, mapped to the frontal frame (F, 98, 2)."""
    centred = shapes - shapes.mean(1, keepdims=True)
    proj = scales[:, None, None] * np.einsum("fdk,pk->fpd", rot[:, :2], shape3d)
    inv = np.linalg.inv(scales[:, None, None] * rot[:, :2, :2])  # (F, 2, 2)
    return np.einsum("fde,fpe->fpd", inv, centred - proj)


def _expression_measurements(front: np.ndarray) -> np.ndarray:
    """The four :data:`EXPRESSIONS` measurements of ``(F, 98, 2)`` frontal x/y shapes."""
    y = front[..., 1]
    mouth = np.mean([y[:, lo] - y[:, up] for up, lo in _INNER_LIP_PAIRS], axis=0)
    brow = y[:, 60:76].mean(1) - y[:, 33:51].mean(1)
    smile = 0.5 * (y[:, 79] + y[:, 85]) - 0.5 * (y[:, 76] + y[:, 82])
    eyes = np.mean([y[:, lo] - y[:, up] for up, lo in _EYELID_PAIRS], axis=0)
    return np.stack([mouth, brow, smile, eyes], axis=1)


def fit_shape_model(list_dir: str | Path, variance_kept: float = 0.97,
                    max_modes: int = 24) -> ShapeModel:
    """Fit the SynthFace shape model to the WFLW subset lists in ``list_dir``.

    See the module docstring for the method. ``variance_kept`` and ``max_modes`` bound the
    number of PCA modes.
    """
    shapes, flags, files = read_wflw_subset_shapes(list_dir)
    n_faces = len(shapes)
    both = np.concatenate([shapes, mirror_shapes(shapes)])
    shape3d, scales, rot = fit_rigid_3d(both)
    angles = euler_angles(rot)  # (2F, 3)
    resid = _frontal_residuals(both, shape3d, scales, rot)
    ok = (np.abs(angles[:, 0]) < _MAX_YAW_FOR_PCA) & (np.abs(angles[:, 1]) < _MAX_PITCH_FOR_PCA)
    resid = resid[ok].reshape(int(ok.sum()), -1)
    terms = _pose_terms(angles[ok, 0], angles[ok, 1])
    design = np.column_stack([np.ones(len(terms)), terms])
    coef, *_ = np.linalg.lstsq(design, resid, rcond=None)
    shape3d = shape3d.copy()
    shape3d[:, :2] += coef[0].reshape(_N, 2)  # the frontal mean of the well-posed faces
    pose_basis = coef[1:].reshape(-1, _N, 2)
    flat = resid - design @ coef
    resid = flat.reshape(-1, _N, 2)
    # PCA by eigen-decomposing the 196 x 196 covariance (cheaper than an SVD of the data)
    var, vecs = np.linalg.eigh(flat.T @ flat / (len(flat) - 1))
    var, vecs = np.clip(var[::-1], 0.0, None), vecs[:, ::-1]
    # fix each mode's sign (largest-magnitude entry positive) so refits are reproducible
    vecs *= np.sign(vecs[np.abs(vecs).argmax(0), np.arange(vecs.shape[1])])
    k = int(min(max_modes, np.searchsorted(np.cumsum(var) / var.sum(), variance_kept) + 1))
    modes, variances = vecs[:, :k].T.reshape(k, _N, 2), var[:k]

    meas = _expression_measurements(shape3d[None, :, :2] + resid)
    z = (meas - meas.mean(0)) / meas.std(0)
    handles, *_ = np.linalg.lstsq(np.column_stack([z, np.ones(len(z))]), flat, rcond=None)
    expressions = handles[:4].reshape(4, _N, 2)

    levels = np.array([0.05, 0.25, 0.5, 0.75, 0.9, 0.95, 0.99])
    abs_angles = np.abs(angles[:n_faces])  # the original (not mirrored) faces
    large = flags.get("largepose", np.zeros(n_faces, bool))
    groups = [np.ones(n_faces, bool), large, ~large]
    quantiles = np.stack([np.quantile(abs_angles[g], levels, axis=0).T for g in groups])
    provenance = {
        "source_files": [Path(f).name for f in files],
        "source_folder": "shared/data/wflw_annotations/list_98pt_test",
        "source_lines": int(sum(len(Path(f).read_text().split("\n")) - 1 for f in files)),
        "distinct_faces": n_faces,
        "faces_fitted": 2 * n_faces,
        "mirrored": True,
        "faces_in_pca": int(ok.sum()),
        "num_modes": k,
        "variance_kept": float(variances.sum() / var.sum()),
        "created": _dt.date.today().isoformat(),
        "produced_by": "sccnb.data.synth.shape_model.fit_shape_model "
                       "(run via python -m sccnb synth-fit)",
        "method": "symmetric rigid weak-perspective 3-D fit by alternating least squares; "
                  "cubic yaw/pitch correction and PCA of the frontalised residuals; expression "
                  "handles by least squares on measurements",
        "rms_nonrigid_residual_interocular": float(np.sqrt((resid**2).sum(-1).mean())),
    }
    return ShapeModel(shape3d, modes, variances, expressions, pose_basis, quantiles, levels,
                      provenance)


def save_shape_model(model: ShapeModel, path: str | Path = DEFAULT_MODEL_PATH) -> Path:
    """Write ``model`` to ``path`` (.npz, float32) and its provenance to ``path`` with .json."""
    path = Path(path)
    np.savez_compressed(
        path, mean3d=model.mean3d.astype(np.float32), modes=model.modes.astype(np.float32),
        variances=model.variances.astype(np.float32),
        expressions=model.expressions.astype(np.float32),
        pose_basis=model.pose_basis.astype(np.float32),
        pose_quantiles=model.pose_quantiles.astype(np.float32),
        quantile_levels=model.quantile_levels.astype(np.float32),
        provenance=np.array(json.dumps(model.provenance)))
    prov = dict(model.provenance, model_file=path.name, expressions=list(EXPRESSIONS),
                pose_quantile_levels=model.quantile_levels.round(3).tolist(),
                pose_quantiles_deg={
                    group: {ang: model.pose_quantiles[g, a].round(1).tolist()
                            for a, ang in enumerate(("abs_yaw", "abs_pitch", "abs_roll"))}
                    for g, group in enumerate(("all", "largepose", "other"))})
    path.with_suffix(".json").write_text(json.dumps(prov, indent=2) + "\n")
    return path


@functools.lru_cache(maxsize=4)
def load_shape_model(path: str | Path = DEFAULT_MODEL_PATH) -> ShapeModel:
    """Load a model written by :func:`save_shape_model` (cached; arrays are float64)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"shape model {path} not found; re-create it with "
                                "python -m sccnb synth-fit")
    with np.load(path) as data:
        arrays = {k: data[k].astype(np.float64) for k in _ARRAYS}
        provenance = json.loads(str(data["provenance"]))
    return ShapeModel(provenance=provenance, **arrays)
