"""``python -m sccnb runs``: every run the tables and figures need, trained (or loaded) in one
go (:mod:`sccnb.study.plan`); and the run store's housekeeping.

``python -m sccnb runs --profile cpu`` collects the variants of Tables 1-3 and 5-8 and Figs. 1
and 6, removes duplicates (Table 1's model is Table 5's last column, Table 7's k = 3, ...) and
trains what is missing, several at a time where the profile allows (graph heads first: they take
longest). The notebooks then only load.

``python -m sccnb runs --profile real300w_cpu`` trains the real-face evidence
(:data:`sccnb.study.real300w.EVIDENCE`: SCC vs FC, the loss, attention and top-k comparisons,
3 seeds per arm), most wanted first, with one progress bar and an ETA. It is resumable: finished
runs are kept and an interrupted one resumes from its last epoch.

``--estimate`` says how long regenerating them from scratch takes on this kind of machine, from
the committed runs' own per-epoch seconds (:func:`sccnb.study.plan.regeneration_estimate`).

``--stale`` lists stored runs whose code fingerprint differs from this checkout's;
``--rekey`` renames stored run folders whose id changed under the content-based identity (runs
stored before it), so they are found again.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import time

from ..data.datasets import DATASETS
from ..data.fingerprint import data_fingerprint
from ..errors import ConfigError
from ..provenance import write_json
from ..study import power
from ..study.common import WORKERS, StudySetup
from ..study.plan import planned_seeds, planned_variants, regeneration_estimate
from ..study.real300w import EVIDENCE, evidence_configs
from ..training.equivalence import prove, record_proof
from ..training.runs import Run, code_fingerprint, run_id, stale_runs, stored_runs
from ..training.train import ensure_runs
from . import at_least

__all__ = ["add_arguments", "run", "parse_seeds"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--profile", default="cpu")
    parser.add_argument("--data-root", default="")
    parser.add_argument("--seeds", default=None, help="comma-separated seeds (default 0; the "
                        "real-face profiles take theirs from sccnb.study.real300w.EVIDENCE)")
    parser.add_argument("--workers", type=at_least(0), default=0,
                        help="parallel training processes (0 = the profile's default)")
    parser.add_argument("--runs-root", default=None)
    parser.add_argument("--list", action="store_true", help="print the planned run ids only")
    parser.add_argument("--only", default="", help="real-face profiles: comma-separated "
                        "comparisons of sccnb.study.real300w.EVIDENCE to train (default all)")
    parser.add_argument("--estimate", action="store_true",
                        help="real-face profiles: print how long regenerating the planned runs "
                        "from scratch takes with --workers (from the stored runs' per-epoch "
                        "seconds), then exit")
    parser.add_argument("--stale", action="store_true",
                        help="list stored runs whose code fingerprint differs from this "
                        "checkout's (exit 1 if any), then exit")
    parser.add_argument("--same-numbers-as", metavar="REV", default=None,
                        help="prove that this checkout's code gives the numbers of commit REV's "
                        "(smoke training and a committed run's re-evaluation, bit for bit, by "
                        "both versions) and record it, so the stored runs stay fresh; then exit")
    parser.add_argument("--note", default="", help="with --same-numbers-as: what changed")
    parser.add_argument("--fingerprint", nargs=2, metavar=("DATASET", "PATH"),
                        help="print the data fingerprint of DATASET under PATH and the time it "
                        "took (cold, then cached), then exit")
    parser.add_argument("--rekey", action="store_true",
                        help="rename stored run folders whose id differs from the one their "
                        "config gives now (runs stored before content-based ids), then exit")


def _stale(runs_root) -> int:
    found = stale_runs(stored_runs(runs_root))
    print(f"code fingerprint of this checkout: {code_fingerprint()['digest']}")
    for r, reason in found:
        print(f"{r.id}: {reason}")
    print(f"{len(found)} stale run(s)" if found else "no stale runs")
    return 1 if found else 0


def _same_numbers(rev: str, note: str, runs_root) -> int:
    print(f"training smoke runs and re-evaluating a committed run with the code of {rev} and "
          "with this checkout's (a few minutes) ...", flush=True)
    proof = prove(rev, runs_root=runs_root)
    for part in ("train", "reeval"):
        print(f"{part}: " + json.dumps(proof["new"][part], sort_keys=True))
    if not proof["same"]:
        print("DIFFERENT numbers:\n  " + "\n  ".join(proof["differences"]))
        print("not recorded: runs trained with the old code stay stale until retrained")
        return 1
    path = record_proof(proof, note, runs_root)
    old, new = proof["old"]["digest"], proof["new"]["digest"]
    print(f"same numbers: code {old} -> {new}; "
          + (f"recorded in {path}" if path else "same fingerprint, nothing to record"))
    return 0


def _rekey(runs_root) -> int:
    moved = 0
    for r in stored_runs(runs_root):
        try:
            new = run_id(r.train_config)
        except (FileNotFoundError, ValueError, TypeError) as exc:
            print(f"{r.id}: left as it is ({exc})")
            continue
        if new == r.id:
            continue
        target = r.path.with_name(new)
        if target.exists():
            print(f"{r.id}: left as it is ({new} exists already)")
            continue
        r.path.rename(target)
        cfg = Run(target).config
        cfg["id"] = new
        write_json(target / "config.json", cfg)
        print(f"{r.id} -> {new}")
        moved += 1
    print(f"{moved} run(s) renamed")
    return 0


def _fingerprint(dataset: str, path: str) -> int:
    t0 = time.perf_counter()
    fp = data_fingerprint(dataset, path)
    cold = time.perf_counter() - t0
    t0 = time.perf_counter()
    data_fingerprint(dataset, path)
    warm = time.perf_counter() - t0
    print(f"{fp}  ({fp.files} files, {fp.annotations} hashed by content; {cold * 1000:.0f} ms, "
          f"cached {warm * 1000:.0f} ms)")
    return 0


def parse_seeds(text: str, flag: str = "--seeds") -> tuple[int, ...]:
    """``"0,1,2"`` -> ``(0, 1, 2)``; anything else (a name, a negative number, no seed, the
    same seed twice) is a :class:`~sccnb.errors.ConfigError` naming ``flag``."""
    parts = [s.strip() for s in str(text).split(",")]
    expect = "comma-separated integers >= 0, e.g. 0,1,2"
    if not any(parts):
        raise ConfigError(f"{flag} {text!r}: no seed given; expected {expect}")
    seeds = []
    for part in parts:
        if not part.lstrip("-").isdigit() or int(part) < 0:
            raise ConfigError(f"{flag} {text!r}: {part!r} is not a seed; expected {expect}")
        seeds.append(int(part))
    if len(set(seeds)) != len(seeds):
        raise ConfigError(f"{flag} {text!r}: a seed is given twice; expected {expect}")
    return tuple(seeds)


def _check_args(args: argparse.Namespace) -> None:
    """Refuse what ``runs`` would ignore or misread (a negative ``--workers`` is refused by its
    argparse type): ``--only`` or
    ``--estimate`` on a profile they do not apply to, an unknown ``--only`` name or
    ``--fingerprint`` dataset, bad ``--seeds``."""
    if args.fingerprint:
        dataset = args.fingerprint[0]
        known = sorted({*DATASETS, "real300w"})
        if dataset not in known:
            raise ConfigError(f"--fingerprint {dataset}: unknown dataset; supported: "
                              f"{', '.join(known)}")
        return
    if args.note and not args.same_numbers_as:
        raise ConfigError("--note goes with --same-numbers-as REV")
    if args.stale or args.rekey or args.same_numbers_as:
        return
    real = str(args.profile).startswith("real300w")
    if args.estimate and not real:
        raise ConfigError(f"--estimate applies to the real-face profiles (real300w, "
                          f"real300w_cpu), not --profile {args.profile}; "
                          "`--list` shows the planned runs")
    if real and args.seeds is not None:
        raise ConfigError(f"--seeds {args.seeds}: the real-face profiles train the seeds of "
                          "sccnb.study.real300w.EVIDENCE (the power plan); leave --seeds out")
    only = [x.strip() for x in args.only.split(",") if x.strip()]
    if only and not real:
        raise ConfigError(f"--only applies to the real-face profiles (real300w, real300w_cpu), "
                          f"not --profile {args.profile}")
    if only:
        unknown = [x for x in only if x not in EVIDENCE]
        if unknown:
            raise ConfigError(f"--only {args.only}: unknown comparison(s) {', '.join(unknown)}; "
                              f"supported: {', '.join(EVIDENCE)}")
    elif args.only.strip():
        raise ConfigError(f"--only {args.only!r}: no comparison named; supported: "
                          "the names of sccnb.study.real300w.EVIDENCE, comma-separated")


def run(args: argparse.Namespace) -> int:
    _check_args(args)
    if args.fingerprint:
        return _fingerprint(*args.fingerprint)
    if args.stale:
        return _stale(args.runs_root)
    if args.same_numbers_as:
        return _same_numbers(args.same_numbers_as, args.note, args.runs_root)
    if args.rekey:
        return _rekey(args.runs_root)
    seeds = parse_seeds("0" if args.seeds is None else args.seeds)
    setup = StudySetup(profile=args.profile, data_root=args.data_root, seeds=seeds,
                       runs_root=args.runs_root, workers=args.workers or None)
    if args.profile.startswith("real300w"):
        return _real_faces(setup, args)
    variants, weights = planned_variants(setup)
    seeds_of = dict(enumerate(planned_seeds(setup, variants)))
    if args.list:
        for i, cfg in enumerate(variants):
            for seed in seeds_of[i]:
                print(run_id(dataclasses.replace(cfg, seed=seed)),
                      "(weights kept)" if cfg in weights and seed in seeds else "")
        return 0
    t0 = time.perf_counter()
    setup.train(dict(enumerate(variants)), seeds=seeds_of)
    setup.train({i: v for i, v in enumerate(variants) if v in weights}, need_weights=True)
    print(f"{sum(map(len, seeds_of.values()))} runs ready in {time.perf_counter() - t0:.0f} s")
    return 0


def _hours(h: float | None) -> str:
    return "unknown (a head has no finished run)" if h is None else f"{h:.1f} h"


def _real_faces(setup: StudySetup, args: argparse.Namespace) -> int:
    """The real-face evidence: every (config, seed) once, in priority order, resumable."""
    only = tuple(x.strip() for x in args.only.split(",") if x.strip())
    configs = evidence_configs(setup, only)
    workers = setup.workers or WORKERS.get(setup.profile, 1)
    if args.estimate:
        if not only:
            print("Power plan (sccnb.study.power; results/real300w_cpu/tables/power_plan.md):")
            print(power.format_plan(power.plan(setup), workers))
            print()
        est = regeneration_estimate(configs, setup.runs_root, workers)
        print(f"{est['runs']} planned runs, {est['finished']} finished; per run, as one of "
              f"{workers} worker(s), from the 10th percentile of the finished runs: " + ", ".join(
                  f"{h} {m:.1f} min ({est['timed_runs'][h]} runs)"
                  for h, m in est["per_run_min"].items()))
        print(f"from scratch: {_hours(est['wall_h'])}; what is not finished: "
              f"{_hours(est['remaining_h'])}")
        return 0
    if args.list:
        for cfg in configs:
            print(run_id(cfg), f"seed {cfg.seed}")
        return 0
    t0 = time.perf_counter()
    ensure_runs(configs, setup.runs_root, workers=workers, progress=True)
    print(f"{len(configs)} runs ready in {time.perf_counter() - t0:.0f} s")
    return 0
