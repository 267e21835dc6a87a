"""Dynamic-GNN lookalike: audience expansion from seed users on a daily user graph that drifts."""
from lab.lookalike.audiences import discover, expand, identify, nearest_to_seeds, segment_profile
from lab.lookalike.baselines import (BaggingPU, DeepWalk, LabelPropagation, NeighbourGBM, RuleTargeting, SeedSimilarity,
                                     StaticGraphSAGE, UserCF, neighbour_aggregates)
from lab.lookalike.evaluate import (ABLATIONS, LookalikeRun, audience_metrics, audience_stability, cumulative_gains,
                                    rolling_evaluation, seeds_before)
from lab.lookalike.model import (CentreAttentionAggregation, CrossUpdate, DynamicConv, DynamicEncoder, DynamicGNN,
                                 Rollout)
from lab.lookalike.sampling import GraphSeries, Snapshot, sample_neighbours

__all__ = [
    "ABLATIONS", "BaggingPU", "CentreAttentionAggregation", "CrossUpdate", "DeepWalk", "DynamicConv", "DynamicEncoder",
    "DynamicGNN", "GraphSeries", "LabelPropagation", "LookalikeRun", "NeighbourGBM", "Rollout", "RuleTargeting",
    "SeedSimilarity", "Snapshot", "StaticGraphSAGE", "UserCF", "audience_metrics", "audience_stability",
    "cumulative_gains", "discover", "expand", "identify", "nearest_to_seeds", "neighbour_aggregates",
    "rolling_evaluation", "sample_neighbours", "seeds_before", "segment_profile",
]
