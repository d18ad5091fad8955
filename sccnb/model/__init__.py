"""The SCC model (Sec. 3) and the FC baseline; :func:`build_model` builds every variant."""

from .attention import (ATTENTION_MODES, FEATURE_SETS, ChannelAttention, MultiScaleFusion,
                        SpatialAttention)
from .backbone import ResNetFeatures
from .graph import (DynamicAdjacency, GraphConv, GraphRelationNetwork, GraphResidualBlock,
                    masked_row_softmax, pearson_correlation, topk_mask)
from .scc import HEADS, FCHead, LandmarkRegressor, MapToNode, ModelConfig, SCCHead, build_model

__all__ = [
    "ATTENTION_MODES", "FEATURE_SETS", "HEADS", "ChannelAttention", "SpatialAttention",
    "MultiScaleFusion", "ResNetFeatures", "DynamicAdjacency", "GraphConv",
    "GraphRelationNetwork", "GraphResidualBlock", "masked_row_softmax", "pearson_correlation",
    "topk_mask", "FCHead", "LandmarkRegressor", "MapToNode", "ModelConfig", "SCCHead",
    "build_model",
]
