"""The world tour: what the data every study runs on looks like, and what ground truth it carries.

``run`` summarises the funnel, the drift across market regimes, the user-user graph and the balance
of the marketing treatments, on the simulated world or on a researcher's own tables (oracle figures
are then left out, and so is any section whose table is missing).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from lab.core import GAPS_IMPUTED, StudyConfig, StudyResult, gap_note, refuse, stopwatch, world_for, world_problems_of
from lab.data import STAGES, World, world_problems
from lab.data.summary import (account_curves, degree_by_day, drift_by_day, funnel_rates, history_by_day,
                              standardised_mean_differences, treatment_effects)

# |SMD| above this flags a feature as imbalanced between an offer and no offer.
IMBALANCE_SMD = 0.1


@dataclass
class Config(StudyConfig):
    """Defaults of the world tour: every field is a notebook parameter of the same name and default."""

    seed: int = 0
    data_dir: str = ""  # "" = the simulated world; else a folder of your tables
    n_users: int = 5000
    n_days: int = 30
    shift_day: int = 20
    assignment: str = "targeted"


def _funnel(world: World, segments: pd.Series | None) -> tuple[list[dict], pd.DataFrame]:
    """Share of users reaching each stage (observed and, with the oracle, the mean true probability)."""
    rates = funnel_rates(world.observed["funnel"], segments, world.oracle.get("funnel_probs"))
    rows = [{"model": "world", "metric": f"rate_{stage}", "value": rates.loc["all", stage]} for stage in STAGES]
    if world.oracle:
        rows += [{"model": "oracle", "metric": f"rate_{stage}", "value": rates.loc["all", f"true_{stage}"]}
                 for stage in STAGES]
    return rows, rates


def _targets(world: World) -> tuple[list[dict], float]:
    """Lookalike target rate per regime and how much the shift reshuffles the true target probability."""
    targets = world.oracle["targets"]
    rate = targets.groupby("regime")["is_target"].mean()
    rows = [{"model": "oracle", "metric": "lookalike_target_rate", "value": value, "regime": int(regime)}
            for regime, value in zip(rate.index.to_numpy(), rate.to_numpy())]
    by_regime = targets.pivot(index="user_id", columns="regime", values="p_target")
    correlation = float(by_regime.corr().to_numpy()[0, -1])
    rows.append({"model": "oracle", "metric": "target_prob_corr_across_shift", "value": correlation})
    return rows, correlation


def _treatments(world: World) -> tuple[list[dict], pd.DataFrame, pd.DataFrame]:
    """Feature balance (SMD) of each offer against no offer, and naive vs (with the oracle) true effects."""
    treatments = world.observed["treatments"]
    smd = standardised_mean_differences(world.observed["users"], treatments)
    effects = treatment_effects(treatments, world.oracle.get("effects"))
    rows = [{"model": "world", "metric": "max_abs_smd", "value": smd[offer].abs().max(), "offer": offer}
            for offer in smd.columns]
    for offer, row in effects.iterrows():
        rows.append({"model": "diff_in_means", "metric": "ate", "value": row["naive_difference"], "offer": offer})
        if world.oracle:
            rows.append({"model": "oracle", "metric": "ate", "value": row["true_ate"], "offer": offer})
    return rows, smd, effects


def check(config: Config) -> list[str]:
    """Every problem with the parameters and, with ``data_dir``, with the tables (only users are needed)."""
    if config.data_dir:
        return world_problems(config.data_dir)
    return world_problems_of(n_users=config.n_users, n_days=config.n_days, seed=config.seed,
                             shift_days=(config.shift_day,), assignment=config.assignment)


def run(config: Config) -> StudyResult:
    """Tour the world of ``config``: tidy rows, headline figures, and the tables the figures draw."""
    refuse(check(config))
    with stopwatch() as clock:
        world = world_for(config.data_dir, n_users=config.n_users, n_days=config.n_days, seed=config.seed,
                          shift_days=(config.shift_day,), assignment=config.assignment)
        observed = world.observed
        segments = world.oracle["users"].set_index("user_id")["segment"] if world.oracle else None
        rows: list[dict] = []
        artefacts: dict[str, object] = {"world": world}
        headline: dict[str, float] = {"users": len(observed["users"])}
        if "funnel" in observed:
            funnel_rows, rates = _funnel(world, segments)
            rows += funnel_rows
            artefacts["funnel_rates"] = rates
            headline["drawdown_rate"] = float(rates["drawdown"].to_numpy()[0])  # the row "all"
        if "interactions" in observed:
            artefacts["product_shares"] = drift_by_day(observed["interactions"], observed.get("products"))
        if world.oracle:
            target_rows, headline["target_prob_corr_across_shift"] = _targets(world)
            rows += target_rows
        if "edges" in observed:
            degree = degree_by_day(observed["edges"], len(observed["users"]), segments)
            artefacts["degree_by_day"] = degree
            rows.append({"model": "world", "metric": "final_mean_degree", "value": degree["mean_degree"].iloc[-1]})
        if "interactions" in observed:
            artefacts["history_by_day"] = history_by_day(observed["interactions"], observed["users"])
        if "account_months" in observed:
            artefacts["account_curves"] = account_curves(observed["account_months"])
        if "treatments" in observed:
            treatment_rows, smd, effects = _treatments(world)
            rows += treatment_rows
            artefacts["smd"], artefacts["effects"] = smd, effects
            headline["max_abs_smd"] = float(smd.abs().max().max())
            if world.oracle:
                headline["max_naive_ate_bias"] = float((effects["naive_difference"] - effects["true_ate"]).abs().max())
        results = pd.DataFrame(rows, columns=["model", "metric", "value", "regime", "offer"])
        results = results.assign(split="all", seed=config.seed, regime=results["regime"].astype("Int64"))[
            ["model", "metric", "value", "split", "seed", "regime", "offer"]]
    return StudyResult(config, results, headline, metrics={"source": data_source(config)}, artefacts=artefacts,
                       runtime_seconds=clock["seconds"])


def data_source(config: Config) -> str:
    """Where the data of ``config`` comes from, in words."""
    if config.data_dir:
        return f"your tables in `{config.data_dir}`"
    return (f"a simulated world: {config.n_users:,} users, {config.n_days} days, regime shift on day "
            f"{config.shift_day}, {config.assignment} offer assignment, seed {config.seed}")


def data_summary(result: StudyResult) -> pd.DataFrame:
    """Rows and columns of every table in the data."""
    observed = result.artefacts["world"].observed
    return pd.DataFrame({"table": list(observed), "rows": [len(t) for t in observed.values()],
                         "columns": [", ".join(t.columns) for t in observed.values()],
                         GAPS_IMPUTED: [gap_note(t) or "none" for t in observed.values()]}).set_index("table")


def feature_summary(result: StudyResult) -> pd.DataFrame:
    """Mean, spread and range of every numeric user feature."""
    features = result.artefacts["world"].observed["users"].drop(columns="user_id").select_dtypes("number")
    return features.describe().T[["mean", "std", "min", "50%", "max"]].round(2)


FUNNEL_STEPS = "share passing each funnel step (click, apply, approve, drawdown)"
# Published figures the world's statistics are set against (approximate; the source in each row).
ANCHORS = {
    "mean user degree": ("2.32", "DGraphFin (Huang et al., NeurIPS 2022): 3.7M users, 4.3M edges"),
    "applicants approved": ("about 80%", "New York Fed SCE Credit Access Survey: about 1 in 5 applications "
                                         "rejected, 2014-2024"),
    "drawn loans defaulting while on book": ("2-4% a year charged off", "Federal Reserve, charge-off rates on "
                                                "consumer loans at US commercial banks, 2015-2024"),
    FUNNEL_STEPS: (
        "each step loses more than half", "issue 15's anchor for application funnels"),
    "users with <= 2 own interactions on the last day": ("at least 30%", "issue 15: cold starts a scorer must face"),
}


def calibration_table(result: StudyResult) -> pd.DataFrame:
    """Each world statistic the data allows beside a published anchor and its source."""
    observed = result.artefacts["world"].observed
    values: dict[str, str] = {}
    if "edges" in observed:
        degree = result.artefacts["degree_by_day"]["mean_degree"].iloc[-1]
        values["mean user degree"] = f"{degree:.2f}"
    if "loans" in observed:
        loans = observed["loans"]
        values["applicants approved"] = f"{loans['approved'].mean():.0%}"
        drawn = loans[loans["drawn"] == 1]
        if "defaulted" in drawn and len(drawn):
            values["drawn loans defaulting while on book"] = f"{drawn['defaulted'].mean():.1%}"
    if "funnel" in observed:
        reached = observed["funnel"][list(STAGES)].sum().clip(lower=1)
        values[FUNNEL_STEPS] = "; ".join(f"{reached[later] / reached[earlier]:.0%}"
                                         for earlier, later in zip(STAGES, STAGES[1:]))
    if "history_by_day" in result.artefacts:
        values["users with <= 2 own interactions on the last day"] = \
            f"{result.artefacts['history_by_day']['cold_share'].iloc[-1]:.0%}"
    return pd.DataFrame([{"statistic": name, "this world": value, "anchor": ANCHORS[name][0],
                          "source": ANCHORS[name][1]} for name, value in values.items()],
                        columns=["statistic", "this world", "anchor", "source"]).set_index("statistic")


def regime_note(result: StudyResult) -> str:
    """The lookalike target rate per regime and its correlation across the shift ("" without the oracle)."""
    rows = result.results
    rates = rows[rows["metric"] == "lookalike_target_rate"]
    if rates.empty:
        return ""
    return ("Lookalike target rate by regime: "
            + ", ".join(f"regime {r.regime}: {r.value:.1%}" for r in rates.itertuples())
            + ". Correlation of the true target probability before and after the shift: "
            f"{result.headline['target_prob_corr_across_shift']:.2f}.")


def verdict(result: StudyResult) -> str:
    """The tour's plain-words findings, as Markdown bullets read from ``result``."""
    world, headline = result.artefacts["world"], result.headline
    lines = [f"- **{headline['users']:,} users** in {len(world.observed)} tables."]
    if "drawdown_rate" in headline:
        drawdown = headline["drawdown_rate"]
        lines.append(f"- {drawdown:.2%} of users go through the whole funnel to drawdown.")
        if world.oracle:
            truth = float(result.results.query("model == 'oracle' and metric == 'rate_drawdown'")["value"].iloc[0])
            agrees = abs(truth - drawdown) < 3 * np.sqrt(truth / len(world.observed["funnel"]))
            lines.append(f"- The oracle's mean drawdown probability is {truth:.2%}: the sampled outcomes "
                         f"{'agree with' if agrees else 'DEVIATE from'} the truth.")
    if "max_abs_smd" in headline:
        worst = headline["max_abs_smd"]
        balance = ("imbalanced: use the causal estimators of the uplift study" if worst > IMBALANCE_SMD
                   else "balanced, as a randomised test should be")
        lines.append(f"- Largest feature imbalance between an offer and no offer: |SMD| = {worst:.2f} ({balance}).")
    if "max_naive_ate_bias" in headline:
        lines.append(f"- The naive difference in conversion misses the true average effect by up to "
                     f"{headline['max_naive_ate_bias']:.4f}.")
    if "target_prob_corr_across_shift" in headline:
        shifts = ", ".join(str(day) for day in world.shift_days)
        correlation = headline["target_prob_corr_across_shift"]
        lines.append(f"- The market regime shift on day {shifts} reshuffles the lookalike target: the true target "
                     f"probabilities before and after correlate at only {correlation:.2f}.")
    return "\n".join(lines)
