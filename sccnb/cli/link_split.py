"""The `link-split` command: a folder of symbolic links to a run's test faces (image + ``.pts``),
for ``eval RUN --data 300w FOLDER`` (the library: :func:`sccnb.inference.evalfolder.link_split`)."""

from __future__ import annotations

import argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("run", help="a shipped model name, a run id or folder")
    parser.add_argument("split", help="the run's test split, e.g. heldout")
    parser.add_argument("out", help="the folder of links to make (nothing is copied)")


def run(args: argparse.Namespace) -> int:
    from ..inference.evalfolder import link_split
    from ..training.runs import resolve_run

    out = link_split(resolve_run(args.run), args.split, args.out)
    print(f"{sum(1 for _ in out.rglob('*.pts'))} faces linked under {out}")
    return 0
