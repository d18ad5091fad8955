"""Inference speed of SCC and the FC baseline (:func:`bench_inference`): batch-1 latency and
large-batch throughput through :func:`sccnb.perf.efficiency.time_forward`, in fp32 and (where the
numerics use it) bf16, and the batch-1 latency replayed from a CUDA graph."""

from __future__ import annotations

import statistics
from typing import Any

import torch

from ...training.config import TrainConfig
from ..device import NotAvailable, cuda_graph_latency
from ..efficiency import count_macs, count_parameters, time_forward
from .common import (HostWatch, bench_model, envelope, matches_setting, numerics, numerics_note,
                     numerics_params, paper_config, pick_settings, put_result, resolve_device)
from .goals import GOALS, PAPER_STEP

__all__ = ["bench_inference"]


def _inference_defaults(device_type: str, quick: bool) -> dict[str, int]:
    """Inference settings: batch 256 on CUDA, batch 8 on a CPU, tiny when quick."""
    if quick:
        return dict(input_size=64, batch=2, depth=18, width=8, rounds=1, repeats=2,
                    batch_repeats=1)
    if device_type == "cuda":
        return dict(input_size=256, batch=256, depth=34, width=64, rounds=3, repeats=100,
                    batch_repeats=10)
    return dict(input_size=256, batch=8, depth=34, width=64, rounds=5, repeats=20,
                batch_repeats=2)


def _inference_round(models: dict[str, torch.nn.Module], p: dict[str, int],
                     dev: torch.device, cfg: TrainConfig, reverse: bool
                     ) -> dict[str, dict[str, float]]:
    """One round of every inference measurement for each model (order reversed if asked): fp32
    always, bf16 where ``cfg`` uses it on this device; the config's memory format throughout.
    The CUDA-graph latency is measured separately (:func:`_graph_latency`)."""
    out: dict[str, dict[str, float]] = {}
    size, cl = p["input_size"], cfg.uses_channels_last(dev.type)
    for name in list(models)[::-1] if reverse else list(models):
        model = models[name]
        row = {"latency_ms": 1e3 * time_forward(model, 1, size, dev, p["repeats"],
                                                channels_last=cl),
               "throughput": p["batch"] / time_forward(model, p["batch"], size, dev,
                                                       p["batch_repeats"], channels_last=cl)}
        if cfg.uses_bf16(dev.type):
            row["latency_ms_bf16"] = 1e3 * time_forward(model, 1, size, dev, p["repeats"],
                                                        bf16=True, channels_last=cl)
            row["throughput_bf16"] = p["batch"] / time_forward(
                model, p["batch"], size, dev, p["batch_repeats"], bf16=True, channels_last=cl)
        out[name] = row
    return out


def _graph_latency(model: torch.nn.Module, p: dict[str, int], dev: torch.device,
                   cfg: TrainConfig) -> float | NotAvailable:
    """Median over rounds of the batch-1 latency (ms) replayed from a CUDA graph, in the
    config's numerics; "not available" off CUDA (:func:`sccnb.perf.device.cuda_graph_latency`)."""
    values = []
    for _ in range(p["rounds"]):
        seconds = cuda_graph_latency(model, 1, p["input_size"], dev, p["repeats"],
                                     bf16=cfg.uses_bf16(dev.type),
                                     channels_last=cfg.uses_channels_last(dev.type))
        if isinstance(seconds, NotAvailable):
            return seconds
        values.append(1e3 * seconds)
    return statistics.median(values)


def bench_inference(device: str = "auto", *, quick: bool = False,
                    input_size: int | None = None, batch: int | None = None,
                    width: int | None = None, depth: int | None = None,
                    rounds: int | None = None, repeats: int | None = None,
                    batch_repeats: int | None = None, amp: str = "auto",
                    channels_last: str = "auto") -> dict[str, Any]:
    """Inference latency and throughput of SCC and the FC baseline, in alternating rounds.

    Every number is the median over rounds of :func:`sccnb.perf.efficiency.time_forward`'s median:
    batch-1 latency and batch-``batch`` throughput in fp32; where the numerics use bf16 (by
    default on CUDA; ``amp="bf16"`` anywhere) also bf16; and the batch-1 latency replayed from
    a CUDA graph (``latency_ms_bf16_graph``; "not available" off CUDA).
    """
    host = HostWatch()
    dev = resolve_device(device)
    p = pick_settings(dict(input_size=input_size, batch=batch, width=width, depth=depth,
                           rounds=rounds, repeats=repeats, batch_repeats=batch_repeats),
                      _inference_defaults(dev.type, quick))
    num = numerics(amp, channels_last)
    cfg = paper_config("scc", p, num)
    models = {h: bench_model(paper_config(h, p, num), dev).eval() for h in ("scc", "fc")}
    per_round = [_inference_round(models, p, dev, cfg, reverse=r % 2 == 1)
                 for r in range(p["rounds"])]
    results: dict[str, Any] = {}
    for name, model in models.items():
        keys = per_round[0][name]
        results[name] = {k: statistics.median(r[name][k] for r in per_round) for k in keys}
        results[name]["rounds"] = [r[name] for r in per_round]
        results[name]["params_m"] = count_parameters(model) / 1e6
        results[name]["gmacs"] = count_macs(model, p["input_size"]) / 1e9
    graph_key = "latency_ms_bf16_graph" if cfg.uses_bf16(dev.type) else "latency_ms_graph"
    for name, model in models.items():
        graph = _graph_latency(model, p, dev, cfg)
        if isinstance(graph, NotAvailable):  # one device-wide reason, not one per model
            put_result(results, graph_key, graph)
            break
        results[name][graph_key] = graph
    ratios = [r["scc"]["latency_ms"] / r["fc"]["latency_ms"] for r in per_round]
    results["latency_ratio_scc_over_fc"] = statistics.median(ratios)
    results["latency_ratio_rounds"] = ratios
    scc = results["scc"]
    paper_model = {k: PAPER_STEP[k] for k in ("input_size", "depth", "width")}
    model_ok, note = matches_setting(p, paper_model, cfg)
    batch_ok, _ = matches_setting(p, {**paper_model, "batch": 256}, cfg)
    goals = [
        GOALS["latency_b1_bf16_graph_ms"].record(scc.get("latency_ms_bf16_graph"), dev.type,
                                                 quick, model_ok, note),
        GOALS["throughput_b256_bf16"].record(scc.get("throughput_bf16"), dev.type, quick,
                                             batch_ok, note),
        GOALS["cpu_latency_ratio"].record(results["latency_ratio_scc_over_fc"], dev.type, quick,
                                          model_ok, note),
    ]
    notes = [f"{note}; {numerics_note(cfg, dev)}; {p['rounds']} rounds, "
             f"{p['repeats']} timed batch-1 runs and {p['batch_repeats']} timed batch-"
             f"{p['batch']} runs per round and model; eval mode, no grad.",
             "The latency ratio is the median of the per-round ratios; the CUDA-graph latency "
             "is measured after the rounds, one model after the other."]
    return envelope("inference", dev, quick, {**p, **numerics_params(cfg, dev)}, results,
                    goals, notes, host)
