#!/usr/bin/env python3
"""Golden fixture for FRUGAL (Zmushko et al., arXiv:2411.07837), from a reference written here after the official
code (fzmushko/FRUGAL: frugal/proj_optimizer_templates.py ProjOptimizer, GaloreOptimizer, BlockOptimizer,
CoordOptimizer; frugal/adamw.py AdamW._compute_update; prepare_proj_params), not after SharpOptim's class:

  split (prepare_proj_params): projectable = 2-D "<module>.weight" whose module path contains a target key
      (attn, mlp, q_proj, ..., output.dense); all other parameters form the regular group: AdamW, never reset.
  every parameter, every step: p *= 1 - lr*wd; state step += 1; p += update
  AdamW update (official _compute_update): m = b1 m + (1-b1) g; v = b2 v + (1-b2) g*g;
      denom = sqrt(v) / sqrt(1 - b2^k) + eps; update = m / denom * (-(lr / (1 - b1^k)))
  refresh (every update_gap steps, from step 0; reset_statistics=True): the projectable group's moments and step
      restart.
  svd (GaloreOptimizer, proj_side std, proj_type svd): right (m >= n): P = Vh[:r], r = round(n*rho); left: P = U[:, :r],
      r = round(m*rho) (Python round, half to even); down = G P^T | P^T G; up(x) = x P | P x;
      update = up(Adam(down)) - lr*s*sign(G - up(down))   (sgd: G - up(down); "no": nothing)
  blocks (BlockOptimizer): n = round(B*rho) of the B projectable tensors active per refresh (moments reset, even
      for a block that stays active), chosen by block_order: random (randperm[:n], drawn here and given to the C#
      side), ascending, descending, mirror (the official walks, with next_block_start); inactive: -lr*s*sign(G)
  columns (CoordOptimizer, coord_choice columns): idx = randperm(n)[:int(n*rho)] per refresh and matrix (drawn here
      and given to the C# side); down = G[:, idx]; up(x) = zeros with x in columns idx;
      update = up(Adam(down)) - lr*s*sign(G - up(down))
The one deliberate difference from the official code, shared with the C# class: the SVD runs in float64 (rounded to
float32) and each singular vector's sign is normalised (largest entry positive) -- float32 LAPACK results differ
between builds and signSGD on the residual turns that into whole steps; the sign cannot change an update because the
moments restart with every projector.

Gradients: g_t = h * (p - target) + noise[t % K] per parameter (same float32 ops as the C# test).
Usage: /usr/bin/python3 tools/golden/frugal.py > tests/SharpOptim.Tests/Golden/frugal.json
"""
import json
import sys

import torch

from common import flat

STEPS = 30
K = 2
GAP = 10
RECORD = [1, 10, 11, 20, 21, 30]
TARGETS = ["attn", "mlp", "q_proj", "v_proj", "up_proj", "down_proj", "gate_proj", "k_proj", "o_proj",
           "query", "value", "key", "intermediate.dense", "output.dense"]
PARAMS = [("embed_tokens.weight", [10, 8]), ("layers.0.attn.q_proj.weight", [16, 24]), ("layers.0.attn.q_proj.bias", [16]),
          ("layers.0.mlp.up_proj.weight", [24, 16]), ("layers.0.mlp.down_proj.weight", [16, 12]), ("layers.0.norm.weight", [16]),
          ("layers.1.attn.o_proj.weight", [10, 12]), ("layers.1.mlp.gate_proj.weight", [12, 10]), ("lm_head.weight", [10, 16])]
HP = dict(lr=1e-2, beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=0.1, update_gap=GAP, free_lr_scale=0.5)


def is_proj(name, shape):
    return len(shape) == 2 and name.endswith(".weight") and any(k in name[:-len(".weight")] for k in TARGETS)


def svd_projector(g, rho):
    m, n = g.shape
    right = m >= n
    r = round((n if right else m) * rho)
    u, _, vh = torch.linalg.svd(g.double(), full_matrices=False)
    if right:
        pm = vh[:r, :]
        pm = pm * pm.gather(1, pm.abs().argmax(1, keepdim=True)).sign()
    else:
        pm = u[:, :r]
        pm = pm * pm.gather(0, pm.abs().argmax(0, keepdim=True)).sign()
    return right, pm.float()


def adam_update(g, st, lr):
    b1, b2 = HP["beta1"], HP["beta2"]
    st["m"].mul_(b1).add_(g, alpha=1.0 - b1)
    st["v"].mul_(b2).addcmul_(g, g, value=1.0 - b2)
    denom = st["v"].sqrt()
    step_size = lr / (1.0 - b1 ** st["step"])
    denom.div_((1.0 - b2 ** st["step"]) ** 0.5)
    denom.add_(HP["eps"])
    return st["m"] / denom * (-step_size)


def free_update(rest, rule, lr):
    if rule == "sign_sgd":
        return -lr * rest.sign()
    if rule == "sgd":
        return -lr * rest
    return torch.zeros_like(rest)


def run(mode, rho, rule="sign_sgd", order="random", seed=0):
    gen = torch.Generator().manual_seed(2411 + seed)
    ps = []
    for name, shape in PARAMS:
        d = dict(name=name, shape=shape, proj=is_proj(name, shape), p=torch.randn(shape, generator=gen),
                 h=torch.rand(shape, generator=gen) * 1.9 + 0.1, target=torch.randn(shape, generator=gen),
                 noise=torch.randn([K] + shape, generator=gen) * 0.1, records={}, st={})
        d["p0"] = d["p"].clone()
        ps.append(d)
    blocks = [d for d in ps if d["proj"]]
    n_active = round(len(blocks) * rho)
    draw = torch.Generator().manual_seed(7837 + seed)
    chosen_blocks, chosen_columns = [], []
    next_start = None
    lr, wd, s = HP["lr"], HP["weight_decay"], HP["free_lr_scale"]
    for t in range(STEPS):
        grads = [d["h"] * (d["p"] - d["target"]) + d["noise"][t % K] for d in ps]
        if t % GAP == 0:   # the projectable group's refresh (_update_states_if_necessary)
            if mode == "svd":
                for d, g in zip(ps, grads):
                    if d["proj"]:
                        d["right"], d["P"] = svd_projector(g, rho)
                        shape = list((g @ d["P"].t()).shape if d["right"] else (d["P"].t() @ g).shape)
                        d["st"] = dict(step=0, m=torch.zeros(shape), v=torch.zeros(shape))
            elif mode == "columns":
                cols = []
                for d in blocks:
                    n = d["shape"][1]
                    d["idx"] = torch.randperm(n, generator=draw)[:int(n * rho)]
                    cols.append(d["idx"].tolist())
                    d["st"] = dict(step=0, m=torch.zeros([d["shape"][0], len(cols[-1])]), v=torch.zeros([d["shape"][0], len(cols[-1])]))
                chosen_columns.append(cols)
            else:
                for d in blocks:
                    d["st"] = dict(step=0, active=False)
                nb = len(blocks)
                if order == "random":
                    idx = torch.randperm(nb, generator=draw)[:n_active].tolist()
                elif order == "ascending":
                    next_start = 0 if next_start is None else next_start
                    idx = [i % nb for i in range(next_start, next_start + n_active)]
                    next_start += n_active
                    if next_start >= nb:
                        next_start -= nb
                elif order == "descending":
                    next_start = nb - 1 if next_start is None else next_start
                    idx = [i % nb for i in range(next_start, next_start - n_active, -1)]
                    next_start -= n_active
                    if next_start < 0:
                        next_start += nb
                else:   # mirror
                    half = nb // 2
                    next_start = 0 if next_start is None else next_start
                    idx = []
                    for i in range(next_start, next_start + n_active // 2):
                        idx += [i % half, nb - 1 - i % half]
                    next_start += n_active // 2
                    if next_start >= half:
                        next_start -= half
                for i in idx:
                    blocks[i]["st"] = dict(step=0, active=True, m=torch.zeros(blocks[i]["shape"]), v=torch.zeros(blocks[i]["shape"]))
                chosen_blocks.append(idx)
        for d, g in zip(ps, grads):
            p, st = d["p"], d["st"]
            if not st:
                st.update(step=0, m=torch.zeros(d["shape"]), v=torch.zeros(d["shape"]))
            p.mul_(1 - lr * wd)
            st["step"] += 1
            if not d["proj"]:
                update = adam_update(g, st, lr)
            elif mode == "blocks":
                update = adam_update(g, st, lr) if st["active"] else free_update(g, rule, lr * s)
            elif mode == "svd":
                P = d["P"]
                down = g @ P.t() if d["right"] else P.t() @ g
                low = adam_update(down, st, lr)
                update = low @ P if d["right"] else P @ low
                back = down @ P if d["right"] else P @ down
                update.add_(free_update(g - back, rule, lr * s))
            else:
                down = g[:, d["idx"]]
                update = torch.zeros(d["shape"])
                update[:, d["idx"]] = adam_update(down, st, lr)
                back = torch.zeros(d["shape"])
                back[:, d["idx"]] = down
                update.add_(free_update(g - back, rule, lr * s))
            p.add_(update)
            if t + 1 in RECORD:
                d["records"][str(t + 1)] = flat(p)
    state_bytes = 0
    for d in ps:
        st = d["st"]
        if "m" in st:
            state_bytes += 4 * (st["m"].numel() + st["v"].numel())
            if d["proj"]:
                state_bytes += 4 + (4 * d["P"].numel() if mode == "svd" else 0)   # refresh index (+ projector)
    return {"mode": mode, "density": rho, "rule": rule, "order": order, "blocks": chosen_blocks, "columns": chosen_columns,
            "state_bytes": state_bytes,
            "params": [{"name": d["name"], "shape": d["shape"], "projected": d["proj"], "p0": flat(d["p0"]), "h": flat(d["h"]),
                        "target": flat(d["target"]), "noise": flat(d["noise"]), "records": d["records"]} for d in ps]}


def main():
    runs = {"svd": run("svd", 0.25), "svd_sgd": run("svd", 0.25, rule="sgd", seed=1), "svd_no": run("svd", 0.25, rule="no", seed=2),
            "blocks_random": run("blocks", 0.4, order="random", seed=3), "blocks_descending": run("blocks", 0.4, order="descending", seed=4),
            "blocks_ascending": run("blocks", 0.4, order="ascending", seed=5), "blocks_mirror": run("blocks", 0.4, order="mirror", seed=6),
            "columns": run("columns", 0.25, seed=7)}
    out = {"generator": "tools/golden/frugal.py", "torch_version": torch.__version__, "k": K, "steps": STEPS, "hyper": HP, "runs": runs}
    json.dump(out, sys.stdout, separators=(",", ":"))
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
