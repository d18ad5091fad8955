"""ResNet backbone exposing the stage outputs F2..F5 (Sec. 3.1 names them F_l).

For a 256 × 256 input, ResNet34 gives F2 (64 × 64 × 64, stride 4), F3 (128 × 32², stride 8),
F4 (256 × 16², stride 16) and F5 (512 × 8², stride 32). No pretrained weights are loaded: the
paper trains from scratch (Sec. 4.2), and nothing may be downloaded at run time.

``width`` narrows every stage (``width = 16`` gives 16/32/64/128 channels). Only the CPU
profile uses it, to make CPU training feasible; every table made with it says so.
"""

from __future__ import annotations

import torch
from torch import nn
from torchvision.models import resnet18, resnet34
from torchvision.models.resnet import BasicBlock, ResNet

__all__ = ["ResNetFeatures", "STAGES"]

STAGES = ("F2", "F3", "F4", "F5")
_BUILDERS = {18: (resnet18, [2, 2, 2, 2]), 34: (resnet34, [3, 4, 6, 3])}


def _init_like_torchvision(module: nn.Module) -> None:
    """Re-initialise a module as torchvision's ResNet does (Kaiming for convs, BN = identity)."""
    for m in module.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)


def _torchvision_resnet(depth: int, width: int) -> ResNet:
    """torchvision's ResNet-``depth``; stages narrowed to ``width·(1, 2, 4, 8)`` if width != 64."""
    if depth not in _BUILDERS:
        raise ValueError(f"unsupported ResNet depth {depth}; supported: {sorted(_BUILDERS)}")
    builder, layers = _BUILDERS[depth]
    net = builder(weights=None)
    if width == 64:
        return net
    if width < 8 or width % 8:
        raise ValueError(f"width must be a multiple of 8 (>= 8), got {width}")
    # Rebuild the stem and the four stages with torchvision's own BasicBlock/_make_layer.
    net.inplanes = width
    net.conv1 = nn.Conv2d(3, width, kernel_size=7, stride=2, padding=3, bias=False)
    net.bn1 = nn.BatchNorm2d(width)
    net.layer1 = net._make_layer(BasicBlock, width, layers[0])
    net.layer2 = net._make_layer(BasicBlock, 2 * width, layers[1], stride=2)
    net.layer3 = net._make_layer(BasicBlock, 4 * width, layers[2], stride=2)
    net.layer4 = net._make_layer(BasicBlock, 8 * width, layers[3], stride=2)
    _init_like_torchvision(net)
    return net


class ResNetFeatures(nn.Module):
    """torchvision ResNet without its pooling and classifier; ``forward`` returns F2..F5.

    Shapes:
        input ``(B, 3, S, S)``; output dict ``{"F2": (B, w, S/4, S/4), ..., "F5": (B, 8w,
        S/32, S/32)}`` with ``w = width``.
    """

    def __init__(self, depth: int = 34, width: int = 64) -> None:
        super().__init__()
        net = _torchvision_resnet(depth, width)
        self.stem = nn.Sequential(net.conv1, net.bn1, net.relu, net.maxpool)
        self.layer1, self.layer2, self.layer3, self.layer4 = (
            net.layer1, net.layer2, net.layer3, net.layer4)
        self.depth, self.width = depth, width
        self.channels = {"F2": width, "F3": 2 * width, "F4": 4 * width, "F5": 8 * width}
        self.strides = {"F2": 4, "F3": 8, "F4": 16, "F5": 32}

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        f2 = self.layer1(self.stem(x))  # (B, w, S/4, S/4)
        f3 = self.layer2(f2)  # (B, 2w, S/8, S/8)
        f4 = self.layer3(f3)  # (B, 4w, S/16, S/16)
        f5 = self.layer4(f4)  # (B, 8w, S/32, S/32)
        return {"F2": f2, "F3": f3, "F4": f4, "F5": f5}
