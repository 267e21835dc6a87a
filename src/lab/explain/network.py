"""Reading a torch model: the module behind an estimator, its logits and hidden-layer outputs, its decision.

LICE, the toolkit and the figures all look at a model through these few functions, so none of them
imports another to reach a network.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import torch
from scipy.special import expit, softmax
from torch import nn


def as_array(X: pd.DataFrame | np.ndarray) -> np.ndarray:
    """Features as a writable float32 ``[n, d]`` array (DataFrames keep their column order; torch refuses
    read-only memory, which is what pandas hands out)."""
    return np.require(X.to_numpy() if isinstance(X, pd.DataFrame) else X, dtype=np.float32, requirements="W")


def torch_module(model: object) -> nn.Module:
    """The ``nn.Module`` behind ``model`` (itself, or an estimator's ``module_``)."""
    module = getattr(model, "module_", model)
    if not isinstance(module, nn.Module):
        raise TypeError(f"a torch nn.Module or an estimator with module_ is needed, got {type(model).__name__}")
    return module


def layer_outputs(model: object, X: pd.DataFrame | np.ndarray, layers: list[str],
                  batch_size: int = 8192) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Model logits and each named layer's output (flattened to ``[n, width]``) via forward hooks."""
    module = torch_module(model)
    named = dict(module.named_modules())
    unknown = [name for name in layers if name not in named]
    if unknown:
        raise KeyError(f"layer(s) {unknown} not in the model; named modules are {[n for n in named if n]}")
    captured: dict[str, list[torch.Tensor]] = {name: [] for name in layers}

    def hook(name: str):
        def save(_module, _inputs, output):
            output = output[0] if isinstance(output, (tuple, list)) else output
            captured[name].append(output.detach().reshape(len(output), -1))
        return save

    handles = [named[name].register_forward_hook(hook(name)) for name in layers]
    x = torch.from_numpy(as_array(X))
    try:
        with torch.no_grad():
            logits = torch.cat([module(batch) for batch in x.split(batch_size)])
    finally:
        for handle in handles:
            handle.remove()
    return logits.numpy(), {name: torch.cat(parts).numpy() for name, parts in captured.items()}


def decide(logits: np.ndarray, threshold: float) -> np.ndarray:
    """The model's decision: probability >= threshold for a binary logit, argmax otherwise."""
    if logits.ndim == 2 and logits.shape[1] > 1:
        return logits.argmax(axis=1)
    return (expit(logits.reshape(-1)) >= threshold).astype(int)


def positive_probability(model: object, X: pd.DataFrame | np.ndarray) -> np.ndarray:
    """The model's probability of a positive decision (largest class probability if multi-class)."""
    logits, _ = layer_outputs(model, X, [])
    if logits.ndim == 2 and logits.shape[1] > 1:
        return softmax(logits, axis=1).max(axis=1)
    return expit(logits.reshape(-1))
