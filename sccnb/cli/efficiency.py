"""The `efficiency` command's arguments and dispatch (the library: :mod:`sccnb.perf.efficiency`)."""

from __future__ import annotations

import argparse
import json

from ..layouts import get_layout
from ..perf.efficiency import efficiency_report


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from . import at_least

    parser.add_argument("--layout", default="wflw98", help="wflw98, 300w68 or cofw29")
    parser.add_argument("--input-size", type=int, default=256)
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:1, ...")
    parser.add_argument("--repeats", type=at_least(1), default=20,
                        help="timed runs per measurement")
    parser.add_argument("--batch", type=at_least(1), default=None,
                        help="batch for throughput (default 256 on CUDA, 16 on CPU)")
    parser.add_argument("--no-timing", action="store_true", help="only count params and MACs")
    parser.add_argument("--json", action="store_true", help="print JSON")


def run(args: argparse.Namespace) -> int:
    from ..errors import ConfigError, resolve_device
    from ..provenance import provenance

    try:
        get_layout(args.layout)
    except ValueError as err:
        raise ConfigError(f"--layout: {err}") from None
    if args.input_size < 32 or args.input_size % 32:
        raise ConfigError(f"--input-size {args.input_size}: must be a multiple of 32 (>= 32)")
    if args.repeats < 1 or (args.batch is not None and args.batch < 1):
        raise ConfigError(f"--repeats {args.repeats} / --batch {args.batch}: must be at least 1")
    resolve_device(args.device)
    report = efficiency_report(args.layout, args.input_size, args.device, args.repeats,
                               args.batch, timing=not args.no_timing)
    report["provenance"] = provenance(report["config"]["device"])
    if args.json:
        print(json.dumps(report, indent=2))
        return 0
    cfg = report["config"]
    print(f"{cfg['layout']} at {cfg['input_size']}², device {report['provenance']['device']}")
    for name, row in report["models"].items():
        print(f"  {name:4s} " + "  ".join(f"{k}={v:.3f}" for k, v in row.items()))
    return 0
