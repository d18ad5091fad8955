"""Benchmarks: training and inference speed, data-pipeline overhead, SynthFace generation,
and the CPU profiles' training speed at their own scale.

``python -m sccnb bench`` (``make bench``) measures and writes one JSON per benchmark into
``results/bench/`` -- ``training.json``, ``pipeline.json``, ``inference.json``, ``synth.json``,
``profiles.json`` -- and a ``summary.json`` of every goal. A benchmark *measures*; it never
fails because a goal is missed. Each file records the numbers, the parameters, the device, the
host's load average before and after, the goals with a computed verdict, and
:func:`sccnb.provenance.provenance`.

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

* **Same code as training.** Models are built by :func:`sccnb.train.build_for` from a
  :class:`~sccnb.train.TrainConfig` of the ``paper`` profile; a training step calls the
  training loop's own :func:`sccnb.train.make_batch` and :func:`sccnb.train.train_step`
  (numerics from the config's ``amp`` and ``channels_last``, ``--amp`` / ``--channels-last``:
  by default bf16 autocast and channels_last on CUDA, fp32 on CPU, and either can be forced on
  any device, so the GPU's code paths run on a CPU too; Soft Wing on float32 predictions in the
  256-px frame; SGD with momentum and weight decay).
  The learning rate stays at the recipe's 0.01; a non-finite loss stops the benchmark.
* **Interleaved rounds.** The things compared (SCC vs FC; full step vs model step) are timed in
  alternating rounds (order reversed every round) after a warm-up, and each reports the median
  over rounds, so a change of machine load hits both sides alike. Each round runs ``steps``
  steps between two ``torch.cuda.synchronize`` calls.
* **Data.** Random uint8 "crops" and landmarks stand in for the cached crops, and random shapes
  for the SCC neighbourhood mask: speed does not depend on pixel values, and the mask always
  has ``N (k + 1)`` non-zeros whichever neighbours it keeps. On CUDA the crop store lives on
  the GPU, as in training.
* **Inference** reuses :func:`sccnb.efficiency.time_forward` (eval mode, no grad; bf16 +
  channels_last where the numerics say so) and :func:`~sccnb.efficiency.count_macs`. What only
  CUDA can do -- the CUDA-graph replay, the peak-memory counter -- goes through
  :mod:`sccnb.device`, whose "not available on this device" answers are written to the
  results' ``not_available`` entry instead of a number.
* **Smaller settings on a CPU**, recorded in every file and flagged in the goals: training and
  pipeline at 256², batch 8 (the paper's model; a batch of 64 takes minutes per step on two
  cores). A goal only *applies* to a measurement made on its device, at its setting and not in
  ``--quick`` mode; ``met`` is still computed from the number whenever there is one, and
  ``status`` says which case holds.
"""

from __future__ import annotations

import argparse
import math
import operator
import os
import statistics
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .device import (NotAvailable, cuda_graph_latency, peak_memory_gib, reset_peak_memory,
                     synchronize)
from .efficiency import count_macs, count_parameters, stand_in_shapes, time_forward
from .layouts import flip_permutation, get_layout
from .losses import build_loss
from .provenance import device_name, provenance, write_json
from .train import (TrainConfig, augment_preset, begin_epoch, build_for, build_optimizer,
                    lr_at, make_batch, resolve_config, save_best, save_checkpoint,
                    setup_training, train_batch, train_step, validation_nme)

__all__ = ["Goal", "GOALS", "BENCHMARKS", "bench_training", "bench_pipeline", "bench_inference",
           "bench_synth", "project_wall_time", "run_all", "write_summary", "add_arguments", "run"]

LAYOUT = "wflw98"  # WFLW's 98 points: the paper's headline benchmark
REF_SIZE = 256  # the losses' pixel frame (Sec. 4.2); targets are scaled to it
PAPER_IMAGES = 7500  # WFLW training faces
PAPER_EPOCHS = 500  # Sec. 4.2
CPU_PROFILES = ("cpu", "real300w_cpu")  # the profiles that train on 2 CPU cores


# --- goals -----------------------------------------------------------------------------------
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

_PAPER_STEP = dict(input_size=256, batch=64, depth=34, width=64)


# --- settings --------------------------------------------------------------------------------
def _step_defaults(device_type: str, quick: bool) -> dict[str, int]:
    """Training/pipeline settings: paper-sized on CUDA, batch 8 on a CPU, tiny when quick."""
    if quick:
        return dict(input_size=64, batch=2, depth=18, width=8, rounds=2, steps=1, warmup=1,
                    crops=8)
    if device_type == "cuda":
        return dict(_PAPER_STEP, rounds=10, steps=10, warmup=10, crops=1024)
    return dict(input_size=256, batch=8, depth=34, width=64, rounds=5, steps=1, warmup=1,
                crops=64)


def _inference_defaults(device_type: str, quick: bool) -> dict[str, int]:
    if quick:
        return dict(input_size=64, batch=2, depth=18, width=8, rounds=1, repeats=2,
                    batch_repeats=1)
    if device_type == "cuda":
        return dict(input_size=256, batch=256, depth=34, width=64, rounds=3, repeats=100,
                    batch_repeats=10)
    return dict(input_size=256, batch=8, depth=34, width=64, rounds=5, repeats=20,
                batch_repeats=2)


def _resolve_device(device: str) -> torch.device:
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    dev = torch.device(device)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {device!r} asked for, but torch sees no CUDA device")
    return dev


def _pick(given: dict[str, int | None], defaults: dict[str, int]) -> dict[str, int]:
    """``defaults`` with every non-``None`` value of ``given`` put in its place."""
    unknown = set(given) - set(defaults)
    if unknown:
        raise TypeError(f"no such setting(s) {sorted(unknown)}")
    return {k: (v if given.get(k) is None else int(given[k])) for k, v in defaults.items()}


def _matches(p: dict[str, int], want: dict[str, int], cfg: TrainConfig | None = None
             ) -> tuple[bool, str]:
    """Whether settings ``p`` have every value of ``want`` (and ``cfg``, when given, the
    default numerics, which the goals assume); and ``p`` in words."""
    note = f"{p['input_size']}², batch {p['batch']}, ResNet{p['depth']} width {p['width']}"
    ok = all(p[k] == v for k, v in want.items())
    if cfg is not None and (cfg.amp, cfg.channels_last) != ("auto", "auto"):
        ok, note = False, f"{note}, amp={cfg.amp}, channels_last={cfg.channels_last}"
    return ok, note


# --- timing helpers --------------------------------------------------------------------------
def _stats(seconds: list[float]) -> dict[str, Any]:
    return {"median_s": statistics.median(seconds), "min_s": min(seconds),
            "max_s": max(seconds), "rounds_s": seconds}


def _interleaved(fns: dict[str, Callable[[], object]], device: torch.device, rounds: int,
                 steps: int, warmup: int) -> dict[str, list[float]]:
    """Seconds per call of each function, one value per round; the order of the functions is
    reversed every round so that a drift in machine load hits all of them alike."""
    for fn in fns.values():
        for _ in range(warmup):
            fn()
    synchronize(device)
    names = list(fns)
    times: dict[str, list[float]] = {name: [] for name in names}
    for r in range(rounds):
        for name in names if r % 2 == 0 else names[::-1]:
            synchronize(device)
            t0 = time.perf_counter()
            for _ in range(steps):
                fns[name]()
            synchronize(device)
            times[name].append((time.perf_counter() - t0) / steps)
    return times


class _HostWatch:
    """The machine's state around a benchmark. Other jobs skew timings; two signs of them are
    the load average and this process's CPU use: ``cpu_utilisation`` = process CPU seconds /
    (wall seconds x ``threads``) is close to 1 for an undisturbed compute-bound CPU run and
    drops when other processes take the cores (on CUDA it says little)."""

    BUSY = 0.8  # below this utilisation a CPU benchmark's JSON carries a warning

    def __init__(self, threads: int | None = None) -> None:
        self.threads = threads or torch.get_num_threads()
        self.start = self.snapshot()
        self._wall, self._cpu = time.perf_counter(), time.process_time()
        self._stopped: tuple[float, float] | None = None

    def stop(self) -> None:
        """End the measured window here (work after it runs in other processes)."""
        self._stopped = (time.perf_counter() - self._wall, time.process_time() - self._cpu)

    @staticmethod
    def snapshot() -> dict[str, Any]:
        return {"loadavg": list(os.getloadavg()), "cpu_count": os.cpu_count(),
                "torch_threads": torch.get_num_threads(),
                "cudnn_benchmark": torch.backends.cudnn.benchmark}

    def finish(self) -> dict[str, Any]:
        wall, cpu = self._stopped or (time.perf_counter() - self._wall,
                                      time.process_time() - self._cpu)
        return {"start": self.start, "end": self.snapshot(), "wall_s": wall,
                "process_cpu_s": cpu, "threads": self.threads,
                "cpu_utilisation": cpu / (wall * self.threads)}


def _envelope(name: str, device: torch.device, quick: bool, params: dict, results: dict,
              goals: list[dict], notes: list[str], host: _HostWatch) -> dict[str, Any]:
    """The JSON layout shared by every benchmark."""
    state = host.finish()
    if device.type == "cpu" and state["cpu_utilisation"] < _HostWatch.BUSY:
        notes = notes + [f"WARNING: this process got {state['cpu_utilisation']:.0%} of its "
                         f"{state['threads']} thread(s)' CPU time (load average "
                         f"{state['end']['loadavg'][0]:.1f} on {state['end']['cpu_count']} "
                         "CPUs): other jobs were running; timings are pessimistic and noisy."]
    return {"benchmark": name, "device": str(device), "device_name": device_name(str(device)),
            "quick": quick, "params": params, "results": results, "goals": goals,
            "notes": notes, "host": state, "provenance": provenance(str(device))}


def _put(results: dict[str, Any], key: str, value: Any) -> None:
    """``results[key] = value``, or -- for a :class:`~sccnb.device.NotAvailable` answer -- the
    reason under ``results["not_available"][key]``, so a CPU record says what it lacks."""
    if isinstance(value, NotAvailable):
        results.setdefault("not_available", {})[key] = value.as_json()
    else:
        results[key] = value


# --- numerics --------------------------------------------------------------------------------
AMP_CHOICES = ("auto", "bf16", "off")  # TrainConfig.amp
CHANNELS_LAST_CHOICES = ("auto", "true", "false")  # TrainConfig.channels_last


def _numerics(amp: str, channels_last: str) -> dict[str, str]:
    """The config fields that choose precision and memory format, checked."""
    if amp not in AMP_CHOICES:
        raise ValueError(f"amp {amp!r}; supported: {', '.join(AMP_CHOICES)}")
    if str(channels_last).lower() not in CHANNELS_LAST_CHOICES:
        raise ValueError(f"channels_last {channels_last!r}; supported: "
                         f"{', '.join(CHANNELS_LAST_CHOICES)}")
    return {"amp": amp, "channels_last": str(channels_last).lower()}


def _numerics_params(cfg: TrainConfig, device: torch.device) -> dict[str, Any]:
    """What a record says about numerics: the fields as given and what they meant here."""
    return {"amp": cfg.amp, "channels_last": cfg.channels_last,
            "bf16_used": cfg.uses_bf16(device.type),
            "channels_last_used": cfg.uses_channels_last(device.type)}


def _numerics_note(cfg: TrainConfig, device: torch.device) -> str:
    bf16, cl = cfg.uses_bf16(device.type), cfg.uses_channels_last(device.type)
    return (f"{'bf16 autocast' if bf16 else 'fp32'}, "
            f"{'channels_last' if cl else 'default memory format'} "
            f"(amp={cfg.amp}, channels_last={cfg.channels_last})")


# --- the training step -----------------------------------------------------------------------
def _config(head: str, p: dict[str, int], numerics: dict[str, str] | None = None
            ) -> TrainConfig:
    return resolve_config("paper", head=head, input_size=p["input_size"],
                          batch_size=p["batch"], depth=p["depth"], width=p["width"],
                          **(numerics or {}))


def _model(cfg: TrainConfig, device: torch.device) -> torch.nn.Module:
    model = build_for(cfg, shapes=stand_in_shapes(cfg.num_landmarks)).to(device)
    if cfg.uses_channels_last(device.type):
        model = model.to(memory_format=torch.channels_last)
    return model.train()


class _Trainer:
    """One model with its optimiser and loss, stepping with :func:`sccnb.train.train_step`
    (the very function the training loop calls)."""

    def __init__(self, cfg: TrainConfig, device: torch.device) -> None:
        self.cfg, self.device = cfg, device
        self.model = _model(cfg, device)
        self.opt = build_optimizer(cfg, self.model)
        self.loss_fn = build_loss(cfg.loss, cfg.loss_epsilon)

    def step(self, x: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """Forward, loss, backward, optimiser step on a ready network input."""
        return train_step(self.model, self.opt, self.loss_fn, x, target,
                          self.cfg.uses_bf16(self.device.type))


class _Pipeline:
    """The data side of a training step, via :func:`sccnb.train.make_batch` (as in training):
    index the cached uint8 crops on the device, augment (Sec. 4.2), normalise."""

    def __init__(self, p: dict[str, int], device: torch.device, seed: int = 0,
                 channels_last: bool = False) -> None:
        self.device, self.batch, self.channels_last = device, p["batch"], channels_last
        self.gen = torch.Generator().manual_seed(seed)
        n = get_layout(LAYOUT).num_points
        self.store = _random_crops(max(p["crops"], p["batch"]), p["input_size"], n, device,
                                   self.gen)
        self.flip = torch.as_tensor(flip_permutation(LAYOUT), device=device)
        self.aug = augment_preset("paper")
        self._cursor = 0
        self.order = torch.randperm(len(self.store.images), generator=self.gen)

    def next_batch(self) -> tuple[torch.Tensor, torch.Tensor]:
        """``(x, target)``: the network input and the targets in the 256-px frame."""
        if self._cursor + self.batch > len(self.order):
            self._cursor = 0
        idx = self.order[self._cursor:self._cursor + self.batch]
        self._cursor += self.batch
        return make_batch(self.store, idx, self.flip, self.aug, self.gen, REF_SIZE,
                          self.channels_last)


def _random_crops(count: int, size: int, num_points: int, device: torch.device,
                  generator: torch.Generator, layout: str = LAYOUT):
    """A CropSet of random uint8 crops, on ``device``, standing in for cached faces."""
    from .data.crops import CropSet

    images = torch.randint(0, 256, (count, 3, size, size), dtype=torch.uint8,
                           generator=generator)
    points = (0.25 + 0.5 * torch.rand((count, num_points, 2), generator=generator)) * size
    return CropSet(images=images, landmarks=points, to_image=torch.zeros(count, 2, 3),
                   names=[str(i) for i in range(count)], attributes={}, occluded=None,
                   layout=layout, dataset="random", split="bench", size=size).to(device)


def _check_finite(loss: torch.Tensor, what: str) -> float:
    value = loss.item()
    if not math.isfinite(value):
        raise RuntimeError(f"benchmark {what}: the training loss became {value}")
    return value


# --- benchmarks ------------------------------------------------------------------------------
def bench_training(device: str = "auto", *, quick: bool = False, input_size: int | None = None,
                   batch: int | None = None, width: int | None = None,
                   depth: int | None = None, rounds: int | None = None,
                   steps: int | None = None, warmup: int | None = None,
                   amp: str = "auto", channels_last: str = "auto") -> dict[str, Any]:
    """Training throughput of the full SCC model and the FC baseline, measured in interleaved
    rounds on the same pre-made batch (model step only: forward, loss, backward, SGD step).

    ``None`` arguments take the device's defaults (paper setting on CUDA; batch 8 on a CPU;
    tiny when ``quick``); ``amp`` and ``channels_last`` are the config fields of the same
    names. Returns the JSON dict (also written by :func:`run_all`).
    """
    host = _HostWatch()
    dev = _resolve_device(device)
    p = _pick(dict(input_size=input_size, batch=batch, width=width, depth=depth,
                   rounds=rounds, steps=steps, warmup=warmup), _step_defaults(dev.type, quick))
    num = _numerics(amp, channels_last)
    trainers = {head: _Trainer(_config(head, p, num), dev) for head in ("scc", "fc")}
    cfg = trainers["scc"].cfg
    data = _Pipeline(p, dev, channels_last=cfg.uses_channels_last(dev.type))
    x, target = data.next_batch()
    reset_peak_memory(dev)
    times = _interleaved({h: (lambda t=t: t.step(x, target)) for h, t in trainers.items()},
                         dev, p["rounds"], p["steps"], p["warmup"])
    for head, t in trainers.items():
        _check_finite(t.step(x, target), f"training/{head}")
    results: dict[str, Any] = {}
    for head, t in trainers.items():
        s = _stats(times[head])
        results[head] = {"step": s, "images_per_s": p["batch"] / s["median_s"],
                         "params_m": count_parameters(t.model) / 1e6}
    ratio = results["scc"]["images_per_s"] / results["fc"]["images_per_s"]
    results["throughput_ratio_scc_over_fc"] = ratio
    _put(results, "peak_memory_gib_both_models", peak_memory_gib(dev))
    ok, note = _matches(p, _PAPER_STEP, cfg)
    goals = [GOALS["train_throughput_ratio"].record(ratio, dev.type, quick, ok, note)]
    notes = [f"Setting: {note}; {_numerics_note(cfg, dev)}; both models in memory, timed in "
             "alternating rounds on one fixed batch.",
             "Both heads use the same loss (Soft Wing), so only the head differs."]
    return _envelope("training", dev, quick, {**p, **_numerics_params(cfg, dev)}, results,
                     goals, notes, host)


def project_wall_time(step_s: float, batch: int, images_per_epoch: int = PAPER_IMAGES,
                      epochs: int = PAPER_EPOCHS, per_epoch_s: float = 0.0) -> dict[str, float]:
    """Wall time of ``epochs`` epochs of ``images_per_epoch`` images, from one step's seconds.

    Batches per epoch are ``images_per_epoch // batch`` (the training loop drops the last,
    incomplete batch); ``per_epoch_s`` adds a fixed per-epoch cost (the shuffled order).
    """
    if step_s <= 0 or batch < 1 or images_per_epoch < batch or epochs < 1:
        raise ValueError(f"need step_s > 0 and images_per_epoch >= batch >= 1, epochs >= 1; got "
                         f"step_s={step_s}, batch={batch}, images={images_per_epoch}, "
                         f"epochs={epochs}")
    batches = images_per_epoch // batch
    epoch_s = batches * step_s + per_epoch_s
    return {"batches_per_epoch": batches, "epoch_s": epoch_s, "total_s": epochs * epoch_s,
            "total_min": epochs * epoch_s / 60}


def _epoch_order_seconds(images: int, repeats: int = 5) -> float:
    """Median time of one epoch's shuffled order (:func:`sccnb.data.pdb.epoch_indices`)."""
    from .data.pdb import epoch_indices

    ones = np.ones(images, dtype=np.int64)
    times = []
    for epoch in range(repeats):
        t0 = time.perf_counter()
        torch.as_tensor(epoch_indices(ones, epoch, 0))
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def bench_pipeline(device: str = "auto", *, quick: bool = False, input_size: int | None = None,
                   batch: int | None = None, width: int | None = None,
                   depth: int | None = None, rounds: int | None = None,
                   steps: int | None = None, warmup: int | None = None,
                   crops: int | None = None, amp: str = "auto",
                   channels_last: str = "auto") -> dict[str, Any]:
    """Data-pipeline overhead of the SCC model's training and the paper recipe's projection.

    Times, in interleaved rounds, (a) the full training step -- index cached uint8 crops on the
    device, :func:`~sccnb.data.augment.augment_batch`, ``normalize``, forward, loss, backward,
    SGD step and the loop's finite-loss check (which synchronises, as in training) -- and
    (b) the model step alone on a pre-made batch. Overhead = epoch time (a) / epoch time (b);
    the projection uses (a): it is what an epoch costs.
    """
    host = _HostWatch()
    dev = _resolve_device(device)
    p = _pick(dict(input_size=input_size, batch=batch, width=width, depth=depth,
                   rounds=rounds, steps=steps, warmup=warmup, crops=crops),
              _step_defaults(dev.type, quick))
    trainer = _Trainer(_config("scc", p, _numerics(amp, channels_last)), dev)
    cfg = trainer.cfg
    data = _Pipeline(p, dev, seed=1, channels_last=cfg.uses_channels_last(dev.type))
    x, target = data.next_batch()

    def full_step() -> None:
        _check_finite(trainer.step(*data.next_batch()), "pipeline/full step")

    times = _interleaved({"full_step": full_step,
                          "model_step": lambda: trainer.step(x, target)},
                         dev, p["rounds"], p["steps"], p["warmup"])
    full, model = _stats(times["full_step"]), _stats(times["model_step"])
    order_s = _epoch_order_seconds(PAPER_IMAGES, 2 if quick else 5)
    e2e = project_wall_time(full["median_s"], p["batch"], per_epoch_s=order_s)
    pure = project_wall_time(model["median_s"], p["batch"])
    overhead = e2e["epoch_s"] / pure["epoch_s"]
    results = {"full_step": full, "model_step": model,
               "step_ratio": full["median_s"] / model["median_s"],
               "epoch_order_s": order_s,
               "epoch_s_end_to_end": e2e["epoch_s"], "epoch_s_model_only": pure["epoch_s"],
               "epoch_overhead_ratio": overhead,
               "images_per_s_end_to_end": p["batch"] / full["median_s"],
               "projection": {"images_per_epoch": PAPER_IMAGES, "epochs": PAPER_EPOCHS,
                              "end_to_end": e2e, "model_only": pure}}
    ok, note = _matches(p, _PAPER_STEP, cfg)
    goals = [GOALS["pipeline_overhead"].record(overhead, dev.type, quick),
             GOALS["paper_recipe_minutes"].record(e2e["total_min"], dev.type, quick, ok, note)]
    notes = [f"Setting: {note}; full SCC model; {_numerics_note(cfg, dev)}; "
             f"{len(data.store.images)} random uint8 crops in a store on {dev.type}.",
             "Projection: training steps and the per-epoch shuffled order only; the per-epoch "
             "validation pass, checkpoint writes and PDB's over-sampling (more than "
             f"{PAPER_IMAGES:,} images per epoch) are not included.",
             "The learning-rate update and progress bar of the real loop are not timed "
             "(microseconds per step)."]
    return _envelope("pipeline", dev, quick, {**p, **_numerics_params(cfg, dev)}, results,
                     goals, notes, host)


# --- training at the CPU profiles' own scale -------------------------------------------------
_QUICK_PROFILE = dict(input_size=64, depth=18, width=8, batch_size=4)  # seconds, for tests
PROFILE_HEADS = ("scc", "fc")  # both heads train on these profiles (tables 5-8, real faces)


def _profile_defaults(quick: bool) -> dict[str, int]:
    """Rounds of the in-process comparison, repeats of the per-epoch work, and the worker
    comparison's steps and rounds (none when quick: each spawned process imports torch, which
    alone takes seconds; a test runs it on its own)."""
    if quick:
        return dict(rounds=2, steps=1, warmup=1, epoch_repeats=1, worker_warmup=1,
                    worker_steps=1, worker_rounds=0, crops=40)
    return dict(rounds=5, steps=4, warmup=2, epoch_repeats=3, worker_warmup=2,
                worker_steps=20, worker_rounds=2, crops=0)


def _profile_config(profile: str, quick: bool, head: str = "scc") -> TrainConfig:
    return resolve_config(profile, head=head, progress=False,
                          **(_QUICK_PROFILE if quick else {}))


def _profile_data(cfg: TrainConfig, crops: int) -> tuple[Any, Any]:
    """``(train, val)`` crops of the profile: its own data (:func:`sccnb.train.prepare_data`;
    SynthFace is generated once into the cache) when ``crops`` is 0, else that many random
    crops of the profile's side and layout, a tenth of them for validation. Crops are cached
    uint8 tensors either way, so their content does not change the speed."""
    if not crops:
        from .train import prepare_data

        data = prepare_data(cfg, splits=())
        return data.train, data.val
    from .data.datasets import DATASETS

    layout = DATASETS[cfg.dataset].layout
    store = _random_crops(crops, cfg.input_size, get_layout(layout).num_points,
                          torch.device("cpu"), torch.Generator().manual_seed(cfg.seed), layout)
    n_val = max(1, crops // 10)
    return store.subset(np.arange(n_val, crops)), store.subset(np.arange(n_val))


class _ProfileLoop:
    """One profile's training as :func:`sccnb.train.train` runs it, through the loop's own
    steps (:mod:`sccnb.train`): set up by :func:`~sccnb.train.setup_training` into ``folder``;
    the work of every batch (:func:`~sccnb.train.train_batch`: learning-rate schedule,
    ``make_batch``, ``train_step``, the finite-loss check, the epoch's tallies, the progress
    bar), the work of every epoch (:func:`~sccnb.train.begin_epoch`'s shuffled order,
    :func:`~sccnb.train.validation_nme`, :func:`~sccnb.train.save_best` and
    :func:`~sccnb.train.save_checkpoint`), and the model step alone on a ready batch."""

    def __init__(self, cfg: TrainConfig, train_crops, val_crops, folder: Path) -> None:
        from .data.prepare import Data

        self.state = setup_training(cfg, Data(train=train_crops, val=val_crops),
                                    torch.device("cpu"), run_dir=folder)
        # the row of one finished epoch, as the checkpoint after the first epoch holds
        self.state.history.append({"epoch": 0, "lr": lr_at(cfg, 0), "train_loss": 0.0,
                                   "images_per_s": 0.0, "seconds": 0.0, "val_nme": 0.0})
        self.batches_per_epoch = self.state.batches_per_epoch
        self.epoch = begin_epoch(self.state, 0)
        self.b = 0
        self.x, self.target = self._batch()

    def _batch(self) -> tuple[torch.Tensor, torch.Tensor]:
        s = self.state
        return make_batch(s.train_set, self.epoch.order[:s.cfg.batch_size], s.flip, s.aug,
                          self.epoch.gen, REF_SIZE, s.channels_last)

    def epoch_start(self) -> None:
        """The top of an epoch: training mode, the shuffled order, the augmentation stream."""
        begin_epoch(self.state, 0)

    def loop_step(self) -> None:
        """One batch of the loop, as ``train`` does it (the epoch's order wraps around)."""
        train_batch(self.state, self.epoch, self.b % self.batches_per_epoch)
        self.b += 1

    def model_step(self) -> None:
        """The model step alone (forward, loss, backward, optimiser) on a ready batch."""
        s = self.state
        train_step(s.net, s.opt, s.loss_fn, self.x, self.target, s.bf16)

    def batch_only(self) -> None:
        """``make_batch`` alone: index, augment, normalise."""
        self._batch()

    def validation(self) -> None:
        """The loop's validation pass (predict the validation crops, NME)."""
        validation_nme(self.state)
        self.state.net.train()

    def checkpoint(self) -> None:
        """The loop's writes at the end of an epoch with a new best (as in most early epochs):
        ``best.pt``, ``checkpoint.pt`` (model, optimiser, history) and ``history.csv``."""
        save_best(self.state)
        save_checkpoint(self.state, 0)


def _median_call(fn: Callable[[], object], repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def _profile_worker(profile: str, quick: bool, crops: int, threads: int, warmup: int,
                    steps: int, barrier, queue) -> None:
    """A spawned process: ``threads`` torch threads, the profile's loop; after ``warmup`` steps
    it waits for its siblings, then times ``steps`` loop steps and reports images/s."""
    import tempfile

    try:
        torch.set_num_threads(threads)
        cfg = _profile_config(profile, quick)
        with tempfile.TemporaryDirectory() as tmp:
            loop = _ProfileLoop(cfg, *_profile_data(cfg, crops), Path(tmp))
            for _ in range(warmup):
                loop.loop_step()
            barrier.wait(timeout=600)
            t0, c0 = time.perf_counter(), time.process_time()
            for _ in range(steps):
                loop.loop_step()
            wall = time.perf_counter() - t0
        queue.put(("ok", steps * cfg.batch_size / wall,
                   (time.process_time() - c0) / (wall * threads)))
    except BaseException:  # noqa: BLE001 -- reported to the parent, which raises
        import traceback

        barrier.abort()
        queue.put(("error", traceback.format_exc(), 0.0))


def _side_by_side(profile: str, quick: bool, crops: int, processes: int, threads: int,
                  warmup: int, steps: int) -> dict[str, Any]:
    """``processes`` spawned training processes of ``threads`` threads each, timed together:
    their summed images/s and each one's CPU utilisation."""
    import multiprocessing as mp
    import queue as queue_mod

    ctx = mp.get_context("spawn")
    barrier, results = ctx.Barrier(processes), ctx.Queue()
    procs = [ctx.Process(target=_profile_worker, args=(profile, quick, crops, threads, warmup,
                                                        steps, barrier, results))
             for _ in range(processes)]
    for proc in procs:
        proc.start()
    answers: list[tuple] = []
    deadline = time.monotonic() + 1800
    try:
        while len(answers) < processes:
            try:
                answers.append(results.get(timeout=2))
            except queue_mod.Empty:
                # a worker that died before answering (an import error, a kill) ends the wait
                dead = [p.exitcode for p in procs if p.exitcode not in (None, 0)]
                if dead or time.monotonic() > deadline:
                    raise RuntimeError(
                        f"benchmark profiles/{profile}: a worker process gave no answer (exit "
                        f"codes {[p.exitcode for p in procs]})") from None
    finally:
        for proc in procs:
            proc.join(timeout=60)
            if proc.is_alive():
                proc.terminate()
    errors = [a[1] for a in answers if a[0] != "ok"]
    if errors:
        raise RuntimeError(f"benchmark profiles/{profile}: a worker failed:\n{errors[0]}")
    return {"images_per_s": sum(a[1] for a in answers),
            "cpu_utilisation": [a[2] for a in answers]}


def _profile_run(profile: str, quick: bool, p: dict[str, int], head: str = "scc"
                 ) -> dict[str, Any]:
    """The in-process half of :func:`bench_profiles` for one profile and head (at the
    profile's threads)."""
    import tempfile

    cfg = _profile_config(profile, quick, head)
    threads_before = torch.get_num_threads()
    torch.set_num_threads(cfg.threads or threads_before)
    try:
        train_crops, val_crops = _profile_data(cfg, p["crops"])
        with tempfile.TemporaryDirectory() as tmp:
            loop = _ProfileLoop(cfg, train_crops, val_crops, Path(tmp))
            times = _interleaved({"loop_step": loop.loop_step, "model_step": loop.model_step,
                                  "make_batch": loop.batch_only}, torch.device("cpu"),
                                 p["rounds"], p["steps"], p["warmup"])
            epoch = {"order_s": _median_call(loop.epoch_start, p["epoch_repeats"]),
                     "validation_s": _median_call(loop.validation, p["epoch_repeats"]),
                     "checkpoint_s": _median_call(loop.checkpoint, p["epoch_repeats"])}
        threads = torch.get_num_threads()
    finally:
        torch.set_num_threads(threads_before)
    steps = {k: _stats(v) for k, v in times.items()}
    bpe, batch = loop.batches_per_epoch, cfg.batch_size
    model_s, loop_s = steps["model_step"]["median_s"], steps["loop_step"]["median_s"]
    batch_s = steps["make_batch"]["median_s"]
    epoch_model = bpe * model_s
    epoch_loop = bpe * loop_s  # what history.csv's images_per_s covers
    epoch_e2e = epoch_loop + sum(epoch.values())
    per_batch_ms = {"model_step": 1e3 * model_s, "make_batch": 1e3 * batch_s,
                    # lr schedule, finite check, .item(), progress bar (and timing noise)
                    "loop_rest": 1e3 * (loop_s - model_s - batch_s),
                    **{f"{k[:-2]}_per_batch": 1e3 * v / bpe for k, v in epoch.items()}}
    return {
        "config": {"head": cfg.head, "input_size": cfg.input_size, "depth": cfg.depth,
                   "width": cfg.width,
                   "batch": batch, "augment": cfg.augment, "optimizer": cfg.optimizer,
                   "pdb": cfg.pdb, **_numerics_params(cfg, torch.device("cpu"))},
        "data": "random crops" if p["crops"] else "the profile's own", "threads": threads,
        "train_faces": len(train_crops), "val_faces": len(val_crops),
        "batches_per_epoch": bpe, "steps": steps, "per_epoch_s": epoch,
        "epoch_s": {"model_only": epoch_model, "loop_batches": epoch_loop,
                    "end_to_end": epoch_e2e},
        "images_per_s": {"model_step": batch / model_s, "loop": batch / loop_s,
                         "end_to_end": bpe * batch / epoch_e2e},
        "loop_over_model": model_s / loop_s,
        "e2e_over_model": epoch_model / epoch_e2e,
        "breakdown_ms_per_batch": per_batch_ms,
        "breakdown_share_of_e2e": {k: v * bpe / 1e3 / epoch_e2e
                                   for k, v in per_batch_ms.items()},
    }


def bench_profiles(device: str = "cpu", *, quick: bool = False,
                   profiles: tuple[str, ...] = CPU_PROFILES, rounds: int | None = None,
                   steps: int | None = None, warmup: int | None = None,
                   epoch_repeats: int | None = None, worker_warmup: int | None = None,
                   worker_steps: int | None = None, worker_rounds: int | None = None,
                   crops: int | None = None) -> dict[str, Any]:
    """Training speed of the CPU profiles at their own scale (their input side, network width,
    batch, augmentation, optimiser and thread count -- not the paper's 256² model).

    For each profile and each head (SCC, FC), in one process at the profile's threads: the
    training loop's per-batch work and the model step alone on a ready batch (and
    ``make_batch`` alone), in interleaved rounds; then the loop's per-epoch work (shuffled
    order, validation pass, checkpoint writes). ``e2e_over_model`` = model-only epoch time /
    end-to-end epoch time, per head; the profile's is the worse head's (goal >= 0.85). Then
    two spawned 1-thread processes side by side against one 2-thread process (the SCC model),
    in alternating rounds: summed images/s of the loop's steps (goal >= 1: the study's default
    of two 1-thread workers on 2 cores; ``worker_rounds=0`` skips it, as ``quick`` does).
    Always on the CPU (``device`` must be ``cpu`` or auto). ``crops`` = 0 uses each profile's
    own training data; ``quick`` uses a tiny network and random crops.
    """
    if device not in ("auto", "cpu"):
        raise ValueError(f"the CPU profiles' benchmark runs on the CPU; got device {device!r}")
    host = _HostWatch(threads=1)
    p = _pick(dict(rounds=rounds, steps=steps, warmup=warmup, epoch_repeats=epoch_repeats,
                   worker_warmup=worker_warmup, worker_steps=worker_steps,
                   worker_rounds=worker_rounds, crops=crops), _profile_defaults(quick))
    results: dict[str, Any] = {}
    for prof in profiles:
        heads = {head: _profile_run(prof, quick, p, head) for head in PROFILE_HEADS}
        results[prof] = {"heads": heads,
                         "e2e_over_model": min(h["e2e_over_model"] for h in heads.values())}
    host.stop()  # the rest runs in child processes
    for prof in profiles if p["worker_rounds"] else ():
        rounds_out = []
        for r in range(p["worker_rounds"]):
            order = [("one_2thread", 1, 2), ("two_1thread", 2, 1)]
            row = {}
            for name, procs, threads in order if r % 2 == 0 else order[::-1]:
                row[name] = _side_by_side(prof, quick, p["crops"], procs, threads,
                                          p["worker_warmup"], p["worker_steps"])
            rounds_out.append(row)
        one = statistics.median(r["one_2thread"]["images_per_s"] for r in rounds_out)
        two = statistics.median(r["two_1thread"]["images_per_s"] for r in rounds_out)
        results[prof]["workers"] = {"one_2thread_images_per_s": one,
                                    "two_1thread_images_per_s": two,
                                    "two_over_one": two / one, "rounds": rounds_out}
    dev = torch.device("cpu")
    two_cores = os.cpu_count() == 2
    goals = []
    for prof in profiles:
        res = results[prof]
        workers = res["workers"]["two_over_one"] if "workers" in res else None
        # the goal holds for the profile when it holds for its worse head (the faster model
        # step, FC's, leaves the pipeline the larger share)
        goals += [GOALS[f"e2e_over_model_{prof}"].record(res["e2e_over_model"], dev.type, quick),
                  GOALS[f"two_workers_over_one_{prof}"].record(
                      workers, dev.type, quick, two_cores, f"{os.cpu_count()} CPUs")]
    notes = ["Each profile as configured (input side, width, batch, augmentation, optimiser, "
             "its torch threads), SCC and FC heads, through the training loop's own steps "
             "(setup_training, begin_epoch, train_batch, validation_nme, save_best, "
             "save_checkpoint; sccnb.train). "
             "End-to-end epoch = batches_per_epoch x the loop's per-batch median + the "
             "per-epoch order, "
             "validation and checkpoint medians; history.csv's images_per_s covers the "
             "batches only (loop_over_model).",
             "breakdown_ms_per_batch: loop_rest = loop step - model step - make_batch (the "
             "schedule, finite check, .item(), progress bar; within timing noise it can be "
             "negative); per-epoch costs are spread over the epoch's batches.",
             "Workers: spawned processes time the loop's per-batch work after a start barrier; "
             "their images/s are summed. Per-process CPU utilisation is recorded: below 0.8 "
             "other jobs took the cores."]
    return _envelope("profiles", dev, quick, {**p, "profiles": list(profiles)}, results,
                     goals, notes, host)


def _inference_round(models: dict[str, torch.nn.Module], p: dict[str, int],
                     dev: torch.device, cfg: TrainConfig, reverse: bool
                     ) -> dict[str, dict[str, float]]:
    """One round of every inference measurement for each model (order reversed if asked): fp32
    always, bf16 where ``cfg`` uses it on this device; the config's memory format throughout.
    The CUDA-graph latency is measured separately (:func:`_graph_latency`)."""
    out: dict[str, dict[str, float]] = {}
    size, cl = p["input_size"], cfg.uses_channels_last(dev.type)
    for name in list(models)[::-1] if reverse else list(models):
        model = models[name]
        row = {"latency_ms": 1e3 * time_forward(model, 1, size, dev, p["repeats"],
                                                channels_last=cl),
               "throughput": p["batch"] / time_forward(model, p["batch"], size, dev,
                                                       p["batch_repeats"], channels_last=cl)}
        if cfg.uses_bf16(dev.type):
            row["latency_ms_bf16"] = 1e3 * time_forward(model, 1, size, dev, p["repeats"],
                                                        bf16=True, channels_last=cl)
            row["throughput_bf16"] = p["batch"] / time_forward(
                model, p["batch"], size, dev, p["batch_repeats"], bf16=True, channels_last=cl)
        out[name] = row
    return out


def _graph_latency(model: torch.nn.Module, p: dict[str, int], dev: torch.device,
                   cfg: TrainConfig) -> float | NotAvailable:
    """Median over rounds of the batch-1 latency (ms) replayed from a CUDA graph, in the
    config's numerics; "not available" off CUDA (:func:`sccnb.device.cuda_graph_latency`)."""
    values = []
    for _ in range(p["rounds"]):
        seconds = cuda_graph_latency(model, 1, p["input_size"], dev, p["repeats"],
                                     bf16=cfg.uses_bf16(dev.type),
                                     channels_last=cfg.uses_channels_last(dev.type))
        if isinstance(seconds, NotAvailable):
            return seconds
        values.append(1e3 * seconds)
    return statistics.median(values)


def bench_inference(device: str = "auto", *, quick: bool = False,
                    input_size: int | None = None, batch: int | None = None,
                    width: int | None = None, depth: int | None = None,
                    rounds: int | None = None, repeats: int | None = None,
                    batch_repeats: int | None = None, amp: str = "auto",
                    channels_last: str = "auto") -> dict[str, Any]:
    """Inference latency and throughput of SCC and the FC baseline, in alternating rounds.

    Every number is the median over rounds of :func:`sccnb.efficiency.time_forward`'s median:
    batch-1 latency and batch-``batch`` throughput in fp32; where the numerics use bf16 (by
    default on CUDA; ``amp="bf16"`` anywhere) also bf16; and the batch-1 latency replayed from
    a CUDA graph (``latency_ms_bf16_graph``; "not available" off CUDA).
    """
    host = _HostWatch()
    dev = _resolve_device(device)
    p = _pick(dict(input_size=input_size, batch=batch, width=width, depth=depth,
                   rounds=rounds, repeats=repeats, batch_repeats=batch_repeats),
              _inference_defaults(dev.type, quick))
    num = _numerics(amp, channels_last)
    cfg = _config("scc", p, num)
    models = {h: _model(_config(h, p, num), dev).eval() for h in ("scc", "fc")}
    per_round = [_inference_round(models, p, dev, cfg, reverse=r % 2 == 1)
                 for r in range(p["rounds"])]
    results: dict[str, Any] = {}
    for name, model in models.items():
        keys = per_round[0][name]
        results[name] = {k: statistics.median(r[name][k] for r in per_round) for k in keys}
        results[name]["rounds"] = [r[name] for r in per_round]
        results[name]["params_m"] = count_parameters(model) / 1e6
        results[name]["gmacs"] = count_macs(model, p["input_size"]) / 1e9
    graph_key = "latency_ms_bf16_graph" if cfg.uses_bf16(dev.type) else "latency_ms_graph"
    for name, model in models.items():
        graph = _graph_latency(model, p, dev, cfg)
        if isinstance(graph, NotAvailable):  # one device-wide reason, not one per model
            _put(results, graph_key, graph)
            break
        results[name][graph_key] = graph
    ratios = [r["scc"]["latency_ms"] / r["fc"]["latency_ms"] for r in per_round]
    results["latency_ratio_scc_over_fc"] = statistics.median(ratios)
    results["latency_ratio_rounds"] = ratios
    scc = results["scc"]
    paper_model = {k: _PAPER_STEP[k] for k in ("input_size", "depth", "width")}
    model_ok, note = _matches(p, paper_model, cfg)
    batch_ok, _ = _matches(p, {**paper_model, "batch": 256}, cfg)
    goals = [
        GOALS["latency_b1_bf16_graph_ms"].record(scc.get("latency_ms_bf16_graph"), dev.type,
                                                 quick, model_ok, note),
        GOALS["throughput_b256_bf16"].record(scc.get("throughput_bf16"), dev.type, quick,
                                             batch_ok, note),
        GOALS["cpu_latency_ratio"].record(results["latency_ratio_scc_over_fc"], dev.type, quick,
                                          model_ok, note),
    ]
    notes = [f"{note}; {_numerics_note(cfg, dev)}; {p['rounds']} rounds, "
             f"{p['repeats']} timed batch-1 runs and {p['batch_repeats']} timed batch-"
             f"{p['batch']} runs per round and model; eval mode, no grad.",
             "The latency ratio is the median of the per-round ratios; the CUDA-graph latency "
             "is measured after the rounds, one model after the other."]
    return _envelope("inference", dev, quick, {**p, **_numerics_params(cfg, dev)}, results,
                     goals, notes, host)


def bench_synth(*, quick: bool = False, n: int | None = None, size: int = 256,
                seed: int = 0) -> dict[str, Any]:
    """SynthFace generation speed on one core (:func:`sccnb.data.synth.benchmark`)."""
    from .data.synth import benchmark

    host = _HostWatch(threads=1)  # the generator runs on one core
    n = n if n is not None else (3 if quick else 200)
    result = benchmark(n=n, size=size, seed=seed)
    dev = torch.device("cpu")
    goals = [GOALS["synth_faces_per_s"].record(result["faces_per_s"], dev.type, quick,
                                               size == 256, f"{size}²")]
    notes = ["Generation + JPEG encoding of one face at a time, OpenCV limited to one thread "
             "(per-core speed); the shape model is loaded before timing."]
    return _envelope("synth", dev, quick, {"n": n, "size": size, "seed": seed}, result, goals,
                     notes, host)


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
    import json

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
            device=device, quick=quick, **_numerics(amp, channels_last)))
    return write_summary(out)


# --- command line ----------------------------------------------------------------------------
def add_arguments(parser: argparse.ArgumentParser) -> None:
    from .cli import at_least

    parser.description = (
        "Measure training throughput (SCC vs FC), data-pipeline overhead and the paper "
        "recipe's projected wall time, inference latency/throughput, SynthFace generation "
        "speed and the CPU profiles' training speed at their own scale; write "
        "results/bench/<name>.json and summary.json. Numbers are measured, "
        "never asserted: a missed goal is reported, not an error.")
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:1, ...")
    parser.add_argument("--out", default="results/bench", help="output folder")
    parser.add_argument("--quick", action="store_true",
                        help="tiny settings (seconds; for tests): goals are then n/a")
    parser.add_argument("--only", action="append", choices=list(BENCHMARKS), metavar="NAME",
                        help=f"run only this benchmark (repeatable): {', '.join(BENCHMARKS)}")
    parser.add_argument("--threads", type=at_least(0), default=0,
                        help="torch CPU threads (default 0 = torch's default, all cores)")
    parser.add_argument("--amp", default="auto", choices=AMP_CHOICES,
                        help="precision of the model benchmarks: auto = bf16 autocast on "
                        "CUDA, fp32 elsewhere; bf16 or off on any device")
    parser.add_argument("--channels-last", default="auto", choices=CHANNELS_LAST_CHOICES,
                        help="memory format: auto = channels_last on CUDA only")


def _print_summary(summary: dict[str, Any]) -> None:
    for g in summary["goals"]:
        value = "—" if g["value"] is None else f"{g['value']:.4g}"
        print(f"  {g['name']:26s} {value:>10s} {g['unit']:9s} goal {g['op']} "
              f"{g['threshold']:g}  [{g['status']}]")
    print(f"{summary['goals_met']} of {summary['goals_applicable']} applicable goals met")


def run(args: argparse.Namespace) -> int:
    if args.threads:
        torch.set_num_threads(args.threads)
    summary = run_all(args.out, args.device, args.quick, args.only,
                      progress=lambda name: print(f"bench {name} ...", flush=True),
                      amp=args.amp, channels_last=args.channels_last)
    print(f"wrote {args.out}/ ({', '.join(summary['benchmarks'])}, summary.json)")
    _print_summary(summary)
    return 0
