"""The multilayer perceptron that outputs the logit of P(MC)."""

from __future__ import annotations

import torch
from torch import nn


class MLP(nn.Module):
    """Fully connected network with ReLU hidden layers and one logit output.

    Parameters
    ----------
    n_inputs : int
        Number of (standardised) input features.
    hidden : tuple of int
        Hidden layer widths. Our default (64, 64, 32) is an assumption; the papers use an
        MLP without fixing a size we could mirror.
    """

    def __init__(self, n_inputs: int, hidden: tuple[int, ...]) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        width = n_inputs
        for h in hidden:
            layers += [nn.Linear(width, h), nn.ReLU()]
            width = h
        layers.append(nn.Linear(width, 1))
        self.net = nn.Sequential(*layers)
        self.n_inputs = n_inputs
        self.hidden = tuple(hidden)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits of P(MC), shape (n,), for inputs of shape (n, n_inputs)."""
        return self.net(x).squeeze(-1)
