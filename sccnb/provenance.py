"""Where a number came from: code version, package versions, device, time; and atomic writes.

Every run record in ``results/runs/`` carries :func:`provenance` so a reader can tell which
commit, device and environment trained it. A rendered table or figure records the runs it was
made from and their code instead (:func:`sccnb.study.common.table_provenance`), not the moment
or the machine of rendering, and is rewritten only when its content changes (``changed_only``):
a re-render with nothing new leaves ``git status`` clean.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import fcntl
import json
import os
import platform
import subprocess
import tempfile
from pathlib import Path
from typing import Any, Iterator

__all__ = ["provenance", "git_commit", "pin_commit", "device_name",
           "atomic_write_text", "atomic_write_bytes", "write_json", "file_lock", "REPO_ROOT"]

REPO_ROOT = Path(__file__).resolve().parents[1]


def git_commit(repo: Path = REPO_ROOT) -> str:
    """``<sha>`` of HEAD, with ``+dirty`` when tracked files under sccnb/ or notebooks/ differ
    from it (results/ changes don't count); ``"unknown"`` outside a git checkout."""
    try:
        sha = subprocess.run(["git", "rev-parse", "--short=12", "HEAD"], cwd=repo, check=True,
                             capture_output=True, text=True, timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no", "--",
                                "sccnb", "notebooks", "Makefile"], cwd=repo, check=True,
                               capture_output=True, text=True, timeout=10).stdout.strip()
        return sha + ("+dirty" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        return "unknown"


_PINNED: str | None = None


def pin_commit() -> str:
    """Record :func:`git_commit` now, for every later :func:`provenance` of this process.

    A training worker imports the package when it starts and keeps that code for every run it
    trains; a commit read at each run's start would name the HEAD of that moment instead, which
    can be newer than the code that ran."""
    global _PINNED
    _PINNED = git_commit()
    return _PINNED


def device_name(device: str | None = None) -> str:
    """Human-readable name of the device that computes: the GPU's name, or the CPU model with the
    number of threads torch uses."""
    import torch

    dev = torch.device(device) if device else torch.device(
        "cuda" if torch.cuda.is_available() else "cpu")
    if dev.type == "cuda":
        return torch.cuda.get_device_name(dev)
    model = platform.processor() or "CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    n = torch.get_num_threads()
    return f"{model} ({n} thread{'s' if n > 1 else ''})"


def provenance(device: str | None = None, **extra: Any) -> dict[str, Any]:
    """The record every result carries: commit, time, device, Python/torch/numpy versions."""
    import numpy
    import torch

    return {
        "commit": _PINNED or git_commit(),
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "device": device_name(device),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "numpy": numpy.__version__,
        "platform": platform.platform(),
        **extra,
    }


def atomic_write_bytes(path: str | Path, data: bytes, *, changed_only: bool = False) -> Path:
    """Write ``data`` to ``path`` via a temporary file in the same folder and ``os.replace``, so a
    reader never sees a half-written file and a crash leaves the old file (or none).

    ``changed_only``: leave the file as it is (not even its time) when it already holds exactly
    ``data`` -- what every writer of a rendered table, figure or report passes, so that a
    re-render with nothing new leaves ``git status`` clean."""
    path = Path(path)
    if changed_only and _holds(path, data):
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes 0600; give the file the usual mode
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def _holds(path: Path, data: bytes) -> bool:
    try:
        return path.is_file() and path.stat().st_size == len(data) and path.read_bytes() == data
    except OSError:
        return False


def atomic_write_text(path: str | Path, text: str, *, changed_only: bool = False) -> Path:
    return atomic_write_bytes(path, text.encode("utf-8"), changed_only=changed_only)


def write_json(path: str | Path, obj: Any, *, changed_only: bool = False) -> Path:
    return atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=False, default=str) + "\n",
                             changed_only=changed_only)


@contextlib.contextmanager
def file_lock(path: str | Path, *, quiet: bool = False) -> Iterator[None]:
    """Exclusive advisory lock on ``<path>.lock`` (released on exit, even on error): concurrent
    processes that want the same run or cache folder serialise on it. When another process
    holds the lock, a line on stderr says so before waiting (unless ``quiet``)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.with_name(path.name + ".lock"), "w") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            if not quiet:
                import sys

                print(f"waiting for another process that is working on {path} (it holds "
                      f"{fh.name}); this one goes on when it is done, or stop it with Ctrl-C",
                      file=sys.stderr, flush=True)
            fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)
