"""Training: one config (a dataclass) resolved from a named profile plus overrides.

Profiles (``PROFILES``):

* ``paper``    -- the paper's recipe (Sec. 4.2) on a real dataset: 256², batch 64, SGD momentum
  0.9, weight decay 5e-4, lr 0.01 divided by 5 every 100 epochs, 500 epochs, Soft Wing
  (2, 20, 0.5), k = 3, PDB with 9 bins. Needs ``data_root``.
* ``gpu``      -- SynthFace at 256² with the paper's model and a schedule scaled down to fit a
  GPU budget.
* ``cpu``      -- the embedded default on 2 CPU cores: SynthFace, a 64² input and a ResNet34 of
  base width 16 (every table it makes says so), a short schedule. Chosen so that
  ``make reproduce-tables`` fits in about 30 minutes and the models still clearly learn.
* ``smoke``    -- for tests: a run takes seconds.
* ``real300w`` -- the paper's recipe on the 1,207 real 300-W faces of ``shared/data/300w_mini``.

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

import argparse
import dataclasses
import json
import math
import os
import time
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pandas as pd
import torch
from tqdm.auto import tqdm

from .data.datasets import DATASETS, REAL300W_DEFAULT, load_records
from .layouts import flip_permutation, get_layout
from .losses import build_loss
from .model import build_model
from .provenance import REPO_ROOT, atomic_write_bytes, atomic_write_text, provenance, write_json
from .runs import Run, default_runs_root, run_id, run_lock

__all__ = ["TrainConfig", "PROFILES", "resolve_config", "config_from_json", "prepare_data",
           "train", "ensure_run", "ensure_runs", "model_from_state", "build_for", "make_batch",
           "train_step", "augment_preset", "TrainingDiverged", "synth_root"]


class TrainingDiverged(RuntimeError):
    """The loss became NaN or Inf."""


@dataclass(frozen=True)
class TrainConfig:
    """Everything that determines a run. Defaults = the paper's recipe (Sec. 4.2)."""

    # fields that do not change the result (left out of the run id)
    RUNTIME_FIELDS: ClassVar[tuple[str, ...]] = ("device", "compile", "threads", "progress")

    profile: str = "paper"
    dataset: str = "wflw"  # wflw | 300w | cofw | real300w
    data_root: str = ""  # "" = SynthFace generated for this profile
    # model (Sec. 3; Tables 5-7)
    head: str = "scc"  # scc | fc
    k: int = 3  # Sec. 4.2
    features: str = "F3F4F5"  # Table 6
    attention: str = "semantic"  # Table 6
    dynamic: bool = True  # Table 5, "GN w/o DW" = False
    depth: int = 34  # ResNet34
    width: int = 64  # ResNet base width
    input_size: int = 256  # Sec. 4.2
    # loss (Sec. 3.3; Table 8)
    loss: str = "softwing"
    loss_epsilon: float | None = None  # None = the loss's own default (Soft Wing: 0.5)
    # optimisation (Sec. 4.2)
    optimizer: str = "sgd"  # sgd (paper) | adamw (short schedules: cpu, gpu profiles)
    epochs: int = 500
    batch_size: int = 64
    lr: float = 0.01
    momentum: float = 0.9
    weight_decay: float = 5e-4
    lr_milestones: tuple[int, ...] = (100, 200, 300, 400)  # "dropped by 5 every 100 epochs"
    lr_gamma: float = 0.2
    warmup_epochs: float = 0.0  # linear warm-up, in epochs (not in the paper; 0 = off)
    # data (Sec. 4.2)
    crop_scale: float = 1.25  # crop side = scale * face box (HRNet's convention)
    augment: str = "paper"  # paper: rotation 40°, translation 30 px, scale 10 %, flip,
    #                         occlusion 20 %; light: rotation 15°, translation 10 px; none
    pdb: bool = True  # pose-based data balancing
    pdb_bins: int = 9
    val_fraction: float = 0.1  # carved from training data for model selection
    eval_every: int = 1  # epochs between validation passes
    max_train: int = 0  # use at most this many training faces (0 = all)
    # SynthFace (used when data_root == "")
    synth_train: int = 7500
    synth_test: int = 2500
    synth_size: int = 256
    synth_seed: int = 0
    seed: int = 0
    # runtime only
    device: str = "auto"
    compile: bool = False
    threads: int = 0  # torch CPU threads (0 = torch's default)
    progress: bool = True

    @property
    def num_landmarks(self) -> int:
        return get_layout(DATASETS[self.dataset].layout).num_points


_PAPER_SCHEDULE = dict(epochs=500, lr_milestones=(100, 200, 300, 400), lr_gamma=0.2)
PROFILES: dict[str, dict[str, Any]] = {
    "paper": dict(_PAPER_SCHEDULE),
    # SynthFace at the paper's size on one GPU: 60 epochs of 7,500 faces (AdamW: see below).
    "gpu": dict(epochs=60, lr_milestones=(40, 52), synth_train=7500, synth_test=2500,
                synth_size=256, optimizer="adamw", lr=1e-3, weight_decay=1e-4,
                warmup_epochs=1.0),
    # 2 CPU cores, about 30 minutes for every table: 64² input, ResNet34 of width 16, a few
    # epochs of 1,200 faces, lighter augmentation. AdamW because SGD at lr 0.01 does not leave
    # the mean shape in so few steps (measured: 25 % NME after 9 epochs).
    "cpu": dict(input_size=64, width=16, epochs=6, batch_size=32, lr_milestones=(4, 5),
                optimizer="adamw", lr=3e-3, weight_decay=1e-4, warmup_epochs=0.3,
                augment="light", synth_train=1200, synth_test=400, synth_size=128, threads=1),
    "smoke": dict(input_size=64, depth=18, width=8, epochs=2, batch_size=8, lr_milestones=(1,),
                  synth_train=40, synth_test=16, synth_size=64, val_fraction=0.2,
                  progress=False),
    "real300w": dict(_PAPER_SCHEDULE, dataset="real300w", data_root=str(REAL300W_DEFAULT),
                     epochs=300, lr_milestones=(150, 250)),
    # the same faces on 2 CPU cores: the cpu profile's small network and schedule
    "real300w_cpu": dict(dataset="real300w", data_root=str(REAL300W_DEFAULT), input_size=64,
                         width=16, epochs=30, batch_size=32, lr_milestones=(20, 26),
                         optimizer="adamw", lr=3e-3, weight_decay=1e-4, warmup_epochs=0.3,
                         augment="light", threads=1),
}


def _coerce(name: str, value: Any) -> Any:
    """Convert a ``--set key=value`` string to the field's type."""
    ftype = {f.name: f.type for f in fields(TrainConfig)}.get(name)
    if ftype is None:
        raise ValueError(f"unknown config key {name!r}; known: "
                         f"{sorted(f.name for f in fields(TrainConfig))}")
    if not isinstance(value, str):
        return tuple(value) if isinstance(value, list) else value
    t = str(ftype)
    if value.lower() in ("none", "null") and "None" in t:
        return None
    if t.startswith("bool"):
        if value.lower() not in ("true", "false", "1", "0", "yes", "no"):
            raise ValueError(f"{name} expects true/false, got {value!r}")
        return value.lower() in ("true", "1", "yes")
    if t.startswith("int"):
        return int(value)
    if t.startswith("float"):
        return float(value)
    if t.startswith("tuple"):
        return tuple(int(v) for v in value.replace(",", " ").split())
    return value


def config_from_json(d: dict[str, Any]) -> TrainConfig:
    """Rebuild a TrainConfig from ``config.json``'s ``"train"`` dict (lists back to tuples)."""
    return TrainConfig(**{k: tuple(v) if isinstance(v, list) else v for k, v in d.items()})


def resolve_config(profile: str = "paper", **overrides: Any) -> TrainConfig:
    """The profile's settings, then ``overrides`` (values may be strings, as from the CLI)."""
    if profile not in PROFILES:
        raise ValueError(f"unknown profile {profile!r}; supported: {sorted(PROFILES)}")
    settings = {**PROFILES[profile], "profile": profile}
    for key, value in overrides.items():
        settings[key] = _coerce(key, value)
    if settings.get("dataset", "wflw") == "real300w":
        settings.setdefault("data_root", str(REAL300W_DEFAULT))
    cfg = TrainConfig(**settings)
    if cfg.dataset not in DATASETS or cfg.dataset == "cofw68":
        raise ValueError(f"cannot train on {cfg.dataset!r}; train on one of "
                         f"{sorted(set(DATASETS) - {'cofw68'})}")
    return cfg


# --- data ------------------------------------------------------------------------------------
def synth_root(cfg: TrainConfig) -> Path:
    """Generate (once) and return the SynthFace folder for this config's synth settings."""
    from .data.synth import ensure_synthface

    cache = Path(os.environ.get("SCCNB_CACHE", REPO_ROOT / ".cache"))
    folder = cache / (f"synthface_{cfg.synth_train}_{cfg.synth_test}_{cfg.synth_size}px_"
                      f"seed{cfg.synth_seed}")
    with run_lock(folder):
        return Path(ensure_synthface(folder, cfg.synth_train, cfg.synth_test, cfg.synth_size,
                                     cfg.synth_seed))


def data_root(cfg: TrainConfig) -> Path:
    if cfg.data_root:
        root = Path(cfg.data_root).expanduser()
        if not root.exists():
            raise FileNotFoundError(f"data_root {root} does not exist (see README, 'Real "
                                    "datasets', for the expected layout)")
        return root
    return synth_root(cfg)


def _group_key(record) -> str:
    """Faces from one photo share a key (validation never splits a photo)."""
    from .data.datasets import _photo_id

    if record.layout == "300w68":
        return _photo_id(record)
    return record.image if isinstance(record.image, str) and record.image else record.name


@dataclass
class Data:
    """Crops for training, validation (model selection) and each test split."""

    train: Any
    val: Any
    tests: dict[str, Any] = field(default_factory=dict)
    root: Path | None = None


def prepare_data(cfg: TrainConfig, splits: tuple[str, ...] | None = None,
                 test_dataset: str | None = None) -> Data:
    """Read, crop (cached) and split the data of ``cfg``.

    ``splits`` restricts the test splits loaded; ``test_dataset`` evaluates on another dataset
    of the same root (COFW-68 for a 300-W model).
    """
    import warnings

    from .data import IncompleteDatasetWarning

    root = data_root(cfg)
    spec = DATASETS[cfg.dataset]
    with warnings.catch_warnings():
        # SynthFace writes 300-W's helen/lfpw/ibug folders only; 300w_mini is AFW + HELEN
        if not cfg.data_root or cfg.dataset == "real300w":
            warnings.simplefilter("ignore", IncompleteDatasetWarning)
        return _prepare(cfg, root, spec, splits, test_dataset)


def _prepare(cfg: TrainConfig, root: Path, spec, splits, test_dataset) -> Data:
    from .data.crops import cached_crops

    records = load_records(cfg.dataset, root, "train")
    rng = np.random.default_rng(cfg.seed)
    if cfg.max_train and len(records) > cfg.max_train:
        keep = np.sort(rng.permutation(len(records))[: cfg.max_train])
        records = [records[i] for i in keep]
    # validation: whole groups (photos), chosen by a seeded permutation of the groups
    keys = [_group_key(r) for r in records]
    groups = sorted(set(keys))
    n_val = max(1, int(round(cfg.val_fraction * len(groups))))
    val_groups = set(np.asarray(groups, dtype=object)[rng.permutation(len(groups))[:n_val]])
    is_val = np.array([k in val_groups for k in keys])
    if is_val.all() or not is_val.any():
        raise ValueError(f"{cfg.dataset}: cannot carve a validation split from {len(records)} "
                         f"training faces in {len(groups)} photo group(s); add faces or change "
                         "val_fraction")
    crops = cached_crops(records, cfg.input_size, cfg.crop_scale, spec.center_on,
                         progress=cfg.progress)
    data = Data(train=crops.subset(np.flatnonzero(~is_val)),
                val=crops.subset(np.flatnonzero(is_val)), root=root)
    tspec = DATASETS[test_dataset or cfg.dataset]
    for split in splits if splits is not None else tspec.tests:
        recs = load_records(tspec.name, root, split)
        data.tests[split] = cached_crops(recs, cfg.input_size, cfg.crop_scale, tspec.center_on,
                                         progress=cfg.progress)
    return data


# --- model -----------------------------------------------------------------------------------
def build_for(cfg: TrainConfig, shapes=None, mask=None):
    """The model a config describes (``shapes``: training landmarks in the 256 frame)."""
    return build_model(cfg.num_landmarks, head=cfg.head, k=cfg.k, features=cfg.features,
                       attention=cfg.attention, dynamic=cfg.dynamic, shapes=shapes, mask=mask,
                       input_size=cfg.input_size, depth=cfg.depth, width=cfg.width)


def model_from_state(cfg: TrainConfig, state: dict[str, torch.Tensor]):
    """Rebuild a model from its config and a state dict (mask and template are in the state)."""
    mask = state.get("head.adjacency.mask")
    model = build_for(cfg, mask=None if mask is None else mask.cpu().numpy())
    model.load_state_dict(state)
    return model


def _device(cfg: TrainConfig) -> torch.device:
    if cfg.device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(cfg.device)


# --- the loop --------------------------------------------------------------------------------
def _epoch_seed(seed: int, epoch: int, stream: int) -> int:
    return int(np.random.SeedSequence([seed, epoch, stream]).generate_state(1)[0])


def _lr_at(cfg: TrainConfig, epoch: float) -> float:
    """Step schedule (÷5 at each milestone) with an optional linear warm-up; ``epoch`` may be
    fractional (the warm-up advances per batch)."""
    lr = cfg.lr * cfg.lr_gamma ** sum(epoch >= m for m in cfg.lr_milestones)
    if cfg.warmup_epochs and epoch < cfg.warmup_epochs:
        lr *= (epoch + 1e-3) / cfg.warmup_epochs
    return lr


def _optimizer(cfg: TrainConfig, model: torch.nn.Module) -> torch.optim.Optimizer:
    """SGD with momentum as in the paper; AdamW for the short CPU/GPU schedules, where SGD at
    lr 0.01 barely leaves the mean shape within a few epochs (a deviation those profiles state)."""
    if cfg.optimizer == "sgd":
        return torch.optim.SGD(model.parameters(), lr=cfg.lr, momentum=cfg.momentum,
                               weight_decay=cfg.weight_decay)
    if cfg.optimizer == "adamw":
        return torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    raise ValueError(f"unknown optimizer {cfg.optimizer!r}; supported: sgd, adamw")


def augment_preset(name: str):
    """The named augmentation: ``paper`` (Sec. 4.2), ``light`` (smaller rotation and
    translation, for the short CPU schedule) or ``none``."""
    from .data.augment import AugmentConfig

    presets = {"paper": AugmentConfig(), "light": AugmentConfig(rotation=15.0, translation=10.0),
               "none": AugmentConfig.none()}
    if name not in presets:
        raise ValueError(f"unknown augment preset {name!r}; supported: {sorted(presets)}")
    return presets[name]


def make_batch(crops, idx: torch.Tensor, flip: torch.Tensor, aug, gen: torch.Generator,
               ref_size: int = 256) -> tuple[torch.Tensor, torch.Tensor]:
    """One training batch: index the cached uint8 crops on their device, augment image and
    landmarks together, normalise; targets scaled to the ``ref_size`` frame of the loss."""
    from .data.augment import augment_batch, normalize

    dev = crops.images.device
    images, points = augment_batch(crops.images[idx.to(dev)], crops.landmarks[idx.to(dev)],
                                   flip, aug, gen)
    x = normalize(images)
    if dev.type == "cuda":
        x = x.contiguous(memory_format=torch.channels_last)
    return x, points * (ref_size / crops.size)


def train_step(net: torch.nn.Module, opt: torch.optim.Optimizer, loss_fn: torch.nn.Module,
               x: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Forward (bf16 autocast on CUDA), loss in float32, backward, optimiser step. Returns the
    loss (not synchronised); the caller checks it is finite."""
    with torch.autocast(x.device.type, dtype=torch.bfloat16, enabled=x.device.type == "cuda"):
        pred = net(x)
    loss = loss_fn(pred.float(), target)
    opt.zero_grad(set_to_none=True)
    loss.backward()
    opt.step()
    return loss


def _save_checkpoint(path: Path, payload: dict) -> None:
    """``torch.save`` into memory, then an atomic replace: a crash never leaves half a file."""
    import io

    buf = io.BytesIO()
    torch.save(payload, buf)
    atomic_write_bytes(path, buf.getvalue())


@torch.no_grad()
def predict(model, crops, device: torch.device, batch_size: int = 128,
            ref_size: int = 256) -> np.ndarray:
    """Landmarks ``(M, N, 2)`` in the ``ref_size`` crop frame for every face of a CropSet."""
    from .data.augment import to_input

    model.eval()
    out = []
    autocast = device.type == "cuda"
    for start in range(0, len(crops), batch_size):
        x = to_input(crops.images[start:start + batch_size].to(device))
        if autocast:
            x = x.contiguous(memory_format=torch.channels_last)
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=autocast):
            out.append(model(x).float().cpu())
    return torch.cat(out).numpy().astype(np.float64)


def _val_nme(model, crops, device, ref_size: int) -> float:
    from .metrics import nme

    pred = predict(model, crops, device, ref_size=ref_size)
    return float(nme(pred, crops.shapes_in(ref_size), crops.layout).mean())


def _dist_info() -> tuple[int, int]:
    if "WORLD_SIZE" in os.environ and int(os.environ["WORLD_SIZE"]) > 1:
        return int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"])
    return 0, 1


def train(cfg: TrainConfig, runs_root: str | Path | None = None, *,
          stop_after_epoch: int | None = None) -> Run:
    """Train ``cfg`` into ``<runs_root>/<run id>/`` (resuming from its checkpoint if present)
    and evaluate the best-validation weights on the test splits.

    ``stop_after_epoch`` ends training after that epoch (0-based) without finishing the run:
    used to test that resuming gives the same result as an uninterrupted run.
    """
    from .data.pdb import epoch_indices, pdb_repeats
    from .evaluate import evaluate_run

    rank, world = _dist_info()
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
    ref = 256  # the loss's pixel frame (Sec. 4.2)

    data = prepare_data(cfg)
    train_set = data.train.to(device)
    shapes = data.train.shapes_in(ref)
    torch.manual_seed(cfg.seed)
    model = build_for(cfg, shapes=shapes).to(device)
    if device.type == "cuda":
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
    opt = _optimizer(cfg, model)
    loss_fn = build_loss(cfg.loss, cfg.loss_epsilon)
    aug = augment_preset(cfg.augment)
    flip = torch.as_tensor(flip_permutation(data.train.layout), device=device)
    repeats = (pdb_repeats(shapes, cfg.pdb_bins, flip_perm=flip.cpu().numpy()) if cfg.pdb
               else np.ones(len(data.train), dtype=np.int64))

    start, best, history = 0, (math.inf, -1), []
    ckpt_path = run_dir / "checkpoint.pt"
    if ckpt_path.exists():
        ckpt = torch.load(ckpt_path, map_location=device, weights_only=True)
        model.load_state_dict(ckpt["model"])
        opt.load_state_dict(ckpt["optimizer"])
        start, best, history = ckpt["epoch"] + 1, tuple(ckpt["best"]), ckpt["history"]
    if rank == 0 and start == 0:
        write_json(run_dir / "config.json", {"id": run_id(cfg), "train": dataclasses.asdict(cfg),
                                             "provenance": provenance(str(device))})

    batches_per_epoch = max(1, int(repeats.sum()) // cfg.batch_size)
    bar = tqdm(total=cfg.epochs * batches_per_epoch, initial=start * batches_per_epoch,
               desc=run_id(cfg), disable=not cfg.progress or rank != 0, unit="batch",
               dynamic_ncols=True)
    for epoch in range(start, cfg.epochs):
        net.train()
        order = torch.as_tensor(epoch_indices(repeats, epoch, cfg.seed))
        gen = torch.Generator().manual_seed(_epoch_seed(cfg.seed, epoch, 1))
        t0, seen, loss_sum = time.perf_counter(), 0, 0.0
        for b in range(batches_per_epoch):
            idx = order[b * cfg.batch_size:(b + 1) * cfg.batch_size]
            for group in opt.param_groups:
                group["lr"] = _lr_at(cfg, epoch + b / batches_per_epoch)
            x, target = make_batch(train_set, idx, flip, aug, gen, ref)
            if world > 1:  # each rank takes its slice of the global batch
                x, target = x[rank::world], target[rank::world]
            loss = train_step(net, opt, loss_fn, x, target)
            if not torch.isfinite(loss):
                raise TrainingDiverged(
                    f"{run_id(cfg)}: loss is {loss.item()} at epoch {epoch}, batch {b} "
                    f"(lr {opt.param_groups[0]['lr']:.3g}); lower the learning rate or check "
                    "the data")
            seen += len(idx)
            loss_sum += loss.item() * len(idx)
            bar.update(1)
            bar.set_postfix(epoch=epoch, loss=f"{loss.item():.3f}",
                            img_s=f"{seen / (time.perf_counter() - t0):.0f}")
        train_time = time.perf_counter() - t0
        row = {"epoch": epoch, "lr": _lr_at(cfg, epoch), "train_loss": loss_sum / max(seen, 1),
               "images_per_s": seen / train_time, "seconds": train_time}
        if (epoch + 1) % cfg.eval_every == 0 or epoch + 1 == cfg.epochs:
            row["val_nme"] = _val_nme(model, data.val, device, ref)
            if row["val_nme"] < best[0]:
                best = (row["val_nme"], epoch)
                if rank == 0:
                    _save_checkpoint(run_dir / "best.pt", model.state_dict())
        history.append(row)
        if rank == 0:
            _save_checkpoint(ckpt_path, {"model": model.state_dict(),
                                         "optimizer": opt.state_dict(), "epoch": epoch,
                                         "best": list(best), "history": history})
            atomic_write_text(run_dir / "history.csv", pd.DataFrame(history).to_csv(index=False))
        if stop_after_epoch is not None and epoch >= stop_after_epoch:
            bar.close()
            return Run(run_dir)
    bar.close()
    if rank == 0:
        evaluate_run(Run(run_dir), cfg, data=data, device=device, best=best)
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
    if _dist_info()[1] > 1:  # under torchrun every rank must enter train(); no lock
        run = Run(run_dir)
        return run if run.complete else train(cfg, runs_root)
    with run_lock(run_dir):
        run = Run(run_dir)
        if run.complete and (run.best_weights.exists() or not need_weights):
            return run
        if run.complete:  # records committed, weights not: train again from scratch
            for name in ("checkpoint.pt", "metrics.json"):
                (run_dir / name).unlink(missing_ok=True)
        return train(cfg, runs_root)


def _ensure_worker(args: tuple) -> str:
    """A pool worker: with several GPUs, worker i trains on GPU i (one run per GPU)."""
    cfg, runs_root, need_weights, gpus = args
    if gpus > 1 and cfg.device == "auto":
        import multiprocessing as mp

        worker = (mp.current_process()._identity or (1,))[0] - 1
        os.environ["CUDA_VISIBLE_DEVICES"] = str(worker % gpus)  # before CUDA initialises
    return str(ensure_run(cfg, runs_root, need_weights=need_weights).path)


def ensure_runs(configs: list[TrainConfig], runs_root: str | Path | None = None, *,
                workers: int = 1, need_weights: bool = False) -> list[Run]:
    """:func:`ensure_run` for many configs, ``workers`` at a time in separate processes: on a
    2-core CPU two 1-thread runs finish sooner than one 2-thread run after another, and on a
    machine with several GPUs each worker takes its own GPU (sweeps spread over the GPUs)."""
    unique = list(dict.fromkeys(configs))
    if workers <= 1 or len(unique) <= 1:
        done = {c: ensure_run(c, runs_root, need_weights=need_weights) for c in unique}
    else:
        import multiprocessing as mp

        ctx = mp.get_context("spawn")
        with ctx.Pool(workers) as pool:
            gpus = torch.cuda.device_count()
            paths = pool.map(_ensure_worker, [(c, runs_root, need_weights, gpus)
                                              for c in unique], chunksize=1)
        done = {c: Run(p) for c, p in zip(unique, paths)}
    return [done[c] for c in configs]


# --- command line ----------------------------------------------------------------------------
def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.description = (
        "Train a model. The run id is a hash of the resolved config: if that run already "
        "exists under results/runs/ it is loaded, not trained again; an interrupted run "
        "resumes from its checkpoint.\n\nProfiles: " + ", ".join(PROFILES))
    parser.add_argument("--profile", default="cpu", choices=sorted(PROFILES))
    parser.add_argument("--set", dest="overrides", action="append", default=[],
                        metavar="KEY=VALUE", help="override a config field, e.g. --set k=5 "
                        "--set head=fc --set data_root=/data (repeatable)")
    parser.add_argument("--runs-root", default=None, help="run store (default results/runs)")
    parser.add_argument("--show-config", action="store_true",
                        help="print the resolved config and its run id, then exit")


def run(args: argparse.Namespace) -> int:
    overrides = {}
    for item in args.overrides:
        if "=" not in item:
            raise SystemExit(f"--set expects KEY=VALUE, got {item!r}")
        key, value = item.split("=", 1)
        overrides[key.strip()] = value.strip()
    cfg = resolve_config(args.profile, **overrides)
    if args.show_config:
        print(json.dumps({"id": run_id(cfg), **dataclasses.asdict(cfg)}, indent=2, default=str))
        return 0
    result = ensure_run(cfg, args.runs_root)
    if _dist_info()[0] != 0:
        return 0
    print(json.dumps({"run": str(result.path), "metrics": result.metrics}, indent=2))
    return 0
