#!/usr/bin/env python3
"""Golden fixture for Adam-mini (Zhang et al., arXiv:2406.16793), from a reference written here after the
official code's step (zyushun/Adam-mini, adam_mini/adam_mini.py, version 1.1.1):

  partition on the lower-cased name, in this order:
    "bias"                                   -> one v per entry (plain Adam)
    q/k names (k_proj, q_proj, wq, wk, ...)  -> one v per head: view [-1, dim*dim/n_heads]
    embedding/output/value/mlp/attn-proj     -> one v per row (mean of g^2 over dim 1)
    otherwise                                -> one v for the tensor (sum g^2 / numel)
  weight decay 0 for names containing "norm", "ln" or "bias"
  entry:   v = b2 v + (1-b2) g*g; t += 1; p *= 1-lr*wd; m.lerp_(g, 1-b1); p.addcdiv_(m, sqrt(v)/sqrt(bc2)+eps, -lr/bc1)
  head/row: v_b = b2 v_b + (1-b2) mean(g^2); t += 1; p *= 1-lr*wd; m.lerp_(g, 1-b1); p -= lr * m * (1/bc1)/(sqrt(v_b)/sqrt(bc2)+eps)
  tensor:  p *= 1-lr*wd; t += 1; m.lerp_(g, 1-b1); v = b2 v + (1-b2) sum(g^2)/numel; p -= lr * m * (1/bc1)/(...)

Parameters: a small transformer's names and shapes (dim 16, 4 heads, 2 kv heads). Gradients:
g_t = h * (p - target) + noise[t % K] per parameter (same float32 ops as the C# test).
Usage: python3 tools/golden/adam_mini.py > tests/SharpOptim.Tests/Golden/adam_mini.json
"""
import json
import math
import sys

import torch

from common import flat

STEPS = 60
K = 3
RECORD = [1, 10, 60]
DIM, HEADS, KV_HEADS, VOCAB, CTX = 16, 4, 2, 7, 4
PARAMS = [
    ("wte.weight", [VOCAB, DIM]), ("wpe.weight", [CTX, DIM]),
    ("blocks.0.ln1.weight", [DIM]), ("blocks.0.ln1.bias", [DIM]),
    ("blocks.0.attn.q_proj.weight", [DIM, DIM]), ("blocks.0.attn.k_proj.weight", [DIM * KV_HEADS // HEADS, DIM]),
    ("blocks.0.attn.v_proj.weight", [DIM * KV_HEADS // HEADS, DIM]), ("blocks.0.attn.o_proj.weight", [DIM, DIM]),
    ("blocks.0.mlp.fc.weight", [2 * DIM, DIM]), ("blocks.0.mlp.fc.bias", [2 * DIM]),
    ("blocks.0.mlp.proj.weight", [DIM, 2 * DIM]), ("ln_f.weight", [DIM]), ("lm_head.weight", [VOCAB, DIM]),
]
HP = dict(lr=1e-2, beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=0.1)
QK = ("k_proj", "q_proj", "wq", "wk", "query", "key")
ROWS = ("embed", "embd", "wte", "lm_head", "output", "final_layer", "v_proj", "wv", "value",
        "feed_forward", "linear", "mlp", "o_proj", "wo", "attn.proj")


def kind(name):
    n = name.lower()
    if "bias" in n:
        return "entry"
    if any(f in n for f in QK):
        return "head"
    if any(f in n for f in ROWS):
        return "row"
    return "tensor"


def main():
    gen = torch.Generator().manual_seed(2406)
    head_numel = DIM * DIM // HEADS
    ps = []
    for name, shape in PARAMS:
        d = dict(name=name, shape=shape, kind=kind(name),
                 p=torch.randn(shape, generator=gen), h=torch.rand(shape, generator=gen) * 1.9 + 0.1,
                 target=torch.randn(shape, generator=gen), noise=torch.randn([K] + shape, generator=gen) * 0.1)
        n = name.lower()
        d["wd"] = 0.0 if ("norm" in n or "ln" in n or "bias" in n) else HP["weight_decay"]
        d["p0"] = d["p"].clone()
        d["m"] = torch.zeros(shape)
        numel = d["p"].numel()
        d["blocks"] = {"entry": numel, "head": numel // head_numel, "row": shape[0], "tensor": 1}[d["kind"]]
        d["v"] = torch.zeros(shape) if d["kind"] == "entry" else torch.zeros(d["blocks"], 1)
        d["records"] = {}
        ps.append(d)
    lr, b1, b2, eps = HP["lr"], HP["beta1"], HP["beta2"], HP["eps"]
    for t in range(STEPS):
        it = t + 1
        bc1, bc2 = 1 - b1 ** it, 1 - b2 ** it
        for d in ps:
            p, m, v, wd = d["p"], d["m"], d["v"], d["wd"]
            g = d["h"] * (p - d["target"]) + d["noise"][t % K]
            if d["kind"] == "entry":
                v.mul_(b2).addcmul_(g, g, value=1 - b2)
                if wd > 0:
                    p.mul_(1 - lr * wd)
                m.lerp_(g, 1 - b1)
                p.addcdiv_(m, (v.sqrt() / math.sqrt(bc2)).add_(eps), value=-lr / bc1)
            else:
                gb = g.view(d["blocks"], -1)
                if d["kind"] == "tensor":
                    mean_sq = torch.sum(g * g) / float(p.numel())
                else:
                    mean_sq = torch.mean(gb * gb, dim=1, keepdim=True)
                    v.mul_(b2).add_(mean_sq, alpha=1 - b2)
                if wd > 0:
                    p.mul_(1 - lr * wd)
                m.lerp_(g, 1 - b1)
                if d["kind"] == "tensor":
                    v.mul_(b2).add_(mean_sq, alpha=1 - b2)
                denom = (v.sqrt() / math.sqrt(bc2)).add_(eps)
                update = (m.view(d["blocks"], -1) * ((1 / bc1) / denom)).view(p.shape)
                update.mul_(lr)
                p.add_(-update)
            if it in RECORD:
                d["records"][str(it)] = flat(p)
    out = {"generator": "tools/golden/adam_mini.py", "torch_version": torch.__version__, "k": K, "steps": STEPS,
           "dim": DIM, "n_heads": HEADS, "n_kv_heads": KV_HEADS, "hyper": HP, "params": [
               {"name": d["name"], "shape": d["shape"], "kind": d["kind"], "blocks": d["blocks"], "weight_decay": d["wd"],
                "p0": flat(d["p0"]), "h": flat(d["h"]), "target": flat(d["target"]), "noise": flat(d["noise"]),
                "records": d["records"], "exp_avg": flat(d["m"]), "exp_avg_sq": flat(d["v"])}
               for d in ps]}
    json.dump(out, sys.stdout, separators=(",", ":"))
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
