"""The power plan (sccnb.study.power): seeds per claim from the noise measured before the plan,
"below resolution by design" where even the most seeds cannot reach the paper's effect, and the
evidence's seeds checked against it. Reads the committed real-face runs (no data, no training)."""

from __future__ import annotations

import dataclasses

import pytest

from sccnb.study import power
from sccnb.study.claims import BY_DESIGN, mde
from sccnb.study.common import StudySetup
from sccnb.study.real300w import EVIDENCE, PAPER_FAMILY, TABLES, table_arms


def test_seeds_needed_is_the_fewest_that_reach_the_effect():
    sd, img, m = 0.08, 0.54, 219
    n, at = power.seeds_needed(-0.19, sd, img, m)
    assert n == 5 and at <= 0.19
    assert mde(sd ** 2, sd ** 2, img ** 2, 4, 4, m) > 0.19  # 4 would not do
    assert power.seeds_needed(1.3, sd, img, m)[0] == power.MIN_SEEDS  # never fewer than 3
    n, at = power.seeds_needed(0.05, sd, img, m)
    assert n is None and at == pytest.approx(mde(sd ** 2, sd ** 2, img ** 2, 6, 6, m))


@pytest.fixture(scope="module")
def real(shared_data):
    """The real-face setup: run ids hash the data's fingerprint, so finding the committed runs
    needs the data (the test skips, saying so, where ../shared/data is absent)."""
    return StudySetup(profile="real300w_cpu", data_root=str(shared_data / "300w_mini"))


@pytest.fixture(scope="module")
def plan(real):
    return power.plan(real)


def test_plan_noise_comes_from_the_fixed_pre_plan_runs(plan):
    noise = plan.attrs["noise"]
    runs = plan.attrs["noise_runs"]
    assert {len(v) for v in runs.values()} == {3}  # seeds 0-2 of each pre-plan arm, no more
    assert len(runs) == sum(len(v) for v in power.PRE_PLAN.values())
    assert 0.02 < noise["seed_sd"] < 0.3 and 0.2 < noise["image_sd"] < 1.5
    assert noise["images"] == 219


def test_every_paper_claim_is_planned_once_and_probes_are_not(plan):
    paper_claims = [(t, b, w) for t, (_, _, cl) in TABLES.items()
                    for b, w, _, d, fam in cl if fam == PAPER_FAMILY]
    assert sorted(zip(plan["table"], plan["better"], plan["worse"])) == sorted(paper_claims)
    assert "real300w_schedule" not in set(plan["table"])


def test_status_follows_the_rule(plan):
    nz = plan.attrs["noise"]
    for r in plan.itertuples():
        at_max = mde(nz["seed_sd"] ** 2, nz["seed_sd"] ** 2, nz["image_sd"] ** 2,
                     power.MAX_SEEDS, power.MAX_SEEDS, nz["images"])
        if r.status == BY_DESIGN:
            assert abs(r.paper_delta) < at_max and r.seeds_planned == 1
            assert r.mde_planned == pytest.approx(at_max)
        else:
            n = r.seeds_planned
            assert power.MIN_SEEDS <= n <= power.MAX_SEEDS and r.mde_planned <= abs(r.paper_delta)
            if n > power.MIN_SEEDS:
                assert mde(nz["seed_sd"] ** 2, nz["seed_sd"] ** 2, nz["image_sd"] ** 2, n - 1,
                           n - 1, nz["images"]) > abs(r.paper_delta)


def test_evidence_gives_every_arm_at_least_its_planned_seeds(plan, real):
    """The seeds written in EVIDENCE are the plan's (an arm takes the most any claim needs), and
    an arm has the same seeds in every comparison it appears in."""
    for r in plan.itertuples():
        arms = table_arms(r.table)
        for label in (r.better, r.worse):
            assert len(arms[label][1]) >= r.seeds_planned, (r.claim, label)
    setup = real
    seeds_by_config = {}
    for entries in EVIDENCE.values():
        for _, changes, seeds in entries:
            cfg = setup.config("real300w", **changes)
            assert seeds_by_config.setdefault(cfg, seeds) == seeds, changes


def test_costs_count_each_run_once(plan):
    assert plan["runs"].sum() == len(set(plan.attrs["configs"]))
    assert (plan["cost_worker_min"] >= 0).all()
    assert (plan["not_finished"] <= plan["runs"]).all()
    text = power.format_plan(plan)
    assert BY_DESIGN in text and "worker-hours" in text


def test_design_mde_maps_each_by_design_claim_to_its_table(plan):
    design = power.design_mde(plan)
    assert design and all(v > 0 for v in design.values())
    assert {k[0] for k in design} <= set(TABLES)
    assert all(plan.loc[(plan["table"] == t) & (plan["better"] == b) & (plan["worse"] == w),
                        "status"].item() == BY_DESIGN for t, b, w in design)


def test_missing_pre_plan_runs_are_an_error_not_a_silent_plan(tmp_path, real):
    setup = dataclasses.replace(real, runs_root=str(tmp_path))
    with pytest.raises(FileNotFoundError, match="pre-plan runs"):
        power.plan_noise(setup)


def test_descriptive_only_arises_only_from_runs_not_yet_trained():
    """Among the committed real-face claims of the paper, every claim is a verdict on ≥ 3 seeds
    or below resolution by design; a claim reads 'descriptive only' only while a planned run of
    one of its arms is still missing from the store (the table lists it)."""
    import json

    import pandas as pd

    from sccnb.provenance import REPO_ROOT

    tables = REPO_ROOT / "results" / "real300w_cpu" / "tables"
    for table, (_, _, claims) in TABLES.items():
        path = tables / f"{table}_claims.csv"
        if not path.exists():
            continue
        missing = json.loads((tables / f"{table}.json").read_text())["provenance"].get(
            "missing_runs", [])
        pending = {m.rpartition(" (seed ")[0] for m in missing}
        for r in pd.read_csv(path).itertuples():
            if r.family != PAPER_FAMILY or not r.verdict.endswith("descriptive only"):
                continue
            assert {r.better, r.worse} & pending, (table, r.claim, r.verdict)
