"""The budget allocation study: which offer, if any, should each user get under one budget?

``run(Config)`` does everything the notebook and the benchmark report. Per repetition it builds the
value tables (on the simulated world: response, uplift and the oracle's truth; else the researcher's
table at ``data_path``), solves the campaign with every solver on the planning table and with the dual
on every other table (``compare``), and scores them on the planning values and, on the world, on the
true incremental value. On the first repetition it also sweeps the budget (``budget_sweep``).

Rows of ``results``: the comparison (``model``, ``metric``, ``seed``, ``budget``), the sweep (the same
plus ``source``, the value table the allocation was planned on) and the value models' ``fit_seconds``.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from lab.allocate.solvers import (Allocation, Problem, evaluate, solve_dual, solve_greedy, solve_milp,
                                  solve_random)
from lab.allocate.values import (COST, OBJECTIVES, objective_values, offers_of, oracle_values, read_values,
                                 response_values, ticket_values, to_problem, true_incremental_value, uplift_values)
from lab.core import StudyConfig, StudyResult, mean_std_table, refuse, stopwatch, world_for, world_problems_of
from lab.data import World

SOLVERS = ("dual", "milp", "greedy_value", "greedy_ratio", "random")
MODEL_ORDER = ("dual", "milp", "greedy_value", "greedy_ratio", "response_allocation", "uplift_allocation",
               "random", "oracle")
GAP_METRICS = ("objective", "gap_to_lp_pct", "gap_to_milp_pct", "solve_seconds")
# The dual's allocation must come within this percentage of its LP bound and of HiGHS's optimum.
GAP_BAR_PCT = 0.1
MIN_USERS = 10  # smallest value table the study takes


@dataclass
class Config(StudyConfig):
    """Defaults of the allocation study: every field is a notebook parameter of the same name and default.

    ``data_path``: "" = value tables estimated on a simulated world of ``n_users`` users (``assignment``
    of the offers) for each of ``n_seeds`` seeds from ``seed``; else the researcher's value table.
    ``budget``: the campaign budget, or 0 for ``budget_per_user`` x users. ``limit_shares``: the most
    users an offer may reach, as a share of all users. ``roi_floor``: 0 = none, else the least value per
    unit of cost an offer must return. ``budget_grid``: budgets per user of the sweep. ``uplift_learner``:
    the ``lab.uplift`` learner behind the planning table. HiGHS runs up to ``milp_max_users`` users.
    ``objective``: what the planning table values, ``conversion`` (incremental transaction value),
    ``profit`` (incremental revenue less expected loss and the offer's cost) or ``clv`` (incremental
    12-month customer value less the cost); see ``lab.allocate.values.objective_values``.
    """

    seed: int = 0
    n_seeds: int = 1
    data_path: str = ""
    n_users: int = 5000
    assignment: str = "randomised"
    budget_per_user: float = 5.0
    budget: float = 0.0
    limit_shares: dict[str, float] = field(default_factory=lambda: {"rate_discount": 0.05})
    roi_floor: float = 0.0
    budget_grid: tuple[float, ...] = (0.5, 1.0, 2.0, 5.0, 10.0, 20.0)
    uplift_learner: str = "causal_forest"
    milp_max_users: int = 20_000
    milp_time_limit: float = 120.0
    objective: str = "conversion"


def campaign_budget(n_users: int, budget: float = 0.0, budget_per_user: float = 0.0) -> float:
    """The campaign budget: ``budget`` when set (> 0), else ``budget_per_user`` x ``n_users``."""
    if budget < 0 or budget_per_user < 0:
        raise ValueError(f"budget: must not be negative (budget={budget}, budget_per_user={budget_per_user})")
    if budget == 0 and budget_per_user == 0:
        raise ValueError("budget: set budget or budget_per_user to a positive amount")
    return float(budget) if budget > 0 else float(budget_per_user) * n_users


def campaign_limits(table: pd.DataFrame, limit_shares: dict[str, float]) -> tuple[dict[str, int], list[str]]:
    """Per-offer stock limits in users from shares of the table's users.

    Returns the limits for the table's offers and the offers named in ``limit_shares`` that the table
    does not have (the defaults name the simulated world's offers; a researcher's table may lack them).
    """
    bad = {offer: share for offer, share in limit_shares.items() if not 0 <= share <= 1}
    if bad:
        raise ValueError(f"limit_shares: shares must lie in [0, 1] (a share of the users), got {bad}")
    offers = offers_of(table)
    limits = {offer: int(share * len(table)) for offer, share in limit_shares.items() if offer in offers}
    return limits, [offer for offer in limit_shares if offer not in offers]


def compare(planning: Problem, sources: dict[str, Problem] | None = None, world: World | None = None,
            milp_max_users: int = 20_000, milp_time_limit: float = 120.0,
            random_state: int = 0) -> tuple[pd.DataFrame, dict[str, Allocation]]:
    """Every model's allocation under the same budget and limits, scored on the ``planning`` values.

    Solvers (``dual``, ``milp``, ``greedy_value``, ``greedy_ratio``, ``random``) allocate on the
    planning table; each entry of ``sources`` (e.g. ``response_allocation``: its own value table) is
    allocated by the dual (a source whose problem is ``planning`` itself shares the ``dual`` allocation).
    ``objective`` and the gaps are measured on the planning table (gap to the
    dual's LP bound and to HiGHS's optimum, in percent); ``true_incremental_value`` needs ``world``.
    Returns the tidy results (model, metric, value) and the allocations.
    """
    allocations = {"dual": solve_dual(planning)}
    if planning.n_users <= milp_max_users:
        allocations["milp"] = solve_milp(planning, time_limit=milp_time_limit)
    allocations["greedy_value"] = solve_greedy(planning, "value")
    allocations["greedy_ratio"] = solve_greedy(planning, "ratio")
    for name, problem in (sources or {}).items():  # a source that is the planning problem is not solved twice
        allocations[name] = allocations["dual"] if problem is planning else solve_dual(problem)
    allocations["random"] = solve_random(planning, random_state)
    bound = allocations["dual"].upper_bound
    best = allocations["milp"].objective if "milp" in allocations else np.nan
    rows = []
    for name, allocation in allocations.items():
        objective = evaluate(planning, allocation.assignment)[0]
        metrics = {"objective": objective,
                   "gap_to_lp_pct": 100 * (bound - objective) / abs(bound) if bound else 0.0,
                   "gap_to_milp_pct": 100 * (best - objective) / abs(best) if best else np.nan,
                   "solve_seconds": allocation.solve_seconds}
        if world is not None and world.oracle:
            metrics["true_incremental_value"] = true_incremental_value(world, allocation)
        rows += [{"model": name, "metric": m, "value": v} for m, v in metrics.items() if not np.isnan(v)]
    return pd.DataFrame(rows), allocations


def budget_sweep(tables: dict[str, pd.DataFrame], budgets: list[float], limits: Mapping[str, int] | None = None,
                 world: World | None = None, random_state: int = 0,
                 roi_floor: float | None = None) -> pd.DataFrame:
    """The dual's allocation of every value table at every budget, as tidy rows.

    Per (``source`` table, ``budget``): the dual's planned value (``objective``), ``spend``, ``lambda``
    (the planned value of one more unit of budget) and, with a world, ``true_incremental_value``; the
    ``random`` allocation is added on the first table.
    """
    rows = []
    for budget in budgets:
        for source, table in tables.items():
            problem = to_problem(table, budget, limits, roi_floor)
            runs = {"dual": solve_dual(problem)}
            if source == next(iter(tables)):
                runs["random"] = solve_random(problem, random_state)
            for model, allocation in runs.items():
                metrics = {"objective": allocation.objective, "spend": allocation.spend,
                           "lambda": allocation.multipliers.get("budget", np.nan)}
                if world is not None and world.oracle:
                    metrics["true_incremental_value"] = true_incremental_value(world, allocation)
                rows += [{"model": model, "metric": m, "value": v, "source": source, "budget": budget}
                         for m, v in metrics.items() if not np.isnan(v)]
    return pd.DataFrame(rows)


def offer_mix(allocation: Allocation, segments: np.ndarray) -> pd.DataFrame:
    """Share of each segment's users given each offer (rows: segments, columns: offers and none)."""
    frame = pd.DataFrame({"segment": np.asarray(segments).astype(str), "offer": allocation.offer_names()})
    mix = pd.crosstab(frame["segment"], frame["offer"], normalize="index")
    return mix.reindex(columns=[*allocation.offers, "none"], fill_value=0.0)


def _value_tables(config: Config, repetition: int) -> tuple[pd.DataFrame, dict[str, pd.DataFrame], World | None,
                                                           list[dict]]:
    """The planning table, the other value tables, the world (None for a researcher's table) and fit times.

    On the world the planning table is the uplift estimate; ``uplift_allocation`` plans on it too.
    """
    if config.data_path:
        return read_values(config.data_path), {}, None, []
    world = world_for(n_users=config.n_users, seed=repetition, assignment=config.assignment)
    with stopwatch() as ticket_clock:
        ticket = ticket_values(world, repetition)
    with stopwatch() as response_clock:
        response = response_values(world, repetition, ticket=ticket)
    with stopwatch() as uplift_clock:
        uplift = (uplift_values(world, config.uplift_learner, repetition, ticket=ticket)
                  if config.objective == "conversion" else
                  objective_values(world, config.objective, config.uplift_learner, repetition, ticket=ticket))
    fits = [{"model": model, "metric": "fit_seconds", "value": clock["seconds"]}
            for model, clock in (("ticket_model", ticket_clock), ("response_model", response_clock),
                                 ("uplift_model", uplift_clock))]
    sources = {"response_allocation": response, "uplift_allocation": uplift, "oracle": oracle_values(world)}
    return uplift, sources, world, fits


def check(config: Config) -> list[str]:
    """Every problem with the parameters and, with ``data_path``, with the value table (at least
    ``MIN_USERS`` users)."""
    problems = []
    if config.n_seeds < 1:
        problems.append(f"n_seeds must be at least 1, got {config.n_seeds}")
    if config.objective not in OBJECTIVES:
        problems.append(f"objective must be one of {list(OBJECTIVES)}, got {config.objective!r}")
    elif config.objective != "conversion" and config.data_path:
        problems.append(f"objective {config.objective!r} needs the simulated world (data_path=''): a value table "
                        "already holds its values")
    if not config.budget_grid or any(b <= 0 for b in config.budget_grid):
        problems.append(f"budget_grid must hold positive budgets per user, got {list(config.budget_grid)}")
    table = pd.DataFrame({"user_id": range(config.n_users)})  # the simulated world's users, before any value
    if config.data_path:
        try:
            table = read_values(config.data_path)
        except ValueError as err:  # SchemaError: one line per problem of the table
            return problems + str(err).splitlines()
        if len(table) < MIN_USERS:
            problems.append(f"values: {len(table)} rows; the allocation study needs at least {MIN_USERS} users")
    else:
        problems += world_problems_of(n_users=config.n_users, assignment=config.assignment)
    for rule in (lambda: campaign_budget(len(table), config.budget, config.budget_per_user),
                 lambda: campaign_limits(table, config.limit_shares)):
        try:
            rule()
        except ValueError as err:
            problems.append(str(err))
    return problems


def run(config: Config) -> StudyResult:
    """Compare solvers and value sources over ``n_seeds`` repetitions and sweep the budget on the first."""
    refuse(check(config))
    floor = config.roi_floor or None
    with stopwatch() as clock:
        rows: list[pd.DataFrame] = []
        first: dict[str, Any] = {}
        for repetition in range(config.seed, config.seed + config.n_seeds):
            planning_table, sources, world, fits = _value_tables(config, repetition)
            budget = campaign_budget(len(planning_table), config.budget, config.budget_per_user)
            limits, ignored = campaign_limits(planning_table, config.limit_shares)
            planning = to_problem(planning_table, budget, limits, floor)
            problems = {name: planning if table is planning_table else to_problem(table, budget, limits, floor)
                        for name, table in sources.items()}
            comparison, allocations = compare(planning, problems, world, config.milp_max_users,
                                              config.milp_time_limit, repetition)
            rows += [comparison.assign(budget=budget, seed=repetition), pd.DataFrame(fits).assign(seed=repetition)]
            if not first:
                first = {"planning_table": planning_table, "sources": sources, "world": world,
                         "allocations": allocations, "budget": budget, "limits": limits,
                         "ignored_limits": ignored, "planning": planning}
        sources = first["sources"]
        sweep_tables = ({"uplift": sources["uplift_allocation"], "response": sources["response_allocation"],
                         "oracle": sources["oracle"]} if sources else {"values": first["planning_table"]})
        budgets = [b * len(first["planning_table"]) for b in config.budget_grid]
        sweep = budget_sweep(sweep_tables, budgets, first["limits"], first["world"], config.seed, floor)
        rows.append(sweep.assign(seed=config.seed))
        results = pd.concat([r for r in rows if not r.empty], ignore_index=True)
        results = results[["model", "metric", "value", "seed", "budget", "source"]]
    headline = _headline(results, first["world"] is not None)
    metrics = {"budget": first["budget"], "limits": first["limits"]}
    return StudyResult(config, results, headline, metrics=metrics, artefacts=first, runtime_seconds=clock["seconds"])


def _comparison_rows(results: pd.DataFrame) -> pd.DataFrame:
    """The rows of the campaign comparison (not the sweep, not the fit times)."""
    return results[results["source"].isna() & (results["metric"] != "fit_seconds")]


def _means(results: pd.DataFrame) -> pd.Series:
    return _comparison_rows(results).groupby(["model", "metric"])["value"].mean()


def _true_values(results: pd.DataFrame) -> pd.DataFrame:
    """True incremental value of each model's allocation, one row per repetition (seed)."""
    rows = _comparison_rows(results)
    return rows[rows["metric"] == "true_incremental_value"].pivot(index="seed", columns="model", values="value")


def _headline(results: pd.DataFrame, simulated: bool) -> dict[str, float]:
    mean = _means(results)
    headline = {"dual_gap_to_lp_pct": mean[("dual", "gap_to_lp_pct")],
                "dual_solve_seconds": mean[("dual", "solve_seconds")],
                "dual_gap_to_milp_pct": mean.get(("dual", "gap_to_milp_pct"), np.nan)}
    if simulated:
        truth = _true_values(results).mean()
        headline.update({"uplift_true_value": truth["uplift_allocation"],
                         "response_true_value": truth["response_allocation"], "oracle_true_value": truth["oracle"],
                         "uplift_minus_response_true_value": truth["uplift_allocation"] - truth["response_allocation"]})
    return {key: float(value) for key, value in headline.items()}


def design(result: StudyResult) -> str:
    """The data, offers, budget, limits and solvers of the study, as Markdown."""
    config, first = result.config, result.artefacts
    assert isinstance(config, Config)
    table, simulated = first["planning_table"], first["world"] is not None
    costs = {o: float(table[f"{COST}{o}"].mean()) for o in first["planning"].offers}
    source = (f"a simulated world of {config.n_users:,} users ({config.assignment} offers), {config.n_seeds} "
              f"repetition(s) from seed {config.seed}; the planning table is the uplift estimate "
              f"({config.uplift_learner}) times a learned ticket value" if simulated
              else f"the value table `{config.data_path}` ({len(table):,} users)")
    ignored = first["ignored_limits"]
    return (f"**Data:** {source}.  \n"
            f"**Offers and mean cost:** {', '.join(f'{o} {c:g}' for o, c in costs.items())}; no offer is always "
            f"allowed.  \n**Budget:** {first['budget']:,.0f} ({first['budget'] / len(table):g} per user); "
            f"**stock limits:** {first['limits'] or 'none'}"
            + (f" (limits for {', '.join(ignored)} ignored: the table has no such offer)" if ignored else "")
            + f"; **ROI floor:** {config.roi_floor or 'none'}.  \n"
            "Solvers (`dual`, `milp`, `greedy_value`, `greedy_ratio`, `random`) allocate on the planning table"
            + ("; `response_allocation`, `uplift_allocation` and `oracle` are the dual solver run on their own value "
               "table (so `uplift_allocation` equals `dual`, the planning table being the uplift estimate). "
               "`objective` and the gaps are measured on the planning table; `true_incremental_value` on the "
               "world's truth." if simulated else "."))


def data_summary(result: StudyResult) -> pd.DataFrame:
    """Per offer: on the world, the observed users, conversion and mean value; else the value table's
    mean value, share of users it is worth something to, and mean cost."""
    world, table = result.artefacts["world"], result.artefacts["planning_table"]
    if world is not None:
        treatments = world.observed["treatments"]
        return (treatments.groupby("offer", observed=True)
                .agg(users=("user_id", "size"), conversion=("converted", "mean"), mean_value=("value", "mean"))
                .round(4))
    offers = offers_of(table)
    return pd.DataFrame({"mean_value": [table[f"value_{o}"].mean() for o in offers],
                         "share_positive": [(table[f"value_{o}"] > 0).mean() for o in offers],
                         "mean_cost": [table[f"{COST}{o}"].mean() for o in offers]},
                        index=pd.Index(offers, name="offer")).round(4)


def comparison_table(result: StudyResult) -> pd.DataFrame:
    """Mean ± std over repetitions of every model's metrics at the campaign budget."""
    table = mean_std_table(_comparison_rows(result.results), digits=3)
    return table.reindex([m for m in MODEL_ORDER if m in table.index])


def gap_table(result: StudyResult) -> pd.DataFrame:
    """The solvers' planned value, gaps and solve time (mean ± std over repetitions)."""
    rows = _comparison_rows(result.results)
    rows = rows[rows["model"].isin(SOLVERS) & rows["metric"].isin(GAP_METRICS)]
    return mean_std_table(rows, digits=4).reindex(index=[m for m in SOLVERS if m in set(rows["model"])],
                                                  columns=[m for m in GAP_METRICS if m in set(rows["metric"])])


def sweep_curves(result: StudyResult) -> pd.DataFrame:
    """The sweep as one row per (curve, budget): planned and true value, lambda, and the marginal ROI.

    A curve is the dual on one value table, or ``random``; the marginal ROI is the slope of the true
    value between budgets (of the planned value for a researcher's table).
    """
    rows = result.results[result.results["source"].notna()]
    curve = np.where(rows["model"] == "dual", rows["source"], rows["model"])
    wide = rows.assign(curve=curve).pivot_table(index=["curve", "budget"], columns="metric", values="value")
    wide = wide.reset_index()
    value = "true_incremental_value" if "true_incremental_value" in wide else "objective"
    wide["marginal_roi"] = wide.groupby("curve")[value].diff() / wide.groupby("curve")["budget"].diff()
    return wide


def sweep_table(result: StudyResult) -> pd.DataFrame:
    """Value of each curve at each budget: true incremental value on the world, planned value otherwise."""
    curves = sweep_curves(result)
    value = "true_incremental_value" if "true_incremental_value" in curves else "objective"
    return curves.pivot(index="budget", columns="curve", values=value).round(1)


def verdict(result: StudyResult) -> str:
    """The plain-words answer: how close the dual comes to the optimum, and which values earn the most."""
    mean, results = _means(result.results), result.results
    dual_lp = mean[("dual", "gap_to_lp_pct")]
    lines = [f"- The dual's allocation is within **{dual_lp:.4f}%** of the LP upper bound "
             f"({'meets' if dual_lp < GAP_BAR_PCT else 'misses'} the {GAP_BAR_PCT}% bar), solved in "
             f"{mean[('dual', 'solve_seconds')]:.2f} s."]
    if ("dual", "gap_to_milp_pct") in mean:
        d_milp = mean[("dual", "gap_to_milp_pct")]
        lines.append(f"- Against HiGHS's integer optimum the dual is {abs(d_milp):.4f}% "
                     f"{'below' if d_milp > 0 else 'above'} ({'within' if d_milp < GAP_BAR_PCT else 'outside'} "
                     f"{GAP_BAR_PCT}%); HiGHS took {mean[('milp', 'solve_seconds')]:.1f} s.")
    best_greedy = max(["greedy_value", "greedy_ratio"], key=lambda m: mean[(m, "objective")])
    lines.append(f"- The better greedy baseline, `{best_greedy}`, is {mean[(best_greedy, 'gap_to_lp_pct')]:.2f}% "
                 f"below the bound; random is {mean[('random', 'gap_to_lp_pct')]:.1f}% below.")
    if result.artefacts["world"] is not None:
        truth = _true_values(results)
        uplift, response, oracle = (truth[m].mean() for m in ("uplift_allocation", "response_allocation", "oracle"))
        wins = int((truth["uplift_allocation"] > truth["response_allocation"]).sum())
        lines.append(f"- True incremental value: uplift allocation **{uplift:,.0f}**, response allocation "
                     f"**{response:,.0f}**, random {truth['random'].mean():,.0f}, oracle {oracle:,.0f}. "
                     f"Uplift {'beats' if uplift > response else 'does not beat'} response ({wins} of {len(truth)} "
                     f"repetition(s)) and captures {100 * uplift / oracle:.0f}% of the oracle's value.")
        best_real = truth.drop(columns="oracle").mean().idxmax()
        lines.append(f"- Of the allocations that do not see the truth, `{best_real}` earns the most true value "
                     f"({truth[best_real].mean():,.0f}); the planning table's optimum (`dual`) earns "
                     f"{truth['dual'].mean():,.0f}, so the distance to the oracle is the value estimates' error, "
                     "not the solver's.")
    return "\n".join(lines)
