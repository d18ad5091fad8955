"""Landmark regression losses: L1, Wing (Feng et al., CVPR 2018) and Soft Wing (SCC, Sec. 3.3).

All three act per coordinate on the error ``x = pred - target`` and return the mean over every
coordinate of every point of every image. The parameters (``omega``, ``epsilon``, ...) are in
pixels of the **256 × 256 crop** (Sec. 4.2): the training engine scales coordinates to that
frame whatever the network's input size, so ``omega1 = 2`` always means "2 px at 256".

(mmpose applies the same Soft Wing to coordinates divided by the input size; every error is then
below ``omega1`` and the loss silently becomes L1 -- ``shared/docs/protocol.md``. The test suite
checks that our training set-up does not fall into that trap.)
"""

from __future__ import annotations

import math

import torch
from torch import nn

__all__ = ["L1Loss", "WingLoss", "SoftWingLoss", "build_loss", "LOSSES"]


class L1Loss(nn.Module):
    r"""Mean absolute error, :math:`|x|`."""

    def forward(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return (pred - target).abs().mean()


class WingLoss(nn.Module):
    r"""Wing loss, Eq. (8):

    .. math::
        \mathrm{Wing}(x) = \begin{cases}
            \omega \ln(1 + |x|/\epsilon) & |x| < \omega \\
            |x| - C & \text{otherwise}
        \end{cases}, \qquad C = \omega - \omega \ln(1 + \omega/\epsilon),

    so both pieces meet at :math:`|x| = \omega`. The gradient magnitude is
    :math:`\omega / (\epsilon + |x|)` below :math:`\omega` (large for tiny errors) and 1 above.
    """

    def __init__(self, omega: float = 10.0, epsilon: float = 2.0) -> None:
        super().__init__()
        if omega <= 0 or epsilon <= 0:
            raise ValueError(f"WingLoss needs omega > 0 and epsilon > 0, got {omega}, {epsilon}")
        self.omega, self.epsilon = float(omega), float(epsilon)
        self.C = self.omega - self.omega * math.log1p(self.omega / self.epsilon)

    def forward(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        x = (pred - target).abs()
        small = self.omega * torch.log1p(x / self.epsilon)
        return torch.where(x < self.omega, small, x - self.C).mean()

    def extra_repr(self) -> str:
        return f"omega={self.omega}, epsilon={self.epsilon}"


class SoftWingLoss(nn.Module):
    r"""Soft Wing loss, Eq. (9):

    .. math::
        \mathrm{SoftWing}(x) = \begin{cases}
            |x| & |x| < \omega_1 \\
            \omega_2 \ln(1 + |x|/\epsilon) + B & \text{otherwise}
        \end{cases}, \qquad B = \omega_1 - \omega_2 \ln(1 + \omega_1/\epsilon).

    Linear (gradient 1) for small errors, where annotations are ambiguous; for medium errors the
    gradient :math:`\omega_2 / (\epsilon + |x|)` is larger than 1, and it decays towards
    :math:`\omega_2 / |x|` for outliers. Defaults are the paper's (Sec. 4.2).
    """

    def __init__(self, omega1: float = 2.0, omega2: float = 20.0, epsilon: float = 0.5) -> None:
        super().__init__()
        if omega1 <= 0 or omega2 <= 0 or epsilon <= 0:
            raise ValueError("SoftWingLoss needs omega1, omega2, epsilon > 0, got "
                             f"{omega1}, {omega2}, {epsilon}")
        self.omega1, self.omega2, self.epsilon = float(omega1), float(omega2), float(epsilon)
        self.B = self.omega1 - self.omega2 * math.log1p(self.omega1 / self.epsilon)

    def forward(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        x = (pred - target).abs()
        large = self.omega2 * torch.log1p(x / self.epsilon) + self.B
        return torch.where(x < self.omega1, x, large).mean()

    def extra_repr(self) -> str:
        return f"omega1={self.omega1}, omega2={self.omega2}, epsilon={self.epsilon}"


LOSSES = {"l1": L1Loss, "wing": WingLoss, "softwing": SoftWingLoss}


def build_loss(name: str, epsilon: float | None = None, **kwargs) -> nn.Module:
    """Build a loss by name (``"l1"``, ``"wing"``, ``"softwing"``).

    ``epsilon`` is the curvature parameter Table 8 varies; ``None`` keeps the loss's default.
    Wing's ``omega`` defaults to 20 when built here, matching Fig. 4 (ω = ω2 = 20).
    """
    key = name.lower().replace("_", "").replace("-", "")
    if key not in LOSSES:
        raise ValueError(f"unknown loss {name!r}; supported: {sorted(LOSSES)}")
    if key == "l1":
        if epsilon is not None or kwargs:
            raise ValueError("L1 takes no parameters")
        return L1Loss()
    if epsilon is not None:
        kwargs["epsilon"] = epsilon
    if key == "wing":
        kwargs.setdefault("omega", 20.0)
    return LOSSES[key](**kwargs)
