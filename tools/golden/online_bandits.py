#!/usr/bin/env python3
"""Golden fixture for the contextual bandits in src/SharpOptim/Online, float64 throughout, written here from the rules
in ../shared/papers/online.md (sections 0.1, 4-7) and the official NeuralUCB/NeuralTS code's behaviour (read, not
copied):

  data:     sklearn digits from data/sklearn/digits.csv.gz in file order, each row L2-normalized (raw 0..16 pixels);
            the stream is a numpy permutation stored in the fixture; reward 1 for the label's arm, else 0.
  linucb:   per-arm A^-1 (Sherman-Morrison), b; p_a = b^T A^-1 x + alpha sqrt(max(0, x^T A^-1 x)); argmax (lowest
            index on ties); all 1,797 rounds; arms and final regret (mistakes).
  diag:     Diag-LinUCB on a random sparse-context stream (C = 8 clusters, K = 4 arms, 3 non-zeros, Bernoulli
            rewards from the fixture): score sum w b/d + alpha sqrt(sum w^2/d); d += w^2, b += w r.
  probs:    SquareCB p_a = 1/(K + gamma gap_a), rest to the best; FastCB with y clamped to [lb, ub],
            p_a = (y_b - lb)/(K (y_b - lb) + gamma gap_a), uniform when y_b <= lb.
  regression: SquareCB / FastCB with the same network as an online regressor, full loop for 200 rounds on recorded
            uniforms: arms, probabilities at rounds 0, 1, 50, 199, final parameters (one plain SGD step per round, lr
            0.05, square loss or BCE-with-logits; no replay steps, whose C# draws PyTorch cannot reproduce).
  neural:   NeuralUCB / NeuralTS as learner_diag.py: f = fc2(relu(fc1 x)), disjoint dK = 640 inputs, hidden 20,
            float64, parameters from a fixed formula (below); sigma = sqrt(sum(lam nu g^2 / U)); UCB mu + sigma,
            TS mu + sigma z (z recorded here); U += g_arm^2 in selection; train every round (reduced schedule, t < 300,
            at most 100 SGD steps, lr 0.01, weight decay lam, single-sample (f - r)^2, history order, no shuffle,
            stop when an epoch's mean loss <= 1e-3); 200 rounds.

Usage: /usr/bin/python3 tools/golden/online_bandits.py > tests/SharpOptim.Tests/Golden/online_bandits.json
"""
import gzip
import json
import math
import os
import sys

import numpy as np
import torch

torch.set_default_dtype(torch.float64)


def digits(root):
    with gzip.open(os.path.join(root, "data", "sklearn", "digits.csv.gz"), "rt") as f:
        rows = [list(map(float, line.split(","))) for line in f.read().split("\n") if line.strip()]
    a = np.array(rows)
    x, y = a[:, :64], a[:, 64].astype(int)
    x = x / np.sqrt((x * x).sum(axis=1, keepdims=True))
    return x, y


def linucb(x, y, order, alpha, lam):
    k, d = 10, x.shape[1]
    ainv = [np.eye(d) / lam for _ in range(k)]
    b = [np.zeros(d) for _ in range(k)]
    arms, first_scores = [], []
    for t, i in enumerate(order):
        xi = x[i]
        p = []
        for a in range(k):
            u = ainv[a] @ xi
            p.append(b[a] @ u + alpha * math.sqrt(max(xi @ u, 0.0)))
        if t < 3:
            first_scores.append(p)
        a = int(np.argmax(p))
        arms.append(a)
        r = 1.0 if a == y[i] else 0.0
        u = ainv[a] @ xi
        ainv[a] = ainv[a] - np.outer(u, u) / (1.0 + xi @ u)
        b[a] = b[a] + r * xi
    regret = int(sum(1 for t, i in enumerate(order) if arms[t] != y[i]))
    return dict(alpha=alpha, ridge=lam, arms=arms, regret=regret, first_scores=first_scores)


def diag(rng):
    C, K, T, alpha, lam = 8, 4, 300, 0.5, 1.0
    ws, rewards = [], []
    theta = rng.uniform(size=(K, C))
    for _ in range(T):
        w = np.zeros(C)
        idx = rng.choice(C, size=3, replace=False)
        w[idx] = rng.dirichlet(np.ones(3))
        ws.append(w.tolist())
    us = rng.uniform(size=(T, K)).tolist()
    d = np.full((K, C), lam)
    bb = np.zeros((K, C))
    arms = []
    for t in range(T):
        w = np.array(ws[t])
        nz = w != 0
        s = [float((w[nz] * bb[a][nz] / d[a][nz]).sum() + alpha * math.sqrt((w[nz] ** 2 / d[a][nz]).sum())) for a in range(K)]
        a = int(np.argmax(s))
        r = 1.0 if us[t][a] < float(theta[a] @ w) else 0.0
        rewards.append(r)
        arms.append(a)
        d[a][nz] += w[nz] ** 2
        bb[a][nz] += w[nz] * r
    return dict(clusters=C, arms_count=K, alpha=alpha, ridge=lam, contexts=ws, rewards=rewards, arms=arms,
                precision=d.tolist(), response=bb.tolist())


def square_cb(y, gamma):
    k = len(y)
    best = int(np.argmax(y))
    p = [0.0] * k
    rest = 0.0
    for a in range(k):
        if a != best:
            p[a] = 1.0 / (k + gamma * (y[best] - y[a]))
            rest += p[a]
    p[best] = 1.0 - rest
    return p


def fast_cb(y, gamma, lb, ub):
    k = len(y)
    y = [min(max(v, lb), ub) for v in y]
    best = int(np.argmax(y))
    top = y[best] - lb
    if top <= 0:
        return [1.0 / k] * k
    p = [0.0] * k
    rest = 0.0
    for a in range(k):
        if a != best:
            p[a] = top / (k * top + gamma * (y[best] - y[a]))
            rest += p[a]
    p[best] = 1.0 - rest
    return p


def probs(rng):
    cases = []
    ys = [rng.uniform(size=5).tolist(), rng.normal(size=8).tolist(), [0.3, 0.7, 0.7, 0.1], [1.4, -0.2, 0.5],
          [-0.5, -0.1, -2.0], [0.0, 0.0, 0.0], [0.2]]
    for y in ys:
        for gamma in [0.0, 10.0, 134.0, 1000.0]:
            cases.append(dict(predicted=y, gamma=gamma, square=square_cb(y, gamma), fast=fast_cb(y, gamma, 0.0, 1.0)))
    return cases


def init_params(n_in, hidden):
    """The fixture's deterministic initialization (same formula in the C# test): value k of the flattened parameters
    (fc1.weight, fc1.bias, fc2.weight, fc2.bias) is ((7919 k + 17) mod 2001 - 1000)/1000 / sqrt(fan_in)."""
    p = hidden * n_in + 2 * hidden + 1
    out = []
    for k in range(p):
        fan = n_in if k < hidden * n_in + hidden else hidden
        out.append(((7919 * k + 17) % 2001 - 1000) / 1000.0 * (1.0 / math.sqrt(fan)))
    return out


def neural(x, y, order, ts, zs, T, hidden, lam, nu):
    K, d = 10, x.shape[1]
    n_in = K * d
    fc1 = torch.nn.Linear(n_in, hidden)
    fc2 = torch.nn.Linear(hidden, 1)
    params = [fc1.weight, fc1.bias, fc2.weight, fc2.bias]
    flat = torch.tensor(init_params(n_in, hidden))
    with torch.no_grad():
        o = 0
        for p in params:
            p.copy_(flat[o:o + p.numel()].view_as(p))
            o += p.numel()
    f = lambda v: fc2(torch.relu(fc1(v)))
    U = lam * torch.ones(flat.numel())
    opt = torch.optim.SGD(params, lr=1e-2, weight_decay=lam)
    hist_c, hist_r = [], []
    arms, first_block, sigmas = [], None, []
    for t in range(T):
        i = order[t]
        ctx = torch.zeros(K, n_in)
        for a in range(K):
            ctx[a, a * d:(a + 1) * d] = torch.tensor(x[i])
        scores, grads = [], []
        for a in range(K):
            fx = f(ctx[a])
            g = torch.cat([gg.flatten() for gg in torch.autograd.grad(fx.sum(), params)])
            sigma = torch.sqrt(torch.sum(lam * nu * g * g / U)).item()
            if t < 2:
                sigmas.append(sigma)
            scores.append(fx.item() + sigma * (zs[t][a] if ts else 1.0))
            grads.append(g)
        a = int(np.argmax(scores))
        arms.append(a)
        U += grads[a] * grads[a]
        r = 1.0 if a == y[i] else 0.0
        hist_c.append(ctx[a].clone())
        hist_r.append(r)
        cnt, tot = 0, 0.0
        done = False
        while not done:
            batch = 0.0
            for j in range(len(hist_r)):
                opt.zero_grad()
                delta = f(hist_c[j]) - hist_r[j]
                loss = (delta * delta).sum()
                loss.backward()
                opt.step()
                batch += loss.item()
                cnt += 1
                if cnt >= 100:
                    done = True
                    break
            if not done and batch / len(hist_r) <= 1e-3:
                done = True
        if t == 0:
            a0 = arms[0]
            w = fc1.weight.detach()
            first_block = dict(arm=a0, fc1_block=w[:, a0 * d:(a0 + 1) * d].flatten().tolist(), fc1_bias=fc1.bias.detach().tolist(),
                               fc2_weight=fc2.weight.detach().flatten().tolist(), fc2_bias=fc2.bias.item(),
                               fc1_other_sum=float(w.sum() - w[:, a0 * d:(a0 + 1) * d].sum()))
    regret = int(sum(1 for t in range(T) if arms[t] != y[order[t]]))
    allp = torch.cat([p.detach().flatten() for p in params])
    return dict(arms=arms, regret=regret, first_train=first_block, first_sigmas=sigmas, u_sum=U.sum().item(),
                u_tail=U[hidden * n_in:].tolist(), param_sum=allp.sum().item(), param_sq=(allp * allp).sum().item())


def sample(p, u):
    """The first arm whose cumulative probability exceeds u (the last arm with positive probability otherwise)."""
    c, last = 0.0, 0
    for a, pa in enumerate(p):
        if pa <= 0:
            continue
        last = a
        c += pa
        if u < c:
            return a
    return last


def regression_cb(x, y, order, fast, gamma, us, T, hidden, lr):
    """SquareCB (square loss, p from square_cb on f) or FastCB (logistic loss, p from fast_cb on sigmoid(f)) with the
    two-layer network as online regressor: predict every arm, sample the arm with the recorded uniform, then one plain
    SGD step (torch.optim.SGD, lr) on the new sample's loss (f - r)^2 or BCE-with-logits(f, r); no replay steps."""
    K, d = 10, x.shape[1]
    n_in = K * d
    fc1 = torch.nn.Linear(n_in, hidden)
    fc2 = torch.nn.Linear(hidden, 1)
    params = [fc1.weight, fc1.bias, fc2.weight, fc2.bias]
    flat = torch.tensor(init_params(n_in, hidden))
    with torch.no_grad():
        o = 0
        for p in params:
            p.copy_(flat[o:o + p.numel()].view_as(p))
            o += p.numel()
    f = lambda v: fc2(torch.relu(fc1(v)))
    opt = torch.optim.SGD(params, lr=lr)
    arms, probs_at = [], {}
    for t in range(T):
        i = order[t]
        ctx = torch.zeros(K, n_in)
        for a in range(K):
            ctx[a, a * d:(a + 1) * d] = torch.tensor(x[i])
        with torch.no_grad():
            out = [f(ctx[a]).item() for a in range(K)]
        if fast:
            yhat = [1.0 / (1.0 + math.exp(-v)) for v in out]
            p = fast_cb(yhat, gamma, 0.0, 1.0)
        else:
            yhat = out
            p = square_cb(yhat, gamma)
        a = sample(p, us[t])
        arms.append(a)
        if t in (0, 1, 50, T - 1):
            probs_at[str(t)] = dict(predicted=yhat, probabilities=p)
        r = 1.0 if a == y[i] else 0.0
        opt.zero_grad()
        v = f(ctx[a]).sum()
        loss = torch.nn.functional.binary_cross_entropy_with_logits(v, torch.tensor(r)) if fast else (v - r) ** 2
        loss.backward()
        opt.step()
    regret = int(sum(1 for t in range(T) if arms[t] != y[order[t]]))
    allp = torch.cat([p.detach().flatten() for p in params])
    return dict(arms=arms, regret=regret, probabilities_at=probs_at, param_sum=allp.sum().item(),
                param_sq=(allp * allp).sum().item(), fc2_weight=fc2.weight.detach().flatten().tolist(), fc2_bias=fc2.bias.item())


def main():
    root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
    rng = np.random.default_rng(17)
    x, y = digits(root)
    order = rng.permutation(len(y)).tolist()
    T, hidden, lam, nu = 200, 20, 0.001, 1.0
    zs = rng.normal(size=(T, 10)).tolist()
    out = dict(
        order=order,
        linucb=linucb(x, y, order, 0.3, 1.0),
        diag=diag(rng),
        probabilities=probs(rng),
        neural=dict(rounds=T, hidden=hidden, **{"lambda": lam}, nu=nu, normals=zs,
                    ucb=neural(x, y, order, False, zs, T, hidden, lam, nu),
                    ts=neural(x, y, order, True, zs, T, hidden, lam, nu)),
    )
    # Drawn after everything above, so the earlier entries are unchanged by this addition.
    us = rng.uniform(size=T).tolist()
    out["regression"] = dict(rounds=T, hidden=hidden, gamma=134.0, learning_rate=0.05, uniforms=us,
                             squarecb=regression_cb(x, y, order, False, 134.0, us, T, hidden, 0.05),
                             fastcb=regression_cb(x, y, order, True, 134.0, us, T, hidden, 0.05))
    json.dump(out, sys.stdout, separators=(",", ":"))


if __name__ == "__main__":
    main()
