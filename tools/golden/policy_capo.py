"""Golden fixture for CAPO (SharpOptim.Policy.Capo): per-token predicted effects of an output-layer step, the token
mask, the masked GRPO loss and its gradient, and the shadow-Adam state update.

Written from the implementation brief (shared/papers/policy.md section 5), which restates the official code
(luckeciano/stable-pg-llm, src/open_r1/grpo_entropy_trainer.py and sparse_optim_models/sparse_adam_model.py).
Melo, Abate & Gal, "Stabilizing Policy Gradients for Sample-Efficient Reinforcement Learning in LLM Reasoning",
arXiv 2510.00819. Per token with sequence advantage A, final hidden state h, output weight W, pi = softmax(W h),
sampled token a, v = e_a - pi:
  G = A v h^T; D = bias-corrected Adam step of G on the shadow state (or G); u = D h;
  <G, D>; H = A[(v.u)^2 - u^T (diag(pi) - pi pi^T) u];
  dJ = lr <G,D> + lr^2/2 H; dKL = lr^2/2 (v.u)^2; keep iff -tauH < dJ < tauH (or 0 <= dJ < tauH) and dKL < tauF.
Independent cross-checks asserted here: H equals the autograd second derivative of A pi_{W+tD}(a)/pi_W(a) at t = 0,
<G,D> its first derivative, and the shadow-Adam direction equals the step torch.optim.Adam takes on W alone after
the same gradient history.

Run with PyTorch 1.13: /usr/bin/python3 tools/golden/policy_capo.py
"""
import json
import os

import torch

torch.set_default_dtype(torch.float64)


def flat(t):
    return [float(x) for x in t.reshape(-1).tolist()]


def advantages(r, uid):
    r = torch.tensor(r)
    a = torch.zeros_like(r)
    for u in sorted(set(uid)):
        idx = [i for i, x in enumerate(uid) if x == u]
        a[idx] = r[idx] - r[idx].mean()
    return a


def direction(G, state, b1, b2, eps, adam):
    if not adam or state is None:
        return G.clone()
    m, v, n = state
    m2 = b1 * m + (1 - b1) * G
    v2 = b2 * v + (1 - b2) * G * G
    return (m2 / (1 - b1 ** (n + 1))) / ((v2 / (1 - b2 ** (n + 1))).sqrt() + eps)


def effects(h, W, tok, A, lr, state, b1, b2, eps, adam):
    logits = h @ W.T
    pi = torch.softmax(logits, -1)
    v = torch.nn.functional.one_hot(tok, W.shape[0]).to(h.dtype) - pi
    G = A[:, None, None, None] * v[..., None] * h[..., None, :]
    D = direction(G, state, b1, b2, eps, adam)
    u = (D * h[..., None, :]).sum(-1)
    first = (G * D).sum((-1, -2))
    vu = (v * u).sum(-1)
    pu = (pi * u).sum(-1)
    ufu = (pi * u * u).sum(-1) - pu * pu
    curv = A[:, None] * (vu * vu - ufu)
    dj = lr * first + 0.5 * lr * lr * curv
    dkl = 0.5 * lr * lr * vu * vu
    return G, D, first, curv, dj, dkl


def autograd_check(h, W, tok, A, D, first, curv):
    n, l = tok.shape
    for i in range(n):
        for t in range(l):
            def f(s):
                p = torch.softmax((W + s * D[i, t]) @ h[i, t], -1)[tok[i, t]]
                p0 = torch.softmax(W @ h[i, t], -1)[tok[i, t]]
                return A[i] * p / p0.detach()
            s = torch.zeros((), requires_grad=True)
            y = f(s)
            (d1,) = torch.autograd.grad(y, s, create_graph=True)
            (d2,) = torch.autograd.grad(d1, s)
            assert abs(float(d1) - float(first[i, t])) < 1e-10 * max(1.0, abs(float(first[i, t]))), (i, t, float(d1), float(first[i, t]))
            assert abs(float(d2) - float(curv[i, t])) < 1e-9 * max(1.0, abs(float(curv[i, t]))), (i, t, float(d2), float(curv[i, t]))


def torch_adam_check(W, history, G, b1, b2, eps):
    # The direction after a history of row gradients must be the step torch.optim.Adam (lr 1) takes on W alone.
    w = torch.nn.Parameter(W.clone())
    opt = torch.optim.Adam([w], lr=1.0, betas=(b1, b2), eps=eps)
    m = torch.zeros_like(W)
    v = torch.zeros_like(W)
    for g in history:
        w.grad = g.clone()
        opt.step()
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g * g
    before = w.detach().clone()
    w.grad = G.clone()
    opt.step()
    step = before - w.detach()
    d = direction(G, (m, v, len(history)), b1, b2, eps, True)
    assert (step - d).abs().max() < 1e-12, float((step - d).abs().max())
    return m, v


def between(values, q):
    s = sorted(values)
    k = int(q * (len(s) - 1))
    return 0.5 * (s[k] + s[k + 1])


def main():
    torch.manual_seed(15)
    n, l, vocab, hdim = 6, 3, 5, 4
    uid = [0, 0, 0, 1, 1, 1]
    rewards = [1.0, 0.0, 0.0, 1.0, 1.0, 0.0]
    A = advantages(rewards, uid)
    h = torch.randn(n, l, hdim)
    W = 0.7 * torch.randn(vocab, hdim)
    tok = torch.randint(0, vocab, (n, l))
    mask = torch.ones(n, l)
    mask[1, 2] = 0
    mask[4, 1:] = 0
    lp_all = torch.log_softmax(h @ W.T, -1).gather(-1, tok[..., None])[..., 0]
    lold = lp_all + 0.3 * torch.randn(n, l)
    lr = 0.05
    b1, b2, eps = 0.9, 0.999, 1e-8
    history = [0.5 * torch.randn(vocab, hdim), 0.5 * torch.randn(vocab, hdim)]
    m0, v0 = torch_adam_check(W, history, 0.3 * torch.randn(vocab, hdim), b1, b2, eps)
    cases = []
    for name, adam, with_state, symmetric, qh, qf in [
        ("adam_symmetric", True, True, True, 0.6, 0.7),
        ("adam_one_sided", True, True, False, 0.8, 0.8),
        ("sgd_symmetric", False, True, True, 0.5, 0.6),
        ("adam_no_state", True, False, True, 0.7, 0.5),
    ]:
        state = (m0, v0, len(history)) if with_state else None
        G, D, first, curv, dj, dkl = effects(h, W, tok, A, lr, state, b1, b2, eps, adam)
        autograd_check(h, W, tok, A, D, first, curv)
        real = mask > 0
        tau_h = between([abs(float(x)) for x in dj[real]], qh)
        tau_f = between([float(x) for x in dkl[real]], qf)
        if symmetric:
            keep_j = (dj > -tau_h) & (dj < tau_h)
        else:
            keep_j = (dj >= 0) & (dj < tau_h)
        keep = (keep_j & (dkl < tau_f) & real).to(h.dtype)
        # Loss: GRPO clipped surrogate (beta = 0), mean over kept tokens per sequence, then over sequences.
        lp = lp_all.clone().requires_grad_(True)
        ratio = (lp - lold).exp()
        x = torch.max(-A[:, None] * ratio, -A[:, None] * ratio.clamp(0.8, 1.2))
        loss = ((x * keep * mask).sum(-1) / (keep * mask).sum(-1).clamp(min=1.0)).mean()
        (grad,) = torch.autograd.grad(loss, lp)
        # Shadow-state update: mean of the kept tokens' G (every row occurs once per kept token: full vocabulary).
        count = float(keep.sum())
        if count > 0:
            gbar = (G * keep[..., None, None]).sum((0, 1)) / count
            if with_state:
                m1 = b1 * m0 + (1 - b1) * gbar
                v1 = b2 * v0 + (1 - b2) * gbar * gbar
                n1 = len(history) + 1
            else:
                m1 = (1 - b1) * gbar
                v1 = (1 - b2) * gbar * gbar
                n1 = 1
        else:
            m1, v1, n1 = (m0, v0, len(history)) if with_state else (torch.zeros_like(W), torch.zeros_like(W), 0)
        cases.append({
            "name": name, "adam": adam, "with_state": with_state, "symmetric": symmetric, "tau_h": tau_h, "tau_f": tau_f,
            "first_order": flat(first), "curvature": flat(curv), "delta_j": flat(dj), "delta_kl": flat(dkl),
            "keep": flat(keep), "kept": count, "loss": float(loss), "grad": flat(grad),
            "m_after": flat(m1), "v_after": flat(v1), "step_after": n1,
        })
        print(name, "kept", int(count), "of", int(mask.sum()))
    out = {
        "n": n, "length": l, "vocabulary": vocab, "hidden_size": hdim, "uid": uid, "rewards": rewards,
        "advantages": flat(A), "hidden": flat(h), "weight": flat(W), "tokens": [int(x) for x in tok.reshape(-1)],
        "mask": flat(mask), "logp": flat(lp_all), "logp_old": flat(lold), "lr": lr, "beta1": b1, "beta2": b2, "eps": eps,
        "clip": 0.2, "m": flat(m0), "v": flat(v0), "step": len(history), "cases": cases,
    }
    path = os.path.join(os.path.dirname(__file__), "..", "..", "tests", "SharpOptim.Tests", "Golden", "policy_capo.json")
    with open(path, "w") as f:
        json.dump(out, f, indent=0)
    print("wrote", os.path.normpath(path))


if __name__ == "__main__":
    main()
