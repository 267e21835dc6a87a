"""The two classic ways to target a funnel with one independent model per stage.

* ``MultiStageSelector``: one model per stage on the marginal label ("reached this stage"); the
  audience is the users who pass a score threshold at *every* stage (thresholds intersected).
* ``CascadeSelector``: one model per stage on the conditional label ("passed this stage, given the
  previous one"), trained on the users who reached the previous stage; the scores are fused by
  multiplying the conditionals into P(drawdown), and the audience is selected once on it.

Each stage model is a scikit-learn gradient boosting classifier or an MLP (``learner``, built by
``stage_classifier``), fitted with ``n_threads`` OpenMP/BLAS threads (one is fastest on a shared machine).
"""
from __future__ import annotations

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.neural_network import MLPClassifier
from sklearn.utils.validation import check_is_fitted

from lab.core import limit_threads
from lab.data import STAGES
from lab.multitask.features import FunnelData

LEARNERS = ("gbm", "mlp")


def stage_classifier(learner: str, random_state: int = 0) -> HistGradientBoostingClassifier | MLPClassifier:
    """The binary classifier of one funnel stage: ``gbm`` (histogram gradient boosting) or ``mlp``."""
    if learner == "gbm":
        return HistGradientBoostingClassifier(max_iter=150, learning_rate=0.08, max_leaf_nodes=15,
                                              min_samples_leaf=40, l2_regularization=1.0,
                                              early_stopping=True, validation_fraction=0.15,
                                              n_iter_no_change=15, random_state=random_state)
    if learner == "mlp":
        return MLPClassifier(hidden_layer_sizes=(32,), alpha=1e-3, learning_rate_init=3e-3, batch_size="auto",
                             max_iter=60, early_stopping=True, n_iter_no_change=6, random_state=random_state)
    raise ValueError(f"learner must be one of {LEARNERS}, got {learner!r}")


class _PerStage(BaseEstimator):
    """Fits one binary model per stage; a stage with a single class gets a constant score."""

    conditional = False

    def __init__(self, learner: str = "gbm", n_threads: int = 1, random_state: int = 0):
        self.learner = learner
        self.n_threads = n_threads
        self.random_state = random_state

    def fit(self, X: FunnelData, y: np.ndarray | None = None) -> _PerStage:
        """Fit the per-stage models on ``X.tabular`` (labels from ``X`` unless ``y`` [n, 5] is given)."""
        if self.learner not in LEARNERS:
            raise ValueError(f"learner must be one of {LEARNERS}, got {self.learner!r}")
        with limit_threads(self.n_threads):
            return self._fit(X, y)

    def _fit(self, X: FunnelData, y: np.ndarray | None) -> _PerStage:
        features = X.tabular
        labels = np.asarray(X.labels if y is None else y)
        if labels.shape != (len(features), len(STAGES)):
            raise ValueError(f"y must have shape ({len(features)}, {len(STAGES)}), got {labels.shape}")
        self.models_: list[float | HistGradientBoostingClassifier | MLPClassifier] = []
        for s in range(len(STAGES)):
            rows = labels[:, s - 1] == 1 if (self.conditional and s > 0) else np.ones(len(labels), bool)
            target = labels[rows, s]
            if len(np.unique(target)) < 2:
                self.models_.append(float(target.mean()) if len(target) else 0.0)
            else:
                self.models_.append(stage_classifier(self.learner, self.random_state).fit(features[rows], target))
        return self

    def stage_scores(self, X: FunnelData) -> np.ndarray:
        """Each stage model's probability, shape [len(X), 5]."""
        check_is_fitted(self, "models_")
        features = X.tabular
        with limit_threads(self.n_threads):
            return np.column_stack([np.full(len(features), m) if isinstance(m, float)
                                    else m.predict_proba(features)[:, 1] for m in self.models_])


class MultiStageSelector(_PerStage):
    """Independent marginal models per stage; audience = intersection of per-stage thresholds."""

    def predict_proba(self, X: FunnelData) -> np.ndarray:
        """Each stage's own marginal probability; nothing keeps them in funnel order."""
        return self.stage_scores(X)

    def select(self, X: FunnelData, k: int) -> np.ndarray:
        """The users above the same score quantile at every stage, at the strictest quantile that still
        leaves ``k`` of them; ties at that quantile are broken by the final-stage score."""
        scores = self.predict_proba(X)
        ranks = scores.argsort(axis=0).argsort(axis=0) / max(len(scores) - 1, 1)  # per-stage percentile
        worst_rank = ranks.min(axis=1)  # a user passes threshold q at every stage iff worst_rank >= q
        return np.lexsort((-scores[:, -1], -worst_rank))[:k]


class CascadeSelector(_PerStage):
    """Conditional models per stage, fused into P(stage) by multiplication; audience = top-k P(drawdown)."""

    conditional = True

    def predict_proba(self, X: FunnelData) -> np.ndarray:
        """P(reaching each stage): the product of the conditionals up to it, [len(X), 5]."""
        return np.cumprod(self.stage_scores(X), axis=1)

    def select(self, X: FunnelData, k: int) -> np.ndarray:
        """Positions (into ``X``) of the ``k`` users with the highest P(drawdown)."""
        return np.argsort(-self.predict_proba(X)[:, -1], kind="stable")[:k]
