"""Dynamic-GNN lookalike: audience expansion from seed users on a daily user graph that drifts."""
from lab.lookalike.audiences import discover, expand, identify, segment_profile
from lab.lookalike.evaluate import (ABLATIONS, LookalikeRun, audience_stability, cumulative_gains, ranking_metrics,
                                    rolling_evaluation, seeds_before)
from lab.lookalike.model import CentreAttentionAggregation, CrossUpdate, DynamicEncoder, DynamicGNN
from lab.lookalike.sampling import GraphSeries, Snapshot, sample_neighbours

__all__ = [
    "ABLATIONS", "CentreAttentionAggregation", "CrossUpdate", "DynamicEncoder", "DynamicGNN", "GraphSeries",
    "LookalikeRun", "Snapshot", "audience_stability", "cumulative_gains", "discover", "expand", "identify",
    "ranking_metrics", "rolling_evaluation", "sample_neighbours", "seeds_before", "segment_profile",
]
