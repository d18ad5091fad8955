"""What every benchmark shares: the device and the settings, interleaved timing, the host's
state around a measurement, the JSON envelope, the numerics fields, and the paper-sized model on
random stand-in crops."""

from __future__ import annotations

import os
import statistics
import time
from collections.abc import Callable
from typing import Any

import torch

from ...provenance import device_name, provenance
from ...training.config import TrainConfig, resolve_config
from ...training.runs import build_for
from ..device import NotAvailable, synchronize
from ..efficiency import stand_in_shapes

__all__ = ["LAYOUT", "resolve_device", "pick_settings", "matches_setting", "timing_stats",
           "interleaved", "HostWatch", "envelope", "put_result", "AMP_CHOICES",
           "CHANNELS_LAST_CHOICES", "numerics", "numerics_params", "numerics_note",
           "paper_config", "bench_model", "random_crops"]

LAYOUT = "wflw98"  # WFLW's 98 points: the paper's headline benchmark


# --- settings --------------------------------------------------------------------------------
def resolve_device(device: str) -> torch.device:
    """``auto`` (CUDA when torch sees it, else the CPU) or the named device; asking for CUDA
    without it is a ``ValueError``."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    dev = torch.device(device)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {device!r} asked for, but torch sees no CUDA device")
    return dev


def pick_settings(given: dict[str, int | None], defaults: dict[str, int]) -> dict[str, int]:
    """``defaults`` with every non-``None`` value of ``given`` put in its place."""
    unknown = set(given) - set(defaults)
    if unknown:
        raise TypeError(f"no such setting(s) {sorted(unknown)}")
    return {k: (v if given.get(k) is None else int(given[k])) for k, v in defaults.items()}


def matches_setting(p: dict[str, int], want: dict[str, int], cfg: TrainConfig | None = None
                    ) -> tuple[bool, str]:
    """Whether settings ``p`` have every value of ``want`` (and ``cfg``, when given, the
    default numerics, which the goals assume); and ``p`` in words."""
    note = f"{p['input_size']}², batch {p['batch']}, ResNet{p['depth']} width {p['width']}"
    ok = all(p[k] == v for k, v in want.items())
    if cfg is not None and (cfg.amp, cfg.channels_last) != ("auto", "auto"):
        ok, note = False, f"{note}, amp={cfg.amp}, channels_last={cfg.channels_last}"
    return ok, note


# --- timing helpers --------------------------------------------------------------------------
def timing_stats(seconds: list[float]) -> dict[str, Any]:
    """Median, min and max of per-round seconds, and the rounds themselves."""
    return {"median_s": statistics.median(seconds), "min_s": min(seconds),
            "max_s": max(seconds), "rounds_s": seconds}


def interleaved(fns: dict[str, Callable[[], object]], device: torch.device, rounds: int,
                steps: int, warmup: int) -> dict[str, list[float]]:
    """Seconds per call of each function, one value per round; the order of the functions is
    reversed every round so that a drift in machine load hits all of them alike."""
    for fn in fns.values():
        for _ in range(warmup):
            fn()
    synchronize(device)
    names = list(fns)
    times: dict[str, list[float]] = {name: [] for name in names}
    for r in range(rounds):
        for name in names if r % 2 == 0 else names[::-1]:
            synchronize(device)
            t0 = time.perf_counter()
            for _ in range(steps):
                fns[name]()
            synchronize(device)
            times[name].append((time.perf_counter() - t0) / steps)
    return times


class HostWatch:
    """The machine's state around a benchmark. Other jobs skew timings; two signs of them are
    the load average and this process's CPU use: ``cpu_utilisation`` = process CPU seconds /
    (wall seconds x ``threads``) is close to 1 for an undisturbed compute-bound CPU run and
    drops when other processes take the cores (on CUDA it says little)."""

    BUSY = 0.8  # below this utilisation a CPU benchmark's JSON carries a warning

    def __init__(self, threads: int | None = None) -> None:
        self.threads = threads or torch.get_num_threads()
        self.start = self.snapshot()
        self._wall, self._cpu = time.perf_counter(), time.process_time()
        self._stopped: tuple[float, float] | None = None

    def stop(self) -> None:
        """End the measured window here (work after it runs in other processes)."""
        self._stopped = (time.perf_counter() - self._wall, time.process_time() - self._cpu)

    @staticmethod
    def snapshot() -> dict[str, Any]:
        """Load average, CPU count, torch threads, cuDNN autotuning: now."""
        return {"loadavg": list(os.getloadavg()), "cpu_count": os.cpu_count(),
                "torch_threads": torch.get_num_threads(),
                "cudnn_benchmark": torch.backends.cudnn.benchmark}

    def finish(self) -> dict[str, Any]:
        """The record: the snapshots at start and end, wall and process CPU seconds of the
        measured window, and the CPU utilisation."""
        wall, cpu = self._stopped or (time.perf_counter() - self._wall,
                                      time.process_time() - self._cpu)
        return {"start": self.start, "end": self.snapshot(), "wall_s": wall,
                "process_cpu_s": cpu, "threads": self.threads,
                "cpu_utilisation": cpu / (wall * self.threads)}


def envelope(name: str, device: torch.device, quick: bool, params: dict, results: dict,
             goals: list[dict], notes: list[str], host: HostWatch) -> dict[str, Any]:
    """The JSON layout shared by every benchmark."""
    state = host.finish()
    if device.type == "cpu" and state["cpu_utilisation"] < HostWatch.BUSY:
        notes = notes + [f"WARNING: this process got {state['cpu_utilisation']:.0%} of its "
                         f"{state['threads']} thread(s)' CPU time (load average "
                         f"{state['end']['loadavg'][0]:.1f} on {state['end']['cpu_count']} "
                         "CPUs): other jobs were running; timings are pessimistic and noisy."]
    return {"benchmark": name, "device": str(device), "device_name": device_name(str(device)),
            "quick": quick, "params": params, "results": results, "goals": goals,
            "notes": notes, "host": state, "provenance": provenance(str(device))}


def put_result(results: dict[str, Any], key: str, value: Any) -> None:
    """``results[key] = value``, or -- for a :class:`~sccnb.perf.device.NotAvailable` answer -- the
    reason under ``results["not_available"][key]``, so a CPU record says what it lacks."""
    if isinstance(value, NotAvailable):
        results.setdefault("not_available", {})[key] = value.as_json()
    else:
        results[key] = value


# --- numerics --------------------------------------------------------------------------------
AMP_CHOICES = ("auto", "bf16", "off")  # TrainConfig.amp
CHANNELS_LAST_CHOICES = ("auto", "true", "false")  # TrainConfig.channels_last


def numerics(amp: str, channels_last: str) -> dict[str, str]:
    """The config fields that choose precision and memory format, checked."""
    if amp not in AMP_CHOICES:
        raise ValueError(f"amp {amp!r}; supported: {', '.join(AMP_CHOICES)}")
    if str(channels_last).lower() not in CHANNELS_LAST_CHOICES:
        raise ValueError(f"channels_last {channels_last!r}; supported: "
                         f"{', '.join(CHANNELS_LAST_CHOICES)}")
    return {"amp": amp, "channels_last": str(channels_last).lower()}


def numerics_params(cfg: TrainConfig, device: torch.device) -> dict[str, Any]:
    """What a record says about numerics: the fields as given and what they meant here."""
    return {"amp": cfg.amp, "channels_last": cfg.channels_last,
            "bf16_used": cfg.uses_bf16(device.type),
            "channels_last_used": cfg.uses_channels_last(device.type)}


def numerics_note(cfg: TrainConfig, device: torch.device) -> str:
    """The numerics in words, for a record's notes."""
    bf16, cl = cfg.uses_bf16(device.type), cfg.uses_channels_last(device.type)
    return (f"{'bf16 autocast' if bf16 else 'fp32'}, "
            f"{'channels_last' if cl else 'default memory format'} "
            f"(amp={cfg.amp}, channels_last={cfg.channels_last})")


# --- the model and its data ------------------------------------------------------------------
def paper_config(head: str, p: dict[str, int], fields: dict[str, str] | None = None
                 ) -> TrainConfig:
    """The ``paper`` profile with ``head`` at the settings ``p`` (input side, batch, depth,
    width) and the numerics ``fields`` (:func:`numerics`)."""
    return resolve_config("paper", head=head, input_size=p["input_size"],
                          batch_size=p["batch"], depth=p["depth"], width=p["width"],
                          **(fields or {}))


def bench_model(cfg: TrainConfig, device: torch.device) -> torch.nn.Module:
    """The model of ``cfg`` on ``device`` in training mode, in the config's memory format; the
    SCC mask from random stand-in shapes (it has ``N (k + 1)`` non-zeros whichever
    neighbours it keeps, so the speed is the same)."""
    model = build_for(cfg, shapes=stand_in_shapes(cfg.num_landmarks)).to(device)
    if cfg.uses_channels_last(device.type):
        model = model.to(memory_format=torch.channels_last)
    return model.train()


def random_crops(count: int, size: int, num_points: int, device: torch.device,
                 generator: torch.Generator, layout: str = LAYOUT):
    """A CropSet of random uint8 crops, on ``device``, standing in for cached faces."""
    from ...data.crops import CropSet

    images = torch.randint(0, 256, (count, 3, size, size), dtype=torch.uint8,
                           generator=generator)
    points = (0.25 + 0.5 * torch.rand((count, num_points, 2), generator=generator)) * size
    return CropSet(images=images, landmarks=points, to_image=torch.zeros(count, 2, 3),
                   names=[str(i) for i in range(count)], attributes={}, occluded=None,
                   layout=layout, dataset="random", split="bench", size=size).to(device)
