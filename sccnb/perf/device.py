"""What only a CUDA device can do, each behind one small function that says so when it cannot.

Everything else the GPU runs is chosen by config fields and runs -- and is tested -- on a CPU
too: bf16 autocast (``TrainConfig.amp``), channels_last (``TrainConfig.channels_last``),
``torch.compile`` (``TrainConfig.compile``), augmentation on the tensors' device
(:func:`sccnb.data.augment.augment_batch`) and DistributedDataParallel (gloo on a CPU). Three
things have no CPU twin:

* **CUDA graphs**: :func:`cuda_graph_forward` (capture and replay one forward pass) and
  :func:`cuda_graph_latency` (batch-1 latency without launch overhead);
* **the allocator's peak-memory counter**: :func:`reset_peak_memory`, :func:`peak_memory_gib`;
* **NCCL**: :func:`all_reduce_check` with ``backend="nccl"`` (``"gloo"`` is its CPU twin).

On a device that cannot do them they return :class:`NotAvailable` (what, and why) instead of
raising, so a benchmark or the device check records "not available on this device" and goes on;
callers test ``isinstance(result, NotAvailable)``. :func:`device_report` describes the device
(and what it lacks) for the records.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import dataclass
from typing import Any

import torch

__all__ = ["NotAvailable", "needs_cuda", "synchronize", "median_seconds", "cuda_graph_forward",
           "timing_inputs", "cuda_graph_latency", "reset_peak_memory", "peak_memory_gib",
           "all_reduce_check", "device_report", "as_json"]


@dataclass(frozen=True)
class NotAvailable:
    """The result of a CUDA-only function on a device that cannot run it; :meth:`as_json` is
    what records store."""

    what: str  # the measurement or feature, e.g. "CUDA graph"
    reason: str  # why not, e.g. "needs a CUDA device; this is cpu"

    def __str__(self) -> str:
        return f"{self.what}: not available on this device ({self.reason})"

    def as_json(self) -> dict[str, Any]:
        return {"available": False, "what": self.what, "reason": self.reason}


def as_json(value: Any) -> Any:
    """``value`` as a record stores it: a :class:`NotAvailable` becomes its dict."""
    return value.as_json() if isinstance(value, NotAvailable) else value


def needs_cuda(what: str, device: torch.device | str) -> NotAvailable | None:
    """:class:`NotAvailable` unless ``device`` is a CUDA device that torch can use."""
    device = torch.device(device)
    if device.type != "cuda":
        return NotAvailable(what, f"needs a CUDA device; this is {device.type}")
    if not torch.cuda.is_available():
        return NotAvailable(what, "torch sees no CUDA device")
    return None


def synchronize(device: torch.device) -> None:
    """Wait for the device's queued work (a no-op on a CPU, where work is synchronous)."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def median_seconds(run: Callable[[], object], device: torch.device, repeats: int,
                   warmup: int = 3) -> float:
    """Median wall time of ``run()`` over ``repeats`` calls after ``warmup`` untimed ones, the
    device synchronised around each call."""
    for _ in range(warmup):
        run()
    synchronize(device)
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        run()
        synchronize(device)
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


# --- CUDA graphs -----------------------------------------------------------------------------
def cuda_graph_forward(model: torch.nn.Module, x: torch.Tensor, *, bf16: bool = False,
                       warmup: int = 3) -> Callable[[], torch.Tensor] | NotAvailable:
    """Capture one no-grad forward pass of ``model`` on the static input ``x`` into a CUDA
    graph. Returns ``replay()``, which re-runs the captured kernels and returns the static
    output tensor (overwritten by the next replay: copy it to keep it); write new inputs into
    ``x`` in place. Warm-up runs on a side stream first, as capture requires."""
    missing = needs_cuda("CUDA graph", x.device)
    if missing is not None:
        return missing
    autocast = torch.autocast("cuda", dtype=torch.bfloat16) if bf16 else nullcontext()

    def forward() -> torch.Tensor:
        with torch.no_grad(), autocast:
            return model(x)

    stream = torch.cuda.Stream(x.device)
    stream.wait_stream(torch.cuda.current_stream(x.device))
    with torch.cuda.stream(stream):
        for _ in range(warmup):
            forward()
    torch.cuda.current_stream(x.device).wait_stream(stream)
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        out = forward()

    def replay() -> torch.Tensor:
        graph.replay()
        return out

    return replay


def timing_inputs(model: torch.nn.Module, batch: int, input_size: int, device: torch.device,
                  bf16: bool = False, channels_last: bool | None = None
                  ) -> tuple[torch.nn.Module, torch.Tensor]:
    """``model`` on ``device`` in eval mode and ``batch`` random images to time its forward pass
    on, both channels_last when asked (None = as ``bf16``)."""
    channels_last = bf16 if channels_last is None else channels_last
    fmt = torch.channels_last if channels_last else torch.contiguous_format
    model = model.to(device).eval().to(memory_format=fmt)
    x = torch.randn(batch, 3, input_size, input_size, device=device).contiguous(
        memory_format=fmt)
    return model, x


def cuda_graph_latency(model: torch.nn.Module, batch: int, input_size: int,
                       device: torch.device | str, repeats: int = 20, warmup: int = 3,
                       bf16: bool = True, channels_last: bool | None = None
                       ) -> float | NotAvailable:
    """Median seconds of one forward pass of ``batch`` random images replayed from a CUDA graph
    (eval mode, no grad; bf16 autocast when ``bf16``; channels_last, None = as ``bf16``)."""
    device = torch.device(device)
    missing = needs_cuda("CUDA-graph latency", device)
    if missing is not None:
        return missing
    model, x = timing_inputs(model, batch, input_size, device, bf16, channels_last)
    replay = cuda_graph_forward(model, x, bf16=bf16, warmup=warmup)
    return median_seconds(replay, device, repeats, warmup)


# --- memory ----------------------------------------------------------------------------------
def reset_peak_memory(device: torch.device | str) -> NotAvailable | None:
    """Start a new peak-memory window (CUDA caching allocator)."""
    device = torch.device(device)
    missing = needs_cuda("peak memory", device)
    if missing is not None:
        return missing
    torch.cuda.reset_peak_memory_stats(device)
    return None


def peak_memory_gib(device: torch.device | str) -> float | NotAvailable:
    """GiB of device memory allocated at the peak since :func:`reset_peak_memory` (or start)."""
    device = torch.device(device)
    missing = needs_cuda("peak memory", device)
    if missing is not None:
        return missing
    return torch.cuda.max_memory_allocated(device) / 2**30


# --- collectives -----------------------------------------------------------------------------
def all_reduce_check(backend: str = "nccl", device: torch.device | str | None = None
                     ) -> dict[str, Any] | NotAvailable:
    """One all-reduce in a single-rank process group of ``backend`` (an in-memory store, no
    network): that the library loads and a collective runs on the device. ``"nccl"`` needs
    CUDA (``device`` defaults to ``cuda``); ``"gloo"`` runs on the CPU -- the backend the
    training loop uses there -- and is the test suite's twin of the NCCL path.

    Returns ``{"backend", "device", "world_size", "value", "expected", "seconds"}``.
    """
    import torch.distributed as dist

    if backend not in ("nccl", "gloo"):
        raise ValueError(f"unknown backend {backend!r}; supported: nccl, gloo")
    device = torch.device(device or ("cuda" if backend == "nccl" else "cpu"))
    what = f"{backend} all-reduce"
    if not dist.is_available():
        return NotAvailable(what, "this torch build has no torch.distributed")
    if backend == "nccl":
        missing = needs_cuda(what, device)
        if missing is not None:
            return missing
        if not dist.is_nccl_available():
            return NotAvailable(what, "this torch build has no NCCL")
    if dist.is_initialized():
        return NotAvailable(what, "a process group is already initialised in this process")
    t0 = time.perf_counter()
    dist.init_process_group(backend, store=dist.HashStore(), rank=0, world_size=1)
    try:
        value = torch.arange(4, dtype=torch.float32, device=device)
        dist.all_reduce(value)
        synchronize(device)
        result = value.cpu().tolist()
    finally:
        dist.destroy_process_group()
    return {"backend": backend, "device": str(device), "world_size": 1, "value": result,
            "expected": [0.0, 1.0, 2.0, 3.0], "seconds": time.perf_counter() - t0}


# --- the device in words ---------------------------------------------------------------------
def device_report(device: torch.device | str = "auto") -> dict[str, Any]:
    """The device and the software around it, for records: name, versions, and for CUDA the
    compute capability, memory and bf16 support (:class:`NotAvailable` dicts elsewhere)."""
    from ..provenance import device_name

    if str(device) == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    device = torch.device(device)
    report: dict[str, Any] = {"device": str(device), "device_name": device_name(str(device)),
                              "torch": torch.__version__, "cuda_build": torch.version.cuda,
                              "cpu_threads": torch.get_num_threads()}
    missing = needs_cuda("CUDA device properties", device)
    if missing is not None:
        report["cuda"] = missing.as_json()
        return report
    props = torch.cuda.get_device_properties(device)
    report["cuda"] = {"available": True, "name": props.name,
                      "capability": f"{props.major}.{props.minor}",
                      "memory_gib": props.total_memory / 2**30,
                      "multiprocessors": props.multi_processor_count,
                      "bf16_supported": torch.cuda.is_bf16_supported(),
                      "cudnn": torch.backends.cudnn.version(),
                      "device_count": torch.cuda.device_count()}
    try:
        version = torch.cuda.nccl.version()  # a tuple, or an int in older builds
        report["cuda"]["nccl"] = (".".join(map(str, version)) if isinstance(version, tuple)
                                  else str(version))
    except Exception as err:  # noqa: BLE001 -- any failure means "no NCCL to report"
        report["cuda"]["nccl"] = NotAvailable("NCCL version", repr(err)).as_json()
    return report
