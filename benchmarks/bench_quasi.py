"""The quasi-experiments' bars: over replicate worlds (one seed each), how often each design's 95% interval
covers the world's true effect, and its mean bias (``lab.uplift.designs``).

Bar (issue 18): RDD, DID, synthetic control and IV each cover the true effect in 0.90 to 0.99 of at
least 200 replicates, with a mean bias under a tenth of the effect. For contrast it also prints the
coverage of the textbook daily two-way fixed effects DID with standard errors clustered by region (6
clusters), the inference the DID design does not use.

Usage: python benchmarks/bench_quasi.py [--replicates 200] [--n-users 100000] [--n-days 12]
"""
from __future__ import annotations

import argparse
import time
import warnings

import pandas as pd
from linearmodels import PanelOLS
from tqdm.auto import tqdm

from lab.data import simulate_world
from lab.data.world.config import World
from lab.uplift.designs import DESIGNS, region_panel, true_effect


def clustered_daily_did(world: World) -> dict:
    """Daily region x day two-way fixed effects with region-clustered errors: estimate, error, 95% interval."""
    panel = region_panel(world).assign(treated=lambda p: (p["priced"] & p["post"]).astype(float))
    data = panel.set_index(["region", "day"])
    fit = PanelOLS(data["rate"], data[["treated"]], entity_effects=True, time_effects=True).fit(
        cov_type="clustered", cluster_entity=True)
    low, high = fit.conf_int().loc["treated"].to_numpy(float)
    return {"design": "did_daily_clustered", "estimate": float(fit.params["treated"]),
            "se": float(fit.std_errors["treated"]), "ci_low": low, "ci_high": high,
            "true_effect": true_effect(world, "did")}


def replicate(world: World) -> list[dict]:
    """Each design's estimate, interval and truth on one world, plus the clustered daily DID."""
    return [{"design": name, **vars(estimate(world))} for name, estimate in DESIGNS.items()] + [
        clustered_daily_did(world)]


def scores(results: pd.DataFrame) -> str:
    """Coverage of the true effect, mean bias and mean effect over one design's replicates, as words."""
    covered = (results["ci_low"] <= results["true_effect"]) & (results["true_effect"] <= results["ci_high"])
    bias = (results["estimate"] - results["true_effect"]).mean()
    return (f"coverage {covered.mean():.3f} over {len(results)} replicates, bias {bias:+.4f} "
            f"(effect {results['true_effect'].mean():.3g})")


def met(results: pd.DataFrame) -> bool:
    """The bar: coverage in [0.90, 0.99] over at least 200 replicates, |mean bias| under a tenth of the effect."""
    coverage = ((results["ci_low"] <= results["true_effect"]) & (results["true_effect"] <= results["ci_high"])).mean()
    bias = (results["estimate"] - results["true_effect"]).mean()
    return 0.90 <= coverage <= 0.99 and abs(bias) < 0.1 * abs(results["true_effect"].mean()) and len(results) >= 200


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--replicates", type=int, default=200)
    parser.add_argument("--n-users", type=int, default=100_000)
    parser.add_argument("--n-days", type=int, default=12)
    parser.add_argument("--first-seed", type=int, default=1000)
    args = parser.parse_args()

    start = time.perf_counter()
    rows = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # rdrobust's and pysyncon's chatter on every replicate
        for seed in tqdm(range(args.first_seed, args.first_seed + args.replicates), desc="replicate worlds"):
            world = simulate_world(n_users=args.n_users, n_days=args.n_days, shift_days=(args.n_days * 2 // 3,),
                                   seed=seed)
            rows += [{"seed": seed, **row} for row in replicate(world)]
    results = pd.DataFrame(rows)
    print(f"{args.replicates} worlds of {args.n_users:,} users x {args.n_days} days in "
          f"{time.perf_counter() - start:.0f} s; mean standard error / sd of the estimate's error per design: "
          + ", ".join(f"{d} {g['se'].mean():.3g} / {(g['estimate'] - g['true_effect']).std():.3g}"
                      for d, g in results.groupby("design", sort=False)))
    by_design = dict(tuple(results.groupby("design")))
    for design in DESIGNS:
        print(f"BAR {design}_coverage: {scores(by_design[design])} -> {'MET' if met(by_design[design]) else 'NOT MET'}")
    print(f"for contrast (not a bar), daily DID clustered by region: {scores(by_design['did_daily_clustered'])}")


if __name__ == "__main__":
    main()
