"""The study's comparisons, shared by the notebook and the benchmark: solvers and value sources under
one budget, a budget sweep, and the offer mix per segment."""
from __future__ import annotations

import numpy as np
import pandas as pd

from lab.allocate.solvers import (Allocation, Problem, evaluate, solve_dual, solve_greedy, solve_milp,
                                  solve_random)
from lab.allocate.values import offers_of, to_problem, true_incremental_value
from lab.data import SchemaError, World


def campaign_budget(n_users: int, budget: float = 0.0, budget_per_user: float = 0.0) -> float:
    """The campaign budget: ``budget`` when set (> 0), else ``budget_per_user`` x ``n_users``."""
    if budget < 0 or budget_per_user < 0:
        raise SchemaError(f"budget: must not be negative (budget={budget}, budget_per_user={budget_per_user})")
    if budget == 0 and budget_per_user == 0:
        raise SchemaError("budget: set budget or budget_per_user to a positive amount")
    return float(budget) if budget > 0 else float(budget_per_user) * n_users


def campaign_limits(table: pd.DataFrame, limit_shares: dict[str, float]) -> tuple[dict[str, int], list[str]]:
    """Per-offer stock limits in users from shares of the table's users.

    Returns the limits for the table's offers and the offers named in ``limit_shares`` that the table
    does not have (the defaults name the simulated world's offers; a researcher's table may lack them).
    """
    bad = {offer: share for offer, share in limit_shares.items() if not 0 <= share <= 1}
    if bad:
        raise SchemaError(f"limit_shares: shares must lie in [0, 1] (a share of the users), got {bad}")
    offers = offers_of(table)
    limits = {offer: int(share * len(table)) for offer, share in limit_shares.items() if offer in offers}
    return limits, [offer for offer in limit_shares if offer not in offers]


def compare(planning: Problem, sources: dict[str, Problem] | None = None, world: World | None = None,
            milp_max_users: int = 20_000, milp_time_limit: float = 120.0,
            seed: int = 0) -> tuple[pd.DataFrame, dict[str, Allocation]]:
    """Every model's allocation under the same budget and limits, scored on the ``planning`` values.

    Solvers (``dual``, ``milp``, ``greedy_value``, ``greedy_ratio``, ``random``) allocate on the
    planning table; each entry of ``sources`` (e.g. ``response_allocation``: its own value table) is
    allocated by the dual. ``objective`` and the gaps are measured on the planning table (gap to the
    dual's LP bound and to HiGHS's optimum, in percent); ``true_incremental_value`` needs ``world``.
    Returns the tidy results (model, metric, value) and the allocations.
    """
    allocations = {"dual": solve_dual(planning)}
    if planning.n_users <= milp_max_users:
        allocations["milp"] = solve_milp(planning, time_limit=milp_time_limit)
    allocations["greedy_value"] = solve_greedy(planning, "value")
    allocations["greedy_ratio"] = solve_greedy(planning, "ratio")
    for name, problem in (sources or {}).items():
        allocations[name] = solve_dual(problem)
    allocations["random"] = solve_random(planning, seed)
    bound = allocations["dual"].upper_bound
    best = allocations["milp"].objective if "milp" in allocations else np.nan
    rows = []
    for name, allocation in allocations.items():
        objective = evaluate(planning, allocation.assignment)[0]
        metrics = {"objective": objective,
                   "gap_to_lp_pct": 100 * (bound - objective) / abs(bound) if bound else 0.0,
                   "gap_to_milp_pct": 100 * (best - objective) / abs(best) if best else np.nan,
                   "seconds": allocation.seconds}
        if world is not None and world.oracle:
            metrics["true_incremental_value"] = true_incremental_value(world, allocation)
        rows += [{"model": name, "metric": m, "value": v} for m, v in metrics.items() if not np.isnan(v)]
    return pd.DataFrame(rows), allocations


def budget_sweep(tables: dict[str, pd.DataFrame], budgets: list[float], limits: dict[str, float] | None = None,
                 world: World | None = None, seed: int = 0, roi_floor: float | None = None) -> pd.DataFrame:
    """Dual allocation per value table and budget: planned value, lambda, spend and (with a world) truth.

    ``random`` is added on the first table. Lambda is the planned marginal value of one more unit of
    budget; the true marginal ROI is the slope of the true value between budgets.
    """
    rows = []
    for budget in budgets:
        for name, table in tables.items():
            problem = to_problem(table, budget, limits, roi_floor)
            runs = {name: solve_dual(problem)}
            if name == next(iter(tables)):
                runs["random"] = solve_random(problem, seed)
            for source, allocation in runs.items():
                rows.append({"source": source, "budget": budget, "planned_value": allocation.objective,
                             "spend": allocation.spend, "lambda": allocation.multipliers.get("budget", np.nan),
                             "true_value": (true_incremental_value(world, allocation)
                                            if world is not None and world.oracle else np.nan)})
    sweep = pd.DataFrame(rows).sort_values(["source", "budget"]).reset_index(drop=True)
    value = "true_value" if sweep["true_value"].notna().all() else "planned_value"
    sweep["marginal_roi"] = sweep.groupby("source")[value].diff() / sweep.groupby("source")["budget"].diff()
    return sweep


def offer_mix(allocation: Allocation, segments: np.ndarray) -> pd.DataFrame:
    """Share of each segment's users given each offer (rows: segments, columns: offers and none)."""
    frame = pd.DataFrame({"segment": np.asarray(segments).astype(str), "offer": allocation.offer_names()})
    mix = pd.crosstab(frame["segment"], frame["offer"], normalize="index")
    return mix.reindex(columns=[*allocation.offers, "none"], fill_value=0.0)
