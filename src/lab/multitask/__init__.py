"""Multi-task funnel segmentation: multi-stage vs cascade vs one multi-objective graph model."""
from lab.multitask.baselines import CascadeSelector, MultiStageSelector
from lab.multitask.evaluate import evaluate_model, oracle_probabilities, stage_metrics
from lab.multitask.features import FunnelData, build_funnel_data, train_test_rows
from lab.multitask.models import MultiTaskFunnelClassifier
from lab.multitask.segments import DrawdownValueModel, assign_tiers, selection_overlap, stp_table, tier_table

__all__ = [
    "CascadeSelector", "DrawdownValueModel", "FunnelData", "MultiStageSelector", "MultiTaskFunnelClassifier",
    "assign_tiers", "build_funnel_data", "evaluate_model", "oracle_probabilities", "selection_overlap",
    "stage_metrics", "stp_table", "tier_table", "train_test_rows",
]
