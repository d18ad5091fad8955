"""Every run the tables and figures need, trained (or loaded) in one go.

``python -m sccnb runs --profile cpu`` collects the variants of Tables 1-3 and 5-8 and Figs. 1
and 6, removes duplicates (Table 1's model is Table 5's last column, Table 7's k = 3, ...) and
trains what is missing, several at a time where the profile allows (graph heads first: they take
longest). The notebooks then only load.
"""

from __future__ import annotations

import argparse
import dataclasses
import time

from ..runs import run_id
from ..train import TrainConfig
from . import benchmarks, table5, table6, table7, table8
from .common import StudySetup
from .figures import FIG1_MODELS, FIG6_MODELS

__all__ = ["planned_variants", "add_arguments", "run"]


def planned_variants(setup: StudySetup) -> tuple[list[TrainConfig], set[TrainConfig]]:
    """(every variant once, in training order; the variants whose weights a figure needs).
    Seeds are added by :meth:`StudySetup.train`."""
    c = setup.config
    variants = []
    for method in benchmarks.METHODS.values():
        variants += [c("wflw", **method), c("cofw", **method), c("300w", **method)]
    for columns in (table5.COLUMNS, table6.COLUMNS, table7.columns("wflw"), table8.COLUMNS):
        variants += [c("wflw", **changes) for _, changes, _ in columns.values()]
    weights = {*(c("wflw", **m) for m in (*FIG1_MODELS.values(), *FIG6_MODELS.values())),
               *(c("300w", **m) for m in benchmarks.METHODS.values())}  # Table 2's COFW-68
    variants = sorted(dict.fromkeys(variants), key=lambda cfg: cfg.head != "scc")
    return variants, weights


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--profile", default="cpu")
    parser.add_argument("--data-root", default="")
    parser.add_argument("--seeds", default="0", help="comma-separated seeds")
    parser.add_argument("--workers", type=int, default=0,
                        help="parallel training processes (0 = the profile's default)")
    parser.add_argument("--runs-root", default=None)
    parser.add_argument("--list", action="store_true", help="print the planned run ids only")


def run(args: argparse.Namespace) -> int:
    seeds = tuple(int(s) for s in str(args.seeds).replace(" ", "").split(",") if s)
    setup = StudySetup(profile=args.profile, data_root=args.data_root, seeds=seeds,
                       runs_root=args.runs_root, workers=args.workers or None)
    variants, weights = planned_variants(setup)
    if args.list:
        for cfg in variants:
            for seed in seeds:
                print(run_id(dataclasses.replace(cfg, seed=seed)),
                      "(weights kept)" if cfg in weights else "")
        return 0
    t0 = time.perf_counter()
    setup.train(dict(enumerate(variants)))
    setup.train(dict(enumerate(v for v in variants if v in weights)), need_weights=True)
    print(f"{len(variants) * len(seeds)} runs ready in {time.perf_counter() - t0:.0f} s")
    return 0
