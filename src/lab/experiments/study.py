"""The A/B testing study: how big must a test be, can its read-out be trusted, and did the offer work?

``run(Config)`` takes one randomised two-arm test (an offer against no offer in the simulated world, or
the researcher's table) and does what a growth team's experimentation platform should:

1. **checks** the assignment (sample-ratio mismatch against the design's split);
2. **reads it out**: each metric's lift by difference in means and by CUPED (pre-period covariates),
   Holm-adjusted over metrics; a guardrail (the default rate among new loans) by non-inferiority; the
   primary metric per segment, Benjamini-Hochberg adjusted;
3. **monitors** it as it would have been watched: the z-statistic at ``n_looks`` looks against the
   alpha-spending boundaries;
4. **validates the methods by replicates** on a population whose outcomes are known (the world's
   potential outcomes, or the table's arms resampled): the design's sample size and its simulated power
   against the nominal, the A/A false-positive rate of naive peeking against the sequential design, and
   CUPED's variance reduction against its theory.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats
from tqdm.auto import tqdm

from lab.core import (SchemaError, StudyConfig, StudyResult, UserEncoder, refuse, stopwatch, world_for,
                      world_problems_of)
from lab.data import OFFERS, read_table
from lab.experiments import abtest

MIN_ARM_ROWS = 30  # smallest arm of a table the study takes
WORLD_COVARIATES = ("prior_drawdowns", "tenure_months", "app_sessions_30d", "credit_score", "income",
                    "savings_balance", "debt_to_income", "digital_affinity")


@dataclass
class Config(StudyConfig):
    """The study's parameters and defaults (the notebook's parameters cell).

    Data: the simulated world (``n_users`` users, ``offer`` against no offer, randomised) or ``data_path``
    (a CSV/parquet table, one row per unit in arrival order, or sorted by ``order_col``) read with
    ``treatment_col`` (0/1), ``outcome_col`` (the primary metric), ``metric_cols`` (secondary metrics),
    ``guardrail_col`` (a metric that must not rise by more than ``guardrail_margin``; empty cells are
    units it does not apply to), ``covariate_cols`` (pre-period covariates for CUPED) and ``segment_col``;
    ``treated_share`` is the design's split of a table (the world knows its own).
    Design: ``alpha``, ``power``, ``mde`` (the smallest lift worth detecting, in outcome units; 0 = the
    lift the population shows: the world's true effect, or a table's observed one), ``n_looks`` looks
    with the ``spending`` function. Validation: ``n_replicates`` simulated tests.
    """

    seed: int = 0
    data_path: str = ""
    treatment_col: str = ""
    outcome_col: str = ""
    metric_cols: tuple[str, ...] = ()
    guardrail_col: str = ""
    covariate_cols: tuple[str, ...] = ()
    segment_col: str = ""
    order_col: str = ""
    treated_share: float = 0.5
    n_users: int = 20000
    offer: str = "rate_discount"
    alpha: float = 0.05
    power: float = 0.8
    mde: float = 0.0
    guardrail_margin: float = 0.02
    n_looks: int = 10
    spending: str = "obrien_fleming"
    n_replicates: int = 2000

    @property
    def source(self) -> str:
        """``"table"`` when ``data_path`` is set, else ``"world"``."""
        return "table" if self.data_path else "world"


@dataclass
class TestData:
    """One randomised test: the arm of each unit and what was measured, in arrival order.

    ``metrics``: one column per metric, the primary first; ``guardrail``: NaN where it does not apply;
    ``covariates``: pre-period covariates; ``population``: each arm's outcomes and covariates to draw
    simulated tests from (``outcome0``/``covariates0`` for control, ``outcome1``/``covariates1`` treated);
    ``true_lift``: the primary metric's true average effect (the world only).
    """

    t: np.ndarray
    metrics: pd.DataFrame
    guardrail: pd.Series | None
    covariates: np.ndarray
    segments: pd.Series | None
    treated_share: float
    population: dict[str, np.ndarray]
    true_lift: float | None
    name: str

    @property
    def primary(self) -> str:
        return str(self.metrics.columns[0])


def world_test(n_users: int, offer: str, seed: int) -> TestData:
    """The world's randomised campaign, ``offer`` against no offer, with each user's potential outcomes
    drawn from the oracle's conversion probabilities (so simulated tests know their truth)."""
    world = world_for(preset="campaign", n_users=n_users, assignment="randomised", seed=seed)
    users, treatments, funnel = (world.observed[k] for k in ("users", "treatments", "funnel"))
    effects = world.oracle["effects"]
    covariates = users[list(WORLD_COVARIATES)].to_numpy(np.float64)
    rng = np.random.default_rng([seed, 5])
    potential = {arm: (rng.random(len(users)) < effects[f"p_convert_{arm}"].to_numpy()).astype(np.float64)
                 for arm in ("none", offer)}
    arm = treatments["offer"].astype(str).to_numpy()
    rows = rng.permutation(np.flatnonzero(np.isin(arm, ["none", offer])))  # arrival order
    loans = world.observed["loans"].set_index("user_id")
    drawn = loans["drawn"].reindex(users["user_id"]).fillna(0).to_numpy() == 1
    default = loans["defaulted"].reindex(users["user_id"]).to_numpy(np.float64)
    metrics = pd.DataFrame({"conversion": treatments["converted"].to_numpy(np.float64),
                            "applied": funnel["apply"].to_numpy(np.float64),
                            "value": treatments["value"].to_numpy(np.float64)})
    share = float(effects[f"propensity_{offer}"].mean()
                  / (effects[f"propensity_{offer}"].mean() + effects["propensity_none"].mean()))
    return TestData(t=(arm[rows] == offer), metrics=metrics.iloc[rows].reset_index(drop=True),
                    guardrail=pd.Series(np.where(drawn, default, np.nan)[rows], name="default_rate"),
                    covariates=covariates[rows], segments=users["region"].iloc[rows].reset_index(drop=True),
                    treated_share=share,
                    population={"outcome0": potential["none"], "outcome1": potential[offer],
                                "covariates0": covariates, "covariates1": covariates},
                    true_lift=float(effects[f"tau_{offer}"].mean()), name=f"world: {offer} vs none")


def _binary(values: pd.Series) -> bool:
    return bool(values.dropna().isin([0, 1]).all())


def table_test(config: Config) -> TestData:
    """The researcher's table as a ``TestData``; every problem is one line of one ``SchemaError``."""
    frame = read_table(config.data_path)
    name = Path(config.data_path).name
    wanted = [config.treatment_col, config.outcome_col, *config.metric_cols, config.guardrail_col,
              *config.covariate_cols, config.segment_col, config.order_col]
    missing = [c for c in wanted if c and c not in frame.columns]
    if missing:
        raise SchemaError(f"{name}: missing column(s) {missing}; columns are {list(frame.columns)[:20]}")
    if config.order_col:
        frame = frame.sort_values(config.order_col, kind="stable").reset_index(drop=True)
    problems = []
    arms = frame[config.treatment_col]
    if arms.isna().any() or not _binary(arms):
        problems.append(f"{name}: treatment column {config.treatment_col!r} must be 0/1 with no gaps")
    for column in (config.outcome_col, *config.metric_cols, config.guardrail_col):
        if column and not pd.api.types.is_numeric_dtype(frame[column]):
            problems.append(f"{name}: metric column {column!r} must be numeric, got {frame[column].dtype}")
        elif column and column != config.guardrail_col and frame[column].isna().any():
            problems.append(f"{name}: metric column {column!r} has {int(frame[column].isna().sum())} gap(s)")
    if problems:
        raise SchemaError(*problems)
    t = arms.to_numpy(int) == 1
    metrics = frame[[config.outcome_col, *config.metric_cols]].astype(np.float64)
    covariates = (UserEncoder(log_columns=(), scale=False).fit_transform(frame[list(config.covariate_cols)])
                  .to_numpy(np.float64) if config.covariate_cols else np.zeros((len(frame), 0)))
    y = metrics[config.outcome_col].to_numpy()
    return TestData(t=t, metrics=metrics,
                    guardrail=frame[config.guardrail_col].astype(np.float64) if config.guardrail_col else None,
                    covariates=covariates, segments=frame[config.segment_col] if config.segment_col else None,
                    treated_share=config.treated_share,
                    population={"outcome0": y[~t], "outcome1": y[t], "covariates0": covariates[~t],
                                "covariates1": covariates[t]},
                    true_lift=None, name=name)


def check(config: Config) -> list[str]:
    """Every problem with the parameters and, with ``data_path``, with the table (at least ``MIN_ARM_ROWS``
    units per arm)."""
    problems = []
    if config.offer not in OFFERS[1:]:
        problems.append(f"offer must be one of {OFFERS[1:]}, got {config.offer!r}")
    if not 0 < config.alpha < 0.5:
        problems.append(f"alpha must lie in (0, 0.5), got {config.alpha}")
    if not config.alpha < config.power < 1:
        problems.append(f"power must lie in (alpha, 1), got {config.power}")
    if config.mde < 0:
        problems.append(f"mde must be 0 (the population's lift) or positive, got {config.mde}")
    if not 1 <= config.n_looks <= 50:
        problems.append(f"n_looks must lie in 1..50, got {config.n_looks}")
    if config.spending not in abtest.SPENDING:
        problems.append(f"spending must be one of {abtest.SPENDING}, got {config.spending!r}")
    if config.n_replicates < 100:
        problems.append(f"n_replicates must be at least 100 (a false-positive rate needs them), got "
                        f"{config.n_replicates}")
    if not 0 < config.treated_share < 1:
        problems.append(f"treated_share must lie in (0, 1), got {config.treated_share}")
    if config.guardrail_margin <= 0:
        problems.append(f"guardrail_margin must be positive, got {config.guardrail_margin}")
    if config.source == "world":
        return problems + world_problems_of("campaign", n_users=config.n_users, assignment="randomised")
    if not (config.treatment_col and config.outcome_col):
        problems.append("data_path needs treatment_col and outcome_col")
    if problems:
        return problems
    try:
        data = table_test(config)
    except ValueError as err:  # SchemaError: one line per problem of the table
        return str(err).splitlines()
    n_treated, n_control = int(data.t.sum()), int((~data.t).sum())
    if min(n_treated, n_control) < MIN_ARM_ROWS:
        problems.append(f"{data.name}: {n_treated} treated and {n_control} control rows; each arm needs at "
                        f"least {MIN_ARM_ROWS}")
    return problems


def _estimate_rows(model: str, outcome: str, estimate: abtest.Estimate, **keys) -> list[dict]:
    return [{"model": model, "metric": metric, "value": value, "outcome": outcome, **keys}
            for metric, value in (("lift", estimate.lift), ("ci_low", estimate.ci_low),
                                  ("ci_high", estimate.ci_high), ("p_value", estimate.p_value))]


def read_out(data: TestData, margin: float, alpha: float) -> tuple[list[dict], pd.DataFrame]:
    """Each metric by difference in means and CUPED (Holm over metrics), the guardrail by non-inferiority
    and the primary metric per segment (BH over segments): tidy rows and the segment table."""
    rows: list[dict] = []
    adjusted_p = []
    for outcome in data.metrics.columns:
        y = data.metrics[outcome].to_numpy()
        rows += _estimate_rows("difference_in_means", outcome, abtest.difference_in_means(y, data.t))
        estimate = abtest.cuped(y, data.t, data.covariates) if data.covariates.shape[1] else \
            abtest.difference_in_means(y, data.t)
        rows += _estimate_rows("cuped", outcome, estimate)
        adjusted_p.append(estimate.p_value)
    for outcome, p in zip(data.metrics.columns, abtest.adjust_pvalues(adjusted_p, "holm")):
        rows.append({"model": "cuped", "metric": "p_adjusted", "value": float(p), "outcome": outcome})
    if data.true_lift is not None:
        rows.append({"model": "oracle", "metric": "lift", "value": data.true_lift, "outcome": data.primary})
    if data.guardrail is not None:
        applies = data.guardrail.notna().to_numpy()
        if min(data.t[applies].sum(), (~data.t[applies]).sum()) >= 2:
            estimate, p = abtest.non_inferiority(data.guardrail.to_numpy()[applies], data.t[applies], margin, alpha)
            rows += _estimate_rows("guardrail", str(data.guardrail.name), estimate)
            upper = estimate.lift + stats.norm.isf(alpha) * estimate.se  # the one-sided bound the test uses
            rows += [{"model": "guardrail", "metric": "non_inferiority_p", "value": p,
                      "outcome": str(data.guardrail.name)},
                     {"model": "guardrail", "metric": "upper_bound", "value": upper,
                      "outcome": str(data.guardrail.name)},
                     {"model": "guardrail", "metric": "margin", "value": margin, "outcome": str(data.guardrail.name)}]
    segments = pd.DataFrame()
    if data.segments is not None:
        y = data.metrics[data.primary].to_numpy()
        found = []
        for segment in sorted(data.segments.dropna().unique()):
            inside = (data.segments == segment).to_numpy()
            if min(data.t[inside].sum(), (~data.t[inside]).sum()) >= 2:
                estimate = abtest.difference_in_means(y[inside], data.t[inside])
                found.append({"segment": str(segment), "n": int(inside.sum()), **vars(estimate)})
        segments = pd.DataFrame(found)
        if len(segments):
            segments["p_adjusted"] = abtest.adjust_pvalues(segments["p_value"], "fdr_bh")
            for record in segments.to_dict("records"):
                rows += [{"model": "difference_in_means", "metric": m, "value": float(record[m]),
                          "outcome": data.primary, "segment": record["segment"]}
                         for m in ("lift", "ci_low", "ci_high", "p_value", "p_adjusted")]
    return rows, segments


def validate_methods(data: TestData, config: Config) -> tuple[list[dict], dict[str, float | None]]:
    """The design and its methods checked on simulated tests from ``data.population``: rows and the design."""
    pop = data.population
    baseline = float(pop["outcome0"].mean())
    lift = config.mde or float(pop["outcome1"].mean() - baseline)
    binary = bool(np.isin(np.r_[pop["outcome0"], pop["outcome1"]], [0.0, 1.0]).all())
    sd = None if binary else float(np.sqrt((pop["outcome0"].var() + pop["outcome1"].var()) / 2))
    n = abtest.sample_size_per_arm(baseline, lift, config.alpha, config.power, sd)
    design = {"baseline": baseline, "lift": lift, "n_per_arm": n, "sd": sd,
              "nominal_power": abtest.design_power(n, baseline, lift, config.alpha, sd)}
    if config.mde:  # power is simulated at the population's own lift; shift the treated arm to the MDE
        pop = {**pop, "outcome1": pop["outcome1"] - pop["outcome1"].mean() + baseline + lift}
    steps = tqdm(total=3, desc="simulated tests", leave=False)
    power = abtest.simulated_power(pop["outcome0"], pop["outcome1"], n, config.n_replicates, config.alpha,
                                   config.n_looks, config.spending, seed=config.seed)
    steps.update()
    aa = abtest.aa_false_positive_rates(pop["outcome0"], n, config.n_looks, config.n_replicates, config.alpha,
                                        config.spending, seed=config.seed + 1)
    steps.update()
    rows: list[dict] = [{"model": "power_design", "metric": "power", "value": power["fixed_horizon"]},
            {"model": "power_design", "metric": "nominal_power", "value": design["nominal_power"]},
            {"model": "power_design", "metric": "n_per_arm", "value": float(n)},
            {"model": "power_design", "metric": "mde", "value": lift},
            {"model": "sequential", "metric": "power", "value": power["sequential"]},
            {"model": "naive_peeking", "metric": "aa_false_positive_rate", "value": aa["naive_peeking"]},
            {"model": "sequential", "metric": "aa_false_positive_rate", "value": aa["sequential"]},
            {"model": "fixed_horizon", "metric": "aa_false_positive_rate", "value": aa["fixed_horizon"]}]
    if data.covariates.shape[1]:
        reduction = abtest.cuped_variance_reduction(pop["outcome0"], pop["outcome1"], pop["covariates0"],
                                                    pop["covariates1"], n, config.n_replicates, seed=config.seed + 2)
        rows += [{"model": "cuped", "metric": k, "value": v} for k, v in reduction.items()]
    steps.update()
    steps.close()
    return rows, design


def run(config: Config) -> StudyResult:
    """Check, read out, monitor and validate one randomised test (see the module docstring)."""
    refuse(check(config))
    with stopwatch() as clock:
        data = world_test(config.n_users, config.offer, config.seed) if config.source == "world" \
            else table_test(config)
        n_treated, n_control = int(data.t.sum()), int((~data.t).sum())
        srm_p = abtest.sample_ratio_mismatch(n_treated, n_control, data.treated_share)
        rows = [{"model": "srm", "metric": "p_value", "value": srm_p},
                {"model": "srm", "metric": "treated_share", "value": n_treated / (n_treated + n_control)},
                {"model": "srm", "metric": "design_share", "value": data.treated_share}]
        read_rows, segments = read_out(data, config.guardrail_margin, config.alpha)
        y = data.metrics[data.primary].to_numpy()
        path = abtest.monitor(y, data.t, config.n_looks, config.alpha, config.spending)
        crossed = np.flatnonzero(np.abs(path["z"]) >= path["bound"])
        naive = np.flatnonzero(np.abs(path["z"]) > stats.norm.isf(config.alpha / 2))
        rows += [{"model": "sequential", "metric": "z_final", "value": float(path["z"][-1]), "outcome": data.primary}]
        if len(crossed):
            rows.append({"model": "sequential", "metric": "stopping_look", "value": float(crossed[0] + 1),
                         "outcome": data.primary})
        validation_rows, design = validate_methods(data, config)
        results = pd.DataFrame(rows + read_rows + [{**r, "outcome": data.primary} for r in validation_rows])
    value = results.set_index(["model", "metric", "outcome"])["value"]
    headline = {"primary_lift": float(value[("cuped", "lift", data.primary)]),
                "aa_fpr_naive": float(value[("naive_peeking", "aa_false_positive_rate", data.primary)]),
                "aa_fpr_sequential": float(value[("sequential", "aa_false_positive_rate", data.primary)]),
                "power": float(value[("power_design", "power", data.primary)])}
    artefacts = {"data": data, "segments": segments, "path": path, "design": design,
                 "stopping_look": int(crossed[0] + 1) if len(crossed) else None,
                 "naive_look": int(naive[0] + 1) if len(naive) else None}
    metrics = {"source": config.source, "design": design}
    return StudyResult(config, results, headline, metrics, artefacts, runtime_seconds=clock["seconds"])


def _value(result: StudyResult, model: str, metric: str, outcome: str | None = None) -> float:
    rows = result.results
    outcome = outcome or result.artefacts["data"].primary
    pick = rows[(rows["model"] == model) & (rows["metric"] == metric) & (rows["outcome"] == outcome)
                & (rows["segment"].isna() if "segment" in rows else True)]
    return float(pick["value"].iloc[0]) if len(pick) else float("nan")


def data_summary(result: StudyResult) -> str:
    """The test in Markdown: where it comes from, its arms, metrics and design split."""
    data = result.artefacts["data"]
    n_treated = int(data.t.sum())
    guard = f", guardrail `{data.guardrail.name}`" if data.guardrail is not None else ""
    return (f"**Data:** {data.name}: {len(data.t):,} units, {n_treated:,} treated ({n_treated / len(data.t):.1%}; the "
            f"design's share is {data.treated_share:.1%}). Primary metric `{data.primary}`, secondary "
            f"{', '.join(f'`{m}`' for m in data.metrics.columns[1:]) or 'none'}{guard}; "
            f"{data.covariates.shape[1]} pre-period covariate column(s) for CUPED. The true effect is "
            f"**{'known' if data.true_lift is not None else 'unknown'}**.")


def read_out_table(result: StudyResult) -> pd.DataFrame:
    """Metrics x (lift, interval, p-values) by difference in means and by CUPED, with the guardrail."""
    rows = result.results
    rows = rows[rows["model"].isin(["difference_in_means", "cuped", "guardrail"])
                & rows["metric"].isin(["lift", "ci_low", "ci_high", "p_value", "p_adjusted", "non_inferiority_p"])]
    if "segment" in rows:
        rows = rows[rows["segment"].isna()]
    table = rows.pivot_table(index=["outcome", "model"], columns="metric", values="value", sort=False)
    return table.reindex(columns=[c for c in ("lift", "ci_low", "ci_high", "p_value", "p_adjusted",
                                              "non_inferiority_p") if c in table.columns]).round(4)


def validation_table(result: StudyResult) -> pd.DataFrame:
    """The methods on simulated tests: measured figure beside what it should be."""
    config = result.config
    assert isinstance(config, Config)
    entries = [("A/A false-positive rate, naive peeking", _value(result, "naive_peeking", "aa_false_positive_rate"),
                config.alpha),
               ("A/A false-positive rate, sequential", _value(result, "sequential", "aa_false_positive_rate"),
                config.alpha),
               ("A/A false-positive rate, one look at the end", _value(result, "fixed_horizon",
                                                                      "aa_false_positive_rate"), config.alpha),
               ("power, fixed horizon", _value(result, "power_design", "power"),
                _value(result, "power_design", "nominal_power")),
               ("power, sequential", _value(result, "sequential", "power"),
                _value(result, "power_design", "nominal_power")),
               ("CUPED variance reduction", _value(result, "cuped", "variance_reduction"),
                _value(result, "cuped", "variance_reduction_theory"))]
    table = pd.DataFrame(entries, columns=["check", "measured", "expected"]).set_index("check")
    table["over"] = f"{config.n_replicates:,} simulated tests"
    return table.dropna(subset=["measured"]).round(4)


def segment_table(result: StudyResult) -> pd.DataFrame:
    """The primary metric's lift per segment with raw and BH-adjusted p-values."""
    segments = result.artefacts["segments"]
    return segments.set_index("segment")[["n", "lift", "ci_low", "ci_high", "p_value", "p_adjusted"]].round(4) \
        if len(segments) else segments


def verdict(result: StudyResult) -> str:
    """The answer in Markdown: trust in the assignment, the lift, the guardrail, and what the methods are worth."""
    config, art = result.config, result.artefacts
    assert isinstance(config, Config)
    data, design = art["data"], art["design"]
    primary = data.primary
    srm_p = float(result.results.query("model == 'srm' and metric == 'p_value'")["value"].iloc[0])
    lines = [f"- **Assignment:** sample-ratio p-value {srm_p:.3g}: "
             + ("the split matches the design." if srm_p >= 0.001 else
                "**the split does not match the design**: find the broken assignment or logging before "
                "reading anything else.")]
    lift, low, high = (_value(result, "cuped", m) for m in ("lift", "ci_low", "ci_high"))
    p_adj = _value(result, "cuped", "p_adjusted")
    call = "a real effect" if p_adj < config.alpha else "not distinguishable from no effect"
    truth = (f" (the true effect is {data.true_lift:+.4f})" if data.true_lift is not None else "")
    lines.append(f"- **{primary}:** CUPED lift {lift:+.4f} [{low:+.4f}, {high:+.4f}]{truth}, Holm-adjusted p "
                 f"{p_adj:.3g}: {call}.")
    if data.guardrail is not None and not np.isnan(_value(result, "guardrail", "lift", str(data.guardrail.name))):
        name = str(data.guardrail.name)
        g_lift, g_high = _value(result, "guardrail", "lift", name), _value(result, "guardrail", "upper_bound", name)
        holds = _value(result, "guardrail", "non_inferiority_p", name) < config.alpha
        lines.append(f"- **Guardrail `{name}`:** {g_lift:+.4f} (one-sided {1 - config.alpha:.0%} upper bound "
                     f"{g_high:+.4f}, margin "
                     f"{config.guardrail_margin:+.3f}): " + ("it holds." if holds else
                                                               "**not shown to hold**: the test cannot rule out "
                                                               "a rise beyond the margin."))
    stop, naive = art["stopping_look"], art["naive_look"]
    lines.append(f"- **Monitoring:** watched at {config.n_looks} looks, the sequential design "
                 + (f"stops at look {stop}" if stop else "never crosses its boundary")
                 + (f"; a naive peeker would have called it at look {naive}." if naive else "; a naive peeker "
                                                                                            "would not call it."))
    fpr_naive, fpr_seq = _value(result, "naive_peeking", "aa_false_positive_rate"), \
        _value(result, "sequential", "aa_false_positive_rate")
    lines.append(f"- **Peeking:** over {config.n_replicates:,} A/A tests, stopping at the first look with p < "
                 f"{config.alpha} calls {fpr_naive:.1%} of them, the sequential design {fpr_seq:.1%} "
                 f"(nominal {config.alpha:.0%}). Watch tests with the boundaries, or read them once at the end.")
    lines.append(f"- **Design:** {design['n_per_arm']:,} users per arm detect {design['lift']:+.4f} on a "
                 f"{design['baseline']:.4f} baseline with nominal power {design['nominal_power']:.2f}; simulated "
                 f"power {_value(result, 'power_design', 'power'):.2f}.")
    reduction = _value(result, "cuped", "variance_reduction")
    if not np.isnan(reduction):
        lines.append(f"- **CUPED** removes {reduction:.1%} of the lift's variance (theory "
                     f"{_value(result, 'cuped', 'variance_reduction_theory'):.1%}): the same precision with "
                     f"{reduction:.0%} fewer users.")
    lines.append(f"\nRun time {result.runtime_seconds:.0f} s.")
    return "\n".join(lines)


__all__ = ["MIN_ARM_ROWS", "WORLD_COVARIATES", "Config", "TestData", "check", "data_summary", "read_out",
           "read_out_table", "run", "segment_table", "table_test", "validate_methods", "validation_table",
           "verdict", "world_test"]
