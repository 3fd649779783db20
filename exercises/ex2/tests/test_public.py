"""Public tests of Exercise 2 — PyTorch basics.

Run them with `grade ex2`. A test does not assert anything itself: it hands the values your
functions return to `check`, and the grader compares them with those of the reference solution
(shape, dtype, device, then values within a small tolerance). The hidden tests check the same
functions more thoroughly (other shapes, dtypes, devices, edge cases): make your code follow
every sentence of the docstrings, not only these examples.

Every input (values, shapes, sizes) is drawn from the `seed` fixture: your self-check uses seed 0,
whose expected values ship in `golden.json`; your instructor grades with other seeds, so your code
must be right for any input, not only for these.
"""

import hashlib
import random

import numpy as np
import pytest
import torch
from torch import nn


def _stream(seed: int, stream: int) -> int:
    """A 63-bit seed for one input stream of the run's `seed` (any int, however large)."""
    digest = hashlib.blake2b(f"ex2/{seed}/{stream}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little") >> 1


def _gen(seed: int, stream: int) -> torch.Generator:
    """A torch generator for tensors of one input stream of the run's seed."""
    return torch.Generator().manual_seed(_stream(seed, stream))


def _rng(seed: int, stream: int) -> random.Random:
    """A Python generator for sizes and scalars of one input stream of the run's seed."""
    return random.Random(_stream(seed, stream))


def _shape(rng: random.Random, ndim: int, low: int, high: int) -> tuple[int, ...]:
    return tuple(rng.randint(low, high) for _ in range(ndim))


# sample counts for accuracies: with a prime count, two draws give the same accuracy only when
# they give the same count of right answers out of the same number of samples
_PRIMES = [n for n in range(101, 400) if all(n % d for d in range(2, int(n**0.5) + 1))]


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


# Part 1 — Tensors ----------------------------------------------------------------------------


@pytest.mark.points(1)
@pytest.mark.spec("tensor_info")
def test_tensor_info(sub, check, seed):
    """tensor_info gives (ndim, shape, dtype) of a floating-point and of an integer tensor."""
    rng = _rng(seed, 21)
    dtype = rng.choice([torch.float32, torch.float64, torch.float16])
    check(sub.tensor_info(torch.zeros(_shape(rng, rng.randint(2, 4), 1, 8), dtype=dtype)), name="a floating-point tensor")
    dtype = rng.choice([torch.int64, torch.int32, torch.uint8])
    check(sub.tensor_info(torch.zeros(_shape(rng, rng.randint(1, 3), 1, 24), dtype=dtype)), name="an integer tensor")


@pytest.mark.points(1)
@pytest.mark.spec("to_float32")
def test_to_float32(sub, check, seed):
    """to_float32 converts int64 and float64 tensors to float32."""
    g, rng = _gen(seed, 1), _rng(seed, 1)
    check(sub.to_float32(torch.randint(-1000, 1000, _shape(rng, 2, 1, 5), generator=g)), name="from int64")
    check(sub.to_float32(torch.randn(_shape(rng, 2, 1, 5), generator=g, dtype=torch.float64)), name="from float64")


@pytest.mark.points(1.5)
@pytest.mark.spec("stack_images")
def test_stack_images(sub, check, seed):
    """stack_images stacks (C, H, W) images into (N, C, H, W) and rejects an empty list."""
    g, rng = _gen(seed, 6), _rng(seed, 6)
    shape = _shape(rng, 3, 1, 5)
    images = [torch.randn(shape, generator=g) for _ in range(rng.randint(2, 5))]
    check(sub.stack_images(images), name="a batch of images")
    check.raises(ValueError, sub.stack_images, [])


@pytest.mark.points(1)
@pytest.mark.spec("flatten_images")
def test_flatten_images(sub, check, seed):
    """flatten_images turns (N, C, H, W) into (N, C*H*W) in row-major order."""
    g, rng = _gen(seed, 2), _rng(seed, 2)
    check(sub.flatten_images(torch.randn(_shape(rng, 4, 1, 5), generator=g)))


@pytest.mark.points(1)
@pytest.mark.spec("channels_last")
def test_channels_last(sub, check, seed):
    """channels_last turns (N, C, H, W) into (N, H, W, C)."""
    g, rng = _gen(seed, 3), _rng(seed, 3)
    shape = (rng.randint(1, 4), rng.randint(2, 4), rng.randint(2, 5), rng.randint(2, 5))
    check(sub.channels_last(torch.randn(shape, generator=g)))


@pytest.mark.points(1)
@pytest.mark.spec("horizontal_flip")
def test_horizontal_flip(sub, check, seed):
    """horizontal_flip mirrors a batch of images and a single (H, W) image left-right."""
    g, rng = _gen(seed, 4), _rng(seed, 4)
    batch = torch.randn(rng.randint(1, 4), rng.randint(1, 4), rng.randint(1, 5), rng.randint(2, 6), generator=g)
    check(sub.horizontal_flip(batch), name="batch (N, C, H, W)")
    image = torch.randint(0, 256, (rng.randint(1, 5), rng.randint(2, 6)), generator=g)
    check(sub.horizontal_flip(image), name="one integer image (H, W)")


@pytest.mark.points(1)
@pytest.mark.spec("concat_features")
def test_concat_features(sub, check, seed):
    """concat_features joins (N, p) and (N, q) features into (N, p + q)."""
    g, rng = _gen(seed, 5), _rng(seed, 5)
    n = rng.randint(1, 6)
    a = torch.randn(n, rng.randint(1, 5), generator=g)
    b = torch.randn(n, rng.randint(1, 5), generator=g)
    check(sub.concat_features(a, b))


@pytest.mark.points(1.5)
@pytest.mark.spec("batched_affine")
@pytest.mark.how("vectorised")
def test_batched_affine(sub, check, seed):
    """batched_affine computes X Wᵀ + b for a batch of inputs."""
    g, rng = _gen(seed, 7), _rng(seed, 7)
    n, d_in, d_out = rng.randint(2, 8), rng.randint(1, 6), rng.randint(1, 6)
    X, W, b = torch.randn(n, d_in, generator=g), torch.randn(d_out, d_in, generator=g), torch.randn(d_out, generator=g)
    check(sub.batched_affine(X, W, b))


@pytest.mark.points(1.5)
@pytest.mark.spec("relu")
def test_relu(sub, check, seed):
    """relu keeps positive values and turns negative ones into 0."""
    g, rng = _gen(seed, 8), _rng(seed, 8)
    x = 3 * torch.randn(rng.randint(5, 9), generator=g)
    zero, negative, positive = torch.randperm(len(x), generator=g)[:3].tolist()
    x[zero], x[negative], x[positive] = 0.0, -x[negative].abs(), x[positive].abs()
    check(sub.relu(x), name="a few values, one of them 0")
    check(sub.relu(torch.randn(_shape(rng, 2, 3, 6), generator=g)), name="a random matrix")


@pytest.mark.points(1)
@pytest.mark.spec("numpy_bridge")
def test_numpy_bridge(sub, check, seed):
    """numpy_bridge returns a tensor with the array's values that follows changes of the array."""
    rng = _rng(seed, 9)
    a = np.random.default_rng(_stream(seed, 9)).standard_normal(_shape(rng, 2, 2, 5))
    t = sub.numpy_bridge(a)
    check(t, name="tensor from the array")
    a[rng.randrange(a.shape[0]), rng.randrange(a.shape[1])] = rng.uniform(10.0, 100.0)
    check(t, name="tensor after changing the array")


@pytest.mark.points(0.5)
@pytest.mark.spec("pick_device")
def test_pick_device_without_accelerator(sub, check, monkeypatch, seed):
    """pick_device returns the CPU on a machine with neither CUDA nor MPS."""
    _pretend_machine(monkeypatch, cuda=False, mps=False)
    check(sub.pick_device(), name="the device picked", constant=True)
    x = torch.randn(_shape(_rng(seed, 10), 2, 1, 5), generator=_gen(seed, 10))
    check(x.to(sub.pick_device()), name="a tensor moved to the device picked")


# Part 2 — Autograd ---------------------------------------------------------------------------


@pytest.mark.points(3)
@pytest.mark.spec("grad_f")
@pytest.mark.how("autograd")
def test_grad_f(sub, check, seed):
    """grad_f gives the gradient of x² + y at a point with integer and at one with float coordinates."""
    rng = _rng(seed, 22)
    check(sub.grad_f(rng.randint(-999, 999), rng.randint(-99, 99)), name="at integer coordinates")
    check(sub.grad_f(rng.uniform(-5.0, 5.0), rng.uniform(-5.0, 5.0)), name="at float coordinates")


@pytest.mark.points(3)
@pytest.mark.spec("accumulated_grad")
def test_accumulated_grad(sub, check, seed):
    """accumulated_grad gives the accumulated gradient at a point with integer and at one with float coordinates."""
    rng = _rng(seed, 23)
    check(sub.accumulated_grad(rng.randint(-99, 99), rng.randint(-99, 99)), name="at integer coordinates")
    check(sub.accumulated_grad(rng.uniform(-5.0, 5.0), rng.uniform(-5.0, 5.0)), name="at float coordinates")


@pytest.mark.points(3)
@pytest.mark.spec("grad_of")
def test_grad_of(sub, check, seed):
    """grad_of returns a tuple with the gradient with respect to each of two points."""
    g, rng = _gen(seed, 11), _rng(seed, 11)
    n = rng.randint(2, 6)
    a, b = torch.randn(n, generator=g), torch.randn(n, generator=g)
    result = sub.grad_of(lambda u, v: (u * v).sum() + (u**2).sum(), a, b)
    check(isinstance(result, tuple), name="returns a tuple", constant=True)
    ga, gb = result
    check(ga, name="gradient w.r.t. the first point")
    check(gb, name="gradient w.r.t. the second point")


@pytest.mark.points(3)
@pytest.mark.spec("numerical_grad")
def test_numerical_grad(sub, check, seed):
    """numerical_grad estimates the gradient of two smooth functions of a float64 matrix."""
    x = torch.randn(_shape(_rng(seed, 12), 2, 1, 4), generator=_gen(seed, 12), dtype=torch.float64)
    check(sub.numerical_grad(lambda t: (t**2).sum(), x), name="gradient of sum(x²)")
    check(sub.numerical_grad(lambda t: t.sin().sum(), x), name="gradient of sum(sin x)")


# Part 3 — Models -----------------------------------------------------------------------------


@pytest.mark.points(3)
@pytest.mark.spec("LinearModel")
def test_linear_model(sub, check, seed):
    """LinearModel(d_in, d_out) holds an nn.Linear(d_in, d_out) called `linear` and applies it."""
    g, rng = _gen(seed, 13), _rng(seed, 13)
    d_in, d_out = rng.randint(1, 32), rng.randint(1, 32)
    model = sub.LinearModel(d_in, d_out)
    check(isinstance(model.linear, nn.Linear), name="model.linear is an nn.Linear", constant=True)
    check((model.linear.in_features, model.linear.out_features), name="(in_features, out_features)")
    weights = {"linear.weight": torch.randn(d_out, d_in, generator=g), "linear.bias": torch.randn(d_out, generator=g)}
    model.load_state_dict(weights)
    with torch.no_grad():
        check(model(torch.randn(rng.randint(2, 8), d_in, generator=g)), name="output for a batch")


@pytest.mark.points(4)
@pytest.mark.spec("MLP")
def test_mlp(sub, check, seed):
    """MLP(d_in, d_hidden, d_out) has layers `hidden` and `output` and computes output(relu(hidden(x)))."""
    g, rng = _gen(seed, 14), _rng(seed, 14)
    d_in, d_hidden, d_out = rng.randint(1, 32), rng.randint(2, 32), rng.randint(1, 32)
    model = sub.MLP(d_in, d_hidden, d_out)
    check(isinstance(model, nn.Module), name="an nn.Module", constant=True)
    check((model.hidden.in_features, model.hidden.out_features), name="hidden layer (in, out)")
    check((model.output.in_features, model.output.out_features), name="output layer (in, out)")
    weights = {
        "hidden.weight": torch.randn(d_hidden, d_in, generator=g),
        "hidden.bias": torch.randn(d_hidden, generator=g),
        "output.weight": torch.randn(d_out, d_hidden, generator=g),
        "output.bias": torch.randn(d_out, generator=g),
    }
    model.load_state_dict(weights)
    with torch.no_grad():
        check(model(torch.randn(rng.randint(2, 8), d_in, generator=g)), name="logits for a batch")


@pytest.mark.points(3)
@pytest.mark.spec("count_parameters")
def test_count_parameters(sub, check, seed):
    """count_parameters counts the weights and biases of a layer and of a small network."""
    rng = _rng(seed, 15)
    check(sub.count_parameters(nn.Linear(rng.randint(1, 64), rng.randint(1, 16))), name="an nn.Linear")
    d_in, d_hidden, d_out = rng.randint(1, 16), rng.randint(1, 32), rng.randint(1, 8)
    model = nn.Sequential(nn.Linear(d_in, d_hidden), nn.Tanh(), nn.Linear(d_hidden, d_out))
    check(sub.count_parameters(model), name="Linear, Tanh, Linear")


@pytest.mark.points(2)
@pytest.mark.spec("samples_needed")
@pytest.mark.uses("count_parameters")
def test_samples_needed(sub, check, seed):
    """samples_needed applies the 10-times rule to a layer and to a small network."""
    rng = _rng(seed, 16)
    check(sub.samples_needed(nn.Linear(rng.randint(100, 1999), 1)), name="an nn.Linear with one output")
    d, d_hidden = rng.randint(1, 16), rng.randint(8, 64)
    check(sub.samples_needed(nn.Sequential(nn.Linear(d, d_hidden), nn.Linear(d_hidden, d))), name="Linear, Linear")


# Part 4 — Losses -----------------------------------------------------------------------------


@pytest.mark.points(2.5)
@pytest.mark.spec("softmax")
def test_softmax(sub, check, seed):
    """softmax turns logits into probabilities, for a vector and for each row of a matrix."""
    g, rng = _gen(seed, 17), _rng(seed, 17)
    check(sub.softmax(3 * torch.randn(rng.randint(3, 8), generator=g)), name="a vector")
    check(sub.softmax(torch.randn(_shape(rng, 2, 2, 6), generator=g)), name="each row of a matrix")


@pytest.mark.points(2)
@pytest.mark.spec("mse_loss")
def test_mse_loss(sub, check, seed):
    """mse_loss for scalar targets, and for vector targets (sum over each vector, mean over samples)."""
    g, rng = _gen(seed, 18), _rng(seed, 18)
    n = rng.randint(3, 8)
    check(sub.mse_loss(torch.randn(n, generator=g), torch.randn(n, generator=g)), name="scalar samples")
    shape = (rng.randint(2, 8), rng.randint(2, 5))
    check(sub.mse_loss(torch.randn(shape, generator=g), torch.randn(shape, generator=g)), name="vector samples")


@pytest.mark.points(2)
@pytest.mark.spec("cross_entropy")
def test_cross_entropy(sub, check, seed):
    """cross_entropy of a few rows of logits over a few classes."""
    g, rng = _gen(seed, 19), _rng(seed, 19)
    n, classes = rng.randint(3, 8), rng.randint(2, 6)
    logits = torch.randn(n, classes, generator=g)
    check(sub.cross_entropy(logits, torch.randint(0, classes, (n,), generator=g)))


@pytest.mark.points(2)
@pytest.mark.spec("kl_divergence")
def test_kl_divergence(sub, check, seed):
    """kl_divergence between two batches of probability distributions."""
    g, rng = _gen(seed, 20), _rng(seed, 20)
    shape = (rng.randint(2, 6), rng.randint(2, 6))
    p, q = torch.rand(shape, generator=g) + 0.1, torch.rand(shape, generator=g) + 0.1
    check(sub.kl_divergence(p / p.sum(1, keepdim=True), q / q.sum(1, keepdim=True)))


@pytest.mark.points(1.5)
@pytest.mark.spec("one_hot")
def test_one_hot(sub, check, seed):
    """one_hot encodes class indices as float32 rows, with as many and with more classes than used."""
    g, rng = _gen(seed, 24), _rng(seed, 24)
    classes = rng.randint(2, 6)
    targets = torch.randint(0, classes, (rng.randint(3, 8),), generator=g)
    check(sub.one_hot(targets, classes), name="targets and classes")
    check(sub.one_hot(targets, classes + rng.randint(1, 8)), name="more classes than the targets use")


@pytest.mark.points(2)
@pytest.mark.spec("hinge_loss")
def test_hinge_loss(sub, check, seed):
    """hinge_loss of a few rows of scores over a few classes."""
    g, rng = _gen(seed, 25), _rng(seed, 25)
    n, classes = rng.randint(3, 8), rng.randint(2, 6)
    scores = torch.randn(n, classes, generator=g)
    check(sub.hinge_loss(scores, torch.randint(0, classes, (n,), generator=g)))


# Part 5 — Training ---------------------------------------------------------------------------


@pytest.mark.points(3)
@pytest.mark.spec("gd_step")
def test_gd_step(sub, check, seed):
    """gd_step moves each parameter against its gradient and zeroes the gradient."""
    g, rng = _gen(seed, 26), _rng(seed, 26)
    w = nn.Parameter(torch.randn(rng.randint(2, 6), generator=g))
    b = nn.Parameter(torch.randn(rng.randint(1, 4), generator=g))
    ((w**2).sum() + (3 * b).sum()).backward()
    sub.gd_step([w, b], rng.uniform(0.05, 0.5))
    check(w.detach(), name="w after the step")
    check(b.detach(), name="b after the step")
    # a gradient set to None instead of zero counts as zeroed too
    check(0.0 if w.grad is None else w.grad.abs().max().item(), name="largest |w.grad| after the step", constant=True)
    check(0.0 if b.grad is None else b.grad.abs().max().item(), name="largest |b.grad| after the step", constant=True)


@pytest.mark.points(3)
@pytest.mark.spec("minibatches")
def test_minibatches(sub, check, seed):
    """minibatches without shuffling: every sample in order, in batches of the given size, the last one smaller."""
    g, rng = _gen(seed, 27), _rng(seed, 27)
    batch_size = rng.randint(2, 5)
    n = batch_size * rng.randint(2, 4) + rng.randint(1, batch_size - 1)
    X = torch.randn(n, rng.randint(1, 3), generator=g)
    y = torch.randint(0, 10, (n,), generator=g)
    check([(Xb, yb) for Xb, yb in sub.minibatches(X, y, batch_size)], name="the (Xb, yb) pairs")


@pytest.mark.points(3)
@pytest.mark.spec("train")
@pytest.mark.uses("minibatches")
def test_train(sub, check, seed):
    """train fits a linear model with SGD and returns one mean loss per epoch."""
    g, rng = _gen(seed, 28), _rng(seed, 28)
    d = rng.randint(2, 4)
    X = torch.randn(32, d, generator=g)
    y = X @ torch.randn(d, 1, generator=g) + torch.randn(1, generator=g)
    torch.manual_seed(_stream(seed, 29))
    model = nn.Linear(d, 1)
    losses = sub.train(model, X, y, loss_fn=_mse, epochs=3, batch_size=8, lr=0.1, shuffle=False)
    check(isinstance(losses, list) and all(type(v) is float for v in losses), name="a list of floats", constant=True)
    check(losses, name="mean loss of each epoch", rtol=1e-4, atol=1e-5)
    check(dict(model.state_dict()), name="parameters after training", rtol=1e-4, atol=1e-5)


@pytest.mark.points(3)
@pytest.mark.spec("accuracy")
def test_accuracy(sub, check, seed):
    """accuracy of a linear classifier on a batch of samples."""
    g, rng = _gen(seed, 30), _rng(seed, 30)
    d, classes, n = rng.randint(3, 6), rng.randint(2, 4), rng.choice(_PRIMES)
    torch.manual_seed(_stream(seed, 31))
    model = nn.Linear(d, classes)
    X, y = torch.randn(n, d, generator=g), torch.randint(0, classes, (n,), generator=g)
    check(sub.accuracy(model, X, y))
