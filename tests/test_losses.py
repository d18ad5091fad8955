import math

import pytest
import torch

from sccnb.training.losses import L1Loss, SoftWingLoss, WingLoss, build_loss


def _value_and_grad(loss, x):
    x = torch.tensor([x], dtype=torch.float64, requires_grad=True)
    v = loss(x, torch.zeros_like(x))
    v.backward()
    return v.item(), x.grad.item()


@pytest.mark.parametrize("x", [-3.0, -0.5, 0.7, 25.0])
def test_l1(x):
    v, g = _value_and_grad(L1Loss(), x)
    assert v == abs(x) and g == math.copysign(1.0, x)


def test_wing_values_and_gradients_on_both_sides_of_omega():
    w = WingLoss(omega=10.0, epsilon=2.0)
    C = 10 - 10 * math.log(1 + 10 / 2)
    v, g = _value_and_grad(w, 1.0)  # inside: omega ln(1 + |x|/eps), grad omega/(eps+|x|)
    assert v == pytest.approx(10 * math.log(1.5)) and g == pytest.approx(10 / 3)
    v, g = _value_and_grad(w, -15.0)  # outside: |x| - C, grad sign(x)
    assert v == pytest.approx(15 - C) and g == pytest.approx(-1.0)
    below, above = _value_and_grad(w, 10 - 1e-9)[0], _value_and_grad(w, 10 + 1e-9)[0]
    assert below == pytest.approx(above, abs=1e-6)  # continuous at omega


def test_soft_wing_values_and_gradients_on_both_sides_of_omega1():
    s = SoftWingLoss()  # paper: omega1 = 2, omega2 = 20, eps = 0.5
    B = 2 - 20 * math.log(1 + 2 / 0.5)
    v, g = _value_and_grad(s, 1.5)  # linear part
    assert v == pytest.approx(1.5) and g == pytest.approx(1.0)
    v, g = _value_and_grad(s, -5.0)  # log part: omega2 ln(1 + |x|/eps) + B, grad omega2/(eps+|x|)
    assert v == pytest.approx(20 * math.log(11) + B) and g == pytest.approx(-20 / 5.5)
    below, above = _value_and_grad(s, 2 - 1e-9)[0], _value_and_grad(s, 2 + 1e-9)[0]
    assert below == pytest.approx(above, abs=1e-6)  # continuous at omega1
    # medium errors get a larger gradient than L1; huge ones a smaller one
    assert _value_and_grad(s, 5.0)[1] > 1 and _value_and_grad(s, 100.0)[1] < 1


def test_mean_over_all_coordinates():
    pred = torch.tensor([[[1.0, -3.0], [0.0, 4.0]]])
    assert L1Loss()(pred, torch.zeros_like(pred)).item() == pytest.approx(2.0)
    assert SoftWingLoss()(pred, torch.zeros_like(pred)).item() == pytest.approx(
        (1 + 0 + 20 * math.log(7) + 20 * math.log(9) + 2 * (2 - 20 * math.log(5))) / 4)


def test_build_loss():
    assert isinstance(build_loss("l1"), L1Loss)
    w = build_loss("wing", epsilon=0.5)
    assert w.omega == 20.0 and w.epsilon == 0.5
    assert build_loss("soft_wing", epsilon=1.0).epsilon == 1.0
    with pytest.raises(ValueError, match="supported"):
        build_loss("adaptive_wing")
    with pytest.raises(ValueError):
        SoftWingLoss(epsilon=0)
