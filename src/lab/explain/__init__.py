"""Explaining deep models: LICE (layer-wise clusters with transparent surrogates) and the classic toolkit."""
from lab.explain.data import WORLD_DRIVERS, encode_features, load_table, user_table, world_table
from lab.explain.lice import (LICE, decide, driver_precision, layer_outputs, lice_deletion, lice_results,
                              path_agreement, positive_probability, stability_ari)
from lab.explain.mlp import MLPClassifier, make_mlp
from lab.explain.toolkit import (METHODS, RuleSetSurrogate, SoftTreeDistiller, compare_methods, counterfactuals,
                                 deletion_check, local_linear, method_table, pdp_ice_figure, shap_values, tree_rules)

__all__ = [
    "LICE", "METHODS", "MLPClassifier", "RuleSetSurrogate", "SoftTreeDistiller", "WORLD_DRIVERS", "compare_methods",
    "counterfactuals", "decide", "deletion_check", "driver_precision", "encode_features", "layer_outputs",
    "lice_deletion", "lice_results", "load_table", "local_linear", "make_mlp", "method_table", "path_agreement",
    "pdp_ice_figure", "positive_probability", "shap_values", "stability_ari", "tree_rules", "user_table",
    "world_table",
]
