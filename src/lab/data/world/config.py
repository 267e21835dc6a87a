"""The world's vocabulary (segments, stages, offers, products), its knobs (``WorldConfig``) and the
``World`` container of observed and oracle tables."""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

SEGMENTS = ("young_digital", "prime_borrower", "affluent_saver", "thin_file", "credit_seeker")
STAGES = ("exposure", "click", "apply", "approve", "drawdown")
OFFERS = ("none", "coupon", "rate_discount", "sms")
OFFER_COST = {"none": 0.0, "coupon": 20.0, "rate_discount": 45.0, "sms": 0.5}
CHANNELS = ("app_push", "sms", "email", "partner", "referral")
PRODUCTS = pd.DataFrame(
    {
        "product_id": np.arange(6, dtype=np.int16),
        "name": ["personal_loan", "cash_loan", "basic_card", "premium_card", "wealth_fund", "term_deposit"],
        "kind": ["loan", "loan", "card", "card", "wealth", "wealth"],
        "avg_ticket": [8000.0, 1500.0, 900.0, 3500.0, 12000.0, 20000.0],
        "approval_strictness": [0.6, 0.3, 0.4, 0.8, 0.1, 0.0],
    }
)
FEATURED_PRODUCT = 0  # the lookalike target is "would take a personal loan in the current regime"
TASTE_DIM = 8



@dataclass
class WorldConfig:
    """Knobs of the simulated world. Defaults run in about a second."""

    n_users: int = 5000
    n_days: int = 30
    seed: int = 0
    shift_days: tuple[int, ...] = (20,)
    interactions_per_user_day: float = 0.25
    edges_per_user_day: float = 0.04
    assignment: str = "randomised"
    confounding: float = 1.0
    seed_fraction: float = 0.3
    offer_shares: tuple[float, ...] = (0.4, 0.2, 0.2, 0.2)
    default_rate: float = 0.08      # mean true 12-month PD of the population (through the door)
    price_risk: float = 1.0         # how much price sensitivity raises the PD: the users a discount wins are riskier
    approval_cutoff: float = 640.0  # the lender approves applicants whose scorecard reaches it
    n_months: int = 12              # lifecycle months after the campaign
    churn_hazard: float = 0.03      # monthly churn hazard of an average customer without any action
    clv_rollouts: int = 16          # lives per customer behind the true lifetime value (its standard error)
    cold_start_share: float = 0.3   # share of the users who sign up during the window
    activity_tail: float = 1.2      # spread of the lognormal factor on each user's activity (a heavy tail)
    tie_noise: float = 0.2          # share of edges that are noise ties between random users
    peer_effect: float = 0.8        # rise of the apply and lookalike-target logits per log(1 + strong neighbours
                                    # who converted / would take the featured product)
    pricing_day: int | None = None  # day of the regional pricing change (None: the middle of the window)
    pricing_regions: tuple[int, ...] = (0, 1)
    pricing_effect: float = 0.6     # rise of the featured loan's affinity in the priced regions
    encouragement_effect: float = 0.8  # rise of the apply logit for users who engage during the campaign

    def __post_init__(self) -> None:
        if self.assignment not in ("randomised", "targeted"):
            raise ValueError(f"assignment must be 'randomised' or 'targeted', got {self.assignment!r}")
        if self.n_users < 50 or self.n_days < 2:
            raise ValueError("the world needs at least 50 users and 2 days")
        if any(not 0 < d < self.n_days for d in self.shift_days):
            raise ValueError(f"shift_days {self.shift_days} must lie strictly inside 0..{self.n_days - 1}")
        if len(self.offer_shares) != len(OFFERS) or not np.isclose(sum(self.offer_shares), 1.0):
            raise ValueError(f"offer_shares needs {len(OFFERS)} shares summing to 1")
        for name in ("cold_start_share", "tie_noise"):
            if not 0 <= getattr(self, name) < 1:
                raise ValueError(f"{name} must lie in [0, 1), got {getattr(self, name)}")
        if self.activity_tail < 0 or self.peer_effect < 0:
            raise ValueError(f"activity_tail and peer_effect must not be negative, got {self.activity_tail} and "
                             f"{self.peer_effect}")
        for name in ("default_rate", "churn_hazard"):
            if not 0 < getattr(self, name) < 1:
                raise ValueError(f"{name} must lie in (0, 1), got {getattr(self, name)}")
        if self.n_months < 1 or self.clv_rollouts < 2:
            raise ValueError(f"n_months must be at least 1 and clv_rollouts at least 2, got {self.n_months} and "
                             f"{self.clv_rollouts}")
        self.pricing_day = self.n_days // 2 if self.pricing_day is None else int(self.pricing_day)
        if not 0 < self.pricing_day < self.n_days:
            raise ValueError(f"pricing_day must lie strictly inside 0..{self.n_days - 1}, got {self.pricing_day}")
        self.pricing_regions = tuple(int(r) for r in self.pricing_regions)
        self.shift_days = tuple(sorted(int(d) for d in self.shift_days))
        self.offer_shares = tuple(float(share) for share in self.offer_shares)
        self.n_users, self.n_days, self.seed = int(self.n_users), int(self.n_days), int(self.seed)


@dataclass
class World:
    """Observed tables (what a model may see) and oracle tables (the ground truth).

    ``config`` is None and ``oracle`` empty for a researcher's own data loaded from disk.
    """

    config: WorldConfig | None
    observed: dict[str, pd.DataFrame] = field(default_factory=dict)
    oracle: dict[str, pd.DataFrame] = field(default_factory=dict)

    def __getattr__(self, name: str) -> pd.DataFrame:
        observed = self.__dict__.get("observed", {})
        if name in observed:
            return observed[name]
        raise AttributeError(name)

    @property
    def shift_days(self) -> tuple[int, ...]:
        """Days on which the market regime shifts; unknown (empty) for a researcher's own tables."""
        return self.config.shift_days if self.config is not None else ()

    def save(self, path: str | Path) -> Path:
        """Write observed tables to ``path/``, oracle tables to ``path/oracle/`` as parquet, and the
        simulation's knobs to ``path/oracle/config.json`` so that a reloaded world knows its shift days."""
        root = Path(path)
        (root / "oracle").mkdir(parents=True, exist_ok=True)
        if self.config is not None:
            (root / "oracle" / "config.json").write_text(json.dumps(asdict(self.config), indent=1))
        for name, table in self.observed.items():
            table.to_parquet(root / f"{name}.parquet", index=False)
        for name, table in self.oracle.items():
            table.to_parquet(root / "oracle" / f"{name}.parquet", index=False)
        return root


def regime_of_day(days: np.ndarray, shift_days: tuple[int, ...]) -> np.ndarray:
    """Regime index of each day: 0 before the first shift, 1 after it, and so on."""
    return np.searchsorted(np.asarray(shift_days), np.asarray(days), side="right").astype(np.int8)
