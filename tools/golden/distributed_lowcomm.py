"""Golden fixtures for the low-communication distributed methods: Streaming DiLoCo (Douillard et al., arXiv:2501.18512,
schedule after pytorch/torchft's local_sgd.py), NoLoCo (Kolehmainen et al., arXiv:2506.10911, official gensyn-ai/noloco
sparse_optimizer_c.py), CO2 synchronous mode (Sun et al., arXiv:2401.16265, official fairscale-CO2 co2.py, with a
working clip) and FedSpeed (Sun et al., arXiv:2302.10429, official FL-Simulator client/fedspeed.py, server/FedSpeed.py,
optimizer/ESAM.py). Written here from ../shared/papers/distributed.md §§9-13 and the official code's behaviour; the
simulation is sequential PyTorch (k model copies, explicit schedule), independent of the C# per-worker code that talks
to a communicator.

Also the equivalence baselines of the brief's §1.4, each written directly: DiLoCo (AdamW inner, torch SGD-Nesterov
outer on a global copy whose .grad is the mean outer gradient, as torchft does), DiLoCo with heavy-ball outer
momentum (gensyn-ai/noloco's baseline), periodic model averaging, and FedAvg with FL-Simulator's client SGD.

Shared random draws (NoLoCo's groups, FedSpeed's participants) use SplitMix64, reproduced bit for bit in C#
(NoLoCoDeterministicStream). Everything in float32 (the model's dtype); the C# side does the outer arithmetic in
float64 rounded once, so tests compare with a small tolerance.

Usage: /usr/bin/python3 tools/golden/distributed_lowcomm.py > tests/SharpOptim.Tests/Golden/distributed_lowcomm.json
"""
import copy
import json
import math
import sys

import numpy as np
import torch
import torch.nn.functional as F

MASK = (1 << 64) - 1
N = 4            # workers
BATCH = 5
STEPS = 16       # batches per worker in the fixture


class SplitMix64:
    def __init__(self, seed, rnd):
        self.state = (seed ^ (rnd * 0xD1B54A32D192ED03)) & MASK

    def bits(self):
        self.state = (self.state + 0x9E3779B97F4A7C15) & MASK
        z = self.state
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK
        return z ^ (z >> 31)

    def uniform(self):
        return (self.bits() >> 11) * (1.0 / (1 << 53))

    def permutation(self, n):
        p = list(range(n))
        for i in range(n - 1, 0, -1):
            j = self.bits() % (i + 1)
            p[i], p[j] = p[j], p[i]
        return p


def make_model():
    return torch.nn.Sequential(torch.nn.Linear(4, 6), torch.nn.Tanh(), torch.nn.Linear(6, 3))


torch.manual_seed(1234)
BASE = make_model()
XS = torch.randn(N, STEPS, BATCH, 4)
YS = torch.randint(0, 3, (N, STEPS, BATCH))


class Worker:
    def __init__(self, rank, inner):
        self.rank = rank
        self.model = copy.deepcopy(BASE)
        self.cursor = 0
        self.inner = inner(self.model.parameters()) if inner else None

    def params(self):
        return list(self.model.parameters())

    def next_batch(self):
        x, y = XS[self.rank, self.cursor], YS[self.rank, self.cursor]
        self.cursor += 1
        return x, y

    def loss(self, batch):
        x, y = batch
        return F.cross_entropy(self.model(x), y)

    def inner_step(self):
        self.inner.zero_grad()
        self.loss(self.next_batch()).backward()
        self.inner.step()


def adamw(params):
    return torch.optim.AdamW(params, lr=0.01, betas=(0.9, 0.95), eps=1e-8, weight_decay=0.1)


def adam(params):
    return torch.optim.Adam(params, lr=0.01, betas=(0.9, 0.999), eps=1e-8)


def flat(tensors):
    return torch.cat([t.detach().reshape(-1) for t in tensors]).tolist()


def rank_order_sum(tensors):
    """The communicator's all-reduce: float64 sum in rank order, rounded once to float32."""
    acc = torch.zeros_like(tensors[0], dtype=torch.float64)
    for t in tensors:
        acc += t.double()
    return acc.float()


# ---------- 4-bit outer-gradient format (E3M0, per-tensor scale; the brief's reconstruction) ----------
def quantize_round_trip(v):
    a = v.detach().double().numpy().reshape(-1)
    s = float(np.float32(np.max(np.abs(a)))) if a.size else 0.0
    out = np.zeros_like(a)
    for i, x in enumerate(a):
        if x == 0 or s == 0:
            continue
        r = math.log2(abs(x) / s)
        e = math.floor(abs(r) + 0.5) * (1 if r >= 0 else -1)   # round half away from zero
        if e < -6:
            continue
        e = min(e, 0)
        out[i] = math.copysign(float(np.float32(s) * np.float32(2.0 ** e)), x)
    return torch.tensor(out, dtype=torch.float32).reshape(v.shape)


# ---------- Streaming DiLoCo ----------
def streaming_diloco(h, fragments_of_param, tau, alpha, quantize, rounds=3):
    workers = [Worker(r, adamw) for r in range(N)]
    nfrag = max(fragments_of_param) + 1
    stride = h // nfrag
    glob = [p.detach().clone() for p in BASE.parameters()]
    members = [[i for i, f in enumerate(fragments_of_param) if f == p] for p in range(nfrag)]
    outer = [torch.optim.SGD([glob[i] for i in members[p]], lr=0.7, momentum=0.9, nesterov=True) for p in range(nfrag)]
    in_flight = {}
    for s in range(1, rounds * h + 1):
        for w in workers:
            w.inner_step()
        for p in range(nfrag):
            if (s + tau) % h == ((p + 1) * stride) % h:
                deltas = []
                for w in workers:
                    d = [glob[i] - w.params()[i].detach() for i in members[p]]
                    deltas.append([quantize_round_trip(t) if quantize else t for t in d])
                in_flight[p] = [rank_order_sum([deltas[r][j] for r in range(N)]) / N for j in range(len(members[p]))]
        for p in range(nfrag):
            if s % h == ((p + 1) * stride) % h:
                mean = in_flight.pop(p)
                for j, i in enumerate(members[p]):
                    glob[i].grad = mean[j]
                outer[p].step()
                with torch.no_grad():
                    for w in workers:
                        for i in members[p]:
                            w.params()[i].copy_(torch.lerp(glob[i], w.params()[i], alpha))
    return {"global": flat(glob), "worker0": flat(workers[0].params())}


def diloco_nesterov(h, rounds=3):
    workers = [Worker(r, adamw) for r in range(N)]
    glob = [p.detach().clone() for p in BASE.parameters()]
    outer = torch.optim.SGD(glob, lr=0.7, momentum=0.9, nesterov=True)
    for _ in range(rounds):
        for w in workers:
            for _ in range(h):
                w.inner_step()
        for i, g in enumerate(glob):
            g.grad = rank_order_sum([g - w.params()[i].detach() for w in workers]) / N
        outer.step()
        with torch.no_grad():
            for w in workers:
                for i, g in enumerate(glob):
                    w.params()[i].copy_(g)
    return flat(glob)


# ---------- NoLoCo ----------
def noloco(h, group, seed, rounds=3, lr=0.7, beta=0.5):
    workers = [Worker(r, adam) for r in range(N)]
    phi = [[p.detach().clone() for p in BASE.parameters()] for _ in range(N)]
    mom = [[torch.zeros_like(p) for p in BASE.parameters()] for _ in range(N)]
    perms = []
    for t in range(rounds):
        for w in workers:
            for _ in range(h):
                w.inner_step()
        perm = SplitMix64(seed, t).permutation(N)
        perms.append(perm)
        m = N // group
        groups = [[perm[j + k * m] for k in range(group)] for j in range(m)]
        new_phi = [None] * N
        for g in groups:
            for i in g:
                upd = []
                for q in range(len(phi[i])):
                    phi_bar = torch.stack([phi[j][q] for j in g]).mean(0)
                    d_bar = torch.stack([workers[j].params()[q].detach() - phi[j][q] for j in g]).mean(0)
                    mom[i][q] = beta * mom[i][q] + lr * d_bar + lr * (phi_bar - phi[i][q])
                    upd.append(phi[i][q] + mom[i][q])
                new_phi[i] = upd
        phi = new_phi
        with torch.no_grad():
            for i, w in enumerate(workers):
                for q, p in enumerate(w.params()):
                    p.copy_(phi[i][q])
    return {"phi": [flat(phi[i]) for i in range(N)], "permutations": perms}


def diloco_heavy_ball(h, rounds=3, lr=0.7, beta=0.5):
    """gensyn-ai/noloco's DiLoCo baseline: b <- beta*b - lr*Delta, theta <- theta + b, Delta = global - mean local."""
    workers = [Worker(r, adam) for r in range(N)]
    glob = [p.detach().clone() for p in BASE.parameters()]
    buf = [torch.zeros_like(g) for g in glob]
    for _ in range(rounds):
        for w in workers:
            for _ in range(h):
                w.inner_step()
        for i, g in enumerate(glob):
            delta = g - torch.stack([w.params()[i].detach() for w in workers]).mean(0)
            buf[i] = beta * buf[i] - lr * delta
            glob[i] = g + buf[i]
        with torch.no_grad():
            for w in workers:
                for i, g in enumerate(glob):
                    w.params()[i].copy_(g)
    return flat(glob)


# ---------- CO2 (synchronous) ----------
def co2_sync(tau, lr, beta, penalty, clip, rounds=3):
    workers = [Worker(r, adamw) for r in range(N)]
    anchor = [p.detach().clone() for p in BASE.parameters()]
    mom = [torch.zeros_like(a) for a in anchor]
    for _ in range(rounds):
        for w in workers:
            for _ in range(tau):
                w.inner_step()
        for i, a in enumerate(anchor):
            avg = rank_order_sum([w.params()[i].detach() for w in workers]) / N
            mom[i] = beta * mom[i] + (a - avg) / penalty
            mom[i] = torch.clamp(mom[i], -clip, clip)  # the official code discards this result; here it is used
            anchor[i] = a - lr * mom[i]
        with torch.no_grad():
            for w in workers:
                for i, a in enumerate(anchor):
                    w.params()[i].copy_(a)
    return flat(anchor)


def periodic_averaging(tau, rounds=3):
    workers = [Worker(r, adamw) for r in range(N)]
    for _ in range(rounds):
        for w in workers:
            for _ in range(tau):
                w.inner_step()
        with torch.no_grad():
            avg = [rank_order_sum([w.params()[i].detach() for w in workers]) / N for i in range(len(workers[0].params()))]
            for w in workers:
                for i, a in enumerate(avg):
                    w.params()[i].copy_(a)
    return flat(workers[0].params())


# ---------- FedSpeed (official client/server) and FedAvg ----------
def participants(seed, rnd, clients, rate):
    st = SplitMix64(seed, rnd)
    while True:
        picked = [c for c in range(clients) if st.uniform() < rate]
        if picked:
            return picked


def fedspeed(local_steps, lr, decay, wd, lamb, rho, max_norm, rate, seed, server_term, rounds=3):
    clients = [Worker(r, None) for r in range(N)]
    w_glob = torch.cat([p.detach().reshape(-1) for p in BASE.parameters()])
    h = torch.zeros(N, w_glob.numel())
    picked_all = []
    for t in range(rounds):
        picked = participants(seed, t, N, rate)
        picked_all.append(picked)
        finals = []
        for c in picked:
            cl = clients[c]
            torch.nn.utils.vector_to_parameters(w_glob.clone(), cl.model.parameters())
            correction = h[c] - w_glob
            sgd = torch.optim.SGD(cl.model.parameters(), lr=lr * decay ** t, weight_decay=wd + lamb)
            for _ in range(local_steps):
                batch = cl.next_batch()
                # ESAM: g1, normalised ascent, g2 at w + e, back to w (exactly)
                sgd.zero_grad()
                cl.loss(batch).backward()
                g1 = [p.grad.clone() for p in cl.params()]
                norm = torch.norm(torch.stack([g.norm(p=2) for g in g1]), p=2)
                saved = [p.detach().clone() for p in cl.params()]
                with torch.no_grad():
                    for p, g in zip(cl.params(), g1):
                        p.add_(g * (rho / (norm + 1e-7)))
                sgd.zero_grad()
                cl.loss(batch).backward()
                with torch.no_grad():
                    for p, s in zip(cl.params(), saved):
                        p.copy_(s)
                # the dual correction as a linear loss term, then clip and SGD (weight decay wd + lamb)
                vec = torch.cat([p.reshape(-1) for p in cl.params()])
                (lamb * torch.sum(vec * correction)).backward()
                torch.nn.utils.clip_grad_norm_(cl.model.parameters(), max_norm=max_norm)
                sgd.step()
            wk = torch.cat([p.detach().reshape(-1) for p in cl.params()])
            h[c] += wk - w_glob
            finals.append(wk)
        w_glob = rank_order_sum(finals) / len(finals) + (h.mean(0) if server_term else 0)
    return {"global": w_glob.tolist(), "participants": picked_all}


def fedavg(local_steps, lr, decay, wd, max_norm, rate, seed, rounds=3):
    clients = [Worker(r, None) for r in range(N)]
    w_glob = torch.cat([p.detach().reshape(-1) for p in BASE.parameters()])
    for t in range(rounds):
        finals = []
        for c in participants(seed, t, N, rate):
            cl = clients[c]
            torch.nn.utils.vector_to_parameters(w_glob.clone(), cl.model.parameters())
            sgd = torch.optim.SGD(cl.model.parameters(), lr=lr * decay ** t, weight_decay=wd)
            for _ in range(local_steps):
                batch = cl.next_batch()
                sgd.zero_grad()
                cl.loss(batch).backward()
                # FedSpeed with rho = 0 evaluates the same gradient twice; FedAvg once: same numbers
                torch.nn.utils.clip_grad_norm_(cl.model.parameters(), max_norm=max_norm)
                sgd.step()
            finals.append(torch.cat([p.detach().reshape(-1) for p in cl.params()]))
        w_glob = rank_order_sum(finals) / len(finals)
    return w_glob.tolist()


def main():
    torch.set_num_threads(1)
    out = {
        "workers": N,
        "init": {f"p{i}": {"shape": list(p.shape), "values": p.detach().reshape(-1).tolist()} for i, p in enumerate(BASE.parameters())},
        "x": XS.reshape(-1).tolist(),
        "y": YS.reshape(-1).tolist(),
        "steps_per_worker": STEPS,
        "batch": BATCH,
    }
    H = 4
    out["streaming"] = {"h": H, "fragments": [0, 0, 1, 1], "tau": 1, "alpha": 0.5, "quantize": True,
                        **streaming_diloco(H, [0, 0, 1, 1], 1, 0.5, True)}
    out["streaming_fp32"] = {"h": H, "fragments": [0, 0, 1, 1], "tau": 1, "alpha": 0.5, "quantize": False,
                             **streaming_diloco(H, [0, 0, 1, 1], 1, 0.5, False)}
    single = streaming_diloco(H, [0, 0, 0, 0], 0, 0.0, False)
    out["diloco"] = {"h": H, "global": diloco_nesterov(H)}
    assert np.allclose(single["global"], out["diloco"]["global"], rtol=1e-5, atol=1e-6), "Streaming DiLoCo(P=1, tau=0, alpha=0) != DiLoCo"

    out["noloco"] = {"h": H, "group": 2, "seed": 11, **noloco(H, 2, 11)}
    whole = noloco(H, N, 11)
    out["diloco_heavy_ball"] = {"h": H, "global": diloco_heavy_ball(H)}
    for i in range(N):
        assert np.allclose(whole["phi"][i], out["diloco_heavy_ball"]["global"], rtol=1e-5, atol=1e-6), "NoLoCo(G=n) != heavy-ball DiLoCo"

    out["co2"] = {"tau": H, "lr": 0.8, "beta": 0.2, "penalty": 1.5, "clip": 0.02, "global": co2_sync(H, 0.8, 0.2, 1.5, 0.02)}
    out["periodic_averaging"] = {"tau": H, "global": periodic_averaging(H)}
    fs = dict(local_steps=3, lr=0.1, decay=0.9, wd=1e-3, lamb=0.1, rho=0.1, max_norm=0.5, rate=0.5, seed=7)
    out["fedspeed"] = {**fs, **fedspeed(server_term=True, **fs)}
    fa = dict(local_steps=3, lr=0.1, decay=0.9, wd=1e-3, max_norm=0.5, rate=0.5, seed=7)
    out["fedavg"] = {**fa, "global": fedavg(**fa)}

    qin = torch.tensor([0.0, 1.0, -0.5, 0.3, -0.7, 0.01, 0.0151, -2.0 ** -6.4, 2.0 ** -6.6, 1e-9, 0.7071, -0.75], dtype=torch.float32) * 3.0
    out["quantizer"] = {"input": qin.tolist(), "round_trip": quantize_round_trip(qin).tolist()}
    json.dump(out, sys.stdout, separators=(",", ":"), sort_keys=True)


if __name__ == "__main__":
    main()
