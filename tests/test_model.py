import numpy as np
import pytest
import torch

from sccnb.model import (FEATURE_SETS, build_model, masked_row_softmax, pearson_correlation,
                         topk_mask)

RNG = np.random.default_rng(0)
SHAPES = RNG.normal(size=(64, 98, 2)) * 8 + 128  # stand-in training shapes (256-px frame)
SMALL = dict(input_size=64, width=16, depth=18)  # tiny backbone: the head logic is unchanged


def test_pearson_on_a_hand_made_four_point_example():
    # 4 landmarks over 4 shapes. x: p1 = p0 + 1 (corr 1), p2 = -p0 (corr -1 -> |.| = 1),
    # p3 uncorrelated with p0 by construction. y: all points share one pattern (corr 1).
    x0 = np.array([0.0, 1.0, 2.0, 3.0])
    x3 = np.array([1.0, -1.0, -1.0, 1.0])  # orthogonal to x0 - mean
    xs = np.stack([x0, x0 + 1, -x0, x3], axis=1)
    ys = np.tile(np.array([[0.0], [2.0], [1.0], [5.0]]), (1, 4))
    c = pearson_correlation(np.stack([xs, ys], axis=-1))
    expected_x = np.array([[1, 1, 1, 0], [1, 1, 1, 0], [1, 1, 1, 0], [0, 0, 0, 1]], float)
    np.testing.assert_allclose(c, 0.5 * (expected_x + 1.0), atol=1e-12)


def test_pearson_matches_numpy_corrcoef():
    c = pearson_correlation(SHAPES[:, :10])
    cx, cy = np.corrcoef(SHAPES[:, :10, 0].T), np.corrcoef(SHAPES[:, :10, 1].T)
    ref = 0.5 * (np.abs(cx) + np.abs(cy))
    np.testing.assert_allclose(c, ref, atol=1e-12)


@pytest.mark.parametrize("k", [0, 1, 3, 10, 97])
def test_mask_has_k_plus_one_per_row_including_the_diagonal(k):
    m = topk_mask(SHAPES, k)
    assert m.shape == (98, 98)
    assert set(np.unique(m)) <= {0.0, 1.0}
    assert np.all(m.sum(axis=1) == k + 1)
    assert np.all(np.diag(m) == 1)


def test_mask_keeps_the_most_correlated_neighbours():
    c = np.array([[1.0, 0.9, 0.1, 0.5], [0.9, 1.0, 0.2, 0.3], [0.1, 0.2, 1.0, 0.8],
                  [0.5, 0.3, 0.8, 1.0]])
    m = topk_mask(c, 1)
    np.testing.assert_array_equal(m, [[1, 1, 0, 0], [1, 1, 0, 0], [0, 0, 1, 1], [0, 0, 1, 1]])
    with pytest.raises(ValueError, match="k must be"):
        topk_mask(c, 4)


def test_masked_softmax_rows_sum_to_one_and_vanish_off_the_mask():
    mask = torch.as_tensor(topk_mask(SHAPES, 3))
    logits = torch.randn(5, 98, 98) * 3
    a = masked_row_softmax(logits, mask)
    torch.testing.assert_close(a.sum(-1), torch.ones(5, 98))
    assert torch.all(a[:, mask == 0] == 0)
    assert torch.all(a[:, mask == 1] > 0)


VARIANTS = [
    dict(head="fc"),
    dict(head="scc"),
    dict(head="scc", dynamic=False),
    dict(head="scc", attention="self"),
    dict(head="scc", attention="none"),
    *[dict(head="scc", features=f) for f in FEATURE_SETS],
    dict(head="scc", k=97),
]


@pytest.mark.parametrize("variant", VARIANTS, ids=lambda v: "-".join(map(str, v.values())))
def test_every_variant_gives_finite_landmarks_and_trains_the_backbone(variant):
    torch.manual_seed(0)
    model = build_model(98, shapes=SHAPES, **SMALL, **variant)
    x = torch.randn(2, 3, 64, 64)
    out = model(x)
    assert out.shape == (2, 98, 2) and torch.isfinite(out).all()
    out.sum().backward()
    g = model.backbone.stem[0].weight.grad
    assert g is not None and g.abs().sum() > 0


def test_dynamic_adjacency_is_row_stochastic_on_the_mask_and_differs_per_image():
    torch.manual_seed(0)
    model = build_model(98, shapes=SHAPES, **SMALL)
    last = model.head.adjacency.fc[2]
    torch.nn.init.normal_(last.weight, std=0.5)  # leave the uniform start
    _, inter = model(torch.randn(3, 3, 64, 64), return_intermediates=True)
    adj, mask = inter["adjacency"], model.mask
    assert adj.shape == (3, 98, 98)
    torch.testing.assert_close(adj.sum(-1), torch.ones(3, 98))
    assert torch.all(adj[:, mask == 0] == 0)
    assert not torch.allclose(adj[0], adj[1])


def test_static_adjacency_is_uniform_over_the_neighbourhood():
    model = build_model(98, shapes=SHAPES, dynamic=False, k=3, **SMALL)
    _, inter = model(torch.randn(1, 3, 64, 64), return_intermediates=True)
    adj = inter["adjacency"]
    torch.testing.assert_close(adj, model.mask / 4)


def test_map_to_node_shapes_at_paper_size():
    model = build_model(98, shapes=SHAPES).eval()
    with torch.no_grad():
        _, inter = model(torch.randn(1, 3, 256, 256), return_intermediates=True)
    assert inter["F2"].shape == (1, 64, 64, 64) and inter["F5"].shape == (1, 512, 8, 8)
    assert inter["FA"].shape == (1, 512 + 256 + 128, 8, 8)
    assert inter["Z"].shape == (1, 98 * 4, 8, 8)
    assert inter["nodes"].shape == (1, 98, 4 * 8 * 8)
    assert inter["attended"]["F3"].shape == (1, 128, 32, 32)


def test_template_is_the_mean_training_shape():
    model = build_model(98, head="fc", shapes=SHAPES, **SMALL)
    torch.testing.assert_close(model.template, torch.as_tensor(SHAPES.mean(0), dtype=torch.float32))


def test_builder_errors_are_readable():
    with pytest.raises(ValueError, match="needs `shapes`"):
        build_model(98)
    with pytest.raises(ValueError, match="supported"):
        build_model(98, head="fc", attention="nonlocal")
    with pytest.raises(ValueError, match="supported"):
        build_model(98, head="fc", features="F1F5")
    with pytest.raises(ValueError, match=r"\(M, 68, 2\)"):
        build_model(68, shapes=SHAPES)


def test_table4_budget_full_model_within_ten_percent_of_the_paper():
    from torch.utils.flop_counter import FlopCounterMode

    model = build_model(98, shapes=SHAPES).eval()
    params = sum(p.numel() for p in model.parameters())
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        model(torch.randn(1, 3, 256, 256))
    macs = counter.get_total_flops() / 2
    assert abs(params / 24.68e6 - 1) < 0.10, params
    assert abs(macs / 5.165e9 - 1) < 0.10, macs


def test_semantic_guide_equals_concatenate_then_1x1_conv():
    """The guide is computed reduce-then-upsample; it must equal the paper's
    upsample-concatenate-1×1 formulation with the same weights."""
    import torch.nn.functional as F

    from sccnb.model.attention import AttentionBranch

    torch.manual_seed(0)
    branch = AttentionBranch(8, "semantic", guide_channels=8 + 16 + 32)
    f = torch.randn(2, 8, 16, 16)
    deeper = [torch.randn(2, 32, 4, 4), torch.randn(2, 16, 8, 8)]
    ups = [F.interpolate(g, size=(16, 16), mode="bilinear", align_corners=False) for g in deeper]
    reference = branch.reduce(torch.cat([f, *ups], dim=1))
    torch.testing.assert_close(branch.semantic_guide(f, deeper), reference, rtol=1e-5,
                               atol=1e-5)
