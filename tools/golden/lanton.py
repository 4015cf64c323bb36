#!/usr/bin/env python3
"""Golden fixture for LANTON (noise-adaptive layerwise learning rates, Hao et al., arXiv:2510.14009), from a
reference written here. What is known of the paper's Algorithm 1 (from published summaries of it): momentum
B_t = beta B_{t-1} + (1 - beta) G_t and the group's LMO applied to B_t (no Nesterov), Signum for embeddings/heads,
RMS->RMS for hidden matrices, an online dual-norm noise estimate with a beta2. Its rate formula could not be read,
so the noise sample, the average and the rate rule below are the ones documented in
src/SharpOptim/Optimizers/MatrixAware/Lanton.cs (this library's design):

  per group (hidden matrices: RMS->RMS norm; embeddings/heads: l1->linf norm), before any parameter moves:
    on sampled updates t (t >= f, (t - f) % every == 0; f = 2, or 1 for two batches): s = dual(G_t - R)^2,
      R = G_{t-1} (gradient difference), B_{t-1} (momentum residual) or G'_t, the gradient of a second independent
      batch (independent batches); H.lerp_(s, 1 - beta2); Hhat = H (default) or, with bias correction,
      H / (1 - beta2^n), n samples so far (float64)
    rates of every group that took a sample: over its layers with a gradient so far, Hhat from each layer's own
      sample count n; rate = sqrt(min over Hhat > 0 / Hhat), 1 where Hhat = 0 (no sample yet, or zero noise)
    dual: sqrt(out/in) * sum(svdvals(D as [out, -1]))  |  sum(|D|)
  update: B.lerp_(G, 1 - beta); U = B (default, Algorithm 1), or U = G.lerp(B, beta) with Nesterov; dir = NS5(U as [out, -1]) * sqrt(out/in)  |  sign(U);  s = rate * lr;
    p *= 1 + s*(-wd);  p -= dir * s
  vectors: AdamW as Muon's auxiliary Adam.
Gradients: g_t = h * (p - target) + level * noise[t % K], with a different noise level per layer so that the
rates differ; the second batch of the independent-batches runs uses noise2[t % K] in place of noise. Runs: see main().

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


def samples(t, every, first):
    return 0 if t < first else (t - first) // every + 1


def run(estimate, every=1, nesterov=False, bias_correction=False, skip=None):
    """skip: name -> set of 0-based steps on which that layer gets no gradient (no sample, no update)."""
    skip = skip or {}
    first = 1 if estimate == "independent" else 2
    params = []
    for i, (name, shape, kind, level) in enumerate(LAYERS):
        _, p0, h, target, noise = quadratic_problem(shape, K, 7100 + i)
        noise = noise * level
        noise2 = torch.randn([K] + shape, generator=torch.Generator().manual_seed(7200 + i)) * 0.1 * level
        params.append(dict(name=name, shape=shape, kind=kind, p0=p0, p=p0.clone(), h=h, target=target, noise=noise, noise2=noise2,
                           m=torch.zeros(shape), v=torch.zeros(shape), prev=torch.zeros(shape),
                           H=torch.zeros([]), rate=torch.ones([]), t=0, records={}))
    for step in range(STEPS):
        grads = [None if step in skip.get(b["name"], ()) else b["h"] * (b["p"] - b["target"]) + b["noise"][step % K]
                 for b in params]
        second = [None if g is None else b["h"] * (b["p"] - b["target"]) + b["noise2"][step % K] for b, g in zip(params, grads)]
        # pre-pass, group by group: samples, then averages and kept gradients, then the rates of sampled groups
        for kind in ("spectral", "sign"):
            sampled = False
            for b, g, g2 in zip(params, grads, second):
                if b["kind"] != kind or g is None:
                    continue
                t = b["t"] + 1
                if t >= first and (t - first) % every == 0:
                    ref = {"difference": b["prev"], "residual": b["m"], "independent": g2}[estimate]
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
                n = samples(t_eff, every, first)
                hb = b["H"].double() / (1 - HP["noise_beta"] ** n) if bias_correction else b["H"].double()
                layers.append((b, hb if n >= 1 else torch.zeros([], dtype=torch.float64)))
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
    ps = [{"name": b["name"], "shape": b["shape"], "kind": b["kind"], "p0": flat(b["p0"]), "h": flat(b["h"]),
           "target": flat(b["target"]), "noise": flat(b["noise"]), "noise2": flat(b["noise2"]), "records": b["records"],
           "skip": sorted(skip.get(b["name"], ())), "updates": b["t"], "rate": b["rate"].item(),
           "sigma": math.sqrt(b["H"].double().item() / ((1 - HP["noise_beta"] ** samples(b["t"], every, first)) if bias_correction else 1))
           if b["kind"] != "adamw" else None}
          for b in params]
    return {"estimate": estimate, "every": every, "nesterov": nesterov, "bias_correction": bias_correction, "params": ps}


SKIPS = {"blocks.2.w": {0, 1, 7, 20}, "head.w": {0}}


def main():
    out = {"generator": "tools/golden/lanton.py", "torch_version": torch.__version__, "k": K, "steps": STEPS, "hyper": HP,
           "runs": {"difference": run("difference"), "residual": run("residual"), "difference_every4": run("difference", 4),
                    # the Muon-style Nesterov direction (an option)
                    "residual_nesterov": run("residual", nesterov=True),
                    "difference_nesterov_bc": run("difference", nesterov=True, bias_correction=True),
                    # blocks.2.w (the least noisy hidden layer) starts late and misses steps; head.w misses its
                    # first: per-layer sample counts differ, and sampling steps fall apart with every = 3 (with and
                    # without the bias correction, which matters only here)
                    "difference_skips": run("difference", 3, skip=SKIPS),
                    "difference_skips_bc": run("difference", 3, bias_correction=True, skip=SKIPS),
                    "independent": run("independent"),
                    "independent_every3_skips": run("independent", 3, skip=SKIPS)}}
    json.dump(out, sys.stdout, separators=(",", ":"))
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
