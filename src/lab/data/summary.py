"""Descriptive summaries of a world, for the overview study and for sanity checks in the others."""
from __future__ import annotations

import numpy as np
import pandas as pd

from lab.data.world import STAGES


def funnel_rates(funnel: pd.DataFrame, segments: pd.Series | None = None,
                 funnel_probs: pd.DataFrame | None = None) -> pd.DataFrame:
    """Share of users reaching each stage, overall (row ``all``) and per segment if given.

    With ``funnel_probs`` (the oracle) it adds ``true_<stage>``: the mean true probability.
    """
    frame = funnel.set_index("user_id")[list(STAGES)].astype(float)
    if funnel_probs is not None:
        truth = funnel_probs.set_index("user_id")[[f"p_{s}" for s in STAGES]]
        frame = frame.join(truth.rename(columns=lambda c: "true_" + c[2:]))
    overall = frame.mean().to_frame("all").T
    if segments is None:
        return overall
    by_segment = frame.groupby(segments.reindex(frame.index).astype(str)).mean()
    return pd.concat([overall, by_segment])


def drift_by_day(interactions: pd.DataFrame, products: pd.DataFrame | None = None) -> pd.DataFrame:
    """Share of each product in each day's interactions (days x products)."""
    counts = pd.crosstab(interactions["day"], interactions["product_id"])
    shares = counts.div(counts.sum(axis=1), axis=0)
    if products is not None:
        shares.columns = products.set_index("product_id").loc[shares.columns, "name"].to_numpy()
    return shares


def degree_by_day(edges: pd.DataFrame, n_nodes: int, segments: pd.Series | None = None) -> pd.DataFrame:
    """Per day: new edges, mean degree of the cumulative graph, referral share, and homophily."""
    per_day = edges.groupby("day")
    out = pd.DataFrame({"new_edges": per_day.size()})
    out["mean_degree"] = 2 * out["new_edges"].cumsum() / n_nodes
    if "kind" in edges:
        out["referral_share"] = per_day["kind"].apply(lambda k: (k.astype(str) == "referral").mean())
    if segments is not None:
        seg = segments.astype(str)
        same = seg.reindex(edges["src"]).to_numpy() == seg.reindex(edges["dst"]).to_numpy()
        out["homophily"] = pd.Series(same, index=edges.index).groupby(edges["day"]).mean()
    return out


def smd(X: pd.DataFrame, t, weights=None) -> pd.Series:
    """Standardised mean difference per column: weighted mean gap over the unweighted pooled SD."""
    X, t = X.astype(np.float64), np.asarray(t)
    w = np.ones(len(t)) if weights is None else np.asarray(weights, dtype=np.float64)
    m1 = np.average(X[t == 1], axis=0, weights=w[t == 1])
    m0 = np.average(X[t == 0], axis=0, weights=w[t == 0])
    pooled = np.sqrt((X[t == 1].var(axis=0).to_numpy() + X[t == 0].var(axis=0).to_numpy()) / 2)
    return pd.Series((m1 - m0) / np.where(pooled > 0, pooled, 1.0), index=X.columns)


def standardised_mean_differences(users: pd.DataFrame, treatments: pd.DataFrame,
                                  control: str = "none") -> pd.DataFrame:
    """SMD of every numeric user feature between each offer and ``control`` (features x offers).

    SMD = (mean_treated - mean_control) / sqrt((var_treated + var_control) / 2); |SMD| > 0.1 is the
    usual flag for imbalance.
    """
    features = users.set_index("user_id").select_dtypes("number")
    offer = treatments.set_index("user_id")["offer"].astype(str).reindex(features.index)
    columns = {}
    for arm in sorted(set(offer.dropna()) - {control}):
        pair = offer.isin([arm, control]).to_numpy()
        columns[arm] = smd(features[pair], (offer[pair] == arm).astype(int).to_numpy())
    return pd.DataFrame(columns)


def treatment_effects(treatments: pd.DataFrame, effects: pd.DataFrame | None = None,
                      control: str = "none") -> pd.DataFrame:
    """Per offer: users, conversion rate, naive difference vs control and (with the oracle) true ATE."""
    offer = treatments["offer"].astype(str)
    rate = treatments.groupby(offer)["converted"].mean()
    size = offer.value_counts()
    arms = sorted(set(offer) - {control})
    table = pd.DataFrame({"users": size.reindex(arms), "conversion": rate.reindex(arms),
                          "naive_difference": rate.reindex(arms) - rate.get(control, np.nan)})
    if effects is not None:
        table["true_ate"] = [effects[f"tau_{arm}"].mean() for arm in arms]
    table.index.name = "offer"
    return table


def history_by_day(interactions: pd.DataFrame, users: pd.DataFrame, threshold: int = 2) -> pd.DataFrame:
    """Per day: users signed up by then and the share of them with at most ``threshold`` own
    interactions up to that day (the cold starts a model scoring that day faces)."""
    signup = users.set_index("user_id")["signup_day"] if "signup_day" in users else pd.Series(0, users["user_id"])
    counts = pd.crosstab(interactions["user_id"], interactions["day"]).cumsum(axis=1)
    counts = counts.reindex(signup.index, fill_value=0)
    rows = []
    for day in counts.columns:
        present = signup <= day
        rows.append({"day": int(day), "signed_up": int(present.sum()),
                     "cold_share": float((counts.loc[present.to_numpy(), day] <= threshold).mean())})
    return pd.DataFrame(rows).set_index("day")


def account_curves(account_months: pd.DataFrame) -> pd.DataFrame:
    """Per month after the campaign: accounts still open (share of the first month's) and, where the
    table has the columns, monthly churn and default rates among open accounts, mean balance and mean
    profit per open account."""
    grouped = account_months.groupby("month")
    curves = pd.DataFrame({"open_share": grouped.size() / grouped.size().iloc[0]})
    for name, column in (("churn_rate", "churned"), ("default_rate", "defaulted"), ("mean_balance", "balance"),
                         ("mean_profit", "profit")):
        if column in account_months:
            curves[name] = grouped[column].mean()
    return curves
