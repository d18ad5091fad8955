"""sccnb: a reproducibility study of "Fast and Accurate: Structure Coherence Component for Face
Alignment" (Zhu et al., ECCV 2020).

The package on floors, each importing only from those below (docs/architecture.md): ``errors``,
``provenance``, ``layouts``, ``metrics``, ``plots``; ``data``, ``model``; ``training``;
``inference``, ``perf``; ``study``; ``cli``.
"""

__version__ = "0.1.0"

__all__ = ["load_model"]


def load_model(name, device: str = "cpu", detector: str = "dlib-hog", refine: int | None = None):
    """A model ready to apply to photos: a shipped model's name (``"real300w-scc"``,
    ``"real300w-fc"``; :data:`sccnb.training.runs.SHIPPED`) or any run (id, folder, weights file).
    ``load_model(name)(photo)`` returns one dict per face found; see
    :class:`sccnb.inference.zoo.Landmarker` (``refine``: re-crop passes on detector boxes)."""
    from .inference.zoo import load_model as _load

    return _load(name, device, detector, refine)
