"""Output folders that never lose a user's file.

A command that writes into ``--out`` (``predict``, ``eval --data``, ``detect rate``) first
checks the files it is about to write (:func:`check_outputs`, before any work) and claims them
(:func:`claim_outputs`, before the first write). The folder's :data:`MARKER`
lists the files sccnb wrote there; those it may write again. A file of the same name that it
did not write (a user's ``landmarks.csv`` or ``summary.json``) is refused with one line, before
anything is written or computed; with ``--force`` it is kept, renamed
``<name>.before-<command>-<time>``, and a line on stderr says so. Other files in the folder
are left alone. A JSON file that records sccnb's provenance (written before folders had the
marker, e.g. ``results/detector/``) counts as sccnb's.
"""

from __future__ import annotations

import datetime as _dt
import json
import sys
from pathlib import Path
from typing import Iterable

from ..errors import OwnershipError
from ..provenance import atomic_write_text

__all__ = ["MARKER", "check_outputs", "claim_outputs"]

MARKER = ".sccnb-outputs.json"  # {"files": {name: command}}: what sccnb wrote in the folder


def _written(out: Path) -> dict[str, str]:
    """The files sccnb wrote in ``out`` (from :data:`MARKER`; none when it is missing or
    unreadable)."""
    try:
        files = json.loads((out / MARKER).read_text()).get("files", {})
    except (OSError, ValueError, AttributeError):
        return {}
    return files if isinstance(files, dict) else {}


def _sccnb_json(path: Path) -> bool:
    """A JSON file sccnb wrote before folders had a :data:`MARKER`: it records its
    :func:`~sccnb.provenance.provenance` (commit and time)."""
    if path.suffix != ".json" or not path.is_file():
        return False
    try:
        prov = json.loads(path.read_text()).get("provenance")
    except (OSError, ValueError, AttributeError):
        return False
    return isinstance(prov, dict) and {"commit", "created"} <= set(prov)


def check_outputs(out: str | Path, names: Iterable[str], command: str, force: bool = False,
                  flag: str = "--out") -> list[str]:
    """The files of ``names`` in ``out`` that sccnb did not write (to be renamed with
    ``force``); without ``force`` any such file is an :class:`~sccnb.errors.OwnershipError`.
    Writes nothing: call it before the work, :func:`claim_outputs` after."""
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise OwnershipError(f"{flag} {out} is a file, not a folder; choose a folder")
    written = _written(out) if out.is_dir() else {}
    theirs = [n for n in dict.fromkeys(map(str, names)) if n not in written
              and ((out / n).exists() or (out / n).is_symlink()) and not _sccnb_json(out / n)]
    if theirs and not force:
        shown = ", ".join(theirs[:4]) + (f" and {len(theirs) - 4} more" if len(theirs) > 4
                                         else "")
        raise OwnershipError(f"{flag} {out} holds {shown}, which sccnb {command} did not write; "
                             "nothing was written. Choose a new or empty folder, or pass "
                             f"--force to keep them renamed *.before-{command}-<time>")
    return theirs


def claim_outputs(out: str | Path, names: Iterable[str], command: str, force: bool = False,
                  flag: str = "--out") -> list[Path]:
    """Make ``out`` (a folder) ready for ``command`` to write ``names`` (paths relative to it):
    refuse (:func:`check_outputs`) when one of them is there and sccnb did not write it, or,
    with ``force``, rename those out of the way (returned). Records ``names`` in the folder's
    :data:`MARKER`."""
    out = Path(out)
    names = list(dict.fromkeys(str(n) for n in names))
    theirs = check_outputs(out, names, command, force, flag)
    written = _written(out) if out.is_dir() else {}
    kept = []
    stamp = _dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    for name in theirs:
        path = out / name
        keep, i = path.with_name(f"{path.name}.before-{command}-{stamp}"), 2
        while keep.exists() or keep.is_symlink():
            keep, i = path.with_name(f"{path.name}.before-{command}-{stamp}-{i}"), i + 1
        path.rename(keep)
        kept.append(keep)
        print(f"{command}: kept your {path} as {keep}", file=sys.stderr)
    out.mkdir(parents=True, exist_ok=True)
    written.update({n: command for n in names})
    atomic_write_text(out / MARKER, json.dumps({
        "note": "files sccnb wrote in this folder (it may write them again; other files are "
                "the user's and are never replaced)", "files": written}, indent=1) + "\n")
    return kept
