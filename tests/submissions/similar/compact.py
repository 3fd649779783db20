"""An independent correct solution in a terse, expression-only style: comprehensions, lambdas in
dicts, method chains. One of the class of the similarity screen's test."""
import math

import torch
from torch import nn

tensor_info = lambda t: (t.ndimension(), tuple(map(int, t.size())), t.dtype)


def to_float32(t):
    return t.to(dtype=torch.float32)


def stack_images(imgs):
    if not len(imgs) or any(i.shape != imgs[0].shape for i in imgs):
        raise ValueError("need a non-empty list of equally shaped images")
    return torch.stack(tuple(imgs), dim=0)


def flatten_images(x):
    return x.flatten(1)


def channels_last(x):
    return torch.permute(x, (0, 2, 3, 1))


def horizontal_flip(x):
    return x[..., torch.arange(x.shape[-1] - 1, -1, -1, device=x.device)]


def concat_features(a, b):
    return torch.column_stack([a, b]) if a.dim() == 2 else torch.cat((a, b), -1)


def batched_affine(X, W, b):
    return torch.matmul(X, W.transpose(0, 1)).add(b)


def relu(x):
    return torch.maximum(x, torch.tensor(0, dtype=x.dtype, device=x.device))


def numpy_bridge(a):
    return torch.asarray(a)


def pick_device():
    for name, ok in (("cuda", torch.cuda.is_available), ("mps", torch.backends.mps.is_available)):
        if ok():
            return torch.device(name)
    return torch.device("cpu")


def grad_f(x, y):
    p = torch.tensor([float(x), float(y)], requires_grad=True)
    (p[0].square() + p[1]).backward()
    return p.grad


def accumulated_grad(x, y):
    p = torch.tensor([float(x), float(y)], requires_grad=True)
    for f in (lambda u, v: u.square() + v, lambda u, v: u * (v + 3)):
        f(p[0], p[1]).backward()
    return p.grad.detach().clone()


def grad_of(fn, *points):
    leaves = tuple(q.detach().requires_grad_() for q in points)
    return tuple(
        g if g is not None else torch.zeros_like(q)
        for q, g in zip(leaves, torch.autograd.grad(fn(*leaves), leaves, allow_unused=True))
    )


def numerical_grad(fn, x, eps=1e-3):
    x = x.detach()
    def partial(i):
        e = torch.zeros_like(x).view(-1).index_fill(0, torch.tensor([i], device=x.device), eps).view_as(x)
        return (fn(x + e) - fn(x - e)) / (2 * eps)
    return torch.stack([torch.as_tensor(partial(i)) for i in range(x.numel())]).to(x.dtype).view_as(x)


class LinearModel(nn.Module):
    def __init__(self, d_in, d_out):
        super().__init__()
        self.linear = nn.Linear(d_in, d_out)

    forward = lambda self, x: self.linear(x)


ACTIVATIONS = {"relu": relu, "sigmoid": torch.sigmoid, "tanh": torch.tanh}


class MLP(nn.Module):
    def __init__(self, d_in, d_hidden, d_out, activation="relu"):
        super().__init__()
        try:
            self.nonlinearity = ACTIVATIONS[activation]
        except KeyError:
            raise ValueError(activation) from None
        self.hidden, self.output = nn.Linear(d_in, d_hidden), nn.Linear(d_hidden, d_out)

    def forward(self, x):
        return self.output(self.nonlinearity(self.hidden(x)))


def count_parameters(model):
    return sum(math.prod(p.shape) for p in model.parameters() if p.requires_grad)


def samples_needed(model):
    return count_parameters(model) * 10


def softmax(z, dim=-1):
    e = (z - z.max(dim, keepdim=True).values).exp()
    return e / e.sum(dim, keepdim=True)


def mse_loss(pred, target):
    return (pred - target).square().sum().div(len(pred))


def cross_entropy(logits, targets):
    return -(logits - logits.logsumexp(1, keepdim=True)).gather(1, targets[:, None]).mean()


def kl_divergence(p, q):
    safe = torch.where(p > 0, p, torch.ones_like(p))
    return (p * (safe / q).log()).sum(-1).mean()


def one_hot(targets, num_classes):
    return torch.zeros(len(targets), num_classes, dtype=torch.float32, device=targets.device).scatter_(1, targets.view(-1, 1), 1.0)


def hinge_loss(scores, targets, margin=1.0):
    true = scores.gather(1, targets.view(-1, 1))
    m = (scores - true + margin).clamp_min(0)
    return (m.sum(1) - margin).mean()


def gd_step(params, lr):
    with torch.no_grad():
        [(p.add_(p.grad, alpha=-lr), p.grad.zero_()) for p in params if p.grad is not None]


def minibatches(X, y, batch_size, *, shuffle=False, generator=None):
    order = torch.randperm(len(X), generator=generator) if shuffle else torch.arange(len(X))
    yield from ((X[i], y[i]) for i in order.split(batch_size))


def train(model, X, y, *, loss_fn, epochs, batch_size, lr, optimizer="sgd", accumulation_steps=1, shuffle=True, generator=None):
    make = {"sgd": torch.optim.SGD, "adam": torch.optim.Adam}.get(optimizer)
    if make is None:
        raise ValueError(f"no optimizer {optimizer}")
    opt, history = make(model.parameters(), lr=lr), []
    for _ in range(epochs):
        batches, losses = list(minibatches(X, y, batch_size, shuffle=shuffle, generator=generator)), []
        opt.zero_grad()
        for k, (xb, yb) in enumerate(batches, 1):
            loss = loss_fn(model(xb), yb)
            (loss / accumulation_steps).backward()
            losses.append(loss.item())
            if k % accumulation_steps == 0 or k == len(batches):
                opt.step()
                opt.zero_grad()
        history.append(sum(losses) / len(losses))
    return history


def accuracy(model, X, y):
    before = model.training
    model.eval()
    with torch.no_grad():
        acc = model(X).argmax(1).eq(y).float().mean().item()
    model.train(before)
    return acc
