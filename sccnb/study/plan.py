"""Every run the tables and figures need, trained (or loaded) in one go.

``python -m sccnb runs --profile cpu`` collects the variants of Tables 1-3 and 5-8 and Figs. 1
and 6, removes duplicates (Table 1's model is Table 5's last column, Table 7's k = 3, ...) and
trains what is missing, ``workers`` at a time (longest first). The notebooks then only load.
"""

from __future__ import annotations

import argparse
import time

from ..runs import run_id
from ..train import ensure_runs
from . import benchmarks, table5, table6, table7, table8
from .common import StudySetup

__all__ = ["planned_runs", "add_arguments", "run"]


def planned_runs(setup: StudySetup) -> tuple[list, set]:
    """(configs in training order, the configs whose weights a figure needs)."""
    c = setup.config
    variants = []
    for method in benchmarks.METHODS.values():
        variants += [c("wflw", **method), c("cofw", **method), c("300w", **method)]
    for columns in (table5.COLUMNS, table6.COLUMNS, table7.columns("wflw"), table8.COLUMNS):
        variants += [c("wflw", **changes) for _, changes, _ in columns.values()]
    weights = {c("wflw", head="fc", loss="softwing", loss_epsilon=0.5), c("wflw"),  # Fig. 1
               c("wflw", attention="self", loss="l1"), c("wflw", loss="l1"),  # Fig. 6
               *(c("300w", **m) for m in benchmarks.METHODS.values())}  # Table 2's COFW-68
    import dataclasses

    configs = [dataclasses.replace(v, seed=int(s)) for v in dict.fromkeys(variants)
               for s in setup.seeds]
    weights = {dataclasses.replace(v, seed=int(s)) for v in weights for s in setup.seeds}
    # longest first: graph heads before FC heads, so parallel workers finish together
    configs.sort(key=lambda cfg: cfg.head != "scc")
    return configs, weights


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
    configs, weights = planned_runs(setup)
    if args.list:
        for cfg in configs:
            print(run_id(cfg), "(weights kept)" if cfg in weights else "")
        return 0
    t0 = time.perf_counter()
    with_weights = [cfg for cfg in configs if cfg in weights]
    others = [cfg for cfg in configs if cfg not in weights]
    workers = setup.workers or (2 if args.profile == "cpu" else 1)
    ensure_runs(with_weights + others, setup.runs_root, workers=workers, need_weights=False)
    ensure_runs(with_weights, setup.runs_root, workers=workers, need_weights=True)
    print(f"{len(configs)} runs ready in {time.perf_counter() - t0:.0f} s")
    return 0
