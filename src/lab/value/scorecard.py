"""A credit scorecard the way credit teams build one: monotone weight-of-evidence (WoE) binning of each
feature (``optbinning``), a logistic regression on the WoE values, and points scaled so that every
``pdo`` points double the odds of repaying.

Defaults are observed only for the loans the lender approved (and the customer drew): a scorecard
trained on them alone learns the accepted population, and its WoE bins stop at the accepted range, so
every rejected applicant beyond it gets the flat score of the last bin. Reject inference brings the
applicants without performance (``y == -1``, scikit-learn's mark of an unlabelled row) back in:

* ``augmentation`` weights each labelled loan by the inverse of its probability of being labelled
  (a logistic regression of labelled vs not on every applicant), so the trained population looks like
  the through-the-door one;
* ``parcelling`` scores the unlabelled applicants with an accepted-only logistic regression on the raw
  (standardised) features, which extends the log-odds beyond the accepted range instead of flattening
  them, groups them into ``n_bands`` score bands of the labelled loans, and gives each one the band's
  observed default rate times ``parcel_factor`` (unlabelled applicants in a band default more often than
  the accepted ones: the industry's rule of thumb is 2-3x); each enters twice, as a default and as a
  non-default weighted by that rate, and the scorecard is refitted on everybody.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
from optbinning import BinningProcess
from optbinning import Scorecard as OptScorecard
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.linear_model import LogisticRegression
from sklearn.utils.validation import check_is_fitted

REJECT_INFERENCE = ("none", "augmentation", "parcelling")
UNLABELLED = -1


def _standardise(X: pd.DataFrame, reference: pd.DataFrame) -> np.ndarray:
    scale = reference.std().replace(0.0, 1.0)
    return ((X - reference.mean()) / scale).to_numpy(np.float64)


class WoEScorecard(ClassifierMixin, BaseEstimator):
    """Monotone WoE binning + logistic scorecard with points, with optional reject inference.

    Parameters
    ----------
    reject_inference : ``none``, ``augmentation`` or ``parcelling`` (module docstring).
    parcel_factor : how many times the labelled default rate of its band an unlabelled applicant gets.
    n_bands : score bands of the parcelling.
    max_n_prebins : pre-bins of the optimal binning of each feature.
    pdo, base_points, base_odds : points scaling: ``base_points`` at odds (good:bad) ``base_odds``, and
        ``pdo`` more points for twice the odds.
    max_weight : cap of the augmentation's inverse-probability weights.
    random_state : unused by the fit (it is deterministic), kept for the workbench's contract.

    ``fit(X, y)``: ``X`` a numeric DataFrame, ``y`` 1 = defaulted, 0 = repaid, -1 = no performance
    (rejected or not drawn), used only by reject inference.

    Attributes
    ----------
    scorecard_ : the fitted ``optbinning.Scorecard``; ``features_`` the columns; ``classes_`` [0, 1].
    """

    def __init__(self, reject_inference: str = "none", parcel_factor: float = 2.0, n_bands: int = 20,
                 max_n_prebins: int = 20, pdo: float = 20.0, base_points: float = 600.0, base_odds: float = 50.0,
                 max_weight: float = 50.0, random_state: int = 0):
        self.reject_inference = reject_inference
        self.parcel_factor = parcel_factor
        self.n_bands = n_bands
        self.max_n_prebins = max_n_prebins
        self.pdo = pdo
        self.base_points = base_points
        self.base_odds = base_odds
        self.max_weight = max_weight
        self.random_state = random_state

    def _new_scorecard(self, features: list[str]) -> OptScorecard:
        binning = BinningProcess(features, max_n_prebins=self.max_n_prebins,
                                 binning_fit_params={f: {"monotonic_trend": "auto_asc_desc"} for f in features})
        return OptScorecard(binning, LogisticRegression(max_iter=1000), scaling_method="pdo_odds",
                            scaling_method_params={"pdo": self.pdo, "odds": self.base_odds,
                                                   "scorecard_points": self.base_points})

    def fit(self, X: pd.DataFrame, y: np.ndarray) -> WoEScorecard:
        if self.reject_inference not in REJECT_INFERENCE:
            raise ValueError(f"reject_inference must be one of {REJECT_INFERENCE}, got {self.reject_inference!r}")
        X = pd.DataFrame(X).reset_index(drop=True).astype(np.float64)
        X.columns = [str(c) for c in X.columns]
        y = np.asarray(y, dtype=np.int64)
        labelled = y != UNLABELLED
        if len(np.unique(y[labelled])) < 2:
            raise ValueError("WoEScorecard needs defaults and repaid loans among the labelled rows")
        self.features_ = list(X.columns)
        self.classes_ = np.array([0, 1])
        rows, targets, weights = X[labelled], y[labelled], np.ones(int(labelled.sum()))
        if self.reject_inference == "augmentation":
            Z = _standardise(X, X)
            p_labelled = LogisticRegression(max_iter=2000).fit(Z, labelled).predict_proba(Z[labelled])[:, 1]
            weights = np.minimum(1.0 / p_labelled, self.max_weight)
            weights *= len(weights) / weights.sum()
        elif self.reject_inference == "parcelling" and (~labelled).any():
            reference = X[labelled]
            scorer = LogisticRegression(max_iter=2000).fit(_standardise(reference, reference), targets)
            score = scorer.predict_proba(_standardise(X, reference))[:, 1]
            edges = np.unique(np.quantile(score[labelled], np.linspace(0, 1, self.n_bands + 1)))
            band = np.clip(np.searchsorted(edges, score, side="right") - 1, 0, max(len(edges) - 2, 0))
            rate = pd.Series(targets).groupby(band[labelled]).mean()
            inferred = rate.reindex(band[~labelled]).fillna(float(targets.mean())).to_numpy()
            inferred = np.clip(self.parcel_factor * inferred, 0.0, 1.0)
            unlabelled = X[~labelled]
            rows = pd.concat([rows, unlabelled, unlabelled], ignore_index=True)
            targets = np.r_[targets, np.ones(len(unlabelled), np.int64), np.zeros(len(unlabelled), np.int64)]
            weights = np.r_[weights, inferred, 1.0 - inferred]
        self.scorecard_ = self._new_scorecard(self.features_).fit(rows.reset_index(drop=True), targets,
                                                                 sample_weight=weights)
        return self

    def _frame(self, X: pd.DataFrame) -> pd.DataFrame:
        X = pd.DataFrame(X).reset_index(drop=True).astype(np.float64)
        X.columns = [str(c) for c in X.columns]
        return X[self.features_]

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        """``[P(repaid), P(default)]`` per row."""
        check_is_fitted(self)
        return self.scorecard_.predict_proba(self._frame(X))

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        return (self.predict_proba(X)[:, 1] >= 0.5).astype(np.int64)

    def points(self, X: pd.DataFrame) -> np.ndarray:
        """Scorecard points per row (more points, less risk)."""
        check_is_fitted(self)
        return np.asarray(self.scorecard_.score(self._frame(X)), dtype=np.float64)

    def table(self) -> pd.DataFrame:
        """The scorecard: per feature and bin, its WoE and points."""
        check_is_fitted(self)
        table = self.scorecard_.table(style="detailed")
        return table[["Variable", "Bin", "Count", "Event rate", "WoE", "Points"]].rename(columns=str.lower)
