"""Landmark layouts: point counts, horizontal-flip permutations, NME normalisers, face parts.

Three layouts are used by the paper's benchmarks:

* ``wflw98``  -- WFLW, 98 points (Wu et al., CVPR 2018).
* ``300w68``  -- 300-W / iBUG, 68 points (Sagonas et al., 2016); also COFW-68.
* ``cofw29``  -- COFW, 29 points (Burgos-Artizzu et al., ICCV 2013).

All indices are 0-based. The flip pairs are the ones used by HRNet-Facial, STAR and the
SCC authors' code (listed in ``shared/docs/protocol.md``); a generic keypoint flip would mirror
the x coordinate but leave the left eye labelled as the left eye, which is wrong for faces.

"Left"/"right" below are as seen in the image (the subject's right eye is on the image left).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

__all__ = [
    "Layout",
    "LAYOUTS",
    "get_layout",
    "flip_permutation",
    "WFLW98_TO_300W68",
    "WFLW98_TO_COFW29",
]


def _perm_from_pairs(n: int, pairs: list[tuple[int, int]]) -> tuple[int, ...]:
    """Permutation of ``range(n)`` that swaps each pair and fixes every other index."""
    perm = list(range(n))
    seen: set[int] = set()
    for a, b in pairs:
        if a in seen or b in seen or a == b:
            raise ValueError(f"flip pair ({a}, {b}) repeats an index")
        seen.update((a, b))
        perm[a], perm[b] = b, a
    return tuple(perm)


# --- WFLW, 98 points -------------------------------------------------------------------------
_WFLW_PAIRS = (
    [(i, 32 - i) for i in range(16)]  # contour
    + [(33, 46), (34, 45), (35, 44), (36, 43), (37, 42), (38, 50), (39, 49), (40, 48), (41, 47)]
    + [(55, 59), (56, 58)]  # nostrils
    + [(60, 72), (61, 71), (62, 70), (63, 69), (64, 68), (65, 75), (66, 74), (67, 73)]  # eyes
    + [(76, 82), (77, 81), (78, 80), (87, 83), (86, 84), (88, 92), (89, 91), (95, 93)]  # mouth
    + [(96, 97)]  # pupils
)
_WFLW_PARTS = {
    # name: (indices, closed polygon?)
    "contour": (tuple(range(0, 33)), False),
    "brow_left": (tuple(range(33, 42)), True),
    "brow_right": (tuple(range(42, 51)), True),
    "nose_bridge": (tuple(range(51, 55)), False),
    "nose_base": (tuple(range(55, 60)), False),
    "eye_left": (tuple(range(60, 68)), True),
    "eye_right": (tuple(range(68, 76)), True),
    "lips_outer": (tuple(range(76, 88)), True),
    "lips_inner": (tuple(range(88, 96)), True),
    "pupils": ((96, 97), False),
}

# --- 300-W, 68 points ------------------------------------------------------------------------
_300W_PAIRS = (
    [(i, 16 - i) for i in range(8)]  # jaw
    + [(17 + i, 26 - i) for i in range(5)]  # brows
    + [(31, 35), (32, 34)]  # nostrils
    + [(36, 45), (37, 44), (38, 43), (39, 42), (41, 46), (40, 47)]  # eyes
    + [(48, 54), (49, 53), (50, 52), (60, 64), (61, 63), (67, 65), (59, 55), (58, 56)]  # mouth
)
_300W_PARTS = {
    "contour": (tuple(range(0, 17)), False),
    "brow_left": (tuple(range(17, 22)), False),
    "brow_right": (tuple(range(22, 27)), False),
    "nose_bridge": (tuple(range(27, 31)), False),
    "nose_base": (tuple(range(31, 36)), False),
    "eye_left": (tuple(range(36, 42)), True),
    "eye_right": (tuple(range(42, 48)), True),
    "lips_outer": (tuple(range(48, 60)), True),
    "lips_inner": (tuple(range(60, 68)), True),
}

# --- COFW, 29 points -------------------------------------------------------------------------
# 0/1 brow outer, 2/3 brow inner, 4/6 brow top, 5/7 brow bottom, 8/9 eye outer, 10/11 eye inner,
# 12/14 eye top, 13/15 eye bottom, 16/17 pupils, 18/19 nose wings, 20 nose tip, 21 nose base,
# 22/23 mouth corners, 24..27 lip centre line (top to bottom), 28 chin.
_COFW_PAIRS = [
    (0, 1), (2, 3), (4, 6), (5, 7), (8, 9), (10, 11), (12, 14), (13, 15), (16, 17), (18, 19),
    (22, 23),
]
_COFW_PARTS = {
    "brow_left": ((0, 4, 2, 5), True),
    "brow_right": ((3, 6, 1, 7), True),
    "eye_left": ((8, 12, 10, 13), True),
    "eye_right": ((11, 14, 9, 15), True),
    "pupils": ((16, 17), False),
    "nose": ((18, 20, 19, 21), True),
    "lips_outer": ((22, 24, 23, 27), True),
    "lips_inner": ((25, 26), False),
    "chin": ((28,), False),
}


@dataclass(frozen=True)
class Layout:
    """A landmark layout.

    Attributes:
        name: registry key (``"wflw98"``, ``"300w68"``, ``"cofw29"``).
        num_points: N, the number of landmarks.
        flip: permutation ``p`` such that the mirrored face's point ``i`` is the original point
            ``p[i]`` (after x -> W - 1 - x). An involution.
        interocular: the two points whose distance normalises NME by default (outer eye corners).
        interpupil: the two points used for inter-pupil normalisation (``None`` if the layout
            has no pupils, as in 300-W).
        parts: face parts for drawing: name -> (indices, closed polygon?).
    """

    name: str
    num_points: int
    flip: tuple[int, ...]
    interocular: tuple[int, int]
    interpupil: tuple[int, int] | None
    parts: dict[str, tuple[tuple[int, ...], bool]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if sorted(self.flip) != list(range(self.num_points)):
            raise ValueError(f"{self.name}: flip is not a permutation of {self.num_points} points")

    def normaliser(self, kind: str = "interocular") -> tuple[int, int]:
        """The point pair that normalises NME: ``"interocular"`` or ``"interpupil"``."""
        if kind == "interocular":
            return self.interocular
        if kind == "interpupil":
            if self.interpupil is None:
                raise ValueError(f"layout {self.name!r} has no pupils; use 'interocular'")
            return self.interpupil
        raise ValueError(f"unknown normaliser {kind!r}; supported: 'interocular', 'interpupil'")

    def part_of(self) -> np.ndarray:
        """Array of length N giving the part name of every point (for ordering heatmaps)."""
        names = np.empty(self.num_points, dtype=object)
        for part, (idx, _) in self.parts.items():
            names[list(idx)] = part
        return names


LAYOUTS: dict[str, Layout] = {
    "wflw98": Layout("wflw98", 98, _perm_from_pairs(98, _WFLW_PAIRS), (60, 72), (96, 97),
                     _WFLW_PARTS),
    "300w68": Layout("300w68", 68, _perm_from_pairs(68, _300W_PAIRS), (36, 45), None,
                     _300W_PARTS),
    "cofw29": Layout("cofw29", 29, _perm_from_pairs(29, _COFW_PAIRS), (8, 9), (16, 17),
                     _COFW_PARTS),
}
_ALIASES = {"wflw": "wflw98", "300w": "300w68", "cofw68": "300w68", "cofw": "cofw29",
            "98": "wflw98", "68": "300w68", "29": "cofw29"}


def get_layout(name: str | int | Layout) -> Layout:
    """Look a layout up by name, alias (``"wflw"``, ``"300w"``, ``"cofw"``) or point count."""
    if isinstance(name, Layout):
        return name
    key = _ALIASES.get(str(name).lower(), str(name).lower())
    if key not in LAYOUTS:
        raise ValueError(f"unknown layout {name!r}; supported: {sorted(LAYOUTS)}")
    return LAYOUTS[key]


def flip_permutation(layout: str | int | Layout) -> np.ndarray:
    """The layout's horizontal-flip permutation as an index array."""
    return np.asarray(get_layout(layout).flip, dtype=np.int64)


# --- mappings from the 98-point WFLW layout to the others ------------------------------------
# Used by SynthFace (which draws 98 points) to write 68- and 29-point copies of the same faces.
# 98 -> 68 is the usual WFLW-to-300-W correspondence: every second contour point; the upper brow
# arcs; the nose; six of the eight eye points; the 20 mouth points.
WFLW98_TO_300W68: tuple[int, ...] = (
    tuple(range(0, 33, 2))
    + (33, 34, 35, 36, 37, 42, 43, 44, 45, 46)
    + tuple(range(51, 60))
    + (60, 61, 63, 64, 65, 67, 68, 69, 71, 72, 73, 75)
    + tuple(range(76, 96))
)
# 98 -> 29 (COFW): brow ends and mid-arcs, eye corners and lids, pupils, nose, mouth, chin.
WFLW98_TO_COFW29: tuple[int, ...] = (
    33, 46,  # brow outer
    37, 42,  # brow inner
    35, 40,  # left brow top / bottom
    44, 48,  # right brow top / bottom
    60, 72,  # eye outer
    64, 68,  # eye inner
    62, 66,  # left eye top / bottom
    70, 74,  # right eye top / bottom
    96, 97,  # pupils
    55, 59,  # nose wings
    54, 57,  # nose tip, nose base
    76, 82,  # mouth corners
    79, 90, 94, 85,  # upper lip top, upper lip bottom, lower lip top, lower lip bottom
    16,  # chin
)
assert len(WFLW98_TO_300W68) == 68 and len(WFLW98_TO_COFW29) == 29
