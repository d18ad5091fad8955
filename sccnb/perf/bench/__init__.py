"""Benchmarks: training and inference speed, data-pipeline overhead, SynthFace generation,
and the CPU profiles' training speed at their own scale.

``python -m sccnb bench`` (``make bench``) measures and writes one JSON per benchmark into
``results/bench/`` -- ``training.json``, ``pipeline.json``, ``inference.json``, ``synth.json``,
``profiles.json`` -- and a ``summary.json`` of every goal. A benchmark *measures*; it never
fails because a goal is missed. Each file records the numbers, the parameters, the device, the
host's load average before and after, the goals with a computed verdict, and
:func:`sccnb.provenance.provenance`.

One module per kind of benchmark, over what they share:

* :mod:`~sccnb.perf.bench.goals` -- :class:`Goal`, :data:`GOALS` and the paper recipe they refer to;
* :mod:`~sccnb.perf.bench.common` -- settings, interleaved timing, the host's state, the JSON
  envelope, the numerics fields, the paper-sized model on random stand-in crops;
* :mod:`~sccnb.perf.bench.training` -- :func:`bench_training`, :func:`bench_pipeline`;
* :mod:`~sccnb.perf.bench.profiles` -- :func:`bench_profiles`, which drives the training loop's own
  steps (:func:`sccnb.training.train.setup_training`, :func:`~sccnb.training.train.train_batch`,
  ...);
* :mod:`~sccnb.perf.bench.inference` -- :func:`bench_inference`;
* :mod:`~sccnb.perf.bench.synth` -- :func:`bench_synth`;
* here: :data:`BENCHMARKS`, :func:`run_all`, :func:`write_summary` and the command line.

The goals (the project's performance issue; :data:`GOALS`):

* training throughput of the full SCC model >= 0.8 x the ResNet34 + FC baseline, both measured
  in the same process at 256², batch 64, on a GPU;
* end-to-end training epoch <= 1.1 x the model steps alone (data pipeline overhead);
* the paper's recipe (Sec. 4.2: 7,500 WFLW training faces x 500 epochs, batch 64, 256²)
  projected from the measured end-to-end step: <= 30 min on one H100/H200;
* inference: batch-1 latency (bf16, replayed from a CUDA graph) <= 1.5 ms and batch-256 bf16
  throughput >= 12,000 images/s on a GPU; on a CPU, batch-1 fp32 latency at 256² of SCC
  <= 1.25 x the FC baseline's, measured in the same run;
* SynthFace generation >= 100 faces/s per core at 256², JPEG encoding included;
* the CPU profiles (``cpu``, ``real300w_cpu``) at their own scale -- 64², width 16, batch 32, one
  thread -- where the model no longer dominates as it does at 256²: end-to-end training
  images/s (whole epochs, validation and checkpoints included) >= 0.85 x the model step's alone
  in the same run, for both heads (FC's faster step leaves the pipeline the larger share); and
  two 1-thread training processes side by side >= one 2-thread process (the study's default on
  2 cores), both measured (:func:`bench_profiles`).

How things are measured (choices the issue leaves open):

* **Same code as training.** Models are built by :func:`sccnb.training.runs.build_for` from a
  :class:`~sccnb.training.config.TrainConfig` of the ``paper`` profile; a training step calls the
  training loop's own :func:`sccnb.training.train.make_batch` and
  :func:`sccnb.training.train.train_step` (numerics from the config's ``amp`` and ``channels_last``,
  ``--amp`` / ``--channels-last``: by default bf16 autocast and channels_last on CUDA, fp32 on CPU,
  and either can be forced on any device, so the GPU's code paths run on a CPU too; Soft Wing on
  float32 predictions in the 256-px frame; SGD with momentum and weight decay).
  The learning rate stays at the recipe's 0.01; a non-finite loss stops the benchmark.
* **Interleaved rounds.** The things compared (SCC vs FC; full step vs model step) are timed in
  alternating rounds (order reversed every round) after a warm-up, and each reports the median
  over rounds, so a change of machine load hits both sides alike. Each round runs ``steps``
  steps between two ``torch.cuda.synchronize`` calls.
* **Data.** Random uint8 "crops" and landmarks stand in for the cached crops, and random shapes
  for the SCC neighbourhood mask: speed does not depend on pixel values, and the mask always
  has ``N (k + 1)`` non-zeros whichever neighbours it keeps. On CUDA the crop store lives on
  the GPU, as in training.
* **Inference** reuses :func:`sccnb.perf.efficiency.time_forward` (eval mode, no grad; bf16 +
  channels_last where the numerics say so) and :func:`~sccnb.perf.efficiency.count_macs`. What only
  CUDA can do -- the CUDA-graph replay, the peak-memory counter -- goes through
  :mod:`sccnb.perf.device`, whose "not available on this device" answers are written to the
  results' ``not_available`` entry instead of a number.
* **Smaller settings on a CPU**, recorded in every file and flagged in the goals: training and
  pipeline at 256², batch 8 (the paper's model; a batch of 64 takes minutes per step on two
  cores). A goal only *applies* to a measurement made on its device, at its setting and not in
  ``--quick`` mode; ``met`` is still computed from the number whenever there is one, and
  ``status`` says which case holds.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ...provenance import provenance, write_json
from .common import numerics
from .goals import GOALS, Goal
from .inference import bench_inference
from .profiles import bench_profiles
from .synth import bench_synth
from .training import bench_pipeline, bench_training, project_wall_time

__all__ = ["Goal", "GOALS", "BENCHMARKS", "bench_training", "bench_pipeline", "bench_inference",
           "bench_synth", "bench_profiles", "project_wall_time", "run_all", "write_summary",
           "add_arguments", "run"]


# --- all of them -----------------------------------------------------------------------------
BENCHMARKS: dict[str, Callable[..., dict[str, Any]]] = {
    "training": bench_training,
    "pipeline": bench_pipeline,
    "inference": bench_inference,
    "synth": lambda device="auto", quick=False, **_: bench_synth(quick=quick),  # CPU always
    "profiles": lambda device="auto", quick=False, **_: bench_profiles(quick=quick),  # CPU
}


def write_summary(out_dir: str | Path) -> dict[str, Any]:
    """``summary.json``: every goal of every benchmark file present in ``out_dir`` (so a run of
    a single benchmark keeps the others' verdicts), with the file's commit and time."""
    out = Path(out_dir)
    benchmarks, goals = {}, []
    for name in BENCHMARKS:
        path = out / f"{name}.json"
        if not path.exists():
            continue
        rec = json.loads(path.read_text())
        benchmarks[name] = {"file": path.name, "device_name": rec["device_name"],
                            "quick": rec["quick"], "commit": rec["provenance"]["commit"],
                            "created": rec["provenance"]["created"]}
        goals += [{"benchmark": name, **g} for g in rec["goals"]]
    applicable = [g for g in goals if g["applies"]]
    summary = {"benchmarks": benchmarks, "goals": goals,
               "goals_applicable": len(applicable),
               "goals_met": sum(bool(g["met"]) for g in applicable),
               # None when nothing applies (quick mode, or goals for another device only)
               "all_applicable_met": all(g["met"] for g in applicable) if applicable else None,
               "provenance": provenance()}
    write_json(out / "summary.json", summary)
    return summary


def run_all(out_dir: str | Path = "results/bench", device: str = "auto", quick: bool = False,
            only: list[str] | None = None, progress: Callable[[str], None] | None = None,
            amp: str = "auto", channels_last: str = "auto") -> dict[str, Any]:
    """Run the benchmarks (all, or those named in ``only``), write ``<name>.json`` for each
    and ``summary.json``; return the summary. ``amp`` and ``channels_last`` (the config
    fields) set the numerics of the model benchmarks (training, pipeline, inference)."""
    names = list(BENCHMARKS) if not only else list(dict.fromkeys(only))
    unknown = sorted(set(names) - set(BENCHMARKS))
    if unknown:
        raise ValueError(f"unknown benchmark(s) {unknown}; supported: {list(BENCHMARKS)}")
    out = Path(out_dir)
    for name in names:
        if progress:
            progress(name)
        write_json(out / f"{name}.json", BENCHMARKS[name](
            device=device, quick=quick, **numerics(amp, channels_last)))
    return write_summary(out)


# --- command line ----------------------------------------------------------------------------

def print_summary(summary: dict[str, Any]) -> None:
    for g in summary["goals"]:
        value = "—" if g["value"] is None else f"{g['value']:.4g}"
        print(f"  {g['name']:26s} {value:>10s} {g['unit']:9s} goal {g['op']} "
              f"{g['threshold']:g}  [{g['status']}]")
    print(f"{summary['goals_met']} of {summary['goals_applicable']} applicable goals met")
