"""The lifecycle study: which monthly action maximises a customer's discounted 12-month profit?

``run(Config)`` learns policies offline from the logged ``account_months`` (randomised actions with their
propensities) by cross-fitting: the customers are split into ``n_folds`` folds, and each fold's policy is
learned on the other folds' logs, evaluated off-policy on its own fold's logs (IPS, SNIPS, DR, FQE;
``lab.lifecycle.ope``) and, on the simulated world, rolled out on its own fold's customers for its true
value. The reported policy is that cross-fitted one (each customer served by the policy that never saw
them), so the OPE and the truth score the same policy and neither is flattered by its training data. On
the first seed it also refits fitted-Q for each discount factor of ``gamma_grid``, caps the monthly share
of paid actions at each ``budget_grid`` share, and distils the first fold's fitted-Q into a shallow tree.
The learned policies are fitted-Q, its pessimistic variant and ``risk_threshold``, the structured learner of
``lab.lifecycle.structured`` (a limit increase every month for the customers of lowest predicted default risk).

Rows of ``results``: ``model`` (the policy), ``metric`` (``true_value``, its interval, ``ope_*``,
``weight_effective_share``), ``seed``;
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
from lab.lifecycle.ope import Truth, customers_at, evaluate_policy, pooled, true_value
from lab.lifecycle.policies import (OUTCOMES, ActionValue, Episodes, FittedQ, FixedPolicy, GreedyPolicy, Policy,
                                    fit_q_learners, logged_episodes, static_columns_of)
from lab.lifecycle.structured import RiskThreshold

BASELINES = ("no_action", "logging", "myopic", "clv_greedy")
LEARNED = ("fitted_q", "fitted_q_lcb", "risk_threshold")
OPE = ("ope_ips", "ope_snips", "ope_dr", "ope_fqe")
WEIGHT_SHARE = "weight_effective_share"  # how many customers the importance weights rest on (lab.lifecycle.ope)
MIN_CUSTOMERS = 50  # the fewest logged customers the study takes


@dataclass
class Config(StudyConfig):
    """Defaults of the lifecycle study: every field is a notebook parameter of the same name and default.

    ``data_dir``: "" = the simulated world of ``n_users`` users (about 5.5% draw a loan and live the
    lifecycle months), ``n_seeds`` worlds from ``seed``; else a folder with your ``users`` and
    ``account_months`` (with ``propensity``). ``gamma``: the monthly discount factor. ``budget_share``: the
    most a month's open accounts that may get a paid action (1 = no cap). ``n_rollouts``: lives per
    customer behind each true value. ``max_iter``: boosting rounds of every action-value regressor.
    ``n_folds``: cross-fitting folds. ``n_bootstrap`` and ``lcb_penalty``: the bootstrap ensemble of the
    pessimistic fitted-Q (``fitted_q_lcb``) and how many standard deviations of a paid action's advantage
    over no action its lower bound takes off (a fixed one-sided 84% bound, not tuned on the truth).
    """

    seed: int = 0
    n_seeds: int = 1
    data_dir: str = ""
    n_users: int = 100_000
    gamma: float = MONTHLY_DISCOUNT
    budget_share: float = 1.0
    n_rollouts: int = 10
    max_iter: int = 60
    n_folds: int = 2
    n_bootstrap: int = 3
    lcb_penalty: float = 1.0
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
    if config.lcb_penalty < 0:
        problems.append(f"lcb_penalty: must be at least 0, got {config.lcb_penalty}")
    for name, least in (("n_seeds", 1), ("n_rollouts", 2), ("max_iter", 1), ("tree_depth", 1), ("n_folds", 2),
                        ("n_bootstrap", 2)):
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
    missing = [name for name in OUTCOMES if name not in months]
    if missing:
        problems.append(f"account_months: needs the columns {', '.join(missing)} (what happened each month: 0/1) "
                        "for the structured learner risk_threshold")
    if months["user_id"].nunique() < MIN_CUSTOMERS:
        problems.append(f"account_months: needs at least {MIN_CUSTOMERS} customers, has {months['user_id'].nunique()}")
    counts = months.groupby("user_id")["month"].agg(["min", "max", "size"])
    if ((counts["min"] != 0) | (counts["max"] + 1 != counts["size"])).any():
        problems.append("account_months: every customer's months must run 0, 1, 2, ... without gaps or repeats")
    return problems


def fit_learners(episodes: Episodes, config: Config, seed: int) -> dict[str, ActionValue | RiskThreshold]:
    """The models behind every learned policy, fitted on ``episodes``: ``fit_q_learners``' and ``risk_threshold``
    (the structured learner of ``lab.lifecycle.structured``, which reads each month's ``OUTCOMES``)."""
    t = episodes.transitions()
    threshold = RiskThreshold(config.gamma, random_state=seed).fit(
        t["X"], t["action"], t["reward"], t["X_next"], t["done"], t["defaulted"], t["churned"], t["topped_up"],
        groups=t["row"])
    return {**fit_q_learners(episodes, config.gamma, config.max_iter, seed, config.n_bootstrap, config.lcb_penalty),
            "risk_threshold": threshold}


def _policies(models: dict, budget_share: float) -> dict[str, Policy]:
    return {"no_action": FixedPolicy(np.eye(len(ACTIONS))[0]), "logging": FixedPolicy(LOGGING_POLICY),
            **{name: GreedyPolicy(model, budget_share) for name, model in models.items()}}


def _customers(world: World, user_id: np.ndarray) -> tuple[Customers, np.ndarray]:
    """The oracle's customers and their users features, in the order of ``user_id`` (the episodes')."""
    customers = Customers.from_frame(world.oracle["lifecycle"].set_index("user_id").reindex(user_id).reset_index())
    users = world.observed["users"]
    static = users.set_index("user_id").reindex(user_id)[list(static_columns_of(users))]
    return customers, static.to_numpy(np.float64)


def fold_of(n: int, n_folds: int, seed: int) -> np.ndarray:
    """A random fold in ``0 .. n_folds - 1`` for each of ``n`` customers, folds as equal as can be."""
    return np.random.default_rng([seed, 17]).permutation(np.arange(n) % n_folds)


@dataclass
class CrossFit:
    """One seed's customers split into folds: a policy learned on the other folds is scored off-policy on
    each fold's logs and rolled out on that fold's customers, so no estimate sees the customers it learned from."""

    config: Config
    seed: int
    episodes: Episodes
    fold: np.ndarray
    customers: Customers | None
    static: np.ndarray | None

    def train(self, k: int) -> Episodes:
        return self.episodes.subset(np.flatnonzero(self.fold != k))

    def test(self, k: int) -> Episodes:
        return self.episodes.subset(np.flatnonzero(self.fold == k))

    @property
    def sizes(self) -> np.ndarray:
        return np.bincount(self.fold, minlength=self.config.n_folds)

    def truth(self, policies: list[Policy]) -> Truth:
        """The true value of serving each fold's customers with ``policies[k]``, learned without them."""
        assert self.customers is not None and self.static is not None
        parts = []
        for k, policy in enumerate(policies):
            rows = np.flatnonzero(self.fold == k)
            parts.append(true_value(policy, customers_at(self.customers, rows), self.static[rows],
                                    self.episodes.n_months, self.config.gamma, self.config.n_rollouts, (self.seed, k)))
        return pooled(parts, self.sizes)


def _truth_rows(name: str, truth: Truth, seed: int) -> list[dict]:
    low, high = truth.interval()
    return [{"model": name, "metric": metric, "value": value, "seed": seed}
            for metric, value in (("true_value", truth.value), ("true_value_ci_low", low),
                                  ("true_value_ci_high", high))]


def _sweeps(split: CrossFit, fitted_q: list[FittedQ]) -> list[dict]:
    """Cross-fitted fitted-Q's true value (at ``config.gamma``) when trained with each discount factor of the
    grid, and under each monthly budget share of the grid."""
    config, rows = split.config, []
    for gamma in tqdm(config.gamma_grid, desc="discount sweep", leave=False):
        policies: list[Policy] = []
        for k in range(config.n_folds):
            t = split.train(k).transitions()
            model = FittedQ(gamma, config.max_iter, random_state=split.seed).fit(t["X"], t["action"], t["reward"],
                                                                                 t["X_next"], t["done"])
            policies.append(GreedyPolicy(model, config.budget_share))
        rows.append({"model": "fitted_q", "metric": f"true_value_gamma_{gamma:g}", "value": split.truth(policies).value,
                     "seed": split.seed})
    for share in tqdm(config.budget_grid, desc="budget sweep", leave=False):
        truth = split.truth([GreedyPolicy(model, share) for model in fitted_q])
        rows.append({"model": "fitted_q", "metric": "true_value", "value": truth.value, "seed": split.seed,
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


def _seed_rows(config: Config, seed: int, artefacts: dict) -> list[dict]:
    """One world: every policy learned fold by fold, its OPE on the held-out folds pooled over folds (each
    estimate is a mean over customers, so weighted by fold size) and its pooled true value."""
    world = world_for(config.data_dir, preset="default", require=("users", "account_months"),
                      n_users=config.n_users, seed=seed)
    episodes = logged_episodes(world.observed["account_months"], world.observed["users"])
    customers, static = _customers(world, episodes.user_id) if world.oracle else (None, None)
    split = CrossFit(config, seed, episodes, fold_of(len(episodes.user_id), config.n_folds, seed), customers, static)
    fold_policies: dict[str, list[Policy]] = {}
    ope: dict[str, list[dict[str, float]]] = {}
    fitted_q: list[FittedQ] = []
    threshold_shares: list[float] = []
    for k in tqdm(range(config.n_folds), desc="folds", leave=False):
        models = fit_learners(split.train(k), config, seed)
        fitted_q.append(models["fitted_q"])
        threshold_shares.append(models["risk_threshold"].share_)
        for name, policy in tqdm(_policies(models, config.budget_share).items(), desc="policies", leave=False):
            fold_policies.setdefault(name, []).append(policy)
            ope.setdefault(name, []).append(evaluate_policy(policy, split.test(k), config.gamma, config.max_iter,
                                                            seed, logging=name == "logging"))
    weight = split.sizes / split.sizes.sum()
    rows = [{"model": name, "metric": metric, "value": float(np.dot(weight, [part[metric] for part in parts])),
             "seed": seed} for name, parts in ope.items() for metric in (*OPE, WEIGHT_SHARE)]
    truths = {name: split.truth(policies) for name, policies in fold_policies.items()} if world.oracle else {}
    for name, truth in truths.items():
        rows += _truth_rows(name, truth, seed)
    if not artefacts:
        tree, fidelity, by_month = _distil(fold_policies["fitted_q"][0], split.test(0), config.tree_depth, seed)
        artefacts.update(world=world, episodes=episodes, truths=truths, tree=tree, tree_fidelity=fidelity,
                         actions_by_month=by_month, threshold_shares=threshold_shares)
        if world.oracle:
            rows += _sweeps(split, fitted_q)
    return rows


def run(config: Config) -> StudyResult:
    """Learn (cross-fitted), evaluate off-policy and (on the world) roll out every policy, for each seed."""
    refuse(check(config))
    rows: list[dict] = []
    artefacts: dict = {}
    with stopwatch() as clock, limit_threads(1):
        for k in tqdm(range(config.n_seeds), desc="seeds", leave=False):
            rows += _seed_rows(config, config.seed + k, artefacts)
        results = pd.DataFrame(rows, columns=["model", "metric", "value", "seed", "budget"])
    simulated = bool(artefacts["truths"])
    headline = _headline(results, simulated)
    metrics = {"learned_policies": list(LEARNED), "best_learned_policy": best_learned(results),
               "recommended_policy": recommended(results),
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
    order = [m for m in ("true_value", "true_value_ci_low", "true_value_ci_high", *OPE, WEIGHT_SHARE) if m in table]
    table = table.reindex(index=[p for p in (*BASELINES, *LEARNED) if p in table.index], columns=order)
    return table.round({m: 4 if m == WEIGHT_SHARE else 1 for m in order})


def ope_errors(result: StudyResult) -> pd.DataFrame:
    """Each estimator's error as a percentage of the true value, per policy (mean over seeds); empty
    without the truth."""
    table = value_table(result)
    if "true_value" not in table:
        return pd.DataFrame()
    return (100 * (table[list(OPE)].sub(table["true_value"], axis=0)).div(table["true_value"].abs(), axis=0)).round(1)


def _ranking_metric(rows: pd.DataFrame) -> str:
    return "true_value" if (rows["metric"] == "true_value").any() else "ope_dr"


def _best_of(results: pd.DataFrame, candidates: tuple[str, ...]) -> str:
    rows = _main_rows(results)
    metric = _ranking_metric(rows)
    means = rows[rows["metric"] == metric].groupby("model")["value"].mean()
    return str(means.reindex([c for c in candidates if c in means.index]).idxmax())  # ties: the first, simplest


def best_learned(results: pd.DataFrame) -> str:
    """The learned policy with the highest mean true value (by cross-fitted DR without the truth)."""
    return _best_of(results, LEARNED)


def recommended(results: pd.DataFrame) -> str:
    """The policy to deploy: the highest mean true value of all (by cross-fitted DR without the truth)."""
    return _best_of(results, (*BASELINES, *LEARNED))


def gains(results: pd.DataFrame, policy: str | None = None,
          bases: tuple[str, ...] = ("myopic", "logging")) -> dict[str, tuple[float, float, float]]:
    """``policy``'s (default: the best learned policy's) true value over each of ``bases``, in percent of
    theirs: paired mean and 95% interval over seeds."""
    rows = _main_rows(results)
    wide = rows[rows["metric"] == "true_value"].pivot(index="seed", columns="model", values="value")
    best = policy or best_learned(results)
    return {base: paired_interval(100 * (wide[best] - wide[base]) / wide[base].abs()) for base in bases}


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


def _gain_words(mean: float, low: float, high: float) -> str:
    if np.isnan(low):
        return f"{mean:+.1f}% (one seed: no interval)"
    sure = "better at 95%" if low > 0 else "worse at 95%" if high < 0 else "no clear difference"
    return f"{mean:+.1f}% (paired 95% interval {low:+.1f}% to {high:+.1f}% over seeds: {sure})"


def verdict(result: StudyResult) -> str:
    """The plain answer: which policy to deploy, by how much it beats doing nothing, the logging and the
    myopic policy, where the learned policies stand, and which off-policy estimator tracked the truth."""
    results = result.results
    deploy, best = str(result.metrics["recommended_policy"]), str(result.metrics["best_learned_policy"])
    table = value_table(result)
    if "true_value" not in table:
        dr = table["ope_dr"].astype(float)
        return (f"- **Deploy `{deploy}`**: its cross-fitted doubly robust value on your logs is **{dr[deploy]:,.0f}** "
                f"discounted profit per customer, against {dr['no_action']:,.0f} for doing nothing and "
                f"{dr['logging']:,.0f} for the logging policy (each learned policy scored only on customers it "
                "was not learned from). Without a simulator the truth is unknown: trust DR where it agrees with FQE.")
    bases = tuple(b for b in ("no_action", "logging", "myopic") if b != deploy)
    truth = table["true_value"].astype(float)
    lines = [f"- **Deploy `{deploy}`**: true discounted 12-month profit **{truth[deploy]:,.0f}** per "
             "customer. Against " + "; against ".join(f"`{b}` {_gain_words(*g)}"
                                                     for b, g in gains(results, deploy, bases).items()) + "."]
    if best != deploy:
        n_logged = len(result.artefacts["episodes"].user_id)
        lines.append(f"- The best learned policy, `{best}` ({truth[best]:,.0f}), against "
                     + "; against ".join(f"`{b}` {_gain_words(*g)}" for b, g in
                                         gains(results, best, ("no_action", "logging", "myopic")).items())
                     + f": no better than `{deploy}`, from the first world's {n_logged:,} logged customers; "
                     "`benchmarks/bench_lifecycle.py --large-users` measures the learned policies at 10x the "
                     "customers.")
    shares = ", ".join(f"{share:.0%}" for share in result.artefacts["threshold_shares"])
    lines.append(f"- `risk_threshold` raises the limit every month for the customers with the lowest predicted "
                 f"default risk at drawdown: {shares} of them (first world, by fold), the share chosen on each "
                 "fold's training customers by a learned model of the month (default, churn and top-up chances; "
                 "the month's bookkeeping read off the logs) at a one-sided 95% bound over bootstrapped default "
                 "models.")
    errors = ope_errors(result).abs()
    trusted, worst = str(errors.max().idxmin()), str(errors["ope_dr"].idxmax())
    lines.append(f"- Off-policy evaluation, cross-fitted (each learned policy scored on customers it never saw): "
                 f"`{trusted.removeprefix('ope_')}` tracked the truth best, within {errors[trusted].max():.1f}% for "
                 f"every policy; doubly robust within {errors['ope_dr'].max():.1f}% (worst on "
                 f"`{worst}`, whose importance weights at the last month carry as much as "
                 f"{table[WEIGHT_SHARE].astype(float)[worst]:.2%} of the customers would), IPS within "
                 f"{errors['ope_ips'].max():.1f}% (a deterministic policy's weights over 12 months are products of "
                 "up to twelve 1/propensity factors).")
    return "\n".join(lines)


def state_table(result: StudyResult) -> pd.DataFrame:
    """The observable state variables a policy acts on: mean, spread and range over the logged months."""
    episodes = result.artefacts["episodes"]
    X = episodes.features[episodes.open]
    frame = pd.DataFrame(X, columns=list(episodes.feature_names))
    return frame.describe().T[["mean", "std", "min", "max"]].round(2)
