"""Golden trajectories of the distributed family (issue 16), written from the update rules of
../shared/papers/distributed.md (D-SGD §2, gradient tracking §3 as the ProxDASA repository's dsgt.py orders it,
Prox-DASA / Prox-DASA-GT §4 as the official code orders them plus the recommended GT fix, FedAvg §8, DiLoCo §10 with
torch.optim.AdamW inner steps and torch.optim.SGD(nesterov=True) outer steps as torchft structures it).

Everything is float64 and "stacked": worker i's parameters are row i of X (n x d). Data, initial weights and every
worker's mini-batch index lists are exported to the fixture, so the C# tests feed the same batches without relying on
equal random streams. Model: multinomial logistic regression (nn.Linear(5, 3): weight 3x5 row-major, then bias),
mean cross-entropy per mini-batch. Run with PyTorch 1.13: /usr/bin/python3 tools/golden/distributed_algorithms.py
"""
import json
import os

import numpy as np
import torch

torch.set_default_dtype(torch.float64)

N, F, C, M, B = 4, 5, 3, 48, 4     # workers, features, classes, rows, batch size
K = 8                               # rounds of the gossip methods
CALLS = K + 1                       # gradient calls a worker may make (GT's initial one included)

rng = np.random.default_rng(20261130)
X = rng.normal(size=(M, F)).astype(np.float32).astype(np.float64)   # float32-exact data
Y = rng.integers(0, C, size=M)
x0 = (rng.uniform(-1, 1, size=C * F + C) / np.sqrt(F)).astype(np.float32).astype(np.float64)
batches = [[sorted(rng.choice(M, size=B, replace=False).tolist()) for _ in range(CALLS)] for _ in range(N)]
D = x0.size

Xt, Yt = torch.tensor(X), torch.tensor(Y)
RING = np.zeros((N, N))
for i in range(N):
    RING[i, i] = RING[i, (i + 1) % N] = RING[i, (i - 1) % N] = 1.0 / 3
W = torch.tensor(RING)


class Worker:
    """Worker i's batch stream: the next exported batch on every gradient call."""

    def __init__(self, i):
        self.i, self.calls = i, 0

    def grad(self, x, scale=1.0):
        rows = batches[self.i][self.calls]
        self.calls += 1
        p = x.clone().requires_grad_(True)
        w, b = p[: C * F].view(C, F), p[C * F:]
        loss = scale * torch.nn.functional.cross_entropy(Xt[rows] @ w.T + b, Yt[rows])
        loss.backward()
        return p.grad.detach()


def stacked_start():
    return torch.tensor(x0).repeat(N, 1)


def soft(v, c):
    return torch.sign(v) * torch.clamp(v.abs() - c, min=0)


def dsgd(lr):
    workers = [Worker(i) for i in range(N)]
    Xs = stacked_start()
    for _ in range(K):
        G = torch.stack([workers[i].grad(Xs[i]) for i in range(N)])
        Xs = W @ (Xs - lr * G)          # adapt then combine
    return Xs


def gt(lr):
    workers = [Worker(i) for i in range(N)]
    Xs = stacked_start()
    Gold = torch.stack([workers[i].grad(Xs[i]) for i in range(N)])
    Ys = W @ Gold.clone()               # initial gossip of y, as dsgt.py
    for _ in range(K):
        Xs = Xs - lr * Ys
        Xs = W @ Xs
        G = torch.stack([workers[i].grad(Xs[i]) for i in range(N)])
        Ys = W @ Ys + G - Gold
        Gold = G
    return Xs, Ys, Gold


def prox_dasa(lr, alpha_base, l1, variant):
    """variant: 'plain', 'gt' (recommended: z uses u) or 'gt-as-coded' (u is tracked and gossiped but unused)."""
    workers = [Worker(i) for i in range(N)]
    scale = 1.0 / N                      # the official code's loss = (1/num_nodes) * NLL
    Xs = stacked_start()
    Zs = torch.zeros_like(Xs)
    tracking = variant != 'plain'
    if tracking:
        Gold = torch.stack([workers[i].grad(Xs[i], scale) for i in range(N)])
        Us = Gold.clone()
    for k in range(K):
        root = np.sqrt(N / (k + 1))
        a = min(alpha_base * root, 1.0) if variant == 'plain' else alpha_base * min(root, 1.0)
        Ys = soft(Xs - lr * Zs, lr * l1)
        G = torch.stack([workers[i].grad(Xs[i], scale) for i in range(N)])
        if tracking:
            Us = Us + G - Gold
            Gold = G
        direction = Us if variant == 'gt' else G
        Xs = (1 - a) * Xs + a * Ys
        Zs = (1 - a) * Zs + a * direction
        Xs = W @ Xs
        Zs = W @ Zs
        if tracking:
            Us = W @ Us
    return Xs


def fedavg(lr, local_steps, rounds):
    workers = [Worker(i) for i in range(N)]
    w = torch.tensor(x0)
    for _ in range(rounds):
        deltas = []
        for i in range(N):
            x = w.clone()
            for _ in range(local_steps):
                x = x - lr * workers[i].grad(x)
            deltas.append(x - w)
        w = w + torch.stack(deltas).mean(0)
    return w


def diloco(inner_lr, wd, inner_steps, rounds, outer_lr, momentum):
    workers = [Worker(i) for i in range(N)]
    theta = torch.nn.Parameter(torch.tensor(x0))
    outer = torch.optim.SGD([theta], lr=outer_lr, momentum=momentum, nesterov=True)
    locals_ = [torch.nn.Parameter(torch.tensor(x0)) for _ in range(N)]
    inners = [torch.optim.AdamW([p], lr=inner_lr, betas=(0.9, 0.95), eps=1e-8, weight_decay=wd) for p in locals_]
    for _ in range(rounds):
        deltas = []
        for i in range(N):
            with torch.no_grad():
                locals_[i].copy_(theta)
            for _ in range(inner_steps):
                inners[i].zero_grad()
                locals_[i].grad = workers[i].grad(locals_[i].detach())
                inners[i].step()
            deltas.append(theta.detach() - locals_[i].detach())
        outer.zero_grad()
        theta.grad = torch.stack(deltas).mean(0)
        outer.step()
    return theta.detach()


def main():
    out = {
        "workers": N, "features": F, "classes": C, "rounds": K,
        "x": X.reshape(-1).tolist(), "y": Y.tolist(), "x0": x0.tolist(), "batches": batches,
    }
    out["dsgd"] = {"lr": 0.5, "final": dsgd(0.5).reshape(-1).tolist()}
    Xs, Ys, Gold = gt(0.3)
    out["gt"] = {"lr": 0.3, "final": Xs.reshape(-1).tolist(), "tracker": Ys.reshape(-1).tolist()}
    for variant in ["plain", "gt", "gt-as-coded"]:
        out["prox_dasa_" + variant.replace("-", "_")] = {
            "lr": 2.0, "alpha_base": 0.3, "l1": 0.02, "final": prox_dasa(2.0, 0.3, 0.02, variant).reshape(-1).tolist()}
    out["fedavg"] = {"lr": 0.5, "local_steps": 2, "rounds": 3, "final": fedavg(0.5, 2, 3).tolist()}
    out["diloco"] = {"inner_lr": 0.05, "inner_weight_decay": 0.1, "inner_steps": 2, "rounds": 3, "outer_lr": 0.7,
                     "outer_momentum": 0.9, "final": diloco(0.05, 0.1, 2, 3, 0.7, 0.9).tolist()}
    path = os.path.join(os.path.dirname(__file__), "..", "..", "tests", "SharpOptim.Tests", "Golden", "distributed_algorithms.json")
    with open(path, "w") as f:
        json.dump(out, f)
    print("wrote", os.path.normpath(path))


if __name__ == "__main__":
    main()
