"""An independent correct solution by a student who likes small helpers and comments: a private
helper per recurring step, keyword arguments everywhere, docstrings of their own. One of the
class of the similarity screen's test."""

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn


def _check_same_shapes(items):
    # every image must match the first one
    reference_shape = items[0].shape
    return all(item.shape == reference_shape for item in items)


def tensor_info(x):
    """My version: the number of axes, the sizes and the element type."""
    return (x.dim(), tuple(x.shape), x.dtype)


def to_float32(x):
    return x.to(torch.float32, copy=False)


def stack_images(images):
    if len(images) < 1 or not _check_same_shapes(images):
        raise ValueError("images must be a non-empty list of same-shaped tensors")
    return torch.stack(images)


def flatten_images(x):
    # keep the batch axis, merge the rest
    return x.reshape(len(x), int(np.prod(x.shape[1:])))


def channels_last(x):
    return torch.einsum("nchw->nhwc", x)


def horizontal_flip(x):
    return torch.fliplr(x) if x.dim() == 2 else x.flip(dims=(-1,))


def concat_features(a, b):
    return torch.cat(tensors=[a, b], dim=-1)


def batched_affine(X, W, b):
    # F.linear computes X @ W.T + b in one call
    return F.linear(X, W, b)


def relu(x):
    return (x + x.abs()) / 2


def numpy_bridge(a):
    bridged = torch.from_numpy(a)
    return bridged


def pick_device():
    device = "cpu"
    if torch.backends.mps.is_available():
        device = "mps"
    if torch.cuda.is_available():
        device = "cuda"
    return torch.device(device)


def _leaf(value):
    return torch.tensor(float(value), requires_grad=True)


def grad_f(x, y):
    x_leaf, y_leaf = _leaf(x), _leaf(y)
    gx, gy = torch.autograd.grad(x_leaf.pow(2) + y_leaf, (x_leaf, y_leaf))
    return torch.stack((gx, gy)).float()


def accumulated_grad(x, y):
    x_leaf, y_leaf = _leaf(x), _leaf(y)
    f = x_leaf.pow(2) + y_leaf
    f.backward()
    g = x_leaf * (y_leaf + 3)
    g.backward()  # the grads add up: nothing zeroed in between
    return torch.stack((x_leaf.grad, y_leaf.grad)).float()


def grad_of(fn, *points):
    fresh = [point.clone().detach().requires_grad_(True) for point in points]
    grads = torch.autograd.grad(fn(*fresh), fresh, allow_unused=True, materialize_grads=True)
    return tuple(grads)


def numerical_grad(fn, x, eps=1e-3):
    x = x.detach()
    basis = torch.eye(x.numel(), dtype=x.dtype, device=x.device).reshape(x.numel(), *x.shape)
    values = []
    for direction in basis:
        forward = fn(x + eps * direction)
        backward = fn(x - eps * direction)
        values.append((forward - backward) / (2 * eps))
    return torch.stack(values).reshape(x.shape).to(dtype=x.dtype)


class LinearModel(nn.Module):
    """f(x) = W x + b"""

    def __init__(self, d_in, d_out):
        super().__init__()
        self.linear = nn.Linear(in_features=d_in, out_features=d_out, bias=True)

    def forward(self, x):
        return self.linear(x)


class MLP(nn.Module):
    def __init__(self, d_in, d_hidden, d_out, activation="relu"):
        super().__init__()
        if activation not in {"relu", "tanh", "sigmoid"}:
            raise ValueError(f"I only know relu, tanh and sigmoid, got {activation}")
        self.activation_name = activation
        self.hidden = nn.Linear(d_in, d_hidden)
        self.output = nn.Linear(d_hidden, d_out)

    def _activate(self, h):
        if self.activation_name == "tanh":
            return h.tanh()
        if self.activation_name == "sigmoid":
            return h.sigmoid()
        return F.relu(h)

    def forward(self, x):
        return self.output(self._activate(self.hidden(x)))


def count_parameters(model):
    trainable = [p for p in model.parameters() if p.requires_grad]
    return int(sum(p.numel() for p in trainable))


def samples_needed(model):
    return int(10 * count_parameters(model))


def _logsumexp(z, dim):
    top = z.amax(dim=dim, keepdim=True)
    return top + (z - top).exp().sum(dim=dim, keepdim=True).log()


def softmax(z, dim=-1):
    return (z - _logsumexp(z, dim)).exp()


def mse_loss(pred, target):
    samples = pred.shape[0]
    return torch.sum((pred - target) ** 2) / samples


def cross_entropy(logits, targets):
    log_probs = logits - _logsumexp(logits, 1)
    rows = torch.arange(len(targets), device=logits.device)
    return -log_probs[rows, targets].mean()


def kl_divergence(p, q):
    # xlogy gives 0 where p is 0
    return (torch.special.xlogy(p, p / q)).sum(dim=1).mean()


def one_hot(targets, num_classes):
    identity = torch.eye(num_classes, device=targets.device)
    return identity.index_select(0, targets).to(torch.float32)


def hinge_loss(scores, targets, margin=1.0):
    correct = scores.gather(dim=1, index=targets.unsqueeze(-1))
    losses = torch.clamp(scores - correct + margin, min=0.0)
    not_target = torch.ones_like(losses).scatter(1, targets.unsqueeze(-1), 0.0)
    return (losses * not_target).sum(dim=1).mean()


@torch.no_grad()
def gd_step(params, lr):
    for parameter in params:
        gradient = parameter.grad
        if gradient is None:
            continue
        parameter.copy_(parameter - lr * gradient)
        gradient.zero_()


def minibatches(X, y, batch_size, *, shuffle=False, generator=None):
    n = len(X)
    positions = torch.randperm(n, generator=generator) if shuffle else torch.arange(n)
    for chunk in torch.split(positions, batch_size):
        yield X[chunk], y[chunk]


def _make_optimizer(name, params, lr):
    if name == "adam":
        return torch.optim.Adam(params, lr=lr)
    if name == "sgd":
        return torch.optim.SGD(params, lr=lr)
    raise ValueError(f"optimizer {name!r} is neither sgd nor adam")


def train(model, X, y, *, loss_fn, epochs, batch_size, lr, optimizer="sgd", accumulation_steps=1, shuffle=True, generator=None):
    opt = _make_optimizer(optimizer, model.parameters(), lr)
    means = []
    for epoch in range(epochs):
        opt.zero_grad()
        seen = []
        steps_waiting = 0
        for inputs, labels in minibatches(X, y, batch_size, shuffle=shuffle, generator=generator):
            batch_loss = loss_fn(model(inputs), labels)
            seen.append(batch_loss.detach().item())
            (batch_loss / accumulation_steps).backward()
            steps_waiting += 1
            if steps_waiting == accumulation_steps:
                opt.step()
                opt.zero_grad()
                steps_waiting = 0
        if steps_waiting > 0:
            opt.step()
            opt.zero_grad()
        means.append(float(np.mean(seen)))
    return means


def accuracy(model, X, y):
    was_training = model.training
    model.eval()
    with torch.no_grad():
        predictions = model(X).argmax(dim=1)
    model.train(was_training)
    return (predictions == y).double().mean().item()
