"""Shared pieces of the golden-fixture scripts: float formatting and the deterministic quadratic test problem."""
import torch


def flat(t):
    """A tensor as a flat list; 9 significant digits round-trip any float32 exactly."""
    return [float(f"{x:.9g}") for x in t.detach().reshape(-1).tolist()]


def quadratic_problem(shape, k, seed):
    """p0, curvature h in [0.1, 2), target and K noise tensors, drawn in this order from one seeded generator.

    The fixtures' gradient is g_t = sign * h * (p - target) + noise[t % K], computed with the same float32
    elementwise ops on the C# side, so both sides see identical gradients for identical parameters.
    """
    gen = torch.Generator().manual_seed(seed)
    p0 = torch.randn(shape, generator=gen, dtype=torch.float32)
    h = torch.rand(shape, generator=gen, dtype=torch.float32) * 1.9 + 0.1
    target = torch.randn(shape, generator=gen, dtype=torch.float32)
    noise = torch.randn([k] + shape, generator=gen, dtype=torch.float32) * 0.1
    return gen, p0, h, target, noise


def newton_schulz(g, steps, muon_order):
    """Muon's quintic Newton-Schulz iteration (KellerJordan/Muon zeropower_via_newtonschulz5), in g's dtype.

    muon_order: evaluate c*A@A as (c*A)@A, as the official Muon code does; otherwise c*(A@A), as the AuON code does.
    """
    a, b, c = (3.4445, -4.7750, 2.0315)
    x = g
    tall = g.size(-2) > g.size(-1)
    if tall:
        x = x.mT
    x = x / (x.square().sum(dim=(-2, -1), keepdim=True).sqrt() + 1e-7)
    for _ in range(steps):
        am = x @ x.mT
        bm = b * am + ((c * am) @ am if muon_order else c * (am @ am))
        x = a * x + bm @ x
    if tall:
        x = x.mT
    return x


def aux_adam_step(p, g, m, v, t, lr, weight_decay, beta1, beta2, eps):
    """Muon's auxiliary Adam (official muon.py adam_update + the step's decay), in place; t is the 1-based step."""
    m.lerp_(g, 1 - beta1)
    v.lerp_(g.square(), 1 - beta2)
    upd = (m / (1 - beta1 ** t)) / ((v / (1 - beta2 ** t)).sqrt() + eps)
    p.mul_(1 - lr * weight_decay)
    p.add_(upd, alpha=-lr)
