"""The `stable-notebook` command: ``make`` passes every executed notebook through it (the
library: :func:`sccnb.study.notebook.stable_notebook`)."""

from __future__ import annotations

import argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("paths", nargs="+", metavar="PATH", help="an executed notebook")


def run(args: argparse.Namespace) -> int:
    from ..study.notebook import stable_notebook

    for path in args.paths:
        stable_notebook(path)
    return 0
