#!/usr/bin/env python3
"""Golden fixture for GaLore (Zhao et al., arXiv:2403.03507), from a reference written here after the official
code (jiaweizzhao/GaLore, galore_torch/adamw.py AdamW.step with GaLoreProjector, proj_type "std"):

  t counts steps from 0; if t % T == 0: U, S, Vh = svd(G); P = Vh[:r] (m >= n, right) or U[:, :r] (m < n, left)
  R = G P^T (right) or P^T G (left)
  m = b1 m + (1-b1) R;  v = b2 v + (1-b2) R*R;  N = m / (sqrt(v) + eps)
  W -= lr*sqrt(1-b2^(t+1))/(1-b1^(t+1)) * scale * (N P  or  P N);   W -= lr*wd*W  (after, official order)
  parameters outside GaLore groups: the same AdamW without projection.
Deviation shared with the C# implementation (see GaLore.cs): each singular vector's largest-magnitude entry is
made positive, so results do not depend on the LAPACK build's sign choices.

Gradients: g_t = h * (p - target) + noise[t % K] per parameter (same float32 ops as the C# test).
Usage: python3 tools/golden/galore.py > tests/SharpOptim.Tests/Golden/galore.json
"""
import json
import math
import sys

import torch

from common import flat

STEPS = 60
K = 3
RECORD = [1, 20, 21, 40, 60]
PARAMS = [("a.weight", [24, 40], True), ("b.weight", [40, 24], True), ("b.bias", [24], False), ("wte.weight", [10, 8], False)]
HP = dict(lr=1e-2, beta1=0.9, beta2=0.999, eps=1e-6, weight_decay=0.1, rank=6, update_proj_gap=20, scale=0.25)


def projector(g, r, right):
    u, _, vh = torch.linalg.svd(g, full_matrices=False)
    if right:
        pm = vh[:r, :]
        return pm * pm.gather(1, pm.abs().argmax(1, keepdim=True)).sign()
    pm = u[:, :r]
    return pm * pm.gather(0, pm.abs().argmax(0, keepdim=True)).sign()


def main():
    gen = torch.Generator().manual_seed(2403)
    ps = []
    for name, shape, low in PARAMS:
        d = dict(name=name, shape=shape, low=low, p=torch.randn(shape, generator=gen),
                 h=torch.rand(shape, generator=gen) * 1.9 + 0.1, target=torch.randn(shape, generator=gen),
                 noise=torch.randn([K] + shape, generator=gen) * 0.1, records={})
        d["p0"] = d["p"].clone()
        if low:
            m_, n_ = shape
            r = min(HP["rank"], m_, n_)
            d["right"] = m_ >= n_
            d["m"] = torch.zeros([m_, r] if d["right"] else [r, n_])
            d["P"] = None
        else:
            d["m"] = torch.zeros(shape)
        d["v"] = torch.zeros_like(d["m"])
        ps.append(d)
    lr, b1, b2, eps, wd = HP["lr"], HP["beta1"], HP["beta2"], HP["eps"], HP["weight_decay"]
    for t in range(STEPS):
        for d in ps:
            p, m, v = d["p"], d["m"], d["v"]
            g = d["h"] * (p - d["target"]) + d["noise"][t % K]
            if d["low"]:
                if t % HP["update_proj_gap"] == 0:
                    r = min(HP["rank"], *d["shape"])
                    d["P"] = projector(g, r, d["right"])
                P = d["P"]
                g = g @ P.t() if d["right"] else P.t() @ g
            m.mul_(b1).add_(g, alpha=1 - b1)
            v.mul_(b2).addcmul_(g, g, value=1 - b2)
            denom = v.sqrt().add_(eps)
            step = lr * math.sqrt(1 - b2 ** (t + 1)) / (1 - b1 ** (t + 1))
            n = m / denom
            if d["low"]:
                n = (n @ d["P"] if d["right"] else d["P"] @ n) * HP["scale"]
            p.add_(n, alpha=-step)
            p.add_(p, alpha=-lr * wd)
            if t + 1 in RECORD:
                d["records"][str(t + 1)] = flat(p)
    out = {"generator": "tools/golden/galore.py", "torch_version": torch.__version__, "k": K, "steps": STEPS, "hyper": HP,
           "params": [{"name": d["name"], "shape": d["shape"], "galore": d["low"], "p0": flat(d["p0"]), "h": flat(d["h"]),
                       "target": flat(d["target"]), "noise": flat(d["noise"]), "records": d["records"],
                       "exp_avg": flat(d["m"]), "exp_avg_sq": flat(d["v"]),
                       "projector": flat(d["P"]) if d["low"] else []} for d in ps]}
    json.dump(out, sys.stdout, separators=(",", ":"))
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
