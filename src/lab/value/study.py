"""The risk and value study: who defaults, what each user is worth over a year, and what targeting on
profit instead of conversion earns.

``run(Config)`` has three sections.

* **Risk.** Applicants are the ``loans`` rows (everyone who applied; the through-the-door population).
  Defaults are observed only for the drawn loans, so every scorecard learns from those; the rest
  (rejected, or approved and not drawn) are unlabelled (-1) and used only by reject inference
  (``scorecard_augmentation``, ``scorecard_parcelling``; ``lab.value.scorecard``). A gradient-boosting
  PD (``gbm_pd``) learns from the same drawn loans. All are scored on held-out applicants
  (``test_share``): ``split=approved`` the held-out applicants the lender approved, ``through_the_door``
  all of them. On the simulated world the truth is the oracle's PD of every applicant, used as a soft
  label (``lab.value.metrics``: each metric's expectation over who defaults, so a rejected applicant is
  scored too, without the noise of one Bernoulli draw); the ``oracle`` row is the true PD itself, the
  best any model can reach. The world's realised defaults are not Bernoulli draws of that PD (a customer
  who churns cannot default, a limit increase raises the hazard), so the models' Brier scores carry
  that gap. On a researcher's tables only ``approved`` rows exist, scored on the held-out drawn loans'
  realised defaults.
* **Lifetime value.** Every user's value over the 12 months after the campaign, predicted from the
  users table before anything is drawn: ``ziln``, ``two_part`` and ``rfm`` (``lab.value.ltv``). The
  training target is the observed discounted profit of a customer's months (``account_months``; 0 for a
  user who did not draw); the truth scored against on the world is the oracle's lifetime value
  (``lifecycle.clv``: expected discounted profit of the customer's months under the logging policy) of
  the users who drew, 0 for the others, on held-out users (``split=test``); on a researcher's tables the
  held-out observed profit. The offer's cost is the campaign's, not the customer's, and is left out.
* **Allocation** (simulated world only: its figures need the oracle). The budget allocation study's
  dual solver plans one campaign per ``objectives`` entry (``lab.allocate.objective_values``) on a world
  of ``allocation_users`` users at ``budget_per_user``, and each plan is scored by the oracle's true
  incremental profit and expected extra defaults (``allocation_<objective>``).

Rows: ``model, metric, value, seed`` and ``split``.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.model_selection import train_test_split

from lab.allocate import (OBJECTIVES, objective_values, solve_dual, ticket_values, to_problem, true_defaults,
                          true_incremental_profit)
from lab.core import (StudyConfig, StudyResult, UserEncoder, limit_threads, mean_std_table, refuse, stopwatch,
                      world_for, world_problems_of)
from lab.data import World, world_problems
from lab.data.world.credit import LGD
from lab.data.world.lifecycle import MONTHLY_DISCOUNT
from lab.uplift import fit_offer_effects
from lab.value.ltv import RFMBaseline, TwoPartValue, ZILNRegressor
from lab.value.metrics import (calibration_curve, decile_calibration, normalised_gini, pd_metrics, spearman)
from lab.value.scorecard import UNLABELLED, WoEScorecard

RISK_FEATURES = ("credit_score", "income", "debt_to_income", "age", "tenure_months", "app_sessions_30d",
                 "savings_balance", "digital_affinity", "risk_appetite", "price_sensitivity", "prior_drawdowns")
SCORECARDS = {"scorecard_uncorrected": "none", "scorecard_augmentation": "augmentation",
              "scorecard_parcelling": "parcelling"}
PD_MODELS = (*SCORECARDS, "gbm_pd", "oracle")
VALUE_MODELS = ("ziln", "two_part", "rfm")
MIN_APPLICANTS = 200   # smallest loans table the study takes
MIN_DRAWN = 50         # drawn loans among them, with at least MIN_DEFAULTS defaults
MIN_DEFAULTS = 10


@dataclass
class Config(StudyConfig):
    """Defaults of the risk and value study: every field is a notebook parameter of the same name and default.

    ``data_dir``: "" = a simulated world of ``n_users`` users; else a folder with ``users`` and ``loans``
    (and ``account_months`` for the lifetime value). ``test_share``: held-out share of applicants and
    users. ``parcel_factor``: the parcelling's multiple of the accepted default rate. ``max_epochs``: of
    the ZILN network. ``allocation_users``, ``budget_per_user``, ``uplift_learner``, ``objectives``: the
    allocation section's world, budget, effect learner and objectives.
    """

    seed: int = 0
    data_dir: str = ""
    n_users: int = 200_000
    test_share: float = 0.3
    parcel_factor: float = 2.0
    max_epochs: int = 60
    allocation_users: int = 5000
    budget_per_user: float = 5.0
    uplift_learner: str = "x_learner"
    objectives: tuple[str, ...] = ("conversion", "profit", "clv")


def check(config: Config) -> list[str]:
    """Every problem with the parameters and, with ``data_dir``, with the tables (at least
    ``MIN_APPLICANTS`` applicants, ``MIN_DRAWN`` drawn loans and ``MIN_DEFAULTS`` defaults)."""
    problems = []
    if not 0 < config.test_share < 1:
        problems.append(f"test_share must lie in (0, 1), got {config.test_share}")
    if config.parcel_factor <= 0:
        problems.append(f"parcel_factor must be positive, got {config.parcel_factor}")
    if config.max_epochs < 1:
        problems.append(f"max_epochs must be at least 1, got {config.max_epochs}")
    if config.budget_per_user <= 0:
        problems.append(f"budget_per_user must be positive, got {config.budget_per_user}")
    unknown = [o for o in config.objectives if o not in OBJECTIVES]
    if unknown or not config.objectives:
        problems.append(f"objectives must name some of {list(OBJECTIVES)}, got {list(config.objectives)}")
    if not config.data_dir:
        problems += world_problems_of(n_users=config.n_users, seed=config.seed)
        problems += [f"allocation_users: {p}" for p in world_problems_of(n_users=config.allocation_users)]
        return problems
    table_problems = world_problems(config.data_dir, require=("users", "loans"))
    if table_problems:
        return problems + table_problems
    loans = world_for(config.data_dir, require=("users", "loans")).observed["loans"]
    drawn = loans[loans["drawn"] == 1]
    defaults = int(drawn["defaulted"].sum()) if "defaulted" in drawn else 0
    if len(loans) < MIN_APPLICANTS:
        problems.append(f"loans: {len(loans)} applicants; the study needs at least {MIN_APPLICANTS}")
    if len(drawn) < MIN_DRAWN or not MIN_DEFAULTS <= defaults <= len(drawn) - MIN_DEFAULTS:
        problems.append(f"loans: {len(drawn)} drawn loans with {defaults} defaults; the study needs at least "
                        f"{MIN_DRAWN} drawn loans with at least {MIN_DEFAULTS} defaults and {MIN_DEFAULTS} repaid "
                        "(column 'defaulted')")
    return problems


# --- risk ----------------------------------------------------------------------------------------
def applicants(world: World) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The applicants' features (``RISK_FEATURES`` the users table has) and their loans rows, aligned."""
    loans = world.observed["loans"].reset_index(drop=True)
    users = world.observed["users"].set_index("user_id").loc[loans["user_id"]].reset_index()
    features = [c for c in RISK_FEATURES if c in users]
    return users[features].astype(np.float64), loans


def labels(loans: pd.DataFrame) -> np.ndarray:
    """1 defaulted, 0 repaid for the drawn loans; -1 (no performance) for every other applicant."""
    drawn = (loans["drawn"].to_numpy() == 1) & loans.get("defaulted", pd.Series(np.nan, loans.index)).notna()
    return np.where(drawn, loans.get("defaulted", pd.Series(0, loans.index)).fillna(0).to_numpy(), UNLABELLED)


def gbm_pd(random_state: int) -> HistGradientBoostingClassifier:
    """Gradient boosting for the PD, shallow and regularised: a few hundred defaults to learn from."""
    return HistGradientBoostingClassifier(max_iter=150, learning_rate=0.03, max_depth=3, min_samples_leaf=100,
                                          l2_regularization=1.0, random_state=random_state)


def _risk(config: Config, world: World) -> tuple[list[dict], dict]:
    X, loans = applicants(world)
    y = labels(loans)
    train, test = train_test_split(np.arange(len(loans)), test_size=config.test_share, random_state=config.seed,
                                   stratify=loans["approved"].to_numpy())
    predictions: dict[str, np.ndarray] = {}
    fits: list[dict] = []
    models: dict[str, WoEScorecard] = {}
    for name, method in SCORECARDS.items():
        with stopwatch() as clock, limit_threads(1):
            model = WoEScorecard(reject_inference=method, parcel_factor=config.parcel_factor,
                                 random_state=config.seed).fit(X.iloc[train], y[train])
        predictions[name], models[name] = model.predict_proba(X)[:, 1], model
        fits.append({"model": name, "metric": "fit_seconds", "value": clock["seconds"], "split": "train"})
    labelled = train[y[train] != UNLABELLED]
    with stopwatch() as clock, limit_threads(1):
        booster = gbm_pd(config.seed).fit(X.iloc[labelled], y[labelled])
    predictions["gbm_pd"] = booster.predict_proba(X)[:, 1]
    fits.append({"model": "gbm_pd", "metric": "fit_seconds", "value": clock["seconds"], "split": "train"})
    approved = loans["approved"].to_numpy() == 1
    if "credit" in world.oracle:
        truth = world.oracle["credit"].set_index("user_id").loc[loans["user_id"], "p_default"].to_numpy(np.float64)
        predictions["oracle"] = truth
        populations = {"approved": test[approved[test]], "through_the_door": test}
    else:  # realised defaults, known only for the drawn loans
        truth = y.astype(np.float64)
        populations = {"approved": test[approved[test] & (y[test] != UNLABELLED)]}
    rows, curves = [], []
    for split, rows_of in populations.items():
        for name, score in predictions.items():
            rows += [{"model": name, "metric": m, "value": v, "split": split}
                     for m, v in pd_metrics(truth[rows_of], score[rows_of]).items()]
            curves.append(calibration_curve(truth[rows_of], score[rows_of]).assign(model=name, split=split))
    artefacts: dict = {"calibration": pd.concat(curves, ignore_index=True), "scorecard": models["scorecard_parcelling"],
                 "scorecards": models, "n_applicants": len(loans), "n_drawn": int((y != UNLABELLED).sum()),
                 "n_defaults": int((y == 1).sum()), "approval_rate": float(approved.mean())}
    return rows + fits, artefacts


# --- lifetime value --------------------------------------------------------------------------------
def customer_outcomes(world: World) -> pd.DataFrame:
    """Per user: drew down or not, and for the customers their discounted 12-month ``profit``, the
    ``revenue`` before default losses, the ``amount`` drawn and whether they ``defaulted``."""
    users, months = world.observed["users"][["user_id"]], world.observed["account_months"]
    discount = MONTHLY_DISCOUNT ** months["month"].to_numpy(np.float64)
    profit = months["profit"].to_numpy(np.float64) * discount
    defaulted = months["defaulted"].to_numpy(np.float64) if "defaulted" in months else np.zeros(len(months))
    balance = months["balance"].to_numpy(np.float64) if "balance" in months else np.zeros(len(months))
    per_month = pd.DataFrame({"user_id": months["user_id"], "profit": profit,
                              "revenue": profit + LGD * balance * defaulted * discount, "defaulted": defaulted})
    per_user = per_month.groupby("user_id").agg(profit=("profit", "sum"), revenue=("revenue", "sum"),
                                                defaulted=("defaulted", "max"))
    loans = world.observed["loans"].set_index("user_id")["amount"]
    out = users.join(per_user, on="user_id").join(loans, on="user_id")
    out["drawn"] = out["profit"].notna().astype(np.int64)
    return out.fillna({"profit": 0.0, "revenue": 0.0, "defaulted": 0.0, "amount": 0.0})


def rfm_features(world: World) -> pd.DataFrame:
    """Recency (days from the last interaction to the window's end), frequency (interactions and past
    drawdowns) and monetary value (savings held) of each user before the campaign."""
    users = world.observed["users"]
    interactions = world.observed.get("interactions", pd.DataFrame(columns=["user_id", "day"]))
    end = float(interactions["day"].max()) + 1 if len(interactions) else 0.0
    last = interactions.groupby("user_id")["day"].max()
    count = interactions.groupby("user_id").size()
    ids = users["user_id"]
    prior = users["prior_drawdowns"] if "prior_drawdowns" in users else 0
    return pd.DataFrame({"recency": (end - ids.map(last)).fillna(end + 1).to_numpy(np.float64),
                         "frequency": (ids.map(count).fillna(0) + prior).to_numpy(np.float64),
                         "monetary": (users["savings_balance"] if "savings_balance" in users
                                      else pd.Series(0.0, users.index)).to_numpy(np.float64)})


def _value(config: Config, world: World) -> tuple[list[dict], dict]:
    outcomes = customer_outcomes(world)
    users = world.observed["users"]
    train, test = train_test_split(np.arange(len(users)), test_size=config.test_share, random_state=config.seed,
                                   stratify=outcomes["drawn"].to_numpy())
    encoder = UserEncoder().fit(users.iloc[train])
    X = encoder.transform(users).to_numpy(np.float32)
    target = outcomes["profit"].to_numpy(np.float64)
    predictions, fits = {}, []
    with stopwatch() as clock:
        ziln = ZILNRegressor(max_epochs=config.max_epochs, random_state=config.seed).fit(
            X[train], np.maximum(target[train], 0.0))
    predictions["ziln"] = ziln.predict(X)
    fits.append({"model": "ziln", "metric": "fit_seconds", "value": clock["seconds"]})
    with stopwatch() as clock:
        two_part = TwoPartValue(lgd=LGD, random_state=config.seed).fit(X[train], outcomes.iloc[train])
    predictions["two_part"] = two_part.predict(X)
    fits.append({"model": "two_part", "metric": "fit_seconds", "value": clock["seconds"]})
    rfm = rfm_features(world)
    predictions["rfm"] = RFMBaseline().fit(rfm.iloc[train], target[train]).predict(rfm)
    if "lifecycle" in world.oracle:
        clv = world.oracle["lifecycle"].set_index("user_id")["clv"]
        truth = users["user_id"].map(clv).fillna(0.0).to_numpy(np.float64)
    else:
        truth = target
    rows, deciles = [], []
    for model, prediction in predictions.items():
        rows += [{"model": model, "metric": "normalised_gini", "value": normalised_gini(truth[test], prediction[test])},
                 {"model": model, "metric": "spearman", "value": spearman(truth[test], prediction[test])},
                 {"model": model, "metric": "mean_predicted", "value": float(prediction[test].mean())}]
        deciles.append(decile_calibration(truth[test], prediction[test]).assign(model=model))
    rows.append({"model": "truth", "metric": "mean_value", "value": float(truth[test].mean())})
    return ([{**r, "split": "test"} for r in rows] + [{**r, "split": "train"} for r in fits],
            {"deciles": pd.concat(deciles).reset_index(), "customer_share": float(outcomes["drawn"].mean()),
             "ziln_epochs": len(ziln.history_)})


# --- allocation --------------------------------------------------------------------------------------
def _allocation(config: Config) -> tuple[list[dict], dict]:
    world = world_for(n_users=config.allocation_users, seed=config.seed)
    budget = config.budget_per_user * config.allocation_users
    ticket = ticket_values(world, config.seed)
    with limit_threads(1):
        tau = fit_offer_effects(world, learner=config.uplift_learner, random_state=config.seed)
    rows, spend = [], {}
    for objective in config.objectives:
        table = objective_values(world, objective, config.uplift_learner, config.seed, ticket=ticket, tau=tau)
        allocation = solve_dual(to_problem(table, budget))
        model = f"allocation_{objective}"
        spend[objective] = allocation.spend
        profit = true_incremental_profit(world, allocation)
        rows += [{"model": model, "metric": "true_incremental_profit", "value": profit},
                 {"model": model, "metric": "true_defaults", "value": true_defaults(world, allocation)},
                 {"model": model, "metric": "users_offered", "value": float((allocation.assignment >= 0).sum())},
                 {"model": model, "metric": "spend", "value": allocation.spend}]
    return [{**r, "split": "all"} for r in rows], {"budget": budget}


def run(config: Config) -> StudyResult:
    """The risk, lifetime value and (on the world) allocation sections of the module docstring."""
    refuse(check(config))
    with stopwatch() as clock:
        world = world_for(config.data_dir, require=("users", "loans"), n_users=config.n_users, seed=config.seed)
        rows, artefacts = _risk(config, world)
        artefacts["world"] = world
        if "account_months" in world.observed:
            value_rows, value_artefacts = _value(config, world)
            rows += value_rows
            artefacts.update(value_artefacts)
        if not config.data_dir:
            allocation_rows, allocation_artefacts = _allocation(config)
            rows += allocation_rows
            artefacts.update(allocation_artefacts)
        results = pd.DataFrame(rows).assign(seed=config.seed)[["model", "metric", "value", "seed", "split"]]
    headline = _headline(results)
    return StudyResult(config, results, headline, artefacts=artefacts, runtime_seconds=clock["seconds"])


def _value_of(results: pd.DataFrame, model: str, metric: str, split: str | None = None) -> float:
    rows = results[(results["model"] == model) & (results["metric"] == metric)]
    if split is not None:
        rows = rows[rows["split"] == split]
    return float(rows["value"].mean()) if len(rows) else float("nan")


def _headline(results: pd.DataFrame) -> dict[str, float]:
    split = "through_the_door" if (results["split"] == "through_the_door").any() else "approved"
    headline = {"uncorrected_auc": _value_of(results, "scorecard_uncorrected", "auc", split),
                "best_reject_inference_auc": max(_value_of(results, m, "auc", split)
                                                 for m in ("scorecard_augmentation", "scorecard_parcelling")),
                "oracle_auc": _value_of(results, "oracle", "auc", split)}
    for model in VALUE_MODELS:
        headline[f"{model}_normalised_gini"] = _value_of(results, model, "normalised_gini")
    for objective in OBJECTIVES:
        headline[f"{objective}_true_incremental_profit"] = _value_of(results, f"allocation_{objective}",
                                                                     "true_incremental_profit")
    return {k: v for k, v in headline.items() if np.isfinite(v)}


def data_summary(result: StudyResult) -> pd.DataFrame:
    """The applicants, approvals, drawn loans and defaults the scorecards learn from."""
    a = result.artefacts
    return pd.DataFrame({"value": [a["n_applicants"], a["approval_rate"], a["n_drawn"], a["n_defaults"],
                                   a["n_defaults"] / max(a["n_drawn"], 1)]},
                        index=pd.Index(["applicants", "approval rate", "drawn loans (labelled)", "defaults",
                                        "observed default rate"], name="loans")).round(4)


def risk_table(result: StudyResult) -> pd.DataFrame:
    """AUC, KS and Brier of every PD model on each population (mean over the run's rows)."""
    rows = result.results[result.results["model"].isin(PD_MODELS) & result.results["metric"].isin(
        ("auc", "ks", "brier"))]
    table = rows.pivot_table(index="model", columns=["split", "metric"], values="value").round(4)
    return table.reindex([m for m in PD_MODELS if m in table.index])


def value_table(result: StudyResult) -> pd.DataFrame:
    """Normalised Gini, Spearman and mean prediction of each lifetime-value model."""
    rows = result.results[result.results["model"].isin(VALUE_MODELS) & (result.results["split"] == "test")]
    return mean_std_table(rows, digits=3).reindex([m for m in VALUE_MODELS if m in set(rows["model"])])


def allocation_table(result: StudyResult) -> pd.DataFrame:
    """Each objective's campaign: true incremental profit, true extra defaults, users offered, spend."""
    rows = result.results[result.results["model"].str.startswith("allocation_")]
    return rows.pivot_table(index="model", columns="metric", values="value").round(1)


def scorecard_table(result: StudyResult, n_rows: int = 12) -> pd.DataFrame:
    """The first rows of the parcelling scorecard: bins of each feature, their WoE and points."""
    table = result.artefacts["scorecard"].table()
    return table[table["count"] > 0].head(n_rows).round(3)


def verdict(result: StudyResult) -> str:
    """The plain-words answer: does reject inference help, which value model ranks best, and what
    conversion-only targeting costs."""
    results, lines = result.results, []
    split = "through_the_door" if (results["split"] == "through_the_door").any() else "approved"
    auc = {m: _value_of(results, m, "auc", split) for m in PD_MODELS}
    best = max(("scorecard_augmentation", "scorecard_parcelling"), key=lambda m: auc[m])
    lines.append(f"- **Risk** ({split.replace('_', '-')} AUC): uncorrected scorecard "
                 f"{auc['scorecard_uncorrected']:.3f}, best reject inference (`{best}`) {auc[best]:.3f} "
                 f"({auc[best] - auc['scorecard_uncorrected']:+.3f}), gradient boosting {auc['gbm_pd']:.3f}"
                 + (f", oracle PD {auc['oracle']:.3f} (gap {auc['oracle'] - auc[best]:.3f})."
                    if np.isfinite(auc["oracle"]) else "."))
    if (results["metric"] == "normalised_gini").any():
        gini = {m: _value_of(results, m, "normalised_gini") for m in VALUE_MODELS}
        top = max(gini, key=lambda m: gini[m])
        lines.append(f"- **Lifetime value** (normalised Gini): ZILN {gini['ziln']:.3f}, two-part "
                     f"{gini['two_part']:.3f}, RFM {gini['rfm']:.3f}; `{top}` ranks the users' true value best.")
    if (results["metric"] == "true_incremental_profit").any():
        profit = {o: _value_of(results, f"allocation_{o}", "true_incremental_profit") for o in OBJECTIVES}
        defaults = {o: _value_of(results, f"allocation_{o}", "true_defaults") for o in OBJECTIVES}
        shown = [o for o in OBJECTIVES if np.isfinite(profit[o])]
        lines.append("- **Targeting** (true incremental profit, extra defaults): "
                     + "; ".join(f"{o} {profit[o]:,.0f} ({defaults[o]:.1f})" for o in shown) + ".")
        if "conversion" in shown and "profit" in shown:
            gain = profit["profit"] - profit["conversion"]
            share = f"{100 * gain / abs(profit['conversion']):+.0f}%" if profit["conversion"] else "n/a"
            fewer = defaults["conversion"] - defaults["profit"]
            if gain > 0:
                lines.append(f"- Planning on profit instead of conversion earns **{gain:,.0f}** more ({share}) at the "
                             f"same budget, with {fewer:.1f} fewer expected defaults.")
            else:
                lines.append(f"- Planning on profit does **not** beat planning on conversion here ({gain:+,.0f}, "
                             f"{share}; {fewer:+.1f} expected defaults): the estimated offer effects both plans rest "
                             f"on are too noisy for the difference in losses to show.")
        if shown and max(profit[o] for o in shown) < 0:
            lines.append("- **Every plan loses money in truth:** at this budget the offers cost more than the profit "
                         "they add; do not run the campaign as planned.")
    return "\n".join(lines)
