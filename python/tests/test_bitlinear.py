import numpy as np
import torch

from ternary_qat import BitLinear, int8_activations, ternary_weight
from ternary_qat import semantics as S


def test_effective_weights_are_exactly_ternary_times_beta():
    torch.manual_seed(0)
    layer = BitLinear(70, 33)
    w = layer.effective_weight().detach()
    beta = layer.weight.abs().mean()
    assert set(torch.unique(w).tolist()) == {-beta.item(), 0.0, beta.item()}


def test_activations_lie_exactly_on_the_int8_grid():
    torch.manual_seed(1)
    x = torch.randn(5, 70) * 3
    q = int8_activations(x)
    s = torch.tensor(127.0) / x.abs().amax(-1, keepdim=True)
    k = torch.round(q * s)  # the integer each value stands for
    assert torch.equal(q, k / s)  # bit for bit: every value is (integer) / s
    assert k.min() >= -128 and k.max() <= 127 and k.abs().max() == 127


def test_rounding_is_half_to_even_and_matches_the_numpy_semantics():
    x = torch.tensor([[0.5, 1.5, 2.5, -0.5, -2.5, 127.0]])
    assert (int8_activations(x) * 1.0).tolist() == [[0.0, 2.0, 2.0, -0.0, -2.0, 127.0]]
    xs = np.random.default_rng(2).standard_normal((7, 100)).astype(np.float32)
    q, s = S.quantize_activations(xs)
    assert np.array_equal(int8_activations(torch.from_numpy(xs)).numpy(), q.astype(np.float32) / s)
    w = np.random.default_rng(3).standard_normal((9, 100)).astype(np.float32)
    qw, beta = S.ternarize(w)
    assert np.allclose(ternary_weight(torch.from_numpy(w)).numpy(), qw * beta, rtol=1e-6, atol=0)


def test_ste_gradient_equals_the_gradient_of_the_dequantized_layer():
    torch.manual_seed(4)
    layer = BitLinear(40, 24)
    x = torch.randn(3, 40, requires_grad=True)
    layer(x).pow(2).sum().backward()
    w_q = ternary_weight(layer.weight.detach())
    x_q = int8_activations(x.detach()).requires_grad_(True)
    w_q.requires_grad_(True)
    torch.nn.functional.linear(x_q, w_q, layer.bias.detach()).pow(2).sum().backward()
    assert torch.allclose(layer.weight.grad, w_q.grad, atol=1e-6)
    assert torch.allclose(x.grad, x_q.grad, atol=1e-6)


def test_lambda_zero_is_the_float_layer_and_lambda_blends():
    torch.manual_seed(5)
    layer = BitLinear(16, 8)
    x = torch.randn(2, 16)
    layer.quant_lambda = 0.0
    assert torch.allclose(layer(x), torch.nn.functional.linear(x, layer.weight, layer.bias), atol=1e-6)
    layer.quant_lambda = 0.5
    half = layer.effective_weight()
    assert torch.allclose(half, 0.5 * layer.weight + 0.5 * ternary_weight(layer.weight), atol=1e-6)


def test_optional_rms_norm_is_applied_before_quantization():
    layer = BitLinear(16, 8, rms_norm=True)
    assert layer.norm is not None and layer.norm.weight.shape == (16,)
    x = torch.randn(2, 16) * 10
    normed = x / torch.sqrt(x.pow(2).mean(-1, keepdim=True) + 1e-6)
    assert torch.allclose(layer.effective_input(x), int8_activations(normed), atol=1e-6)
