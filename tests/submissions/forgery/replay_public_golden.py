"""Forgery: replays the public golden values that ship with the exercise instead of computing anything.

Attack: the untouched stub (every function raises NotImplementedError), plus a copy of the public
`golden.json` that every student has (its check values, embedded below, compressed). At import the
grader's message sender in the child is found with `gc` and wrapped: when a public test starts, every
golden value of that test is sent at once as that test's checks; the stub's own error never goes out
(the end message loses `error` and `where`). On the wire the run is indistinguishable from an honest one
that computed the public values.
Outcome a correct grader must give (instructor's grade, `grade ex2 FILE` with the reference present):
0 points. The instructor's grade must not rest on values that are public: its inputs come from a secret
seed (or the public tests count for nothing), so replayed public values are wrong values.
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

import gc as _gc


def _plugins():
    """The grader's objects in this process that send messages out: any live instance of a class
    from a `grader.*` module with an `emit` method (the child plugin today)."""
    _gc.unfreeze()  # the grader may freeze what it imported before a submission runs
    found = []
    for obj in _gc.get_objects():
        cls = type(obj)
        if str(getattr(cls, "__module__", "") or "").startswith("grader") and callable(getattr(cls, "emit", None)):
            found.append(obj)
    return found


import base64 as _b64
import json as _json
import zlib as _zlib

_BLOB = """
eNrVW9mS4ka6fhWiruzIOp3aF0fMRWoBBAhSINY5jgptCAltaEcz8+5HVHXb3W53VWG3Z+boCkmpzH/9/iWTfzxklR0FDiy9
onx6+f0hu/700/N96SVFmj8FyTF9+Onv/3jIq8h7+OnBu1RW9PD4kFjx7dYaHKPUKoPE/58sDZJy8PJZP6B++OkfD+d+SFll
/ZfPD/7+8qQf93JP/evxzTHMpzGfffXzp2duec0+fvfwTAjJPfRvb6+/QW8y6OfxfC+/j1L6HZSS1Feksl89IcXfp74fQFPP
tP/8+Lpe0qdnTvvR31bLMU/jG6Mc8wV/nzh+WfijyPqJHh+Kk3V78nf6kezXd706cG4DnKzqX+b97EHuFU9+brkPPx2tqPD6
QVZp9UOQJgdNIyFLN5A/nqsPr0j/maznRf8AYcydhA2bLYnzyVBy5OEx3UJlbWU1IwNNEcPTPgb5nrBwk7MRz9sjbQRSeUXV
vBvVCjB4W4MPb6qiKC3n/BTElu8Vr/qIbZXOaZAeBx/H3sc69cg8knezT9FDGRfU2bZFP5o2sAi2PD4f1S4EeblcgIrgqpqn
7F0opIF/hhy9BDVFJJOZULWFARrVa3G+ipYhw7UygGSzTXHDV43NrgV2CiMfMLjtfCXksu48gjgfbjBDzw2Taa7iCm4Cq8Gi
i445OJeBB8zTDNWT8ErlUGePPT2MLuOwlLEi/O0Lm8mtoHiWkddmnlN6PWcPGyuqPDXPnyX1UayfS9ENnPLT/fP37qc3RfnR
xT+f41+PD/FNJTe1vQyz0zR6GVfmlXd77xVFr6uvp/lc6YPE89xiYJWDyLOKcpAm3ouKe4betJ5jZJW99t+2nzvNhX2kiTtt
ZeJPVUyZJG2y+fB0hQveO9QmlxsdpPf5BbD6/ogpbpbwwCycK2gcsqz55DwMxRE9qcDKaTScaxeSF2xBrmCwOpV4s1dW/fg8
NuA2M5vatYanmZC2bgwPbkDXXTUhZ6QsHxyxAG1d04YR2Ay7usZQcxWmvuIhx4taqmyhz5wmtdAhqHAHa1tBkz4pdRpp206c
XCcLsLzs5Zrkcy8nj7nRv1e1lTGiU8kkh8tlAIfxKKlDl7wqQhlvtpB282td0kFiQs3GDmRsr6iLfC7PwApUe+hRrI6ZeM4q
xGq0q4CXTEY1YEiO5846miPzdKExlcRJDmQm1QGl6xauXaycZXOxSuF6qvjYXF9dG1wNJ4Vzu8M1zdNBCJtt3oB6vs7rOB6B
GSOVyAFZu3UweSL8majAVQHXmp7XEdecbK53XwDPk2WCGUuf2bxMhWewy6MT9n2eyxnmmvXyTPdzHIzKTIHe+miBsxOLNVkv
1yEUSmIlzrdntSYmRmEDt/dOmMPRrCaYRuM5I2gXEG+3ND6PDrMCKUq3hnaUTpvp1NuaIpTpESyaIaqvyaTq75NlBRmCKGsm
CdIZI/DCGljcXsO8Zp5D0ev0BRzuVaOZDXdoJnLZZQqmucHUfXpwUITJQjcArXdpXYoj3qZk6BrQHwMTNx4MO2ilhy2I42Zk
DK2MDYHBpDKYLE4d5vmqNUGotDFc83lT+0M5zwWnm1PwcL2M67a6BqaoURWA0pDq6SXpNudWmxCBZh8HWDDXp5wO5XkA2yRa
1EK+Pebs7OosoGJMAC6H7TKnDtRKB+mZ5uvQtvBMPFynV/B2KHBOVpJ4UfEU9Tjw/XyZfqQf2buh359f2vqi22UnqJtjBaaG
ItRByq1CWAspgNUFKHWrr8cdOdIyAxbzoY8TJ2pmDZELGphbqlWL3hUVsltUMWjmO7GmkuMhB4vqOoKnaTjH5XHL8ry8PK9g
uggvOLGH85lQToorZLJwWgenIrIBBeUMARQHNTHNzqawD00OaoXmYnK7KnNx6jsy2G4uYR2cJ4UC156FIAsmJm7VlLW5kzIT
IMstEKbVys8FQ9s4IrZqFScjklEIyjLOoLwQdE0VK9/m12eJE6ZUY9Y9vI9tfgezLdz73K5uCcbIxdJRKKjNFgkOhDHORbYU
zvCczTS8n0yyTijXZxfp1hzVlXLa81RWIx22RHapYUxothiduxHcjGd23ZAjU+Ev4/ke7sqCxvnO2vBgZUymsJvYDs54T5yx
8bqQgZcjvp5oThoKYqtQYuCSOebdks9F11H2cHsebjFFOLOOP8s8A8cbkq8FEA5zcJlpBFjlXV776tpUxELfUzAdZ24dK8PV
jB6v4AhSZi8RNjrMTbG9mntY7Ho0agVl2Ymkyjuwly3EogmnnUDPJhowKdapeUw6oYg2Jw1KHGPijN5La8SsbB3q0m6Dk+Fm
qYjQn/TwkPAnTBNswPMjtrEExVUV3CUVsgE/tgt40ax5XUa0EwrAcChxJsYSjle23zHLuNyCZVIjfKLaWa9/vPLFa0uOsKBO
NqFgXccGKPPjpC6XEVLE4/CgQb0k87rUy6jXV5giELFKUovG7hRSgrUGsBhv1TqAQRHy7VYFsGdIxZAdK2uZUAwVkKSKcc3t
1Y5nOUeFvm3oNTehrVAotGYPjzp1rUW2SXMG0fMpaKr1tqazVcoLjbrp4SFTyt4fcJf39sMGoje8GnWFuYtJXdOGgZulJNRs
tlV5UZUmKpxyxAyni6ziu7muC/AS5ruaXIYLG6gXpYGn0/Fcg22W8qLHxQVc8Xuqtnufz4VJ5Vii1M4nNXXVWh7uSM94R+Z5
SvOgS5PSivo0IsheAZyX1POH+eNAfhyMHwfbH++vCB6pR+pOCIpJwsRkFAY2LVn2CB5RIxtTzlZM8TrrNX0AW7M+uSToeL5V
GFiNVzGOM0chUGcKFnitinjOsj4Wcc/J0+CHtxn7VAx9You8myXXRx8vyUO/XH/72zuCQ5o4Vp/weVZZ5d8z1SMf+TuZsF0h
w9CzRZtn5PkeTNtMq9uQkWzRsygHUKfYqd/F1LNhee6TdTwGiff9eGIe6Tt5alZGD29uJK8Vktju4UZaE7grLxohXYytD+2N
2GLY5w0mU5lbBFP7zGE2nKqEgg4j5x3ulntR9XoTxGsG9a2+KB6fi4C+1CtPXjwg7mT+XnW+2OBBdUwBfXnJxkKJPrfRb7dE
BrmVuH1h3pdEedD+5eoigojDfbxU1ijyjDN8JlHVE7f7jIcFkfIdma/HBXhhJ9t2CgdIjxDfVldSxdn1yc4D13/NMF+4Gzw3
JXptDaw8t65vs/8FjNzfljiNSg/ujyMhh4Sz7uxNpiFDR2rnrrlLxcDWF4bldKgJikhuY3/MDY90LW7QqJnpflXBpSFzwsZd
cDkQCZvi5qSyxAQT6xsWbvrvmWQ3wZNmWyiC5AFvd90rNCaX7la/KjJ4tvbHNyRiHcseWm8prR8k/v8j2ThNpzbS0TNV+Y/K
5g3TyoK++H9h6akJylNalU+W43iRl1tlL49XrK2X4suHg9skntu/6gNDUVpJ+dJ1+Lyf8SK0l47DTXCv+u9HtcVp7bmDMh38
3lL3hZV7Y+ORsThcHbvzTHhH6LjN8HR8DVDLXwK8k6a5GyRWeX/b7G4slZZtDzX+bxtSXxP3vNi/kbRY8Q+G8Qtpb4i3t8cq
rqKeLvfjbP91glaNBqFS1f7bBK2VRN0s7PmhQO+14/Q1Q869PuNLikHvox/3Db7p8r/pQH5bLLdVAy8pB82H/EP54dnbj0Fe
lIPnHZg7JcTdKSFD62QMfEKxuVQ8EtCawQrT+hAqMHYXwquJ++9RXni9RNx/C+k7aXzCl92I5Hm5kzSAtx2FQ7FsFCiPWAK8
K7Hw8sDpq643/OoXTvtEsKjiH9r/rYg+IP14ZwS9v+svT7Itf3KmSJUcabmwqXl3xVeJVKUjPQcM5NQJq9Qjn5m9DnK/ZaAI
kkH715OPFsmalB2WMUXfVuHxxCYXDE5DZ+cVR9BAbrFBuZ+UfPgeIIz6wsTKn+LU9aJXlPX8/sPL4EHQO2sySJIPs+f77+Kx
PwTJL8VfXx9Uv5aCP75z+5H7ehOUeXWfs18kq3r8vGVzL9tPd+8iUPcqL1MdCvM6CRXBWE/WIlUtpQYP4+laVrcjBvKzIjbm
XdApApbqK1zGxqgZqZ0SCnObMHvFqte60ovZWRntJw4kR9DCUGr4jh45rADgVFKa6TSRc1EpxQKYSSzWzamWc5BmRgMOdWE2
07JlZ6ChhwkSh2CF84u1OkvVikWwbp0pbpaxn1PdUTNgkVZ0XeKdpEu8du7QpdwxjbxqNUIRiJ0GPWa5MFC7pGxA1TMPUNOA
bJRlQHWkwF43aBwXJ9wYMVCgPYcedIarBHPSZNxBwj80cEKKTjNhpc1ZQruSgxXZZfW1YmRbPMdtA8NZqjVzTIxNwBbjERR8
Z97MDmihKohtkaDhWMCiUXEdQzDyAa3nKx2bSTt00GQ1zFC8X6m4yE3LBOGk3ENuuOGwKAbMDK6pGKKtNDw3C7ULVUlrEQVj
gTg3ijVBCiSGOxVuU5qr2z0z5kG8DxI0JuywXx+f1gq7DgFcRdOLofFeoIhTfapBKap2zcRVKptkqfyAAFAWmF5RfSHHewsD
ZnZmNguJ2ueggIhECBMipvZTnZAZ5OtgBsm1oUwXmd3pxVQXm5gd1W2LHV3SF64vKPZ10yBt7XQAbXc60MkS1wyHIh0xbbRE
TUIIjZodLF7wBd4XOrjcNJMpe+nE855F78DvOHqtVfbi93rqVt8pUp8C1/WSQWRd+/yqB4Fn3//x3hMHvx4dIN/j8n9stX7u
rxBGeHW5KPWDsvgTCCM8UsKdCNNJQ7sWUZ6vFZQSAix6V2oWfL6yBfs0UxCMjixug1wpVFkYSmjON3Kz5ZNCVy5+y6NwZk4b
zEtHQl7xmxA1M3qMParqLXSvsxMEht2ubk/dWpWI0ppC2Iw0nFrnyVnWZrsE2RsfNLrdLdcIEpMZ0slIbvTl+TqDo6qSUK7v
54bCjsfOONb5LbSio97grWkS0hWsdtJuP5oYi3y+cIZj3zhK07GVNsPFFAqIqfgJkpPVtsFXG4ecs9E2KNUWtaGemUkhHUu7
RL0wtzWRkkrOy9O1iIzdiGkWlmgJkpONI+R3U7oZplxYoL11naPYOY8NRC92OeDpqYIagqIw9KaZI6VltQIXgbea8WjYI3RO
pEdko+2yvh5E2uStrWSiopxlGKzyJBSN5uyB7XrY18spOCgQiDGC/rCl6uVJWYYCt6MMmDfWuu7RZGzCQ6FPIT2hLGPcUUcd
8fZeh9LJrepzqMjqaIHGZ3iS5Hkzt4+UDbfh4gJpbk/08iGgg4oJPURqLviNKawUXW3Hboi2oPSbIScmZ2lYZB3aT6tJzZf4
fFa0tGlRGMrLGuTbE4GQg8+iWTWpMZpfdqoEMehRdSqCZjxu/TXa0hcTccdF3gyP150qd8mGRZEyNIzFtFzz4l7eECDbKLjB
0wzkQN0tINoX86WhWXTlSGXujCB7EcZ1cFbOa0WWqwbOUqvChFGvOp4z7QJefU5qlHYon6UFdRDgdFxvMZwohiLMHLpDnayr
xkhaRTzRICFDZJjJzSK4xCqiSm2I1quZbCgXUzsrzYaX4Y4DU8ynzEmQt1LbQ/zhmDYoBa4qQwPkqBttN40e7l1HEj056sPE
VjaQuTvxzIVUtnBYMKwhz+ZrRzqOFz7cXAzFkHfDyVo5OsESHSJGaeZeMsrFBcnFML0ovLHQ2aBAoji7jeeGxjDMFEIiTP4M
rm5SNbqvLtdywNU5mlMwrTlxxOvIP65KtCWvw0ZJhpdcZAQpgPrYDxvUp3MqWgnXCQrGPlFz/HKTk6Yta5Aa71qcJJfAFBiL
EmAUrOZ10qTbQr6skYSUthrW1KqiVNR1Vh+xTkRoKAo2TMIVzUxqutkEC0Zu8Py5veSIFBId98E+Wksp1SVS0uaRMenGJ2fc
cWtbGo8mQXM85WkoEstpdvO/vJEvJ3utbI6pixwgbZupmbkdp80kUerdP8VX+doQqNT2GdosjHlzbEaOIxnTxQmF3UGrWxnn
DnrXtkCV9E+tvAfU0suLN0PTLynpLzD7a4LIEq9g9cuHjwPTSk6Pg1emYRjm7VNPVtyHkeLpdvbFc99J9ODWLHtpjT+Hqd9d
naTI93DxCv08xRNvM5Aey9hqX23o155T/uZw4PcvSDfuaIZH+4RXWGVsn0HIjAgs72kiJFSjVcXXCjTPck6DPG1uBZr1x1r3
9OO9BAP2EuFqfAg7yi9lFfhHqGGt0r2QF73OATXbethaBhez5VdjQ2TrYIKRAZeh6NWZI/pu7OJ4w7AKMSk4BpCmvsTLzNdM
XhXD4h2t/bjwnqK0eM1Xir4+7w3uo5neKZM7BRKtT5bxxv7Kiyn9e+iJR/TOeN+eZN5L8amv8PM0u36/3bs76a3kzsTNe+g9
R09uUHu57yWO9x+j1/ZcFvvvobeHuqdT+tpRoNLqmSlv7QZ34ERWUdxtHMz9/RUkI9yg3780BL9++J7xr9t/nObeJwYH5amP
Cre+3yfuq8K7m2vue3L92eUrwp96/y0pvuM8R5D4bwLbX2vazGwO3wcdvvtUlN5rlXTzcQvxucF7G3pn7+nerj15kDDfOFtF
8BGxhqpTRX0aGEY58apl2n+OzHtPyuslbj+Cx7er6ptbFOXgn82H2xT//JrCb7Ylngl8YYH4QLxnDftPr/FWtA6SwP500PrV
ndEfdvbj4Gr/OMisIP8CB6OgKL/oWXzdxfhL/tcAptqshjudtEXpsqHgwy//AHnraNG9ByLQr9A0+hxHfoWPn7/975O/hPeD
FQk13+KlKWwOJ+7fw7v0GdD+B3k3yKTG6cwKOh5G+9VfyHtfmn+61F95178b79TdvJer0RSf5+7Ovm2vvJfvu/d//d+z9xsu
/vye/z/lVpC8WrvdEONWFj1LpPhzndy87EfcsI4gyMcH6/mO9P6HYH9Nb7w+o7lF7tuSz1WZl6VfNkO/grDPYJT7QBOCwHE8
ITI8wTPiJ7F/AbUcSXACSxGcyIg8SQi/O6j/mmRpjhVpUWRFQfjGDtHbLP3akvgUGm4y71OUb/3lpvEC/1TedcLkXmehbCPC
hCheFTjSy8XNLR/swCr+wngtGyPqY3HyrjMXueW8t5L6Qm8sIVIizQkEJfK0yPP9Yv/6P5XKiiQ=
"""
_GOLDEN = _json.loads(_zlib.decompress(_b64.b64decode("".join(_BLOB.split()))))  # test id -> its checks


def _replaying(emit):
    def forged(message):
        kind, test_id = message.get("t"), message.get("id")
        if test_id in _GOLDEN:
            if kind == "start":
                emit(message)
                for i, fields in enumerate(_GOLDEN[test_id]):
                    emit({**fields, "t": "check", "id": test_id, "i": i})
                return None
            if kind == "check":
                return None  # the stub's own values (it has none: it raises) never go out
            if kind == "end":
                message = {k: v for k, v in message.items() if k not in ("error", "where")}
        return emit(message)

    return forged


for _plugin in _plugins():
    _plugin.emit = _replaying(_plugin.emit)
