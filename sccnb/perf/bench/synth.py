"""SynthFace generation speed (:func:`bench_synth`): faces per second on one core, JPEG
encoding included."""

from __future__ import annotations

from typing import Any

import torch

from .common import HostWatch, envelope
from .goals import GOALS

__all__ = ["bench_synth"]


def bench_synth(*, quick: bool = False, n: int | None = None, size: int = 256,
                seed: int = 0) -> dict[str, Any]:
    """SynthFace generation speed on one core (:func:`sccnb.data.synth.benchmark`)."""
    from ...data.synth import benchmark

    host = HostWatch(threads=1)  # the generator runs on one core
    n = n if n is not None else (3 if quick else 200)
    result = benchmark(n=n, size=size, seed=seed)
    dev = torch.device("cpu")
    goals = [GOALS["synth_faces_per_s"].record(result["faces_per_s"], dev.type, quick,
                                               size == 256, f"{size}²")]
    notes = ["Generation + JPEG encoding of one face at a time, OpenCV limited to one thread "
             "(per-core speed); the shape model is loaded before timing."]
    return envelope("synth", dev, quick, {"n": n, "size": size, "seed": seed}, result, goals,
                    notes, host)
