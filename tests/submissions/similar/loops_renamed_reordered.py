"""Ex 2 - my solutions (Ben)."""

import torch
import torch.nn as nn


def accuracy(model, X, y):
    was = model.training
    model.eval()
    with torch.no_grad():
        logit = model(X)
        pred = torch.argmax(logit, dim=1)
        ok = (pred == y).sum().item()
    model.train(was)
    return float(ok) / float(y.shape[0])


def train(model, X, y, *, loss_fn, epochs, batch_size, lr, optimizer="sgd", accumulation_steps=1, shuffle=True, generator=None):
    if optimizer == "sgd":
        optim = torch.optim.SGD(model.parameters(), lr=lr)
    elif optimizer == "adam":
        optim = torch.optim.Adam(model.parameters(), lr=lr)
    else:
        raise ValueError("unknown optimizer " + optimizer)
    hist = []
    for _ep in range(epochs):
        optim.zero_grad()
        bl = []
        how_many = 0
        for bx, by in minibatches(X, y, batch_size, shuffle=shuffle, generator=generator):
            l = loss_fn(model(bx), by)
            bl.append(float(l.item()))
            l_scaled = l / accumulation_steps
            l_scaled.backward()
            how_many += 1
            if how_many % accumulation_steps == 0:
                optim.step()
                optim.zero_grad()
        if how_many % accumulation_steps != 0:
            optim.step()
            optim.zero_grad()
        hist.append(sum(bl) / len(bl))
    return hist


def minibatches(X, y, batch_size, *, shuffle=False, generator=None):
    acc = X.shape[0]
    if shuffle:
        perm = torch.randperm(acc, generator=generator)
    else:
        perm = torch.arange(acc)
    s0 = 0
    while s0 < acc:
        sel = perm[s0 : s0 + batch_size]
        yield X[sel], y[sel]
        s0 = s0 + batch_size


def gd_step(params, lr):
    with torch.no_grad():
        for theta in params:
            if theta.grad is not None:
                theta.sub_(lr * theta.grad)
                theta.grad.zero_()


def hinge_loss(logit, targets, margin=1.0):
    total_n = logit.shape[0]
    rr = torch.arange(total_n, device=logit.device)
    true_s = logit[rr, targets].reshape(total_n, 1)
    marg = logit - true_s + margin
    marg = torch.clamp(marg, min=0.0)
    marg[rr, targets] = 0.0
    return marg.sum(dim=1).mean()


def one_hot(targets, num_classes):
    total_n = targets.shape[0]
    oh = torch.zeros((total_n, num_classes), dtype=torch.float32, device=targets.device)
    oh[torch.arange(total_n, device=targets.device), targets] = 1.0
    return oh


def kl_divergence(p, q):
    lr_ = torch.log(p) - torch.log(q)
    terms = (p * lr_).masked_fill(p == 0, 0.0)
    row_sums = terms.sum(dim=1)
    return row_sums.mean()


def cross_entropy(logits, targets):
    total_n = logits.shape[0]
    mx = logits.max(dim=1, keepdim=True)[0]
    zs = logits - mx
    lp = zs - torch.log(torch.exp(zs).sum(dim=1, keepdim=True))
    acc = 0.0
    for i in range(total_n):
        acc = acc - lp[i, targets[i]]
    return acc / total_n


def mse_loss(pred, target):
    delta = pred - target
    sq = delta * delta
    rows_sum = sq.reshape(pred.shape[0], -1).sum(1)
    return rows_sum.mean()


def softmax(z, dim=-1):
    mx = torch.max(z, dim=dim, keepdim=True)[0]
    ex = torch.exp(z - mx)
    acc = torch.sum(ex, dim=dim, keepdim=True)
    return ex / acc


def samples_needed(model):
    params = count_parameters(model)
    return params * 10


def count_parameters(model):
    total_n = 0
    for prm in model.parameters():
        if not prm.requires_grad:
            continue
        total_n = total_n + prm.numel()
    return int(total_n)


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

    def forward(self, data):
        h = self.hidden(data)
        act = self.fn(h)
        return self.output(act)


class LinearModel(nn.Module):
    def __init__(self, d_in, d_out):
        nn.Module.__init__(self)
        lin = nn.Linear(d_in, d_out)
        self.linear = lin

    def forward(self, data):
        res = self.linear(data)
        return res


def numerical_grad(fn, x, eps=1e-3):
    x0 = x.detach().clone()
    xs = x0.reshape(-1)
    res = torch.zeros_like(xs)
    for m in range(xs.numel()):
        right = xs.clone()
        left = xs.clone()
        right[m] += eps
        left[m] -= eps
        f_right = fn(right.reshape(x0.shape))
        f_left = fn(left.reshape(x0.shape))
        res[m] = (f_right - f_left) / (2 * eps)
    return res.reshape(x0.shape)


def grad_of(fn, *points):
    leaves = []
    for point in points:
        leaf = point.detach().clone()
        leaf.requires_grad = True
        leaves.append(leaf)
    value = fn(*leaves)
    value.backward()
    collected = []
    for leaf in leaves:
        if leaf.grad is None:
            collected.append(torch.zeros_like(leaf))
        else:
            collected.append(leaf.grad)
    return tuple(collected)


def accumulated_grad(x, y):
    xx = torch.tensor(x, dtype=torch.float32, requires_grad=True)
    yy = torch.tensor(y, dtype=torch.float32, requires_grad=True)
    f1 = xx**2 + yy
    f1.backward()
    f2 = xx * (yy + 3)
    f2.backward()
    return torch.tensor([xx.grad.item(), yy.grad.item()], dtype=torch.float32)


def grad_f(x, y):
    xx = torch.tensor(x, dtype=torch.float32, requires_grad=True)
    yy = torch.tensor(y, dtype=torch.float32, requires_grad=True)
    res = xx * xx + yy
    res.backward()
    grads = torch.zeros(2, dtype=torch.float32)
    grads[0] = xx.grad
    grads[1] = yy.grad
    return grads


def pick_device():
    if torch.cuda.is_available():
        return torch.device("cuda")
    elif torch.backends.mps.is_available():
        return torch.device("mps")
    else:
        return torch.device("cpu")


def numpy_bridge(nd):
    inp = torch.from_numpy(nd)
    return inp


def relu(vals):
    keep = vals > 0
    return vals * keep.to(vals.dtype)


def batched_affine(data, wt, bb):
    return torch.addmm(bb, data, wt.t())


def concat_features(left, ok):
    return torch.concat((left, ok), 1)


def horizontal_flip(pic):
    return torch.flip(pic, dims=[pic.dim() - 1])


def channels_last(result):
    return result.transpose(1, 2).transpose(2, 3)


def flatten_images(result):
    total_n = result.size(0)
    return result.contiguous().view(total_n, -1)


def stack_images(pictures):
    how_many = len(pictures)
    if how_many == 0:
        raise ValueError("empty list of images")
    shape_0 = tuple(pictures[0].shape)
    for pic in pictures[1:]:
        if tuple(pic.shape) != shape_0:
            raise ValueError("all images must have one shape")
    result = torch.empty((how_many, *shape_0), dtype=pictures[0].dtype, device=pictures[0].device)
    for pos in range(how_many):
        result[pos] = pictures[pos]
    return result


def to_float32(inp):
    return inp.type(torch.float32)


def tensor_info(inp):
    ndims = len(inp.shape)
    shape_list = []
    for s in inp.shape:
        shape_list.append(int(s))
    return ndims, tuple(shape_list), inp.dtype
