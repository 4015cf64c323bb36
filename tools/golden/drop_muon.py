#!/usr/bin/env python3
"""Golden fixture for Drop-Muon (Gruntkowska et al., arXiv:2510.02239): randomized progressive training over Muon's
layer-wise update. A reference written here from the paper (no official Drop-Muon code could be found): at step k
with start index s_k (given, so both sides use the same draws), layers s_k..b-1 get the paper's update
M <- beta M + (1 - beta) G;  X <- X - lr * msign(M)  -- plain momentum, no Nesterov -- with msign the official Muon
code's Newton-Schulz quintic and shape scale sqrt(max(1, d_out/d_in)) (vectors and the head through Muon's auxiliary
Adam with its own per-parameter step count); layers below s_k are left untouched, weights and state.

Gradients: g_t = h * (p - target) + noise[t % K] per parameter (same float32 ops as the C# test).
Usage: python3 tools/golden/drop_muon.py > tests/SharpOptim.Tests/Golden/drop_muon.json
"""
import json
import math
import sys

import torch

from common import aux_adam_step, flat, newton_schulz, quadratic_problem

STEPS = 50
K = 3
RECORD = [1, 10, 25, 50]
LAYERS = [[("layers.0.weight", [12, 8]), ("layers.0.bias", [12])],
          [("layers.1.weight", [10, 12]), ("layers.1.bias", [10])],
          [("head.weight", [4, 10]), ("head.bias", [4])]]
HP = dict(lr=0.02, momentum=0.95, nesterov=False, weight_decay=0.01, ns_steps=5, adam_lr=3e-3, adam_beta1=0.9, adam_beta2=0.95,
          adam_eps=1e-10, adam_weight_decay=0.0)


def is_muon(name, shape):
    return len(shape) >= 2 and not any(f in name for f in ("embed", "lm_head", "head", "wte", "wpe"))


def main():
    gen = torch.Generator().manual_seed(2510)
    starts = torch.randint(0, len(LAYERS), (STEPS,), generator=gen).tolist()
    params = []
    for li, layer in enumerate(LAYERS):
        for j, (name, shape) in enumerate(layer):
            _, p0, h, target, noise = quadratic_problem(shape, K, 9000 + 10 * li + j)
            params.append(dict(layer=li, name=name, shape=shape, p0=p0, p=p0.clone(), h=h, target=target, noise=noise,
                               muon=is_muon(name, shape), m=torch.zeros(shape), v=torch.zeros(shape), t=0, records={}))
    for step in range(STEPS):
        for b in params:
            if b["layer"] >= starts[step]:
                p = b["p"]
                g = b["h"] * (p - b["target"]) + b["noise"][step % K]
                b["t"] += 1
                if b["muon"]:
                    beta = HP["momentum"]
                    b["m"].lerp_(g, 1 - beta)
                    u = g.lerp(b["m"], beta) if HP["nesterov"] else b["m"]
                    upd = newton_schulz(u, HP["ns_steps"], muon_order=True) * math.sqrt(max(1.0, g.size(-2) / g.size(-1)))
                    p.mul_(1 - HP["lr"] * HP["weight_decay"])
                    p.add_(upd, alpha=-HP["lr"])
                else:
                    aux_adam_step(p, g, b["m"], b["v"], b["t"], HP["adam_lr"], HP["adam_weight_decay"], HP["adam_beta1"],
                                  HP["adam_beta2"], HP["adam_eps"])
            if step + 1 in RECORD:
                b["records"][str(step + 1)] = flat(b["p"])
    out = {"generator": "tools/golden/drop_muon.py", "torch_version": torch.__version__, "k": K, "steps": STEPS, "hyper": HP,
           "starts": starts, "params": [{"layer": b["layer"], "name": b["name"], "shape": b["shape"], "p0": flat(b["p0"]),
                                         "h": flat(b["h"]), "target": flat(b["target"]), "noise": flat(b["noise"]),
                                         "records": b["records"], "updates": b["t"]} for b in params]}
    json.dump(out, sys.stdout, separators=(",", ":"))
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
