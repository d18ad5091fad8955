"""The training configuration: one frozen dataclass, resolved from a named profile plus overrides.

Profiles (``PROFILES``):

* ``paper``    -- the paper's recipe (Sec. 4.2) on a real dataset: 256², batch 64, SGD momentum
  0.9, weight decay 5e-4, lr 0.01 divided by 5 every 100 epochs, 500 epochs, Soft Wing
  (2, 20, 0.5), k = 3, PDB with 9 bins. Needs ``data_root``.
* ``gpu``      -- SynthFace at 256² with the paper's model and a schedule scaled down to fit a
  GPU budget.
* ``cpu``      -- the embedded default on 2 CPU cores: SynthFace, a 64² input and a ResNet34 of
  base width 16 (every table it makes says so), a short schedule.
* ``smoke``    -- for tests: a run takes seconds.
* ``real300w`` -- the paper's recipe on the 1,207 real 300-W faces of ``shared/data/300w_mini``.
* ``real300w_cpu`` -- the same faces on 2 CPU cores with the ``cpu`` profile's small network.

Every config is validated when it is made (:meth:`TrainConfig.validate`: types, ranges and
allowed values, each error a :class:`~sccnb.errors.ConfigError` naming the key), so a bad
``--set`` fails before any data is read or any run folder is made.

This module depends on nothing else of the package but the dataset table, the layouts, the
error types and the repository's root (:data:`sccnb.provenance.REPO_ROOT`, for portable paths),
so the run store (:mod:`sccnb.training.runs`), evaluation and training can all build on it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, fields
from math import isfinite
from numbers import Integral, Real
from pathlib import Path
from typing import Any, ClassVar

from ..data.datasets import DATASETS, REAL300W_DEFAULT
from ..errors import ConfigError
from ..layouts import get_layout
from ..provenance import REPO_ROOT

__all__ = ["TrainConfig", "PROFILES", "CHOICES", "resolve_config", "config_from_json",
           "portable_path", "resolve_path"]

# The values the string fields allow: what the model (sccnb.model: HEADS, FEATURE_SETS,
# ATTENTION_MODES), the losses, the optimiser and the augmentation presets accept. Listed here so
# that a config is checked without importing torch; a test checks them against those modules.
CHOICES: dict[str, tuple[str, ...]] = {
    "dataset": tuple(d for d in DATASETS if d != "cofw68"),  # COFW-68 is a test set only
    "head": ("scc", "fc"),
    "features": ("F5", "F4F5", "F3F4F5", "F2F3F4F5"),
    "attention": ("semantic", "self", "none"),
    "loss": ("l1", "wing", "softwing"),
    "optimizer": ("sgd", "adamw"),
    "augment": ("paper", "light", "none"),
    "box_jitter": ("none", "dlib-hog", "dlib-hog-refined"),  # sccnb.data.augment.BOX_JITTERS
    "amp": ("auto", "bf16", "off"),
    "channels_last": ("auto", "true", "false"),
}
DEPTHS = (18, 34)  # the ResNets sccnb.model.backbone builds
_DEVICE_NAME = r"^(auto|cpu|mps|cuda(:\d+)?)$"


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
    # crop jitter matching a face detector's calibrated boxes (not in the paper; off in every
    # study profile): "dlib-hog" = the spread measured on 300w_mini's training faces
    box_jitter: str = "none"
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
    # numerics on the device: "auto" = bf16 autocast and channels_last on CUDA, float32 and the
    # default memory format elsewhere; "bf16"/"off" and true/false force them on any device (so
    # the CUDA code paths run, and are tested, on a CPU too)
    amp: str = "auto"  # auto | bf16 | off
    channels_last: str = "auto"  # auto | true | false
    # runtime only
    device: str = "auto"
    compile: bool = False
    threads: int = 0  # torch CPU threads (0 = torch's default)
    progress: bool = True

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        """Raise a :class:`~sccnb.errors.ConfigError` naming the first key whose value has the
        wrong type, is out of range or is not one of the allowed values."""
        import re

        for f in fields(self):
            _check_type(f.name, str(f.type), getattr(self, f.name))
        for key, allowed in CHOICES.items():
            if getattr(self, key) not in allowed:
                raise _bad(key, getattr(self, key), f"allowed: {', '.join(allowed)}")
        if not re.match(r"^[A-Za-z0-9_.-]+$", self.profile):
            raise _bad("profile", self.profile, "a profile name is letters, digits, _ . -")
        if self.dataset == "real300w" and not self.data_root:
            raise _bad("data_root", self.data_root, "the real300w dataset needs the 300w_mini "
                       "folder (resolve_config sets it)")
        n = self.num_landmarks
        if not 1 <= self.k <= n - 1:
            raise _bad("k", self.k, f"must be between 1 and {n - 1} for the {n} points of "
                       f"{self.dataset} (k = {n - 1} is the dense graph)")
        if self.depth not in DEPTHS:
            raise _bad("depth", self.depth, f"supported ResNet depths: {DEPTHS}")
        if self.width < 8 or self.width % 8:
            raise _bad("width", self.width, "must be a multiple of 8 (>= 8)")
        if self.input_size < 32 or self.input_size % 32:
            raise _bad("input_size", self.input_size, "must be a multiple of 32 (>= 32)")
        if self.loss_epsilon is not None:
            if self.loss == "l1":
                raise _bad("loss_epsilon", self.loss_epsilon, "the l1 loss takes none (set "
                           "loss_epsilon=none)")
            _positive("loss_epsilon", self.loss_epsilon)
        for key in ("epochs", "batch_size", "eval_every", "pdb_bins", "synth_train",
                    "synth_test"):
            if getattr(self, key) < 1:
                raise _bad(key, getattr(self, key), "must be at least 1")
        for key in ("max_train", "seed", "synth_seed", "threads"):
            if getattr(self, key) < 0:
                raise _bad(key, getattr(self, key), "must be 0 or more")
        if self.synth_size < 32:
            raise _bad("synth_size", self.synth_size, "must be at least 32 (pixels)")
        _positive("lr", self.lr)
        _positive("crop_scale", self.crop_scale)
        _positive("lr_gamma", self.lr_gamma)
        if self.lr_gamma > 1:
            raise _bad("lr_gamma", self.lr_gamma, "the learning rate is multiplied by it at each "
                       "milestone: must be in (0, 1]")
        for key in ("weight_decay", "warmup_epochs"):
            if not (isfinite(getattr(self, key)) and getattr(self, key) >= 0):
                raise _bad(key, getattr(self, key), "must be a finite number >= 0")
        if not (0 <= self.momentum < 1):
            raise _bad("momentum", self.momentum, "must be in [0, 1)")
        if not (0 <= self.val_fraction < 1):
            raise _bad("val_fraction", self.val_fraction, "must be in [0, 1) (0 = no model "
                       "selection: the last epoch's weights are kept)")
        ms = self.lr_milestones
        if any(m < 1 for m in ms) or list(ms) != sorted(set(ms)):
            raise _bad("lr_milestones", ms, "epochs (>= 1) in increasing order, e.g. "
                       "lr_milestones=40,52")
        if not re.match(_DEVICE_NAME, self.device):
            raise _bad("device", self.device, "use auto, cpu, cuda or cuda:N")

    @property
    def num_landmarks(self) -> int:
        return get_layout(DATASETS[self.dataset].layout).num_points

    def uses_bf16(self, device_type: str) -> bool:
        """Whether the forward pass runs under bf16 autocast on a device of this type."""
        return self.amp == "bf16" or (self.amp == "auto" and device_type == "cuda")

    def uses_channels_last(self, device_type: str) -> bool:
        return (str(self.channels_last).lower() == "true"
                or (self.channels_last == "auto" and device_type == "cuda"))


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
    # the same faces on 2 CPU cores with the cpu profile's small network: 60 epochs, the last 14
    # at the lowest learning rate. 30 epochs with milestones 20/26 (the first version) left
    # held-out NME at 6.5 % (SCC) / 6.8 % (FC). Not converged by sccnb.training.evaluate.convergence
    # in most SCC runs: validation NME still falls about 1 % over the last 12 epochs (the real-face
    # tables' late_trend column; the schedule probe of sccnb.study.real300w tries drops 30/40).
    "real300w_cpu": dict(dataset="real300w", data_root=str(REAL300W_DEFAULT), input_size=64,
                         width=16, epochs=60, batch_size=32, lr_milestones=(40, 46),
                         optimizer="adamw", lr=3e-3, weight_decay=1e-4, warmup_epochs=0.3,
                         augment="light", threads=1),
}


def _bad(key: str, value: Any, problem: str) -> ConfigError:
    return ConfigError(f"config key {key}={value!r}: {problem}")


def _positive(key: str, value: float) -> None:
    if not (isfinite(value) and value > 0):
        raise _bad(key, value, "must be a finite number > 0")


def _check_type(key: str, ftype: str, value: Any) -> None:
    """The value's type against the field's annotation (a bool is not an int here)."""
    if value is None:
        if "None" not in ftype:
            raise _bad(key, value, "must not be empty")
        return
    if ftype.startswith("bool"):
        ok = isinstance(value, bool)
    elif ftype.startswith("int"):
        ok = isinstance(value, Integral) and not isinstance(value, bool)
    elif ftype.startswith("float"):
        ok = isinstance(value, Real) and not isinstance(value, bool)
    elif ftype.startswith("tuple"):
        ok = isinstance(value, tuple) and all(
            isinstance(v, Integral) and not isinstance(v, bool) for v in value)
    else:
        ok = isinstance(value, str)
    if not ok:
        kind = ftype.split("[")[0].split(" ")[0]
        raise _bad(key, value, {"int": "expected an integer", "float": "expected a number",
                                "bool": "expected true or false", "str": "expected a string",
                                "tuple": "expected integers, e.g. 40,52"}.get(kind, kind))


def _coerce(name: str, value: Any) -> Any:
    """Convert a ``--set key=value`` string to the field's type (errors name the key)."""
    ftype = {f.name: f.type for f in fields(TrainConfig)}.get(name)
    if ftype is None:
        raise ConfigError(f"unknown config key {name!r}; known: "
                          f"{', '.join(sorted(f.name for f in fields(TrainConfig)))}")
    if not isinstance(value, str):
        return tuple(value) if isinstance(value, list) else value
    t = str(ftype)
    if value.lower() in ("none", "null") and "None" in t:
        return None
    if t.startswith("bool"):
        if value.lower() not in ("true", "false", "1", "0", "yes", "no"):
            raise _bad(name, value, f"{name} expects true/false")
        return value.lower() in ("true", "1", "yes")
    try:
        if t.startswith("int"):
            return int(value)
        if t.startswith("float"):
            return float(value)
        if t.startswith("tuple"):
            return tuple(int(v) for v in value.replace(",", " ").split())
    except ValueError:
        kind = {"int": "an integer", "flo": "a number", "tup": "integers, e.g. 40,52"}[t[:3]]
        raise _bad(name, value, f"expected {kind}") from None
    return value


def config_from_json(d: dict[str, Any]) -> TrainConfig:
    """Rebuild a TrainConfig from ``config.json``'s ``"train"`` dict (lists back to tuples, a
    repository-relative ``data_root`` back to a path here). Fields a newer version added take
    their defaults; fields this version does not know are an error naming them."""
    known = {f.name for f in fields(TrainConfig)}
    unknown = sorted(set(d) - known)
    if unknown:
        raise ConfigError(f"config has fields this version of sccnb does not know: {unknown}; "
                          "it was written by a newer sccnb")
    values = {k: tuple(v) if isinstance(v, list) else v for k, v in d.items()}
    if values.get("data_root"):
        values["data_root"] = resolve_path(values["data_root"])
    return TrainConfig(**values)


def resolve_config(profile: str = "paper", **overrides: Any) -> TrainConfig:
    """The profile's settings, then ``overrides`` (values may be strings, as from the CLI)."""
    if profile not in PROFILES:
        raise ConfigError(f"unknown profile {profile!r}; supported: {', '.join(PROFILES)}")
    settings = {**PROFILES[profile], "profile": profile}
    for key, value in overrides.items():
        settings[key] = _coerce(key, value)
    if settings.get("dataset", "wflw") == "real300w":
        settings.setdefault("data_root", str(REAL300W_DEFAULT))
    if settings.get("dataset") not in CHOICES["dataset"] and "dataset" in settings:
        raise ConfigError(f"config key dataset={settings['dataset']!r}: cannot train on it; "
                          f"train on one of {', '.join(CHOICES['dataset'])}"
                          + (" (COFW-68 is a test set: `eval RUN --test-dataset cofw68` on a "
                             "300w run)" if settings["dataset"] == "cofw68" else ""))
    return TrainConfig(**settings)


def portable_path(path: str | Path) -> str:
    """``path`` as recorded in a run or a table: relative to the repository when it lies inside
    the repository's parent folder (the repository itself, or ``../shared`` beside it), else as
    given. Never used for identity (see :mod:`sccnb.training.runs`)."""
    if not path:
        return ""
    p = Path(path).expanduser().resolve()
    base = REPO_ROOT.resolve()
    try:
        p.relative_to(base.parent)
    except ValueError:
        return str(path)
    return os.path.relpath(p, base)


def resolve_path(path: str) -> str:
    """Inverse of :func:`portable_path`: a relative recorded path is taken from the repository."""
    if not path or Path(path).expanduser().is_absolute():
        return path
    return str((REPO_ROOT / path).resolve())
