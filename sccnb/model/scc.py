"""The whole model: backbone -> (attention multi-scale fusion -> map-to-node -> graph relation
network) or an FC head -> landmark coordinates. Built bottom-up; :func:`build_model` is the one
entry point for every variant the tables need.

Output frame: coordinates in pixels of a ``ref_size × ref_size`` crop (256, the paper's input),
whatever the actual input size, so the losses' ω/ε keep their pixel meaning (Sec. 4.2). The head
predicts an offset from a fixed template (the mean training shape when ``shapes`` are given, else
the crop centre) -- a choice where the paper is silent, applied to the FC baseline and SCC alike,
that spares both heads from learning a ~128 px constant.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from .attention import ATTENTION_MODES, FEATURE_SETS, MultiScaleFusion, conv_bn_relu
from .backbone import ResNetFeatures
from .graph import DynamicAdjacency, GraphRelationNetwork, topk_mask

__all__ = ["ModelConfig", "MapToNode", "SCCHead", "FCHead", "LandmarkRegressor", "build_model",
           "HEADS"]

HEADS = ("scc", "fc")


@dataclass(frozen=True)
class ModelConfig:
    """Every architectural choice; the defaults are the paper's full model (Secs. 3, 4.2)."""

    num_landmarks: int = 98  # WFLW
    head: str = "scc"  # "scc" (graph) or "fc" (Table 5 baseline)
    k: int = 3  # neighbours per landmark, Sec. 4.2 / Table 7
    features: str = "F3F4F5"  # Table 6: F5, F4F5, F3F4F5, F2F3F4F5
    attention: str = "semantic"  # Table 6: semantic, self, none
    dynamic: bool = True  # dynamic adjacency weighting (Table 5 "GN w/o DW" = False)
    expansion: int = 4  # n, map-to-node channels per landmark (Sec. 3.2)
    hidden: int = 128  # graph hidden size (Sec. 4.2)
    blocks: int = 4  # graph residual blocks (Sec. 4.2)
    fc_hidden: int = 512  # FC baseline hidden width (paper silent)
    depth: int = 34  # ResNet34 (Sec. 4.2)
    width: int = 64  # ResNet base width; narrower only in the CPU profile
    input_size: int = 256  # crop side in pixels (Sec. 4.2)
    ref_size: int = 256  # output coordinate frame (pixels of a 256 crop)

    def __post_init__(self) -> None:
        if self.head not in HEADS:
            raise ValueError(f"unknown head {self.head!r}; supported: {HEADS}")
        if self.features not in FEATURE_SETS:
            raise ValueError(f"unknown feature set {self.features!r}; supported: "
                             f"{sorted(FEATURE_SETS)}")
        if self.attention not in ATTENTION_MODES:
            raise ValueError(f"unknown attention {self.attention!r}; supported: "
                             f"{ATTENTION_MODES}")
        if self.input_size % 32:
            raise ValueError(f"input_size must be a multiple of 32, got {self.input_size}")


class MapToNode(nn.Module):
    """Map-to-node (Sec. 3.2): Z = φ(F_A) with two Conv-BN-ReLU blocks to ``N·n`` channels, then
    reshaped so node i owns channels ``[i·n, (i+1)·n)`` at every position.

    Choice where the paper is silent: the first block is a 1×1 conv (channel reduction from C_A),
    the second a 3×3 conv; this lands the full model on the paper's parameter and FLOP counts.

    Shapes: ``(B, C_A, H, W)`` -> ``Z (B, N·n, H, W)`` and ``nodes (B, N, n·H·W)``.
    """

    def __init__(self, c_in: int, num_landmarks: int, expansion: int = 4) -> None:
        super().__init__()
        c = num_landmarks * expansion
        self.phi = nn.Sequential(conv_bn_relu(c_in, c, 1), conv_bn_relu(c, c, 3))
        self.num_landmarks = num_landmarks

    def forward(self, fa: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        z = self.phi(fa)  # (B, N·n, H, W)
        nodes = z.reshape(z.shape[0], self.num_landmarks, -1)  # (B, N, n·H·W)
        return z, nodes


class SCCHead(nn.Module):
    """Structure Coherence Component: fusion, map-to-node, dynamic adjacency, graph network."""

    def __init__(self, cfg: ModelConfig, channels: dict[str, int], mask: np.ndarray) -> None:
        super().__init__()
        self.fusion = MultiScaleFusion(channels, FEATURE_SETS[cfg.features], cfg.attention)
        self.to_node = MapToNode(self.fusion.out_channels, cfg.num_landmarks, cfg.expansion)
        self.adjacency = DynamicAdjacency(mask, cfg.num_landmarks * cfg.expansion, cfg.dynamic)
        side = cfg.input_size // 32
        self.graph = GraphRelationNetwork(cfg.expansion * side * side, cfg.hidden, cfg.blocks)

    def forward(self, feats: dict[str, torch.Tensor], return_intermediates: bool = False):
        fa, maps = self.fusion(feats, return_maps=True)  # (B, C_A, H5, W5)
        z, nodes = self.to_node(fa)  # (B, N·n, H5, W5), (B, N, n·H5·W5)
        adj = self.adjacency(z)  # (B, N, N) or (N, N)
        out = self.graph(nodes, adj)  # (B, N, 2)
        if return_intermediates:
            return out, {"attended": maps, "FA": fa, "Z": z, "nodes": nodes, "adjacency": adj}
        return out


class FCHead(nn.Module):
    """FC baseline (Table 5, first column): global average pooling of F5, FC-ReLU-FC to 2N.

    Choice where the paper is silent: one hidden layer of ``fc_hidden`` units.
    """

    def __init__(self, cfg: ModelConfig, channels: dict[str, int]) -> None:
        super().__init__()
        self.fc = nn.Sequential(nn.Linear(channels["F5"], cfg.fc_hidden), nn.ReLU(inplace=True),
                                nn.Linear(cfg.fc_hidden, 2 * cfg.num_landmarks))
        self.num_landmarks = cfg.num_landmarks

    def forward(self, feats: dict[str, torch.Tensor], return_intermediates: bool = False):
        pooled = feats["F5"].mean(dim=(2, 3))  # (B, C5)
        out = self.fc(pooled).view(-1, self.num_landmarks, 2)  # (B, N, 2)
        return (out, {"pooled": pooled}) if return_intermediates else out


class LandmarkRegressor(nn.Module):
    """Backbone + head. ``forward(images)`` -> landmarks ``(B, N, 2)`` in the 256-px frame."""

    def __init__(self, cfg: ModelConfig, mask: np.ndarray | None = None,
                 template: np.ndarray | None = None) -> None:
        super().__init__()
        self.cfg = cfg
        self.backbone = ResNetFeatures(cfg.depth, cfg.width)
        if cfg.head == "scc":
            if mask is None:
                raise ValueError("the SCC head needs a neighbourhood mask (pass training shapes)")
            self.head = SCCHead(cfg, self.backbone.channels, mask)
        else:
            self.head = FCHead(cfg, self.backbone.channels)
        if template is None:
            template = np.full((cfg.num_landmarks, 2), cfg.ref_size / 2.0)
        template = torch.as_tensor(np.asarray(template), dtype=torch.float32)
        if template.shape != (cfg.num_landmarks, 2):
            raise ValueError(f"template must be ({cfg.num_landmarks}, 2), got "
                             f"{tuple(template.shape)}")
        self.register_buffer("template", template)

    @property
    def mask(self) -> torch.Tensor | None:
        """The binary neighbourhood mask M (``None`` for the FC head)."""
        return self.head.adjacency.mask if self.cfg.head == "scc" else None

    def forward(self, images: torch.Tensor, return_intermediates: bool = False):
        feats = self.backbone(images)
        if return_intermediates:
            out, inter = self.head(feats, return_intermediates=True)
            return out + self.template, {**feats, **inter}
        return self.head(feats) + self.template  # (B, N, 2)


def build_model(num_landmarks: int = 98, *, head: str = "scc", k: int = 3,
                features: str = "F3F4F5", attention: str = "semantic", dynamic: bool = True,
                shapes=None, mask=None, input_size: int = 256, depth: int = 34, width: int = 64,
                **overrides) -> LandmarkRegressor:
    """Build the full SCC model (defaults = the paper's) or any ablation of it.

    Args:
        num_landmarks: N (98 WFLW, 68 300-W, 29 COFW).
        head: ``"scc"`` or ``"fc"`` (baseline).
        k: neighbours per landmark for the top-k mask (Eq. 5).
        features: ``"F5"``, ``"F4F5"``, ``"F3F4F5"`` or ``"F2F3F4F5"`` (Table 6).
        attention: ``"semantic"``, ``"self"`` or ``"none"`` (Tables 5, 6).
        dynamic: dynamic adjacency weighting (False = "GN w/o DW", Table 5).
        shapes: training shapes ``(M, N, 2)`` in the 256-px crop frame. They give the Pearson
            neighbourhoods (SCC) and the output template (both heads).
        mask: a precomputed ``(N, N)`` mask instead of ``shapes`` (e.g. from a checkpoint).
        input_size, depth, width: input side and backbone (ResNet34, width 64 in the paper).
        **overrides: any other :class:`ModelConfig` field.
    """
    cfg = ModelConfig(num_landmarks=num_landmarks, head=head, k=k, features=features,
                      attention=attention, dynamic=dynamic, input_size=input_size, depth=depth,
                      width=width, **overrides)
    template = None
    if shapes is not None:
        shapes = np.asarray(shapes, dtype=np.float64)
        if shapes.ndim != 3 or shapes.shape[1:] != (num_landmarks, 2):
            raise ValueError(f"shapes must be (M, {num_landmarks}, 2), got {shapes.shape}")
        template = shapes.mean(axis=0)
        if head == "scc" and mask is None:
            mask = topk_mask(shapes, k)
    if head == "scc" and mask is None:
        raise ValueError("the SCC head needs `shapes` (training landmarks) or a `mask`")
    return LandmarkRegressor(cfg, mask=mask, template=template)

