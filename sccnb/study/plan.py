"""Every run the tables and figures need (:func:`planned_variants`, :func:`planned_seeds`), and
how long training them from scratch takes (:func:`regeneration_estimate`).

``python -m sccnb runs`` (:mod:`sccnb.cli.runs`) trains what is missing, several at a time where
the profile allows, so that the notebooks only load; it also keeps the run store (``--stale``,
``--same-numbers-as``, ``--rekey``).
"""

from __future__ import annotations

from pathlib import Path

from ..training.config import TrainConfig
from ..training.runs import run_id
from . import benchmarks, table5, table6, table7, table8
from .common import StudySetup
from .figures import FIG1_MODELS, FIG6_MODELS

__all__ = ["planned_variants", "planned_seeds", "regeneration_estimate", "REAL_FACE_ABLATIONS"]


# Profiles whose Tables 3 and 5-8 come from the real faces (sccnb.study.real300w) rather than
# from their own data: the CPU profile, whose own data is SynthFace. The others (smoke, the
# tests' pipeline; gpu/paper, usually with a real DATA_ROOT) plan every table on their data.
REAL_FACE_ABLATIONS = ("cpu",)


def planned_variants(setup: StudySetup, ablations: bool | None = None
                     ) -> tuple[list[TrainConfig], set[TrainConfig]]:
    """(every variant once, in training order; the variants whose weights a figure needs).
    Seeds are added by :meth:`StudySetup.train` (Table 1's two methods also get
    :data:`sccnb.study.benchmarks.HEADLINE_SEEDS`: :func:`planned_seeds`).

    What ``make reproduce-tables`` renders on SynthFace: Tables 1 and 2 (WFLW, COFW, and 300-W
    for COFW-68) and Figs. 1 and 6 -- the layouts we have no real images for. Tables 3 and 5-8
    come from the real faces (:mod:`sccnb.study.real300w`); their SynthFace variants are planned
    only with ``ablations`` (default: for profiles not in :data:`REAL_FACE_ABLATIONS`;
    ``make table5 PROFILE=cpu`` still trains them on demand)."""
    if ablations is None:
        ablations = setup.profile not in REAL_FACE_ABLATIONS
    c = setup.config
    variants = []
    for method in benchmarks.METHODS.values():
        variants += [c("wflw", **method), c("cofw", **method), c("300w", **method)]
    if ablations:
        for columns in (table5.COLUMNS, table6.COLUMNS, table7.columns("wflw"), table8.COLUMNS):
            variants += [c("wflw", **changes) for _, changes, _ in columns.values()]
    variants += [c("wflw", **m) for m in (*FIG1_MODELS.values(), *FIG6_MODELS.values())]
    # Fig. 1 and the tour predict with these weights (committed in half precision); Fig. 6's
    # attention maps and Table 2's COFW-68 predictions are kept with their runs once computed
    weights = {c("wflw", **m) for m in FIG1_MODELS.values()}
    variants = sorted(dict.fromkeys(variants), key=lambda cfg: cfg.head != "scc")
    return variants, weights


def planned_seeds(setup: StudySetup, variants: list[TrainConfig]) -> list[tuple[int, ...]]:
    """The seeds each planned SynthFace variant trains with: Table 1's methods on WFLW get
    :func:`sccnb.study.benchmarks.table1_seeds`, the rest the setup's."""
    table1 = {setup.config("wflw", **m) for m in benchmarks.METHODS.values()}
    headline, rest = benchmarks.table1_seeds(setup), tuple(setup.seeds)
    return [headline if cfg in table1 else rest for cfg in variants]


def regeneration_estimate(configs: list[TrainConfig], runs_root=None, workers: int = 2,
                          quantile: float = 0.1) -> dict:
    """How long training ``configs`` from scratch takes, in the order given, ``workers`` at a time.

    A stored, finished run's cost is the sum of its ``history.csv`` ``seconds``. Runs are timed
    on a shared machine (tests or other work beside them slow some), so each head's cost is the
    ``quantile`` of its finished runs' costs per epoch, times the config's epochs: the least
    contended runs, as on an idle machine. The wall time replays the scheduler of
    :func:`sccnb.training.train.ensure_runs` (each run goes to the first free worker, in order).

    Returns ``{"runs", "finished", "per_run_min": {head: minutes of its first config}, "wall_h",
    "remaining_h", "timed_runs": {head: n}}`` (``remaining_h``: the same replay for the
    unfinished runs only); ``per_run_min`` lacks a head none of whose runs has finished, and then
    the hours are None.
    """
    import numpy as np

    from ..training.runs import Run, default_runs_root

    root = Path(runs_root or default_runs_root())
    per_epoch: dict[str, list[float]] = {}
    finished = set()
    for cfg in configs:
        run = Run(root / run_id(cfg))
        if not run.complete:
            continue
        finished.add(cfg)
        seconds = run.history["seconds"]
        per_epoch.setdefault(cfg.head, []).append(float(seconds.sum()) / len(seconds))
    rate = {h: float(np.quantile(v, quantile)) for h, v in per_epoch.items()}

    def wall(todo: list[TrainConfig]) -> float | None:
        if any(c.head not in rate for c in todo):
            return None
        free = [0.0] * max(1, workers)
        for c in todo:
            i = free.index(min(free))
            free[i] += rate[c.head] * c.epochs
        return max(free) / 3600

    return {"runs": len(configs), "finished": len(finished),
            "per_run_min": {h: rate[h] * next(c.epochs for c in configs if c.head == h) / 60
                            for h in rate},
            "timed_runs": {h: len(v) for h, v in per_epoch.items()},
            "wall_h": wall(configs),
            "remaining_h": wall([c for c in configs if c not in finished])}
