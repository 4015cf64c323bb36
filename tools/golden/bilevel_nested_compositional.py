#!/usr/bin/env python3
"""Golden fixture for SharpOptim.Bilevel.NestedCompositionalBilevel (float64), the library's RECONSTRUCTION of the
nested compositional bilevel method (Chen, Balasubramanian, Ghadimi, arXiv 2307.05384; abstract only; the scheme is
shared/papers/bilevel.md section 6), in its deterministic mode (randomizedTruncation: false, full batches).

Problem (closed-form optimum x* = M^-1 e, M = C A^-1 B + D):
  lower  g(x, y) = 1/2 y'Ay - y'Bx            (A SPD: y*(x) = A^-1 B x)
  f_3(x, y) = Cy + Dx - e,  f_2(v) = tanh(v),  f_1(u) = 1/2 |u|^2     (T = 3)

This reference uses dense matrices from autograd instead of the library's Hessian-vector oracle: H = d^2 g/dy^2 and
the mixed block d^2 g/dx dy by torch.autograd.functional.hessian, level Jacobians by torch.autograd.functional.jacobian,
the Neumann sum as eta * sum_{q<Q} (I - eta H)^q p with explicit matrix powers.

Step k: J_i, f_i at the trackers u_{i+1} (i = 1, 2); w = J_1 J_2; y <- y - beta grad_y g; p = d/dy <w, f_3>,
d = d/dx <w, f_3> - Hxy v with v = eta sum_q (I - eta H)^q p; z <- d (k = 0) or (1 - tau) z + tau d; x <- x - alpha z;
u_3 <- f_3(x, y); u_i <- (1 - tau) u_i + tau f_i(u_{i+1}^old) + J_i (u_{i+1}^new - u_{i+1}^old) for i = 2, 1.
Trackers start at the exact chain at (x_0, y_0).
Usage: /usr/bin/python3 tools/golden/bilevel_nested_compositional.py > tests/SharpOptim.Tests/Golden/bilevel_nested_compositional.json
"""
import json

import torch
from torch.autograd.functional import hessian, jacobian

torch.set_default_dtype(torch.float64)
A = torch.tensor([[2.0, 0.5, 0.0], [0.5, 1.5, 0.2], [0.0, 0.2, 1.0]])
B = torch.tensor([[1.0, 0.0], [0.5, 1.0], [-0.3, 0.8]])
C = torch.tensor([[1.0, 0.2, -0.5], [0.0, 1.0, 0.4]])
D = torch.tensor([[0.5, 0.1], [-0.2, 0.3]])
E = torch.tensor([0.7, -0.4])
P = {"alpha": 0.5, "beta": 0.4, "tau": 0.5, "eta": 0.3, "Q": 10}
STEPS = 40
X0 = [1.0, -1.0]


def g(x, y):
    return 0.5 * y @ (A @ y) - y @ (B @ x)


def f3(x, y):
    return C @ y + D @ x - E


def f2(v):
    return torch.tanh(v)


def f1(u):
    return (0.5 * u @ u).reshape(1)


x = torch.tensor(X0)
y = torch.zeros(3)
u3 = f3(x, y)
u2 = f2(u3)
u1 = f1(u2)
z = None
xs, ys, u1s = [], [], []
for k in range(STEPS):
    J1, v1 = jacobian(f1, u2), f1(u2)          # [1, 2]
    J2, v2 = jacobian(f2, u3), f2(u3)          # [2, 2]
    w = (J1 @ J2).reshape(-1)
    y = y - P["beta"] * jacobian(lambda yy: g(x, yy), y)
    fx = jacobian(lambda xx: w @ f3(xx, y), x)
    fy = jacobian(lambda yy: w @ f3(x, yy), y)
    Hfull = hessian(lambda xy: g(xy[:2], xy[2:]), torch.cat([x, y]))
    Hyy, Hxy = Hfull[2:, 2:], Hfull[:2, 2:]
    S = sum(torch.linalg.matrix_power(torch.eye(3) - P["eta"] * Hyy, q) for q in range(P["Q"]))
    v = P["eta"] * S @ fy
    d = fx - Hxy @ v
    z = d.clone() if z is None else (1 - P["tau"]) * z + P["tau"] * d
    x = x - P["alpha"] * z
    u3_new = f3(x, y)
    u2_new = (1 - P["tau"]) * u2 + P["tau"] * v2 + J2 @ (u3_new - u3)
    u1 = (1 - P["tau"]) * u1 + P["tau"] * v1 + J1 @ (u2_new - u2)
    u3, u2 = u3_new, u2_new
    xs.append(x.tolist())
    ys.append(y.tolist())
    u1s.append(u1.item())

M = C @ torch.linalg.solve(A, B) + D
print(json.dumps({"params": P, "steps": STEPS, "x0": X0, "A": A.tolist(), "B": B.tolist(), "C": C.tolist(),
                  "D": D.tolist(), "e": E.tolist(), "x_star": torch.linalg.solve(M, E).tolist(),
                  "xs": xs, "ys": ys, "u1s": u1s}, indent=1))
