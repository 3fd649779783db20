"""Single bug: softmax — normalises over dim 0 whatever `dim` says (a known mistake of the catalogue)."""


import numpy as np
import torch
from torch import nn

# Part 1 — Tensors ----------------------------------------------------------------------------


def tensor_info(x: torch.Tensor) -> tuple:
    """Describe a tensor: return `(ndim, shape, dtype)`.

    `ndim` is an `int`, `shape` a `tuple` of `int` and `dtype` a `torch.dtype`;
    e.g. a 2×2 tensor of int64 gives `(2, (2, 2), torch.int64)`.
    """
    # BEGIN SOLUTION
    return x.ndim, tuple(int(s) for s in x.shape), x.dtype
    # END SOLUTION


def to_float32(x: torch.Tensor) -> torch.Tensor:
    """Return a tensor with the same values as `x`, as `float32` (on the same device)."""
    # BEGIN SOLUTION
    return x.to(torch.float32)
    # END SOLUTION


def stack_images(images: list) -> torch.Tensor:
    """Stack a list of N images of shape `(C, H, W)` into one batch of shape `(N, C, H, W)`.

    Raise `ValueError` if the list is empty or if the images do not all have the same shape.
    """
    # BEGIN SOLUTION
    if len(images) == 0:
        raise ValueError("stack_images needs at least one image")
    shape = images[0].shape
    for i, image in enumerate(images):
        if image.shape != shape:
            raise ValueError(f"image {i} has shape {tuple(image.shape)}, image 0 has {tuple(shape)}")
    return torch.stack(list(images))
    # END SOLUTION


def flatten_images(x: torch.Tensor) -> torch.Tensor:
    """Flatten a batch of images `(N, C, H, W)` into `(N, C*H*W)`, in row-major order.

    Row `i` of the result holds the values of image `i` in the order `x[i].flatten()` visits them.
    """
    # BEGIN SOLUTION
    return x.reshape(x.shape[0], -1)
    # END SOLUTION


def channels_last(x: torch.Tensor) -> torch.Tensor:
    """Turn a batch of images `(N, C, H, W)` into `(N, H, W, C)` (the layout Matplotlib expects)."""
    # BEGIN SOLUTION
    return x.permute(0, 2, 3, 1)
    # END SOLUTION


def horizontal_flip(x: torch.Tensor) -> torch.Tensor:
    """Mirror images left↔right: `x` has shape `(..., H, W)` (any number of leading dimensions)."""
    # BEGIN SOLUTION
    return x.flip(-1)
    # END SOLUTION


def concat_features(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Join two feature matrices side by side: `(N, p)` and `(N, q)` give `(N, p + q)`."""
    # BEGIN SOLUTION
    return torch.cat([a, b], dim=1)
    # END SOLUTION


def batched_affine(X: torch.Tensor, W: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Apply the affine map `x ↦ W x + b` to every row of `X` at once.

    `X` is `(N, d_in)`, `W` is `(d_out, d_in)`, `b` is `(d_out,)`; return `X Wᵀ + b`, shape `(N, d_out)`.
    No Python loop over the rows: one matrix product does it.
    """
    # BEGIN SOLUTION
    return X @ W.T + b
    # END SOLUTION


def relu(x: torch.Tensor) -> torch.Tensor:
    """The ReLU activation: `max(x, 0)` elementwise, same shape and dtype as `x`.

    Forbidden: `torch.relu`, `torch.nn.functional.relu`, `torch.nn.ReLU` (write it yourself).
    """
    # BEGIN SOLUTION
    return x.clamp(min=0)
    # END SOLUTION


def numpy_bridge(a: np.ndarray) -> torch.Tensor:
    """Return a tensor that **shares memory** with the NumPy array `a` (no copy).

    Changing an element of `a` afterwards must change the tensor too, and vice versa.
    """
    # BEGIN SOLUTION
    return torch.from_numpy(a)
    # END SOLUTION


def pick_device() -> torch.device:
    """Return the best device of this machine.

    `torch.device("cuda")` if CUDA is available, else `torch.device("mps")` if Apple's MPS is
    available, else `torch.device("cpu")`.
    """
    # BEGIN SOLUTION
    if torch.cuda.is_available():
        return torch.device("cuda")
    if torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")
    # END SOLUTION


# Part 2 — Autograd ---------------------------------------------------------------------------


def grad_f(x: float, y: float) -> torch.Tensor:
    """Gradient of `f(x, y) = x² + y` at the point `(x, y)`, computed **with autograd**.

    Return a `float32` tensor of shape `(2,)`: `[∂f/∂x, ∂f/∂y]`. Example: `grad_f(2, 3)` is `[4, 1]`.
    """
    # BEGIN SOLUTION
    xt = torch.tensor(float(x), dtype=torch.float32, requires_grad=True)
    yt = torch.tensor(float(y), dtype=torch.float32, requires_grad=True)
    f = xt**2 + yt
    f.backward()
    return torch.stack([xt.grad, yt.grad])
    # END SOLUTION


def accumulated_grad(x: float, y: float) -> torch.Tensor:
    """Show that PyTorch accumulates gradients.

    On the same leaves `x` and `y`, call `backward()` on `f = x² + y` and then on `g = x·(y + 3)`
    **without zeroing the gradients in between**, and return what the leaves' `.grad` hold:
    `[∂f/∂x + ∂g/∂x, ∂f/∂y + ∂g/∂y]` as a `float32` tensor of shape `(2,)`.
    Example: at `(2, 3)` the result is `[10, 3]`.
    """
    # BEGIN SOLUTION
    xt = torch.tensor(float(x), dtype=torch.float32, requires_grad=True)
    yt = torch.tensor(float(y), dtype=torch.float32, requires_grad=True)
    (xt**2 + yt).backward()
    (xt * (yt + 3)).backward()
    return torch.stack([xt.grad, yt.grad])
    # END SOLUTION


def grad_of(fn, *points: torch.Tensor) -> tuple:
    """Gradients of the scalar `fn(*points)` with respect to each of the points.

    Return a tuple with one tensor per point, each shaped like its point. The points' own `.grad`
    must be left untouched, and calling `grad_of` twice must give the same result twice
    (nothing accumulates across calls).
    """
    # BEGIN SOLUTION
    leaves = [p.detach().clone().requires_grad_(True) for p in points]
    out = fn(*leaves)
    grads = torch.autograd.grad(out, leaves, allow_unused=True)
    return tuple(torch.zeros_like(p) if g is None else g for p, g in zip(leaves, grads, strict=True))
    # END SOLUTION


def numerical_grad(fn, x: torch.Tensor, eps: float = 1e-3) -> torch.Tensor:
    """Estimate the gradient of the scalar function `fn` at `x` by central finite differences.

    Component `i` of the result is `(fn(x + eps·eᵢ) − fn(x − eps·eᵢ)) / (2·eps)`, where `eᵢ` is
    the i-th unit tensor; the result has the shape and dtype of `x`. No autograd here.
    """
    # BEGIN SOLUTION
    x = x.detach()
    grad = torch.empty(x.numel(), dtype=x.dtype, device=x.device)
    for i in range(x.numel()):
        step = torch.zeros(x.numel(), dtype=x.dtype, device=x.device)
        step[i] = eps
        step = step.reshape(x.shape)
        grad[i] = (fn(x + step) - fn(x - step)) / (2 * eps)
    return grad.reshape(x.shape)
    # END SOLUTION


# Part 3 — Models -----------------------------------------------------------------------------


class LinearModel(nn.Module):
    """The one-layer network of the lecture: `f(x) = W x + b`.

    It has one attribute `linear`, an `nn.Linear(d_in, d_out)`, and `forward(x)` returns `linear(x)`.
    """

    def __init__(self, d_in: int, d_out: int) -> None:
        # BEGIN SOLUTION
        super().__init__()
        self.linear = nn.Linear(d_in, d_out)
        # END SOLUTION

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # BEGIN SOLUTION
        return self.linear(x)
        # END SOLUTION


class MLP(nn.Module):
    """A feed-forward network with one hidden layer: `output(act(hidden(x)))`.

    Attributes: `hidden`, an `nn.Linear(d_in, d_hidden)`, and `output`, an `nn.Linear(d_hidden, d_out)`.
    `activation` is `"relu"`, `"sigmoid"` or `"tanh"`; anything else raises `ValueError`.
    `forward` returns the logits (no softmax at the end).
    """

    def __init__(self, d_in: int, d_hidden: int, d_out: int, activation: str = "relu") -> None:
        # BEGIN SOLUTION
        super().__init__()
        if activation not in ("relu", "sigmoid", "tanh"):
            raise ValueError(f"activation must be 'relu', 'sigmoid' or 'tanh', not {activation!r}")
        self.activation = activation
        self.hidden = nn.Linear(d_in, d_hidden)
        self.output = nn.Linear(d_hidden, d_out)
        # END SOLUTION

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # BEGIN SOLUTION
        h = self.hidden(x)
        if self.activation == "relu":
            h = h.clamp(min=0)
        elif self.activation == "sigmoid":
            h = torch.sigmoid(h)
        else:
            h = torch.tanh(h)
        return self.output(h)
        # END SOLUTION


def count_parameters(model: nn.Module) -> int:
    """Number of trainable scalar parameters of `model` (those with `requires_grad`), as an `int`."""
    # BEGIN SOLUTION
    return sum(p.numel() for p in model.parameters() if p.requires_grad)
    # END SOLUTION


def samples_needed(model: nn.Module) -> int:
    """The lecture's "10 times" rule of thumb: `10 * count_parameters(model)` training examples."""
    # BEGIN SOLUTION
    return 10 * count_parameters(model)
    # END SOLUTION


# Part 4 — Losses -----------------------------------------------------------------------------
# Forbidden in this part: torch's own softmax, log_softmax, one_hot and loss functions
# (functional or nn.Module): write them with elementary tensor operations.


def softmax(z: torch.Tensor, dim: int = -1) -> torch.Tensor:
    """Softmax of the logits `z` along `dim`: `exp(zᵢ) / Σⱼ exp(zⱼ)`.

    Must be exact and finite even for logits in the thousands (think about what `exp(1000)` is).
    """
    # BEGIN SOLUTION
    dim = 0
    shifted = z - z.amax(dim=dim, keepdim=True)
    e = shifted.exp()
    return e / e.sum(dim=dim, keepdim=True)
    # END SOLUTION


def mse_loss(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """The lecture's mean squared error `(1/N) Σᵢ ‖predᵢ − targetᵢ‖²`, a scalar tensor.

    N is the size of dimension 0 (the number of samples). Careful: when every sample is a vector
    this is **not** the mean over all elements that `torch.nn.MSELoss` computes.
    """
    # BEGIN SOLUTION
    return ((pred - target) ** 2).sum() / pred.shape[0]
    # END SOLUTION


def cross_entropy(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Cross-entropy loss: the mean over the N rows of `−log softmax(logits)[target]`.

    `logits` is `(N, C)`, `targets` is `(N,)` of int64 class indices. Return a scalar tensor that is
    finite even for logits in the thousands.
    """
    # BEGIN SOLUTION
    picked = logits.gather(1, targets.unsqueeze(1)).squeeze(1)
    return (torch.logsumexp(logits, dim=1) - picked).mean()
    # END SOLUTION


def kl_divergence(p: torch.Tensor, q: torch.Tensor) -> torch.Tensor:
    """Kullback–Leibler divergence between rows of probabilities, averaged over the rows.

    `p` and `q` are `(N, C)`, each row a probability distribution. Return the scalar
    `(1/N) Σᵢ Σⱼ pᵢⱼ log(pᵢⱼ / qᵢⱼ)`, where a term with `pᵢⱼ = 0` counts as 0.
    """
    # BEGIN SOLUTION
    terms = torch.where(p > 0, p * (p.log() - q.log()), torch.zeros_like(p))
    return terms.sum(dim=1).mean()
    # END SOLUTION


def one_hot(targets: torch.Tensor, num_classes: int) -> torch.Tensor:
    """One-hot encode class indices: `(N,)` int64 → `(N, num_classes)` `float32`.

    Row `i` is all zeros except a 1 in column `targets[i]`; the result lives on the targets' device.
    """
    # BEGIN SOLUTION
    classes = torch.arange(num_classes, device=targets.device)
    return (targets.unsqueeze(1) == classes).to(torch.float32)
    # END SOLUTION


def hinge_loss(scores: torch.Tensor, targets: torch.Tensor, margin: float = 1.0) -> torch.Tensor:
    """Multi-class SVM (hinge) loss, a scalar tensor.

    `scores` is `(N, C)`, `targets` is `(N,)` int64. For row i with true class yᵢ the loss is
    `Σ_{j ≠ yᵢ} max(0, s_j − s_{yᵢ} + margin)`; return the mean over the N rows.
    """
    # BEGIN SOLUTION
    true_scores = scores.gather(1, targets.unsqueeze(1))
    margins = (scores - true_scores + margin).clamp(min=0)
    is_true = torch.arange(scores.shape[1], device=scores.device) == targets.unsqueeze(1)
    margins = margins.masked_fill(is_true, 0)
    return margins.sum(dim=1).mean()
    # END SOLUTION


# Part 5 — Training ---------------------------------------------------------------------------


def gd_step(params, lr: float) -> None:
    """One step of plain gradient descent on `params` (an iterable of parameters).

    For each parameter that has a gradient: `θ ← θ − lr·∇θ`, in place and without autograd
    tracking it, then set that gradient to zero. Parameters without a gradient are left alone.
    """
    # BEGIN SOLUTION
    with torch.no_grad():
        for p in params:
            if p.grad is None:
                continue
            p -= lr * p.grad
            p.grad.zero_()
    # END SOLUTION


def minibatches(X: torch.Tensor, y: torch.Tensor, batch_size: int, *, shuffle: bool = False, generator=None):
    """Iterate over `(Xb, yb)` minibatches of at most `batch_size` rows, covering every sample once.

    Without `shuffle` the samples come in their order; with `shuffle` they come in the order of
    `torch.randperm(N, generator=generator)`. The last batch may be smaller.
    """
    # BEGIN SOLUTION
    n = X.shape[0]
    order = torch.randperm(n, generator=generator) if shuffle else torch.arange(n)
    for start in range(0, n, batch_size):
        idx = order[start : start + batch_size]
        yield X[idx], y[idx]
    # END SOLUTION


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
    """Train `model` on `(X, y)` with minibatches and return the mean training loss of each epoch.

    - Each epoch goes over `minibatches(X, y, batch_size, shuffle=shuffle, generator=generator)`;
      the loss of a batch is `loss_fn(model(Xb), yb)`.
    - `optimizer` is `"sgd"` (`torch.optim.SGD` with `lr`) or `"adam"` (`torch.optim.Adam` with
      `lr`); anything else raises `ValueError`.
    - Gradient accumulation: the gradients of `accumulation_steps` (k) consecutive minibatches,
      each loss divided by k, are summed before one optimizer step; a last, shorter group of an
      epoch is stepped too. Gradients never leak from one step into the next.
    - Return a list with one Python `float` per epoch: the mean of that epoch's batch losses
      (the losses as `loss_fn` returned them, not divided by k).
    """
    # BEGIN SOLUTION
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
    # END SOLUTION


def accuracy(model: nn.Module, X: torch.Tensor, y: torch.Tensor) -> float:
    """Fraction of the rows of `X` whose predicted class `argmax(model(X))` equals `y`, as a float.

    Evaluate in eval mode and without gradient tracking, and put the model back in the mode
    (train or eval) it was in before.
    """
    # BEGIN SOLUTION
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            predicted = model(X).argmax(dim=1)
        return (predicted == y).to(torch.float64).mean().item()
    finally:
        model.train(was_training)
    # END SOLUTION
