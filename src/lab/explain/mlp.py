"""The default deep model LICE explains: a tabular MLP whose hidden layers have names.

``TorchMLPClassifier`` is a scikit-learn classifier (so PDP/ICE, permutation importance and cloning work)
wrapping a torch ``nn.Sequential`` named ``input`` (standardisation), ``hidden1`` ... ``hiddenL``
(Linear + ReLU blocks) and ``output``. ``module_`` maps raw features to logits on its own, so LICE,
SHAP and counterfactual search can treat it as any other torch model.
"""
from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence

import numpy as np
import torch
from scipy.special import expit, softmax
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, validate_data
from torch import nn
from tqdm.auto import trange


class Standardize(nn.Module):
    """``(x - mean) / scale`` with the training statistics stored as buffers. x: ``[n, d] -> [n, d]``."""

    mean: torch.Tensor
    scale: torch.Tensor

    def __init__(self, mean: np.ndarray, scale: np.ndarray) -> None:
        super().__init__()
        self.register_buffer("mean", torch.as_tensor(mean, dtype=torch.float32))
        self.register_buffer("scale", torch.as_tensor(scale, dtype=torch.float32))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.mean) / self.scale


def make_mlp(mean: np.ndarray, scale: np.ndarray, hidden: tuple[int, ...], n_outputs: int) -> nn.Sequential:
    """``[n, d] -> [n, n_outputs]`` logits, with layers ``input``, ``hidden1..L``, ``output``."""
    layers: OrderedDict[str, nn.Module] = OrderedDict(input=Standardize(mean, scale))
    width = len(mean)
    for i, h in enumerate(hidden, start=1):
        layers[f"hidden{i}"] = nn.Sequential(nn.Linear(width, h), nn.ReLU())
        width = h
    layers["output"] = nn.Linear(width, n_outputs)
    return nn.Sequential(layers)


class TorchMLPClassifier(ClassifierMixin, BaseEstimator):
    """A tabular MLP trained with Adam on cross-entropy for a fixed number of epochs; binary targets get a
    single logit. ``random_state`` seeds the initial weights and the batch order (never torch's global RNG)."""

    def __init__(self, hidden: Sequence[int] = (32, 16, 8), epochs: int = 40, lr: float = 3e-3,
                 batch_size: int = 256, weight_decay: float = 1e-4, random_state: int = 0,
                 progress: bool = False) -> None:
        self.hidden = hidden
        self.epochs = epochs
        self.lr = lr
        self.batch_size = batch_size
        self.weight_decay = weight_decay
        self.random_state = random_state
        self.progress = progress

    def fit(self, X, y) -> TorchMLPClassifier:
        """Train on features ``X`` ``[n, d]`` and class labels ``y`` ``[n]``."""
        x, y = validate_data(self, X, y, dtype=np.float32)
        check_classification_targets(y)
        self.classes_, codes = np.unique(y, return_inverse=True)
        if len(self.classes_) < 2:
            raise ValueError(f"the target has only one class {self.classes_.tolist()}; nothing to learn")
        binary = len(self.classes_) == 2
        scale = x.std(axis=0)
        with torch.random.fork_rng(devices=[]):  # seeded initial weights, torch's global RNG left as it was
            torch.manual_seed(self.random_state)
            self.module_ = make_mlp(x.mean(axis=0), np.where(scale > 0, scale, 1.0), tuple(self.hidden),
                                    1 if binary else len(self.classes_))
        xt = torch.from_numpy(x)
        yt = torch.as_tensor(codes, dtype=torch.float32 if binary else torch.long)
        loss_fn = nn.BCEWithLogitsLoss() if binary else nn.CrossEntropyLoss()
        optim = torch.optim.Adam(self.module_.parameters(), lr=self.lr, weight_decay=self.weight_decay)
        generator = torch.Generator().manual_seed(self.random_state)
        self.module_.train()
        for _ in trange(self.epochs, desc="train MLP", disable=not self.progress):
            for batch in torch.randperm(len(xt), generator=generator).split(self.batch_size):
                logits = self.module_(xt[batch])
                loss = loss_fn(logits.squeeze(1) if binary else logits, yt[batch])
                optim.zero_grad()
                loss.backward()
                optim.step()
        self.module_.eval()
        return self

    @property
    def layer_names_(self) -> list[str]:
        """Names of the hidden layers, the ones LICE reads embeddings from."""
        return [f"hidden{i}" for i in range(1, len(self.hidden) + 1)]

    def decision_function(self, X) -> np.ndarray:
        """Logits: ``[n]`` for a binary target, ``[n, n_classes]`` otherwise."""
        check_is_fitted(self)
        x = validate_data(self, X, reset=False, dtype=np.float32)
        with torch.no_grad():
            logits = self.module_(torch.from_numpy(x)).numpy()
        return logits[:, 0] if logits.shape[1] == 1 else logits

    def predict_proba(self, X) -> np.ndarray:
        """Class probabilities ``[n, n_classes]``, columns in the order of ``classes_``."""
        check_is_fitted(self)
        logits = self.decision_function(X)
        if logits.ndim == 1:
            p = expit(logits)
            return np.stack([1 - p, p], axis=1)
        return softmax(logits, axis=1)

    def predict(self, X) -> np.ndarray:
        """The most probable class of each row."""
        check_is_fitted(self)
        return self.classes_[self.predict_proba(X).argmax(axis=1)]
