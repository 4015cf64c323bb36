#!/usr/bin/env python3
"""Golden fixture for adaptive-memory momentum (Topollai and Choromanska, arXiv:2510.04988), from our own reference
of the derivation documented in src/SharpOptim/Optimizers/AdaptiveMomentumSGD.cs (the paper's closed form for beta_t
could not be read; this script checks the C# code against the same derivation, independently written, in float64):

  metric weights w (per element): SGD w = lr_group; AdamW w = lr_group / (sqrt(v / (1 - b2^t)) + eps), v updated first
  c = phi - f;  a = sum w (g - d) d;  q = sum w (g - d)^2
  theta = clip(-(1 + lam) (c + a) / q, 0, 1)   (q == 0: theta = 1 if c + a <= 0 else 0);  beta = 1 - theta
  d <- ((beta + lam) d + (1 - beta) g) / (1 + lam)          (d starts at the first gradient; phi starts at f_0)
  phi <- ((beta + lam) phi + (1 - beta) f) / (1 + lam) - sum w d^2
  SGD:   p -= lr d
  AdamW: p *= 1 - lr wd;  p -= lr d / (sqrt(v / (1 - b2^t)) + eps)

Loss and gradient per block b at step t: f = sum(0.5 h (p - target)^2) + sum(noise[t % K] p), g = h (p - target) + noise[t % K].
Usage: /usr/bin/python3 tools/golden/adaptive_momentum.py > tests/SharpOptim.Tests/Golden/adaptive_momentum.json
"""
import json
import sys

import torch

from common import flat

STEPS = 120
K = 7
RECORD = [1, 2, 3, 10, 50, 100, 120]
BLOCKS = [("w", [5, 9]), ("b", [9])]
RUNS = [
    dict(name="sgd", kind="sgd", lam=0.0, lr=[0.05, 0.05]),
    dict(name="sgd_groups", kind="sgd", lam=0.5, lr=[0.05, 0.1]),
    dict(name="adamw", kind="adamw", lam=0.2, lr=[0.02, 0.02], beta2=0.99, eps=1e-8, weight_decay=0.05),
]


def run(cfg, blocks):
    lam = cfg["lam"]
    ps = [b["p0"].double().clone() for b in blocks]
    ds = [None for _ in blocks]
    vs = [torch.zeros(b["shape"], dtype=torch.float64) for b in blocks]
    phi = None
    betas, planes = [], []
    records = {b["name"]: {} for b in blocks}
    for t in range(STEPS):
        f = 0.0
        gs = []
        for b, p in zip(blocks, ps):
            h, tg, nz = b["h"].double(), b["target"].double(), b["noise"][t % K].double()
            f += float((0.5 * h * (p - tg) ** 2).sum()) + float((nz * p).sum())
            gs.append(h * (p - tg) + nz)
        if phi is None:
            phi = f
            ds = [g.clone() for g in gs]
        ws, dens = [], []
        for i, g in enumerate(gs):
            lr = cfg["lr"][i]
            if cfg["kind"] == "sgd":
                ws.append(torch.full_like(g, lr))
                dens.append(None)
            else:
                b2 = cfg["beta2"]
                vs[i] = b2 * vs[i] + (1 - b2) * g * g
                den = (vs[i] / (1 - b2 ** (t + 1))).sqrt() + cfg["eps"]
                dens.append(den)
                ws.append(lr / den)
        a = sum(float((w * (g - d) * d).sum()) for w, g, d in zip(ws, gs, ds))
        q = sum(float((w * (g - d) ** 2).sum()) for w, g, d in zip(ws, gs, ds))
        c = phi - f
        if q > 0:
            theta = min(1.0, max(0.0, -(1 + lam) * (c + a) / q))
        else:
            theta = 1.0 if c + a <= 0 else 0.0
        beta = 1 - theta
        keep, take = (beta + lam) / (1 + lam), (1 - beta) / (1 + lam)
        ds = [keep * d + take * g for d, g in zip(ds, gs)]
        phi = keep * phi + take * f - sum(float((w * d * d).sum()) for w, d in zip(ws, ds))
        for i, p in enumerate(ps):
            lr = cfg["lr"][i]
            if cfg["kind"] == "sgd":
                p.sub_(lr * ds[i])
            else:
                p.mul_(1 - lr * cfg["weight_decay"])
                p.sub_(lr * ds[i] / dens[i])
        betas.append(beta)
        planes.append(phi)
        if t + 1 in RECORD:
            for b, p in zip(blocks, ps):
                records[b["name"]][str(t + 1)] = p.reshape(-1).tolist()
    out = dict(cfg)
    out.update(betas=betas, planes=planes, params=records,
               momentum={b["name"]: d.reshape(-1).tolist() for b, d in zip(blocks, ds)})
    return out


def main():
    gen = torch.Generator().manual_seed(20251006)
    blocks = []
    for name, shape in BLOCKS:
        blocks.append(dict(name=name, shape=shape,
                           p0=torch.randn(shape, generator=gen), h=torch.rand(shape, generator=gen) * 1.9 + 0.1,
                           target=torch.randn(shape, generator=gen), noise=torch.randn([K] + shape, generator=gen) * 0.3))
    out = {"generator": "tools/golden/adaptive_momentum.py", "torch_version": torch.__version__, "k": K, "steps": STEPS,
           "blocks": [{"name": b["name"], "shape": b["shape"], "p0": flat(b["p0"]), "h": flat(b["h"]),
                       "target": flat(b["target"]), "noise": flat(b["noise"])} for b in blocks],
           "runs": [run(cfg, blocks) for cfg in RUNS]}
    json.dump(out, sys.stdout, separators=(",", ":"), sort_keys=True)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
