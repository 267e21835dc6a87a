"""Value tables, the allocation's input: one row per user, a value and a cost per offer.

Columns of a value table (what ``data_path`` must hold, CSV or parquet):

* ``user_id`` — unique user id;
* ``value_<offer>`` — the value of giving ``<offer>`` to the user (expected transaction value, or
  incremental value over no offer), any real number; one column per offer that may be given;
* ``cost_<offer>`` — the cost of giving it, >= 0; optional where the offer's cost is the same for
  everyone and known (``lab.data.OFFER_COST``: coupon, rate_discount, sms, none);
* ``segment`` — optional, only used to report the offer mix per segment.

"No offer" is always allowed and worth 0, so values are relative to doing nothing. On the simulated
world the tables come from the truth (``oracle_values``), from a response model (``response_values``:
expected transaction value if offered) or from uplift learners (``uplift_values``: incremental value).
The models are fitted single-threaded (``lab.core.limit_threads``): the tables are small, and OpenMP
threads spinning on a busy machine made a 300-row gradient boosting fit 50x slower than one thread.
Their features come from ``lab.core.UserEncoder`` fitted on each model's training rows, in the units of
the users table (``_tree_encoder``).
"""
from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd
from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor
from sklearn.pipeline import make_pipeline

from lab.allocate.solvers import NOTHING, Allocation, Problem, make_problem
from lab.core import IdentificationError, SchemaError, UserEncoder, limit_threads, sort_by_ids
from lab.data import OFFER_COST, OFFERS, World, read_table

VALUE, COST = "value_", "cost_"


def offers_of(table: pd.DataFrame) -> tuple[str, ...]:
    """The offers a value table prices, in column order."""
    return tuple(c[len(VALUE):] for c in table.columns if c.startswith(VALUE))


def validate_values(table: pd.DataFrame, offer_costs: dict[str, float] | None = None) -> pd.DataFrame:
    """Check a value table and fill missing ``cost_<offer>`` columns from ``offer_costs``.

    Raises ``SchemaError`` naming the column and the problem (missing offers, negative costs, ...).
    """
    offer_costs = OFFER_COST if offer_costs is None else offer_costs
    if not isinstance(table, pd.DataFrame) or table.empty:
        raise SchemaError("values: expected a non-empty table with user_id and value_<offer> columns")
    if "user_id" not in table:
        raise SchemaError("values: missing required column 'user_id'")
    if table["user_id"].duplicated().any():
        raise SchemaError(f"values: column 'user_id' repeats {int(table['user_id'].duplicated().sum())} id(s)")
    offers = offers_of(table)
    if not offers:
        raise SchemaError("values: no offers; add one column value_<offer> per offer (e.g. value_coupon)")
    orphans = [c for c in table.columns if c.startswith(COST) and c[len(COST):] not in offers]
    if orphans:
        raise SchemaError(f"values: cost column(s) {orphans} have no matching value_<offer> column")
    table = table.copy()
    for offer in offers:
        if f"{COST}{offer}" not in table:
            if offer not in offer_costs:
                raise SchemaError(f"values: offer '{offer}' has no column 'cost_{offer}' and no known cost; "
                                  f"add the column or pass offer_costs (known: {sorted(offer_costs)})")
            table[f"{COST}{offer}"] = float(offer_costs[offer])
        for column in (f"{VALUE}{offer}", f"{COST}{offer}"):
            numbers = pd.to_numeric(table[column], errors="coerce")
            if numbers.isna().any() or not np.isfinite(numbers.to_numpy(dtype=np.float64)).all():
                raise SchemaError(f"values: column '{column}' has missing, infinite or non-numeric entries")
            table[column] = numbers.astype(np.float64)
        negative = int((table[f"{COST}{offer}"] < 0).sum())
        if negative:
            raise SchemaError(f"values: column 'cost_{offer}' has {negative} negative cost(s); costs must be >= 0")
    return table


def read_values(path: str, offer_costs: dict[str, float] | None = None) -> pd.DataFrame:
    """Read and validate a value table from CSV or parquet."""
    return validate_values(sort_by_ids(read_table(path)), offer_costs)


def to_problem(table: pd.DataFrame, budget: float, limits: Mapping[str, float] | None = None,
               roi_floor: float | None = None) -> Problem:
    """An allocation problem from a validated value table; ``limits`` maps offer -> most users, and
    ``roi_floor`` keeps an offer from a user whose value is below ``roi_floor`` x its cost."""
    offers = offers_of(table)
    values = table[[f"{VALUE}{o}" for o in offers]].to_numpy(dtype=np.float64)
    costs = table[[f"{COST}{o}" for o in offers]].to_numpy(dtype=np.float64)
    return make_problem(values, costs, budget, limits, offers, roi_floor)


def synthetic_values(n_users: int, n_offers: int = 5, random_state: int = 0) -> pd.DataFrame:
    """A random value table with heterogeneous values (some negative) for benchmarks and tests."""
    rng = np.random.default_rng(random_state)
    costs = np.array([0.5, 20.0, 45.0, 10.0, 5.0, 2.0, 30.0, 1.0])[:n_offers]
    scale = np.array([2.0, 30.0, 60.0, 12.0, 8.0, 3.0, 40.0, 2.5])[:n_offers]
    taste = rng.gamma(2.0, 0.5, size=(n_users, 1))  # some users respond to everything
    values = taste * rng.gamma(1.0, 1.0, size=(n_users, n_offers)) * scale - rng.normal(0, 1, (n_users, n_offers))
    table = pd.DataFrame({"user_id": np.arange(n_users)})
    for j in range(n_offers):
        table[f"{VALUE}offer_{j}"] = values[:, j]
        table[f"{COST}offer_{j}"] = costs[j]
    return table


def _frame(world: World, columns: dict[str, np.ndarray]) -> pd.DataFrame:
    table = pd.DataFrame({"user_id": world.observed["users"]["user_id"].to_numpy()})
    for offer in OFFERS[1:]:
        table[f"{VALUE}{offer}"] = np.asarray(columns[offer], dtype=np.float64)
        table[f"{COST}{offer}"] = OFFER_COST[offer]
    if "users" in world.oracle:
        table["segment"] = world.oracle["users"]["segment"].astype(str).to_numpy()
    return table


def oracle_values(world: World) -> pd.DataFrame:
    """True incremental value of each offer (the world's ``incremental_value_<offer>``)."""
    effects = world.oracle["effects"].set_index("user_id").loc[world.observed["users"]["user_id"]]
    return _frame(world, {o: effects[f"incremental_value_{o}"].to_numpy() for o in OFFERS[1:]})


def _outcomes(world: World) -> pd.DataFrame:
    """The treatments table aligned with the users table, one row per user in its order."""
    return world.observed["users"][["user_id"]].merge(world.observed["treatments"], on="user_id", how="left")


def _tree_encoder() -> UserEncoder:
    """Users to features for gradient-boosted trees: they split on order, so money needs no log and nothing
    needs scaling (a log would only move the bin edges that fall between training rows)."""
    return UserEncoder(log_columns=(), scale=False)


def ticket_values(world: World, random_state: int = 0) -> np.ndarray:
    """Expected transaction value per user if they convert, learned from the converters' values."""
    users, outcomes = world.observed["users"], _outcomes(world)
    converted = outcomes["converted"].to_numpy() == 1
    if converted.sum() < 20:
        raise IdentificationError(f"treatments: only {int(converted.sum())} conversions; "
                                  "need at least 20 to learn the value of a conversion")
    model = make_pipeline(_tree_encoder(), HistGradientBoostingRegressor(
        max_iter=150, learning_rate=0.05, min_samples_leaf=20, random_state=random_state))
    with limit_threads(1):
        model.fit(users[converted], outcomes.loc[converted, "value"].to_numpy(dtype=np.float64))
        return np.maximum(model.predict(users), 0.0)


def response_values(world: World, random_state: int = 0, ticket: np.ndarray | None = None) -> pd.DataFrame:
    """Expected transaction value if offered: P(convert | user, offer) x expected ticket.

    The classic response model: gradient boosting with the offer as a feature, trained on the users
    who were given an offer; it predicts who buys when offered, not who buys *because* of the offer.
    ``ticket`` is ``ticket_values(world, random_state)``, fitted here unless given.
    """
    users, outcomes = world.observed["users"], _outcomes(world)
    offered = (outcomes["offer"].astype(str) != "none").to_numpy()
    offer_codes = {o: j for j, o in enumerate(OFFERS[1:])}
    codes = outcomes["offer"].astype(str).map(offer_codes).to_numpy()
    X = _tree_encoder().fit(users[offered]).transform(users).to_numpy()
    model = HistGradientBoostingClassifier(max_iter=150, learning_rate=0.05, min_samples_leaf=20,
                                           categorical_features=[X.shape[1]], random_state=random_state)
    with limit_threads(1):
        model.fit(np.column_stack([X[offered], codes[offered]]), outcomes.loc[offered, "converted"].to_numpy())
        columns = {o: model.predict_proba(np.column_stack([X, np.full(len(X), j)]))[:, 1]
                   for o, j in offer_codes.items()}
    ticket = ticket_values(world, random_state) if ticket is None else ticket
    return _frame(world, {o: p_convert * ticket for o, p_convert in columns.items()})


def uplift_values(world: World, learner: str = "x_learner", random_state: int = 0,
                  ticket: np.ndarray | None = None) -> pd.DataFrame:
    """Incremental value of each offer: estimated effect on conversion (``lab.uplift``) x expected ticket.

    ``ticket`` is ``ticket_values(world, random_state)``, fitted here unless given.
    """
    from lab.uplift import fit_offer_effects

    with limit_threads(1):
        tau = fit_offer_effects(world, learner=learner, random_state=random_state)
    tau = tau.set_index("user_id").loc[world.observed["users"]["user_id"]]
    ticket = ticket_values(world, random_state) if ticket is None else ticket
    return _frame(world, {o: tau[f"tau_{o}"].to_numpy(dtype=np.float64) * ticket for o in OFFERS[1:]})


def true_incremental_value(world: World, allocation: Allocation) -> float:
    """Sum over users of the true incremental value of the offer each one was given (0 for none)."""
    truth = oracle_values(world)
    values = truth[[f"{VALUE}{o}" for o in allocation.offers]].to_numpy()
    given = np.flatnonzero(allocation.assignment != NOTHING)
    return float(values[given, allocation.assignment[given]].sum())


OBJECTIVES = ("conversion", "profit", "clv")


def _no_offer_conversion(world: World, random_state: int) -> np.ndarray:
    """P(convert | no offer) per user, from the users given no offer."""
    users, outcomes = world.observed["users"], _outcomes(world)
    control = (outcomes["offer"].astype(str) == "none").to_numpy()
    model = make_pipeline(_tree_encoder(), HistGradientBoostingClassifier(
        max_iter=150, learning_rate=0.05, min_samples_leaf=20, random_state=random_state))
    with limit_threads(1):
        model.fit(users[control], outcomes.loc[control, "converted"].to_numpy())
        return model.predict_proba(users)[:, 1]


def default_probabilities(world: World, random_state: int = 0) -> np.ndarray:
    """P(default | drawdown) per user, learned from the defaults of the drawn loans (``loans``)."""
    users = world.observed["users"]
    loans = world.observed["loans"]
    drawn = loans[(loans["drawn"] == 1) & loans["defaulted"].notna()]
    if drawn["defaulted"].nunique() < 2:
        raise IdentificationError(f"loans: {len(drawn)} drawn loans without both defaults and repayments; "
                                  "cannot learn a probability of default")
    rows = users.set_index("user_id").loc[drawn["user_id"]].reset_index()
    model = make_pipeline(_tree_encoder(), HistGradientBoostingClassifier(
        max_iter=100, learning_rate=0.05, max_depth=3, min_samples_leaf=50, l2_regularization=1.0,
        random_state=random_state))
    with limit_threads(1):
        model.fit(rows, drawn["defaulted"].to_numpy(dtype=np.int64))
        return model.predict_proba(users)[:, 1]


def customer_values(world: World, random_state: int = 0) -> np.ndarray:
    """Expected 12-month profit of a user who draws down, learned from the customers' observed
    discounted monthly profits (``account_months``: interest less default losses and action costs)."""
    from lab.data.world.lifecycle import MONTHLY_DISCOUNT

    users, months = world.observed["users"], world.observed["account_months"]
    profit = (months["profit"] * MONTHLY_DISCOUNT ** months["month"]).groupby(months["user_id"]).sum()
    rows = users.set_index("user_id").loc[profit.index].reset_index()
    model = make_pipeline(_tree_encoder(), HistGradientBoostingRegressor(
        max_iter=150, learning_rate=0.05, max_depth=4, min_samples_leaf=30, random_state=random_state))
    with limit_threads(1):
        model.fit(rows, profit.to_numpy(dtype=np.float64))
        return model.predict(users)


def objective_values(world: World, objective: str, learner: str = "x_learner", random_state: int = 0,
                     ticket: np.ndarray | None = None, tau: pd.DataFrame | None = None) -> pd.DataFrame:
    """The value table of one allocation ``objective`` (all from the observed tables):

    * ``conversion``: incremental transaction value, estimated effect x ticket (``uplift_values``);
    * ``profit``: incremental expected profit, effect x ticket x (margin - PD x LGD), less the margin a
      rate discount gives up on users who would have drawn down anyway, less the offer's cost;
    * ``clv``: effect x expected 12-month profit of a customer (``customer_values``), less the cost.

    ``ticket`` (``ticket_values``) and ``tau`` (``lab.uplift.fit_offer_effects`` with ``learner``) are
    fitted here unless given, so that several objectives can share them.
    """
    if objective not in OBJECTIVES:
        raise ValueError(f"objective must be one of {OBJECTIVES}, got {objective!r}")
    from lab.data.world.credit import LGD, MARGIN, RATE_DISCOUNT_MARGIN
    from lab.uplift import fit_offer_effects

    ticket = ticket_values(world, random_state) if ticket is None else ticket
    if tau is None:
        with limit_threads(1):
            tau = fit_offer_effects(world, learner=learner, random_state=random_state)
    tau = tau.set_index("user_id").loc[world.observed["users"]["user_id"]]
    if objective == "conversion":
        return _frame(world, {o: tau[f"tau_{o}"].to_numpy(np.float64) * ticket for o in OFFERS[1:]})
    if objective == "profit":
        p_default, p_none = default_probabilities(world, random_state), _no_offer_conversion(world, random_state)
        columns = {}
        for offer in OFFERS[1:]:
            margin = MARGIN - RATE_DISCOUNT_MARGIN * (offer == "rate_discount")
            given_up = p_none * ticket * (MARGIN - margin)
            columns[offer] = (tau[f"tau_{offer}"].to_numpy() * ticket * (margin - p_default * LGD) - given_up
                              - OFFER_COST[offer])
        return _frame(world, columns)
    value = customer_values(world, random_state)
    return _frame(world, {o: tau[f"tau_{o}"].to_numpy() * value - OFFER_COST[o] for o in OFFERS[1:]})


def true_incremental_profit(world: World, allocation: Allocation) -> float:
    """Sum over the users given an offer of its true incremental expected profit (the oracle's
    ``expected_profit_<offer> - expected_profit_none``: revenue less expected loss less the offer's cost)."""
    credit = world.oracle["credit"].set_index("user_id").loc[world.observed["users"]["user_id"]]
    gain = np.stack([credit[f"expected_profit_{o}"] - credit["expected_profit_none"] for o in allocation.offers], 1)
    given = np.flatnonzero(allocation.assignment != NOTHING)
    return float(gain[given, allocation.assignment[given]].sum())


def true_defaults(world: World, allocation: Allocation) -> float:
    """Expected defaulted loans the allocation's offers add: per user given an offer, its true effect on
    drawing down times the true PD."""
    ids = world.observed["users"]["user_id"]
    effects = world.oracle["effects"].set_index("user_id").loc[ids]
    p_default = world.oracle["credit"].set_index("user_id").loc[ids, "p_default"].to_numpy(np.float64)
    tau = np.stack([effects[f"tau_{o}"].to_numpy(np.float64) for o in allocation.offers], 1)
    given = np.flatnonzero(allocation.assignment != NOTHING)
    return float((tau[given, allocation.assignment[given]] * p_default[given]).sum())
