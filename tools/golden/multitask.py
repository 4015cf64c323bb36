"""Reference fixtures for SharpOptim.MultiTask (tests/SharpOptim.Tests/Golden/multitask.json).

Written from the papers and the official code's behaviour, in float64:
- min-norm: Frank-Wolfe with exact line search (Sener & Koltun 2018, Algorithm 2; exact 0/1 endpoints), and an
  INDEPENDENT exact solution of min_{w in simplex} w^T M w by enumerating supports (active sets) and solving each
  equality-constrained KKT system, keeping the feasible one that satisfies the KKT conditions with the least cost.
- a small model (trunk Linear 5->6 + tanh; heads: 3-class cross-entropy, parity BCE, reconstruction MSE): MGDA on
  the shared parameters (per-task gradients by autograd.grad), MGDA-UB on the representation, PCGrad (official
  fixed order and explicit orders), MultiBalance (reconstruction: EMA of the Gram matrix over two batches) and
  MARIGOLD (reconstruction: one step, forward-difference estimate and the exact G^T d by autograd).
Run: /usr/bin/python3 tools/golden/multitask.py
"""
import itertools
import json
import os

import numpy as np
import torch

torch.set_default_dtype(torch.float64)
OUT = os.path.join(os.path.dirname(__file__), "..", "..", "tests", "SharpOptim.Tests", "Golden", "multitask.json")


def line_search(aa, ab, bb):
    if ab >= aa:
        return 1.0, aa
    if ab >= bb:
        return 0.0, bb
    g = (bb - ab) / (aa + bb - 2 * ab)
    return g, bb + g * (ab - bb)


def frank_wolfe(m, start="uniform", max_iter=250, tol=1e-5):
    t = m.shape[0]
    if t == 1:
        return np.array([1.0]), 0
    if t == 2:
        g, _ = line_search(m[0, 0], m[0, 1], m[1, 1])
        return np.array([g, 1 - g]), 0
    if start == "uniform":
        w = np.full(t, 1.0 / t)
    else:
        best = (np.inf, 0, 1, 1.0)
        for i in range(t):
            for j in range(i + 1, t):
                g, c = line_search(m[i, i], m[i, j], m[j, j])
                if c < best[0]:
                    best = (c, i, j, g)
        w = np.zeros(t)
        w[best[1]] = best[3]
        w[best[2]] = 1 - best[3]
    it = 0
    while it < max_iter:
        it += 1
        mw = m @ w
        k = int(np.argmin(mw))
        g, _ = line_search(w @ mw, mw[k], m[k, k])
        new = g * w
        new[k] += 1 - g
        change = np.abs(new - w).sum()
        w = new
        if change < tol:
            break
    return w, it


def exact_min_norm(m):
    """Active-set enumeration: for each support S solve [M_SS 1; 1^T 0][w; -nu] = [0; 1]; keep KKT points."""
    t = m.shape[0]
    best = None
    for size in range(1, t + 1):
        for s in itertools.combinations(range(t), size):
            s = list(s)
            a = np.zeros((size + 1, size + 1))
            a[:size, :size] = m[np.ix_(s, s)]
            a[:size, size] = 1
            a[size, :size] = 1
            rhs = np.zeros(size + 1)
            rhs[size] = 1
            sol = np.linalg.lstsq(a, rhs, rcond=None)[0]
            w = np.zeros(t)
            w[s] = sol[:size]
            if w.min() < -1e-12 or abs(w.sum() - 1) > 1e-9:
                continue
            w = np.clip(w, 0, None)
            w /= w.sum()
            cost = w @ m @ w
            mw = m @ w
            scale = max(1.0, np.abs(m).max())
            if mw.min() < cost - 1e-9 * scale:   # KKT: every vertex's directional derivative >= the current value
                continue
            if best is None or cost < best[1] - 1e-15 * scale:
                best = (w, cost)
    return best


def flat(x):
    return [float(v) for v in np.asarray(x, dtype=np.float64).reshape(-1)]


def min_norm_cases():
    rng = np.random.default_rng(13)
    cases = []
    specs = [(2, 5), (2, 1), (3, 3), (3, 10), (3, 2), (4, 6), (4, 3), (5, 12), (5, 4), (6, 20), (6, 5)] * 2
    for t, p in specs:
        g = rng.standard_normal((t, p)) * rng.uniform(0.1, 3.0, size=(t, 1))
        if rng.uniform() < 0.5:
            g += rng.standard_normal(p) * 1.5   # a shared component: the min-norm point is then often interior
        cases.append(g)
    base = rng.standard_normal(4)
    cases.append(np.stack([base, base, base]))              # identical
    cases.append(np.zeros((3, 4)))                           # all zero
    cases.append(np.stack([base, -base]))                    # antiparallel
    cases.append(np.stack([base, -base, 2 * base]))
    out = []
    for g in cases:
        m = g @ g.T
        m = (m + m.T) / 2
        wu, itu = frank_wolfe(m, "uniform")
        wb, itb = frank_wolfe(m, "bestpair")
        we, ce = exact_min_norm(m)
        out.append({"gram": flat(m), "tasks": m.shape[0], "fw_uniform": flat(wu), "fw_uniform_iterations": itu,
                    "fw_bestpair": flat(wb), "fw_bestpair_iterations": itb, "exact": flat(we), "exact_cost": float(ce)})
    return out


def pcgrad(gs, orders):
    total = torch.zeros_like(gs[0])
    for i, g in enumerate(gs):
        pc = g.clone()
        for j in orders[i]:
            inner = torch.dot(pc, gs[j])
            nn = torch.dot(gs[j], gs[j])
            if inner < 0 and nn > 0:
                pc = pc - inner / nn * gs[j]
        total = total + pc
    return total


def pcgrad_vectors():
    gen = torch.Generator().manual_seed(7)
    out = []
    for t, p in [(2, 6), (3, 12), (4, 12), (5, 30)]:
        gs = torch.randn(t, p, generator=gen) + 0.3 * torch.randn(p, generator=gen)
        official = [list(range(t)) for _ in range(t)]
        custom = [[j for j in reversed(range(t)) if j != i] for i in range(t)]
        out.append({"tasks": t, "size": p, "gradients": flat(gs), "official": flat(pcgrad(list(gs), official)),
                    "reversed_skip_self": flat(pcgrad(list(gs), custom))})
    return out


class Model:
    def __init__(self, gen):
        self.w1 = (torch.randn(6, 5, generator=gen) * 0.6).requires_grad_()
        self.b1 = (torch.randn(6, generator=gen) * 0.1).requires_grad_()
        self.wc = (torch.randn(3, 6, generator=gen) * 0.6).requires_grad_()
        self.bc = (torch.randn(3, generator=gen) * 0.1).requires_grad_()
        self.wp = (torch.randn(1, 6, generator=gen) * 0.6).requires_grad_()
        self.bp = (torch.randn(1, generator=gen) * 0.1).requires_grad_()
        self.wr = (torch.randn(5, 6, generator=gen) * 0.6).requires_grad_()
        self.br = (torch.randn(5, generator=gen) * 0.1).requires_grad_()

    def shared(self):
        return [self.w1, self.b1]

    def heads(self):
        return [self.wc, self.bc, self.wp, self.bp, self.wr, self.br]

    def trunk(self, x):
        return torch.tanh(x @ self.w1.T + self.b1)

    def losses(self, z, x, y):
        ce = torch.nn.functional.cross_entropy(z @ self.wc.T + self.bc, y)
        bce = torch.nn.functional.binary_cross_entropy_with_logits((z @ self.wp.T + self.bp).reshape(-1), (y % 2).double())
        mse = torch.nn.functional.mse_loss(z @ self.wr.T + self.br, 3 * x)
        return [ce, bce, mse]

    def export(self):
        return {k: flat(getattr(self, k).detach()) for k in ["w1", "b1", "wc", "bc", "wp", "bp", "wr", "br"]}


def grads_of(loss, params, **kw):
    return [g.detach() for g in torch.autograd.grad(loss, params, allow_unused=False, **kw)]


def cat(gs):
    return torch.cat([g.reshape(-1) for g in gs])


def model_case():
    gen = torch.Generator().manual_seed(11)
    model = Model(gen)
    x1 = torch.randn(8, 5, generator=gen)
    y1 = torch.randint(0, 3, (8,), generator=gen)
    x2 = torch.randn(8, 5, generator=gen)
    y2 = torch.randint(0, 3, (8,), generator=gen)
    case = {"model": model.export(), "x1": flat(x1), "y1": [int(v) for v in y1], "x2": flat(x2), "y2": [int(v) for v in y2]}

    z = model.trunk(x1)
    losses = model.losses(z, x1, y1)
    case["losses"] = [float(l) for l in losses]
    g = [cat(grads_of(l, model.shared(), retain_graph=True)) for l in losses]
    heads_plain = [cat(grads_of(sum(losses), model.heads(), retain_graph=True))]
    case["head_grads"] = flat(heads_plain[0])
    m = torch.stack(g) @ torch.stack(g).T
    w, _ = frank_wolfe(m.numpy())
    case["mgda_weights"] = flat(w)
    case["mgda_shared_grad"] = flat(sum(wi * gi for wi, gi in zip(w, g)))
    # loss+ normalisation (official): solve on g_t / (L_t ||g_t||), apply to the raw gradients
    n = torch.tensor([float(l) * float(gi.norm()) for l, gi in zip(losses, g)])
    wn, _ = frank_wolfe((m / n[:, None] / n[None, :]).numpy())
    case["mgda_lossplus_weights"] = flat(wn)
    case["mgda_lossplus_shared_grad"] = flat(sum(wi * gi for wi, gi in zip(wn, g)))
    t = len(losses)
    case["pcgrad_official_shared_grad"] = flat(pcgrad(g, [list(range(t))] * t))

    # MGDA-UB: r_t = dL_t/dZ over the whole batch, flattened
    zd = z.detach().requires_grad_()
    lz = model.losses(zd, x1, y1)
    r = [torch.autograd.grad(l, zd, retain_graph=True)[0].reshape(-1) for l in lz]
    mr = torch.stack(r) @ torch.stack(r).T
    wu, _ = frank_wolfe(mr.numpy())
    case["mgdaub_weights"] = flat(wu)
    dz = sum(wi * ri for wi, ri in zip(wu, r)).reshape(z.shape)
    case["mgdaub_trunk_grad"] = flat(cat(torch.autograd.grad(z, model.shared(), grad_outputs=dz, retain_graph=True)))

    # MultiBalance (reconstruction): EMA of the Gram matrix over batch 1 then batch 2, bias-corrected, beta 0.9
    beta = 0.9
    z2 = model.trunk(x2)
    zd2 = z2.detach().requires_grad_()
    l2 = model.losses(zd2, x2, y2)
    r2 = [torch.autograd.grad(l, zd2, retain_graph=True)[0].reshape(-1) for l in l2]
    mr2 = torch.stack(r2) @ torch.stack(r2).T
    avg = (1 - beta) * mr
    avg = beta * avg + (1 - beta) * mr2
    wmb, _ = frank_wolfe((avg / (1 - beta ** 2)).numpy())
    case["multibalance_step1_weights"] = flat(wu)   # step 1: the corrected average is M_1 itself
    case["multibalance_step2_weights"] = flat(wmb)
    dz2 = sum(wi * ri for wi, ri in zip(wmb, r2)).reshape(z2.shape)
    case["multibalance_step2_trunk_grad"] = flat(cat(torch.autograd.grad(z2, model.shared(), grad_outputs=dz2)))

    # MARIGOLD (reconstruction): one step from uniform weights on batch 1
    gamma, mu0 = 0.1, 1e-4
    w0 = torch.full((t,), 1.0 / t)
    dzm = sum(wi * ri for wi, ri in zip(w0, r))
    dn2 = float(dzm @ dzm)
    mu = mu0 / dn2 ** 0.5
    with torch.no_grad():
        lp = model.losses(zd + mu * dzm.reshape(z.shape), x1, y1)
    est = [(float(a) - float(b)) / mu for a, b in zip(lp, lz)]
    exact = [float(ri @ dzm) for ri in r]
    v = [float(w0[i]) - gamma * est[i] / dn2 for i in range(t)]
    # simplex projection (sort-based)
    u = sorted(v, reverse=True)
    css, tau = 0.0, 0.0
    for k, uk in enumerate(u):
        css += uk
        cand = (css - 1) / (k + 1)
        if uk - cand > 0:
            tau = cand
    case["marigold_gamma"] = gamma
    case["marigold_mu0"] = mu0
    case["marigold_estimate"] = est
    case["marigold_exact_gtd"] = exact
    case["marigold_next_weights"] = [max(x - tau, 0.0) for x in v]
    case["marigold_trunk_grad"] = flat(cat(torch.autograd.grad(z, model.shared(), grad_outputs=dzm.reshape(z.shape))))
    return case


def main():
    data = {"min_norm": min_norm_cases(), "pcgrad": pcgrad_vectors(), "model": model_case()}
    with open(OUT, "w") as f:
        json.dump(data, f, indent=1)
    print("wrote", os.path.normpath(OUT))


if __name__ == "__main__":
    main()
