#!/usr/bin/env python3
"""Golden fixture for SharpOptim.Bilevel.Bsvrb (float64): BSVRB v1 and v2 (Hu, Qiu, Guo, Zhang, Yang, ICML 2023,
arXiv 2305.18730) on a small multi-block version of the official hyperparameter-optimisation setting
(quanqihu/BSVRB_ICML2023, Hyperparameter_Optimization/HO/main.py): m linear logistic models, block i with temperature
sigma_i, sharing per-example weights sigmoid(p_j) on the training loss.

  g_i(p, w; B)  = mean_{j in B} sigmoid(p_j) softplus(-(b_j/sigma_i) w.a_j) + lam/2 |w|^2
  f_i(p, w; B') = mean_{j in B'} softplus(-(b_j/sigma_i) w.a_j) + rho/2 |p|^2   (rho > 0 so that grad_x f is exercised)

Written from the official script's loop structure (estimators at the current and previous iterates on the same batch,
H_i / v_i held at the start of the iteration, all blocks moved by v1, visited blocks with delay counts by v2, STORM on
the upper gradient), with the library's documented deviations: true (autograd) Hessians, the eigenvalue-floor
projection for v1's Hessian estimates, zero / identity initial states with previous iterates equal to the first ones.
Every second-order quantity comes from DENSE Hessians (torch.autograd.functional.hessian over (p, w)); batches and
block draws are recorded and replayed by the C# test.
Usage: /usr/bin/python3 tools/golden/bilevel_bsvrb.py > tests/SharpOptim.Tests/Golden/bilevel_bsvrb.json
"""
import json

import torch

torch.set_default_dtype(torch.float64)
M, N_TR, N_VAL, D = 3, 12, 8, 3          # blocks, train / validation samples, lower dimension (2 features + bias)
LAM, RHO = 0.1, 0.01
I_BLOCKS, B_LOW, B_UP = 2, 4, 3
STEPS = 8

gen = torch.Generator().manual_seed(1407)
A_tr = torch.cat([torch.randn(N_TR, D - 1, generator=gen), torch.ones(N_TR, 1)], 1)
b_tr = torch.where(torch.rand(N_TR, generator=gen) < 0.5, -1.0, 1.0)
A_val = torch.cat([torch.randn(N_VAL, D - 1, generator=gen), torch.ones(N_VAL, 1)], 1)
b_val = torch.where(torch.rand(N_VAL, generator=gen) < 0.5, -1.0, 1.0)
sigma = (0.5 + torch.rand(M, generator=gen)).tolist()
p0 = 0.5 * torch.randn(N_TR, generator=gen)
w0 = 0.3 * torch.randn(M, D, generator=gen)


def g(i, p, w, B):
    idx = torch.tensor(B)
    z = -(b_tr[idx] / sigma[i]) * (A_tr[idx] @ w)
    return (torch.sigmoid(p[idx]) * torch.nn.functional.softplus(z)).mean() + 0.5 * LAM * (w * w).sum()


def f(i, p, w, B):
    idx = torch.tensor(B)
    z = -(b_val[idx] / sigma[i]) * (A_val[idx] @ w)
    return torch.nn.functional.softplus(z).mean() + 0.5 * RHO * (p * p).sum()


def grads(fun, i, p, w, B):
    pl, wl = p.clone().requires_grad_(True), w.clone().requires_grad_(True)
    gp, gw = torch.autograd.grad(fun(i, pl, wl, B), [pl, wl], allow_unused=True)
    return (torch.zeros_like(p) if gp is None else gp), (torch.zeros_like(w) if gw is None else gw)


def hess(i, p, w, B):
    """(H_ww, H_pw) dense blocks of g_i."""
    H = torch.autograd.functional.hessian(lambda a, c: g(i, a, c, B), (p, w))
    return H[1][1], H[0][1]


def floor_eig(H, lo):
    S = 0.5 * (H + H.T)
    vals, vecs = torch.linalg.eigh(S)
    return vecs @ torch.diag(vals.clamp_min(lo)) @ vecs.T


def run(variant, P):
    gen_s = torch.Generator().manual_seed(11 if variant == "v1" else 12)
    block_log, low_log, up_log = [], [], []
    a, c, bb = P["a"], P["c"], P["b"]
    p1, w1 = p0.clone(), w0.clone()
    p_old, w_old = p1.clone(), w1.clone()
    s = torch.zeros(M, D)
    z = torch.zeros(N_TR)
    H1 = P["h_init"] * torch.eye(D).repeat(M, 1, 1)
    H0 = H1.clone()
    v1, v0, u = torch.zeros(M, D), torch.zeros(M, D), torch.zeros(M, D)
    delay = [0] * M
    ps, ws = [], []
    for t in range(STEPS):
        tasks = torch.randperm(M, generator=gen_s)[:I_BLOCKS].tolist()
        block_log.append(tasks)
        H_new = H1.clone()
        G_old, G_new = torch.zeros(N_TR), torch.zeros(N_TR)
        for task in tasks:
            tr = torch.randperm(N_TR, generator=gen_s)[:B_LOW].tolist()
            va = torch.randperm(N_VAL, generator=gen_s)[:B_UP].tolist()
            low_log.append(tr)
            up_log.append(va)
            _, gy_new = grads(g, task, p1, w1[task], tr)
            _, gy_old = grads(g, task, p_old, w_old[task], tr)
            s[task] = (1 - a) * s[task] + (a + c) * gy_new - c * gy_old
            fx_new, fy_new = grads(f, task, p1, w1[task], va)
            fx_old, fy_old = grads(f, task, p_old, w_old[task], va)
            Hyy_new, Hxy_new = hess(task, p1, w1[task], tr)
            Hyy_old, Hxy_old = hess(task, p_old, w_old[task], tr)
            if variant == "v2":
                u[task] = (1 - a) * u[task] + (a + c) * (Hyy_new @ v1[task] - fy_new) - c * (Hyy_old @ v0[task] - fy_old)
                G_new += fx_new - Hxy_new @ v1[task]
                G_old += fx_old - Hxy_old @ v0[task]
            else:
                H_new[task] = floor_eig((1 - a) * H_new[task] + (a + c) * Hyy_new - c * Hyy_old, P["h_floor"])
                G_new += fx_new - Hxy_new @ torch.linalg.solve(H1[task], fy_new)
                G_old += fx_old - Hxy_old @ torch.linalg.solve(H0[task], fy_old)
        w_new, v_new = w1.clone(), v1.clone()
        for task in range(M):
            if variant == "v1":
                w_new[task] = w_new[task] - P["tau"] * s[task]
            elif task in tasks:
                dc = delay[task] + 1
                w_new[task] = w_new[task] - P["tau"] * dc * s[task]
                tv = v_new[task] - P["tau_v"] * dc * u[task]
                nrm = float(tv.norm())
                v_new[task] = tv / nrm * P["v_bound"] if nrm > P["v_bound"] else tv
                delay[task] = 0
            else:
                delay[task] += 1
        p_old = p1.clone()
        z = (1 - bb) * (z - G_old / len(tasks)) + G_new / len(tasks)
        p1 = p1 - P["eta"] * z
        H0, H1 = H1.clone(), H_new.clone()
        w_old, w1 = w1.clone(), w_new.clone()
        if variant == "v2":
            v0, v1 = v1.clone(), v_new.clone()
        ps.append(p1.tolist())
        ws.append(w1.reshape(-1).tolist())
    return {"name": variant, "params": P, "blocks": block_log, "lower_batches": low_log, "upper_batches": up_log, "xs": ps, "ys": ws}


P1 = {"eta": 2.0, "tau": 0.5, "tau_v": 1.0, "a": 0.9, "c": 1.0, "b": 0.9, "v_bound": 10.0, "h_floor": 0.05, "h_init": 1.0}
P2 = {"eta": 2.0, "tau": 1.0, "tau_v": 0.7, "a": 0.9, "c": 1.0, "b": 0.9, "v_bound": 0.5, "h_floor": 0.05, "h_init": 1.0}
out = {
    "problem": {"m": M, "n_tr": N_TR, "n_val": N_VAL, "d": D, "lam": LAM, "rho": RHO, "sigma": sigma,
                "A_tr": A_tr.reshape(-1).tolist(), "b_tr": b_tr.tolist(), "A_val": A_val.reshape(-1).tolist(),
                "b_val": b_val.tolist(), "x0": p0.tolist(), "y0": w0.reshape(-1).tolist()},
    "methods": [run("v1", P1), run("v2", P2)],
}
print(json.dumps(out))
