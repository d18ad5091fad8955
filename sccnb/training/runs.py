"""The run store: a run is a pure function of its config, its data and the code, and its id names
the first two by content.

**Identity.** ``run_id(cfg)`` = ``<profile>-<dataset>-<head>-<10 hex>``, the hex a hash of the
resolved config with

* the runtime-only fields left out (device, threads, progress bars, ``torch.compile``),
* ``data_root`` replaced by the fingerprint of the data the run reads
  (:mod:`sccnb.data.fingerprint`: annotation files by content, images by name and size, all
  relative to the dataset's folder) -- never by a path. The same data under another folder or on
  another machine gives the same id; changed data gives a new one. SynthFace configs
  (``data_root = ""``) are identified by their generator settings, which are config fields;
* fields added after runs were first stored (``LATER_FIELDS``) left out while they hold the value
  that reproduces the behaviour from before they existed, so adding a field orphans no run.

**Code.** The code is deliberately *not* part of the id (a comment or a refactor must not throw
away hours of training), but every run records a fingerprint of the modules that change results
(:func:`code_fingerprint`: model, losses, metrics, layouts, data pipeline, training, evaluation;
parsed, so comments and docstrings don't count). ``python -m sccnb runs --stale`` lists stored
runs whose code differs from the checkout, and every table rendered from such runs says so. A
change that moves code without moving numbers is accepted only with a proof, recorded in
``code_equivalence.json`` beside the runs (:mod:`sccnb.training.equivalence`).

``results/runs/<id>/`` holds::

    config.json        {"id", "train": the config (data_root relative to the repository where
                        possible), "provenance": commit, device, versions, "data": fingerprint,
                        "code": fingerprint and per-file digests}
    metrics.json       summary per test split / subset (NME, FR@0.1, AUC@0.1), best epoch,
                       convergence
    history.csv        one row per epoch: lr, train loss, validation NME, images/s, seconds
    predictions_<split>.csv   one row per test image: name, NME, subset flags
    predictions_<split>.npz   predicted and true landmarks (git-ignored: large)
    mean_shape_<split>.csv    the mean-shape baseline's per-image table
    checkpoint.pt      last epoch, for resuming (git-ignored)
    best.pt            weights of the epoch with the lowest validation NME (git-ignored)
    best_fp16.pt       the same weights in half precision, committed for the runs that figures,
                       the tour and ``predict`` need (:meth:`Run.export_half`)

Asking for a run that exists loads it instead of training it again, so tables share runs.
Concurrent requests for the same run (``make -j``) serialise on a lock file. A stored run is
found by its id, its folder, a weights file in it or a shipped model's name
(:func:`resolve_run`, :data:`SHIPPED`).

Dependencies go one way: this module builds on :mod:`sccnb.training.config`,
:mod:`sccnb.provenance`, the model and the data fingerprint; :mod:`sccnb.training.evaluate`,
:mod:`sccnb.training.train` and everything that applies or reports a run build on it
(``tests/test_imports.py`` checks that the package's imports have no circle).
"""

from __future__ import annotations

import ast
import hashlib
import io
import json
import os
from dataclasses import asdict, dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import pandas as pd

from ..errors import CheckpointError, ConfigError, NotFound
from ..provenance import REPO_ROOT, atomic_write_bytes, file_lock
from .config import TrainConfig, portable_path

__all__ = ["default_runs_root", "run_id", "identity", "Run", "run_lock", "code_fingerprint",
           "data_identity", "build_for", "model_from_state", "load_weights", "check_checkpoint",
           "stored_runs", "stale_runs", "LATER_FIELDS", "CODE_FILES", "pin_worker",
           "ledger_path", "read_ledger", "equivalent_digests", "SHIPPED", "ShippedModel",
           "resolve_run"]

run_lock = file_lock  # the lock a run folder's writers share

# Fields added after the first runs were stored, with the value that reproduces the behaviour
# from before they existed: at that value they are left out of the identity.
LATER_FIELDS: dict[str, Any] = {"amp": "auto", "channels_last": "auto", "box_jitter": "none"}

# The modules whose code changes a run's numbers (relative to the package). Left out of their
# fingerprint: the scheduling of runs (``ensure_run``, ``ensure_runs``, ``_ensure_worker``: which
# runs train, where, in which process -- not how).
CODE_FILES = (
    "model/__init__.py", "model/attention.py", "model/backbone.py", "model/graph.py",
    "model/scc.py", "layouts.py", "metrics.py", "training/losses.py", "training/train.py",
    "training/evaluate.py",
    "data/_io.py", "data/augment.py", "data/crops.py", "data/datasets.py", "data/pdb.py",
    "data/prepare.py", "data/records.py", "data/w300.py", "data/wflw.py", "data/cofw.py",
    "data/synth/__init__.py", "data/synth/generator.py", "data/synth/geometry.py",
    "data/synth/render.py", "data/synth/sampling.py", "data/synth/shape_model.npz",
    "data/stats/box_jitter_dlib-hog.json", "data/stats/box_jitter_dlib-hog-refined.json",
)
_SCHEDULING_NAMES = {"ensure_run", "ensure_runs", "_ensure_worker", "_ensure_worker_indexed"}


def default_runs_root() -> Path:
    """``$SCCNB_RUNS`` or ``<repo>/results/runs``."""
    return Path(os.environ.get("SCCNB_RUNS", REPO_ROOT / "results" / "runs"))


# --- identity --------------------------------------------------------------------------------
def data_identity(cfg) -> str:
    """``""`` for SynthFace, else ``"<dataset>:<fingerprint>"`` of the data under data_root."""
    if not cfg.data_root:
        return ""
    from ..data.fingerprint import data_fingerprint

    root = Path(cfg.data_root).expanduser()
    if not root.exists():
        raise NotFound(f"data_root {root} does not exist (see README, 'Real datasets', for the "
                       "expected layout)")
    return str(data_fingerprint(cfg.dataset, root))


def identity(cfg) -> dict[str, Any]:
    """The content a run id hashes (see the module docstring)."""
    d = asdict(cfg)
    for name in getattr(cfg, "RUNTIME_FIELDS", ()):
        d.pop(name, None)
    for name, before in LATER_FIELDS.items():
        if name in d and d[name] == before:
            d.pop(name)
    if d.get("data_root"):
        d["data_root"] = data_identity(cfg)
    return d


def run_id(cfg) -> str:
    """``<profile>-<dataset>-<head>-<10 hex of the identity hash>``: readable and unique."""
    blob = json.dumps(identity(cfg), sort_keys=True, default=str).encode()
    digest = hashlib.sha256(blob).hexdigest()[:10]
    return f"{cfg.profile}-{cfg.dataset}-{cfg.head}-{digest}"


# --- code fingerprint ------------------------------------------------------------------------
def _strip(tree: ast.AST) -> ast.AST:
    """Drop docstrings everywhere and the command-line functions at module level."""
    if isinstance(tree, ast.Module):
        tree.body = [n for n in tree.body if not (
            isinstance(n, ast.FunctionDef) and n.name in _SCHEDULING_NAMES)]
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if (isinstance(body, list) and body and isinstance(body[0], ast.Expr)
                and isinstance(body[0].value, ast.Constant)
                and isinstance(body[0].value.value, str)):
            node.body = body[1:] or [ast.Pass()]
    return tree


def _file_fingerprint(path: Path) -> str:
    data = path.read_bytes()
    if path.suffix == ".py":
        data = ast.dump(_strip(ast.parse(data))).encode()
    return hashlib.sha256(data).hexdigest()[:12]


@lru_cache(maxsize=1)
def code_fingerprint() -> dict[str, Any]:
    """``{"digest": 12 hex over all, "files": {file: 12 hex}}`` for :data:`CODE_FILES` as they
    are in this checkout (comments, docstrings and formatting don't count)."""
    pkg = Path(__file__).resolve().parents[1]  # sccnb/
    files = {name: _file_fingerprint(pkg / name) for name in CODE_FILES if (pkg / name).exists()}
    digest = hashlib.sha256(json.dumps(files, sort_keys=True).encode()).hexdigest()[:12]
    return {"digest": digest, "files": files}


# --- proofs that a code change keeps every number (written by sccnb.training.equivalence)
# -------------
LEDGER_NAME = "code_equivalence.json"


def ledger_path(runs_root: str | Path | None = None) -> Path:
    """The store's ledger of proven same-number code changes."""
    return Path(runs_root or default_runs_root()) / LEDGER_NAME


def read_ledger(runs_root: str | Path | None = None) -> list[dict[str, Any]]:
    """The recorded proofs (``[]`` when there are none)."""
    path = ledger_path(runs_root)
    if not path.is_file():
        return []
    try:
        entries = json.loads(path.read_text()).get("entries", [])
    except (json.JSONDecodeError, AttributeError) as err:
        raise NotFound(f"{path}: not a code-equivalence ledger ({err})") from None
    return [e for e in entries if isinstance(e, dict) and e.get("from") and e.get("to")]


def equivalent_digests(current: str, runs_root: str | Path | None = None) -> set[str]:
    """``current`` and every digest whose runs the ledger proves give the same numbers as it
    (followed backwards through chains of proofs: A -> B and B -> C accept A under C). The
    ledger is read once per state of its file, however many runs ask."""
    path = ledger_path(runs_root)
    try:
        st = path.stat()
        state = (st.st_mtime_ns, st.st_size)
    except OSError:
        state = None
    return set(_equivalent_digests(str(path), state, current))


@lru_cache(maxsize=16)
def _equivalent_digests(path: str, state, current: str) -> frozenset[str]:
    back: dict[str, set[str]] = {}
    for e in read_ledger(Path(path).parent) if state else ():
        back.setdefault(e["to"], set()).add(e["from"])
    seen, todo = {current}, [current]
    while todo:
        for old in back.get(todo.pop(), ()):
            if old not in seen:
                seen.add(old)
                todo.append(old)
    return frozenset(seen)


def pin_worker() -> None:
    """Pool initializer of the training workers (:func:`sccnb.training.train.ensure_runs`): pin the
    commit (:func:`sccnb.provenance.pin_commit`) and the code fingerprint (:func:`code_fingerprint`,
    cached per process) to the code this worker just imported. It lives here, not in
    :mod:`sccnb.provenance`, so that provenance depends on nothing that depends on it."""
    from ..provenance import pin_commit

    pin_commit()
    code_fingerprint()


# --- models ----------------------------------------------------------------------------------
def build_for(cfg: TrainConfig, shapes=None, mask=None):
    """The model a config describes (``shapes``: training landmarks in the 256 frame)."""
    from ..model import build_model

    return build_model(cfg.num_landmarks, head=cfg.head, k=cfg.k, features=cfg.features,
                       attention=cfg.attention, dynamic=cfg.dynamic, shapes=shapes, mask=mask,
                       input_size=cfg.input_size, depth=cfg.depth, width=cfg.width)


def model_from_state(cfg: TrainConfig, state: dict[str, Any], source: str = "state dict"):
    """Rebuild a model from its config and a state dict (mask and template are in the state);
    half-precision tensors (the committed weights) come back as float32. Weights of another
    kind of model (points, head, network size) are a :class:`~sccnb.errors.CheckpointError`
    that names ``source`` and says how they differ."""
    import torch

    state = {k: v.float() if torch.is_floating_point(v) else v for k, v in state.items()}
    what = (f"{cfg.head} head, {cfg.num_landmarks} points ({cfg.dataset}), ResNet{cfg.depth} of "
            f"width {cfg.width}, input {cfg.input_size}")
    template, mask = state.get("template"), state.get("head.adjacency.mask")
    if template is not None and tuple(template.shape) != (cfg.num_landmarks, 2):
        raise CheckpointError(f"{source}: weights of a {template.shape[0]}-point model, but the "
                              f"run's config is {what}; use that run's own weights")
    if (mask is None) != (cfg.head != "scc"):
        saved = "an FC-head model (no graph)" if mask is None else "an SCC-head model"
        raise CheckpointError(f"{source}: weights of {saved}, but the run's config is {what}; "
                              "use that run's own weights")
    try:
        model = build_for(cfg, mask=None if mask is None else mask.cpu().numpy())
    except ValueError as err:
        raise CheckpointError(f"{source}: the graph mask does not fit the run's config "
                              f"({what}): {err}") from None
    want = model.state_dict()
    missing = [k for k in want if k not in state]
    extra = [k for k in state if k not in want]
    shapes = [k for k in want if k in state and state[k].shape != want[k].shape]
    if missing or extra or shapes:
        parts = [f"{len(missing)} missing (e.g. {missing[0]})" if missing else "",
                 f"{len(extra)} unexpected (e.g. {extra[0]})" if extra else "",
                 (f"{len(shapes)} of another shape (e.g. {shapes[0]}: "
                  f"{tuple(state[shapes[0]].shape)} saved, {tuple(want[shapes[0]].shape)} "
                  "needed)") if shapes else ""]
        raise CheckpointError(f"{source}: weights that do not fit the run's model ({what}): "
                              f"tensors {', '.join(p for p in parts if p)}; use that run's own "
                              "weights")
    model.load_state_dict(state)
    return model


def _first_line(err: BaseException, limit: int = 160) -> str:
    text = (str(err).strip().splitlines() or [""])[0]
    text = f"{type(err).__name__}: {text}" if text else type(err).__name__
    return text if len(text) <= limit else text[:limit - 3] + "..."


def check_checkpoint(path: str | Path) -> None:
    """Refuse (:class:`~sccnb.errors.CheckpointError`) a weights or checkpoint file that is
    empty, truncated or not a file ``torch.save`` wrote (a zip archive), without loading it."""
    import zipfile

    path = Path(path)
    if not path.is_file():
        raise NotFound(f"{path}: no such weights file")
    if path.stat().st_size == 0:
        raise CheckpointError(f"{path} is empty (0 bytes): delete it and train the run again")
    try:
        with zipfile.ZipFile(path) as zf:
            zf.infolist()
    except (zipfile.BadZipFile, OSError) as err:
        raise CheckpointError(f"{path} is truncated or not a PyTorch checkpoint "
                              f"({_first_line(err)}): delete it and train the run again, or "
                              "give the right file") from None


def load_weights(path: str | Path, device: str = "cpu") -> dict[str, Any]:
    """The state dict in a weights file (``best.pt``, ``best_fp16.pt``, or the model part of a
    training ``checkpoint.pt``), loaded with ``weights_only=True``; a missing, truncated or
    foreign file is a :class:`~sccnb.errors.CheckpointError` naming it."""
    import torch

    path = Path(path)
    check_checkpoint(path)
    try:
        obj = torch.load(path, map_location=device, weights_only=True)
    except Exception as err:  # noqa: BLE001 -- every way a load fails means a bad file
        raise CheckpointError(f"{path} cannot be loaded as model weights ({_first_line(err)}): "
                              "it is damaged or was not written by sccnb; train the run "
                              "again, or give the right file") from None
    if isinstance(obj, dict) and "model" in obj and "optimizer" in obj:
        obj = obj["model"]  # a training checkpoint: its model part
    if not (isinstance(obj, dict) and obj and all(
            isinstance(k, str) and torch.is_tensor(v) for k, v in obj.items())):
        raise CheckpointError(f"{path} does not hold model weights (a state dict of tensors); "
                              "give a best.pt, best_fp16.pt or checkpoint.pt of a run")
    return obj


_DIGESTS: dict[tuple[str, int, int], str] = {}


def _version(path: Path) -> tuple[str, int, int]:
    """(resolved path, size, mtime in ns): the key of the per-process caches of file contents."""
    st = path.stat()
    return str(path.resolve()), st.st_size, st.st_mtime_ns


def _sha256(path: Path) -> str:
    """SHA-256 of a file, cached per process by (path, size, mtime)."""
    key = _version(path)
    if key not in _DIGESTS:
        h = hashlib.sha256()
        with open(path, "rb") as f:
            while chunk := f.read(1 << 20):
                h.update(chunk)
        _DIGESTS[key] = h.hexdigest()
    return _DIGESTS[key]


_EPOCHS: dict[tuple[str, int, int], int | None] = {}
_HISTORIES: dict[tuple[str, int, int], pd.DataFrame] = {}


def _checkpoint_epoch(path: Path) -> int | None:
    """The last finished epoch a training checkpoint records (None when unreadable), cached per
    process by (path, size, mtime) like :func:`_sha256`: the whole checkpoint is loaded to read
    it, and :meth:`Run.has_weights` asks on every call for runs stored before seals."""
    import torch

    key = _version(path)
    if key not in _EPOCHS:
        try:
            _EPOCHS[key] = int(torch.load(path, map_location="cpu", weights_only=True)["epoch"])
        except Exception:  # noqa: BLE001 -- a damaged checkpoint says nothing about best.pt
            _EPOCHS[key] = None
    return _EPOCHS[key]


# --- a stored run ----------------------------------------------------------------------------
class Run:
    """A finished (or partly finished) run on disk."""

    def __init__(self, path: str | Path, weights: str | Path | None = None) -> None:
        self.path = Path(path)
        self.weights = None if weights is None else Path(weights)  # None: the run's best

    @property
    def id(self) -> str:
        return self.path.name

    @property
    def complete(self) -> bool:
        return (self.path / "metrics.json").is_file()

    def ready(self, need_weights: bool = False) -> bool:
        """Complete, and with the records' weights when ``need_weights``: nothing to train."""
        return self.complete and (self.has_weights or not need_weights)

    @property
    def config(self) -> dict[str, Any]:
        path = self.path / "config.json"
        if not path.is_file():
            raise NotFound(f"{self.path} is not a run folder (no config.json in it)")
        try:
            config = json.loads(path.read_text())
        except (ValueError, UnicodeDecodeError) as err:
            raise ConfigError(f"{path} is not valid JSON ({err}); the run record is damaged: "
                              "delete the run folder and train it again") from None
        if not isinstance(config, dict) or not isinstance(config.get("train"), dict):
            raise ConfigError(f"{path} has no \"train\" config; the run record is damaged")
        return config

    @property
    def train_config(self) -> TrainConfig:
        from .config import config_from_json

        train = self.config["train"]
        try:
            return config_from_json(train)
        except ConfigError as err:
            raise ConfigError(f"{self.path / 'config.json'}: {err}") from None
        except TypeError as err:
            raise ConfigError(f"{self.path / 'config.json'}: not a config sccnb can read "
                              f"({err})") from None

    @property
    def metrics(self) -> dict[str, Any]:
        return json.loads((self.path / "metrics.json").read_text())

    @property
    def history(self) -> pd.DataFrame:
        """One row per epoch (a copy; the file is read once per version of it)."""
        path = self.path / "history.csv"
        key = _version(path)
        if key not in _HISTORIES:
            _HISTORIES[key] = pd.read_csv(path)
        return _HISTORIES[key].copy()

    def predictions(self, split: str) -> pd.DataFrame:
        """Per-image table of a test split: name, nme, subset flags, dataset, split."""
        return pd.read_csv(self.path / f"predictions_{split}.csv")

    def landmarks(self, split: str) -> dict[str, Any]:
        """Predicted and true landmarks of a test split (arrays; crop frame, 256 px)."""
        import numpy as np

        with np.load(self.path / f"predictions_{split}.npz") as z:
            return {k: z[k] for k in z.files}

    @property
    def best_weights(self) -> Path:
        return self.path / "best.pt"

    @property
    def half_weights(self) -> Path:
        return self.path / "best_fp16.pt"

    @property
    def has_weights(self) -> bool:
        """Whether weights that belong to this run's records are on disk (see
        :meth:`weights_issue`)."""
        if self.weights is not None:
            return self.weights.is_file()
        return any(p.is_file() and self.weights_issue(p) is None
                   for p in (self.best_weights, self.half_weights))

    def weights_path(self) -> Path:
        """The weights this Run was given, else ``best.pt`` when present (full precision), else
        the committed ``best_fp16.pt`` -- either only when it belongs to the run's records
        (:meth:`weights_issue`)."""
        if self.weights is not None:
            if not self.weights.is_file():
                raise NotFound(f"{self.weights}: no such weights file")
            return self.weights
        issues = []
        for path in (self.best_weights, self.half_weights):
            if path.is_file():
                issue = self.weights_issue(path)
                if issue is None:
                    return path
                # a damaged file, or another kind of model: those are the clearer reasons
                model_from_state(self.train_config, load_weights(path), source=str(path))
                issues.append(issue)
        raise NotFound(f"{self.path}: no weights that belong to its records "
                       f"({'; '.join(issues) or 'no best.pt or best_fp16.pt'}); train the run "
                       "again (`python -m sccnb train ...` with its config)")

    # The weights a finished run's numbers came from are sealed: ``weights.json`` holds the
    # SHA-256 of ``best.pt`` (and of ``best_fp16.pt`` once exported), written when training
    # finishes. A ``best.pt`` left by an interrupted retraining beside restored records would
    # otherwise be taken for the run's weights (it happened: an epoch-0 ``best.pt`` beside the
    # metrics of a finished run, 44 % NME where the records say 15 %).
    @property
    def seal_path(self) -> Path:
        return self.path / "weights.json"

    def seal_weights(self) -> dict[str, Any]:
        """Record the digests of the weight files present now (after training or export)."""
        from ..provenance import write_json

        seal = self._seal()  # {} when there is none yet
        for path in (self.best_weights, self.half_weights):
            if path.is_file():
                seal[path.name] = {"sha256": _sha256(path), "bytes": path.stat().st_size}
        write_json(self.seal_path, seal)
        return seal

    def _seal(self) -> dict[str, Any]:
        try:
            seal = json.loads(self.seal_path.read_text())
        except (OSError, ValueError):
            return {}
        return seal if isinstance(seal, dict) else {}

    def weights_issue(self, path: Path) -> str | None:
        """Why ``path`` (this run's ``best.pt`` or ``best_fp16.pt``) is not the weights its
        records came from, or None. Sealed files must match their digest; an unsealed
        ``best.pt`` (runs from before seals) is refused when ``checkpoint.pt`` shows the training
        that wrote it stopped before its last epoch. An unsealed ``best_fp16.pt`` is trusted
        (it is exported from finished runs only)."""
        entry = self._seal().get(path.name)
        if entry is not None:
            if entry.get("bytes") != path.stat().st_size or entry.get("sha256") != _sha256(path):
                return (f"{path.name} differs from the weights sealed in {self.seal_path.name} "
                        "when the run finished")
            return None
        if path != self.best_weights or not (self.path / "checkpoint.pt").is_file():
            return None
        epoch = _checkpoint_epoch(self.path / "checkpoint.pt")
        try:
            last = int(self.config["train"]["epochs"]) - 1
        except (KeyError, TypeError, ValueError, ConfigError, NotFound):
            return None
        if epoch is not None and epoch < last:
            return (f"best.pt is from a training that stopped at epoch {epoch} of {last + 1} "
                    "(checkpoint.pt), not the one the records came from")
        return None

    def load_state(self, device: str = "cpu", weights: str | Path | None = None
                   ) -> dict[str, Any]:
        """The state dict of ``weights`` (default: :meth:`weights_path`), checked
        (:func:`load_weights`)."""
        return load_weights(weights or self.weights_path(), device)

    def load_model(self, device: str = "cpu", weights: str | Path | None = None):
        """Rebuild the model and load the best weights, or ``weights`` (another file saved by
        this run's model), with ``torch.load(weights_only=True)``; a truncated or foreign file
        is a :class:`~sccnb.errors.CheckpointError` naming it."""
        path = Path(weights) if weights else self.weights_path()
        state = self.load_state(device, path)
        return model_from_state(self.train_config, state, source=str(path)).to(device).eval()

    def export_half(self) -> Path:
        """Write ``best_fp16.pt``: the best weights with floating tensors in half precision,
        atomically. Returns its path."""
        import torch

        issue = self.weights_issue(self.best_weights) if self.best_weights.is_file() else \
            "no best.pt (train the run with its weights kept)"
        if issue:
            raise NotFound(f"{self.path}: cannot export half weights: {issue}")
        state = torch.load(self.best_weights, map_location="cpu", weights_only=True)
        half = {k: v.half() if torch.is_floating_point(v) else v for k, v in state.items()}
        buf = io.BytesIO()
        torch.save(half, buf)
        path = atomic_write_bytes(self.half_weights, buf.getvalue())
        self.seal_weights()
        return path

    @property
    def code(self) -> dict[str, Any] | None:
        """The code fingerprint the run was trained with (None for runs stored before them)."""
        return self.config.get("code")

    def stale_reason(self, current: dict[str, Any] | None = None) -> str | None:
        """Why this run's code differs from the checkout's, or None when it does not."""
        current = current or code_fingerprint()
        code = self.code
        if code is None:
            return "trained before code fingerprints were recorded"
        if code.get("digest") == current["digest"]:
            return None
        if code.get("digest") in equivalent_digests(current["digest"], self.path.parent):
            return None  # a recorded proof: that code gives this checkout's numbers
        old, new = code.get("files", {}), current["files"]
        changed = sorted(f for f in set(old) | set(new) if old.get(f) != new.get(f))
        return "code differs in " + ", ".join(changed)

    def __repr__(self) -> str:
        return f"Run({self.path})"


def stored_runs(runs_root: str | Path | None = None, prefix: str = "") -> list[Run]:
    """Every run folder under the store (with a config.json), sorted by id."""
    root = Path(runs_root or default_runs_root())
    if not root.is_dir():
        return []
    return [Run(p) for p in sorted(root.iterdir())
            if p.is_dir() and p.name.startswith(prefix) and (p / "config.json").is_file()]


def stale_runs(runs: list[Run]) -> list[tuple[Run, str]]:
    """``(run, reason)`` for each run whose code fingerprint differs from the checkout's."""
    current = code_fingerprint()
    out = []
    for r in runs:
        reason = r.stale_reason(current)
        if reason:
            out.append((r, reason))
    return out


# --- a run by name: a shipped model, a run id, a folder or a weights file --------------------
@dataclass(frozen=True)
class ShippedModel:
    """A model that ships with the study: its run and what it is (:mod:`sccnb.inference.zoo` loads
    it)."""

    run_id: str  # the run under results/runs/ (the seed-0 run of its evidence arm)
    description: str


# name -> run: the seed-0 runs of the long-schedule arms of the committed real-faces evidence,
# their weights committed in half precision (sccnb.inference.zoo describes them). A test checks that
# the ids are those of the long-schedule evidence configs' seed-0 runs
# (sccnb.study.real300w.SHIPPED_ARMS).
SHIPPED: dict[str, ShippedModel] = {
    "real300w-scc": ShippedModel("real300w_cpu-real300w-scc-0e7940cb2e",
                                 "SCC (full model), 68 points, real 300-W faces, profile "
                                 "real300w_cpu at 100 epochs (drops 60/72), seed 0"),
    "real300w-fc": ShippedModel("real300w_cpu-real300w-fc-7e76961e0b",
                                "FC baseline (Soft Wing), 68 points, real 300-W faces, profile "
                                "real300w_cpu at 100 epochs (drops 60/72), seed 0"),
    # The photo model: real300w-scc's config at 128² input (issue 22's stretch). Not an arm of
    # the study's evidence (one seed, not in any claim): its held-out numbers are in
    # docs/photos.md.
    "real300w-scc-128": ShippedModel("real300w_cpu-real300w-scc-badd66a415",
                                     "SCC (full model), 68 points, real 300-W faces, profile "
                                     "real300w_cpu at 128² input, 100 epochs (drops 60/72), "
                                     "seed 0: the sharpest model for photos"),
}


def _shipped_dirs(run_id: str) -> list[Path]:
    """Where a shipped run may be: the run store, then the repository's committed runs."""
    dirs = [default_runs_root() / run_id, REPO_ROOT / "results" / "runs" / run_id]
    return list(dict.fromkeys(dirs))


def resolve_run(name: str | Path, runs_root: str | Path | None = None) -> Run:
    """A run from a shipped model's name, a run folder, a run id (under ``runs_root``, default
    ``results/runs``) or a weights file inside a run folder."""
    text = str(name)
    if text in SHIPPED:
        for d in _shipped_dirs(SHIPPED[text].run_id):
            if (d / "config.json").is_file():
                return Run(d)
        raise FileNotFoundError(f"shipped model {text!r}: its run {SHIPPED[text].run_id} is not "
                                f"in {' or '.join(map(str, _shipped_dirs(SHIPPED[text].run_id)))}")
    path, weights = Path(text).expanduser(), None
    if path.suffix == ".pt":  # that very weights file, with its run folder's config
        if not path.is_file():
            raise FileNotFoundError(f"no weights file {path}")
        path, weights = path.parent, path
    if not path.is_dir():
        path = Path(runs_root or default_runs_root()) / text
    if not (path / "config.json").is_file():
        raise FileNotFoundError(f"no run at {path} (expected config.json there); shipped "
                                f"models: {', '.join(SHIPPED)}")
    return Run(path, weights=weights)


def record(cfg: TrainConfig) -> dict[str, Any]:
    """The ``"train"``, ``"data"`` and ``"code"`` parts of a run's config.json."""
    train = asdict(cfg)
    train["data_root"] = portable_path(cfg.data_root)
    data: dict[str, Any] = {"root": train["data_root"] or "SynthFace (generated)"}
    if cfg.data_root:
        from ..data.fingerprint import data_fingerprint

        fp = data_fingerprint(cfg.dataset, Path(cfg.data_root).expanduser())
        data.update(fingerprint=str(fp), files=fp.files, annotation_files=fp.annotations)
    return {"id": run_id(cfg), "train": train, "data": data, "code": code_fingerprint()}
