"""Hidden tests of Exercise 2 — PyTorch basics.

They judge the contract of `/work/shared/spec/ex2.md` beyond the public examples: other shapes,
float64, devices (the `meta` device catches hard-coded `device="cpu"`), inputs left unchanged,
numerical stability, error cases, and the training properties of the lecture. Every value goes to
`check`; docstrings are shown to students and must not reveal inputs or expected values.

Seeds: every input (values, shapes, sizes, positions of zeros and ties, scalars such as eps, lr
or a margin, the true parameters of the training data) is drawn from the `seed` fixture, the
student's secret variant in the instructor's grade, so that no expected value is one a student
has seen. A check whose expected value is the same for every seed on purpose (a type, a flag, a
structural fact, a loss that is 0 by construction) says `constant=True`; on `meta` a tensor is
judged by shape and dtype only, so a check of a tensor whose shape is fixed is constant there.
Every test has at least one check that is not constant. `properties.py` derives what it expects
(θ*, the circles) from the same seed: keep `_theta_star`, `_circles_geometry` and `_circles` in
step with it.

Devices: a test with `device`/`any_device` hands over the same checks on every real device (the
golden values are recorded on the CPU and judged to be on the device under test), so only `meta`
may skip a check, and every tensor it checks lives on the device under test. Inputs are drawn on
the CPU from the seed alone, never from the device. Those tensors are float32 or float16 (MPS has
no float64); float64 gets its own CPU-only tests.

Isolation: a test tagged with F calls only F from the submission (models come from `torch.nn`,
helpers the submission would call are replaced by known-good ones), so that one bug costs the
points of one function only.
"""

import hashlib
import math
import random

import numpy as np
import pytest
import torch
from torch import nn


def _stream(seed: int, stream: int) -> int:
    """A 63-bit seed for one input stream of the run's `seed` (any int, however large).

    The same function as `properties._stream`."""
    digest = hashlib.blake2b(f"ex2/{seed}/{stream}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little") >> 1


def _gen(seed: int, stream: int) -> torch.Generator:
    """A torch generator for tensors of one input stream of the run's seed."""
    return torch.Generator().manual_seed(_stream(seed, stream))


def _rng(seed: int, stream: int) -> random.Random:
    """A Python generator for sizes, positions and scalars of one input stream of the run's seed."""
    return random.Random(_stream(seed, stream))


def _shape(rng: random.Random, ndim: int, low: int, high: int) -> tuple[int, ...]:
    return tuple(rng.randint(low, high) for _ in range(ndim))


# sample counts for accuracies: with a prime count, two draws give the same accuracy only when
# they give the same count of right answers out of the same number of samples
_PRIMES = [n for n in range(101, 400) if all(n % d for d in range(2, int(n**0.5) + 1))]

# the streams properties.py derives θ* and the circles from (its THETA_STREAM, CIRCLES_GEOMETRY_STREAM)
_THETA_STREAM = 530
_CIRCLES_GEOMETRY_STREAM = 531


def _theta_star(seed: int) -> tuple[float, float]:
    """The true [weight, bias] of the regression data; the same as `properties._theta_star`."""
    rng = random.Random(_stream(seed, _THETA_STREAM))
    while True:
        theta = (rng.choice((-1.0, 1.0)) * rng.uniform(1.0, 4.0), rng.uniform(-3.0, 3.0))
        if max(abs(theta[0] - 3.0), abs(theta[1] - 2.0)) > 0.25:
            return theta


def _circles_geometry(seed: int) -> tuple[tuple[float, float], float, float, int]:
    """(centre, inner radius, outer radius, label of the inner circle); as `properties._circles_geometry`."""
    rng = random.Random(_stream(seed, _CIRCLES_GEOMETRY_STREAM))
    angle, distance = rng.uniform(0.0, 2 * math.pi), rng.uniform(0.75, 1.25)
    inner = rng.uniform(0.4, 0.6)
    outer = inner + rng.uniform(0.9, 1.1)
    return (distance * math.cos(angle), distance * math.sin(angle)), inner, outer, rng.randrange(2)


def _circles(n: int, generator: torch.Generator, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Two noisy concentric circles of the seed's geometry; same recipe as properties._make_circles."""
    (cx, cy), inner, outer, inner_label = _circles_geometry(seed)
    y = torch.arange(n) % 2
    radius = torch.where(y == inner_label, inner, outer) + 0.1 * torch.randn(n, generator=generator)
    angle = 2 * math.pi * torch.rand(n, generator=generator)
    return torch.stack([cx + radius * angle.cos(), cy + radius * angle.sin()], dim=1), y


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


def _params(model):
    return {name: p.detach().clone() for name, p in model.named_parameters()}


def _grad_through(fn, x, *rest):
    """The gradient, with respect to `x`, of a fixed weighting of `fn(x, *rest)`'s entries; None
    when the result is cut off the autograd graph (detached, or rebuilt from values)."""
    x = x.detach().clone().requires_grad_(True)
    out = fn(x, *rest)
    if not isinstance(out, torch.Tensor) or not out.requires_grad:
        return None
    weights = torch.linspace(-1.0, 2.0, out.numel(), dtype=out.dtype).reshape(out.shape)
    (out * weights).sum().backward()
    return x.grad


# Part 1 — Tensors ----------------------------------------------------------------------------


@pytest.mark.points(0.5)
@pytest.mark.spec("tensor_info")
def test_tensor_info_scalars_and_devices(sub, check, any_device, seed):
    """tensor_info on a 0-dimensional tensor and on tensors of any device and dtype."""
    rng = _rng(seed, 100)
    check(sub.tensor_info(torch.tensor(rng.uniform(-10.0, 10.0)).to(any_device)), name="0-dimensional tensor", constant=True)
    check(sub.tensor_info(torch.zeros(_shape(rng, 5, 1, 4), dtype=torch.float16).to(any_device)), name="5-d float16")
    check(sub.tensor_info(torch.zeros(_shape(rng, 2, 1, 32), dtype=torch.float64)), name="float64 on the CPU")
    check(sub.tensor_info(torch.zeros(rng.randint(1, 999), dtype=torch.bool).to(any_device)), name="1-d bool")


@pytest.mark.points(0.5)
@pytest.mark.spec("to_float32")
def test_to_float32_dtypes_devices(sub, check, any_device, seed):
    """to_float32 from float16, float32 and bool, on every device, leaving the input unchanged."""
    g, rng = _gen(seed, 101), _rng(seed, 101)
    half = torch.randn(_shape(rng, 2, 1, 24), generator=g).to(torch.float16).to(any_device)
    check(sub.to_float32(half), name="from float16")
    if any_device != "meta":
        check(half, name="float16 input after the call")  # converted in place, it would be float32
    bools = torch.rand(rng.randint(1, 999), generator=g) < 0.5
    check(sub.to_float32(bools.to(any_device)), name="from bool")
    x = torch.randn(rng.randint(1, 999), generator=g).to(any_device)
    check(sub.to_float32(x), name="from float32")
    if any_device != "meta":
        check(x, name="input after the call")
        check(_grad_through(sub.to_float32, half), name="gradient through to_float32 (None: cut off the graph)")


@pytest.mark.points(1)
@pytest.mark.spec("stack_images")
def test_stack_images_rejects_bad_input(sub, check, seed):
    """stack_images raises ValueError for an empty list and for images of different shapes."""
    g, rng = _gen(seed, 112), _rng(seed, 112)
    shape = _shape(rng, 3, 1, 5)
    check(sub.stack_images([torch.randn(shape, generator=g), torch.randn(shape, generator=g)]), name="two equal-shaped images")
    check.raises(ValueError, sub.stack_images, [])
    c, h, w = _shape(rng, 3, 1, 5)
    check.raises(ValueError, sub.stack_images, [torch.zeros(c, h, w), torch.zeros(c, h, w + rng.randint(1, 3))])
    odd = torch.zeros(c + rng.randint(1, 3), h, w)
    check.raises(ValueError, sub.stack_images, [torch.zeros(c, h, w), torch.zeros(c, h, w), odd])


@pytest.mark.points(0.5)
@pytest.mark.spec("stack_images")
def test_stack_images_devices(sub, check, any_device, seed):
    """stack_images keeps dtype and device, also for a single image."""
    g, rng = _gen(seed, 102), _rng(seed, 102)
    shape = _shape(rng, 3, 1, 8)
    images = [torch.randn(shape, generator=g).to(torch.float16).to(any_device) for _ in range(rng.randint(2, 6))]
    check(sub.stack_images(images), name="several float16 images")
    check(sub.stack_images(images[:1]), name="a single image")


@pytest.mark.points(0.5)
@pytest.mark.spec("flatten_images")
def test_flatten_images_non_contiguous(sub, check, any_device, seed):
    """flatten_images works on a non-contiguous batch, on every device."""
    g, rng = _gen(seed, 103), _rng(seed, 103)
    n, h, w, c = rng.randint(1, 5), rng.randint(2, 6), rng.randint(2, 6), rng.randint(2, 5)
    x = torch.randn(n, h, w, c, generator=g).to(any_device).permute(0, 3, 1, 2)
    check(sub.flatten_images(x), name="non-contiguous (N, C, H, W)")
    single = torch.randn(1, 1, rng.randint(1, 16), rng.randint(1, 64), generator=g)
    check(sub.flatten_images(single.to(any_device)), name="one single-channel image")
    if any_device != "meta":
        check(_grad_through(sub.flatten_images, x), name="gradient through flatten_images (None: cut off the graph)")


@pytest.mark.points(0.5)
@pytest.mark.spec("channels_last")
def test_channels_last_devices(sub, check, any_device, seed):
    """channels_last on float16 batches on every device, leaving the input unchanged."""
    g, rng = _gen(seed, 105), _rng(seed, 105)
    shape = (rng.randint(1, 5), rng.randint(2, 5), rng.randint(2, 6), rng.randint(2, 6))
    x = torch.randn(shape, generator=g).to(torch.float16).to(any_device)
    check(sub.channels_last(x), name="(N, C, H, W)")
    check(sub.channels_last(torch.randn(1, 1, 1, rng.randint(2, 256), generator=g).to(any_device)), name="(1, 1, 1, W)")
    if any_device != "meta":
        check(x, name="input after the call")
        check(_grad_through(sub.channels_last, x.float()), name="gradient through channels_last (None: cut off the graph)")


@pytest.mark.points(0.5)
@pytest.mark.spec("horizontal_flip")
def test_horizontal_flip_any_leading_dims(sub, check, any_device, seed):
    """horizontal_flip works with any number of leading dimensions, on every device."""
    g, rng = _gen(seed, 107), _rng(seed, 107)
    check(sub.horizontal_flip(torch.randn(rng.randint(1, 16), rng.randint(2, 16), generator=g).to(any_device)), name="(H, W)")
    check(sub.horizontal_flip(torch.randn(_shape(rng, 3, 2, 8), generator=g).to(any_device)), name="(C, H, W)")
    x = torch.randn(_shape(rng, 5, 1, 4), generator=g).to(torch.float16).to(any_device)
    check(sub.horizontal_flip(x), name="5 dimensions, float16")
    if any_device != "meta":
        check(x, name="input after the call")
        check(_grad_through(sub.horizontal_flip, x.float()), name="gradient through horizontal_flip (None: cut off the graph)")


@pytest.mark.points(0.5)
@pytest.mark.spec("concat_features")
def test_concat_features_devices(sub, check, any_device, seed):
    """concat_features on float16 features on every device, also with a single feature column."""
    g, rng = _gen(seed, 108), _rng(seed, 108)
    n = rng.randint(1, 16)
    a = torch.randn(n, 1, generator=g).to(torch.float16).to(any_device)
    b = torch.randn(n, rng.randint(2, 32), generator=g).to(torch.float16).to(any_device)
    check(sub.concat_features(a, b), name="(N, 1) and (N, q)")
    check(sub.concat_features(b, a), name="(N, q) and (N, 1)")
    if any_device != "meta":
        check(_grad_through(sub.concat_features, b.float(), a.float()), name="gradient through concat_features (None: cut off the graph)")


@pytest.mark.points(0.5)
@pytest.mark.spec("batched_affine")
@pytest.mark.how("vectorised")
def test_batched_affine_devices(sub, check, any_device, seed):
    """batched_affine on every device, also for a batch of one."""
    g, rng = _gen(seed, 109), _rng(seed, 109)
    n, d_in, d_out = rng.randint(2, 9), rng.randint(1, 9), rng.randint(1, 128)
    X, W, b = torch.randn(n, d_in, generator=g), torch.randn(d_out, d_in, generator=g), torch.randn(d_out, generator=g)
    X, W, b = X.to(any_device), W.to(any_device), b.to(any_device)
    check(sub.batched_affine(X, W, b), name="a batch")
    check(sub.batched_affine(X[:1], W, b), name="1 sample")


@pytest.mark.points(0.5)
@pytest.mark.spec("batched_affine")
@pytest.mark.how("vectorised")
def test_batched_affine_float64(sub, check, seed):
    """batched_affine keeps float64 inputs in float64."""
    g, rng = _gen(seed, 111), _rng(seed, 111)
    n, d_in, d_out = rng.randint(2, 9), rng.randint(1, 9), rng.randint(1, 9)
    X = torch.randn(n, d_in, generator=g, dtype=torch.float64)
    W = torch.randn(d_out, d_in, generator=g, dtype=torch.float64)
    b = torch.randn(d_out, generator=g, dtype=torch.float64)
    check(sub.batched_affine(X, W, b), name="float64")
    check(sub.batched_affine(X[:0], W, b), name="an empty batch, shape (0, d_in)")
    check(_grad_through(sub.batched_affine, X, W, b), name="gradient w.r.t. X (None: cut off the graph)")


@pytest.mark.points(0.5)
@pytest.mark.spec("relu")
def test_relu_float64(sub, check, seed):
    """relu keeps float64 inputs in float64."""
    shape = _shape(_rng(seed, 113), 3, 1, 5)
    x = torch.randn(shape, generator=_gen(seed, 113), dtype=torch.float64)
    check(sub.relu(x), name="float64, 3 dimensions")
    check(_grad_through(sub.relu, x), name="gradient through relu (None: cut off the graph)")


@pytest.mark.points(1)
@pytest.mark.spec("relu")
def test_relu_dtype_device_input(sub, check, any_device, seed):
    """relu keeps shape, dtype and device and leaves its input unchanged."""
    g, rng = _gen(seed, 110), _rng(seed, 110)
    on_meta = any_device == "meta"  # a 0-dimensional result is judged by its (fixed) shape only there
    x = torch.randn(_shape(rng, 3, 1, 8), generator=g).to(any_device)
    check(sub.relu(x), name="3 dimensions")
    if not on_meta:
        check(x, name="input after the call")
    check(sub.relu((100 * torch.randn(rng.randint(20, 999), generator=g)).to(any_device)), name="large values")
    check(sub.relu(torch.tensor(-rng.uniform(0.1, 10.0)).to(any_device)), name="0-dimensional, negative", constant=True)
    check(sub.relu(torch.tensor(rng.uniform(0.1, 10.0)).to(any_device)), name="0-dimensional, positive", constant=on_meta)


@pytest.mark.points(0.5)
@pytest.mark.spec("numpy_bridge")
def test_numpy_bridge_shares_both_ways(sub, check, seed):
    """numpy_bridge keeps the array's dtype, and the tensor and the array see each other's changes."""
    rng, nprng = _rng(seed, 114), np.random.default_rng(_stream(seed, 114))
    a = nprng.integers(-100, 100, size=_shape(rng, 2, 2, 5), dtype=np.int32)
    t = sub.numpy_bridge(a)
    check(t, name="tensor from an int32 array")
    i, j = rng.randrange(a.shape[0]), rng.randrange(a.shape[1])
    t[i, j] = rng.choice((-1, 1)) * rng.randint(200, 999)  # outside the array's values
    check(int(a[i, j]), name="array after changing the tensor")
    b = nprng.random(rng.randint(3, 9))
    u = sub.numpy_bridge(b)
    b[rng.randrange(len(b))] = rng.uniform(5.0, 50.0)
    check(u, name="float64 tensor after changing the array")


@pytest.mark.points(0.5)
@pytest.mark.spec("pick_device")
def test_pick_device_prefers_cuda_then_mps(sub, check, monkeypatch, seed):
    """pick_device prefers CUDA, then MPS, then the CPU."""
    for cuda, mps in [(True, True), (True, False), (False, True), (False, False)]:
        with monkeypatch.context() as patch:
            _pretend_machine(patch, cuda=cuda, mps=mps)
            check(sub.pick_device(), name=f"CUDA {'available' if cuda else 'absent'}, MPS {'available' if mps else 'absent'}",
                  constant=True)
            if not cuda and not mps:  # only the CPU can take a tensor on a machine that merely pretends
                x = torch.randn(_shape(_rng(seed, 115), 3, 1, 4), generator=_gen(seed, 115))
                check(x.to(sub.pick_device()), name="a tensor moved to the device picked without accelerators")


# Part 2 — Autograd ---------------------------------------------------------------------------


@pytest.mark.points(1.5)
@pytest.mark.spec("grad_f")
@pytest.mark.how("autograd")
def test_grad_f_more_points(sub, check, seed):
    """grad_f at integer and float points, including points with x = 0 and with a large y."""
    rng = _rng(seed, 200)
    check(sub.grad_f(0, rng.randint(-99, 99)), name="at x = 0", constant=True)
    check(sub.grad_f(rng.uniform(-5.0, 5.0), rng.uniform(-5.0, 5.0)), name="at a float point")
    check(sub.grad_f(rng.randint(-999, 999), rng.randint(-99, 99)), name="at an integer point")
    check(sub.grad_f(rng.uniform(-1.0, 1.0), rng.uniform(50.0, 500.0)), name="with a large y")


@pytest.mark.points(1.5)
@pytest.mark.spec("accumulated_grad")
def test_accumulated_grad_more_points(sub, check, seed):
    """accumulated_grad at integer and float points, including points with x = 0 and with a large y."""
    rng = _rng(seed, 208)
    check(sub.accumulated_grad(0, rng.randint(-999, 999)), name="at x = 0")
    check(sub.accumulated_grad(rng.uniform(-5.0, 5.0), rng.uniform(-5.0, 5.0)), name="at a float point")
    check(sub.accumulated_grad(rng.randint(-99, 99), rng.randint(-99, 99)), name="at an integer point")
    check(sub.accumulated_grad(rng.uniform(-1.0, 1.0), rng.uniform(50.0, 500.0)), name="with a large y")


@pytest.mark.points(1)
@pytest.mark.spec("grad_of")
def test_grad_of_leaves_grad_untouched(sub, check, seed):
    """grad_of leaves the .grad of its points as it found it (None or an existing gradient)."""
    g, rng = _gen(seed, 201), _rng(seed, 201)
    n = rng.randint(2, 9)
    a = torch.randn(n, generator=g, requires_grad=True)
    a.grad = torch.full((n,), rng.uniform(-2.0, 2.0))
    b = torch.randn(n, generator=g)
    ga, gb = sub.grad_of(lambda u, v: (u.exp() * v).sum(), a, b)
    check(ga.detach(), name="gradient w.r.t. the first point")
    check(gb.detach(), name="gradient w.r.t. the second point")
    check(a.grad, name="first point's existing .grad afterwards")
    check((a.requires_grad, b.requires_grad), name="the points' requires_grad afterwards", constant=True)
    check(b.grad is None, name="second point's .grad still None", constant=True)


@pytest.mark.points(0.5)
@pytest.mark.spec("grad_of")
def test_grad_of_does_not_accumulate(sub, check, seed):
    """grad_of gives the same gradient when called twice on the same point."""
    x = torch.randn(_shape(_rng(seed, 202), 2, 1, 5), generator=_gen(seed, 202), requires_grad=True)
    fn = lambda t: (t**3).sum()  # noqa: E731
    (first,) = sub.grad_of(fn, x)
    first = first.detach().clone()
    (second,) = sub.grad_of(fn, x)
    check(first, name="first call")
    check(second.detach(), name="second call")


@pytest.mark.points(0.5)
@pytest.mark.spec("grad_of")
def test_grad_of_point_not_used(sub, check, seed):
    """grad_of returns a tuple, with a zero gradient for a point that `fn` does not use."""
    g, rng = _gen(seed, 209), _rng(seed, 209)
    used = torch.randn(rng.randint(2, 9), generator=g)
    unused = torch.randn(_shape(rng, 2, 1, 4), generator=g)
    grads = sub.grad_of(lambda u, v: (u * u.sin()).sum(), used, unused)
    check(type(grads).__name__, name="type of the result", constant=True)
    check([t.detach() for t in grads], name="gradients, the second point unused by fn")


def _three_point_fn(A, x, c):
    return ((A @ x).tanh() * c).sum() + c**2


@pytest.mark.points(0.5)
@pytest.mark.spec("grad_of")
def test_grad_of_devices(sub, check, device, seed):
    """grad_of with points of different shapes, one of them 0-dimensional, on every device."""
    g, rng = _gen(seed, 203), _rng(seed, 203)
    rows, cols = rng.randint(1, 16), rng.randint(1, 16)
    W, v, s = torch.randn(rows, cols, generator=g), torch.randn(cols, generator=g), torch.tensor(rng.uniform(-2.0, 2.0))
    grads = sub.grad_of(_three_point_fn, W.to(device), v.to(device), s.to(device))
    check([t.detach() for t in grads], name="gradients w.r.t. the three points")


@pytest.mark.points(0.5)
@pytest.mark.spec("grad_of")
def test_grad_of_float64(sub, check, seed):
    """grad_of keeps float64 points in float64."""
    g, rng = _gen(seed, 207), _rng(seed, 207)
    rows, cols = rng.randint(1, 6), rng.randint(1, 6)
    W, v = torch.randn(rows, cols, generator=g, dtype=torch.float64), torch.randn(cols, generator=g, dtype=torch.float64)
    grads = sub.grad_of(_three_point_fn, W, v, torch.tensor(rng.uniform(-2.0, 2.0), dtype=torch.float64))
    check([t.detach() for t in grads], name="float64 gradients")


@pytest.mark.points(1)
@pytest.mark.spec("numerical_grad")
@pytest.mark.derived("difference to the autograd gradient", "numerical_grad(fn, x) minus the gradient autograd gives")
def test_numerical_grad_matches_autograd(sub, check, seed):
    """numerical_grad of a smooth function agrees with autograd."""
    rng = _rng(seed, 204)
    x = torch.randn(rng.randint(2, 4), rng.randint(1, 4), generator=_gen(seed, 204), dtype=torch.float64)
    fn = lambda t: (t.sin() * t.exp()).sum() + (t[0] * t[1]).sum()  # noqa: E731
    estimate = sub.numerical_grad(fn, x)
    exact = x.clone().requires_grad_(True)
    fn(exact).backward()
    check(estimate, name="finite-difference gradient", atol=1e-8)
    check(estimate - exact.grad, name="difference to the autograd gradient", atol=1e-5, constant=True)  # ≈ 0


@pytest.mark.points(0.5)
@pytest.mark.spec("numerical_grad")
def test_numerical_grad_eps_and_input(sub, check, seed):
    """numerical_grad uses the given eps, keeps the input's shape and dtype, and leaves it unchanged."""
    g, rng = _gen(seed, 205), _rng(seed, 205)
    x = torch.randn(rng.randint(2, 8), generator=g, dtype=torch.float64)
    cubic = lambda t: (t**3).sum()  # noqa: E731
    check(sub.numerical_grad(cubic, x, eps=rng.uniform(0.05, 0.2)), name="a given eps", atol=1e-8)
    check(sub.numerical_grad(cubic, x, rng.uniform(0.3, 0.6)), name="another eps, given by position", atol=1e-8)
    check(x, name="input after the call")
    y = torch.randn(_shape(rng, 2, 1, 4), generator=g)
    check(sub.numerical_grad(lambda t: (t**2).sum(), y), name="float32 input", rtol=1e-3, atol=1e-3)
    tracked = y.clone().requires_grad_(True)
    sub.numerical_grad(lambda t: (t**2).sum(), tracked)
    check(tracked.requires_grad, name="a tracked input still requires grad afterwards", constant=True)


@pytest.mark.points(0.5)
@pytest.mark.spec("numerical_grad")
def test_numerical_grad_devices(sub, check, any_device, seed):
    """numerical_grad returns its estimate on the input's device."""
    g, rng = _gen(seed, 206), _rng(seed, 206)
    x = torch.randn(_shape(rng, 2, 1, 4), generator=g).to(any_device)
    check(sub.numerical_grad(lambda t: (t * t.abs()).sum(), x, eps=rng.uniform(0.05, 0.1)), name="float32 input",
          rtol=1e-3, atol=1e-3)


# Part 3 — Models -----------------------------------------------------------------------------


@pytest.mark.points(1.5)
@pytest.mark.spec("LinearModel")
def test_linear_model_module(sub, check, seed):
    """LinearModel is an nn.Module whose only parameters are those of `linear`, and works in float64."""
    g, rng = _gen(seed, 301), _rng(seed, 301)
    d_in, d_out = rng.randint(1, 32), rng.randint(1, 16)
    model = sub.LinearModel(d_in, d_out)
    check(isinstance(model, nn.Module), name="an nn.Module", constant=True)
    check(sorted(model.state_dict()), name="state_dict keys", constant=True)
    check(sorted(tuple(p.shape) for p in model.parameters()), name="parameter shapes")
    model.load_state_dict({"linear.weight": torch.randn(d_out, d_in, generator=g), "linear.bias": torch.randn(d_out, generator=g)})
    model = model.double()
    with torch.no_grad():
        check(model(torch.randn(rng.randint(2, 8), d_in, generator=g, dtype=torch.float64)), name="float64 output")
        check(model(torch.randn(1, d_in, generator=g, dtype=torch.float64)), name="batch of one")


def _mlp_weights(d_in, d_hidden, d_out, generator):
    return {
        "hidden.weight": torch.randn(d_hidden, d_in, generator=generator),
        "hidden.bias": torch.randn(d_hidden, generator=generator),
        "output.weight": torch.randn(d_out, d_hidden, generator=generator),
        "output.bias": torch.randn(d_out, generator=generator),
    }


@pytest.mark.points(1.5)
@pytest.mark.spec("MLP")
def test_mlp_activations(sub, check, seed):
    """MLP computes the right logits with each of the three activations."""
    g, rng = _gen(seed, 302), _rng(seed, 302)
    d_in, d_hidden, d_out = rng.randint(1, 6), rng.randint(2, 8), rng.randint(1, 6)
    X = 2 * torch.randn(rng.randint(2, 10), d_in, generator=g)
    weights = _mlp_weights(d_in, d_hidden, d_out, g)
    for activation in ("relu", "sigmoid", "tanh"):
        model = sub.MLP(d_in, d_hidden, d_out, activation=activation)
        model.load_state_dict(weights)
        with torch.no_grad():
            check(model(X), name=f"logits with activation={activation!r}")


@pytest.mark.points(0.5)
@pytest.mark.spec("MLP")
def test_mlp_structure(sub, check, seed):
    """MLP has exactly the parameters of its two layers, with the right shapes."""
    rng = _rng(seed, 304)
    sizes = rng.randint(1, 32), rng.randint(1, 32), rng.randint(1, 16)
    model = sub.MLP(*sizes, activation=rng.choice(("relu", "sigmoid", "tanh")))
    check({name: tuple(p.shape) for name, p in model.named_parameters()}, name="parameter shapes")


_UNKNOWN_ACTIVATIONS = ("gelu", "softmax", "elu", "leaky_relu", "swish", "identity")


@pytest.mark.points(1)
@pytest.mark.spec("MLP")
def test_mlp_rejects_unknown_activation(sub, check, seed):
    """MLP raises ValueError for an activation it does not know."""
    rng = _rng(seed, 305)
    sizes = rng.randint(1, 32), rng.randint(1, 32), rng.randint(1, 16)
    model = sub.MLP(*sizes, activation=rng.choice(("relu", "sigmoid", "tanh")))
    check({name: tuple(p.shape) for name, p in model.named_parameters()}, name="a known activation builds")
    for activation in rng.sample(_UNKNOWN_ACTIVATIONS, 2):
        check.raises(ValueError, lambda a=activation: sub.MLP(*sizes, activation=a)(torch.zeros(1, sizes[0])))


@pytest.mark.points(2)
@pytest.mark.spec("count_parameters")
def test_count_parameters_trainable_only(sub, check, seed):
    """count_parameters counts trainable parameters only: no frozen ones, no buffers, shared ones once."""
    rng = _rng(seed, 306)
    d_in, d_hidden, d_out = rng.randint(2, 16), rng.randint(2, 64), rng.randint(1, 16)
    frozen = nn.Sequential(nn.Linear(d_in, d_hidden), nn.Tanh(), nn.Linear(d_hidden, d_out))
    frozen[0].weight.requires_grad_(False)
    check(sub.count_parameters(frozen), name="first weight frozen")
    d_in, d_out = rng.randint(1, 64), rng.randint(1, 32)
    check(sub.count_parameters(nn.Sequential(nn.Linear(d_in, d_out), nn.BatchNorm1d(d_out))), name="with BatchNorm (buffers)")
    width, d_out = rng.randint(2, 64), rng.randint(1, 16)
    shared = nn.Linear(width, width)
    model = nn.Sequential(shared, nn.Tanh(), shared, nn.Linear(width, d_out))
    check(sub.count_parameters(model), name="one layer used twice")
    all_frozen = nn.Linear(rng.randint(1, 8), rng.randint(1, 8)).requires_grad_(False)
    check(sub.count_parameters(all_frozen), name="everything frozen", constant=True)


@pytest.mark.points(1.5)
@pytest.mark.spec("samples_needed")
@pytest.mark.uses("count_parameters")
@pytest.mark.derived("samples per parameter, last layer frozen", "samples_needed(model) / count_parameters(model)")
def test_samples_needed_trainable_only(sub, check, seed):
    """samples_needed follows the 10-times rule, also for models with frozen parts."""
    rng = _rng(seed, 307)
    model = nn.Sequential(nn.Linear(rng.randint(2, 16), 16), nn.Tanh(), nn.Linear(16, rng.randint(1, 8)))
    model[2].requires_grad_(False)
    # the rule relative to the submission's own count, so that a count_parameters bug costs only it
    check(sub.samples_needed(model) / max(sub.count_parameters(model), 1), name="samples per parameter, last layer frozen",
          constant=True)
    check(sub.samples_needed(nn.Linear(rng.randint(1, 64), rng.randint(1, 16))), name="an nn.Linear")


# Part 4 — Losses -----------------------------------------------------------------------------


@pytest.mark.points(1.5)
@pytest.mark.spec("softmax")
def test_softmax_large_logits(sub, check, seed):
    """softmax is finite and exact for logits in the thousands, in float32 and float64."""
    g, rng = _gen(seed, 401), _rng(seed, 401)
    rows, classes = rng.randint(3, 6), rng.randint(4, 7)
    z = 1000 * torch.randn(rows, classes, generator=g)
    # a row of near-ties in the high hundreds or thousands, with one very negative logit and one 0
    big = rng.uniform(800.0, 1500.0)
    z[0] = big + torch.randint(-2, 3, (classes,), generator=g).float()
    low, zero = torch.randperm(classes, generator=g)[:2].tolist()
    z[0, low], z[0, zero] = -big, 0.0
    # a row of very negative logits with an exact tie and one far below the others
    z[1] = -rng.uniform(2000.0, 3500.0) - torch.randint(0, 3, (classes,), generator=g).float()
    first, second, lowest = torch.randperm(classes, generator=g)[:3].tolist()
    z[1, second] = z[1, first]
    z[1, lowest] -= 2000.0
    # float32 holds logits near 1000 only to about 1e-4, so equally good formulas differ that much
    for dtype, tol in ((torch.float32, 2e-4), (torch.float64, None)):
        p = sub.softmax(z.to(dtype))
        check(p, name=f"{dtype} probabilities", rtol=tol, atol=tol)


@pytest.mark.points(0.5)
@pytest.mark.spec("softmax")
def test_softmax_dim_and_devices(sub, check, any_device, seed):
    """softmax along any dimension, on every device, leaving the input unchanged."""
    z = torch.randn(_shape(_rng(seed, 402), 3, 2, 9), generator=_gen(seed, 402)).to(any_device)
    check(sub.softmax(z, dim=0), name="dim=0")
    check(sub.softmax(z, dim=1), name="dim=1")
    check(sub.softmax(z), name="default dim")
    if any_device != "meta":
        check(z, name="input after the call")
        check(_grad_through(sub.softmax, z, 1), name="gradient through softmax (None: cut off the graph)")


@pytest.mark.points(0.5)
@pytest.mark.spec("mse_loss")
def test_mse_loss_float64(sub, check, seed):
    """mse_loss keeps float64 inputs in float64."""
    g, rng = _gen(seed, 408), _rng(seed, 408)
    shape = (rng.randint(2, 9), rng.randint(2, 9))
    pred, target = torch.randn(shape, generator=g, dtype=torch.float64), torch.randn(shape, generator=g, dtype=torch.float64)
    check(sub.mse_loss(pred, target), name="vector samples, float64")


@pytest.mark.points(0.5)
@pytest.mark.spec("mse_loss")
def test_mse_loss_vectors_devices(sub, check, any_device, seed):
    """mse_loss sums over each sample's vector and averages over samples, on every device, also for scalar samples."""
    g, rng = _gen(seed, 403), _rng(seed, 403)
    on_meta = any_device == "meta"  # a 0-dimensional result is judged by its (fixed) shape only there
    shape = (rng.randint(2, 9), rng.randint(2, 9))
    pred, target = torch.randn(shape, generator=g), torch.randn(shape, generator=g)
    pred, target = pred.to(any_device), target.to(any_device)
    check(sub.mse_loss(pred, target), name="vector samples", constant=on_meta)
    check(sub.mse_loss(pred[:, :1], target[:, :1]), name="samples of size 1", constant=on_meta)
    check(sub.mse_loss(pred[:1], target[:1]), name="a single sample", constant=on_meta)
    check(sub.mse_loss(pred[:, 0], target[:, 0]), name="scalar samples, shape (N,)", constant=on_meta)
    check(pred, name="pred after the call")
    if not on_meta:
        check(_grad_through(sub.mse_loss, pred, target), name="gradient w.r.t. pred (None: cut off the graph)")


def _large_logits(seed):
    g, rng = _gen(seed, 404), _rng(seed, 404)
    rows, classes = rng.randint(4, 8), rng.randint(3, 6)
    logits = 1000 * torch.randn(rows, classes, generator=g)
    big = rng.uniform(1500.0, 2500.0)
    top, bottom, near = torch.randperm(classes, generator=g)[:3].tolist()
    logits[0, top], logits[0, bottom], logits[0, near] = big, -big, big - 1.0
    return logits, torch.randint(0, classes, (rows,), generator=g)


@pytest.mark.points(0.5)
@pytest.mark.spec("cross_entropy")
def test_cross_entropy_large_logits(sub, check, any_device, seed):
    """cross_entropy is finite and right for logits in the thousands, on every device, leaving its inputs unchanged."""
    logits, targets = _large_logits(seed)
    logits, targets = logits.to(any_device), targets.to(any_device)
    loss = sub.cross_entropy(logits, targets)
    check(loss, name="loss", constant=any_device == "meta")
    check(targets, name="targets after the call")
    if any_device != "meta":
        check(logits, name="logits after the call")
        check(_grad_through(sub.cross_entropy, logits / 1000, targets), name="gradient w.r.t. the logits (None: cut off the graph)")


@pytest.mark.points(0.5)
@pytest.mark.spec("cross_entropy")
def test_cross_entropy_large_logits_float64(sub, check, seed):
    """cross_entropy is finite and right for float64 logits in the thousands."""
    logits, targets = _large_logits(seed)
    loss = sub.cross_entropy(logits.double(), targets)
    check(loss, name="float64 loss")


@pytest.mark.points(0.5)
@pytest.mark.spec("cross_entropy")
def test_cross_entropy_float64_small(sub, check, seed):
    """cross_entropy in float64 with one and with many classes."""
    g, rng = _gen(seed, 405), _rng(seed, 405)
    rows = rng.randint(2, 8)
    one_class = torch.randn(rows, 1, generator=g, dtype=torch.float64)
    check(sub.cross_entropy(one_class, torch.zeros(rows, dtype=torch.int64)), name="one class", constant=True)  # always 0
    rows, classes = rng.randint(2, 6), rng.randint(8, 12)
    logits = torch.randn(rows, classes, generator=g, dtype=torch.float64)
    check(sub.cross_entropy(logits, torch.randint(0, classes, (rows,), generator=g)), name="many classes")


@pytest.mark.points(1)
@pytest.mark.spec("kl_divergence")
def test_kl_divergence_zero_probabilities(sub, check, any_device, seed):
    """kl_divergence counts terms with p = 0 as 0 (e.g. one-hot p), on every device, leaving its inputs unchanged."""
    g, rng = _gen(seed, 406), _rng(seed, 406)
    on_meta = any_device == "meta"  # a 0-dimensional result is judged by its (fixed) shape only there
    rows, classes = rng.randint(3, 8), rng.randint(3, 6)
    q = _probabilities(rows, classes, g).to(any_device)
    p_onehot = torch.zeros(rows, classes)
    p_onehot[torch.arange(rows), torch.randint(0, classes, (rows,), generator=g)] = 1.0
    p_onehot = p_onehot.to(any_device)
    loss = sub.kl_divergence(p_onehot, q)
    check(loss, name="one-hot p", constant=on_meta)
    check(sub.kl_divergence(q, q), name="a distribution against itself", constant=True)  # always 0
    check(q, name="q after the call")
    check(p_onehot, name="p after the call")


@pytest.mark.points(0.5)
@pytest.mark.spec("kl_divergence")
def test_kl_divergence_float64(sub, check, seed):
    """kl_divergence in float64, with a zero probability in p."""
    g, rng = _gen(seed, 409), _rng(seed, 409)
    rows = rng.randint(2, 8)
    classes = rng.choice([c for c in range(3, 7) if c != rows])  # a sum over the wrong dimension shows
    p, q = _probabilities(rows, classes, g, dtype=torch.float64), _probabilities(rows, classes, g, dtype=torch.float64)
    p[rng.randrange(rows), rng.randrange(classes)] = 0.0
    p = p / p.sum(1, keepdim=True)
    check(sub.kl_divergence(p, q), name="float64 with one zero probability")
    gradient = _grad_through(lambda q_, p_: sub.kl_divergence(p_, q_), q, p)
    check(gradient, name="gradient w.r.t. q (None: cut off the graph)")


@pytest.mark.points(1)
@pytest.mark.spec("one_hot")
def test_one_hot_devices(sub, check, any_device, seed):
    """one_hot returns float32 on the targets' device, for every class and a single target."""
    g, rng = _gen(seed, 410), _rng(seed, 410)
    classes = rng.randint(3, 16)
    every_class = torch.cat([torch.arange(classes), torch.randint(0, classes, (rng.randint(1, 8),), generator=g)])
    targets = every_class[torch.randperm(len(every_class), generator=g)].to(any_device)
    check(sub.one_hot(targets, classes), name="every class, some repeated")
    check(sub.one_hot(targets[:1], classes + rng.randint(1, 64)), name="a single target, more classes")
    if any_device != "meta":
        check(targets, name="targets after the call")


@pytest.mark.points(0.5)
@pytest.mark.spec("hinge_loss")
def test_hinge_loss_float64(sub, check, seed):
    """hinge_loss keeps float64 scores in float64."""
    g, rng = _gen(seed, 411), _rng(seed, 411)
    rows, classes = rng.randint(3, 9), rng.randint(2, 6)
    scores = torch.randn(rows, classes, generator=g, dtype=torch.float64)
    targets = torch.randint(0, classes, (rows,), generator=g)
    check(sub.hinge_loss(scores, targets, margin=rng.uniform(0.2, 0.8)), name="another margin, float64")


@pytest.mark.points(0.5)
@pytest.mark.spec("hinge_loss")
def test_hinge_loss_margin_devices(sub, check, any_device, seed):
    """hinge_loss with other margins and with ties, on every device, leaving its inputs unchanged."""
    g, rng = _gen(seed, 407), _rng(seed, 407)
    device, on_meta = any_device, any_device == "meta"  # a 0-dimensional result: its fixed shape only there
    rows, classes = rng.randint(3, 9), rng.randint(3, 6)
    scores = torch.randn(rows, classes, generator=g).to(device)
    targets = torch.randint(0, classes, (rows,), generator=g).to(device)
    check(sub.hinge_loss(scores, targets, margin=rng.uniform(0.2, 0.8)), name="a small margin", constant=on_meta)
    check(sub.hinge_loss(scores, targets, rng.uniform(1.5, 3.0)), name="a large margin given by position", constant=on_meta)
    check(sub.hinge_loss(scores, targets), name="default margin", constant=on_meta)
    check(targets, name="targets after the call")
    if not on_meta:
        check(scores, name="scores after the call")
        check(_grad_through(sub.hinge_loss, scores, targets), name="gradient w.r.t. the scores (None: cut off the graph)")
    # one row where the true class ties with another, one where it is far above every other class
    ties = torch.randn(2, classes, generator=g)
    truth = torch.randint(0, classes, (2,), generator=g)
    true_class = truth[0].item()
    tied, near = rng.sample([c for c in range(classes) if c != true_class], 2)
    ties[0, tied] = ties[0, true_class]
    ties[0, near] = ties[0, true_class] + rng.uniform(-0.5, 0.5)  # within the margin
    ties[1, truth[1]] = ties[1].max() + 5.0
    check(sub.hinge_loss(ties.to(device), truth.to(device)), name="tied and well-separated scores", constant=on_meta)


# Part 5 — Training ---------------------------------------------------------------------------


@pytest.mark.points(1)
@pytest.mark.spec("gd_step")
def test_gd_step_in_place_untracked(sub, check, seed):
    """gd_step works on model.parameters(), skips parameters without a gradient, keeps parameters untracked leaves."""
    g, rng = _gen(seed, 501), _rng(seed, 501)
    d_in, d_hidden, n = rng.randint(2, 6), rng.randint(2, 5), rng.randint(3, 8)
    torch.manual_seed(_stream(seed, 500))
    model = nn.Sequential(nn.Linear(d_in, d_hidden), nn.Linear(d_hidden, 1))
    X, target = torch.randn(n, d_in, generator=g), torch.randn(n, 1, generator=g)
    model[1].weight.requires_grad_(False)
    _mse(model(X), target).backward()
    model[1].bias.grad = None  # trainable, but without a gradient this time
    sub.gd_step(model.parameters(), rng.uniform(0.01, 0.2))
    check({name: p.detach() for name, p in model.named_parameters()}, name="parameters after the step")
    # a gradient set to None instead of zero counts as zeroed too
    grads = {name: 0.0 if p.grad is None else p.grad.abs().max().item() for name, p in model.named_parameters()}
    check(grads, name="largest |gradient| of each parameter after the step", constant=True)
    after = torch.cat([model[1].weight.detach().flatten(), model[1].bias.detach()])
    check(after, name="parameters without gradient, after the step")
    check([(p.is_leaf, p.grad_fn is None) for p in model.parameters()], name="parameters are still untracked leaves", constant=True)
    check(torch.is_grad_enabled(), name="gradient tracking re-enabled afterwards", constant=True)


@pytest.mark.points(1)
@pytest.mark.spec("minibatches")
def test_minibatches_shuffle(sub, check, device, seed):
    """minibatches shuffles with the given generator and covers every sample exactly once."""
    g, rng = _gen(seed, 502), _rng(seed, 502)
    n = rng.randint(9, 19)
    X = torch.randn(n, rng.randint(1, 4), generator=g).to(device)
    y = torch.randperm(5 * n, generator=g)[:n].to(device)  # distinct labels
    batch_size = rng.choice([b for b in range(2, 6) if n % b])
    batches = [(Xb, yb) for Xb, yb in sub.minibatches(X, y, batch_size, shuffle=True, generator=_gen(seed, 503))]
    check(batches, name="batches with shuffle=True and a seeded generator")
    torch.manual_seed(_stream(seed, 504))
    labels = torch.cat([yb for _, yb in sub.minibatches(X, y, rng.randint(2, 5), shuffle=True)])
    check(labels.sort().values, name="samples seen once each without a generator")
    check([(Xb, yb) for Xb, yb in sub.minibatches(X, y, n)], name="one batch of everything")
    check([(Xb, yb) for Xb, yb in sub.minibatches(X, y, n + rng.randint(1, 10))], name="batch larger than the data")


@pytest.mark.points(0.5)
@pytest.mark.spec("train")
@pytest.mark.uses("minibatches")
def test_train_adam(sub, check, seed):
    """train with Adam and shuffling returns the right losses and parameters."""
    g, rng = _gen(seed, 505), _rng(seed, 505)
    d_in, d_out = rng.randint(2, 5), rng.randint(1, 3)
    X = torch.randn(24, d_in, generator=g)
    y = X @ torch.randn(d_in, d_out, generator=g) + torch.randn(d_out, generator=g)
    torch.manual_seed(_stream(seed, 506))
    model = nn.Linear(d_in, d_out)
    losses = sub.train(model, X, y, loss_fn=_mse, epochs=4, batch_size=6, lr=0.05, optimizer="adam", generator=_gen(seed, 507))
    check(losses, name="mean loss of each epoch", rtol=1e-4, atol=1e-5)
    check(_params(model), name="parameters after training", rtol=1e-4, atol=1e-5)


@pytest.mark.points(1)
@pytest.mark.spec("train")
@pytest.mark.uses("minibatches")
@pytest.mark.derived("difference between the two ways", "the parameters after train with k batches of b minus those after train with batches of k·b")
def test_train_accumulation_matches_big_batch(sub, check, seed):
    """With plain SGD, accumulating k batches of size b gives the same step as one batch of size k·b."""
    g, rng = _gen(seed, 508), _rng(seed, 508)
    d, batch_size, steps = rng.randint(2, 4), rng.randint(3, 5), rng.randint(2, 3)
    X = torch.randn(batch_size * steps * rng.randint(2, 3), d, generator=g)
    y = X @ torch.randn(d, 1, generator=g) + torch.randn(1, generator=g)
    torch.manual_seed(_stream(seed, 509))
    accumulated = nn.Linear(d, 1)
    big = nn.Linear(d, 1)
    big.load_state_dict(accumulated.state_dict())
    sub.train(accumulated, X, y, loss_fn=_mse, epochs=1, batch_size=batch_size, lr=0.1, accumulation_steps=steps, shuffle=False)
    sub.train(big, X, y, loss_fn=_mse, epochs=1, batch_size=batch_size * steps, lr=0.1, accumulation_steps=1, shuffle=False)
    check(_params(accumulated), name="parameters after accumulated batches", rtol=1e-4, atol=1e-5)
    check(_params(big), name="parameters after batches k times as large", rtol=1e-4, atol=1e-5)
    check([(a - b).detach() for a, b in zip(accumulated.parameters(), big.parameters(), strict=True)],
          name="difference between the two ways", atol=1e-5, constant=True)  # ≈ 0


@pytest.mark.points(0.5)
@pytest.mark.spec("train")
@pytest.mark.uses("minibatches")
def test_train_accumulation_last_group(sub, check, seed):
    """train with accumulation also steps the last, shorter group of batches."""
    g, rng = _gen(seed, 510), _rng(seed, 510)
    d, batch_size, steps = rng.randint(1, 3), rng.randint(4, 6), rng.randint(2, 3)
    batches = steps * rng.randint(1, 2) + rng.randint(1, steps - 1)
    X = torch.randn(batch_size * batches, d, generator=g)
    y = X @ torch.randn(d, 1, generator=g)
    torch.manual_seed(_stream(seed, 511))
    model = nn.Linear(d, 1)
    losses = sub.train(model, X, y, loss_fn=_mse, epochs=1, batch_size=batch_size, lr=0.1, accumulation_steps=steps, shuffle=False)
    check(losses, name="mean loss of the epoch", rtol=1e-4, atol=1e-5)
    check(_params(model), name="parameters after the groups of batches, the last one shorter", rtol=1e-4, atol=1e-5)


@pytest.mark.points(0.5)
@pytest.mark.spec("train")
@pytest.mark.uses("minibatches")
def test_train_no_gradient_leak(sub, check, seed):
    """train over several epochs, with and without accumulation, dropout in the model and a smaller last batch: no gradient carries over between steps."""
    g, rng = _gen(seed, 512), _rng(seed, 512)
    d, classes = rng.randint(2, 4), rng.randint(2, 4)
    n = 8 * rng.randint(3, 4) - rng.randint(2, 6)  # the last batch is smaller: its loss weighs as much as the others
    X = torch.randn(n, d, generator=g)
    y = torch.randint(0, classes, (n,), generator=g)
    for k in (1, 2):
        torch.manual_seed(_stream(seed, 513))  # also draws the dropout masks: trained in train mode, they are used
        model = nn.Sequential(nn.Linear(d, 8), nn.Tanh(), nn.Dropout(0.25), nn.Linear(8, classes))
        losses = sub.train(model, X, y, loss_fn=_cross_entropy, epochs=3, batch_size=8, lr=0.3, accumulation_steps=k,
                           shuffle=True, generator=_gen(seed, 514))
        check(losses, name=f"losses with accumulation_steps={k}", rtol=1e-4, atol=1e-5)
        check(_params(model), name=f"parameters with accumulation_steps={k}", rtol=1e-4, atol=1e-5)


_UNKNOWN_OPTIMIZERS = ("rmsprop", "adagrad", "adamw", "lbfgs", "momentum")


@pytest.mark.points(0.5)
@pytest.mark.spec("train")
@pytest.mark.uses("minibatches")
def test_train_rejects_unknown_optimizer(sub, check, seed):
    """train raises ValueError for an optimizer other than "sgd" and "adam"."""
    g, rng = _gen(seed, 515), _rng(seed, 515)
    d = rng.randint(1, 4)
    n = 2 * rng.randint(2, 4)
    X, y = torch.randn(n, d, generator=g), torch.randn(n, 1, generator=g)
    torch.manual_seed(_stream(seed, 516))
    check(sub.train(nn.Linear(d, 1), X, y, loss_fn=_mse, epochs=2, batch_size=2, lr=0.1, optimizer="sgd", shuffle=False),
          name="losses with optimizer='sgd'", rtol=1e-4, atol=1e-5)
    unknown = rng.choice(_UNKNOWN_OPTIMIZERS)
    check.raises(ValueError, sub.train, nn.Linear(d, 1), X, y, loss_fn=_mse, epochs=1, batch_size=2, lr=0.1, optimizer=unknown)


@pytest.mark.points(1)
@pytest.mark.spec("train")
@pytest.mark.uses("minibatches")
def test_train_recovers_lecture_theta(sub, check, seed):
    """train on a regression example like the lecture's recovers the true parameters θ* of the data."""
    g = _gen(seed, 517)
    weight, bias = _theta_star(seed)
    X = 2 * torch.rand(200, 1, generator=g) - 1
    noise = 0.1 * torch.randn(200, 1, generator=g)
    # noise uncorrelated with [X, 1] in this sample: the least-squares fit of the data is θ* itself,
    # so how close training gets depends on train only, not on the luck of the draw
    centred = X - X.mean()
    noise = noise - noise.mean()
    noise = noise - (centred * noise).sum() / (centred * centred).sum() * centred
    y = weight * X + bias + noise
    torch.manual_seed(_stream(seed, 518))
    model = nn.Linear(1, 1)
    losses = sub.train(model, X, y, loss_fn=_mse, epochs=10, batch_size=40, lr=0.2, generator=_gen(seed, 519))
    check.property({k: v.detach().clone() for k, v in model.state_dict().items()}, "theta_recovered", name="θ after training")
    check(len(losses), name="one loss per epoch", constant=True)


@pytest.mark.points(1)
@pytest.mark.spec("train", "MLP")
@pytest.mark.uses("minibatches")
def test_train_mlp_separates_circles(sub, check, seed):
    """An MLP trained with train separates two concentric circles (accuracy ≥ 0.95 on held-out points)."""
    X, y = _circles(256, _gen(seed, 520), seed)
    torch.manual_seed(_stream(seed, 521))
    model = sub.MLP(2, 16, 2, activation="relu")
    sub.train(model, X, y, loss_fn=_cross_entropy, epochs=10, batch_size=64, lr=0.08, optimizer="adam", generator=_gen(seed, 522))
    check.property({k: v.detach().clone() for k, v in model.state_dict().items()}, "circles_accuracy", name="trained MLP")


class _Probe(nn.Module):
    """A classifier that remembers the mode and grad-tracking state of each of its calls."""

    def __init__(self, d_in: int, classes: int) -> None:
        super().__init__()
        self.linear = nn.Linear(d_in, classes)
        self.dropout = nn.Dropout(0.5)
        self.calls: list[tuple[bool, bool]] = []

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.calls.append((self.training, torch.is_grad_enabled()))
        return self.linear(self.dropout(x))


@pytest.mark.points(1)
@pytest.mark.spec("accuracy")
def test_accuracy_eval_mode_restored(sub, check, seed):
    """accuracy evaluates in eval mode without gradients and restores the model's train/eval mode."""
    g, rng = _gen(seed, 523), _rng(seed, 523)
    d, classes, n = rng.randint(3, 6), rng.randint(2, 4), rng.choice(_PRIMES)
    X, y = torch.randn(n, d, generator=g), torch.randint(0, classes, (n,), generator=g)
    for i, start_in_training in enumerate((True, False)):
        torch.manual_seed(_stream(seed, 524 + i))
        model = _Probe(d, classes)
        model.train(start_in_training)
        acc = sub.accuracy(model, X, y)
        mode = "train" if start_in_training else "eval"
        check(acc, name=f"accuracy of a model in {mode} mode")
        check(model.training, name=f"model.training afterwards (was in {mode} mode)", constant=True)
        check(model.dropout.training, name=f"submodule mode afterwards (was in {mode} mode)", constant=True)
        check(len(model.calls) > 0 and not any(training for training, _ in model.calls), name="forward ran in eval mode",
              constant=True)
        check(len(model.calls) > 0 and not any(grad for _, grad in model.calls), name="forward ran without gradient tracking",
              constant=True)
