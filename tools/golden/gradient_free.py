#!/usr/bin/env python3
"""Golden fixtures for the gradient-free family (src/SharpOptim/GradientFree), from references written here after
the official codes' behaviour as described in the algorithm brief (shared/papers/gradient-free.md):

  OpenAI-ES (openai/evolution-strategies-starter): mirrored pairs, centered ranks over all 2K values (stable order),
    g = (1/N) sum_k (u+ - u-) eps_k (no 1/sigma), descent gradient -g + l2*theta handed to torch.optim.Adam.
  EGGROLL (ESHyperscale/HyperscaleES eggroll.py): per pair G in R^{(m+n) x r}, B = G[:n], A = G[n:];
    batched forward y_i = x_i W^T + (sigma s_i / sqrt r)(x_i B)A^T (+ sigma s_i eps_b), LayerNorm-free MLP;
    convert_fitnesses (group mean, global variance, eps 1e-5); g_W = -(sqrt N)(1/N) sum_i fhat_i sigma s_i A B^T/sqrt r
    computed member by member as the official einsum, g_p likewise; SGD and AdamW (torch.optim) steps.
  MeZO (princeton-nlp/MeZO): theta += eps z; l+; theta -= 2 eps z; l-; theta += eps z; g = (l+ - l-)/(2 eps);
    theta -= lr (mean_d g_d z_d + wd theta) for names without bias/layer_norm/layernorm.
  CBO (CBXpy cbo_update / authors' CBO_update.m): log-sum-exp consensus, isotropic and anisotropic noise, both
    drift/noise orders.

Noise is generated here (float32 normals) and saved: the C# tests feed it through an INoiseSource, because the random
streams of PyTorch and TorchSharp differ. Computations in float64.

Usage: /usr/bin/python3 tools/golden/gradient_free.py > tests/SharpOptim.Tests/Golden/gradient_free.json
"""
import json
import math
import sys

import torch

from common import flat


def full(t):
    """A float64 tensor as a flat list at full precision (json writes the shortest round-trip repr)."""
    return [float(x) for x in t.detach().reshape(-1).tolist()]

torch.set_default_dtype(torch.float64)
GEN = torch.Generator().manual_seed(20260)


def normal(*shape):
    return torch.randn(*shape, generator=GEN, dtype=torch.float32)


class Noise:
    """Records every key's float32 normals for the fixture."""

    def __init__(self):
        self.entries = []

    def draw(self, g, t, m, n):
        v = normal(n)
        self.entries.append({"g": g, "t": t, "m": m, "v": flat(v)})  # float32: 9 digits round-trip
        return v.double()


def centered_ranks(f):
    n = len(f)
    order = sorted(range(n), key=lambda i: (f[i], i))
    u = [0.0] * n
    for r, i in enumerate(order):
        u[i] = r / (n - 1) - 0.5
    return u


def zscore(f, group):
    f = torch.tensor(f)
    n = f.numel()
    var = ((f - f.mean()) ** 2).mean()
    den = math.sqrt(var.item() + 1e-5)
    g = n if group == 0 else group
    out = torch.empty_like(f)
    for s in range(0, n, g):
        out[s:s + g] = (f[s:s + g] - f[s:s + g].mean()) / den
    return out.tolist()


# ---------------------------------------------------------------- OpenAI-ES
def openai_es():
    x = torch.randn(32, 5, generator=GEN)
    y = torch.randint(0, 3, (32,), generator=GEN)
    w = torch.randn(3, 5, generator=GEN) * 0.3
    b = torch.randn(3, generator=GEN) * 0.1
    params = [w.clone(), b.clone()]
    init = [full(p) for p in params]
    n_pop, sigma, l2, lr, gens = 6, 0.1, 0.005, 0.05, 5
    noise = Noise()
    opt_params = [torch.nn.Parameter(p.clone()) for p in params]
    opt = torch.optim.Adam(opt_params, lr=lr)
    history = []
    for t in range(gens):
        eps = [[noise.draw(t, j, k, p.numel()).reshape(p.shape) for j, p in enumerate(opt_params)] for k in range(n_pop // 2)]
        f = []
        for i in range(n_pop):
            k, s = i // 2, (1 if i % 2 == 0 else -1)
            pw = opt_params[0].detach() + sigma * s * eps[k][0]
            pb = opt_params[1].detach() + sigma * s * eps[k][1]
            f.append(-torch.nn.functional.cross_entropy(x @ pw.T + pb, y).item())
        u = centered_ranks(f)
        for j, p in enumerate(opt_params):
            g = torch.zeros_like(p)
            for k in range(n_pop // 2):
                g += (u[2 * k] - u[2 * k + 1]) / n_pop * eps[k][j]
            p.grad = -g + l2 * p.detach()
        opt.step()
        history.append({"fitness": f, "params": [full(p) for p in opt_params]})
    return {"x": full(x), "y": y.tolist(), "init": init, "population": n_pop, "sigma": sigma, "l2": l2, "lr": lr,
            "noise": noise.entries, "history": history}


# ---------------------------------------------------------------- EGGROLL
def eggroll_run(group, solver, lr, gens, rank, wd=0.0):
    sizes = [(6, 4), (3, 6)]
    params = []
    for m, n in sizes:
        params.append(torch.randn(m, n, generator=GEN) * 0.5)
        params.append(torch.randn(m, generator=GEN) * 0.1)
    init = [full(p) for p in params]
    n_pop, sigma, batch = 8, 0.3, 3
    noise = Noise()
    ps = [torch.nn.Parameter(p.clone()) for p in params]
    opt = torch.optim.SGD(ps, lr=lr) if solver == "sgd" else torch.optim.AdamW(ps, lr=lr, betas=(0.9, 0.999), eps=1e-8, weight_decay=wd)
    history = []
    xs = []
    for t in range(gens):
        x = torch.randn(n_pop * batch, 4, generator=GEN)
        target = torch.randn(n_pop * batch, 3, generator=GEN)
        xs.append({"x": full(x), "target": full(target)})
        fac = {}
        for j, p in enumerate(ps):
            for k in range(n_pop // 2):
                if p.dim() == 2:
                    m, n = p.shape
                    gk = noise.draw(t, j, k, (m + n) * rank).reshape(m + n, rank)
                    fac[(j, k)] = (gk[n:], gk[:n])   # A [m, r], B [n, r]
                else:
                    fac[(j, k)] = noise.draw(t, j, k, p.numel())
        h = x.reshape(n_pop, batch, 4)
        outs = []
        for i in range(n_pop):
            k, s = i // 2, (1.0 if i % 2 == 0 else -1.0)
            hi = h[i]
            for layer in range(2):
                wj, bj = 2 * layer, 2 * layer + 1
                a, bm = fac[(wj, k)]
                yi = hi @ ps[wj].detach().T + (sigma * s / math.sqrt(rank)) * ((hi @ bm) @ a.T) + ps[bj].detach() + sigma * s * fac[(bj, k)]
                hi = torch.relu(yi) if layer == 0 else yi
            outs.append(hi)
        out = torch.stack(outs)
        f = (-((out - target.reshape(n_pop, batch, 3)) ** 2).mean(dim=(1, 2))).tolist()
        fh = zscore(f, group)
        for j, p in enumerate(ps):
            g = torch.zeros_like(p)
            for i in range(n_pop):
                k, s = i // 2, (1.0 if i % 2 == 0 else -1.0)
                if p.dim() == 2:
                    a, bm = fac[(j, k)]
                    e = s * (a @ bm.T) / math.sqrt(rank)
                else:
                    e = s * fac[(j, k)]
                g += fh[i] * sigma * e
            p.grad = -math.sqrt(n_pop) * g / n_pop
        opt.step()
        history.append({"fitness": f, "outputs": full(out), "params": [full(p) for p in ps]})
    return {"init": init, "population": n_pop, "sigma": sigma, "rank": rank, "batch": batch, "group": group,
            "solver": solver, "lr": lr, "weight_decay": wd, "noise": noise.entries, "inputs": xs, "history": history}


# ---------------------------------------------------------------- MeZO
NAMES = ["fc0.weight", "fc0.bias", "head.weight", "head.bias"]


def mezo_run(directions, wd, steps=5, adam=False):
    sizes = [(5, 4), (3, 5)]
    params = []
    for m, n in sizes:
        params.append(torch.randn(m, n, generator=GEN) * 0.5)
        params.append(torch.randn(m, generator=GEN) * 0.1)
    init = [full(p) for p in params]
    x = torch.randn(16, 4, generator=GEN)
    y = torch.randint(0, 3, (16,), generator=GEN)
    eps, lr = 1e-3, 0.05
    noise = Noise()
    if adam:   # ZO through a regular optimizer (official medium_models "use trainer optim"): Adam on g z
        leaves = [torch.nn.Parameter(p) for p in params]
        params = leaves
        opt = torch.optim.Adam(leaves, lr=0.01)

    def loss():
        h = torch.relu(x @ params[0].T + params[1])
        return torch.nn.functional.cross_entropy(h @ params[2].T + params[3], y).item()

    history = []
    torch.set_grad_enabled(False)   # MeZO builds no autograd graph
    for t in range(steps):
        zs = [[noise.draw(t, j, d, p.numel()).reshape(p.shape) for j, p in enumerate(params)] for d in range(directions)]
        g = []
        first = None
        for d in range(directions):
            for j, p in enumerate(params):
                p.add_(zs[d][j], alpha=eps)
            lp = loss()
            for j, p in enumerate(params):
                p.add_(zs[d][j], alpha=-2 * eps)
            lm = loss()
            for j, p in enumerate(params):
                p.add_(zs[d][j], alpha=eps)
            g.append((lp - lm) / (2 * eps))
            if d == 0:
                first = lp
        for j, p in enumerate(params):
            if adam:
                acc = zs[0][j] * (g[0] / directions)
                for d in range(1, directions):
                    acc.add_(zs[d][j], alpha=g[d] / directions)
                p.grad = acc
                continue
            acc = zs[0][j] * (g[0] / directions)
            for d in range(1, directions):
                acc.add_(zs[d][j], alpha=g[d] / directions)
            if wd != 0 and not any(s in NAMES[j] for s in ("bias", "layer_norm", "layernorm")):
                acc.add_(p, alpha=wd)
            p.add_(acc.mul_(lr), alpha=-1)
        if adam:
            opt.step()
        history.append({"loss": first, "projected": g, "params": [full(p) for p in params]})
    torch.set_grad_enabled(True)
    return {"init": init, "x": full(x), "y": y.tolist(), "epsilon": eps, "lr": lr, "weight_decay": wd, "adam_lr": 0.01 if adam else None,
            "directions": directions, "noise": noise.entries, "history": history}


# ---------------------------------------------------------------- CBO
def rastrigin(x):
    return 10 * x.shape[1] + (x * x - 10 * torch.cos(2 * math.pi * x)).sum(dim=1)


def consensus(x, f, alpha):
    logits = -alpha * f
    w = torch.exp(logits - torch.logsumexp(logits, 0))
    return w @ x


def cbo_run(kind, matlab, alpha, steps=3):
    n, d = 8, 3
    x = torch.randn(n, d, generator=GEN) * 2
    init = full(x)
    dt, lam, sigma = 0.1, 1.0, 0.8
    noise = Noise()
    history = []
    for t in range(steps):
        f = rastrigin(x)
        v = consensus(x, f, alpha)
        xi = torch.stack([noise.draw(t, 0, i, d) for i in range(n)])
        dd = x - v
        if matlab:
            x = x - lam * dt * dd
            dd = x - v
        s = dd * xi if kind == "anisotropic" else xi * dd.norm(dim=1, keepdim=True)
        if not matlab:
            x = x - lam * dt * dd
        x = x + sigma * math.sqrt(dt) * s
        history.append({"consensus": full(v), "losses": f.tolist(), "particles": full(x)})
    return {"init": init, "n": n, "d": d, "dt": dt, "lambda": lam, "sigma": sigma, "alpha": alpha, "kind": kind,
            "matlab": matlab, "noise": noise.entries, "history": history}


def stable_consensus():
    x = torch.randn(6, 4, generator=GEN)
    f = torch.tensor([3.0, 1.0, 1.0 + 1e-5, 2.0, 50.0, 1.00002])
    return {"x": full(x), "f": f.tolist(), "alpha": 1e5, "v": full(consensus(x, f, 1e5))}


# ---------------------------------------------------------------- EGGROLL on a convolution
def eggroll_conv_run(gens=2, rank=2):
    """conv 2->3 (3x3, padding 1) on 5x5 inputs, ReLU, Linear 75->2; every member's forward with its perturbation
    MATERIALISED (kernel W + sigma*s*A B^T/sqrt(r) reshaped to [3, 2, 3, 3]), independent of the library's
    grouped-convolution form; the update as in eggroll_run, reshaped to the kernel; plain SGD."""
    import torch.nn.functional as F
    shapes = [(3, 2, 3, 3), (3,), (2, 75), (2,)]
    ps = [torch.nn.Parameter(torch.randn(*sh, generator=GEN) * 0.3) for sh in shapes]
    init = [full(p) for p in ps]
    n_pop, sigma, batch, lr = 6, 0.2, 2, 0.3
    noise = Noise()
    opt = torch.optim.SGD(ps, lr=lr)
    history, xs = [], []
    for t in range(gens):
        x = torch.randn(n_pop * batch, 50, generator=GEN)
        xs.append(full(x))
        fac = {}
        for j, p in enumerate(ps):
            for k in range(n_pop // 2):
                if p.dim() >= 2:
                    m = p.shape[0]
                    n = p.numel() // m
                    gk = noise.draw(t, j, k, (m + n) * rank).reshape(m + n, rank)
                    fac[(j, k)] = (gk[n:], gk[:n])
                else:
                    fac[(j, k)] = noise.draw(t, j, k, p.numel())

        def pert(j, k, s):
            p = ps[j]
            if p.dim() >= 2:
                a, bm = fac[(j, k)]
                return (sigma * s / math.sqrt(rank)) * (a @ bm.T).reshape(p.shape)
            return sigma * s * fac[(j, k)]
        outs = []
        for i in range(n_pop):
            k, s = i // 2, (1.0 if i % 2 == 0 else -1.0)
            w = [ps[j].detach() + pert(j, k, s) for j in range(4)]
            xi = x[i * batch:(i + 1) * batch].reshape(batch, 2, 5, 5)
            h = torch.relu(F.conv2d(xi, w[0], w[1], padding=1)).flatten(1)
            outs.append(h @ w[2].T + w[3])
        out = torch.cat(outs)
        f = (-(out ** 2).sum(1).reshape(n_pop, batch).mean(1)).tolist()
        fh = zscore(f, 0)
        for j, p in enumerate(ps):
            g = torch.zeros_like(p)
            for i in range(n_pop):
                k, s = i // 2, (1.0 if i % 2 == 0 else -1.0)
                g += fh[i] * pert(j, k, s)
            p.grad = -math.sqrt(n_pop) * g / n_pop
        opt.step()
        history.append({"fitness": f, "outputs": full(out), "params": [full(p) for p in ps]})
    return {"init": init, "population": n_pop, "sigma": sigma, "rank": rank, "batch": batch, "lr": lr,
            "noise": noise.entries, "inputs": xs, "history": history}


out = {
    "openai_es": openai_es(),
    "eggroll_sgd": eggroll_run(group=0, solver="sgd", lr=0.5, gens=3, rank=2),
    "eggroll_adamw_grouped": eggroll_run(group=4, solver="adamw", lr=0.05, gens=3, rank=1, wd=1e-4),
    "mezo": mezo_run(1, 0.1),
    "mezo_two_directions": mezo_run(2, 0.0),
    "mezo_adam": mezo_run(2, 0.0, adam=True),
    "cbo_isotropic": cbo_run("isotropic", False, 1e5),
    "cbo_anisotropic": cbo_run("anisotropic", False, 30.0),
    "cbo_anisotropic_matlab": cbo_run("anisotropic", True, 30.0),
    "cbo_stable_consensus": stable_consensus(),
    "eggroll_conv": eggroll_conv_run(),   # last, so that the runs above draw the same numbers as before
}
json.dump(out, sys.stdout)
