#!/usr/bin/env python3
"""Golden fixture for FRUGAL (Zmushko et al., arXiv:2411.07837), from a reference written here after the paper's
framework with AdamW state-full and signSGD state-free updates (see src/SharpOptim/Optimizers/Frugal.cs for the
choices the paper leaves open; the official code could not be read):

  r = t // T (t = steps taken); at a new r a state-full tensor resets m, v and its step count k;
  p *= 1 - lr*wd
  svd mode, split matrices: P = top-rank singular vectors (float64 SVD rounded to float32; smaller side, largest entry
      positive), rank = round(rho*min(m,n))
      full = G P^T or P^T G;  back = full P or P full;  free = G - back
      Adam on full (bias-corrected with k), projected back;  p -= lr*s*sign(free)
  svd mode, other tensors: plain Adam on the whole gradient
  blocks mode: active blocks (given per refresh) get Adam, the others p -= lr*s*sign(g) and hold no state

Gradients: g_t = h * (p - target) + noise[t % K] per parameter (same float32 ops as the C# test).
Usage: python3 tools/golden/frugal.py > tests/SharpOptim.Tests/Golden/frugal.json
"""
import json
import sys

import torch

from common import flat

STEPS = 60
K = 2
RECORD = [1, 21, 41, 60]
PARAMS = [("a.weight", [16, 24], True), ("b.weight", [24, 16], True), ("b.bias", [16], False), ("wte.weight", [10, 8], False)]
HP = dict(lr=1e-2, beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=0.1, density=0.25, update_gap=20, free_lr_scale=0.5)
BLOCKS = [[0], [1, 3], [2, 0]]   # active block indices for refresh 0, 1, 2 (blocks mode)


def projector(g, r, right):
    # float64 SVD, rounded to float32 (as Frugal.cs does).
    u, _, vh = torch.linalg.svd(g.double(), full_matrices=False)
    if right:
        pm = vh[:r, :]
        return (pm * pm.gather(1, pm.abs().argmax(1, keepdim=True)).sign()).float()
    pm = u[:, :r]
    return (pm * pm.gather(0, pm.abs().argmax(0, keepdim=True)).sign()).float()


def run(mode, gen_seed):
    gen = torch.Generator().manual_seed(gen_seed)
    ps = []
    for name, shape, split in PARAMS:
        d = dict(name=name, shape=shape, split=split and mode == "svd", p=torch.randn(shape, generator=gen),
                 h=torch.rand(shape, generator=gen) * 1.9 + 0.1, target=torch.randn(shape, generator=gen),
                 noise=torch.randn([K] + shape, generator=gen) * 0.1, records={}, refresh=-1)
        d["p0"] = d["p"].clone()
        ps.append(d)
    lr, b1, b2, eps, wd, s = HP["lr"], HP["beta1"], HP["beta2"], HP["eps"], HP["weight_decay"], HP["free_lr_scale"]
    for t in range(STEPS):
        r = t // HP["update_gap"]
        for i, d in enumerate(ps):
            p = d["p"]
            g = d["h"] * (p - d["target"]) + d["noise"][t % K]
            p.mul_(1 - lr * wd)
            if mode == "blocks" and i not in BLOCKS[r]:
                d["refresh"] = -1
                p.add_(g.sign(), alpha=-lr * s)
            else:
                if d["refresh"] != r:
                    d["refresh"] = r
                    d["k"] = 0
                    if d["split"]:
                        m_, n_ = d["shape"]
                        rank = max(1, round(HP["density"] * min(m_, n_)))
                        d["right"] = m_ >= n_
                        d["P"] = projector(g, rank, d["right"])
                        d["m"] = torch.zeros([m_, rank] if d["right"] else [rank, n_])
                    else:
                        d["m"] = torch.zeros(d["shape"])
                    d["v"] = torch.zeros_like(d["m"])
                full, back = g, g
                if d["split"]:
                    P = d["P"]
                    full = g @ P.t() if d["right"] else P.t() @ g
                    back = full @ P if d["right"] else P @ full
                d["k"] += 1
                k = d["k"]
                d["m"].mul_(b1).add_(full, alpha=1 - b1)
                d["v"].mul_(b2).addcmul_(full, full, value=1 - b2)
                u = (d["m"] / (1 - b1 ** k)) / ((d["v"] / (1 - b2 ** k)).sqrt().add_(eps))
                if d["split"]:
                    u = u @ d["P"] if d["right"] else d["P"] @ u
                p.add_(u, alpha=-lr)
                if d["split"]:
                    p.add_((g - back).sign(), alpha=-lr * s)
            if t + 1 in RECORD:
                d["records"][str(t + 1)] = flat(p)
    return [{"name": d["name"], "shape": d["shape"], "p0": flat(d["p0"]), "h": flat(d["h"]), "target": flat(d["target"]),
             "noise": flat(d["noise"]), "records": d["records"]} for d in ps]


def main():
    out = {"generator": "tools/golden/frugal.py", "torch_version": torch.__version__, "k": K, "steps": STEPS, "hyper": HP,
           "blocks": BLOCKS, "svd": run("svd", 2411), "block_mode": run("blocks", 7837)}
    json.dump(out, sys.stdout, separators=(",", ":"))
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
