"""A correct solution written differently from the reference: it must get full marks.

Different idioms on purpose: movedim/einsum/addmm, torch.where, as_tensor, torch.func.grad,
an identity matrix for one_hot and for finite differences, log-sum-exp by hand, xlogy,
nn.ReLU inside the MLP (allowed there), p.data updates, sample-weighted epoch losses, batches
precomputed per epoch, inference_mode.
"""

import torch
from torch import nn

# Part 1 — Tensors


def tensor_info(x):
    return (x.dim(), tuple(x.size()), x.dtype)


def to_float32(x):
    return x.float()


def stack_images(images):
    if not images:
        raise ValueError("no images")
    if len({tuple(im.shape) for im in images}) != 1:
        raise ValueError("images differ in shape")
    return torch.cat([im.unsqueeze(0) for im in images], dim=0)


def flatten_images(x):
    return torch.flatten(x, start_dim=1)


def channels_last(x):
    return x.movedim(1, -1)


def horizontal_flip(x):
    width = x.shape[-1]
    return x.index_select(-1, torch.arange(width - 1, -1, -1, device=x.device))


def concat_features(a, b):
    return torch.hstack((a, b))


def batched_affine(X, W, b):
    return torch.einsum("nd,od->no", X, W) + b


def relu(x):
    return torch.where(x > 0, x, torch.zeros_like(x))


def numpy_bridge(a):
    return torch.as_tensor(a)


def pick_device():
    name = "cuda" if torch.cuda.is_available() else ("mps" if torch.backends.mps.is_available() else "cpu")
    return torch.device(name)


# Part 2 — Autograd


def grad_f(x, y):
    v = torch.tensor([x, y], dtype=torch.float32, requires_grad=True)
    f = v[0] ** 2 + v[1]
    (g,) = torch.autograd.grad(f, v)
    return g


def accumulated_grad(x, y):
    v = torch.tensor([x, y], dtype=torch.float32, requires_grad=True)
    f = v[0] * v[0] + v[1]
    f.backward()
    g = v[0] * (v[1] + 3)
    g.backward()
    return v.grad.clone()


def grad_of(fn, *points):
    return torch.func.grad(fn, argnums=tuple(range(len(points))))(*(p.detach() for p in points))


def numerical_grad(fn, x, eps=1e-3):
    steps = torch.eye(x.numel(), dtype=x.dtype, device=x.device) * eps
    with torch.no_grad():
        diffs = [fn(x + s.reshape(x.shape)) - fn(x - s.reshape(x.shape)) for s in steps]
    return (torch.stack(diffs) / (2 * eps)).reshape(x.shape).to(x.dtype)


# Part 3 — Models


class LinearModel(nn.Module):
    def __init__(self, d_in, d_out):
        super().__init__()
        self.linear = nn.Linear(in_features=d_in, out_features=d_out)

    def forward(self, x):
        return self.linear.forward(x)


class MLP(nn.Module):
    def __init__(self, d_in, d_hidden, d_out, activation="relu"):
        super().__init__()
        choices = {"relu": nn.ReLU, "sigmoid": nn.Sigmoid, "tanh": nn.Tanh}
        if activation not in choices:
            raise ValueError(f"unknown activation {activation}")
        self.hidden = nn.Linear(d_in, d_hidden)
        self.act = choices[activation]()
        self.output = nn.Linear(d_hidden, d_out)

    def forward(self, x):
        return self.output(self.act(self.hidden(x)))


def count_parameters(model):
    total = 0
    for _, p in model.named_parameters():
        if p.requires_grad:
            total += p.numel()
    return total


def samples_needed(model):
    return count_parameters(model) * 10


# Part 4 — Losses


def softmax(z, dim=-1):
    return torch.exp(z - torch.logsumexp(z, dim=dim, keepdim=True))


def mse_loss(pred, target):
    n = pred.shape[0]
    return (pred - target).pow(2).reshape(n, -1).sum(dim=1).mean()


def cross_entropy(logits, targets):
    m = logits.max(dim=1, keepdim=True).values
    lse = m.squeeze(1) + (logits - m).exp().sum(dim=1).log()
    picked = logits[torch.arange(logits.shape[0], device=logits.device), targets]
    return torch.mean(lse - picked)


def kl_divergence(p, q):
    return (torch.xlogy(p, p) - torch.xlogy(p, q)).sum(dim=-1).mean()


def one_hot(targets, num_classes):
    return torch.eye(num_classes, dtype=torch.float32, device=targets.device)[targets]


def hinge_loss(scores, targets, margin=1.0):
    n, c = scores.shape
    rows = torch.arange(n, device=scores.device)
    true = scores[rows, targets].unsqueeze(1)
    margins = torch.maximum(scores - true + margin, torch.zeros_like(scores))
    others = 1 - torch.eye(c, dtype=scores.dtype, device=scores.device)[targets]
    return (margins * others).sum() / n


# Part 5 — Training


def gd_step(params, lr):
    for p in params:
        if p.grad is not None:
            p.data.add_(p.grad, alpha=-lr)
            p.grad.zero_()


def minibatches(X, y, batch_size, *, shuffle=False, generator=None):
    if shuffle:
        perm = torch.randperm(len(X), generator=generator)
        X, y = X[perm], y[perm]
    return zip(torch.split(X, batch_size), torch.split(y, batch_size), strict=True)


def train(model, X, y, *, loss_fn, epochs, batch_size, lr, optimizer="sgd", accumulation_steps=1, shuffle=True, generator=None):
    optimizers = {"sgd": torch.optim.SGD, "adam": torch.optim.Adam}
    if optimizer not in optimizers:
        raise ValueError("optimizer must be sgd or adam")
    opt = optimizers[optimizer](model.parameters(), lr=lr)
    result = []
    epoch = 0
    while epoch < epochs:
        batches = list(minibatches(X, y, batch_size, shuffle=shuffle, generator=generator))
        total, count = 0.0, 0
        opt.zero_grad(set_to_none=False)
        for i, (xb, yb) in enumerate(batches):
            loss = loss_fn(model(xb), yb)
            loss.div(accumulation_steps).backward()
            total += loss.item()
            count += 1
            if (i + 1) % accumulation_steps == 0 or i + 1 == len(batches):
                opt.step()
                opt.zero_grad(set_to_none=False)
        result.append(total / count)
        epoch += 1
    return result


def accuracy(model, X, y):
    previous = model.training
    model.train(False)
    with torch.inference_mode():
        hits = (model(X).argmax(-1) == y).sum().item()
    model.train(previous)
    return hits / len(y)
