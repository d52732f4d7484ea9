"""Shared building blocks."""

from __future__ import annotations

from collections.abc import Sequence

from torch import nn

from .core.validation import choice

ACTIVATIONS = {"relu": nn.ReLU, "gelu": nn.GELU, "silu": nn.SiLU, "tanh": nn.Tanh, "elu": nn.ELU}


class MLP(nn.Sequential):
    """Linear layers with an activation between them (none after the last).

    Args:
        in_dim: input features.
        hidden: sizes of the hidden layers (empty for a single linear map).
        out_dim: output features.
        activation: one of ACTIVATIONS.
    """

    def __init__(self, in_dim: int, hidden: Sequence[int], out_dim: int, activation: str = "relu"):
        choice(activation, "activation", ACTIVATIONS)
        sizes = [in_dim, *hidden, out_dim]
        layers: list[nn.Module] = []
        for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
            layers.append(nn.Linear(a, b))
            if i < len(sizes) - 2:
                layers.append(ACTIVATIONS[activation]())
        super().__init__(*layers)
