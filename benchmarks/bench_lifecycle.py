"""Figures for issue 17's bars on the default world v2 over 5 seeds: the best learned policy's true
discounted 12-month profit at least 5% above the myopic policy's (paired interval over seeds) and above the
logging policy's; doubly robust OPE within 10% of the true value for every policy (the study's OPE is
cross-fitted: each learned policy is scored on customers it was not learned from); the notebook's default
run through papermill under 3 minutes. ``--large-users N`` adds the true values of the policies learned from
a world of N users (10x the default's logged customers at 1,000,000), to measure whether the learners'
shortfall is one of data size; ``--seeds 0`` runs that alone.

    .venv/bin/python benchmarks/bench_lifecycle.py [--seeds 5] [--large-users 1000000]
"""
from __future__ import annotations

import argparse

import numpy as np
import pandas as pd
from timing import notebook_seconds

from lab.core import world_for
from lab.lifecycle.ope import customers_at, true_value
from lab.lifecycle.policies import logged_episodes
from lab.lifecycle.study import (BASELINES, LEARNED, Config, _customers, _policies, best_learned, fit_learners, fold_of,
                                 gains, run)

GAIN_BAR = 5.0           # percent over myopic the best learned policy's interval must clear
DR_BAR = 10.0            # percent of the true value DR must come within, for every policy
NOTEBOOK_SECONDS = 180.0


def _values(results: pd.DataFrame) -> pd.Series:
    return results[results["budget"].isna()].groupby(["model", "metric"])["value"].mean()


def bars(n_seeds: int) -> None:
    """The study over ``n_seeds`` default worlds, its bars, and the notebook's runtime."""
    results = run(Config(n_seeds=n_seeds)).results
    means = _values(results)
    print(f"[lifecycle] {n_seeds} seeds, cross-fitted, best learned policy {best_learned(results)}")
    for policy in (*BASELINES, *LEARNED):
        print(f"  {policy:>12}: true {means[(policy, 'true_value')]:8.1f}  "
              + "  ".join(f"{m.removeprefix('ope_')} {means[(policy, m)]:8.1f}"
                          for m in ("ope_ips", "ope_snips", "ope_dr", "ope_fqe"))
              + f"  weights' effective share {means[(policy, 'weight_effective_share')]:.4f}")
    gain = gains(results)
    mean, low, high = gain["myopic"]
    print(f"BAR gain over myopic: {mean:+.1f}% (paired 95% interval {low:+.1f}% to {high:+.1f}%, bar: interval above "
          f"+{GAIN_BAR:.0f}%) -> {'MET' if low > GAIN_BAR else 'NOT MET'}")
    mean, low, high = gain["logging"]
    print(f"BAR gain over logging: {mean:+.1f}% (paired 95% interval {low:+.1f}% to {high:+.1f}%, bar: above 0) -> "
          f"{'MET' if low > 0 else 'NOT MET'}")
    errors = {p: 100 * abs(means[(p, "ope_dr")] - means[(p, "true_value")]) / abs(means[(p, "true_value")])
              for p in (*BASELINES, *LEARNED)}
    worst = max(errors, key=errors.__getitem__)
    print("BAR DR within 10%: " + ", ".join(f"{p} {e:.1f}%" for p, e in errors.items())
          + f" (worst {worst}) -> {'MET' if errors[worst] < DR_BAR else 'NOT MET'}")
    seconds = notebook_seconds("70_lifecycle_policy.ipynb")
    print(f"BAR notebook_runtime: {seconds:.0f} s through papermill at the defaults (bar {NOTEBOOK_SECONDS:.0f} s) -> "
          f"{'MET' if seconds < NOTEBOOK_SECONDS else 'NOT MET'}")


def data_size(n_users: int) -> None:
    """True values, in the simulator, of the policies learned from a world of ``n_users`` users: learned on
    one half of its customers and rolled out (2 lives each) on the other half, as the study's first fold."""
    config = Config(n_users=n_users, n_rollouts=2)
    world = world_for("", preset="default", require=("users", "account_months"), n_users=n_users, seed=0)
    episodes = logged_episodes(world.observed["account_months"], world.observed["users"])
    customers, static = _customers(world, episodes.user_id)
    fold = fold_of(len(episodes.user_id), 2, seed=0)
    held_out = np.flatnonzero(fold == 0)
    models = fit_learners(episodes.subset(np.flatnonzero(fold != 0)), config, 0)
    values = {name: true_value(policy, customers_at(customers, held_out), static[held_out], episodes.n_months,
                               config.gamma, config.n_rollouts, (0, 0)).value
              for name, policy in _policies(models, 1.0).items()}
    print(f"[lifecycle] {n_users:,} users, {len(episodes.user_id) - len(held_out):,} customers to learn from, "
          f"true value on {len(held_out):,} held out: " + ", ".join(f"{p} {v:.1f}" for p, v in values.items()))
    for policy in LEARNED:
        print(f"  {policy}: {100 * (values[policy] / values['myopic'] - 1):+.1f}% over myopic, "
              f"{100 * (values[policy] / values['no_action'] - 1):+.1f}% over no action")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--large-users", type=int, default=0)
    args = parser.parse_args()
    if args.seeds:
        bars(args.seeds)
    if args.large_users:
        data_size(args.large_users)
