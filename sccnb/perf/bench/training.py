"""The paper-sized training step: SCC against the FC baseline (:func:`bench_training`), and the
data pipeline's overhead with the paper recipe's projected wall time (:func:`bench_pipeline`).
A step is the training loop's own :func:`sccnb.training.train.make_batch` and
:func:`sccnb.training.train.train_step`, on random stand-in crops."""

from __future__ import annotations

import math
import statistics
import time
from typing import Any

import numpy as np
import torch

from ...layouts import flip_permutation, get_layout
from ...training.config import TrainConfig
from ...training.losses import build_loss
from ...training.train import REF_SIZE, augment_preset, build_optimizer, make_batch, train_step
from ..device import peak_memory_gib, reset_peak_memory
from ..efficiency import count_parameters
from .common import (LAYOUT, HostWatch, bench_model, envelope, interleaved, matches_setting,
                     numerics, numerics_note, numerics_params, paper_config, pick_settings,
                     put_result, random_crops, resolve_device, timing_stats)
from .goals import GOALS, PAPER_EPOCHS, PAPER_IMAGES, PAPER_STEP

__all__ = ["bench_training", "bench_pipeline", "project_wall_time"]


# --- the training step -----------------------------------------------------------------------
def _step_defaults(device_type: str, quick: bool) -> dict[str, int]:
    """Training/pipeline settings: paper-sized on CUDA, batch 8 on a CPU, tiny when quick."""
    if quick:
        return dict(input_size=64, batch=2, depth=18, width=8, rounds=2, steps=1, warmup=1,
                    crops=8)
    if device_type == "cuda":
        return dict(PAPER_STEP, rounds=10, steps=10, warmup=10, crops=1024)
    return dict(input_size=256, batch=8, depth=34, width=64, rounds=5, steps=1, warmup=1,
                crops=64)


class _Trainer:
    """One model with its optimiser and loss, stepping with :func:`sccnb.training.train.train_step`
    (the very function the training loop calls)."""

    def __init__(self, cfg: TrainConfig, device: torch.device) -> None:
        self.cfg, self.device = cfg, device
        self.model = bench_model(cfg, device)
        self.opt = build_optimizer(cfg, self.model)
        self.loss_fn = build_loss(cfg.loss, cfg.loss_epsilon)

    def step(self, x: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """Forward, loss, backward, optimiser step on a ready network input."""
        return train_step(self.model, self.opt, self.loss_fn, x, target,
                          self.cfg.uses_bf16(self.device.type))


class _Pipeline:
    """The data side of a training step, via :func:`sccnb.training.train.make_batch` (as in
    training): index the cached uint8 crops on the device, augment (Sec. 4.2), normalise."""

    def __init__(self, p: dict[str, int], device: torch.device, seed: int = 0,
                 channels_last: bool = False) -> None:
        self.device, self.batch, self.channels_last = device, p["batch"], channels_last
        self.gen = torch.Generator().manual_seed(seed)
        n = get_layout(LAYOUT).num_points
        self.store = random_crops(max(p["crops"], p["batch"]), p["input_size"], n, device,
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
    names. Returns the JSON dict (also written by :func:`sccnb.perf.bench.run_all`).
    """
    host = HostWatch()
    dev = resolve_device(device)
    p = pick_settings(dict(input_size=input_size, batch=batch, width=width, depth=depth,
                           rounds=rounds, steps=steps, warmup=warmup),
                      _step_defaults(dev.type, quick))
    num = numerics(amp, channels_last)
    trainers = {head: _Trainer(paper_config(head, p, num), dev) for head in ("scc", "fc")}
    cfg = trainers["scc"].cfg
    data = _Pipeline(p, dev, channels_last=cfg.uses_channels_last(dev.type))
    x, target = data.next_batch()
    reset_peak_memory(dev)
    times = interleaved({h: (lambda t=t: t.step(x, target)) for h, t in trainers.items()},
                        dev, p["rounds"], p["steps"], p["warmup"])
    for head, t in trainers.items():
        _check_finite(t.step(x, target), f"training/{head}")
    results: dict[str, Any] = {}
    for head, t in trainers.items():
        s = timing_stats(times[head])
        results[head] = {"step": s, "images_per_s": p["batch"] / s["median_s"],
                         "params_m": count_parameters(t.model) / 1e6}
    ratio = results["scc"]["images_per_s"] / results["fc"]["images_per_s"]
    results["throughput_ratio_scc_over_fc"] = ratio
    put_result(results, "peak_memory_gib_both_models", peak_memory_gib(dev))
    ok, note = matches_setting(p, PAPER_STEP, cfg)
    goals = [GOALS["train_throughput_ratio"].record(ratio, dev.type, quick, ok, note)]
    notes = [f"Setting: {note}; {numerics_note(cfg, dev)}; both models in memory, timed in "
             "alternating rounds on one fixed batch.",
             "Both heads use the same loss (Soft Wing), so only the head differs."]
    return envelope("training", dev, quick, {**p, **numerics_params(cfg, dev)}, results,
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
    from ...data.pdb import epoch_indices

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
    host = HostWatch()
    dev = resolve_device(device)
    p = pick_settings(dict(input_size=input_size, batch=batch, width=width, depth=depth,
                           rounds=rounds, steps=steps, warmup=warmup, crops=crops),
                      _step_defaults(dev.type, quick))
    trainer = _Trainer(paper_config("scc", p, numerics(amp, channels_last)), dev)
    cfg = trainer.cfg
    data = _Pipeline(p, dev, seed=1, channels_last=cfg.uses_channels_last(dev.type))
    x, target = data.next_batch()

    def full_step() -> None:
        _check_finite(trainer.step(*data.next_batch()), "pipeline/full step")

    times = interleaved({"full_step": full_step,
                         "model_step": lambda: trainer.step(x, target)},
                        dev, p["rounds"], p["steps"], p["warmup"])
    full, model = timing_stats(times["full_step"]), timing_stats(times["model_step"])
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
    ok, note = matches_setting(p, PAPER_STEP, cfg)
    goals = [GOALS["pipeline_overhead"].record(overhead, dev.type, quick),
             GOALS["paper_recipe_minutes"].record(e2e["total_min"], dev.type, quick, ok, note)]
    notes = [f"Setting: {note}; full SCC model; {numerics_note(cfg, dev)}; "
             f"{len(data.store.images)} random uint8 crops in a store on {dev.type}.",
             "Projection: training steps and the per-epoch shuffled order only; the per-epoch "
             "validation pass, checkpoint writes and PDB's over-sampling (more than "
             f"{PAPER_IMAGES:,} images per epoch) are not included.",
             "The learning-rate update and progress bar of the real loop are not timed "
             "(microseconds per step)."]
    return envelope("pipeline", dev, quick, {**p, **numerics_params(cfg, dev)}, results,
                    goals, notes, host)
