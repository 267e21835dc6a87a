"""The lifecycle study: which monthly action maximises a customer's discounted 12-month profit?

``run(Config)`` learns policies offline from the logged ``account_months`` (randomised actions with their
propensities), evaluates every policy off-policy on the logs (IPS, SNIPS, DR, FQE; ``lab.lifecycle.ope``)
and, on the simulated world, rolls each one out in the simulator for its true value. On the first seed it
also refits fitted-Q for each discount factor of ``gamma_grid``, caps the monthly share of paid actions at
each ``budget_grid`` share, and distils the fitted-Q policy into a shallow tree.

Rows of ``results``: ``model`` (the policy), ``metric`` (``true_value``, its interval, ``ope_*``), ``seed``;
the budget sweep adds ``budget`` (the monthly share of accounts that may get a paid action), the discount
sweep names its discount factor in the metric (``true_value_gamma_<g>``).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.tree import DecisionTreeClassifier, export_text
from tqdm.auto import tqdm

from lab.core import (StudyConfig, StudyResult, limit_threads, paired_interval, refuse, stopwatch, world_for,
                      world_problems_of)
from lab.data import World, world_problems
from lab.data.io import read_table, table_files
from lab.data.world.lifecycle import ACTIONS, LOGGING_POLICY, MONTHLY_DISCOUNT, Customers
from lab.lifecycle.ope import Truth, evaluate_policy, true_value
from lab.lifecycle.policies import (Episodes, FittedQ, FixedPolicy, GreedyPolicy, Policy, fit_q_learners,
                                    logged_episodes, static_columns_of)

BASELINES = ("no_action", "logging", "myopic", "clv_greedy")
LEARNED = ("fitted_q",)
OPE = ("ope_ips", "ope_snips", "ope_dr", "ope_fqe")
MIN_CUSTOMERS = 50  # the fewest logged customers the study takes
GAIN_BAR = 0.05     # the best learned policy must beat myopic by this share of its true value
DR_BAR = 0.10       # DR must come within this share of every policy's true value


@dataclass
class Config(StudyConfig):
    """Defaults of the lifecycle study: every field is a notebook parameter of the same name and default.

    ``data_dir``: "" = the simulated world of ``n_users`` users (about 5.5% draw a loan and live the
    lifecycle months), ``n_seeds`` worlds from ``seed``; else a folder with your ``users`` and
    ``account_months`` (with ``propensity``). ``gamma``: the monthly discount factor. ``budget_share``: the
    most a month's open accounts that may get a paid action (1 = no cap). ``n_rollouts``: lives per
    customer behind each true value. ``max_iter``: boosting rounds of every action-value regressor.
    """

    seed: int = 0
    n_seeds: int = 1
    data_dir: str = ""
    n_users: int = 100_000
    gamma: float = MONTHLY_DISCOUNT
    budget_share: float = 1.0
    n_rollouts: int = 10
    max_iter: int = 60
    gamma_grid: tuple[float, ...] = (0.9, 0.95)
    budget_grid: tuple[float, ...] = (0.1, 0.3)
    tree_depth: int = 3


def check(config: Config) -> list[str]:
    """Every problem with the parameters and, with ``data_dir``, with the tables; nothing is run."""
    problems = []
    for name in ("gamma", "budget_share"):
        if not 0 < getattr(config, name) <= 1:
            problems.append(f"{name}: must lie in (0, 1], got {getattr(config, name)}")
    for name, values in (("gamma_grid", config.gamma_grid), ("budget_grid", config.budget_grid)):
        if any(not 0 < v <= 1 for v in values):
            problems.append(f"{name}: every value must lie in (0, 1], got {list(values)}")
    for name, least in (("n_seeds", 1), ("n_rollouts", 2), ("max_iter", 1), ("tree_depth", 1)):
        if getattr(config, name) < least:
            problems.append(f"{name}: must be at least {least}, got {getattr(config, name)}")
    if not config.data_dir:
        return problems + world_problems_of(n_users=config.n_users, seed=config.seed)
    table_problems = world_problems(config.data_dir, require=("users", "account_months"))
    if table_problems:
        return problems + table_problems
    months = read_table(table_files(Path(config.data_dir))[0]["account_months"])
    if "propensity" not in months:
        problems.append("account_months: needs the column propensity (the logging policy's probability of the "
                        "logged action) for off-policy evaluation")
    if months["user_id"].nunique() < MIN_CUSTOMERS:
        problems.append(f"account_months: needs at least {MIN_CUSTOMERS} customers, has {months['user_id'].nunique()}")
    counts = months.groupby("user_id")["month"].agg(["min", "max", "size"])
    if ((counts["min"] != 0) | (counts["max"] + 1 != counts["size"])).any():
        problems.append("account_months: every customer's months must run 0, 1, 2, ... without gaps or repeats")
    return problems


def _policies(models: dict, budget_share: float) -> dict[str, Policy]:
    return {"no_action": FixedPolicy(np.eye(len(ACTIONS))[0]), "logging": FixedPolicy(LOGGING_POLICY),
            **{name: GreedyPolicy(model, budget_share) for name, model in models.items()}}


def _customers(world: World) -> tuple[Customers, np.ndarray]:
    """The oracle's customers and their users features in ``History``'s order."""
    customers = Customers.from_frame(world.oracle["lifecycle"])
    users = world.observed["users"]
    static = users.set_index("user_id").reindex(customers.user_id)[list(static_columns_of(users))]
    return customers, static.to_numpy(np.float64)


def _truth_rows(name: str, truth: Truth, seed: int) -> list[dict]:
    low, high = truth.interval()
    return [{"model": name, "metric": metric, "value": value, "seed": seed}
            for metric, value in (("true_value", truth.value), ("true_value_ci_low", low),
                                  ("true_value_ci_high", high))]


def _sweeps(config: Config, episodes: Episodes, customers: Customers, static: np.ndarray, seed: int,
            fitted_q: FittedQ) -> list[dict]:
    """Fitted-Q's true value (at ``config.gamma``) when trained with each discount factor of the grid, and
    under each monthly budget share of the grid."""
    t = episodes.transitions()
    rows = []
    for gamma in tqdm(config.gamma_grid, desc="discount sweep", leave=False):
        model = FittedQ(gamma, config.max_iter, random_state=seed).fit(t["X"], t["action"], t["reward"],
                                                                       t["X_next"], t["done"])
        truth = true_value(GreedyPolicy(model, config.budget_share), customers, static, episodes.n_months,
                           config.gamma, config.n_rollouts, seed)
        rows.append({"model": "fitted_q", "metric": f"true_value_gamma_{gamma:g}", "value": truth.value, "seed": seed})
    for share in tqdm(config.budget_grid, desc="budget sweep", leave=False):
        truth = true_value(GreedyPolicy(fitted_q, share), customers, static, episodes.n_months, config.gamma,
                           config.n_rollouts, seed)
        rows.append({"model": "fitted_q", "metric": "true_value", "value": truth.value, "seed": seed,
                     "budget": share})
    return rows


def _distil(policy: Policy, episodes: Episodes, depth: int, seed: int) -> tuple[str, float, pd.DataFrame]:
    """A shallow tree read off the policy's actions at the logged states, its agreement with the policy,
    and the share of states given each action by month."""
    t = episodes.transitions()
    action = policy.probabilities(t["X"]).argmax(axis=1)
    tree = DecisionTreeClassifier(max_depth=depth, min_samples_leaf=50, random_state=seed).fit(t["X"], action)
    names = [ACTIONS[int(c)] for c in tree.classes_]
    text = export_text(tree, feature_names=list(episodes.feature_names), class_names=names, decimals=2)
    by_month = pd.crosstab(t["month"], pd.Categorical([ACTIONS[a] for a in action], categories=ACTIONS),
                           normalize="index", dropna=False)
    by_month.index.name, by_month.columns.name = "month", "action"
    return text, float(tree.score(t["X"], action)), by_month.round(3)


def run(config: Config) -> StudyResult:
    """Learn, evaluate off-policy and (on the world) roll out every policy, for each seed."""
    refuse(check(config))
    rows: list[dict] = []
    artefacts: dict = {}
    with stopwatch() as clock, limit_threads(1):
        for k in tqdm(range(config.n_seeds), desc="seeds", leave=False):
            seed = config.seed + k
            world = world_for(config.data_dir, preset="default", require=("users", "account_months"),
                              n_users=config.n_users, seed=seed)
            episodes = logged_episodes(world.observed["account_months"], world.observed["users"])
            models = fit_q_learners(episodes, config.gamma, config.max_iter, seed)
            policies = _policies(models, config.budget_share)
            truths: dict[str, Truth] = {}
            for name, policy in tqdm(policies.items(), desc="policies", leave=False):
                ope = evaluate_policy(policy, episodes, config.gamma, config.max_iter, seed, logging=name == "logging")
                rows += [{"model": name, "metric": metric, "value": value, "seed": seed}
                         for metric, value in ope.items()]
                if world.oracle:
                    customers, static = _customers(world)
                    truths[name] = true_value(policy, customers, static, episodes.n_months, config.gamma,
                                              config.n_rollouts, seed)
                    rows += _truth_rows(name, truths[name], seed)
            if k == 0:
                tree, fidelity, by_month = _distil(policies["fitted_q"], episodes, config.tree_depth, seed)
                artefacts.update(world=world, episodes=episodes, truths=truths, tree=tree,
                                 tree_fidelity=fidelity, actions_by_month=by_month)
                if world.oracle:
                    rows += _sweeps(config, episodes, *_customers(world), seed, models["fitted_q"])
        results = pd.DataFrame(rows, columns=["model", "metric", "value", "seed", "budget"])
    simulated = bool(artefacts["truths"])
    headline = _headline(results, simulated)
    metrics = {"learned_policies": list(LEARNED), "best_learned_policy": best_learned(results),
               "source": "simulated world" if simulated else config.data_dir}
    return StudyResult(config, results, headline, metrics=metrics, artefacts=artefacts,
                       runtime_seconds=clock["seconds"])


def _main_rows(results: pd.DataFrame) -> pd.DataFrame:
    return results[results["budget"].isna()]


def value_table(result: StudyResult) -> pd.DataFrame:
    """Per policy (rows) and metric: the mean over seeds of its true value, interval and OPE estimates."""
    rows = _main_rows(result.results)
    rows = rows[~rows["metric"].str.startswith("true_value_gamma")]
    table = rows.groupby(["model", "metric"])["value"].mean().unstack("metric")
    order = [m for m in ("true_value", "true_value_ci_low", "true_value_ci_high", *OPE) if m in table]
    return table.reindex(index=[p for p in (*BASELINES, *LEARNED) if p in table.index], columns=order).round(1)


def ope_errors(result: StudyResult) -> pd.DataFrame:
    """Each estimator's error as a percentage of the true value, per policy (mean over seeds); empty
    without the truth."""
    table = value_table(result)
    if "true_value" not in table:
        return pd.DataFrame()
    return (100 * (table[list(OPE)].sub(table["true_value"], axis=0)).div(table["true_value"].abs(), axis=0)).round(1)


def best_learned(results: pd.DataFrame) -> str:
    """The learned policy with the highest mean true value (by DR without the truth)."""
    rows = _main_rows(results)
    metric = "true_value" if (rows["metric"] == "true_value").any() else "ope_dr"
    means = rows[(rows["metric"] == metric) & rows["model"].isin(LEARNED)].groupby("model")["value"].mean()
    return str(means.idxmax())


def gains(results: pd.DataFrame) -> dict[str, tuple[float, float, float]]:
    """The best learned policy's true value over myopic's and logging's, in percent: paired mean and 95%
    interval over seeds."""
    rows = _main_rows(results)
    wide = rows[rows["metric"] == "true_value"].pivot(index="seed", columns="model", values="value")
    best = best_learned(results)
    return {base: paired_interval(100 * (wide[best] - wide[base]) / wide[base].abs()) for base in ("myopic", "logging")}


def sweep_table(result: StudyResult) -> pd.DataFrame:
    """Fitted-Q's true value (first seed) under each monthly budget share and each training discount."""
    rows = result.results[(result.results["model"] == "fitted_q") & (result.results["seed"] == result.config.seed)]
    config = result.config
    assert isinstance(config, Config)
    budget = rows[rows["budget"].notna() & (rows["metric"] == "true_value")]
    base = rows[rows["budget"].isna() & (rows["metric"] == "true_value")]["value"]
    if base.empty:
        return pd.DataFrame()
    by_budget = pd.Series([*budget["value"], base.iloc[0]], index=[*budget["budget"], config.budget_share])
    gamma = rows[rows["metric"].str.startswith("true_value_gamma_")]
    by_gamma = pd.Series([*gamma["value"], base.iloc[0]],
                         index=[*(float(m.rsplit("_", 1)[1]) for m in gamma["metric"]), config.gamma])
    return pd.concat({"monthly budget share": by_budget.sort_index(), "training discount": by_gamma.sort_index()},
                     names=["sweep", "setting"]).rename("true_value").round(1).to_frame()


def _headline(results: pd.DataFrame, simulated: bool) -> dict[str, float]:
    rows = _main_rows(results)
    means = rows.groupby(["model", "metric"])["value"].mean()
    best = best_learned(results)
    if not simulated:
        return {"best_learned_ope_dr": float(means[(best, "ope_dr")]),
                "logging_ope_dr": float(means[("logging", "ope_dr")])}
    errors = [abs(means[(p, "ope_dr")] - means[(p, "true_value")]) / abs(means[(p, "true_value")])
              for p in (*BASELINES, *LEARNED)]
    return {"best_learned_true_value": float(means[(best, "true_value")]),
            "myopic_true_value": float(means[("myopic", "true_value")]),
            "logging_true_value": float(means[("logging", "true_value")]),
            "gain_over_myopic_pct": float(gains(results)["myopic"][0]),
            "max_dr_error_pct": float(100 * max(errors))}


def verdict(result: StudyResult) -> str:
    """The plain-words answer: does the learned policy beat the baselines in truth, and which estimator to trust."""
    headline, results = result.headline, result.results
    best = str(result.metrics["best_learned_policy"])
    if "best_learned_true_value" not in headline:
        dr = value_table(result)["ope_dr"].astype(float)
        return (f"- On your logs, doubly robust OPE values `{best}` at **{dr[best]:,.0f}** per "
                f"customer against the logging policy's {dr['logging']:,.0f}; the truth is unknown, "
                "so trust DR and FQE where they agree.")
    gain = gains(results)
    lines = []
    for base in ("myopic", "logging"):
        mean, low, high = gain[base]
        lines.append(f"- `{best}` earns **{mean:+.1f}%** true discounted profit over `{base}` (paired 95% interval "
                     f"{low:+.1f}% to {high:+.1f}% over seeds)"
                     + (f"; the bar is +{100 * GAIN_BAR:.0f}%: **{'met' if low > 100 * GAIN_BAR else 'not met'}**."
                        if base == "myopic" else "."))
    errors = ope_errors(result).abs()
    trusted = errors.max().idxmin()
    lines.append(f"- Worst error of doubly robust OPE over the policies: **{headline['max_dr_error_pct']:.1f}%** "
                 f"(bar {100 * DR_BAR:.0f}%: {'met' if headline['max_dr_error_pct'] < 100 * DR_BAR else 'not met'}). "
                 f"The estimator with the smallest worst-case error is `{trusted}` ({errors[trusted].max():.1f}%); "
                 f"IPS's worst is {errors['ope_ips'].max():.1f}% (the weights of a deterministic policy over 12 "
                 "months are products of up to twelve 1/propensity factors).")
    return "\n".join(lines)


def state_table(result: StudyResult) -> pd.DataFrame:
    """The observable state variables a policy acts on: mean, spread and range over the logged months."""
    episodes = result.artefacts["episodes"]
    X = episodes.features[episodes.open]
    frame = pd.DataFrame(X, columns=list(episodes.feature_names))
    return frame.describe().T[["mean", "std", "min", "max"]].round(2)
