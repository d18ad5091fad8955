r"""The graph relation network (Sec. 3.2): data-driven neighbourhoods, dynamic adjacency
weighting and graph residual blocks.

Neighbourhoods (Eqs. 4-5). Stack the M training shapes into :math:`T \in R^{M\times N\times 2}`,
take Pearson's correlation between the landmarks' x coordinates (:math:`C_x`) and y coordinates
(:math:`C_y`), and combine

.. math::  C = \tfrac12(|C_x| + |C_y|),  \qquad
           M_{ij} = [\,C_{ij} \in \mathrm{Top}^{k+1}_t(C_{it})\,].

The diagonal is 1, so every row keeps itself plus its k most correlated landmarks: exactly
``k + 1`` non-zeros a row. (The authors' later code symmetrises this graph; the ECCV paper does
not, and neither do we.)

Graph convolution with a row softmax (Eq. 6), following Zhao et al. (the paper's [54]):

.. math::  H^{l+1} = \psi(\sigma_{row}(A) H^l W^l),

where :math:`\sigma_{row}` is a softmax over each row's non-zeros of M only (masked entries get
weight 0), :math:`\psi` is BN-ReLU, and :math:`A` carries the per-image dynamic weights.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

__all__ = [
    "pearson_correlation",
    "topk_mask",
    "masked_row_softmax",
    "GraphConv",
    "GraphResidualBlock",
    "DynamicAdjacency",
    "GraphRelationNetwork",
]


def pearson_correlation(shapes) -> np.ndarray:
    """Eq. (4): ``C = (|C_x| + |C_y|) / 2`` from training shapes ``(M, N, 2)``.

    A landmark whose coordinate never varies has an undefined correlation; it is set to 0
    (and its self-correlation to 1) so that it still keeps itself as a neighbour.

    Returns:
        ``(N, N)`` float64, symmetric, entries in [0, 1], ones on the diagonal.
    """
    t = np.asarray(shapes, dtype=np.float64)
    if t.ndim != 3 or t.shape[-1] != 2:
        raise ValueError(f"shapes must be (M, N, 2), got {t.shape}")
    if t.shape[0] < 2:
        raise ValueError(f"need at least 2 shapes to correlate, got {t.shape[0]}")
    if not np.all(np.isfinite(t)):
        raise ValueError("shapes contain NaN or Inf")

    def corr(a: np.ndarray) -> np.ndarray:  # a: (M, N) -> (N, N)
        a = a - a.mean(axis=0)
        sd = np.sqrt((a * a).sum(axis=0))
        with np.errstate(invalid="ignore", divide="ignore"):
            c = (a.T @ a) / np.outer(sd, sd)
        c[~np.isfinite(c)] = 0.0
        np.fill_diagonal(c, 1.0)
        return np.clip(c, -1.0, 1.0)

    return 0.5 * (np.abs(corr(t[..., 0])) + np.abs(corr(t[..., 1])))


def topk_mask(shapes_or_corr, k: int) -> np.ndarray:
    """Eq. (5): the binary neighbourhood mask M keeping the top ``k + 1`` entries of each row
    (the landmark itself and its ``k`` most correlated landmarks).

    Args:
        shapes_or_corr: training shapes ``(M, N, 2)`` or a correlation matrix ``(N, N)``.
        k: number of neighbours, ``0 <= k <= N - 1``.

    Returns:
        ``(N, N)`` float32 array of 0/1 with exactly ``k + 1`` ones a row, diagonal included.
        Ties are broken towards the lower index, so the result is deterministic.
    """
    c = np.asarray(shapes_or_corr, dtype=np.float64)
    if c.ndim == 3:
        c = pearson_correlation(c)
    if c.ndim != 2 or c.shape[0] != c.shape[1]:
        raise ValueError(f"expected shapes (M, N, 2) or a square matrix, got {c.shape}")
    n = c.shape[0]
    if not 0 <= k <= n - 1:
        raise ValueError(f"k must be in [0, {n - 1}] for {n} landmarks, got {k}")
    c = c.copy()
    np.fill_diagonal(c, np.inf)  # the landmark itself always ranks first (self-loop)
    order = np.argsort(-c, axis=1, kind="stable")[:, : k + 1]
    mask = np.zeros((n, n), dtype=np.float32)
    np.put_along_axis(mask, order, 1.0, axis=1)
    return mask


def masked_row_softmax(logits: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    r""":math:`\sigma_{row}`: softmax over each row's entries where ``mask`` is non-zero; the
    other entries are exactly 0. Every row of ``mask`` must have a non-zero (the diagonal does).

    Shapes: ``logits (..., N, N)``, ``mask (N, N)`` -> ``(..., N, N)``.
    """
    neg = torch.finfo(logits.dtype).min
    z = logits.masked_fill(mask == 0, neg)
    return torch.softmax(z, dim=-1) * (mask != 0)


class GraphConv(nn.Module):
    r"""One graph convolution, Eq. (6): :math:`\psi(\hat A H W)` with :math:`\hat A` an already
    row-normalised adjacency. ``act=False`` gives the output layer (no BN, no ReLU, with bias).

    Shapes: ``h (B, N, d_in)``, ``adj (B, N, N)`` or ``(N, N)`` -> ``(B, N, d_out)``.
    BatchNorm normalises each feature channel over the batch and all nodes.
    """

    def __init__(self, d_in: int, d_out: int, act: bool = True) -> None:
        super().__init__()
        self.weight = nn.Linear(d_in, d_out, bias=not act)  # BN's shift replaces the bias
        self.bn = nn.BatchNorm1d(d_out) if act else None
        self.act = act

    def forward(self, h: torch.Tensor, adj: torch.Tensor) -> torch.Tensor:
        out = torch.matmul(adj, self.weight(h))  # (B, N, d_out)
        if self.act:
            out = self.bn(out.transpose(1, 2)).transpose(1, 2)
            out = torch.relu(out)
        return out


class GraphResidualBlock(nn.Module):
    r"""Eq. (7): :math:`H^{l+2} = f(f(H^l, A), A) + H^l`."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.gc1 = GraphConv(dim, dim)
        self.gc2 = GraphConv(dim, dim)

    def forward(self, h: torch.Tensor, adj: torch.Tensor) -> torch.Tensor:
        return self.gc2(self.gc1(h, adj), adj) + h


class DynamicAdjacency(nn.Module):
    r"""Dynamic adjacency weighting (Sec. 3.2): global average pooling of Z, two FC layers to a
    vector ``a`` with one weight per non-zero of M, scattered into A, then :math:`\sigma_{row}`.

    With ``dynamic=False`` (Table 5, "GN w/o DW") the binary M goes straight into
    :math:`\sigma_{row}`, i.e. every neighbour gets weight ``1 / (k + 1)``.

    Choices where the paper is silent: the hidden width of the two FC layers equals Z's channel
    count ``N·n`` with a ReLU between them, and the last layer starts at zero so that training
    begins from the uniform weights of the binary graph.

    Shapes: ``z (B, N·n, H, W)`` -> ``(B, N, N)`` (dynamic) or ``(N, N)`` (static).
    """

    def __init__(self, mask: np.ndarray | torch.Tensor, z_channels: int, dynamic: bool = True
                 ) -> None:
        super().__init__()
        mask = torch.as_tensor(np.asarray(mask), dtype=torch.float32)
        self.register_buffer("mask", mask)
        self.register_buffer("nz_index", mask.reshape(-1).nonzero().squeeze(1))
        self.dynamic = dynamic
        if dynamic:
            nnz = int(self.nz_index.numel())
            self.fc = nn.Sequential(nn.Linear(z_channels, z_channels), nn.ReLU(inplace=True),
                                    nn.Linear(z_channels, nnz))
            nn.init.zeros_(self.fc[2].weight)
            nn.init.zeros_(self.fc[2].bias)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        n = self.mask.shape[0]
        if not self.dynamic:
            return masked_row_softmax(self.mask, self.mask)
        a = self.fc(z.mean(dim=(2, 3)))  # (B, nnz)
        logits = a.new_zeros(a.shape[0], n * n).index_copy(1, self.nz_index, a)
        return masked_row_softmax(logits.view(-1, n, n), self.mask)  # (B, N, N)


class GraphRelationNetwork(nn.Module):
    """Input graph conv, ``blocks`` graph residual blocks, output graph conv to 2-D coordinates.

    Shapes: ``nodes (B, N, d_node)``, ``adj`` -> ``(B, N, 2)``.
    """

    def __init__(self, d_node: int, hidden: int = 128, blocks: int = 4, out_dim: int = 2) -> None:
        super().__init__()
        self.inp = GraphConv(d_node, hidden)
        self.blocks = nn.ModuleList(GraphResidualBlock(hidden) for _ in range(blocks))
        self.out = GraphConv(hidden, out_dim, act=False)

    def forward(self, nodes: torch.Tensor, adj: torch.Tensor) -> torch.Tensor:
        h = self.inp(nodes, adj)  # (B, N, hidden)
        for block in self.blocks:
            h = block(h, adj)
        return self.out(h, adj)  # (B, N, 2)
