"""An ensemble of K MLPs trained and scored together, batched over members.

Members differ in their initial weights (seed ``seed + k``) and, by default, in a bootstrap
resample of the training rows (Lakshminarayanan, Pritzel & Blundell 2017, NeurIPS, for deep
ensembles as a measure of predictive uncertainty). The K networks share one architecture, so
their weights are stacked into tensors of shape (K, ...) and every layer of every member runs
as one batched matrix product (``torch.baddbmm``): training is one optimiser over the stacked
weights (Adam and weight decay act element by element, so each member follows exactly the
path it would follow alone), and scoring computes all K members from one read of the inputs.
``p_mc`` is the mean of the K probabilities and ``p_mc_std`` their standard deviation.

Each member keeps its own best weights by its own validation loss (early stopping with the
training configuration's patience); training stops when every member has run out of
patience, or after ``max_epochs``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import nn

from gpu_mc import __version__
from gpu_mc.backend import array_namespace, to_host
from gpu_mc.config import TrainConfig
from gpu_mc.errors import ConfigError, GpuMcError
from gpu_mc.model.checkpoint import TrainedModel
from gpu_mc.model.network import CPU_TILE, MLP, Classifier, CpuForward, padded_tiles
from gpu_mc.model.score import score_table_std
from gpu_mc.model.train import fit_data
from gpu_mc.sample import TrainingSet

#: Members of the ensemble by default (issue 16; our assumption, the papers use one network).
DEFAULT_MEMBERS = 5

EpochCallback = Callable[[int, Any, Any], None]


@dataclass(frozen=True)
class EnsembleConfig:
    """How many members and how they differ.

    Attributes
    ----------
    members : int
        K, at least 1.
    bootstrap : bool
        Draw each member's training rows with replacement (a bootstrap resample); with
        K = 1 the single member always sees the training rows as they are.
    """

    members: int = DEFAULT_MEMBERS
    bootstrap: bool = True


class StackedMLP(nn.Module):
    """K MLPs of one architecture with their weights stacked along a leading member axis.

    Parameters
    ----------
    networks : sequence of MLP
        The members (all with the same ``n_inputs`` and ``hidden``).
    """

    def __init__(self, networks: Sequence[MLP]) -> None:
        super().__init__()
        if not networks:
            raise GpuMcError("an ensemble needs at least one network")
        shapes = {(n.n_inputs, n.hidden) for n in networks}
        if len(shapes) != 1:
            raise GpuMcError(f"ensemble members differ in architecture: {sorted(shapes)}")
        self.n_inputs, self.hidden = networks[0].n_inputs, networks[0].hidden
        per_member = [[m for m in n.net if isinstance(m, nn.Linear)] for n in networks]
        # weight i: (K, in, out) so that h @ W is one batched product; bias i: (K, 1, out)
        self.weights = nn.ParameterList(
            nn.Parameter(torch.stack([ls[i].weight.detach().t() for ls in per_member]).clone())
            for i in range(len(per_member[0]))
        )
        self.biases = nn.ParameterList(
            nn.Parameter(torch.stack([ls[i].bias.detach()[None, :] for ls in per_member]).clone())
            for i in range(len(per_member[0]))
        )

    @classmethod
    def empty(cls, members: int, n_inputs: int, hidden: tuple[int, ...]) -> StackedMLP:
        """K freshly initialised members, to ``load_state_dict`` stored weights into."""
        return cls([MLP(n_inputs, hidden) for _ in range(members)])

    @property
    def members(self) -> int:
        """K."""
        return int(self.weights[0].shape[0])

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        """Logits of every member.

        Parameters
        ----------
        x : tensor, float32, shape (n, n_inputs) (the same rows for every member) or
            (K, n, n_inputs) (rows per member, as in bootstrap training)

        Returns
        -------
        tensor, shape (K, n)
        """
        last = len(self.weights) - 1
        w0, b0 = self.weights[0], self.biases[0]
        if x.dim() == 2:
            # one read of x for all members: (n, in) @ (in, K * out) -> (K, n, out)
            k, n_in, n_out = w0.shape
            flat = w0.permute(1, 0, 2).reshape(n_in, k * n_out)
            h = (x @ flat).reshape(x.shape[0], k, n_out).transpose(0, 1) + b0
        else:
            h = torch.baddbmm(b0, x, w0)
        for i in range(1, last + 1):
            h = torch.relu(h)
            h = torch.baddbmm(self.biases[i], h, self.weights[i])
        return h.squeeze(-1)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Ensemble P(MC) of rows ``x`` (float32, (n, n_inputs)).

        Returns
        -------
        mean : tensor, shape (n,)
            Mean over members of σ(logit).
        std : tensor, shape (n,)
            Standard deviation over members (unbiased, ``ddof = 1``; zeros when K = 1).
        """
        p = torch.sigmoid(self.logits(x))
        if p.shape[0] == 1:
            return p[0], torch.zeros_like(p[0])
        std, mean = torch.std_mean(p, dim=0)
        return mean, std

    def member(self, k: int) -> MLP:
        """Member ``k`` as a plain :class:`~gpu_mc.model.network.MLP` (a copy)."""
        net = MLP(self.n_inputs, self.hidden).to(self.weights[0].device)
        linears = [m for m in net.net if isinstance(m, nn.Linear)]
        with torch.no_grad():
            for lin, w, b in zip(linears, self.weights, self.biases, strict=True):
                lin.weight.copy_(w[k].t())
                lin.bias.copy_(b[k, 0])
        return net.eval()


@dataclass
class TrainedEnsemble:
    """K networks with the standardisation, feature names and training record they share.

    Attributes
    ----------
    network : StackedMLP
    features : tuple of str
    mean, scale : ndarray, shape (k,)
        Standardisation of the raw features (fitted on the training rows).
    cloud : str
    meta : dict
        ``members``, ``seeds``, ``bootstrap``, ``train_prior`` (MC fraction of the training
        rows), per-member ``best_validation_loss`` and ``epochs``, ``history``.
    """

    network: StackedMLP
    features: tuple[str, ...]
    mean: np.ndarray
    scale: np.ndarray
    cloud: str
    meta: dict[str, Any] = field(default_factory=dict)

    def state_dict(self) -> dict[str, torch.Tensor]:
        """Tensors to store (safetensors): stacked weights, biases and the standardisation."""
        out = {
            f"ensemble.{k}": v.detach().cpu().contiguous()
            for k, v in self.network.state_dict().items()
        }
        out["standardise.mean"] = torch.from_numpy(np.ascontiguousarray(self.mean))
        out["standardise.scale"] = torch.from_numpy(np.ascontiguousarray(self.scale))
        return out


def _standardised(x: Any, mean: Any, scale: Any) -> Any:
    xp = array_namespace(x)
    return xp.ascontiguousarray(((x - mean) / scale).astype(xp.float32))


def _member_losses(net: StackedMLP, x: torch.Tensor, y: torch.Tensor, batch: int) -> torch.Tensor:
    """Mean log-loss of every member on the rows (x, y), shape (K,), on the device."""
    loss_fn = nn.BCEWithLogitsLoss(reduction="none")
    total = torch.zeros(net.members, dtype=torch.float64, device=x.device)
    with torch.inference_mode():
        for s in range(0, x.shape[0], batch):
            logits = net.logits(x[s : s + batch])
            target = y[s : s + batch].expand_as(logits)
            total += loss_fn(logits, target).sum(dim=1, dtype=torch.float64)
    return total / max(int(x.shape[0]), 1)


def train_ensemble(
    ts: TrainingSet,
    cloud: str,
    names: Sequence[str],
    cfg: TrainConfig,
    device: str,
    ens: EnsembleConfig = EnsembleConfig(),
    on_epoch: EpochCallback | None = None,
) -> TrainedEnsemble:
    """Fit K MLPs to the training part of ``ts`` in one batched pass per step.

    Parameters
    ----------
    ts : TrainingSet
        Rows, labels and split codes (NumPy or CuPy, on the device of ``device``).
    cloud : str
    names : sequence of str
        Feature names, in input order.
    cfg : TrainConfig
        Architecture, optimiser, batch size (per member), epochs, patience and seed; member
        k is initialised and shuffled from ``cfg.seed + k``.
    device : str
        torch device ("cpu" or "cuda").
    ens : EnsembleConfig
    on_epoch : callable, optional
        Called as ``on_epoch(epoch, train_loss, validation_loss)`` with per-member loss
        tensors of shape (K,) after every epoch.

    Returns
    -------
    TrainedEnsemble
        Each member at its best validation loss.
    """
    k = ens.members
    if k < 1:
        raise GpuMcError(f"ensemble members must be at least 1, not {k}")
    d = fit_data(ts, cloud, names, device)
    xt, yt, xv, yv, mean, scale, data_hash = (
        d.x_train, d.y_train, d.x_val, d.y_val, d.mean, d.scale, d.data_hash
    )
    n_train, n_val = d.n_train, d.n_val
    train_prior = float(yt.mean())

    seeds = [cfg.seed + i for i in range(k)]
    members = []
    for s in seeds:
        torch.manual_seed(s)
        members.append(MLP(len(names), cfg.hidden))
    net = StackedMLP(members).to(device)
    # one generator per member, so member k's rows and order depend on its seed alone
    gens = [torch.Generator().manual_seed(s) for s in seeds]
    if ens.bootstrap and k > 1:
        rows = torch.stack([torch.randint(0, n_train, (n_train,), generator=g) for g in gens])
    else:
        rows = torch.arange(n_train).expand(k, n_train)
    rows = rows.to(device)
    opt = torch.optim.Adam(net.parameters(), lr=cfg.learning_rate, weight_decay=cfg.weight_decay)
    loss_fn = nn.BCEWithLogitsLoss(reduction="none")
    best = [p.detach().clone() for p in net.parameters()]
    best_loss = torch.full((k,), float("inf"), dtype=torch.float64, device=device)
    since_best = torch.zeros(k, dtype=torch.int64, device=device)
    best_epoch = torch.zeros(k, dtype=torch.int64, device=device)
    history = []
    for epoch in range(1, cfg.max_epochs + 1):
        net.train()
        order = torch.stack([torch.randperm(n_train, generator=g) for g in gens]).to(device)
        epoch_rows = torch.gather(rows, 1, order)
        total = torch.zeros(k, dtype=torch.float64, device=device)
        for s in range(0, n_train, cfg.batch_size):
            idx = epoch_rows[:, s : s + cfg.batch_size]
            opt.zero_grad(set_to_none=True)
            losses = loss_fn(net.logits(xt[idx]), yt[idx]).mean(dim=1)
            losses.sum().backward()
            opt.step()
            total += losses.detach().double() * idx.shape[1]
        net.eval()
        train_loss = total / n_train
        val_loss = _member_losses(net, xv, yv, 65536)
        improved = val_loss < best_loss
        with torch.no_grad():
            for b, p in zip(best, net.parameters(), strict=True):
                b[improved] = p[improved]
        best_loss = torch.where(improved, val_loss, best_loss)
        best_epoch = torch.where(improved, epoch, best_epoch)
        since_best = torch.where(improved, 0, since_best + 1)
        history.append(
            {
                "epoch": epoch,
                "train_loss": train_loss.tolist(),
                "validation_loss": val_loss.tolist(),
            }
        )
        if on_epoch is not None:
            on_epoch(epoch, train_loss, val_loss)
        if bool((since_best >= cfg.patience).all()):
            break
    with torch.no_grad():
        for b, p in zip(best, net.parameters(), strict=True):
            p.copy_(b)
    net.eval()
    meta = {
        "package_version": __version__,
        "train_config": {f: getattr(cfg, f) for f in cfg.__dataclass_fields__},
        "members": k,
        "seeds": seeds,
        "bootstrap": bool(ens.bootstrap and k > 1),
        "train_prior": train_prior,
        "training_data_sha256": data_hash,
        "n_train": n_train,
        "n_validation": n_val,
        "n_unusable": d.n_unusable,
        "best_validation_loss": best_loss.tolist(),
        "best_epoch": best_epoch.tolist(),
        "history": history,
    }
    return TrainedEnsemble(
        network=net,
        features=tuple(names),
        mean=np.asarray(to_host(mean), dtype=np.float64),
        scale=np.asarray(to_host(scale), dtype=np.float64),
        cloud=cloud,
        meta=meta,
    )


class TiledEnsembleForward:
    """Ensemble mean and spread on the CPU, tile by tile into preallocated buffers.

    The first layer of all K members is one ``addmm`` over the tile (one read of the inputs),
    the others one ``baddbmm`` each; a short last tile is padded, so every star goes through
    the same kernels wherever it sits (its scores do not depend on the batch it came in).
    """

    def __init__(self, net: StackedMLP, tile: int = CPU_TILE) -> None:
        self.tile = tile
        k = net.members
        w0 = net.weights[0].detach()
        n_in, n_out = int(w0.shape[1]), int(w0.shape[2])
        self.k = k
        self.w0 = w0.permute(1, 0, 2).reshape(n_in, k * n_out).contiguous()
        self.b0 = net.biases[0].detach().reshape(1, k * n_out).contiguous()
        self.h0 = torch.empty(tile, k * n_out)
        self.n0 = n_out
        self.rest = [
            (w.detach(), b.detach(), torch.empty(k, tile, int(w.shape[2])))
            for w, b in zip(list(net.weights)[1:], list(net.biases)[1:], strict=True)
        ]
        self.padded = torch.zeros(tile, n_in)

    def __call__(self, x: torch.Tensor, mean: torch.Tensor, std: torch.Tensor) -> None:
        """Write mean and spread of P(MC) of rows ``x`` ((n, n_inputs)) into ``mean``, ``std``."""
        for s, m, h in padded_tiles(x, self.tile, self.padded):
            h = torch.addmm(self.b0, h, self.w0, out=self.h0).relu_()
            h = h.view(self.tile, self.k, self.n0).transpose(0, 1)
            for i, (w, b, buf) in enumerate(self.rest):
                h = torch.baddbmm(b, h, w, out=buf)
                if i < len(self.rest) - 1:
                    h.relu_()
            p = h.squeeze(-1).sigmoid_()
            if self.k == 1:
                mean[s : s + m] = p[0, :m]
                std[s : s + m] = 0.0
            else:
                sd, mu = torch.std_mean(p[:, :m], dim=0)
                mean[s : s + m] = mu
                std[s : s + m] = sd


def score_ensemble(
    table: Mapping[str, Any],
    model: TrainedEnsemble,
    batch_size: int = 1 << 20,
    progress: Callable[[int], None] | None = None,
) -> tuple[Any, Any, Any]:
    """Ensemble P(MC), its spread and the missing-feature flags for every row, in row order.

    Parameters
    ----------
    table : mapping of str to array
        Gaia columns (NumPy or CuPy), length n; the model's network on the matching device.
    model : TrainedEnsemble
    batch_size : int
        Rows per batch (each batch computes all K members).
    progress : callable, optional
        Called with the number of rows finished after each batch.

    Returns
    -------
    p_mc : float32 array, shape (n,)
        Mean over members of P(MC).
    p_mc_std : float32 array, shape (n,)
        Standard deviation over members (ddof = 1; 0 for K = 1).
    flags : uint16 array, shape (n,)
        Bit i set where feature i of FEATURE_NAMES was missing and imputed.
    """
    net = model.network if isinstance(model.network, Ensemble) else Ensemble(model.network)
    target = getattr(model, "target", model.cloud)
    as_model = TrainedModel(net, model.features, model.mean, model.scale, target)
    return score_table_std(table, as_model, batch_size, progress)


class Ensemble(Classifier):
    """The ensemble as a registered architecture (``"ensemble"``) of the model interface.

    A checkpoint stores ``{"members": K, "hidden": [widths]}`` and the stacked weights, so
    :func:`~gpu_mc.model.checkpoint.model_hash` covers the members and their settings.
    :meth:`forward` gives the logit of the ensemble mean (what the single-network callers
    expect); :meth:`mean_std` and :meth:`cpu_forward_std` give the mean and the spread.

    Parameters
    ----------
    stack : StackedMLP
    """

    architecture = "ensemble"

    def __init__(self, stack: StackedMLP) -> None:
        super().__init__()
        self.stack = stack
        self.n_inputs = stack.n_inputs

    @classmethod
    def from_settings(cls, n_inputs: int, settings: Mapping[str, Any]) -> Ensemble:
        """Build from checkpoint settings ``{"members": K, "hidden": [widths]}``."""
        return cls(StackedMLP.empty(int(settings["members"]), n_inputs, tuple(settings["hidden"])))

    @classmethod
    def settings_from_config(cls, train_cfg: Any) -> dict[str, Any]:
        return {"members": int(train_cfg.members), "hidden": list(train_cfg.hidden)}

    @classmethod
    def check_settings(cls, settings: Mapping[str, Any], where: str) -> dict[str, Any]:
        members = settings.get("members") if isinstance(settings, Mapping) else None
        ok = (
            isinstance(settings, Mapping)
            and set(settings) == {"members", "hidden"}
            and isinstance(members, int)
            and not isinstance(members, bool)
            and 1 <= members <= 64
        )
        if not ok:
            raise ConfigError(
                f"{where}: ensemble settings must be {{'members': 1..64, 'hidden': [widths]}}, "
                f"got {settings!r}"
            )
        hidden = MLP.check_settings({"hidden": settings["hidden"]}, where)["hidden"]
        return {"members": members, "hidden": hidden}

    def settings(self) -> dict[str, Any]:
        return {"members": self.stack.members, "hidden": list(self.stack.hidden)}

    def mean_std(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Ensemble mean and spread of P(MC) of rows ``x`` (float32, (n, n_inputs))."""
        return self.stack(x)

    def cpu_forward_std(self, tile: int = CPU_TILE) -> TiledEnsembleForward:
        """The CPU pass that writes the mean and the spread (see TiledEnsembleForward)."""
        return TiledEnsembleForward(self.stack, tile)

    def cpu_forward(self, tile: int = CPU_TILE) -> CpuForward:
        tiled = TiledEnsembleForward(self.stack, tile)

        def mean_only(x: torch.Tensor, out: torch.Tensor) -> None:
            tiled(x, out, torch.empty_like(out))

        return mean_only

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logit of the ensemble mean of P(MC), shape (n,)."""
        return torch.logit(self.stack(x)[0], eps=1e-7)


def as_trained_model(ens: TrainedEnsemble, target: Any) -> TrainedModel:
    """The ensemble as a :class:`~gpu_mc.model.checkpoint.TrainedModel` (architecture
    ``"ensemble"``), sharing its weights, standardisation and meta."""
    meta = dict(ens.meta)
    meta["best_validation_loss"] = float(min(ens.meta["best_validation_loss"]))
    meta["member_best_validation_loss"] = ens.meta["best_validation_loss"]
    return TrainedModel(Ensemble(ens.network), ens.features, ens.mean, ens.scale, target, meta)
