import numpy as np
import pytest

from sccnb.metrics import auc, auc_coarse, ced, failure_rate, nme, paired_bootstrap, summarise


def _cofw_shape(eye_distance=10.0):
    shape = np.zeros((29, 2))
    shape[9, 0] = eye_distance  # points 8 and 9 normalise COFW
    return shape


def test_nme_hand_computed():
    target = _cofw_shape(10.0)
    pred = target.copy()
    pred[0] += [3.0, 4.0]  # one point off by 5 px
    # mean error = 5 / 29 px, normalised by 10 px
    assert nme(pred, target, "cofw29") == pytest.approx(5 / 29 / 10)


def test_nme_batch_and_normaliser_choice():
    target = np.stack([_cofw_shape(10.0), _cofw_shape(20.0)])
    target[:, 17, 0] = 5.0  # pupils 16/17: distance 5
    pred = target + np.array([0.0, 2.0])  # every point off by 2 px
    np.testing.assert_allclose(nme(pred, target, "cofw29"), [0.2, 0.1])
    np.testing.assert_allclose(nme(pred, target, "cofw29", "interpupil"), [0.4, 0.4])


def test_nme_rejects_wrong_shapes():
    with pytest.raises(ValueError, match="29 points"):
        nme(np.zeros((68, 2)), np.zeros((68, 2)), "cofw29")
    with pytest.raises(ValueError, match="zero normalising"):
        nme(np.zeros((29, 2)), np.zeros((29, 2)), "cofw29")


def test_failure_rate_is_strict():
    assert failure_rate([0.05, 0.1, 0.2, 0.3]) == 0.5


def test_auc_of_perfect_and_useless_methods():
    assert auc(np.zeros(10)) == pytest.approx(1.0)
    assert auc(np.full(10, 0.5)) == 0.0
    assert auc_coarse(np.zeros(10)) == pytest.approx(0.95)  # the sliver [0, 0.005] is left out


def test_auc_uniform_errors_matches_closed_form():
    # NMEs uniform on [0, 0.1]: the CED is the line y = x / 0.1, area / 0.1 = 0.5
    nmes = np.linspace(0, 0.1, 100001)
    assert auc(nmes) == pytest.approx(0.5, abs=1e-3)
    # a single error e < t: CED is a step at e, AUC = (t - e) / t
    assert auc([0.03]) == pytest.approx(0.7, abs=2e-3)
    assert auc_coarse([0.03]) == pytest.approx(0.7, abs=0.03)


def test_ced_counts_ties_as_successes():
    xs, ys = ced([0.0, 0.05, 0.05, 0.2])
    assert ys[0] == 0.25
    assert ys[np.searchsorted(xs, 0.05)] == 0.75
    assert ys[-1] == 0.75


def test_summarise_and_bad_input():
    s = summarise([0.02, 0.04, 0.2])
    assert s["count"] == 3 and s["nme"] == pytest.approx(0.26 / 3)
    assert s["fr"] == pytest.approx(1 / 3)
    with pytest.raises(ValueError, match="NaN"):
        summarise([0.1, np.nan])


def test_paired_bootstrap_detects_a_consistent_improvement():
    rng = np.random.default_rng(1)
    b = rng.uniform(0.03, 0.08, 500)
    a = b - 0.005 + rng.normal(0, 0.001, 500)
    r = paired_bootstrap(a, b)
    assert r["diff"] == pytest.approx(-0.005, abs=5e-4)
    assert r["ci_high"] < 0 and r["p_a_better"] == 1.0
    same = paired_bootstrap(b, b)
    assert same["ci_low"] == same["ci_high"] == 0.0


def test_nme_over_a_subset_of_points():
    target = np.stack([_cofw_shape(10.0)] * 2)
    pred = target.copy()
    pred[:, 0] += [3.0, 4.0]  # point 0 off by 5 px in both images
    visible = np.ones((2, 29), bool)
    visible[0, 0] = False  # image 0: the bad point is hidden
    visible[1, 1:] = False  # image 1: only the bad point is visible
    np.testing.assert_allclose(nme(pred, target, "cofw29", points=visible), [0.0, 0.5])
    assert np.isnan(nme(pred, target, "cofw29", points=np.zeros((2, 29), bool))).all()
