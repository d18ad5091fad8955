"""Errors the user can fix (the command line prints each as one line: :func:`sccnb.cli.one_line`).

An expected error -- bad data, a bad config value, a foreign or truncated checkpoint, a missing
file, a device that is not there -- is raised as a :class:`UserError` (or one of the library's
own located errors, e.g. :class:`~sccnb.data.records.DataFormatError`). ``python -m sccnb``
prints it as one line, ``error: <what>, <where>; <what to do>``, and exits non-zero;
anything else keeps its traceback (``--debug`` shows the traceback always).

The subclasses also derive from the built-in type that code catching errors before them
expected (``ValueError``, ``FileNotFoundError``), so adding them breaks no caller.
"""

from __future__ import annotations

import re

__all__ = ["UserError", "ConfigError", "DataError", "NotFound", "CheckpointError",
           "DeviceError", "OwnershipError", "Interrupted", "resolve_device",
           "DEVICE_NAME"]


class UserError(Exception):
    """An error the user can fix. The message says what is wrong, where (file and line, or the
    config key) and what to do; the command line prints it as one line."""

    exit_code = 1


class ConfigError(UserError, ValueError):
    """A config value (``--set KEY=VALUE``, a profile, a stored ``config.json``) that is not
    allowed; the message names the key."""

    exit_code = 2  # a usage error, as argparse's


class DataError(UserError, ValueError):
    """A dataset, image or box file that cannot be used; the message names the file."""


class NotFound(UserError, FileNotFoundError):
    """A file or folder that is not there; the message names it and says where it comes from."""


class CheckpointError(UserError, ValueError):
    """A weights file that is missing, truncated, or was saved by another kind of model."""


class DeviceError(UserError, RuntimeError):
    """A device that this machine does not have (``--device cuda`` without CUDA)."""


class OwnershipError(UserError, FileExistsError):
    """A folder holds files sccnb did not create and would have to replace."""


class Interrupted(UserError):
    """Ctrl-C; the message says what was kept and how to go on."""

    exit_code = 130  # 128 + SIGINT, as a shell reports it


DEVICE_NAME = re.compile(r"^(auto|cpu|mps|cuda(:\d+)?)$")  # what --device accepts


def resolve_device(name: str) -> "torch.device":  # noqa: F821 -- torch imported inside
    """The torch device ``name`` means (``auto``: CUDA when available, else the CPU), or a
    :class:`DeviceError` saying what this machine has."""
    import torch

    name = str(name).strip().lower()
    if not DEVICE_NAME.match(name):
        raise DeviceError(f"device {name!r} is not a device name; use auto, cpu, cuda or cuda:N")
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    dev = torch.device(name)
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise DeviceError(f"device {name!r} asked for, but CUDA is not available on this "
                              "machine (no GPU or no driver); use --device cpu (or auto)")
        count = torch.cuda.device_count()
        if dev.index is not None and dev.index >= count:
            raise DeviceError(f"device {name!r} asked for, but this machine has {count} CUDA "
                              f"device(s) (cuda:0 .. cuda:{count - 1})")
    if dev.type == "mps" and not torch.backends.mps.is_available():
        raise DeviceError(f"device {name!r} asked for, but MPS is not available; use --device "
                          "cpu (or auto)")
    return dev
