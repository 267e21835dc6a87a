"""The risk and value study: reject inference, scorecard points, the ZILN loss, own tables, bad inputs."""
from __future__ import annotations

import shutil

import numpy as np
import pandas as pd
import pytest
import torch
from scipy.stats import spearmanr

from lab.data import simulate_world
from lab.value import WoEScorecard, auc, brier, ks, normalised_gini, ziln_loss
from lab.value.study import Config, applicants, check, labels, run, verdict


@pytest.fixture(scope="module")
def world():
    return simulate_world(n_users=40_000, seed=1)


def test_soft_label_metrics_match_their_expectation_over_draws():
    rng = np.random.default_rng(0)
    p = rng.uniform(0.01, 0.5, 400)
    score = p + rng.normal(0, 0.05, 400)
    draws = rng.random((400, 400)) < p[None, :]
    assert auc(p, score) == pytest.approx(np.mean([auc(d.astype(float), score) for d in draws]), abs=0.01)
    assert brier(p, score) == pytest.approx(np.mean([np.mean((score - d) ** 2) for d in draws]), abs=0.002)
    assert 0 < ks(p, score) < 1
    truth = rng.gamma(1.0, 1.0, 500)
    assert normalised_gini(truth, truth) == pytest.approx(1.0)
    assert normalised_gini(truth, -truth) == pytest.approx(-1.0)


def test_reject_inference_beats_uncorrected_against_the_oracle(world):
    X, loans = applicants(world)
    y = labels(loans)
    truth = world.oracle["credit"].set_index("user_id").loc[loans["user_id"], "p_default"].to_numpy()
    scores = {method: WoEScorecard(reject_inference=method).fit(X, y).predict_proba(X)[:, 1]
              for method in ("none", "parcelling")}
    assert auc(truth, scores["parcelling"]) > auc(truth, scores["none"]) + 0.01


def test_scorecard_points_are_monotone_in_woe(world):
    X, loans = applicants(world)
    model = WoEScorecard().fit(X, labels(loans))
    table = model.table()
    table = table[table["count"] > 0]
    for _, rows in table.groupby("variable"):
        rows = rows[rows["woe"] != 0]  # the empty special / missing bins
        order = np.argsort(rows["woe"].to_numpy())
        assert np.all(np.diff(rows["points"].to_numpy()[order]) >= -1e-9)
    points, pd_hat = model.points(X), model.predict_proba(X)[:, 1]
    assert spearmanr(points, pd_hat).statistic < -0.999  # more points, less risk


def test_ziln_loss_matches_a_hand_computation():
    logits, mu, sigma = torch.tensor([0.3, -1.0]), torch.tensor([1.0, 0.5]), torch.tensor([0.8, 1.2])
    y = torch.tensor([2.0, 0.0])
    p = 1 / (1 + np.exp(-0.3))
    positive = -np.log(p) + np.log(2.0 * 0.8 * np.sqrt(2 * np.pi)) + (np.log(2.0) - 1.0) ** 2 / (2 * 0.64)
    zero = -np.log(1 - 1 / (1 + np.exp(1.0)))
    assert float(ziln_loss(logits, mu, sigma, y)) == pytest.approx((positive + zero) / 2, rel=1e-5)


def test_runs_on_own_tables_without_oracle(tmp_path):
    root = simulate_world(n_users=8000, seed=2).save(tmp_path / "tables")
    shutil.rmtree(root / "oracle")
    result = run(Config(data_dir=str(root), max_epochs=2))
    assert set(result.results["split"]) == {"approved", "test", "train"}
    assert "oracle" not in set(result.results["model"])
    assert not result.results["model"].str.startswith("allocation_").any()
    assert "Risk" in verdict(result)


def test_bad_inputs_give_one_line_each(tmp_path):
    problems = check(Config(test_share=1.5, parcel_factor=0, objectives=("profit", "reach")))
    assert len(problems) == 3 and all("\n" not in p for p in problems)
    world = simulate_world(n_users=300, seed=0)
    world.observed["loans"] = world.observed["loans"].head(20)
    world.oracle = {}
    root = world.save(tmp_path / "small")
    problems = check(Config(data_dir=str(root)))
    assert any("200" in p for p in problems) and any("drawn loans" in p for p in problems)
    bad = pd.DataFrame({"user_id": [1], "approved": [3], "drawn": [0], "amount": [0.0]})
    bad.to_parquet(root / "loans.parquet")
    assert any("approved" in p for p in check(Config(data_dir=str(root))))
