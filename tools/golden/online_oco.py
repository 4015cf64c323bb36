#!/usr/bin/env python3
"""Golden fixture for the full-information online learners in src/SharpOptim/Online (float64, plain Python loops
so that every sum runs in index order as the C# code does). Written here from the update rules stated in
../shared/papers/online.md (sections 1-3), not from any library:

  ogd:        x_{t+1} = Proj_R(x_t - eta_t g_t), eta_t = D/(G sqrt t), D = 2R, x_1 = 0
  hedge:      log-weights w -= eta * loss; x = exp(w - max w) / sum   (two streams: losses in [0,1]; huge losses)
  ftrl_prox:  sigma = (sqrt(n+g^2) - sqrt n)/alpha; n += g^2; z += g - sigma w;
              w = 0 if |z| <= l1 else -(z - sign(z) l1)/((beta + sqrt n)/alpha + l2)
  ftrl:       x_{t+1} = Proj_R(-eta (sum_{s<=t} g_s + g_t))   (linearized FTRL with the last-gradient hint)
  optimistic: x_t = Proj_R(xh_t - eta_t M_t); xh_{t+1} = Proj_R(xh_t - eta_t g_t); M_{t+1} = g_t;
              eta_t = min(D / sqrt(delta + sum_{s<t} |g_s - M_s|^2), 1/(c L)), on a recorded online logistic
              regression stream from breast_cancer (standardized with the first 100 rows' statistics),
              f_t(x) = mean_{i in B_t} log(1 + exp(-y_i <x, z_i>)) + (lam/2)|x|^2, y in {-1, +1}.
Random inputs come from numpy's seeded generator and are stored in the fixture.

Usage: /usr/bin/python3 tools/golden/online_oco.py > tests/SharpOptim.Tests/Golden/online_oco.json
"""
import json
import math
import os
import sys

import numpy as np


def norm(x):
    s = 0.0
    for v in x:
        s += v * v
    return math.sqrt(s)


def project(x, r):
    n = norm(x)
    if n <= r * (1 + 1e-13):  # the C# projection's slack (keeps projection idempotent under rounding)
        return list(x)
    scale = r / n
    return [v * scale for v in x]


def ogd(rng):
    d, T, R, G = 5, 40, 1.0, 3.0
    D = 2 * R
    gs = rng.normal(size=(T, d)).tolist()
    x = [0.0] * d
    points = [list(x)]
    for t in range(1, T + 1):
        eta = D / (G * math.sqrt(t))
        x = project([x[i] - eta * gs[t - 1][i] for i in range(d)], R)
        points.append(list(x))
    return dict(dimension=d, radius=R, lipschitz=G, gradients=gs, points=points)


def hedge_stream(losses, eta):
    n = len(losses[0])
    w = [0.0] * n

    def probs(w):
        m = max(w)
        w[:] = [v - m for v in w]
        e = [math.exp(v) for v in w]
        z = 0.0
        for v in e:
            z += v
        return [v / z for v in e]

    out = [probs(w)]
    for g in losses:
        w = [w[i] - eta * g[i] for i in range(n)]
        out.append(probs(w))
    return dict(experts=n, learning_rate=eta, losses=losses, points=out)


def ftrl_proximal(rng):
    d, T = 8, 40
    alpha, beta, l1, l2, n0 = 0.1, 1.0, 0.3, 0.5, 0.1
    gs = (rng.normal(size=(T, d)) * np.array([0.05, 0.1, 0.2, 0.5, 1, 2, 0.3, 0.02])).tolist()
    n = [n0] * d
    z = [0.0] * d
    w = [0.0] * d
    ws, zs = [], []
    for g in gs:
        for i in range(d):
            nn = n[i] + g[i] * g[i]
            sq = math.sqrt(nn)
            sigma = (sq - math.sqrt(n[i])) / alpha
            n[i] = nn
            z[i] += g[i] - sigma * w[i]
            w[i] = 0.0 if abs(z[i]) <= l1 else -(z[i] - math.copysign(1.0, z[i]) * l1) / ((beta + sq) / alpha + l2)
        ws.append(list(w))
        zs.append(list(z))
    return dict(dimension=d, alpha=alpha, beta=beta, l1=l1, l2=l2, initial_accumulator=n0, gradients=gs, weights=ws, z=zs)


def ftrl(rng):
    d, T, R, eta = 5, 30, 1.0, 0.2
    gs = (rng.normal(size=(T, d)) * 0.5 + 0.3).tolist()
    s = [0.0] * d
    points = [[0.0] * d]
    for g in gs:
        s = [s[i] + g[i] for i in range(d)]
        points.append(project([-eta * (s[i] + g[i]) for i in range(d)], R))
    return dict(dimension=d, radius=R, learning_rate=eta, gradients=gs, points=points)


def logistic_grad(x, rows, ys, lam):
    d = len(x)
    g = [0.0] * d
    for z, y in zip(rows, ys):
        m = 0.0
        for i in range(d):
            m += x[i] * z[i]
        c = -y / (1.0 + math.exp(y * m))
        for i in range(d):
            g[i] += c * z[i]
    b = len(rows)
    return [g[i] / b + lam * x[i] for i in range(d)]


def optimistic(rng, root):
    raw = np.loadtxt(os.path.join(root, "data", "sklearn", "breast_cancer.csv"), delimiter=",", skiprows=1)
    feats, labels = raw[:, :30], raw[:, 30]
    mean = feats[:100].mean(axis=0)
    std = feats[:100].std(axis=0)
    n_rows = 120
    zs = ((feats[:n_rows] - mean) / std).tolist()
    ys = [1.0 if v == 1 else -1.0 for v in labels[:n_rows]]
    d, T, b, R, lam, delta, L, c = 30, 60, 4, 5.0, 0.01, 1.0, 2.0, 4.0
    batches = [rng.integers(0, n_rows, size=b).tolist() for _ in range(T)]
    xh = [0.0] * d
    M = [0.0] * d
    S = 0.0
    points = []
    for t in range(T):
        eta = min(2 * R / math.sqrt(delta + S), 1.0 / (c * L))
        x = project([xh[i] - eta * M[i] for i in range(d)], R)
        points.append(x)
        g = logistic_grad(x, [zs[j] for j in batches[t]], [ys[j] for j in batches[t]], lam)
        e = 0.0
        for i in range(d):
            e += (g[i] - M[i]) ** 2
        xh = project([xh[i] - eta * g[i] for i in range(d)], R)
        S += e
        M = g
    return dict(dimension=d, radius=R, l2=lam, delta=delta, smoothness=L, cap_constant=c, features=zs, labels=ys,
                batches=batches, points=points, hint_error_sum=S)


def main():
    root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
    rng = np.random.default_rng(20261130)
    out = dict(
        ogd=ogd(rng),
        hedge=hedge_stream(rng.uniform(size=(40, 6)).tolist(), 0.7),
        hedge_huge=hedge_stream((rng.uniform(size=(30, 4)) * 1e4).tolist(), 2.0),
        ftrl_proximal=ftrl_proximal(rng),
        ftrl=ftrl(rng),
        optimistic=optimistic(rng, root),
    )
    json.dump(out, sys.stdout, separators=(",", ":"))


if __name__ == "__main__":
    main()
