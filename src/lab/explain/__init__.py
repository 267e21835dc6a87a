"""Explaining deep models: LICE (layer-wise clusters with transparent surrogates) and the classic toolkit."""
from lab.explain.data import WORLD_DRIVERS, load_labelled_table, user_table, world_table
from lab.explain.lice import LICE, lice_deletion, lice_results, path_agreement, stability_ari
from lab.explain.measures import deletion_check, driver_precision
from lab.explain.mlp import TorchMLPClassifier, make_mlp
from lab.explain.network import decide, layer_outputs, positive_probability
from lab.explain.rules import leaf_rule, tree_rules
from lab.explain.toolkit import (EXPLANATION_METHODS, RuleSetSurrogate, SoftTreeDistiller, compare_methods,
                                 counterfactuals, local_linear, method_table, partial_dependence_curves, shap_values)

__all__ = [
    "EXPLANATION_METHODS", "LICE", "WORLD_DRIVERS", "RuleSetSurrogate", "SoftTreeDistiller", "TorchMLPClassifier",
    "compare_methods", "counterfactuals", "decide", "deletion_check", "driver_precision", "layer_outputs",
    "leaf_rule", "lice_deletion", "lice_results", "load_labelled_table", "local_linear", "make_mlp", "method_table",
    "partial_dependence_curves", "path_agreement", "positive_probability", "shap_values", "stability_ari",
    "tree_rules", "user_table", "world_table",
]
