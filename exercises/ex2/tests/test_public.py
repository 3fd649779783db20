"""Public tests of Exercise 2 — PyTorch basics.

Run them with `grade ex2`. A test does not assert anything itself: it hands the values your
functions return to `check`, and the grader compares them with those of the reference solution
(shape, dtype, device, then values within a small tolerance). The hidden tests check the same
functions more thoroughly (other shapes, dtypes, devices, edge cases): make your code follow
every sentence of the docstrings, not only these examples.
"""

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


# Part 1 — Tensors ----------------------------------------------------------------------------


@pytest.mark.points(1)
@pytest.mark.spec("tensor_info")
def test_tensor_info(sub, check):
    """tensor_info gives (ndim, shape, dtype) of a float and an integer tensor."""
    check(sub.tensor_info(torch.zeros(2, 3, 4)), name="float32 tensor of shape (2, 3, 4)")
    check(sub.tensor_info(torch.tensor([[1, 2], [3, 4]])), name="int64 tensor of shape (2, 2)")


@pytest.mark.points(1)
@pytest.mark.spec("to_float32")
def test_to_float32(sub, check):
    """to_float32 converts int64 and float64 tensors to float32."""
    check(sub.to_float32(torch.tensor([[1, 2], [3, 4]])), name="from int64")
    check(sub.to_float32(torch.randn(3, 2, generator=_gen(1), dtype=torch.float64)), name="from float64")


@pytest.mark.points(1.5)
@pytest.mark.spec("stack_images")
def test_stack_images(sub, check):
    """stack_images stacks three (C, H, W) images into (N, C, H, W) and rejects an empty list."""
    images = [torch.randn(3, 4, 5, generator=_gen(i)) for i in range(3)]
    check(sub.stack_images(images), name="batch of 3 images")
    check.raises(ValueError, sub.stack_images, [])


@pytest.mark.points(1)
@pytest.mark.spec("flatten_images")
def test_flatten_images(sub, check):
    """flatten_images turns (N, C, H, W) into (N, C*H*W) in row-major order."""
    check(sub.flatten_images(torch.randn(2, 3, 4, 5, generator=_gen(2))))


@pytest.mark.points(1)
@pytest.mark.spec("channels_last")
def test_channels_last(sub, check):
    """channels_last turns (N, C, H, W) into (N, H, W, C)."""
    check(sub.channels_last(torch.randn(2, 3, 4, 5, generator=_gen(3))))


@pytest.mark.points(1)
@pytest.mark.spec("horizontal_flip")
def test_horizontal_flip(sub, check):
    """horizontal_flip mirrors a batch of images and a single (H, W) image left-right."""
    check(sub.horizontal_flip(torch.randn(2, 3, 4, 5, generator=_gen(4))), name="batch (N, C, H, W)")
    check(sub.horizontal_flip(torch.arange(6).reshape(2, 3)), name="one image (H, W)")


@pytest.mark.points(1)
@pytest.mark.spec("concat_features")
def test_concat_features(sub, check):
    """concat_features joins (N, p) and (N, q) features into (N, p + q)."""
    a = torch.randn(4, 2, generator=_gen(5))
    b = torch.randn(4, 3, generator=_gen(6))
    check(sub.concat_features(a, b))


@pytest.mark.points(1.5)
@pytest.mark.spec("batched_affine")
def test_batched_affine(sub, check):
    """batched_affine computes X Wᵀ + b for a batch of 5 inputs."""
    g = _gen(7)
    X, W, b = torch.randn(5, 3, generator=g), torch.randn(2, 3, generator=g), torch.randn(2, generator=g)
    check(sub.batched_affine(X, W, b))


@pytest.mark.points(1.5)
@pytest.mark.spec("relu")
def test_relu(sub, check):
    """relu keeps positive values and turns negative ones into 0."""
    check(sub.relu(torch.tensor([-2.0, -0.5, 0.0, 0.5, 3.0])), name="a few values")
    check(sub.relu(torch.randn(3, 4, generator=_gen(8))), name="random (3, 4) tensor")


@pytest.mark.points(1)
@pytest.mark.spec("numpy_bridge")
def test_numpy_bridge(sub, check):
    """numpy_bridge returns a tensor with the array's values that follows changes of the array."""
    a = np.arange(6.0).reshape(2, 3)
    t = sub.numpy_bridge(a)
    check(t, name="tensor from the array")
    a[0, 1] = 42.0
    check(t, name="tensor after changing the array")


@pytest.mark.points(0.5)
@pytest.mark.spec("pick_device")
def test_pick_device_without_accelerator(sub, check, monkeypatch):
    """pick_device returns the CPU on a machine with neither CUDA nor MPS."""
    _pretend_machine(monkeypatch, cuda=False, mps=False)
    check(sub.pick_device())


# Part 2 — Autograd ---------------------------------------------------------------------------


@pytest.mark.points(3)
@pytest.mark.spec("grad_f")
def test_grad_f(sub, check):
    """grad_f gives the slides' gradient [4, 1] at (2, 3), and the right gradient elsewhere."""
    check(sub.grad_f(2, 3), name="grad_f(2, 3)")
    check(sub.grad_f(-1.5, 0.5), name="grad_f(-1.5, 0.5)")


@pytest.mark.points(3)
@pytest.mark.spec("accumulated_grad")
def test_accumulated_grad(sub, check):
    """accumulated_grad gives the slides' accumulated gradient [10, 3] at (2, 3), and at another point."""
    check(sub.accumulated_grad(2, 3), name="accumulated_grad(2, 3)")
    check(sub.accumulated_grad(1.0, -2.0), name="accumulated_grad(1.0, -2.0)")


@pytest.mark.points(3)
@pytest.mark.spec("grad_of")
def test_grad_of(sub, check):
    """grad_of returns a tuple with the gradient with respect to each of two points."""
    g = _gen(9)
    a, b = torch.randn(3, generator=g), torch.randn(3, generator=g)
    result = sub.grad_of(lambda u, v: (u * v).sum() + (u**2).sum(), a, b)
    check(isinstance(result, tuple), name="returns a tuple")
    ga, gb = result
    check(ga, name="gradient w.r.t. the first point")
    check(gb, name="gradient w.r.t. the second point")


@pytest.mark.points(3)
@pytest.mark.spec("numerical_grad")
def test_numerical_grad(sub, check):
    """numerical_grad estimates the gradient of two smooth functions of a float64 (2, 3) tensor."""
    x = torch.randn(2, 3, generator=_gen(10), dtype=torch.float64)
    check(sub.numerical_grad(lambda t: (t**2).sum(), x), name="gradient of sum(x²)")
    check(sub.numerical_grad(lambda t: t.sin().sum(), x), name="gradient of sum(sin x)")


# Part 3 — Models -----------------------------------------------------------------------------


@pytest.mark.points(3)
@pytest.mark.spec("LinearModel")
def test_linear_model(sub, check):
    """LinearModel(3, 2) holds an nn.Linear(3, 2) called `linear` and applies it."""
    model = sub.LinearModel(3, 2)
    check(isinstance(model.linear, nn.Linear), name="model.linear is an nn.Linear")
    check((model.linear.in_features, model.linear.out_features), name="(in_features, out_features)")
    g = _gen(11)
    model.load_state_dict({"linear.weight": torch.randn(2, 3, generator=g), "linear.bias": torch.randn(2, generator=g)})
    with torch.no_grad():
        check(model(torch.randn(4, 3, generator=g)), name="output for a batch of 4")


@pytest.mark.points(4)
@pytest.mark.spec("MLP")
def test_mlp(sub, check):
    """MLP(4, 5, 3) has layers `hidden` and `output` and computes output(relu(hidden(x)))."""
    model = sub.MLP(4, 5, 3)
    check(isinstance(model, nn.Module), name="an nn.Module")
    check((model.hidden.in_features, model.hidden.out_features), name="hidden layer (in, out)")
    check((model.output.in_features, model.output.out_features), name="output layer (in, out)")
    g = _gen(12)
    weights = {
        "hidden.weight": torch.randn(5, 4, generator=g),
        "hidden.bias": torch.randn(5, generator=g),
        "output.weight": torch.randn(3, 5, generator=g),
        "output.bias": torch.randn(3, generator=g),
    }
    model.load_state_dict(weights)
    with torch.no_grad():
        check(model(torch.randn(6, 4, generator=g)), name="logits for a batch of 6")


@pytest.mark.points(3)
@pytest.mark.spec("count_parameters")
def test_count_parameters(sub, check):
    """count_parameters counts the weights and biases of small networks."""
    check(sub.count_parameters(nn.Linear(10, 1)), name="nn.Linear(10, 1)")
    model = nn.Sequential(nn.Linear(4, 8), nn.Tanh(), nn.Linear(8, 3))
    check(sub.count_parameters(model), name="Linear(4, 8), Tanh, Linear(8, 3)")


@pytest.mark.points(2)
@pytest.mark.spec("samples_needed")
def test_samples_needed(sub, check):
    """samples_needed applies the 10-times rule: a model with 1000 parameters needs 10000 samples."""
    check(sub.samples_needed(nn.Linear(999, 1)), name="nn.Linear(999, 1)")
    check(sub.samples_needed(nn.Sequential(nn.Linear(2, 16), nn.Linear(16, 2))), name="Linear(2, 16), Linear(16, 2)")


# Part 4 — Losses -----------------------------------------------------------------------------


@pytest.mark.points(2.5)
@pytest.mark.spec("softmax")
def test_softmax(sub, check):
    """softmax turns logits into probabilities, for a vector and for each row of a matrix."""
    check(sub.softmax(torch.tensor([1.0, 2.0, 3.0])), name="softmax([1, 2, 3])")
    check(sub.softmax(torch.randn(3, 4, generator=_gen(13))), name="each row of a (3, 4) tensor")


@pytest.mark.points(2)
@pytest.mark.spec("mse_loss")
def test_mse_loss(sub, check):
    """mse_loss for scalar targets, and for vector targets (sum over each vector, mean over samples)."""
    g = _gen(14)
    check(sub.mse_loss(torch.randn(5, generator=g), torch.randn(5, generator=g)), name="5 scalar samples")
    check(sub.mse_loss(torch.randn(4, 3, generator=g), torch.randn(4, 3, generator=g)), name="4 samples of size 3")


@pytest.mark.points(2)
@pytest.mark.spec("cross_entropy")
def test_cross_entropy(sub, check):
    """cross_entropy of 5 rows of logits over 4 classes."""
    logits = torch.randn(5, 4, generator=_gen(15))
    check(sub.cross_entropy(logits, torch.tensor([0, 3, 1, 1, 2])))


@pytest.mark.points(2)
@pytest.mark.spec("kl_divergence")
def test_kl_divergence(sub, check):
    """kl_divergence between two batches of 3 probability distributions over 4 classes."""
    g = _gen(16)
    p, q = torch.rand(3, 4, generator=g) + 0.1, torch.rand(3, 4, generator=g) + 0.1
    check(sub.kl_divergence(p / p.sum(1, keepdim=True), q / q.sum(1, keepdim=True)))


@pytest.mark.points(1.5)
@pytest.mark.spec("one_hot")
def test_one_hot(sub, check):
    """one_hot encodes class indices as float32 rows."""
    targets = torch.tensor([0, 2, 1, 2])
    check(sub.one_hot(targets, 3), name="4 targets, 3 classes")
    check(sub.one_hot(targets, 5), name="4 targets, 5 classes")


@pytest.mark.points(2)
@pytest.mark.spec("hinge_loss")
def test_hinge_loss(sub, check):
    """hinge_loss of 4 rows of scores over 3 classes."""
    scores = torch.randn(4, 3, generator=_gen(17))
    check(sub.hinge_loss(scores, torch.tensor([0, 1, 2, 1])))


# Part 5 — Training ---------------------------------------------------------------------------


@pytest.mark.points(3)
@pytest.mark.spec("gd_step")
def test_gd_step(sub, check):
    """gd_step moves each parameter against its gradient and zeroes the gradient."""
    g = _gen(18)
    w = nn.Parameter(torch.randn(3, generator=g))
    b = nn.Parameter(torch.randn(2, generator=g))
    ((w**2).sum() + (3 * b).sum()).backward()
    sub.gd_step([w, b], 0.1)
    check(w.detach(), name="w after the step")
    check(b.detach(), name="b after the step")
    # a gradient set to None instead of zero counts as zeroed too
    check(torch.zeros_like(w) if w.grad is None else w.grad, name="w.grad after the step")
    check(torch.zeros_like(b) if b.grad is None else b.grad, name="b.grad after the step")


@pytest.mark.points(3)
@pytest.mark.spec("minibatches")
def test_minibatches(sub, check):
    """minibatches without shuffling: 10 samples in batches of 4, 4 and 2."""
    X = torch.arange(20.0).reshape(10, 2)
    y = torch.arange(10)
    check([(Xb, yb) for Xb, yb in sub.minibatches(X, y, 4)], name="the (Xb, yb) pairs")


@pytest.mark.points(3)
@pytest.mark.spec("train")
def test_train(sub, check):
    """train fits a linear model with SGD and returns one mean loss per epoch."""
    g = _gen(19)
    X = torch.randn(32, 3, generator=g)
    y = X @ torch.tensor([[1.0], [-2.0], [0.5]]) + 0.3
    torch.manual_seed(0)
    model = nn.Linear(3, 1)
    losses = sub.train(model, X, y, loss_fn=_mse, epochs=3, batch_size=8, lr=0.1, shuffle=False)
    check(isinstance(losses, list) and all(type(v) is float for v in losses), name="a list of floats")
    check(losses, name="mean loss of each epoch", rtol=1e-4, atol=1e-5)
    check(dict(model.state_dict()), name="parameters after training", rtol=1e-4, atol=1e-5)


@pytest.mark.points(3)
@pytest.mark.spec("accuracy")
def test_accuracy(sub, check):
    """accuracy of a linear classifier on 20 samples."""
    g = _gen(20)
    torch.manual_seed(0)
    model = nn.Linear(5, 3)
    X, y = torch.randn(20, 5, generator=g), torch.randint(0, 3, (20,), generator=g)
    check(sub.accuracy(model, X, y))
