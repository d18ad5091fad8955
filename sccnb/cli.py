"""Command line: ``python -m sccnb COMMAND ...``.

Each command lives in the module that does the work; that module provides
``add_arguments(parser)`` and ``run(args) -> int``. Modules are imported only when their command
runs, so ``--help`` is quick.
"""

from __future__ import annotations

import argparse
import importlib
import sys

# command -> (module, one-line help)
COMMANDS = {
    "train": ("sccnb.train", "train a model from a named profile (or load the run if it exists)"),
    "runs": ("sccnb.study.plan", "train (or load) every run the tables and figures need"),
    "eval": ("sccnb.evaluate", "evaluate a stored run on its test splits and print the summary"),
    "predict": ("sccnb.predict", "predict landmarks on images: CSV/JSON and overlay PNGs"),
    "efficiency": ("sccnb.efficiency", "parameters, multiply-adds and latency (Table 4)"),
    "synth": ("sccnb.data.synth.cli", "generate the SynthFace dataset in the real file layouts"),
    "readme": ("sccnb.readme", "regenerate README.md's results block from results/ (--check)"),
    "bench": ("sccnb.bench", "benchmarks: training/inference throughput, data pipeline"),
    "data": ("sccnb.data.check", "validate a downloaded dataset folder: `data check FORMAT PATH`"),
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m sccnb",
        description="sccnb: a reproducibility study of the SCC face-alignment paper (ECCV 2020).")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (_, help_text) in COMMANDS.items():
        sub.add_parser(name, help=help_text, description=help_text)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    if not argv or argv[0] in ("-h", "--help"):
        parser.print_help()
        return 0
    if argv[0] not in COMMANDS:
        parser.parse_args(argv)  # prints "invalid choice" and exits with status 2
    name = argv[0]
    module = importlib.import_module(COMMANDS[name][0])
    sub = argparse.ArgumentParser(prog=f"python -m sccnb {name}", description=COMMANDS[name][1],
                                  formatter_class=argparse.RawDescriptionHelpFormatter)
    module.add_arguments(sub)
    args = sub.parse_args(argv[1:])
    return int(module.run(args) or 0)
