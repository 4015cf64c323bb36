#!/usr/bin/env python3
"""Golden fixture for AdAdaGrad / AdAdaGrad-Norm (Lau, Liu and Kolar, arXiv:2402.11215), written here from the paper
and the behaviour of the official code (timlautk/AdAdaGrad, tests.py norm_test):

Batch-size tests, for per-sample gradients G [b, d] (float64):
  gbar = mean_i G_i;  var_j = sum_i (G_ij - gbar_j)^2 / (b - 1)
  norm test:          T = sum_j var_j / (eta^2 * |gbar|^2)
  coordinate-wise:    T = max_j var_j / (eta^2 * gbar_j^2)     (0/0 -> 0, x/0 -> inf)
  next b = min(b_max, max(b, ceil(T)))

AdaGrad-Norm (paper's definition: one accumulator for the whole model), float64:
  g_p = grad_p + wd * p;  acc += sum_p |g_p|^2;  p -= lr * g_p / (sqrt(acc) + eps)
Gradients: g_t = h_b * (p - target_b) + noise_b[t % K] per block b.
Usage: /usr/bin/python3 tools/golden/adadagrad.py > tests/SharpOptim.Tests/Golden/adadagrad.json
"""
import json
import math
import sys

import torch

from common import flat


def stats(G):
    b = G.shape[0]
    gbar = G.mean(0)
    var = (G - gbar).pow(2).sum(0) / (b - 1)
    norm_sq = float(gbar.pow(2).sum())
    var_sum = float(var.sum())
    ratios = []
    for v, m in zip(var.tolist(), gbar.tolist()):
        if v == 0:
            ratios.append(0.0)
        elif m == 0:
            ratios.append(math.inf)
        else:
            ratios.append(v / (m * m))
    return norm_sq, var_sum, max(ratios)


def test_value(norm_sq, var_sum, max_ratio, eta, test):
    if test == "norm":
        if var_sum == 0:
            return 0.0
        return math.inf if norm_sq == 0 else var_sum / (eta * eta * norm_sq)
    return max_ratio / (eta * eta)


def next_b(b, t, b_max):
    if t <= b:
        return b
    if t >= b_max:
        return b_max
    return int(math.ceil(t))


# (name, b, d, offset, scale, eta, test, b_max)
CASES = [
    ("norm_grows", 8, 20, 0.25, 1.0, 0.5, "norm", 1000),
    ("norm_capped", 8, 20, 0.01, 1.0, 0.5, "norm", 32),
    ("norm_keeps", 16, 12, 3.0, 0.5, 1.0, "norm", 1000),
    ("coord_grows", 10, 15, 0.7, 1.0, 0.9, "coordinate", 100000),
    ("coord_keeps", 32, 6, 5.0, 0.3, 1.0, "coordinate", 1000),
]

STEPS = 100
K = 5
RECORD = [1, 2, 10, 50, 100]
BLOCKS = [("w", [6, 7]), ("b", [7])]
HP = dict(lr=0.5, initial_accumulator_value=1e-2, eps=1e-10, weight_decay=0.01)


def main():
    gen = torch.Generator().manual_seed(20240217)
    cases = []
    for name, b, d, offset, scale, eta, test, b_max in CASES:
        G32 = torch.randn([b, d], generator=gen) * scale + offset
        G = G32.double()
        n2, vs, mr = stats(G)
        t = test_value(n2, vs, mr, eta, test)
        cases.append(dict(name=name, b=b, d=d, eta=eta, test=test, b_max=b_max, grads=flat(G32),
                          norm_sq=n2, var_sum=vs, max_ratio=mr, test_value=t, next=next_b(b, t, b_max)))

    blocks = []
    for name, shape in BLOCKS:
        blocks.append(dict(name=name, shape=shape,
                           p0=torch.randn(shape, generator=gen), h=torch.rand(shape, generator=gen) * 1.9 + 0.1,
                           target=torch.randn(shape, generator=gen), noise=torch.randn([K] + shape, generator=gen) * 0.1))
    ps = [b["p0"].double().clone() for b in blocks]
    acc = HP["initial_accumulator_value"]
    records = {b["name"]: {} for b in blocks}
    accs = []
    for t in range(STEPS):
        gs = []
        for b, p in zip(blocks, ps):
            g = b["h"].double() * (p - b["target"].double()) + b["noise"][t % K].double()
            gs.append(g + HP["weight_decay"] * p)
        acc += sum(float(g.pow(2).sum()) for g in gs)
        step = HP["lr"] / (math.sqrt(acc) + HP["eps"])
        for p, g in zip(ps, gs):
            p.sub_(step * g)
        accs.append(acc)
        if t + 1 in RECORD:
            for b, p in zip(blocks, ps):
                records[b["name"]][str(t + 1)] = [float(repr(x)) for x in p.reshape(-1).tolist()]
    out = {"generator": "tools/golden/adadagrad.py", "torch_version": torch.__version__,
           "cases": cases, "trajectory": {
               "k": K, "steps": STEPS, "hyper": HP, "accumulator": accs,
               "blocks": [{"name": b["name"], "shape": b["shape"], "p0": flat(b["p0"]), "h": flat(b["h"]),
                           "target": flat(b["target"]), "noise": flat(b["noise"]), "params": records[b["name"]]}
                          for b in blocks]}}
    json.dump(out, sys.stdout, separators=(",", ":"), sort_keys=True)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
