#!/usr/bin/env python3
"""Golden fixture for the PC layer ("PC Layer: Polynomial Weight Preconditioning for Improving LLM Pre-Training",
arXiv:2606.06470), from a reference written here after the official code's forward (Empath-aln/PC-layer,
torchtitan/pc_layer/pc_layer.py, PCTransform with pc_norm_type 'sn', recover_w_norm, learnable gamma):

  power iteration (k times, no grad): v = W^T u / (|W^T u| + eps); u = W v / (|W v| + eps)
  sigma = u . (W v) + eps;  What = W / sigma
  tall (out >= in): W_pc = What q(What^T What);  wide: q(What What^T) What   (Horner, official coefficients)
  W_eff = W_pc * sigma.detach() * gamma;  y = x W_eff^T + b
Emits, per case, the inputs, the power-iterated u, v, the outputs y and the gradients of sum(y * c) with respect to
W, b and gamma.
Usage: python3 tools/golden/pc_layer.py > tests/SharpOptim.Tests/Golden/pc_layer.json
"""
import json
import sys

import torch

from common import flat

COEF = {1: [1.507, -0.507], 2: [2.083, -1.643, 0.560], 3: [2.909, -4.649, 4.023, -1.283],
        4: [3.625, -9.261, 14.097, -10.351, 2.890]}
EPS = 1e-7
ITERS = 10


def unit(x):
    return x / (x.norm() + EPS)


def effective(w, u, v, gamma, level):
    sigma = torch.dot(u, torch.mv(w, v)) + EPS
    wn = w / sigma
    tall = wn.shape[0] >= wn.shape[1]
    gram = wn.t().mm(wn) if tall else wn.mm(wn.t())
    eye = torch.eye(gram.shape[0])
    c = COEF[level]
    q = c[-1] * gram
    for k in range(len(c) - 2, 0, -1):
        q = gram.mm(c[k] * eye + q)
    q = c[0] * eye + q
    wpc = wn.mm(q) if tall else q.mm(wn)
    return wpc * sigma.detach() * gamma


def main():
    gen = torch.Generator().manual_seed(2606)
    cases = []
    for out_f, in_f in [(12, 8), (6, 10)]:
        for level in [1, 2, 3, 4]:
            w0 = torch.randn(out_f, in_f, generator=gen) * 0.3
            b = torch.randn(out_f, generator=gen) * 0.1
            x = torch.randn(5, in_f, generator=gen)
            c = torch.randn(5, out_f, generator=gen)
            u0 = torch.randn(out_f, generator=gen)
            v0 = torch.randn(in_f, generator=gen)
            with torch.no_grad():
                u, v = unit(u0), unit(v0)
                for _ in range(ITERS):
                    v = unit(torch.mv(w0.t(), u))
                    u = unit(torch.mv(w0, v))
            w = w0.clone().requires_grad_(True)
            bb = b.clone().requires_grad_(True)
            gamma = torch.tensor([1.25], requires_grad=True)
            y = torch.nn.functional.linear(x, effective(w, u, v, gamma, level), bb)
            (y * c).sum().backward()
            cases.append({"out": out_f, "in": in_f, "level": level, "w": flat(w0), "b": flat(b), "x": flat(x), "c": flat(c),
                          "u0": flat(u0), "v0": flat(v0), "u": flat(u), "v": flat(v), "gamma": 1.25, "y": flat(y),
                          "grad_w": flat(w.grad), "grad_b": flat(bb.grad), "grad_gamma": flat(gamma.grad)})
    json.dump({"generator": "tools/golden/pc_layer.py", "torch_version": torch.__version__, "eps": EPS, "iterations": ITERS,
               "cases": cases}, sys.stdout, separators=(",", ":"))
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
