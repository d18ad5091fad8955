"""Random draws for one SynthFace face: attributes, shape, pose, appearance, lighting.

WFLW (Wu et al., CVPR 2018) labels six attributes per face; SynthFace makes each a controlled
factor, drawn independently with the rates of the WFLW test set (2,500 faces: large pose 326,
expression 314, illumination 698, make-up 206, occlusion 736, blur 773), and records the flags.
What each flag changes:

* ``pose``: the data set it: in the 1,966 real faces the shape model was fitted to, faces in
  WFLW's large-pose list have |yaw| >= ~31 deg (5 % quantile, weak-perspective estimate) and the
  others |yaw| <= ~31 deg (99 %); their pitch and roll hardly differ. So a large-pose face draws
  |yaw| from the large-pose faces' quantiles (about 30-48 deg) with probability 3/4, and otherwise
  a strong roll (30-55 deg) or pitch (22-35 deg); a normal face draws each angle from the other
  faces' quantiles with |yaw| capped at 28 deg.
* ``expression``: one of five exaggerated expressions built from the shape model's handles,
  pushed to several standard deviations (surprise, scream, laugh, grin, frown).
* ``illumination``: a strong side light with little ambient light, a dark (under-exposed) image
  or a strongly tinted one; normal faces get a soft, mostly frontal light.
* ``makeup``: lipstick, with eye shadow / eyeliner / blush at random.
* ``occlusion``: 1-2 occluders (see :mod:`.render`); per-point flags are recorded.
* ``blur``: Gaussian (sigma 1.3-3 px at 256 px) or motion blur (7-17 px).

All draws come from one ``numpy.random.Generator`` in a fixed order, so a face is reproducible.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..records import WFLW_ATTRIBUTES
from .shape_model import EXPRESSIONS, ShapeModel

__all__ = ["ATTRIBUTE_RATES", "Appearance", "Lighting", "FaceSpec", "sample_attributes",
           "sample_pose_angles", "sample_expression", "sample_appearance", "sample_lighting",
           "sample_spec", "LARGE_YAW"]

ATTRIBUTE_RATES: dict[str, float] = {
    "pose": 326 / 2500, "expression": 314 / 2500, "illumination": 698 / 2500,
    "makeup": 206 / 2500, "occlusion": 736 / 2500, "blur": 773 / 2500,
}
LARGE_YAW = 30.0  # deg: boundary between WFLW's normal and large-pose faces (see docstring)
_NORMAL_YAW_CAP = 28.0

# RGB palettes (0-255). Skin: light to dark; colours are interpolated between neighbours.
_SKIN = np.array([[250, 222, 200], [240, 200, 170], [226, 178, 140], [205, 150, 112],
                  [175, 120, 85], [140, 92, 62], [105, 68, 46], [78, 50, 36]], np.float64)
_HAIR = np.array([[25, 20, 18], [45, 32, 25], [80, 55, 35], [120, 85, 50], [170, 130, 80],
                  [215, 180, 120], [150, 70, 35], [140, 140, 140], [215, 215, 210]], np.float64)
_HAIR_P = np.array([0.26, 0.22, 0.16, 0.1, 0.07, 0.06, 0.05, 0.05, 0.03])
_IRIS = np.array([[60, 35, 20], [95, 60, 30], [120, 90, 50], [70, 110, 150], [80, 120, 80],
                  [110, 115, 120]], np.float64)
_LIPSTICK = np.array([[185, 20, 40], [215, 70, 120], [120, 25, 60], [230, 95, 75],
                      [150, 60, 60], [90, 20, 40], [240, 130, 160]], np.float64)
_SHADOW = np.array([[110, 60, 140], [60, 90, 170], [120, 80, 50], [200, 160, 80],
                    [40, 35, 40], [60, 130, 110], [170, 90, 120]], np.float64)
HAIR_STYLES = ("short", "long", "bald", "bun")


@dataclass
class Appearance:
    """Colours (RGB, 0-255) and styles of one face."""

    skin: np.ndarray
    hair: np.ndarray
    hair_style: str
    hairline: float  # forehead height factor (1 = shape_model default)
    fringe: bool
    brow: np.ndarray
    lips: np.ndarray
    iris: np.ndarray
    clothes: np.ndarray
    brow_thickness: float  # multiplier of the brow polygon's own thickness
    hair_length: float  # long hair: hem below the skull centre, in inter-ocular distances
    eye_shadow: np.ndarray | None = None
    eyeliner: bool = False
    blush: np.ndarray | None = None
    beard: float = 0.0  # stubble darkness, 0 = none


@dataclass
class Lighting:
    """Light on the face: ``direction`` (unit, camera frame, towards the light), Lambertian
    ``ambient`` + ``diffuse`` weights, ``specular`` strength, global ``gain`` and RGB ``tint``
    applied to the whole image, and sensor ``noise`` (std in 0-255 units)."""

    direction: np.ndarray
    ambient: float
    diffuse: float
    specular: float
    gain: float
    tint: np.ndarray
    noise: float
    kind: str = "normal"


@dataclass
class FaceSpec:
    """Everything drawn for one face before rendering (rendering draws the rest: background,
    occluder shapes, textures)."""

    attributes: dict[str, bool]
    yaw: float
    pitch: float
    roll: float
    coeffs: np.ndarray
    expression: np.ndarray
    expression_kind: str
    face_fraction: float  # face width / image width
    appearance: Appearance
    lighting: Lighting
    occluders: list[str] = field(default_factory=list)
    blur: tuple[str, float, float] | None = None  # (kind, size at 256 px, angle deg)
    jpeg_quality: int = 92


def sample_attributes(rng: np.random.Generator,
                      rates: dict[str, float] | None = None) -> dict[str, bool]:
    """Independent Bernoulli flags in :data:`WFLW_ATTRIBUTES` order."""
    rates = ATTRIBUTE_RATES if rates is None else rates
    u = rng.random(len(WFLW_ATTRIBUTES))
    return {name: bool(u[i] < rates[name]) for i, name in enumerate(WFLW_ATTRIBUTES)}


def _from_quantiles(rng: np.random.Generator, levels: np.ndarray, values: np.ndarray,
                    lo: float = 0.0, hi: float | None = None) -> float:
    """Draw from the piecewise-linear distribution through the given quantiles (extended
    to 0 at level 0 and 10 % past the last quantile at level 1), restricted to [lo, hi]."""
    lv = np.concatenate([[0.0], levels, [1.0]])
    vals = np.concatenate([[0.0], values, [values[-1] * 1.1]])
    u_lo = np.interp(lo, vals, lv)
    u_hi = 1.0 if hi is None else np.interp(hi, vals, lv)
    return float(np.interp(rng.uniform(u_lo, u_hi), lv, vals))


def sample_pose_angles(rng: np.random.Generator, model: ShapeModel,
                       large: bool) -> tuple[float, float, float]:
    """Yaw, pitch, roll in degrees (see the module docstring for the two regimes)."""
    levels, q = model.quantile_levels, model.pose_quantiles
    signs = rng.choice([-1.0, 1.0], size=3)
    other = 2  # pose_quantiles groups: 0 all, 1 large-pose list, 2 the others
    yaw = _from_quantiles(rng, levels, q[other, 0], hi=_NORMAL_YAW_CAP)
    pitch = _from_quantiles(rng, levels, q[other, 1], hi=25.0)
    roll = _from_quantiles(rng, levels, q[other, 2], hi=28.0)
    # the large-pose alternatives are always drawn, so later draws do not depend on the flag
    large_yaw = _from_quantiles(rng, levels, q[1, 0], lo=LARGE_YAW + 1.0)
    large_roll, large_pitch, kind = rng.uniform(30.0, 55.0), rng.uniform(22.0, 35.0), rng.random()
    if large:
        if kind < 0.75:
            yaw = large_yaw
        elif kind < 0.9:
            roll = large_roll
        else:
            pitch = large_pitch
    return float(signs[0] * yaw), float(signs[1] * pitch), float(signs[2] * roll)


_EXPRESSION_KINDS = {
    # name: ranges (in std of the measurement) for mouth_open, brow_raise, smile, eye_open
    "surprise": ((3.0, 5.0), (2.5, 4.0), (-0.5, 0.5), (1.5, 3.0)),
    "scream": ((4.0, 6.0), (0.0, 2.0), (-1.0, 1.0), (-2.0, 0.0)),
    "laugh": ((1.5, 3.5), (0.0, 1.5), (3.0, 5.0), (-2.5, -1.0)),
    "grin": ((0.5, 1.5), (-0.5, 1.0), (3.5, 5.5), (-1.5, 0.0)),
    "frown": ((0.0, 1.5), (-3.5, -2.0), (-3.0, -1.5), (-1.5, 0.5)),
}


def sample_expression(rng: np.random.Generator, model: ShapeModel,
                      exaggerated: bool) -> tuple[np.ndarray, np.ndarray, str]:
    """Mode coefficients (truncated at 2.5 std), expression handles and the expression's name."""
    sd = np.sqrt(model.variances)
    coeffs = np.clip(rng.standard_normal(model.num_modes), -2.5, 2.5) * sd
    handles = np.clip(rng.normal(0.0, 0.6, len(EXPRESSIONS)), -1.2, 1.2)
    kind = "neutral"
    names = list(_EXPRESSION_KINDS)
    pick = names[int(rng.integers(len(names)))]
    ranges = np.array(_EXPRESSION_KINDS[pick])
    strong = rng.uniform(ranges[:, 0], ranges[:, 1])
    if exaggerated:
        handles, kind = strong, pick
    return coeffs, handles, kind


def _muted(colour: np.ndarray, saturation: float) -> np.ndarray:
    """``colour`` pulled towards its grey level (saturation 1 = unchanged)."""
    return colour.mean() + saturation * (colour - colour.mean())


def _mix(rng: np.random.Generator, palette: np.ndarray, p: np.ndarray | None = None,
         jitter: float = 8.0) -> np.ndarray:
    """A palette colour blended with a neighbour, plus jitter."""
    i = int(rng.choice(len(palette), p=p))
    j = min(i + 1, len(palette) - 1)
    c = palette[i] + rng.random() * 0.5 * (palette[j] - palette[i])
    return np.clip(c + rng.normal(0.0, jitter, 3), 0, 255)


def sample_appearance(rng: np.random.Generator, makeup: bool) -> Appearance:
    """Skin, hair, eyes, lips and clothes; make-up when ``makeup``."""
    skin = _mix(rng, _SKIN, jitter=6.0)
    hair = _mix(rng, _HAIR, _HAIR_P, jitter=10.0)
    style = HAIR_STYLES[int(rng.choice(len(HAIR_STYLES), p=[0.45, 0.35, 0.08, 0.12]))]
    brow = np.clip(0.55 * hair + 0.45 * skin * 0.45, 0, 255)
    lips = skin * np.array([0.95, 0.63, 0.68]) * rng.uniform(0.82, 0.98)  # redder and darker
    app = Appearance(
        skin=skin, hair=hair, hair_style=style, hairline=float(rng.uniform(0.85, 1.15)),
        fringe=bool(rng.random() < 0.25 and style != "bald"), brow=brow, lips=lips,
        iris=_mix(rng, _IRIS, jitter=10.0),
        clothes=_muted(rng.uniform(20, 235, 3), rng.uniform(0.2, 0.9)),
        brow_thickness=float(rng.uniform(0.8, 1.25)), hair_length=float(rng.uniform(1.5, 2.4)),
        beard=float(rng.uniform(0.1, 0.35)) if rng.random() < 0.12 else 0.0)
    draws = rng.random(4)  # always drawn, so later draws do not depend on the flag
    lip_colour = _mix(rng, _LIPSTICK, jitter=12.0)
    shadow = _mix(rng, _SHADOW, jitter=15.0)
    if makeup:
        app.lips = lip_colour
        app.eye_shadow = shadow if draws[0] < 0.8 else None
        app.eyeliner = bool(draws[1] < 0.6)
        app.blush = np.array([230.0, 110.0, 120.0]) if draws[2] < 0.5 else None
        app.beard = 0.0
    return app


def sample_lighting(rng: np.random.Generator, extreme: bool) -> Lighting:
    """Soft mostly-frontal light, or (``extreme``) side light / dark / tinted (WFLW's
    "extreme illumination")."""
    az, el = np.deg2rad(rng.uniform(-50, 50)), np.deg2rad(rng.uniform(-20, 45))
    u = rng.random(6)
    light = Lighting(direction=_unit(az, el), ambient=0.45 + 0.15 * u[0],
                     diffuse=0.45 + 0.15 * u[1], specular=0.12 * u[2],
                     gain=1.0 + 0.15 * (u[3] - 0.5), tint=1.0 + rng.normal(0.0, 0.03, 3),
                     noise=1.0 + 2.0 * u[4])
    kind = ("side", "dark", "tinted", "bright")[int(rng.choice(4, p=[0.45, 0.3, 0.13, 0.12]))]
    side_az = np.deg2rad(rng.uniform(65, 95) * rng.choice([-1.0, 1.0]))
    side_el = np.deg2rad(rng.uniform(-10, 30))
    tint = np.clip(rng.uniform(0.35, 1.3, 3), 0.2, 1.3)
    if extreme:
        light.kind = kind
        if kind == "side":
            light.direction = _unit(side_az, side_el)
            light.ambient, light.diffuse = 0.08 + 0.12 * u[0], 1.1 + 0.3 * u[1]
            light.specular = 0.25 * u[2]
        elif kind == "dark":
            light.gain, light.noise = 0.2 + 0.2 * u[3], 4.0 + 6.0 * u[4]
        elif kind == "tinted":
            light.tint = tint
            light.gain = 0.7 + 0.3 * u[3]
        else:  # over-exposed, washed out
            light.gain, light.ambient = 1.6 + 0.5 * u[3], 0.75
    return light


def _unit(azimuth: float, elevation: float) -> np.ndarray:
    """Camera-frame unit vector towards a light at (azimuth, elevation); y is down."""
    return np.array([np.sin(azimuth) * np.cos(elevation), -np.sin(elevation),
                     np.cos(azimuth) * np.cos(elevation)])


_OCCLUDERS = ("hand", "bar", "sunglasses", "mask", "object", "hair", "hat")
_OCCLUDER_P = np.array([0.24, 0.14, 0.14, 0.12, 0.2, 0.08, 0.08])


def sample_spec(rng: np.random.Generator, model: ShapeModel,
                attributes: dict[str, bool] | None = None,
                rates: dict[str, float] | None = None) -> FaceSpec:
    """Draw a :class:`FaceSpec`. ``attributes`` (a subset of flags) overrides the drawn flags;
    the number of draws does not depend on the flags, so overriding one flag changes only what
    that flag controls."""
    attrs = sample_attributes(rng, rates)
    if attributes:
        unknown = set(attributes) - set(WFLW_ATTRIBUTES)
        if unknown:
            raise ValueError(f"unknown attributes {sorted(unknown)}; supported: "
                             f"{WFLW_ATTRIBUTES}")
        attrs.update({k: bool(v) for k, v in attributes.items()})
    yaw, pitch, roll = sample_pose_angles(rng, model, attrs["pose"])
    coeffs, handles, kind = sample_expression(rng, model, attrs["expression"])
    appearance = sample_appearance(rng, attrs["makeup"])
    lighting = sample_lighting(rng, attrs["illumination"])
    n_occ = 1 + int(rng.random() < 0.3)
    occluders = [str(o) for o in rng.choice(_OCCLUDERS, size=n_occ, replace=False,
                                            p=_OCCLUDER_P)]
    blur_kind = "gaussian" if rng.random() < 0.6 else "motion"
    blur = ((blur_kind, float(rng.uniform(1.3, 3.0)), 0.0) if blur_kind == "gaussian"
            else (blur_kind, float(rng.uniform(7.0, 17.0)), float(rng.uniform(0, 180))))
    return FaceSpec(
        attributes=attrs, yaw=yaw, pitch=pitch, roll=roll, coeffs=coeffs, expression=handles,
        expression_kind=kind, face_fraction=float(rng.uniform(0.32, 0.68)),
        appearance=appearance, lighting=lighting,
        occluders=occluders if attrs["occlusion"] else [],
        blur=blur if attrs["blur"] else None, jpeg_quality=int(rng.integers(85, 96)))
