"""Allocation solvers: feasibility, bounds against HiGHS, baselines, value tables, bad input, notebook."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from lab.allocate import (NOTHING, evaluate, is_feasible, make_problem, oracle_values, read_values, solve_dual,
                          solve_greedy, solve_lp, solve_milp, solve_random, synthetic_values, to_problem,
                          true_incremental_value, validate_values)
from lab.allocate import plots
from lab.allocate.study import (Config, campaign_budget, campaign_limits, comparison_table, run, sweep_table,
                                verdict)
from lab.core import SchemaError
from lab.data import OFFERS, simulate_world
from lab.results import check_results


@pytest.fixture(scope="module")
def table() -> pd.DataFrame:
    return synthetic_values(1500, n_offers=4, random_state=1)


@pytest.mark.parametrize("limits", [None, {"offer_0": 300, "offer_2": 40}])
def test_dual_is_feasible_and_matches_lp_and_milp(table, limits):
    problem = to_problem(table, budget=1500 * 4.0, limits=limits)
    dual = solve_dual(problem)
    assert is_feasible(problem, dual.assignment)
    assert np.isclose(dual.objective, evaluate(problem, dual.assignment)[0])
    lp = solve_lp(problem)
    assert dual.upper_bound >= lp * (1 - 1e-6)  # weak duality: any multipliers bound the LP
    assert dual.upper_bound <= lp * (1 + 1e-4)  # and the search finds (nearly) the best ones
    milp = solve_milp(problem, time_limit=30)
    assert is_feasible(problem, milp.assignment)
    assert milp.objective <= lp * (1 + 1e-9)
    assert dual.objective >= milp.objective * (1 - 1e-3)
    if limits:
        counts = dual.counts()
        assert counts["offer_2"] <= 40 and dual.multipliers["limit:offer_2"] > 0


def test_dual_objective_grows_with_budget_and_lambda_falls(table):
    runs = [solve_dual(to_problem(table, budget=b)) for b in (500.0, 2000.0, 8000.0)]
    objectives = [r.objective for r in runs]
    lambdas = [r.multipliers["budget"] for r in runs]
    assert objectives == sorted(objectives) and objectives[0] < objectives[-1]
    assert lambdas == sorted(lambdas, reverse=True) and lambdas[0] > lambdas[-1]
    assert all(r.spend <= b + 1e-6 for r, b in zip(runs, (500.0, 2000.0, 8000.0)))


def test_unlimited_budget_gives_everyone_their_best_positive_offer(table):
    problem = to_problem(table, budget=np.inf)
    dual = solve_dual(problem)
    best = problem.values.max(axis=1)
    expected = np.where(best > 0, problem.values.argmax(axis=1), NOTHING)
    assert np.array_equal(dual.assignment, expected)
    assert dual.multipliers["budget"] == 0.0 and dual.gap == pytest.approx(0.0, abs=1e-12)


def test_zero_budget_gives_only_free_offers():
    problem = make_problem([[5.0, 1.0], [-1.0, 2.0]], costs=[3.0, 0.0], budget=0.0, offers=("paid", "free"))
    for allocation in (solve_dual(problem), solve_milp(problem), solve_greedy(problem), solve_random(problem)):
        assert allocation.spend == 0.0
        assert set(allocation.offer_names()) <= {"free", "none"}
    assert list(solve_dual(problem).offer_names()) == ["free", "free"]


def test_baselines_are_feasible_and_no_better_than_the_optimum(table):
    problem = to_problem(table, budget=3000.0, limits={"offer_1": 50})
    bound = solve_dual(problem).upper_bound
    for allocation in (solve_greedy(problem, "value"), solve_greedy(problem, "ratio"), solve_random(problem, 3)):
        assert is_feasible(problem, allocation.assignment)
        assert allocation.objective <= bound
        assert allocation.spend <= 3000.0 + 1e-9
    assert solve_random(problem, 3).objective < solve_greedy(problem, "ratio").objective
    with pytest.raises(ValueError, match="by must be"):
        solve_greedy(problem, "profit")


def test_greedy_takes_the_best_ratio_first_and_skips_what_does_not_fit():
    problem = make_problem([[10.0], [9.0], [2.0]], costs=[[10.0], [3.0], [1.0]], budget=5.0)
    assert list(solve_greedy(problem, "ratio").assignment) == [NOTHING, 0, 0]
    assert list(solve_greedy(problem, "value").assignment) == [NOTHING, 0, 0]


def test_oracle_values_and_true_incremental_value():
    world = simulate_world(n_users=400, n_days=3, shift_days=(1,), seed=2)
    truth = oracle_values(world)
    assert list(validate_values(truth).columns[:3]) == ["user_id", "value_coupon", "cost_coupon"]
    problem = to_problem(truth, budget=400 * 3.0)
    allocation = solve_dual(problem)
    assert true_incremental_value(world, allocation) == pytest.approx(allocation.objective, rel=1e-9)
    assert allocation.offers == OFFERS[1:]


def test_value_table_round_trip_and_missing_costs(tmp_path):
    frame = pd.DataFrame({"user_id": [1, 2], "value_coupon": [3.0, 1.0], "value_vip": [5.0, 0.0],
                          "cost_vip": [4.0, 4.0]})
    frame.to_csv(tmp_path / "values.csv", index=False)
    table = read_values(str(tmp_path / "values.csv"))
    assert table["cost_coupon"].tolist() == [20.0, 20.0]  # known offer: cost from lab.data.OFFER_COST
    assert to_problem(table, budget=10.0).offers == ("coupon", "vip")


@pytest.mark.parametrize("frame, message", [
    (pd.DataFrame({"user_id": [1], "value_coupon": [1.0], "cost_coupon": [-2.0]}), "negative cost"),
    (pd.DataFrame({"user_id": [1], "value_gift": [1.0]}), "offer 'gift' has no column 'cost_gift'"),
    (pd.DataFrame({"user_id": [1], "score": [1.0]}), "no offers"),
    (pd.DataFrame({"user_id": [1], "value_sms": [1.0], "cost_vip": [1.0]}), "no matching value_"),
    (pd.DataFrame({"user_id": [1, 1], "value_sms": [1.0, 2.0]}), "repeats"),
    (pd.DataFrame({"user_id": [1], "value_sms": [np.nan]}), "missing"),
])
def test_bad_value_table_raises_one_schema_error(frame, message):
    with pytest.raises(SchemaError, match=message):
        validate_values(frame)


@pytest.mark.parametrize("budget, limits, message", [
    (-5.0, None, "budget: must be >= 0"),
    (1.0, {"coupon": 3}, "'coupon' is not among"),
    (1.0, {"sms": -1}, "whole number of users >= 0"),
    (1.0, {"sms": 2.5}, "whole number of users >= 0"),
])
def test_bad_parameters_raise_one_value_error(budget, limits, message):
    table = validate_values(pd.DataFrame({"user_id": [1], "value_sms": [1.0]}))
    with pytest.raises(ValueError, match=message) as err:
        to_problem(table, budget=budget, limits=limits)
    assert not isinstance(err.value, SchemaError)


def test_make_problem_checks_shapes():
    with pytest.raises(SchemaError, match="costs: expected shape"):
        make_problem(np.ones((3, 2)), costs=np.ones(3), budget=1.0)
    with pytest.raises(ValueError, match="distinct offer names"):
        make_problem(np.ones((3, 2)), costs=np.ones(2), budget=1.0, offers=("a", "a"))


def test_study_runs_tiny_on_the_world():
    result = run(Config(n_users=600, uplift_learner="t_learner", budget_grid=(1.0, 4.0)))
    results = check_results(result.results)
    comparison = results[results["source"].isna() & (results["metric"] != "fit_seconds")]
    models = {"dual", "milp", "greedy_value", "greedy_ratio", "response_allocation", "uplift_allocation",
              "random", "oracle"}
    metrics = {"objective", "gap_to_lp_pct", "gap_to_milp_pct", "solve_seconds", "true_incremental_value"}
    assert set(comparison["model"]) == models and set(comparison["metric"]) == metrics
    assert (comparison.groupby("model")["metric"].nunique() == len(metrics)).all()
    assert (comparison["budget"] == 600 * 5.0).all()
    fits = results[results["metric"] == "fit_seconds"]
    assert set(fits["model"]) == {"ticket_model", "response_model", "uplift_model"} and (fits["value"] > 0).all()
    sweep = results[results["source"].notna()]
    assert set(sweep["source"]) == {"uplift", "response", "oracle"} and set(sweep["budget"]) == {600.0, 2400.0}
    assert "uplift_minus_response_true_value" in result.headline
    truth = comparison.query("metric == 'true_incremental_value'").set_index("model")["value"]
    assert truth["oracle"] >= truth.drop("oracle").max() * (1 - 1e-3)
    assert list(comparison_table(result).index) == ["dual", "milp", "greedy_value", "greedy_ratio",
                                                    "response_allocation", "uplift_allocation", "random", "oracle"]
    assert list(sweep_table(result).columns) == ["oracle", "random", "response", "uplift"]
    assert "True incremental value" in verdict(result)
    assert plots.value_vs_budget(result) is not None and plots.offer_mix_per_segment(result) is not None


def test_roi_floor_keeps_low_return_offers_out():
    values, costs = [[2.5, 4.0], [0.5, 9.0]], [1.0, 4.0]
    free = make_problem(values, costs, budget=np.inf)
    floored = make_problem(values, costs, budget=np.inf, roi_floor=1.5)
    assert list(solve_dual(free).assignment) == [1, 1]
    for allocation in (solve_dual(floored), solve_milp(floored), solve_greedy(floored), solve_random(floored)):
        assert is_feasible(floored, allocation.assignment)
        assert allocation.assignment[0] != 1 and allocation.assignment[1] != 0
    assert list(solve_dual(floored).assignment) == [0, 1]
    assert not is_feasible(floored, np.array([1, 1]))


def test_study_runs_on_a_researchers_value_table(tmp_path):
    """The README's own-data command: a table without the world's offers, default limit shares."""
    table = synthetic_values(300, n_offers=2, random_state=1)
    table.to_csv(tmp_path / "values.csv", index=False)
    result = run(Config(data_path=str(tmp_path / "values.csv"), budget=200.0, budget_grid=(0.5, 1.0)))
    results = check_results(result.results)
    assert {"dual", "milp", "greedy_value", "greedy_ratio", "random"} == set(results["model"])
    assert "true_incremental_value" not in set(results["metric"])
    assert set(results["source"].dropna()) == {"values"} and "fit_seconds" not in set(results["metric"])
    assert result.artefacts["ignored_limits"] == ["rate_discount"]
    assert plots.offer_mix_per_segment(result) is None  # the table has no segment column
    assert list(sweep_table(result).index) == [150.0, 300.0]


def test_bad_study_parameters_are_refused():
    with pytest.raises(ValueError, match="n_seeds"):
        run(Config(n_seeds=0))
    with pytest.raises(ValueError, match="budget_grid"):
        run(Config(budget_grid=()))


def test_campaign_budget_and_limits_are_checked():
    table = synthetic_values(100, n_offers=2, random_state=0)
    assert campaign_budget(100, budget=50.0, budget_per_user=5.0) == 50.0
    assert campaign_budget(100, budget_per_user=5.0) == 500.0
    with pytest.raises(ValueError, match="budget"):
        campaign_budget(100, budget=-1.0)
    limits, ignored = campaign_limits(table, {"offer_0": 0.1, "rate_discount": 0.05})
    assert limits == {"offer_0": 10} and ignored == ["rate_discount"]
    with pytest.raises(ValueError, match="limit_shares"):
        campaign_limits(table, {"offer_0": 1.5})
    with pytest.raises(ValueError, match="roi_floor"):
        to_problem(table, 10.0, roi_floor=-1.0)
