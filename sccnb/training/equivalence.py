"""Proof that a code change leaves every number as it was, so that stored runs stay fresh.

A run records the fingerprint of the code that trained it
(:func:`sccnb.training.runs.code_fingerprint`: the parsed modules that change results, so comments,
docstrings and formatting don't count). Moving a function to another module, splitting one into
steps or adding a config field that is off by default changes that fingerprint although no number
changes. Such a change is accepted only with a proof, made by running both versions of the code side
by side:

1. **Training:** the same smoke configs (SynthFace, both heads, 2 epochs) are trained from
   scratch by the old code and by the new, each in its own run store and crop cache. The best
   weights (every tensor, bit for bit), the training history (every column except wall-clock
   times) and the test predictions must be identical.
2. **Re-evaluation:** a committed run's weights (the shipped real-face SCC model when the
   300w_mini folder is present, else a SynthFace run) are evaluated on the run's test split by
   both versions, from the raw images through cropping, the model and the metrics. The
   predictions and the per-image NME must be identical.

When both hold, ``python -m sccnb runs --same-numbers-as REV`` appends an entry to
``results/runs/code_equivalence.json``: the old code digest, the new one, the commit compared
against, and the hashes that were compared. :meth:`sccnb.training.runs.Run.stale_reason` then
accepts a run whose digest leads to the checkout's through such entries. A change that moves any
number is refused and listed, so its runs stay stale (``python -m sccnb runs --stale``) until
retrained.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path
from typing import Any

from ..errors import UserError
from ..provenance import REPO_ROOT, git_commit, write_json
from .runs import ledger_path, read_ledger

__all__ = ["prove", "record_proof", "RESOLVE"]

# Run by each version of the code (``python -c``), in its own process: it may only use names
# that every version has. It prints one JSON object: the code digest and the hashes.
# Its first part resolves names in the tree under $SCCNB_SIDE_PACKAGE only.
RESOLVE = r'''
import os, sys
from pathlib import Path

# An editable install's finder would fill in a module the old tree lacks (sccnb.training) from
# the checkout: each side must see its own tree only.
sys.meta_path[:] = [f for f in sys.meta_path
                    if "__editable__" not in getattr(f, "__module__", type(f).__module__)]
ROOT = Path(os.environ["SCCNB_SIDE_PACKAGE"]).resolve()

def first(*names):
    import importlib
    for name in names:
        mod, _, attr = name.rpartition(".")
        try:
            found = getattr(importlib.import_module(mod), attr)
        except (ImportError, AttributeError):
            continue
        where = Path(sys.modules[found.__module__].__file__).resolve()
        if ROOT not in where.parents:
            raise ImportError(f"{name} came from {where}, not from {ROOT}")
        return found
    raise ImportError("none of " + ", ".join(names))
'''

_SIDE = RESOLVE + r'''
import hashlib, json, shutil
import numpy as np
import torch
torch.set_num_threads(1)

# (the package's layout before and after issue 23 grouped it into subpackages)
resolve_config = first("sccnb.training.config.resolve_config", "sccnb.config.resolve_config")
train = first("sccnb.training.train.train", "sccnb.train.train")
evaluate_run = first("sccnb.training.evaluate.evaluate_run", "sccnb.evaluate.evaluate_run")
Run = first("sccnb.training.runs.Run", "sccnb.runs.Run")
code_fingerprint = first("sccnb.training.runs.code_fingerprint", "sccnb.runs.code_fingerprint")

def sha(*arrays):
    h = hashlib.sha256()
    for a in arrays:
        a = np.ascontiguousarray(a)
        h.update(str((a.dtype.str, a.shape)).encode())
        h.update(a.tobytes())
    return h.hexdigest()[:16]

def state_sha(path):
    state = torch.load(path, map_location="cpu", weights_only=True)
    state = state.get("model", state) if isinstance(state, dict) else state
    h = hashlib.sha256()
    for k in sorted(state):
        v = state[k]
        if torch.is_tensor(v):
            h.update(k.encode())
            h.update(sha(v.detach().cpu().numpy()).encode())
    return h.hexdigest()[:16]

def outputs(run_dir):
    import pandas as pd
    out = {}
    for p in sorted(run_dir.glob("predictions_*.npz")):
        z = np.load(p)
        out[p.name] = sha(*[z[k] for k in sorted(z.files)])
    for p in sorted(run_dir.glob("predictions_*.csv")):
        df = pd.read_csv(p)
        out[p.name] = sha(df.select_dtypes("number").to_numpy())
    return out

args = json.loads(sys.argv[1])
result = {"digest": code_fingerprint()["digest"], "train": {}, "reeval": {}}
for head in args["heads"]:
    cfg = resolve_config("smoke", head=head, seed=args["seed"], threads=1, progress=False)
    run = train(cfg)
    hist = run.history
    keep = [c for c in hist.columns if c not in ("seconds", "images_per_s")]  # wall clock
    result["train"][head] = {"run": run.id, "weights": state_sha(run.path / "best.pt"),
                             "history": sha(hist[keep].to_numpy(dtype=float)),
                             **outputs(run.path)}
if args.get("reeval"):
    src = Path(args["reeval"])
    dst = Path(os.environ["SCCNB_RUNS"]) / src.name
    dst.mkdir(parents=True, exist_ok=True)
    for name in ("config.json", "best.pt", "best_fp16.pt", "history.csv"):
        if (src / name).is_file():
            shutil.copy2(src / name, dst / name)
    run = Run(dst)
    cfg = run.train_config
    if args.get("data_root"):
        import dataclasses
        cfg = dataclasses.replace(cfg, data_root=args["data_root"])
    evaluate_run(run, cfg, device=torch.device("cpu"))
    result["reeval"] = {"run": src.name, **outputs(dst)}
print("@@RESULT@@" + json.dumps(result))
'''


def _export(rev: str, dest: Path) -> None:
    """The package as it is at commit ``rev`` into ``dest/sccnb``."""
    try:
        blob = subprocess.run(["git", "archive", rev, "sccnb"], cwd=REPO_ROOT, check=True,
                              capture_output=True).stdout
    except subprocess.CalledProcessError as err:
        raise UserError(f"--same-numbers-as {rev}: git cannot export it "
                         f"({err.stderr.decode().strip().splitlines()[-1]})") from None
    with tarfile.open(fileobj=io.BytesIO(blob)) as tar:
        tar.extractall(dest, filter="data")


def _side(package_parent: Path, work: Path, args: dict[str, Any]) -> dict[str, Any]:
    env = {**os.environ, "PYTHONPATH": str(package_parent), "SCCNB_RUNS": str(work / "runs"),
           "SCCNB_SIDE_PACKAGE": str(Path(package_parent) / "sccnb"),
           "SCCNB_CACHE": str(work / "cache"), "OMP_NUM_THREADS": "1"}
    work.mkdir(parents=True, exist_ok=True)
    proc = subprocess.run([sys.executable, "-c", _SIDE, json.dumps(args)], cwd=work, env=env,
                          capture_output=True, text=True)
    marker = [ln for ln in proc.stdout.splitlines() if ln.startswith("@@RESULT@@")]
    if proc.returncode or not marker:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-5:]
        raise RuntimeError(f"the code in {package_parent} failed:\n  " + "\n  ".join(tail))
    return json.loads(marker[-1][len("@@RESULT@@"):])


def _reeval_run(runs_root: Path) -> tuple[Path | None, str]:
    """A committed run to re-evaluate: the shipped real-face SCC model when its data is here,
    else the newest SynthFace cpu run with weights."""
    from .runs import SHIPPED, stored_runs

    shipped = SHIPPED["real300w-scc"].run_id
    real = sorted((r for r in stored_runs(runs_root, "real300w_cpu-real300w-scc")
                   if r.has_weights and r.ready()), key=lambda r: r.id != shipped)
    for r in real:
        root = Path(r.train_config.data_root).expanduser()
        if root.is_dir():
            return r.path, str(root.resolve())
    synth = [r for r in stored_runs(runs_root, "cpu-") if r.has_weights and r.ready()]
    return (synth[0].path if synth else None), ""


def prove(rev: str, *, heads: tuple[str, ...] = ("scc", "fc"), seed: int = 0,
          reeval: str | Path | None = None, package: str | Path | None = None,
          runs_root: str | Path | None = None) -> dict[str, Any]:
    """Run the old code (commit ``rev``) and the new (``package``'s parent, default this
    checkout) side by side (see the module docstring). Returns ``{"same": bool, "old": …,
    "new": …, "differences": [...]}``."""
    from .runs import Run, default_runs_root

    runs_root = Path(runs_root or default_runs_root())
    new_parent = Path(package).resolve().parent if package else REPO_ROOT
    data_root = ""
    if reeval is None:
        reeval, data_root = _reeval_run(runs_root)
    elif (given := Run(reeval).train_config.data_root):
        data_root = str(Path(given).expanduser().resolve())
    args = {"heads": list(heads), "seed": seed, "reeval": str(reeval) if reeval else "",
            "data_root": data_root}
    with tempfile.TemporaryDirectory(prefix="sccnb-same-") as tmp:
        tmp = Path(tmp)
        _export(rev, tmp / "old")
        old = _side(tmp / "old", tmp / "old-work", args)
        new = _side(new_parent, tmp / "new-work", args)
    differences = []
    for part in ("train", "reeval"):
        a, b = _flat(old.get(part, {})), _flat(new.get(part, {}))
        differences += [f"{part}/{key}: {a.get(key)} -> {b.get(key)}"
                        for key in sorted(set(a) | set(b)) if a.get(key) != b.get(key)]
    return {"same": not differences, "base": rev, "old": old, "new": new,
            "differences": differences}


def _flat(d: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in d.items():
        if isinstance(v, dict):
            out.update(_flat(v, f"{prefix}{k}/"))
        else:
            out[f"{prefix}{k}"] = v
    return out


def record_proof(proof: dict[str, Any], note: str = "",
                 runs_root: str | Path | None = None) -> Path | None:
    """Append a successful proof to the ledger (None when the digests are equal: nothing to
    record). Refuses a failed one."""
    if not proof["same"]:
        raise UserError("the numbers differ, so stored runs stay stale:\n  "
                         + "\n  ".join(proof["differences"]))
    old, new = proof["old"]["digest"], proof["new"]["digest"]
    if old == new:
        return None
    path = ledger_path(runs_root)
    entries = read_ledger(runs_root)
    entries.append({"from": old, "to": new, "base_commit": _resolve(proof["base"]),
                    "checked_at_commit": git_commit(), "note": note,
                    "train": proof["new"]["train"], "reeval": proof["new"]["reeval"]})
    write_json(path, {"what": "Code changes proven to leave every number as it was "
                      "(sccnb.training.equivalence; python -m sccnb runs --same-numbers-as REV). "
                      "A run trained with a 'from' digest is fresh under the 'to' digest.",
                      "entries": entries})
    return path


def _resolve(rev: str) -> str:
    try:
        return subprocess.run(["git", "rev-parse", rev], cwd=REPO_ROOT, check=True,
                              capture_output=True, text=True).stdout.strip()
    except (subprocess.CalledProcessError, FileNotFoundError):
        return rev
