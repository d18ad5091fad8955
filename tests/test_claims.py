"""The claim statistics (sccnb.study.claims): coverage by simulation with a known true Δ, the
verdict rules, and the minimum detectable effect."""

from __future__ import annotations

import numpy as np
import pytest

from sccnb.study.claims import (MIN_SEEDS, compare_arms, image_only_bootstrap, mde,
                                two_level_bootstrap, verdict)

TRUE_DELTA = -0.30  # points: A better than B by 0.3


def _study(rng, n_seeds=3, m=200, seed_sd=0.43, image_sd=1.0, noise_sd=0.6):
    """One simulated study: per-run, per-image NMEs (points) of two arms on the same M images.

    Images are drawn from a population (difficulty, and a per-image arm difference around the
    true Δ); each run adds a seed shift common to its images and per-image noise."""
    difficulty = rng.gamma(4.0, 1.5, m)
    per_image_delta = TRUE_DELTA + rng.normal(0, image_sd, m)
    a = (difficulty + per_image_delta)[None] + rng.normal(0, seed_sd, (n_seeds, 1)) \
        + rng.normal(0, noise_sd, (n_seeds, m))
    b = difficulty[None] + rng.normal(0, seed_sd, (n_seeds, 1)) \
        + rng.normal(0, noise_sd, (n_seeds, m))
    return a, b


@pytest.fixture(scope="module")
def coverage():
    """Share of 300 simulated studies (3 seeds per arm, seed noise dominating) whose interval
    covers the true Δ, for our interval and the two bootstraps."""
    rng = np.random.default_rng(20201)
    hits = {"ours": 0, "image_only": 0, "two_level": 0}
    n = 300
    for _ in range(n):
        a, b = _study(rng)
        r = compare_arms(a, b)
        hits["ours"] += r.ci_low <= TRUE_DELTA <= r.ci_high
        lo, hi = image_only_bootstrap(a[0], b[0], n_boot=400, rng=rng)
        hits["image_only"] += lo <= TRUE_DELTA <= hi
        lo, hi = two_level_bootstrap(a, b, n_boot=300, rng=rng)
        hits["two_level"] += lo <= TRUE_DELTA <= hi
    return {k: v / n for k, v in hits.items()}


def test_seed_aware_interval_covers_the_true_difference(coverage):
    assert 0.90 <= coverage["ours"] <= 0.99, coverage


def test_image_only_bootstrap_under_covers_when_seeds_dominate(coverage):
    assert coverage["image_only"] < 0.75, coverage
    assert coverage["image_only"] < coverage["ours"] - 0.2, coverage


def test_two_level_bootstrap_under_covers_with_three_seeds(coverage):
    # why sccnb.study.claims uses a t interval: resampling 3 seeds is too optimistic
    assert coverage["two_level"] < coverage["ours"], coverage


def test_interval_also_covers_when_images_dominate():
    rng = np.random.default_rng(7)
    hits = 0
    for _ in range(200):
        a, b = _study(rng, seed_sd=0.02, image_sd=3.0, m=150)
        r = compare_arms(a, b)
        hits += r.ci_low <= TRUE_DELTA <= r.ci_high
    assert 0.90 <= hits / 200 <= 0.99


def test_verdict_rules():
    assert verdict(-0.5, -0.1, 3, 3, -0.2, 0.3) == "agrees"
    assert verdict(0.1, 0.5, 3, 3, -0.2, 0.3) == "disagrees"
    assert verdict(-0.5, 0.5, 3, 3, -0.2, 0.3) == "below resolution"
    assert verdict(-0.5, 0.5, 3, 3, -1.5, 0.3) == "inconclusive"
    assert verdict(-0.5, 0.5, 3, 3, None, 0.3) == "inconclusive"
    assert verdict(-0.5, -0.1, 1, 3, -0.2, 0.3) == "1 seed: descriptive only"
    assert verdict(-0.5, -0.1, 3, MIN_SEEDS - 1, -0.2, 0.3) == "2 seeds: descriptive only"


def test_one_seed_gives_delta_but_no_interval():
    rng = np.random.default_rng(0)
    a, b = _study(rng, n_seeds=1)
    r = compare_arms(a, b, paper_delta=-0.3)
    assert r.delta == pytest.approx(a.mean() - b.mean())
    assert r.ci_low is None and r.mde is None
    assert r.verdict == "1 seed: descriptive only"


def test_a_large_real_effect_is_found_and_a_reversed_one_disagrees():
    rng = np.random.default_rng(1)
    a, b = _study(rng, seed_sd=0.05)
    assert compare_arms(a - 2.0, b).verdict == "agrees"
    assert compare_arms(b - 0.3, a + 2.0).verdict == "agrees"
    assert compare_arms(a + 2.0, b).verdict == "disagrees"


def test_arms_on_different_images_are_refused():
    with pytest.raises(ValueError, match="different images"):
        compare_arms(np.zeros((3, 10)), np.zeros((3, 11)))


def test_mde_shrinks_with_seeds_and_matches_the_power_it_promises():
    seed_var, img_var, m = 0.43 ** 2, 1.0, 200
    values = [mde(seed_var, seed_var, img_var, n, n, m) for n in (2, 3, 5, 10, 30)]
    assert all(x > y for x, y in zip(values, values[1:]))
    # a true effect of exactly the MDE is detected in about 80 % of simulated studies
    rng = np.random.default_rng(3)
    effect = mde(seed_var, seed_var, img_var + 2 * 0.6 ** 2 / 5, 5, 5, m)
    found = 0
    for _ in range(300):
        difficulty = rng.gamma(4.0, 1.5, m)
        delta_i = -effect + rng.normal(0, 1.0, m)
        a = (difficulty + delta_i)[None] + rng.normal(0, 0.43, (5, 1)) + rng.normal(0, .6, (5, m))
        b = difficulty[None] + rng.normal(0, 0.43, (5, 1)) + rng.normal(0, .6, (5, m))
        r = compare_arms(a, b)
        found += r.ci_high < 0
    assert 0.65 <= found / 300 <= 0.95


def test_whether_the_papers_delta_lies_in_our_interval():
    from sccnb.study.common import _inside

    assert _inside(-0.28, -0.14, 0.12) == "no"  # inconclusive here, yet not the paper's effect
    assert _inside(-0.08, -0.13, 0.13) == "yes"
    assert _inside(None, -0.1, 0.1) == "—" and _inside(-0.2, float("nan"), float("nan")) == "—"


# --- many claims at once: p-values and Holm's family-wise adjustment (issue 24) --------------
def test_p_value_matches_the_interval():
    """p < 0.05 exactly when the 95 % interval excludes 0 (same t and ν)."""
    rng = np.random.default_rng(11)
    for shift in (0.0, -0.05, -0.1, -0.2, -0.4, 0.3):
        a, b = _study(rng, seed_sd=0.08, image_sd=0.54, noise_sd=0.3, m=219)
        r = compare_arms(a + shift, b)
        assert (r.p < 0.05) == (r.ci_high < 0 or r.ci_low > 0), (shift, r)
    assert compare_arms(np.zeros((1, 5)), np.ones((1, 5))).p is None  # one seed: untested


def test_holm_by_hand():
    from sccnb.study.claims import holm

    # sorted 0.01, 0.02, 0.03, 0.5 with m = 4: 0.04, max(0.04, 0.06), max(.06, .06), max(.06, .5)
    assert holm([0.03, 0.01, None, 0.5, 0.02]) == pytest.approx(
        [0.06, 0.04, None, 0.5, 0.06], nan_ok=True)
    assert holm([0.9, 0.8]) == [1.0, 1.0] or holm([0.9, 0.8]) == pytest.approx([1.0, 1.0])
    assert holm([]) == [] and holm([None]) == [None]


def test_adjusted_verdict_keeps_labels_that_come_from_no_test():
    from sccnb.study.claims import BY_DESIGN, adjusted_verdict

    assert adjusted_verdict("agrees", 0.01, -0.3, -0.2, 0.2) == "agrees"
    assert adjusted_verdict("agrees", 0.12, -0.3, -0.2, 0.2) == \
        "not significant after adjustment"
    assert adjusted_verdict("disagrees", 0.2, 0.3, -0.2, 0.2) == \
        "not significant after adjustment"
    assert adjusted_verdict("inconclusive", 0.9, -0.1, -1.0, 0.2) == "inconclusive"
    assert adjusted_verdict(BY_DESIGN, None, -0.1, -0.05, 0.16) == BY_DESIGN
    assert adjusted_verdict("1 seed: descriptive only", None, -1, -1, None) == \
        "1 seed: descriptive only"


def test_by_design_label_only_below_three_seeds():
    from sccnb.study.claims import BY_DESIGN

    assert verdict(None, None, 1, 3, -0.05, None, by_design=True) == BY_DESIGN
    assert verdict(-0.5, -0.1, 3, 3, -0.05, 0.2, by_design=True) == "agrees"


def _family_of_studies(rng, effects, studies, seed_sd=0.08, image_sd=0.54, m=219, seeds=3,
                       seed_var_ref=0.08 ** 2):
    """For each simulated study, the raw and the Holm-adjusted verdicts of one family of claims
    with the given true effects (points), at the seed and image noise measured on real faces
    (results/resolution: a typical arm's seed sd 0.08, image sd 0.54, 219 held-out faces)."""
    from sccnb.study.claims import adjusted_verdict, holm

    out = []
    for _ in range(studies):
        results = []
        for effect in effects:
            difficulty = rng.gamma(4.0, 1.5, m)
            per_image = effect + rng.normal(0, image_sd, m)
            a = (difficulty + per_image)[None] + rng.normal(0, seed_sd, (seeds, 1))
            b = difficulty[None] + rng.normal(0, seed_sd, (seeds, 1))
            results.append(compare_arms(a, b, seed_var_ref=seed_var_ref))
        adj = holm([r.p for r in results])
        out.append(([r.verdict for r in results],
                    [adjusted_verdict(r.verdict, p, r.delta, None, r.mde)
                     for r, p in zip(results, adj)]))
    return out


def test_holm_bounds_the_family_wise_error_under_the_null():
    """20 claims of known zero effect: without adjustment most studies show at least one false
    agrees/disagrees (about 1 − 0.95²⁰ = 64 %); with Holm at most 5 % do (binomial margin)."""
    rng = np.random.default_rng(2024)
    studies = _family_of_studies(rng, [0.0] * 20, 400)
    hit = ("agrees", "disagrees")
    raw = np.mean([any(v in hit for v in r) for r, _ in studies])
    adjusted = np.mean([any(v in hit for v in a) for _, a in studies])
    assert raw > 0.45, raw
    assert adjusted <= 0.05 + 2 * np.sqrt(0.05 * 0.95 / 400), adjusted  # ≤ 7.2 % at 400 studies


def test_without_the_reference_the_far_tail_is_too_light():
    """Why compare_arms caps ν at the study's reference seed variance: with ν from each claim's
    own 2-dof seed variances, p < α/20 happens about twice as often as it should under the null
    (Holm reads that tail), while at α itself both are close to nominal."""
    rng = np.random.default_rng(5)
    t = []
    for _ in range(4000):
        difficulty = rng.gamma(4.0, 1.5, 219)
        a = (difficulty + rng.normal(0, 0.54, 219))[None] + rng.normal(0, 0.08, (3, 1))
        b = difficulty[None] + rng.normal(0, 0.08, (3, 1))
        t.append((compare_arms(a, b).p, compare_arms(a, b, seed_var_ref=0.08 ** 2).p))
    own, capped = np.array(t).T
    assert np.mean(own < 0.0025) > 1.4 * 0.0025, np.mean(own < 0.0025)
    assert np.mean(capped < 0.0025) <= 0.0025 + 2 * np.sqrt(0.0025 / 4000)
    assert 0.03 <= np.mean(capped < 0.05) <= 0.065


def test_holm_costs_power_on_real_effects():
    """10 claims with a true effect of 0.3 points among 10 null ones: Holm finds fewer of the
    real effects than the raw intervals (the price of the family-wise promise), but still most."""
    rng = np.random.default_rng(7)
    studies = _family_of_studies(rng, [-0.3] * 10 + [0.0] * 10, 150)
    raw = np.mean([sum(v == "agrees" for v in r[:10]) for r, _ in studies]) / 10
    adjusted = np.mean([sum(v == "agrees" for v in a[:10]) for _, a in studies]) / 10
    assert adjusted < raw - 0.05, (raw, adjusted)
    assert raw > 0.8 and adjusted > 0.3, (raw, adjusted)


def test_adjust_families_spans_tables_and_keeps_families_apart():
    """A family spread over two tables is adjusted as one; a probe family is adjusted alone."""
    import pandas as pd

    from sccnb.study.common import CLAIM_COLUMNS, adjust_families

    def frame(ps, family):
        rows = [{c: None for c in CLAIM_COLUMNS} | {"claim": f"c{i}", "ours_delta": -0.3,
                                                      "p": p, "verdict": "agrees",
                                                      "family": family}
                for i, p in enumerate(ps)]
        return pd.DataFrame(rows, columns=CLAIM_COLUMNS)

    a, b, probe = adjust_families([frame([0.01, 0.02], "paper"), frame([0.03], "paper"),
                                   frame([0.03], "probe")])
    assert list(a["p_holm"]) == pytest.approx([0.03, 0.04])
    assert list(b["p_holm"]) == pytest.approx([0.04])
    assert list(probe["p_holm"]) == pytest.approx([0.03])
    assert list(a["verdict_adjusted"]) == ["agrees", "agrees"]


def test_forest_plot_shows_each_claim_with_its_interval_paper_delta_and_band():
    import pandas as pd
    from matplotlib.patches import Rectangle

    from sccnb.study.claims import VERDICT_COLOURS, forest_plot

    df = pd.DataFrame([
        {"claim": "A beats B", "ours_delta": -0.5, "ci95_low": -0.7, "ci95_high": -0.3,
         "paper_delta": -0.4, "mde": 0.2, "seeds": "3/3", "verdict": "agrees",
         "verdict_adjusted": "agrees"},
        {"claim": "C beats D", "ours_delta": -0.2, "ci95_low": -0.38, "ci95_high": -0.02,
         "paper_delta": -0.1, "mde": 0.2, "seeds": "3/3", "verdict": "agrees",
         "verdict_adjusted": "not significant after adjustment"},
        {"claim": "E beats F", "ours_delta": -9.0, "ci95_low": -30.0, "ci95_high": 12.0,
         "paper_delta": -0.3, "mde": 25.0, "seeds": "3/3", "verdict": "below resolution",
         "verdict_adjusted": "below resolution"}])
    fig = forest_plot({"Table X": df.iloc[:2], "Table Y": df.iloc[2:], "empty": df.iloc[:0]})
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_yticklabels()] == [
        "A beats B  [3/3]", "C beats D  [3/3]", "E beats F  [3/3]"]
    assert len([p for p in ax.patches if isinstance(p, Rectangle)]) == 3  # one MDE band each
    dots = [ln for ln in ax.lines if ln.get_marker() == "o" and len(ln.get_xdata()) == 1]
    assert len(dots) == 3
    filled = [ln.get_markerfacecolor() != "white" for ln in dots]
    assert filled == [True, False, True]  # open where the verdict does not survive Holm
    from matplotlib.colors import to_hex

    assert to_hex(dots[0].get_color()) == VERDICT_COLOURS["agrees"]
    diamonds = [ln for ln in ax.lines if ln.get_marker() == "D"]
    assert sorted(float(d.get_xdata()[0]) for d in diamonds) == [-0.4, -0.3, -0.1]
    lo, hi = ax.get_xlim()  # the failed arm's interval does not set the range: it ends in arrows
    assert -12 < lo and hi < 3
    assert any(ln.get_marker() in ("<", ">") for ln in ax.lines)
