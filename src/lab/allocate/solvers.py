"""Budget allocation as a multiple-choice knapsack: each user gets at most one offer.

maximise   sum_i sum_k v_ik x_ik
subject to sum_i sum_k c_ik x_ik <= budget            (one multiplier, lambda)
           sum_i x_ik <= limit_k   for limited offers  (one multiplier each, mu_k)
           sum_k x_ik <= 1,  x_ik in {0, 1}
           x_ik = 0 where v_ik < roi_floor * c_ik      (optional ROI floor)

``solve_dual`` relaxes the shared constraints with Lagrange multipliers, so every user picks the
offer maximising ``v - lambda * c - mu_k`` on its own (one vectorised argmax over the whole table).
Lambda is found by a bracketing search (spend falls as lambda rises: geometric bisection, then
Illinois regula falsi), each mu_k exactly by a partial sort of the users' margins for that offer;
the two alternate until the multipliers settle. Any multipliers
give an upper bound on the LP relaxation (weak duality), so the returned gap is a certificate.
The assignment at the feasible end of the lambda bracket is then repaired (drop what breaks a limit)
and topped up greedily with what the leftover budget and stock still allow, so it is always
feasible. ``solve_milp`` solves the integer program exactly with HiGHS for small instances; the
greedy and random allocators are the baselines.
"""
from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np
from scipy import sparse
from scipy.optimize import Bounds, LinearConstraint, milp

from lab.core import SchemaError

NOTHING = -1  # assignment code of a user who gets no offer


@dataclass(frozen=True)
class Problem:
    """A validated allocation instance; build it with ``make_problem``.

    ``values`` and ``costs`` are ``[n_users, n_offers]``; ``limits`` is ``[n_offers]`` (inf = no limit);
    ``eligible`` marks the pairs that pass the ROI floor. ``allowed`` (eligible with a positive value)
    are the only pairs an optimiser would ever give.
    """

    values: np.ndarray
    costs: np.ndarray
    budget: float
    limits: np.ndarray
    offers: tuple[str, ...]
    eligible: np.ndarray

    @cached_property
    def allowed(self) -> np.ndarray:
        return self.eligible & (self.values > 0)

    @property
    def n_users(self) -> int:
        return self.values.shape[0]


@dataclass
class Allocation:
    """One feasible assignment and how good it is.

    ``assignment[i]`` is the offer index given to user ``i`` or ``NOTHING`` (-1). ``upper_bound`` is a
    proven bound on the LP relaxation's optimum (nan when the solver gives none), so ``gap`` bounds how
    far ``objective`` can be from the best possible assignment.
    """

    assignment: np.ndarray
    objective: float
    spend: float
    upper_bound: float
    solve_seconds: float
    offers: tuple[str, ...]
    multipliers: dict[str, float] = field(default_factory=dict)

    @property
    def gap(self) -> float:
        """Relative gap ``(upper_bound - objective) / upper_bound`` (0 when both are 0)."""
        if not np.isfinite(self.upper_bound):
            return float("nan")
        if self.upper_bound == 0:
            return 0.0
        return max(0.0, (self.upper_bound - self.objective) / abs(self.upper_bound))

    def offer_names(self, nothing: str = "none") -> np.ndarray:
        """The assigned offer's name per user, ``nothing`` for users who get no offer."""
        names = np.asarray(self.offers + (nothing,), dtype=object)
        return names[np.where(self.assignment == NOTHING, len(self.offers), self.assignment)]

    def counts(self) -> dict[str, int]:
        """Number of users given each offer."""
        return {o: int((self.assignment == k).sum()) for k, o in enumerate(self.offers)}


def make_problem(values, costs, budget: float, limits: Mapping[str, float] | None = None,
                 offers: tuple[str, ...] | list[str] | None = None, roi_floor: float | None = None) -> Problem:
    """Validate and package an instance: a bad table (``values``, ``costs``) raises ``SchemaError``, a bad
    parameter (``offers``, ``budget``, ``limits``, ``roi_floor``) ``ValueError``, each with one clear message.

    ``costs`` is ``[n_users, n_offers]`` or one cost per offer ``[n_offers]``; ``limits`` maps offer
    name -> the most users that may receive it; ``offers`` names the columns (default offer_0, ...);
    ``roi_floor`` keeps an offer from a user unless its value is at least ``roi_floor`` x its cost
    (which also holds the whole campaign's value / spend at or above the floor).
    """
    values = np.asarray(values, dtype=np.float64)
    if values.ndim != 2 or values.shape[0] == 0 or values.shape[1] == 0:
        raise SchemaError(f"values: expected a non-empty [n_users, n_offers] table, got shape {values.shape}")
    n, k = values.shape
    offers = tuple(offers) if offers is not None else tuple(f"offer_{j}" for j in range(k))
    if len(offers) != k or len(set(offers)) != k:
        raise ValueError(f"offers: need {k} distinct offer names for {k} value columns, got {list(offers)}")
    costs = np.asarray(costs, dtype=np.float64)
    if costs.shape == (k,):
        costs = np.broadcast_to(costs, (n, k))
    if costs.shape != (n, k):
        raise SchemaError(f"costs: expected shape ({n}, {k}) or ({k},) to match values, got {costs.shape}")
    for name, table in (("values", values), ("costs", costs)):
        bad = ~np.isfinite(table)
        if bad.any():
            col = offers[int(np.argwhere(bad)[0, 1])]
            raise SchemaError(f"{name}: {int(bad.sum())} missing or infinite value(s), first for offer '{col}'")
    if (costs < 0).any():
        col = offers[int(np.argwhere(costs < 0)[0, 1])]
        raise SchemaError(f"costs: {int((costs < 0).sum())} negative cost(s), first for offer '{col}'; "
                          "costs must be >= 0")
    budget = float(budget)
    if np.isnan(budget) or budget < 0:
        raise ValueError(f"budget: must be >= 0 (inf for no budget), got {budget}")
    limit_arr = np.full(k, np.inf)
    for offer, limit in (limits or {}).items():
        if offer not in offers:
            raise ValueError(f"limits: offer '{offer}' is not among the offers {list(offers)}")
        if limit is None or not float(limit) >= 0 or (np.isfinite(limit) and float(limit) != int(limit)):
            raise ValueError(f"limits: the limit for '{offer}' must be a whole number of users >= 0, got {limit}")
        limit_arr[offers.index(offer)] = float(limit)
    if roi_floor is not None and not (np.isfinite(float(roi_floor)) and roi_floor >= 0):
        raise ValueError(f"roi_floor: must be a finite number >= 0 (value per unit of cost), got {roi_floor}")
    eligible = values >= float(roi_floor) * costs if roi_floor is not None else np.ones((n, k), dtype=bool)
    return Problem(values=values, costs=np.ascontiguousarray(costs), budget=budget, limits=limit_arr,
                   offers=offers, eligible=eligible)


def evaluate(problem: Problem, assignment: np.ndarray) -> tuple[float, float]:
    """Objective and spend of an assignment (``NOTHING`` contributes zero to both)."""
    rows = np.flatnonzero(assignment != NOTHING)
    cols = assignment[rows]
    return float(problem.values[rows, cols].sum()), float(problem.costs[rows, cols].sum())


def is_feasible(problem: Problem, assignment: np.ndarray, rtol: float = 1e-9) -> bool:
    """Whether the assignment keeps within the budget and every offer's limit."""
    _, spend = evaluate(problem, assignment)
    given = np.flatnonzero(assignment != NOTHING)
    counts = np.bincount(assignment[given], minlength=len(problem.offers))
    return (spend <= problem.budget * (1 + rtol) + 1e-9 and bool((counts <= problem.limits).all())
            and bool(problem.eligible[given, assignment[given]].all()))


class _Dual:
    """The Lagrangian of one problem, evaluated fast: offers along the first axis, float32.

    At multipliers (lambda, mu) user i picks argmax_k of v_ik - lambda * c_ik - mu_k, or nothing when
    no reduced value is positive; the dual function is the sum of those maxima plus lambda * budget
    plus sum_k mu_k * limit_k, an upper bound on the LP optimum for any lambda, mu >= 0.
    """

    def __init__(self, problem: Problem):
        self.p = problem
        allowed = problem.allowed
        self.values = np.ascontiguousarray(np.where(allowed, problem.values, -np.inf).T, dtype=np.float32)
        costs = problem.costs
        self.uniform = bool((costs == costs[:1]).all())
        self.costs = costs[0].astype(np.float32) if self.uniform else np.ascontiguousarray(costs.T, dtype=np.float32)
        ratio = np.where(allowed & (costs > 0), problem.values / np.where(costs > 0, costs, 1.0), 0.0)
        self.lambda_max = float(ratio.max()) * (1 + 1e-6) + 1e-12  # above it no costly offer beats nothing

    def choose(self, lam: float, mu: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Each user's choice (``NOTHING`` = -1) and its reduced value (0 for nothing)."""
        best = np.zeros(self.p.n_users, dtype=np.float32)
        choice = np.full(self.p.n_users, NOTHING, dtype=np.int16)
        for k in range(len(self.p.offers)):
            reduced = self.values[k] - np.float32(mu[k]) - np.float32(lam) * self.costs[k]
            better = reduced > best
            np.maximum(best, reduced, out=best)
            choice[better] = k
        return choice, best

    def spend(self, choice: np.ndarray) -> float:
        if self.uniform:
            counts = np.bincount(choice[choice != NOTHING], minlength=len(self.p.offers))
            return float(counts @ self.p.costs[0])
        rows = np.flatnonzero(choice != NOTHING)
        return float(self.costs[choice[rows], rows].astype(np.float64).sum())

    def bound(self, lam: float, mu: np.ndarray) -> float:
        """The dual function at (lambda, mu) in float64: an upper bound on the LP optimum."""
        best = np.zeros(self.p.n_users)
        allowed = self.p.allowed
        for k in range(len(self.p.offers)):
            reduced = self.p.values[:, k] - lam * self.p.costs[:, k] - mu[k]
            np.maximum(best, np.where(allowed[:, k], reduced, 0.0), out=best)
        finite = np.isfinite(self.p.limits)
        budget_term = lam * self.p.budget if np.isfinite(self.p.budget) else 0.0
        return float(best.sum() + budget_term + (mu[finite] * self.p.limits[finite]).sum())

    def search_lambda(self, mu: np.ndarray, guess: float, rtol: float, max_iter: int) -> tuple[float, float]:
        """Bracket ``[lo, hi]`` around the smallest lambda whose spend fits the budget.

        Spend falls as lambda rises. The bracket starts at [0, max value/cost ratio] (or around
        ``guess``), shrinks geometrically while it spans more than a factor 2, then by the Illinois
        variant of regula falsi; it stops once the budget is used to within ``rtol``.
        """
        p = self.p
        if not np.isfinite(p.budget):
            return 0.0, 0.0
        over_lo = self.spend(self.choose(0.0, mu)[0]) - p.budget
        if over_lo <= 0:
            return 0.0, 0.0
        lo, hi = 0.0, self.lambda_max
        over_hi = -p.budget + self.spend(self.choose(hi, mu)[0])
        if 0 < guess < hi:  # bracket the root around the guess, widening by 10x until it is inside
            over = self.spend(self.choose(guess, mu)[0]) - p.budget
            if over > 0:
                lo, over_lo = guess, over
            else:
                hi, over_hi = guess, over
            for step in (1e-3, 1e-2, 1e-1, 1.0):
                trial = guess * (1 + step) if over > 0 else guess / (1 + step)
                if not lo < trial < hi:
                    break
                over_trial = self.spend(self.choose(trial, mu)[0]) - p.budget
                if over_trial > 0:
                    lo, over_lo = trial, over_trial
                else:
                    hi, over_hi = trial, over_trial
                if (over_trial > 0) != (over > 0):
                    break
        f_lo, f_hi, kept = over_lo, over_hi, 0
        for _ in range(max_iter):
            if hi - lo <= 1e-6 * hi or -over_hi <= rtol * p.budget:
                break
            if hi > 2 * lo:
                mid = max(np.sqrt(lo * hi), 1e-3 * hi)
            else:
                mid = hi - f_hi * (hi - lo) / (f_hi - f_lo)
                mid = mid if lo < mid < hi else 0.5 * (lo + hi)
            over = self.spend(self.choose(mid, mu)[0]) - p.budget
            if over > 0:
                lo, over_lo, f_lo = mid, over, over
                f_hi, kept = (f_hi / 2, -1) if kept == -1 else (f_hi, -1)
            else:
                hi, over_hi, f_hi = mid, over, over
                f_lo, kept = (f_lo / 2, 1) if kept == 1 else (f_lo, 1)
        return lo, hi

    def update_mu(self, lam: float, mu: np.ndarray, k: int) -> float:
        """Exact coordinate step: the smallest mu_k that keeps offer k within its limit."""
        others = np.zeros(self.p.n_users, dtype=np.float32)
        for j in range(len(self.p.offers)):
            if j != k:
                np.maximum(others, self.values[j] - np.float32(mu[j]) - np.float32(lam) * self.costs[j], out=others)
        margin = self.values[k] - np.float32(lam) * self.costs[k] - others  # preference for k at mu_k = 0
        limit = int(self.p.limits[k])
        if (margin > 0).sum() <= limit:
            return 0.0
        return float(max(0.0, -np.partition(-margin, limit)[limit]))


def _repair(problem: Problem, choice: np.ndarray, lam: float, mu: np.ndarray) -> np.ndarray:
    """Make ``choice`` feasible: drop the least valuable users of over-limit offers, then over-budget ones."""
    choice = choice.astype(np.int64)
    for k in np.flatnonzero(np.isfinite(problem.limits)):
        users = np.flatnonzero(choice == k)
        excess = len(users) - int(problem.limits[k])
        if excess > 0:
            reduced = problem.values[users, k] - lam * problem.costs[users, k] - mu[k]
            choice[users[np.argsort(reduced, kind="stable")[:excess]]] = NOTHING
    _, spend = evaluate(problem, choice)
    if spend > problem.budget:
        users = np.flatnonzero(choice != NOTHING)
        cost = problem.costs[users, choice[users]]
        density = problem.values[users, choice[users]] / np.maximum(cost, 1e-12)
        order = np.argsort(density, kind="stable")
        freed = np.cumsum(cost[order])
        n_drop = int(np.searchsorted(freed, spend - problem.budget, side="left")) + 1
        choice[users[order[:n_drop]]] = NOTHING
    return choice


def _top_up(problem: Problem, choice: np.ndarray, candidates: np.ndarray, max_rounds: int = 20) -> np.ndarray:
    """Greedily move ``candidates`` (user indices) to better offers while leftover budget and stock allow.

    The candidates are the users near the dual's decision boundary (their choice changes when lambda
    drops by 2%) and those the repair dropped. Each round ranks their improving moves that fit the
    leftover budget by value gained per extra cost, keeps each user's best move, and accepts moves in
    that order up to the first one that no longer fits.
    """
    choice = choice.copy()
    n_offers = len(problem.offers)
    values, costs, allowed = problem.values[candidates], problem.costs[candidates], problem.allowed[candidates]
    left = problem.budget - evaluate(problem, choice)[1]
    stock = problem.limits - np.bincount(choice[choice != NOTHING], minlength=n_offers)
    for _ in range(max_rounds):
        current = choice[candidates]
        taken = current != NOTHING
        slot = np.maximum(current, 0)[:, None]
        gain = values - np.where(taken, np.take_along_axis(values, slot, axis=1)[:, 0], 0.0)[:, None]
        extra = costs - np.where(taken, np.take_along_axis(costs, slot, axis=1)[:, 0], 0.0)[:, None]
        rows, offers = np.nonzero(allowed & (gain > 0) & (extra <= left) & (stock >= 1)[None, :])
        if len(rows) == 0:
            break
        g, e = gain[rows, offers], extra[rows, offers]
        score = np.where(e > 0, g / np.maximum(e, 1e-300), np.inf)
        order = np.lexsort((-g, -score))
        rows, offers, e = rows[order], offers[order], e[order]
        keep = np.sort(np.unique(rows, return_index=True)[1])
        rows, offers, e = rows[keep], offers[keep], e[keep]
        fits_stock = _rank_within(offers, n_offers) < stock[offers]
        rows, offers, e = rows[fits_stock], offers[fits_stock], e[fits_stock]
        over = np.flatnonzero(np.cumsum(e) > left + 1e-9)
        n_take = over[0] if len(over) else len(rows)
        if n_take == 0:
            break
        moved, previous = candidates[rows[:n_take]], current[rows[:n_take]]
        left -= e[:n_take].sum()
        stock += np.bincount(previous[previous != NOTHING], minlength=n_offers)
        stock -= np.bincount(offers[:n_take], minlength=n_offers)
        choice[moved] = offers[:n_take]
    return choice


def _rank_within(groups: np.ndarray, n_groups: int) -> np.ndarray:
    """Position of each element among the earlier elements of its group (0 for the first)."""
    rank = np.empty(len(groups), dtype=np.int64)
    for g in range(n_groups):
        idx = np.flatnonzero(groups == g)
        rank[idx] = np.arange(len(idx))
    return rank


def solve_dual(problem: Problem, rtol: float = 1e-4, max_iter: int = 60, max_rounds: int = 30,
               warm_start_users: int = 50_000, random_state: int = 0) -> Allocation:
    """Lagrangian dual: search on lambda, exact coordinate steps on the stock multipliers.

    ``rtol`` is the share of the budget the search may leave unspent before the top-up. On large
    instances the multipliers are first solved on ``warm_start_users`` random users (budget and
    limits scaled), which puts the full-size search a few evaluations from its answer. Returns a
    feasible allocation whose ``upper_bound`` is the dual value (an upper bound on the LP).
    """
    start = time.perf_counter()
    dual = _Dual(problem)
    limited = np.flatnonzero(np.isfinite(problem.limits))
    mu = np.zeros(len(problem.offers))
    lam = 0.0
    if problem.n_users > 4 * warm_start_users:
        users = np.random.default_rng(random_state).choice(problem.n_users, warm_start_users, replace=False)
        share = warm_start_users / problem.n_users
        sample = Problem(problem.values[users], problem.costs[users], problem.budget * share,
                         np.floor(problem.limits * share), problem.offers, problem.eligible[users])
        warm = solve_dual(sample, rtol, max_iter, max_rounds)
        lam = warm.multipliers["budget"]
        mu[limited] = [warm.multipliers[f"limit:{problem.offers[k]}"] for k in limited]
    lo = hi = lam
    for _ in range(max_rounds if len(limited) else 1):
        previous = (hi, mu.copy())
        lo, hi = dual.search_lambda(mu, hi, rtol, max_iter)
        for k in limited:
            mu[k] = dual.update_mu(hi, mu, int(k))
        if np.isclose(hi, previous[0], rtol=1e-4, atol=0) and np.allclose(mu, previous[1], rtol=1e-4, atol=1e-4 * hi):
            break
    bound = min(dual.bound(hi, mu), dual.bound(lo, mu)) if lo != hi else dual.bound(hi, mu)
    choice = dual.choose(hi, mu)[0].astype(np.int64)
    repaired = _repair(problem, choice, hi, mu)
    marginal = np.flatnonzero((repaired != choice) | (dual.choose(min(lo, 0.98 * hi), mu)[0] != choice))
    choice = _top_up(problem, repaired, marginal)
    objective, spend = evaluate(problem, choice)
    multipliers = {"budget": hi, **{f"limit:{problem.offers[k]}": float(mu[k]) for k in limited}}
    return Allocation(choice, objective, spend, max(bound, objective), time.perf_counter() - start,
                      problem.offers, multipliers)


def _constraints(problem: Problem, users: np.ndarray, offers: np.ndarray) -> tuple[sparse.csr_array, np.ndarray]:
    """Rows ``A x <= b`` over the (user, offer) variables: one offer per user, the budget, stock limits."""
    n_var = len(users)
    rows = [sparse.csr_array((np.ones(n_var), (users, np.arange(n_var))), shape=(problem.n_users, n_var))]
    upper = [np.ones(problem.n_users)]
    if np.isfinite(problem.budget):
        rows.append(sparse.csr_array(problem.costs[users, offers][None, :]))
        upper.append(np.array([problem.budget]))
    for k in np.flatnonzero(np.isfinite(problem.limits)):
        rows.append(sparse.csr_array((offers == k).astype(np.float64)[None, :]))
        upper.append(problem.limits[k:k + 1])
    return sparse.vstack(rows, format="csr"), np.concatenate(upper)


def solve_milp(problem: Problem, time_limit: float = 60.0, mip_rel_gap: float = 1e-4) -> Allocation:
    """Exact integer optimum with HiGHS (``scipy.optimize.milp``); for instances up to ~10^5 users.

    Only user-offer pairs with a positive value enter the model (the others are never worth taking).
    ``upper_bound`` is HiGHS's proven dual bound.
    """
    start = time.perf_counter()
    users, offers = np.nonzero(problem.allowed)
    n_var = len(users)
    assignment = np.full(problem.n_users, NOTHING)
    if n_var == 0:
        return Allocation(assignment, 0.0, 0.0, 0.0, time.perf_counter() - start, problem.offers)
    matrix, upper = _constraints(problem, users, offers)
    constraint = LinearConstraint(matrix, -np.inf, upper)
    # HiGHS's presolve spends minutes probing this structure and removes little; the LP is already tight.
    options = {"time_limit": time_limit, "mip_rel_gap": mip_rel_gap, "presolve": False}
    result = milp(-problem.values[users, offers], integrality=np.ones(n_var), bounds=Bounds(0, 1),
                  constraints=constraint, options=options)
    if result.x is None:
        raise RuntimeError(f"HiGHS found no solution: {result.message}")
    chosen = result.x > 0.5
    assignment[users[chosen]] = offers[chosen]
    objective, spend = evaluate(problem, assignment)
    bound = -getattr(result, "mip_dual_bound", np.nan)
    return Allocation(assignment, objective, spend, float(bound), time.perf_counter() - start, problem.offers)


def solve_lp(problem: Problem) -> float:
    """Optimum of the LP relaxation with HiGHS (small instances; used to check the dual's bound)."""
    from scipy.optimize import linprog

    users, offers = np.nonzero(problem.allowed)
    n_var = len(users)
    if n_var == 0:
        return 0.0
    matrix, upper = _constraints(problem, users, offers)
    result = linprog(-problem.values[users, offers], A_ub=matrix, b_ub=upper, bounds=(0, 1), method="highs")
    return float(-result.fun)


def _take_in_order(problem: Problem, users: np.ndarray, offers: np.ndarray, start: float) -> Allocation:
    """Walk the (user, offer) list in order, giving each pick that still fits the budget and stock."""
    choice = np.full(problem.n_users, NOTHING)
    cost = problem.costs[users, offers]
    left, stock = problem.budget, problem.limits.copy()
    while len(users):
        rank = _rank_within(offers, len(problem.offers))
        fits = rank < stock[offers]
        users, offers, cost = users[fits], offers[fits], cost[fits]
        over = np.flatnonzero(np.cumsum(cost) > left + 1e-9)
        n_take = over[0] if len(over) else len(users)
        choice[users[:n_take]] = offers[:n_take]
        left -= cost[:n_take].sum()
        stock -= np.bincount(offers[:n_take], minlength=len(problem.offers))
        rest = slice(n_take + 1, None)  # the pick at n_take did not fit: skip it, go on with the rest
        users, offers, cost = users[rest], offers[rest], cost[rest]
        small = cost <= left + 1e-9
        users, offers, cost = users[small], offers[small], cost[small]
    objective, spend = evaluate(problem, choice)
    return Allocation(choice, objective, spend, np.nan, time.perf_counter() - start, problem.offers)


def solve_greedy(problem: Problem, by: str = "value") -> Allocation:
    """Greedy baseline: each user's best offer by ``value`` or by ``ratio`` (value / cost), users ranked
    by that score, taken in order while the budget and stock last."""
    start = time.perf_counter()
    if by == "value":
        score = problem.values
    elif by == "ratio":
        score = problem.values / np.where(problem.costs > 0, problem.costs, 1e-12)
    else:
        raise ValueError(f"by must be 'value' or 'ratio', got {by!r}")
    score = np.where(problem.allowed, score, -np.inf)
    offers = score.argmax(axis=1)
    best = score[np.arange(problem.n_users), offers]
    users = np.flatnonzero(np.isfinite(best))
    users = users[np.argsort(-best[users], kind="stable")]
    return _take_in_order(problem, users, offers[users], start)


def solve_random(problem: Problem, random_state: int = 0) -> Allocation:
    """Random baseline: users in random order, each offered a uniformly random eligible offer (any
    offer without an ROI floor) while the budget and stock last."""
    start = time.perf_counter()
    rng = np.random.default_rng(random_state)
    offers = np.where(problem.eligible, rng.random(problem.values.shape), -1.0).argmax(axis=1)
    users = rng.permutation(np.flatnonzero(problem.eligible.any(axis=1)))
    return _take_in_order(problem, users, offers[users], start)

