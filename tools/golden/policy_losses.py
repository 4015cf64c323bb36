"""Golden fixtures for the policy-optimization losses (SharpOptim.Policy): REINFORCE (+ RLOO), ReMax, GRPO (and its
aggregations grpo / dapo / dr_grpo, asymmetric and dual clip as ARPO uses them) and DisCO / DisCO-b.

Written from the implementation brief (shared/papers/policy.md sections 1-6), which restates the official code:
ReMax's remax_trainer.compute_returns / actor_loss_fn (liziniu/ReMax), the GRPO functions of verl / TRL, DisCO's
compute_policy_loss_disco{,b}_{logL,Lratio} (Optimization-AI/DisCO). Every loss is a pure function of
(l, l_old, l_ref, mask, rewards, uid, ...); the fixture holds the inputs (float64), the loss value and dloss/dl.

Run with PyTorch 1.13: /usr/bin/python3 tools/golden/policy_losses.py
"""
import json
import math
import os

import torch

torch.set_default_dtype(torch.float64)


def agg(x, m, kind, lmax):
    n = x.shape[0]
    if kind == "sequence_sum":
        return (x * m).sum(-1).mean()
    if kind == "sequence_mean":
        return ((x * m).sum(-1) / m.sum(-1)).mean()
    if kind == "token_mean":
        return (x * m).sum() / m.sum()
    if kind == "constant_length":
        return (x * m).sum() / (n * lmax)
    raise ValueError(kind)


def groups_of(uid):
    order = []
    for u in uid:
        if u not in order:
            order.append(u)
    return [[i for i, v in enumerate(uid) if v == u] for u in order]


def reinforce(l, m, r, uid, baseline, value, kind, lmax):
    r = torch.tensor(r, dtype=torch.float64)
    if baseline == "none":
        b = torch.zeros_like(r)
    elif baseline == "constant":
        b = torch.full_like(r, value)
    else:  # leave-one-out (RLOO)
        b = torch.zeros_like(r)
        for g in groups_of(uid):
            s = r[g].sum()
            for i in g:
                b[i] = (s - r[i]) / (len(g) - 1)
    a = r - b
    return -agg(a[:, None] * l, m, kind, lmax)


def remax(l, lref, m, r, rg, gamma, clip, kl, kind, lmax):
    a = torch.tensor(r, dtype=torch.float64) - torch.tensor(rg)
    if math.isfinite(clip):
        a = a.clamp(-clip, clip)
    t_len = m.sum(-1, keepdim=True)
    t = torch.arange(l.shape[1], dtype=l.dtype)[None, :]
    disc = gamma ** (t_len - t)
    ret = (-kl * (l - lref) + disc * a[:, None]).detach()
    return -agg(ret * l, m, kind, lmax)


def grpo_adv(r, uid, scale, eps):
    r = torch.tensor(r, dtype=torch.float64)
    a = torch.zeros_like(r)
    for g in groups_of(uid):
        rg = r[g]
        d = rg - rg.mean()
        if scale:
            d = d / (rg.std(unbiased=True) + eps)
        a[g] = d
    return a


def grpo(l, lold, lref, m, adv, elow, ehigh, dual, beta, kind, lmax):
    a = adv[:, None]
    ratio = torch.exp(l - lold)
    pl = torch.max(-a * ratio, -a * ratio.clamp(1 - elow, 1 + ehigh))
    if dual is not None:
        pl = torch.where(a < 0, torch.min(pl, -a * dual), pl)
    x = pl
    if beta != 0:
        d = lref - l
        x = x + beta * (torch.exp(d) - d - 1)
    return agg(x, m, kind, lmax)


def disco(l, lold, m, r, uid, robust, score, tau, kltype, beta, delta):
    ms = m.sum(-1)
    if score == "log_l":
        s = (l * m).sum(-1) / ms
    else:
        s = (torch.exp(l - lold) * m).sum(-1) / ms
    groups = groups_of(uid)
    total = torch.zeros(())
    for g in groups:
        pos = [i for i in g if r[i] == 1]
        neg = [i for i in g if r[i] == 0]
        if not pos or not neg:
            continue
        sp = s[pos].mean()
        if robust:
            sn = tau * (torch.logsumexp(s[neg] / tau, 0) - math.log(len(neg)))
        else:
            sn = s[neg].mean()
        total = total + (sp - sn)
    if kltype == "kl":
        k = ((lold - l) * m).sum() / m.sum()
    else:
        rho = torch.exp(l - lold)
        k = ((rho - 1 - (l - lold)) * m).sum() / m.sum()
    pen = (beta * (k - delta)).clamp(min=0).detach()
    return -total / len(groups) + pen * k


def flat(t):
    return [float(x) for x in t.detach().reshape(-1).tolist()]


def main():
    gen = torch.Generator().manual_seed(15)
    n, length, lmax = 16, 5, 6
    uid = [7, 7, 7, 7, 3, 3, 3, 3, 11, 11, 11, 11, 5, 5, 5, 5]
    lens = [5, 3, 1, 4, 2, 5, 5, 3, 4, 1, 2, 5, 3, 3, 4, 2]
    m = torch.zeros(n, length)
    for i, k in enumerate(lens):
        m[i, :k] = 1
    l0 = -torch.rand(n, length, generator=gen) * 2.5 - 0.05
    lold = l0 + 0.3 * torch.randn(n, length, generator=gen)
    lref = l0 + 0.25 * torch.randn(n, length, generator=gen)
    # binary: a mixed group, an all-correct group (zero advantage, skipped by DisCO), a 1-of-4 group, an all-wrong group
    rbin = [1, 0, 1, 0, 1, 1, 1, 1, 0, 1, 0, 0, 0, 0, 0, 0]
    rgraded = [float(f"{x:.6f}") for x in torch.rand(n, generator=gen).tolist()]
    rgreedy = [0, 0, 0, 0, 1, 1, 1, 1, 0, 0, 0, 0, 1, 1, 1, 1]

    cases = []

    def add(method, fn, **opts):
        l = l0.clone().requires_grad_(True)
        loss = fn(l)
        loss.backward()
        cases.append({"method": method, **opts, "loss": float(loss), "grad": flat(l.grad)})

    for kind in ["sequence_sum", "sequence_mean", "token_mean"]:
        for base, val in [("none", 0.0), ("constant", 0.35), ("leave_one_out", 0.0)]:
            for rname, r in [("binary", rbin), ("graded", rgraded)]:
                add("reinforce", lambda l: reinforce(l, m, r, uid, base, val, kind, lmax),
                    aggregation=kind, baseline=base, baseline_value=val, rewards=rname)
    for gamma, clip, kl in [(1.0, math.inf, 0.0), (0.99, 5.0, 0.05), (0.9, 0.5, 0.2)]:
        for kind in ["token_mean", "sequence_mean"]:
            for rname, r in [("binary", rbin), ("graded", rgraded)]:
                add("remax", lambda l: remax(l, lref, m, r, rgreedy, gamma, clip, kl, kind, lmax),
                    aggregation=kind, gamma=gamma, clip=(clip if math.isfinite(clip) else 1e300), kl=kl, rewards=rname)
    for rname, r in [("binary", rbin), ("graded", rgraded)]:
        for scale, eps in [(True, 1e-4), (False, 0.0), (True, 1e-6)]:
            adv = grpo_adv(r, uid, scale, eps)
            cases.append({"method": "grpo_advantages", "rewards": rname, "scale": scale, "eps_std": eps, "advantages": flat(adv)})
            for kind in ["sequence_mean", "token_mean", "constant_length"]:
                for elow, ehigh, dual, beta in [(0.2, 0.2, None, 0.0), (0.2, 0.28, None, 0.04), (0.2, 0.3, 3.0, 0.0), (0.1, 0.1, 1.5, 0.5)]:
                    add("grpo", lambda l: grpo(l, lold, lref, m, adv, elow, ehigh, dual, beta, kind, lmax),
                        rewards=rname, scale=scale, eps_std=eps, aggregation=kind, eps_low=elow, eps_high=ehigh,
                        dual_clip=(dual if dual is not None else 0.0), beta=beta)
    for robust in [False, True]:
        for score, tau in [("log_l", 10.0), ("l_ratio", 1.0), ("log_l", 0.5)]:
            for kltype in ["kl", "low_var_kl"]:
                for beta, delta in [(1e3, 1e-4), (10.0, 0.5)]:
                    add("disco", lambda l: disco(l, lold, m, rbin, uid, robust, score, tau, kltype, beta, delta),
                        robust=robust, score=score, tau=tau, kl_type=kltype, beta=beta, delta=delta)

    out = {
        "n": n, "length": length, "max_length": lmax, "uid": uid, "mask": flat(m),
        "logp": flat(l0), "logp_old": flat(lold), "logp_ref": flat(lref),
        "rewards_binary": rbin, "rewards_graded": rgraded, "rewards_greedy": rgreedy,
        "cases": cases,
    }
    path = os.path.join(os.path.dirname(__file__), "..", "..", "tests", "SharpOptim.Tests", "Golden", "policy_losses.json")
    with open(path, "w") as f:
        json.dump(out, f, indent=0)
    print(f"wrote {len(cases)} cases to {os.path.normpath(path)}")


if __name__ == "__main__":
    main()
