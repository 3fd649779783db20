"""An independent correct solution, written the long way: explicit loops where allowed, many
intermediate names, early returns. One of the class of the similarity screen's test."""

import torch
import torch.nn as nn


def tensor_info(t):
    dims = len(t.shape)
    sizes = []
    for s in t.shape:
        sizes.append(int(s))
    return dims, tuple(sizes), t.dtype


def to_float32(t):
    return t.type(torch.float32)


def stack_images(image_list):
    count = len(image_list)
    if count == 0:
        raise ValueError("empty list of images")
    first_shape = tuple(image_list[0].shape)
    for img in image_list[1:]:
        if tuple(img.shape) != first_shape:
            raise ValueError("all images must have one shape")
    batch = torch.empty((count, *first_shape), dtype=image_list[0].dtype, device=image_list[0].device)
    for k in range(count):
        batch[k] = image_list[k]
    return batch


def flatten_images(batch):
    n = batch.size(0)
    return batch.contiguous().view(n, -1)


def channels_last(batch):
    return batch.transpose(1, 2).transpose(2, 3)


def horizontal_flip(img):
    return torch.flip(img, dims=[img.dim() - 1])


def concat_features(left, right):
    return torch.concat((left, right), 1)


def batched_affine(inputs, weight, bias):
    return torch.addmm(bias, inputs, weight.t())


def relu(values):
    mask = values > 0
    return values * mask.to(values.dtype)


def numpy_bridge(array):
    t = torch.from_numpy(array)
    return t


def pick_device():
    if torch.cuda.is_available():
        return torch.device("cuda")
    elif torch.backends.mps.is_available():
        return torch.device("mps")
    else:
        return torch.device("cpu")


def grad_f(x, y):
    a = torch.tensor(x, dtype=torch.float32, requires_grad=True)
    b = torch.tensor(y, dtype=torch.float32, requires_grad=True)
    out = a * a + b
    out.backward()
    result = torch.zeros(2, dtype=torch.float32)
    result[0] = a.grad
    result[1] = b.grad
    return result


def accumulated_grad(x, y):
    a = torch.tensor(x, dtype=torch.float32, requires_grad=True)
    b = torch.tensor(y, dtype=torch.float32, requires_grad=True)
    first = a**2 + b
    first.backward()
    second = a * (b + 3)
    second.backward()
    return torch.tensor([a.grad.item(), b.grad.item()], dtype=torch.float32)


def grad_of(fn, *points):
    copies = []
    for pt in points:
        c = pt.detach().clone()
        c.requires_grad = True
        copies.append(c)
    value = fn(*copies)
    value.backward()
    answers = []
    for c in copies:
        if c.grad is None:
            answers.append(torch.zeros_like(c))
        else:
            answers.append(c.grad)
    return tuple(answers)


def numerical_grad(fn, x, eps=1e-3):
    base = x.detach().clone()
    flat = base.reshape(-1)
    out = torch.zeros_like(flat)
    for j in range(flat.numel()):
        plus = flat.clone()
        minus = flat.clone()
        plus[j] += eps
        minus[j] -= eps
        up = fn(plus.reshape(base.shape))
        down = fn(minus.reshape(base.shape))
        out[j] = (up - down) / (2 * eps)
    return out.reshape(base.shape)


class LinearModel(nn.Module):
    def __init__(self, d_in, d_out):
        nn.Module.__init__(self)
        layer = nn.Linear(d_in, d_out)
        self.linear = layer

    def forward(self, inputs):
        out = self.linear(inputs)
        return out


class MLP(nn.Module):
    def __init__(self, d_in, d_hidden, d_out, activation="relu"):
        super(MLP, self).__init__()
        if activation == "relu":
            self.fn = relu
        elif activation == "sigmoid":
            self.fn = torch.sigmoid
        elif activation == "tanh":
            self.fn = torch.tanh
        else:
            raise ValueError("bad activation: " + str(activation))
        self.hidden = nn.Linear(d_in, d_hidden)
        self.output = nn.Linear(d_hidden, d_out)

    def forward(self, inputs):
        hidden_values = self.hidden(inputs)
        activated = self.fn(hidden_values)
        return self.output(activated)


def count_parameters(model):
    n = 0
    for param in model.parameters():
        if not param.requires_grad:
            continue
        n = n + param.numel()
    return int(n)


def samples_needed(model):
    params = count_parameters(model)
    return params * 10


def softmax(z, dim=-1):
    biggest = torch.max(z, dim=dim, keepdim=True)[0]
    exps = torch.exp(z - biggest)
    total = torch.sum(exps, dim=dim, keepdim=True)
    return exps / total


def mse_loss(pred, target):
    diff = pred - target
    squared = diff * diff
    per_sample = squared.reshape(pred.shape[0], -1).sum(1)
    return per_sample.mean()


def cross_entropy(logits, targets):
    n = logits.shape[0]
    biggest = logits.max(dim=1, keepdim=True)[0]
    shifted = logits - biggest
    log_probs = shifted - torch.log(torch.exp(shifted).sum(dim=1, keepdim=True))
    total = 0.0
    for row in range(n):
        total = total - log_probs[row, targets[row]]
    return total / n


def kl_divergence(p, q):
    ratio = torch.log(p) - torch.log(q)
    contrib = (p * ratio).masked_fill(p == 0, 0.0)
    per_row = contrib.sum(dim=1)
    return per_row.mean()


def one_hot(targets, num_classes):
    n = targets.shape[0]
    encoded = torch.zeros((n, num_classes), dtype=torch.float32, device=targets.device)
    encoded[torch.arange(n, device=targets.device), targets] = 1.0
    return encoded


def hinge_loss(scores, targets, margin=1.0):
    n = scores.shape[0]
    rows = torch.arange(n, device=scores.device)
    correct = scores[rows, targets].reshape(n, 1)
    viol = scores - correct + margin
    viol = torch.clamp(viol, min=0.0)
    viol[rows, targets] = 0.0
    return viol.sum(dim=1).mean()


def gd_step(params, lr):
    with torch.no_grad():
        for w in params:
            if w.grad is not None:
                w.sub_(lr * w.grad)
                w.grad.zero_()


def minibatches(X, y, batch_size, *, shuffle=False, generator=None):
    total = X.shape[0]
    if shuffle:
        indices = torch.randperm(total, generator=generator)
    else:
        indices = torch.arange(total)
    start = 0
    while start < total:
        chosen = indices[start : start + batch_size]
        yield X[chosen], y[chosen]
        start = start + batch_size


def train(model, X, y, *, loss_fn, epochs, batch_size, lr, optimizer="sgd", accumulation_steps=1, shuffle=True, generator=None):
    if optimizer == "sgd":
        opt = torch.optim.SGD(model.parameters(), lr=lr)
    elif optimizer == "adam":
        opt = torch.optim.Adam(model.parameters(), lr=lr)
    else:
        raise ValueError("unknown optimizer " + optimizer)
    epoch_losses = []
    for epoch in range(epochs):
        opt.zero_grad()
        batch_losses = []
        count = 0
        for xb, yb in minibatches(X, y, batch_size, shuffle=shuffle, generator=generator):
            loss = loss_fn(model(xb), yb)
            batch_losses.append(float(loss.item()))
            scaled = loss / accumulation_steps
            scaled.backward()
            count += 1
            if count % accumulation_steps == 0:
                opt.step()
                opt.zero_grad()
        if count % accumulation_steps != 0:
            opt.step()
            opt.zero_grad()
        epoch_losses.append(sum(batch_losses) / len(batch_losses))
    return epoch_losses


def accuracy(model, X, y):
    mode = model.training
    model.eval()
    with torch.no_grad():
        scores = model(X)
        guesses = torch.argmax(scores, dim=1)
        right = (guesses == y).sum().item()
    model.train(mode)
    return float(right) / float(y.shape[0])
