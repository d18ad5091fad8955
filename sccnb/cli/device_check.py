"""The `device-check` command's arguments and dispatch (the library:
:mod:`sccnb.perf.device_check`)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from ..perf import device_check as library
from ..perf.device_check import (DEFAULT_EPOCHS, SIZES, STEPS, default_data_root, plan,
                                 render_summary, run_steps, write_archive, write_environment)
from ..provenance import REPO_ROOT


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from . import at_least

    parser.description = library.__doc__.split("\n\n")[0]
    parser.add_argument("--size", default="auto", choices=SIZES,
                        help="full (a GPU: about ten minutes), smoke (toy sizes, a CPU is "
                        "enough), auto = full where CUDA is available, else smoke")
    parser.add_argument("--results", default="",
                        help="where to write (default results/, or results/smoke at smoke "
                        "size); runs go to RESULTS/runs")
    parser.add_argument("--data-root", default="",
                        help="300w_mini (default .data/300w_mini when present, else "
                        "../shared/data/300w_mini)")
    parser.add_argument("--epochs", type=at_least(1), default=DEFAULT_EPOCHS,
                        help="epochs of the real300w profile at full size (its 300 reduced "
                        "to fit the budget)")
    parser.add_argument("--archive", default="",
                        help="also keep everything written (without checkpoints) in this "
                        ".tar.gz, rewritten after every step (e.g. $OUT/device_check.tar.gz)")
    parser.add_argument("--only", action="append", default=[], choices=list(STEPS),
                        metavar="STEP", help=f"run only this step (repeatable): "
                        f"{', '.join(STEPS)}")


def run(args: argparse.Namespace) -> int:
    import torch

    size = args.size
    if size == "auto":
        size = "full" if torch.cuda.is_available() else "smoke"
        if size == "smoke":
            print("[device-check] no CUDA device: running the steps at smoke size")
    elif (size == "full" and not torch.cuda.is_available()
          and tuple(args.only) != ("real300w-table",)):  # rendering needs no GPU
        print("[device-check] --size full needs a CUDA device (torch sees none); "
              "--size smoke runs the same steps at toy size on a CPU", file=sys.stderr)
        return 2
    results = Path(args.results or (REPO_ROOT / "results" / ("smoke" if size == "smoke"
                                                             else "")))
    results = results if results.is_absolute() else REPO_ROOT / results
    data_root = Path(args.data_root) if args.data_root else default_data_root()
    data_root = data_root if data_root.is_absolute() else REPO_ROOT / data_root
    runs = plan(results, size, data_root, args.epochs, tuple(args.only))
    archive = Path(args.archive) if args.archive else None
    summary = run_steps(runs, results / "device_check", size,
                        echo=lambda line: print(line, flush=True),
                        after_save=archive and (lambda: write_archive(results, archive)))
    print(render_summary(summary))
    print(f"[device-check] wrote {results / 'device_check' / 'summary.json'}"
          + (f" and {archive}" if archive else ""))
    return 0 if summary["ok"] else 1


def main(argv: list[str] | None = None) -> int:
    """The steps run in their own processes: ``python -m sccnb.cli.device_check --environment
    PATH`` and ``--train-real300w RECORD DATA_ROOT OVERRIDES_JSON BUDGET_S``; anything else
    is the command line of ``python -m sccnb device-check``."""
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) == 2 and argv[0] == "--environment":
        write_environment(Path(argv[1]))
        return 0
    if len(argv) == 5 and argv[0] == "--train-real300w":
        from ..study.real300w import train_scc_vs_fc

        train_scc_vs_fc(Path(argv[1]), Path(argv[2]), json.loads(argv[3]), float(argv[4]))
        return 0
    parser = argparse.ArgumentParser(prog="python -m sccnb.cli.device_check")
    add_arguments(parser)
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
