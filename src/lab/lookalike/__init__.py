"""Dynamic-GNN lookalike: audience expansion from seed users on a daily user graph that drifts."""
from lab.lookalike.audiences import discover, expand, identify, segment_profile
from lab.lookalike.baselines import BaggingPU, DeepWalk, RuleTargeting, SeedSimilarity, StaticGraphSAGE, UserCF
from lab.lookalike.evaluate import (ABLATIONS, LookalikeRun, audience_metrics, audience_stability, cumulative_gains,
                                    rolling_evaluation, seeds_before)
from lab.lookalike.model import CentreAttentionAggregation, CrossUpdate, DynamicEncoder, DynamicGNN, Rollout
from lab.lookalike.sampling import GraphSeries, Snapshot, sample_neighbours

__all__ = [
    "ABLATIONS", "BaggingPU", "CentreAttentionAggregation", "CrossUpdate", "DeepWalk", "DynamicEncoder", "DynamicGNN",
    "GraphSeries", "LookalikeRun", "Rollout", "RuleTargeting", "SeedSimilarity", "Snapshot", "StaticGraphSAGE",
    "UserCF", "audience_metrics", "audience_stability", "cumulative_gains", "discover", "expand", "identify",
    "rolling_evaluation", "sample_neighbours", "seeds_before", "segment_profile",
]
