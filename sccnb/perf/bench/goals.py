"""The benchmarks' goals (the project's performance issue) and the paper recipe they refer to;
:meth:`Goal.record` turns a measured value into the JSON verdict every benchmark file carries."""

from __future__ import annotations

import operator
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

__all__ = ["PAPER_IMAGES", "PAPER_EPOCHS", "PAPER_STEP", "CPU_PROFILES", "Goal", "GOALS"]

PAPER_IMAGES = 7500  # WFLW training faces
PAPER_EPOCHS = 500  # Sec. 4.2
CPU_PROFILES = ("cpu", "real300w_cpu")  # the profiles that train on 2 CPU cores
# the paper-sized model and batch the GPU goals are judged at (Sec. 4.2)
PAPER_STEP = dict(input_size=256, batch=64, depth=34, width=64)

_OPS: dict[str, Callable[[float, float], bool]] = {">=": operator.ge, "<=": operator.le}


@dataclass(frozen=True)
class Goal:
    """A performance goal: ``value <op> threshold``, judged on ``device`` ("cuda", "cpu" or
    "any") at the setting described in ``setting``."""

    name: str
    description: str
    op: str
    threshold: float
    unit: str
    device: str
    setting: str

    def met(self, value: float) -> bool:
        return bool(_OPS[self.op](value, self.threshold))

    def record(self, value: float | None, device_type: str, quick: bool,
               setting_ok: bool = True, setting_note: str = "") -> dict[str, Any]:
        """The goal as written to JSON, with ``value``, ``met`` (computed whenever ``value`` is
        not ``None``), ``applies`` and a human-readable ``status``."""
        reasons = []
        if self.device != "any" and device_type != self.device:
            reasons.append(f"{'GPU' if self.device == 'cuda' else 'CPU'} only")
        elif value is None:
            reasons.append("not measured")
        if quick:
            reasons.append("quick mode")
        if not setting_ok:
            reasons.append(f"measured at {setting_note}; goal is at {self.setting}")
        met = None if value is None else self.met(value)
        applies = not reasons
        status = ("met" if met else "NOT met") if applies else "n/a: " + "; ".join(reasons)
        return {**asdict(self), "value": value, "met": met, "applies": applies,
                "status": status}


GOALS: dict[str, Goal] = {g.name: g for g in [
    Goal("train_throughput_ratio", "SCC / FC training throughput (images/s), same run",
         ">=", 0.8, "x", "cuda", "256², batch 64, ResNet34 width 64"),
    Goal("pipeline_overhead", "end-to-end epoch time / model steps alone", "<=", 1.1, "x",
         "any", "any"),
    Goal("paper_recipe_minutes",
         f"projected wall time of {PAPER_IMAGES:,} images x {PAPER_EPOCHS} epochs "
         "(end-to-end steps)", "<=", 30.0, "min", "cuda", "256², batch 64, ResNet34 width 64"),
    Goal("latency_b1_bf16_graph_ms", "SCC batch-1 latency, bf16, CUDA graph", "<=", 1.5, "ms",
         "cuda", "256², ResNet34 width 64"),
    Goal("throughput_b256_bf16", "SCC batch-256 inference throughput, bf16", ">=", 12000.0,
         "images/s", "cuda", "256², batch 256, ResNet34 width 64"),
    Goal("cpu_latency_ratio", "SCC / FC batch-1 latency (fp32), same run", "<=", 1.25, "x",
         "cpu", "256², ResNet34 width 64"),
    Goal("synth_faces_per_s", "SynthFace faces/s per core, JPEG included", ">=", 100.0,
         "faces/s", "any", "256²"),
] + [g for prof in CPU_PROFILES for g in (
    Goal(f"e2e_over_model_{prof}",
         f"profile {prof}: end-to-end training images/s (whole epochs: batches, shuffled "
         "order, validation, checkpoint) / the model step's alone, same run", ">=", 0.85, "x",
         "cpu", f"profile {prof} as configured (its threads)"),
    Goal(f"two_workers_over_one_{prof}",
         f"profile {prof}: training images/s of two 1-thread processes side by side / one "
         "2-thread process (the study's default of 2 workers on 2 cores assumes >= 1)",
         ">=", 1.0, "x", "cpu", f"profile {prof} as configured, a 2-core machine"),
)]}
