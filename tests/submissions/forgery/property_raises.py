"""Forgery: sends values that make the parent's trusted property functions raise.

Attack: the untouched stub, except: `MLP` builds its two layers (honestly: its forward stays
unimplemented) and `train` trains nothing: it casts the model to `torch.float8_e4m3fn` and returns `[0.0] * epochs`. The
hidden tests hand the trained model's state_dict to the parent's property functions
(`theta_recovered`, `circles_accuracy` in reference/ex2/properties.py); float8 tensors are floating
point, so they pass the type checks there, and then `torch.isfinite` raises NotImplementedError in the
parent. A parent that lets that exception out ends the whole grade (exit 4, no result).
Outcome a correct grader must give: exit 0 with a result; both property tests fail, and every
other test of train; nothing but MLP's structure (built honestly) earns a point.
"""

import numpy as np
import torch
from torch import nn

# Part 1 — Tensors ----------------------------------------------------------------------------


def tensor_info(x: torch.Tensor) -> tuple:
    """Describe a tensor: return `(ndim, shape, dtype)`.

    `ndim` is an `int`, `shape` a `tuple` of `int` and `dtype` a `torch.dtype`;
    e.g. a 2×2 tensor of int64 gives `(2, (2, 2), torch.int64)`.
    """
    raise NotImplementedError("tensor_info: Describe a tensor: return `(ndim, shape, dtype)`.")


def to_float32(x: torch.Tensor) -> torch.Tensor:
    """Return a tensor with the same values as `x`, as `float32` (on the same device)."""
    raise NotImplementedError("to_float32: Return a tensor with the same values as `x`, as `float32` (on the same device).")


def stack_images(images: list) -> torch.Tensor:
    """Stack a list of N images of shape `(C, H, W)` into one batch of shape `(N, C, H, W)`.

    Raise `ValueError` if the list is empty or if the images do not all have the same shape.
    """
    raise NotImplementedError("stack_images: Stack a list of N images of shape `(C, H, W)` into one batch of shape `(N, C, H, W)`.")


def flatten_images(x: torch.Tensor) -> torch.Tensor:
    """Flatten a batch of images `(N, C, H, W)` into `(N, C*H*W)`, in row-major order.

    Row `i` of the result holds the values of image `i` in the order `x[i].flatten()` visits them.
    """
    raise NotImplementedError("flatten_images: Flatten a batch of images `(N, C, H, W)` into `(N, C*H*W)`, in row-major order.")


def channels_last(x: torch.Tensor) -> torch.Tensor:
    """Turn a batch of images `(N, C, H, W)` into `(N, H, W, C)` (the layout Matplotlib expects)."""
    raise NotImplementedError("channels_last: Turn a batch of images `(N, C, H, W)` into `(N, H, W, C)` (the layout Matplotlib expects).")


def horizontal_flip(x: torch.Tensor) -> torch.Tensor:
    """Mirror images left↔right: `x` has shape `(..., H, W)` (any number of leading dimensions)."""
    raise NotImplementedError("horizontal_flip: Mirror images left↔right: `x` has shape `(..., H, W)` (any number of leading dimensions).")


def concat_features(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Join two feature matrices side by side: `(N, p)` and `(N, q)` give `(N, p + q)`."""
    raise NotImplementedError("concat_features: Join two feature matrices side by side: `(N, p)` and `(N, q)` give `(N, p + q)`.")


def batched_affine(X: torch.Tensor, W: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Apply the affine map `x ↦ W x + b` to every row of `X` at once.

    `X` is `(N, d_in)`, `W` is `(d_out, d_in)`, `b` is `(d_out,)`; return `X Wᵀ + b`, shape `(N, d_out)`.
    No Python loop over the rows: one matrix product does it.
    """
    raise NotImplementedError("batched_affine: Apply the affine map `x ↦ W x + b` to every row of `X` at once.")


def relu(x: torch.Tensor) -> torch.Tensor:
    """The ReLU activation: `max(x, 0)` elementwise, same shape and dtype as `x`.

    Forbidden: `torch.relu`, `torch.nn.functional.relu`, `torch.nn.ReLU` (write it yourself).
    """
    raise NotImplementedError("relu: The ReLU activation: `max(x, 0)` elementwise, same shape and dtype as `x`.")


def numpy_bridge(a: np.ndarray) -> torch.Tensor:
    """Return a tensor that **shares memory** with the NumPy array `a` (no copy).

    Changing an element of `a` afterwards must change the tensor too, and vice versa.
    """
    raise NotImplementedError("numpy_bridge: Return a tensor that **shares memory** with the NumPy array `a` (no copy).")


def pick_device() -> torch.device:
    """Return the best device of this machine.

    `torch.device("cuda")` if CUDA is available, else `torch.device("mps")` if Apple's MPS is
    available, else `torch.device("cpu")`.
    """
    raise NotImplementedError("pick_device: Return the best device of this machine.")


# Part 2 — Autograd ---------------------------------------------------------------------------


def grad_f(x: float, y: float) -> torch.Tensor:
    """Gradient of `f(x, y) = x² + y` at the point `(x, y)`, computed **with autograd**.

    Return a `float32` tensor of shape `(2,)`: `[∂f/∂x, ∂f/∂y]`. Example: `grad_f(2, 3)` is `[4, 1]`.
    """
    raise NotImplementedError("grad_f: Gradient of `f(x, y) = x² + y` at the point `(x, y)`, computed **with autograd**.")


def accumulated_grad(x: float, y: float) -> torch.Tensor:
    """Show that PyTorch accumulates gradients.

    On the same leaves `x` and `y`, call `backward()` on `f = x² + y` and then on `g = x·(y + 3)`
    **without zeroing the gradients in between**, and return what the leaves' `.grad` hold:
    `[∂f/∂x + ∂g/∂x, ∂f/∂y + ∂g/∂y]` as a `float32` tensor of shape `(2,)`.
    Example: at `(2, 3)` the result is `[10, 3]`.
    """
    raise NotImplementedError("accumulated_grad: Show that PyTorch accumulates gradients.")


def grad_of(fn, *points: torch.Tensor) -> tuple:
    """Gradients of the scalar `fn(*points)` with respect to each of the points.

    Return a tuple with one tensor per point, each shaped like its point. The points' own `.grad`
    must be left untouched, and calling `grad_of` twice must give the same result twice
    (nothing accumulates across calls).
    """
    raise NotImplementedError("grad_of: Gradients of the scalar `fn(*points)` with respect to each of the points.")


def numerical_grad(fn, x: torch.Tensor, eps: float = 1e-3) -> torch.Tensor:
    """Estimate the gradient of the scalar function `fn` at `x` by central finite differences.

    Component `i` of the result is `(fn(x + eps·eᵢ) − fn(x − eps·eᵢ)) / (2·eps)`, where `eᵢ` is
    the i-th unit tensor; the result has the shape and dtype of `x`. No autograd here.
    """
    raise NotImplementedError("numerical_grad: Estimate the gradient of the scalar function `fn` at `x` by central finite differences.")


# Part 3 — Models -----------------------------------------------------------------------------


class LinearModel(nn.Module):
    """The one-layer network of the lecture: `f(x) = W x + b`.

    It has one attribute `linear`, an `nn.Linear(d_in, d_out)`, and `forward(x)` returns `linear(x)`.
    """

    def __init__(self, d_in: int, d_out: int) -> None:
        raise NotImplementedError("LinearModel.__init__: The one-layer network of the lecture: `f(x) = W x + b`.")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError("LinearModel.forward: The one-layer network of the lecture: `f(x) = W x + b`.")


class MLP(nn.Module):
    """A feed-forward network with one hidden layer: `output(act(hidden(x)))`.

    Attributes: `hidden`, an `nn.Linear(d_in, d_hidden)`, and `output`, an `nn.Linear(d_hidden, d_out)`.
    `activation` is `"relu"`, `"sigmoid"` or `"tanh"`; anything else raises `ValueError`.
    `forward` returns the logits (no softmax at the end).
    """

    def __init__(self, d_in: int, d_hidden: int, d_out: int, activation: str = "relu") -> None:
        raise NotImplementedError("MLP.__init__: A feed-forward network with one hidden layer: `output(act(hidden(x)))`.")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError("MLP.forward: A feed-forward network with one hidden layer: `output(act(hidden(x)))`.")


def count_parameters(model: nn.Module) -> int:
    """Number of trainable scalar parameters of `model` (those with `requires_grad`), as an `int`."""
    raise NotImplementedError("count_parameters: Number of trainable scalar parameters of `model` (those with `requires_grad`), as an `int`.")


def samples_needed(model: nn.Module) -> int:
    """The lecture's "10 times" rule of thumb: `10 * count_parameters(model)` training examples."""
    raise NotImplementedError("samples_needed: The lecture's \"10 times\" rule of thumb: `10 * count_parameters(model)` training examples.")


# Part 4 — Losses -----------------------------------------------------------------------------
# Forbidden in this part: torch's own softmax, log_softmax, one_hot and loss functions
# (functional or nn.Module): write them with elementary tensor operations.


def softmax(z: torch.Tensor, dim: int = -1) -> torch.Tensor:
    """Softmax of the logits `z` along `dim`: `exp(zᵢ) / Σⱼ exp(zⱼ)`.

    Must be exact and finite even for logits in the thousands (think about what `exp(1000)` is).
    """
    raise NotImplementedError("softmax: Softmax of the logits `z` along `dim`: `exp(zᵢ) / Σⱼ exp(zⱼ)`.")


def mse_loss(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """The lecture's mean squared error `(1/N) Σᵢ ‖predᵢ − targetᵢ‖²`, a scalar tensor.

    N is the size of dimension 0 (the number of samples). Careful: when every sample is a vector
    this is **not** the mean over all elements that `torch.nn.MSELoss` computes.
    """
    raise NotImplementedError("mse_loss: The lecture's mean squared error `(1/N) Σᵢ ‖predᵢ − targetᵢ‖²`, a scalar tensor.")


def cross_entropy(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Cross-entropy loss: the mean over the N rows of `−log softmax(logits)[target]`.

    `logits` is `(N, C)`, `targets` is `(N,)` of int64 class indices. Return a scalar tensor that is
    finite even for logits in the thousands.
    """
    raise NotImplementedError("cross_entropy: Cross-entropy loss: the mean over the N rows of `−log softmax(logits)[target]`.")


def kl_divergence(p: torch.Tensor, q: torch.Tensor) -> torch.Tensor:
    """Kullback–Leibler divergence between rows of probabilities, averaged over the rows.

    `p` and `q` are `(N, C)`, each row a probability distribution. Return the scalar
    `(1/N) Σᵢ Σⱼ pᵢⱼ log(pᵢⱼ / qᵢⱼ)`, where a term with `pᵢⱼ = 0` counts as 0.
    """
    raise NotImplementedError("kl_divergence: Kullback–Leibler divergence between rows of probabilities, averaged over the rows.")


def one_hot(targets: torch.Tensor, num_classes: int) -> torch.Tensor:
    """One-hot encode class indices: `(N,)` int64 → `(N, num_classes)` `float32`.

    Row `i` is all zeros except a 1 in column `targets[i]`; the result lives on the targets' device.
    """
    raise NotImplementedError("one_hot: One-hot encode class indices: `(N,)` int64 → `(N, num_classes)` `float32`.")


def hinge_loss(scores: torch.Tensor, targets: torch.Tensor, margin: float = 1.0) -> torch.Tensor:
    """Multi-class SVM (hinge) loss, a scalar tensor.

    `scores` is `(N, C)`, `targets` is `(N,)` int64. For row i with true class yᵢ the loss is
    `Σ_{j ≠ yᵢ} max(0, s_j − s_{yᵢ} + margin)`; return the mean over the N rows.
    """
    raise NotImplementedError("hinge_loss: Multi-class SVM (hinge) loss, a scalar tensor.")


# Part 5 — Training ---------------------------------------------------------------------------


def gd_step(params, lr: float) -> None:
    """One step of plain gradient descent on `params` (an iterable of parameters).

    For each parameter that has a gradient: `θ ← θ − lr·∇θ`, in place and without autograd
    tracking it, then set that gradient to zero. Parameters without a gradient are left alone.
    """
    raise NotImplementedError("gd_step: One step of plain gradient descent on `params` (an iterable of parameters).")


def minibatches(X: torch.Tensor, y: torch.Tensor, batch_size: int, *, shuffle: bool = False, generator=None):
    """Iterate over `(Xb, yb)` minibatches of at most `batch_size` rows, covering every sample once.

    Without `shuffle` the samples come in their order; with `shuffle` they come in the order of
    `torch.randperm(N, generator=generator)`. The last batch may be smaller.
    """
    raise NotImplementedError("minibatches: Iterate over `(Xb, yb)` minibatches of at most `batch_size` rows, covering every sample once.")


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
    raise NotImplementedError("train: Train `model` on `(X, y)` with minibatches and return the mean training loss of each epoch.")


def accuracy(model: nn.Module, X: torch.Tensor, y: torch.Tensor) -> float:
    """Fraction of the rows of `X` whose predicted class `argmax(model(X))` equals `y`, as a float.

    Evaluate in eval mode and without gradient tracking, and put the model back in the mode
    (train or eval) it was in before.
    """
    raise NotImplementedError("accuracy: Fraction of the rows of `X` whose predicted class `argmax(model(X))` equals `y`, as a float.")


# ==================================================================================================
# The attack
# ==================================================================================================

class MLP(nn.Module):
    def __init__(self, d_in, d_hidden, d_out, activation="relu"):
        super().__init__()
        self.hidden = nn.Linear(d_in, d_hidden)
        self.output = nn.Linear(d_hidden, d_out)

    def forward(self, x):
        raise NotImplementedError("MLP.forward")


def train(model, X, y, *, loss_fn, epochs, **options):
    model.to(torch.float8_e4m3fn)  # floating point, yet half of torch has no kernel for it
    return [0.0] * epochs
