"""Figures for issue 16's bars on the default world (v2), three seeds, each at the study's defaults:

* through-the-door AUC of the best reject-inference scorecard at least 0.01 above the uncorrected one
  and within 0.05 of the oracle PD's (means over seeds);
* ZILN normalised Gini at least the two-part model's, and both above the RFM baseline;
* the profit objective's true incremental profit at least 10% above the conversion objective's at the
  same budget;
* the notebook at its default scale under 3 minutes.

    .venv/bin/python benchmarks/bench_value.py [--seeds 0 1 2] [--skip-notebook]
"""
from __future__ import annotations

import argparse
import warnings

import numpy as np
import pandas as pd
from timing import notebook_seconds

from lab.allocate import objective_values, solve_dual, ticket_values, to_problem, true_incremental_profit
from lab.core import world_for
from lab.data import OFFERS
from lab.uplift import fit_offer_effects
from lab.value.study import Config, run


def _value(results: pd.DataFrame, model: str, metric: str, split: str | None = None) -> np.ndarray:
    rows = results[(results["model"] == model) & (results["metric"] == metric)]
    if split is not None:
        rows = rows[rows["split"] == split]
    return rows.sort_values("seed")["value"].to_numpy()


def _seeds(values: np.ndarray) -> str:
    return ", ".join(f"{v:,.3f}" for v in values)


def planned_with(seeds: list[int], effects: str, n_users: int) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """True incremental profit of each objective planned on a world of ``n_users`` with ``effects``:
    ``estimated`` (the study's uplift learner), ``true`` (the world's per-user offer effects) or
    ``true_average`` (each offer's true average effect for everyone); the rest of the value table is
    estimated as in the study. Also the correlation of the estimated with the true per-user effects (per
    seed, averaged over offers): how much of the effects' heterogeneity, where the profit lies, the
    learner recovers."""
    config, out, signal = Config(), {o: [] for o in ("conversion", "profit", "clv")}, []
    for seed in seeds:
        world = world_for(n_users=n_users, seed=seed)
        truth = world.oracle["effects"].set_index("user_id").loc[world.observed["users"]["user_id"]]
        columns = [f"tau_{o}" for o in OFFERS[1:]]
        estimated = fit_offer_effects(world, learner=config.uplift_learner, random_state=seed)
        signal.append(np.mean([np.corrcoef(estimated[c], truth[c])[0, 1] for c in columns]))
        tau = {"estimated": estimated, "true": truth[columns].reset_index(),
               "true_average": truth[columns].assign(**truth[columns].mean()).reset_index()}[effects]
        ticket = ticket_values(world, seed)
        for objective in out:
            table = objective_values(world, objective, random_state=seed, ticket=ticket, tau=tau)
            allocation = solve_dual(to_problem(table, config.budget_per_user * n_users))
            out[objective].append(true_incremental_profit(world, allocation))
    return {o: np.array(v) for o, v in out.items()}, np.array(signal)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--skip-notebook", action="store_true")
    parser.add_argument("--diagnostic-users", type=int, nargs="*", default=[5000, 20000],
                        help="world sizes of the diagnostic plans (estimated, true-average and true effects)")
    args = parser.parse_args()
    warnings.filterwarnings("ignore")
    results = pd.concat([run(Config(seed=seed)).results for seed in args.seeds], ignore_index=True)

    ttd = "through_the_door"
    auc = {m: _value(results, m, "auc", ttd) for m in ("scorecard_uncorrected", "scorecard_augmentation",
                                                       "scorecard_parcelling", "gbm_pd", "oracle")}
    best = max(("scorecard_augmentation", "scorecard_parcelling"), key=lambda m: auc[m].mean())
    lift, gap = auc[best].mean() - auc["scorecard_uncorrected"].mean(), auc["oracle"].mean() - auc[best].mean()
    print("through-the-door AUC per seed: " + "; ".join(f"{m} [{_seeds(v)}]" for m, v in auc.items()))
    print(f"BAR reject_inference: best {best} {auc[best].mean():.4f} vs uncorrected "
          f"{auc['scorecard_uncorrected'].mean():.4f} (+{lift:.4f}, bar >= 0.01), oracle {auc['oracle'].mean():.4f} "
          f"(gap {gap:.4f}, bar <= 0.05) -> {'MET' if lift >= 0.01 and gap <= 0.05 else 'NOT MET'}")

    gini = {m: _value(results, m, "normalised_gini") for m in ("ziln", "two_part", "rfm")}
    spearman = {m: _value(results, m, "spearman").mean() for m in gini}
    met = gini["ziln"].mean() >= gini["two_part"].mean() and min(gini["ziln"].mean(), gini["two_part"].mean()) > \
        gini["rfm"].mean()
    print(f"BAR lifetime_value: normalised Gini ZILN {gini['ziln'].mean():.4f} [{_seeds(gini['ziln'])}], two-part "
          f"{gini['two_part'].mean():.4f} [{_seeds(gini['two_part'])}], RFM {gini['rfm'].mean():.4f} "
          f"[{_seeds(gini['rfm'])}]; Spearman {', '.join(f'{m} {v:.3f}' for m, v in spearman.items())} "
          f"(bar ZILN >= two-part > RFM) -> {'MET' if met else 'NOT MET'}")

    profit = {o: _value(results, f"allocation_{o}", "true_incremental_profit") for o in ("conversion", "profit", "clv")}
    defaults = {o: _value(results, f"allocation_{o}", "true_defaults").mean() for o in profit}
    conversion, by_profit = profit["conversion"].mean(), profit["profit"].mean()
    gain = (by_profit - conversion) / abs(conversion)
    print(f"BAR profit_objective: true incremental profit, mean over seeds: conversion {conversion:,.0f} "
          f"[{_seeds(profit['conversion'])}], profit {by_profit:,.0f} [{_seeds(profit['profit'])}], clv "
          f"{profit['clv'].mean():,.0f}; true extra defaults {', '.join(f'{o} {v:.2f}' for o, v in defaults.items())}; "
          f"profit vs conversion {100 * gain:+.1f}% (bar >= +10%) -> {'MET' if gain >= 0.10 else 'NOT MET'}")

    for n_users in args.diagnostic_users:
        for effects in ("estimated", "true_average", "true"):
            planned, signal = planned_with(args.seeds, effects, n_users)
            conversion, by_profit = planned["conversion"].mean(), planned["profit"].mean()
            recovered = f"; correlation of estimated with true effects [{_seeds(signal)}]" * (effects == "estimated")
            print(f"  diagnostic, {n_users:,} users planned with {effects} effects: conversion {conversion:,.0f} "
                  f"[{_seeds(planned['conversion'])}], profit {by_profit:,.0f} [{_seeds(planned['profit'])}], clv "
                  f"{planned['clv'].mean():,.0f}; profit vs conversion "
                  f"{100 * (by_profit - conversion) / abs(conversion):+.1f}%{recovered}")

    if not args.skip_notebook:
        seconds = notebook_seconds("60_risk_and_value.ipynb")
        print(f"BAR notebook: 60_risk_and_value.ipynb at default scale {seconds:.0f} s (bar < 180 s) -> "
              f"{'MET' if seconds < 180 else 'NOT MET'}")


if __name__ == "__main__":
    main()
