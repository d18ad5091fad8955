"""The real-face study end to end at smoke size: SCC vs FC with 3 seeds per arm and a seed-aware
claim, the ablation tables rendered from the runs in the store (missing arms listed, not
trained), and the resolution report."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

pytestmark = [pytest.mark.shared_data, pytest.mark.slow]

TINY = {"epochs": 1, "max_train": 40, "lr_milestones": ()}


@pytest.fixture(scope="module")
def study(tmp_path_factory, shared_data):
    import os

    tmp = tmp_path_factory.mktemp("real")
    os.environ["SCCNB_CACHE"] = str(tmp / "cache")
    from sccnb.study import real300w
    from sccnb.study.common import StudySetup

    root = str(shared_data / "300w_mini")
    trained = StudySetup(profile="real300w_cpu", data_root=root, overrides=TINY,
                         runs_root=str(tmp / "runs"), workers=1)
    real300w.run(trained, tmp / "out")
    loaded = StudySetup(profile="real300w_cpu", data_root=root, overrides=TINY,
                        runs_root=str(tmp / "runs"), missing="skip")
    claims = real300w.ablations(loaded, tmp / "out", seed_var_ref=0.08 ** 2)
    return tmp, trained, loaded, claims


def test_scc_vs_fc_claim_uses_three_seeds_per_arm(study):
    tmp, *_ = study
    t = tmp / "out" / "tables"
    table = pd.read_csv(t / "table3_real300w.csv").set_index("method")
    assert table.loc["SCC (full model)", "seeds"] == 5  # the power plan's seeds (k = 10 claim)
    assert table.loc["FC baseline (Soft Wing)", "converged"].endswith("/3")
    pytest.importorskip("dlib", reason="the optional face detector (pip install -e .[detect])")
    detected, faces = map(int, table.loc["SCC (full model)", "detected"].split("/"))
    assert faces == 219 and detected > 0.9 * faces
    assert np.isfinite(table.loc["SCC (full model)", "NME_detector_boxes"])
    (row,) = pd.read_csv(t / "table3_real300w_claims.csv").to_dict("records")
    assert row["seeds"] == "5/3"
    assert row["ci95_low"] < row["ours_delta"] < row["ci95_high"] and row["mde"] > 0
    assert 0 <= row["p"] <= 1 and row["p_holm"] == pytest.approx(row["p"])  # a family of one
    assert (row["p"] < 0.05) == (row["verdict"] in ("agrees", "disagrees"))
    assert row["family"] == "the paper's claims, real 300-W faces"
    assert row["verdict"] in ("agrees", "disagrees", "inconclusive", "below resolution")
    assert row["paper_delta"] == pytest.approx(4.40 - 5.67)
    assert row["converged"] == f"{row['converged'].split('/')[0]}/5 / " + \
        row["converged"].split(" / ")[1] and row["converged"].endswith("/3")
    assert np.isnan(row["late_trend_delta"])  # 1-epoch runs have no window to fit a trend in
    assert row["paper_delta_in_ci"] == ("yes" if row["ci95_low"] <= row["paper_delta"]
                                        <= row["ci95_high"] else "no")
    md = (t / "table3_real300w_claims.md").read_text()
    assert "descriptive only" in md and "Welch" in md  # the rules are written under the table
    assert "Holm" in md and "power_plan" in md


def test_ablations_render_what_is_stored_and_list_the_rest(study):
    tmp, _, loaded, claims = study
    t = tmp / "out" / "tables"
    topk = pd.read_csv(t / "real300w_topk.csv")
    assert list(topk["variant"]) == ["k=3", "mean-shape"]  # only the full model is stored
    meta = json.loads((t / "real300w_topk.json").read_text())
    missing = meta["provenance"]["missing_runs"]
    assert "k=1 (seed 0)" in missing and not any(m.startswith("l1") for m in missing)
    assert "Not yet trained, left out" in (t / "real300w_topk.md").read_text()
    loss = pd.read_csv(t / "real300w_loss.csv").set_index("variant")
    assert loss.loc["softwing eps=0.5", "seeds"] == 3  # the FC baseline's runs, shared
    assert claims["real300w_topk"].empty  # k = 3 has nothing stored to be compared with
    comp = pd.read_csv(t / "real300w_components.csv")
    assert list(comp["variant"]) == ["full model", "mean-shape"]  # the others are not stored
    assert (t / "real300w_features_claims.csv").is_file()
    assert (tmp / "out" / "figures" / "real300w_topk.png").is_file()
    schedule = pd.read_csv(t / "real300w_schedule.csv")  # the probe: only the profile's arms
    assert list(schedule["variant"]) == ["SCC, drops 40/46", "FC, drops 40/46", "mean-shape"]
    assert (tmp / "out" / "figures" / "real300w_schedule.png").is_file()
    assert "SCC, drops 30/40 (seed 0)" in json.loads(
        (t / "real300w_schedule.json").read_text())["provenance"]["missing_runs"]


def test_resolution_report_from_the_stored_runs(study):
    from sccnb.study import resolution
    from sccnb.study.real300w import METHODS

    tmp, trained, *_ = study
    arms = trained.train({m: trained.config("real300w", **c) for m, c in METHODS.items()},
                         seeds={m: (0, 1, 2) for m in METHODS})
    pairs = [tuple(METHODS)]
    df = resolution.run({"tiny real faces": (trained, arms, pairs, "heldout", [3, 3])},
                        tmp / "res")
    row = df.iloc[0]
    assert row["seed_dof"] == 4 and np.isfinite(row["seed_sd"]) and row["images"] > 100
    assert row["mde_20_seeds"] < row["mde_3_seeds"]
    assert row["converged"].endswith("/6")  # six distinct runs, each counted once
    assert pd.isna(row["epoch_noise_pct"]) and pd.isna(row["plateau_flagged"])  # 1 epoch: no window
    assert (tmp / "res" / "figures" / "resolution_mde.png").is_file()
    vc = resolution.variance_components(arms, pairs, "heldout")
    assert vc["seed_var"] == pytest.approx(row["seed_sd_pooled"] ** 2)
    assert vc["seed_var_robust"] == pytest.approx(row["seed_sd"] ** 2)


def test_validation_curves_show_every_seed_and_each_window():
    """The schedule figure: one thin line per seed, one mean per arm, a window marker per arm,
    and a y-range that keeps every seed's second half in view."""
    from types import SimpleNamespace

    from sccnb.study.common import plot_validation_curves

    def fake_run(epochs, offset):
        e = np.arange(epochs)
        return SimpleNamespace(history=pd.DataFrame(
            {"epoch": e, "val_nme": (5.5 + offset + 3 * np.exp(-e / 8)) / 100}))

    arms = {"SCC, 60": [fake_run(60, 0.0), fake_run(60, -0.4)],
            "SCC, 100": [fake_run(100, 0.1)], "SCC, none": []}
    fig = plot_validation_curves({"SCC": arms})
    ax = fig.axes[0]
    assert len(ax.get_lines()) == 3 + 2 + 2  # 3 seeds, 2 means, 2 window markers
    low, _ = ax.get_ylim()
    assert low < 5.1  # the lower seed (5.1 % at the end) is not clipped
    assert {t.get_text() for t in ax.get_legend().get_texts()} == {
        "SCC, 60 (2/2 converged)", "SCC, 100 (1/1 converged)"}
    markers = sorted(ln.get_xdata()[0] for ln in ax.get_lines() if ln.get_linestyle() == ":")
    assert markers == [47.5, 79.5]  # the last 12 of 60 and the last 20 of 100 epochs
