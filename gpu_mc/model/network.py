"""Classifier networks that output the logit of P(MC), and their fast CPU forward pass.

Every architecture subclasses :class:`Classifier`: it is built from the number of inputs and
a JSON-able settings dict (what a checkpoint stores), reports those settings, and gives a
CPU forward pass (:meth:`Classifier.cpu_forward`). Architectures are found by name through
:mod:`gpu_mc.model.registry`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any, ClassVar

import torch
from torch import nn

from gpu_mc.errors import ConfigError

#: Stars per tile of the CPU forward pass: a tile's activations (at most 64 floats per star)
#: stay in the L2 cache between layers.
CPU_TILE = 8192

#: A CPU forward pass: writes P(MC) of the rows of x (float32, (n, k)) into out ((n,)).
CpuForward = Callable[[torch.Tensor, torch.Tensor], None]


def padded_tiles(
    x: torch.Tensor, tile: int, padded: torch.Tensor
) -> Iterator[tuple[int, int, torch.Tensor]]:
    """The rows of ``x`` in tiles of ``tile``: yields (first row, rows, block of ``tile`` rows).

    A short last tile is copied into ``padded`` ((tile, k), reused) so that every block has
    the full size and every star goes through the same kernels wherever it sits.
    """
    for s in range(0, x.shape[0], tile):
        h = x[s : s + tile]
        m = h.shape[0]
        if m < tile:
            padded[:m] = h
            h = padded
        yield s, m, h


class TiledForward:
    """P(MC) through a stack of linear layers with ReLU between them, tile by tile.

    Each tile runs ``addmm`` into a preallocated buffer per layer, ReLU and the logistic
    function in place, so the pass allocates nothing per tile and no activation leaves the
    cache. A short last tile is padded to the full tile, so every star goes through the same
    kernels whatever its position: a star's score depends on its own inputs only, not on the
    batch, partition or thread count it was scored with (bit for bit). The scores equal
    ``torch.sigmoid(net(x))`` to float32 rounding.

    Parameters
    ----------
    linears : sequence of nn.Linear
        The layers in order; the last has one output (the logit).
    tile : int
        Stars per tile.
    """

    def __init__(self, linears: Sequence[nn.Linear], tile: int = CPU_TILE) -> None:
        self.tile = tile
        self.padded = torch.zeros(tile, linears[0].in_features)
        self.layers = [
            (m.weight.detach().t(), m.bias.detach(), torch.empty(tile, m.out_features))
            for m in linears
        ]

    def __call__(self, x: torch.Tensor, out: torch.Tensor) -> None:
        """Write P(MC) of the rows of ``x`` (float32, (n, n_inputs)) into ``out`` ((n,))."""
        last = len(self.layers) - 1
        for s, m, h in padded_tiles(x, self.tile, self.padded):
            for layer, (w_t, b, buf) in enumerate(self.layers):
                h = torch.addmm(b, h, w_t, out=buf)
                if layer < last:
                    h.relu_()
            h.sigmoid_()
            out[s : s + m] = h[:m, 0]


class Classifier(nn.Module):
    """Interface of every architecture: logits of P(MC) from standardised features.

    Subclasses set :attr:`architecture` (the registry name), build themselves from
    ``(n_inputs, settings)``, and implement :meth:`forward`, :meth:`settings` and
    :meth:`cpu_forward`.
    """

    #: Registry name written into checkpoints.
    architecture: ClassVar[str]

    n_inputs: int

    @classmethod
    def settings_from_config(cls, train_cfg: Any) -> dict[str, Any]:
        """The architecture's settings from a :class:`~gpu_mc.config.TrainConfig`."""
        return {}

    @classmethod
    def check_settings(cls, settings: Mapping[str, Any], where: str) -> dict[str, Any]:
        """Validate settings read from a checkpoint or config; return them normalised.

        Raises
        ------
        ConfigError
            Naming ``where`` and the bad key.
        """
        if dict(settings):
            raise ConfigError(f"{where}: {cls.architecture} takes no settings, got {settings!r}")
        return {}

    def settings(self) -> dict[str, Any]:
        """JSON-able settings that rebuild this network's shape."""
        return {}

    def cpu_forward(self, tile: int = CPU_TILE) -> CpuForward:
        """A fast CPU forward pass over this network's current weights."""
        raise NotImplementedError

    def body_and_head(self) -> tuple[nn.Module, nn.Linear]:
        """The layers before the logit, and the last linear layer that gives the logit.

        Lets reduced-precision scoring run the body in bfloat16 and the head in float32.
        """
        raise NotImplementedError

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # pragma: no cover - interface
        """Logits of P(MC), shape (n,), for inputs of shape (n, n_inputs)."""
        raise NotImplementedError


class MLP(Classifier):
    """Fully connected network with ReLU hidden layers and one logit output.

    Parameters
    ----------
    n_inputs : int
        Number of (standardised) input features.
    hidden : tuple of int
        Hidden layer widths. Our default (64, 64, 32) is an assumption; the papers use an
        MLP without fixing a size we could mirror.
    """

    architecture = "mlp"

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

    @classmethod
    def from_settings(cls, n_inputs: int, settings: Mapping[str, Any]) -> MLP:
        """Build from checkpoint settings ``{"hidden": [widths]}``."""
        return cls(n_inputs, tuple(settings["hidden"]))

    @classmethod
    def settings_from_config(cls, train_cfg: Any) -> dict[str, Any]:
        return {"hidden": list(train_cfg.hidden)}

    @classmethod
    def check_settings(cls, settings: Mapping[str, Any], where: str) -> dict[str, Any]:
        hidden = settings.get("hidden") if isinstance(settings, Mapping) else None
        ok = (
            isinstance(settings, Mapping)
            and set(settings) == {"hidden"}
            and isinstance(hidden, list | tuple)
            and 0 < len(hidden) <= 16
            and all(
                isinstance(h, int) and not isinstance(h, bool) and 0 < h <= 4096 for h in hidden
            )
        )
        if not ok:
            raise ConfigError(
                f"{where}: mlp settings must be {{'hidden': [1 to 16 widths in 1..4096]}}, "
                f"got {settings!r}"
            )
        return {"hidden": list(hidden)}

    def settings(self) -> dict[str, Any]:
        return {"hidden": list(self.hidden)}

    def cpu_forward(self, tile: int = CPU_TILE) -> CpuForward:
        return TiledForward([m for m in self.net if isinstance(m, nn.Linear)], tile)

    def body_and_head(self) -> tuple[nn.Module, nn.Linear]:
        return self.net[:-1], self.net[-1]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits of P(MC), shape (n,), for inputs of shape (n, n_inputs)."""
        return self.net(x).squeeze(-1)


class Logistic(Classifier):
    """Plain logistic regression: one linear layer on the standardised features (a baseline)."""

    architecture = "logistic"

    def __init__(self, n_inputs: int) -> None:
        super().__init__()
        self.linear = nn.Linear(n_inputs, 1)
        self.n_inputs = n_inputs

    @classmethod
    def from_settings(cls, n_inputs: int, settings: Mapping[str, Any]) -> Logistic:
        """Build from (empty) checkpoint settings."""
        return cls(n_inputs)

    def cpu_forward(self, tile: int = CPU_TILE) -> CpuForward:
        return TiledForward([self.linear], tile)

    def body_and_head(self) -> tuple[nn.Module, nn.Linear]:
        return nn.Identity(), self.linear

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits of P(MC), shape (n,), for inputs of shape (n, n_inputs)."""
        return self.linear(x).squeeze(-1)


def build_network(
    architecture: str, n_inputs: int, settings: Mapping[str, Any], where: str = "architecture"
) -> Classifier:
    """A fresh network of a registered architecture, its settings validated first."""
    from gpu_mc.model.registry import get_architecture

    cls = get_architecture(architecture)
    return cls.from_settings(n_inputs, cls.check_settings(settings, where))
