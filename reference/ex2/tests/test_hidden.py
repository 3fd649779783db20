"""Hidden tests of Exercise 2 — PyTorch basics.

They judge the contract of `/work/shared/spec/ex2.md` beyond the public examples: other shapes,
float64, devices (the `meta` device catches hard-coded `device="cpu"`), inputs left unchanged,
numerical stability, error cases, and the training properties of the lecture. Every value goes to
`check`; docstrings are shown to students and must not reveal inputs or expected values.

Devices: a test with `device`/`any_device` hands over the same checks on every real device (the
golden values are recorded on the CPU and judged to be on the device under test), so only `meta`
may skip a check, and every tensor it checks lives on the device under test. Those tensors are
float32 or float16 (MPS has no float64); float64 gets its own CPU-only tests.

Isolation: a test tagged with F calls only F from the submission (models come from `torch.nn`,
helpers the submission would call are replaced by known-good ones), so that one bug costs the
points of one function only.
"""

import math

import numpy as np
import pytest
import torch
from torch import nn


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _pretend_machine(monkeypatch, *, cuda: bool, mps: bool) -> None:
    """Make torch report exactly these accelerators, whichever way it is asked."""
    best = "cuda" if cuda else "mps" if mps else None
    monkeypatch.setattr(torch.cuda, "is_available", lambda: cuda)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: int(cuda))
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: mps)
    if hasattr(torch, "accelerator"):
        monkeypatch.setattr(torch.accelerator, "is_available", lambda: best is not None)
        monkeypatch.setattr(
            torch.accelerator, "current_accelerator", lambda *a, **k: torch.device(best) if best else None
        )


def _mse(pred, target):
    return ((pred - target) ** 2).mean()


def _cross_entropy(logits, targets):
    return (torch.logsumexp(logits, dim=1) - logits.gather(1, targets[:, None]).squeeze(1)).mean()


def _probabilities(n, c, generator, dtype=torch.float32):
    p = torch.rand(n, c, generator=generator, dtype=dtype) + 0.05
    return p / p.sum(dim=1, keepdim=True)


def _circles(n, generator):
    """Two noisy concentric circles (radii 0.5 and 1.5); same recipe as properties.make_circles."""
    y = torch.arange(n) % 2
    radius = torch.where(y == 0, 0.5, 1.5) + 0.1 * torch.randn(n, generator=generator)
    angle = 2 * math.pi * torch.rand(n, generator=generator)
    return torch.stack([radius * angle.cos(), radius * angle.sin()], dim=1), y


def _params(model):
    return {name: p.detach().clone() for name, p in model.named_parameters()}


# Part 1 — Tensors ----------------------------------------------------------------------------


@pytest.mark.points(0.5)
@pytest.mark.spec("tensor_info")
def test_tensor_info_scalars_and_devices(sub, check, any_device):
    """tensor_info on a 0-dimensional tensor and on tensors of any device and dtype."""
    check(sub.tensor_info(torch.tensor(3.5).to(any_device)), name="0-dimensional tensor")
    check(sub.tensor_info(torch.zeros(1, 2, 3, 4, 5, dtype=torch.float16).to(any_device)), name="5-d float16")
    check(sub.tensor_info(torch.zeros(2, 3, dtype=torch.float64)), name="float64 on the CPU")
    check(sub.tensor_info(torch.zeros(7, dtype=torch.bool).to(any_device)), name="1-d bool")


@pytest.mark.points(0.5)
@pytest.mark.spec("to_float32")
def test_to_float32_dtypes_devices(sub, check, any_device):
    """to_float32 from float16, float32 and bool, on every device, leaving the input unchanged."""
    g = _gen(101)
    half = torch.randn(2, 3, generator=g).to(torch.float16).to(any_device)
    check(sub.to_float32(half), name="from float16")
    check(sub.to_float32(torch.tensor([True, False]).to(any_device)), name="from bool")
    x = torch.randn(3, generator=g).to(any_device)
    check(sub.to_float32(x), name="from float32")
    if any_device != "meta":
        check(x, name="input after the call")


@pytest.mark.points(1)
@pytest.mark.spec("stack_images")
def test_stack_images_rejects_bad_input(sub, check):
    """stack_images raises ValueError for an empty list and for images of different shapes."""
    check(sub.stack_images([torch.ones(1, 2, 2), torch.zeros(1, 2, 2)]), name="two equal-shaped images")
    check.raises(ValueError, sub.stack_images, [])
    check.raises(ValueError, sub.stack_images, [torch.zeros(3, 4, 4), torch.zeros(3, 4, 5)])
    check.raises(ValueError, sub.stack_images, [torch.zeros(1, 2, 2), torch.zeros(1, 2, 2), torch.zeros(3, 2, 2)])


@pytest.mark.points(0.5)
@pytest.mark.spec("stack_images")
def test_stack_images_devices(sub, check, any_device):
    """stack_images keeps dtype and device, also for a single image."""
    g = _gen(102)
    images = [torch.randn(1, 3, 2, generator=g).to(torch.float16).to(any_device) for _ in range(4)]
    check(sub.stack_images(images), name="4 float16 images")
    check(sub.stack_images(images[:1]), name="a single image")


@pytest.mark.points(0.5)
@pytest.mark.spec("flatten_images")
def test_flatten_images_non_contiguous(sub, check, any_device):
    """flatten_images works on a non-contiguous batch, on every device."""
    x = torch.randn(2, 4, 5, 3, generator=_gen(103)).to(any_device).permute(0, 3, 1, 2)
    check(sub.flatten_images(x), name="non-contiguous (2, 3, 4, 5)")
    check(sub.flatten_images(torch.randn(1, 1, 2, 3, generator=_gen(104)).to(any_device)), name="(1, 1, 2, 3)")


@pytest.mark.points(0.5)
@pytest.mark.spec("channels_last")
def test_channels_last_devices(sub, check, any_device):
    """channels_last on float16 batches on every device, leaving the input unchanged."""
    x = torch.randn(3, 2, 5, 4, generator=_gen(105)).to(torch.float16).to(any_device)
    check(sub.channels_last(x), name="(3, 2, 5, 4)")
    check(sub.channels_last(torch.randn(1, 1, 1, 2, generator=_gen(106)).to(any_device)), name="(1, 1, 1, 2)")
    if any_device != "meta":
        check(x, name="input after the call")


@pytest.mark.points(0.5)
@pytest.mark.spec("horizontal_flip")
def test_horizontal_flip_any_leading_dims(sub, check, any_device):
    """horizontal_flip works with any number of leading dimensions, on every device."""
    g = _gen(107)
    check(sub.horizontal_flip(torch.randn(3, 4, generator=g).to(any_device)), name="(H, W)")
    check(sub.horizontal_flip(torch.randn(2, 3, 4, generator=g).to(any_device)), name="(C, H, W)")
    x = torch.randn(2, 2, 1, 3, 5, generator=g).to(torch.float16).to(any_device)
    check(sub.horizontal_flip(x), name="5 dimensions, float16")
    if any_device != "meta":
        check(x, name="input after the call")


@pytest.mark.points(0.5)
@pytest.mark.spec("concat_features")
def test_concat_features_devices(sub, check, any_device):
    """concat_features on float16 features on every device, also with a single feature column."""
    g = _gen(108)
    a = torch.randn(5, 1, generator=g).to(torch.float16).to(any_device)
    b = torch.randn(5, 4, generator=g).to(torch.float16).to(any_device)
    check(sub.concat_features(a, b), name="(5, 1) and (5, 4)")
    check(sub.concat_features(b, a), name="(5, 4) and (5, 1)")


@pytest.mark.points(0.5)
@pytest.mark.spec("batched_affine")
def test_batched_affine_devices(sub, check, any_device):
    """batched_affine on every device, also for a batch of one."""
    g = _gen(109)
    X, W, b = torch.randn(7, 4, generator=g), torch.randn(3, 4, generator=g), torch.randn(3, generator=g)
    X, W, b = X.to(any_device), W.to(any_device), b.to(any_device)
    check(sub.batched_affine(X, W, b), name="7 samples")
    check(sub.batched_affine(X[:1], W, b), name="1 sample")


@pytest.mark.points(0.5)
@pytest.mark.spec("batched_affine")
def test_batched_affine_float64(sub, check):
    """batched_affine keeps float64 inputs in float64."""
    g = _gen(111)
    X = torch.randn(6, 5, generator=g, dtype=torch.float64)
    W = torch.randn(2, 5, generator=g, dtype=torch.float64)
    b = torch.randn(2, generator=g, dtype=torch.float64)
    check(sub.batched_affine(X, W, b), name="float64")


@pytest.mark.points(0.5)
@pytest.mark.spec("relu")
def test_relu_float64(sub, check):
    """relu keeps float64 inputs in float64."""
    check(sub.relu(torch.randn(4, 3, 2, generator=_gen(112), dtype=torch.float64)), name="float64 (4, 3, 2)")


@pytest.mark.points(1)
@pytest.mark.spec("relu")
def test_relu_dtype_device_input(sub, check, any_device):
    """relu keeps shape, dtype and device and leaves its input unchanged."""
    g = _gen(110)
    x = torch.randn(4, 3, 2, generator=g).to(any_device)
    check(sub.relu(x), name="(4, 3, 2)")
    if any_device != "meta":
        check(x, name="input after the call")
    check(sub.relu((100 * torch.randn(50, generator=g)).to(any_device)), name="large values")
    check(sub.relu(torch.tensor(-1.5).to(any_device)), name="0-dimensional")


@pytest.mark.points(0.5)
@pytest.mark.spec("numpy_bridge")
def test_numpy_bridge_shares_both_ways(sub, check):
    """numpy_bridge keeps the array's dtype, and the tensor and the array see each other's changes."""
    a = np.array([[1, 2, 3], [4, 5, 6]], dtype=np.int32)
    t = sub.numpy_bridge(a)
    check(t, name="tensor from an int32 array")
    t[1, 2] = -7
    check(int(a[1, 2]), name="array after changing the tensor")
    b = np.linspace(0.0, 1.0, 5)
    u = sub.numpy_bridge(b)
    b[-1] = 9.0
    check(u, name="float64 tensor after changing the array")


@pytest.mark.points(0.5)
@pytest.mark.spec("pick_device")
def test_pick_device_prefers_cuda_then_mps(sub, check, monkeypatch):
    """pick_device prefers CUDA, then MPS, then the CPU."""
    for cuda, mps in [(True, True), (True, False), (False, True)]:
        with monkeypatch.context() as patch:
            _pretend_machine(patch, cuda=cuda, mps=mps)
            check(sub.pick_device(), name=f"CUDA {'available' if cuda else 'absent'}, MPS {'available' if mps else 'absent'}")


# Part 2 — Autograd ---------------------------------------------------------------------------


@pytest.mark.points(1.5)
@pytest.mark.spec("grad_f")
def test_grad_f_more_points(sub, check):
    """grad_f at integer and float points, including the origin."""
    for x, y in [(0, 0), (3.5, -2.0), (-4, 7), (0.25, 100.0)]:
        check(sub.grad_f(x, y), name="grad_f at another point")


@pytest.mark.points(1.5)
@pytest.mark.spec("accumulated_grad")
def test_accumulated_grad_more_points(sub, check):
    """accumulated_grad at integer and float points, including the origin."""
    for x, y in [(0, 0), (-2.5, 1.5), (5, -3), (0.125, 10.0)]:
        check(sub.accumulated_grad(x, y), name="accumulated_grad at another point")


@pytest.mark.points(1)
@pytest.mark.spec("grad_of")
def test_grad_of_leaves_grad_untouched(sub, check):
    """grad_of leaves the .grad of its points as it found it (None or an existing gradient)."""
    g = _gen(201)
    a = torch.randn(4, generator=g, requires_grad=True)
    a.grad = torch.full((4,), 0.5)
    b = torch.randn(4, generator=g)
    ga, gb = sub.grad_of(lambda u, v: (u.exp() * v).sum(), a, b)
    check(ga.detach(), name="gradient w.r.t. the first point")
    check(gb.detach(), name="gradient w.r.t. the second point")
    check(a.grad, name="first point's existing .grad afterwards")
    check(b.grad is None, name="second point's .grad still None")


@pytest.mark.points(1)
@pytest.mark.spec("grad_of")
def test_grad_of_does_not_accumulate(sub, check):
    """grad_of gives the same gradient when called twice on the same point."""
    x = torch.randn(2, 3, generator=_gen(202), requires_grad=True)
    fn = lambda t: (t**3).sum()  # noqa: E731
    (first,) = sub.grad_of(fn, x)
    first = first.detach().clone()
    (second,) = sub.grad_of(fn, x)
    check(first, name="first call")
    check(second.detach(), name="second call")


def _three_point_fn(A, x, c):
    return ((A @ x).tanh() * c).sum() + c**2


@pytest.mark.points(0.5)
@pytest.mark.spec("grad_of")
def test_grad_of_devices(sub, check, device):
    """grad_of with points of different shapes, one of them 0-dimensional, on every device."""
    g = _gen(203)
    W, v, s = torch.randn(3, 2, generator=g), torch.randn(2, generator=g), torch.tensor(0.7)
    grads = sub.grad_of(_three_point_fn, W.to(device), v.to(device), s.to(device))
    check([t.detach() for t in grads], name="gradients w.r.t. the three points")


@pytest.mark.points(0.5)
@pytest.mark.spec("grad_of")
def test_grad_of_float64(sub, check):
    """grad_of keeps float64 points in float64."""
    g = _gen(207)
    W, v = torch.randn(3, 2, generator=g, dtype=torch.float64), torch.randn(2, generator=g, dtype=torch.float64)
    grads = sub.grad_of(_three_point_fn, W, v, torch.tensor(-1.3, dtype=torch.float64))
    check([t.detach() for t in grads], name="float64 gradients")


@pytest.mark.points(1)
@pytest.mark.spec("numerical_grad")
def test_numerical_grad_matches_autograd(sub, check):
    """numerical_grad of a smooth function agrees with autograd."""
    x = torch.randn(3, 2, generator=_gen(204), dtype=torch.float64)
    fn = lambda t: (t.sin() * t.exp()).sum() + (t[0] * t[1]).sum()  # noqa: E731
    estimate = sub.numerical_grad(fn, x)
    exact = x.clone().requires_grad_(True)
    fn(exact).backward()
    check(estimate, name="finite-difference gradient", atol=1e-8)
    check(estimate - exact.grad, name="difference to the autograd gradient", atol=1e-5)


@pytest.mark.points(1)
@pytest.mark.spec("numerical_grad")
def test_numerical_grad_eps_and_input(sub, check):
    """numerical_grad uses the given eps, keeps the input's shape and dtype, and leaves it unchanged."""
    x = torch.randn(4, generator=_gen(205), dtype=torch.float64)
    cubic = lambda t: (t**3).sum()  # noqa: E731
    check(sub.numerical_grad(cubic, x, eps=0.1), name="eps=0.1", atol=1e-8)
    check(sub.numerical_grad(cubic, x, 0.5), name="eps=0.5 given by position", atol=1e-8)
    check(x, name="input after the call")
    y = torch.randn(2, 2, generator=_gen(206))
    check(sub.numerical_grad(lambda t: (t**2).sum(), y), name="float32 input", rtol=1e-3, atol=1e-3)


# Part 3 — Models -----------------------------------------------------------------------------


@pytest.mark.points(1.5)
@pytest.mark.spec("LinearModel")
def test_linear_model_module(sub, check):
    """LinearModel is an nn.Module whose only parameters are those of `linear`, and works in float64."""
    model = sub.LinearModel(5, 1)
    check(isinstance(model, nn.Module), name="an nn.Module")
    check(sorted(model.state_dict()), name="state_dict keys")
    check(sorted(tuple(p.shape) for p in model.parameters()), name="parameter shapes")
    g = _gen(301)
    model.load_state_dict({"linear.weight": torch.randn(1, 5, generator=g), "linear.bias": torch.randn(1, generator=g)})
    model = model.double()
    with torch.no_grad():
        check(model(torch.randn(3, 5, generator=g, dtype=torch.float64)), name="float64 output")
        check(model(torch.randn(1, 5, generator=g, dtype=torch.float64)), name="batch of one")


def _mlp_weights(d_in, d_hidden, d_out, seed):
    g = _gen(seed)
    return {
        "hidden.weight": torch.randn(d_hidden, d_in, generator=g),
        "hidden.bias": torch.randn(d_hidden, generator=g),
        "output.weight": torch.randn(d_out, d_hidden, generator=g),
        "output.bias": torch.randn(d_out, generator=g),
    }


@pytest.mark.points(1.5)
@pytest.mark.spec("MLP")
def test_mlp_activations(sub, check):
    """MLP computes the right logits with each of the three activations."""
    X = 2 * torch.randn(8, 3, generator=_gen(302))
    for activation in ("relu", "sigmoid", "tanh"):
        model = sub.MLP(3, 6, 4, activation=activation)
        model.load_state_dict(_mlp_weights(3, 6, 4, seed=303))
        with torch.no_grad():
            check(model(X), name=f"logits with activation={activation!r}")


@pytest.mark.points(0.5)
@pytest.mark.spec("MLP")
def test_mlp_structure(sub, check):
    """MLP has exactly the parameters of its two layers, with the right shapes."""
    model = sub.MLP(7, 9, 2, activation="tanh")
    check({name: tuple(p.shape) for name, p in model.named_parameters()}, name="parameter shapes")


@pytest.mark.points(1)
@pytest.mark.spec("MLP")
def test_mlp_rejects_unknown_activation(sub, check):
    """MLP raises ValueError for an activation it does not know."""
    check(sorted(name for name, _ in sub.MLP(2, 3, 1, activation="sigmoid").named_parameters()), name="a known activation builds")
    for activation in ("gelu", "softmax"):
        check.raises(ValueError, lambda a=activation: sub.MLP(2, 3, 1, activation=a)(torch.zeros(1, 2)))


@pytest.mark.points(2)
@pytest.mark.spec("count_parameters")
def test_count_parameters_trainable_only(sub, check):
    """count_parameters counts trainable parameters only: no frozen ones, no buffers, shared ones once."""
    frozen = nn.Sequential(nn.Linear(6, 4), nn.Tanh(), nn.Linear(4, 2))
    frozen[0].weight.requires_grad_(False)
    check(sub.count_parameters(frozen), name="first weight frozen")
    check(sub.count_parameters(nn.Sequential(nn.Linear(3, 5), nn.BatchNorm1d(5))), name="with BatchNorm (buffers)")
    shared = nn.Linear(4, 4)
    check(sub.count_parameters(nn.Sequential(shared, nn.Tanh(), shared)), name="one layer used twice")
    all_frozen = nn.Linear(3, 3).requires_grad_(False)
    check(sub.count_parameters(all_frozen), name="everything frozen")


@pytest.mark.points(1.5)
@pytest.mark.spec("samples_needed")
def test_samples_needed_trainable_only(sub, check):
    """samples_needed follows the 10-times rule for models with frozen parts."""
    model = nn.Sequential(nn.Linear(8, 16), nn.Tanh(), nn.Linear(16, 4))
    model[2].requires_grad_(False)
    # the rule relative to the submission's own count, so that a count_parameters bug costs only it
    check(sub.samples_needed(model) / max(sub.count_parameters(model), 1), name="samples per parameter, last layer frozen")
    check(sub.samples_needed(nn.Linear(1, 1)), name="nn.Linear(1, 1)")


# Part 4 — Losses -----------------------------------------------------------------------------


@pytest.mark.points(1.5)
@pytest.mark.spec("softmax")
def test_softmax_large_logits(sub, check):
    """softmax is finite and exact for logits in the thousands, in float32 and float64."""
    g = _gen(401)
    z = 1000 * torch.randn(4, 5, generator=g)
    z[0] = torch.tensor([1000.0, 1001.0, 999.0, -1000.0, 0.0])
    z[1] = torch.tensor([-3000.0, -3001.0, -2999.0, -3000.0, -5000.0])
    # float32 holds logits near 1000 only to about 1e-4, so equally good formulas differ that much
    for dtype, tol in ((torch.float32, 2e-4), (torch.float64, None)):
        p = sub.softmax(z.to(dtype))
        check(p, name=f"{dtype} probabilities", rtol=tol, atol=tol)


@pytest.mark.points(0.5)
@pytest.mark.spec("softmax")
def test_softmax_dim_and_devices(sub, check, any_device):
    """softmax along any dimension, on every device, leaving the input unchanged."""
    z = torch.randn(3, 4, 5, generator=_gen(402)).to(any_device)
    check(sub.softmax(z, dim=0), name="dim=0")
    check(sub.softmax(z, dim=1), name="dim=1")
    check(sub.softmax(z), name="default dim")
    if any_device != "meta":
        check(z, name="input after the call")


@pytest.mark.points(0.5)
@pytest.mark.spec("mse_loss")
def test_mse_loss_float64(sub, check):
    """mse_loss keeps float64 inputs in float64."""
    g = _gen(408)
    pred, target = torch.randn(6, 4, generator=g, dtype=torch.float64), torch.randn(6, 4, generator=g, dtype=torch.float64)
    check(sub.mse_loss(pred, target), name="6 samples of size 4, float64")


@pytest.mark.points(0.5)
@pytest.mark.spec("mse_loss")
def test_mse_loss_vectors_devices(sub, check, device):
    """mse_loss sums over each sample's vector and averages over samples, on every device."""
    g = _gen(403)
    pred, target = torch.randn(6, 4, generator=g), torch.randn(6, 4, generator=g)
    pred, target = pred.to(device), target.to(device)
    check(sub.mse_loss(pred, target), name="6 samples of size 4")
    check(sub.mse_loss(pred[:, :1], target[:, :1]), name="6 samples of size 1")
    check(sub.mse_loss(pred[:1], target[:1]), name="a single sample")


def _large_logits():
    logits = 1000 * torch.randn(6, 3, generator=_gen(404))
    logits[0] = torch.tensor([2000.0, -2000.0, 1999.0])
    return logits, torch.tensor([1, 0, 2, 2, 1, 0])


@pytest.mark.points(0.5)
@pytest.mark.spec("cross_entropy")
def test_cross_entropy_large_logits(sub, check, device):
    """cross_entropy is finite and right for logits in the thousands, on every device."""
    logits, targets = _large_logits()
    loss = sub.cross_entropy(logits.to(device), targets.to(device))
    check(loss, name="loss")


@pytest.mark.points(0.5)
@pytest.mark.spec("cross_entropy")
def test_cross_entropy_large_logits_float64(sub, check):
    """cross_entropy is finite and right for float64 logits in the thousands."""
    logits, targets = _large_logits()
    loss = sub.cross_entropy(logits.double(), targets)
    check(loss, name="float64 loss")


@pytest.mark.points(0.5)
@pytest.mark.spec("cross_entropy")
def test_cross_entropy_float64_small(sub, check):
    """cross_entropy in float64 with one and with many classes."""
    g = _gen(405)
    check(sub.cross_entropy(torch.randn(4, 1, generator=g, dtype=torch.float64), torch.zeros(4, dtype=torch.int64)), name="one class")
    check(sub.cross_entropy(torch.randn(3, 10, generator=g, dtype=torch.float64), torch.tensor([9, 0, 4])), name="ten classes")


@pytest.mark.points(1)
@pytest.mark.spec("kl_divergence")
def test_kl_divergence_zero_probabilities(sub, check, device):
    """kl_divergence counts terms with p = 0 as 0 (e.g. one-hot p), on every device."""
    g = _gen(406)
    q = _probabilities(5, 4, g).to(device)
    p_onehot = torch.zeros(5, 4)
    p_onehot[torch.arange(5), torch.tensor([0, 3, 1, 1, 2])] = 1.0
    p_onehot = p_onehot.to(device)
    loss = sub.kl_divergence(p_onehot, q)
    check(loss, name="one-hot p")
    check(sub.kl_divergence(q, q), name="a distribution against itself")


@pytest.mark.points(0.5)
@pytest.mark.spec("kl_divergence")
def test_kl_divergence_float64(sub, check):
    """kl_divergence in float64, with a zero probability in p."""
    g = _gen(409)
    p, q = _probabilities(5, 4, g, dtype=torch.float64), _probabilities(5, 4, g, dtype=torch.float64)
    p[0, 1] = 0.0
    p = p / p.sum(1, keepdim=True)
    check(sub.kl_divergence(p, q), name="float64 with one zero probability")


@pytest.mark.points(1)
@pytest.mark.spec("one_hot")
def test_one_hot_devices(sub, check, any_device):
    """one_hot returns float32 on the targets' device, for every class and a single target."""
    targets = torch.tensor([4, 0, 1, 3, 2, 4, 4]).to(any_device)
    check(sub.one_hot(targets, 5), name="7 targets, 5 classes")
    check(sub.one_hot(targets[:1], 6), name="a single target, 6 classes")
    if any_device != "meta":
        check(targets, name="targets after the call")


@pytest.mark.points(0.5)
@pytest.mark.spec("hinge_loss")
def test_hinge_loss_float64(sub, check):
    """hinge_loss keeps float64 scores in float64."""
    scores = torch.randn(6, 4, generator=_gen(410), dtype=torch.float64)
    check(sub.hinge_loss(scores, torch.tensor([3, 0, 0, 2, 1, 3]), margin=0.5), name="margin=0.5, float64")


@pytest.mark.points(0.5)
@pytest.mark.spec("hinge_loss")
def test_hinge_loss_margin_devices(sub, check, device):
    """hinge_loss with other margins and with ties, on every device."""
    g = _gen(407)
    scores = torch.randn(6, 4, generator=g).to(device)
    targets = torch.tensor([3, 0, 0, 2, 1, 3]).to(device)
    check(sub.hinge_loss(scores, targets, margin=0.5), name="margin=0.5")
    check(sub.hinge_loss(scores, targets, 2.0), name="margin=2.0 given by position")
    check(sub.hinge_loss(scores, targets), name="default margin")
    ties = torch.tensor([[1.0, 1.0, 1.0], [5.0, 0.0, -5.0]]).to(device)
    check(sub.hinge_loss(ties, torch.tensor([1, 0]).to(device)), name="tied and well-separated scores")


# Part 5 — Training ---------------------------------------------------------------------------


@pytest.mark.points(1)
@pytest.mark.spec("gd_step")
def test_gd_step_in_place_untracked(sub, check):
    """gd_step works on model.parameters(), skips parameters without a gradient, keeps parameters untracked leaves."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 2), nn.Linear(2, 1))
    X = torch.randn(5, 3, generator=_gen(501))
    model[1].weight.requires_grad_(False)
    _mse(model(X), torch.ones(5, 1)).backward()
    model[1].bias.grad = None  # trainable, but without a gradient this time
    sub.gd_step(model.parameters(), 0.05)
    check({name: p.detach() for name, p in model.named_parameters()}, name="parameters after the step")
    # a gradient set to None instead of zero counts as zeroed too
    grads = {name: torch.zeros_like(p) if p.grad is None else p.grad for name, p in model.named_parameters()}
    check(grads, name="gradients after the step")
    after = torch.cat([model[1].weight.detach().flatten(), model[1].bias.detach()])
    check(after, name="parameters without gradient, after the step")
    check([(p.is_leaf, p.grad_fn is None) for p in model.parameters()], name="parameters are still untracked leaves")
    check(torch.is_grad_enabled(), name="gradient tracking re-enabled afterwards")


@pytest.mark.points(1)
@pytest.mark.spec("minibatches")
def test_minibatches_shuffle(sub, check, device):
    """minibatches shuffles with the given generator and covers every sample exactly once."""
    X = torch.randn(11, 3, generator=_gen(502)).to(device)
    y = torch.arange(11).to(device)
    batches = [(Xb, yb) for Xb, yb in sub.minibatches(X, y, 3, shuffle=True, generator=_gen(503))]
    check(batches, name="batches with shuffle=True and a seeded generator")
    torch.manual_seed(504)
    labels = torch.cat([yb for _, yb in sub.minibatches(X, y, 4, shuffle=True)])
    check(labels.sort().values, name="samples seen once each without a generator")
    check([len(yb) for _, yb in sub.minibatches(X, y, 11)], name="one batch of everything")
    check([len(yb) for _, yb in sub.minibatches(X, y, 20)], name="batch larger than the data")


@pytest.mark.points(0.5)
@pytest.mark.spec("train")
def test_train_adam(sub, check):
    """train with Adam and shuffling returns the right losses and parameters."""
    g = _gen(504)
    X = torch.randn(24, 4, generator=g)
    y = X @ torch.randn(4, 2, generator=g) - 1.0
    torch.manual_seed(1)
    model = nn.Linear(4, 2)
    losses = sub.train(model, X, y, loss_fn=_mse, epochs=4, batch_size=6, lr=0.05, optimizer="adam", generator=_gen(505))
    check(losses, name="mean loss of each epoch", rtol=1e-4, atol=1e-5)
    check(_params(model), name="parameters after training", rtol=1e-4, atol=1e-5)


@pytest.mark.points(1)
@pytest.mark.spec("train")
def test_train_accumulation_matches_big_batch(sub, check):
    """With plain SGD, accumulating k batches of size b gives the same step as one batch of size k·b."""
    g = _gen(506)
    X = torch.randn(24, 3, generator=g)
    y = X @ torch.randn(3, 1, generator=g) + 0.5
    torch.manual_seed(2)
    accumulated = nn.Linear(3, 1)
    big = nn.Linear(3, 1)
    big.load_state_dict(accumulated.state_dict())
    sub.train(accumulated, X, y, loss_fn=_mse, epochs=1, batch_size=4, lr=0.1, accumulation_steps=3, shuffle=False)
    sub.train(big, X, y, loss_fn=_mse, epochs=1, batch_size=12, lr=0.1, accumulation_steps=1, shuffle=False)
    check(_params(accumulated), name="parameters after 3 accumulated batches of 4", rtol=1e-4, atol=1e-5)
    check(_params(big), name="parameters after batches of 12", rtol=1e-4, atol=1e-5)
    check([(a - b).detach() for a, b in zip(accumulated.parameters(), big.parameters(), strict=True)],
          name="difference between the two ways", atol=1e-5)


@pytest.mark.points(0.5)
@pytest.mark.spec("train")
def test_train_accumulation_last_group(sub, check):
    """train with accumulation also steps the last, shorter group of batches."""
    g = _gen(507)
    X = torch.randn(20, 2, generator=g)
    y = X @ torch.tensor([[2.0], [-1.0]])
    torch.manual_seed(3)
    model = nn.Linear(2, 1)
    losses = sub.train(model, X, y, loss_fn=_mse, epochs=1, batch_size=4, lr=0.2, accumulation_steps=2, shuffle=False)
    check(losses, name="mean loss of the epoch", rtol=1e-4, atol=1e-5)
    check(_params(model), name="parameters after 5 batches in groups of 2", rtol=1e-4, atol=1e-5)


@pytest.mark.points(0.5)
@pytest.mark.spec("train")
def test_train_no_gradient_leak(sub, check):
    """train over several epochs, with and without accumulation: no gradient carries over between steps."""
    g = _gen(508)
    X = torch.randn(32, 3, generator=g)
    y = torch.randint(0, 3, (32,), generator=g)
    for k in (1, 2):
        torch.manual_seed(4)
        model = nn.Sequential(nn.Linear(3, 8), nn.Tanh(), nn.Linear(8, 3))
        losses = sub.train(model, X, y, loss_fn=_cross_entropy, epochs=3, batch_size=8, lr=0.3, accumulation_steps=k, shuffle=True, generator=_gen(509))
        check(losses, name=f"losses with accumulation_steps={k}", rtol=1e-4, atol=1e-5)
        check(_params(model), name=f"parameters with accumulation_steps={k}", rtol=1e-4, atol=1e-5)


@pytest.mark.points(0.5)
@pytest.mark.spec("train")
def test_train_rejects_unknown_optimizer(sub, check):
    """train raises ValueError for an optimizer other than "sgd" and "adam"."""
    X, y = torch.randn(4, 2, generator=_gen(510)), torch.randn(4, 1, generator=_gen(511))
    torch.manual_seed(7)
    check(sub.train(nn.Linear(2, 1), X, y, loss_fn=_mse, epochs=2, batch_size=2, lr=0.1, optimizer="sgd", shuffle=False),
          name="losses with optimizer='sgd'", rtol=1e-4, atol=1e-5)
    check.raises(ValueError, sub.train, nn.Linear(2, 1), X, y, loss_fn=_mse, epochs=1, batch_size=2, lr=0.1, optimizer="rmsprop")


@pytest.mark.points(1)
@pytest.mark.spec("train")
def test_train_recovers_lecture_theta(sub, check):
    """train on the lecture's regression example recovers the true parameters θ* = [3, 2]."""
    g = _gen(512)
    X = 2 * torch.rand(200, 1, generator=g) - 1
    y = 3 * X + 2 + 0.1 * torch.randn(200, 1, generator=g)
    torch.manual_seed(5)
    model = nn.Linear(1, 1)
    losses = sub.train(model, X, y, loss_fn=_mse, epochs=15, batch_size=20, lr=0.1, generator=_gen(513))
    check.property({k: v.detach().clone() for k, v in model.state_dict().items()}, "theta_recovered", name="θ after training")
    check(len(losses), name="one loss per epoch")


@pytest.mark.points(1)
@pytest.mark.spec("train", "MLP")
def test_train_mlp_separates_circles(sub, check):
    """An MLP trained with train separates two concentric circles (accuracy ≥ 0.95 on held-out points)."""
    X, y = _circles(256, _gen(514))
    torch.manual_seed(6)
    model = sub.MLP(2, 16, 2, activation="relu")
    sub.train(model, X, y, loss_fn=_cross_entropy, epochs=12, batch_size=32, lr=0.05, optimizer="adam", generator=_gen(515))
    check.property({k: v.detach().clone() for k, v in model.state_dict().items()}, "circles_accuracy", name="trained MLP")


class _Probe(nn.Module):
    """A classifier that remembers the mode and grad-tracking state of each of its calls."""

    def __init__(self) -> None:
        super().__init__()
        self.linear = nn.Linear(4, 3)
        self.dropout = nn.Dropout(0.5)
        self.calls: list[tuple[bool, bool]] = []

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.calls.append((self.training, torch.is_grad_enabled()))
        return self.linear(self.dropout(x))


@pytest.mark.points(1)
@pytest.mark.spec("accuracy")
def test_accuracy_eval_mode_restored(sub, check):
    """accuracy evaluates in eval mode without gradients and restores the model's train/eval mode."""
    g = _gen(516)
    X, y = torch.randn(40, 4, generator=g), torch.randint(0, 3, (40,), generator=g)
    for start_in_training in (True, False):
        torch.manual_seed(7)
        model = _Probe()
        model.train(start_in_training)
        acc = sub.accuracy(model, X, y)
        mode = "train" if start_in_training else "eval"
        check(acc, name=f"accuracy of a model in {mode} mode")
        check(model.training, name=f"model.training afterwards (was in {mode} mode)")
        check(model.dropout.training, name=f"submodule mode afterwards (was in {mode} mode)")
        check(len(model.calls) > 0 and not any(training for training, _ in model.calls), name="forward ran in eval mode")
        check(len(model.calls) > 0 and not any(grad for _, grad in model.calls), name="forward ran without gradient tracking")
