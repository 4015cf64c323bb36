#!/usr/bin/env python3
"""Golden fixture for SharpOptim.Bilevel (float64): trajectories of AID-CG, ITD, stocBiO, SOBA, MA-SOBA, BO-REP and F2SA
on a small weighted-logistic bilevel problem, written here from the papers / official code as summarised in
shared/papers/bilevel.md (sign conventions: SOBA keeps v ~ -H^-1 grad_y f; MA-SOBA, BO-REP, stocBiO keep z ~ +H^-1 grad_y f).

Independent of the C# oracle layer: every second-order quantity here comes from the DENSE Hessian of g over (x, y)
(torch.autograd.functional.hessian), split into blocks; first-order gradients from torch.autograd.grad.

Problem (labels b in {-1, +1}, A rows a_i):
  g(x, w; B) = mean_{i in B} sigmoid(x_i) softplus(-b_i a_i.w) + mu/2 |w|^2
  f(x, w; B) = mean_{j in B} softplus(-b_j a_j.w) + rho/2 |x|^2          (B = None: all samples)
Batches are drawn at random here, recorded in the order each method consumes them, and replayed by the C# test
(BatchStream.Scripted), since PyTorch's and TorchSharp's random streams differ.
Usage: /usr/bin/python3 tools/golden/bilevel.py > tests/SharpOptim.Tests/Golden/bilevel.json
"""
import json
import math

import torch

torch.set_default_dtype(torch.float64)
N_TR, N_VAL, D = 24, 12, 4
MU, RHO = 0.1, 0.01
LOW_B, UP_B = 6, 4
STEPS = 15

gen = torch.Generator().manual_seed(1402)
A_tr = torch.randn(N_TR, D, generator=gen)
b_tr = torch.where(torch.rand(N_TR, generator=gen) < 0.5, -1.0, 1.0)
A_val = torch.randn(N_VAL, D, generator=gen)
b_val = torch.where(torch.rand(N_VAL, generator=gen) < 0.5, -1.0, 1.0)
x0 = 0.5 * torch.randn(N_TR, generator=gen)
y0 = 0.3 * torch.randn(D, generator=gen)


def g(x, w, B):
    idx = torch.arange(N_TR) if B is None else torch.tensor(B)
    z = -b_tr[idx] * (A_tr[idx] @ w)
    return (torch.sigmoid(x[idx]) * torch.nn.functional.softplus(z)).mean() + 0.5 * MU * (w * w).sum()


def f(x, w, B):
    idx = torch.arange(N_VAL) if B is None else torch.tensor(B)
    z = -b_val[idx] * (A_val[idx] @ w)
    return torch.nn.functional.softplus(z).mean() + 0.5 * RHO * (x * x).sum()


def grads(fun, x, w, B):
    xl, wl = x.clone().requires_grad_(True), w.clone().requires_grad_(True)
    gx, gw = torch.autograd.grad(fun(xl, wl, B), [xl, wl], allow_unused=True)
    return (torch.zeros_like(x) if gx is None else gx), (torch.zeros_like(w) if gw is None else gw)


def second(x, w, v, B):
    """(Hyy v, Hxy v) from the dense Hessian blocks of g."""
    H = torch.autograd.functional.hessian(lambda a, c: g(a, c, B), (x, w))
    return H[1][1] @ v, H[0][1] @ v   # H[0][1]: d2g/dx dw, shape (dx, dy)


class Stream:
    def __init__(self, n, b, seed, full=False):
        self.n, self.b, self.full = n, b, full
        self.gen = torch.Generator().manual_seed(seed)
        self.log = []

    def next(self):
        if self.full:
            return None
        B = torch.randperm(self.n, generator=self.gen)[: self.b].tolist()
        self.log.append(B)
        return B


def sched(c, e, t):
    return c / (t + 1) ** e


def run(name, params, body, full=False):
    L, U = Stream(N_TR, LOW_B, 7, full), Stream(N_VAL, UP_B, 8, full)
    x, y = x0.clone(), y0.clone()
    st = {}
    xs, ys = [], []
    for t in range(STEPS):
        x, y = body(t, x, y, L, U, st)
        xs.append(x.tolist())
        ys.append(y.tolist())
    return {"name": name, "params": params, "full_batch": full, "lower_batches": L.log, "upper_batches": U.log, "xs": xs, "ys": ys}


def soba(p):
    def body(t, x, y, L, U, st):
        v = st.setdefault("v", torch.zeros(D))
        phi, xi = L.next(), U.next()
        _, dy = grads(g, x, y, phi)
        hv, cv = second(x, y, v, phi)
        fx, fy = grads(f, x, y, xi)
        rho, gam = sched(p["rho"], p["rho_exp"], t), sched(p["gamma"], p["gamma_exp"], t)
        st["v"] = v - rho * (hv + fy)
        return x - gam * (cv + fx), y - rho * dy
    return body


def ma_soba(p):
    def body(t, x, y, L, U, st):
        z = st.setdefault("z", torch.zeros(D))
        h = st.setdefault("h", torch.zeros(N_TR))
        phi, xi = L.next(), U.next()
        _, gy = grads(g, x, y, phi)
        hz, cz = second(x, y, z, phi)
        fx, fy = grads(f, x, y, xi)
        w = fx - cz
        h = (1 - p["theta"]) * h + p["theta"] * w
        st["h"] = h
        st["z"] = z - p["gamma"] * (hz - fy)
        return x - p["alpha"] * h, y - p["beta"] * gy
    return body


def bo_rep(p):
    def body(t, x, y, L, U, st):
        z = st.setdefault("z", torch.zeros(D))
        m = st.setdefault("m", torch.zeros(N_TR))
        if t % p["period"] == 0:
            for _ in range(p["inner_steps"] + (p["init_steps"] if t == 0 else 0)):
                _, gy = grads(g, x, y, L.next())
                y = y - p["inner_lr"] * gy
        zeta, xi = L.next(), U.next()
        hz, cz = second(x, y, z, zeta)
        fx, fy = grads(f, x, y, xi)
        h = fx - cz
        st["z"] = z - p["nu"] * (hz - fy)
        m = p["beta"] * m + (1 - p["beta"]) * h
        st["m"] = m
        return x - p["eta"] / (float(m.norm()) + 1e-10) * m, y
    return body


def f2sa(p):
    def body(t, x, y, L, U, st):
        z = st.setdefault("z", y0.clone())
        lam = st.setdefault("lam", p["lam0"])
        a, c, s = sched(p["alpha"], 5 / 7, t), sched(p["gamma"], 4 / 7, t), sched(p["xi"], 4 / 7, t)
        for _ in range(p["T"]):
            _, gz = grads(g, x, z, L.next())
            _, fy = grads(f, x, y, U.next())
            _, gy = grads(g, x, y, L.next())
            z = z - c * gz
            y = y - a * (fy + lam * gy)
        st["z"] = z
        B_u, B_1, B_2 = U.next(), L.next(), L.next()
        fx, _ = grads(f, x, y, B_u)
        gx_y, _ = grads(g, x, y, B_1)
        gx_z, _ = grads(g, x, z, B_2)
        h = fx + lam * (gx_y - gx_z)
        st["lam"] = lam + sched(p["delta"], 1 / 7, t)
        return x - s * h, y
    return body


def inner(x, y, L, steps, lr):
    for _ in range(steps):
        _, gy = grads(g, x, y, L.next())
        y = y - lr * gy
    return y


def aid_cg(p):
    def body(t, x, y, L, U, st):
        y = inner(x, y, L, p["D"], p["inner_lr"])
        fx, fy = grads(f, x, y, U.next())
        B = L.next()
        H = torch.autograd.functional.hessian(lambda a, c: g(a, c, B), (x, y))
        v = torch.linalg.solve(H[1][1], fy)   # CG with dy iterations solves this exactly (up to rounding)
        return x - p["outer_lr"] * (fx - H[0][1] @ v), y
    return body


def itd(p):
    def body(t, x, y, L, U, st):
        # Autograd through the unrolled loop: y_0 constant, the loop differentiable in x.
        xl = x.clone().requires_grad_(True)
        yy = y.clone()
        for _ in range(p["D"]):
            B = L.next()
            yl = yy if yy.requires_grad else yy.clone().requires_grad_(True)
            gy, = torch.autograd.grad(g(xl, yl, B), [yl], create_graph=True)
            yy = yl - p["inner_lr"] * gy
        hx, = torch.autograd.grad(f(xl, yy, U.next()), [xl])
        return x - p["outer_lr"] * hx, yy.detach()
    return body


def stocbio(p):
    def body(t, x, y, L, U, st):
        y = inner(x, y, L, p["D"], p["inner_lr"])
        fx, fy = grads(f, x, y, U.next())
        q = fy.clone()
        acc = fy.clone()
        for _ in range(p["Q"]):
            hq, _ = second(x, y, q, L.next())
            q = q - p["eta"] * hq
            acc = acc + q
        v = p["eta"] * acc
        _, cv = second(x, y, v, L.next())
        return x - p["outer_lr"] * (fx - cv), y
    return body


P = {
    "soba": {"rho": 0.5, "rho_exp": 0.5, "gamma": 2.0, "gamma_exp": 0.5},
    "ma_soba": {"alpha": 1.0, "beta": 0.5, "gamma": 0.3, "theta": 0.3},
    "bo_rep": {"eta": 0.05, "nu": 0.1, "beta": 0.9, "inner_lr": 0.5, "period": 2, "inner_steps": 3, "init_steps": 5},
    "f2sa": {"alpha": 0.05, "gamma": 0.5, "xi": 1.0, "lam0": 1.0, "delta": 1.0, "T": 3},
    "aid_cg": {"D": 5, "inner_lr": 0.5, "outer_lr": 5.0},
    "itd": {"D": 5, "inner_lr": 0.5, "outer_lr": 5.0},
    "stocbio": {"D": 3, "inner_lr": 0.5, "Q": 4, "eta": 0.5, "outer_lr": 2.0},
}
methods = [
    run("soba", P["soba"], soba(P["soba"])),
    run("ma_soba", P["ma_soba"], ma_soba(P["ma_soba"])),
    run("bo_rep", P["bo_rep"], bo_rep(P["bo_rep"])),
    run("f2sa", P["f2sa"], f2sa(P["f2sa"])),
    run("aid_cg", P["aid_cg"], aid_cg(P["aid_cg"]), full=True),
    run("itd", P["itd"], itd(P["itd"]), full=True),
    run("stocbio", P["stocbio"], stocbio(P["stocbio"])),
]
out = {
    "problem": {"n_tr": N_TR, "n_val": N_VAL, "d": D, "mu": MU, "rho": RHO,
                "A_tr": A_tr.reshape(-1).tolist(), "b_tr": b_tr.tolist(), "A_val": A_val.reshape(-1).tolist(),
                "b_val": b_val.tolist(), "x0": x0.tolist(), "y0": y0.tolist()},
    "methods": methods,
}
print(json.dumps(out))
