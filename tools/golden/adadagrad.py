#!/usr/bin/env python3
"""Golden fixture for AdAdaGrad / AdAdaGrad-Norm (Lau, Liu and Kolar, arXiv:2402.11215), written here from the paper
and the official code (timlautk/AdAdaGrad, tests.py: norm_test, inner_product_test, orthogonality_test,
inner_product_orthogonality_test and their var_* helpers):

Batch-size tests, for per-sample gradients G [b, d] (float64) split into parameter blocks k (the official code loops
over parameter tensors and sums):
  gbar = mean_i G_i;  var_j = torch.var(G[:, j], correction=1);  |gbar|^2 = sum_k vector_norm(gbar^k)^2
  norm test:          T = sum_j var_j / (eta^2 * |gbar|^2)
  inner product:      ip_i^k = inner(G_i^k, gbar^k);  T = sum_k var(ip^k) / (theta^2 * (|gbar|^2)^2)
  orthogonality:      o_i^k = G_i^k - outer(ip^k, gbar^k) / vector_norm(gbar^k)^2;  T = sum_k sum_j var(o^k_j) / (nu^2 |gbar|^2)
  augmented (ip+orth): T = max(T_ip, T_orth)
  coordinate-wise (this library's variant, not official): T = max_j var_j / (eta^2 * gbar_j^2)   (0/0 -> 0, x/0 -> inf)
  next b = min(b_max, ceil(max(b, T)))   (the official "if new > b: b = new; ceil(b)", then the cap in main.py)

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


def official_block_stats(G, blocks):
    """The official var_sample_batch_grad_orthogonality per block, summed as inner_product_orthogonality_test does."""
    b = G.shape[0]
    norm_sq, var_ip, var_orth = 0.0, 0.0, 0.0
    off = 0
    for size in blocks:
        g = G[:, off:off + size]
        off += size
        batch_grad = torch.mean(g, dim=0)
        inner = torch.inner(g.view(b, -1), batch_grad.ravel())
        ortho = g.view(b, -1) - torch.outer(inner, batch_grad.ravel()) / torch.linalg.vector_norm(batch_grad.ravel()) ** 2
        norm_sq += (torch.linalg.vector_norm(batch_grad.ravel()) ** 2).item()
        var_ip += torch.var(inner, dim=0, correction=1).item()
        var_orth += torch.var(ortho, dim=0, correction=1).sum().item()
    return norm_sq, var_ip, var_orth


def ratio(v, den):
    if v == 0:
        return 0.0
    return math.inf if den == 0 else v / den


def test_value(norm_sq, var_sum, max_ratio, var_ip, var_orth, c, test):
    if test == "norm":
        return ratio(var_sum, c["eta"] ** 2 * norm_sq)
    if test == "ip":
        return ratio(var_ip, c["theta"] ** 2 * norm_sq ** 2)
    if test == "orth":
        return ratio(var_orth, c["nu"] ** 2 * norm_sq)
    if test == "ip+orth":
        return max(ratio(var_ip, c["theta"] ** 2 * norm_sq ** 2), ratio(var_orth, c["nu"] ** 2 * norm_sq))
    return max_ratio / (c["eta"] ** 2)


def next_b(b, t, b_max):
    if t <= b:
        return b
    if t >= b_max:
        return b_max
    return int(math.ceil(t))


# (name, b, d, offset, scale, test, b_max, blocks, constants); eta/theta/nu default 0.1 as the official code's
CASES = [
    ("norm_grows", 8, 20, 0.25, 1.0, "norm", 1000, [20], dict(eta=0.5)),
    ("norm_capped", 8, 20, 0.01, 1.0, "norm", 32, [20], dict(eta=0.5)),
    ("norm_keeps", 16, 12, 3.0, 0.5, "norm", 1000, [12], dict(eta=1.0)),
    ("norm_default", 12, 10, 1.0, 1.0, "norm", 100000, [6, 4], dict()),
    ("coord_grows", 10, 15, 0.7, 1.0, "coordinate", 100000, [15], dict(eta=0.9)),
    ("coord_keeps", 32, 6, 5.0, 0.3, "coordinate", 1000, [6], dict(eta=1.0)),
    ("ip_blocks", 8, 20, 0.5, 1.0, "ip", 100000, [12, 5, 3], dict()),
    ("ip_one_block", 8, 20, 0.5, 1.0, "ip", 100000, [20], dict(theta=0.3)),
    ("ip_keeps", 16, 9, 4.0, 0.2, "ip", 1000, [6, 3], dict(theta=0.9)),
    ("orth_blocks", 10, 14, 0.4, 1.0, "orth", 100000, [8, 6], dict()),
    ("orth_capped", 10, 14, 0.4, 1.0, "orth", 50, [8, 6], dict(nu=0.2)),
    ("aug_ip_wins", 12, 16, 0.3, 1.0, "ip+orth", 1000000, [10, 6], dict(theta=0.1, nu=1.0)),
    ("aug_orth_wins", 12, 16, 0.3, 1.0, "ip+orth", 1000000, [10, 6], dict(theta=1.0, nu=0.1)),
]

STEPS = 100
K = 5
RECORD = [1, 2, 10, 50, 100]
BLOCKS = [("w", [6, 7]), ("b", [7])]
HP = dict(lr=0.5, initial_accumulator_value=1e-2, eps=1e-10, weight_decay=0.01)


def main():
    gen = torch.Generator().manual_seed(20240217)
    cases = []
    for name, b, d, offset, scale, test, b_max, blocks, consts in CASES:
        c = dict(eta=0.1, theta=0.1, nu=0.1)
        c.update(consts)
        G32 = torch.randn([b, d], generator=gen) * scale + offset
        G = G32.double()
        n2, vs, mr = stats(G)
        _, vip, vorth = official_block_stats(G, blocks)
        t = test_value(n2, vs, mr, vip, vorth, c, test)
        cases.append(dict(name=name, b=b, d=d, eta=c["eta"], theta=c["theta"], nu=c["nu"], test=test, b_max=b_max, blocks=blocks,
                          grads=flat(G32), norm_sq=n2, var_sum=vs, max_ratio=mr, var_ip=vip, var_orth=vorth, test_value=t,
                          next=next_b(b, t, b_max)))

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
