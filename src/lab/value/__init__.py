"""Risk and value: a credit scorecard with reject inference, lifetime value at acquisition (ZILN,
two-part, RFM), and what targeting on profit instead of conversion earns. ``study`` holds the
notebook's ``Config``, ``run`` and ``verdict``, ``plots`` its figures."""
from lab.value.ltv import RFMBaseline, TwoPartValue, ZILNRegressor, ziln_loss
from lab.value.metrics import (auc, brier, calibration_curve, decile_calibration, gini, ks, normalised_gini,
                               pd_metrics, spearman)
from lab.value.scorecard import REJECT_INFERENCE, UNLABELLED, WoEScorecard

__all__ = ["REJECT_INFERENCE", "UNLABELLED", "RFMBaseline", "TwoPartValue", "WoEScorecard", "ZILNRegressor", "auc",
           "brier", "calibration_curve", "decile_calibration", "gini", "ks", "normalised_gini", "pd_metrics",
           "spearman", "ziln_loss"]
