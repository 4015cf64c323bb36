"""Golden fixture for the PPO-style actor-critic (SharpOptim.Policy.Ppo): outcome token rewards (with the optional k1
KL-in-reward penalty), token-level GAE with verl's masked whitening, the clipped (and dual-clipped) policy surrogate and
the clipped value loss, with their gradients w.r.t. the log-probabilities and the value predictions.

Written from Schulman et al., "Proximal Policy Optimization Algorithms" (arXiv:1707.06347), Schulman et al., "High-
Dimensional Continuous Control Using Generalized Advantage Estimation" (arXiv:1506.02438) and the behaviour of verl's
verl/trainer/ppo/core_algos.py (compute_gae_advantage_return, compute_policy_loss vanilla, compute_value_loss,
apply_kl_penalty) and verl/utils/torch_functional.py (masked_mean, masked_var, masked_whiten), read, not copied.
Everything in float64; the masks are right-padded (a completion is its first |o_i| tokens).

Run with PyTorch 1.13: /usr/bin/python3 tools/golden/policy_ppo.py
"""
import json
import os

import torch

torch.set_default_dtype(torch.float64)


def flat(t):
    return [float(x) for x in t.reshape(-1).tolist()]


def masked_mean(x, m):
    return (x * m).sum() / m.sum()


def whiten(x, m):
    mu = masked_mean(x, m)
    n = m.sum()
    var = masked_mean((x - mu) ** 2, m) * n / (n - 1)   # unbiased (Bessel) over the masked entries
    return (x - mu) / torch.sqrt(var + 1e-8)


def token_rewards(r, m, lold, lref, beta):
    n, length = m.shape
    out = torch.zeros(n, length)
    lengths = m.sum(-1).long()
    for i in range(n):
        out[i, lengths[i] - 1] = r[i]              # outcome reward on the last real token
    if beta > 0:
        out = out - beta * (lold - lref) * m        # k1 estimate of KL(pi_old || pi_ref), per token
    return out


def gae(rew, v, m, gamma, lam, do_whiten):
    n, length = rew.shape
    adv = torch.zeros(n, length)
    next_v = torch.zeros(n)
    last = torch.zeros(n)
    for t in reversed(range(length)):
        delta = rew[:, t] + gamma * next_v - v[:, t]
        cand = delta + gamma * lam * last
        # masked (padding) positions carry the later value and running advantage through unchanged
        next_v = v[:, t] * m[:, t] + (1 - m[:, t]) * next_v
        last = cand * m[:, t] + (1 - m[:, t]) * last
        adv[:, t] = last
    ret = adv + v
    if do_whiten:
        adv = whiten(adv, m)
    return adv, ret


def policy_loss(l, lold, a, m, clip_low, clip_high, dual):
    ratio = torch.exp(l - lold)
    x1 = -a * ratio
    x2 = -a * torch.clamp(ratio, 1 - clip_low, 1 + clip_high)
    x = torch.maximum(x1, x2)
    if dual is not None:
        x = torch.where(a < 0, torch.minimum(x, -a * dual), x)
    return masked_mean(x, m)


def value_loss(v, vold, ret, m, c):
    vc = torch.maximum(torch.minimum(v, vold + c), vold - c)
    return 0.5 * masked_mean(torch.maximum((v - ret) ** 2, (vc - ret) ** 2), m)


def main():
    g = torch.Generator().manual_seed(15)
    n, length = 6, 5
    lengths = [5, 3, 1, 4, 5, 2]
    m = torch.zeros(n, length)
    for i, k in enumerate(lengths):
        m[i, :k] = 1
    lold = -torch.rand(n, length, generator=g) * 2 - 0.05
    l0 = lold + torch.randn(n, length, generator=g) * 0.35        # ratios well outside [0.8, 1.2] on some tokens
    lref = lold + torch.randn(n, length, generator=g) * 0.2
    vold = torch.randn(n, length, generator=g) * 0.5 + 0.3
    v0 = vold + torch.randn(n, length, generator=g) * 0.6          # some predictions move beyond the value clip
    rewards = [1.0, 0.0, 1.0, 0.0, 0.5, 1.0]
    r = torch.tensor(rewards)

    cases = []
    for gamma, lam, beta, do_whiten in [(1.0, 1.0, 0.0, True), (0.9, 0.8, 0.0, True), (0.95, 0.0, 0.05, True),
                                        (0.7, 1.0, 0.1, False), (0.0, 0.5, 0.0, True)]:
        rew = token_rewards(r, m, lold, lref, beta)
        adv, ret = gae(rew, vold, m, gamma, lam, do_whiten)
        case = {"gamma": gamma, "lam": lam, "kl": beta, "whiten": do_whiten,
                "token_rewards": flat(rew), "advantages": flat(adv), "returns": flat(ret), "policy": [], "value": []}
        for cl, ch, dual in [(0.2, 0.2, None), (0.2, 0.28, 3.0), (0.1, 0.3, 1.5)]:
            l = l0.clone().requires_grad_(True)
            loss = policy_loss(l, lold, adv, m, cl, ch, dual)
            loss.backward()
            case["policy"].append({"clip_low": cl, "clip_high": ch, "dual_clip": dual if dual is not None else "none",
                                   "loss": float(loss), "grad": flat(l.grad)})
        for c in [0.5, 0.2, 10.0]:
            v = v0.clone().requires_grad_(True)
            loss = value_loss(v, vold, ret, m, c)
            loss.backward()
            case["value"].append({"clip": c, "loss": float(loss), "grad": flat(v.grad)})
        cases.append(case)

    out = {"n": n, "length": length, "mask": flat(m), "logp": flat(l0), "logp_old": flat(lold), "logp_ref": flat(lref),
           "values": flat(v0), "values_old": flat(vold), "rewards": rewards, "cases": cases}
    path = os.path.join(os.path.dirname(__file__), "..", "..", "tests", "SharpOptim.Tests", "Golden", "policy_ppo.json")
    with open(path, "w") as f:
        json.dump(out, f, indent=0)
    print(f"wrote {len(cases)} cases to {os.path.normpath(path)}")


if __name__ == "__main__":
    main()
