"""LICE and the explanation toolkit: API contract, invariants, results, bad input, reproducibility, the study."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
from torch import nn

from lab.core import SchemaError
from lab.explain import (LICE, RuleSetSurrogate, SoftTreeDistiller, TorchMLPClassifier, compare_methods,
                         deletion_check, layer_outputs, lice_results, load_labelled_table, path_agreement,
                         stability_ari, user_table)
from lab.explain.study import Config, run, verdict


@pytest.fixture(scope="module")
def fitted():
    torch.set_num_threads(1)
    X, y, drivers = load_labelled_table(n_users=800, seed=0)
    model = TorchMLPClassifier(hidden=(16, 8), epochs=8, batch_size=256, lr=1e-2, weight_decay=1e-2,
                               random_state=0).fit(X, y)
    threshold = float(np.quantile(model.predict_proba(X)[:, 1], 0.8))
    lice = LICE(model, max_clusters=4, threshold=threshold, random_state=0).fit(X)
    return X, y, drivers, model, threshold, lice


def test_mlp_is_a_sklearn_classifier_with_named_layers(fitted):
    X, y, _, model, _, _ = fitted
    proba = model.predict_proba(X)
    assert proba.shape == (len(X), 2) and np.allclose(proba.sum(axis=1), 1)
    assert set(model.predict(X)) <= set(model.classes_)
    assert model.layer_names_ == ["hidden1", "hidden2"]
    assert {"input", "hidden1", "hidden2", "output"} <= dict(model.module_.named_modules()).keys()


def test_lice_learned_state_is_consistent(fitted):
    X, _, _, _, _, lice = fitted
    assert lice.layers_ == ["hidden1", "hidden2"]
    for layer in lice.layers_:
        k = lice.n_clusters_[layer]
        assert 1 <= k <= 4 and len(lice.surrogates_[layer]) == k
        assert 0.0 <= lice.fidelity_[layer] <= 1.0
        assert lice.selection_.query("layer == @layer")["k"].tolist() == [1, 2, 3, 4]
    assert lice.cluster_table_.groupby("layer")["size"].sum().eq(len(X)).all()
    transition = lice.transitions_["hidden1", "hidden2"]
    assert np.allclose(transition.sum(axis=1), 1)
    assert lice.paths_["n"].sum() == len(X)
    assert (lice.importance_.to_numpy() >= 0).all() and (lice.importance_.sum(axis=1) <= 1 + 1e-6).all()
    assert lice.global_importance().index[0] in X.columns


def test_chosen_k_follows_the_stated_criterion(fitted):
    X, _, _, _, _, lice = fitted
    n_cv = len(X) - round(len(X) * lice.holdout)
    for layer, rows in lice.selection_.groupby("layer"):
        best = rows.loc[rows["fidelity"].idxmax()]
        assert best["se"] == pytest.approx(np.sqrt(best["fidelity"] * (1 - best["fidelity"]) / n_cv))
        expected = rows.loc[rows["fidelity"] >= best["fidelity"] - best["se"], "k"].min()
        assert lice.n_clusters_[layer] == expected
        assert LICE(lice.model, tol=1.0)._choose_k(rows.to_dict("records")) == 1


def test_explain_and_assign(fitted):
    X, _, _, model, threshold, lice = fitted
    paths = lice.assign(X.iloc[:10])
    assert list(paths.columns) == lice.layers_ and len(paths) == 10
    table = lice.explain(X.iloc[:3])
    assert len(table) == 3 * len(lice.layers_)
    assert set(table.columns) >= {"sample", "layer", "cluster", "model_decision", "who", "why"}
    picked = (model.predict_proba(X.iloc[:3])[:, 1] >= threshold).astype(int)
    assert (table.groupby("sample")["model_decision"].first().to_numpy() == picked).all()
    assert lice.predict(X).shape == (len(X),)


def test_lice_works_on_any_named_torch_model():
    torch.manual_seed(0)
    X = np.random.default_rng(0).normal(size=(300, 4)).astype(np.float32)
    module = nn.Sequential()
    module.add_module("encoder", nn.Sequential(nn.Linear(4, 6), nn.Tanh()))
    module.add_module("head", nn.Linear(6, 1))
    lice = LICE(module, layers=["encoder"], max_clusters=3, surrogate="tree").fit(X)
    assert lice.n_clusters_["encoder"] in (1, 2, 3)
    assert list(lice.feature_names_in_) == ["x0", "x1", "x2", "x3"]
    with pytest.raises(KeyError, match="not in the model"):
        layer_outputs(module, X, ["decoder"])
    with pytest.raises(ValueError, match="name the hidden layers"):
        LICE(module).fit(X)


def test_measures_are_in_range_and_noise_breaks_paths(fitted):
    X, _, _, _, _, lice = fitted
    quiet = path_agreement(lice, X, noise=0.0)
    assert quiet["path"] == 1.0
    loud = path_agreement(lice, X, noise=2.0)
    assert loud["path"] < 1.0
    ari = stability_ari(lice, X, seeds=(0, 1))
    assert ari["ari"].between(-1, 1).all() and list(ari["layer"]) == lice.layers_
    assert (stability_ari(lice, X, seeds=(0, 0))["ari"] == 1.0).all()  # the same seed gives the same clusters


def test_deletion_check_ranks_the_only_feature_that_matters():
    x = np.random.default_rng(0).normal(size=(200, 5)).astype(np.float32)

    def score(z: np.ndarray) -> np.ndarray:  # a toy model that reads feature 2 only
        return 1 / (1 + np.exp(-3 * z[:, 2]))

    out = deletion_check(score, x, np.array([0, 0, 1.0, 0, 0]), k=1, baseline=np.zeros(5, dtype=np.float32))
    assert out["ranked"] > 0.2 and out["random"] < out["ranked"] / 2


def test_results_contract(fitted):
    X, _, drivers, _, _, lice = fitted
    rows = lice_results(lice, X, X.iloc[:300], ari_seeds=(0, 1), drivers=drivers, random_state=0)
    lice_rows = rows.query("model == 'lice'")
    fidelity = lice_rows.query("metric == 'fidelity'")
    assert sorted(fidelity["layer"]) == sorted(lice.layers_)
    assert {"fidelity", "ari", "path_agreement", "deletion_drop", "driver_precision"} <= set(lice_rows["metric"])
    paths = lice_rows.query("metric == 'path_agreement'").set_index("layer")["value"]
    assert set(paths.index) == {*lice.layers_, "all"} and paths["all"] <= paths.drop("all").min()
    assert {"model", "metric", "value", "layer"} <= set(rows.columns)
    assert pd.to_numeric(rows["value"]).notna().all()


def test_toolkit_methods_are_their_own_models(fitted):
    X, y, drivers, model, threshold, _ = fitted
    out = compare_methods(model, X.iloc[:600], X.iloc[600:], threshold, y_test=y.iloc[600:], drivers=drivers,
                          n_local=40)
    models = set(out["results"]["model"])
    assert {"shap", "permutation_importance", "global_surrogate_tree", "rule_set", "soft_tree", "lime",
            "counterfactual"} <= models
    fidelity = out["results"].query("metric == 'fidelity'").set_index("model")["value"]
    assert fidelity.between(-1, 1).all() and fidelity["global_surrogate_tree"] > 0.7
    assert out["shap"][2] == "DeepExplainer" and out["shap"][0].shape == (40, X.shape[1])


def test_rule_set_and_soft_tree_imitate_a_simple_rule():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(1000, 3)).astype(np.float32)
    decision = ((x[:, 0] > 0.5) & (x[:, 1] > 0)).astype(int)
    rules = RuleSetSurrogate(max_depth=3).fit(x, decision)
    assert (rules.predict(x) == decision).mean() > 0.97
    assert "x0 > 0.50" in rules.describe(["x0", "x1", "x2"])["rule"].iloc[0]
    soft = SoftTreeDistiller(depth=2, epochs=300, lr=0.05).fit(x, decision.astype(float))
    assert ((soft.predict_proba(x)[:, 1] >= 0.5) == decision).mean() > 0.9


def test_user_table_errors_are_schema_errors(tmp_path):
    frame = pd.DataFrame({"user_id": np.arange(100), "a": np.arange(100.0), "b": ["x", "y"] * 50, "t": [0, 1] * 50})
    path = tmp_path / "users.csv"
    frame.to_csv(path, index=False)
    X, y = user_table(str(path), "t")
    assert list(X.columns) == ["a", "b=x", "b=y"] and y.sum() == 50  # the id column is not a feature
    with pytest.raises(SchemaError, match="target column 'missing' not found"):
        user_table(str(path), "missing")
    with pytest.raises(SchemaError, match=r"feature column\(s\) \['nope'\] not found"):
        user_table(str(path), "t", ["a", "nope"])
    with pytest.raises(ValueError, match="list of column names"):
        user_table(str(path), "t", "a,b")
    with pytest.raises(SchemaError, match="exactly 2 values"):
        user_table(str(path), "a")
    with pytest.raises(SchemaError, match="file not found"):
        user_table(str(tmp_path / "none.csv"), "t")


def test_fits_are_reproducible_and_leave_the_global_rngs_alone(fitted):
    """Two fits with one random_state agree exactly, and none draws from numpy's or torch's global RNG
    (a liblinear surrogate without random_state used to move LICE's fidelity between runs)."""
    X, _, _, model, threshold, lice = fitted
    np.random.seed(0)
    torch.manual_seed(0)
    numpy_state, torch_state = np.random.get_state()[1].copy(), torch.get_rng_state().clone()
    np.random.seed(1)  # a different global state must not change the fit
    again = LICE(model, max_clusters=4, threshold=threshold, random_state=0).fit(X)
    assert again.fidelity_ == lice.fidelity_ and again.n_clusters_ == lice.n_clusters_
    np.random.seed(0)
    torch.manual_seed(0)
    TorchMLPClassifier(hidden=(4,), epochs=1, random_state=3).fit(X.iloc[:200], (X.index[:200] % 2))
    SoftTreeDistiller(depth=2, epochs=1, random_state=3).fit(X.iloc[:200], np.full(200, 0.5))
    LICE(model, max_clusters=2, surrogate="logistic", random_state=1).fit(X.iloc[:300])
    assert (np.random.get_state()[1] == numpy_state).all() and torch.equal(torch.get_rng_state(), torch_state)


def test_mlp_refuses_bad_input(fitted):
    X, y, *_ = fitted
    model = TorchMLPClassifier(hidden=(4,), epochs=1)
    with pytest.raises(ValueError, match="Unknown label type"):
        model.fit(X, np.linspace(0, 1, len(X)))
    with pytest.raises(ValueError, match="only one class"):
        model.fit(X, np.zeros(len(X)))
    model.fit(X, y)
    with pytest.raises(ValueError, match="features"):
        model.predict_proba(X.iloc[:, :3].to_numpy())


def test_world_table_features_are_in_raw_units():
    X, y, drivers = load_labelled_table(n_users=300, seed=0)
    assert "user_id" not in X.columns and "region=0" in X.columns
    assert X["income"].min() > 100  # money is not logged or scaled: rules read in currency
    assert set(drivers) <= set(X.columns) and set(y.unique()) <= {0, 1}


def test_study_runs_end_to_end_and_says_its_verdict():
    config = Config(n_users=500, n_seeds=2, epochs=4, max_clusters=3, hidden=(8, 4))
    result = run(config)
    rows = result.results
    assert {"lice", "random_features", "mlp", "shap", "rule_set", "soft_tree", "counterfactual"} <= set(rows["model"])
    assert rows.query("model == 'lice' and metric == 'fidelity'")["layer"].nunique() == 2
    assert sorted(rows["seed"].unique()) == [0, 1]
    assert set(rows.loc[rows["metric"].str.contains("second"), "metric"]) == {"fit_seconds"}
    assert set(result.headline) == {"lice_fidelity_min", "lice_max_clusters", "lice_ari_min", "path_agreement",
                                    "deletion_drop_vs_random"}
    assert result.runtime_seconds > 0 and "**Verdict.**" in verdict(result)
    assert {r["method"] for r in result.metrics["method_table"]} >= {"lice", "shap", "pdp_ice", "rule_set"}
    with pytest.raises(ValueError, match="target_share"):
        run(Config(target_share=1.5))


def test_the_workbench_tables_in_a_folder_are_the_same_table(tmp_path):
    from lab.data import simulate_world

    simulate_world(n_users=300, seed=0).save(tmp_path)
    X, y, drivers = load_labelled_table(data_dir=str(tmp_path), target="drawdown")
    X_sim, y_sim, _ = load_labelled_table(n_users=300, seed=0, target="drawdown")
    assert drivers == ()  # the drivers are known only on the simulated world
    pd.testing.assert_frame_equal(X, X_sim, check_dtype=False)
    assert (y.to_numpy() == y_sim.to_numpy()).all()
