"""bf16 scoring: the logit and the sigmoid are float32 (checked with CPU bfloat16 autocast)."""

from __future__ import annotations

import torch

from gpu_mc.model.network import MLP
from gpu_mc.model.score import probabilities


def _net_and_inputs(n: int = 50_000) -> tuple[MLP, torch.Tensor]:
    """A network whose hidden activations are small integers, exact in bfloat16.

    Inputs and hidden weights are in {-1, 0, 1} and hidden biases 0, so every hidden activation is
    an integer below 256 that bfloat16 holds exactly; the output weights are multiples of
    1/64, so the float32 logit is exact too and the only bf16 rounding left is the logit's
    and the sigmoid's (the two this module keeps in float32).
    """
    gen = torch.Generator().manual_seed(0)
    net = MLP(11, (8, 4)).eval()
    with torch.no_grad():
        for layer in net.net[:-1]:
            if isinstance(layer, torch.nn.Linear):
                layer.weight.copy_(torch.randint(-1, 2, layer.weight.shape, generator=gen))
                layer.bias.zero_()
        last = net.net[-1]
        last.weight.copy_(torch.randint(-40, 41, last.weight.shape, generator=gen) / 64)
        last.bias.fill_(5.0)
    return net, torch.randint(-1, 2, (n, 11), generator=gen).float()


def test_probabilities_equal_sigmoid_of_logits_in_fp32():
    net, x = _net_and_inputs()
    with torch.inference_mode():
        p = probabilities(net, x)
        assert p.dtype == torch.float32 and p.shape == (x.shape[0],)
        assert torch.equal(p, torch.sigmoid(net(x)))


def test_bf16_autocast_keeps_logit_and_sigmoid_in_fp32():
    net, x = _net_and_inputs()
    with torch.inference_mode():
        p32 = torch.sigmoid(net(x))
        assert p32.min() < 0.05 and p32.max() > 0.95
        with torch.autocast("cpu", dtype=torch.bfloat16):
            bf16_sigmoid = torch.sigmoid(net(x))
            p = probabilities(net, x)
    assert bf16_sigmoid.dtype == torch.bfloat16 and p.dtype == torch.float32
    # A bfloat16 logit and sigmoid round p to 8 significant bits: an error of ~1e-3 or more.
    assert (bf16_sigmoid.float() - p32).abs().max().item() > 1e-3
    # Hidden layers exact in bfloat16 leave nothing else to round: p equals the fp32 pass.
    assert (p - p32).abs().max().item() <= 1e-6
