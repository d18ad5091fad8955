"""Table 4: parameters, multiply-adds and measured speed of SCC and the FC baseline.

* Parameters: every trainable and non-trainable parameter (buffers such as BN statistics and the
  graph mask are not parameters).
* Multiply-adds: ``torch.utils.flop_counter`` counts FLOPs of the ops it knows (convolutions,
  matmuls: 2 per multiply-add); we report FLOPs / 2 as "GMACs", which is what the paper's
  "FLOPS (G)" column means (Sec. 4.3; see :mod:`sccnb.study.paper`). Element-wise ops (BN, ReLU,
  softmax, attention products) are not counted, as in the usual convention.
* Speed: median wall time over ``repeats`` timed runs after warm-up, eval mode, no grad.
  Batch-1 latency and throughput at a larger batch. On CUDA also bf16 autocast with
  channels_last, and bf16 replayed from a CUDA graph (launch overhead removed). The two models
  are measured in the same process, one after the other, so their ratio is meaningful even when
  absolute numbers vary between machines.

The paper timed on a GTX 1080 Ti (23 ms); absolute times on other hardware are not comparable,
which is why the table also gives the SCC / FC ratio measured here.
"""

from __future__ import annotations

from contextlib import nullcontext

import numpy as np
import torch

from ..layouts import get_layout
from ..model import build_model
from .device import NotAvailable, cuda_graph_latency, median_seconds, timing_inputs

__all__ = ["stand_in_shapes", "count_parameters", "count_macs", "time_forward", "efficiency_report"]


def count_parameters(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def count_macs(model: torch.nn.Module, input_size: int) -> float:
    """Multiply-accumulates of one forward pass on a single ``input_size``² image."""
    from torch.utils.flop_counter import FlopCounterMode

    was_training = model.training
    model.eval()
    x = torch.zeros(1, 3, input_size, input_size, device=next(model.parameters()).device)
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        model(x)
    model.train(was_training)
    return counter.get_total_flops() / 2


def time_forward(model: torch.nn.Module, batch: int, input_size: int, device: torch.device,
                 repeats: int = 20, warmup: int = 3, bf16: bool = False,
                 cuda_graph: bool = False, channels_last: bool | None = None) -> float:
    """Median seconds of one forward pass of ``batch`` images (eval mode, no grad), on any
    device: bf16 autocast when ``bf16``, channels_last (None = as ``bf16``). ``cuda_graph``
    replays the pass from a CUDA graph (:func:`sccnb.perf.device.cuda_graph_latency`), which only a
    CUDA device can do: asked for elsewhere it is a ``ValueError`` saying so (that function
    itself returns a "not available" result instead)."""
    if cuda_graph:
        seconds = cuda_graph_latency(model, batch, input_size, device, repeats, warmup,
                                     bf16=bf16, channels_last=channels_last)
        if isinstance(seconds, NotAvailable):
            raise ValueError(str(seconds))
        return seconds
    model, x = timing_inputs(model, batch, input_size, device, bf16, channels_last)
    autocast = (torch.autocast(device.type, dtype=torch.bfloat16) if bf16 else nullcontext())

    def step() -> None:
        with torch.no_grad(), autocast:
            model(x)

    return median_seconds(step, device, repeats, warmup)


def stand_in_shapes(num_points: int, seed: int = 0) -> np.ndarray:
    """Random shapes in the 256-px frame, enough to build the SCC mask and template when only
    cost matters: the mask always has N·(k+1) non-zeros, whichever neighbours it keeps."""
    return np.random.default_rng(seed).normal(128, 10, size=(64, num_points, 2))


def _models(num_landmarks: int, input_size: int) -> dict[str, torch.nn.Module]:
    shapes = stand_in_shapes(num_landmarks)
    torch.manual_seed(0)
    return {
        "scc": build_model(num_landmarks, shapes=shapes, input_size=input_size),
        "fc": build_model(num_landmarks, head="fc", shapes=shapes, input_size=input_size),
    }


def efficiency_report(layout: str = "wflw98", input_size: int = 256, device: str = "auto",
                      repeats: int = 20, batch: int | None = None, timing: bool = True) -> dict:
    """Parameters, GMACs and timings of the full SCC model and the FC baseline.

    Returns a dict ``{"config": {...}, "models": {"scc": {...}, "fc": {...}}}``; times in ms,
    throughput in images/s. ``batch`` defaults to 256 on CUDA and 16 on CPU.
    """
    dev = torch.device("cuda" if device == "auto" and torch.cuda.is_available()
                       else ("cpu" if device == "auto" else device))
    batch = batch or (256 if dev.type == "cuda" else 16)
    n = get_layout(layout).num_points
    out = {"config": {"layout": layout, "num_landmarks": n, "input_size": input_size,
                      "device": str(dev), "repeats": repeats, "batch": batch,
                      "threads": torch.get_num_threads()},
           "models": {}}
    for name, model in _models(n, input_size).items():
        row = {"params_m": count_parameters(model) / 1e6,
               "gmacs": count_macs(model, input_size) / 1e9}
        if timing:
            t1 = time_forward(model, 1, input_size, dev, repeats)
            tb = time_forward(model, batch, input_size, dev, max(3, repeats // 4))
            row.update(latency_ms=t1 * 1e3, throughput=batch / tb)
            if dev.type == "cuda":
                row["latency_ms_bf16"] = time_forward(model, 1, input_size, dev, repeats,
                                                      bf16=True) * 1e3
                row["latency_ms_bf16_graph"] = time_forward(
                    model, 1, input_size, dev, repeats, bf16=True, cuda_graph=True) * 1e3
                row["throughput_bf16"] = batch / time_forward(
                    model, batch, input_size, dev, max(3, repeats // 4), bf16=True)
        out["models"][name] = row
        model.cpu()
    return out
