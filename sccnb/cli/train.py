"""The `train` command's arguments and dispatch (the library: :mod:`sccnb.training.train`)."""

from __future__ import annotations

import argparse
import dataclasses
import json
from pathlib import Path

from ..training.config import PROFILES, resolve_config
from ..training.runs import Run, default_runs_root, run_id
from ..training.train import dist_info, ensure_run


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.description = (
        "Train a model. The run id is a hash of the resolved config: if that run already "
        "exists under results/runs/ it is loaded, not trained again; an interrupted run "
        "resumes from its checkpoint.\n\nProfiles: " + ", ".join(PROFILES))
    parser.add_argument("--profile", default="cpu", choices=sorted(PROFILES))
    parser.add_argument("--set", dest="overrides", action="append", default=[],
                        metavar="KEY=VALUE", help="override a config field, e.g. --set k=5 "
                        "--set head=fc --set data_root=/data (repeatable)")
    parser.add_argument("--runs-root", default=None, help="run store (default results/runs)")
    parser.add_argument("--show-config", action="store_true",
                        help="print the resolved config and its run id, then exit")


def run(args: argparse.Namespace) -> int:
    from ..errors import ConfigError, Interrupted, resolve_device

    overrides = {}
    for item in args.overrides:
        if "=" not in item:
            raise ConfigError(f"--set expects KEY=VALUE, got {item!r}")
        key, value = item.split("=", 1)
        overrides[key.strip()] = value.strip()
    cfg = resolve_config(args.profile, **overrides)
    if args.show_config:
        print(json.dumps({"id": run_id(cfg), **dataclasses.asdict(cfg)}, indent=2, default=str))
        return 0
    resolve_device(cfg.device)  # no CUDA: say so before any data is read
    run_dir = Path(args.runs_root or default_runs_root()) / run_id(cfg)
    try:
        result = ensure_run(cfg, args.runs_root)
    except ValueError as err:  # a split the data cannot give (sccnb.data.prepare)
        if "cannot carve a validation split" not in str(err):
            raise
        raise ConfigError(str(err)) from None
    except KeyboardInterrupt:
        done = len(Run(run_dir).history) if (run_dir / "history.csv").is_file() else 0
        kept = (f"{done} finished epoch(s) are saved in {run_dir / 'checkpoint.pt'}"
                if done and (run_dir / "checkpoint.pt").is_file() else "no epoch had finished")
        raise Interrupted(f"interrupted; {kept}. Run the same command again to "
                          f"{'resume from epoch ' + str(done + 1) if done else 'start over'}"
                          ) from None
    if dist_info()[0] != 0:
        return 0
    print(json.dumps({"run": str(result.path), "metrics": result.metrics}, indent=2))
    return 0
