"""sccnb: a reproducibility study of "Fast and Accurate: Structure Coherence Component for Face
Alignment" (Zhu et al., ECCV 2020)."""

__version__ = "0.1.0"
