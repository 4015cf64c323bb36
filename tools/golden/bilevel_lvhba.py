#!/usr/bin/env python3
"""Golden fixture for SharpOptim.Bilevel.LvHba (float64): LV-HBA (Yao, Yu, Zeng, Zhang, "Constrained Bi-Level
Optimization: Proximal Lagrangian Value function Approach and Hessian-free Algorithm", ICLR 2024, arXiv 2401.16164) on
the official repository's LLC toy (SUSTech-Optimization/LV-HBA, Toy-example/LLC/LV-HBA.py), re-derived here as losses
and differentiated with autograd (the official script writes the gradients by hand):

  x in R^n, y = (y1, y2) in R^2n (n = 100)
  upper  F(x, y) = 1/2 |x - y2|^2 + 1/2 |y1 - 1|^2
  lower  f(x, y) = 1/2 |y1|^2 - x.y1 + 1.y2          (the script's f_x = -y1, f_y = (y1 - x, 1))
  constraint G(x, y) = 1.x + 1.y = 0                  (one equality: the multiplier is only clipped to [-u, u])
  C = {(x, y): 1.x + 1.y = 0} (Euclidean projection), Y unconstrained, Z = [-u, u]
Known solution encoded in the script: x* = -0.3 * 1.

Step k (the script's order): c_k = c0 (k+1)^p; d_theta = grad_y f(x, th) + lam grad_y G(x, th) + (th - y)/g1,
d_lam = -G(x, th) + (lam - z)/g2; th -= eta d_theta; lam = clip(lam - eta d_lam); d_x = grad_x F(x, y)/c_k +
grad_x f(x, y) - grad_x f(x, th) - lam grad_x G(x, th); d_y = grad_y F(x, y)/c_k + grad_y f(x, y) - (y - th)/g1;
(x, y) = Proj_C((x, y) - alpha (d_x, d_y)); z = clip(z + beta (lam - z)/g2).
Initial point as the script: x = y = 10 * 1 projected onto C in turn (x = -20, y = 10), th = 1 projected likewise (10),
lam = 1, z = -1.
Usage: /usr/bin/python3 tools/golden/bilevel_lvhba.py > tests/SharpOptim.Tests/Golden/bilevel_lvhba.json
"""
import json
import sys

import torch

torch.set_default_dtype(torch.float64)
N = 100
P = {"alpha": 0.008, "beta": 0.02, "eta": 0.01, "gamma1": 10.0, "gamma2": 10.0, "u": 1000.0, "c0": 0.025, "p": 0.3,
     "lam0": 1.0, "z0": -1.0}
STEPS, LONG = 25, 1500


def F(x, y):
    return 0.5 * ((x - y[N:]) ** 2).sum() + 0.5 * ((y[:N] - 1) ** 2).sum()


def f(x, y):
    return 0.5 * (y[:N] ** 2).sum() - (x * y[:N]).sum() + y[N:].sum()


def G(x, y):
    return (x.sum() + y.sum()).reshape(1)


def grad(fun, x, y):
    xl, yl = x.clone().requires_grad_(True), y.clone().requires_grad_(True)
    gx, gy = torch.autograd.grad(fun(xl, yl), [xl, yl], allow_unused=True)
    return (torch.zeros_like(x) if gx is None else gx), (torch.zeros_like(y) if gy is None else gy)


def project_c(x, y):
    w = torch.cat([x, y])
    w = w - w.sum() / w.numel()
    return w[:N].clone(), w[N:].clone()


def run(steps):
    x = 10 * torch.ones(N)
    y = 10 * torch.ones(2 * N)
    x = x - (x.sum() + y.sum()) / N
    y = y - (y.sum() + x.sum()) / (2 * N)
    th = torch.ones(2 * N)
    th = th - (th.sum() + x.sum()) / (2 * N)
    lam, z = torch.tensor([P["lam0"]]), torch.tensor([P["z0"]])
    u = P["u"]
    xs, ys, errs = [], [], []
    x_opt = -0.3 * torch.ones(N)
    for k in range(steps):
        ck = P["c0"] * (k + 1) ** P["p"]
        _, fy_th = grad(lambda a, b: f(a, b) + (lam * G(a, b)).sum(), x, th)
        d_th = fy_th + (th - y) / P["gamma1"]
        d_lam = -G(x, th) + (lam - z) / P["gamma2"]
        th = th - P["eta"] * d_th
        lam = (lam - P["eta"] * d_lam).clamp(-u, u)
        Fx, Fy = grad(F, x, y)
        fx, fy = grad(f, x, y)
        Lx, _ = grad(lambda a, b: f(a, b) + (lam * G(a, b)).sum(), x, th)
        d_x = Fx / ck + fx - Lx
        d_y = Fy / ck + fy - (y - th) / P["gamma1"]
        x, y = project_c(x - P["alpha"] * d_x, y - P["alpha"] * d_y)
        z = (z + P["beta"] * (lam - z) / P["gamma2"]).clamp(-u, u)
        xs.append(x.tolist())
        ys.append(y.tolist())
        errs.append(float((x - x_opt).norm() / x_opt.norm()))
    return xs, ys, errs, th, lam, z


xs, ys, errs, th, lam, z = run(STEPS)
_, _, long_errs, _, _, _ = run(LONG)
if len(sys.argv) > 1:
    for k in range(0, LONG, 100):
        print(k, long_errs[k], file=sys.stderr)
CHECK = 100   # the C# test runs this many steps (the full 1,500 take too long for a unit test)
print(json.dumps({"params": P, "n": N, "steps": STEPS, "xs": xs, "ys": ys, "theta": th.tolist(), "lam": lam.tolist(), "z": z.tolist(),
                  "rel_err": errs, "check_steps": CHECK, "check_rel_err": long_errs[CHECK - 1], "long_steps": LONG, "long_rel_err": long_errs[-1],
                  "long_rel_err_trace": long_errs[::50]}))
