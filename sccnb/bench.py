"""Benchmarks: training and inference speed, data-pipeline overhead, SynthFace generation.

``python -m sccnb bench`` (``make bench``) measures and writes one JSON per benchmark into
``results/bench/`` -- ``training.json``, ``pipeline.json``, ``inference.json``, ``synth.json`` --
and a ``summary.json`` of every goal. A benchmark *measures*; it never fails because a goal is
missed. Each file records the numbers, the parameters, the device, the host's load average
before and after, the goals with a computed verdict, and :func:`sccnb.provenance.provenance`.

The goals (the project's performance issue; :data:`GOALS`):

* training throughput of the full SCC model >= 0.8 x the ResNet34 + FC baseline, both measured
  in the same process at 256², batch 64, on a GPU;
* end-to-end training epoch <= 1.1 x the model steps alone (data pipeline overhead);
* the paper's recipe (Sec. 4.2: 7,500 WFLW training faces x 500 epochs, batch 64, 256²)
  projected from the measured end-to-end step: <= 30 min on one H100/H200;
* inference: batch-1 latency (bf16, replayed from a CUDA graph) <= 1.5 ms and batch-256 bf16
  throughput >= 12,000 images/s on a GPU; on a CPU, batch-1 fp32 latency at 256² of SCC
  <= 1.25 x the FC baseline's, measured in the same run;
* SynthFace generation >= 100 faces/s per core at 256², JPEG encoding included.

How things are measured (choices the issue leaves open):

* **Same code as training.** Models are built by :func:`sccnb.train.build_for` from a
  :class:`~sccnb.train.TrainConfig` of the ``paper`` profile; a training step calls the
  training loop's own :func:`sccnb.train.make_batch` and :func:`sccnb.train.train_step`
  (bf16 autocast and channels_last on CUDA, fp32 on CPU;
  Soft Wing on float32 predictions in the 256-px frame; SGD with momentum and weight decay).
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
  channels_last and the CUDA-graph replay on CUDA) and :func:`~sccnb.efficiency.count_macs`.
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

from .efficiency import count_macs, count_parameters, stand_in_shapes, time_forward
from .layouts import flip_permutation, get_layout
from .losses import build_loss
from .provenance import device_name, provenance, write_json
from .train import (TrainConfig, _optimizer, augment_preset, build_for, make_batch,
                    resolve_config, train_step)

__all__ = ["Goal", "GOALS", "BENCHMARKS", "bench_training", "bench_pipeline", "bench_inference",
           "bench_synth", "project_wall_time", "run_all", "write_summary", "add_arguments", "run"]

LAYOUT = "wflw98"  # WFLW's 98 points: the paper's headline benchmark
REF_SIZE = 256  # the losses' pixel frame (Sec. 4.2); targets are scaled to it
PAPER_IMAGES = 7500  # WFLW training faces
PAPER_EPOCHS = 500  # Sec. 4.2


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
]}

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


def _matches(p: dict[str, int], want: dict[str, int]) -> tuple[bool, str]:
    """Whether settings ``p`` have every value of ``want``; and ``p`` in words."""
    note = f"{p['input_size']}², batch {p['batch']}, ResNet{p['depth']} width {p['width']}"
    return all(p[k] == v for k, v in want.items()), note


# --- timing helpers --------------------------------------------------------------------------
def _synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


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
    _synchronize(device)
    names = list(fns)
    times: dict[str, list[float]] = {name: [] for name in names}
    for r in range(rounds):
        for name in names if r % 2 == 0 else names[::-1]:
            _synchronize(device)
            t0 = time.perf_counter()
            for _ in range(steps):
                fns[name]()
            _synchronize(device)
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

    @staticmethod
    def snapshot() -> dict[str, Any]:
        return {"loadavg": list(os.getloadavg()), "cpu_count": os.cpu_count(),
                "torch_threads": torch.get_num_threads(),
                "cudnn_benchmark": torch.backends.cudnn.benchmark}

    def finish(self) -> dict[str, Any]:
        wall = time.perf_counter() - self._wall
        cpu = time.process_time() - self._cpu
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


# --- the training step -----------------------------------------------------------------------
def _config(head: str, p: dict[str, int]) -> TrainConfig:
    return resolve_config("paper", head=head, input_size=p["input_size"],
                          batch_size=p["batch"], depth=p["depth"], width=p["width"])


def _model(cfg: TrainConfig, device: torch.device) -> torch.nn.Module:
    model = build_for(cfg, shapes=stand_in_shapes(cfg.num_landmarks)).to(device)
    if device.type == "cuda":
        model = model.to(memory_format=torch.channels_last)
    return model.train()


class _Trainer:
    """One model with its optimiser and loss, stepping with :func:`sccnb.train.train_step`
    (the very function the training loop calls)."""

    def __init__(self, cfg: TrainConfig, device: torch.device) -> None:
        self.cfg, self.device = cfg, device
        self.model = _model(cfg, device)
        self.opt = _optimizer(cfg, self.model)
        self.loss_fn = build_loss(cfg.loss, cfg.loss_epsilon)

    def step(self, x: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """Forward, loss, backward, optimiser step on a ready network input."""
        return train_step(self.model, self.opt, self.loss_fn, x, target)


class _Pipeline:
    """The data side of a training step, via :func:`sccnb.train.make_batch` (as in training):
    index the cached uint8 crops on the device, augment (Sec. 4.2), normalise."""

    def __init__(self, p: dict[str, int], device: torch.device, seed: int = 0) -> None:
        self.device, self.batch = device, p["batch"]
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
        return make_batch(self.store, idx, self.flip, self.aug, self.gen, REF_SIZE)


def _random_crops(count: int, size: int, num_points: int, device: torch.device,
                  generator: torch.Generator):
    """A CropSet of random uint8 crops, on ``device``, standing in for cached faces."""
    from .data.crops import CropSet

    images = torch.randint(0, 256, (count, 3, size, size), dtype=torch.uint8,
                           generator=generator)
    points = (0.25 + 0.5 * torch.rand((count, num_points, 2), generator=generator)) * size
    return CropSet(images=images, landmarks=points, to_image=torch.zeros(count, 2, 3),
                   names=[str(i) for i in range(count)], attributes={}, occluded=None,
                   layout=LAYOUT, dataset="random", split="bench", size=size).to(device)


def _check_finite(loss: torch.Tensor, what: str) -> float:
    value = loss.item()
    if not math.isfinite(value):
        raise RuntimeError(f"benchmark {what}: the training loss became {value}")
    return value


# --- benchmarks ------------------------------------------------------------------------------
def bench_training(device: str = "auto", *, quick: bool = False, input_size: int | None = None,
                   batch: int | None = None, width: int | None = None,
                   depth: int | None = None, rounds: int | None = None,
                   steps: int | None = None, warmup: int | None = None) -> dict[str, Any]:
    """Training throughput of the full SCC model and the FC baseline, measured in interleaved
    rounds on the same pre-made batch (model step only: forward, loss, backward, SGD step).

    ``None`` arguments take the device's defaults (paper setting on CUDA; batch 8 on a CPU;
    tiny when ``quick``). Returns the JSON dict (also written by :func:`run_all`).
    """
    host = _HostWatch()
    dev = _resolve_device(device)
    p = _pick(dict(input_size=input_size, batch=batch, width=width, depth=depth,
                   rounds=rounds, steps=steps, warmup=warmup), _step_defaults(dev.type, quick))
    data = _Pipeline(p, dev)
    x, target = data.next_batch()
    trainers = {head: _Trainer(_config(head, p), dev) for head in ("scc", "fc")}
    if dev.type == "cuda":
        torch.cuda.reset_peak_memory_stats(dev)
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
    if dev.type == "cuda":
        results["peak_memory_gib_both_models"] = torch.cuda.max_memory_allocated(dev) / 2**30
    ok, note = _matches(p, _PAPER_STEP)
    goals = [GOALS["train_throughput_ratio"].record(ratio, dev.type, quick, ok, note)]
    notes = [f"Setting: {note}; {'bf16 autocast + channels_last' if dev.type == 'cuda' else 'fp32'}"
             "; both models in memory, timed in alternating rounds on one fixed batch.",
             "Both heads use the same loss (Soft Wing), so only the head differs."]
    return _envelope("training", dev, quick, p, results, goals, notes, host)


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
                   crops: int | None = None) -> dict[str, Any]:
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
    data = _Pipeline(p, dev, seed=1)
    trainer = _Trainer(_config("scc", p), dev)
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
    ok, note = _matches(p, _PAPER_STEP)
    goals = [GOALS["pipeline_overhead"].record(overhead, dev.type, quick),
             GOALS["paper_recipe_minutes"].record(e2e["total_min"], dev.type, quick, ok, note)]
    notes = [f"Setting: {note}; full SCC model; {len(data.store.images)} random uint8 crops in "
             f"a store on {dev.type}.",
             "Projection: training steps and the per-epoch shuffled order only; the per-epoch "
             "validation pass, checkpoint writes and PDB's over-sampling (more than "
             f"{PAPER_IMAGES:,} images per epoch) are not included.",
             "The learning-rate update and progress bar of the real loop are not timed "
             "(microseconds per step)."]
    return _envelope("pipeline", dev, quick, p, results, goals, notes, host)


def _inference_round(models: dict[str, torch.nn.Module], p: dict[str, int],
                     dev: torch.device, reverse: bool) -> dict[str, dict[str, float]]:
    """One round of every inference measurement for each model (order reversed if asked)."""
    out: dict[str, dict[str, float]] = {}
    size = p["input_size"]
    for name in list(models)[::-1] if reverse else list(models):
        model = models[name].to(memory_format=torch.contiguous_format)
        row = {"latency_ms": 1e3 * time_forward(model, 1, size, dev, p["repeats"]),
               "throughput": p["batch"] / time_forward(model, p["batch"], size, dev,
                                                       p["batch_repeats"])}
        if dev.type == "cuda":
            row["latency_ms_bf16"] = 1e3 * time_forward(model, 1, size, dev, p["repeats"],
                                                        bf16=True)
            row["latency_ms_bf16_graph"] = 1e3 * time_forward(
                model, 1, size, dev, p["repeats"], bf16=True, cuda_graph=True)
            row["throughput_bf16"] = p["batch"] / time_forward(
                model, p["batch"], size, dev, p["batch_repeats"], bf16=True)
        out[name] = row
    return out


def bench_inference(device: str = "auto", *, quick: bool = False,
                    input_size: int | None = None, batch: int | None = None,
                    width: int | None = None, depth: int | None = None,
                    rounds: int | None = None, repeats: int | None = None,
                    batch_repeats: int | None = None) -> dict[str, Any]:
    """Inference latency and throughput of SCC and the FC baseline, in alternating rounds.

    Every number is the median over rounds of :func:`sccnb.efficiency.time_forward`'s median:
    batch-1 latency and batch-``batch`` throughput in fp32; on CUDA also bf16 (channels_last),
    bf16 replayed from a CUDA graph, and bf16 throughput.
    """
    host = _HostWatch()
    dev = _resolve_device(device)
    p = _pick(dict(input_size=input_size, batch=batch, width=width, depth=depth,
                   rounds=rounds, repeats=repeats, batch_repeats=batch_repeats),
              _inference_defaults(dev.type, quick))
    models = {h: _model(_config(h, p), dev).eval() for h in ("scc", "fc")}
    per_round = [_inference_round(models, p, dev, reverse=r % 2 == 1)
                 for r in range(p["rounds"])]
    results: dict[str, Any] = {}
    for name, model in models.items():
        keys = per_round[0][name]
        results[name] = {k: statistics.median(r[name][k] for r in per_round) for k in keys}
        results[name]["rounds"] = [r[name] for r in per_round]
        results[name]["params_m"] = count_parameters(model) / 1e6
        results[name]["gmacs"] = count_macs(model, p["input_size"]) / 1e9
    ratios = [r["scc"]["latency_ms"] / r["fc"]["latency_ms"] for r in per_round]
    results["latency_ratio_scc_over_fc"] = statistics.median(ratios)
    results["latency_ratio_rounds"] = ratios
    scc = results["scc"]
    paper_model = {k: _PAPER_STEP[k] for k in ("input_size", "depth", "width")}
    model_ok, note = _matches(p, paper_model)
    batch_ok, _ = _matches(p, {**paper_model, "batch": 256})
    goals = [
        GOALS["latency_b1_bf16_graph_ms"].record(scc.get("latency_ms_bf16_graph"), dev.type,
                                                 quick, model_ok, note),
        GOALS["throughput_b256_bf16"].record(scc.get("throughput_bf16"), dev.type, quick,
                                             batch_ok, note),
        GOALS["cpu_latency_ratio"].record(results["latency_ratio_scc_over_fc"], dev.type, quick,
                                          model_ok, note),
    ]
    notes = [f"{note}; {p['rounds']} rounds, "
             f"{p['repeats']} timed batch-1 runs and {p['batch_repeats']} timed batch-"
             f"{p['batch']} runs per round and model; eval mode, no grad.",
             "The latency ratio is the median of the per-round ratios."]
    return _envelope("inference", dev, quick, p, results, goals, notes, host)


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
    "synth": lambda device="auto", quick=False: bench_synth(quick=quick),  # CPU work always
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
            ) -> dict[str, Any]:
    """Run the benchmarks (all, or those named in ``only``), write ``<name>.json`` for each
    and ``summary.json``; return the summary."""
    names = list(BENCHMARKS) if not only else list(dict.fromkeys(only))
    unknown = sorted(set(names) - set(BENCHMARKS))
    if unknown:
        raise ValueError(f"unknown benchmark(s) {unknown}; supported: {list(BENCHMARKS)}")
    out = Path(out_dir)
    for name in names:
        if progress:
            progress(name)
        write_json(out / f"{name}.json", BENCHMARKS[name](device=device, quick=quick))
    return write_summary(out)


# --- command line ----------------------------------------------------------------------------
def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.description = (
        "Measure training throughput (SCC vs FC), data-pipeline overhead and the paper "
        "recipe's projected wall time, inference latency/throughput and SynthFace generation "
        "speed; write results/bench/<name>.json and summary.json. Numbers are measured, "
        "never asserted: a missed goal is reported, not an error.")
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:1, ...")
    parser.add_argument("--out", default="results/bench", help="output folder")
    parser.add_argument("--quick", action="store_true",
                        help="tiny settings (seconds; for tests): goals are then n/a")
    parser.add_argument("--only", action="append", choices=list(BENCHMARKS), metavar="NAME",
                        help=f"run only this benchmark (repeatable): {', '.join(BENCHMARKS)}")
    parser.add_argument("--threads", type=int, default=0,
                        help="torch CPU threads (default 0 = torch's default, all cores)")


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
                      progress=lambda name: print(f"bench {name} ...", flush=True))
    print(f"wrote {args.out}/ ({', '.join(summary['benchmarks'])}, summary.json)")
    _print_summary(summary)
    return 0
