"""Golden fixture for DADAO (Nabli and Oyallon, "DADAO: Decoupled Accelerated Decentralized Asynchronous Optimization",
ICML 2023, arXiv:2208.00779), written here from the official code's equations (AdelNabli/DADAO optimizers.py
DADAO_optimizer: initialize / update_params_i_after_ode / step; utils.py graph constants) as summarised in
../shared/papers/distributed.md §5. float64 throughout; the linear ODE between events is applied with
torch.linalg.matrix_exp (the C# side uses its own scaling-and-squaring exponential).

The event list (200 events: gradient events at a uniformly drawn node, communication events on a uniformly drawn edge,
from two Poisson clocks of rates n and sqrt(2 chi1 chi2)) is drawn here with NumPy and stored in the fixture; the C#
test replays it. Checkpoints: all six state blocks of every node after every 10th event.

Usage: /usr/bin/python3 tools/golden/distributed_dadao.py > tests/SharpOptim.Tests/Golden/distributed_dadao.json
"""
import json
import sys

import numpy as np
import torch

torch.set_default_dtype(torch.float64)
rng = np.random.default_rng(2023)
N, D, M = 6, 3, 8           # nodes, dimension, samples per node
EDGES = [(0, 1), (1, 2), (2, 3), (3, 4), (4, 5), (5, 0), (0, 3)]
MU = 0.1
A = rng.standard_normal((N, M, D))
Y = np.where(rng.random((N, M)) < 0.5, -1.0, 1.0)
X0 = rng.standard_normal(D)


def local_loss(i, x):
    a = torch.tensor(A[i]); y = torch.tensor(Y[i])
    return torch.nn.functional.softplus(-y * (a @ x)).mean() + 0.5 * MU * (x @ x)


def grad(i, x):
    x = torch.tensor(x, requires_grad=True)
    local_loss(i, x).backward()
    return x.grad.numpy()


# worst local smoothness: ||A_i||_2^2 / (4 m) + mu; strong convexity mu
L = max(np.linalg.norm(A[i], 2) ** 2 / (4 * M) + MU for i in range(N))

lap = np.zeros((N, N))
for i, j in EDGES:
    lap[i, i] += 1; lap[j, j] += 1; lap[i, j] -= 1; lap[j, i] -= 1
lap /= len(EDGES)
eig = np.linalg.eigvalsh(lap)
chi1 = 1 / min(e for e in eig if e > 1e-10)
pinv = np.linalg.pinv(lap)
chi2 = max(0.5 * (pinv[i, i] + pinv[j, j] - 2 * pinv[i, j]) for i, j in EDGES)
lam_mix = np.sqrt(2 * chi1 * chi2)
chi1_star = chi1 / lam_mix

nu = MU / 2
alpha = 0.25 * np.sqrt(nu / L); alpha_t = 0.125 * np.sqrt(nu / L)
eta = 0.125 * np.sqrt(nu / L); eta_t = eta
theta = 0.5 * np.sqrt(L / nu)
beta = 0.5; beta_t = 2 * chi1_star * np.sqrt(L / nu)
delta = 0.25 * np.sqrt(nu / L); delta_t = 1.0
gamma = 1 / (4 * L); gamma_t = 1 / (4 * np.sqrt(L * nu))
ode = torch.zeros(6, 6)
ode[0, 0] = -eta; ode[0, 1] = eta; ode[1, 0] = eta_t; ode[1, 1] = -eta_t
ode[2, 2] = -alpha; ode[2, 3] = alpha
ode[3, 1] = -theta * nu; ode[3, 2] = -theta; ode[3, 4] = -theta
ode[4, 4] = -alpha; ode[4, 5] = alpha; ode[5, 4] = alpha_t; ode[5, 5] = -alpha_t

# events: two Poisson clocks merged in time order
events = []
for rate, kind in ((float(N), "g"), (lam_mix, "c")):
    t = 0.0
    while True:
        t += -np.log(rng.random()) / rate
        if len([e for e in events if e[1] == kind]) >= 200:
            break
        if kind == "g":
            events.append((t, "g", int(rng.integers(N)), -1))
        else:
            i, j = EDGES[int(rng.integers(len(EDGES)))]
            events.append((t, "c", i, j))
events.sort(key=lambda e: e[0])
events = events[:200]

S = torch.zeros(N, 6, D)      # blocks x, x~, y, y~, z, z~
S[:, 0, :] = torch.tensor(X0)
last = np.zeros(N)


def integrate(i, t):
    S[i] = torch.linalg.matrix_exp(ode * (t - last[i])) @ S[i]
    last[i] = t


checkpoints = []
for k, (t, kind, i, j) in enumerate(events):
    if kind == "g":
        integrate(i, t)
        r = torch.tensor(grad(i, S[i, 0].numpy())) - nu * S[i, 0] - S[i, 3]
        S[i, 0] -= gamma * r; S[i, 1] -= gamma_t * r; S[i, 3] += (delta + delta_t) * r
    else:
        integrate(i, t); integrate(j, t)
        m = (S[i, 2] + S[i, 4]) - (S[j, 2] + S[j, 4])
        S[i, 4] -= beta * m; S[i, 5] -= beta_t * m
        S[j, 4] += beta * m; S[j, 5] += beta_t * m
    if (k + 1) % 10 == 0:
        checkpoints.append({"after": k + 1, "state": S.reshape(-1).tolist()})

json.dump({
    "nodes": N, "dim": D, "samples": M, "mu": MU, "L": L, "edges": EDGES, "chi1": chi1, "chi2": chi2,
    "a": A.reshape(-1).tolist(), "y": Y.reshape(-1).tolist(), "x0": X0.tolist(),
    "events": [{"t": t, "kind": kind, "i": i, "j": j} for t, kind, i, j in events],
    "checkpoints": checkpoints,
}, sys.stdout, separators=(",", ":"), sort_keys=True)
