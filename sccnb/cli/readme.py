"""The `readme` command's arguments and dispatch (the library: :mod:`sccnb.study.readme`)."""

from __future__ import annotations

import argparse

from ..study.readme import update_readme


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--check", action="store_true",
                        help="exit 1 if README.md is out of date with results/")
    parser.add_argument("--profile", default="cpu")


def run(args: argparse.Namespace) -> int:
    changed = update_readme(check=args.check, profile=args.profile)
    if args.check and changed:
        print("README.md's results block is out of date: run `python -m sccnb readme`")
        return 1
    print("README.md results block " + ("updated" if changed else "already up to date"))
    return 0
