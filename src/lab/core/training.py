"""One early-stopping rule for every torch training loop in the workbench."""
from __future__ import annotations

import copy

import numpy as np
from torch import nn


class EarlyStopping:
    """Keep the best state of ``module`` by validation loss; say when ``patience`` epochs brought no gain.

    The best state starts as the initial weights, so a run that never improves restores them. Use::

        stopper = EarlyStopping(network, patience=20)
        for epoch in range(max_epochs):
            ...train one epoch...
            if stopper.update(validation_loss):
                break
        stopper.restore()
    """

    def __init__(self, module: nn.Module, patience: int, min_delta: float = 1e-5):
        if patience < 1:
            raise ValueError(f"patience must be at least 1, got {patience}")
        self.module = module
        self.patience = patience
        self.min_delta = min_delta
        self.best_loss = np.inf
        self.best_epoch = -1
        self.history: list[float] = []
        self._best_state = copy.deepcopy(module.state_dict())

    def update(self, validation_loss: float) -> bool:
        """Record one epoch's validation loss; True when training should stop."""
        loss = float(validation_loss)
        self.history.append(loss)
        if loss < self.best_loss - self.min_delta:
            self.best_loss, self.best_epoch = loss, len(self.history) - 1
            self._best_state = copy.deepcopy(self.module.state_dict())
            return False
        return len(self.history) - 1 - self.best_epoch >= self.patience

    def restore(self) -> nn.Module:
        """Load the best state into the module, switch it to eval mode and return it."""
        self.module.load_state_dict(self._best_state)
        return self.module.eval()
