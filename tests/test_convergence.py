"""The convergence criterion and its diagnostics: the remaining trend of a run
(sccnb.study.common.late_trend), the epoch-to-epoch noise (sccnb.study.resolution.epoch_noise) and
the rate at which the best-versus-best criterion flags a run that has stopped improving
(plateau_flag_rate), checked against sccnb.training.evaluate.convergence itself."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from sccnb.study.common import late_trend
from sccnb.study.resolution import epoch_noise, final_lr_epochs_before_window, plateau_flag_rate
from sccnb.training.evaluate import convergence

EPOCHS, LAST_DROP = 60, 46  # the real300w_cpu schedule: milestones (40, 46)


def _history(rng, noise_rel, slope=0.0, level=5.5, epochs=EPOCHS, last_drop=LAST_DROP):
    """Validation NME (fraction) of a run: 5 % above the plateau before the last learning-rate
    drop, then ``level`` (points) + ``slope`` points per epoch, times relative noise."""
    e = np.arange(epochs)
    pts = np.where(e < last_drop, level * 1.05, level + slope * (e - last_drop))
    pts = pts * (1 + noise_rel * rng.standard_normal(epochs))
    return pd.DataFrame({"epoch": e, "val_nme": pts / 100})


class _FakeRun:
    def __init__(self, history):
        self.history = history


def test_late_trend_recovers_a_known_slope_over_the_window():
    rng = np.random.default_rng(0)
    h = _history(rng, 0.0, slope=-0.01)
    assert late_trend(h) == pytest.approx(-0.01 * 12, abs=1e-9)  # 20 % of 60 epochs
    assert late_trend(_history(rng, 0.0)) == pytest.approx(0.0, abs=1e-9)
    assert late_trend(h.iloc[:10]) is None  # a window of 2 passes has no trend


def test_epoch_noise_measures_the_scatter_about_the_trend():
    rng = np.random.default_rng(1)
    runs = [_FakeRun(_history(rng, 0.008, slope=-0.005)) for _ in range(40)]
    noise, dof = epoch_noise(runs)
    assert dof == 40 * 10
    assert noise == pytest.approx(0.008, rel=0.1)  # the trend is not counted as noise


def test_final_lr_epochs_before_the_window():
    assert final_lr_epochs_before_window(60, (40, 46)) == 2
    assert final_lr_epochs_before_window(60, (40, 52)) == 0  # the drop falls inside the window
    assert final_lr_epochs_before_window(10, ()) == 8


@pytest.mark.parametrize("noise", [0.004, 0.008])
def test_plateau_flag_rate_is_what_the_criterion_does_on_a_plateau(noise):
    """The rate predicted for a run with nothing left to gain matches the fraction of simulated
    flat histories that sccnb.training.evaluate.convergence calls unconverged."""
    rng = np.random.default_rng(2)
    flagged = np.mean([not convergence(_history(rng, noise))["converged"] for _ in range(1500)])
    predicted = plateau_flag_rate(noise, before=EPOCHS - 12 - LAST_DROP, late=12)
    assert abs(flagged - predicted) < 0.05
    assert predicted > 0.05  # at these noises the criterion flags flat runs at all


def test_plateau_flag_rate_grows_with_noise_and_vanishes_without_it():
    rates = [plateau_flag_rate(s, 2, 12) for s in (0.0, 0.002, 0.005, 0.01)]
    assert rates[0] == 0.0
    assert all(a <= b for a, b in zip(rates, rates[1:])) and rates[-1] > 0.3
    assert np.isnan(plateau_flag_rate(0.01, 0, 12))  # no plateau epochs before the window


def test_a_run_still_improving_fails_the_criterion_and_shows_a_negative_trend():
    rng = np.random.default_rng(3)
    h = _history(rng, 0.001, slope=-0.02)  # 0.24 points over the window: 4 %
    assert convergence(h)["converged"] is False
    assert late_trend(h) == pytest.approx(-0.24, abs=0.05)
