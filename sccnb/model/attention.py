"""Attention-guided multi-scale features (Sec. 3.1, Fig. 3, Eq. 1).

Bottom-up branches carry spatial detail from shallower stages (F3, F4 by default) into the
deepest map F5. Each branch is a 3×3 Conv-BN-ReLU, an attention that filters noise, and a
down-sampling to F5's resolution; the branches are concatenated with F5 into F_A.

The attention is CBAM's (Woo et al., ECCV 2018, the paper's [42]): channel attention from a
shared two-layer MLP (C -> C/2 -> C) over spatially average- and max-pooled features, spatial
attention from a 7×7 conv over the channel-wise average and max. *What the attention looks at*
is the paper's contribution:

* ``semantic`` (default): a guide map F̃_l = 1×1 conv([F_l; up(F̃ of every deeper branch);
  up(F5)]) merges the branch's own detail with deeper semantics; the attention is computed from
  F̃_l. For F4 this is [F4; up(F5)], for F3 [F3; up(F̃4); up(F5)], as in the text.
* ``self``: plain CBAM, the attention computed from the branch's own features (Table 6 row 1).
* ``none``: no attention; the branch is Conv-BN-ReLU and down-sampling only.

The attentive features are ``X + X ⊙ A^c ⊙ A^s`` ("element-wise multiplication and residual
addition"), with both attentions computed in parallel from the same source as in Eq. (1).

Choices where the paper is silent (written here, where they are made):
* a branch keeps its stage's channel count (F4: 256, F3: 128 for ResNet34);
* down-sampling is max pooling with kernel = stride = the resolution ratio to F5: parameter-free,
  and it keeps the strongest local response (the "spatial detail") rather than averaging it;
* up-sampling of the guides is bilinear.

Implementation note: the guide F̃_l = 1×1 conv([F_l; up(g_1); ...]) is computed as
``W_f F_l + b + Σ_i up(W_i g_i)`` with the conv's weight split by input. A 1×1 conv and bilinear
up-sampling (whose weights sum to one) are both linear, so this is the same function with the
same parameters, but each deep guide is reduced at its own, smaller resolution: about 0.11 G
fewer multiply-adds at 256² than concatenating first (a test checks the two agree).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

__all__ = [
    "ChannelAttention",
    "SpatialAttention",
    "AttentionBranch",
    "MultiScaleFusion",
    "ATTENTION_MODES",
    "FEATURE_SETS",
]

ATTENTION_MODES = ("semantic", "self", "none")
# Table 6's feature sets; F5 is always the target of the fusion.
FEATURE_SETS = {
    "F5": ("F5",),
    "F4F5": ("F4", "F5"),
    "F3F4F5": ("F3", "F4", "F5"),
    "F2F3F4F5": ("F2", "F3", "F4", "F5"),
}


def conv_bn_relu(c_in: int, c_out: int, kernel: int) -> nn.Sequential:
    """``kernel × kernel`` conv (same padding, no bias) -> BatchNorm -> ReLU."""
    return nn.Sequential(
        nn.Conv2d(c_in, c_out, kernel, padding=kernel // 2, bias=False),
        nn.BatchNorm2d(c_out),
        nn.ReLU(inplace=True),
    )


class ChannelAttention(nn.Module):
    r"""CBAM channel attention, Eq. (1) first line:
    :math:`A^c = \sigma(W_1 \rho(W_0 F^c_{avg}) + W_1 \rho(W_0 F^c_{max}))`,
    :math:`W_0 \in R^{C/2 \times C}`, :math:`W_1 \in R^{C \times C/2}`.

    Shapes: ``(B, C, H, W) -> (B, C, 1, 1)``.
    """

    def __init__(self, channels: int, reduction: int = 2) -> None:
        super().__init__()
        hidden = max(1, channels // reduction)
        self.mlp = nn.Sequential(  # shared between the two pooled descriptors
            nn.Conv2d(channels, hidden, 1), nn.ReLU(inplace=True), nn.Conv2d(hidden, channels, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        avg = self.mlp(F.adaptive_avg_pool2d(x, 1))
        mx = self.mlp(F.adaptive_max_pool2d(x, 1))
        return torch.sigmoid(avg + mx)


class SpatialAttention(nn.Module):
    r"""CBAM spatial attention, Eq. (1) second line:
    :math:`A^s = \sigma(\mathrm{conv}_{7\times7}([F^s_{avg}; F^s_{max}]))`.

    Shapes: ``(B, C, H, W) -> (B, 1, H, W)``.
    """

    def __init__(self, kernel: int = 7) -> None:
        super().__init__()
        self.conv = nn.Conv2d(2, 1, kernel, padding=kernel // 2, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        desc = torch.cat([x.mean(dim=1, keepdim=True), x.amax(dim=1, keepdim=True)], dim=1)
        return torch.sigmoid(self.conv(desc))


class AttentionBranch(nn.Module):
    """One bottom-up branch: 3×3 Conv-BN-ReLU, attention, max-pool down to F5's size.

    ``guide_channels`` is the channel count of the concatenated guide input (semantic mode);
    the 1×1 conv reduces it to the branch's channels, giving F̃_l.
    """

    def __init__(self, channels: int, mode: str, guide_channels: int = 0) -> None:
        super().__init__()
        if mode not in ATTENTION_MODES:
            raise ValueError(f"unknown attention {mode!r}; supported: {ATTENTION_MODES}")
        self.mode = mode
        self.conv = conv_bn_relu(channels, channels, 3)
        if mode == "semantic":
            self.reduce = nn.Conv2d(guide_channels, channels, 1)  # [F_l; up(...)] -> F̃_l
        if mode != "none":
            self.channel_att = ChannelAttention(channels)
            self.spatial_att = SpatialAttention()

    def semantic_guide(self, f: torch.Tensor, deeper: list[torch.Tensor]) -> torch.Tensor:
        """F̃_l = 1×1 conv([f; up(g) for g in deeper]), each g reduced before up-sampling."""
        w, c = self.reduce.weight, f.shape[1]
        guide = F.conv2d(f, w[:, :c], self.reduce.bias)  # (B, C_l, H_l, W_l)
        for g in deeper:
            part = F.conv2d(g, w[:, c:c + g.shape[1]])  # reduced at g's own resolution
            guide = guide + F.interpolate(part, size=f.shape[-2:], mode="bilinear",
                                          align_corners=False)
            c += g.shape[1]
        return guide

    def forward(self, f: torch.Tensor, deeper: list[torch.Tensor], out_size: int
                ) -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor]:
        """``deeper``: F5 and the deeper branches' guides (semantic mode). Returns
        (down-sampled attentive features, F̃_l or None, attentive features at the branch's own
        resolution -- the map Fig. 6 shows)."""
        x = self.conv(f)  # (B, C_l, H_l, W_l)
        guide = None
        if self.mode == "semantic":
            guide = self.semantic_guide(f, deeper)  # F̃_l, (B, C_l, H_l, W_l)
            src = guide
        else:
            src = x
        if self.mode != "none":
            x = x + x * self.channel_att(src) * self.spatial_att(src)  # multiply, residual add
        ratio = x.shape[-1] // out_size
        down = F.max_pool2d(x, kernel_size=ratio, stride=ratio) if ratio > 1 else x
        return down, guide, x


class MultiScaleFusion(nn.Module):
    """F_A = [F5; branch(F4); branch(F3); ...] at F5's resolution (Fig. 3).

    Shapes: backbone dict -> ``(B, C_A, H5, W5)`` with ``C_A`` the sum of the used stages'
    channels (896 for ResNet34 and {F3, F4, F5}).
    """

    def __init__(self, channels: dict[str, int], features: tuple[str, ...] = ("F3", "F4", "F5"),
                 attention: str = "semantic") -> None:
        super().__init__()
        if "F5" not in features:
            raise ValueError(f"the feature set must contain F5, got {features}")
        unknown = set(features) - set(channels)
        if unknown:
            raise ValueError(f"unknown feature maps {sorted(unknown)}; supported: F2..F5")
        # deepest branch first: the guide of a shallower branch uses the deeper guides
        self.shallow = tuple(sorted((f for f in features if f != "F5"), reverse=True))
        self.attention = attention
        branches = {}
        deeper = channels["F5"]  # channels of up(F5) and of the deeper guides so far
        for name in self.shallow:
            c = channels[name]
            branches[name] = AttentionBranch(c, attention, guide_channels=c + deeper)
            deeper += c
        self.branches = nn.ModuleDict(branches)
        self.out_channels = channels["F5"] + sum(channels[n] for n in self.shallow)

    def forward(self, feats: dict[str, torch.Tensor], return_maps: bool = False):
        f5 = feats["F5"]
        out_size = f5.shape[-1]
        parts, guides, maps = [f5], [f5], {}
        for name in self.shallow:
            f = feats[name]
            down, guide, full = self.branches[name](f, guides, out_size)
            if guide is not None:
                guides.append(guide)
            parts.append(down)
            maps[name] = full
        fused = torch.cat(parts, dim=1)  # (B, C_A, H5, W5)
        return (fused, maps) if return_maps else fused
