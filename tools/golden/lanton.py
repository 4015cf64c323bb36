#!/usr/bin/env python3
"""Golden fixture for LANTON (noise-adaptive layerwise learning rates, Hao et al., arXiv:2510.14009), from a
reference written here after the rule documented in src/SharpOptim/Optimizers/Lanton.cs (the paper's own Algorithm 1
could not be read; see that class for what is ours):

  per group (hidden matrices: RMS->RMS norm; embeddings/heads: l1->linf norm), before any parameter moves:
    on sampled updates t (t >= 2, (t - 2) % every == 0): s = dual(G_t - R)^2, R = G_{t-1} (gradient
      difference) or B_{t-1} (momentum residual); H.lerp_(s, 1 - beta2); Hhat = H / (1 - beta2^n), n samples so
      far (float64)
    rates of every group that took a sample: over its layers with a gradient so far, Hhat from each layer's own
      sample count n; rate = sqrt(min over Hhat > 0 / Hhat), 1 where Hhat = 0 (no sample yet, or zero noise)
    dual: sqrt(out/in) * sum(svdvals(D as [out, -1]))  |  sum(|D|)
  update: B.lerp_(G, 1 - beta); U = G.lerp(B, beta) (Nesterov);
    (U = B without Nesterov); dir = NS5(U as [out, -1]) * sqrt(out/in)  |  sign(U);  s = rate * lr;
    p *= 1 + s*(-wd);  p -= dir * s
  vectors: AdamW as Muon's auxiliary Adam.
Gradients: g_t = h * (p - target) + level * noise[t % K], with a different noise level per layer so that the
rates differ. Runs: gradient-difference and momentum-residual estimates; gradient difference sampled on updates 2, 6,
10, ... (noise_every = 4; the previous gradient kept from updates 1, 5, 9, ...); momentum residual without Nesterov;
and gradient difference with noise_every = 3 where two layers miss gradients on some steps (skip lists).

Usage: python3 tools/golden/lanton.py > tests/SharpOptim.Tests/Golden/lanton.json
"""
import json
import math
import sys

import torch

from common import aux_adam_step, flat, newton_schulz, quadratic_problem

STEPS = 60
K = 3
RECORD = [1, 2, 3, 10, 30, 60]
# name, shape, kind, noise level
LAYERS = [("blocks.0.w", [12, 20], "spectral", 1.0), ("blocks.1.w", [20, 12], "spectral", 4.0),
          ("blocks.2.w", [16, 16], "spectral", 0.5), ("conv.w", [6, 3, 3, 3], "spectral", 2.0), ("embed.w", [30, 8], "sign", 1.0),
          ("head.w", [6, 16], "sign", 3.0), ("blocks.0.b", [20], "adamw", 1.0)]
HP = dict(lr=0.02, sign_lr=2e-3, adam_lr=3e-3, momentum=0.95, ns_steps=5, noise_beta=0.9, weight_decay=0.01,
          adam_beta1=0.9, adam_beta2=0.95, adam_eps=1e-10, adam_weight_decay=0.0)


def shape_scale(t):
    out = t.shape[0]
    return math.sqrt(out / (t.numel() / out))


def dual(kind, d):
    if kind == "spectral":
        return torch.linalg.svdvals(d.reshape(d.shape[0], -1)).sum() * shape_scale(d)
    return d.abs().sum()


def samples(t, every):
    return 0 if t < 2 else (t - 2) // every + 1


def run(estimate, every=1, nesterov=True, skip=None):
    """skip: name -> set of 0-based steps on which that layer gets no gradient (no sample, no update)."""
    skip = skip or {}
    params = []
    for i, (name, shape, kind, level) in enumerate(LAYERS):
        _, p0, h, target, noise = quadratic_problem(shape, K, 7100 + i)
        noise = noise * level
        params.append(dict(name=name, shape=shape, kind=kind, p0=p0, p=p0.clone(), h=h, target=target, noise=noise,
                           m=torch.zeros(shape), v=torch.zeros(shape), prev=torch.zeros(shape),
                           H=torch.zeros([]), rate=torch.ones([]), t=0, records={}))
    for step in range(STEPS):
        grads = [None if step in skip.get(b["name"], ()) else b["h"] * (b["p"] - b["target"]) + b["noise"][step % K]
                 for b in params]
        # pre-pass, group by group: samples, then averages and kept gradients, then the rates of sampled groups
        for kind in ("spectral", "sign"):
            sampled = False
            for b, g in zip(params, grads):
                if b["kind"] != kind or g is None:
                    continue
                t = b["t"] + 1
                if t >= 2 and (t - 2) % every == 0:
                    ref = b["prev"] if estimate == "difference" else b["m"]
                    s = dual(kind, g - ref)
                    b["H"].lerp_(s.square(), 1 - HP["noise_beta"])
                    sampled = True
                if estimate == "difference" and (t - 1) % every == 0:
                    b["prev"].copy_(g)
            if not sampled:
                continue
            layers = []
            for b, g in zip(params, grads):
                t_eff = b["t"] + (0 if g is None else 1)
                if b["kind"] != kind or t_eff == 0:
                    continue
                n = samples(t_eff, every)
                layers.append((b, b["H"].double() / (1 - HP["noise_beta"] ** n) if n >= 1 else torch.zeros([], dtype=torch.float64)))
            hs = torch.stack([a for _, a in layers])
            valid = hs > 0
            hmin = torch.where(valid, hs, torch.full_like(hs, math.inf)).min()
            rates = torch.where(valid, (hmin / hs).sqrt(), torch.ones_like(hs))
            for i, (b, _) in enumerate(layers):
                b["rate"].copy_(rates[i])
        for b, g in zip(params, grads):
            if g is None:
                continue
            p = b["p"]
            b["t"] += 1
            if b["kind"] == "adamw":
                aux_adam_step(p, g, b["m"], b["v"], b["t"], HP["adam_lr"], HP["adam_weight_decay"], HP["adam_beta1"],
                              HP["adam_beta2"], HP["adam_eps"])
            else:
                beta = HP["momentum"]
                b["m"].lerp_(g, 1 - beta)
                u = g.lerp(b["m"], beta) if nesterov else b["m"]
                if b["kind"] == "spectral":
                    d = newton_schulz(u.reshape(u.shape[0], -1), HP["ns_steps"], muon_order=True) * shape_scale(u)
                    d = d.reshape(p.shape)
                    lr = HP["lr"]
                else:
                    d = u.sign()
                    lr = HP["sign_lr"]
                s = b["rate"] * lr
                p.mul_(s * (-HP["weight_decay"]) + 1)
                p.sub_(d.mul(s))
        for b in params:
            if step + 1 in RECORD:
                b["records"][str(step + 1)] = flat(b["p"])
    return [{"name": b["name"], "shape": b["shape"], "kind": b["kind"], "p0": flat(b["p0"]), "h": flat(b["h"]),
             "target": flat(b["target"]), "noise": flat(b["noise"]), "records": b["records"],
             "skip": sorted(skip.get(b["name"], ())), "updates": b["t"], "rate": b["rate"].item(),
             "sigma": math.sqrt(b["H"].double().item() / (1 - HP["noise_beta"] ** samples(b["t"], every)))
             if b["kind"] != "adamw" else None}
            for b in params]


def main():
    out = {"generator": "tools/golden/lanton.py", "torch_version": torch.__version__, "k": K, "steps": STEPS, "hyper": HP,
           "runs": {"difference": run("difference"), "residual": run("residual"), "difference_every4": run("difference", 4),
                    "residual_plain": run("residual", nesterov=False),
                    # blocks.2.w (the least noisy hidden layer) starts late and misses steps; head.w misses its
                    # first: per-layer sample counts differ, and sampling steps fall apart with every = 3
                    "difference_skips": run("difference", 3, skip={"blocks.2.w": {0, 1, 7, 20}, "head.w": {0}})}}
    json.dump(out, sys.stdout, separators=(",", ":"))
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
