#!/usr/bin/env python3
"""Golden fixture for adaptive-memory momentum (Topollai and Choromanska, arXiv:2510.04988), written here in float64
from the formulas documented in src/SharpOptim/Optimizers/Adaptive/AdaptiveMomentumSGD.cs and AdaptiveMomentumAdamW.cs:

AM-SGD (one beta for the whole model; g includes the coupled L2 term wd * p):
  first step: d = g.  Later: beta = clip(((1+lam)<g,d> - <d-g, g+lam d>) / |d-g|^2, 0, beta_max) (0 if d == g)
  d <- ((beta+lam) d + (1-beta) g) / (1+lam);  p -= lr d
AM-AdamW (one beta per tensor; d and v start at 0, prod at 1):
  v <- b2 v + (1-b2) g^2;  P = (1 - b1max prod) (sqrt(v / (1-b2^t)) + eps);  W = 1 / (P (1 + lam P))
  t == 1: beta = b1max; else beta = clip(N / sum W (d-g)^2, 0, b1max) with
     N = (1 + mu lr) lr_prev sum g (d/P + mu p) / lr - sum W (d-g)(g + lam P d) - mu sum p (d-g)
  d <- ((1-beta) g + (lam P + beta) d) / (1 + lam P);  p *= 1 - lr mu;  p -= lr d / P;  prod *= beta;  lr_prev = lr
Gradients per block b at step t: g = h (p - target) + noise[t % K]. The adamw run halves lr from step LR_CHANGE on.
Usage: /usr/bin/python3 tools/golden/adaptive_momentum.py > tests/SharpOptim.Tests/Golden/adaptive_momentum.json
"""
import json
import sys

import torch

from common import flat

STEPS = 120
K = 7
LR_CHANGE = 60
RECORD = [1, 2, 3, 10, 50, 100, 120]
BLOCKS = [("w", [5, 9]), ("b", [9])]
RUNS = [
    dict(name="sgd", kind="sgd", lam=0.1, beta_max=0.9, lr=[0.05, 0.05], weight_decay=0.0),
    dict(name="sgd_groups", kind="sgd", lam=0.3, beta_max=0.95, lr=[0.05, 0.1], weight_decay=0.01),
    dict(name="adamw", kind="adamw", lam=0.1, beta_max=0.89, lr=[0.1, 0.1], beta2=0.99, eps=1e-8, weight_decay=0.05),
]


def grads(blocks, ps, t):
    return [b["h"].double() * (p - b["target"].double()) + b["noise"][t % K].double() for b, p in zip(blocks, ps)]


def run_sgd(cfg, blocks, ps, record):
    lam, bmax, wd = cfg["lam"], cfg["beta_max"], cfg["weight_decay"]
    ds, betas = None, []
    for t in range(STEPS):
        gs = [g + wd * p for g, p in zip(grads(blocks, ps, t), ps)]
        if ds is None:
            ds = [g.clone() for g in gs]
            beta = 0.0
        else:
            gd = sum(float((g * d).sum()) for g, d in zip(gs, ds))
            q = sum(float(((d - g) ** 2).sum()) for g, d in zip(gs, ds))
            inner = sum(float(((d - g) * (g + lam * d)).sum()) for g, d in zip(gs, ds))
            beta = min(bmax, max(0.0, ((1 + lam) * gd - inner) / q)) if q > 0 else 0.0
            ds = [((beta + lam) * d + (1 - beta) * g) / (1 + lam) for g, d in zip(gs, ds)]
        for i, p in enumerate(ps):
            p.sub_(cfg["lr"][i] * ds[i])
        betas.append([beta])
        record(t, ps)
    return betas, ds


def run_adamw(cfg, blocks, ps, record):
    lam, b1max, b2, eps, mu = cfg["lam"], cfg["beta_max"], cfg["beta2"], cfg["eps"], cfg["weight_decay"]
    ds = [torch.zeros_like(p) for p in ps]
    vs = [torch.zeros_like(p) for p in ps]
    prods = [1.0 for _ in ps]
    prev = [0.0 for _ in ps]
    betas = []
    for t in range(STEPS):
        gs = grads(blocks, ps, t)
        step_betas = []
        for i, (p, g) in enumerate(zip(ps, gs)):
            lr = cfg["lr"][i] * (0.5 if t >= LR_CHANGE else 1.0)
            vs[i] = b2 * vs[i] + (1 - b2) * g * g
            P = (1 - b1max * prods[i]) * ((vs[i] / (1 - b2 ** (t + 1))).sqrt() + eps)
            d = ds[i]
            if t == 0:
                beta = b1max
            else:
                W = 1 / (P * (1 + lam * P))
                den = float(((d - g) ** 2 * W).sum())
                inner = float(((d - g) * (g + lam * P * d) * W).sum())
                gap = (1 + mu * lr) * prev[i] * float((g * (d / P + mu * p)).sum()) / lr
                num = gap - inner - mu * float((p * (d - g)).sum())
                beta = min(b1max, max(0.0, num / den)) if den > 0 else 0.0
            ds[i] = ((1 - beta) * g + (lam * P + beta) * d) / (1 + lam * P)
            p.mul_(1 - lr * mu)
            p.sub_(lr * ds[i] / P)
            prods[i] *= beta
            prev[i] = lr
            step_betas.append(beta)
        betas.append(step_betas)
        record(t, ps)
    return betas, ds


def main():
    gen = torch.Generator().manual_seed(20251006)
    blocks = []
    for name, shape in BLOCKS:
        blocks.append(dict(name=name, shape=shape,
                           p0=torch.randn(shape, generator=gen), h=torch.rand(shape, generator=gen) * 1.9 + 0.1,
                           target=torch.randn(shape, generator=gen), noise=torch.randn([K] + shape, generator=gen) * 0.3))
    runs = []
    for cfg in RUNS:
        ps = [b["p0"].double().clone() for b in blocks]
        records = {b["name"]: {} for b in blocks}

        def record(t, ps):
            if t + 1 in RECORD:
                for b, p in zip(blocks, ps):
                    records[b["name"]][str(t + 1)] = p.reshape(-1).tolist()

        betas, ds = (run_sgd if cfg["kind"] == "sgd" else run_adamw)(cfg, blocks, ps, record)
        out = dict(cfg)
        out.update(betas=betas, params=records, momentum={b["name"]: d.reshape(-1).tolist() for b, d in zip(blocks, ds)})
        runs.append(out)
    out = {"generator": "tools/golden/adaptive_momentum.py", "torch_version": torch.__version__, "k": K, "steps": STEPS,
           "lr_change": LR_CHANGE,
           "blocks": [{"name": b["name"], "shape": b["shape"], "p0": flat(b["p0"]), "h": flat(b["h"]),
                       "target": flat(b["target"]), "noise": flat(b["noise"])} for b in blocks],
           "runs": runs}
    json.dump(out, sys.stdout, separators=(",", ":"), sort_keys=True)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
