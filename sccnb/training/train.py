"""Training: the loop that turns a config (:mod:`sccnb.training.config`, named profiles plus
overrides) into a stored run (:mod:`sccnb.training.runs`), evaluated by
:mod:`sccnb.training.evaluate`.

:func:`train` is a composition of steps that other code (the benchmarks, :mod:`sccnb.perf.bench`)
reuses instead of copying the loop, as HRNet-Facial's ``train``/``validate`` per epoch:

* :func:`setup_training` -- model, optimiser, loss, augmentation, PDB repeats, resume
  (a :class:`TrainState`);
* :func:`run_epoch` -- one epoch's batches: :func:`begin_epoch` (shuffled order, augmentation
  generator), then :func:`train_batch` for each (schedule, :func:`make_batch`,
  :func:`train_step`, finite-loss check);
* :func:`end_epoch` -- :func:`validation_nme` when due, :func:`save_best` on a new best, the
  history row, :func:`save_checkpoint`.

Deviations from the paper's training, on every profile:

* **Model selection** uses a validation split carved from the *training* data
  (``val_fraction``), never the test set. (The authors' released code selects the checkpoint
  with the lowest error on the test list -- ``shared/docs/protocol.md``.)
* **Randomness is a function of (seed, epoch)**: the PDB epoch order and the augmentation
  generator are re-seeded every epoch, so a run resumed from its checkpoint ends exactly where
  an uninterrupted one does.

On CUDA: bf16 autocast, channels_last, optional ``torch.compile``; the crops live on the GPU and
the augmentation runs there, so training is compute-bound. Several GPUs: launch with
``torchrun --nproc_per_node G -m sccnb train ...``; each rank takes a slice of every batch
(DistributedDataParallel, SyncBatchNorm), rank 0 writes the run.
"""

from __future__ import annotations

import dataclasses
import math
import os
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from tqdm.auto import tqdm

from ..data.prepare import Data, prepare_data, synth_root
from ..layouts import flip_permutation
from ..provenance import atomic_write_bytes, atomic_write_text, provenance, write_json
from .config import PROFILES, TrainConfig, config_from_json, resolve_config
from .evaluate import evaluate_run, predict
from .losses import build_loss
from .runs import Run, build_for, default_runs_root, model_from_state, record, run_id, run_lock

__all__ = ["TrainConfig", "PROFILES", "resolve_config", "config_from_json", "prepare_data",
           "train", "ensure_run", "ensure_runs", "model_from_state", "build_for", "make_batch",
           "train_step", "augment_preset", "TrainingDiverged", "synth_root", "REF_SIZE",
           "epoch_seed", "lr_at", "build_optimizer", "TrainState", "Epoch", "setup_training",
           "begin_epoch", "train_batch", "run_epoch", "validation_nme", "save_best",
           "save_checkpoint", "end_epoch"]


class TrainingDiverged(RuntimeError):
    """The loss became NaN or Inf."""


def _device(cfg: TrainConfig) -> torch.device:
    if cfg.device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(cfg.device)


# --- the pieces of a step --------------------------------------------------------------------
REF_SIZE = 256  # the loss's pixel frame (Sec. 4.2): targets are scaled to a 256-px crop


def epoch_seed(seed: int, epoch: int, stream: int) -> int:
    """The seed of random stream ``stream`` in ``epoch`` (stream 1: augmentation), a function of
    ``(seed, epoch, stream)`` only."""
    return int(np.random.SeedSequence([seed, epoch, stream]).generate_state(1)[0])


def lr_at(cfg: TrainConfig, epoch: float) -> float:
    """Step schedule (÷5 at each milestone) with an optional linear warm-up; ``epoch`` may be
    fractional (the warm-up advances per batch)."""
    lr = cfg.lr * cfg.lr_gamma ** sum(epoch >= m for m in cfg.lr_milestones)
    if cfg.warmup_epochs and epoch < cfg.warmup_epochs:
        lr *= (epoch + 1e-3) / cfg.warmup_epochs
    return lr


def build_optimizer(cfg: TrainConfig, model: torch.nn.Module) -> torch.optim.Optimizer:
    """SGD with momentum as in the paper; AdamW for the short CPU/GPU schedules, where SGD at
    lr 0.01 barely leaves the mean shape within a few epochs (a deviation those profiles state)."""
    if cfg.optimizer == "sgd":
        return torch.optim.SGD(model.parameters(), lr=cfg.lr, momentum=cfg.momentum,
                               weight_decay=cfg.weight_decay)
    if cfg.optimizer == "adamw":
        return torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    raise ValueError(f"unknown optimizer {cfg.optimizer!r}; supported: sgd, adamw")


def augment_preset(name: str, box_jitter: str = "none", crop_scale: float = 1.25):
    """The named augmentation: ``paper`` (Sec. 4.2), ``light`` (smaller rotation and
    translation, for the short CPU schedule) or ``none``; with ``box_jitter`` other than
    ``"none"``, also that measured detector-box spread (``sccnb.data.augment.BoxJitter``)."""
    from ..data.augment import AugmentConfig, load_box_jitter

    presets = {"paper": AugmentConfig(), "light": AugmentConfig(rotation=15.0, translation=10.0),
               "none": AugmentConfig.none()}
    if name not in presets:
        raise ValueError(f"unknown augment preset {name!r}; supported: {sorted(presets)}")
    jitter = load_box_jitter(box_jitter, crop_scale)
    return presets[name] if jitter is None else dataclasses.replace(presets[name],
                                                                    box_jitter=jitter)


def make_batch(crops, idx: torch.Tensor, flip: torch.Tensor, aug, gen: torch.Generator,
               ref_size: int = 256, channels_last: bool | None = None
               ) -> tuple[torch.Tensor, torch.Tensor]:
    """One training batch: index the cached uint8 crops on their device, augment image and
    landmarks together, normalise; targets scaled to the ``ref_size`` frame of the loss.
    ``channels_last`` (None = on CUDA only) sets the images' memory format."""
    from ..data.augment import augment_batch, normalize

    dev = crops.images.device
    images, points = augment_batch(crops.images[idx.to(dev)], crops.landmarks[idx.to(dev)],
                                   flip, aug, gen)
    x = normalize(images)
    if channels_last if channels_last is not None else dev.type == "cuda":
        x = x.contiguous(memory_format=torch.channels_last)
    return x, points * (ref_size / crops.size)


def train_step(net: torch.nn.Module, opt: torch.optim.Optimizer, loss_fn: torch.nn.Module,
               x: torch.Tensor, target: torch.Tensor, bf16: bool | None = None) -> torch.Tensor:
    """Forward (under bf16 autocast when ``bf16``; None = on CUDA only), loss in float32,
    backward, optimiser step. Returns the loss (not synchronised); the caller checks it is
    finite."""
    bf16 = x.device.type == "cuda" if bf16 is None else bf16
    with torch.autocast(x.device.type, dtype=torch.bfloat16, enabled=bf16):
        pred = net(x)
    loss = loss_fn(pred.float(), target)
    opt.zero_grad(set_to_none=True)
    loss.backward()
    opt.step()
    return loss


def _save_atomic(path: Path, payload: dict) -> None:
    """``torch.save`` into memory, then an atomic replace: a crash never leaves half a file."""
    import io

    buf = io.BytesIO()
    torch.save(payload, buf)
    atomic_write_bytes(path, buf.getvalue())


def dist_info() -> tuple[int, int]:
    if "WORLD_SIZE" in os.environ and int(os.environ["WORLD_SIZE"]) > 1:
        return int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"])
    return 0, 1


# --- the steps of a run: set-up, epochs (batch by batch), end of epoch -----------------------
@dataclasses.dataclass(eq=False)
class TrainState:
    """One run's training in progress: built by :func:`setup_training`, read and advanced by
    :func:`run_epoch` and :func:`end_epoch`.

    ``model`` holds the weights (what checkpoints store); ``net`` is what the steps call (the
    model, wrapped for DistributedDataParallel and ``torch.compile`` when those are on).
    ``start`` is the first epoch still to train (after a checkpoint's epochs when resumed),
    ``best`` the best validation NME so far and its epoch, ``history`` one row per finished
    epoch. Files go to ``run_dir`` on rank 0 only; with no ``run_dir`` nothing is written.
    """

    cfg: TrainConfig
    data: Data
    device: torch.device
    train_set: Any  # data.train (a CropSet) on the device
    model: torch.nn.Module
    net: torch.nn.Module
    opt: torch.optim.Optimizer
    loss_fn: torch.nn.Module
    aug: Any  # sccnb.data.augment.AugmentConfig
    flip: torch.Tensor  # the layout's left/right permutation, on the device
    repeats: np.ndarray  # each training face's appearances per epoch (PDB; else all 1)
    batches_per_epoch: int
    bf16: bool
    channels_last: bool
    run_dir: Path | None = None
    rank: int = 0
    world: int = 1
    start: int = 0
    best: tuple[float, int] = (math.inf, -1)
    history: list[dict[str, Any]] = dataclasses.field(default_factory=list)
    bar: Any = None  # one progress bar over every batch of the run

    @property
    def name(self) -> str:
        """The run id (the run folder's name), or the profile when nothing is written."""
        return self.run_dir.name if self.run_dir is not None else self.cfg.profile

    @property
    def writes(self) -> bool:
        """Whether this process writes the run's files (rank 0, with a run folder)."""
        return self.rank == 0 and self.run_dir is not None


@dataclasses.dataclass(eq=False)
class Epoch:
    """One epoch in progress: its shuffled order and augmentation generator (functions of
    ``(seed, epoch)`` only, so a resumed run sees what an uninterrupted one does) and the
    tallies of its finished batches."""

    index: int
    order: torch.Tensor
    gen: torch.Generator
    started: float = dataclasses.field(default_factory=time.perf_counter)
    seen: int = 0
    loss_sum: float = 0.0


def setup_training(cfg: TrainConfig, data: Data, device: torch.device, *,
                   run_dir: Path | None = None, rank: int = 0, world: int = 1) -> TrainState:
    """Everything the epochs share: the model (seeded by ``cfg.seed``), its wrapping (several
    processes, ``torch.compile``), optimiser, loss, augmentation and the PDB repeats of
    ``data.train``; resumed from ``run_dir/checkpoint.pt`` when that file exists.
    ``rank``/``world`` place this process in a DistributedDataParallel group."""
    from ..data.pdb import pdb_repeats

    train_set = data.train.to(device)
    shapes = data.train.shapes_in(REF_SIZE)
    torch.manual_seed(cfg.seed)
    model = build_for(cfg, shapes=shapes).to(device)
    bf16, channels_last = cfg.uses_bf16(device.type), cfg.uses_channels_last(device.type)
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
    if world > 1:
        if device.type == "cuda":  # SyncBatchNorm needs GPUs; on CPU (gloo) BN stays per rank
            model = torch.nn.SyncBatchNorm.convert_sync_batchnorm(model)
        net = torch.nn.parallel.DistributedDataParallel(
            model, device_ids=[device.index] if device.type == "cuda" else None)
    else:
        net = model
    if cfg.compile:
        net = torch.compile(net)
    opt = build_optimizer(cfg, model)
    loss_fn = build_loss(cfg.loss, cfg.loss_epsilon)
    aug = augment_preset(cfg.augment, cfg.box_jitter, cfg.crop_scale)
    flip = torch.as_tensor(flip_permutation(data.train.layout), device=device)
    repeats = (pdb_repeats(shapes, cfg.pdb_bins, flip_perm=flip.cpu().numpy()) if cfg.pdb
               else np.ones(len(data.train), dtype=np.int64))
    state = TrainState(cfg=cfg, data=data, device=device, train_set=train_set, model=model,
                       net=net, opt=opt, loss_fn=loss_fn, aug=aug, flip=flip, repeats=repeats,
                       batches_per_epoch=max(1, int(repeats.sum()) // cfg.batch_size),
                       bf16=bf16, channels_last=channels_last, run_dir=run_dir, rank=rank,
                       world=world)
    ckpt_path = run_dir / "checkpoint.pt" if run_dir is not None else None
    if ckpt_path is not None and ckpt_path.exists():
        ckpt = torch.load(ckpt_path, map_location=device, weights_only=True)
        model.load_state_dict(ckpt["model"])
        opt.load_state_dict(ckpt["optimizer"])
        state.start, state.best, state.history = (ckpt["epoch"] + 1, tuple(ckpt["best"]),
                                                  ckpt["history"])
    bpe = state.batches_per_epoch
    state.bar = tqdm(total=cfg.epochs * bpe, initial=state.start * bpe, desc=state.name,
                     disable=not cfg.progress or rank != 0, unit="batch", dynamic_ncols=True)
    return state


def begin_epoch(state: TrainState, epoch: int) -> Epoch:
    """The top of an epoch: training mode, the epoch's shuffled order (with PDB's repeats) and
    its augmentation generator."""
    from ..data.pdb import epoch_indices

    state.net.train()
    order = torch.as_tensor(epoch_indices(state.repeats, epoch, state.cfg.seed))
    gen = torch.Generator().manual_seed(epoch_seed(state.cfg.seed, epoch, 1))
    return Epoch(epoch, order, gen)


def train_batch(state: TrainState, epoch: Epoch, b: int) -> torch.Tensor:
    """Batch ``b`` of ``epoch``: the scheduled learning rate, :func:`make_batch` (this rank's
    slice of it under DDP), :func:`train_step`, the finite-loss check, the epoch's tallies and
    the progress bar. Returns the loss; raises :class:`TrainingDiverged` if it is NaN or Inf."""
    cfg, bs = state.cfg, state.cfg.batch_size
    idx = epoch.order[b * bs:(b + 1) * bs]
    for group in state.opt.param_groups:
        group["lr"] = lr_at(cfg, epoch.index + b / state.batches_per_epoch)
    x, target = make_batch(state.train_set, idx, state.flip, state.aug, epoch.gen, REF_SIZE,
                           state.channels_last)
    if state.world > 1:  # each rank takes its slice of the global batch
        x, target = x[state.rank::state.world], target[state.rank::state.world]
    loss = train_step(state.net, state.opt, state.loss_fn, x, target, state.bf16)
    if not torch.isfinite(loss):
        raise TrainingDiverged(
            f"{state.name}: loss is {loss.item()} at epoch {epoch.index}, batch {b} "
            f"(lr {state.opt.param_groups[0]['lr']:.3g}); lower the learning rate or check "
            "the data")
    epoch.seen += len(idx)
    epoch.loss_sum += loss.item() * len(idx)
    state.bar.update(1)
    state.bar.set_postfix(epoch=epoch.index, loss=f"{loss.item():.3f}",
                          img_s=f"{epoch.seen / (time.perf_counter() - epoch.started):.0f}")
    return loss


def run_epoch(state: TrainState, epoch: int) -> dict[str, Any]:
    """Every batch of epoch ``epoch`` (0-based). Returns its history row: ``epoch``, ``lr``
    (at the epoch's start), ``train_loss`` (mean over its images), ``images_per_s`` and
    ``seconds`` (the batches' wall time); :func:`end_epoch` adds ``val_nme``."""
    current = begin_epoch(state, epoch)
    for b in range(state.batches_per_epoch):
        train_batch(state, current, b)
    seconds = time.perf_counter() - current.started
    return {"epoch": epoch, "lr": lr_at(state.cfg, epoch),
            "train_loss": current.loss_sum / max(current.seen, 1),
            "images_per_s": current.seen / seconds, "seconds": seconds}


def validation_nme(state: TrainState) -> float:
    """The model's mean NME on the validation crops (carved from the training data: model
    selection never sees the test set), in the config's numerics."""
    from ..metrics import nme

    val = state.data.val
    pred = predict(state.model, val, state.device, ref_size=REF_SIZE, bf16=state.bf16,
                   channels_last=state.channels_last)
    return float(nme(pred, val.shapes_in(REF_SIZE), val.layout).mean())


def save_best(state: TrainState) -> None:
    """The current weights as ``best.pt`` (rank 0, with a run folder)."""
    if state.writes:
        _save_atomic(state.run_dir / "best.pt", state.model.state_dict())


def save_checkpoint(state: TrainState, epoch: int) -> None:
    """``checkpoint.pt`` (weights, optimiser, ``epoch``, best, history: all a resume needs) and
    ``history.csv`` (rank 0, with a run folder)."""
    if state.writes:
        _save_atomic(state.run_dir / "checkpoint.pt", {
            "model": state.model.state_dict(), "optimizer": state.opt.state_dict(),
            "epoch": epoch, "best": list(state.best), "history": state.history})
        atomic_write_text(state.run_dir / "history.csv",
                          pd.DataFrame(state.history).to_csv(index=False))


def end_epoch(state: TrainState, row: dict[str, Any]) -> None:
    """After epoch ``row["epoch"]``: the validation NME when due (every ``eval_every`` epochs
    and at the last), ``best.pt`` when it improves, the row appended to the history, and the
    checkpoint. With no validation split (``val_fraction`` 0) the last epoch's weights are the
    best."""
    cfg, epoch = state.cfg, row["epoch"]
    if len(state.data.val) == 0:
        state.best = (math.nan, epoch)
        if epoch + 1 == cfg.epochs:
            save_best(state)
    elif (epoch + 1) % cfg.eval_every == 0 or epoch + 1 == cfg.epochs:
        row["val_nme"] = validation_nme(state)
        if row["val_nme"] < state.best[0]:
            state.best = (row["val_nme"], epoch)
            save_best(state)
    state.history.append(row)
    save_checkpoint(state, epoch)


# --- a run -----------------------------------------------------------------------------------
def train(cfg: TrainConfig, runs_root: str | Path | None = None, *,
          stop_after_epoch: int | None = None) -> Run:
    """Train ``cfg`` into ``<runs_root>/<run id>/`` (resuming from its checkpoint if present)
    and evaluate the best-validation weights on the test splits: :func:`setup_training`, then
    :func:`run_epoch` and :func:`end_epoch` for each epoch left.

    ``stop_after_epoch`` ends training after that epoch (0-based) without finishing the run:
    used to test that resuming gives the same result as an uninterrupted run.
    """
    rank, world = dist_info()
    if world > 1:
        import torch.distributed as dist

        dist.init_process_group("nccl" if torch.cuda.is_available() else "gloo")
        if torch.cuda.is_available():
            torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", 0)))
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    device = _device(cfg)
    if device.type == "cuda" and world > 1:
        device = torch.device("cuda", torch.cuda.current_device())
    run_dir = Path(runs_root or default_runs_root()) / run_id(cfg)
    run_dir.mkdir(parents=True, exist_ok=True)
    data = prepare_data(cfg)
    state = setup_training(cfg, data, device, run_dir=run_dir, rank=rank, world=world)
    if rank == 0 and state.start == 0:  # a new run: its record first
        rec = record(cfg)
        write_json(run_dir / "config.json", {"id": rec["id"], "train": rec["train"],
                                             "provenance": provenance(str(device)),
                                             "data": rec["data"], "code": rec["code"]})
    try:
        for epoch in range(state.start, cfg.epochs):
            end_epoch(state, run_epoch(state, epoch))
            if stop_after_epoch is not None and epoch >= stop_after_epoch:
                return Run(run_dir)
    finally:
        state.bar.close()
    if rank == 0:
        evaluate_run(Run(run_dir), cfg, data=data, device=device, best=state.best)
    if world > 1:
        import torch.distributed as dist

        dist.barrier()  # the other ranks wait for rank 0's evaluation
        dist.destroy_process_group()
    return Run(run_dir)


def ensure_run(cfg: TrainConfig, runs_root: str | Path | None = None, *,
               need_weights: bool = False) -> Run:
    """Load the run of ``cfg`` if it is complete (and has weights, when ``need_weights``);
    otherwise train it. Safe to call from several processes at once."""
    run_dir = Path(runs_root or default_runs_root()) / run_id(cfg)
    if dist_info()[1] > 1:  # under torchrun every rank must enter train(); no lock
        run = Run(run_dir)
        if run.complete:
            return run
        run = train(cfg, runs_root)
        if dist_info()[0] == 0:
            run.seal_weights()
        return run
    with run_lock(run_dir):
        run = Run(run_dir)
        if run.ready(need_weights):
            return run
        had_half = False
        if run.complete:  # records committed, weights not (or not theirs): train again
            for name in ("checkpoint.pt", "metrics.json", "best.pt", "weights.json"):
                (run_dir / name).unlink(missing_ok=True)
            if run.half_weights.is_file():  # not the records' weights either: kept aside, and
                import sys  # exported afresh from the new best.pt below

                had_half = True
                aside = run.half_weights.with_name(
                    f"{run.half_weights.name}.replaced-{time.strftime('%Y%m%dT%H%M%S')}")
                run.half_weights.rename(aside)
                print(f"{run_dir.name}: {run.half_weights.name} does not belong to the records; "
                      f"kept as {aside.name}, retraining", file=sys.stderr)
        if (run_dir / "checkpoint.pt").exists():  # resuming: refuse a damaged file up front
            from .runs import check_checkpoint

            check_checkpoint(run_dir / "checkpoint.pt")
        if cfg.data_root:  # a .mat that cannot even be opened: named before training starts
            from ..data.check import probe_files

            probe_files(cfg.dataset, cfg.data_root)
        try:
            run = train(cfg, runs_root)
            run.seal_weights()  # the weights behind these records (Run.weights_issue)
            if had_half:
                run.export_half()  # sealed with them
            return run
        except BaseException:
            if run_dir.is_dir() and not any(run_dir.iterdir()):
                run_dir.rmdir()  # failed before writing anything: leave no empty run folder
            raise


def _ensure_worker(args: tuple) -> str:
    """A pool worker: with several GPUs, worker i trains on GPU i (one run per GPU)."""
    cfg, runs_root, need_weights, gpus = args
    if gpus > 1 and cfg.device == "auto":
        import multiprocessing as mp

        worker = (mp.current_process()._identity or (1,))[0] - 1
        os.environ["CUDA_VISIBLE_DEVICES"] = str(worker % gpus)  # before CUDA initialises
    return str(ensure_run(cfg, runs_root, need_weights=need_weights).path)


def ensure_runs(configs: list[TrainConfig], runs_root: str | Path | None = None, *,
                workers: int = 1, need_weights: bool = False, progress: bool = False
                ) -> list[Run]:
    """:func:`ensure_run` for many configs, ``workers`` at a time in separate processes: on a
    2-core CPU two 1-thread runs finish sooner than one 2-thread run after another, and on a
    machine with several GPUs each worker takes its own GPU (sweeps spread over the GPUs).
    Runs are started in the order given. ``progress`` shows one bar over the runs (with an
    ETA) instead of each run's own bar."""
    unique = list(dict.fromkeys(configs))
    if progress:
        unique = [dataclasses.replace(c, progress=False) for c in unique]
        configs = [dataclasses.replace(c, progress=False) for c in configs]
    root = Path(runs_root or default_runs_root())
    done: dict[TrainConfig, Run] = {}
    for c in unique:  # stored runs first, so that the bar's rate and ETA count training only
        stored = Run(root / run_id(c))
        if stored.ready(need_weights):
            done[c] = stored
    bar = tqdm(total=len(unique), initial=len(done), desc="runs", unit="run",
               disable=not progress, dynamic_ncols=True)
    unique = [c for c in unique if c not in done]
    if workers <= 1 or len(unique) <= 1:
        for c in unique:
            done[c] = ensure_run(c, runs_root, need_weights=need_weights)
            bar.update(1)
    else:
        import multiprocessing as mp

        from .runs import pin_worker

        ctx = mp.get_context("spawn")
        with ctx.Pool(workers, initializer=pin_worker) as pool:
            gpus = torch.cuda.device_count()
            jobs = [(c, runs_root, need_weights, gpus) for c in unique]
            for i, path in pool.imap_unordered(_ensure_worker_indexed, list(enumerate(jobs)),
                                               chunksize=1):
                done[unique[i]] = Run(path)
                bar.update(1)
                bar.set_postfix_str(Path(path).name)
    bar.close()
    return [done[c] for c in configs]


def _ensure_worker_indexed(item: tuple[int, tuple]) -> tuple[int, str]:
    return item[0], _ensure_worker(item[1])


# --- command line ----------------------------------------------------------------------------
