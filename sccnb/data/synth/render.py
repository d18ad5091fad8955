"""SynthFace renderer: draws a posed face (:class:`.geometry.FaceGeometry`) with OpenCV.

Layers, back to front: cluttered background, hair behind the head, clothes, neck, ears, the skin
outline (contour landmarks 0-32 closed over the forehead), skin texture, brows (polygons 33-41 /
42-50), eyes (sclera = polygons 60-67 / 68-75, iris and pupil centred on points 96 / 97), nose
(bridge shading along 51-54, nostrils by 55-59), lips (outer polygon 76-87, mouth opening =
inner polygon 88-95), fringe; then Lambertian shading from a head ellipsoid with soft contact
shadows, occluders, global exposure/tint, blur, sensor noise. Every landmark-defined feature is
drawn *from* the landmark coordinates (sub-pixel, anti-aliased: ``cv2`` with 4 fractional bits),
so the labels are exact by construction. Pixel convention: the centre of the top-left pixel is
(0, 0), as in :class:`sccnb.data.records.FaceRecord`.

Occluders (WFLW's "occlusion" attribute; COFW's per-point flags): hands, bars (poles,
microphones), sunglasses, face masks, textured objects, hair locks and hat brims, anchored on a
face region so that they cover landmarks. A point is flagged occluded when the occluder covers
more than half of its pixel.
"""

from __future__ import annotations

import cv2
import numpy as np

from .geometry import NECK_RADIUS, SHADING_RADII, FaceGeometry
from .sampling import FaceSpec

__all__ = ["render_face", "draw_background"]

_SHIFT = 4
_ONE = 1 << _SHIFT
_AA = cv2.LINE_AA


# --- drawing helpers ---------------------------------------------------------------------------
def _ip(points: np.ndarray) -> np.ndarray:
    """Float pixel points -> int32 fixed-point (4 fractional bits) for cv2."""
    return np.round(np.asarray(points, np.float64) * _ONE).astype(np.int32).reshape(-1, 1, 2)


def _c(colour) -> tuple[float, ...]:
    """A cv2 colour tuple, clipped to 0..255 (scalars give one channel)."""
    if np.ndim(colour) == 0:
        return (min(255.0, max(0.0, float(colour))),)
    return tuple(min(255.0, max(0.0, v)) for v in np.asarray(colour, np.float64).tolist())


def fill(img: np.ndarray, points: np.ndarray, colour) -> None:
    """Anti-aliased filled polygon through ``points`` (N, 2)."""
    cv2.fillPoly(img, [_ip(points)], _c(colour), _AA, _SHIFT)


def line(img: np.ndarray, points: np.ndarray, colour, thickness: float,
         closed: bool = False) -> None:
    """Anti-aliased polyline (thickness rounded to whole pixels, at least 1)."""
    cv2.polylines(img, [_ip(points)], closed, _c(colour), max(1, int(round(thickness))), _AA,
                  _SHIFT)


def ellipse(img: np.ndarray, centre, axes, angle: float, colour, thickness: int = -1) -> None:
    """Anti-aliased ellipse (``thickness`` -1 fills)."""
    c = np.round(np.asarray(centre, np.float64) * _ONE).astype(int)
    a = np.round(np.maximum(np.asarray(axes, np.float64), 0.5) * _ONE).astype(int)
    cv2.ellipse(img, (int(c[0]), int(c[1])), (int(a[0]), int(a[1])), float(angle), 0, 360,
                _c(colour), thickness, _AA, _SHIFT)


def _lowres_noise(rng: np.random.Generator, size: int, cells: int, channels: int = 1
                  ) -> np.ndarray:
    """Smooth noise in [-1, 1]: a ``cells`` x ``cells`` grid of uniforms, bicubic upsampled."""
    grid = rng.uniform(-1.0, 1.0, (cells, cells, channels)).astype(np.float32)
    # bicubic to at most 8 px per cell, then bilinear: same look, a fraction of the cost
    mid = min(size, 8 * cells)
    out = cv2.resize(grid, (mid, mid), interpolation=cv2.INTER_CUBIC)
    if mid != size:
        out = cv2.resize(out, (size, size), interpolation=cv2.INTER_LINEAR)
    return out.reshape(size, size, channels)


def muted_colour(rng: np.random.Generator, lo: float = 0.0, hi: float = 255.0) -> np.ndarray:
    """A random RGB colour with photo-like saturation (pulled towards its grey level)."""
    c = rng.uniform(lo, hi, 3)
    grey = c.mean()
    return grey + rng.uniform(0.15, 0.8) * (c - grey)


def _angle(v: np.ndarray) -> float:
    return float(np.degrees(np.arctan2(v[1], v[0])))


# --- background ----------------------------------------------------------------------------------
def _muted_colours(rng: np.random.Generator, n: int, lo: float = 0.0,
                   hi: float = 255.0) -> np.ndarray:
    """``n`` colours as :func:`muted_colour` makes them, drawn at once."""
    c = rng.uniform(lo, hi, (n, 3))
    grey = c.mean(1, keepdims=True)
    return grey + rng.uniform(0.15, 0.8, (n, 1)) * (c - grey)


def draw_background(rng: np.random.Generator, size: int) -> np.ndarray:
    """Cluttered background: colour gradient, smooth texture, 8-24 random shapes (rotated
    rectangles, ellipses, lines, polygons, stripes, rings), sometimes defocused. Returns
    ``(size, size, 3)`` uint8 RGB. Shape parameters are drawn in bulk (fewer Python calls)."""
    cells = int(rng.integers(3, 12))
    low = 8 * cells
    corners = _muted_colours(rng, 4, 20, 235).reshape(2, 2, 3).astype(np.float32)
    base = cv2.resize(corners, (low, low), interpolation=cv2.INTER_LINEAR)
    grid = rng.uniform(-40.0, 40.0, (cells, cells, 3)).astype(np.float32)
    base += cv2.resize(grid, (low, low), interpolation=cv2.INTER_CUBIC)
    img = cv2.resize(base, (size, size), interpolation=cv2.INTER_LINEAR)
    img = np.clip(img, 0, 255).astype(np.uint8)
    n = int(rng.integers(8, 25))
    kinds = rng.integers(0, 6, n)
    colours = _muted_colours(rng, n)
    centres = rng.uniform(-0.1, 1.1, (n, 2)) * size
    radii = rng.uniform(0.03, 0.3, n) * size
    u = rng.random((n, 4))  # each shape's own extra parameters
    angles = np.sort(rng.uniform(0, 2 * np.pi, (n, 6)), axis=1)
    for kind, colour, p, r, (u0, u1, u2, u3), a in zip(kinds, colours, centres, radii, u,
                                                       angles):
        if kind == 0:  # rotated rectangle
            shape = (float(r), float(r * (0.2 + 1.8 * u0)))
            box = cv2.boxPoints(((float(p[0]), float(p[1])), shape, 180.0 * u1))
            fill(img, box, colour)
        elif kind == 1:
            ellipse(img, p, (r, r * (0.3 + 0.7 * u0)), 180.0 * u1, colour)
        elif kind == 2:
            q = (np.array([u0, u1]) * 1.2 - 0.1) * size
            line(img, np.stack([p, q]), colour, 1.0 + u2 * (0.03 * size + 1))
        elif kind == 3:
            k = 3 + int(4 * u0)
            sub = a[np.linspace(0, 5, k).astype(int)]
            fill(img, p + r * np.column_stack([np.cos(sub), np.sin(sub)]), colour)
        elif kind == 4:  # stripes, drawn in one call
            d = np.pi * u0
            step = 3.0 + u1 * (0.05 * size + 1)
            along = np.array([np.cos(d), np.sin(d)])
            across = np.array([-along[1], along[0]])
            offsets = np.arange(3 + int(6 * u2))[:, None] * step * across + p
            segments = [_ip(np.stack([o - r * along, o + r * along])) for o in offsets]
            cv2.polylines(img, segments, False, _c(colour), max(1, int(round(step / 2.5))),
                          _AA, _SHIFT)
        else:  # ring
            ellipse(img, p, (r, r), 0.0, colour, thickness=max(1, int(r / 6)))
    if rng.random() < 0.5:
        img = cv2.GaussianBlur(img, (0, 0), float(rng.uniform(0.6, 2.5)) * size / 256)
    return img


# --- the head -------------------------------------------------------------------------------------
def _up(geo: FaceGeometry) -> np.ndarray:
    """Image direction of the head's 'up' (frontal -y)."""
    v = geo.pose.direction(np.array([0.0, -1.0, 0.0]))[:2]
    return v / max(np.linalg.norm(v), 1e-6)


def _draw_hair_back(img: np.ndarray, mask: np.ndarray, spec: FaceSpec, geo: FaceGeometry,
                    rng: np.random.Generator) -> None:
    app = spec.appearance
    skull = geo.parts["skull"]
    colour = app.hair if app.hair_style != "bald" else app.skin * 0.95
    s, up = geo.pose.scale, _up(geo)
    if app.hair_style == "long":
        down = -up
        side = np.array([-up[1], up[0]])
        centre = skull.mean(0)
        # a curtain down to the shoulders with a rounded hem, narrowing a little at the ends
        t = np.linspace(-1.0, 1.0, 9)[:, None]
        length, width = app.hair_length * s, 1.05 * s
        hem = (centre + down * (length - 0.25 * s * t**2) + side * width * t * 0.92)
        hull = cv2.convexHull(np.concatenate([skull, hem]).astype(np.float32))[:, 0]
        fill(img, hull, colour)
        fill(mask, hull, 255)
    fill(img, skull, colour)
    fill(mask, skull, 255)
    if app.hair_style == "bun":
        top = skull.mean(0) + up * 1.2 * s
        ellipse(img, top, (0.42 * s, 0.34 * s), _angle(up) + 90, colour)
        ellipse(mask, top, (0.42 * s, 0.34 * s), _angle(up) + 90, 255)
    if app.hair_style != "bald":
        _hair_strands(img, mask, rng, colour, skull, s)


def _hair_strands(img: np.ndarray, mask: np.ndarray, rng: np.random.Generator,
                  colour: np.ndarray, skull: np.ndarray, s: float) -> None:
    """Lighter and darker strands on the skull's (convex) silhouette: each runs from a point
    inside towards the crown, so it stays inside without clipping."""
    centre = skull.mean(0)
    n = int(rng.integers(25, 50))
    vertex = skull[rng.integers(0, len(skull), n)]
    starts = centre + np.sqrt(rng.uniform(0.15, 0.95, n))[:, None] * (vertex - centre)
    shades = rng.uniform(0.55, 1.45, n)
    lengths = rng.uniform(0.2, 0.6, n)  # share of the way to the centre
    bends = rng.normal(0.0, 0.08, n)
    width = max(1, int(round(0.012 * s)))
    d = centre - starts
    side = np.stack([-d[:, 1], d[:, 0]], axis=1)
    strands = np.stack([starts, starts + 0.5 * lengths[:, None] * d + bends[:, None] * side,
                        starts + lengths[:, None] * d], axis=1)  # (n, 3, 2)
    level = np.digitize(shades, [0.85, 1.15])  # three shades, one cv2 call each
    for k, shade in enumerate((0.7, 1.0, 1.3)):
        group = [_ip(p) for p in strands[level == k]]
        if group:
            cv2.polylines(img, group, False, _c(colour * shade + 8 * (shade - 1)), width,
                          _AA, _SHIFT)


def _draw_body(img: np.ndarray, mask: np.ndarray, spec: FaceSpec, geo: FaceGeometry) -> None:
    """Clothes (upright) and the neck joining them to the jaw."""
    s, size = geo.pose.scale, img.shape[0]
    axis = geo.parts["neck_axis"]
    base = axis[1]
    shoulders = np.array([base + [-1.9 * s, 0.45 * s], base + [-1.2 * s, 0.05 * s],
                          base + [1.2 * s, 0.05 * s], base + [1.9 * s, 0.45 * s],
                          [base[0] + 2.2 * s, size + 4 * s], [base[0] - 2.2 * s, size + 4 * s]])
    fill(img, shoulders, spec.appearance.clothes)
    r = NECK_RADIUS * s
    top = geo.parts["neck_top"]
    neck = np.array([top[0], top[1], base + [r, 0.1 * s], base + [0.0, 0.5 * s],
                     base + [-r, 0.1 * s]])  # with a V neckline
    fill(img, neck, spec.appearance.skin * 0.85)
    fill(mask, neck, 255)


def _draw_ears(img: np.ndarray, mask: np.ndarray, spec: FaceSpec, geo: FaceGeometry) -> None:
    for side in ("ear_l", "ear_r"):
        if geo.facing[side] < -0.1:
            continue
        ear = geo.parts[side]
        fill(img, ear, spec.appearance.skin * 0.93)
        fill(mask, ear, 255)
        centre = ear.mean(0)
        inner = centre + 0.55 * (ear - centre)
        line(img, inner[3:13], spec.appearance.skin * 0.7, 0.03 * geo.pose.scale)


def skin_outline(geo: FaceGeometry) -> np.ndarray:
    """The skin polygon: contour 0..32, then the forehead arc back to 0."""
    return np.concatenate([geo.landmarks[:33], geo.parts["forehead"]])


def _draw_skin(img: np.ndarray, mask: np.ndarray, spec: FaceSpec, geo: FaceGeometry) -> None:
    skin = spec.appearance.skin
    outline = skin_outline(geo)
    fill(img, outline, skin)
    fill(mask, outline, 255)
    # Skin also under the nose and around each eye and brow: at large yaw WFLW's far contour
    # runs level with the far eye corner (the annotators follow the silhouette), so the eye
    # region may poke out of the contour polygon; there the skin bulges a little beyond the
    # contour points, as it does in the real annotations.
    lm, s = geo.landmarks, geo.pose.scale
    regions = (np.concatenate([lm[51:60], geo.parts["nostrils"]]),
               np.concatenate([lm[33:42], lm[60:68], lm[0:5]]),
               np.concatenate([lm[42:51], lm[68:76], lm[28:33]]),
               lm[76:88])
    for pts in regions:
        hull = cv2.convexHull(pts.astype(np.float32))[:, 0].astype(np.float64)
        centre = hull.mean(0)
        offset = hull - centre
        hull = hull + 0.04 * s * offset / np.maximum(np.linalg.norm(offset, axis=1,
                                                                    keepdims=True), 1e-6)
        fill(img, hull, skin)
        fill(mask, hull, 255)


def _draw_brows(img: np.ndarray, spec: FaceSpec, geo: FaceGeometry) -> None:
    app = spec.appearance
    lm = geo.landmarks
    for idx in (slice(33, 42), slice(42, 51)):
        poly = lm[idx]
        fill(img, poly, app.brow)
        # a few darker hair strokes along the brow's upper edge
        upper = poly[:5]
        line(img, upper, app.brow * 0.75, 0.012 * geo.pose.scale * app.brow_thickness)


def _draw_eyes(img: np.ndarray, spec: FaceSpec, geo: FaceGeometry) -> None:
    """Sclera polygons, iris and pupil clipped to the eye opening, lid lines, lid crease."""
    app, lm, s = spec.appearance, geo.landmarks, geo.pose.scale
    light = spec.lighting.direction
    yaw_c = np.cos(np.radians(geo.pose.yaw))
    pitch_c = np.cos(np.radians(geo.pose.pitch))
    for eye_idx, pupil_i, crease in ((slice(60, 68), 96, "crease_l"),
                                     (slice(68, 76), 97, "crease_r")):
        eye = lm[eye_idx]
        if app.eye_shadow is not None:
            band = np.concatenate([geo.parts[crease], eye[4::-1]])
            fill(img, band, app.eye_shadow)
        line(img, geo.parts[crease], app.skin * 0.72, 0.012 * s)
        lo = np.floor(eye.min(0) - 2).astype(int)
        hi = np.ceil(eye.max(0) + 3).astype(int)
        lo = np.maximum(lo, 0)
        hi = np.minimum(hi, np.array(img.shape[1::-1]))
        if np.any(hi - lo < 2):
            continue
        roi = img[lo[1]:hi[1], lo[0]:hi[0]]
        local = eye - lo
        sclera = np.array([232.0, 226.0, 220.0]) * (0.9 + 0.1 * (app.skin / 255.0))
        eye_layer = roi.copy()
        fill(eye_layer, local, sclera)
        r_iris = 0.105 * s
        axes = (r_iris * (0.55 + 0.45 * yaw_c), r_iris * (0.7 + 0.3 * pitch_c))
        centre = lm[pupil_i] - lo
        ellipse(eye_layer, centre, axes, geo.pose.roll, app.iris)
        ellipse(eye_layer, centre, (axes[0] * 0.75, axes[1] * 0.75), geo.pose.roll,
                app.iris * 1.25)
        ellipse(eye_layer, centre, (axes[0] * 0.45, axes[1] * 0.45), geo.pose.roll, (12, 10, 10))
        glint = centre + r_iris * 0.45 * np.array([light[0], light[1]]) - [0, 0.3 * r_iris]
        ellipse(eye_layer, glint, (r_iris * 0.12, r_iris * 0.12), 0.0, (250, 250, 250))
        clip = np.zeros(roi.shape[:2], np.uint8)
        fill(clip, local, 255)
        alpha = (clip.astype(np.float32) / 255.0)[..., None]
        roi[:] = (eye_layer * alpha + roi * (1.0 - alpha)).astype(np.uint8)
        lid_colour = (25, 18, 15) if not app.eyeliner else (5, 5, 5)
        lid_w = (0.022 if not app.eyeliner else 0.04) * s
        line(img, eye[:5], lid_colour, lid_w)
        line(img, np.concatenate([eye[4:], eye[:1]]), app.skin * 0.6, 0.008 * s)


def _draw_nose(img: np.ndarray, spec: FaceSpec, geo: FaceGeometry) -> None:
    app, lm, s = spec.appearance, geo.landmarks, geo.pose.scale
    for c in geo.parts["nostrils"]:
        ellipse(img, c, (0.036 * s, 0.017 * s), geo.pose.roll, app.skin * 0.35)
    # alar creases: from each wing point up and in towards the tip
    for wing, nostril in ((55, 0), (59, 1)):
        ctrl = lm[wing] + 0.45 * (lm[53] - lm[wing])
        curve = np.stack([lm[wing], 0.5 * (lm[wing] + ctrl) + 0.3 * (lm[wing] - lm[57]), ctrl])
        line(img, curve, app.skin * 0.8, 0.01 * s)


def _draw_mouth(img: np.ndarray, spec: FaceSpec, geo: FaceGeometry) -> None:
    app, lm, s = spec.appearance, geo.landmarks, geo.pose.scale
    fill(img, lm[76:88], app.lips)
    inner = lm[88:96]
    gap = np.mean([np.linalg.norm(lm[lo] - lm[up]) for up, lo in ((89, 95), (90, 94), (91, 93))])
    if gap > 0.03 * s:
        fill(img, inner, (70, 22, 28))
        # upper teeth: a band under the upper inner lip
        teeth_h = min(0.07 * s, 0.45 * gap)
        down = lm[94] - lm[90]
        down = down / max(np.linalg.norm(down), 1e-6)
        upper = inner[:5]
        teeth = np.concatenate([upper, upper[::-1] + down * teeth_h])
        lo = np.floor(inner.min(0) - 2).astype(int).clip(0)
        hi = np.minimum(np.ceil(inner.max(0) + 3).astype(int), img.shape[1::-1])
        if np.all(hi - lo >= 2):
            roi = img[lo[1]:hi[1], lo[0]:hi[0]]
            layer = roi.copy()
            fill(layer, teeth - lo, (236, 232, 220))
            clip = np.zeros(roi.shape[:2], np.uint8)
            fill(clip, inner - lo, 255)
            a = (clip.astype(np.float32) / 255.0)[..., None]
            roi[:] = (layer * a + roi * (1 - a)).astype(np.uint8)
    line(img, lm[88:93], app.lips * 0.45, 0.012 * s)
    line(img, np.concatenate([lm[92:96], lm[88:89]]), app.lips * 0.55, 0.008 * s)


def _draw_fringe(img: np.ndarray, spec: FaceSpec, geo: FaceGeometry) -> None:
    """Bangs: hair between the forehead's top and a line well above the brows."""
    top = geo.parts["forehead"]
    fringe = np.concatenate([top, geo.parts["fringe_line"][::-1]])
    fill(img, fringe, spec.appearance.hair)


def _draw_makeup_blush(img: np.ndarray, spec: FaceSpec, geo: FaceGeometry) -> None:
    """Blush and stubble are soft: drawn on a small overlay, blurred, blended."""
    app, lm, s = spec.appearance, geo.landmarks, geo.pose.scale
    if app.blush is None and app.beard <= 0:
        return
    lo = np.floor(lm[:33].min(0)).astype(int).clip(0)
    hi = np.minimum(np.ceil(lm[:33].max(0)).astype(int) + 1, img.shape[1::-1])
    if np.any(hi - lo < 4):
        return
    roi = img[lo[1]:hi[1], lo[0]:hi[0]]
    alpha = np.zeros(roi.shape[:2], np.float32)
    colour = np.zeros(3)
    if app.blush is not None:
        for cheek in (0.5 * (lm[4] + lm[55]), 0.5 * (lm[28] + lm[59])):
            ellipse(alpha, cheek - lo, (0.16 * s, 0.1 * s), 0.0, 0.35)
        colour = app.blush
    else:
        jaw = np.concatenate([lm[4:29], lm[87:75:-1]])
        fill(alpha, jaw - lo, app.beard)
        colour = app.hair * 0.5
    alpha = cv2.GaussianBlur(alpha, (0, 0), max(0.5, 0.04 * s))[..., None]
    roi[:] = (roi * (1 - alpha) + colour * alpha).astype(np.uint8)


# --- shading -------------------------------------------------------------------------------------
def _shading(spec: FaceSpec, geo: FaceGeometry, size: int, low: int) -> tuple[np.ndarray,
                                                                                np.ndarray]:
    """Lambertian + specular shading of the head ellipsoid on a ``low`` x ``low`` grid.

    Returns ``(diffuse, specular)`` maps, each ``(low, low)`` float32.
    """
    pose, light = geo.pose, spec.lighting
    rot = pose.rotation
    q = rot @ np.diag(1.0 / np.asarray(SHADING_RADII) ** 2) @ rot.T
    centre = geo.parts["shading_centre"]
    g = (np.arange(low, dtype=np.float32) + 0.5) * (size / low) - 0.5
    dx = (g[None, :] - centre[0]) / pose.scale
    dy = (g[:, None] - centre[1]) / pose.scale
    dx, dy = np.broadcast_arrays(dx, dy)
    a = q[2, 2]
    b = q[2, 0] * dx + q[2, 1] * dy
    c = q[0, 0] * dx * dx + 2 * q[0, 1] * dx * dy + q[1, 1] * dy * dy - 1.0
    disc = np.maximum(b * b - a * c, 0.0)
    dz = (-b + np.sqrt(disc)) / a
    n = np.stack([q[0, 0] * dx + q[0, 1] * dy + q[0, 2] * dz,
                  q[1, 0] * dx + q[1, 1] * dy + q[1, 2] * dz,
                  q[2, 0] * dx + q[2, 1] * dy + q[2, 2] * dz], axis=-1)
    n /= np.linalg.norm(n, axis=-1, keepdims=True) + 1e-9
    ndotl = n @ light.direction.astype(np.float64)
    diffuse = light.ambient + light.diffuse * np.clip(ndotl, 0.0, None)
    half = light.direction + np.array([0.0, 0.0, 1.0])
    half /= np.linalg.norm(half)
    spec_map = 2.0 * light.specular * np.clip(n @ half, 0.0, None) ** 24
    return diffuse.astype(np.float32), spec_map.astype(np.float32)


def _contact_shadows(spec: FaceSpec, geo: FaceGeometry, size: int, low: int,
                     rng: np.random.Generator) -> np.ndarray:
    """Soft darkening (eye sockets, nose side, under nose and lip, under the chin) on a
    ``low`` grid, blurred; multiply with it."""
    k = low / size
    lm, s = geo.landmarks * k, geo.pose.scale * k
    shade = np.zeros((low, low), np.float32)
    for socket in ("socket_l", "socket_r"):
        c = geo.parts[socket] * k
        ellipse(shade, c, (0.21 * s, 0.13 * s), geo.pose.roll, 0.22)
    away = -np.sign(spec.lighting.direction[0]) or 1.0
    side = np.array([np.cos(np.radians(geo.pose.roll)), np.sin(np.radians(geo.pose.roll))])
    bridge = lm[51:55] + away * side * 0.07 * s
    line(shade, bridge, 0.35, 0.06 * s)
    for wing in (55, 59):  # the creases around the nose wings
        ellipse(shade, lm[wing] + [0, -0.03 * s], (0.05 * s, 0.07 * s), geo.pose.roll, 0.22)
    ellipse(shade, lm[57] + [0, 0.04 * s], (0.14 * s, 0.04 * s), geo.pose.roll, 0.25)
    line(shade, lm[55:60] + [0, 0.01 * s], 0.3, 0.025 * s)  # the nose's lower edge
    ellipse(shade, lm[85] + [0, 0.07 * s], (0.16 * s, 0.045 * s), geo.pose.roll, 0.2)
    line(shade, lm[4:29], 0.3, 0.08 * s)  # the jaw line darkens the neck just below it
    shade = cv2.GaussianBlur(shade, (0, 0), max(0.6, 0.05 * s))
    return 1.0 - shade + 0.05 * _lowres_noise(rng, low, 6)[..., 0]  # uneven skin albedo


# --- occluders -----------------------------------------------------------------------------------
def _textured(rng: np.random.Generator, shape: tuple[int, int], colour: np.ndarray
              ) -> np.ndarray:
    """A colour with smooth texture and sometimes stripes, ``shape`` (H, W, 3) float32."""
    h, w = shape
    n = max(h, w)
    tex = colour.astype(np.float32) + 45.0 * _lowres_noise(rng, n, int(rng.integers(3, 10)), 3)
    tex = tex[:h, :w]
    if rng.random() < 0.4:
        period = rng.uniform(4, 16)
        yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
        d = rng.uniform(0, np.pi)
        stripes = np.sin((xx * np.cos(d) + yy * np.sin(d)) * 2 * np.pi / period) > 0
        tex = np.where(stripes[..., None], tex * 0.6, tex)
    return np.clip(tex, 0, 255)


def _occluder_shape(kind: str, rng: np.random.Generator, spec: FaceSpec, geo: FaceGeometry,
                    mask: np.ndarray) -> np.ndarray:
    """Draw occluder ``kind`` into ``mask`` (uint8 alpha); return its base colour (RGB)."""
    lm, s = geo.landmarks, geo.pose.scale
    regions = {"eye_l": lm[96], "eye_r": lm[97], "mouth": lm[79:88].mean(0),
               "nose": lm[54], "chin": lm[16], "cheek_l": 0.5 * (lm[4] + lm[55]),
               "cheek_r": 0.5 * (lm[28] + lm[59]), "brows": lm[33:51].mean(0)}
    names = list(regions)
    anchor = regions[names[int(rng.integers(len(names)))]] + rng.normal(0, 0.12 * s, 2)
    rot = float(rng.uniform(0, 180))
    if kind == "hand":
        palm = anchor + rng.normal(0, 0.1 * s, 2)
        ellipse(mask, palm, (0.42 * s, 0.34 * s), rot, 255)
        base = np.radians(rot)
        for f in range(4):
            a = base + np.radians(-35 + 22 * f + rng.normal(0, 6))
            d = np.array([np.cos(a), np.sin(a)])
            start = palm + d * 0.25 * s
            end = palm + d * (0.75 + 0.15 * rng.random()) * s
            line(mask, np.stack([start, end]), 255, 0.17 * s)
        thumb = base + np.radians(rng.choice([-100, 100]))
        d = np.array([np.cos(thumb), np.sin(thumb)])
        line(mask, np.stack([palm, palm + d * 0.55 * s]), 255, 0.18 * s)
        other = rng.random() < 0.3
        return spec.appearance.skin * (rng.uniform(0.6, 1.2, 3) if other else 0.97)
    if kind == "bar":
        length, width = rng.uniform(1.5, 4.0) * s, rng.uniform(0.15, 0.45) * s
        box = cv2.boxPoints(((float(anchor[0]), float(anchor[1])), (float(length),
                                                                    float(width)), rot))
        fill(mask, box, 255)
        if rng.random() < 0.4:  # microphone head
            end = anchor + 0.5 * length * np.array([np.cos(np.radians(rot)),
                                                    np.sin(np.radians(rot))])
            ellipse(mask, end, (0.3 * s, 0.3 * s), 0.0, 255)
        return muted_colour(rng)
    if kind == "sunglasses":
        for c in (lm[60:68].mean(0), lm[68:76].mean(0)):
            ellipse(mask, c, (0.3 * s, 0.22 * s), geo.pose.roll, 255)
        line(mask, np.stack([lm[96], lm[97]]), 255, 0.05 * s)
        line(mask, np.stack([lm[60], lm[2]]), 255, 0.05 * s)
        line(mask, np.stack([lm[72], lm[30]]), 255, 0.05 * s)
        return rng.uniform(5, 60, 3)
    if kind == "mask":
        poly = np.concatenate([lm[3:30], [lm[29] + 0.3 * (lm[53] - lm[29])],
                               [lm[53] + 0.02 * s * np.array([0.0, 1.0])],
                               [lm[3] + 0.3 * (lm[53] - lm[3])]])
        fill(mask, poly, 255)
        line(mask, np.stack([lm[3], lm[0] - (lm[16] - lm[0]) * 0.05]), 255, 0.03 * s)
        line(mask, np.stack([lm[29], lm[32] - (lm[16] - lm[32]) * 0.05]), 255, 0.03 * s)
        return (rng.choice([[200, 225, 240], [240, 240, 240], [30, 30, 35], [120, 170, 200]])
                + rng.normal(0, 8, 3))
    if kind == "object":
        n = int(rng.integers(3, 9))
        a = np.sort(rng.uniform(0, 2 * np.pi, n))
        r = rng.uniform(0.3, 0.75) * s * rng.uniform(0.7, 1.3, n)
        pts = anchor + r[:, None] * np.column_stack([np.cos(a), np.sin(a)])
        if rng.random() < 0.5:
            ellipse(mask, anchor, (r.mean(), r.mean() * rng.uniform(0.5, 1)), rot, 255)
        else:
            fill(mask, cv2.convexHull(pts.astype(np.float32))[:, 0], 255)
        return muted_colour(rng)
    if kind == "hair":  # a lock of hair falling over one eye
        eye = lm[96] if rng.random() < 0.5 else lm[97]
        top = geo.parts["forehead"][len(geo.parts["forehead"]) // 2]
        bottom = eye + (eye - top) * rng.uniform(0.2, 0.8)
        side = np.array([-(bottom - top)[1], (bottom - top)[0]])
        side /= max(np.linalg.norm(side), 1e-6)
        w = rng.uniform(0.18, 0.35) * s
        fill(mask, np.stack([top - side * w, top + side * w * 2, bottom + side * w,
                             bottom - side * w * 0.5]), 255)
        return spec.appearance.hair
    # hat brim: a wide band across the brows/upper face
    up = _up(geo)
    side = np.array([-up[1], up[0]])
    centre = lm[33:51].mean(0) + up * rng.uniform(-0.2, 0.15) * s
    band = np.stack([centre - side * 1.6 * s, centre + side * 1.6 * s,
                     centre + side * 1.5 * s + up * 1.3 * s,
                     centre - side * 1.5 * s + up * 1.3 * s])
    fill(mask, band, 255)
    return muted_colour(rng, 10, 220)


def _cast_shadow(img: np.ndarray, mask: np.ndarray, spec: FaceSpec, soft: float) -> None:
    """Darken ``img`` under ``mask`` shifted away from the light and blurred."""
    light = spec.lighting.direction
    shift = -np.array([light[0], light[1]]) * 4.0 * soft
    ys, xs = np.nonzero(mask)
    pad = int(np.ceil(np.abs(shift).max() + 3 * soft)) + 1
    size = mask.shape[0]
    y0, y1 = max(0, ys.min() - pad), min(size, ys.max() + 1 + pad)
    x0, x1 = max(0, xs.min() - pad), min(size, xs.max() + 1 + pad)
    warp = np.float32([[1, 0, shift[0]], [0, 1, shift[1]]])
    moved = cv2.warpAffine(mask[y0:y1, x0:x1], warp, (x1 - x0, y1 - y0))
    shadow = cv2.GaussianBlur(moved.astype(np.float32) / 255.0, (0, 0), 1.5 * soft)
    roi = img[y0:y1, x0:x1]
    roi[:] = (roi * (1.0 - 0.35 * shadow)[..., None]).astype(np.uint8)


def _draw_occluders(img: np.ndarray, rng: np.random.Generator, spec: FaceSpec,
                    geo: FaceGeometry, exposure: np.ndarray) -> np.ndarray:
    """Draw the spec's occluders over ``img`` (uint8, already exposed: their colours are
    multiplied by ``exposure``); return their union alpha (float32)."""
    size = img.shape[0]
    union = np.zeros((size, size), np.float32)
    for kind in spec.occluders:
        mask = np.zeros((size, size), np.uint8)
        colour = _occluder_shape(kind, rng, spec, geo, mask)
        ys, xs = np.nonzero(mask)
        if len(ys) == 0:
            continue
        y0, y1, x0, x1 = ys.min(), ys.max() + 1, xs.min(), xs.max() + 1
        alpha = mask[y0:y1, x0:x1].astype(np.float32)[..., None] / 255.0
        if kind in ("hand", "hair", "mask", "sunglasses"):
            tex = colour.astype(np.float32) * (1.0 + 0.06 * _lowres_noise(
                rng, max(y1 - y0, x1 - x0), 4, 3)[:y1 - y0, :x1 - x0])
        else:
            tex = _textured(rng, (y1 - y0, x1 - x0), colour)
        # shading: a linear gradient across the occluder, darker towards its edges (a rounded
        # object), and a soft shadow cast on what lies behind it
        grad = np.linspace(1.15, 0.75, x1 - x0, dtype=np.float32)[None, :, None]
        if rng.random() < 0.5:
            grad = grad[:, ::-1]
        soft = max(1.0, 0.04 * geo.pose.scale)
        interior = cv2.GaussianBlur(alpha[..., 0], (0, 0), soft)[..., None]
        tex = tex * grad * (0.6 + 0.4 * np.clip(2.0 * interior - 0.5, 0.0, 1.0)) * exposure
        _cast_shadow(img, mask, spec, soft)
        roi = img[y0:y1, x0:x1]
        roi[:] = np.clip(roi * (1 - alpha) + tex * alpha, 0, 255).astype(np.uint8)
        union[y0:y1, x0:x1] = np.maximum(union[y0:y1, x0:x1], alpha[..., 0])
    return union


def _blur(img: np.ndarray, blur: tuple[str, float, float], size: int) -> np.ndarray:
    kind, amount, angle = blur
    amount *= size / 256.0
    if kind == "gaussian":
        return cv2.GaussianBlur(img, (0, 0), amount)
    # motion blur along ``angle``: rotate the motion to horizontal, box-filter, rotate back
    # (as exact as a line kernel up to bilinear resampling, and 5-10x faster than filter2D)
    n = max(3, int(round(amount)) | 1)
    centre = ((size - 1) / 2.0, (size - 1) / 2.0)
    fwd = cv2.getRotationMatrix2D(centre, angle, 1.0)
    back = cv2.getRotationMatrix2D(centre, -angle, 1.0)
    flags, border = cv2.INTER_LINEAR, cv2.BORDER_REFLECT101
    turned = cv2.warpAffine(img, fwd, (size, size), flags=flags, borderMode=border)
    turned = cv2.blur(turned, (n, 1), borderType=border)
    return cv2.warpAffine(turned, back, (size, size), flags=flags, borderMode=border)


def _add_noise(img: np.ndarray, rng: np.random.Generator, std: float) -> np.ndarray:
    """Add grey sensor noise: integers uniform on [-k, k] with k = round(std * sqrt(3)) (std
    close to ``std``), with saturation; cheaper than float Gaussian noise and looks the same."""
    k = max(1, int(round(std * np.sqrt(3.0))))
    noise = rng.integers(0, 2 * k + 1, img.shape[:2], dtype=np.uint8)
    noise3 = cv2.merge([noise, noise, noise])
    return cv2.subtract(cv2.add(img, noise3), (k, k, k, 0))


# --- the whole picture -------------------------------------------------------------------------
def render_face(spec: FaceSpec, geo: FaceGeometry, size: int, rng: np.random.Generator
                ) -> tuple[np.ndarray, np.ndarray]:
    """Render a face. Returns ``(image (size, size, 3) uint8 RGB, occluded (98,) bool)``.

    Background, lighting texture, occluders and noise draw from separate child generators of
    ``rng``, so switching occluders on or off leaves every other pixel as it was.
    """
    bg_rng, light_rng, occ_rng, noise_rng = rng.spawn(4)
    img = draw_background(bg_rng, size)
    head = np.zeros((size, size), np.uint8)  # where face lighting applies
    _draw_hair_back(img, head, spec, geo, light_rng)
    _draw_body(img, head, spec, geo)
    _draw_ears(img, head, spec, geo)
    _draw_skin(img, head, spec, geo)
    _draw_makeup_blush(img, spec, geo)
    _draw_brows(img, spec, geo)
    _draw_eyes(img, spec, geo)
    _draw_nose(img, spec, geo)
    _draw_mouth(img, spec, geo)
    if spec.appearance.fringe:
        _draw_fringe(img, spec, geo)

    low = max(16, size // 4)
    diffuse, specular = _shading(spec, geo, size, low)
    contact = _contact_shadows(spec, geo, size, low, light_rng)
    # the specular term multiplies too (a sheen on the albedo), so it never lifts dark pupils
    face_light = cv2.resize(diffuse * contact + specular, (size, size),
                            interpolation=cv2.INTER_LINEAR)
    bg_grid = light_rng.uniform(0.8, 1.1, (2, 2)).astype(np.float32)
    bg_light = cv2.resize(bg_grid, (size, size), interpolation=cv2.INTER_LINEAR)
    a = head.astype(np.float32) * np.float32(1.0 / 255.0)
    light = bg_light + a * (face_light - bg_light)
    lt = spec.lighting
    exposure = (lt.gain * lt.tint).astype(np.float32)  # global exposure and colour cast
    # Fixed point: light x exposure in 1/100 steps as uint8 (gains up to 2.55), one saturating
    # uint8 multiply -- several times faster than the same in float32 numpy.
    gains = cv2.merge([cv2.convertScaleAbs(light, alpha=100.0 * float(e)) for e in exposure])
    out = cv2.multiply(img, gains, scale=0.01)

    occ_alpha = _draw_occluders(out, occ_rng, spec, geo, exposure)
    if spec.blur is not None:
        out = _blur(out, spec.blur, size)
    image = _add_noise(out, noise_rng, lt.noise)

    occluded = np.zeros(len(geo.landmarks), bool)
    if spec.occluders:
        ij = np.clip(np.round(geo.landmarks).astype(int), 0, size - 1)
        occluded = occ_alpha[ij[:, 1], ij[:, 0]] > 0.5
    return image, occluded
