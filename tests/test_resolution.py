"""The resolution report's seed sd: the robust estimate of a typical arm
(sccnb.study.resolution.robust_seed_sd) against the pooled one, by simulation with a known σ."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from sccnb.study.readme import _resolution_rows
from sccnb.study.resolution import robust_seed_sd, sd_median_factor

SIGMA, ARMS, SEEDS = 0.08, 9, 3  # about the real-face study: 9 arms with 3 seeds each


def _arm_sds(rng, sigma=SIGMA, arms=ARMS, seeds=SEEDS, fail=None):
    """label -> (sample sd, dof) of ``arms`` arms of normal seeds; ``fail`` adds to one seed of
    the first arm (a seed that did not train)."""
    out = {}
    for a in range(arms):
        x = rng.normal(5.7, sigma, seeds)
        if fail is not None and a == 0:
            x[1] += fail
        out[f"arm{a}"] = (float(x.std(ddof=1)), seeds - 1)
    return out


def _pooled(sds):
    num = sum(dof * sd ** 2 for sd, dof in sds.values())
    return float(np.sqrt(num / sum(dof for _, dof in sds.values())))


def test_median_factor_is_the_median_of_a_normal_sample_sd():
    rng = np.random.default_rng(1)
    for dof in (1, 2, 4):
        sd = rng.standard_normal((40000, dof + 1)).std(1, ddof=1)
        assert sd_median_factor(dof) == pytest.approx(np.median(sd), abs=0.01)
    assert sd_median_factor(2) == pytest.approx(np.sqrt(np.log(2)), rel=1e-9)  # χ²₂ median 2 ln 2
    assert sd_median_factor(200) == pytest.approx(1.0, abs=0.01)


def test_robust_sd_is_median_unbiased_and_ignores_one_failing_arm():
    rng = np.random.default_rng(0)
    clean = [robust_seed_sd(_arm_sds(rng)) for _ in range(2000)]
    assert np.median(clean) == pytest.approx(SIGMA, rel=0.05)
    failed = [_arm_sds(rng, fail=3.6) for _ in range(2000)]  # the failed dense seed: +3.5 points
    robust = [robust_seed_sd(s) for s in failed]
    pooled = [_pooled(s) for s in failed]
    assert np.median(robust) == pytest.approx(SIGMA, rel=0.2)  # moved by one rank at most
    assert np.median(pooled) > 5 * SIGMA  # what the report showed before: one arm dominates
    # without a failure the pooled sd is the better estimate, and the two agree
    clean_pooled = [_pooled(_arm_sds(rng)) for _ in range(2000)]
    assert np.median(clean_pooled) == pytest.approx(SIGMA, rel=0.05)
    assert np.std(clean_pooled) < np.std(clean)


def test_robust_sd_without_arms_is_none():
    assert robust_seed_sd({}) is None
    assert robust_seed_sd({"a": (0.1, 0)}) is None


def test_readme_resolution_rows_show_the_typical_and_the_pooled_sd():
    res = pd.DataFrame([{"data": "real", "seed_sd": 0.09, "seed_sd_pooled": 0.68,
                         "seed_sd_largest_arm": "topk/k=67 2.08", "image_sd": 0.66,
                         "mde_3_seeds": 0.31, "mde_3_seeds_pooled": 2.07, "mde_20_seeds": 0.13,
                         "paper_effects_resolved_at_3_seeds": "1/9: SCC vs FC (T5)"}])
    lines = _resolution_rows(res)
    assert ("| real | 0.09 (0.68; largest: topk/k=67 2.08) | 0.66 | 0.31 (2.07) | 0.13 | "
            "1/9: SCC vs FC (T5) |") in lines
    unmeasured = res.assign(seed_sd=float("nan"), seed_sd_pooled=float("nan"),
                            mde_3_seeds=float("nan"), mde_3_seeds_pooled=float("nan"))
    assert "| real | — | 0.66 | — | 0.13 | 1/9: SCC vs FC (T5) |" in _resolution_rows(unmeasured)
    old = _resolution_rows(res.drop(columns=["seed_sd_pooled"]))  # a report from before
    assert "| real | 0.09 | 0.66 | 0.31 | 0.13 | 1/9: SCC vs FC (T5) |" in old


def test_each_probe_schedule_is_named_apart_from_the_profile():
    """The schedule probe's arms become one resolution source per schedule, named by it."""
    from sccnb.study.real300w import EVIDENCE
    from sccnb.study.resolution import schedule_name
    from sccnb.training.config import resolve_config

    names = {schedule_name(resolve_config("real300w_cpu", **changes))
             for _, changes, _ in EVIDENCE["schedule"] if changes.get("lr_milestones")}
    assert names == {"lr drops 30/40", "100 epochs, lr drops 60/72"}
    assert schedule_name(resolve_config("real300w_cpu")) == "lr drops 40/46"
