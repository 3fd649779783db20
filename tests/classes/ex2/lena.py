"""Only Parts 1 and 2 implemented: the names of Parts 3-5 are missing."""


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
