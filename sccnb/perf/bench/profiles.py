"""Training at the CPU profiles' own scale (:func:`bench_profiles`): the ``cpu`` and
``real300w_cpu`` profiles as configured, driven through the training loop's own steps
(:func:`sccnb.training.train.setup_training`, :func:`~sccnb.training.train.begin_epoch`,
:func:`~sccnb.training.train.train_batch`, :func:`~sccnb.training.train.validation_nme`,
:func:`~sccnb.training.train.save_best`, :func:`~sccnb.training.train.save_checkpoint`), and two
1-thread training processes side by side against one 2-thread process."""

from __future__ import annotations

import os
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ...data.prepare import Data, prepare_data
from ...layouts import get_layout
from ...training.config import TrainConfig, resolve_config
from ...training.train import (REF_SIZE, begin_epoch, lr_at, make_batch, save_best, save_checkpoint,
                               setup_training, train_batch, train_step, validation_nme)
from .common import (HostWatch, envelope, interleaved, numerics_params, pick_settings, random_crops,
                     timing_stats)
from .goals import CPU_PROFILES, GOALS

__all__ = ["bench_profiles", "PROFILE_HEADS"]


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
    """``(train, val)`` crops of the profile: its own data (:func:`sccnb.data.prepare.prepare_data`;
    SynthFace is generated once into the cache) when ``crops`` is 0, else that many random
    crops of the profile's side and layout, a tenth of them for validation. Crops are cached
    uint8 tensors either way, so their content does not change the speed."""
    if not crops:
        data = prepare_data(cfg, splits=())
        return data.train, data.val
    from ...data.datasets import DATASETS

    layout = DATASETS[cfg.dataset].layout
    store = random_crops(crops, cfg.input_size, get_layout(layout).num_points,
                         torch.device("cpu"), torch.Generator().manual_seed(cfg.seed), layout)
    n_val = max(1, crops // 10)
    return store.subset(np.arange(n_val, crops)), store.subset(np.arange(n_val))


class _ProfileLoop:
    """One profile's training as :func:`sccnb.training.train.train` runs it, through the loop's own
    steps (:mod:`sccnb.training.train`): set up by :func:`~sccnb.training.train.setup_training` into
    ``folder``; the work of every batch (:func:`~sccnb.training.train.train_batch`: learning-rate
    schedule, ``make_batch``, ``train_step``, the finite-loss check, the epoch's tallies, the
    progress bar), the work of every epoch (:func:`~sccnb.training.train.begin_epoch`'s shuffled
    order, :func:`~sccnb.training.train.validation_nme`, :func:`~sccnb.training.train.save_best` and
    :func:`~sccnb.training.train.save_checkpoint`), and the model step alone on a ready batch."""

    def __init__(self, cfg: TrainConfig, train_crops, val_crops, folder: Path) -> None:
        self.state = setup_training(cfg, Data(train=train_crops, val=val_crops),
                                    torch.device("cpu"), run_dir=folder)
        # the row of one finished epoch, as the checkpoint after the first epoch holds
        self.state.history.append({"epoch": 0, "lr": lr_at(cfg, 0), "train_loss": 0.0,
                                   "images_per_s": 0.0, "seconds": 0.0, "val_nme": 0.0})
        self.epoch = begin_epoch(self.state, 0)
        self.b = 0
        self.x, self.target = self._batch()

    def _batch(self) -> tuple[torch.Tensor, torch.Tensor]:
        """The epoch's first batch, made as the loop makes every batch."""
        s = self.state
        return make_batch(s.train_set, self.epoch.order[:s.cfg.batch_size], s.flip, s.aug,
                          self.epoch.gen, REF_SIZE, s.channels_last)

    def epoch_start(self) -> None:
        """The top of an epoch: training mode, the shuffled order, the augmentation stream."""
        begin_epoch(self.state, 0)

    def loop_step(self) -> None:
        """One batch of the loop, as ``train`` does it (the epoch's order wraps around)."""
        train_batch(self.state, self.epoch, self.b % self.state.batches_per_epoch)
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
    """Median seconds of ``repeats`` calls of ``fn``."""
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
    cfg = _profile_config(profile, quick, head)
    threads_before = torch.get_num_threads()
    torch.set_num_threads(cfg.threads or threads_before)
    try:
        train_crops, val_crops = _profile_data(cfg, p["crops"])
        with tempfile.TemporaryDirectory() as tmp:
            loop = _ProfileLoop(cfg, train_crops, val_crops, Path(tmp))
            times = interleaved({"loop_step": loop.loop_step, "model_step": loop.model_step,
                                 "make_batch": loop.batch_only}, torch.device("cpu"),
                                p["rounds"], p["steps"], p["warmup"])
            epoch = {"order_s": _median_call(loop.epoch_start, p["epoch_repeats"]),
                     "validation_s": _median_call(loop.validation, p["epoch_repeats"]),
                     "checkpoint_s": _median_call(loop.checkpoint, p["epoch_repeats"])}
        threads = torch.get_num_threads()
    finally:
        torch.set_num_threads(threads_before)
    steps = {k: timing_stats(v) for k, v in times.items()}
    bpe, batch = loop.state.batches_per_epoch, cfg.batch_size
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
                   "pdb": cfg.pdb, **numerics_params(cfg, torch.device("cpu"))},
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
    host = HostWatch(threads=1)
    p = pick_settings(dict(rounds=rounds, steps=steps, warmup=warmup, epoch_repeats=epoch_repeats,
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
             "save_checkpoint; sccnb.training.train). "
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
    return envelope("profiles", dev, quick, {**p, "profiles": list(profiles)}, results,
                    goals, notes, host)
