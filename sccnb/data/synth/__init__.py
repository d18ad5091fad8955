"""SynthFace: the procedural face-landmark data set that sccnb ships instead of a benchmark.

No real benchmark may be redistributed, so sccnb generates one that is good enough to teach with
and to show the paper's effects: faces with exact 98-point WFLW landmarks, drawn from a shape
model fitted to real WFLW shapes (:mod:`.shape_model`), rendered with skin shading, eyes, brows,
nose, lips, hair and a cluttered background (:mod:`.render`), with WFLW's six attributes -- large
pose, exaggerated expression, extreme illumination, make-up, occlusion (per-point flags), blur --
as controlled, independently drawn factors (:mod:`.sampling`). The writer (:mod:`.writer`)
saves the same faces in the WFLW, 300-W, COFW and COFW-68 file layouts, so the project's readers
and training code run on SynthFace exactly as on the real data.

Command line: ``python -m sccnb synth --out DIR --train N --test M --size S --seed K``.
"""

from .generator import GENERATOR_VERSION, SynthFace, benchmark, face_rng, generate_face
from .grid import sample_grid
from .sampling import ATTRIBUTE_RATES
from .shape_model import ShapeModel, fit_shape_model, load_shape_model, save_shape_model
from .writer import ensure_synthface, image_relpath, write_synthface

__all__ = [
    "GENERATOR_VERSION", "ATTRIBUTE_RATES", "SynthFace", "ShapeModel", "benchmark", "face_rng",
    "generate_face", "sample_grid", "fit_shape_model", "load_shape_model", "save_shape_model",
    "ensure_synthface", "image_relpath", "write_synthface",
]
