"""The `bench` command's arguments and dispatch (the library: :mod:`sccnb.perf.bench`)."""

from __future__ import annotations

import argparse

import torch

from ..perf.bench import BENCHMARKS, print_summary, run_all
from ..perf.bench.common import AMP_CHOICES, CHANNELS_LAST_CHOICES


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from . import at_least

    parser.description = (
        "Measure training throughput (SCC vs FC), data-pipeline overhead and the paper "
        "recipe's projected wall time, inference latency/throughput, SynthFace generation "
        "speed and the CPU profiles' training speed at their own scale; write "
        "results/bench/<name>.json and summary.json. Numbers are measured, "
        "never asserted: a missed goal is reported, not an error.")
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:1, ...")
    parser.add_argument("--out", default="results/bench", help="output folder")
    parser.add_argument("--quick", action="store_true",
                        help="tiny settings (seconds; for tests): goals are then n/a")
    parser.add_argument("--only", action="append", choices=list(BENCHMARKS), metavar="NAME",
                        help=f"run only this benchmark (repeatable): {', '.join(BENCHMARKS)}")
    parser.add_argument("--threads", type=at_least(0), default=0,
                        help="torch CPU threads (default 0 = torch's default, all cores)")
    parser.add_argument("--amp", default="auto", choices=AMP_CHOICES,
                        help="precision of the model benchmarks: auto = bf16 autocast on "
                        "CUDA, fp32 elsewhere; bf16 or off on any device")
    parser.add_argument("--channels-last", default="auto", choices=CHANNELS_LAST_CHOICES,
                        help="memory format: auto = channels_last on CUDA only")


def run(args: argparse.Namespace) -> int:
    if args.threads:
        torch.set_num_threads(args.threads)
    summary = run_all(args.out, args.device, args.quick, args.only,
                      progress=lambda name: print(f"bench {name} ...", flush=True),
                      amp=args.amp, channels_last=args.channels_last)
    print(f"wrote {args.out}/ ({', '.join(summary['benchmarks'])}, summary.json)")
    print_summary(summary)
    return 0
